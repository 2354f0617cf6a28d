"""Migration 0011: records stored before it keep working, without the event times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

import records.tables  # noqa: F401  (the tables are on the shared metadata)
from records.ingest import ingest_orders
from records.snapshots import current_snapshot, read_orders, read_sellers, read_tier_history
from store import current_revision, head_revision, make_engine, upgrade_database

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def test_records_stored_before_0011_read_back_with_unknown_event_times(database_url):
    engine = make_engine(database_url)
    upgrade_database(engine, "0010")
    with engine.begin() as connection:  # written as the 0010 schema has them
        connection.execute(sa.text(
            "INSERT INTO seller (seller_id, kind, registered_at, region, industry, "
            "membership_tier, stored_at, updated_at) VALUES ('S1', 'shop', :registered, "
            "'Zhejiang', 'toys', 'gold', :now, :now)"),
            {"registered": datetime(2024, 1, 1, tzinfo=UTC), "now": NOW})
        connection.execute(sa.text(
            "INSERT INTO seller_order (order_id, seller_id, buyer_id, created_at, "
            "amount_minor, currency, status, refunded_amount_minor, disputed, channel, "
            "buyer_country, stored_at, updated_at) VALUES ('O1', 'S1', 'B1', :created, "
            "10000, 'CNY', 'cancelled', 0, TRUE, 'wholesale', 'CN', :now, :now)"),
            {"created": NOW - timedelta(days=100), "now": NOW})
    upgrade_database(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        orders = read_orders(connection)
        sellers = read_sellers(connection)
        assert read_tier_history(connection).empty
    assert orders["cancelled_at"].isna().all() and orders["disputed_at"].isna().all()
    assert sellers["membership_tier_at"].isna().all()
    # an old cancellation and dispute without times count nowhere; an old tier without
    # its moment is not known
    before = current_snapshot(engine, "S1", now=NOW, max_age=timedelta(0)).features
    assert before["cancellation_rate_365d"] == 0.0 and before["dispute_rate_365d"] == 0.0
    assert before["membership_tier"] is None
    # sent again with its times, the order is updated and its events count
    result = ingest_orders(engine, [{
        "order_id": "O1", "seller_id": "S1", "buyer_id": "B1",
        "created_at": (NOW - timedelta(days=100)).isoformat(), "amount": "100.00",
        "currency": "CNY", "status": "cancelled", "refunded_amount": "0",
        "refunded_at": None, "disputed": True, "channel": "wholesale",
        "buyer_country": "CN", "shipped_at": None, "paid_out_at": None,
        "cancelled_at": (NOW - timedelta(days=99)).isoformat(),
        "disputed_at": (NOW - timedelta(days=98)).isoformat()}], now=NOW)
    assert result.updated == 1
    after = current_snapshot(engine, "S1", now=NOW, max_age=timedelta(0)).features
    assert after["cancellation_rate_365d"] == 1.0 and after["dispute_rate_365d"] == 1.0
    engine.dispose()
