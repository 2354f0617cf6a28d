"""The records tables as migrated are exactly what the SQLModel classes declare."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import records.tables  # noqa: F401

TABLES = ("seller", "seller_order", "feature_snapshot")


def _table(difference: Any) -> str | None:
    """The table an Alembic difference is about (a list groups changes of one column)."""
    if isinstance(difference, list):
        return _table(difference[0])
    for item in difference[1:]:
        if isinstance(item, sa.Table):
            return str(item.name)
        if isinstance(item, str) and item in TABLES:
            return item
        table = getattr(item, "table", None)
        if isinstance(table, sa.Table):
            return str(table.name)
    return None


def _ours(difference: Any) -> bool:
    return _table(difference) in TABLES


def test_the_migration_creates_exactly_the_declared_records_tables(engine):
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection),
                                       SQLModel.metadata)
    assert [d for d in differences if _ours(d)] == []
    with engine.connect() as connection:
        names = set(connection.dialect.get_table_names(connection))
    assert set(TABLES) <= names
