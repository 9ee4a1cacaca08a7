"""Alembic environment: migrate the connection the registry hands over (no alembic.ini, no logging setup).

:func:`stackwright.registry.migrate.upgrade` puts an open connection in ``config.attributes``; a
connection made from ``sqlalchemy.url`` is the fallback for running Alembic by hand.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from stackwright.registry.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
