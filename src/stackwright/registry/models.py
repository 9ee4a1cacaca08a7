"""The registry's tables as SQLAlchemy 2 typed ORM models.

The schema itself is created by the Alembic migrations in ``migrations/versions`` (which add what
models cannot say, such as the triggers that keep ``audit_log`` append-only); a test checks that the
models and the migrated schema agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Constraint names are fixed so that migrations can refer to them on every database.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC: stored as UTC (naive in SQLite, timestamptz in PostgreSQL) and
    read back as an aware UTC datetime on both."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("registry timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime}


class RequestRow(Base):
    """One opt-out request. ``contact`` is PII: it is never logged nor listed."""

    __tablename__ = "optout_request"
    __table_args__ = (
        CheckConstraint("scope IN ('all', 'repositories')", name="scope"),
        CheckConstraint("status IN ('pending', 'verified', 'rejected', 'applied')", name="status"),
        CheckConstraint(
            "verifier IS NULL OR verifier IN ('maintainer', 'repository-token')", name="verifier"
        ),
        Index("ix_optout_request_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(39))
    scope: Mapped[str] = mapped_column(String(16))
    contact: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16))
    verifier: Mapped[str | None] = mapped_column(String(32))
    challenge: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    applied_release: Mapped[str | None] = mapped_column(String(64))

    entries: Mapped[list[EntryRow]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="EntryRow.id", lazy="selectin"
    )

    def __repr__(self) -> str:  # never the contact nor the challenge
        return f"RequestRow(id={self.id!r}, username={self.username!r}, status={self.status!r})"


class EntryRow(Base):
    """What a request opts out: a whole owner (``repo`` NULL) or one repository, lower-cased."""

    __tablename__ = "optout_entry"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("optout_request.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str] = mapped_column(String(39), index=True)
    repo: Mapped[str | None] = mapped_column(String(100))

    request: Mapped[RequestRow] = relationship(back_populates="entries")


class AuditRow(Base):
    """One event in a request's life. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("optout_request.id"), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
