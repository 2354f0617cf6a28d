"""The officer's charts: monthly trade and buyer concentration from the stored orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from records.history import BuyerShare, seller_history
from records.ingest import ingest_orders, register_sellers
from records.snapshots import UnknownSeller, current_snapshot

from .conftest import AS_OF, as_rows

SELLER = {"seller_id": "S1", "kind": "shop", "registered_at": "2024-01-01T00:00:00+08:00",
          "region": "Zhejiang", "industry": "apparel", "membership_tier": "gold"}


def order(order_id: str, created_at: str, amount: str, buyer: str, *,
          refunded: str = "0", refunded_at: str | None = None) -> dict:
    return {"order_id": order_id, "seller_id": "S1", "buyer_id": buyer,
            "created_at": created_at, "amount": amount, "currency": "CNY",
            "status": "completed", "refunded_amount": refunded, "refunded_at": refunded_at,
            "disputed": False, "channel": "wholesale", "buyer_country": "CN",
            "shipped_at": None, "paid_out_at": None}


@pytest.fixture
def seller(engine):
    register_sellers(engine, [SELLER], now=AS_OF)
    result = ingest_orders(engine, [
        # 1 June 2026 00:30 in Shanghai is still May in UTC: months follow the lender's zone
        order("O1", "2026-05-31T16:30:00Z", "100.00", "B1"),
        order("O2", "2026-06-10T08:00:00+08:00", "300.00", "B2", refunded="50.00",
              refunded_at="2026-06-12T08:00:00+08:00"),
        order("O3", "2026-06-20T08:00:00+08:00", "100.00", "B1"),
        order("O4", "2026-04-02T08:00:00+08:00", "0.50", "B3", refunded="0.50",
              refunded_at="2026-07-05T08:00:00+08:00"),  # refunded after as_of
        order("O5", "2026-06-30T23:59:00+08:00", "999.00", "B4"),  # 15:59 UTC, before as_of
        order("O6", "2026-07-02T08:00:00+08:00", "5.00", "B1"),    # after as_of: unseen
    ], now=AS_OF)
    assert result.rejected == ()
    return engine


def test_months_follow_the_lenders_time_zone_and_count_only_refunds_made_before_as_of(seller):
    history = seller_history(seller, "S1", as_of=AS_OF, months=4)
    assert [(m.month, m.gmv, m.orders, m.refunded_orders, m.refund_rate)
            for m in history.months] == [
        ("2026-04", Decimal("0.50"), 1, 0, 0.0),
        ("2026-05", Decimal("0.00"), 0, 0, None),
        ("2026-06", Decimal("1499.00"), 4, 1, 0.25),
        ("2026-07", Decimal("0.00"), 0, 0, None),  # as_of is 1 July 08:00 in Shanghai
    ]
    assert history.currency == "CNY"
    assert len(seller_history(seller, "S1", as_of=AS_OF).months) == 24


def test_buyer_concentration_names_the_largest_buyers_and_matches_the_features(seller):
    history = seller_history(seller, "S1", as_of=AS_OF, top_buyers=2)
    total = Decimal("1499.50")
    assert history.top_buyers == (
        BuyerShare("B4", Decimal("999.00"), float(Decimal("999.00") / total)),
        BuyerShare("B2", Decimal("300.00"), float(Decimal("300.00") / total)),
    )
    assert history.other_buyers_share == pytest.approx(200.5 / 1499.5, abs=1e-15)
    assert history.buyer_count == 4
    assert history.top_buyer_shares[-1][0] == "others"
    features = current_snapshot(seller, "S1", now=AS_OF, max_age=timedelta(days=1)).features
    assert history.top_buyers[0].share == pytest.approx(features["top_buyer_share_365d"],
                                                        abs=1e-12)
    assert history.buyer_hhi == pytest.approx(features["buyer_hhi_365d"], abs=1e-12)


def test_a_seller_without_orders_has_empty_charts(engine):
    register_sellers(engine, [SELLER], now=AS_OF)
    history = seller_history(engine, "S1", as_of=AS_OF, months=2)
    assert [m.orders for m in history.months] == [0, 0]
    assert (history.top_buyers, history.other_buyers_share, history.buyer_hhi,
            history.buyer_count) == ((), None, None, 0)


def test_the_history_of_an_unknown_seller_is_refused(engine):
    with pytest.raises(UnknownSeller):
        seller_history(engine, "nobody", as_of=datetime(2026, 7, 1, tzinfo=UTC))


def test_the_synthetic_sellers_history_adds_up_to_the_features(engine, market):
    register_sellers(engine, as_rows(market.sellers), now=AS_OF)
    ingest_orders(engine, as_rows(market.orders), now=AS_OF)
    seller_id = str(market.orders.seller_id.value_counts().index[0])
    history = seller_history(engine, seller_id, as_of=AS_OF, months=24)
    mine = market.orders[market.orders.seller_id == seller_id]
    assert sum(m.orders for m in history.months) == len(mine)
    assert sum(m.gmv for m in history.months) == sum(Decimal(f"{a:.2f}") for a in mine.amount)
