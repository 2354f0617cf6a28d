"""The point-in-time feature builder: one row per seller, as of a moment, from the records.

:func:`build_features` turns validated order and seller records (canonical dtypes of
:mod:`features.records`) and, optionally, a credit history (:mod:`features.credit_history`)
into the feature table described in :mod:`features.definitions` and ``docs/features.md``.

Point in time, strictly: nothing at or after ``as_of`` is used. Every event counts from
its own time: an order only if ``created_at < as_of``, a refund only if
``refunded_at < as_of``, a shipment only if ``shipped_at < as_of``, a payout only if
``paid_out_at < as_of``, a cancellation only if ``cancelled_at < as_of``, a dispute only
if ``disputed_at < as_of``. ``status`` and ``disputed`` (states at extraction) are never
read: a cancellation or dispute without its time is not known at any ``as_of``. Rates
of events that follow an order (refunds, cancellations, disputes, payouts) count only
*matured* orders, placed more than :data:`features.definitions.MATURITY_DAYS` days before
``as_of``, in numerator and denominator alike. Payout delays count an order shipped but
not yet paid out as *censored* at the delay it has reached. The membership tier is the
one in effect at ``as_of`` (:func:`tier_as_of`). Sellers registered at or after ``as_of``
did not exist yet and get no row.

The computation is vectorised numpy over integer seller codes: the sellers are coded once,
every per-seller sum is an ``np.bincount`` over those codes, monthly and daily statistics
use dense seller-by-period matrices, and per-buyer statistics use one coding of the
(seller, buyer) pairs. Money is summed exactly in minor units (0.01) held as whole numbers
in float64, so the result does not depend on the order of the rows; this is what lets the
Dask backend (partitions shuffled by seller, the same function per partition) return exactly
the pandas result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import _kernels
from features.coding import arrow_string_chunks, arrow_strings, pair_codes, positions
from features.credit_history import instalment_frame
from features.definitions import (
    ALL_FEATURES,
    MATURITY_DAYS,
    ORDER_FEATURES,
    PROFILE_FEATURES,
    REPAYMENT_FEATURES,
)
from features.records import MEMBERSHIP_TIERS, SELLER_KINDS

__all__ = [
    "build_features",
    "build_partition",
    "resolve_as_of",
    "tier_as_of",
    "ORDER_COLUMNS",
    "OPTIONAL_ORDER_COLUMNS",
    "TIER_HISTORY_COLUMNS",
    "SELLER_COLUMNS",
    "CREDIT_HISTORY_COLUMNS",
    "DEFAULT_TIMEZONE",
]

#: The lender's time zone unless configured otherwise: the one default of the project
#: (``settings.Settings.timezone`` defaults to it); used to read a naive ``as_of``.
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: Order columns the builder reads (``order_id`` and ``currency`` are not needed).
ORDER_COLUMNS: tuple[str, ...] = (
    "seller_id", "buyer_id", "created_at", "amount", "status", "refunded_amount",
    "refunded_at", "disputed", "channel", "buyer_country", "shipped_at", "paid_out_at",
)
#: Order columns the builder reads when present (fields added to the contract later: an
#: order frame without them has no known cancellation or dispute).
OPTIONAL_ORDER_COLUMNS: tuple[str, ...] = ("cancelled_at", "disputed_at")
#: Seller columns the builder reads (and ``membership_tier_at`` when present).
SELLER_COLUMNS: tuple[str, ...] = ("seller_id", "kind", "registered_at", "membership_tier")
#: Tier-history columns the builder reads (and ``valid_to`` when present).
TIER_HISTORY_COLUMNS: tuple[str, ...] = ("seller_id", "membership_tier", "valid_from")
#: Credit-history columns the builder reads.
CREDIT_HISTORY_COLUMNS: tuple[str, ...] = (
    "seller_id", "drawn_at", "amount", "credit_limit", "due_at", "repaid_at",
)

_ORDER_TIMESTAMPS = ("created_at", "refunded_at", "shipped_at", "paid_out_at")
_ORDER_NUMBERS = ("amount", "refunded_amount")

DAY_NS = 86_400 * 10**9
_SECOND_NS = 10**9
MONTH_DAYS = 30
N_MONTHS = 12
WINDOW_DAYS = 365
#: Upper edges (inclusive, in days of age) of the age bands that windowed sums are built from.
_BAND_EDGES_DAYS = (30, 90, 180, 365, 455, 730)
_N_BANDS = len(_BAND_EDGES_DAYS) + 1
NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class BuildParams:
    as_of_ns: int
    shipping_sla_days: int
    home_country: str
    threads: int = 1
    #: threads of the compiled single-pass path (see :mod:`features._kernels`)
    kernel_threads: int = 1


#: Below this many orders, threads cost more than they save.
_PARALLEL_MIN_ROWS = 200_000


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------

def resolve_as_of(as_of: str | dt.date | dt.datetime | pd.Timestamp | np.datetime64,
                  timezone: str = DEFAULT_TIMEZONE) -> pd.Timestamp:
    """The moment features are computed at, as a UTC timestamp with nanosecond resolution.

    Parameters
    ----------
    as_of : a timezone-aware timestamp (used as is), or a naive date, datetime or ISO 8601
        string (read in ``timezone``: ``"2025-07-01"`` means midnight in Shanghai).
    timezone : the lender's time zone for naive values.

    Returns
    -------
    pandas.Timestamp
        Timezone-aware, in UTC.

    Raises
    ------
    ValueError
        When ``as_of`` is not a date or time.
    """
    try:
        stamp = pd.Timestamp(as_of)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"as_of must be a date or timestamp; got {as_of!r}") from exc
    if pd.isna(stamp):
        raise ValueError(f"as_of must be a date or timestamp; got {as_of!r}")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone)
    return stamp.tz_convert("UTC").as_unit("ns")


def build_features(
    orders: Any,
    sellers: Any,
    as_of: str | dt.date | dt.datetime | pd.Timestamp | np.datetime64,
    credit_history: Any = None,
    *,
    tier_history: Any = None,
    shipping_sla_days: int = 3,
    home_country: str = "CN",
    timezone: str = DEFAULT_TIMEZONE,
    features: Iterable[str] | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Point-in-time features of every seller, one row per seller, as of ``as_of``.

    Parameters
    ----------
    orders : validated order records (``features.records.validate_orders(...).frame``), as
        a pandas DataFrame or a dask DataFrame. Must hold :data:`ORDER_COLUMNS` in the
        canonical dtypes (timestamps timezone-aware, amounts numeric).
    sellers : validated seller records (pandas; a dask DataFrame is computed first). Every
        seller registered before ``as_of`` gets a row, in the order of this frame.
    as_of : the moment the features describe; nothing at or after it is used. A naive
        date, datetime or string is read in ``timezone``.
    credit_history : validated credit history (:mod:`features.credit_history`), pandas or
        dask (computed first), optional; adds the ``repayment`` features.
    tier_history : validated membership-tier history
        (``features.records.validate_tier_history(...).frame``), pandas or dask (computed
        first), optional. ``membership_tier`` is the tier in effect at ``as_of``
        (:func:`tier_as_of`); without a history, only a seller record's own tier observed
        at or before ``as_of`` (``membership_tier_at``) is known.
    shipping_sla_days : an order is late when not shipped within this many days.
    home_country : ISO code of the sellers' country; other buyer countries are cross-border.
    timezone : the lender's time zone, for a naive ``as_of``.
    features : compute only these features (names from the registry); default all.
        Blocks of work no requested feature needs are skipped.
    threads : how many threads work at the same time in one process. When every requested
        order feature is one the compiled single-pass path computes (the scale, growth,
        monthly, refund and buyer features but the HHI; :mod:`features._kernels`, needs
        numba), its passes are split across ``threads`` (default: the CPUs this process may
        use). Otherwise the numpy blocks of work run ``threads`` at a time (default 1: on
        the shared 2-CPU benchmark machine two threads cost more than they saved there).
        On Dask each partition uses one thread (the workers already run partitions in
        parallel). The result does not depend on it.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``seller_id``; columns in registry order: counts ``int64``, amounts and
        ratios ``float64`` (NaN where undefined), profile columns ``category``.

    Raises
    ------
    ValueError
        When a frame misses required columns or has non-canonical dtypes (validate the
        records with :mod:`features.records` first), when orders name sellers missing from
        ``sellers``, when amounts are in several currencies, or on an unknown feature name.
    """
    as_of_ts = resolve_as_of(as_of, timezone)
    if shipping_sla_days < 0:
        raise ValueError(f"shipping_sla_days must be >= 0; got {shipping_sla_days}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1; got {threads}")
    params = BuildParams(int(as_of_ts.value), int(shipping_sla_days), home_country.upper(),
                     1 if threads is None else int(threads),
                     _kernels.default_threads() if threads is None else int(threads))
    wanted = _wanted_features(features, with_credit=credit_history is not None)

    sellers_frame = _to_pandas(sellers)
    _check_columns(sellers_frame, "sellers", SELLER_COLUMNS, ("registered_at",), ())
    _check_optional_times(sellers_frame, "sellers", ("membership_tier_at",))
    if any(name in wanted for name in PROFILE_FEATURES):
        tiers = None
        if tier_history is not None:
            tiers = _to_pandas(tier_history)
            _check_columns(tiers, "tier_history", TIER_HISTORY_COLUMNS, ("valid_from",), ())
            _check_optional_times(tiers, "tier_history", ("valid_to",))
        sellers_frame = sellers_frame.assign(
            membership_tier=tier_as_of(sellers_frame, tiers, as_of_ts))
    credit_frame = None
    if credit_history is not None:
        credit_frame = _to_pandas(credit_history)
        _check_columns(credit_frame, "credit_history", CREDIT_HISTORY_COLUMNS,
                       ("drawn_at", "due_at", "repaid_at"), ("amount", "credit_limit"))
    order_wanted = tuple(name for name in wanted if name not in REPAYMENT_FEATURES)

    if _is_dask(orders):
        _check_columns(orders._meta, "orders", ORDER_COLUMNS, _ORDER_TIMESTAMPS, _ORDER_NUMBERS)
        _check_optional_times(orders._meta, "orders", OPTIONAL_ORDER_COLUMNS)
        from features.dask_backend import build_on_dask

        table = build_on_dask(orders, sellers_frame,
                              replace(params, threads=1, kernel_threads=1), order_wanted)
    else:
        if not isinstance(orders, pd.DataFrame):
            raise ValueError(f"orders must be a pandas or dask DataFrame; got {type(orders)}")
        _check_columns(orders, "orders", ORDER_COLUMNS, _ORDER_TIMESTAMPS, _ORDER_NUMBERS)
        _check_optional_times(orders, "orders", OPTIONAL_ORDER_COLUMNS)
        table = build_partition(orders, sellers_frame, params, order_wanted)

    if credit_frame is not None:
        repayment = _repayment_features(credit_frame, sellers_frame, table.index, params)
        for name in REPAYMENT_FEATURES:
            if name in wanted:
                table[name] = repayment[name]
    return table[list(wanted)]


# --------------------------------------------------------------------------------------------
# Checks and conversions
# --------------------------------------------------------------------------------------------

def _wanted_features(features: Iterable[str] | None, *, with_credit: bool) -> tuple[str, ...]:
    available = ALL_FEATURES if with_credit else ORDER_FEATURES + PROFILE_FEATURES
    if features is None:
        return available
    requested = set(features)
    unknown = sorted(requested - set(ALL_FEATURES))
    if unknown:
        raise ValueError(f"unknown features: {', '.join(unknown)}")
    if not with_credit and requested & set(REPAYMENT_FEATURES):
        raise ValueError("repayment features need a credit_history")
    return tuple(name for name in available if name in requested)


def _is_dask(frame: object) -> bool:
    return type(frame).__module__.startswith("dask")


def _to_pandas(frame: Any) -> pd.DataFrame:
    if _is_dask(frame):
        computed: pd.DataFrame = frame.compute()
        return computed
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"expected a pandas or dask DataFrame; got {type(frame).__name__}")
    return frame


def _check_columns(frame: pd.DataFrame, what: str, required: Iterable[str],
                   timestamps: Iterable[str], numbers: Iterable[str]) -> None:
    """Raise a ValueError naming missing columns and non-canonical dtypes."""
    hint = (f"build_features needs validated {what} records in canonical dtypes "
            f"(see features.records and features.credit_history)")
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing columns: {', '.join(missing)}; {hint}")
    wrong = [f"{name} (timezone-aware timestamp expected, got {frame[name].dtype})"
             for name in timestamps if not isinstance(frame[name].dtype, pd.DatetimeTZDtype)]
    wrong += [f"{name} (number expected, got {frame[name].dtype})" for name in numbers
              if not pd.api.types.is_numeric_dtype(frame[name].dtype)
              or pd.api.types.is_bool_dtype(frame[name].dtype)]
    if wrong:
        raise ValueError(f"{what} has columns of the wrong dtype: {'; '.join(wrong)}; {hint}")


def _check_optional_times(frame: pd.DataFrame, what: str, names: Iterable[str]) -> None:
    """Raise a ValueError when an optional timestamp column is present in a wrong dtype."""
    _check_columns(frame, what, (), [name for name in names if name in frame.columns], ())


def tier_as_of(sellers: pd.DataFrame, tier_history: pd.DataFrame | None,
               as_of: pd.Timestamp) -> pd.Series:
    """The membership tier of each seller in effect at ``as_of`` (missing when not known).

    The candidates are the seller's tier-history periods and the seller record's own
    tier, observed at ``membership_tier_at`` (a period from then on, without an end). A
    period is in effect at ``as_of`` when ``valid_from <= as_of`` and ``as_of < valid_to``
    (or it has no end); of those in effect, the one that started last wins (a history
    period wins a tie with the record's own tier). A seller with none in effect (no
    history, and a record tier observed after ``as_of`` or at an unknown time) has a
    missing tier: the extraction-time tier is never carried back to an earlier moment.

    Parameters
    ----------
    sellers : seller records (``seller_id``, ``membership_tier`` and, when present,
        ``membership_tier_at``).
    tier_history : tier-history records (``seller_id``, ``membership_tier``,
        ``valid_from`` and, when present, ``valid_to``), or ``None``.
    as_of : an aware moment.

    Returns
    -------
    pandas.Series
        One tier (text) or ``None`` per row of ``sellers``, in its order and index.
    """
    moment = int(resolve_as_of(as_of).value)
    parts = []
    if "membership_tier_at" in sellers.columns:
        parts.append(pd.DataFrame({
            "seller_id": sellers["seller_id"].astype(str).to_numpy(),
            "tier": sellers["membership_tier"].astype(object).to_numpy(),
            "start": as_nanoseconds(sellers["membership_tier_at"]),
            "end": np.full(len(sellers), NAT, dtype=np.int64),
            "rank": np.zeros(len(sellers), dtype=np.int8)}))
    if tier_history is not None and len(tier_history):
        ends = (as_nanoseconds(tier_history["valid_to"]) if "valid_to" in tier_history.columns
                else np.full(len(tier_history), NAT, dtype=np.int64))
        parts.append(pd.DataFrame({
            "seller_id": tier_history["seller_id"].astype(str).to_numpy(),
            "tier": tier_history["membership_tier"].astype(object).to_numpy(),
            "start": as_nanoseconds(tier_history["valid_from"]), "end": ends,
            "rank": np.ones(len(tier_history), dtype=np.int8)}))
    found: dict[str, object] = {}
    if parts:
        periods = pd.concat(parts, ignore_index=True)
        in_effect = ((periods["start"] != NAT) & (periods["start"] <= moment)
                     & ((periods["end"] == NAT) | (periods["end"] > moment))
                     & periods["tier"].notna())
        chosen = (periods.loc[in_effect]
                  .sort_values(["seller_id", "start", "rank"], kind="stable")
                  .drop_duplicates("seller_id", keep="last"))
        found = dict(zip(chosen["seller_id"], chosen["tier"], strict=True))
    tiers = sellers["seller_id"].astype(str).map(found)
    return tiers.astype(object).where(tiers.notna(), None)


def as_nanoseconds(series: pd.Series) -> np.ndarray:
    """int64 nanoseconds since the epoch (UTC); NaT is the int64 minimum. A view of the
    column's own memory when it holds nanoseconds already (no copy)."""
    values = series.array
    if getattr(values, "unit", "ns") != "ns":
        values = values.as_unit("ns")
    return np.asarray(values.asi8)


def _category_mask(series: pd.Series, value: str) -> np.ndarray:
    """Boolean mask of ``series == value``, cheap for categoricals."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = list(series.cat.categories)
        if value not in categories:
            return np.zeros(len(series), dtype=bool)
        return np.asarray(series.cat.codes.to_numpy() == categories.index(value))
    return np.asarray((series == value).to_numpy(dtype=bool, na_value=False))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator as float64, NaN where the denominator is 0."""
    out = np.full(len(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=np.asarray(denominator) != 0)
    return out


def _segment_max(keys: np.ndarray, values: np.ndarray, size: int, empty: float) -> np.ndarray:
    out = np.full(size, empty, dtype=np.float64)
    np.maximum.at(out, keys, values)
    return out


# --------------------------------------------------------------------------------------------
# The per-seller computation (one pandas frame; the Dask path runs it per partition)
# --------------------------------------------------------------------------------------------

class _Orders:
    """The orders of the kept sellers placed before as_of, column by column, on demand."""

    def __init__(self, orders: pd.DataFrame, rows: np.ndarray | None, code: np.ndarray,
                 created: np.ndarray, as_of_ns: int, n_sellers: int) -> None:
        self.frame = orders
        self.rows = rows
        self.code = code
        self.age = as_of_ns - created  # > 0: time between the order and as_of, in ns
        self.created = created
        self.as_of_ns = as_of_ns
        self.n_sellers = n_sellers

    def take(self, values: np.ndarray) -> np.ndarray:
        return values if self.rows is None else values[self.rows]

    def column(self, name: str) -> pd.Series:
        series = self.frame[name]
        return series if self.rows is None else series.iloc[self.rows]

    def timestamp(self, name: str) -> np.ndarray:
        """Nanoseconds of a timestamp column; events at or after as_of become NaT (and
        every event of an optional column the frame leaves out)."""
        if name not in self.frame.columns:
            return np.full(len(self.code), NAT, dtype=np.int64)
        values = self.take(as_nanoseconds(self.frame[name]))
        return np.where(values < self.as_of_ns, values, NAT)

    @cached_property
    def matured(self) -> np.ndarray:
        """Orders of the 365-day window placed more than MATURITY_DAYS before as_of."""
        return np.asarray(self.in_window & (self.age > MATURITY_DAYS * DAY_NS))

    @cached_property
    def cents(self) -> np.ndarray:
        amount = self.take(np.asarray(self.frame["amount"].to_numpy(dtype=np.float64)))
        return np.rint(amount * 100.0)

    @cached_property
    def band_keys(self) -> np.ndarray:
        edges = np.asarray(_BAND_EDGES_DAYS, dtype=np.int64) * DAY_NS
        band = np.searchsorted(edges, self.age, side="left")
        return self.code * _N_BANDS + band

    def per_band(self, weights: np.ndarray | None = None) -> np.ndarray:
        """(n_sellers, n_bands) sums of ``weights`` (counts when None)."""
        sums = np.bincount(self.band_keys, weights=weights, minlength=self.n_sellers * _N_BANDS)
        return sums.reshape(self.n_sellers, _N_BANDS)

    @cached_property
    def band_counts(self) -> np.ndarray:
        return self.per_band()

    @cached_property
    def band_cents(self) -> np.ndarray:
        return self.per_band(self.cents)

    @cached_property
    def in_window(self) -> np.ndarray:
        return np.asarray(self.age <= WINDOW_DAYS * DAY_NS)


def _seller_positions(rows: pd.DataFrame, sellers: pd.DataFrame, what: str,
                      validator: str) -> np.ndarray:
    """Position in ``sellers`` of each row's seller; a row of an unknown seller is refused."""
    position = positions(rows["seller_id"], sellers["seller_id"])
    unknown = position < 0
    if unknown.any():
        _refuse_unknown_sellers(rows, what, validator, int(unknown.sum()),
                                int(np.flatnonzero(unknown)[0]))
    return position


def _refuse_unknown_sellers(rows: pd.DataFrame, what: str, validator: str, count: int,
                            first: int) -> None:
    example = rows["seller_id"].iloc[first]
    raise ValueError(
        f"{count} {what} belong to sellers missing from `sellers` (for "
        f"example {example!r}); validate them against the sellers ({validator})")


_ORDERS_VALIDATOR = "features.records.validate_orders(orders, sellers['seller_id'])"


def build_partition(orders: pd.DataFrame, sellers: pd.DataFrame, params: BuildParams,
                    wanted: Iterable[str]) -> pd.DataFrame:
    """Order and profile features of ``sellers`` from ``orders`` (one pandas frame).

    The Dask backend calls this per partition; :func:`build_features` is the public entry.
    """
    wanted = tuple(wanted)
    as_of_ns = params.as_of_ns
    registered = as_nanoseconds(sellers["registered_at"])
    kept = (registered < as_of_ns) & (registered != NAT)
    kept_positions = np.flatnonzero(kept)
    n = len(kept_positions)
    index = pd.Index(sellers["seller_id"].iloc[kept_positions], name="seller_id")
    tenure_ns = as_of_ns - registered[kept_positions]

    if "currency" in orders.columns and len(orders):
        check_one_currency(orders["currency"])
    remap = np.full(len(sellers) + 1, -1, dtype=np.int64)
    remap[kept_positions] = np.arange(n)
    out: dict[str, np.ndarray | pd.Categorical] = {}
    if not _compiled_features(orders, sellers, remap, n, tenure_ns, params, wanted, out):
        _numpy_features(orders, sellers, remap, n, tenure_ns, params, wanted, out)
    if any(name in wanted for name in PROFILE_FEATURES):
        chosen = sellers.iloc[kept_positions]
        out["seller_kind"] = pd.Categorical(chosen["kind"].to_numpy(dtype=object),
                                            categories=SELLER_KINDS)
        out["membership_tier"] = pd.Categorical(
            chosen["membership_tier"].to_numpy(dtype=object), categories=MEMBERSHIP_TIERS)
    return pd.DataFrame({name: out[name] for name in wanted}, index=index)


#: Order features the compiled single-pass path computes (:func:`_compiled_features`).
_COMPILED_FEATURES = frozenset((
    "gmv_30d", "gmv_90d", "gmv_180d", "gmv_365d", "gmv_all_time", "order_count_30d",
    "order_count_90d", "order_count_180d", "order_count_365d", "order_count_all_time",
    "avg_order_value_90d", "avg_order_value_365d", "gmv_growth_90d", "order_growth_90d",
    "gmv_growth_yoy_90d", "gmv_growth_yoy_365d",
    "gmv_monthly_cv_12m", "active_month_share_12m", "gmv_trend_slope_12m",
    "gmv_trend_slope_relative_12m",
    "refund_rate_90d", "refund_rate_365d", "refund_amount_rate_365d",
    "distinct_buyers_90d", "distinct_buyers_365d", "orders_per_buyer_365d",
    "repeat_buyer_share_365d", "new_buyer_share_90d", "top_buyer_share_365d",
))
_BUYER_FEATURES = frozenset((
    "distinct_buyers_90d", "distinct_buyers_365d", "orders_per_buyer_365d",
    "repeat_buyer_share_365d", "new_buyer_share_90d", "top_buyer_share_365d",
))


def _compiled_features(orders: pd.DataFrame, sellers: pd.DataFrame, remap: np.ndarray,
                       n: int, tenure_ns: np.ndarray, params: BuildParams,
                       wanted: tuple[str, ...], out: dict[str, Any]) -> bool:
    """The order features by the compiled kernels, into ``out``; False when they cannot
    (numba missing, a feature they do not compute, ids that are not plain strings)."""
    order_wanted = [name for name in wanted if name not in PROFILE_FEATURES]
    if not _kernels.available() or not order_wanted \
            or not set(order_wanted) <= _COMPILED_FEATURES:
        return False
    with_buyers = bool(_BUYER_FEATURES.intersection(order_wanted))
    as_of_ns = params.as_of_ns
    edges = np.asarray(_BAND_EDGES_DAYS, dtype=np.int64) * DAY_NS
    found = _kernels.order_aggregates(
        arrow_string_chunks(orders["seller_id"]),
        arrow_string_chunks(orders["buyer_id"]) if with_buyers
        else pa.array([], pa.large_string()),
        arrow_strings(sellers["seller_id"]), remap[:len(sellers)], n,
        np.ascontiguousarray(as_nanoseconds(orders["created_at"])),
        np.ascontiguousarray(orders["amount"].to_numpy(dtype=np.float64)),
        np.ascontiguousarray(as_nanoseconds(orders["refunded_at"])),
        np.ascontiguousarray(orders["refunded_amount"].to_numpy(dtype=np.float64)),
        as_of_ns, edges, MONTH_DAYS * DAY_NS, WINDOW_DAYS * DAY_NS, 90 * DAY_NS,
        params.kernel_threads, with_buyers,
        "active_month_share_12m" in wanted or "refund_amount_rate_365d" in wanted)
    if found is None:
        return False
    if isinstance(found, tuple):
        _refuse_unknown_sellers(orders, "orders", _ORDERS_VALIDATOR, *found)
        return False  # not reached
    counts, cents = found.band_counts, found.band_cents
    _scale_from_bands(counts, cents, out)
    _monthly_from_sums(found.month_cents, lambda: _given(found.month_counts), tenure_ns,
                       wanted, out)
    _refunds_from_bands(counts, found.band_refunds, cents,
                        lambda: _given(found.band_refund_cents), wanted, out)
    if with_buyers:
        buyers_365 = found.buyers_365d
        out["distinct_buyers_365d"] = buyers_365
        out["orders_per_buyer_365d"] = _ratio(counts[:, :4].sum(axis=1), buyers_365)
        out["repeat_buyer_share_365d"] = _ratio(found.repeat_buyers_365d, buyers_365)
        out["distinct_buyers_90d"] = found.buyers_90d
        out["new_buyer_share_90d"] = _ratio(found.new_buyers_90d, found.buyers_90d)
        out["top_buyer_share_365d"] = _ratio(found.top_buyer_cents_365d, found.window_cents)
    return True


def _given(values: np.ndarray | None) -> np.ndarray:
    if values is None:
        raise AssertionError("the kernels were not asked for these sums")
    return values


def _numpy_features(orders: pd.DataFrame, sellers: pd.DataFrame, remap: np.ndarray,
                    n: int, tenure_ns: np.ndarray, params: BuildParams,
                    wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    """The order features by blocks of numpy work, into ``out``."""
    as_of_ns = params.as_of_ns
    position = _seller_positions(orders, sellers, "orders", _ORDERS_VALIDATOR)
    code_all = remap[position]
    created_all = as_nanoseconds(orders["created_at"])
    valid = (code_all >= 0) & (created_all < as_of_ns)
    rows = None if valid.all() else np.flatnonzero(valid)
    data = _Orders(orders, rows, code_all if rows is None else code_all[rows],
                   created_all if rows is None else created_all[rows], as_of_ns, n)

    blocks = [block for names, block in _BLOCKS if any(name in wanted for name in names)]
    if params.threads > 1 and len(blocks) > 1 and len(data.code) >= _PARALLEL_MIN_ROWS:
        # numpy, pandas and Arrow release the GIL in the heavy loops: blocks run side by
        # side; each writes its own columns, and the shared arrays are made first
        for shared in ("cents", "band_keys", "in_window", "band_counts", "band_cents"):
            getattr(data, shared)
        with ThreadPoolExecutor(params.threads, thread_name_prefix="features") as pool:
            running = [pool.submit(block, data, tenure_ns, params, wanted, out)
                       for block in blocks]
            for future in running:
                future.result()
    else:
        for block in blocks:
            block(data, tenure_ns, params, wanted, out)


def check_one_currency(currency: pd.Series) -> None:
    values = arrow_strings(currency)
    if len(values) == 0:
        return
    first = values[0]
    if not first.is_valid or pc.any(pc.not_equal(values, first)).as_py():
        found = pc.unique(values).to_pylist()
        raise ValueError(f"orders are in several currencies ({', '.join(map(str, found[:5]))}); "
                         "features add amounts up, so build them for one currency at a time")


def _scale_and_growth(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
                      wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    _scale_from_bands(data.band_counts, data.band_cents, out)


def _scale_from_bands(counts: np.ndarray, cents: np.ndarray, out: dict[str, Any]) -> None:
    """Scale and growth features from (sellers, bands) order counts and GMV in minor units."""
    count_cum = np.cumsum(counts, axis=1)
    cents_cum = np.cumsum(cents, axis=1)
    for column, days in enumerate(_BAND_EDGES_DAYS[:4]):
        out[f"gmv_{days}d"] = cents_cum[:, column] / 100.0
        out[f"order_count_{days}d"] = count_cum[:, column].astype(np.int64)
    out["gmv_all_time"] = cents_cum[:, -1] / 100.0
    out["order_count_all_time"] = count_cum[:, -1].astype(np.int64)
    out["avg_order_value_90d"] = _ratio(cents_cum[:, 1], count_cum[:, 1]) / 100.0
    out["avg_order_value_365d"] = _ratio(cents_cum[:, 3], count_cum[:, 3]) / 100.0
    out["gmv_growth_90d"] = _ratio(cents_cum[:, 1], cents[:, 2]) - 1.0
    out["order_growth_90d"] = _ratio(count_cum[:, 1], counts[:, 2]) - 1.0
    out["gmv_growth_yoy_90d"] = _ratio(cents_cum[:, 1], cents[:, 4]) - 1.0
    out["gmv_growth_yoy_365d"] = _ratio(cents_cum[:, 3], cents[:, 4] + cents[:, 5]) - 1.0


def _monthly(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
             wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    n = data.n_sellers
    month_ns = MONTH_DAYS * DAY_NS
    # month 0 = the 30 days just before as_of; older orders go to an overflow column
    # (age - 1) // month_ns capped at N_MONTHS, by a binary search (cheaper than division)
    month = np.searchsorted(np.arange(1, N_MONTHS + 1, dtype=np.int64) * month_ns, data.age,
                            side="left")
    keys = data.code * (N_MONTHS + 1) + month
    size = n * (N_MONTHS + 1)
    gmv_cents = np.bincount(keys, weights=data.cents, minlength=size)
    _monthly_from_sums(gmv_cents.reshape(n, N_MONTHS + 1),
                       lambda: np.bincount(keys, minlength=size).reshape(n, N_MONTHS + 1),
                       tenure_ns, wanted, out)


def _monthly_from_sums(gmv_cents: np.ndarray, month_counts: Callable[[], np.ndarray],
                       tenure_ns: np.ndarray, wanted: tuple[str, ...],
                       out: dict[str, Any]) -> None:
    """Monthly features from (sellers, months + 1) GMV in minor units; ``month_counts``
    gives the order counts of the same cells (called only when needed)."""
    month_ns = MONTH_DAYS * DAY_NS
    gmv = gmv_cents[:, :N_MONTHS] / 100.0
    observed = np.minimum(N_MONTHS, tenure_ns // month_ns)
    counted = np.arange(N_MONTHS)[None, :] < observed[:, None]
    gmv = np.where(counted, gmv, 0.0)
    mean = _ratio(gmv.sum(axis=1), observed)
    deviation = np.where(counted, gmv - mean[:, None], 0.0)
    std = np.sqrt(_ratio((deviation ** 2).sum(axis=1), observed))
    cv = _ratio(std, mean)
    cv[observed < 2] = np.nan
    out["gmv_monthly_cv_12m"] = cv
    if "active_month_share_12m" in wanted:
        active = month_counts()[:, :N_MONTHS] > 0
        out["active_month_share_12m"] = _ratio((active & counted).sum(axis=1), observed)
    # x runs from 0 (oldest observed month) to observed - 1 (the month just before as_of)
    centred_x = np.where(counted, (observed[:, None] - 1) / 2.0 - np.arange(N_MONTHS), 0.0)
    slope = _ratio((centred_x * deviation).sum(axis=1),
                   observed * (observed ** 2 - 1) / 12.0)
    slope[observed < 3] = np.nan
    out["gmv_trend_slope_12m"] = slope
    relative = _ratio(slope, mean)
    relative[observed < 3] = np.nan
    out["gmv_trend_slope_relative_12m"] = relative


def _daily(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
           wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    n = data.n_sellers
    window = data.in_window
    day = (data.age[window] - 1) // DAY_NS  # 0 = the 24 hours just before as_of
    flat = np.zeros(n * WINDOW_DAYS, dtype=bool)
    flat[data.code[window] * WINDOW_DAYS + day] = True
    present = flat.reshape(n, WINDOW_DAYS)
    out["active_days_90d"] = present[:, :90].sum(axis=1).astype(np.int64)
    # days since registration (the registration day counts), at most the window
    span = np.minimum(WINDOW_DAYS, (tenure_ns + DAY_NS - 1) // DAY_NS)
    present &= np.arange(WINDOW_DAYS)[None, :] < span[:, None]
    rows, days = np.nonzero(present)  # sorted by seller, then by day
    n_active = np.bincount(rows, minlength=n)
    gap = span.astype(np.float64)  # no order: the whole span is one gap
    has = n_active > 0
    last = np.cumsum(n_active) - 1
    first = last - n_active + 1
    gap[has] = np.maximum(days[first[has]], span[has] - 1 - days[last[has]])
    if len(days) > 1:
        between = np.diff(days) - 1
        between[rows[1:] != rows[:-1]] = 0
        np.maximum.at(gap, rows[1:], between.astype(np.float64))
    out["longest_gap_days_365d"] = gap


def _recency(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
             wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    n = data.n_sellers
    newest = np.full(n, np.iinfo(np.int64).max)
    oldest = np.full(n, -1, dtype=np.int64)
    np.minimum.at(newest, data.code, data.age)
    np.maximum.at(oldest, data.code, data.age)
    has = oldest >= 0
    out["days_since_last_order"] = np.where(has, newest / DAY_NS, np.nan)
    out["days_since_first_order"] = np.where(has, oldest / DAY_NS, np.nan)
    out["tenure_days"] = tenure_ns / DAY_NS


def _refunded(data: _Orders) -> np.ndarray:
    """Whether each order had a refund made before as_of."""
    refunded_at = data.take(as_nanoseconds(data.frame["refunded_at"]))
    amount = data.take(np.asarray(data.frame["refunded_amount"].to_numpy(dtype=np.float64)))
    return np.asarray((refunded_at != NAT) & (refunded_at < data.as_of_ns) & (amount > 0))


def _refund_cents(data: _Orders) -> np.ndarray:
    """Refunded minor units of each order; 0 unless refunded before as_of."""
    amount = data.take(np.asarray(data.frame["refunded_amount"].to_numpy(dtype=np.float64)))
    return np.where(_refunded(data), np.rint(amount * 100.0), 0.0)


def _refunds(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
             wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    _refunds_from_bands(data.band_counts, data.per_band(_refunded(data).astype(np.float64)),
                        data.band_cents, lambda: data.per_band(_refund_cents(data)), wanted,
                        out)


def _refunds_from_bands(counts: np.ndarray, refunds: np.ndarray, cents: np.ndarray,
                        refund_cents: Callable[[], np.ndarray], wanted: tuple[str, ...],
                        out: dict[str, Any]) -> None:
    """Refund features from (sellers, bands) counts of orders and of refunded orders and
    GMV in minor units; ``refund_cents`` gives the refunded minor units (when needed).

    Matured cohorts: band 0 holds the orders of the last MATURITY_DAYS (30) days, left
    out of numerator and denominator alike; bands 1 and 1-3 are the matured orders of the
    90-day and 365-day windows."""
    out["refund_rate_90d"] = _ratio(refunds[:, 1], counts[:, 1])
    out["refund_rate_365d"] = _ratio(refunds[:, 1:4].sum(axis=1), counts[:, 1:4].sum(axis=1))
    if "refund_amount_rate_365d" in wanted:
        refund_sum = refund_cents()[:, 1:4].sum(axis=1)
        out["refund_amount_rate_365d"] = _ratio(refund_sum, cents[:, 1:4].sum(axis=1))


def _status(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
            wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    n = data.n_sellers
    code = data.code
    window = data.in_window
    matured = data.matured
    # an event counts from its own time (``status`` and ``disputed`` are never read)
    cancelled = data.timestamp("cancelled_at") != NAT
    disputed = data.timestamp("disputed_at") != NAT
    n_matured = np.bincount(code, weights=matured, minlength=n)
    out["cancellation_rate_365d"] = _ratio(
        np.bincount(code, weights=cancelled & matured, minlength=n), n_matured)
    out["dispute_rate_365d"] = _ratio(
        np.bincount(code, weights=disputed & matured, minlength=n), n_matured)
    if "net_gmv_365d" in wanted:
        refund_cents = _refund_cents(data)
        kept = window & ~cancelled
        net = np.where(kept, data.cents - refund_cents, 0.0)
        out["net_gmv_365d"] = np.bincount(code, weights=net, minlength=n) / 100.0


def _shipping(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
              wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    n = data.n_sellers
    code = data.code
    window = data.in_window
    sla_ns = params.shipping_sla_days * DAY_NS
    shipped_at = data.timestamp("shipped_at")
    shipped = shipped_at != NAT
    due = window & (data.age > sla_ns)  # the shipping deadline is before as_of
    on_time = shipped & (shipped_at - data.created <= sla_ns)
    out["late_shipment_rate_365d"] = _ratio(
        np.bincount(code, weights=due & ~on_time, minlength=n),
        np.bincount(code, weights=due, minlength=n))
    shipped_window = shipped & window
    # whole seconds, so that sums of delays are exact and independent of row order
    delay_s = np.where(shipped_window, (shipped_at - data.created) // _SECOND_NS, 0)
    out["mean_shipping_days_365d"] = _ratio(
        np.bincount(code, weights=delay_s.astype(np.float64), minlength=n),
        np.bincount(code, weights=shipped_window, minlength=n)) / 86_400.0


def _channels(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
              wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    n = data.n_sellers
    window = data.in_window
    code = data.code[window]
    count_365 = np.bincount(code, minlength=n)
    channel = data.column("channel")
    for name in ("dropship", "custom", "sample"):
        mask = _category_mask(channel, name)[window]
        out[f"{name}_share_365d"] = _ratio(np.bincount(code, weights=mask, minlength=n),
                                           count_365)
    country = arrow_strings(data.column("buyer_country"))
    foreign = pc.fill_null(pc.not_equal(country, params.home_country), False)
    foreign_mask = np.asarray(foreign.to_numpy(zero_copy_only=False), dtype=bool)[window]
    out["cross_border_share_365d"] = _ratio(np.bincount(code, weights=foreign_mask,
                                                        minlength=n), count_365)


def _customers(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
               wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    n = data.n_sellers
    window = np.flatnonzero(data.in_window)
    code = data.code[window]
    buyers = arrow_strings(data.frame["buyer_id"])  # every row of the input frame
    pairs = pair_codes(code, buyers, window if data.rows is None else data.rows[window], n)
    n_pairs = pairs.n_pairs
    pair_seller = pairs.seller
    window_sorted = window[pairs.order]  # rows of the orders in pair order
    pair_cents = np.bincount(pairs.pair, weights=data.cents[window_sorted], minlength=n_pairs)
    if "repeat_buyer_share_365d" in wanted or "new_buyer_share_90d" in wanted:
        pair_orders = np.bincount(pairs.pair, minlength=n_pairs)

    buyers_365 = np.bincount(pair_seller, minlength=n)
    out["distinct_buyers_365d"] = buyers_365.astype(np.int64)
    if "orders_per_buyer_365d" in wanted:
        out["orders_per_buyer_365d"] = _ratio(np.bincount(code, minlength=n), buyers_365)
    if "repeat_buyer_share_365d" in wanted:
        out["repeat_buyer_share_365d"] = _ratio(
            np.bincount(pair_seller, weights=pair_orders >= 2, minlength=n), buyers_365)
    if "distinct_buyers_90d" in wanted or "new_buyer_share_90d" in wanted:
        recent = data.age[window_sorted] <= 90 * DAY_NS
        pair_recent = np.bincount(pairs.pair, weights=recent, minlength=n_pairs)
        buyers_90 = np.bincount(pair_seller, weights=pair_recent > 0, minlength=n)
        out["distinct_buyers_90d"] = buyers_90.astype(np.int64)
        out["new_buyer_share_90d"] = _ratio(
            np.bincount(pair_seller, weights=(pair_recent > 0) & (pair_recent == pair_orders),
                        minlength=n), buyers_90)
    gmv = np.bincount(pair_seller, weights=pair_cents, minlength=n)
    top = _segment_max(pair_seller, pair_cents, n, 0.0)
    out["top_buyer_share_365d"] = _ratio(top, gmv)
    if "buyer_hhi_365d" in wanted:
        # summing squared shares from the smallest up fixes the order of the float additions
        by_size = np.argsort(pair_cents, kind="stable")
        share = pair_cents[by_size] / np.where(gmv > 0, gmv, 1.0)[pair_seller[by_size]]
        hhi = np.bincount(pair_seller[by_size], weights=share * share, minlength=n)
        out["buyer_hhi_365d"] = np.where(gmv > 0, hhi, np.nan)


def _cash_cycle(data: _Orders, tenure_ns: np.ndarray, params: BuildParams,
                wanted: tuple[str, ...], out: dict[str, Any]) -> None:
    n = data.n_sellers
    window = data.in_window
    matured = data.matured
    paid_at = data.timestamp("paid_out_at")
    shipped_at = data.timestamp("shipped_at")
    paid = window & (paid_at != NAT)
    out["paid_out_share_365d"] = _ratio(
        np.bincount(data.code, weights=paid & matured, minlength=n),
        np.bincount(data.code, weights=matured, minlength=n))
    # Censored delays: an order shipped but not paid out by as_of has waited as_of -
    # created_at so far, and counts with that lower bound (dropping it would make a
    # seller whose payouts are held look faster than one paid late).
    counted = paid | (window & (shipped_at != NAT))
    end = np.where(paid_at != NAT, paid_at, data.as_of_ns)
    delay_s = np.maximum((end[counted] - data.created[counted]) // _SECOND_NS, 0)
    shift = 26  # 2**26 seconds is 776 days, more than any delay inside the window
    keys = np.sort((data.code[counted] << shift) | delay_s)
    seller = keys >> shift
    delays = (keys & ((1 << shift) - 1)).astype(np.float64) / 86_400.0
    count = np.bincount(seller, minlength=n)
    start = np.cumsum(count) - count
    has = count > 0
    median = np.full(n, np.nan)
    p90 = np.full(n, np.nan)
    lower = start[has] + (count[has] - 1) // 2
    upper = start[has] + count[has] // 2
    median[has] = (delays[lower] + delays[upper]) / 2.0
    p90[has] = delays[start[has] + (9 * (count[has] - 1)) // 10]
    out["median_payout_delay_days_365d"] = median
    out["p90_payout_delay_days_365d"] = p90


_Block = Callable[[_Orders, np.ndarray, BuildParams, tuple[str, ...], dict[str, Any]], None]
#: Blocks of work and the features each produces; a block runs when any of them is wanted.
#: Blocks are independent of each other, so their order changes nothing in the result.
_BLOCKS: tuple[tuple[tuple[str, ...], _Block], ...] = (  # the most expensive first
    (("distinct_buyers_90d", "distinct_buyers_365d", "orders_per_buyer_365d",
      "repeat_buyer_share_365d", "new_buyer_share_90d", "top_buyer_share_365d",
      "buyer_hhi_365d"), _customers),
    (("median_payout_delay_days_365d", "p90_payout_delay_days_365d", "paid_out_share_365d"),
     _cash_cycle),
    (("gmv_30d", "gmv_90d", "gmv_180d", "gmv_365d", "gmv_all_time", "order_count_30d",
      "order_count_90d", "order_count_180d", "order_count_365d", "order_count_all_time",
      "avg_order_value_90d", "avg_order_value_365d", "gmv_growth_90d", "order_growth_90d",
      "gmv_growth_yoy_90d", "gmv_growth_yoy_365d"), _scale_and_growth),
    (("gmv_monthly_cv_12m", "active_month_share_12m", "gmv_trend_slope_12m",
      "gmv_trend_slope_relative_12m"), _monthly),
    (("active_days_90d", "longest_gap_days_365d"), _daily),
    (("days_since_last_order", "days_since_first_order", "tenure_days"), _recency),
    (("refund_rate_90d", "refund_rate_365d", "refund_amount_rate_365d"), _refunds),
    (("cancellation_rate_365d", "dispute_rate_365d", "net_gmv_365d"), _status),
    (("late_shipment_rate_365d", "mean_shipping_days_365d"), _shipping),
    (("dropship_share_365d", "custom_share_365d", "sample_share_365d",
      "cross_border_share_365d"), _channels),
)


def _repayment_features(credit: pd.DataFrame, sellers: pd.DataFrame, index: pd.Index,
                        params: BuildParams) -> dict[str, np.ndarray]:
    """Repayment features of the sellers in ``index`` from the credit history (one frame).

    The credit history is small (one row per draw, or per instalment for a lender's own
    ledger), so the Dask backend computes these on the client too.
    """
    position = _seller_positions(credit, sellers, "credit-history rows",
                                 "features.credit_history.validate_credit_history")
    code_of_id = positions(sellers["seller_id"], pd.Series(index.array))
    code = code_of_id[position]
    features = _draw_features(credit, code, len(index), params.as_of_ns)
    earlier = _draw_features(credit, code, len(index), params.as_of_ns - 90 * DAY_NS)
    features["credit_utilisation_change_90d"] = (features["credit_utilisation"]
                                                 - earlier["credit_utilisation"])
    features.update(_instalment_features(instalment_frame(credit), code, len(index),
                                         params.as_of_ns))
    return features


def _draw_features(credit: pd.DataFrame, code: np.ndarray, n: int,
                   as_of_ns: int) -> dict[str, np.ndarray]:
    """The six draw-level features at ``as_of_ns`` (an instalment-level file is read one
    row per draw: the draw's own fields repeat on each of its instalments)."""
    if "instalment_id" in credit.columns:
        first = ~credit["draw_id"].duplicated().to_numpy()
        credit, code = credit[first], code[first]
    drawn = as_nanoseconds(credit["drawn_at"])
    keep = (code >= 0) & (drawn != NAT) & (drawn < as_of_ns)
    code, drawn = code[keep], drawn[keep]
    amount_cents = np.rint(credit["amount"].to_numpy(dtype=np.float64)[keep] * 100.0)
    limit = credit["credit_limit"].to_numpy(dtype=np.float64)[keep]
    due = as_nanoseconds(credit["due_at"])[keep]
    repaid_at = as_nanoseconds(credit["repaid_at"])[keep]
    repaid = (repaid_at != NAT) & (repaid_at < as_of_ns)

    draws = np.bincount(code, minlength=n)
    outstanding = np.bincount(code, weights=np.where(repaid, 0.0, amount_cents), minlength=n)
    latest = np.lexsort((drawn, code))  # by seller, then time: the last of a run is the latest
    last_of_seller = latest[np.r_[code[latest][1:] != code[latest][:-1], True]] \
        if len(latest) else latest
    latest_limit = np.full(n, np.nan)
    latest_limit[code[last_of_seller]] = limit[last_of_seller]

    is_due = due < as_of_ns
    on_time = repaid & (repaid_at <= due)
    end = np.where(repaid, repaid_at, as_of_ns)
    days_late = np.maximum(0, (end - due) // DAY_NS).astype(np.float64)
    worst = _segment_max(code[is_due], days_late[is_due], n, -1.0)
    n_due = np.bincount(code, weights=is_due, minlength=n)
    overdue = is_due & ~repaid
    current = _segment_max(code[overdue], days_late[overdue], n, 0.0)
    return {
        "credit_draw_count": draws.astype(np.int64),
        "credit_outstanding_amount": outstanding / 100.0,
        "credit_utilisation": _ratio(outstanding / 100.0, np.nan_to_num(latest_limit)),
        "credit_on_time_share": _ratio(np.bincount(code, weights=is_due & on_time,
                                                   minlength=n), n_due),
        "credit_worst_days_past_due": np.where(n_due > 0, worst, np.nan),
        "credit_current_days_past_due": current,
    }


_NEVER = np.iinfo(np.int64).max


def _instalment_features(instalments: pd.DataFrame, code: np.ndarray, n: int,
                         as_of_ns: int) -> dict[str, np.ndarray]:
    """Features of the seller's days past due through time, from its instalments.

    An instalment counts as past due at a moment ``t`` when ``due < t`` and it was not
    paid in full before ``t``; its days past due are then ``(min(t, write-off) - due)``
    in whole days. The seller's days past due are the worst of its instalments'. Only
    the instalments of draws made before ``as_of`` are read.
    """
    drawn = as_nanoseconds(instalments["drawn_at"])
    keep = (code >= 0) & (drawn != NAT) & (drawn < as_of_ns)
    code = code[keep]
    due = as_nanoseconds(instalments["due_at"])[keep]
    paid = as_nanoseconds(instalments["paid_at"])[keep]
    paid = np.where((paid == NAT) | (paid >= as_of_ns), _NEVER, paid)
    written_off = as_nanoseconds(instalments["written_off_at"])[keep]
    # The write-off is known from its time on; days stop counting then.
    cap = np.where((written_off == NAT) | (written_off >= as_of_ns), _NEVER, written_off)
    opened = as_nanoseconds(instalments["opened_at"])[keep]
    opened = np.where(opened == NAT, drawn[keep], opened)
    has_draw = np.bincount(code, minlength=n) > 0

    out: dict[str, np.ndarray] = {}
    # Worst days past due in a window: an instalment's days grow until it is paid (or
    # until as_of), so its worst moment in the window is the latest one it counts.
    last_counting = np.minimum(paid, as_of_ns)
    for days, name in ((90, "credit_worst_days_past_due_90d"),
                       (360, "credit_worst_days_past_due_360d")):
        start = as_of_ns - days * DAY_NS
        counts = (due < as_of_ns) & (last_counting > due) & (last_counting >= start)
        late = (np.minimum(last_counting, cap) - due) // DAY_NS
        worst = _segment_max(code[counts], late[counts].astype(np.float64), n, 0.0)
        out[name] = np.where(has_draw, worst, np.nan)

    start_360 = as_of_ns - 360 * DAY_NS
    # More than 30 days past due: from due + 31 days (if reached before a write-off)
    # until paid; spells of one seller that overlap are one time.
    over_30 = due + 31 * DAY_NS
    reached = (over_30 <= as_of_ns) & (over_30 <= paid) & (over_30 <= cap)
    spell_starts, _ = _merged_spells(code[reached], over_30[reached], paid[reached])
    in_window = spell_starts[1] >= start_360
    out["credit_times_30_plus_360d"] = np.bincount(spell_starts[0][in_window],
                                                   minlength=n).astype(np.int64)
    # Past due at all: from due + 1 day until paid; a spell that ended before as_of (and
    # within the window) is a cure.
    one_day = due + DAY_NS
    late_at_all = (one_day <= as_of_ns) & (one_day <= paid)
    _, spell_ends = _merged_spells(code[late_at_all], one_day[late_at_all],
                                   paid[late_at_all])
    cured = (spell_ends[1] < as_of_ns) & (spell_ends[1] >= start_360)
    out["credit_cures_360d"] = np.bincount(spell_ends[0][cured], minlength=n).astype(np.int64)

    first_opened = np.full(n, _NEVER, dtype=np.int64)
    np.minimum.at(first_opened, code, opened)
    months = (as_of_ns - first_opened) // (MONTH_DAYS * DAY_NS)
    out["credit_months_on_book"] = np.where(has_draw, months.astype(np.float64), np.nan)
    return out


def _merged_spells(code: np.ndarray, start: np.ndarray, end: np.ndarray
                   ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Merge the intervals ``[start, end]`` of each seller into disjoint spells.

    Returns ``((seller, spell start), (seller, spell end))`` of each merged spell.
    """
    if not len(code):
        empty = np.array([], dtype=np.int64)
        return (empty, empty), (empty, empty)
    order = np.lexsort((start, code))
    code, start, end = code[order], start[order], end[order]
    # The furthest end of the spells before each one, within its seller.
    frame = pd.DataFrame({"code": code, "end": end})
    reach = frame.groupby("code")["end"].cummax().to_numpy()
    previous_reach = np.r_[np.iinfo(np.int64).min, reach[:-1]]
    new_seller = np.r_[True, code[1:] != code[:-1]]
    begins = new_seller | (start > previous_reach)
    begin_at = np.flatnonzero(begins)
    finish_at = np.r_[begin_at[1:] - 1, len(code) - 1]
    spell_end = np.maximum.reduceat(end, begin_at)
    return (code[begin_at], start[begin_at]), (code[finish_at], spell_end)
