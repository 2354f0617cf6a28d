"""Fixtures of the hardening suites: the real app on a real database, with a small trained
model, stored sellers, orders, decisions and credit lines, and API keys of every role.

``stack`` runs on SQLite and PostgreSQL (the ``database_url`` fixture). ``counts`` reads
every table's row count and every line's version, so a test can show that a refused
request changed nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

import access.tables
import decisions.tables
import features
import records.tables
from access.principal import Role
from api.app import create_app
from lending.persistence import SqlUnitOfWork, open_line
from lending.policy import SellerProfile, decide, load_policy
from models import train
from scoring import Scorer
from settings import Settings
from synth.marketplace import generate_marketplace
from tests.models.conftest import FAST

#: The credit line every stack opens directly (besides any a decision opens).
LINE_ID = "L-HARD-1"
#: Cheap argon2id for creating people in tests; the service re-hashes at the first login.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "a long officer passphrase 42"
CSRF_IN_FORM = re.compile(r'name="csrf_token" value="([^"]+)"')


def login_officer(client: Any, username: str, password: str = PASSWORD) -> tuple[Any, Any]:
    """(login page, answer to the form) through the officer login page."""
    page = client.get("/officer/login")
    found = CSRF_IN_FORM.search(page.text)
    assert found, page.text[:500]
    answer = client.post("/officer/login", data={
        "username": username, "password": password, "csrf_token": found.group(1),
        "next": "/officer/"}, follow_redirects=False)
    return page, answer


def new_officer(engine: sa.Engine) -> str:
    """A fresh officer account with :data:`PASSWORD`; returns its user name."""
    from access.security import create_user

    name = f"officer-{uuid.uuid4().hex[:12]}"
    create_user(engine, name, PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    return name


@dataclass
class SmallMarket:
    """A few synthetic sellers with their records and a model trained on them."""

    sellers: pd.DataFrame
    orders: pd.DataFrame
    as_of: datetime
    scorer: Scorer
    #: A seller id per policy outcome that occurred (approve, refer, decline).
    seller_for: dict[str, str]


@dataclass(frozen=True)
class _Score:
    pd: float
    points: float
    grade: str


@pytest.fixture(scope="session")
def small_market() -> SmallMarket:
    """300 sellers over 12 months and a LightGBM model trained on them in about a second."""
    generated = generate_marketplace(300, 12, seed=23)
    table = features.build_features(generated.orders, generated.sellers, generated.as_of)
    label = (generated.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    scorer = Scorer(train(table, label, config=FAST), model_name="hardening-pd",
                    model_version="1")
    policy = load_policy()
    seller_for: dict[str, str] = {}
    for seller_id, row in table.iterrows():
        result = scorer.score(row.to_dict())
        outcome = decide(_Score(result.probability_of_default, result.points, result.grade),
                         SellerProfile.from_feature_row(str(seller_id), row), policy).outcome
        seller_for.setdefault(outcome, str(seller_id))
        if len(seller_for) == 3:
            break
    return SmallMarket(generated.sellers, generated.orders,
                       pd.Timestamp(generated.as_of).to_pydatetime(), scorer, seller_for)


@dataclass
class Stack:
    """The app under test with its client, database and credentials."""

    app: Any
    client: TestClient
    engine: sa.Engine
    keys: dict[Role, str]
    database_url: str
    seller_ids: list[str]
    decision_ids: list[str] = field(default_factory=list)
    line_ids: list[str] = field(default_factory=list)

    def headers(self, role: Role = Role.ADMIN, key: str | None = None) -> dict[str, str]:
        """An API key's Authorization header (and an Idempotency-Key when given)."""
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)


def counts(engine: sa.Engine) -> dict[str, Any]:
    """Row count of every table and each credit line's version: what a request changed.

    Login attempts are left out (refused logins are recorded on purpose). Every table of
    the service is counted (the store modules are imported above, so the metadata knows
    them all whatever a test imported before).
    """
    assert access.tables and decisions.tables and records.tables
    found: dict[str, Any] = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in ("login_attempt", "alembic_version"):
                continue
            found[table.name] = connection.execute(
                sa.select(sa.func.count()).select_from(table)).scalar_one()
        found["line_versions"] = sorted(
            (str(row[0]), int(row[1])) for row in connection.execute(
                sa.text("select id, version from credit_line")))
    return found


def build_stack(database_url: str, data_dir: Path, market: SmallMarket,
                **settings_options: Any) -> Iterator[Stack]:
    """Start the app, store records, make one decision per outcome, open a line, draw."""
    from access.security import create_api_key
    from records.ingest import ingest_orders, register_sellers

    settings = Settings(data_dir=data_dir, database_url=database_url, model_poll_seconds=0,
                        **settings_options)
    app = create_app(settings, scorer=market.scorer)
    chosen = sorted(market.seller_for.values())
    with TestClient(app, raise_server_exceptions=False) as client:
        engine = app.state.engine
        register_sellers(engine, market.sellers[market.sellers["seller_id"].isin(chosen)],
                         now=market.as_of)
        ingest_orders(engine, market.orders[market.orders["seller_id"].isin(chosen)],
                      now=market.as_of)
        keys = {role: create_api_key(engine, role, name=f"hardening-{role.value}")[0]
                for role in Role}
        stack = Stack(app, client, engine, keys, database_url, chosen)
        for n, seller_id in enumerate(chosen):
            answer = client.post("/v1/decisions",
                                 json={"seller_id": seller_id,
                                       "as_of": market.as_of.isoformat()},
                                 headers=stack.headers(Role.MARKETPLACE, f"seed-{n}"))
            assert answer.status_code == 201, answer.text
            stack.decision_ids.append(answer.json()["decision_id"])
            if answer.json()["line_id"]:
                stack.line_ids.append(answer.json()["line_id"])
        open_line(stack.uow(), line_id=LINE_ID, seller_id=chosen[0], limit="5000.00",
                  opened_on=datetime.now(UTC).date())
        stack.line_ids.insert(0, LINE_ID)
        drawn = client.post(f"/v1/lines/{LINE_ID}/draws",
                            json={"amount": "100.00", "supplier_id": "SUP-1",
                                  "plan": {"method": "interest_free_bullet",
                                           "interest_free_days": 30}},
                            headers=stack.headers(Role.MARKETPLACE, "seed-draw"))
        assert drawn.status_code == 201, drawn.text
        yield stack


@pytest.fixture
def stack(database_url: str, tmp_path: Path, small_market: SmallMarket) -> Iterator[Stack]:
    """The app on SQLite and on PostgreSQL with stored records, decisions and a line."""
    yield from build_stack(database_url, tmp_path, small_market)


@pytest.fixture
def sqlite_stack(tmp_path: Path, small_market: SmallMarket) -> Iterator[Stack]:
    """The same app on SQLite only (for checks that do not depend on the database)."""
    yield from build_stack(f"sqlite:///{tmp_path / 'sme_credit.db'}", tmp_path, small_market)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like ``database_url``, shared by a whole module (a fresh database per module)."""
    from tests import conftest as shared

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'sme_credit.db'}"
        return
    if shared._POSTGRES_PROBLEM is not None:
        if shared.IN_CI:
            pytest.fail(f"CI requires PostgreSQL: {shared._POSTGRES_PROBLEM}")
        pytest.skip(shared._POSTGRES_PROBLEM)
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = shared.POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'create schema "{schema}"')
    separator = "&" if "?" in shared.POSTGRES_URL else "?"
    try:
        yield f"{shared.POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'drop schema "{schema}" cascade')


@pytest.fixture(scope="module")
def module_stack(module_database_url: str, tmp_path_factory: pytest.TempPathFactory,
                 small_market: SmallMarket) -> Iterator[Stack]:
    """One seeded app per module and database (for suites of many read-mostly tests)."""
    yield from build_stack(module_database_url, tmp_path_factory.mktemp("app"), small_market)
