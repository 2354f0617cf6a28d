"""Fill an empty service store for the demo: records, a login, an API key, some cases.

Each step runs only when its part is missing, so a second ``make run`` changes nothing
and prints no secret again.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from tqdm import tqdm

from access.principal import Role
from settings import Settings
from store.clock import utc_now

__all__ = ["bootstrap_service", "DEMO_OFFICER", "DEMO_KEY_NAME"]

DEMO_OFFICER = "officer"
DEMO_KEY_NAME = "demo-marketplace"


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def bootstrap_service(settings: Settings, sellers_path: Path, orders_path: Path, *,
                      decisions: int = 300, now: datetime | None = None) -> dict[str, str]:
    """Load the demo marketplace into the service's database and create its credentials.

    Returns the secrets created in this call (``officer_password``, ``api_key``), which are
    also printed once; nothing is returned for what already existed.
    """
    from access.security import create_api_key, create_user, list_api_keys, list_users
    from records.ingest import load_records
    from store import make_engine, upgrade_database

    now = now or utc_now()
    created: dict[str, str] = {}
    engine = make_engine(settings.resolved_database_url())
    try:
        print("\n== the service's store:", settings.resolved_database_url(), flush=True)
        upgrade_database(engine)
        if _count(engine, "seller") == 0:
            result = load_records(engine, pd.read_parquet(sellers_path),
                                  pd.read_parquet(orders_path), now=now,
                                  currencies=settings.currencies, timezone=settings.timezone,
                                  progress=True)
            print(f"loaded the marketplace's records: {result}", flush=True)
        else:
            print("records already loaded; not reloading")
        if not any(user.username == DEMO_OFFICER for user in list_users(engine)):
            password = secrets.token_urlsafe(12)
            create_user(engine, DEMO_OFFICER, password, Role.OFFICER)
            created["officer_password"] = password
        if not any(key.name == DEMO_KEY_NAME for key in list_api_keys(engine,
                                                                       include_revoked=False)):
            created["api_key"], _ = create_api_key(engine, Role.MARKETPLACE, name=DEMO_KEY_NAME)
        if _count(engine, "credit_decision") == 0 and decisions > 0:
            _decide_sample(settings, engine, decisions, now)
    finally:
        engine.dispose()
    url = f"http://{settings.host}:{settings.port}"
    print(f"\nThe service will answer at {url} (API docs {url}/docs, officer page "
          f"{url}/officer/).")
    if "officer_password" in created:
        print(f"  officer login: {DEMO_OFFICER} / {created['officer_password']}")
    if "api_key" in created:
        print(f"  marketplace API key: {created['api_key']}")
        print(f"    try: curl -s -X POST {url}/v1/decisions -H 'Authorization: Bearer "
              f"{created['api_key']}' -H 'Idempotency-Key: try-1' "
              "-H 'Content-Type: application/json' -d '{\"seller_id\": \"<a seller id>\"}'")
    if created:
        print("  These are shown once: only their hashes are stored. New ones: "
              "sme-credit users set-password / sme-credit keys create --role ROLE.")
    return created


def _decide_sample(settings: Settings, engine: sa.Engine, count: int, now: datetime) -> None:
    """Decide on a seeded sample of sellers so the officer queue has referred cases."""
    from decisions.service import make_decision
    from lending.persistence import SqlUnitOfWork
    from lending.policy import load_policy
    from records.snapshots import current_snapshot
    from scoring import Scorer

    scorer = Scorer.load(f"models:/{settings.model_name}@{settings.model_alias}",
                         tracking_uri=settings.resolved_tracking_uri())
    policy = load_policy(settings.policy_path)
    with engine.connect() as connection:
        sellers = sorted(str(row[0]) for row in connection.execute(
            sa.text("SELECT seller_id FROM seller")))
    rng = random.Random(20261123)
    sample = rng.sample(sellers, min(count, len(sellers)))
    outcomes: Counter[str] = Counter()
    max_age = timedelta(seconds=settings.snapshot_max_age_seconds)
    for seller_id in tqdm(sample, desc="demo decisions", unit="seller"):
        snapshot = current_snapshot(engine, seller_id, now=now, max_age=max_age,
                                    timezone=settings.timezone)
        view = make_decision(SqlUnitOfWork(engine), snapshot=snapshot, scorer=scorer,
                             policy=policy, idempotency_key=f"demo-{seller_id}",
                             actor="system:demo", now=now, currency=settings.currencies[0],
                             timezone=settings.timezone)
        outcomes[view.outcome] += 1
    print("demo decisions by outcome: " + ", ".join(f"{name} {n}" for name, n
                                                    in sorted(outcomes.items())), flush=True)
