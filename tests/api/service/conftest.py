"""The service on a real database: an app per test, API keys of every role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from access.principal import Role
from api.app import create_app
from lending.persistence import SqlUnitOfWork, open_line
from settings import Settings


@dataclass
class Service:
    client: TestClient
    engine: sa.Engine
    keys: dict[Role, str]

    def as_role(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)


def start_service(settings: Settings, **app_options: object) -> Iterator[Service]:
    from access.security import create_api_key

    app = create_app(settings, **app_options)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        engine = app.state.engine
        keys = {role: create_api_key(engine, role, name=f"test-{role.value}")[0]
                for role in Role}
        yield Service(client, engine, keys)


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The app on SQLite and on PostgreSQL, without a model (lines need none)."""
    settings = Settings(data_dir=tmp_path, database_url=database_url, model_poll_seconds=0)
    yield from start_service(settings)


@pytest.fixture
def line(service: Service) -> Callable[..., str]:
    """Open a purchase line for a seller; returns its id."""

    def opened(line_id: str = "L-1", limit: str = "1000.00",
               on: date = date(2026, 1, 5)) -> str:
        open_line(service.uow(), line_id=line_id, seller_id=f"S-{line_id}", limit=limit,
                  opened_on=on)
        return line_id

    return opened
