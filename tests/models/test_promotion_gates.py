"""The promotion gates as a model validator reads them: DeLong non-inferiority on raw
scores, paired losses, Jeffreys calibration by grade, serving features and score PSI."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models import CreditModel, train
from models.credit_model import Calibration
from models.evaluation import (
    delong_covariance,
    paired_auc_difference,
    paired_loss_difference,
)
from models.gates import (
    Gate,
    GateConfig,
    GateOutcome,
    RecentApplicants,
    calibration_table,
    judge,
)
from models.registry import load_holdout, log_and_register, promote
from tests.mlflow_store import empty_store
from tests.models.conftest import FAST, make_credit_table


# ------------------------------------------------------------------ DeLong
def _pairwise_covariance(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """DeLong's covariance from its definition: every default against every non-default."""
    bad = y == 1
    v10, v01 = [], []
    for s in scores:
        psi = ((s[bad][:, None] > s[~bad][None, :])
               + 0.5 * (s[bad][:, None] == s[~bad][None, :]))
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    return np.cov(np.vstack(v10)) / bad.sum() + np.cov(np.vstack(v01)) / (~bad).sum()


def test_fast_delong_equals_the_pairwise_definition_and_sklearns_auc_with_ties() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.15).astype(int)
    # rounded scores: many ties, as a coarse score has
    scores = np.vstack([np.round(y + rng.normal(0, 1, 400), 1),
                        np.round(0.5 * y + rng.normal(0, 1, 400), 1),
                        rng.integers(0, 5, 400).astype(float)])
    aucs, covariance = delong_covariance(y, scores)
    assert aucs == pytest.approx([roc_auc_score(y, s) for s in scores], abs=1e-12)
    assert covariance == pytest.approx(_pairwise_covariance(y, scores), rel=1e-9, abs=1e-15)


def test_delong_standard_error_of_the_difference_agrees_with_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    y = (rng.random(n) < 0.1).astype(int)
    common = rng.normal(0, 1, n)
    a = 1.0 * y + common + rng.normal(0, 0.6, n)
    b = 0.9 * y + common + rng.normal(0, 0.6, n)
    compared = paired_auc_difference(y, a, b)
    assert compared.difference == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    differences = []
    for _ in range(400):
        rows = rng.integers(0, n, n)
        if y[rows].min() == y[rows].max():
            continue
        differences.append(roc_auc_score(y[rows], a[rows]) - roc_auc_score(y[rows], b[rows]))
    bootstrap_se = float(np.std(differences, ddof=1))
    assert compared.standard_error == pytest.approx(bootstrap_se, rel=0.15)
    assert compared.lower == pytest.approx(compared.difference - 1.959964 * compared.
                                           standard_error, abs=1e-9)
    # correlated scores: the paired interval is much narrower than two separate ones
    _, covariance = delong_covariance(y, np.vstack([a, b]))
    assert compared.standard_error < 0.6 * np.sqrt(covariance[0, 0] + covariance[1, 1])


def test_delong_refuses_a_sample_with_one_class() -> None:
    with pytest.raises(ValueError, match="both defaults and non-defaults"):
        delong_covariance(np.zeros(10), np.arange(10.0))


def test_paired_loss_difference_is_the_mean_of_row_differences() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.3, 500)
    y = (rng.random(500) < p).astype(int)
    worse = np.clip(p * 1.5, 0, 1)
    brier = paired_loss_difference(y, worse, p, "brier")
    assert brier.difference == pytest.approx(np.mean((worse - y) ** 2) - np.mean((p - y) ** 2))
    rows = (worse - y) ** 2 - (p - y) ** 2
    assert brier.standard_error == pytest.approx(rows.std(ddof=1) / np.sqrt(500))
    swapped = paired_loss_difference(y, p, worse, "log_loss")
    assert swapped.difference < 0 and swapped.upper < 0  # the true PD is clearly better
    with pytest.raises(ValueError, match="loss must be"):
        paired_loss_difference(y, p, p, "accuracy")


# ------------------------------------------------------------- calibration
def _true_pds(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pd_ = rng.beta(1.0, 19.0, n)  # mean 5 %
    return pd_, (rng.random(n) < pd_).astype(float)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_well_calibrated_pds_pass_every_grade(seed: int) -> None:
    pd_, y = _true_pds(20_000, seed)
    table = calibration_table(y, pd_, GateConfig())
    assert list(table["grade"]) == ["all", "A", "B", "C", "D", "E"]
    assert table["passed"].all(), table


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_pds_doubled_or_halved_at_a_five_percent_bad_rate_fail_calibration(
        factor: float) -> None:
    pd_, y = _true_pds(20_000, 0)
    assert y.mean() == pytest.approx(0.05, abs=0.005)
    table = calibration_table(y, np.clip(pd_ * factor, 0, 1), GateConfig())
    assert not table.loc[table["grade"] == "all", "passed"].item()
    assert (~table["passed"]).sum() >= 3


def test_a_significant_but_immaterial_miss_passes() -> None:
    pd_, y = _true_pds(200_000, 4)
    table = calibration_table(y, pd_ * 1.1, GateConfig())
    overall = table.iloc[0]
    assert overall["predicted_pd"] > overall["upper"]  # significant on 200,000 rows
    assert overall["passed"]  # but only 10 % off


# ------------------------------------------------------------ model gates
@dataclass
class Models:
    champion: CreditModel
    equivalent: CreditModel
    slightly_worse: CreditModel
    X: pd.DataFrame
    y: np.ndarray


@pytest.fixture(scope="module")
def models() -> Models:
    """A champion and two challengers trained on 4,000 rows, judged on 20,000 fresh rows
    of the same population (neither trained on them)."""
    table = make_credit_table(4000, seed=0)
    X = table.features.drop(columns=["applied_at"])
    fresh = make_credit_table(20_000, seed=11)
    return Models(
        champion=train(X, table.label, config=FAST),
        equivalent=train(X, table.label, config=replace(FAST, seed=3)),
        slightly_worse=train(X.iloc[:2000], table.label[:2000], config=FAST),
        X=fresh.features.drop(columns=["applied_at"]), y=fresh.label.astype(float))


def _gate(outcome: GateOutcome, name: str) -> Gate:
    return next(g for g in outcome.gates if g.name == name)


def test_slightly_worse_challenger_that_the_old_margin_let_through_is_refused(
        models: Models) -> None:
    outcome = judge(models.slightly_worse, models.X, models.y, champion=models.champion,
                    servable_features=models.X.columns)
    difference = outcome.comparisons["auc"]["difference"]
    assert -0.01 < difference < -0.005  # the old rule (AUC within 0.01) promoted it
    gate = _gate(outcome, "AUC non-inferiority")
    assert not gate.passed and gate.blocking
    assert gate.value is not None and gate.value < -0.005
    assert gate.value == pytest.approx(outcome.comparisons["auc"]["lower"])


def test_equivalent_challenger_passes_non_inferiority_and_the_loss_gates(
        models: Models) -> None:
    outcome = judge(models.equivalent, models.X, models.y, champion=models.champion,
                    servable_features=models.X.columns)
    for name in ("AUC non-inferiority", "Brier score against champion",
                 "log loss against champion", "serving features"):
        assert _gate(outcome, name).passed, _gate(outcome, name)
    auc = outcome.comparisons["auc"]
    assert auc["lower"] < auc["difference"] < auc["upper"]
    assert not any("too small" in note for note in outcome.notes)
    # 500 rows cannot show it for a challenger measured equal, and the verdict says so
    small = judge(models.equivalent, models.X.iloc[:500], models.y[:500],
                  champion=models.champion, servable_features=models.X.columns)
    width = small.comparisons["auc"]["upper"] - small.comparisons["auc"]["difference"]
    assert width > 0.005
    assert any("too small to show AUC non-inferiority" in note for note in small.notes)
    assert outcome.comparisons["brier"]["loss"] == "brier"


def test_auc_is_measured_on_the_raw_score_not_on_isotonic_ties(models: Models) -> None:
    stepped = copy.copy(models.champion)
    # a three-step isotonic map: PDs tie in large blocks
    stepped.calibration_ = Calibration("isotonic", thresholds=(-3.0, -2.0, -1.0),
                                       values=(0.02, 0.02, 0.2))
    outcome = judge(stepped, models.X, models.y, servable_features=models.X.columns)
    raw = models.champion.decision_function(models.X)
    figures = outcome.figures["challenger"]
    assert figures["auc"] == pytest.approx(roc_auc_score(models.y, raw))
    assert figures["auc_pd"] < figures["auc"] - 0.01


def test_doubled_pds_fail_calibration_and_the_models_own_pass(models: Models) -> None:
    doubled = copy.copy(models.champion)
    grid = np.linspace(-12, 12, 2001)
    doubled.calibration_ = Calibration(
        "isotonic", thresholds=tuple(grid),
        values=tuple(np.clip(2 * models.champion.calibration_.apply(grid), 0, 1)))
    own = judge(models.champion, models.X, models.y, servable_features=models.X.columns)
    assert _gate(own, "calibration in the large").passed
    bad = judge(doubled, models.X, models.y, servable_features=models.X.columns)
    assert not _gate(bad, "calibration in the large").passed
    assert not _gate(bad, "calibration by grade").passed
    # against the champion the same ranking passes AUC but loses on both losses
    compared = judge(doubled, models.X, models.y, champion=models.champion,
                     servable_features=models.X.columns)
    assert _gate(compared, "AUC non-inferiority").passed
    assert compared.comparisons["auc"]["difference"] == 0.0
    assert not _gate(compared, "Brier score against champion").passed
    assert not _gate(compared, "log loss against champion").passed
    assert compared.comparisons["brier"]["lower"] > 0


def test_serving_features_allow_a_subset_and_refuse_what_the_builder_cannot_supply(
        models: Models) -> None:
    servable = ["income", "debt_ratio", "late_payments", "has_guarantor", "region"]
    # sector is served today (the champion uses it), so every champion column passes
    outcome = judge(models.equivalent, models.X, models.y, champion=models.champion,
                    servable_features=servable)
    assert _gate(outcome, "serving features").passed
    # without the champion's columns, sector is known to nobody: refused ...
    narrow = judge(models.equivalent, models.X, models.y, servable_features=servable)
    gate = _gate(narrow, "serving features")
    assert not gate.passed and "sector" in gate.detail
    # ... but a first model is only warned
    assert not gate.blocking
    # a column the service stored with its latest decisions is supplied by its pipeline
    stored = judge(models.equivalent, models.X, models.y, servable_features=servable,
                   recent=RecentApplicants(models.X.iloc[:100], "the test's decisions"))
    assert _gate(stored, "serving features").passed


def test_score_psi_uses_the_latest_applicants_when_there_are_any(models: Models) -> None:
    shifted = models.X.assign(debt_ratio=models.X["debt_ratio"] + 0.3)
    recent = RecentApplicants(shifted.iloc[:3000], "the test's decisions")
    outcome = judge(models.champion, models.X, models.y, recent=recent,
                    servable_features=models.X.columns)
    gate = _gate(outcome, "score PSI")
    assert "3000 latest applicants of the test's decisions" in gate.detail
    assert not gate.passed and gate.value is not None and gate.value > 0.25
    same = judge(models.champion, models.X, models.y,
                 recent=RecentApplicants(models.X.iloc[:3000], "the test's decisions"),
                 servable_features=models.X.columns)
    assert _gate(same, "score PSI").passed
    lacking = judge(models.champion, models.X, models.y,
                    recent=RecentApplicants(models.X.drop(columns=["region"]), "db"),
                    servable_features=models.X.columns)
    assert any("lack 1 challenger features" in note for note in lacking.notes)
    assert "the sample" in _gate(lacking, "score PSI").detail


def test_thresholds_out_of_range_name_the_field() -> None:
    with pytest.raises(ValueError, match="auc_margin"):
        GateConfig(auc_margin=-0.1).check()
    with pytest.raises(ValueError, match="grade_labels"):
        GateConfig(grade_labels=("A", "B")).check()
    with pytest.raises(ValueError, match="confidence"):
        GateConfig(confidence=1.0).check()


# ------------------------------------------------------- the comparison sample
@pytest.fixture
def store(tmp_path: Path) -> str:
    return empty_store(tmp_path / "mlflow.db")


def _register(model: CreditModel, X: pd.DataFrame, y: np.ndarray, store: str,
              tmp_path: Path) -> str:
    return log_and_register(model, X, y, tracking_uri=store, model_name="sample-rules",
                            artifact_location=(tmp_path / "artifacts").as_uri()).version


def test_comparison_keeps_to_rows_the_champion_also_held_out(store: str,
                                                             tmp_path: Path) -> None:
    table = make_credit_table(4000, seed=0)
    X = table.features.drop(columns=["applied_at"])
    older = train(X.iloc[:2000], table.label[:2000], config=FAST)
    _register(older, X.iloc[:2000], table.label[:2000], store, tmp_path)
    promote(store, "sample-rules", gates=GateConfig(max_calibration_error=0.2), force=True,
            reason="test: a first champion")
    newer = train(X, table.label, config=FAST)
    _register(newer, X, table.label, store, tmp_path)
    result = promote(store, "sample-rules")
    champion_holdout, _ = load_holdout(store, "sample-rules", "1")
    challenger_holdout, _ = load_holdout(store, "sample-rules", "2")
    both = challenger_holdout.index.intersection(champion_holdout.index)
    assert 0 < len(both) < len(challenger_holdout)
    assert result.sample.startswith(f"{len(both)} rows")
    assert "that the champion v1 also held out" in result.sample
    assert result.figures["challenger"]["n"] == len(both)


def test_an_out_of_time_champion_whose_data_ends_before_the_sample_is_compared_on_all_of_it(
        store: str, tmp_path: Path) -> None:
    table = make_credit_table(4000, seed=0)
    X = table.features
    older = train(X.iloc[:2000], table.label[:2000], time="applied_at", config=FAST)
    _register(older, X.iloc[:2000].drop(columns=["applied_at"]), table.label[:2000], store,
              tmp_path)
    promote(store, "sample-rules", gates=GateConfig(max_calibration_error=0.2), force=True,
            reason="test: a first champion")
    newer = train(X, table.label, time="applied_at", config=FAST)
    _register(newer, X.drop(columns=["applied_at"]), table.label, store, tmp_path)
    result = promote(store, "sample-rules")
    _, y = load_holdout(store, "sample-rules", "2")
    assert "neither model trained on it" in result.sample
    assert result.figures["challenger"]["n"] == len(y)
