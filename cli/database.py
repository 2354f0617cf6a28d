"""The service's store as the commands open it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from settings import Settings
from store import make_engine, upgrade_database

__all__ = ["store_engine"]


@contextmanager
def store_engine(settings: Settings) -> Iterator[sa.Engine]:
    """An engine on the settings' database (the data folder made for the embedded SQLite
    file), migrated to the newest tables, disposed of afterwards."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade_database(engine)
        yield engine
    finally:
        engine.dispose()
