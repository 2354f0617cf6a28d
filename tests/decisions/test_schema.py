"""The decision tables as migrated are the tables the models declare; the migration
undoes cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import decisions.tables  # noqa: F401 - registers the tables on the metadata
from store import upgrade_database
from store.database import _alembic_config

TABLES = {"credit_decision", "officer_action"}


def _touches_ours(difference) -> bool:
    text = repr(difference)
    return any(table in text for table in TABLES)


def test_the_migrated_decision_tables_are_exactly_what_the_models_declare(engine):
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection),
                                       SQLModel.metadata)
    assert [d for d in differences if _touches_ours(d)] == []


def test_downgrading_removes_the_decision_tables_and_upgrading_restores_them(engine):
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    assert not TABLES & set(sa.inspect(engine).get_table_names())
    upgrade_database(engine)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
