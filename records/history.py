"""A seller's trade history for the loan officer's charts, from the stored orders.

Everything is computed from orders placed before ``as_of`` (usually the as-of time of the
decision's snapshot), so the charts show what the decision saw:

* **months**: the last 24 calendar months in the lender's time zone, the last one being
  the month of ``as_of`` (partial), oldest first: GMV (gross value of the orders placed,
  exact ``Decimal``), order count and refund rate (share of the month's orders refunded
  before ``as_of``; the features' ``refund_rate_*`` count only matured orders, placed more
  than 30 days before ``as_of``; ``None`` without orders);
* **buyer concentration** over the 365 days before ``as_of`` (the window of
  ``top_buyer_share_365d`` and ``buyer_hhi_365d``): the largest buyers' shares of GMV,
  the share of all the others, the number of buyers and the Herfindahl-Hirschman index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from features.builder import DEFAULT_TIMEZONE
from lending.money import MINOR_UNIT_DIGITS
from records.snapshots import (
    Source,
    UnknownSeller,
    read_orders,
    reading,
    require_utc,
    seller_exists,
    storable_id,
)

__all__ = ["MonthlyActivity", "BuyerShare", "SellerHistory", "seller_history"]

#: Days of the buyer-concentration window (as the ``*_365d`` features).
BUYER_WINDOW_DAYS = 365


@dataclass(frozen=True)
class MonthlyActivity:
    """One calendar month of a seller's trade.

    Attributes
    ----------
    month : ``"YYYY-MM"`` in the lender's time zone.
    gmv : value of the orders placed in the month (major unit, exact).
    orders : orders placed in the month.
    refunded_orders : those refunded (in part or in full) before ``as_of``.
    refund_rate : ``refunded_orders / orders``; ``None`` without orders.
    """

    month: str
    gmv: Decimal
    orders: int
    refunded_orders: int
    refund_rate: float | None


@dataclass(frozen=True)
class BuyerShare:
    """One buyer's share of the seller's GMV over the buyer window."""

    buyer_id: str
    gmv: Decimal
    share: float


@dataclass(frozen=True)
class SellerHistory:
    """What the officer's charts show about a seller, as of a moment.

    Attributes
    ----------
    seller_id, as_of, currency : whose history, as of when, in which currency.
    months : the last ``len(months)`` calendar months, oldest first (months without
        orders included, with zeros).
    top_buyers : the largest buyers of the last 365 days, largest first.
    other_buyers_share : the share of every other buyer; ``None`` without GMV.
    buyer_count : distinct buyers of the last 365 days.
    buyer_hhi : sum of the squared GMV shares of those buyers (0 to 1); ``None``
        without GMV.
    """

    seller_id: str
    as_of: datetime
    currency: str
    months: tuple[MonthlyActivity, ...]
    top_buyers: tuple[BuyerShare, ...]
    other_buyers_share: float | None
    buyer_count: int
    buyer_hhi: float | None

    @property
    def top_buyer_shares(self) -> tuple[tuple[str, float], ...]:
        """``(buyer_id, share)`` of the top buyers, then ``("others", share)`` if any."""
        shares = tuple((buyer.buyer_id, buyer.share) for buyer in self.top_buyers)
        if self.other_buyers_share:
            shares += (("others", self.other_buyers_share),)
        return shares


def _money(minor: int, currency: str) -> Decimal:
    digits = MINOR_UNIT_DIGITS.get(currency, 2)
    return (Decimal(int(minor)) / (Decimal(10) ** digits)).quantize(Decimal(10) ** -digits)


def seller_history(source: Source, seller_id: str, *, as_of: datetime, months: int = 24,
                   top_buyers: int = 5, timezone: str = DEFAULT_TIMEZONE) -> SellerHistory:
    """The seller's monthly trade and buyer concentration from orders placed before ``as_of``.

    Parameters
    ----------
    source : an engine or a unit of work (read only).
    seller_id : the seller.
    as_of : the moment the history ends (exclusive; timezone-aware).
    months : how many calendar months, the month of ``as_of`` included (at least 1).
    top_buyers : how many buyers to name (at least 1).
    timezone : the lender's time zone, where months begin.

    Raises
    ------
    UnknownSeller
        No such seller (HTTP 404 ``unknown_seller``).
    ValueError
        For ``months`` or ``top_buyers`` below 1, or a naive ``as_of``.
    """
    if months < 1 or top_buyers < 1:
        raise ValueError(f"months and top_buyers must be at least 1; got {months} and "
                         f"{top_buyers}")
    moment = require_utc(as_of, "as_of")
    if not storable_id(seller_id):
        raise UnknownSeller(seller_id)
    end = pd.Timestamp(moment).tz_convert(timezone)
    first_month = end.tz_localize(None).to_period("M") - (months - 1)
    start = first_month.to_timestamp().tz_localize(timezone)
    since = min(start, end - pd.Timedelta(days=BUYER_WINDOW_DAYS)).tz_convert("UTC")
    # the months and the buyer window are read at once: from the earlier of their starts
    with reading(source) as connection:
        if not seller_exists(connection, seller_id):
            raise UnknownSeller(seller_id)
        orders = read_orders(connection, [seller_id], before=moment,
                             since=since.to_pydatetime())
    currency = str(orders["currency"].iloc[0]) if len(orders) else "CNY"
    scale = 10 ** MINOR_UNIT_DIGITS.get(currency, 2)
    minor = np.rint(orders["amount"].to_numpy(dtype=np.float64) * scale).astype(np.int64)
    created = orders["created_at"]
    as_of_ts = pd.Timestamp(moment)
    refunded = ((orders["refunded_at"] < as_of_ts).to_numpy(dtype=bool, na_value=False)
                & (orders["refunded_amount"].to_numpy(dtype=np.float64) > 0))

    month_of = created.dt.tz_convert(timezone).dt.tz_localize(None).dt.to_period("M")
    labels = pd.period_range(first_month, periods=months, freq="M")
    by_month = pd.DataFrame({"month": month_of, "minor": minor, "refunded": refunded})
    by_month = by_month[by_month["month"] >= first_month]
    sums = by_month.groupby("month").agg(minor=("minor", "sum"), orders=("minor", "size"),
                                         refunded=("refunded", "sum"))
    totals = {str(month): (int(value), int(count), int(refunds)) for month, value, count, refunds
              in zip(sums.index, sums["minor"], sums["orders"], sums["refunded"], strict=True)}
    activity = []
    for label in map(str, labels):
        value, count, refunds = totals.get(label, (0, 0, 0))
        activity.append(MonthlyActivity(label, _money(value, currency), count, refunds,
                                        refunds / count if count else None))

    window = (as_of_ts - created) <= pd.Timedelta(days=BUYER_WINDOW_DAYS)
    buyers = (pd.DataFrame({"buyer": orders["buyer_id"].astype(str), "minor": minor})
              .loc[window.to_numpy()].groupby("buyer")["minor"].sum())
    total = int(buyers.sum())
    ranked = buyers.sort_values(ascending=False, kind="stable")
    top = tuple(BuyerShare(str(buyer), _money(int(value), currency), int(value) / total)
                for buyer, value in ranked.head(top_buyers).items()) if total > 0 else ()
    others = (int(ranked.iloc[top_buyers:].sum()) / total) if total > 0 else None
    hhi = float(((ranked / total) ** 2).sum()) if total > 0 else None
    return SellerHistory(seller_id, moment, currency, tuple(activity), top, others,
                         int(len(buyers)), hhi)

