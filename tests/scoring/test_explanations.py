"""Reasons are exact TreeSHAP: they add up to the score and equal shap's own values."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap

from models import CreditModel
from scoring import Scorer
from scoring.contributions import GROUPING_MIN_ROWS, ContributionEngine
from tests.models.conftest import CreditTable
from tests.scoring.conftest import Market


def _shap_values(model: CreditModel, matrix: np.ndarray) -> tuple[np.ndarray, float]:
    explainer = shap.TreeExplainer(model.booster_)
    with pytest.warns(UserWarning):  # shap's note on LightGBM binary output
        values = explainer.shap_values(matrix)
    return np.asarray(values), float(np.asarray(explainer.expected_value).ravel()[0])


def test_batch_contributions_equal_shap_tree_explainer_values(market: Market,
                                                              market_scorer: Scorer) -> None:
    assert len(market.table) >= GROUPING_MIN_ROWS  # the grouped batch path is exercised
    batch = market_scorer.score_batch(market.table)
    values, expected = _shap_values(market.model, batch.matrix)
    np.testing.assert_allclose(batch.contributions[:, :-1], values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(batch.contributions[:, -1], expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(batch.contributions.sum(axis=1), batch.raw_score, atol=1e-9)


def test_single_applicant_contributions_equal_shap_tree_explainer_values(
        generic: CreditTable, generic_model: CreditModel, generic_scorer: Scorer) -> None:
    table = generic.features.head(25)
    values, expected = _shap_values(generic_model, generic_model.to_matrix(table))
    for position, record in enumerate(table.to_dict(orient="records")):
        row = generic_scorer.encode(record)
        contributions, raw = generic_scorer.engine.row(row)
        np.testing.assert_allclose(contributions[:-1], values[position], atol=1e-9)
        assert contributions[-1] == pytest.approx(expected, abs=1e-9)
        assert contributions.sum() == pytest.approx(raw, abs=1e-9)


def test_grouped_batch_follows_lightgbm_rules_for_missing_zero_negative_and_unseen_values(
        ) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    X = np.column_stack([
        rng.normal(size=n),                                   # plain numeric
        np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n)),  # many exact zeros
        rng.integers(0, 6, n).astype(float),                  # categorical codes
        np.where(rng.random(n) < 0.2, np.nan, rng.exponential(size=n)),  # missing values
    ])
    y = (X[:, 0] + (X[:, 1] == 0) + np.isin(X[:, 2], [1, 4]) + np.nan_to_num(X[:, 3])
         + rng.normal(size=n) > 1.5).astype(int)
    for zero_as_missing in (False, True):
        booster = lgb.train({"objective": "binary", "num_leaves": 15, "verbosity": -1,
                             "zero_as_missing": zero_as_missing, "min_data_per_group": 5,
                             "cat_smooth": 1.0, "num_threads": 1, "seed": 1},
                            lgb.Dataset(X, y, categorical_feature=[2]), num_boost_round=25)
        probe = X.copy()
        probe[:200] = np.nan                   # everything missing
        probe[200:400, 2] = 9.0                # level never seen in training
        probe[400:600, 2] = -1.0               # negative category
        probe[600:800, 0] = 0.0                # exact zeros
        probe[800:900, 1] = 1e-40              # LightGBM reads this as zero
        engine = ContributionEngine(booster, booster.num_trees())
        expected = booster.predict(probe, pred_contrib=True)
        np.testing.assert_allclose(engine.batch(probe), expected, rtol=0, atol=1e-12)


def test_contributions_of_a_saved_and_reloaded_model_are_the_same(
        market: Market, market_scorer: Scorer, tmp_path: Path) -> None:
    folder = market.model.save(tmp_path / "model")
    reloaded = Scorer.load(folder)
    first = market_scorer.score_batch(market.table.head(50))
    again = reloaded.score_batch(market.table.head(50))
    np.testing.assert_array_equal(first.contributions, again.contributions)
    assert reloaded.model_version.startswith("local-")
    assert reloaded.score_batch(market.table.head(5)).scorer.model_name == "model"


def test_batch_explanations_match_the_models_own_explain(market: Market,
                                                         market_scorer: Scorer) -> None:
    batch = market_scorer.score_batch(market.table)
    own = market.model.explain(market.table)
    np.testing.assert_allclose(batch.contributions, own.to_numpy(), rtol=0, atol=1e-12)
    pd.testing.assert_index_equal(batch.index, market.table.index)


def test_a_score_with_its_contributions_is_the_score_and_shap_tree_explainer_values(
        generic: CreditTable, generic_model: CreditModel, generic_scorer: Scorer) -> None:
    table = generic.features.head(10)
    values, expected = _shap_values(generic_model, generic_model.to_matrix(table))
    factor = generic_scorer.config.scale.factor
    for position, record in enumerate(table.to_dict(orient="records")):
        explained, contributions = generic_scorer.score_with_contributions(record)
        assert explained == generic_scorer.score(record)
        np.testing.assert_allclose(contributions[:-1], values[position], atol=1e-9)
        assert contributions[-1] == pytest.approx(expected, abs=1e-9)
        assert contributions.sum() == pytest.approx(explained.raw_score, abs=1e-9)
        # the baseline is the bias on the calibrated log-odds: a * bias + b
        scaled = generic_scorer.scaled_contributions(contributions)
        np.testing.assert_array_equal(
            scaled[:-1], generic_model.calibration_.points_slope * contributions[:-1])
        assert explained.baseline_points == pytest.approx(
            generic_scorer.config.scale.offset - factor * scaled[-1], abs=1e-9)
