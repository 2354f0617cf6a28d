"""Fixtures of the records tests: a migrated database, a small marketplace, JSON-like rows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import records.tables  # noqa: F401  (the tables are on the shared metadata)
from access.principal import Role
from settings import Settings
from synth.marketplace import Marketplace, generate_marketplace

#: The moment the small marketplace was extracted (its orders are all before it).
AS_OF = datetime(2026, 7, 1, tzinfo=UTC)



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


@dataclass
class Service:
    """The app on the test database, with an API key of every role."""

    client: TestClient
    engine: sa.Engine
    keys: dict[Role, str]

    def as_role(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The app without a model (records need none), keys made by the auth service."""
    from access.security import create_api_key
    from api.app import create_app

    settings = Settings(data_dir=tmp_path, database_url=database_url, model_poll_seconds=0)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        engine = app.state.engine
        keys = {role: create_api_key(engine, role, name=f"records-{role.value}")[0]
                for role in Role}
        yield Service(client, engine, keys)
