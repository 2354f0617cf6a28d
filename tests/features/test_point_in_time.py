"""Point in time: events at or after as_of never move the features.

Each test builds the hand-made marketplace, then adds or moves events so that they happen
at or after ``as_of``, and checks that the feature table is *exactly* the same.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import build_features
from tests.features.test_builder_helpers import (
    AS_OF,
    at,
    example_orders,
    example_sellers,
    order,
    seller,
    validated_orders,
    validated_sellers,
)


def build(orders: list[dict[str, Any]], sellers: list[dict[str, Any]] | None = None,
          **options: Any) -> pd.DataFrame:
    seller_frame = validated_sellers(sellers if sellers is not None else example_sellers())
    return build_features(validated_orders(orders, seller_frame), seller_frame, AS_OF,
                          **options)


@pytest.fixture(scope="module")
def baseline() -> pd.DataFrame:
    return build(example_orders())


def assert_same(table: pd.DataFrame, baseline: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(table, baseline, check_exact=True)


def with_changes(order_id: str, **changes: Any) -> list[dict[str, Any]]:
    rows = example_orders()
    for row in rows:
        if row["order_id"] == order_id:
            row.update(changes)
    return rows


def test_orders_placed_at_or_after_as_of_do_not_count(baseline: pd.DataFrame) -> None:
    later = example_orders() + [
        order("late1", "S1", "b9", AS_OF.isoformat(), 999.0, status="cancelled",
              disputed=True, buyer_country="US"),
        order("late2", "S1", "b1", at(-1), 50.0, refunded_amount=50.0, refunded_at=at(-2),
              shipped_at=at(-1), paid_out_at=at(-3)),
        order("late3", "S3", "b1", at(0, hours=1), 10.0),
    ]
    assert_same(build(later), baseline)


def test_refund_after_as_of_does_not_count(baseline: pd.DataFrame) -> None:
    assert_same(build(with_changes("o2", refunded_amount="200.0", refunded_at=at(-3))),
                baseline)


def test_refund_made_exactly_at_as_of_does_not_count(baseline: pd.DataFrame) -> None:
    assert_same(build(with_changes("o2", refunded_amount="20.0",
                                   refunded_at=AS_OF.isoformat())), baseline)


def test_refund_moved_to_after_as_of_stops_counting(baseline: pd.DataFrame) -> None:
    moved = build(with_changes("o4", refunded_at=at(-1)))
    assert moved.loc["S1", "refund_rate_365d"] == 0.0  # o4 was the one matured refund
    removed = build(with_changes("o4", refunded_amount="0.0", refunded_at=None))
    assert_same(moved, removed)


def test_payout_after_as_of_does_not_count(baseline: pd.DataFrame) -> None:
    # o3 was never paid out; a payout after as_of changes nothing
    assert_same(build(with_changes("o3", paid_out_at=at(-5))), baseline)
    moved = build(with_changes("o1", paid_out_at=at(-1)))
    never = build(with_changes("o1", paid_out_at=None))
    assert_same(moved, never)


def test_shipment_after_as_of_does_not_count(baseline: pd.DataFrame) -> None:
    assert_same(build(with_changes("o5", shipped_at=at(-1))), baseline)
    moved = build(with_changes("o1", shipped_at=at(-1)))
    never = build(with_changes("o1", shipped_at=None))
    assert_same(moved, never)
    assert never.loc["S1", "late_shipment_rate_365d"] == pytest.approx(4 / 5)


def test_cancellation_and_dispute_without_their_times_are_not_known(
        baseline: pd.DataFrame) -> None:
    # the extract says o2 (40 days old) is cancelled and disputed, but not since when: it
    # may have happened after as_of, so no as_of counts it
    assert_same(build(with_changes("o2", status="cancelled", disputed="true")), baseline)


def test_cancellation_and_dispute_count_from_their_times(baseline: pd.DataFrame) -> None:
    table = build(with_changes("o2", status="cancelled", cancelled_at=at(39),
                               disputed="true", disputed_at=at(38)))
    assert table.loc["S1", "cancellation_rate_365d"] == pytest.approx(2 / 3)
    assert table.loc["S1", "dispute_rate_365d"] == pytest.approx(2 / 3)
    assert table.loc["S1", "net_gmv_365d"] == baseline.loc["S1", "net_gmv_365d"] - 200.0
    later = build(with_changes("o2", status="cancelled", cancelled_at=at(-1),
                               disputed="true", disputed_at=AS_OF.isoformat()))
    assert_same(later, baseline)


def test_rates_count_matured_orders_only(baseline: pd.DataFrame) -> None:
    # o1 (10 days old) refunded and disputed: too young to be in any rate, both sides
    young = build(with_changes("o1", disputed="true", disputed_at=at(8)))
    assert young.loc["S1", "dispute_rate_365d"] == baseline.loc["S1", "dispute_rate_365d"]
    assert young.loc["S1", "refund_rate_90d"] == 0.0
    # the same order 31 days old is matured: numerator and denominator both move
    rows = with_changes("o1", created_at=at(31), shipped_at=at(30), disputed="true",
                        disputed_at=at(20))
    matured = build(rows)
    assert matured.loc["S1", "dispute_rate_365d"] == pytest.approx(2 / 4)
    assert matured.loc["S1", "refund_rate_90d"] == pytest.approx(1 / 2)  # o1 and o2
    assert matured.loc["S1", "refund_rate_365d"] == pytest.approx(2 / 4)


def test_unpaid_shipped_orders_count_as_censored_payout_delays() -> None:
    sellers = [seller("P1", "2024-01-01T00:00:00Z")]
    paid = [order(f"a{i}", "P1", "b", at(60 + i), 10.0, shipped_at=at(59 + i),
                  paid_out_at=at(55 + i)) for i in range(3)]  # 5 days each
    # three orders shipped long ago and held: they have waited 40, 50 and 100 days
    held = [order(f"h{days}", "P1", "b", at(days), 10.0, status="shipped",
                  shipped_at=at(days - 1)) for days in (40, 50, 100)]
    table = build(paid + held, sellers)
    # delays 5, 5, 5, 40, 50, 100: median (5 + 40) / 2; p90 index (9 * 5) // 10 = 4
    assert table.loc["P1", "median_payout_delay_days_365d"] == pytest.approx(22.5)
    assert table.loc["P1", "p90_payout_delay_days_365d"] == pytest.approx(50.0)
    only_paid = build(paid, sellers)
    assert only_paid.loc["P1", "median_payout_delay_days_365d"] == pytest.approx(5.0)
    # a held order paid out after as_of is still censored at as_of
    later = [dict(row, paid_out_at=at(-3)) for row in held]
    assert_same(build(paid + later, sellers), table)


def test_seller_registered_at_or_after_as_of_is_left_out(baseline: pd.DataFrame) -> None:
    sellers = example_sellers() + [seller("S4", AS_OF.isoformat()),
                                   seller("S5", at(-10), "factory", "platinum")]
    orders = example_orders() + [order("q1", "S5", "b1", at(-9), 70.0)]
    assert_same(build(orders, sellers), baseline)


def test_later_events_everywhere_at_once_do_not_move_any_feature(
        baseline: pd.DataFrame) -> None:
    rows = example_orders()
    for row in rows:
        if row["paid_out_at"] is None:
            row["paid_out_at"] = at(-2)
        if row["shipped_at"] is None:
            row["shipped_at"] = at(-1)
        if row["refunded_at"] is None:
            row["refunded_amount"], row["refunded_at"] = "1.0", at(-4)
        if row["cancelled_at"] is None:
            row["status"], row["cancelled_at"] = "cancelled", at(-5)
        if row["disputed_at"] is None:
            row["disputed"], row["disputed_at"] = "true", at(-6)
    rows += [order(f"n{i}", "S2", f"c{i}", at(-i), 10.0 * i) for i in range(1, 6)]
    sellers = example_sellers() + [seller("S6", at(-30))]
    assert_same(build(rows, sellers), baseline)


def test_the_next_day_sees_what_happened_in_between() -> None:
    tomorrow = validated_sellers(example_sellers())
    orders = validated_orders(example_orders() + [order("n1", "S3", "z", at(-0.5), 80.0)],
                              tomorrow)
    table = build_features(orders, tomorrow, AS_OF + pd.Timedelta(days=1))
    assert table.loc["S3", "order_count_30d"] == 1 and table.loc["S3", "gmv_30d"] == 80.0


def test_synthetic_marketplace_features_equal_those_of_the_records_known_at_as_of() -> None:
    from synth.marketplace import generate_marketplace

    market = generate_marketplace(50, 15, seed=9)
    as_of = pd.Timestamp(market.as_of) - pd.Timedelta(days=75)
    orders, sellers = market.orders, market.sellers
    # what an extract taken at as_of would have held
    known = orders[orders["created_at"] < as_of].copy()
    for name in ("refunded_at", "shipped_at", "paid_out_at", "cancelled_at", "disputed_at"):
        known.loc[known[name] >= as_of, name] = pd.NaT
    known.loc[known["refunded_at"].isna(), "refunded_amount"] = 0.0
    known.loc[known["cancelled_at"].isna() & (known["status"] == "cancelled"),
              "status"] = "pending"
    known["disputed"] = known["disputed_at"].notna()
    assert (orders["cancelled_at"] >= as_of).any() and (orders["disputed_at"] >= as_of).any()
    known_sellers = sellers[sellers["registered_at"] < as_of]
    assert len(known) < len(orders)
    assert known["refunded_amount"].sum() < orders["refunded_amount"].sum()
    pd.testing.assert_frame_equal(build_features(orders, sellers, as_of),
                                  build_features(known, known_sellers, as_of),
                                  check_exact=True)


_DAY_MINUTES = 24 * 60
#: Minutes before as_of that sit exactly on a window edge (and just around it).
_EDGES = [edge * _DAY_MINUTES + shift for edge in (0, 3, 30, 90, 180, 360, 365, 455, 730)
          for shift in (-1, 0, 1)]


def _minutes_before(minutes: int) -> str:
    return (AS_OF - pd.Timedelta(minutes=minutes)).isoformat()


@st.composite
def _orders(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for number in range(draw(st.integers(0, 12))):
        created = draw(st.sampled_from(_EDGES) | st.integers(-5 * _DAY_MINUTES,
                                                             800 * _DAY_MINUTES))
        delays = [draw(st.none() | st.sampled_from(_EDGES) | st.integers(0, 90 * _DAY_MINUTES))
                  for _ in range(3)]
        refund_delay, ship_delay, payout_delay = (
            None if delay is None else max(delay, 0) for delay in delays)
        amount = draw(st.integers(1, 100_000)) / 100
        rows.append(order(
            f"h{number}", draw(st.sampled_from(["S1", "S2", "S3"])),
            draw(st.sampled_from(["b1", "b2", "B0007"])), _minutes_before(created), amount,
            status=draw(st.sampled_from(["pending", "shipped", "completed", "cancelled"])),
            disputed=draw(st.booleans()),
            refunded_amount=0.0 if refund_delay is None else amount,
            refunded_at=None if refund_delay is None
            else _minutes_before(created - refund_delay),
            shipped_at=None if ship_delay is None else _minutes_before(created - ship_delay),
            paid_out_at=None if payout_delay is None
            else _minutes_before(created - payout_delay),
            channel=draw(st.sampled_from(["wholesale", "dropship", "custom", "sample"])),
            buyer_country=draw(st.sampled_from(["CN", "US"]))))
    return rows


def _as_known_at_as_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records an extract taken at as_of would hold (status and disputes aside)."""
    known = []
    for row in rows:
        if pd.Timestamp(row["created_at"]) >= AS_OF:
            continue
        row = dict(row)
        for name in ("refunded_at", "shipped_at", "paid_out_at"):
            if row[name] is not None and pd.Timestamp(row[name]) >= AS_OF:
                row[name] = None
        if row["refunded_at"] is None:
            row["refunded_amount"] = "0.0"
        known.append(row)
    return known


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_orders())
def test_any_records_give_the_features_of_the_extract_known_at_as_of(
        rows: list[dict[str, Any]]) -> None:
    sellers = example_sellers() + [seller("S4", _minutes_before(-60))]
    assert_same(build(rows, sellers), build(_as_known_at_as_of(rows), example_sellers()))
