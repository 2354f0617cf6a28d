"""Points on the calibrated log-odds: 600 points are 50:1 calibrated odds for every
champion, and the points still split exactly into the baseline and the reasons."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models import CreditModel, train
from scoring import Scorer
from scoring.config import ScoreScale
from tests.models.conftest import FAST, CreditTable, make_credit_table


@pytest.fixture(scope="module")
def other_model() -> tuple[CreditTable, CreditModel]:
    """A second champion: other applicants, another seed."""
    table = make_credit_table(n=1500, seed=9)
    return table, train(table.features.drop(columns=["applied_at"]), table.label,
                        config=replace(FAST, seed=1))


def _raw_at(model: CreditModel, odds: float) -> float:
    """The raw score whose calibrated good:bad odds are ``odds``."""
    calibration = model.calibration_
    return (-math.log(odds) - calibration.points_intercept) / calibration.points_slope


def test_600_points_are_50_to_1_calibrated_odds_for_two_different_champions(
        generic_model: CreditModel, other_model: tuple[CreditTable, CreditModel]) -> None:
    models = [generic_model, other_model[1]]
    assert all(m.calibration_.method == "platt" for m in models)
    slopes = {m.calibration_.points_slope for m in models}
    assert len(slopes) == 2 and 1.0 not in slopes  # two different scales of the raw score
    for model in models:
        scorer = Scorer(model, model_name="champion", model_version="1")
        for odds, points in ((50.0, 600.0), (100.0, 620.0), (25.0, 580.0)):
            raw = _raw_at(model, odds)
            assert scorer.points_of(raw) == pytest.approx(points, abs=1e-9)
            assert model.calibration_.apply_one(raw) == pytest.approx(1 / (1 + odds),
                                                                      abs=1e-12)
    # the same raw score is not the same odds for the two: the raw scale moved
    assert _raw_at(models[0], 50.0) != pytest.approx(_raw_at(models[1], 50.0), abs=1e-3)


def test_points_are_the_baseline_plus_the_family_points_on_the_calibrated_log_odds(
        generic: CreditTable, generic_model: CreditModel, generic_scorer: Scorer) -> None:
    table = generic.features.head(300)
    batch = generic_scorer.score_batch(table)
    calibration = generic_model.calibration_
    scale = generic_scorer.config.scale
    np.testing.assert_allclose(batch.points, generic_scorer.baseline_points
                               + batch.family_points.sum(axis=1), rtol=0, atol=1e-9)
    # the scaled contributions are exactly the slope times the raw ones; the bias a*bias+b
    scaled = batch.scaled_contributions
    np.testing.assert_array_equal(scaled[:, :-1],
                                  calibration.points_slope * batch.contributions[:, :-1])
    np.testing.assert_array_equal(scaled[:, -1], calibration.points_slope
                                  * batch.contributions[:, -1] + calibration.points_intercept)
    np.testing.assert_allclose(scaled.sum(axis=1),
                               calibration.points_log_odds(batch.raw_score), atol=1e-9)
    np.testing.assert_allclose(batch.points, scale.offset - scale.factor * scaled.sum(axis=1),
                               atol=1e-9)
    # one applicant: the same split, and the per-feature points a decision stores
    for record in table.head(20).to_dict(orient="records"):
        explained, contributions = generic_scorer.score_with_contributions(record)
        family = sum(points for _, points in explained.family_points)
        assert explained.points == pytest.approx(explained.baseline_points + family,
                                                 abs=1e-9)
        feature_points = contributions[:-1] * -generic_scorer.point_factor
        assert explained.points == pytest.approx(
            explained.baseline_points + feature_points.sum(), abs=1e-9)
        # with Platt, the points' odds are the PD's odds
        pd_ = explained.probability_of_default
        assert explained.points == pytest.approx(scale.points(math.log(pd_ / (1 - pd_))),
                                                 abs=1e-6)


def test_an_isotonic_model_takes_its_pd_from_isotonic_and_its_points_from_platt(
        generic: CreditTable) -> None:
    model = train(generic.features.drop(columns=["applied_at"]), generic.label,
                  config=replace(FAST, calibration="isotonic"))
    calibration = model.calibration_
    assert calibration.method == "isotonic" and calibration.points_slope != 1.0
    scorer = Scorer(model, model_name="isotonic", model_version="1")
    batch = scorer.score_batch(generic.features)
    np.testing.assert_allclose(batch.probability_of_default,
                               np.clip(np.interp(batch.raw_score, calibration.thresholds,
                                                 calibration.values), 0.0003, 0.9997),
                               atol=1e-15)
    scale = ScoreScale()
    np.testing.assert_allclose(batch.points, scale.offset - scale.factor
                               * calibration.points_log_odds(batch.raw_score), atol=1e-9)
    np.testing.assert_allclose(batch.points, scorer.baseline_points
                               + batch.family_points.sum(axis=1), atol=1e-9)


def test_a_model_saved_before_the_points_map_scores_exactly_as_before(
        generic: CreditTable, generic_model: CreditModel, tmp_path: Path) -> None:
    folder = generic_model.save(tmp_path / "old")
    payload = json.loads((folder / "credit_model.json").read_text(encoding="utf-8"))
    for key in ("pd_floor", "points_slope", "points_intercept"):
        del payload["calibration"][key]
    (folder / "credit_model.json").write_text(json.dumps(payload), encoding="utf-8")
    old = Scorer.load(folder)
    batch = old.score_batch(generic.features)
    scale = ScoreScale()
    calibration = generic_model.calibration_
    # points on the raw log-odds and an unfloored Platt PD, as the code before computed them
    np.testing.assert_array_equal(batch.points, scale.offset - scale.factor * batch.raw_score)
    np.testing.assert_array_equal(batch.probability_of_default, 1.0 / (1.0 + np.exp(
        -(calibration.slope * batch.raw_score + calibration.intercept))))
    assert old.point_factor == scale.factor
    assert old.baseline_points == scale.offset - scale.factor * old.baseline_raw_score
    np.testing.assert_array_equal(batch.scaled_contributions, batch.contributions)
