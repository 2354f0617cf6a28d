"""Issue 15 in the records store: event times and tier periods are kept, and a snapshot
as of a moment moves with nothing that happened after it."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from access.principal import Role
from records.ingest import (
    get_seller,
    ingest_orders,
    ingest_tier_history,
    load_records,
    register_sellers,
)
from records.snapshots import current_snapshot, read_orders, read_tier_history

from .conftest import AS_OF, as_rows

DAY = timedelta(days=1)


@pytest.fixture
def registered(engine, market):
    register_sellers(engine, as_rows(market.sellers), now=AS_OF)
    return engine


def test_orders_keep_their_cancellation_and_dispute_times(registered, market):
    orders = market.orders
    sample = pd.concat([orders[orders["cancelled_at"].notna()].head(3),
                        orders[orders["disputed_at"].notna()].head(3)])
    assert len(sample) == 6
    result = ingest_orders(registered, as_rows(sample), now=AS_OF)
    assert (result.accepted, result.rejected) == (6, ())
    with registered.connect() as connection:
        stored = read_orders(connection, order_ids=list(sample["order_id"])).set_index(
            "order_id").loc[list(sample["order_id"])]
    for name in ("cancelled_at", "disputed_at"):
        pd.testing.assert_series_equal(stored[name].reset_index(drop=True),
                                       sample[name].dt.floor("us").reset_index(drop=True),
                                       check_names=False)


def test_old_clients_without_the_new_fields_are_served(registered, market):
    rows = as_rows(market.orders.head(5))
    for row in rows:
        row.pop("cancelled_at")
        row.pop("disputed_at")
    result = ingest_orders(registered, rows, now=AS_OF)
    assert (result.accepted, result.rejected_rows) == (5, 0)


def test_bad_event_times_reject_their_rows_only(registered, market):
    rows = as_rows(market.orders.head(3))
    cancelled = as_rows(market.orders[market.orders["cancelled_at"].notna()].head(1))[0]
    cancelled["cancelled_at"] = "2100-01-01T00:00:00Z"
    rows[1]["disputed_at"] = rows[1]["created_at"]  # not disputed
    result = ingest_orders(registered, rows + [cancelled], now=AS_OF)
    assert result.accepted == 2 and result.rejected_rows == 2
    reasons = {(p.row, p.field, p.reason) for p in result.rejected}
    assert (2, "disputed_at", "given while disputed is false") in reasons
    assert (4, "cancelled_at", "out of range: a time from 1970-01-01T00:00:00Z to "
            "2099-12-31T23:59:59.999999Z") in reasons


def test_a_sellers_tier_counts_from_when_the_service_learned_it(engine, market):
    rows = as_rows(market.sellers.head(1))
    rows[0].pop("membership_tier_at")
    seen = AS_OF - 10 * DAY
    register_sellers(engine, rows, now=seen)
    seller_id = rows[0]["seller_id"]
    assert get_seller(engine, seller_id).membership_tier_at == seen
    # sent again unchanged: nothing moves
    again = register_sellers(engine, rows, now=AS_OF)
    assert (again.unchanged, again.updated) == (1, 0)
    assert get_seller(engine, seller_id).membership_tier_at == seen
    # a new tier: the old one stays known, as a period, for moments before the change
    old_tier = rows[0]["membership_tier"]
    rows[0]["membership_tier"] = "platinum" if old_tier != "platinum" else "basic"
    changed = register_sellers(engine, rows, now=AS_OF)
    assert changed.updated == 1
    with engine.connect() as connection:
        periods = read_tier_history(connection, [seller_id])
    assert periods[["membership_tier", "valid_from", "valid_to"]].values.tolist() == [
        [old_tier, pd.Timestamp(seen), pd.Timestamp(AS_OF)]]
    before = current_snapshot(engine, seller_id, now=AS_OF - DAY, max_age=timedelta(0))
    assert before.features["membership_tier"] == old_tier
    now = current_snapshot(engine, seller_id, now=AS_OF + DAY, max_age=timedelta(0))
    assert now.features["membership_tier"] == rows[0]["membership_tier"]


def test_tier_history_is_ingested_idempotently_with_row_level_errors(registered, market):
    seller_id = str(market.sellers["seller_id"].iloc[0])
    rows = [
        {"seller_id": seller_id, "membership_tier": "silver",
         "valid_from": (AS_OF - 300 * DAY).isoformat(), "valid_to": None},
        {"seller_id": "S-unknown", "membership_tier": "gold",
         "valid_from": (AS_OF - 300 * DAY).isoformat(), "valid_to": None},
        {"seller_id": seller_id, "membership_tier": "gold",
         "valid_from": (AS_OF - 200 * DAY).isoformat(),
         "valid_to": (AS_OF - 250 * DAY).isoformat()},
    ]
    first = ingest_tier_history(registered, rows, now=AS_OF)
    assert (first.accepted, first.rejected_rows) == (1, 2)
    assert {(p.row, p.field) for p in first.rejected} == {(2, "seller_id"), (3, "valid_to")}
    again = ingest_tier_history(registered, rows[:1], now=AS_OF)
    assert (again.accepted, again.unchanged, again.updated) == (0, 1, 0)
    rows[0]["membership_tier"] = "basic"
    changed = ingest_tier_history(registered, rows[:1], now=AS_OF)
    assert changed.updated == 1
    snapshot = current_snapshot(registered, seller_id, now=AS_OF - 100 * DAY,
                                max_age=timedelta(0))
    assert snapshot.features["membership_tier"] == "basic"


def test_a_snapshot_as_of_a_moment_ignores_everything_after_it(engine, market):
    """The service's path of the issue's test: a later extract (cancellations, disputes,
    refunds, payouts and a tier change after ``as_of``) leaves the snapshot at ``as_of``
    exactly as it was."""
    as_of = AS_OF - 60 * DAY
    seller_id = str(market.orders["seller_id"].value_counts().index[0])
    sellers = market.sellers[market.sellers["seller_id"] == seller_id]
    orders = market.orders[(market.orders["seller_id"] == seller_id)
                           & (market.orders["created_at"] < pd.Timestamp(as_of))]
    seller_rows = as_rows(sellers)
    seller_rows[0]["membership_tier_at"] = (as_of - 30 * DAY).isoformat()
    register_sellers(engine, seller_rows, now=as_of)
    ingest_orders(engine, as_rows(orders), now=as_of)
    before = current_snapshot(engine, seller_id, now=as_of, max_age=timedelta(0))

    later = orders.copy()
    fresh = (later["cancelled_at"].isna() & later["disputed_at"].isna()).to_numpy()
    after = pd.Timestamp(as_of) + pd.Timedelta(days=3)
    cancel = fresh & (pd.Series(range(len(later))) % 3 == 0).to_numpy()
    dispute = fresh & (pd.Series(range(len(later))) % 3 == 1).to_numpy()
    later.loc[cancel, ["status", "cancelled_at"]] = ["cancelled", after]
    later.loc[dispute, ["disputed", "disputed_at"]] = [True, after]
    refund = fresh & later["refunded_at"].isna().to_numpy() & ~cancel
    later.loc[refund, "refunded_amount"] = later.loc[refund, "amount"]
    later.loc[refund, "refunded_at"] = after
    unpaid = later["paid_out_at"].isna() | (later["paid_out_at"] >= pd.Timestamp(as_of))
    later.loc[unpaid, "paid_out_at"] = after + pd.Timedelta(days=1)
    assert cancel.any() and dispute.any() and refund.any()
    moved = ingest_orders(engine, as_rows(later), now=AS_OF)
    assert moved.updated > 0
    seller_rows[0]["membership_tier"] = "basic" if seller_rows[0]["membership_tier"] != \
        "basic" else "gold"
    seller_rows[0]["membership_tier_at"] = AS_OF.isoformat()
    register_sellers(engine, seller_rows, now=AS_OF)
    ingest_tier_history(engine, [{"seller_id": seller_id, "membership_tier": "platinum",
                                  "valid_from": (as_of + DAY).isoformat(),
                                  "valid_to": None}], now=AS_OF)

    again = current_snapshot(engine, seller_id, now=as_of, max_age=timedelta(0))
    assert again.as_of == before.as_of
    assert again.features == before.features
    today = current_snapshot(engine, seller_id, now=AS_OF, max_age=timedelta(0))
    assert today.features != before.features


def test_bulk_load_stores_the_tier_history(engine, market):
    result = load_records(engine, market.sellers, market.orders, now=AS_OF,
                          tier_history=market.tier_history)
    assert result.tiers is not None
    assert result.tiers.accepted == len(market.tier_history)
    assert result.tiers.rejected_rows == 0
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM seller_tier")).scalar()
        snapshot = json.loads(connection.execute(sa.text(
            "SELECT features FROM feature_snapshot ORDER BY seller_id LIMIT 1")).scalar())
    assert count == len(market.tier_history)
    first = market.sellers.sort_values("seller_id").iloc[0]
    assert snapshot["membership_tier"] == first["membership_tier"]


def test_tier_history_over_http(service, market):
    headers = service.as_role(Role.MARKETPLACE)
    answer = service.client.post("/v1/sellers", json={"items": as_rows(market.sellers.head(1))},
                                 headers=headers)
    assert answer.status_code == 200, answer.text
    seller_id = str(market.sellers["seller_id"].iloc[0])
    items = [{"seller_id": seller_id, "membership_tier": "gold",
              "valid_from": "2025-01-01T00:00:00+08:00"},
             {"seller_id": seller_id, "membership_tier": "gold",
              "valid_from": "2025-02-01T00:00:00"}]
    answer = service.client.post("/v1/tier-history", json={"items": items}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected_rows"]) == (1, 1)
    assert body["rejected"] == [{"row": 2, "field": "valid_from",
                                 "reason": "naive timestamp: a time zone offset is required"}]
    officer = service.client.post("/v1/tier-history", json={"items": items},
                                  headers=service.as_role(Role.OFFICER))
    assert officer.status_code == 403
    read = service.client.get(f"/v1/sellers/{seller_id}",
                              headers=service.as_role(Role.OFFICER)).json()
    assert read["membership_tier_at"] is not None


def test_orders_over_http_take_the_event_times_and_old_clients_leave_them_out(service):
    headers = service.as_role(Role.MARKETPLACE)
    seller = {"seller_id": "S1", "kind": "shop", "registered_at": "2024-01-01T00:00:00+08:00",
              "region": "Zhejiang", "industry": "apparel", "membership_tier": "gold"}
    assert service.client.post("/v1/sellers", json={"items": [seller]},
                               headers=headers).status_code == 200

    def order(order_id: str, **changes: object) -> dict:
        row = {"order_id": order_id, "seller_id": "S1", "buyer_id": "B1",
               "created_at": "2026-05-01T10:00:00+08:00", "amount": "100.00",
               "currency": "CNY", "status": "cancelled", "refunded_amount": "0",
               "refunded_at": None, "disputed": False, "channel": "wholesale",
               "buyer_country": "CN", "shipped_at": None, "paid_out_at": None}
        row.update(changes)
        return row

    items = [order("O1", cancelled_at="2026-05-01T12:00:00+08:00"),
             order("O2", cancelled_at="1969-12-31T23:59:59Z"),
             order("O3"),  # an old client: no event times at all
             order("O4", status="completed", disputed=True,
                   disputed_at="2026-05-01T09:00:00+08:00")]
    answer = service.client.post("/v1/orders", json={"items": items}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected_row_numbers"]) == (2, [2, 4])
    assert body["rejected"] == [
        {"row": 2, "field": "cancelled_at", "reason": "out of range: a time from "
         "1970-01-01T00:00:00Z to 2099-12-31T23:59:59.999999Z"},
        {"row": 4, "field": "disputed_at", "reason": "disputed_at before created_at"}]
    with service.engine.connect() as connection:
        stored = read_orders(connection).set_index("order_id")
    assert stored.loc["O1", "cancelled_at"] == pd.Timestamp("2026-05-01T04:00:00Z")
    assert pd.isna(stored.loc["O3", "cancelled_at"])
