"""Points, grades and reasons as a loan officer and the marketplace read them."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from models import Calibration, CreditModel
from scoring import GradeBands, Scorer, ScoreScale, ScoringConfig
from tests.scoring.conftest import Market


def test_600_points_at_50_to_1_odds_and_20_more_points_each_time_the_odds_double() -> None:
    scale = ScoreScale()
    assert scale.points(-math.log(50)) == pytest.approx(600.0, abs=1e-9)
    assert scale.points(-math.log(100)) == pytest.approx(620.0, abs=1e-9)
    assert scale.points(-math.log(25)) == pytest.approx(580.0, abs=1e-9)
    custom = ScoreScale(base_points=500, base_odds=20, pdo=40)
    assert custom.points(-math.log(40)) == pytest.approx(540.0, abs=1e-9)


def test_points_are_the_baseline_plus_the_points_of_every_reason_family(
        market: Market, market_scorer: Scorer) -> None:
    batch = market_scorer.score_batch(market.table.head(200))
    baseline = market_scorer.baseline_points
    np.testing.assert_allclose(batch.points, baseline + batch.family_points.sum(axis=1),
                               atol=1e-9)
    result = batch[0]
    assert result.points == pytest.approx(
        result.baseline_points + sum(p for _, p in result.family_points), abs=1e-9)
    # the baseline is the model's expected raw score (LightGBM's __bias__) in points, on the
    # calibrated log-odds a * bias + b of the model's Platt map
    bias = market.model.explain(market.table.head(1))["__bias__"].iloc[0]
    calibration = market.model.calibration_
    assert calibration.method == "platt" and calibration.points_slope != 1.0
    assert baseline == pytest.approx(ScoreScale().points(
        calibration.points_slope * bias + calibration.points_intercept), abs=1e-9)


def test_points_come_from_the_calibrated_log_odds_and_the_pd_from_the_calibration(
        market: Market, tmp_path: Path) -> None:
    model = CreditModel.load(market.model.save(tmp_path / "m"))
    model.calibration_ = Calibration("platt", 0.7, -0.4, points_slope=0.7,
                                     points_intercept=-0.4)
    scorer = Scorer(model, model_name="calibrated", model_version="1")
    batch = scorer.score_batch(market.table)
    np.testing.assert_allclose(batch.probability_of_default, np.clip(
        1 / (1 + np.exp(-(0.7 * batch.raw_score - 0.4))), 0.0003, 0.9997), atol=1e-12)
    np.testing.assert_allclose(batch.points, ScoreScale().offset
                               - ScoreScale().factor * (0.7 * batch.raw_score - 0.4),
                               atol=1e-9)
    # the points' odds are the PD's odds (inside the PD floor)
    inside = batch.probability_of_default > 0.0003
    pd_ = batch.probability_of_default[inside]
    np.testing.assert_allclose(batch.points[inside],
                               ScoreScale().points(np.log(pd_ / (1 - pd_))), atol=1e-6)
    order = np.argsort(batch.points)
    assert np.all(np.diff(batch.probability_of_default[order]) <= 1e-15)  # more points, lower PD


def test_grades_follow_the_pd_bands_with_inclusive_upper_bounds(market: Market) -> None:
    bands = GradeBands(upper_pd=(0.02, 0.05, 0.2), labels=("A", "B", "C", "D"))
    scorer = Scorer(market.model, model_name="m", model_version="1",
                    config=ScoringConfig(grades=bands))
    batch = scorer.score_batch(market.table)
    expected = np.select([batch.probability_of_default <= 0.02,
                          batch.probability_of_default <= 0.05,
                          batch.probability_of_default <= 0.2], ["A", "B", "C"], "D")
    assert list(batch.grade) == list(expected)
    assert set(batch.grade) <= {"A", "B", "C", "D"}


@pytest.mark.parametrize("bands, message", [
    (GradeBands(upper_pd=(0.05, 0.02), labels=("A", "B", "C")), "increase strictly"),
    (GradeBands(upper_pd=(0.05,), labels=("A", "B", "C")), "one label more"),
    (GradeBands(upper_pd=(0.05, 1.5), labels=("A", "B", "C")), "inside \\(0, 1\\)"),
])
def test_grade_bands_that_cannot_work_are_refused(market: Market, bands: GradeBands,
                                                 message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scorer(market.model, model_name="m", model_version="1",
               config=ScoringConfig(grades=bands))


# How reasons are chosen and worded: tests/scoring/test_reasons.py.


def test_one_applicant_scores_the_same_alone_and_in_a_batch(market: Market,
                                                           market_scorer: Scorer) -> None:
    table = market.table.head(40)
    batch = market_scorer.score_batch(table)
    for position, record in enumerate(table.to_dict(orient="records")):
        alone, together = market_scorer.score(record), batch[position]
        assert alone.points == together.points and alone.grade == together.grade
        assert alone.probability_of_default == pytest.approx(together.probability_of_default,
                                                             rel=1e-12)
        assert alone.adverse_reasons == together.adverse_reasons or all(
            (a.code, a.text_en, a.drivers) == (b.code, b.text_en, b.drivers)
            and a.points == pytest.approx(b.points, abs=1e-9)
            for a, b in zip(alone.adverse_reasons, together.adverse_reasons, strict=True))
        assert dict(alone.family_points) == pytest.approx(dict(together.family_points),
                                                          abs=1e-9)


def test_every_result_names_the_model_and_serialises_to_plain_json(
        market: Market, market_scorer: Scorer) -> None:
    result = market_scorer.score(market.table.iloc[0])
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert data["model_name"] == "market-pd" and data["model_version"] == "7"
    assert data["reason_codes"] == [r["code"] for r in data["adverse_reasons"]]
    assert set(data["family_points"]) == set(market_scorer.family_codes)
    frame = market_scorer.score_batch(market.table.head(10)).to_frame()
    assert (frame["model_version"] == "7").all()
    assert json.loads(frame["reasons"].iloc[0])["adverse_reasons"] == data["adverse_reasons"]


def test_a_missing_feature_is_named_and_unseen_levels_score_as_missing(
        market: Market, market_scorer: Scorer) -> None:
    record = market.table.iloc[0].to_dict()
    del record["refund_rate_365d"], record["tenure_days"]
    with pytest.raises(ValueError, match="refund_rate_365d, tenure_days"):
        market_scorer.score(record)
    with pytest.raises(ValueError, match="tenure_days"):
        market_scorer.score_batch(market.table.drop(columns=["tenure_days"]))
    unseen = {**market.table.iloc[0].to_dict(), "membership_tier": "diamond"}
    missing = {**market.table.iloc[0].to_dict(), "membership_tier": None}
    assert market_scorer.score(unseen).points == market_scorer.score(missing).points


def test_one_scorer_serves_many_threads_with_the_same_answers(market: Market,
                                                              market_scorer: Scorer) -> None:
    records = market.table.head(60).to_dict(orient="records")
    alone = [market_scorer.score(r) for r in records]
    with ThreadPoolExecutor(max_workers=4) as pool:
        shared = list(pool.map(market_scorer.score, records * 3))
    assert shared == alone * 3


def test_an_empty_table_scores_to_an_empty_result(market: Market,
                                                  market_scorer: Scorer) -> None:
    batch = market_scorer.score_batch(market.table.head(0))
    assert len(batch) == 0 and batch.contributions.shape == (0, 50)
    assert list(batch.to_frame().columns)[:6] == [
        "model_name", "model_version", "probability_of_default", "raw_score", "points",
        "grade"]
