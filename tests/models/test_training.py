"""Training rules: any tabular data, reproducible, honest validation, exact explanations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.registry import risk_direction
from models import BIAS_COLUMN, CreditModel, TrainConfig, train
from models.evaluation import auc
from tests.models.conftest import FAST, CreditTable, make_credit_table


def test_model_follows_scikit_learn_classifier_conventions(trained: CreditModel,
                                                            credit_table: CreditTable) -> None:
    X = credit_table.features.head(50)
    proba = trained.predict_proba(X)
    assert list(trained.classes_) == [0, 1]
    assert list(trained.feature_names_in_) == ["income", "debt_ratio", "late_payments",
                                               "has_guarantor", "region", "sector"]
    assert trained.n_features_in_ == 6
    assert proba.shape == (50, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert trained.booster_.num_trees() == trained.best_iteration_


def test_learns_from_numeric_category_text_and_missing_values(trained: CreditModel,
                                                              credit_table: CreditTable,
                                                              ) -> None:
    kinds = {c.name: c.kind for c in trained.columns_}
    assert kinds == {"income": "numeric", "debt_ratio": "numeric", "late_payments": "numeric",
                     "has_guarantor": "numeric", "region": "categorical",
                     "sector": "categorical"}
    assert trained.columns_[4].levels == ("east", "north", "south", "west")
    assert trained.columns_[5].levels == ("electronics", "food", "retail", "textile")
    holdout = trained.training_report_.holdout_positions
    oracle = auc(credit_table.label[holdout], credit_table.true_pd[holdout])
    assert trained.training_report_.holdout_metrics["auc"] > oracle - 0.05


def test_unseen_category_level_is_scored_as_missing(trained: CreditModel,
                                                    credit_table: CreditTable) -> None:
    rows = credit_table.features.head(20).copy()
    unseen = rows.assign(sector=pd.Series(["space travel"] * 20, index=rows.index))
    missing = rows.assign(sector=pd.Series([None] * 20, index=rows.index, dtype="str"))
    np.testing.assert_array_equal(trained.predict_pd(unseen), trained.predict_pd(missing))
    assert np.isnan(trained.to_matrix(unseen)[:, 5]).all()


def test_category_codes_do_not_depend_on_the_dtype_at_predict_time(
        trained: CreditModel, credit_table: CreditTable) -> None:
    rows = credit_table.features.head(100)
    as_text = rows.assign(region=rows["region"].astype(object))
    reordered = rows.assign(region=rows["region"].cat.reorder_categories(
        ["west", "south", "north", "east"]))
    expected = trained.predict_pd(rows)
    np.testing.assert_array_equal(trained.predict_pd(as_text), expected)
    np.testing.assert_array_equal(trained.predict_pd(reordered), expected)


def test_explanations_add_up_to_the_raw_log_odds(trained: CreditModel,
                                                 credit_table: CreditTable) -> None:
    X = credit_table.features.head(200)
    contributions = trained.explain(X)
    assert list(contributions.columns) == [*trained.feature_names_in_, BIAS_COLUMN]
    assert contributions.index.equals(X.index)
    np.testing.assert_allclose(contributions.sum(axis=1).to_numpy(),
                               trained.decision_function(X), atol=1e-9)
    # the PD is the calibration of that same raw score
    np.testing.assert_allclose(trained.calibration_.apply(contributions.sum(axis=1).to_numpy()),
                               trained.predict_pd(X), atol=1e-12)


def test_same_seed_gives_the_same_model(credit_table: CreditTable) -> None:
    X = credit_table.features.drop(columns=["applied_at"])
    config = replace(FAST, max_candidates=2)
    first = train(X, credit_table.label, config=config)
    second = train(X, credit_table.label, config=config)
    assert first.booster_.model_to_string() == second.booster_.model_to_string()
    assert first.calibration_ == second.calibration_
    np.testing.assert_array_equal(first.predict_pd(X), second.predict_pd(X))


def test_holdout_is_the_same_sellers_whatever_the_seed(credit_table: CreditTable) -> None:
    X = credit_table.features.drop(columns=["applied_at"])
    a = train(X, credit_table.label, config=replace(FAST, seed=1))
    b = train(X, credit_table.label, config=replace(FAST, seed=2))
    np.testing.assert_array_equal(a.training_report_.holdout_positions,
                                  b.training_report_.holdout_positions)
    share = len(a.training_report_.holdout_positions) / len(X)
    assert 0.15 < share < 0.25


def test_time_column_gives_out_of_time_validation_and_is_not_a_feature(
        credit_table: CreditTable) -> None:
    X = credit_table.features
    model = train(X, credit_table.label, time="applied_at", config=FAST)
    report = model.training_report_
    assert report.scheme == "out-of-time"
    assert "applied_at" not in model.feature_names_in_
    windows = {part: [pd.Timestamp(t) for t in span] for part, span in report.windows.items()}
    assert windows["train"][1] < windows["validation"][0]
    assert windows["validation"][1] < windows["holdout"][0]
    holdout_times = X["applied_at"].iloc[report.holdout_positions]
    assert holdout_times.min() > X["applied_at"].drop(
        X.index[report.holdout_positions]).max()
    assert report.n_train + report.n_validation + report.n_holdout == len(X)
    assert model.booster_.num_trees() == model.best_iteration_


def test_time_can_be_given_as_values_and_label_as_a_column(credit_table: CreditTable) -> None:
    table = credit_table.features.assign(defaulted=credit_table.label)
    model = train(table.drop(columns=["applied_at"]), "defaulted",
                  time=table["applied_at"].to_numpy(), config=FAST)
    assert "defaulted" not in model.feature_names_in_
    assert model.training_report_.scheme == "out-of-time"


def test_monotone_constraints_follow_the_feature_registry() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    refund = rng.beta(1, 12, n)
    tenure = rng.uniform(30, 2000, n)
    noise = rng.normal(size=n)
    # the label even rewards refunds in a narrow band: the constraint must win over it
    z = -2 + 8 * refund - 0.001 * tenure + 0.8 * noise - 2.0 * ((refund > 0.2) & (refund < 0.25))
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    X = pd.DataFrame({"refund_rate_365d": refund, "tenure_days": tenure, "noise": noise})
    assert risk_direction("refund_rate_365d") == 1
    assert risk_direction("tenure_days") == -1
    model = train(X, y, config=FAST)
    signs = {c.name: c.monotone for c in model.columns_}
    assert signs == {"refund_rate_365d": 1, "tenure_days": -1, "noise": 0}
    grid = np.linspace(0, 0.6, 61)
    base = X.iloc[[0] * len(grid)].reset_index(drop=True)
    pd_refund = model.predict_pd(base.assign(refund_rate_365d=grid))
    assert (np.diff(pd_refund) >= -1e-12).all()
    pd_tenure = model.predict_pd(base.assign(tenure_days=np.linspace(30, 2000, 61)))
    assert (np.diff(pd_tenure) <= 1e-12).all()


def test_monotone_overrides_win_and_unknown_columns_stay_free() -> None:
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"x": rng.normal(size=1500), "tenure_days": rng.uniform(0, 900, 1500)})
    y = (rng.random(1500) < 1 / (1 + np.exp(-(X["x"] - 1)))).astype(int)
    model = train(X, y, config=replace(FAST, monotone_overrides={"x": 1, "tenure_days": 0}))
    assert {c.name: c.monotone for c in model.columns_} == {"x": 1, "tenure_days": 0}
    free = train(X, y, config=replace(FAST, monotone=False))
    assert all(c.monotone == 0 for c in free.columns_)


def test_calibration_is_kept_only_when_it_improves_validation_brier() -> None:
    table = make_credit_table(n=2000, seed=5)
    X = table.features.drop(columns=["applied_at"])
    overfit = TrainConfig(max_candidates=1, cv_folds=3, n_jobs=1, learning_rate=0.5,
                          max_rounds=60, early_stopping_rounds=60,
                          candidates=({"num_leaves": 63, "min_child_samples": 2,
                                       "lambda_l2": 0.0, "min_data_per_group": 1},))
    model = train(X, table.label, config=overfit)
    briers = model.training_report_.calibration_brier
    assert model.calibration_.method in ("platt", "isotonic")
    assert briers[model.calibration_.method] < briers["raw"]
    assert briers[model.calibration_.method] == min(briers.values())
    untouched = train(X, table.label, config=replace(overfit, calibration="none"))
    assert untouched.calibration_.method == "none"
    assert set(untouched.training_report_.calibration_brier) == {"raw"}


def test_platt_calibration_keeps_explanations_additive_in_calibrated_log_odds(
        trained: CreditModel, credit_table: CreditTable) -> None:
    from models import Calibration

    platt = Calibration("platt", slope=0.8, intercept=-0.3)
    X = credit_table.features.head(30)
    contributions = trained.explain(X)
    calibrated_log_odds = (platt.slope * contributions.drop(columns=[BIAS_COLUMN]).sum(axis=1)
                           + platt.slope * contributions[BIAS_COLUMN] + platt.intercept)
    np.testing.assert_allclose(1 / (1 + np.exp(-calibrated_log_odds)),
                               platt.apply(trained.decision_function(X)), rtol=1e-12)


def test_search_tries_candidates_in_order_until_max_candidates_or_budget(
        credit_table: CreditTable) -> None:
    X = credit_table.features.drop(columns=["applied_at"])
    model = train(X, credit_table.label, config=replace(FAST, max_candidates=3))
    report = model.training_report_
    assert [c.index for c in report.candidates] == [0, 1, 2]
    assert report.candidates[1].params["num_leaves"] == 7
    assert not report.search_cut_by_budget
    cut = train(X, credit_table.label, config=replace(FAST, max_candidates=3,
                                                      time_budget_seconds=1e-9))
    assert [c.index for c in cut.training_report_.candidates] == [0]
    assert cut.training_report_.search_cut_by_budget


def test_saved_model_scores_identically_after_load(trained: CreditModel,
                                                   credit_table: CreditTable,
                                                   tmp_path: Path) -> None:
    trained.save(tmp_path / "model")
    loaded = CreditModel.load(tmp_path / "model")
    X = credit_table.features
    np.testing.assert_array_equal(loaded.predict_proba(X), trained.predict_proba(X))
    pd.testing.assert_frame_equal(loaded.explain(X.head(50)), trained.explain(X.head(50)))
    assert loaded.contract() == trained.contract()
    assert loaded.score_reference_ == trained.score_reference_
    assert loaded.metadata_["training"]["scheme"] == "cross-validation"


def test_refuses_unusable_tables_with_a_clear_reason(credit_table: CreditTable) -> None:
    X = credit_table.features.drop(columns=["applied_at"])
    y = credit_table.label
    with pytest.raises(ValueError, match="label must be 0 or 1"):
        train(X, np.where(y == 1, 2, 0), config=FAST)
    with pytest.raises(ValueError, match="only one class"):
        train(X, np.zeros(len(X)), config=FAST)
    with pytest.raises(ValueError, match="missing values"):
        train(X, np.where(np.arange(len(X)) == 3, np.nan, y), config=FAST)
    with pytest.raises(ValueError, match="an identifier is not a feature"):
        train(X.assign(customer=[f"C{i}" for i in range(len(X))]), y, config=FAST)
    with pytest.raises(ValueError, match="neither numeric nor categorical"):
        train(credit_table.features, y, config=FAST)
    with pytest.raises(ValueError, match="holdout_fraction must be"):
        train(X, y, config=replace(FAST, holdout_fraction=0.7))
    with pytest.raises(ValueError, match="lacks feature column"):
        make_model = train(X.head(600), y[:600], config=FAST)
        make_model.predict_pd(X.drop(columns=["income"]))
