"""The service's own end of day (real clock): it closes the days due at start-up and
rebuilds the feature snapshots of the sellers whose credit history changed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from features import DEFAULT_TIMEZONE
from lending import RepaymentPlan
from lending.persistence import SqlUnitOfWork, draw, end_of_day_status, open_line
from records.ingest import register_sellers
from records.tables import FeatureSnapshotRecord
from settings import Settings
from store import make_engine, upgrade_database
from tests.api.service.conftest import start_service

SELLER = {"seller_id": "S1", "kind": "shop", "registered_at": "2024-01-01T00:00:00+08:00",
          "region": "Zhejiang", "industry": "apparel", "membership_tier": "gold"}


def _snapshot(engine: sa.Engine) -> tuple[datetime, str]:
    table = FeatureSnapshotRecord.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        row = connection.execute(sa.select(table.c.as_of, table.c.features)
                                 .where(table.c.seller_id == "S1")).one()
    return row.as_of, row.features


def test_the_services_end_of_day_refreshes_the_snapshot_of_a_seller_gone_past_due(
        database_url: str, tmp_path: Path) -> None:
    today = datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date()
    opened = today - timedelta(days=45)  # a 30-day bullet, due 15 days ago: past due
    engine = make_engine(database_url)
    upgrade_database(engine)
    register_sellers(engine, [SELLER], now=datetime.now(UTC) - timedelta(days=50))
    open_line(SqlUnitOfWork(engine), line_id="L1", seller_id="S1", limit="1000.00",
              opened_on=opened)
    draw(SqlUnitOfWork(engine), line_id="L1", amount="300.00", on=opened,
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="d1")
    before, _ = _snapshot(engine)

    settings = Settings(data_dir=tmp_path, database_url=database_url, model_poll_seconds=0,
                        clock="real")
    for service in start_service(settings):
        scheduler = service.client.app.state.end_of_day  # type: ignore[attr-defined]
        deadline = time.monotonic() + 120
        _, through = scheduler.target()
        while time.monotonic() < deadline:
            if end_of_day_status(engine, today=today).last_closed >= through:
                break
            time.sleep(0.2)
        assert end_of_day_status(engine, today=today).last_closed == through
        while time.monotonic() < deadline and _snapshot(engine)[0] == before:
            time.sleep(0.2)  # the refresh follows the run's last commit
        after, features = _snapshot(engine)
        assert after != before
        # the day before the snapshot ended 14 or 15 days past due (cut-off permitting)
        assert json.loads(features)["credit_worst_days_past_due_90d"] >= 13
    engine.dispose()
