"""Stability: PSI of score and features, flags and the small-sample warning."""

from __future__ import annotations

import pytest

from scoring import Scorer
from scoring.monitor import MIN_SAMPLE_ROWS, flag, stability_report
from tests.scoring.conftest import Market


def test_psi_flags_at_one_tenth_and_one_quarter() -> None:
    assert [flag(v) for v in (0.0, 0.099, 0.1, 0.249, 0.25, 2.0)] == [
        "stable", "stable", "shift", "shift", "major shift", "major shift"]


def test_a_population_compared_with_itself_is_stable(market: Market,
                                                     market_scorer: Scorer) -> None:
    report = stability_report(market_scorer, market.table, market.table)
    assert report.score.psi == pytest.approx(0.0, abs=1e-12)
    assert all(f.psi == pytest.approx(0.0, abs=1e-12) for f in report.features)
    assert report.warnings == ()
    assert [f.name for f in report.features] == list(market_scorer.feature_names)


def test_a_riskier_population_shifts_the_score(market: Market,
                                               market_scorer: Scorer) -> None:
    riskier = market.table.copy()
    riskier["dispute_rate_365d"] = riskier["dispute_rate_365d"].fillna(0) + 0.3
    riskier["refund_rate_365d"] = riskier["refund_rate_365d"].fillna(0) + 0.4
    report = stability_report(market_scorer, riskier, market.table)
    assert report.score.psi > stability_report(market_scorer, market.table.iloc[::2],
                                               market.table).score.psi
    by_name = {f.name: f for f in report.features}
    assert by_name["refund_rate_365d"].flag == "major shift"
    assert by_name["gmv_365d"].flag == "stable"
    assert sum(report.score.current[:-1]) == pytest.approx(1.0)


def test_the_training_sample_is_the_default_reference(market: Market,
                                                      market_scorer: Scorer) -> None:
    report = stability_report(market_scorer, market.table)
    assert report.reference == "training sample" and report.n_reference is None
    assert report.score.reference == market.model.score_reference_.shares
    small = stability_report(market_scorer, market.table.head(MIN_SAMPLE_ROWS - 1))
    assert len(small.warnings) == 1 and f"{MIN_SAMPLE_ROWS - 1} rows" in small.warnings[0]
