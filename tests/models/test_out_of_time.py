"""Training on a table of decisions: out of time with an embargo, never a seller on both sides."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models import train
from models.training import cross_validation_folds
from tests.models.conftest import FAST

#: Columns of a labels table (``sme-credit labels``) that are not features.
DECISION_COLUMNS = ["decision_id", "seller_id", "decided_at", "outcome", "grade", "pd",
                    "points", "model_version", "line_id", "label"]


def make_labels_table(n_sellers: int = 500, seed: int = 0) -> pd.DataFrame:
    """A labels-shaped table: one row per decision (one to four per seller over three
    years), the decision's own columns, then the features as used at the decision."""
    rng = np.random.default_rng(seed)
    per_seller = rng.integers(1, 5, n_sellers)
    seller = np.repeat([f"S{i:05d}" for i in range(n_sellers)], per_seller)
    n = len(seller)
    decided_at = (pd.Timestamp("2023-01-01", tz="UTC")
                  + pd.to_timedelta(rng.uniform(0, 3 * 365, n), unit="D")).round("s")
    gmv = rng.lognormal(11, 0.7, n)
    refund_rate = rng.beta(2, 20, n)
    late_days = rng.poisson(2.0, n).astype(float)
    kind = rng.choice(["shop", "factory"], n)
    z = (-2.2 - 0.8 * (np.log(gmv) - 11) + 12 * (refund_rate - 0.09) + 0.35 * late_days
         + np.where(kind == "factory", -0.4, 0.0))
    label = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    pd_at_decision = np.clip(1 / (1 + np.exp(-z)) + rng.normal(0, 0.02, n), 0.001, 0.999)
    approved = rng.random(n) < 0.9
    table = pd.DataFrame({
        "decision_id": [f"D{i:06d}" for i in range(n)],
        "seller_id": seller,
        "decided_at": decided_at,
        "outcome": np.where(approved, "approve", "refer"),
        "grade": np.select([pd_at_decision <= 0.05, pd_at_decision <= 0.1], ["C", "D"], "E"),
        "pd": pd_at_decision,
        "points": 600 - 28.85 * np.log(pd_at_decision / (1 - pd_at_decision)),
        "model_version": "sme-credit-pd/1",
        "line_id": pd.array([f"L{i:06d}" if a else None for i, a in enumerate(approved)],
                            dtype="string"),
        "label": label,
        "gmv_12m": gmv,
        "refund_rate": refund_rate,
        "late_days": late_days,
        "seller_kind": kind,
    })
    return table.sort_values("decided_at", kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def decisions() -> pd.DataFrame:
    return make_labels_table()


def _features(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=[c for c in DECISION_COLUMNS
                               if c not in ("seller_id", "decided_at", "label")])


def test_embargo_leaves_a_gap_at_least_the_label_window_between_the_parts(
        decisions: pd.DataFrame) -> None:
    model = train(_features(decisions), "label", time="decided_at", groups="seller_id",
                  embargo_days=120, config=FAST)
    report = model.training_report_
    times = decisions["decided_at"]
    train_t = times.iloc[report.train_positions]
    valid_t = times.iloc[report.validation_positions]
    holdout_t = times.iloc[report.holdout_positions]
    assert valid_t.min() - train_t.max() >= pd.Timedelta(days=120)
    assert holdout_t.min() - valid_t.max() >= pd.Timedelta(days=120)
    assert report.rows_embargoed > 0
    assert report.summary()["embargo_days"] == 120
    kept = (len(report.train_positions) + len(report.validation_positions)
            + len(report.holdout_positions) + report.rows_embargoed
            + report.rows_dropped_for_groups)
    assert kept == len(decisions)
    assert "seller_id" not in model.feature_names_in_
    assert "decided_at" not in model.feature_names_in_


def test_no_seller_sits_on_both_sides_of_an_out_of_time_cut(decisions: pd.DataFrame) -> None:
    model = train(_features(decisions), "label", time="decided_at", groups="seller_id",
                  embargo_days=30, config=FAST)
    report = model.training_report_
    sellers = decisions["seller_id"]
    parts = [set(sellers.iloc[p]) for p in (report.train_positions,
                                             report.validation_positions,
                                             report.holdout_positions)]
    assert not parts[0] & parts[1]
    assert not parts[0] & parts[2]
    assert not parts[1] & parts[2]
    assert report.rows_dropped_for_groups > 0  # sellers decided again later exist
    assert report.grouped


def test_without_groups_a_seller_decided_twice_can_straddle_the_cut(
        decisions: pd.DataFrame) -> None:
    model = train(_features(decisions).drop(columns=["seller_id"]), "label",
                  time="decided_at", config=FAST)
    report = model.training_report_
    sellers = decisions["seller_id"]
    assert set(sellers.iloc[report.train_positions]) & set(
        sellers.iloc[report.validation_positions])
    assert report.rows_embargoed == 0


def test_cross_validation_folds_keep_each_seller_in_one_fold(decisions: pd.DataFrame) -> None:
    groups = pd.Index(decisions["seller_id"])
    y = decisions["label"].to_numpy()
    folds = cross_validation_folds(y, 3, 0, groups)
    assert len(folds) == 3
    seen = np.zeros(len(y), dtype=int)
    for fit, valid in folds:
        assert not set(groups[fit]) & set(groups[valid])
        seen[valid] += 1
        assert 0 < y[valid].mean() < 1  # stratified: both classes in every fold
    assert (seen == 1).all()


def test_grouped_cross_validation_holds_out_whole_sellers(decisions: pd.DataFrame) -> None:
    features = _features(decisions).drop(columns=["decided_at"]).set_index("seller_id")
    model = train(features, "label", groups="seller_id", config=FAST)  # the index's name
    report = model.training_report_
    assert report.scheme == "cross-validation"
    in_holdout = np.zeros(len(features), dtype=bool)
    in_holdout[report.holdout_positions] = True
    assert not set(features.index[in_holdout]) & set(features.index[~in_holdout])
    assert report.grouped


def test_time_given_as_timestamps_with_a_time_zone_accepts_an_embargo(
        decisions: pd.DataFrame) -> None:
    features = _features(decisions)
    # Series.to_numpy() of UTC timestamps is an array of objects, as the CLI passes them
    model = train(features.drop(columns=["decided_at", "seller_id"]), "label",
                  time=features["decided_at"].to_numpy(),
                  groups=features["seller_id"].to_numpy(), embargo_days=60, config=FAST)
    report = model.training_report_
    times = decisions["decided_at"]
    assert (times.iloc[report.validation_positions].min()
            - times.iloc[report.train_positions].max()) >= pd.Timedelta(days=60)


def test_refuses_an_embargo_it_cannot_apply(decisions: pd.DataFrame) -> None:
    features = _features(decisions)
    with pytest.raises(ValueError, match="needs a time column"):
        train(features.drop(columns=["decided_at"]), "label", embargo_days=30, config=FAST)
    numeric_time = features.assign(decided_at=np.arange(len(features)))
    with pytest.raises(ValueError, match="datetime time column"):
        train(numeric_time, "label", time="decided_at", embargo_days=30, config=FAST)
    with pytest.raises(ValueError, match="more history"):
        train(features, "label", time="decided_at", groups="seller_id", embargo_days=2000,
              config=FAST)
    with pytest.raises(ValueError, match="groups column"):
        train(features, "label", time="decided_at", groups="merchant", config=FAST)


def _used_before_holdout(report) -> pd.Timestamp:
    """The last decision time of the rows that fit or validate (the windows' end)."""
    return pd.Timestamp(report.windows["train"][1])


def test_cross_validation_before_an_out_of_time_hold_out_needs_one_embargo(
        decisions: pd.DataFrame) -> None:
    """Two 450-day cuts do not fit in three years of decisions; one does: the rows before
    the hold-out validate by grouped folds, the hold-out stays out of time."""
    with pytest.raises(ValueError, match="no training row is left"):
        train(_features(decisions), "label", time="decided_at", groups="seller_id",
              embargo_days=450, config=FAST)
    config = replace(FAST, time_validation="cross-validation")
    model = train(_features(decisions), "label", time="decided_at", groups="seller_id",
                  embargo_days=450, config=config)
    report = model.training_report_
    assert report.scheme == "cross-validation, out-of-time hold-out"
    holdout_t = decisions["decided_at"].iloc[report.holdout_positions]
    assert holdout_t.min() - _used_before_holdout(report) >= pd.Timedelta(days=450)
    assert pd.Timestamp(report.windows["holdout"][0]) == holdout_t.min()
    assert report.rows_embargoed > 0
    # strict groups: no seller of the hold-out is in the rows before it
    used = len(decisions) - len(report.holdout_positions) - report.rows_embargoed \
        - report.rows_dropped_for_groups
    assert report.n_validation == used
    assert report.rows_dropped_for_groups > 0


def test_outcome_group_split_keeps_a_sellers_earlier_rows_across_the_embargo(
        decisions: pd.DataFrame) -> None:
    strict = train(_features(decisions), "label", time="decided_at", groups="seller_id",
                   embargo_days=120, config=FAST).training_report_
    config = replace(FAST, group_split="outcome")
    model = train(_features(decisions), "label", time="decided_at", groups="seller_id",
                  embargo_days=120, config=config)
    report = model.training_report_
    assert report.rows_dropped_for_groups == 0
    assert len(report.train_positions) > len(strict.train_positions)
    times, sellers = decisions["decided_at"], decisions["seller_id"]
    train_t = times.iloc[report.train_positions]
    valid_t = times.iloc[report.validation_positions]
    holdout_t = times.iloc[report.holdout_positions]
    # the embargo still separates every part: each earlier outcome is known before the
    # later part begins ...
    assert valid_t.min() - train_t.max() >= pd.Timedelta(days=120)
    assert holdout_t.min() - valid_t.max() >= pd.Timedelta(days=120)
    # ... while a seller may be on both sides
    assert set(sellers.iloc[report.train_positions]) & set(
        sellers.iloc[report.holdout_positions])


def test_outcome_group_split_needs_an_embargo(decisions: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="embargo"):
        train(_features(decisions), "label", time="decided_at", groups="seller_id",
              config=replace(FAST, group_split="outcome"))
    with pytest.raises(ValueError, match="time_validation"):
        replace(FAST, time_validation="by-month").check()
