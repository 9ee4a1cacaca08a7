"""The opt-out registry: requests, their entries, and the append-only audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = "audit_log is append-only"
# Types are spelled out here rather than imported from the models, so that this revision never
# changes. Timestamps hold UTC (models.UtcDateTime); SQLite auto-increments only an INTEGER PRIMARY KEY.
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END;""",
    f"""CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END;""",
]

POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END; $$""",
    """CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "optout_request",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(39), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("contact", sa.String(320), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verifier", sa.String(32), nullable=True),
        sa.Column("challenge", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("applied_release", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_optout_request"),
        sa.CheckConstraint("scope IN ('all', 'repositories')", name="ck_optout_request_scope"),
        sa.CheckConstraint(
            "status IN ('pending', 'verified', 'rejected', 'applied')", name="ck_optout_request_status"
        ),
        sa.CheckConstraint(
            "verifier IS NULL OR verifier IN ('maintainer', 'repository-token')",
            name="ck_optout_request_verifier",
        ),
    )
    op.create_index("ix_optout_request_status_created", "optout_request", ["status", "created_at"])
    op.create_table(
        "optout_entry",
        sa.Column("id", AutoId, nullable=False, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(39), nullable=False),
        sa.Column("repo", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_optout_entry"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["optout_request.id"],
            ondelete="CASCADE",
            name="fk_optout_entry_request_id_optout_request",
        ),
    )
    op.create_index("ix_optout_entry_request_id", "optout_entry", ["request_id"])
    op.create_index("ix_optout_entry_owner", "optout_entry", ["owner"])
    op.create_table(
        "audit_log",
        sa.Column("id", AutoId, nullable=False, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.ForeignKeyConstraint(
            ["request_id"], ["optout_request.id"], name="fk_audit_log_request_id_optout_request"
        ),
    )
    op.create_index("ix_audit_log_request_id", "audit_log", ["request_id"])
    triggers = POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    op.drop_table("audit_log")
    op.drop_table("optout_entry")
    op.drop_table("optout_request")
