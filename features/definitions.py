"""Definitions of every seller feature, registered in :mod:`features.registry`.

Importing this module fills the registry (``features/__init__.py`` does it, so the registry
is never empty once :mod:`features` is imported). The order of :data:`ORDER_FEATURES`,
:data:`PROFILE_FEATURES` and :data:`REPAYMENT_FEATURES` is the column order of
:func:`features.build_features`.

Conventions used in the descriptions:

- Every window ends just before ``as_of``: "last 90 days" means ``created_at`` in
  ``[as_of - 90 days, as_of)``. A day is 24 hours.
- A *month* is a 30-day period counted back from ``as_of`` (month 0 is the 30 days just
  before ``as_of``); "the last 12 months" are 360 days. Monthly statistics use only the
  *observed* months: complete months since the seller registered, at most 12.
- GMV is the gross value of orders placed (``amount``), before refunds and cancellations.
- Undefined ratios (nothing to divide by) are NaN; counts and amounts of nothing are 0.
- Every event counts from its own time, strictly before ``as_of``: a cancellation from
  ``cancelled_at``, a dispute from ``disputed_at``, a refund from ``refunded_at``, a
  shipment from ``shipped_at``, a payout from ``paid_out_at``. ``status`` and
  ``disputed`` (states at extraction) are never read, so an event without its time is
  not known at any ``as_of``.
- *Matured* orders: rates of events that follow an order (refunds, cancellations,
  disputes, payouts) count only the orders placed more than :data:`MATURITY_DAYS` (30)
  days before ``as_of``, in numerator and denominator alike, so that a seller's recent
  orders, whose refunds or disputes may still come, do not dilute its rates.
- The membership tier is the one in effect at ``as_of`` (tier history, or the seller
  record's tier from ``membership_tier_at`` on); see ``docs/features.md``.
"""

from __future__ import annotations

from features.registry import FeatureSpec, register

__all__ = [
    "MATURITY_DAYS",
    "ORDER_FEATURES",
    "PROFILE_FEATURES",
    "REPAYMENT_FEATURES",
    "CORE_FEATURES",
    "ALL_FEATURES",
]

#: Days after which an order is *matured*: old enough for its refund, cancellation,
#: dispute and payout to have happened in the usual run of things (the marketplace's
#: refund and dispute windows close within a month of delivery for nearly every order).
#: One value for the four event kinds: the compiled path sums orders by age bands whose
#: first edge is this value (``features.builder``).
MATURITY_DAYS = 30

_NAN_NO_ORDERS = "NaN when the seller has no order in the window."
_MATURED = ("the matured orders (placed more than 30 days before as_of, MATURITY_DAYS) "
            "of the last")
_NAN_NO_MATURED = "NaN when there is no such order."

_SPECS: tuple[FeatureSpec, ...] = (
    # -- scale ------------------------------------------------------------------------------
    FeatureSpec("gmv_30d", "scale", "CNY", "GMV of orders placed in the last 30 days; 0 when "
                "none.", -1),
    FeatureSpec("gmv_90d", "scale", "CNY", "GMV of orders placed in the last 90 days; 0 when "
                "none.", -1),
    FeatureSpec("gmv_180d", "scale", "CNY", "GMV of orders placed in the last 180 days; 0 when "
                "none.", -1),
    FeatureSpec("gmv_365d", "scale", "CNY", "GMV of orders placed in the last 365 days; 0 when "
                "none.", -1),
    FeatureSpec("gmv_all_time", "scale", "CNY", "GMV of every order placed before as_of; 0 when "
                "none.", -1),
    FeatureSpec("net_gmv_365d", "scale", "CNY", "GMV of the last 365 days less the orders "
                "cancelled before as_of (cancelled_at) and less the refunds made before as_of "
                "on the others; 0 when none.", -1),
    FeatureSpec("order_count_30d", "scale", "count", "Orders placed in the last 30 days; 0 "
                "when none.", -1),
    FeatureSpec("order_count_90d", "scale", "count", "Orders placed in the last 90 days; 0 "
                "when none.", -1),
    FeatureSpec("order_count_180d", "scale", "count", "Orders placed in the last 180 days; 0 "
                "when none.", -1),
    FeatureSpec("order_count_365d", "scale", "count", "Orders placed in the last 365 days; 0 "
                "when none.", -1),
    FeatureSpec("order_count_all_time", "scale", "count", "Orders placed before as_of; 0 when "
                "none.", -1),
    FeatureSpec("avg_order_value_90d", "scale", "CNY", "GMV per order over the last 90 days. "
                + _NAN_NO_ORDERS, 0),
    FeatureSpec("avg_order_value_365d", "scale", "CNY", "GMV per order over the last 365 days. "
                + _NAN_NO_ORDERS, 0),
    # -- growth -----------------------------------------------------------------------------
    FeatureSpec("gmv_growth_90d", "growth", "ratio", "GMV of the last 90 days over GMV of the "
                "90 days before, minus 1; NaN when the earlier 90 days had no GMV.", -1),
    FeatureSpec("order_growth_90d", "growth", "ratio", "Orders of the last 90 days over orders "
                "of the 90 days before, minus 1; NaN when the earlier 90 days had no order.", -1),
    FeatureSpec("gmv_growth_yoy_90d", "growth", "ratio", "GMV of the last 90 days over GMV of "
                "the same 90 days one year (365 days) earlier, minus 1; NaN when that earlier "
                "period had no GMV.", -1),
    FeatureSpec("gmv_growth_yoy_365d", "growth", "ratio", "GMV of the last 365 days over GMV "
                "of the 365 days before, minus 1; NaN when the earlier year had no GMV.", -1),
    FeatureSpec("gmv_trend_slope_12m", "growth", "CNY per month", "Least-squares slope of "
                "monthly GMV over the observed months (complete 30-day months since "
                "registration, at most 12), oldest to newest; NaN with fewer than 3 observed "
                "months.", 0),
    FeatureSpec("gmv_trend_slope_relative_12m", "growth", "share per month",
                "gmv_trend_slope_12m divided by the mean monthly GMV of the same months; NaN "
                "with fewer than 3 observed months or no GMV in them.", -1),
    # -- stability --------------------------------------------------------------------------
    FeatureSpec("gmv_monthly_cv_12m", "stability", "ratio", "Coefficient of variation "
                "(population standard deviation over mean) of monthly GMV over the observed "
                "months (complete 30-day months since registration, at most 12), months "
                "without orders counting as 0; NaN with fewer than 2 observed months or no "
                "GMV in them.", 1),
    FeatureSpec("active_month_share_12m", "stability", "share", "Share of the observed months "
                "(complete 30-day months since registration, at most 12) with at least one "
                "order; NaN when no month is complete yet.", -1),
    FeatureSpec("active_days_90d", "stability", "count", "Distinct days (24-hour periods "
                "counted back from as_of) with at least one order in the last 90 days; 0 "
                "when none.", -1),
    FeatureSpec("longest_gap_days_365d", "stability", "days", "Longest run of whole days "
                "(24-hour periods counted back from as_of) without an order in the last 365 "
                "days, or since registration when that is later, including the run up to "
                "as_of; the whole period when there was no order.", 1),
    FeatureSpec("days_since_last_order", "stability", "days", "Days from the last order "
                "placed before as_of to as_of; NaN when the seller never had an order.", 1),
    # -- quality ----------------------------------------------------------------------------
    FeatureSpec("refund_rate_90d", "quality", "share", "Share of " + _MATURED + " 90 days "
                "refunded (in part or in full) before as_of (refunded_at). " + _NAN_NO_MATURED,
                1),
    FeatureSpec("refund_rate_365d", "quality", "share", "Share of " + _MATURED + " 365 days "
                "refunded (in part or in full) before as_of (refunded_at). " + _NAN_NO_MATURED,
                1),
    FeatureSpec("refund_amount_rate_365d", "quality", "share", "Amount refunded before as_of "
                "on " + _MATURED + " 365 days over their GMV; NaN when that GMV is 0.", 1),
    FeatureSpec("cancellation_rate_365d", "quality", "share", "Share of " + _MATURED + " 365 "
                "days cancelled before as_of (cancelled_at; a cancellation without its time "
                "is not known). " + _NAN_NO_MATURED, 1),
    FeatureSpec("dispute_rate_365d", "quality", "share", "Share of " + _MATURED + " 365 days "
                "disputed before as_of (disputed_at; a dispute without its time is not "
                "known). " + _NAN_NO_MATURED, 1),
    FeatureSpec("late_shipment_rate_365d", "quality", "share", "Share of the orders of the "
                "last 365 days whose shipping deadline (created_at + shipping_sla_days, 3 by "
                "default) is before as_of "
                "that were not shipped by the deadline (never-shipped and cancelled orders "
                "count as late); NaN when there is no such order.", 1),
    FeatureSpec("mean_shipping_days_365d", "quality", "days", "Mean time from order to "
                "shipment, over the orders of the last 365 days shipped before as_of; NaN "
                "when none.", 1),
    # -- customers --------------------------------------------------------------------------
    FeatureSpec("distinct_buyers_90d", "customers", "count", "Distinct buyers with an order "
                "in the last 90 days; 0 when none.", -1),
    FeatureSpec("distinct_buyers_365d", "customers", "count", "Distinct buyers with an order "
                "in the last 365 days; 0 when none.", -1),
    FeatureSpec("orders_per_buyer_365d", "customers", "count", "Orders per distinct buyer over "
                "the last 365 days. " + _NAN_NO_ORDERS, -1),
    FeatureSpec("repeat_buyer_share_365d", "customers", "share", "Share of the buyers of the "
                "last 365 days with at least 2 orders in that window; NaN when no buyer.", -1),
    FeatureSpec("new_buyer_share_90d", "customers", "share", "Share of the buyers of the last "
                "90 days with no order in the 275 days before; NaN when no buyer in the last "
                "90 days.", 0),
    FeatureSpec("top_buyer_share_365d", "customers", "share", "The largest buyer's share of "
                "the GMV of the last 365 days; NaN when that GMV is 0.", 1),
    FeatureSpec("buyer_hhi_365d", "customers", "index", "Herfindahl-Hirschman index (sum of "
                "squared GMV shares, 0 to 1) of the buyers of the last 365 days; NaN when that "
                "GMV is 0.", 1),
    # -- channel ----------------------------------------------------------------------------
    FeatureSpec("dropship_share_365d", "channel", "share", "Share of the orders of the last "
                "365 days placed through the dropship channel. " + _NAN_NO_ORDERS, 0),
    FeatureSpec("custom_share_365d", "channel", "share", "Share of the orders of the last 365 "
                "days that are custom orders. " + _NAN_NO_ORDERS, 0),
    FeatureSpec("sample_share_365d", "channel", "share", "Share of the orders of the last 365 "
                "days that are sample orders. " + _NAN_NO_ORDERS, 0),
    FeatureSpec("cross_border_share_365d", "channel", "share", "Share of the orders of the "
                "last 365 days from buyers outside the home country (CN by default). "
                + _NAN_NO_ORDERS, 0),
    # -- tenure -----------------------------------------------------------------------------
    FeatureSpec("tenure_days", "tenure", "days", "Days from registration to as_of (always "
                "above 0: sellers registered at or after as_of are left out).", -1),
    FeatureSpec("days_since_first_order", "tenure", "days", "Days from the first order to "
                "as_of; NaN when the seller never had an order.", -1),
    # -- cash cycle -------------------------------------------------------------------------
    FeatureSpec("median_payout_delay_days_365d", "cash_cycle", "days", "Median time from "
                "order to payout over the orders of the last 365 days shipped or paid out "
                "before as_of; an order shipped but not paid out by as_of is censored and "
                "counts with the time it has waited (as_of - created_at), a lower bound of "
                "its delay, so the median is a lower bound too; NaN when none.", 1),
    FeatureSpec("p90_payout_delay_days_365d", "cash_cycle", "days", "90th percentile (lower "
                "value, no interpolation) of the same delays as median_payout_delay_days_365d "
                "(censored orders at their lower bound); NaN when none.", 1),
    FeatureSpec("paid_out_share_365d", "cash_cycle", "share", "Share of " + _MATURED + " 365 "
                "days paid out before as_of (paid_out_at). " + _NAN_NO_MATURED, -1),
    # -- profile ----------------------------------------------------------------------------
    FeatureSpec("seller_kind", "profile", "category", "`shop` or `factory` (pandas category).",
                0),
    FeatureSpec("membership_tier", "profile", "category", "Membership tier basic, silver, gold "
                "or platinum (pandas category) in effect at as_of: from the tier history, or "
                "the seller record's tier from its membership_tier_at on; missing when "
                "neither says (the extraction-time tier is never carried back).", 0),
    # -- repayment (only with a credit history) ---------------------------------------------
    FeatureSpec("credit_draw_count", "repayment", "count", "Draws made before as_of; 0 when "
                "none.", 0),
    FeatureSpec("credit_outstanding_amount", "repayment", "CNY", "Amount of the draws made "
                "before as_of and not repaid before as_of; 0 when none.", 1),
    FeatureSpec("credit_utilisation", "repayment", "share", "credit_outstanding_amount over the "
                "credit limit at the latest draw before as_of; NaN when no draw or a 0 limit.",
                1),
    FeatureSpec("credit_on_time_share", "repayment", "share", "Share of the draws due before "
                "as_of that were repaid by their due time; NaN when no draw was due yet.", -1),
    FeatureSpec("credit_worst_days_past_due", "repayment", "days", "Worst whole days past due "
                "over the draws due before as_of (an unpaid draw counts its days up to as_of); "
                "NaN when no draw was due yet.", 1),
    FeatureSpec("credit_current_days_past_due", "repayment", "days", "Whole days past due, at "
                "as_of, of the oldest draw due and not repaid before as_of; 0 when none.", 1),
    # -- repayment, from the instalments (a lender's own ledger; a draw-level file is one
    #    instalment per draw): days past due at every past moment ----------------------------
    FeatureSpec("credit_worst_days_past_due_90d", "repayment", "days", "Worst whole days past "
                "due of the seller at any moment of the last 90 days (3 months), over the "
                "instalments of the draws made before as_of (an instalment is past due from "
                "its due time until paid in full; a written-off draw stops counting at its "
                "write-off); 0 when never past due in the window; NaN when no draw.", 1),
    FeatureSpec("credit_worst_days_past_due_360d", "repayment", "days", "As "
                "credit_worst_days_past_due_90d, over the last 360 days (12 months).", 1),
    FeatureSpec("credit_times_30_plus_360d", "repayment", "count", "Times the seller went "
                "more than 30 days past due (into the 31-60 bucket or worse) in the last 360 "
                "days; 0 when none or no draw.", 1),
    FeatureSpec("credit_cures_360d", "repayment", "count", "Times the seller came back to "
                "current (nothing past due) after being past due, in the last 360 days; 0 "
                "when none or no draw.", 0),
    FeatureSpec("credit_utilisation_change_90d", "repayment", "share", "credit_utilisation "
                "at as_of minus the same figure 90 days earlier (draws made and not repaid "
                "before then, over the limit at the latest draw before then); NaN when either "
                "is NaN.", 1),
    FeatureSpec("credit_months_on_book", "repayment", "months", "Whole 30-day months from "
                "the opening of the seller's first credit line (its first draw when the "
                "history has no line) to as_of, over the lines drawn on before as_of; NaN "
                "when no draw.", -1),
)

register(*_SPECS)

PROFILE_FEATURES: tuple[str, ...] = ("seller_kind", "membership_tier")
REPAYMENT_FEATURES: tuple[str, ...] = tuple(s.name for s in _SPECS if s.family == "repayment")
#: Features computed from the orders, in column order.
ORDER_FEATURES: tuple[str, ...] = tuple(
    s.name for s in _SPECS if s.name not in PROFILE_FEATURES and s.name not in REPAYMENT_FEATURES
)
#: Every feature, in column order (repayment features appear only with a credit history).
ALL_FEATURES: tuple[str, ...] = ORDER_FEATURES + PROFILE_FEATURES + REPAYMENT_FEATURES
#: The features that ``bench/features.py`` compares with DuckDB.
CORE_FEATURES: tuple[str, ...] = (
    "order_count_30d", "order_count_90d", "order_count_180d", "order_count_365d",
    "gmv_30d", "gmv_90d", "gmv_180d", "gmv_365d",
    "refund_rate_365d", "distinct_buyers_365d", "top_buyer_share_365d", "gmv_monthly_cv_12m",
)


def feature_table_markdown() -> str:
    """The registry as Markdown: one section per family, one table row per feature.

    ``docs/features.md`` holds this output (regenerate it after changing a definition).
    """
    from features.registry import FAMILIES, FEATURES

    arrows = {1: "+1 (higher = riskier)", -1: "-1 (higher = safer)", 0: "0 (not constrained)"}
    lines: list[str] = []
    for family in FAMILIES.values():
        specs = [spec for spec in FEATURES.values() if spec.family == family.name]
        if not specs:
            continue
        lines += [f"### {family.title_en} (`{family.name}`, {family.title_zh})", "",
                  family.description, "",
                  "| feature | unit | risk direction | meaning |", "|---|---|---|---|"]
        lines += [f"| `{spec.name}` | {spec.unit} | {arrows[spec.risk_direction]} | "
                  f"{spec.description} |" for spec in specs]
        lines.append("")
    return "\n".join(lines)
