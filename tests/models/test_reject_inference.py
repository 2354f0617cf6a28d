"""Reject inference by fuzzy augmentation, and the weighted training path beneath it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cli import CliError
from models import train
from models.reject_inference import (
    FuzzyAugmentationConfig,
    fuzzy_augmentation,
    train_with_reject_inference,
)
from models.training import TrainingAugmentation
from settings import Settings
from tests.commands import run_command as _run
from tests.mlflow_store import empty_store
from tests.models.conftest import FAST, CreditTable, make_credit_table

#: Raw booster probabilities, so that a change of weights shows in the PD level.
UNCALIBRATED = replace(FAST, calibration="none")


@pytest.fixture(scope="module")
def small() -> CreditTable:
    return make_credit_table(n=800, seed=3)


# ------------------------------------------------------------------ fuzzy rows
def test_each_reject_enters_twice_as_good_with_one_minus_pd_and_as_bad_with_pd() -> None:
    rejects = pd.DataFrame({"debt_ratio": [0.2, 0.5, 0.9]}, index=["R1", "R2", "R3"])
    rows = fuzzy_augmentation(rejects, [0.1, 0.5, 1.0], time=np.array([1, 2, 3]))
    assert list(rows.features.index) == ["R1", "R2", "R3", "R1", "R2", "R3"]
    assert rows.label.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(rows.weight, [0.9, 0.5, 0.0, 0.1, 0.5, 1.0])
    assert rows.time is not None and rows.time.tolist() == [1, 2, 3, 1, 2, 3]
    assert rows.method == "fuzzy"
    # each reject weighs 1 in all, and the expected bads are the sum of the PDs
    np.testing.assert_allclose(rows.weight[:3] + rows.weight[3:], 1.0)
    assert rows.weight[3:].sum() == pytest.approx(1.6)


def test_pd_factor_raises_the_rejects_pd_up_to_one_and_reject_weight_scales_both_rows(
        ) -> None:
    rejects = pd.DataFrame({"debt_ratio": [0.2, 0.5, 0.9]})
    rows = fuzzy_augmentation(rejects, [0.1, 0.3, 0.6],
                              config=FuzzyAugmentationConfig(pd_factor=2.0, reject_weight=0.5))
    # p' = min(1, 2 p) = 0.2, 0.6, 1.0; weights halved
    np.testing.assert_allclose(rows.weight, [0.4, 0.2, 0.0, 0.1, 0.3, 0.5])
    assert rows.time is None


def test_fuzzy_augmentation_refuses_what_is_not_a_probability_per_reject() -> None:
    rejects = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        fuzzy_augmentation(rejects, [0.2, 1.2])
    with pytest.raises(ValueError, match="2 rejects"):
        fuzzy_augmentation(rejects, [0.2])
    with pytest.raises(ValueError, match="no rejected applicant"):
        fuzzy_augmentation(rejects.iloc[:0], [])
    with pytest.raises(ValueError, match="pd_factor must be a number > 0"):
        fuzzy_augmentation(rejects, [0.1, 0.2], config=FuzzyAugmentationConfig(pd_factor=0))


# --------------------------------------------------------------- weighted training
def test_sample_weights_fit_the_booster_but_not_the_holdout(small: CreditTable) -> None:
    X = small.features.drop(columns=["applied_at"])
    plain = train(X, small.label, config=UNCALIBRATED)
    heavier_bads = train(X, small.label, config=UNCALIBRATED,
                         sample_weight=np.where(small.label == 1, 5.0, 1.0))
    report = heavier_bads.training_report_
    assert report.weighted and not plain.training_report_.weighted
    # the same rows are held out, and judged unweighted
    np.testing.assert_array_equal(report.holdout_positions,
                                  plain.training_report_.holdout_positions)
    # five times the weight on the bads raises the raw PD level well above the bad rate
    assert plain.predict_pd(X).mean() == pytest.approx(small.label.mean(), abs=0.04)
    assert heavier_bads.predict_pd(X).mean() > plain.predict_pd(X).mean() + 0.1
    with pytest.raises(ValueError, match="sample_weight has 3 values for 800 rows"):
        train(X, small.label, config=FAST, sample_weight=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="finite and >= 0"):
        train(X, small.label, config=FAST, sample_weight=np.full(len(X), -1.0))


def test_augmented_rows_fit_only_the_training_part_out_of_time(small: CreditTable) -> None:
    X = small.features
    extra = X.drop(columns=["applied_at"]).iloc[:200]
    times = X["applied_at"].iloc[:200].to_numpy().copy()
    times[150:] = X["applied_at"].max() + pd.Timedelta(days=1)  # after every training row
    rows = TrainingAugmentation(extra, np.ones(200), np.full(200, 3.0), time=times,
                                method="test")
    plain = train(X, small.label, time="applied_at", config=UNCALIBRATED)
    augmented = train(X, small.label, time="applied_at", config=UNCALIBRATED,
                      augmentation=rows)
    report = augmented.training_report_
    assert report.augmentation == {"method": "test", "rows": 150, "rows_left_out": 50,
                                   "weight": 450.0}
    assert report.summary()["augmentation"]["rows"] == 150
    for part in ("holdout_positions", "validation_positions", "train_positions"):
        np.testing.assert_array_equal(getattr(report, part),
                                      getattr(plain.training_report_, part))
    # 150 extra bads of weight 3 raise the level; the hold-out is still real rows only
    assert augmented.predict_pd(X).mean() > plain.predict_pd(X).mean() + 0.05
    assert report.n_holdout == plain.training_report_.n_holdout
    # validated by folds before the out-of-time hold-out: the rows after the last row
    # before the hold-out are left out the same way
    folds = train(X, small.label, time="applied_at", augmentation=rows,
                  config=replace(UNCALIBRATED, time_validation="cross-validation"))
    assert folds.training_report_.augmentation["rows_left_out"] == 50
    with pytest.raises(ValueError, match="need their times"):
        train(X, small.label, time="applied_at", config=FAST,
              augmentation=replace(rows, time=None))
    with pytest.raises(ValueError, match="augmentation rows: X lacks feature column"):
        train(X, small.label, time="applied_at", config=FAST,
              augmentation=replace(rows, features=extra.drop(columns=["income"])))


def test_fuzzy_reject_inference_retrains_with_the_known_good_bad_models_pds(
        small: CreditTable) -> None:
    X = small.features.drop(columns=["applied_at"])
    rejects = make_credit_table(n=300, seed=4).features.drop(columns=["applied_at"])
    result = train_with_reject_inference(X, small.label, rejects, config=UNCALIBRATED)
    np.testing.assert_allclose(result.reject_pd, result.known_good_bad.predict_pd(rejects))
    bads = result.augmentation.weight[300:]
    np.testing.assert_allclose(bads, result.reject_pd)
    summary = result.summary()
    assert summary["rejects"] == summary["rejects_used"] == 300
    assert summary["inferred_bads"] == pytest.approx(result.reject_pd.sum())
    # with PDs doubled, the retrained model puts the rejects' PD level higher
    doubled = train_with_reject_inference(
        X, small.label, rejects, config=UNCALIBRATED,
        augmentation_config=FuzzyAugmentationConfig(pd_factor=2.0))
    assert doubled.model.predict_pd(rejects).mean() > result.model.predict_pd(rejects).mean()
    with pytest.raises(ValueError, match="the rejects lack feature column"):
        train_with_reject_inference(X, small.label, rejects.drop(columns=["sector"]),
                                    config=FAST)


# ------------------------------------------------------------------- the command
def test_train_command_with_fuzzy_reject_inference_end_to_end(
        small: CreditTable, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labelled = tmp_path / "labelled.parquet"
    small.features.reset_index().assign(defaulted=small.label).to_parquet(labelled)
    # a decisions export: the approved rows (with a line) are not rejects
    declined = make_credit_table(n=200, seed=5).features.reset_index()
    declined["line_id"] = [f"L{i}" if i < 20 else None for i in range(200)]
    declined = declined.rename(columns={"applied_at": "created_at"})
    rejects = tmp_path / "rejects.parquet"
    declined.to_parquet(rejects)
    settings = Settings(data_dir=tmp_path / "data", model_name="fuzzy-cli")
    empty_store(settings.data_dir / "mlflow.db")
    argv = ["train", "--features", str(labelled), "--label", "defaulted", "--id-column",
            "applicant_id", "--time-column", "applied_at", "--max-candidates", "1",
            "--n-jobs", "1"]
    assert _run([*argv, "--reject-inference", "fuzzy", "--rejects", str(rejects),
                 "--reject-pd-factor", "1.5"], settings) == 0
    captured = capsys.readouterr()
    assert "20 rows with a line_id (approved) left out" in captured.err
    assert "reject inference fuzzy:" in captured.out
    assert "of 180 rejects in the training rows" in captured.out
    client = MlflowClient(settings.resolved_tracking_uri())
    params = client.get_run(str(client.get_model_version("fuzzy-cli", "1").run_id)).data.params
    assert params["reject_inference.method"] == "fuzzy"
    assert params["reject_inference.rejects"] == "180"
    assert float(params["reject_inference.pd_factor"]) == 1.5
    used = int(params["reject_inference.rejects_used"])
    assert 0 < used < 180  # the rejects after the last training row are left out

    with pytest.raises(CliError, match="go together"):
        _run([*argv, "--rejects", str(rejects)], settings)
    with pytest.raises(CliError, match="--reject-pd-factor"):
        _run([*argv, "--reject-inference", "fuzzy", "--rejects", str(rejects),
              "--reject-pd-factor", "0"], settings)
    with pytest.raises(CliError, match="lack the feature column"):
        declined.drop(columns=["income"]).to_parquet(rejects)
        _run([*argv, "--reject-inference", "fuzzy", "--rejects", str(rejects)], settings)
