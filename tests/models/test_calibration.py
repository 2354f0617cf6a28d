"""Calibration: Platt by default, isotonic only when it beats Platt beyond noise, fitted on
the served booster's scores, and never a PD of 0 or 1."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from models import Calibration, CreditModel, TrainConfig, train
from models.training import CALIBRATION_BOOTSTRAP_RESAMPLES, _choose_calibration
from tests.models.conftest import FAST, CreditTable, make_credit_table


def _platt_of(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000).fit(raw.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def test_an_isotonic_gain_within_noise_keeps_platt() -> None:
    # the true PD is logistic in the score: whatever isotonic gains on these rows is noise
    rng = np.random.default_rng(1)
    raw = rng.normal(-2.5, 1.2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(0.8 * raw + 0.3)))).astype(float)
    calibration, briers, choice = _choose_calibration(raw, y, TrainConfig())
    assert calibration.method == "platt"
    assert choice["method"] == "platt" and choice["upper"] >= 0.0
    assert choice["resamples"] == CALIBRATION_BOOTSTRAP_RESAMPLES >= 1000
    assert choice["lower"] <= choice["brier_difference"] <= choice["upper"]
    assert choice["brier_difference"] == pytest.approx(briers["isotonic"] - briers["platt"],
                                                       abs=1e-12)
    # the same seed gives the same interval
    again = _choose_calibration(raw, y, TrainConfig())[2]
    assert (again["lower"], again["upper"]) == (choice["lower"], choice["upper"])


def test_a_strongly_non_logistic_score_gets_isotonic() -> None:
    # a PD that jumps from 2 % to 40 % at one score: no sigmoid follows that step
    rng = np.random.default_rng(2)
    raw = rng.uniform(-4.0, 0.0, 4000)
    y = (rng.random(4000) < np.where(raw < -1.0, 0.02, 0.40)).astype(float)
    calibration, briers, choice = _choose_calibration(raw, y, TrainConfig())
    assert calibration.method == "isotonic"
    assert choice["upper"] < 0.0 and briers["isotonic"] < briers["platt"]
    # the Platt map of the same scores is stored as the scale of the points
    slope, intercept = _platt_of(raw, y)
    assert calibration.points_slope == pytest.approx(slope, rel=1e-9)
    assert calibration.points_intercept == pytest.approx(intercept, rel=1e-9)
    # a configured choice is followed, with the bootstrap still reported
    platt, _, forced = _choose_calibration(raw, y, TrainConfig(calibration="platt"))
    assert platt.method == "platt" and "brier_difference" not in forced


def test_no_calibrated_pd_is_ever_zero_or_one_even_where_isotonic_saw_no_default() -> None:
    rng = np.random.default_rng(3)
    raw = np.sort(rng.uniform(-6.0, 4.0, 3000))
    y = (rng.random(3000) < 1 / (1 + np.exp(-raw))).astype(float)
    y[raw < -3.0] = 0.0  # the lowest scores: not one default
    y[raw > 3.0] = 1.0   # the highest: every one defaulted
    config = TrainConfig(calibration="isotonic")
    isotonic = _choose_calibration(raw, y, config)[0]
    assert isotonic.method == "isotonic" and min(isotonic.values) == 0.0
    assert max(isotonic.values) == 1.0
    extremes = np.array([-50.0, -6.0, 0.0, 4.0, 50.0])
    for calibration in (isotonic, _choose_calibration(raw, y, TrainConfig())[0],
                        Calibration(), Calibration("platt", slope=3.0, intercept=1.0)):
        pd_ = calibration.apply(extremes)
        assert pd_.min() == pytest.approx(0.0003) and pd_.max() == pytest.approx(0.9997)
        assert [calibration.apply_one(float(r)) for r in extremes] == pd_.tolist()
    higher = _choose_calibration(raw, y, replace(config, pd_floor=0.001))[0]
    assert higher.apply(extremes).min() == pytest.approx(0.001)
    with pytest.raises(ValueError, match="pd_floor must be > 0"):
        TrainConfig(pd_floor=0.0).check()


def test_a_trained_isotonic_model_floors_its_pds(credit_table: CreditTable) -> None:
    X = credit_table.features.drop(columns=["applied_at"])
    model = train(X, credit_table.label, config=replace(FAST, calibration="isotonic"))
    assert model.calibration_.method == "isotonic"
    pd_ = model.predict_pd(X)
    assert pd_.min() >= 0.0003 and pd_.max() <= 0.9997


def test_cross_validation_calibrates_the_served_booster_on_rows_it_did_not_train_on(
        trained: CreditModel, credit_table: CreditTable) -> None:
    X = credit_table.features.drop(columns=["applied_at"])
    report = trained.training_report_
    rows = report.calibration_positions
    assert len(rows) == report.n_calibration > 0
    # the calibration part is one fold of the non-hold-out rows, out of the served booster
    assert not np.isin(rows, report.holdout_positions).any()
    assert report.n_train + report.n_calibration + report.n_holdout == len(X)
    assert report.n_calibration == pytest.approx(report.n_validation / FAST.cv_folds, abs=2)
    # the Platt map is the one of the served booster's own scores of those rows
    slope, intercept = _platt_of(trained.decision_function(X.iloc[rows]),
                                 credit_table.label[rows])
    assert trained.calibration_.method == "platt"
    assert trained.calibration_.slope == pytest.approx(slope, rel=1e-9)
    assert trained.calibration_.intercept == pytest.approx(intercept, rel=1e-9, abs=1e-12)
    assert (trained.calibration_.points_slope, trained.calibration_.points_intercept) == (
        trained.calibration_.slope, trained.calibration_.intercept)
    summary = trained.metadata_["training"]
    assert summary["calibration_choice"]["method"] == "platt"
    assert "first cross-validation fold" in summary["calibration_choice"]["fitted_on"]
    assert set(summary["calibration_brier"]) == {"raw", "platt", "isotonic"}


def test_out_of_time_calibrates_the_served_booster_on_the_validation_rows() -> None:
    table = make_credit_table(n=2000, seed=4)
    model = train(table.features, table.label, time="applied_at", config=FAST)
    report = model.training_report_
    np.testing.assert_array_equal(report.calibration_positions, report.validation_positions)
    rows = report.validation_positions
    slope, intercept = _platt_of(model.decision_function(table.features.iloc[rows]),
                                 table.label[rows])
    assert model.calibration_.slope == pytest.approx(slope, rel=1e-9)
    assert model.calibration_.intercept == pytest.approx(intercept, rel=1e-9, abs=1e-12)


def test_a_model_saved_before_the_floor_and_the_points_map_loads_as_it_scored(
        trained: CreditModel, credit_table: CreditTable, tmp_path: Path) -> None:
    folder = trained.save(tmp_path / "old")
    payload = json.loads((folder / "credit_model.json").read_text(encoding="utf-8"))
    for key in ("pd_floor", "points_slope", "points_intercept"):
        del payload["calibration"][key]
    payload["calibration"].update(method="platt", slope=1.7, intercept=-3.0)
    (folder / "credit_model.json").write_text(json.dumps(payload), encoding="utf-8")
    old = CreditModel.load(folder)
    assert old.calibration_.pd_floor == 0.0
    assert (old.calibration_.points_slope, old.calibration_.points_intercept) == (1.0, 0.0)
    raw = old.decision_function(credit_table.features)
    # what the code before the floor computed: no clipping at all
    np.testing.assert_array_equal(old.predict_pd(credit_table.features),
                                  1.0 / (1.0 + np.exp(-(1.7 * raw - 3.0))))
    np.testing.assert_array_equal(old.calibration_.points_log_odds(raw), raw)


def test_a_small_table_keeps_every_row_in_the_served_booster_and_calibrates_like_it() -> None:
    # one fold of a 600-row table holds far fewer than 100 defaults: setting it aside
    # would cost the booster more than it gives the map
    table = make_credit_table(n=600, seed=6)
    X = table.features.drop(columns=["applied_at"])
    model = train(X, table.label, config=FAST)
    report = model.training_report_
    assert report.n_train == report.n_validation == report.n_calibration
    assert report.n_train + report.n_holdout == len(X)
    assert "refitted like the served one" in report.calibration_choice["fitted_on"]
    assert model.calibration_.method == "platt"



def test_the_model_card_shows_the_bootstrap_that_chose_the_calibration_and_the_floor(
        trained: CreditModel, credit_table: CreditTable) -> None:
    from models.report import evaluate, model_card

    holdout = trained.training_report_.holdout_positions
    evaluation = evaluate(trained, credit_table.features.iloc[holdout],
                          credit_table.label[holdout])
    card = model_card(trained, evaluation, name="card")
    choice = trained.training_report_.calibration_choice
    assert (f"Brier(isotonic) - Brier(Platt) {choice['brier_difference']:+.6f}, 95 % paired "
            f"bootstrap interval [{choice['lower']:+.6f}, {choice['upper']:+.6f}] "
            "(1000 resamples of the rows)") in card
    assert "- PD floor: 0.0003 (every PD within [0.0003, 0.9997])" in card
