"""The synthetic marketplace seen through time: records as known at a moment, and fates.

:func:`synth.marketplace.generate_marketplace` writes the records as the marketplace knew
them at its as-of date (the end of the simulated window): an order shipped, paid out or
refunded before it carries those times. A simulation needs the records as they were
known at each earlier moment, so :func:`orders_known_at` replays them: an order exists
from its ``created_at``; it is ``shipped`` from ``shipped_at``, ``paid`` from
``paid_out_at``, refunded from ``refunded_at``, cancelled from ``cancelled_at`` and disputed
from ``disputed_at``. Records without those two times (written before the contract had
them) fall back to a guess: a cancellation is known :data:`CANCELLATION_KNOWN_AFTER`
after the order, a dispute from the shipment it follows. :func:`orders_changed` lists what a month
brings: the new orders and the earlier ones whose known state moved.

:func:`seller_fates` turns the generator's hidden truth into the simulation's. The
generator's ``true_pd`` is a seller's probability of default over twelve months; the
simulator turns it into a constant default hazard ``-ln(1 - true_pd)`` a year and draws
each seller's default time from it, from the seller's registration: an exponential
waiting time, so a seller defaults within any twelve months it is still paying with
probability ``true_pd`` and defaults are spread over the whole book (and beyond its end,
for the outcomes of its last decisions), not crowded into one year of it. A seller that
joined years before the book has been exposed since it joined: if its default time falls
before the book's first day it had failed before the lender began (``failed_before``)
and never applies, so the sellers the book starts with are the survivors a marketplace
that existed before the lender has, not a fresh population whose riskier part would all
fail in the book's first year. The draw has a stream of its own, seeded by the
simulation's seed.

Everything here is pure (frames in, frames out).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from synth.marketplace import Marketplace

__all__ = ["CANCELLATION_KNOWN_AFTER", "orders_known_at", "orders_changed", "seller_fates",
           "FATE_COLUMNS"]

#: How long after an order its cancellation is known, for order frames without
#: ``cancelled_at`` (the generator cancels within about a day).
CANCELLATION_KNOWN_AFTER = pd.Timedelta(days=1)
#: Days in a year of the default hazard.
DAYS_PER_YEAR = 365.25
#: A default time further than this from the book's start is "never" (100 years).
_NEVER_DAYS = 36_525.0
#: The columns of :func:`seller_fates`.
FATE_COLUMNS = ("seller_id", "kind", "industry", "latent_health", "true_pd", "defaults",
                "default_day", "failed_before", "shock_hit")


def orders_known_at(orders: pd.DataFrame, moment: pd.Timestamp) -> pd.DataFrame:
    """The orders created before ``moment``, each as it was known at ``moment``.

    Parameters
    ----------
    orders : the generator's order frame (columns of :data:`features.records.ORDER_FIELDS`),
        as known at a later time.
    moment : an aware timestamp.

    Returns
    -------
    pandas.DataFrame
        Same columns and dtypes, fewer rows; states, times and refunds after ``moment``
        removed.
    """
    frame = orders.loc[orders["created_at"] < moment].copy()
    shipped = frame["shipped_at"].notna() & (frame["shipped_at"] < moment)
    paid = shipped & frame["paid_out_at"].notna() & (frame["paid_out_at"] < moment)
    refunded = frame["refunded_at"].notna() & (frame["refunded_at"] < moment)
    cancelled = pd.Series(_cancelled(frame, moment), index=frame.index)
    disputed = pd.Series(_disputed(frame, moment), index=frame.index)
    status = np.where(cancelled, "cancelled", np.where(
        paid, "completed", np.where(shipped, "shipped", "pending")))
    # an order cancelled later than ``moment`` was still pending then
    frame["status"] = pd.Categorical(status, categories=frame["status"].cat.categories)
    frame["shipped_at"] = frame["shipped_at"].where(shipped & ~cancelled)
    frame["paid_out_at"] = frame["paid_out_at"].where(paid & ~cancelled)
    frame["refunded_at"] = frame["refunded_at"].where(refunded)
    frame["refunded_amount"] = frame["refunded_amount"].where(refunded, 0.0)
    frame["disputed"] = disputed
    if "cancelled_at" in frame.columns:
        frame["cancelled_at"] = frame["cancelled_at"].where(cancelled)
    if "disputed_at" in frame.columns:
        frame["disputed_at"] = frame["disputed_at"].where(disputed)
    return frame


def _cancelled(orders: pd.DataFrame, moment: pd.Timestamp) -> np.ndarray:
    """Whether each order's cancellation was known at ``moment``."""
    if "cancelled_at" in orders.columns:
        return (orders["cancelled_at"] < moment).fillna(False).to_numpy(dtype=bool)
    return ((orders["status"] == "cancelled").to_numpy(dtype=bool)
            & (orders["created_at"] + CANCELLATION_KNOWN_AFTER < moment).to_numpy())


def _disputed(orders: pd.DataFrame, moment: pd.Timestamp) -> np.ndarray:
    """Whether each order's dispute was known at ``moment``."""
    if "disputed_at" in orders.columns:
        return (orders["disputed_at"] < moment).fillna(False).to_numpy(dtype=bool)
    shipped = (orders["shipped_at"] < moment).fillna(False).to_numpy(dtype=bool)
    return orders["disputed"].to_numpy(dtype=bool) & shipped


def _known_state(orders: pd.DataFrame, moment: pd.Timestamp) -> np.ndarray:
    """What is known of each order at ``moment``, as bits: it exists, is shipped, paid
    out, refunded, cancelled, disputed."""
    created = (orders["created_at"] < moment).to_numpy()
    shipped = (orders["shipped_at"] < moment).fillna(False).to_numpy(dtype=bool)
    paid = (orders["paid_out_at"] < moment).fillna(False).to_numpy(dtype=bool)
    refunded = (orders["refunded_at"] < moment).fillna(False).to_numpy(dtype=bool)
    cancelled = _cancelled(orders, moment)
    disputed = _disputed(orders, moment)
    return (created.astype(np.int8) | shipped << 1 | paid << 2 | refunded << 3
            | cancelled << 4 | disputed << 5) * created


def orders_changed(orders: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
                   ) -> pd.DataFrame:
    """What arrives between ``start`` and ``end``: every order as known at ``end`` that is
    new since ``start`` or whose known state differs from the one at ``start``."""
    moved = _known_state(orders, end) != _known_state(orders, start)
    return orders_known_at(orders.loc[moved], end).reset_index(drop=True)


def seller_fates(market: Marketplace, timezone: str, *, start: date, end: date,
                 seed: int) -> pd.DataFrame:
    """One row per seller: what the simulator knows and the records never say.

    Parameters
    ----------
    market : the generated marketplace (its truth gives ``true_pd``).
    timezone : the lender's time zone (registration times become its dates).
    start, end : the book's first day and the day after its last.
    seed : the simulation's seed (the default times have a stream of their own).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FATE_COLUMNS`: ``latent_health`` and ``true_pd`` from the truth;
        ``default_day`` (the lender's date the seller stops paying, drawn from the hazard of
        the module from its registration; it may fall before ``start`` or after ``end``),
        ``defaults`` (it falls in ``[start, end)``: the seller defaults within the book),
        ``failed_before`` (it falls before ``start``: the seller had failed before the
        book); ``industry`` and ``shock_hit`` (whether the generator's demand shock hit
        the seller's industry).
    """
    truth = market.truth.set_index("seller_id")
    sellers = market.sellers.set_index("seller_id")
    registered = pd.to_datetime(sellers["registered_at"].reindex(truth.index), utc=True)
    exposed_from = [moment.tz_convert(timezone).date() for moment in registered]
    true_pd = truth["true_pd"].to_numpy(dtype=float)
    yearly_hazard = -np.log1p(-np.clip(true_pd, 0.0, 1.0 - 1e-12))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xDEFA]))
    waiting_days = rng.standard_exponential(len(truth)) / np.maximum(yearly_hazard, 1e-12) \
        * DAYS_PER_YEAR
    # past any book a simulation runs (and beyond what a date can hold): never
    default_day = [first + timedelta(days=int(wait)) if wait < _NEVER_DAYS else None
                   for first, wait in zip(exposed_from, waiting_days, strict=True)]
    shocked = set(market.parameters.get("shock", {}).get("industries", []))
    industry = sellers["industry"].astype(str).reindex(truth.index)
    return pd.DataFrame({
        "seller_id": truth.index.astype(str),
        "kind": truth["kind"].astype(str).to_numpy(),
        "industry": industry.to_numpy(),
        "latent_health": truth["latent_health"].to_numpy(dtype=float),
        "true_pd": true_pd,
        "defaults": np.array([day is not None and start <= day < end
                              for day in default_day]),
        "default_day": pd.Series(default_day, dtype=object).to_numpy(),
        "failed_before": np.array([day is not None and day < start for day in default_day]),
        "shock_hit": industry.isin(shocked).to_numpy(),
    }).set_index("seller_id", drop=False)


def shock_window(market: Marketplace, timezone: str) -> tuple[date, date] | None:
    """The lender's dates of the generator's demand shock (``None`` without one)."""
    shock = market.parameters.get("shock", {})
    if not shock.get("start") or not shock.get("weeks"):
        return None
    start = pd.Timestamp(shock["start"]).tz_convert(timezone).date()
    end = (pd.Timestamp(shock["start"]) + pd.Timedelta(weeks=int(shock["weeks"]) + 3)
           ).tz_convert(timezone).date()
    return start, end
