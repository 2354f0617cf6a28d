"""Alembic environment of every table of the service (lending, records, decisions, access).

Used programmatically by :func:`store.upgrade_database`, which passes an
open connection in ``config.attributes["connection"]``; with only a URL
(``sqlalchemy.url``) it opens its own. Offline (SQL script) mode is not supported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

config = context.config
# The migrations are written by hand (``op.create_table``); the metadata is only what
# autogenerate compares with, so import the table modules before running it
# (tests/store/test_migrations.py does, to prove the migrations match the tables).
target_metadata = SQLModel.metadata


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on one opened from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as opened:
        _run(opened)
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; use upgrade_database(url)")
run_migrations_online()
