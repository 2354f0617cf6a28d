"""Reasons a borrower can act on: one statement per factor, against the approval cut-off."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.registry import FAMILIES, get_feature, risk_direction
from scoring import REASON_CODES, Scorer, ScoringConfig
from scoring.reasons import (
    ADJUSTS,
    CutoffReference,
    Reason,
    build_factors,
    feature_statement,
    reason_group_for,
)
from tests.models.conftest import CreditTable
from tests.scoring.conftest import Market

CUTOFF_EN = "typical approved applicant at the cut-off"
CUTOFF_ZH = "审批线上获批商户的典型值"


@pytest.fixture(scope="module")
def cutoff_scorer(market: Market) -> Scorer:
    """The market model with the marketplace itself as the reference sample."""
    return Scorer(market.model, model_name="market-pd", model_version="7",
                  reference=market.table)


@pytest.fixture(scope="module")
def scored(market: Market, cutoff_scorer: Scorer):  # type: ignore[no-untyped-def]
    return cutoff_scorer.score_batch(market.table)


def _points(scorer: Scorer, contributions: np.ndarray) -> np.ndarray:
    reasons = scorer.reasons
    return reasons.factor_points(reasons.feature_points(contributions))


def test_the_comparison_point_is_the_typical_applicant_approved_just_at_the_cutoff(
        market: Market, cutoff_scorer: Scorer, scored) -> None:  # type: ignore[no-untyped-def]
    reference = cutoff_scorer.reasons.reference
    config = cutoff_scorer.config
    assert reference.at_cutoff and reference.rows == config.reference_band_rows
    pd_ = scored.probability_of_default
    approved = np.sort(pd_[pd_ <= config.approval_cutoff_pd])
    band = approved[-reference.rows:]
    # the band is the approved applicants with the highest PDs: none above the cut-off,
    # and none approved with a higher PD left out
    assert band.max() <= config.approval_cutoff_pd
    assert (pd_[pd_ <= config.approval_cutoff_pd] > band.min()).sum() < reference.rows
    in_band = np.flatnonzero((pd_ <= config.approval_cutoff_pd) & (pd_ >= band.min()))
    assert reference.raw_score == pytest.approx(scored.raw_score[in_band].mean(), abs=0.05)
    assert cutoff_scorer.reference_points == pytest.approx(
        cutoff_scorer.config.scale.points(
            cutoff_scorer.model.calibration_.points_log_odds(reference.raw_score)), abs=1e-9)
    position = cutoff_scorer.feature_names.index("late_shipment_rate_365d")
    assert reference.values[position] == pytest.approx(
        np.nanmedian(market.table["late_shipment_rate_365d"].to_numpy(float)[in_band]),
        abs=0.02)


def test_the_points_against_the_cutoff_add_up_to_the_gap_and_the_shap_values_are_unchanged(
        cutoff_scorer: Scorer, market_scorer: Scorer, market: Market,
        scored) -> None:  # type: ignore[no-untyped-def]
    factors = _points(cutoff_scorer, scored.contributions)
    gap = scored.points - cutoff_scorer.reference_points
    np.testing.assert_allclose(factors.sum(axis=1), gap, atol=1e-9)
    # the reference changes the reasons only: the contributions are the model's own
    plain = market_scorer.score_batch(market.table)
    np.testing.assert_array_equal(plain.contributions, scored.contributions)
    np.testing.assert_array_equal(plain.points, scored.points)


def test_each_reason_states_one_feature_with_the_sellers_value_and_the_cutoff_value(
        market: Market, cutoff_scorer: Scorer, scored) -> None:  # type: ignore[no-untyped-def]
    seen = 0
    for position in range(200):
        result = scored[position]
        record = market.table.iloc[position]
        reasons = (*result.adverse_reasons, *result.positive_factors)
        assert len({r.feature for r in reasons}) == len(reasons)  # one statement per feature
        for reason in reasons:
            seen += 1
            spec = get_feature(reason.feature)
            assert spec is not None and reason.code == REASON_CODES[spec.family]
            assert reason.unit == spec.unit and reason.drivers[0].feature == reason.feature
            value = record[reason.feature]
            if reason.value is None:
                assert pd.isna(value)
            elif isinstance(reason.value, str):
                assert reason.value == str(value)
            else:
                assert reason.value == pytest.approx(float(value))
            assert (reason.text_en, reason.text_zh) == feature_statement(
                reason.feature, reason.value, reason.compared_with)
            assert CUTOFF_EN in reason.text_en and CUTOFF_ZH in reason.text_zh
            assert "average" not in reason.text_en and "point" not in reason.text_en
    assert seen > 100


def test_a_factor_counts_only_with_a_minimum_share_of_the_gap_and_at_most_four_are_given(
        cutoff_scorer: Scorer, scored) -> None:  # type: ignore[no-untyped-def]
    config = cutoff_scorer.config
    factors = _points(cutoff_scorer, scored.contributions)
    codes = cutoff_scorer.reasons.factors
    for position in range(len(scored)):
        result = scored[position]
        gap = float(result.points - result.reference_points)
        floor = max(config.min_reason_points, config.min_gap_share * max(0.0, -gap))
        adverse = result.adverse_reasons
        assert len(adverse) <= config.max_adverse_reasons == 4
        assert [r.points for r in adverse] == sorted(r.points for r in adverse)
        for reason in adverse:
            assert reason.direction == "adverse" and reason.points <= -floor
            if gap < 0:
                assert reason.share_of_gap == pytest.approx(reason.points / gap)
                assert reason.share_of_gap >= config.min_gap_share
        named = {r.feature for r in adverse}
        if len(adverse) < config.max_adverse_reasons:
            # any other principal factor past the floor was left out for its value's side
            for k, factor in enumerate(codes):
                if factor.feature not in named and factor.principal \
                        and factors[position, k] <= -floor:
                    assert risk_direction(factor.feature) != 0, factor.feature
        positive = result.positive_factors
        assert all(r.direction == "positive" and r.points >= config.min_reason_points
                   for r in positive)


def test_half_a_point_is_not_a_principal_reason(market: Market) -> None:
    scorer = Scorer(market.model, model_name="m", model_version="1", reference=market.table,
                    config=ScoringConfig(min_gap_share=0.0))
    for result in scorer.score_batch(market.table.head(300)):
        assert all(r.points <= -2.0 for r in result.adverse_reasons)


def test_an_adverse_reason_has_the_seller_on_the_risky_side_of_the_cutoff_applicant(
        cutoff_scorer: Scorer, scored) -> None:  # type: ignore[no-untyped-def]
    for position in range(len(scored)):
        result = scored[position]
        for reason in (*result.adverse_reasons, *result.positive_factors):
            direction = risk_direction(reason.feature)
            if direction == 0 or reason.value is None or reason.compared_with is None:
                continue
            riskier = direction * (float(reason.value) - float(reason.compared_with))
            assert riskier > 0 if reason.direction == "adverse" else riskier < 0


def test_adjustment_features_are_folded_into_the_factor_they_adjust(
        cutoff_scorer: Scorer, scored) -> None:  # type: ignore[no-untyped-def]
    names = cutoff_scorer.feature_names
    factors = {f.feature: f for f in cutoff_scorer.reasons.factors}
    assert not set(ADJUSTS) & set(factors)  # no adjustment feature is a factor of its own
    shipping = factors["mean_shipping_days_365d"]
    assert [names[j] for j in shipping.members] == [
        "mean_shipping_days_365d", "custom_share_365d", "sample_share_365d"]
    payout = factors["median_payout_delay_days_365d"]
    assert {names[j] for j in payout.members} == {
        "median_payout_delay_days_365d", "cross_border_share_365d", "seller_kind"}
    top = [scored[i].adverse_reasons[0].feature for i in range(len(scored))
           if scored[i].adverse_reasons]
    assert top and not set(ADJUSTS) & set(top)
    for i in range(100):  # a folded factor's points are its members' points
        for reason in scored[i].adverse_reasons:
            assert reason.points == pytest.approx(sum(d.points for d in reason.drivers),
                                                  abs=1e-9)


def test_an_adjustment_without_the_factor_it_adjusts_is_never_a_reason() -> None:
    factors = build_factors(["custom_share_365d", "refund_rate_365d", "seller_kind",
                             "median_payout_delay_days_365d"])
    assert [(f.feature, f.principal) for f in factors] == [
        ("custom_share_365d", False), ("refund_rate_365d", True),
        ("median_payout_delay_days_365d", True)]
    assert factors[2].members == (3, 2)


def test_the_top_reason_holds_under_one_percent_noise_for_grade_d_and_e_applicants(
        market: Market, cutoff_scorer: Scorer, scored) -> None:  # type: ignore[no-untyped-def]
    weak = np.flatnonzero(np.isin(scored.grade, ["D", "E"]))
    assert len(weak) >= 100
    table = market.table.iloc[weak]
    noisy = table.copy()
    rng = np.random.default_rng(2026)
    for column in table.columns:
        if pd.api.types.is_float_dtype(table[column]) or pd.api.types.is_integer_dtype(
                table[column]):
            values = table[column].to_numpy(dtype=float)
            noisy[column] = values * (1.0 + 0.01 * rng.standard_normal(len(values)))
    before = scored.adverse[weak, 0]
    after = cutoff_scorer.score_batch(noisy).adverse[:, 0]
    assert (before >= 0).mean() > 0.95  # nearly every D and E applicant has a reason
    unchanged = float((before == after).mean())
    assert unchanged >= 0.95, f"top reason unchanged for only {unchanged:.1%}"


def test_one_applicant_gets_the_same_reasons_alone_and_in_a_batch(
        market: Market, cutoff_scorer: Scorer, scored) -> None:  # type: ignore[no-untyped-def]
    codes = scored.reason_codes()
    for position, record in enumerate(market.table.head(60).to_dict(orient="records")):
        alone, together = cutoff_scorer.score(record), scored[position]
        for mine, theirs in ((alone.adverse_reasons, together.adverse_reasons),
                             (alone.positive_factors, together.positive_factors)):
            # the single-row and the batch path agree to the last bits of a sum of trees
            assert [(r.feature, r.text_en, r.text_zh) for r in mine] == [
                (r.feature, r.text_en, r.text_zh) for r in theirs]
            assert [r.points for r in mine] == pytest.approx([r.points for r in theirs],
                                                             abs=1e-9)
        assert list(alone.reason_codes) == codes[position]
    frame = scored.to_frame()
    first = json.loads(frame["reasons"].iloc[0])["adverse_reasons"]
    assert [r["code"] for r in first] == [c for c in frame.iloc[0][
        [f"reason_code_{k}" for k in range(1, 5)]] if pd.notna(c)]


def test_the_one_row_and_the_batch_arithmetic_choose_the_same_factors(
        cutoff_scorer: Scorer, scored) -> None:  # type: ignore[no-untyped-def]
    factors = cutoff_scorer.reasons.factors
    codes = scored.reason_codes()
    for position in range(len(scored)):
        adverse, positive, _ = cutoff_scorer.reasons.explain(
            scored.matrix[position], scored.contributions[position])
        assert [r.feature for r in adverse] == [
            factors[k].feature for k in scored.adverse[position] if k >= 0]
        assert [r.code for r in adverse] == codes[position]
        assert len(positive) <= cutoff_scorer.config.max_positive_factors


def test_a_reason_reads_back_from_its_stored_form(scored) -> None:  # type: ignore[no-untyped-def]
    reasons = [r for i in range(50) for r in (*scored[i].adverse_reasons,
                                              *scored[i].positive_factors)]
    assert reasons
    for reason in reasons:
        assert Reason.from_dict(json.loads(json.dumps(reason.to_dict()))) == reason


@pytest.mark.parametrize(("feature", "value", "compared", "english", "chinese"), [
    ("late_shipment_rate_365d", 0.18, 0.06,
     "Late shipments: 18 % of orders in the last 12 months (typical approved applicant at "
     "the cut-off: 6 %).", "延迟发货：近12个月订单的18 %（审批线上获批商户的典型值：6 %）。"),
    ("median_payout_delay_days_365d", 21.0, 9.5,
     "Median time from order to payout in the last 12 months: 21 days (typical approved "
     "applicant at the cut-off: 9.5 days).",
     "近12个月从下单到回款的中位时长：21天（审批线上获批商户的典型值：9.5天）。"),
    ("gmv_365d", 182345.5, 640000.0,
     "Sales in the last 12 months: CNY 182,346 (typical approved applicant at the cut-off: "
     "CNY 640,000).", "近12个月销售额：182,346元（审批线上获批商户的典型值：640,000元）。"),
    ("gmv_growth_yoy_365d", -0.35, 0.08,
     "Sales in the last 12 months against the 12 months before: -35 % (typical approved "
     "applicant at the cut-off: +8 %).",
     "近12个月销售额较前12个月：-35 %（审批线上获批商户的典型值：+8 %）。"),
    ("membership_tier", "basic", "gold",
     "Membership tier: basic (typical approved applicant at the cut-off: gold).",
     "会员等级：普通会员（审批线上获批商户的典型值：黄金会员）。"),
    ("median_payout_delay_days_365d", None, 9.0,
     "Median time from order to payout in the last 12 months: none recorded (typical "
     "approved applicant at the cut-off: 9 days).",
     "近12个月从下单到回款的中位时长：无记录（审批线上获批商户的典型值：9天）。"),
    ("income_ratio", 0.4213, None,
     "Income_ratio: 0.42 (typical approved applicant at the cut-off: none recorded).",
     "income_ratio：0.42（审批线上获批商户的典型值：无记录）。"),
])
def test_a_statement_gives_the_value_and_what_it_is_compared_with_in_both_languages(
        feature: str, value: float | str | None, compared: float | str | None,
        english: str, chinese: str) -> None:
    assert feature_statement(feature, value, compared) == (english, chinese)


def test_every_model_feature_of_the_registry_has_a_statement_and_every_family_a_code() -> None:
    from features.registry import FEATURES
    from scoring.reasons import STATEMENTS

    assert set(FEATURES) <= set(STATEMENTS)
    assert set(REASON_CODES) == set(FAMILIES)
    assert len(set(REASON_CODES.values())) == len(REASON_CODES)
    assert reason_group_for("refund_rate_365d").code == "R-QUALITY"
    assert reason_group_for("income_ratio").code == "R-FEATURE:income_ratio"


def test_without_a_reference_sample_reasons_say_they_compare_with_the_training_average(
        market: Market, market_scorer: Scorer) -> None:
    reference = market_scorer.reasons.reference
    assert not reference.at_cutoff
    assert market_scorer.reference_points == pytest.approx(market_scorer.baseline_points)
    results = list(market_scorer.score_batch(market.table.head(50)))
    reasons = [r for result in results for r in result.adverse_reasons]
    assert reasons
    for reason in reasons:
        assert reason.compared_with is None
        assert "average applicant" in reason.text_en and "平均申请人" in reason.text_zh


def test_a_generic_model_states_its_own_features(generic: CreditTable,
                                                 generic_model) -> None:  # type: ignore[no-untyped-def]
    scorer = Scorer(generic_model, model_name="generic-pd", model_version="1",
                    reference=generic.features,
                    config=ScoringConfig(approval_cutoff_pd=0.5))
    reasons = [r for result in scorer.score_batch(generic.features.head(80))
               for r in result.adverse_reasons]
    assert reasons
    for reason in reasons:
        assert reason.code == f"R-FEATURE:{reason.feature}"
        assert reason.text_en.startswith(f"{reason.feature[:1].upper()}{reason.feature[1:]}: ")


def test_a_reference_sample_without_an_approved_applicant_is_refused(market: Market) -> None:
    with pytest.raises(ValueError, match="cut-off 1e-06"):
        Scorer(market.model, model_name="m", model_version="1", reference=market.table,
               config=ScoringConfig(approval_cutoff_pd=1e-6))
    with pytest.raises(ValueError, match="approval_cutoff_pd"):
        ScoringConfig(approval_cutoff_pd=1.0).check()
    with pytest.raises(ValueError, match="lacks feature column"):
        Scorer(market.model, model_name="m", model_version="1",
               reference=market.table.drop(columns=["gmv_365d"]))
    assert CutoffReference.training_average(3, -2.0, 0.05).to_dict()["values"] == [None] * 3
