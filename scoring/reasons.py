"""Reasons a borrower can act on: one statement per factor, against the approval cut-off.

A reason says *which* of the seller's figures kept the score below (or lifted it above) a
typical applicant approved at the cut-off, gives the seller's value and that applicant's,
in English and Chinese: "Late shipments: 18 % of orders in the last 12 months (typical
approved applicant at the cut-off: 6 %)." (Reg B / ECOA "specific principal reasons"
style: no checklist of a whole family, no points in the sentence.)

How a reason is chosen (docs/scoring.md, "Reasons", has the full argument)
---------------------------------------------------------------------------
1. **Contributions** are the exact TreeSHAP values of the model (log-odds, relative to the
   model's expected raw score); nothing here changes them.
2. **The comparison point** is a :class:`CutoffReference`: the ``band_rows`` applicants of a
   reference sample (the model version's hold-out sample when the scorer is loaded from the
   registry; computed when the version was registered and stored with it, see
   :mod:`models.cutoff`) that the policy approves (calibrated PD at most
   ``approval_cutoff_pd``) with the highest PDs: the approved applicants just at the
   cut-off. It keeps their mean contribution per feature and their typical value (median;
   most common level).
3. **Difference to the cut-off**: a feature's points against the cut-off are
   ``-(contribution - mean contribution at the cut-off) * a * pdo / ln 2``, ``a`` being
   the slope of the calibrated log-odds the points are scaled on (:mod:`scoring.config`).
   They add up exactly to ``points - reference points`` (the gap to the typical applicant
   at the cut-off), as the SHAP values add up to the score.
4. **Factors**: every feature is a factor of its own, except the *adjustment* features
   (:data:`ADJUSTS`: the channel mix and the seller kind) that say nothing about risk by
   themselves but set what the model expects of another figure (custom orders ship
   slower, cross-border orders pay out later); their points are folded into the factor
   they adjust, so they are never a reason of their own.
5. **Selection**: adverse reasons are factors below the cut-off applicant by at least
   ``max(min_reason_points, min_gap_share * gap)`` points (``gap``: how far the applicant
   is below the cut-off applicant, 0 when above) whose value, where the registry knows the
   feature's risk direction, is on the risky side of the cut-off applicant's by more than
   :data:`SAME_VALUE`; strongest first, at most ``max_adverse_reasons``; positive factors
   likewise above it.

Without a reference sample the comparison falls back to the model's expected raw score
(the average training applicant, contributions as they are) and the sentence says so.

Reason codes stay the families' (:data:`REASON_CODES`, written here so that renaming a
registry family does not change a stored code); ``feature`` names the factor.

| code | family |
|---|---|
| ``R-SCALE`` | trading scale |
| ``R-GROWTH`` | sales growth |
| ``R-STABILITY`` | sales stability |
| ``R-QUALITY`` | order quality |
| ``R-CUSTOMERS`` | customer base |
| ``R-CHANNEL`` | sales channels |
| ``R-TENURE`` | marketplace tenure |
| ``R-CASH-CYCLE`` | cash cycle |
| ``R-REPAYMENT`` | repayment history |
| ``R-PROFILE`` | seller profile |
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from features.registry import FAMILIES, get_feature, risk_direction
from models.cutoff import CutoffReference

__all__ = [
    "ADJUSTS",
    "REASON_CODES",
    "SAME_VALUE",
    "STATEMENTS",
    "CutoffReference",
    "Driver",
    "Factor",
    "Reason",
    "ReasonGroup",
    "ReasonMaker",
    "feature_statement",
    "member_layers",
    "ordered_sums",
    "ordered_sums_of_columns",
    "reason_group_for",
]

Value = float | str | None
_T = TypeVar("_T")

#: Stable reason code of each registry family.
REASON_CODES: dict[str, str] = {
    "scale": "R-SCALE",
    "growth": "R-GROWTH",
    "stability": "R-STABILITY",
    "quality": "R-QUALITY",
    "customers": "R-CUSTOMERS",
    "channel": "R-CHANNEL",
    "tenure": "R-TENURE",
    "cash_cycle": "R-CASH-CYCLE",
    "repayment": "R-REPAYMENT",
    "profile": "R-PROFILE",
}

#: Adjustment features and the factors they adjust, in order of preference (the first one
#: the model has). The channel decides the usual handling time (custom orders are made to
#: order, samples and dropship orders have their own pace), buyers abroad mean longer
#: transit and so later payouts, and factories are paid out later than shops
#: (docs/synthetic-marketplace.md, "Order life cycle"). None of them is a risk by itself.
ADJUSTS: dict[str, tuple[str, ...]] = {
    "custom_share_365d": ("mean_shipping_days_365d", "late_shipment_rate_365d"),
    "sample_share_365d": ("mean_shipping_days_365d", "late_shipment_rate_365d"),
    "dropship_share_365d": ("late_shipment_rate_365d", "mean_shipping_days_365d"),
    "cross_border_share_365d": ("median_payout_delay_days_365d", "p90_payout_delay_days_365d",
                                "mean_shipping_days_365d"),
    "seller_kind": ("median_payout_delay_days_365d", "p90_payout_delay_days_365d"),
}

# How a value is written: share as a percentage, change as a signed percentage, ...
_Format = Literal["pct", "change", "pp", "money", "money_month", "days", "months", "count",
                  "number", "level"]

#: One statement per feature: (English, Chinese, format); ``{v}`` is the value.
STATEMENTS: dict[str, tuple[str, str, _Format]] = {
    # scale
    "gmv_30d": ("sales in the last 30 days: {v}", "近30天销售额：{v}", "money"),
    "gmv_90d": ("sales in the last 90 days: {v}", "近90天销售额：{v}", "money"),
    "gmv_180d": ("sales in the last 180 days: {v}", "近180天销售额：{v}", "money"),
    "gmv_365d": ("sales in the last 12 months: {v}", "近12个月销售额：{v}", "money"),
    "gmv_all_time": ("sales since joining the marketplace: {v}", "入驻以来累计销售额：{v}",
                     "money"),
    "net_gmv_365d": ("sales net of cancellations and refunds in the last 12 months: {v}",
                     "近12个月扣除取消和退款后的销售额：{v}", "money"),
    "order_count_30d": ("orders in the last 30 days: {v}", "近30天订单数：{v}", "count"),
    "order_count_90d": ("orders in the last 90 days: {v}", "近90天订单数：{v}", "count"),
    "order_count_180d": ("orders in the last 180 days: {v}", "近180天订单数：{v}", "count"),
    "order_count_365d": ("orders in the last 12 months: {v}", "近12个月订单数：{v}", "count"),
    "order_count_all_time": ("orders since joining the marketplace: {v}", "入驻以来订单数：{v}",
                             "count"),
    "avg_order_value_90d": ("average order value in the last 90 days: {v}",
                            "近90天平均订单金额：{v}", "money"),
    "avg_order_value_365d": ("average order value in the last 12 months: {v}",
                             "近12个月平均订单金额：{v}", "money"),
    # growth
    "gmv_growth_90d": ("sales in the last 90 days against the 90 days before: {v}",
                       "近90天销售额较前90天：{v}", "change"),
    "order_growth_90d": ("orders in the last 90 days against the 90 days before: {v}",
                         "近90天订单数较前90天：{v}", "change"),
    "gmv_growth_yoy_90d": ("sales in the last 90 days against the same 90 days a year "
                           "earlier: {v}", "近90天销售额同比：{v}", "change"),
    "gmv_growth_yoy_365d": ("sales in the last 12 months against the 12 months before: {v}",
                            "近12个月销售额较前12个月：{v}", "change"),
    "gmv_trend_slope_12m": ("trend of monthly sales over the last 12 months: {v}",
                            "近12个月月销售额趋势：{v}", "money_month"),
    "gmv_trend_slope_relative_12m": ("trend of monthly sales over the last 12 months: {v} a "
                                     "month", "近12个月月销售额趋势：每月{v}", "change"),
    # stability
    "gmv_monthly_cv_12m": ("swings in monthly sales over the last 12 months (coefficient of "
                           "variation): {v}", "近12个月月销售额波动（变异系数）：{v}", "number"),
    "active_month_share_12m": ("months with orders in the last 12 months: {v}",
                               "近12个月有订单的月份占比：{v}", "pct"),
    "active_days_90d": ("days with orders in the last 90 days: {v}", "近90天有订单的天数：{v}",
                        "count"),
    "longest_gap_days_365d": ("longest stretch without an order in the last 12 months: {v}",
                              "近12个月最长无订单间隔：{v}", "days"),
    "days_since_last_order": ("time since the last order: {v}", "距最近一笔订单：{v}", "days"),
    # quality
    "refund_rate_90d": ("refunds: {v} of orders in the last 90 days", "退款：近90天订单的{v}",
                        "pct"),
    "refund_rate_365d": ("refunds: {v} of orders in the last 12 months",
                         "退款：近12个月订单的{v}", "pct"),
    "refund_amount_rate_365d": ("amount refunded: {v} of sales in the last 12 months",
                                "退款金额：近12个月销售额的{v}", "pct"),
    "cancellation_rate_365d": ("cancellations: {v} of orders in the last 12 months",
                               "取消订单：近12个月订单的{v}", "pct"),
    "dispute_rate_365d": ("disputes: {v} of orders in the last 12 months",
                          "纠纷：近12个月订单的{v}", "pct"),
    "late_shipment_rate_365d": ("late shipments: {v} of orders in the last 12 months",
                                "延迟发货：近12个月订单的{v}", "pct"),
    "mean_shipping_days_365d": ("average time to ship an order in the last 12 months: {v}",
                                "近12个月平均发货时长：{v}", "days"),
    # customers
    "distinct_buyers_90d": ("buyers in the last 90 days: {v}", "近90天买家数：{v}", "count"),
    "distinct_buyers_365d": ("buyers in the last 12 months: {v}", "近12个月买家数：{v}",
                             "count"),
    "orders_per_buyer_365d": ("orders per buyer in the last 12 months: {v}",
                              "近12个月每位买家的订单数：{v}", "number"),
    "repeat_buyer_share_365d": ("repeat buyers: {v} of buyers in the last 12 months",
                                "复购买家：近12个月买家的{v}", "pct"),
    "new_buyer_share_90d": ("new buyers: {v} of buyers in the last 90 days",
                            "新买家：近90天买家的{v}", "pct"),
    "top_buyer_share_365d": ("largest buyer: {v} of sales in the last 12 months",
                             "最大买家：近12个月销售额的{v}", "pct"),
    "buyer_hhi_365d": ("concentration of sales on few buyers in the last 12 months (HHI, 0 "
                       "to 1): {v}", "近12个月买家集中度（HHI，0至1）：{v}", "number"),
    # channel (adjustment features; a statement only when no factor they adjust is modelled)
    "dropship_share_365d": ("dropship orders: {v} of orders in the last 12 months",
                            "代发订单：近12个月订单的{v}", "pct"),
    "custom_share_365d": ("custom orders: {v} of orders in the last 12 months",
                          "定制订单：近12个月订单的{v}", "pct"),
    "sample_share_365d": ("sample orders: {v} of orders in the last 12 months",
                          "样品订单：近12个月订单的{v}", "pct"),
    "cross_border_share_365d": ("orders from buyers abroad: {v} of orders in the last 12 "
                                "months", "境外买家订单：近12个月订单的{v}", "pct"),
    # tenure
    "tenure_days": ("time on the marketplace: {v}", "在平台经营时长：{v}", "days"),
    "days_since_first_order": ("time since the first order: {v}", "距第一笔订单：{v}", "days"),
    # cash cycle
    "median_payout_delay_days_365d": ("median time from order to payout in the last 12 "
                                      "months: {v}", "近12个月从下单到回款的中位时长：{v}",
                                      "days"),
    "p90_payout_delay_days_365d": ("time from order to payout of the slowest tenth of orders "
                                   "in the last 12 months: {v}",
                                   "近12个月回款最慢的一成订单从下单到回款的时长：{v}", "days"),
    "paid_out_share_365d": ("orders paid out: {v} of orders in the last 12 months",
                            "已回款订单：近12个月订单的{v}", "pct"),
    # profile
    "seller_kind": ("seller kind: {v}", "商户类型：{v}", "level"),
    "membership_tier": ("membership tier: {v}", "会员等级：{v}", "level"),
    # repayment
    "credit_draw_count": ("draws on earlier credit: {v}", "以往借款的提款次数：{v}", "count"),
    "credit_outstanding_amount": ("credit outstanding: {v}", "未还借款余额：{v}", "money"),
    "credit_utilisation": ("credit used: {v} of the limit", "已用额度：额度的{v}", "pct"),
    "credit_on_time_share": ("draws repaid on time: {v}", "按时还款的提款占比：{v}", "pct"),
    "credit_worst_days_past_due": ("most days past due on earlier credit: {v}",
                                   "以往借款最长逾期：{v}", "days"),
    "credit_current_days_past_due": ("days past due now: {v}", "当前逾期：{v}", "days"),
    "credit_worst_days_past_due_90d": ("most days past due in the last 90 days: {v}",
                                       "近90天最长逾期：{v}", "days"),
    "credit_worst_days_past_due_360d": ("most days past due in the last 12 months: {v}",
                                        "近12个月最长逾期：{v}", "days"),
    "credit_times_30_plus_360d": ("times more than 30 days past due in the last 12 months: "
                                  "{v}", "近12个月逾期超过30天的次数：{v}", "count"),
    "credit_cures_360d": ("times back to current after being past due in the last 12 months: "
                          "{v}", "近12个月逾期后恢复正常的次数：{v}", "count"),
    "credit_utilisation_change_90d": ("change in credit used over the last 90 days: {v} of "
                                      "the limit", "近90天已用额度变化：额度的{v}", "pp"),
    "credit_months_on_book": ("time since the first credit line: {v}", "首次授信至今：{v}",
                              "months"),
}

#: Chinese names of categorical levels the registry knows.
_LEVELS_ZH: dict[str, str] = {"shop": "店铺", "factory": "工厂", "basic": "普通会员",
                              "silver": "白银会员", "gold": "黄金会员", "platinum": "铂金会员"}

#: Values closer than this (relative to the larger) to the reference applicant's count as
#: the same: the seller does not differ there, whatever the points say (they then come from
#: interactions with other features), so the factor is not named.
SAME_VALUE = 0.05

_CUTOFF_EN = "typical approved applicant at the cut-off"
_CUTOFF_ZH = "审批线上获批商户的典型值"
_AVERAGE_EN = "compared with the average applicant the model was trained on"
_AVERAGE_ZH = "与模型训练样本的平均申请人相比"


# ------------------------------------------------------------------ families (codes)


@dataclass(frozen=True)
class ReasonGroup:
    """A reason family as scoring uses it (the family points of every score).

    Attributes
    ----------
    key : registry family key, or the feature name for an unregistered feature.
    code : stable reason code.
    title_en, title_zh : short title.
    """

    key: str
    code: str
    title_en: str
    title_zh: str


def reason_group_for(feature: str) -> ReasonGroup:
    """The reason family of a model feature (its own family when the registry lacks it)."""
    spec = get_feature(feature)
    if spec is None or spec.family not in FAMILIES:
        return ReasonGroup(feature, f"R-FEATURE:{feature}", feature, feature)
    family = FAMILIES[spec.family]
    code = REASON_CODES.get(family.name, "R-" + family.name.upper().replace("_", "-"))
    return ReasonGroup(family.name, code, family.title_en, family.title_zh)


# ------------------------------------------------------------------ statements


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def _short(value: float) -> str:
    """Whole numbers from 10 up, one decimal below (without a trailing ``.0``)."""
    if abs(value) >= 10:
        return _number(value, 0)
    text = _number(value, 1)
    return text[:-2] if text.endswith(".0") else text


def _format(value: Value, kind: _Format, unit: str) -> tuple[str, str]:
    """A value as written in the English and the Chinese sentence."""
    if value is None:
        return "none recorded", "无记录"
    if isinstance(value, str):
        return value, _LEVELS_ZH.get(value, value)
    v = float(value)
    if kind in ("pct", "change", "pp"):
        pct = v * 100.0
        text = _short(pct)
        sign = "+" if kind != "pct" and pct > 0 else ""
        if kind == "pp":
            return (f"{sign}{text} percentage points", f"{sign}{text}个百分点")
        return f"{sign}{text} %", f"{sign}{text} %"
    if kind == "money":
        text = _number(v, 0)
        return f"CNY {text}", f"{text}元"
    if kind == "money_month":
        text = _number(v, 0)
        return f"CNY {text} a month", f"每月{text}元"
    if kind in ("days", "months"):
        text = _short(v)
        if kind == "days":
            return (f"{text} day" if text == "1" else f"{text} days"), f"{text}天"
        return (f"{text} month" if text == "1" else f"{text} months"), f"{text}个月"
    if kind == "count":
        text = _short(v)
        return text, text
    text = _number(v, 2)
    return (f"{text} {unit}".strip() if unit and unit not in ("ratio", "index", "share")
            else text), text


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


@functools.lru_cache(maxsize=8192)  # a pure function; rates of 0 and counts repeat a lot
def feature_statement(feature: str, value: Value, compared_with: Value, *,
                      at_cutoff: bool = True) -> tuple[str, str]:
    """The sentence of one factor, in English and in Chinese.

    Parameters
    ----------
    feature : the factor's feature.
    value : the seller's value (``None`` when missing).
    compared_with : the typical value of an approved applicant at the cut-off.
    at_cutoff : ``False`` when the comparison is the average training applicant (no
        reference sample); the sentence then says so instead of giving a value.

    Examples
    --------
    >>> english, chinese = feature_statement("late_shipment_rate_365d", 0.18, 0.06)
    >>> english.split(" (")[0], chinese.split("（")[0]
    ('Late shipments: 18 % of orders in the last 12 months', '延迟发货：近12个月订单的18 %')
    """
    spec = get_feature(feature)
    unit = spec.unit if spec is not None else ""
    english, chinese, kind = STATEMENTS.get(
        feature, (f"{feature}: {{v}}", f"{feature}：{{v}}",
                  "number" if unit != "category" else "level"))
    mine_en, mine_zh = _format(value, kind, unit)
    if at_cutoff:
        theirs_en, theirs_zh = _format(compared_with, kind, unit)
        tail_en, tail_zh = f" ({_CUTOFF_EN}: {theirs_en})", f"（{_CUTOFF_ZH}：{theirs_zh}）"
    else:
        tail_en, tail_zh = f" ({_AVERAGE_EN})", f"（{_AVERAGE_ZH}）"
    return (_capital(english.format(v=mine_en)) + tail_en + ".",
            chinese.format(v=mine_zh) + tail_zh + "。")


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class Driver:
    """A feature behind a reason: its value and its effect on the score.

    Attributes
    ----------
    feature : column name.
    value : the value scored (``None`` when missing, or a categorical level not seen in
        training, which the model scores as missing).
    unit : the registry's unit (``""`` for an unregistered feature).
    points : the feature's effect on the score against the comparison point (the typical
        approved applicant at the cut-off; positive: better than that applicant).
    """

    feature: str
    value: Value
    unit: str
    points: float

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": self.value, "unit": self.unit,
                "points": self.points}


@dataclass(frozen=True)
class Reason:
    """One principal reason (or positive factor): one factor against the cut-off.

    Attributes
    ----------
    code : stable reason code of the factor's family (``R-QUALITY``, ...).
    family : registry family key, or the feature name for an unregistered feature.
    direction : ``"adverse"`` (below the typical approved applicant at the cut-off) or
        ``"positive"`` (above it).
    points : the factor's points against that applicant (its feature and the adjustment
        features folded into it); negative for an adverse reason.
    text_en, text_zh : the statement: the seller's value and what it is compared with.
    drivers : the factor's feature first, then the adjustment features folded into it.
    feature : the factor's feature.
    value : the seller's value of it (``None``: missing).
    compared_with : the typical value of an approved applicant at the cut-off (``None``
        when unknown or when the comparison is the training average).
    unit : the registry's unit of ``feature``.
    share_of_gap : ``points`` over the applicant's points gap to the cut-off applicant
        (adverse reasons of an applicant below it; ``None`` otherwise).
    """

    code: str
    family: str
    direction: Literal["adverse", "positive"]
    points: float
    text_en: str
    text_zh: str
    drivers: tuple[Driver, ...]
    feature: str = ""
    value: Value = None
    compared_with: Value = None
    unit: str = ""
    share_of_gap: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "family": self.family, "direction": self.direction,
                "points": self.points, "text_en": self.text_en, "text_zh": self.text_zh,
                "drivers": [d.to_dict() for d in self.drivers], "feature": self.feature,
                "value": self.value, "compared_with": self.compared_with, "unit": self.unit,
                "share_of_gap": self.share_of_gap}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        """Read back :meth:`to_dict` (a reason stored before the factor fields had them
        empty)."""
        return cls(code=data["code"], family=data["family"], direction=data["direction"],
                   points=data["points"], text_en=data["text_en"], text_zh=data["text_zh"],
                   drivers=tuple(Driver(**d) for d in data["drivers"]),
                   feature=data.get("feature", ""), value=data.get("value"),
                   compared_with=data.get("compared_with"), unit=data.get("unit", ""),
                   share_of_gap=data.get("share_of_gap"))


# ------------------------------------------------------------------ comparison point
# CutoffReference lives in models.cutoff (the registry stores one with every version) and
# is imported above; it stays importable from here.


# ------------------------------------------------------------------ factors and choice


@dataclass(frozen=True)
class Factor:
    """What one statement is about: a feature and the adjustment features folded in.

    ``members`` are column positions, the factor's feature first; ``principal`` is
    ``False`` for an adjustment feature left alone (none of the factors it adjusts is in
    the model): it is never given as a reason.
    """

    feature: str
    position: int
    members: tuple[int, ...]
    group: ReasonGroup
    principal: bool


def build_factors(names: Sequence[str]) -> tuple[Factor, ...]:
    """The factors of a model's columns, in column order of their features."""
    position = {name: j for j, name in enumerate(names)}
    folded: dict[int, list[int]] = {}
    alone: set[int] = set()
    for j, name in enumerate(names):
        if name in ADJUSTS:
            target = next((position[t] for t in ADJUSTS[name] if t in position), None)
            if target is None:
                alone.add(j)
            else:
                folded.setdefault(target, []).append(j)
    adjusting = {j for members in folded.values() for j in members}
    return tuple(Factor(name, j, (j, *folded.get(j, ())), reason_group_for(name),
                        j not in alone)
                 for j, name in enumerate(names) if j not in adjusting)


class ReasonMaker:
    """Chooses and words the reasons of scores against a :class:`CutoffReference`.

    Parameters
    ----------
    names : the model's feature names, in column order.
    levels : per column, the categorical levels (``None`` for a numeric column).
    units : per column, the registry's unit.
    factor : points per unit of raw log-odds (``pdo / ln 2`` times the slope of the model's
        points map, :attr:`scoring.Scorer.point_factor`).
    reference : the comparison point.
    max_adverse, max_positive, min_points, min_gap_share, max_drivers : the selection
        settings of :class:`scoring.config.ScoringConfig`.
    """

    def __init__(self, names: Sequence[str], levels: Sequence[tuple[str, ...] | None],
                 units: Sequence[str], *, factor: float, reference: CutoffReference,
                 max_adverse: int, max_positive: int, min_points: float,
                 min_gap_share: float, max_drivers: int) -> None:
        if len(reference.contributions) != len(names):
            raise ValueError(f"the reference has {len(reference.contributions)} features; "
                             f"the model {len(names)}")
        self.names = tuple(names)
        self.levels = tuple(levels)
        self.units = tuple(units)
        self.point_factor = float(factor)
        self.reference = reference
        self.factors = build_factors(self.names)
        self.codes: tuple[str, ...] = tuple(f.group.code for f in self.factors)
        self._principal = np.array([f.principal for f in self.factors], dtype=bool)
        self._member_layers = member_layers([f.members for f in self.factors])
        self._reference = np.asarray(reference.contributions, dtype=np.float64)
        # Which way each factor's feature moves risk (0: unknown, categorical, or nothing to
        # compare with), and the value of the reference applicant.
        self._positions = np.array([f.position for f in self.factors], dtype=np.int64)
        reference_values = np.asarray(reference.values, dtype=np.float64)[self._positions]
        directions = []
        for f, value in zip(self.factors, reference_values.tolist(), strict=True):
            comparable = (reference.at_cutoff and self.levels[f.position] is None
                          and not math.isnan(value))
            directions.append(float(risk_direction(f.feature)) if comparable else 0.0)
        self._direction = np.asarray(directions, dtype=np.float64)
        self._reference_values = np.nan_to_num(reference_values)
        # The same, as Python lists for one applicant (:meth:`explain`).
        self._reference_list: list[float] = self._reference.tolist()
        self._sides_list = list(zip(self.factors, self._direction.tolist(),
                                    self._reference_values.tolist(), strict=True))
        self.max_adverse = max_adverse
        self.max_positive = max_positive
        self.min_points = min_points
        self.min_gap_share = min_gap_share
        self.max_drivers = max_drivers
        # The one-applicant path (:meth:`explain`), fixed per factor: the first member and
        # the others, whether it may be named, and what its reason is built from.
        self._first_members = [f.members[0] for f in self.factors]
        self._more_members = [(k, f.members[1:]) for k, f in enumerate(self.factors)
                              if len(f.members) > 1]
        self._principal_list: list[bool] = self._principal.tolist()
        self._at_cutoff = reference.at_cutoff
        self._reason_parts = [
            (f, self._reader(f.position),
             self._value(f.position, reference.values[f.position]) if self._at_cutoff
             else None,
             [(m, self.names[m], self._reader(m), self.units[m])
              for m in f.members[:max(1, max_drivers)]])
            for f in self.factors]

    # -------------------------------------------------------------- arithmetic
    def feature_points(self, contributions: np.ndarray) -> np.ndarray:
        """``(rows, features)`` points of every feature against the reference applicant."""
        return (contributions[:, :-1] - self._reference) * -self.point_factor

    def factor_points(self, feature_points: np.ndarray) -> np.ndarray:
        """``(rows, factors)``: each factor's members added in a fixed order, so one
        applicant alone and in a batch get the same bits."""
        return ordered_sums(feature_points, self._member_layers, len(self.factors))

    def gap_points(self, factor_points: np.ndarray) -> np.ndarray:
        """Points of each applicant against the reference applicant (sum over factors)."""
        gap = np.zeros(factor_points.shape[0], dtype=np.float64)
        for k in range(factor_points.shape[1]):
            gap += factor_points[:, k]
        return gap

    def _thresholds(self, gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        adverse = np.maximum(self.min_points, self.min_gap_share * np.maximum(0.0, -gap))
        positive = np.maximum(self.min_points, self.min_gap_share * np.maximum(0.0, gap))
        return adverse, positive

    def choose(self, factor_points: np.ndarray, matrix: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Adverse and positive factor indices per row (strongest first, -1 where there
        are fewer), and the gap points.

        ``matrix`` holds the encoded rows: a factor whose feature has a known risk
        direction is adverse only when the seller's value is on the risky side of the
        reference applicant's, positive only on the safe side (its points otherwise come
        from interactions with other features, and the statement would mislead).
        """
        return self._choose(factor_points, self.gap_points(factor_points), matrix)

    def adverse_of(self, columns: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The adverse factor indices of :meth:`choose` (the batch's reason codes) from
        the feature contributions transposed (``columns``: features x rows, without the
        bias): the arithmetic of :meth:`feature_points`, :meth:`factor_points` and
        :meth:`gap_points`, operation by operation, on contiguous rows instead of strided
        columns; the positive factors are not chosen."""
        points = (columns - self._reference[:, None]) * -self.point_factor
        factors = ordered_sums_of_columns(points, self._member_layers, len(self.factors))
        gap = np.zeros(columns.shape[1], dtype=np.float64)
        for k in range(len(factors)):
            gap += factors[k]
        return self._choose(np.ascontiguousarray(factors.T), gap, matrix,
                            positive=False)[0]

    def _choose(self, factor_points: np.ndarray, gap: np.ndarray, matrix: np.ndarray, *,
                positive: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`choose` given the gap points (``positive=False``: no positive factors,
        an empty second result)."""
        low, high = self._thresholds(gap)
        adverse_ok = (factor_points <= -low[:, None]) & self._principal
        positive_ok = ((factor_points >= high[:, None]) & self._principal if positive
                       else np.zeros_like(adverse_ok))
        # the sides (:meth:`_sides_of`) of the entries past a threshold only
        rows, factors = np.nonzero(adverse_ok | positive_ok)
        if len(rows):
            may_be_adverse, may_be_positive = self._sides_of(
                matrix[rows, self._positions[factors]], factors)
            adverse_ok[rows, factors] &= may_be_adverse
            positive_ok[rows, factors] &= may_be_positive
        adverse = _top(np.where(adverse_ok, factor_points, np.inf), adverse_ok,
                       self.max_adverse)
        chosen = (_top(np.where(positive_ok, -factor_points, np.inf), positive_ok,
                       self.max_positive) if positive
                  else np.empty((len(factor_points), 0), dtype=np.int64))
        return adverse, chosen, gap

    def _sides_of(self, values: np.ndarray, factors: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Whether each entry (an encoded value and its factor's index) may be an adverse
        reason (the seller's value is on the risky side of the reference applicant's) and a
        positive factor (on the safe side), by the registry's risk direction; a value within
        ``SAME_VALUE`` (relative) of the reference applicant's is on neither side. Without a
        known direction or value, both."""
        direction = self._direction[factors]
        reference = self._reference_values[factors]
        known = (direction != 0) & ~np.isnan(values)
        riskier = direction * (values - reference)
        margin = SAME_VALUE * np.maximum(np.abs(values), np.abs(reference))
        return ~known | (riskier > margin), ~known | (riskier < -margin)

    # -------------------------------------------------------------- one applicant
    def explain(self, row: np.ndarray, contributions: np.ndarray
                ) -> tuple[tuple[Reason, ...], tuple[Reason, ...], float]:
        """The adverse reasons, the positive factors and the points gap to the reference
        applicant of one encoded row and its contributions (bias last).

        The same arithmetic as :meth:`feature_points`, :meth:`factor_points` and
        :meth:`choose`, operation by operation in the same order on Python floats (for one
        row cheaper than numpy calls), so an applicant gets the same bits alone and in a
        batch.
        """
        negative_factor = -self.point_factor
        values = row.tolist()
        contribution = contributions.tolist()
        reference = self._reference_list
        # each factor's points: its members' (c - r) * -factor added from 0.0 in order
        factor_points = [0.0 + (contribution[c] - reference[c]) * negative_factor
                         for c in self._first_members]
        for k, rest in self._more_members:
            total = factor_points[k]
            for column in rest:
                total += (contribution[column] - reference[column]) * negative_factor
            factor_points[k] = total
        gap = 0.0
        for points in factor_points:
            gap += points
        low = max(self.min_points, self.min_gap_share * max(0.0, -gap))
        high = max(self.min_points, self.min_gap_share * max(0.0, gap))
        below = -low
        adverse: list[int] = []
        positive: list[int] = []
        sides = self._sides_list
        principal = self._principal_list
        # the sides only of the principal factors past a threshold (the same tests)
        for k in [k for k, points in enumerate(factor_points)
                  if (points <= below or points >= high) and principal[k]]:
            points = factor_points[k]
            is_adverse = points <= below
            is_positive = points >= high
            factor, direction, compared = sides[k]
            value = values[factor.position]
            if direction != 0.0 and value == value:  # known: on which side?
                riskier = direction * (value - compared)
                margin = SAME_VALUE * max(abs(value), abs(compared))
                is_adverse = is_adverse and riskier > margin
                is_positive = is_positive and riskier < -margin
            if is_adverse:
                adverse.append(k)
            if is_positive:
                positive.append(k)
        adverse.sort(key=factor_points.__getitem__)
        positive.sort(key=lambda k: -factor_points[k])
        made = tuple(self._reason(k, factor_points[k], values, contribution, gap)
                     for k in adverse[:self.max_adverse])
        good = tuple(self._reason(k, factor_points[k], values, contribution, gap)
                     for k in positive[:self.max_positive])
        return made, good, gap

    def _value(self, j: int, encoded: float) -> Value:
        if encoded != encoded:  # NaN: missing, or a level never seen in training
            return None
        levels = self.levels[j]
        return levels[int(encoded)] if levels is not None else encoded

    def _reason(self, k: int, points: float, values: list[float],
                contribution: list[float], gap: float) -> Reason:
        factor, value_of, compared, drivers_of = self._reason_parts[k]
        value = value_of(values[factor.position])
        text_en, text_zh = feature_statement(factor.feature, value, compared,
                                             at_cutoff=self._at_cutoff)
        negative_factor = -self.point_factor
        reference = self._reference_list
        drivers = []
        for m, name, read, unit in drivers_of:
            drivers.append(_built(Driver, {
                "feature": name, "value": read(values[m]), "unit": unit,
                "points": (contribution[m] - reference[m]) * negative_factor}))
        adverse = points < 0
        return _built(Reason, {
            "code": factor.group.code, "family": factor.group.key,
            "direction": "adverse" if adverse else "positive", "points": points,
            "text_en": text_en, "text_zh": text_zh, "drivers": tuple(drivers),
            "feature": factor.feature, "value": value, "compared_with": compared,
            "unit": self.units[factor.position],
            "share_of_gap": points / gap if adverse and gap < 0 else None})

    def _reader(self, j: int) -> Any:
        """The :meth:`_value` of column ``j`` as a function of the encoded value."""
        levels = self.levels[j]
        if levels is None:
            return lambda encoded: None if encoded != encoded else encoded
        return lambda encoded: None if encoded != encoded else levels[int(encoded)]


def _built(cls: type[_T], fields: dict[str, Any]) -> _T:
    """An instance of a frozen dataclass built without its generated ``__init__`` (which
    sets every field through ``object.__setattr__`` and costs more than the arithmetic of a
    reason): ``fields`` (every field, a dict of its own) becomes its ``__dict__``; the
    result is the same object."""
    instance = object.__new__(cls)
    object.__setattr__(instance, "__dict__", fields)
    return instance


def _top(keys: np.ndarray, ok: np.ndarray, limit: int) -> np.ndarray:
    """Per row the positions of the ``limit`` smallest keys among the allowed ones (stable:
    ties keep column order), -1 where fewer are allowed.

    The allowed keys are finite (the others ``inf``): the smallest is taken ``limit`` times
    (``argmin`` keeps the first of equal keys, as a stable sort does), each taken one made
    not allowed, which for a handful of reasons costs less than sorting every row."""
    rows = keys.shape[0]
    if limit <= 0:
        return np.empty((rows, 0), dtype=np.int64)
    chosen = np.full((rows, limit), -1, dtype=np.int64)
    some = np.flatnonzero(ok.any(axis=1))  # a row with nothing allowed keeps -1
    if len(some) == 0:
        return chosen
    keys, ok = keys[some], ok[some]  # copies, changed below
    at = np.arange(len(some))
    for slot in range(min(limit, keys.shape[1])):
        best = np.argmin(keys, axis=1)
        allowed = ok[at, best]
        chosen[some, slot] = np.where(allowed, best, -1)
        keys[at, best] = np.inf
        ok[at, best] = False
    return chosen


def member_layers(groups: Sequence[Sequence[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The members of ``groups`` as layers for :func:`ordered_sums`: layer ``i`` holds the
    groups with more than ``i`` members and their ``i``-th member's column."""
    layers = []
    depth = max((len(g) for g in groups), default=0)
    for i in range(depth):
        which = [k for k, g in enumerate(groups) if len(g) > i]
        layers.append((np.asarray(which, dtype=np.int64),
                       np.asarray([groups[k][i] for k in which], dtype=np.int64)))
    return layers


def ordered_sums(values: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]],
                 n_groups: int) -> np.ndarray:
    """``(rows, groups)``: each group's member columns of ``values`` added one after the
    other from 0.0, in member order (:func:`member_layers`): the same additions as a loop
    over the groups and their members, a layer of members at a time and on contiguous
    columns (the matrices transposed), so one applicant alone and in a batch get the same
    bits."""
    sums = ordered_sums_of_columns(np.ascontiguousarray(values.T), layers, n_groups)
    return np.ascontiguousarray(sums.T)


def ordered_sums_of_columns(columns: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]],
                    n_groups: int) -> np.ndarray:
    """:func:`ordered_sums` transposed: ``columns`` and the result are (columns x rows)."""
    sums = np.zeros((n_groups, columns.shape[1]), dtype=np.float64)
    for which, members in layers:
        sums[which] += columns[members]
    return sums
