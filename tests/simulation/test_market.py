"""The marketplace seen through time, and the sellers' fates (pure, no store)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from features.records import validate_orders
from simulation.behaviour import draw_amount, instalment_payments
from simulation.market import orders_changed, orders_known_at, seller_fates
from synth.marketplace import generate_marketplace

ZONE = "Asia/Shanghai"


@pytest.fixture(scope="module")
def market() -> object:
    return generate_marketplace(80, 6, seed=2, as_of=pd.Timestamp("2025-10-01", tz=ZONE))


def test_records_known_at_a_moment_show_nothing_after_it(market) -> None:
    moment = pd.Timestamp("2025-08-01", tz=ZONE).tz_convert("UTC")
    known = orders_known_at(market.orders, moment)
    assert (known["created_at"] < moment).all()
    for column in ("shipped_at", "paid_out_at", "refunded_at"):
        assert (known[column].dropna() < moment).all()
    assert set(known["status"].astype(str)) <= {"pending", "shipped", "completed",
                                                   "cancelled"}
    completed = known["status"] == "completed"
    assert known.loc[completed, "paid_out_at"].notna().all()
    assert known.loc[known["status"] == "pending", "shipped_at"].isna().all()
    # the records contract takes them as they are
    assert len(validate_orders(known).report.problems) == 0
    # at the generator's own as-of date the replay is the generator's record
    final = orders_known_at(market.orders, market.as_of)
    assert (final["status"].astype(str).to_numpy()
            == market.orders["status"].astype(str).to_numpy()).all()


def test_a_month_brings_its_new_orders_and_the_ones_that_moved(market) -> None:
    start = pd.Timestamp("2025-08-01", tz=ZONE).tz_convert("UTC")
    end = pd.Timestamp("2025-09-01", tz=ZONE).tz_convert("UTC")
    arrived = orders_changed(market.orders, start, end)
    new = market.orders.loc[(market.orders["created_at"] >= start)
                            & (market.orders["created_at"] < end), "order_id"]
    assert set(new) <= set(arrived["order_id"])
    moved = arrived.loc[~arrived["order_id"].isin(new)]
    assert len(moved) > 0 and (moved["created_at"] < start).all()
    before = orders_known_at(market.orders, start).set_index("order_id")
    # an order that arrives again has changed since the month before
    assert not (moved.set_index("order_id")["status"].astype(str)
                == before.loc[moved["order_id"], "status"].astype(str)).all()


def test_default_days_follow_each_sellers_hazard_over_the_whole_book() -> None:
    """A seller with 12-month PD p defaults within any 12 months it is still paying with
    probability p, counted from its registration: both years of a 24-month book see
    defaults at the same pace among the sellers paying at their start (none before the
    seller is there), a seller that joined long before the book may have failed before it,
    and the draw is the seed's."""
    start, end = date(2024, 10, 1), date(2026, 10, 1)
    big = generate_marketplace(3000, 30, seed=5, base_default_rate=0.2,
                               as_of=pd.Timestamp("2026-10-01", tz=ZONE))
    fates = seller_fates(big, ZONE, start=start, end=end, seed=7)
    registered = pd.to_datetime(big.sellers.set_index("seller_id")["registered_at"],
                                utc=True).dt.tz_convert(ZONE).dt.date.reindex(fates.index)
    day = fates["default_day"]
    known = day.notna()
    assert (day[known] >= registered[known]).all()
    before = known & day.map(lambda d: d is not None and d < start)
    assert (fates["failed_before"] == before).all()
    assert (fates["defaults"] == (known & ~before & day.map(
        lambda d: d is not None and d < end))).all()
    # only sellers that joined before the book failed before it, and they were the riskier
    joined_before = registered < start
    assert before.any() and not (before & ~joined_before).any()
    assert fates.loc[before, "true_pd"].mean() > fates.loc[joined_before & ~before,
                                                          "true_pd"].mean()
    # the sellers there at the start (joined before, not failed), in the first and the
    # second year, each among the sellers still paying at its beginning, default at about
    # their mean true PD
    there = joined_before & ~before
    year = pd.Timestamp(start) + pd.DateOffset(months=12)
    first = there & known & day.map(lambda d: d is not None and d < year.date())
    alive = there & ~first
    second = alive & known & day.map(lambda d: d is not None and year.date() <= d
                                     < (year + pd.DateOffset(months=12)).date())
    expected_first = fates.loc[there, "true_pd"].mean()
    expected_second = fates.loc[alive, "true_pd"].mean()
    n_first, n_second = int(there.sum()), int(alive.sum())
    assert abs(first.sum() / n_first - expected_first) < 4 * np.sqrt(
        expected_first * (1 - expected_first) / n_first)
    assert abs(second.sum() / n_second - expected_second) < 4 * np.sqrt(
        expected_second * (1 - expected_second) / n_second)
    assert second.sum() > 0.5 * first.sum() * n_second / n_first
    # riskier sellers default sooner
    assert fates.loc[first, "true_pd"].mean() > fates.loc[there & ~first, "true_pd"].mean()
    again = seller_fates(big, ZONE, start=start, end=end, seed=7)
    assert again["default_day"].equals(fates["default_day"])
    other = seller_fates(big, ZONE, start=start, end=end, seed=8)
    assert not other["default_day"].equals(fates["default_day"])


def test_a_seller_pays_nothing_from_its_default_day() -> None:
    due = date(2025, 9, 1)
    for seed in range(50):
        actions = instalment_payments(np.random.default_rng(seed), health=-1.0, due=due,
                                      total=Decimal("1000.00"), single_interest_free=True,
                                      default_day=due, shocked=False)
        assert all(action.day < due for action in actions)


def test_a_late_or_partial_payer_pays_the_instalment_and_its_penalty() -> None:
    kinds: set[str] = set()
    for seed in range(400):
        actions = instalment_payments(np.random.default_rng(seed), health=-1.5,
                                      due=date(2025, 9, 1), total=Decimal("1000.00"),
                                      single_interest_free=False, default_day=None,
                                      shocked=True)
        paid = sum((action.amount for action in actions), Decimal(0))
        last = max(action.day for action in actions)
        late_days = (last - date(2025, 9, 1)).days
        assert paid >= Decimal("1000.00")
        assert paid <= Decimal("1000.00") * (1 + Decimal("0.0005") * late_days) + \
            Decimal("0.01")
        kinds.update(action.kind for action in actions)
    assert {"on_time", "late", "partly"} <= kinds and "early" not in kinds


def test_draws_are_whole_hundreds_within_what_is_available() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        amount = draw_amount(rng, Decimal("12345.67"))
        assert amount is not None and amount % 100 == 0
        assert Decimal("3000") <= amount <= Decimal("8700")
    assert draw_amount(rng, Decimal("900.00")) is None
