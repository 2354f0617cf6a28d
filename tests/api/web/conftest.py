"""The officer pages on the real app: a small trained model, real decisions, real users.

A session-wide model is trained on a small synthetic marketplace (a few seconds). Each
test gets its own app on a SQLite file in ``tmp_path`` (or PostgreSQL through the shared
``database_url`` fixture), with people of every role and decisions made by the real
decisions service. Referred cases are made by scoring a seller whose cash cycle is not
known yet: the policy refers those to an officer whatever the grade.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

import features
from access.principal import Role
from api.app import create_app
from decisions.service import DecisionView, make_decision
from lending.persistence import SqlUnitOfWork
from models import train
from records.snapshots import FeatureSnapshot
from scoring import Scorer
from settings import Settings
from synth.marketplace import generate_marketplace
from tests.models.conftest import FAST

PASSWORD = "correct horse battery"
USERS = {Role.OFFICER: "olga", Role.ADMIN: "ada", Role.RISK: "rick",
         Role.MARKETPLACE: "mark"}
HOSTILE_SELLER = "<script>alert(1)</script>"
#: argon2id with the cheapest parameters: the real hash, without 0.6 s of work per login
#: on a shared two-core machine (the production parameters are the auth tests' concern).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logins through the pages verify with the cheap parameters (no re-hash either)."""
    import access.security

    monkeypatch.setattr(access.security, "DEFAULT_PASSWORD_HASHER", FAST_HASHER)


@dataclass(frozen=True)
class Market:
    """A small synthetic marketplace (records and feature rows) and a model trained on
    it."""

    table: pd.DataFrame
    scorer: Scorer
    as_of: datetime
    sellers: pd.DataFrame
    orders: pd.DataFrame


@pytest.fixture(scope="session")
def market() -> Market:
    generated = generate_marketplace(400, 12, seed=11)
    table = features.build_features(generated.orders, generated.sellers, generated.as_of)
    label = (generated.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    model = train(table, label, config=FAST)
    as_of = pd.Timestamp(generated.as_of).to_pydatetime()
    return Market(table, Scorer(model, model_name="web-pd", model_version="3"),
                  as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC),
                  generated.sellers, generated.orders)


@dataclass
class Site:
    """The app under test, its database and helpers to seed decisions and log in."""

    app: FastAPI
    client: TestClient
    engine: sa.Engine
    market: Market
    made: list[DecisionView] = field(default_factory=list)

    def decide(self, seller_id: str, *, row: int = 0, cash_cycle_known: bool = False,
               days_ago: float = 0.0) -> DecisionView:
        """A decision by the real service on one of the market's feature rows."""
        values: dict[str, Any] = self.market.table.iloc[row].to_dict()
        if not cash_cycle_known:
            values["median_payout_delay_days_365d"] = None
        snapshot = FeatureSnapshot(seller_id, str(values.get("seller_kind", "shop")),
                                   self.market.as_of, values)
        made = make_decision(SqlUnitOfWork(self.engine), snapshot=snapshot,
                             scorer=self.market.scorer, policy=self.app.state.policy,
                             idempotency_key=f"seed-{len(self.made)}-{seller_id}",
                             actor="key:k_seed", currency="CNY",
                             now=datetime.now(UTC) - timedelta(days=days_ago))
        self.made.append(made)
        return made

    def load_trade(self, row: int) -> str:
        """Register the market's seller of ``row`` and its orders through the records
        service; returns the seller id (decide with the same ``row``)."""
        from records.ingest import ingest_orders, register_sellers

        seller_id = str(self.market.table.index[row])
        sellers = self.market.sellers
        orders = self.market.orders
        register_sellers(self.engine, sellers[sellers["seller_id"] == seller_id],
                         now=self.market.as_of)
        result = ingest_orders(self.engine, orders[orders["seller_id"] == seller_id],
                               now=self.market.as_of)
        assert result.accepted > 0 and not result.rejected
        return seller_id

    def referred(self, seller_id: str, *, days_ago: float = 0.0) -> DecisionView:
        """A referred case (a row whose decision comes out ``refer``)."""
        for row in referable_rows(self.market, self.app.state.policy):
            made = self.decide(seller_id, row=row, days_ago=days_ago)
            if made.outcome == "refer":
                return made
        raise AssertionError("no feature row gives a referral")  # pragma: no cover

    def login(self, role: Role = Role.OFFICER, client: TestClient | None = None) -> str:
        """Log in through the form; returns the session's CSRF token from the page."""
        client = client or self.client
        page = client.get("/officer/login")
        token = csrf_of(page.text)
        answer = client.post("/officer/login", data={
            "username": USERS[role], "password": PASSWORD, "csrf_token": token,
            "next": "/officer/"}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return csrf_of(client.get("/officer/").text)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


_REFERABLE: dict[int, list[int]] = {}


def referable_rows(market: Market, policy: Any) -> list[int]:
    """Rows (best scores first) whose decision, with the cash cycle unknown, is a
    referral: the policy refers those instead of declining when the grade and the
    trading figures are good enough."""
    key = id(market)
    if key not in _REFERABLE:
        from lending.policy import SellerProfile, decide

        # Scored as the decision will score it: without the cash cycle.
        probe = market.table.copy()
        probe["median_payout_delay_days_365d"] = float("nan")
        batch = market.scorer.score_batch(probe)
        rows = []
        for position in range(len(probe)):
            values = probe.iloc[position]
            pd_value, points, grade = (float(batch.probability_of_default[position]),
                                       float(batch.points[position]),
                                       str(batch.grade[position]))
            profile = SellerProfile.from_features(
                "probe", str(values["seller_kind"]), float(values["gmv_365d"]), None)
            score = _Score(pd_value, points, grade)
            if decide(score, profile, policy).outcome == "refer":
                rows.append(position)
        _REFERABLE[key] = rows
    return _REFERABLE[key]


@dataclass(frozen=True)
class _Score:
    pd: float
    points: float
    grade: str


def start_site(market: Market, database_url: str, tmp_path: Path,
               **settings: Any) -> Iterator[Site]:
    """The real app with one person of each role."""
    from access.security import create_user

    app = create_app(Settings(data_dir=tmp_path, database_url=database_url,
                              model_poll_seconds=0, **settings), scorer=market.scorer)
    with TestClient(app, raise_server_exceptions=True) as client:
        engine = app.state.engine
        for role, name in USERS.items():
            create_user(engine, name, PASSWORD, role, hasher=FAST_HASHER)
        yield Site(app, client, engine, market)


@pytest.fixture
def site(market: Market, tmp_path: Path) -> Iterator[Site]:
    """The officer pages on a SQLite file."""
    yield from start_site(market, f"sqlite:///{tmp_path / 'web.db'}", tmp_path)


@pytest.fixture
def site_on_every_database(market: Market, database_url: str, tmp_path: Path
                           ) -> Iterator[Site]:
    """The officer pages on SQLite and on PostgreSQL."""
    yield from start_site(market, database_url, tmp_path)


@pytest.fixture
def served(market: Market, tmp_path: Path) -> Iterator[Any]:
    """The real app served by uvicorn on a loopback port, for the browser tests
    (:class:`tests.api.web.browser.Served`)."""
    from tests.api.web.browser import serve

    with serve(market, tmp_path) as serving:
        yield serving
