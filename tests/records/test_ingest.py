"""Ingest: the contract's row/field/reason, idempotency by id, what is stored and what not."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from api.errors import domain_status
from features.records import RecordValidationError
from records import ingest as records_service
from records.ingest import (
    MAX_BATCH_ROWS,
    BatchTooLarge,
    RejectedRow,
    ingest_orders,
    load_records,
    register_sellers,
)
from records.snapshots import UnknownSeller, current_snapshot, read_orders
from store import make_engine, upgrade_database

from .conftest import AS_OF, as_rows

DAY = timedelta(days=1)


def stored_ids(engine: sa.Engine, table: str, key: str) -> set[str]:
    with engine.connect() as connection:
        return {row[0] for row in connection.execute(sa.text(f"SELECT {key} FROM {table}"))}


def stamps(engine: sa.Engine, table: str) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(
            f"SELECT * FROM {table} ORDER BY 1"))]


@pytest.fixture
def registered(engine, market):
    register_sellers(engine, as_rows(market.sellers), now=AS_OF)
    return engine


def test_ingesting_the_same_batch_again_changes_nothing(registered, market):
    rows = as_rows(market.orders.head(60))
    first = ingest_orders(registered, rows, now=AS_OF)
    assert (first.received, first.accepted, first.unchanged, first.updated) == (60, 60, 0, 0)
    orders_before, snapshots_before = (stamps(registered, "seller_order"),
                                       stamps(registered, "feature_snapshot"))
    again = ingest_orders(registered, rows, now=AS_OF + DAY)
    assert (again.accepted, again.unchanged, again.updated, again.rejected) == (0, 60, 0, ())
    assert again.snapshots == 0
    assert stamps(registered, "seller_order") == orders_before
    assert stamps(registered, "feature_snapshot") == snapshots_before


def test_a_later_refund_updates_the_stored_order(registered, market):
    order = market.orders[market.orders.refunded_amount == 0].head(1).copy()
    ingest_orders(registered, as_rows(order), now=AS_OF)
    order["refunded_amount"] = order["amount"] / 2
    order["refunded_amount"] = order["refunded_amount"].round(2)
    order["refunded_at"] = order["created_at"] + pd.Timedelta(days=3)
    result = ingest_orders(registered, as_rows(order), now=AS_OF)
    assert (result.accepted, result.unchanged, result.updated) == (0, 0, 1)
    with registered.connect() as connection:
        stored = read_orders(connection, order_ids=[str(order.order_id.iloc[0])])
    assert stored.refunded_amount.iloc[0] == order.refunded_amount.iloc[0]
    assert stored.refunded_at.iloc[0] == order.refunded_at.iloc[0]
    assert stored.amount.iloc[0] == order.amount.iloc[0]


def test_rejected_rows_name_row_and_field_and_nothing_of_them_is_stored(registered, market):
    rows = as_rows(market.orders.head(6))
    rows[1]["amount"] = "-5"                                  # row 2
    rows[2]["created_at"] = "2026-01-05T10:00:00"             # row 3: naive
    rows[3]["seller_id"] = "S-unknown"                        # row 4
    rows[4]["amount"] = "10.005"                              # row 5: finer than a fen
    rows[5]["order_id"] = rows[0]["order_id"]                 # row 6: repeated id
    result = ingest_orders(registered, rows, now=AS_OF)
    assert result.rejected == (
        RejectedRow(2, "amount", "negative amount"),
        RejectedRow(3, "created_at", "naive timestamp: a time zone offset is required"),
        RejectedRow(4, "seller_id", "order for an unknown seller"),
        RejectedRow(5, "amount", "finer than the CNY minor unit (0.01)"),
        RejectedRow(6, "order_id", "duplicate order_id (first seen on row 1)"),
    )
    assert (result.accepted, result.rejected_rows) == (1, 5)
    assert stored_ids(registered, "seller_order", "order_id") == {rows[0]["order_id"]}


def test_an_order_of_an_unknown_seller_is_rejected_and_the_others_kept(engine, market):
    register_sellers(engine, as_rows(market.sellers.head(1)), now=AS_OF)
    known = str(market.sellers.seller_id.iloc[0])
    orders = market.orders[market.orders.seller_id.isin([known, market.sellers.seller_id[1]])]
    result = ingest_orders(engine, as_rows(orders), now=AS_OF)
    unknown_rows = [i + 1 for i, s in enumerate(orders.seller_id) if s != known]
    assert [(p.row, p.field, p.reason) for p in result.rejected] == [
        (row, "seller_id", "order for an unknown seller") for row in unknown_rows]
    assert result.accepted == len(orders) - len(unknown_rows)
    assert current_snapshot(engine, known, now=AS_OF, max_age=DAY).features[
        "order_count_all_time"] == result.accepted


def test_an_order_cannot_move_to_another_seller(registered, market):
    order = market.orders.head(1).copy()
    ingest_orders(registered, as_rows(order), now=AS_OF)
    other = next(s for s in market.sellers.seller_id if s != order.seller_id.iloc[0])
    moved = order.assign(seller_id=other)
    result = ingest_orders(registered, as_rows(moved), now=AS_OF)
    assert [(p.row, p.field) for p in result.rejected] == [(1, "seller_id")]
    assert "cannot move to another seller" in result.rejected[0].reason
    assert (result.accepted, result.updated) == (0, 0)


def test_a_missing_column_rejects_every_row(registered, market):
    rows = as_rows(market.orders.head(3))
    for row in rows:
        del row["channel"]
    result = ingest_orders(registered, rows, now=AS_OF)
    assert result.rejected == (RejectedRow(0, "channel", "missing column"),)
    assert (result.accepted, result.rejected_rows) == (0, 3)


def test_a_batch_over_the_cap_is_refused_whole(registered):
    with pytest.raises(BatchTooLarge) as raised:
        ingest_orders(registered, [{}] * (MAX_BATCH_ROWS + 1), now=AS_OF)
    assert (domain_status(raised.value), raised.value.code) == (413, "batch_too_large")
    assert raised.value.details == {"rows": MAX_BATCH_ROWS + 1, "max_rows": MAX_BATCH_ROWS}
    with pytest.raises(BatchTooLarge):
        register_sellers(registered, [{}] * 3, max_rows=2)


def test_sellers_are_idempotent_and_a_changed_tier_is_an_update(engine, market):
    rows = as_rows(market.sellers.head(3))
    assert register_sellers(engine, rows, now=AS_OF).accepted == 3
    rows[1]["membership_tier"] = "platinum" if rows[1]["membership_tier"] != "platinum" \
        else "basic"
    rows[2]["kind"] = "robot"
    result = register_sellers(engine, rows, now=AS_OF)
    assert (result.accepted, result.unchanged, result.updated) == (0, 1, 1)
    assert result.rejected == (RejectedRow(3, "kind", "must be one of shop, factory"),)
    snapshot = current_snapshot(engine, rows[1]["seller_id"], now=AS_OF, max_age=DAY)
    assert snapshot.features["membership_tier"] == rows[1]["membership_tier"]


@pytest.mark.parametrize("copy_from_rows", [1, MAX_BATCH_ROWS])
def test_a_bulk_load_stores_the_records_exactly_and_loading_again_changes_nothing(
        engine, market, monkeypatch, copy_from_rows):
    # on PostgreSQL, through COPY (1) and through executemany (10,000)
    monkeypatch.setattr(records_service, "_COPY_FROM_ROWS", copy_from_rows)
    result = load_records(engine, market.sellers, market.orders, now=AS_OF)
    assert (result.sellers.accepted, result.orders.accepted) == (len(market.sellers),
                                                                len(market.orders))
    assert result.snapshots == len(market.sellers)
    before = stamps(engine, "feature_snapshot")
    again = load_records(engine, market.sellers, market.orders, now=AS_OF)
    assert (again.orders.unchanged, again.orders.accepted, again.snapshots) == (
        len(market.orders), 0, 0)
    assert stamps(engine, "feature_snapshot") == before
    with engine.connect() as connection:
        stored = read_orders(connection).sort_values("order_id").reset_index(drop=True)
    expected = market.orders.sort_values("order_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(stored.drop(columns=["status", "channel"]),
                                  expected.drop(columns=["status", "channel"]),
                                  check_dtype=False)


def test_a_strict_bulk_load_with_one_bad_row_stores_nothing(engine, market):
    orders = market.orders.head(20).copy()
    orders["amount"] = orders["amount"].astype(object)
    orders.loc[orders.index[4], "amount"] = "ten"
    with pytest.raises(RecordValidationError) as raised:
        load_records(engine, market.sellers, orders, now=AS_OF, strict=True)
    assert raised.value.report.problems[["row", "field"]].values.tolist() == [[5, "amount"]]
    assert stored_ids(engine, "seller", "seller_id") == set()


def test_batches_racing_to_store_the_same_new_records_all_succeed(engine, market):
    import threading

    sellers = as_rows(market.sellers.head(4))
    orders = as_rows(market.orders[market.orders.seller_id.isin(
        market.sellers.seller_id.head(4))].head(40))
    results, failures = [], []
    barrier = threading.Barrier(3)

    def send() -> None:
        barrier.wait()
        try:
            results.append((register_sellers(engine, sellers, now=AS_OF),
                            ingest_orders(engine, orders, now=AS_OF)))
        except Exception as error:  # collected and asserted below
            failures.append(error)

    workers = [threading.Thread(target=send, daemon=True) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert failures == []
    assert sum(s.accepted for s, _ in results) == len(sellers)
    assert sum(o.accepted for _, o in results) == len(orders)
    assert sum(o.unchanged for _, o in results) == 2 * len(orders)


def test_with_several_currencies_a_seller_keeps_trading_in_its_first_one(registered, market):
    first, second = as_rows(market.orders[market.orders.seller_id == "S000001"].head(2))
    third = as_rows(market.orders[market.orders.seller_id == "S000002"].head(1))[0]
    assert ingest_orders(registered, [first], now=AS_OF, currencies=("CNY", "USD")).accepted == 1
    second["currency"] = "USD"
    third["currency"] = "USD"
    result = ingest_orders(registered, [second, third], now=AS_OF, currencies=("CNY", "USD"))
    assert result.rejected == (RejectedRow(1, "currency", "seller 'S000001' trades in CNY: "
                                                          "features add up one currency per "
                                                          "seller"),)
    assert result.accepted == 1  # S000002's first order sets its currency


def test_texts_no_database_can_store_reject_their_rows_with_their_own_reason(registered,
                                                                             market):
    rows = as_rows(market.orders.head(4))
    rows[1]["buyer_id"] = "B\ud800"
    rows[2]["seller_id"] = "S\x00"
    rows[3]["refunded_at"] = "\udfff"
    result = ingest_orders(registered, rows, now=AS_OF)
    assert sorted({(p.row, p.field) for p in result.rejected}) == [
        (2, "buyer_id"), (3, "seller_id"), (4, "refunded_at")]
    assert [p.reason for p in result.rejected if p.row in (2, 4)] == [
        "not valid Unicode text (it holds a lone surrogate)"] * 2
    assert result.accepted == 1
    with pytest.raises(UnknownSeller):
        current_snapshot(registered, "S\ud800", now=AS_OF, max_age=DAY)


def _snapshot_rows(engine: sa.Engine) -> dict[str, tuple]:
    with engine.connect() as connection:
        return {row[0]: tuple(row[1:]) for row in connection.execute(sa.text(
            "SELECT seller_id, as_of, features, orders_seen FROM feature_snapshot"))}


def test_a_batch_that_invalidates_snapshots_leaves_the_next_decision_the_same_snapshot(
        engine, market, tmp_path):
    """``snapshots="invalidate"``: the touched sellers' snapshots are gone (no stale row is
    read as current), the others are kept, and building them later at the same moment
    gives exactly what a rebuilding batch stores."""
    from records.snapshots import refresh_snapshots

    first = market.orders[market.orders.created_at < AS_OF - 60 * DAY]
    later = market.orders[market.orders.created_at >= AS_OF - 60 * DAY]
    touched = sorted(set(later.seller_id.astype(str)))
    untouched = sorted(set(market.sellers.seller_id.astype(str)) - set(touched))
    assert touched and untouched

    register_sellers(engine, as_rows(market.sellers), now=AS_OF - DAY)
    ingest_orders(engine, as_rows(first), now=AS_OF - DAY)
    before = _snapshot_rows(engine)
    result = ingest_orders(engine, as_rows(later), now=AS_OF, snapshots="invalidate")
    assert result.accepted == len(later) and result.snapshots == 0
    after = _snapshot_rows(engine)
    assert sorted(after) == untouched
    assert all(after[seller] == before[seller] for seller in untouched)
    assert refresh_snapshots(engine, now=AS_OF, seller_ids=touched, progress=False) == len(
        touched)
    invalidated_then_built = _snapshot_rows(engine)

    # the same records through the default mode, in a second (embedded) store
    other = make_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    try:
        upgrade_database(other)
        register_sellers(other, as_rows(market.sellers), now=AS_OF - DAY)
        ingest_orders(other, as_rows(first), now=AS_OF - DAY)
        rebuilt = ingest_orders(other, as_rows(later), now=AS_OF)
        assert rebuilt.snapshots == len(touched)
        built_by_the_batch = _snapshot_rows(other)
    finally:
        other.dispose()
    for seller in touched:
        assert invalidated_then_built[seller][1:] == built_by_the_batch[seller][1:]


def test_an_unknown_snapshot_mode_is_refused_before_anything_is_stored(engine, market):
    from records.ingest import ingest_tier_history

    before = {table: stamps(engine, table)
              for table in ("seller", "seller_order", "seller_tier", "feature_snapshot")}
    batches = [(register_sellers, as_rows(market.sellers)),
               (ingest_orders, as_rows(market.orders.head(5))),
               (ingest_tier_history, as_rows(market.tier_history.head(3)))]
    for service, rows in batches:
        with pytest.raises(ValueError, match="snapshot mode must be one of rebuild, "
                                             "invalidate; got 'later'"):
            service(engine, rows, now=AS_OF, snapshots="later")  # type: ignore[arg-type]
    assert {table: stamps(engine, table) for table in before} == before
