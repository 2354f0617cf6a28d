"""Scoring a model with a linear base: both paths add the linear part, exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import shap

from models import CreditModel, train
from models.config import DEFAULT_CANDIDATES
from models.linear_base import LINEAR_BASE_KEY
from scoring import Scorer
from scoring.contributions import GROUPING_MIN_ROWS, ContributionEngine
from tests.models.conftest import FAST
from tests.scoring.conftest import Market


@pytest.fixture(scope="module")
def linear_model(market: Market) -> CreditModel:
    """The marketplace table (registry features, monotone directions) under the linear
    candidate of the default search."""
    config = replace(FAST, candidates=tuple(c for c in DEFAULT_CANDIDATES
                                            if c.get(LINEAR_BASE_KEY)))
    model = train(market.table, market.label, config=config)
    assert model.linear_ is not None
    return model


@pytest.fixture(scope="module")
def linear_scorer(linear_model: CreditModel) -> Scorer:
    return Scorer(linear_model, model_name="linear-pd", model_version="1")


def _shap_values(model: CreditModel, matrix: np.ndarray) -> tuple[np.ndarray, float]:
    explainer = shap.TreeExplainer(model.booster_)
    with pytest.warns(UserWarning):  # shap's note on LightGBM binary output
        values = explainer.shap_values(matrix)
    return np.asarray(values), float(np.asarray(explainer.expected_value).ravel()[0])


def test_a_batch_is_the_models_score_with_shap_on_the_trees_plus_the_linear_part(
        market: Market, linear_model: CreditModel, linear_scorer: Scorer) -> None:
    assert len(market.table) >= GROUPING_MIN_ROWS  # the grouped batch path is exercised
    batch = linear_scorer.score_batch(market.table)
    linear = linear_model.linear_
    assert linear is not None
    np.testing.assert_allclose(batch.raw_score, linear_model.decision_function(market.table),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch.probability_of_default,
                               linear_model.predict_pd(market.table), rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch.contributions.sum(axis=1), batch.raw_score, rtol=0,
                               atol=1e-9)
    trees = batch.contributions - linear.contributions(batch.matrix)
    values, expected = _shap_values(linear_model, batch.matrix)
    np.testing.assert_allclose(trees[:, :-1], values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(trees[:, -1], expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(batch.contributions,
                               linear_model.explain(market.table).to_numpy(), atol=1e-9)
    # points, calibrated scale and families on top of the combined contributions
    np.testing.assert_allclose(batch.points, linear_scorer.baseline_points
                               + batch.family_points.sum(axis=1), rtol=0, atol=1e-9)
    scaled = linear_scorer.scaled_contributions(batch.contributions)
    np.testing.assert_allclose(
        scaled.sum(axis=1), linear_model.calibration_.points_log_odds(batch.raw_score),
        atol=1e-9)
    assert linear_scorer.baseline_raw_score == pytest.approx(
        expected + linear.bias, abs=1e-9)


def test_one_applicant_is_the_batch_row(market: Market, linear_scorer: Scorer) -> None:
    table = market.table.head(30)
    batch = linear_scorer.score_batch(table)
    assert linear_scorer.engine.uses_fast_path
    for position, record in enumerate(table.to_dict(orient="records")):
        explained, contributions = linear_scorer.score_with_contributions(record)
        np.testing.assert_allclose(contributions, batch.contributions[position], atol=1e-9)
        assert contributions.sum() == pytest.approx(explained.raw_score, abs=1e-9)
        assert explained.raw_score == pytest.approx(batch.raw_score[position], abs=1e-9)
        assert explained.probability_of_default == pytest.approx(
            batch.probability_of_default[position], abs=1e-12)
        family = sum(points for _, points in explained.family_points)
        assert explained.points == pytest.approx(explained.baseline_points + family,
                                                 abs=1e-9)
        assert explained.to_dict()["reason_codes"] == list(explained.reason_codes)


def test_the_engine_without_a_linear_base_is_the_booster_alone(
        market: Market, linear_model: CreditModel) -> None:
    matrix = linear_model.to_matrix(market.table.head(50))
    bare = ContributionEngine(linear_model.booster_, linear_model.best_iteration_)
    np.testing.assert_array_equal(
        bare.batch(matrix), linear_model.booster_.predict(matrix, pred_contrib=True))
    with pytest.raises(ValueError, match="linear base has"):
        ContributionEngine(linear_model.booster_, linear_model.best_iteration_,
                           linear=replace(linear_model.linear_,
                                          terms=linear_model.linear_.terms[:-1]))


def test_a_saved_linear_model_scores_the_same(market: Market, linear_scorer: Scorer,
                                              linear_model: CreditModel,
                                              tmp_path: Path) -> None:
    folder = linear_model.save(tmp_path / "linear")
    loaded = Scorer.load(folder)
    table = market.table.head(200)
    np.testing.assert_array_equal(loaded.score_batch(table).contributions,
                                  linear_scorer.score_batch(table).contributions)
    record = table.to_dict(orient="records")[0]
    assert loaded.score(record).points == linear_scorer.score(record).points
