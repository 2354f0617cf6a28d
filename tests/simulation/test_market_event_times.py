"""``orders_known_at`` replays cancellations and disputes from their own times (issue 15)."""

from __future__ import annotations

import pandas as pd

from features import build_features
from simulation.market import orders_changed, orders_known_at
from synth.marketplace import generate_marketplace


def test_replayed_orders_know_each_event_from_its_time() -> None:
    market = generate_marketplace(40, 12, seed=21)
    orders = market.orders
    # a moment between an order and its cancellation (the generator cancels within a day)
    slow = orders[(orders["cancelled_at"] - orders["created_at"]) > pd.Timedelta(hours=6)]
    pending = slow.iloc[len(slow) // 2]
    moment = pending["created_at"] + (pending["cancelled_at"] - pending["created_at"]) / 2
    known = orders_known_at(market.orders, moment)
    later_cancelled = known["order_id"].isin(market.orders.loc[
        market.orders["cancelled_at"] >= moment, "order_id"])
    assert later_cancelled.any()
    assert (known.loc[later_cancelled, "status"] != "cancelled").all()
    assert known["cancelled_at"].isna().eq(known["status"] != "cancelled").all()
    assert (known["cancelled_at"].dropna() < moment).all()
    assert known["disputed"].eq(known["disputed_at"].notna()).all()
    assert (known["disputed_at"].dropna() < moment).all()
    # the features of the replay are those of the full records at that moment
    sellers = market.sellers[market.sellers["registered_at"] < moment]
    pd.testing.assert_frame_equal(
        build_features(known, sellers, moment, tier_history=market.tier_history),
        build_features(market.orders, market.sellers, moment,
                       tier_history=market.tier_history).loc[sellers["seller_id"].array]
        .rename_axis("seller_id"),
        check_exact=True)


def test_a_dispute_moves_an_order_into_the_changes_of_its_month() -> None:
    market = generate_marketplace(40, 12, seed=21)
    orders = market.orders
    disputed = orders[orders["disputed_at"].notna()].iloc[0]
    start = disputed["disputed_at"] - pd.Timedelta(hours=1)
    end = disputed["disputed_at"] + pd.Timedelta(hours=1)
    changed = orders_changed(orders, start, end)
    row = changed.set_index("order_id").loc[disputed["order_id"]]
    assert bool(row["disputed"]) and row["disputed_at"] == disputed["disputed_at"]
