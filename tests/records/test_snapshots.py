"""Snapshots kept current by ingest equal the batch builder, point in time, read cheaply."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from api.errors import domain_status
from features import build_features
from features.records import validate_orders, validate_sellers
from lending.persistence import SqlUnitOfWork
from lending.persistence.history import empty_credit_history
from records.ingest import ingest_orders, register_sellers
from records.snapshots import (
    FeatureSnapshot,
    SellerNotYetRegistered,
    UnknownSeller,
    current_snapshot,
    refresh_snapshots,
)

from .conftest import AS_OF, as_rows

DAY = timedelta(days=1)


def builder_rows(orders: pd.DataFrame, sellers: pd.DataFrame, as_of: Any,
                 ) -> dict[str, dict[str, Any]]:
    """The batch builder's rows, values as plain Python (None for NaN), by seller; these
    sellers have no credit line, so the builder reads an empty credit history."""
    table = build_features(orders, sellers, pd.Timestamp(as_of), empty_credit_history())
    rows: dict[str, dict[str, Any]] = {}
    for seller_id, row in table.iterrows():
        out: dict[str, Any] = {}
        for name, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                out[str(name)] = None
            elif hasattr(value, "item"):
                out[str(name)] = value.item()
            else:
                out[str(name)] = value if isinstance(value, (int, float)) else str(value)
        rows[str(seller_id)] = out
    return rows


def builder_row(orders: pd.DataFrame, sellers: pd.DataFrame, seller_id: str,
                as_of: Any) -> dict[str, Any]:
    """The batch builder's row of one seller."""
    return builder_rows(orders, sellers, as_of)[seller_id]


def assert_same_features(snapshot: FeatureSnapshot, expected: dict[str, Any]) -> None:
    """Exactly equal, NaN (None) where the builder gives NaN; same names in the same order."""
    assert list(snapshot.features) == list(expected)
    different = {name: (snapshot.features[name], value) for name, value in expected.items()
                 if snapshot.features[name] != value}
    assert different == {}


def register(engine: sa.Engine, sellers: pd.DataFrame) -> None:
    result = register_sellers(engine, as_rows(sellers), now=AS_OF)
    assert result.rejected == ()


def test_the_snapshot_equals_the_batch_builder_after_several_batches_and_a_late_refund(
        engine, market):
    register(engine, market.sellers)
    orders = market.orders
    cut_1, cut_2 = AS_OF - timedelta(days=200), AS_OF - timedelta(days=40)
    batches = [orders[orders.created_at < cut_1],
               orders[(orders.created_at >= cut_1) & (orders.created_at < cut_2)],
               orders[orders.created_at >= cut_2]]
    for number, batch in enumerate(batches):
        result = ingest_orders(engine, as_rows(batch), now=AS_OF - timedelta(hours=3 - number))
        assert (result.accepted, result.unchanged, result.updated) == (len(batch), 0, 0)
        assert result.rejected == ()
    # a refund and a dispute recorded later on an order of the first batch
    late = orders[(orders.created_at < cut_1) & (orders.created_at > AS_OF - 300 * DAY)
                  & (orders.refunded_amount == 0)].iloc[[0]].copy()
    late["refunded_amount"] = late["amount"]
    late["refunded_at"] = AS_OF - timedelta(days=2)
    late["disputed"] = True
    result = ingest_orders(engine, as_rows(late), now=AS_OF)
    assert (result.accepted, result.unchanged, result.updated) == (0, 0, 1)

    final = pd.concat([orders[orders.order_id != late.order_id.iloc[0]], late])
    changed_seller = str(late.seller_id.iloc[0])
    snapshot = current_snapshot(engine, changed_seller, now=AS_OF, max_age=DAY)
    assert snapshot.as_of == AS_OF
    assert_same_features(snapshot, builder_row(final, market.sellers, changed_seller, AS_OF))
    assert snapshot.features["refund_rate_365d"] != builder_row(
        orders, market.sellers, changed_seller, AS_OF)["refund_rate_365d"]
    # every other seller: the snapshot of the last batch that touched it, exactly
    expected: dict[Any, dict[str, dict[str, Any]]] = {}
    for seller_id in market.sellers.seller_id:
        snapshot = current_snapshot(engine, str(seller_id), now=AS_OF, max_age=DAY)
        if snapshot.as_of not in expected:
            expected[snapshot.as_of] = builder_rows(final, market.sellers, snapshot.as_of)
        assert_same_features(snapshot, expected[snapshot.as_of][str(seller_id)])


def test_orders_placed_after_the_snapshot_moment_do_not_move_it(engine, market):
    register(engine, market.sellers)
    before = AS_OF - timedelta(days=60)
    seller_id = str(market.orders.seller_id.iloc[0])
    mine = market.orders[market.orders.seller_id == seller_id]
    ingest_orders(engine, as_rows(mine[mine.created_at < before]), now=before)
    first = current_snapshot(engine, seller_id, now=before, max_age=DAY)
    ingest_orders(engine, as_rows(mine[mine.created_at >= before]), now=before)
    second = current_snapshot(engine, seller_id, now=before, max_age=DAY)
    assert second.as_of == first.as_of == before
    assert second.features == first.features
    # and as of the extraction moment the later orders count
    later = current_snapshot(engine, seller_id, now=AS_OF, max_age=DAY)
    assert later.features["order_count_all_time"] == len(mine)


def test_a_stored_snapshot_is_served_until_it_is_older_than_max_age(engine, market):
    register(engine, market.sellers)
    ingest_orders(engine, as_rows(market.orders), now=AS_OF)
    seller_id = str(market.sellers.seller_id.iloc[3])
    fresh = current_snapshot(engine, seller_id, now=AS_OF + 20 * DAY, max_age=30 * DAY)
    assert fresh.as_of == AS_OF
    moved = current_snapshot(engine, seller_id, now=AS_OF + 20 * DAY, max_age=DAY)
    assert moved.as_of == AS_OF + 20 * DAY
    assert_same_features(moved, builder_row(market.orders, market.sellers, seller_id,
                                            AS_OF + 20 * DAY))
    assert moved.features["tenure_days"] == fresh.features["tenure_days"] + 20
    # the refreshed snapshot was stored: served again without a rebuild
    again = current_snapshot(engine, seller_id, now=AS_OF + 20 * DAY, max_age=DAY)
    assert again == moved


def test_a_decision_as_of_an_earlier_moment_does_not_replace_the_stored_snapshot(
        engine, market):
    register(engine, market.sellers)
    ingest_orders(engine, as_rows(market.orders), now=AS_OF)
    seller_id = str(market.sellers.seller_id.iloc[2])
    earlier = current_snapshot(engine, seller_id, now=AS_OF - 90 * DAY, max_age=DAY)
    assert earlier.as_of == AS_OF - 90 * DAY
    assert_same_features(earlier, builder_row(market.orders, market.sellers, seller_id,
                                              AS_OF - 90 * DAY))
    assert current_snapshot(engine, seller_id, now=AS_OF, max_age=DAY).as_of == AS_OF


def test_a_seller_without_orders_gets_the_builders_values_for_no_orders(engine, market):
    register(engine, market.sellers.iloc[[0]])
    seller_id = str(market.sellers.seller_id.iloc[0])
    snapshot = current_snapshot(engine, seller_id, now=AS_OF, max_age=DAY)
    empty = validate_orders(market.orders.iloc[0:0]).frame
    assert_same_features(snapshot, builder_row(empty, market.sellers.iloc[[0]], seller_id,
                                               AS_OF))
    assert snapshot.features["gmv_30d"] == 0
    assert snapshot.features["refund_rate_365d"] is None
    assert snapshot.seller_kind == market.sellers.kind.iloc[0]


def test_an_unknown_seller_has_no_snapshot(engine, market):
    with pytest.raises(UnknownSeller) as raised:
        current_snapshot(engine, "S-nobody", now=AS_OF, max_age=DAY)
    assert (domain_status(raised.value), raised.value.code) == (404, "unknown_seller")
    with pytest.raises(UnknownSeller):
        refresh_snapshots(engine, now=AS_OF, seller_ids=["S-nobody"], progress=False)


def test_a_seller_registered_after_the_moment_asked_has_no_features_yet(engine, market):
    seller = market.sellers.iloc[[0]].copy()
    seller["registered_at"] = AS_OF + DAY
    register(engine, seller)
    with pytest.raises(SellerNotYetRegistered) as raised:
        current_snapshot(engine, str(seller.seller_id.iloc[0]), now=AS_OF, max_age=DAY)
    assert (domain_status(raised.value), raised.value.code) == (409,
                                                              "seller_not_yet_registered")


def test_refreshing_every_snapshot_rebuilds_them_at_the_new_moment(engine, market):
    register(engine, market.sellers)
    ingest_orders(engine, as_rows(market.orders), now=AS_OF - 10 * DAY)
    stored = refresh_snapshots(engine, now=AS_OF, progress=False)
    assert stored == len(market.sellers)
    for seller_id in market.sellers.seller_id[:4]:
        snapshot = current_snapshot(engine, str(seller_id), now=AS_OF, max_age=DAY)
        assert snapshot.as_of == AS_OF
        assert_same_features(snapshot, builder_row(market.orders, market.sellers,
                                                   str(seller_id), AS_OF))


def test_a_unit_of_work_serves_as_well_as_an_engine(engine, market):
    register(engine, market.sellers)
    ingest_orders(SqlUnitOfWork(engine), as_rows(market.orders), now=AS_OF)
    seller_id = str(market.sellers.seller_id.iloc[1])
    by_engine = current_snapshot(engine, seller_id, now=AS_OF, max_age=DAY)
    assert current_snapshot(SqlUnitOfWork(engine), seller_id, now=AS_OF,
                            max_age=DAY) == by_engine
    with SqlUnitOfWork(engine) as uow:
        assert current_snapshot(uow, seller_id, now=AS_OF, max_age=DAY) == by_engine


def test_the_builder_sees_the_sellers_as_registered(market):
    # the fixture's sellers validate as they are (guards the comparisons above)
    assert validate_sellers(market.sellers).report.ok


def test_decisions_racing_on_a_stale_snapshot_all_get_the_same_fresh_one(engine, market):
    import threading

    register(engine, market.sellers)
    ingest_orders(engine, as_rows(market.orders), now=AS_OF)
    seller_id = str(market.sellers.seller_id.iloc[5])
    later = AS_OF + 3 * DAY
    answers, failures = [], []
    barrier = threading.Barrier(4)

    def decide() -> None:
        barrier.wait()
        try:
            answers.append(current_snapshot(engine, seller_id, now=later, max_age=DAY))
        except Exception as error:  # collected and asserted below
            failures.append(error)

    workers = [threading.Thread(target=decide, daemon=True) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert failures == []
    assert len(answers) == 4 and all(answer == answers[0] for answer in answers)
    assert answers[0].as_of == later
    assert_same_features(answers[0], builder_row(market.orders, market.sellers, seller_id,
                                                 later))


def test_one_fresh_unit_of_work_serves_several_calls_and_each_commits(engine, market):
    uow = SqlUnitOfWork(engine)
    register_sellers(uow, as_rows(market.sellers.head(2)), now=AS_OF)
    seller_id = str(market.sellers.seller_id.iloc[0])
    ingest_orders(uow, as_rows(market.orders[market.orders.seller_id == seller_id]), now=AS_OF)
    refreshed = current_snapshot(uow, seller_id, now=AS_OF + 2 * DAY, max_age=DAY)
    assert current_snapshot(engine, seller_id, now=AS_OF + 2 * DAY, max_age=DAY) == refreshed
