"""End of day rebuilds the feature snapshots of the sellers whose credit history changed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from lending import RepaymentPlan
from lending.persistence import SqlUnitOfWork, draw, open_line
from records.ingest import register_sellers
from records.snapshots import refresh_changed_sellers
from records.tables import FeatureSnapshotRecord

from .test_eod import _run

OPENED = date(2026, 1, 5)
SELLER = {"seller_id": "S1", "kind": "shop", "registered_at": "2024-01-01T00:00:00+08:00",
          "region": "Zhejiang", "industry": "apparel", "membership_tier": "gold"}


def _snapshot_as_of(engine: sa.Engine, seller_id: str) -> datetime | None:
    table = FeatureSnapshotRecord.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        value = connection.execute(sa.select(table.c.as_of)
                                   .where(table.c.seller_id == seller_id)).scalar()
    return value


def test_a_seller_whose_line_goes_past_due_gets_a_fresh_snapshot(database_url, engine):
    register_sellers(engine, [SELLER], now=datetime(2026, 1, 1, tzinfo=UTC))
    before = _snapshot_as_of(engine, "S1")
    assert before is not None
    # S1 is registered; S-UNKNOWN has a line but no records: skipped, not an error
    for line_id, seller in (("L1", "S1"), ("L2", "S-UNKNOWN")):
        open_line(SqlUnitOfWork(engine), line_id=line_id, seller_id=seller,
                  limit="1000.00", opened_on=OPENED)
        draw(SqlUnitOfWork(engine), line_id=line_id, amount="300.00", on=OPENED,
             plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key=line_id)
    # due on 4 February: past due (bucket 1-30) from the 5th
    done = _run(database_url, "eod", "run", "--through",
                (OPENED + timedelta(days=31)).isoformat())
    assert done.returncode == 0, done.stderr
    assert "credit history changed for 2 seller(s): S-UNKNOWN, S1" in done.stdout
    assert "feature snapshots rebuilt for the 1 registered" in done.stdout
    after = _snapshot_as_of(engine, "S1")
    assert after is not None and after != before


def test_refreshing_changed_sellers_skips_unknown_ids(engine):
    register_sellers(engine, [SELLER], now=datetime(2026, 1, 1, tzinfo=UTC))
    now = datetime(2026, 2, 1, tzinfo=UTC)
    assert refresh_changed_sellers(engine, ["S1", "S-NOBODY", "S1"], now=now) == 1
    assert refresh_changed_sellers(engine, [], now=now) == 0
    stored = _snapshot_as_of(engine, "S1")
    assert stored is not None and stored.replace(tzinfo=UTC) == now
