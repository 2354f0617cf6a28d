"""Fairness by segment: approval rates, adverse impact ratios and calibration intervals on
hand-made tables whose answers are known."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from lending.policy import ScoreSummary, SellerProfile, decide, load_policy
from models.backtest import grades_of
from models.fairness import (
    AIR_BELOW_MIN,
    CALIBRATION_OUTSIDE,
    SMALL_SEGMENT,
    ApprovalRule,
    FairnessConfig,
    fairness_report,
    tenure_bands,
)
from scoring.config import GradeBands


def _table() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """100 shops all approved (PD 0.02, 10 defaults), 50 factories half approved (PD 0.02
    or 0.20, 5 defaults) and 10 sellers of kind ``trader``, none approved."""
    y = np.r_[np.zeros(90), np.ones(10), np.zeros(45), np.ones(5), np.zeros(10)]
    pd_ = np.r_[np.full(100, 0.02), np.full(25, 0.02), np.full(25, 0.20), np.full(10, 0.30)]
    frame = pd.DataFrame({
        "seller_kind": ["shop"] * 100 + ["factory"] * 50 + ["trader"] * 10,
        "tenure_days": np.r_[np.full(100, 400.0), np.full(50, 30.0), np.full(10, np.nan)],
        "income": np.arange(160.0),
    })
    return y, pd_, frame


def _row(report_table: pd.DataFrame, dimension: str, segment: str) -> dict[str, object]:
    found = report_table[(report_table["dimension"] == dimension)
                         & (report_table["segment"] == segment)]
    assert len(found) == 1, (dimension, segment)
    return dict(found.iloc[0])


def test_adverse_impact_ratio_is_the_approval_rate_over_the_most_approved_segments() -> None:
    y, pd_, frame = _table()
    report = fairness_report(y, pd_, frame)
    shop = _row(report.table, "seller kind", "shop")
    factory = _row(report.table, "seller kind", "factory")
    assert (shop["n"], shop["approved"], shop["approval_rate"], shop["air"]) == (
        100, 100, 1.0, 1.0)
    assert (factory["n"], factory["approved"]) == (50, 25)
    assert factory["air"] == pytest.approx(0.5)
    assert AIR_BELOW_MIN in factory["flags"]  # type: ignore[operator]


def test_calibration_interval_is_jeffreys_and_a_miss_is_flagged() -> None:
    y, pd_, frame = _table()
    report = fairness_report(y, pd_, frame)
    shop = _row(report.table, "seller kind", "shop")
    # four segments may warn (shop, factory and two tenure bands): Bonferroni, each at
    # 1 - 0.05 / 4
    lower, upper = beta.ppf([0.00625, 0.99375], 10.5, 90.5)
    assert shop["lower"] == pytest.approx(lower) and shop["upper"] == pytest.approx(upper)
    single = _row(fairness_report(y, pd_, frame, FairnessConfig(family_wise=False)).table,
                  "seller kind", "shop")
    assert (single["lower"], single["upper"]) == pytest.approx(
        tuple(beta.ppf([0.025, 0.975], 10.5, 90.5)))
    assert shop["observed_rate"] == pytest.approx(0.10) and shop["mean_pd"] == pytest.approx(0.02)
    assert CALIBRATION_OUTSIDE in shop["flags"]  # type: ignore[operator]
    factory = _row(report.table, "seller kind", "factory")
    assert factory["mean_pd"] == pytest.approx(0.11)  # inside [0.039, 0.205]
    assert CALIBRATION_OUTSIDE not in factory["flags"]  # type: ignore[operator]


def test_a_small_segment_is_shown_but_never_warns_nor_sets_the_reference() -> None:
    y, pd_, frame = _table()
    report = fairness_report(y, pd_, frame)
    trader = _row(report.table, "seller kind", "trader")
    assert trader["n"] == 10 and trader["approval_rate"] == 0.0 and trader["air"] == 0.0
    assert trader["flags"] == [SMALL_SEGMENT]
    assert set(report.warnings()["segment"]) == {"shop", "factory", "12-24 months",
                                                 "<6 months"}
    # a small segment approved more than every large one does not become the reference
    pd_small_best = pd_.copy()
    pd_small_best[150:] = 0.001
    shop = _row(fairness_report(y, pd_small_best, frame).table, "seller kind", "shop")
    assert shop["air"] == 1.0
    # with a lower size bound the traders count, and warn
    lowered = fairness_report(y, pd_, frame, FairnessConfig(min_segment_size=5))
    assert AIR_BELOW_MIN in _row(lowered.table, "seller kind", "trader")["flags"]  # type: ignore[operator]


def test_tenure_is_banded_by_months_and_missing_dimensions_are_skipped_with_a_note() -> None:
    y, pd_, frame = _table()
    report = fairness_report(y, pd_, frame)
    tenure = report.table[report.table["dimension"] == "tenure"]
    assert list(tenure["segment"]) == ["<6 months", "12-24 months", "missing"]
    assert list(tenure["n"]) == [50, 100, 10]
    assert list(tenure_bands([0, 179, 180, 359, 360, 1799, 1800, 9000],
                             (6, 12, 24, 60))) == [
        "<6 months", "<6 months", "6-12 months", "6-12 months", "12-24 months",
        "24-60 months", "60+ months", "60+ months"]
    assert set(report.table["dimension"]) == {"seller kind", "tenure"}
    assert any(note.startswith("industry: skipped") for note in report.notes)
    assert any(note.startswith("region: skipped") for note in report.notes)
    kind_only = fairness_report(y, pd_, frame.rename(columns={"seller_kind": "kind"})
                                .drop(columns=["tenure_days"]))
    assert set(kind_only.table["dimension"]) == {"seller kind"}


def test_json_shape_is_the_documented_one_with_null_for_missing_numbers() -> None:
    y, pd_, frame = _table()
    y, pd_, frame = y[:100], np.full(100, 0.5), frame.iloc[:100]  # nobody approved
    document = fairness_report(y, pd_, frame).to_dict()
    assert set(document) == {"segments", "thresholds", "notes"}
    assert set(document["segments"][0]) == {"dimension", "segment", "n", "approval_rate",
                                            "air", "mean_pd", "observed_rate", "lower",
                                            "upper", "flags"}
    assert document["segments"][0]["air"] is None
    assert document["thresholds"]["min_air"] == 0.8
    assert document["thresholds"]["approval"]["approve_grades"] == ("A", "B", "C")
    assert any("no applicant approved" in note for note in document["notes"])


def test_default_approval_rule_agrees_with_the_default_credit_policy() -> None:
    """models/ sits below lending/, so the rule's defaults are the policy's figures: this
    keeps the two in step."""
    policy = load_policy()
    bands = GradeBands()
    rule = ApprovalRule()
    assert rule.policy_version == policy.version
    assert rule.grade_upper_pd == tuple(bands.upper_pd)
    assert rule.grade_labels == tuple(bands.labels)
    assert rule.max_pd == float(policy.decision.refer_pd_above)
    pds = np.r_[np.linspace(0.0, 0.4, 401), [0.01, 0.025, 0.05, 0.10, 0.25]]
    grades = grades_of(pds, rule.grade_upper_pd, rule.grade_labels)
    seller = SellerProfile("S1", "shop", Decimal("5000000"), Decimal("20"))
    expected = [decide(ScoreSummary(Decimal(repr(float(p))), Decimal("600"), str(g)),
                       seller, policy).outcome == "approve" for p, g in zip(pds, grades,
                                                                              strict=True)]
    np.testing.assert_array_equal(rule.approved(pds), expected)


def test_bad_thresholds_name_the_field() -> None:
    y, pd_, frame = _table()
    for config, field in ((FairnessConfig(min_air=0.0), "min_air"),
                          (FairnessConfig(min_segment_size=0), "min_segment_size"),
                          (FairnessConfig(tenure_band_months=(12, 6)), "tenure_band_months"),
                          (FairnessConfig(approval=ApprovalRule(approve_grades=("Z",))),
                           "approve_grades")):
        with pytest.raises(ValueError, match=field):
            fairness_report(y, pd_, frame, config)
    with pytest.raises(ValueError, match="differ in length"):
        fairness_report(y[:-1], pd_, frame)
