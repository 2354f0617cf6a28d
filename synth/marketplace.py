"""The synthetic marketplace: sellers, their orders and the hidden truth about their default.

Demos, tests and benchmarks need trade records whose credit risk is *known*. This module
invents a marketplace of shops and factories, lets them trade for a number of months
before an as-of date, and says, separately, how likely each seller is to default in the
twelve months after it and whether it did, and which sellers a lender's approval policy
approved (only their outcome would be observed). The records follow the contract of
:mod:`features.records` exactly (same columns, order and dtypes as
:func:`features.records.validate_sellers` / :func:`features.records.validate_orders`
produce), so everything downstream treats them as real input.

The generative story
--------------------
**Sellers.** Each seller trades in one of a dozen industries and is a *shop* (resells:
many small buyers, wholesale and dropship orders, quick shipping and payouts) or a
*factory* (makes goods: a few large, concentrated buyers, wholesale, custom and sample
orders, production lead times and slower B2B payouts). How likely a seller is a factory
depends on the industry (machinery and packaging mostly factories, beauty mostly shops).
A seller has a province, a tenure (most sellers joined years ago; a few joined in the
last quarter and have few or no orders yet), a size and a membership tier that grows with
size, tenure and health.

**Latent cash-flow health.** Every seller has a latent health ``h`` (standard normal,
higher is healthier). The records reveal it only partly, through many noisy channels:

- GMV *trend*: healthy sellers grow, weak ones stagnate or shrink; the weakest go into a
  *distress* decline over the last six months, and some stop trading altogether.
- GMV *volatility*: month-to-month noise is larger for weak sellers.
- order *quality*: cancellation, refund and dispute rates rise as health falls, and
  deteriorate further over the last six months for weak sellers.
- *late shipment*: weak sellers ship days later than the channel's usual handling time
  (they wait for stock they cannot pay for yet).
- *payout delays*: the marketplace holds payouts of weak sellers longer (and every
  disputed order's payout until the dispute is settled).
- *buyer concentration*: weak sellers depend on fewer, larger buyers.
- *size and tier*: healthy sellers are somewhat larger and hold higher tiers.

Every channel sees ``h`` through its own seller-level noise (``h + 0.8 e_channel``, a
correlation of 0.78 with ``h``, plus smaller noise of its own), so no single number gives
``h`` away: on 20,000 sellers at the default parameters no feature of the builder reaches
85% of the true PD's ``AUC - 0.5`` (about two thirds), while a model that combines them
gets further. ``signal_strength`` (default 1) scales how strongly ``h`` moves all the
channels.

**Systematic factor** (:class:`SystematicFactor`). Each industry has a monthly business
climate ``F[industry, month]``, an AR(1) series (persistence 0.9) whose innovations are
30% common to the whole marketplace and 70% the industry's own. It runs through the record
window and the twelve months after the as-of date. A demand shock pulls the hit
industries' climate down (the default shock by about 2.4 standard deviations in all, of
which about one is left at the as-of date 40 weeks later), and the AR(1) carries the
pull forward. In the months it applies, the climate moves the records
of every seller of the industry: demand (``exp(0.12 F)``), the rates of cancellations,
refunds, disputes and late shipment (``exp(-0.25 F)``) and payout holds (``exp(-0.15 F)``).

**Default.** The 12-month probability of default at the as-of date is
``true_pd = sigmoid(alpha + 1.8 * risk)`` with::

    risk = sqrt(1 - s) * (-h) + sqrt(s) * z + 0.4 * new_seller + 0.8 * stopped_trading
           - 0.6 * outlook

where ``z`` is a hidden risk (owner's personal debts, a lawsuit, a supplier failing) that
the records never show, ``s`` is ``hidden_risk_share`` (default 0.15), the share of the
variance of the seller's own risk that is invisible, and ``outlook`` is the mean climate of
the seller's industry over the twelve months after the as-of date: partly foreseeable
(the climate persists, and the records show its recent months) and partly not (its future
innovations). So a shock moves PD, and sellers of one industry default together.
``alpha`` is solved so that the mean ``true_pd`` equals the requested base default rate;
``defaulted_12m`` is then drawn from ``true_pd`` and a default date is drawn uniformly
within the twelve months after the as-of date.

**Approval** (:func:`_approve`). At the as-of date a lender's policy approves
``approval_rate`` (default 60%) of the sellers: a points scorecard on what the records show
(tenure, recent orders, GMV trend, cancelled and disputed shares) plus a noisy bureau-like
score that faintly reads the hidden risk, the best-scoring sellers approved. The truth
keeps ``defaulted_12m`` for everyone (the simulator knows it), ``approved``, and
``observed_default_12m``: the outcome of approved sellers, missing for the declined, what a
lender would train on (:meth:`Marketplace.training_labels`). The declined stay in the truth
for reject inference and for evaluation on the whole population.

**Demand.** Orders arrive as a Poisson process per seller and day, with intensity::

    size * exp(growth path + monthly noise) * ramp-up
         * seasonality(kind, day) * shock(industry, day) * exp(0.12 * F[industry, month])

- seasonality: weekly rhythm (factories slow down at weekends), the 618 festival (spike
  on June 18), Double 11 (a large spike on November 11, preceded by factory stocking in
  October), Double 12, and the Spring Festival dip around Chinese New Year (shops dip for
  about two weeks, factories close for longer while workers travel home). Chinese New Year
  dates are tabulated in :data:`SPRING_FESTIVAL` for 2015-2035, the years supported.
- a demand shock (:class:`DemandShock`): for a window of weeks, demand in a few
  industries drops; afterwards healthy sellers recover fully and weak sellers keep part of
  the loss.
- new sellers ramp up over their first two months after onboarding.

The intensities are scaled so that the marketplace averages ``orders_per_seller_month``
orders per seller and month (:data:`DEFAULT_ORDERS_PER_SELLER_MONTH`, about 4.2: some
100 orders per seller over two years, so 100,000 sellers over 24 months give about 10
million orders; shops get about five times as many orders as factories of the same size).

**Order life cycle.** An order is placed during Chinese daytime (08:00-23:00
Asia/Shanghai), gets a channel, a buyer (from the seller's pool; a buyer keeps its
country), an amount (log-normal by kind, industry, channel and seller price level, in yuan
rounded to 0.01), and is then cancelled, or shipped after a handling time, delivered after
a transit time (longer across borders) and paid out after a payout lag. Disputes and
refunds (full or partial) follow shipment. The records show only what was known at the
as-of date: later shipments, payouts, cancellations, disputes and refunds are absent, so
recent orders are still ``pending`` or ``shipped``.

Everything is drawn from ``numpy.random.Generator`` streams spawned from the seed, so the
same seed and parameters give identical frames. The order loop runs over months, each
month vectorised over all sellers and orders.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from features.builder import DEFAULT_TIMEZONE, resolve_as_of
from features.records import (
    MEMBERSHIP_TIERS,
    ORDER_CHANNELS,
    ORDER_FIELDS,
    ORDER_STATUSES,
    SELLER_FIELDS,
    SELLER_KINDS,
    TIER_HISTORY_FIELDS,
)

__all__ = [
    "GENERATOR_VERSION",
    "DEFAULT_AS_OF",
    "DEFAULT_ORDERS_PER_SELLER_MONTH",
    "SPRING_FESTIVAL",
    "INDUSTRIES",
    "REGIONS",
    "DEFAULT_APPROVAL_RATE",
    "DEFAULT_HIDDEN_RISK_SHARE",
    "DemandShock",
    "Marketplace",
    "SystematicFactor",
    "generate_marketplace",
    "seasonality",
    "spring_festival",
    "write_marketplace",
    "WrittenMarketplace",
]

#: Bumped whenever the same seed and parameters would give different records.
GENERATOR_VERSION = "2.0.0"

#: Default as-of date: fixed so that runs without ``as_of`` are reproducible.
DEFAULT_AS_OF = pd.Timestamp("2026-07-01T00:00:00Z")

#: Default share of the variance of the seller-specific risk that the records never show.
DEFAULT_HIDDEN_RISK_SHARE = 0.15

#: Default share of sellers the generator's approval policy approves (see :func:`_approve`).
DEFAULT_APPROVAL_RATE = 0.6

#: Default order density: 100,000 sellers over 24 months give about 10 million orders.
DEFAULT_ORDERS_PER_SELLER_MONTH = 10_000_000 / (100_000 * 24)

#: Chinese New Year (first day of the Spring Festival) for the supported years.
SPRING_FESTIVAL: dict[int, date] = {
    2015: date(2015, 2, 19), 2016: date(2016, 2, 8), 2017: date(2017, 1, 28),
    2018: date(2018, 2, 16), 2019: date(2019, 2, 5), 2020: date(2020, 1, 25),
    2021: date(2021, 2, 12), 2022: date(2022, 2, 1), 2023: date(2023, 1, 22),
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
    2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
    2030: date(2030, 2, 3), 2031: date(2031, 1, 23), 2032: date(2032, 2, 11),
    2033: date(2033, 1, 31), 2034: date(2034, 2, 19), 2035: date(2035, 2, 8),
}


@dataclass(frozen=True)
class _Industry:
    name: str
    weight: float          # share of sellers
    factory_share: float   # probability that a seller of this industry is a factory
    price_level: float     # multiplier on order amounts


_INDUSTRY_TABLE: tuple[_Industry, ...] = (
    _Industry("apparel", 0.16, 0.25, 0.8),
    _Industry("electronics", 0.12, 0.30, 1.6),
    _Industry("home_garden", 0.10, 0.25, 1.0),
    _Industry("beauty", 0.08, 0.15, 0.7),
    _Industry("toys", 0.07, 0.30, 0.7),
    _Industry("food_beverage", 0.08, 0.20, 0.6),
    _Industry("auto_parts", 0.07, 0.45, 1.4),
    _Industry("machinery", 0.06, 0.70, 3.0),
    _Industry("furniture", 0.07, 0.45, 1.8),
    _Industry("sports_outdoors", 0.07, 0.25, 1.0),
    _Industry("textiles", 0.07, 0.60, 1.2),
    _Industry("packaging", 0.05, 0.70, 0.9),
)
#: Industry categories sellers trade in.
INDUSTRIES: tuple[str, ...] = tuple(ind.name for ind in _INDUSTRY_TABLE)

_REGION_WEIGHTS: dict[str, float] = {
    "Guangdong": 0.22, "Zhejiang": 0.20, "Jiangsu": 0.10, "Fujian": 0.08, "Shandong": 0.07,
    "Shanghai": 0.05, "Hebei": 0.04, "Henan": 0.04, "Hubei": 0.03, "Sichuan": 0.03,
    "Anhui": 0.03, "Beijing": 0.03, "Hunan": 0.03, "Jiangxi": 0.02, "Liaoning": 0.02,
    "Chongqing": 0.01,
}
#: Provinces sellers are registered in.
REGIONS: tuple[str, ...] = tuple(_REGION_WEIGHTS)

# Buyer countries: CN first (code 0), then cross-border destinations with their weights.
_COUNTRIES: tuple[str, ...] = ("CN", "US", "RU", "KR", "JP", "DE", "GB", "VN", "TH", "MY",
                               "AE", "BR", "AU", "FR", "MX", "SA", "ID", "PH")
_CROSS_BORDER_WEIGHTS = np.array([0.22, 0.10, 0.08, 0.07, 0.06, 0.05, 0.06, 0.05, 0.04, 0.04,
                                  0.04, 0.04, 0.04, 0.03, 0.03, 0.03, 0.02])

_SHOP, _FACTORY = 0, 1
#: Log-odds of default per unit of risk (one standard deviation of health).
_PD_SLOPE = 1.8
#: Standard deviation of each record channel's own view of health around the true health:
#: at 0.8 a channel's view correlates 0.78 with health.
_CHANNEL_SPREAD = 0.8
#: Months after as_of that the outcome (and the systematic factor's outlook) covers.
_OUTCOME_MONTHS = 12
_DAY_NS = 86_400 * 10**9
_HOUR_NS = 3_600 * 10**9
_CHINA_OFFSET_NS = 8 * _HOUR_NS  # Asia/Shanghai has no daylight saving time

# Channel codes follow ORDER_CHANNELS: wholesale, dropship, custom, sample.
_CHANNEL_MIX = np.array([[9.0, 10.0, 0.6, 0.4],     # shop: Dirichlet concentration
                         [10.0, 0.02, 7.0, 3.0]])   # factory
# Median order amount in yuan by kind and channel (before industry and seller level).
_MEDIAN_AMOUNT = np.array([[900.0, 70.0, 1500.0, 60.0],
                           [6000.0, 300.0, 22000.0, 250.0]])
# Mean handling time (days from order to shipment) by kind and channel, for health 0.
_HANDLING_DAYS = np.array([[1.6, 0.9, 6.0, 1.5],
                           [4.5, 2.0, 16.0, 3.0]])
# Share of orders placed in each Chinese hour 08..22, shops peak in the evening.
_HOUR_WEIGHTS = np.array([
    [2, 3, 5, 6, 6, 5, 5, 6, 6, 7, 8, 10, 11, 10, 7],
    [4, 9, 11, 11, 7, 9, 11, 11, 10, 7, 3, 2, 2, 2, 1],
], dtype=float)


@dataclass(frozen=True)
class DemandShock:
    """A window of weeks in which demand drops in some industries.

    Parameters
    ----------
    start : first day of the shock; ``None`` puts it ``weeks_before_as_of`` weeks before
        the as-of date (clipped into the record window).
    weeks : length of the shock in weeks; 0 disables it.
    depth : share of demand lost at the height of the shock, in [0, 1).
    industries : the industries hit; ``None`` draws ``n_industries`` of them from the seed.
    n_industries : how many industries to draw when ``industries`` is ``None``.
    weeks_before_as_of : default placement of the shock.
    lasting_loss : share of the shock that the weakest sellers never win back (healthy
        sellers recover fully).
    """

    start: pd.Timestamp | str | None = None
    weeks: int = 6
    depth: float = 0.5
    industries: tuple[str, ...] | None = None
    n_industries: int = 3
    weeks_before_as_of: int = 40
    lasting_loss: float = 0.5


@dataclass(frozen=True)
class SystematicFactor:
    """The business climate of each industry: a monthly AR(1) series that moves records and PD.

    ``factor[industry, month] = market part + industry part`` (standard normal when no shock
    pulls it down; higher is a better climate). Each month it keeps ``persistence`` of the
    previous month's value and draws the rest; a demand shock pulls the factor of the hit
    industries down by ``shock_pull`` per month of full demand loss (the default shock, 6
    weeks of depth 0.5 with its ramps, by about 2.4 standard deviations in all), from where
    it recovers at the pace of ``persistence`` (0.9 a month: about 1 of the 2.4 is left
    40 weeks later). The series runs through the record window and the twelve months after
    the as-of date.

    Parameters
    ----------
    persistence : monthly AR(1) coefficient, in [0, 1).
    market_share : share of the factor's variance common to all industries, in [0, 1].
    demand : log demand per unit of factor in the month it applies (all sellers of the
        industry order more in a good month).
    quality : log rate of cancellations, refunds, disputes and late shipment per unit of
        *bad* climate in the month it applies.
    payout : log payout hold per unit of bad climate (the marketplace's risk control holds
        payouts longer in a troubled industry).
    pd_loading : risk (in units of health's standard deviation) per unit of bad climate
        over the twelve months after the as-of date; partly foreseeable from the records
        (the factor persists) and partly not (its future innovations).
    shock_pull : how far a month of full demand loss pulls the factor down.
    """

    persistence: float = 0.9
    market_share: float = 0.3
    demand: float = 0.12
    quality: float = 0.25
    payout: float = 0.15
    pd_loading: float = 0.6
    shock_pull: float = 3.0


@dataclass(frozen=True)
class Marketplace:
    """A generated marketplace.

    Attributes
    ----------
    sellers : seller records, columns and dtypes as :data:`features.records.SELLER_FIELDS`
        after validation.
    orders : order records, columns and dtypes as :data:`features.records.ORDER_FIELDS`
        after validation, sorted by ``created_at``.
    truth : one row per seller: ``seller_id``, ``kind``, ``true_pd``, ``defaulted_12m``,
        ``default_date``, ``as_of``, ``latent_health``, ``hidden_risk``,
        ``industry_outlook`` (the mean systematic factor of the seller's industry over the
        twelve months after ``as_of``), ``approved`` (the approval policy's decision) and
        ``observed_default_12m`` (``defaulted_12m`` for approved sellers, missing for the
        declined: what a lender would observe).
    as_of : the extraction time (tz-aware UTC); every record is from before it.
    parameters : the generation parameters, for manifests.
    tier_history : the sellers' membership-tier periods, columns and dtypes as
        :data:`features.records.TIER_HISTORY_FIELDS` after validation (see
        :func:`_tier_history`); empty when not generated.
    """

    sellers: pd.DataFrame
    orders: pd.DataFrame
    truth: pd.DataFrame
    as_of: pd.Timestamp
    parameters: Mapping[str, Any] = field(default_factory=dict)
    tier_history: pd.DataFrame = field(default_factory=lambda: _tier_history_frame(
        np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int8),
        np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), 1))

    @property
    def realised_default_rate(self) -> float:
        """Share of sellers that defaulted within 12 months of ``as_of``."""
        return float(self.truth["defaulted_12m"].mean()) if len(self.truth) else 0.0

    def training_labels(self, *, label_all: bool = False) -> pd.Series:
        """The 12-month default label (1 or 0) by ``seller_id``, as a lender would train on it.

        Parameters
        ----------
        label_all : ``False`` (default): only the sellers the approval policy approved, the
            only ones whose outcome a lender observes; the declined stay in the truth for
            reject inference and evaluation. ``True``: every seller (what only a simulator
            knows).

        Returns
        -------
        pandas.Series
            ``int`` labels indexed by ``seller_id``.
        """
        truth = self.truth.set_index("seller_id")
        if not label_all and "approved" in truth.columns:
            truth = truth.loc[truth["approved"].to_numpy(dtype=bool)]
        return truth["defaulted_12m"].astype(int)


def spring_festival(year: int) -> date:
    """The first day of the Chinese New Year in ``year``.

    Raises
    ------
    ValueError
        For a year outside :data:`SPRING_FESTIVAL`.
    """
    try:
        return SPRING_FESTIVAL[year]
    except KeyError:
        raise ValueError(f"no Spring Festival date for {year}; supported years are "
                         f"{min(SPRING_FESTIVAL)}-{max(SPRING_FESTIVAL)}") from None


def seasonality(days: np.ndarray | pd.DatetimeIndex | Iterable[date], kind: str) -> np.ndarray:
    """Demand multiplier of each calendar day (China local dates) for a seller kind.

    Parameters
    ----------
    days : calendar dates (anything ``numpy.datetime64[D]`` accepts).
    kind : ``"shop"`` or ``"factory"``.

    Returns
    -------
    numpy.ndarray
        One multiplier per day (1 on an ordinary weekday).
    """
    if kind not in SELLER_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SELLER_KINDS)}; got {kind!r}")
    day_array = np.asarray(days, dtype="datetime64[D]")
    return _seasonality(day_array)[SELLER_KINDS.index(kind)]


def _seasonality(days: np.ndarray) -> np.ndarray:
    """Multipliers, shape (2, n_days): row 0 shops, row 1 factories."""
    day_number = days.astype(np.int64)
    weekday = (day_number + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day_of_month = (days - days.astype("datetime64[M]")).astype(np.int64) + 1

    weekly = np.array([[0.97, 0.97, 0.98, 0.99, 1.00, 1.06, 1.04],
                       [1.12, 1.13, 1.12, 1.10, 1.05, 0.78, 0.55]])
    out = weekly[:, weekday].copy()

    def window(m: int, first: int, last: int) -> np.ndarray:
        return (month == m) & (day_of_month >= first) & (day_of_month <= last)

    # Double 11: shops build up through early November and spike on the day; factories
    # stock their customers in the weeks before.
    nov = month == 11
    build_up = window(11, 1, 10)
    out[0, build_up] *= 1.25 + 0.05 * day_of_month[build_up]
    out[0, window(11, 11, 11)] *= 5.0
    out[0, window(11, 12, 13)] *= 1.5
    out[1, (month == 10) & (day_of_month >= 10)] *= 1.3
    out[1, nov & (day_of_month <= 5)] *= 1.3
    out[1, window(11, 11, 11)] *= 1.6
    # 618: a smaller summer festival.
    out[0, window(6, 1, 17)] *= 1.25
    out[0, window(6, 18, 18)] *= 3.0
    out[1, window(5, 10, 31) | window(6, 1, 5)] *= 1.15
    out[1, window(6, 18, 18)] *= 1.3
    # Double 12.
    out[0, window(12, 12, 12)] *= 2.0

    # Spring Festival: piecewise-linear multiplier in days from Chinese New Year.
    cny = np.array([np.datetime64(spring_festival(int(y)), "D") for y in np.unique(years)])
    cny_of_day = cny[np.searchsorted(np.unique(years), years)]
    offset = (days - cny_of_day).astype(np.int64).astype(float)
    shop_knots = ([-30, -20, -8, -3, 0, 7, 12, 20, 30],
                  [1.0, 1.15, 1.1, 0.45, 0.3, 0.35, 0.7, 0.95, 1.0])
    factory_knots = ([-30, -18, -10, -4, 0, 10, 16, 24, 32],
                     [1.0, 1.12, 0.8, 0.3, 0.1, 0.15, 0.5, 0.85, 1.0])
    out[0] *= np.interp(offset, *shop_knots, left=1.0, right=1.0)
    out[1] *= np.interp(offset, *factory_knots, left=1.0, right=1.0)
    return out


def _as_utc(value: pd.Timestamp | datetime | date | str, name: str) -> pd.Timestamp:
    """A UTC timestamp with nanosecond unit; naive values are read in the lender's time zone
    (Asia/Shanghai), exactly as :func:`features.build_features` reads them."""
    try:
        return resolve_as_of(value, DEFAULT_TIMEZONE)
    except ValueError as exc:
        raise ValueError(f"{name} must be a date or timestamp; got {value!r}") from exc


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _fixed_width_ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    """``prefix`` + zero-padded numbers as a pyarrow-backed string Series, built in bulk.

    Ten million Python strings take many seconds; writing the digits straight into an
    Arrow buffer takes about one.
    """
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    length = len(head) + width
    n = len(numbers)
    buffer = np.empty((n, length), dtype=np.uint8)
    buffer[:, : len(head)] = head
    rest = numbers.astype(np.int64 if numbers.max(initial=0) >= 2**31 else np.int32)
    for position in range(length - 1, len(head) - 1, -1):
        rest, digit = np.divmod(rest, 10)
        buffer[:, position] = digit + 48
    offsets = np.arange(0, (n + 1) * length, length, dtype=np.int64)
    array = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets),
                                             pa.py_buffer(buffer.reshape(-1)))
    return pd.Series(pd.array(array, dtype=pd.StringDtype("pyarrow")))


def _strings_from_codes(codes: np.ndarray, labels: Iterable[str]) -> pd.Series:
    """Decode small integer codes into a pyarrow-backed string Series."""
    dictionary = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(list(labels)))
    return pd.Series(pd.array(dictionary.dictionary_decode(), dtype=pd.StringDtype("pyarrow")))


def _utc_series(ns: np.ndarray) -> pd.Series:
    """int64 nanoseconds since the epoch (NaT as int64 min) to ``datetime64[ns, UTC]``."""
    return pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]"), tz="UTC"))


def _id_width(count: int, minimum: int) -> int:
    return max(minimum, len(str(max(count, 1))))


def _check_parameters(n_sellers: int, months: int, seed: int, base_default_rate: float,
                      orders_per_seller_month: float, hidden_risk_share: float,
                      signal_strength: float, shock: DemandShock,
                      systematic: SystematicFactor, approval_rate: float) -> None:
    if isinstance(n_sellers, bool) or not isinstance(n_sellers, (int, np.integer)) \
            or n_sellers < 1:
        raise ValueError(f"n_sellers must be an integer >= 1; got {n_sellers!r}")
    if isinstance(months, bool) or not isinstance(months, (int, np.integer)) or months < 1:
        raise ValueError(f"months must be an integer >= 1; got {months!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    if not 0.0 < base_default_rate < 0.5:
        raise ValueError(f"base_default_rate must be in (0, 0.5); got {base_default_rate!r}")
    if not (orders_per_seller_month > 0 and math.isfinite(orders_per_seller_month)):
        raise ValueError("orders_per_seller_month must be a positive number; got "
                         f"{orders_per_seller_month!r}")
    if not 0.0 <= hidden_risk_share < 1.0:
        raise ValueError(f"hidden_risk_share must be in [0, 1); got {hidden_risk_share!r}")
    if not (signal_strength >= 0 and math.isfinite(signal_strength)):
        raise ValueError(f"signal_strength must be a number >= 0; got {signal_strength!r}")
    if not 0.0 < approval_rate <= 1.0:
        raise ValueError(f"approval_rate must be in (0, 1]; got {approval_rate!r}")
    if not 0.0 <= systematic.persistence < 1.0:
        raise ValueError("systematic persistence must be in [0, 1); got "
                         f"{systematic.persistence!r}")
    if not 0.0 <= systematic.market_share <= 1.0:
        raise ValueError("systematic market_share must be in [0, 1]; got "
                         f"{systematic.market_share!r}")
    for name in ("demand", "quality", "payout", "pd_loading", "shock_pull"):
        value = getattr(systematic, name)
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"systematic {name} must be a number >= 0; got {value!r}")
    if shock.weeks < 0:
        raise ValueError(f"shock weeks must be >= 0; got {shock.weeks!r}")
    if not 0.0 <= shock.depth < 1.0:
        raise ValueError(f"shock depth must be in [0, 1); got {shock.depth!r}")
    if not 0.0 <= shock.lasting_loss <= 1.0:
        raise ValueError(f"shock lasting_loss must be in [0, 1]; got {shock.lasting_loss!r}")
    if shock.industries is not None:
        unknown = sorted(set(shock.industries) - set(INDUSTRIES))
        if unknown:
            raise ValueError(f"unknown shock industries {unknown}; known: {', '.join(INDUSTRIES)}")
    elif not 0 <= shock.n_industries <= len(INDUSTRIES):
        raise ValueError(f"shock n_industries must be in [0, {len(INDUSTRIES)}]; "
                         f"got {shock.n_industries!r}")


@dataclass
class _Sellers:
    """Seller-level parameters, one array entry per seller."""

    kind: np.ndarray
    industry: np.ndarray
    region: np.ndarray
    health: np.ndarray
    hidden: np.ndarray
    registered_ns: np.ndarray
    first_day: np.ndarray       # first trading day index (may be past the window)
    stop_day: np.ndarray        # first day without trading (n_days when still trading)
    stopped: np.ndarray         # stopped trading before as_of
    new_seller: np.ndarray
    log_size: np.ndarray
    growth: np.ndarray          # log GMV change per month
    distress: np.ndarray        # extra log decline per month over the last six months
    volatility: np.ndarray      # sd of monthly log noise
    channel_cum: np.ndarray     # (n, 4) cumulative channel probabilities
    price_level: np.ndarray     # log price level
    cross_border: np.ndarray    # share of cross-border buyers
    cancel_rate: np.ndarray
    refund_rate: np.ndarray
    dispute_rate: np.ndarray
    deterioration: np.ndarray   # log increase of bad-event rates by as_of
    handling_factor: np.ndarray  # seller's own pace on top of the channel's handling time
    late_days: np.ndarray        # mean extra days a seller ships late
    payout_factor: np.ndarray    # how long the marketplace holds the seller's payouts
    concentration: np.ndarray   # buyer power-law exponent (> 1: more concentrated)
    shock_hit: np.ndarray       # in a shocked industry
    tier: np.ndarray


def _draw_sellers(n: int, rng: np.random.Generator, as_of_ns: int, day0_ns: int,
                  n_days: int, shocked: np.ndarray, signal_strength: float) -> _Sellers:
    weights = np.array([ind.weight for ind in _INDUSTRY_TABLE])
    industry = rng.choice(len(INDUSTRIES), size=n, p=weights / weights.sum())
    factory_share = np.array([ind.factory_share for ind in _INDUSTRY_TABLE])
    kind = (rng.random(n) < factory_share[industry]).astype(np.int8)
    region_p = np.array(list(_REGION_WEIGHTS.values()))
    region = rng.choice(len(REGIONS), size=n, p=region_p / region_p.sum())
    health = rng.standard_normal(n)
    hidden = rng.standard_normal(n)

    # Tenure: most sellers joined years ago, a few in the last quarter.
    new_seller = rng.random(n) < 0.03
    tenure_days = np.where(new_seller, rng.uniform(1.0, 90.0, n),
                           np.minimum(90.0 + rng.lognormal(math.log(700.0), 0.8, n), 4000.0))
    registered_ns = as_of_ns - (tenure_days * _DAY_NS).astype(np.int64)
    registered_ns -= registered_ns % 10**6  # millisecond resolution
    onboarding_days = 1.0 + rng.gamma(2.0, 4.0, n)
    first_ns = registered_ns + (onboarding_days * _DAY_NS).astype(np.int64)
    # Day index of the first full China-local day after onboarding.
    first_day = np.ceil((first_ns - day0_ns) / _DAY_NS).astype(np.int64)
    first_day = np.maximum(first_day, 0)

    # Weak sellers sometimes stop trading in the last half year.
    stopped = (rng.random(n) < _sigmoid(-3.6 - 1.4 * health)) & (first_day < n_days - 30)
    stop_day = np.full(n, n_days, dtype=np.int64)
    last_half_year = rng.integers(max(n_days - 180, 0), n_days, size=n)
    stop_day[stopped] = np.maximum(last_half_year[stopped], first_day[stopped] + 14)
    stopped &= stop_day < n_days
    stop_day = np.minimum(stop_day, n_days)

    def noise(scale: float) -> np.ndarray:
        return scale * rng.standard_normal(n)

    log_size = noise(0.9) + 0.25 * health + np.where(kind == _FACTORY, math.log(0.22), 0.0)
    # How strongly health shows in behaviour. Each channel sees health through its own
    # seller-level noise (a seller may be paid out slowly because of its payment provider,
    # or cancel often because of its product, without being weak), so no single channel
    # gives health away while all of them together still show much of it.
    shown = 1.3 * signal_strength * health

    def view(spread: float) -> np.ndarray:
        return 1.3 * signal_strength * (health + spread * rng.standard_normal(n))

    growth = 0.006 + 0.03 * view(_CHANNEL_SPREAD) + noise(0.006)
    distress = 0.10 * np.maximum(0.0, -shown - 0.3) * rng.uniform(0.7, 1.3, n)
    volatility = 0.10 * np.exp(-0.45 * view(_CHANNEL_SPREAD) + noise(0.2)) \
        + np.where(kind == _FACTORY, 0.08, 0.0)
    concentration_gamma = rng.gamma(_CHANNEL_MIX[kind], 1.0)
    channel_p = concentration_gamma / concentration_gamma.sum(axis=1, keepdims=True)
    channel_cum = np.cumsum(channel_p, axis=1)
    channel_cum[:, -1] = 1.0
    price_level = np.log(np.array([ind.price_level for ind in _INDUSTRY_TABLE]))[industry] \
        + noise(0.45) + 0.1 * health
    cross_border = rng.beta(np.where(kind == _FACTORY, 1.2, 0.8),
                            np.where(kind == _FACTORY, 4.0, 8.0))
    cancel_rate = _sigmoid(_logit(0.03) - 0.8 * view(_CHANNEL_SPREAD) + noise(0.3))
    refund_rate = _sigmoid(_logit(0.04) - 0.7 * view(_CHANNEL_SPREAD) + noise(0.3)
                           + np.where(kind == _FACTORY, -0.5, 0.0))
    dispute_rate = _sigmoid(_logit(0.008) - 0.8 * view(_CHANNEL_SPREAD) + noise(0.3))
    deterioration = np.minimum(0.6 * np.maximum(0.0, -shown - 0.4) * rng.uniform(0.7, 1.3, n),
                               1.2)
    handling_factor = np.exp(-0.2 * view(_CHANNEL_SPREAD) + noise(0.15))
    # Sellers short of cash ship late (they wait for stock they cannot pay for yet), and the
    # marketplace's risk control holds their payouts longer.
    late_days = 1.2 * np.exp(-0.8 * view(_CHANNEL_SPREAD) + noise(0.15))
    payout_factor = np.exp(-0.7 * view(_CHANNEL_SPREAD) + noise(0.12))
    concentration = np.where(kind == _FACTORY, 2.2, 1.3) * np.exp(
        -0.35 * view(_CHANNEL_SPREAD) + noise(0.1))

    # Tier from size, tenure and health: the marketplace rewards big, old, reliable sellers.
    tier_score = 0.6 * log_size + 0.5 * np.log(tenure_days) + 0.3 * health + noise(0.5) \
        + np.where(kind == _FACTORY, 0.9, 0.0)
    cut = np.quantile(tier_score, [0.55, 0.80, 0.95]) if n > 1 else np.array([np.inf] * 3)
    tier = np.searchsorted(cut, tier_score).astype(np.int8)

    return _Sellers(
        kind=kind, industry=industry, region=region, health=health, hidden=hidden,
        registered_ns=registered_ns, first_day=first_day, stop_day=stop_day, stopped=stopped,
        new_seller=new_seller, log_size=log_size, growth=growth, distress=distress,
        volatility=volatility, channel_cum=channel_cum, price_level=price_level,
        cross_border=cross_border, cancel_rate=cancel_rate, refund_rate=refund_rate,
        dispute_rate=dispute_rate, deterioration=deterioration,
        handling_factor=handling_factor, late_days=late_days, payout_factor=payout_factor,
        concentration=concentration, shock_hit=shocked[industry], tier=tier,
    )


def _shock_curve(n_days: int, start_day: int, weeks: int, depth: float) -> np.ndarray:
    """Daily demand multiplier of a shocked industry: one week down, flat, three weeks up."""
    days = np.arange(n_days, dtype=float)
    length = 7.0 * weeks
    if weeks == 0 or depth == 0.0:
        return np.ones(n_days)
    knots = [start_day - 0.5, start_day + 7.0, start_day + length, start_day + length + 21.0]
    return 1.0 - depth * np.interp(days, knots, [0.0, 1.0, 1.0, 0.0], left=0.0, right=0.0)


def generate_marketplace(
    n_sellers: int,
    months: int,
    seed: int,
    *,
    as_of: pd.Timestamp | datetime | date | str = DEFAULT_AS_OF,
    base_default_rate: float = 0.05,
    orders_per_seller_month: float = DEFAULT_ORDERS_PER_SELLER_MONTH,
    hidden_risk_share: float = DEFAULT_HIDDEN_RISK_SHARE,
    signal_strength: float = 1.0,
    shock: DemandShock | None = None,
    systematic: SystematicFactor | None = None,
    approval_rate: float = DEFAULT_APPROVAL_RATE,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | bool = False,
) -> Marketplace:
    """Generate sellers, their orders over ``months`` months before ``as_of``, and the truth.

    Parameters
    ----------
    n_sellers : number of sellers, >= 1.
    months : length of the record window in calendar months before ``as_of``, >= 1.
    seed : seed of every random draw; the same seed and parameters give identical frames.
    as_of : extraction time; naive values are read in Asia/Shanghai (as the feature
        builder reads them). Records are strictly before it,
        the truth is about the twelve months after it. Default :data:`DEFAULT_AS_OF`.
    base_default_rate : mean 12-month probability of default, in (0, 0.5).
    orders_per_seller_month : average orders per seller and month over the marketplace
        (default :data:`DEFAULT_ORDERS_PER_SELLER_MONTH`).
    hidden_risk_share : share of the variance of the seller's own default risk that the
        records never show, in [0, 1) (default :data:`DEFAULT_HIDDEN_RISK_SHARE`).
    signal_strength : how strongly the latent health shows in behaviour (growth, volatility,
        order quality, delays, buyer concentration); 1 is the calibrated default, 0 hides
        it entirely (only the stopped-trading and new-seller risks stay visible).
    shock : the demand shock; default :class:`DemandShock` ``()``. ``DemandShock(weeks=0)``
        disables it. A shock also pulls the hit industries' systematic factor down.
    systematic : the industry-by-month systematic factor; default
        :class:`SystematicFactor` ``()``. ``SystematicFactor(pd_loading=0)`` keeps it out
        of the PD; all loadings 0 switch it off.
    approval_rate : share of sellers the approval policy (:func:`_approve`) approves, in
        (0, 1]; the truth's ``approved`` column. 1 approves everyone.
    progress : ``True`` for a progress bar on stderr, or a wrapper like ``tqdm``.

    Returns
    -------
    Marketplace

    Raises
    ------
    ValueError
        For a bad parameter, or a record window outside the years with Spring Festival
        dates (:data:`SPRING_FESTIVAL`).
    """
    shock = DemandShock() if shock is None else shock
    systematic = SystematicFactor() if systematic is None else systematic
    _check_parameters(n_sellers, months, seed, base_default_rate, orders_per_seller_month,
                      hidden_risk_share, signal_strength, shock, systematic, approval_rate)
    as_of_ts = _as_utc(as_of, "as_of")
    window_start = as_of_ts - pd.DateOffset(months=int(months))
    as_of_ns = as_of_ts.value
    start_ns = window_start.value

    # China-local calendar days covering the window; day d starts at day_ns[d] (UTC ns).
    first_date = (window_start + pd.Timedelta(hours=8)).date()
    last_date = (as_of_ts + pd.Timedelta(hours=8)).date()
    for year in (first_date.year, last_date.year):
        spring_festival(year)  # raises for unsupported years
    dates = np.arange(np.datetime64(first_date, "D"), np.datetime64(last_date, "D") + 1)
    n_days = len(dates)
    day_ns = dates.astype("datetime64[ns]").astype(np.int64) - _CHINA_OFFSET_NS
    day0_ns = int(day_ns[0])

    # Sellers, orders, outcomes, the systematic factor and the approval policy each have
    # their own stream, so changing one part leaves the draws of the others unchanged.
    seller_stream, order_stream, outcome_stream, climate_stream, policy_stream = (
        np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(5))

    # The shock: which industries, when.
    if shock.industries is not None:
        shocked_names = tuple(shock.industries)
    else:
        picks = seller_stream.choice(len(INDUSTRIES), size=shock.n_industries, replace=False)
        shocked_names = tuple(INDUSTRIES[i] for i in sorted(picks))
    shocked = np.array([name in shocked_names for name in INDUSTRIES])
    if shock.start is not None:
        shock_start_ns = _as_utc(shock.start, "shock start").value
    else:
        shock_start_ns = as_of_ns - shock.weeks_before_as_of * 7 * _DAY_NS
    shock_start_day = int(np.clip((shock_start_ns - day0_ns) // _DAY_NS, 0, n_days))
    shock_end_day = shock_start_day + 7 * shock.weeks + 21

    sellers = _draw_sellers(n_sellers, seller_stream, as_of_ns, day0_ns, n_days, shocked,
                            signal_strength)
    n = n_sellers

    # Daily multipliers by kind and industry: group = kind * n_industries + industry.
    season = _seasonality(dates)
    shock_daily = np.ones((len(INDUSTRIES), n_days))
    shock_daily[shocked] = _shock_curve(n_days, shock_start_day, shock.weeks, shock.depth)
    group_daily = (season[:, None, :] * shock_daily[None, :, :]).reshape(-1, n_days)
    group = sellers.kind.astype(np.int64) * len(INDUSTRIES) + sellers.industry
    group_cum = np.concatenate([np.zeros((len(group_daily), 1)),
                                np.cumsum(group_daily, axis=1)], axis=1)

    # Monthly blocks of days (calendar months in China local time).
    month_key = dates.astype("datetime64[M]").astype(np.int64)
    block_starts = np.flatnonzero(np.r_[True, month_key[1:] != month_key[:-1]])
    block_ends = np.r_[block_starts[1:], n_days]
    n_blocks = len(block_starts)
    mid_day = (block_starts + block_ends) / 2.0
    months_to_as_of = (mid_day - n_days) / 30.44  # negative: months before as_of

    # Monthly level per seller: growth path, distress, AR(1) noise, ramp-up, lasting shock.
    noise = np.empty((n, n_blocks))
    previous = seller_stream.standard_normal(n)
    for b in range(n_blocks):
        previous = 0.5 * previous + math.sqrt(0.75) * seller_stream.standard_normal(n)
        noise[:, b] = previous
    log_level = (sellers.log_size[:, None]
                 + sellers.growth[:, None] * months_to_as_of[None, :]
                 - sellers.distress[:, None] * np.maximum(0.0, months_to_as_of + 6.0)[None, :]
                 + sellers.volatility[:, None] * noise)
    level = np.exp(log_level)
    ramp = 1.0 - np.exp(-np.maximum(0.0, mid_day[None, :] - sellers.first_day[:, None]) / 25.0)
    level *= ramp
    weakness = _sigmoid(-1.5 * sellers.health)
    lasting = 1.0 - shock.depth * shock.lasting_loss * weakness * sellers.shock_hit
    level *= np.where(mid_day[None, :] > shock_end_day, lasting[:, None], 1.0)

    # The systematic factor: the record months, then the twelve months after as_of.
    shock_loss = np.stack([(1.0 - shock_daily[:, lo_day:hi_day]).mean(axis=1)
                           for lo_day, hi_day in zip(block_starts, block_ends, strict=True)],
                          axis=1)
    climate = _climate(systematic, shock_loss, climate_stream)
    seller_climate = climate[sellers.industry]  # (n, n_blocks + 12)
    level *= np.exp(systematic.demand * seller_climate[:, :n_blocks])

    # Expected orders per seller and block, to scale to the requested density.
    lo = np.clip(sellers.first_day[:, None], block_starts[None, :], block_ends[None, :])
    hi = np.clip(sellers.stop_day[:, None], block_starts[None, :], block_ends[None, :])
    hi = np.maximum(hi, lo)
    day_weight = group_cum[group[:, None], hi] - group_cum[group[:, None], lo]
    expected = level * day_weight
    target = orders_per_seller_month * n * months
    scale = target / max(expected.sum(), 1e-12)
    level *= scale
    expected_total = expected.sum(axis=1) * scale

    # Buyer pools: shops many buyers, factories few; each seller's buyers are its own.
    pool = np.where(sellers.kind == _FACTORY,
                    3 + order_stream.poisson(12.0 * np.exp(0.25 * sellers.log_size)),
                    10 + order_stream.poisson(0.55 * expected_total + 1.0))
    pool = np.maximum(pool, 1).astype(np.int64)
    pool_offset = np.concatenate([[0], np.cumsum(pool)[:-1]])

    chunks: list[dict[str, np.ndarray]] = []
    blocks: Iterable[int] = range(n_blocks)
    if progress is True:
        from tqdm import tqdm

        blocks = tqdm(blocks, desc="synth: months", unit="month", leave=False)
    elif callable(progress):
        blocks = progress(blocks)
    hour_cum = np.cumsum(_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum(axis=1, keepdims=True), axis=1)
    for b in blocks:
        chunk = _orders_of_block(
            int(block_starts[b]), int(block_ends[b]), level[:, b], group_daily, group,
            sellers, day_ns, order_stream, hour_cum, pool, pool_offset, as_of_ns, start_ns,
            n_days, seller_climate[:, b], systematic)
        chunks.append(chunk)

    orders = _orders_frame(chunks, n, pool.sum())
    seller_frame = _sellers_frame(sellers, n, as_of_ns)
    outlook = seller_climate[:, n_blocks:].mean(axis=1)
    truth = _truth(sellers, seller_frame["seller_id"], base_default_rate, hidden_risk_share,
                   as_of_ts, outcome_stream, outlook, systematic.pd_loading)
    order_seller = np.concatenate([chunk["seller"] for chunk in chunks]).astype(np.int64)
    truth["approved"] = _approve(orders, order_seller, sellers, n, as_of_ns, approval_rate,
                                 policy_stream)
    truth["observed_default_12m"] = truth["defaulted_12m"].astype("boolean").where(
        truth["approved"])
    parameters: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "n_sellers": int(n_sellers),
        "months": int(months),
        "seed": int(seed),
        "as_of": as_of_ts.isoformat(),
        "window_start": window_start.isoformat(),
        "base_default_rate": float(base_default_rate),
        "orders_per_seller_month": float(orders_per_seller_month),
        "hidden_risk_share": float(hidden_risk_share),
        "signal_strength": float(signal_strength),
        "shock": {
            "start": pd.Timestamp(day0_ns + shock_start_day * _DAY_NS, tz="UTC").isoformat()
            if shock.weeks else None,
            "weeks": int(shock.weeks),
            "depth": float(shock.depth),
            "industries": list(shocked_names) if shock.weeks else [],
            "lasting_loss": float(shock.lasting_loss),
        },
        "systematic": {name: float(getattr(systematic, name))
                       for name in SystematicFactor.__dataclass_fields__},
        "industry_outlook": {name: float(climate[i, n_blocks:].mean())
                             for i, name in enumerate(INDUSTRIES)},
        "approval_rate": float(approval_rate),
        "approved_share": float(truth["approved"].mean()),
    }
    return Marketplace(sellers=seller_frame, orders=orders, truth=truth, as_of=as_of_ts,
                       parameters=parameters,
                       tier_history=_tier_history(sellers, n, as_of_ns))


def _orders_of_block(first: int, end: int, level: np.ndarray, group_daily: np.ndarray,
                     group: np.ndarray, sellers: _Sellers, day_ns: np.ndarray,
                     rng: np.random.Generator, hour_cum: np.ndarray, pool: np.ndarray,
                     pool_offset: np.ndarray, as_of_ns: int, start_ns: int,
                     n_days: int, climate: np.ndarray,
                     systematic: SystematicFactor) -> dict[str, np.ndarray]:
    """Draw the orders of one month, vectorised over sellers and orders."""
    days = np.arange(first, end)
    active = (days[None, :] >= sellers.first_day[:, None]) \
        & (days[None, :] < sellers.stop_day[:, None])
    intensity = level[:, None] * group_daily[:, first:end][group] * active
    counts = rng.poisson(intensity)
    seller_of_cell, day_of_cell = np.nonzero(counts)
    per_cell = counts[seller_of_cell, day_of_cell]
    seller = np.repeat(seller_of_cell, per_cell).astype(np.int64)
    day = np.repeat(day_of_cell + first, per_cell)
    m = len(seller)
    kind = sellers.kind[seller]

    # Placement time: an hour of the China-local day, by kind, then a second in it.
    hour = (rng.random(m)[:, None] > hour_cum[kind]).sum(axis=1)
    second = rng.integers(0, 3600, m)
    created = day_ns[day] + (8 + hour) * _HOUR_NS + second * 10**9 \
        + rng.integers(0, 1000, m) * 10**6
    keep = (created >= start_ns) & (created < as_of_ns)
    if not keep.all():
        seller, day, kind, created = seller[keep], day[keep], kind[keep], created[keep]
        m = len(seller)
    order = np.argsort(created, kind="stable")
    seller, day, kind, created = seller[order], day[order], kind[order], created[order]

    channel = (rng.random(m)[:, None] > sellers.channel_cum[seller]).sum(axis=1)
    channel = np.minimum(channel, 3).astype(np.int8)
    log_amount = (np.log(_MEDIAN_AMOUNT[kind, channel]) + sellers.price_level[seller]
                  + 0.75 * rng.standard_normal(m))
    amount = np.maximum(np.round(np.exp(log_amount), 2), 1.0)

    # Buyers: a power law over the seller's pool; exponent > 1 concentrates on the first.
    local = np.floor(pool[seller] * rng.random(m) ** sellers.concentration[seller])
    buyer = pool_offset[seller] + np.minimum(local.astype(np.int64), pool[seller] - 1)
    # Country is a property of the buyer (a fixed hash of its number), so it stays put.
    buyer_hash = (buyer * 0.6180339887498949) % 1.0
    abroad = buyer_hash < sellers.cross_border[seller]
    country_hash = (buyer * 0.7548776662466927) % 1.0
    cross_cum = np.cumsum(_CROSS_BORDER_WEIGHTS / _CROSS_BORDER_WEIGHTS.sum())
    country = np.where(abroad, 1 + np.minimum(np.searchsorted(cross_cum, country_hash),
                                              len(cross_cum) - 1), 0).astype(np.int8)

    # Bad events get more frequent for weak sellers over the last six months.
    days_before = (as_of_ns - created) / _DAY_NS
    recent = np.clip((180.0 - days_before) / 180.0, 0.0, 1.0)
    # ... and in a month of bad climate in the seller's industry.
    worsening = np.exp(sellers.deterioration[seller] * recent
                       - systematic.quality * climate[seller])
    cancel = rng.random(m) < np.minimum(sellers.cancel_rate[seller] * worsening, 0.9)
    cancel_at = created + (rng.exponential(0.8, m) * _DAY_NS).astype(np.int64)

    handling = np.minimum(rng.gamma(2.0, 0.5, m) * _HANDLING_DAYS[kind, channel]
                          * sellers.handling_factor[seller]
                          + rng.exponential(1.0, m) * sellers.late_days[seller] * worsening,
                          45.0)
    shipped_at = created + (handling * _DAY_NS).astype(np.int64) + 60 * 10**9
    transit = np.where(country > 0, rng.gamma(4.0, 4.0, m), rng.gamma(3.0, 1.5, m))
    delivered_at = shipped_at + (np.minimum(transit, 40.0) * _DAY_NS).astype(np.int64)
    dispute = ~cancel & (rng.random(m) < np.minimum(sellers.dispute_rate[seller] * worsening,
                                                    0.5))
    dispute_at = shipped_at + (rng.uniform(1.0, 15.0, m) * _DAY_NS).astype(np.int64)
    payout_lag = np.where(kind == _FACTORY, 2.0 + rng.gamma(4.0, 2.5, m),
                          1.0 + rng.gamma(4.0, 0.6, m)) * sellers.payout_factor[seller] \
        * np.exp(-systematic.payout * climate[seller])
    paid_at = delivered_at + (np.minimum(payout_lag, 45.0) * _DAY_NS).astype(np.int64)
    # A dispute opened before the payout holds it for two weeks from the dispute.
    held = dispute & (dispute_at < paid_at)
    paid_at = np.where(held, np.maximum(paid_at, dispute_at + 14 * _DAY_NS), paid_at)

    refund = ~cancel & (rng.random(m) < np.minimum(
        sellers.refund_rate[seller] * worsening + np.where(dispute, 0.5, 0.0), 0.95))
    refund_at = np.where(dispute, dispute_at + 2 * _DAY_NS,
                         shipped_at + (rng.gamma(2.0, 4.0, m) * _DAY_NS).astype(np.int64))
    partial = rng.uniform(0.1, 0.9, m)
    refund_share = np.where(rng.random(m) < 0.6, 1.0, partial)
    refund_amount = np.minimum(np.maximum(np.round(amount * refund_share, 2), 0.01), amount)

    # Event times at millisecond resolution, like the marketplace's own logs.
    shipped_at, paid_at, refund_at, cancel_at, dispute_at = (
        stamp - stamp % 10**6 for stamp in (shipped_at, paid_at, refund_at, cancel_at,
                                            dispute_at))

    # What the marketplace knew at as_of.
    nat = np.iinfo(np.int64).min
    cancelled = cancel & (cancel_at < as_of_ns)
    shipped = ~cancel & (shipped_at < as_of_ns)
    paid = shipped & (paid_at < as_of_ns)
    status = np.where(cancelled, 3, np.where(paid, 2, np.where(shipped, 1, 0))).astype(np.int8)
    refunded = refund & shipped & (refund_at < as_of_ns)
    disputed = dispute & shipped & (dispute_at < as_of_ns)
    return {
        "seller": seller.astype(np.int32),
        "buyer": buyer,
        "created_at": created,
        "amount": amount,
        "status": status,
        "refunded_amount": np.where(refunded, refund_amount, 0.0),
        "refunded_at": np.where(refunded, refund_at, nat),
        "disputed": disputed,
        "channel": channel,
        "country": country,
        "shipped_at": np.where(shipped, shipped_at, nat),
        "paid_out_at": np.where(paid, paid_at, nat),
        "cancelled_at": np.where(cancelled, cancel_at, nat),
        "disputed_at": np.where(disputed, dispute_at, nat),
    }


def _orders_frame(chunks: list[dict[str, np.ndarray]], n_sellers: int,
                  n_buyers: int) -> pd.DataFrame:
    """Assemble the order columns into the canonical frame of ORDER_FIELDS."""
    columns = {key: np.concatenate([chunk[key] for chunk in chunks]) for key in chunks[0]}
    count = len(columns["created_at"])
    seller_width = _id_width(n_sellers, 6)
    frame = pd.DataFrame({
        "order_id": _fixed_width_ids("O", np.arange(1, count + 1), _id_width(count, 8)),
        "seller_id": _fixed_width_ids("S", columns["seller"].astype(np.int64) + 1,
                                      seller_width),
        "buyer_id": _fixed_width_ids("B", columns["buyer"] + 1, _id_width(n_buyers, 8)),
        "created_at": _utc_series(columns["created_at"]),
        "amount": columns["amount"],
        "currency": _strings_from_codes(np.zeros(count, dtype=np.int8), ["CNY"]),
        "status": pd.Categorical.from_codes(columns["status"], categories=pd.Index(ORDER_STATUSES)),
        "refunded_amount": columns["refunded_amount"],
        "refunded_at": _utc_series(columns["refunded_at"]),
        "disputed": columns["disputed"],
        "channel": pd.Categorical.from_codes(columns["channel"],
                                             categories=pd.Index(ORDER_CHANNELS)),
        "buyer_country": _strings_from_codes(columns["country"], _COUNTRIES),
        "shipped_at": _utc_series(columns["shipped_at"]),
        "paid_out_at": _utc_series(columns["paid_out_at"]),
        "cancelled_at": _utc_series(columns["cancelled_at"]),
        "disputed_at": _utc_series(columns["disputed_at"]),
    })
    return frame[[spec.name for spec in ORDER_FIELDS]]


def _sellers_frame(sellers: _Sellers, n: int, as_of_ns: int) -> pd.DataFrame:
    frame = pd.DataFrame({
        "seller_id": _fixed_width_ids("S", np.arange(1, n + 1), _id_width(n, 6)),
        "kind": _strings_from_codes(sellers.kind, SELLER_KINDS),
        "registered_at": _utc_series(sellers.registered_ns),
        "region": _strings_from_codes(sellers.region.astype(np.int8), REGIONS),
        "industry": _strings_from_codes(sellers.industry.astype(np.int8), INDUSTRIES),
        "membership_tier": _strings_from_codes(sellers.tier, MEMBERSHIP_TIERS),
        # the tier as the marketplace showed it at extraction (the as-of date)
        "membership_tier_at": _utc_series(np.full(n, as_of_ns, dtype=np.int64)),
    })
    return frame[[spec.name for spec in SELLER_FIELDS]]


def _tier_history(sellers: _Sellers, n: int, as_of_ns: int) -> pd.DataFrame:
    """The tier periods behind each seller's tier at the as-of date (no random draw).

    A seller joins at ``basic`` and climbs one tier at a time to the tier it holds at the
    as-of date, at evenly spaced moments of its tenure: a ``gold`` seller (tier 2) was
    ``basic`` for its first third, ``silver`` for the second, ``gold`` since. The last
    period has no end; the earlier ones end where the next begins.
    """
    final = sellers.tier.astype(np.int64)
    periods = final + 1
    seller = np.repeat(np.arange(n, dtype=np.int64), periods)
    first_of_seller = np.cumsum(periods) - periods
    tier = np.arange(len(seller), dtype=np.int64) - np.repeat(first_of_seller, periods)
    tenure = as_of_ns - sellers.registered_ns[seller]
    start = sellers.registered_ns[seller] + tenure * tier // periods[seller]
    start -= start % 10**6  # millisecond resolution, like every time of the records
    last = tier == final[seller]
    end = np.where(last, np.iinfo(np.int64).min, np.r_[start[1:], 0])
    return _tier_history_frame(seller, tier.astype(np.int8), start, end, n)


def _tier_history_frame(seller: np.ndarray, tier: np.ndarray, start: np.ndarray,
                        end: np.ndarray, n: int) -> pd.DataFrame:
    frame = pd.DataFrame({
        "seller_id": _fixed_width_ids("S", seller + 1, _id_width(n, 6)),
        "membership_tier": _strings_from_codes(tier, MEMBERSHIP_TIERS),
        "valid_from": _utc_series(start),
        "valid_to": _utc_series(end),
    })
    return frame[[spec.name for spec in TIER_HISTORY_FIELDS]]


def _climate(systematic: SystematicFactor, shock_loss: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """The systematic factor, shape (industries, record months + 12).

    ``shock_loss[industry, month]`` is the mean share of demand a shock took that month; it
    pulls the factor down, and the AR(1) carries the pull into the following months.
    """
    n_industries, n_record = shock_loss.shape
    n_months = n_record + _OUTCOME_MONTHS
    phi = systematic.persistence
    market = rng.standard_normal(n_months + 1)
    own = rng.standard_normal((n_industries, n_months + 1))
    shocks = (math.sqrt(systematic.market_share) * market[None, :]
              + math.sqrt(1.0 - systematic.market_share) * own)
    pull = np.zeros((n_industries, n_months))
    pull[:, :n_record] = systematic.shock_pull * shock_loss
    climate = np.empty((n_industries, n_months))
    previous = shocks[:, 0]  # stationary start
    for month in range(n_months):
        previous = phi * previous + math.sqrt(1.0 - phi**2) * shocks[:, month + 1] \
            - pull[:, month]
        climate[:, month] = previous
    return climate


def _approve(orders: pd.DataFrame, seller: np.ndarray, sellers: _Sellers, n: int,
             as_of_ns: int, approval_rate: float, rng: np.random.Generator) -> np.ndarray:
    """The lender's approval policy at as_of: a points scorecard on the records plus a noisy
    bureau score; the best ``approval_rate`` of sellers are approved.

    Points (each 1): tenure of at least 6 months; at least 24 months; at least 3 orders in
    the last 90 days; at least 10; GMV of the last 90 days at least 80% of the 90 days
    before; cancelled share of the last 365 days' orders under 8%; disputed share under 2%.
    The bureau score (standard normal) reads the owner's hidden risk and the seller's health
    only faintly: ``-(0.4 * hidden + 0.2 * health) + 0.9 * noise``. Score = points + bureau.
    """
    if approval_rate >= 1.0:
        return np.ones(n, dtype=bool)
    created = orders["created_at"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    age_days = (as_of_ns - created) / _DAY_NS
    amount = orders["amount"].to_numpy(dtype=float)
    year = age_days < 365
    last90 = age_days < 90
    before90 = (age_days >= 90) & (age_days < 180)
    cancelled = (orders["status"] == "cancelled").to_numpy(dtype=bool)
    disputed = orders["disputed"].to_numpy(dtype=bool)

    def per_seller(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(seller[mask], weights=None if weights is None else weights[mask],
                           minlength=n)

    orders_year = per_seller(year)
    orders_90 = per_seller(last90)
    gmv_90 = per_seller(last90, amount)
    gmv_before = per_seller(before90, amount)
    with np.errstate(invalid="ignore", divide="ignore"):
        cancel_share = np.where(orders_year > 0, per_seller(year & cancelled) / orders_year,
                                1.0)
        dispute_share = np.where(orders_year > 0, per_seller(year & disputed) / orders_year,
                                 1.0)
    tenure_months = (as_of_ns - sellers.registered_ns) / _DAY_NS / 30.44
    points = ((tenure_months >= 6).astype(float) + (tenure_months >= 24)
              + (orders_90 >= 3) + (orders_90 >= 10)
              + ((gmv_90 >= 0.8 * gmv_before) & (gmv_90 > 0))
              + (cancel_share < 0.08) + (dispute_share < 0.02))
    bureau = -(0.4 * sellers.hidden + 0.2 * sellers.health) + 0.9 * rng.standard_normal(n)
    score = points + bureau
    cut = np.quantile(score, 1.0 - approval_rate) if n > 1 else -np.inf
    return score >= cut


def _truth(sellers: _Sellers, seller_id: pd.Series, base_default_rate: float,
           hidden_risk_share: float, as_of: pd.Timestamp, rng: np.random.Generator,
           outlook: np.ndarray, pd_loading: float) -> pd.DataFrame:
    """True PD from health, hidden risk, the visible new/stopped flags and the industry's
    climate over the twelve months after as_of; then outcomes."""
    risk = (math.sqrt(1.0 - hidden_risk_share) * -sellers.health
            + math.sqrt(hidden_risk_share) * sellers.hidden
            + 0.4 * sellers.new_seller + 0.8 * sellers.stopped
            - pd_loading * outlook)
    slope = _PD_SLOPE
    low, high = -20.0, 20.0
    for _ in range(80):  # bisection: mean PD equals the base rate
        mid = (low + high) / 2.0
        if _sigmoid(mid + slope * risk).mean() < base_default_rate:
            low = mid
        else:
            high = mid
    true_pd = _sigmoid((low + high) / 2.0 + slope * risk)
    n = len(true_pd)
    defaulted = rng.random(n) < true_pd
    horizon_days = ((as_of + pd.DateOffset(months=12)) - as_of).days
    offset_days = rng.integers(1, horizon_days + 1, n)
    start = as_of.normalize().value
    default_ns = np.where(defaulted, start + offset_days * _DAY_NS, np.iinfo(np.int64).min)
    return pd.DataFrame({
        "seller_id": seller_id,
        "kind": _strings_from_codes(sellers.kind, SELLER_KINDS),
        "true_pd": true_pd,
        "defaulted_12m": defaulted,
        "default_date": _utc_series(default_ns),
        "as_of": _utc_series(np.full(n, as_of.value, dtype=np.int64)),
        "latent_health": sellers.health,
        "hidden_risk": sellers.hidden,
        "industry_outlook": outlook,
    })


@dataclass(frozen=True)
class WrittenMarketplace:
    """What :func:`write_marketplace` wrote: the manifest and the path of each file."""

    manifest: dict[str, Any]
    paths: dict[str, Path]


def write_marketplace(market: Marketplace, out_dir: str | Path,
                      file_format: Literal["parquet", "csv"] = "parquet"
                      ) -> WrittenMarketplace:
    """Write sellers, orders, tier history, truth and ``manifest.json`` into ``out_dir``.

    Parameters
    ----------
    market : the marketplace to write.
    out_dir : target folder; created with its parents when missing.
    file_format : ``"parquet"`` (default) or ``"csv"``; CSV timestamps are ISO 8601 with
        offset, so :func:`features.records.load_orders` reads them back.

    Returns
    -------
    WrittenMarketplace
        The manifest that was written (file names and row counts, seed, as_of, realised
        default rate, generator version and parameters) and the path of every file.
    """
    if file_format not in ("parquet", "csv"):
        raise ValueError(f"file_format must be 'parquet' or 'csv'; got {file_format!r}")
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}
    for name, frame in (("sellers", market.sellers), ("orders", market.orders),
                        ("tier_history", market.tier_history), ("truth", market.truth)):
        path = directory / f"{name}.{file_format}"
        if file_format == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
        files[name] = {"file": path.name, "rows": len(frame)}
        paths[name] = path
    manifest: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "seed": market.parameters.get("seed"),
        "as_of": market.as_of.isoformat(),
        "format": file_format,
        "counts": {name: info["rows"] for name, info in files.items()},
        "realised_default_rate": market.realised_default_rate,
        "files": files,
        "parameters": dict(market.parameters),
    }
    paths["manifest"] = directory / "manifest.json"
    paths["manifest"].write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    return WrittenMarketplace(manifest=manifest, paths=paths)
