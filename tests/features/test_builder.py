"""The feature builder on a tiny hand-built marketplace: every pinned number is worked out
by hand in the test (see the orders in ``test_builder_helpers.example_orders``)."""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest

from features import FEATURES, build_features, resolve_as_of
from features.definitions import ALL_FEATURES, CORE_FEATURES, ORDER_FEATURES, PROFILE_FEATURES
from features.records import MEMBERSHIP_TIERS, SELLER_KINDS
from tests.features.test_builder_helpers import (
    AS_OF,
    at,
    example_orders,
    example_sellers,
    order,
    seller,
    validated_orders,
    validated_sellers,
)


@pytest.fixture(scope="module")
def sellers() -> pd.DataFrame:
    return validated_sellers(example_sellers())


@pytest.fixture(scope="module")
def table(sellers: pd.DataFrame) -> pd.DataFrame:
    return build_features(validated_orders(example_orders(), sellers), sellers, AS_OF)


def test_one_row_per_seller_indexed_by_seller_id_in_sellers_order(table: pd.DataFrame) -> None:
    assert list(table.index) == ["S1", "S2", "S3"]
    assert table.index.name == "seller_id"


def test_every_column_has_a_registry_entry_and_every_entry_a_column(
        sellers: pd.DataFrame) -> None:
    from tests.features.test_credit_history import example_credit_history

    orders = validated_orders(example_orders(), sellers)
    with_credit = build_features(orders, sellers, AS_OF, example_credit_history(sellers))
    assert set(with_credit.columns) == set(FEATURES)
    assert list(with_credit.columns) == list(ALL_FEATURES)
    without_credit = build_features(orders, sellers, AS_OF)
    assert list(without_credit.columns) == list(ORDER_FEATURES + PROFILE_FEATURES)


def test_at_least_forty_features_in_documented_families() -> None:
    assert len(FEATURES) >= 40
    families = {spec.family for spec in FEATURES.values()}
    assert families == {"scale", "growth", "stability", "quality", "customers", "channel",
                        "tenure", "cash_cycle", "repayment", "profile"}
    assert all(spec.risk_direction in (-1, 0, 1) for spec in FEATURES.values())
    assert all(spec.description and spec.unit for spec in FEATURES.values())


def test_scale_windows_count_orders_placed_before_as_of(table: pd.DataFrame) -> None:
    s1 = table.loc["S1"]
    # S1: o5 (5 days), o1 (10), o2 (40), o3 (100), o4 (200 days before as_of)
    assert (s1.order_count_30d, s1.order_count_90d, s1.order_count_180d,
            s1.order_count_365d, s1.order_count_all_time) == (2, 3, 4, 5, 5)
    assert (s1.gmv_30d, s1.gmv_90d, s1.gmv_180d, s1.gmv_365d) == (150.0, 350.0, 650.0, 1050.0)
    assert s1.avg_order_value_90d == pytest.approx(350.0 / 3)
    assert s1.avg_order_value_365d == pytest.approx(1050.0 / 5)
    # o3 (cancelled 99 days before as_of) and o5 (cancelled 4 days before) are out: a
    # cancellation counts from its cancelled_at; refunds 40 (o1) and 400 (o4) come off
    assert s1.net_gmv_365d == pytest.approx(100 + 200 + 400 - 40 - 400)


def test_growth_compares_the_last_90_days_with_the_90_before(table: pd.DataFrame) -> None:
    s1 = table.loc["S1"]
    assert s1.gmv_growth_90d == pytest.approx(350.0 / 300.0 - 1)
    assert s1.order_growth_90d == pytest.approx(3 / 1 - 1)
    assert pd.isna(s1.gmv_growth_yoy_90d)  # no GMV a year earlier: undefined


def test_monthly_statistics_use_complete_months_since_registration(
        table: pd.DataFrame) -> None:
    # S1 is 546 days old: 12 observed months; month 0 = the 30 days before as_of
    monthly = [150.0, 200.0, 0.0, 300.0, 0.0, 0.0, 400.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    mean = sum(monthly) / 12
    s1 = table.loc["S1"]
    assert s1.gmv_monthly_cv_12m == pytest.approx(statistics.pstdev(monthly) / mean)
    assert s1.active_month_share_12m == pytest.approx(4 / 12)
    oldest_first = monthly[::-1]
    x_mean = 5.5
    slope = sum((x - x_mean) * (y - mean) for x, y in enumerate(oldest_first)) \
        / sum((x - x_mean) ** 2 for x in range(12))
    assert s1.gmv_trend_slope_12m == pytest.approx(slope)
    assert s1.gmv_trend_slope_relative_12m == pytest.approx(slope / mean)
    # S2 registered exactly 30 days before as_of: one observed month, too few for a CV
    s2 = table.loc["S2"]
    assert s2.active_month_share_12m == 1.0
    assert pd.isna(s2.gmv_monthly_cv_12m) and pd.isna(s2.gmv_trend_slope_12m)


def test_stability_days_and_gaps(table: pd.DataFrame) -> None:
    s1 = table.loc["S1"]
    assert s1.active_days_90d == 3  # days 4, 9 and 39 before as_of
    # active days 4, 9, 39, 99, 199 of 365: the longest run is after day 199 (165 days)
    assert s1.longest_gap_days_365d == 165.0
    assert s1.days_since_last_order == 5.0
    # S2: one order on day 19 of a 30-day life: runs of 19 and 10 days
    assert table.loc["S2", "longest_gap_days_365d"] == 19.0


def test_quality_rates_follow_the_point_in_time_rules(table: pd.DataFrame) -> None:
    s1 = table.loc["S1"]
    # matured orders (more than 30 days old): o2 (40 days) in the 90-day window, o2, o3
    # and o4 in the 365-day window; o1 (10 days, refunded) and o5 (5 days) are too young
    assert s1.refund_rate_90d == 0.0
    assert s1.refund_rate_365d == pytest.approx(1 / 3)  # o4
    assert s1.refund_amount_rate_365d == pytest.approx(400 / 900)
    # of the matured o2, o3, o4: o3 cancelled, o4 disputed; o5 is cancelled and disputed
    # but only 5 days old (not matured)
    assert s1.cancellation_rate_365d == pytest.approx(1 / 3)
    assert s1.dispute_rate_365d == pytest.approx(1 / 3)
    # on time: o1 and o4 (shipped after 1 day); late: o2 (4 days), o3 and o5 (never)
    assert s1.late_shipment_rate_365d == pytest.approx(3 / 5)
    assert s1.mean_shipping_days_365d == pytest.approx((1 + 4 + 1) / 3)
    assert table.loc["S2", "mean_shipping_days_365d"] == pytest.approx(0.5)


def test_customer_concentration(table: pd.DataFrame) -> None:
    s1 = table.loc["S1"]
    # buyers: b1 300 (o1, o2), b2 350 (o3, o5), b3 400 (o4)
    assert (s1.distinct_buyers_365d, s1.distinct_buyers_90d) == (3, 2)
    assert s1.orders_per_buyer_365d == pytest.approx(5 / 3)
    assert s1.repeat_buyer_share_365d == pytest.approx(2 / 3)
    assert s1.new_buyer_share_90d == pytest.approx(1 / 2)  # b1 new, b2 bought o3 before
    assert s1.top_buyer_share_365d == pytest.approx(400 / 1050)
    assert s1.buyer_hhi_365d == pytest.approx((300**2 + 350**2 + 400**2) / 1050**2)


def test_channel_mix_tenure_and_cash_cycle(table: pd.DataFrame) -> None:
    s1 = table.loc["S1"]
    assert (s1.dropship_share_365d, s1.custom_share_365d, s1.sample_share_365d,
            s1.cross_border_share_365d) == pytest.approx((0.2, 0.2, 0.0, 0.2))
    assert s1.tenure_days == pytest.approx(546 + 16 / 24)  # 2024-01-01 to 2025-06-30 16:00
    assert s1.days_since_first_order == 200.0
    # paid out before as_of: o1 after 7 days, o2 after 10, o4 after 10
    assert s1.median_payout_delay_days_365d == 10.0
    assert s1.p90_payout_delay_days_365d == 10.0
    assert s1.paid_out_share_365d == pytest.approx(2 / 3)  # matured o2, o3, o4: o2, o4
    # S2's p1 shipped but is paid out after as_of: censored at the 20 days it waited
    assert table.loc["S2", "median_payout_delay_days_365d"] == 20.0
    assert table.loc["S2", "cross_border_share_365d"] == 1.0


def test_seller_without_orders_gets_zero_gmv_and_no_exception(table: pd.DataFrame) -> None:
    s3 = table.loc["S3"]
    assert s3.gmv_365d == 0.0 and s3.order_count_all_time == 0
    assert s3.distinct_buyers_365d == 0 and s3.active_days_90d == 0
    for name in ("refund_rate_365d", "top_buyer_share_365d", "avg_order_value_365d",
                 "days_since_last_order", "median_payout_delay_days_365d",
                 "gmv_monthly_cv_12m"):
        assert pd.isna(s3[name]), name
    assert s3.active_month_share_12m == 0.0  # six complete months, none active
    assert s3.longest_gap_days_365d == 181.0  # registered 180 days and 16 hours ago


def test_empty_orders_give_every_seller_a_row(sellers: pd.DataFrame) -> None:
    orders = validated_orders([], sellers)
    empty = build_features(orders, sellers, AS_OF)
    assert list(empty.index) == ["S1", "S2", "S3"]
    assert (empty["gmv_365d"] == 0).all() and empty["refund_rate_365d"].isna().all()


def test_no_sellers_gives_an_empty_table_with_the_same_columns(sellers: pd.DataFrame) -> None:
    orders = validated_orders([], sellers)
    empty = build_features(orders, sellers.iloc[:0], AS_OF)
    full = build_features(orders, sellers, AS_OF)
    assert len(empty) == 0
    pd.testing.assert_series_equal(empty.dtypes, full.dtypes)


def test_dtypes_counts_int_ratios_float_profile_categorical(table: pd.DataFrame) -> None:
    assert table["order_count_365d"].dtype == np.int64
    assert table["distinct_buyers_365d"].dtype == np.int64
    assert table["gmv_365d"].dtype == np.float64
    assert list(table["seller_kind"].cat.categories) == list(SELLER_KINDS)
    assert list(table["membership_tier"].cat.categories) == list(MEMBERSHIP_TIERS)
    assert list(table["seller_kind"]) == ["shop", "factory", "shop"]
    assert list(table["membership_tier"]) == ["gold", "basic", "silver"]


def test_features_do_not_depend_on_the_order_of_the_rows(sellers: pd.DataFrame,
                                                         table: pd.DataFrame) -> None:
    orders = validated_orders(example_orders(), sellers)
    shuffled = orders.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(build_features(shuffled, sellers, AS_OF), table,
                                  check_exact=True)


def test_features_parameter_restricts_the_columns(sellers: pd.DataFrame,
                                                  table: pd.DataFrame) -> None:
    orders = validated_orders(example_orders(), sellers)
    core = build_features(orders, sellers, AS_OF, features=CORE_FEATURES)
    assert list(core.columns) == [name for name in ALL_FEATURES if name in CORE_FEATURES]
    pd.testing.assert_frame_equal(core, table[core.columns], check_exact=True)
    with pytest.raises(ValueError, match="unknown features: no_such_feature"):
        build_features(orders, sellers, AS_OF, features=["no_such_feature"])


def test_missing_columns_raise_a_value_error_naming_them(sellers: pd.DataFrame) -> None:
    orders = validated_orders(example_orders(), sellers)
    with pytest.raises(ValueError, match="orders is missing columns: buyer_id, shipped_at"):
        build_features(orders.drop(columns=["buyer_id", "shipped_at"]), sellers, AS_OF)
    with pytest.raises(ValueError, match="sellers is missing columns: registered_at"):
        build_features(orders, sellers.drop(columns=["registered_at"]), AS_OF)


def test_raw_unvalidated_frames_are_refused_with_the_dtype_named(
        sellers: pd.DataFrame) -> None:
    raw = pd.DataFrame(example_orders())  # ISO strings, as read from a CSV file
    with pytest.raises(ValueError, match="created_at .timezone-aware timestamp expected"):
        build_features(raw, sellers, AS_OF)


def test_orders_of_unknown_sellers_are_refused(sellers: pd.DataFrame) -> None:
    orders = validated_orders(example_orders(), sellers)
    with pytest.raises(ValueError, match="1 orders belong to sellers missing"):
        build_features(orders, sellers[sellers["seller_id"] != "S2"], AS_OF)


def test_several_currencies_are_refused(sellers: pd.DataFrame) -> None:
    orders = validated_orders(example_orders(), sellers)
    orders.loc[0, "currency"] = "USD"
    with pytest.raises(ValueError, match="several currencies"):
        build_features(orders, sellers, AS_OF)


def test_naive_as_of_is_read_in_the_lenders_time_zone() -> None:
    assert resolve_as_of("2025-07-01") == AS_OF
    assert resolve_as_of(pd.Timestamp("2025-07-01").date()) == AS_OF
    assert resolve_as_of("2025-07-01", timezone="UTC") == pd.Timestamp("2025-07-01", tz="UTC")
    aware = pd.Timestamp("2025-07-01T00:00:00+02:00")
    assert resolve_as_of(aware) == aware
    with pytest.raises(ValueError, match="as_of must be a date"):
        resolve_as_of("not a date")


def test_naive_and_aware_as_of_for_the_same_moment_give_the_same_table(
        sellers: pd.DataFrame, table: pd.DataFrame) -> None:
    orders = validated_orders(example_orders(), sellers)
    pd.testing.assert_frame_equal(build_features(orders, sellers, "2025-07-01"), table,
                                  check_exact=True)


def test_shipping_sla_parameter_moves_the_deadline(sellers: pd.DataFrame) -> None:
    orders = validated_orders(example_orders(), sellers)
    lenient = build_features(orders, sellers, AS_OF, shipping_sla_days=4)
    assert lenient.loc["S1", "late_shipment_rate_365d"] == pytest.approx(2 / 5)  # o2 on time


def test_young_sellers_first_partial_day_counts_in_the_gap_span() -> None:
    sellers = validated_sellers([seller("N", at(1, hours=-12))])  # 1.5 days old
    orders = validated_orders([order("n1", "N", "b", at(0, hours=-1), 5.0)], sellers)
    table = build_features(orders, sellers, AS_OF)
    assert table.loc["N", "longest_gap_days_365d"] == 1.0  # days 0 (active) and 1 (empty)
    assert table["active_month_share_12m"].isna().all()  # no complete month yet


def test_docs_document_every_feature_and_family() -> None:
    from pathlib import Path

    from features.registry import FAMILIES

    docs = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    missing = [name for name in FEATURES if f"`{name}`" not in docs]
    assert not missing, f"docs/features.md lacks {missing}; regenerate the tables"
    assert all(f"(`{family}`" in docs for family in FAMILIES)


def test_blocks_running_in_threads_give_exactly_the_sequential_table() -> None:
    from synth.marketplace import generate_marketplace

    market = generate_marketplace(2200, 24, seed=4)  # over 200,000 orders: threads are used
    assert len(market.orders) > 200_000
    sequential = build_features(market.orders, market.sellers, market.as_of, threads=1)
    threaded = build_features(market.orders, market.sellers, market.as_of, threads=3)
    pd.testing.assert_frame_equal(threaded, sequential, check_exact=True)
