"""Hand-built records for the feature-builder tests (no tests in here).

Records are written the way a marketplace extract would hold them (ISO strings) and go
through the real contract (``features.records.validate_*``), so the builder sees exactly
the canonical dtypes it sees in production.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.records import validate_orders, validate_sellers

#: 2025-07-01 00:00 in Shanghai, the as_of of the hand-built examples.
AS_OF = pd.Timestamp("2025-06-30T16:00:00Z")


def at(days_before: float, hours: float = 0.0) -> str:
    """An ISO timestamp ``days_before`` days (plus ``hours``) before AS_OF; negative: after."""
    return (AS_OF - pd.Timedelta(days=days_before) + pd.Timedelta(hours=hours)).isoformat()


def seller(seller_id: str, registered_at: str, kind: str = "shop",
           tier: str = "gold", tier_at: str | None = None) -> dict[str, Any]:
    """A seller record; its tier observed at ``tier_at`` (default: a day before AS_OF)."""
    return {"seller_id": seller_id, "kind": kind, "registered_at": registered_at,
            "region": "Zhejiang", "industry": "toys", "membership_tier": tier,
            "membership_tier_at": at(1) if tier_at is None else tier_at}


def order(order_id: str, seller_id: str, buyer_id: str, created_at: str, amount: float, *,
          status: str = "completed", refunded_amount: float = 0.0,
          refunded_at: str | None = None, disputed: bool = False,
          channel: str = "wholesale", buyer_country: str = "CN",
          shipped_at: str | None = None, paid_out_at: str | None = None,
          cancelled_at: str | None = None, disputed_at: str | None = None) -> dict[str, Any]:
    return {"order_id": order_id, "seller_id": seller_id, "buyer_id": buyer_id,
            "created_at": created_at, "amount": str(amount), "currency": "CNY",
            "status": status, "refunded_amount": str(refunded_amount),
            "refunded_at": refunded_at, "disputed": str(disputed).lower(),
            "channel": channel, "buyer_country": buyer_country, "shipped_at": shipped_at,
            "paid_out_at": paid_out_at, "cancelled_at": cancelled_at,
            "disputed_at": disputed_at}


def validated_sellers(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return validate_sellers(pd.DataFrame(rows), strict=True).frame


def validated_orders(rows: list[dict[str, Any]], sellers: pd.DataFrame) -> pd.DataFrame:
    columns = list(order("x", "x", "x", at(1), 1.0))
    return validate_orders(pd.DataFrame(rows, columns=columns), sellers["seller_id"],
                           strict=True).frame


def example_sellers() -> list[dict[str, Any]]:
    """S1 trades for 18 months, S2 registered exactly 30 days before as_of, S3 never sold."""
    return [
        seller("S1", "2024-01-01T00:00:00Z", "shop", "gold"),
        seller("S2", at(30), "factory", "basic"),
        seller("S3", "2025-01-01T00:00:00Z", "shop", "silver"),
    ]


def example_orders() -> list[dict[str, Any]]:
    """The orders whose features the tests compute by hand."""
    return [
        order("o1", "S1", "b1", at(10), 100.0, refunded_amount=40.0, refunded_at=at(5),
              shipped_at=at(9), paid_out_at=at(3)),
        order("o2", "S1", "b1", at(40), 200.0, channel="dropship", shipped_at=at(36),
              paid_out_at=at(30)),
        order("o3", "S1", "b2", at(100), 300.0, status="cancelled", buyer_country="US",
              cancelled_at=at(99)),
        order("o4", "S1", "b3", at(200), 400.0, disputed=True, refunded_amount=400.0,
              refunded_at=at(150), channel="custom", shipped_at=at(199), paid_out_at=at(190),
              disputed_at=at(195)),
        order("o5", "S1", "b2", at(5), 50.0, status="cancelled", disputed=True,
              cancelled_at=at(4), disputed_at=at(4)),
        order("p1", "S2", "c1", at(20), 1000.0, channel="sample", buyer_country="DE",
              shipped_at=at(20, hours=12), paid_out_at=at(-1)),
    ]
