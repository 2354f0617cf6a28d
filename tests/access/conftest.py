"""Fixtures of the access-control tests: a migrated database, cheap argon2, a tiny app.

Password hashing uses argon2id with small parameters (1 pass, 1 MiB): still the real
algorithm and the real code paths, at a cost the 2-core test machine can afford.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from access.principal import Principal
from api.security import authenticate_request
from settings import Settings
from store import make_engine, upgrade_database

#: Cheap argon2id for tests (production uses access.security.DEFAULT_PASSWORD_HASHER).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

PASSWORD = "correct horse battery staple"



@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A freshly migrated SQLite database, for tests that need only one backend."""
    engine = make_engine(f"sqlite:///{tmp_path / 'auth.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, environment="development")


def _whoami(request: Request) -> dict[str, str | None]:
    principal: Principal | None = authenticate_request(request)
    if principal is None:
        return {"kind": None, "id": None, "role": None}
    return {"kind": principal.kind, "id": principal.id, "role": principal.role.value}


@pytest.fixture
def whoami_client(sqlite_engine: sa.Engine, settings: Settings) -> Iterator[TestClient]:
    """A minimal app whose routes answer who ``authenticate_request`` says is calling."""
    app = FastAPI()
    app.state.engine = sqlite_engine
    app.state.settings = settings
    for path in ("/v1/whoami", "/officer/whoami"):
        app.add_api_route(path, _whoami, methods=["GET", "POST"])
    with TestClient(app) as client:
        yield client
