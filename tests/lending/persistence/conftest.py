"""Fixtures: a migrated database (SQLite file and PostgreSQL schema) and units of work."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from lending.persistence import SqlUnitOfWork, make_engine, upgrade_database


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on a freshly migrated database, with room for 50 concurrent sessions."""
    engine = make_engine(database_url, pool_size=50, max_overflow=0)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine: sa.Engine) -> Callable[[], SqlUnitOfWork]:
    """A fresh unit of work on the test database for each call."""
    return lambda: SqlUnitOfWork(engine)
