"""Fixtures of the records tests: a migrated database, a small marketplace, JSON-like rows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

import api.store.records  # noqa: F401  (the tables are on the shared metadata)
from features.synth import Marketplace, generate_marketplace
from lending.persistence import make_engine, upgrade_database

#: The moment the small marketplace was extracted (its orders are all before it).
AS_OF = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on a freshly migrated database."""
    engine = make_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def market() -> Marketplace:
    """Twelve sellers over fourteen months (a few hundred orders)."""
    return generate_marketplace(12, 14, seed=11, as_of=AS_OF)


def as_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Canonical records as a client sends them in JSON: text times, decimal-string money."""
    rows = []
    for record in frame.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for name, value in record.items():
            if isinstance(value, pd.Timestamp):
                row[name] = value.isoformat()
            elif value is None or value is pd.NaT or (isinstance(value, float)
                                                      and math.isnan(value)):
                row[name] = None
            elif name in ("amount", "refunded_amount"):
                row[name] = f"{value:.2f}"
            elif isinstance(value, bool):
                row[name] = value
            else:
                row[name] = str(value)
        rows.append(row)
    return rows
