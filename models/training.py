"""Training a probability-of-default model on any tabular data with a binary label.

The procedure (:func:`train`, also :meth:`models.CreditModel.fit`):

1. **Hold-out.** ``holdout_fraction`` of the rows is set aside first and touched by nothing
   that fits: with a time column, the most recent rows (out of time); without one, the
   rows whose index label (e.g. ``seller_id``) falls in the hold-out by a keyed hash, a
   random sample that does not depend on the seed, so two models trained on the same or
   an overlapping table hold out the same sellers. The hold-out gives the reported
   metrics, and is the sample stored with the model for promotion.
2. **Validation.** With a time column, the most recent ``validation_fraction`` of the
   remaining rows validate (out of time) and the earlier rows train; with
   ``TrainConfig.time_validation="cross-validation"`` the remaining rows are cut into folds
   as without a time column while the hold-out stays out of time (one time cut, so one
   embargo: a short history with a long label window can still train). Without a time
   column, the remaining rows are cut into ``cv_folds`` stratified folds. Rows that share
   a timestamp always land on the same side of a time cut.
3. **Search.** The hyper-parameter candidates are tried in a fixed order, each with early
   stopping on the validation log loss; the candidate with the best validation AUC wins
   (mean over folds in cross-validation; the earlier candidate on a tie). At most
   ``max_candidates`` are tried; the wall-clock cap can stop it sooner (reported).
4. **Final booster** (the one served). Out of time: the winning booster trained on the
   training rows, cut at its early-stopping round. Cross-validation: a booster refitted for
   the mean best number of rounds of the folds on the non-hold-out rows *except the first
   fold*, which is kept out as the calibration part (so the served booster has scores on
   rows it never trained on; it trains on ``(cv_folds - 1) / cv_folds`` of those rows).
   When that fold holds fewer than :data:`MIN_CALIBRATION_PART_CLASS` defaults (or
   non-defaults), setting it aside would cost the booster more than it gives the map (on
   the 1,000 rows of German credit it costs 0.013 of AUC): the served booster is refitted
   on all non-hold-out rows and the map is fitted on out-of-fold scores of boosters
   trained exactly like it (same parameters and rounds, no early stopping) on the other
   folds. The report's ``calibration_choice["fitted_on"]`` says which.
5. **Calibration**, fitted on raw scores of the served booster on rows it did not train on:
   the validation rows out of time (the served booster is the validation-scored one), the
   calibration part in cross-validation (or, for a small table, the out-of-fold scores of
   boosters trained like it, above). Platt scaling is the default map. With
   ``calibration="auto"`` an isotonic map replaces it only when it is better beyond noise:
   both are cross-fitted on those scores (each fold's map fitted on the other folds, so
   every Brier score is out of sample), and in a paired bootstrap of the rows
   (:data:`CALIBRATION_BOOTSTRAP_RESAMPLES` resamples, seeded; of the groups with
   ``groups``) the upper end of the 95 % interval of ``Brier(isotonic) - Brier(Platt)``
   must be below 0. The Platt map is fitted and stored in every case: points and reasons
   are scaled on its calibrated log-odds (:class:`models.credit_model.Calibration`). Every
   PD is kept within ``[pd_floor, 1 - pd_floor]`` (``TrainConfig.pd_floor``).

Two options guard against leaks between the parts when one applicant has several rows
(a labels table from the ledger holds one row per decision, and a seller can be decided
several times):

- ``groups`` (for example ``seller_id``): no group sits on both sides of any split. The
  hash hold-out hashes the group instead of the index label; the cross-validation folds are
  :class:`~sklearn.model_selection.StratifiedGroupKFold` folds; out of time, the earlier
  rows of a group that also has a row in the later part are left out of the earlier part
  (the later part is the one being judged); the cross-fitted calibration folds are grouped
  too. With ``TrainConfig.group_split="outcome"`` (only with an embargo) the out-of-time
  cuts keep a group's earlier rows: with an embargo at least the label window, every
  earlier row's outcome was known before the later part began, so no outcome sits on
  both sides; the applicant does, as it does when a behavioural model scores the
  customers it learnt from. The folds stay grouped.
- ``embargo_days`` (with a datetime time column): a gap of at least that many days between
  the last row of the earlier part and the first row of the later part, at both out-of-time
  cuts (training | validation, and the rest | hold-out). A label observed over a window
  after its row (default within 12 months) is not known before the window ends, so without
  the gap the last training labels would be made of outcomes that happen during the
  validation window. Rows in the gap train nothing and are counted in the report.

Two more options change only what fits the boosters, never what judges them:

- ``sample_weight``: a weight per row (LightGBM's instance weights) in every part that
  fits a booster (the out-of-time training rows, each cross-validation fold's fitting
  rows, the final refit). Early stopping, the candidate search, calibration and every
  reported metric stay unweighted: they judge the model on the rows as they are.
- ``augmentation`` (:class:`TrainingAugmentation`): extra weighted rows, e.g. the
  rejected applicants of :mod:`models.reject_inference`, added to every part that fits a
  booster and to nothing else: never to validation, hold-out, calibration or the score and
  feature references. With a time column, only the extra rows no later than the last
  training row are used (the others are counted), so nothing from the validation or
  hold-out window fits the model.

A candidate with ``"linear_base": 1`` (:mod:`models.linear_base`) fits, wherever a
booster is fitted, first an L2 logistic regression on the same fitting rows (weights and
augmentation rows included; its strength chosen by an inner cross-validation on those rows
only, grouped with ``groups``), then the booster on its log-odds as ``init_score`` (also on
the validation rows, so early stopping and the search judge the sum). Every raw score below
(validation, calibration, hold-out, the score reference) is then the sum.

Monotone constraints come from the feature registry (``risk_direction``) for numeric
columns it knows, overridden by ``config.monotone_overrides``; categorical columns are
never constrained (a linear base leaves out a column whose coefficient has the wrong
sign). Everything random is seeded by ``config.seed`` and LightGBM runs in
deterministic mode, so the same data and config give the same model.
"""

from __future__ import annotations

import time as time_module
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from features.registry import registry_version, risk_direction
from models.config import TrainConfig
from models.credit_model import (
    DEFAULT_PD_FLOOR,
    Calibration,
    ColumnSpec,
    CreditModel,
    FittedState,
    booster_feature_names,
    categorical_levels,
    column_kind,
    encode_columns,
    value_type,
)
from models.evaluation import ScoreReference, classification_metrics
from models.linear_base import LinearBase, uses_linear_base, without_linear_key

__all__ = ["train", "TrainingReport", "CandidateResult", "TrainingAugmentation",
           "fit_credit_model", "cross_validation_folds", "CALIBRATION_BOOTSTRAP_RESAMPLES"]

#: Key of the hold-out hash (16 bytes); changing it changes every hold-out.
_HOLDOUT_HASH_KEY = "sme-credit-hold!"
#: Paired bootstrap resamples of the choice between Platt and isotonic calibration.
CALIBRATION_BOOTSTRAP_RESAMPLES = 1000
#: Two-sided level of the bootstrap interval; isotonic wins when its upper end is below 0.
CALIBRATION_BOOTSTRAP_LEVEL = 0.95
#: In cross-validation, the first fold is set aside to calibrate the served booster only
#: when it holds at least this many defaults and non-defaults (see the module notes).
MIN_CALIBRATION_PART_CLASS = 100


@dataclass(frozen=True)
class TrainingAugmentation:
    """Extra weighted rows that only ever fit boosters (see the module notes).

    Attributes
    ----------
    features : the rows, with (at least) the feature columns of the training table.
    label : 0 or 1 per row, aligned by position.
    weight : LightGBM instance weight per row, finite and >= 0.
    time : observation time per row (same kind as the training table's time column),
        or ``None``; with a time column in training, rows later than the last training
        row are left out.
    method : what made the rows (recorded in the training report).
    """

    features: pd.DataFrame
    label: np.ndarray
    weight: np.ndarray
    time: np.ndarray | None = None
    method: str = "augmentation"

    def check(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent field."""
        n = len(self.features)
        for name in ("label", "weight"):
            values = np.asarray(getattr(self, name))
            if values.shape != (n,):
                raise ValueError(f"augmentation {name} has shape {values.shape} for {n} rows")
        if not np.isin(np.asarray(self.label, dtype=float), (0.0, 1.0)).all():
            raise ValueError("augmentation label must be 0 or 1")
        weight = np.asarray(self.weight, dtype=float)
        if not (np.isfinite(weight).all() and (weight >= 0).all()):
            raise ValueError("augmentation weight must be finite and >= 0")
        if self.time is not None and len(self.time) != n:
            raise ValueError(f"augmentation time has {len(self.time)} values for {n} rows")


@dataclass
class CandidateResult:
    """One tried hyper-parameter candidate."""

    index: int
    params: dict[str, Any]
    validation_auc: float
    validation_log_loss: float
    best_iteration: int
    seconds: float


@dataclass
class TrainingReport:
    """What :func:`train` did, for the model card, MLflow and the curious.

    Attributes
    ----------
    scheme : ``"out-of-time"`` or ``"cross-validation"``.
    n_rows, n_train, n_validation, n_holdout : row counts (``n_train``: rows that fit the
        served booster; ``n_validation``: the sum of the fold sizes in cross-validation).
    n_calibration : rows the calibration map is fitted on (the validation rows out of time,
        the calibration part in cross-validation).
    calibration_positions : their 0-based row positions in the input table.
    holdout_positions : 0-based row positions of the hold-out in the input table.
    candidates : every candidate tried, in order.
    chosen : index of the winning candidate in ``candidates``.
    search_cut_by_budget : whether the wall-clock cap stopped the search early.
    calibration_brier : Brier score on the calibration rows of ``raw`` (the booster's own
        probability) and, cross-fitted, of ``platt`` and ``isotonic`` (those tried).
    calibration_choice : how the map was chosen: ``method``, ``reason``, ``rows`` and
        ``defaults`` of the calibration part, ``fitted_on`` (which rows), and when isotonic
        was tried the paired bootstrap of ``Brier(isotonic) - Brier(Platt)``:
        ``brier_difference`` (on the rows), ``lower`` and ``upper`` (the
        ``level`` interval over ``resamples`` resamples), ``resampled`` (``"rows"`` or
        ``"groups"``); also ``pd_floor``.
    validation_metrics, holdout_metrics : see :func:`models.evaluation.classification_metrics`.
    windows : with a time column, the first and last time of each part.
    seconds : wall-clock time of the whole fit.
    grouped : whether rows were grouped (``groups``): no group on both sides of a split.
    embargo_days : the gap in days between the earlier and the later part of each
        out-of-time cut (0: none).
    rows_embargoed : rows left out because they fell in an embargo gap.
    rows_dropped_for_groups : earlier rows left out because their group also has a row in
        the later part of an out-of-time cut.
    train_positions, validation_positions : 0-based row positions of the training and
        validation parts out of time (empty in cross-validation, where every non-hold-out
        row is in both, fold by fold).
    weighted : whether ``sample_weight`` weighted the fitting rows.
    augmentation : ``None``, or what the :class:`TrainingAugmentation` added: ``method``,
        ``rows`` (used), ``rows_left_out`` (later than the last training row) and
        ``weight`` (their total weight).
    """

    scheme: str
    n_rows: int
    n_train: int
    n_validation: int
    n_holdout: int
    holdout_positions: np.ndarray
    candidates: list[CandidateResult]
    chosen: int
    search_cut_by_budget: bool
    calibration_brier: dict[str, float]
    validation_metrics: dict[str, float]
    holdout_metrics: dict[str, float]
    windows: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    grouped: bool = False
    embargo_days: float = 0.0
    rows_embargoed: int = 0
    rows_dropped_for_groups: int = 0
    train_positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    validation_positions: np.ndarray = field(
        default_factory=lambda: np.empty(0, dtype=np.int64))
    weighted: bool = False
    augmentation: dict[str, Any] | None = None
    n_calibration: int = 0
    calibration_positions: np.ndarray = field(
        default_factory=lambda: np.empty(0, dtype=np.int64))
    calibration_choice: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary (without the hold-out positions)."""
        return {
            "scheme": self.scheme,
            "n_rows": self.n_rows,
            "n_train": self.n_train,
            "n_validation": self.n_validation,
            "n_holdout": self.n_holdout,
            "n_calibration": self.n_calibration,
            "candidates": [vars(c) for c in self.candidates],
            "chosen": self.chosen,
            "search_cut_by_budget": self.search_cut_by_budget,
            "calibration_brier": self.calibration_brier,
            "calibration_choice": self.calibration_choice,
            "validation_metrics": self.validation_metrics,
            "holdout_metrics": self.holdout_metrics,
            "windows": self.windows,
            "seconds": self.seconds,
            "grouped": self.grouped,
            "embargo_days": self.embargo_days,
            "rows_embargoed": self.rows_embargoed,
            "rows_dropped_for_groups": self.rows_dropped_for_groups,
            "weighted": self.weighted,
            "augmentation": self.augmentation,
        }


def train(features: pd.DataFrame, label: object, *, time: object = None,
          groups: object = None, embargo_days: float = 0.0,
          config: TrainConfig | None = None, sample_weight: object = None,
          augmentation: TrainingAugmentation | None = None) -> CreditModel:
    """Train a LightGBM probability-of-default model; see the module notes for the steps.

    Parameters
    ----------
    features : one row per applicant; numeric and categorical (``category`` or text)
        columns, missing values allowed. Every column except the time column is a feature.
    label : 1 = default, 0 = not; a Series or array aligned with ``features`` by position,
        or the name of a column of ``features`` (then not a feature).
    time : observation time per row (name of a column of ``features``, or values aligned by
        position); enables out-of-time validation. Never a feature.
    groups : who each row belongs to (name of a column of ``features`` or of its index, or
        values aligned by position), e.g. ``seller_id`` when a seller has several rows: no
        group sits on both sides of any split. Never a feature. ``None``: every row is its
        own group.
    embargo_days : with a datetime ``time``, the least gap in days between the earlier and
        the later part of each out-of-time cut; at least the label window (a 12-month label
        needs about 366 days). 0: no gap.
    config : :class:`TrainConfig`; defaults when ``None``.
    sample_weight : a weight per row (finite, >= 0), aligned by position; weights the rows
        that fit boosters only (see the module notes). ``None``: every row weighs 1.
    augmentation : extra weighted rows that fit boosters and nothing else (see
        :class:`TrainingAugmentation`).

    Returns
    -------
    CreditModel
        Fitted; ``training_report_`` tells how.

    Raises
    ------
    ValueError
        On an unusable table, label, time column, groups, embargo or configuration, with
        the reason.
    """
    if groups is None and not embargo_days and sample_weight is None and augmentation is None:
        return CreditModel(config).fit(features, label, time=time)
    model = CreditModel(config)
    booster, state, report = fit_credit_model(features, label, time=time, groups=groups,
                                              embargo_days=embargo_days,
                                              config=config or TrainConfig(),
                                              sample_weight=sample_weight,
                                              augmentation=augmentation)
    # What CreditModel.fit does, with the two options its scikit-learn signature lacks.
    model._set_fitted(booster, state)
    model.training_report_ = report
    return model


# --------------------------------------------------------------------------- inputs
def _split_inputs(features: pd.DataFrame, label: object, time: object, groups: object = None,
                  ) -> tuple[pd.DataFrame, np.ndarray, pd.Series | None, pd.Index | None]:
    if not isinstance(features, pd.DataFrame):
        raise ValueError(f"features must be a pandas DataFrame; got {type(features).__name__}")
    if features.columns.duplicated().any():
        dup = features.columns[features.columns.duplicated()].tolist()
        raise ValueError(f"features has duplicate column names: {dup}")
    drop: list[str] = []
    label_values: Any
    if isinstance(label, str):
        if label not in features.columns:
            raise ValueError(f"label column {label!r} is not in the feature table")
        label_values = features[label]
        drop.append(label)
    else:
        label_values = label
    time_values: pd.Series | None = None
    if isinstance(time, str):
        if time not in features.columns:
            raise ValueError(f"time column {time!r} is not in the feature table")
        time_values = features[time]
        drop.append(time)
    elif time is not None:
        time_values = pd.Series(np.asarray(time) if not isinstance(time, pd.Series)
                                else time.to_numpy())
    group_values: pd.Index | None = None
    if isinstance(groups, str) and groups not in features.columns \
            and groups == features.index.name:
        group_values = pd.Index(features.index.to_numpy())
    elif isinstance(groups, str):
        if groups not in features.columns:
            raise ValueError(f"groups column {groups!r} is not in the feature table")
        group_values = pd.Index(features[groups].to_numpy())
        drop.append(groups)
    elif groups is not None:
        group_values = pd.Index(groups.to_numpy() if isinstance(groups, pd.Series | pd.Index)
                                else np.asarray(groups))
    X = features.drop(columns=drop)
    if X.shape[1] == 0:
        raise ValueError("the feature table has no feature column")

    y_series = pd.Series(label_values.to_numpy() if isinstance(label_values, pd.Series)
                         else np.asarray(label_values))
    if len(y_series) != len(X):
        raise ValueError(f"label has {len(y_series)} values for {len(X)} rows")
    if y_series.isna().any():
        raise ValueError(f"label has {int(y_series.isna().sum())} missing values; drop those "
                         "rows or label them")
    if pd.api.types.is_bool_dtype(y_series.dtype):
        y = y_series.to_numpy(dtype=float)
    else:
        numeric = pd.to_numeric(y_series, errors="coerce")
        if numeric.isna().any() or not numeric.isin([0, 1]).all():
            seen = sorted({str(v) for v in y_series.unique()[:5]})
            raise ValueError(f"label must be 0 or 1 (1 = default); got values {seen}")
        y = numeric.to_numpy(dtype=float)
    if y.min() == y.max():
        raise ValueError("label has only one class; a model needs both defaults and "
                         "non-defaults")

    if time_values is not None:
        if len(time_values) != len(X):
            raise ValueError(f"time has {len(time_values)} values for {len(X)} rows")
        if time_values.isna().any():
            raise ValueError(f"time has {int(time_values.isna().sum())} missing values")
        if time_values.nunique() < 3:
            raise ValueError("time needs at least three distinct values for out-of-time "
                             "validation")
    if group_values is not None:
        if len(group_values) != len(X):
            raise ValueError(f"groups has {len(group_values)} values for {len(X)} rows")
        missing_groups = int(np.asarray(group_values.isna()).sum())
        if missing_groups:
            raise ValueError(f"groups has {missing_groups} missing values")
    return X, y, time_values, group_values


def _column_specs(X: pd.DataFrame, config: TrainConfig) -> list[ColumnSpec]:
    specs = []
    for name in X.columns:
        if not isinstance(name, str):
            raise ValueError(f"feature column names must be text; got {name!r}")
        kind = column_kind(X[name])
        if kind == "categorical":
            levels = categorical_levels(X[name])
            if len(levels) > config.max_categories:
                levels = _frequent_levels(X[name], name, levels, config.max_categories)
            specs.append(ColumnSpec(name, "categorical", levels, 0, "text"))
        else:
            direction = risk_direction(name) if config.monotone else 0
            direction = int(config.monotone_overrides.get(name, direction))
            specs.append(ColumnSpec(name, "numeric", (), direction, value_type(X[name])))
    unknown = sorted(set(config.monotone_overrides) - set(X.columns))
    if unknown:
        raise ValueError(f"monotone_overrides names columns that are not features: {unknown}")
    return specs


#: A text column whose distinct values are more than this share of its non-missing rows
#: (and more than ``max_categories``) is an identifier, not a feature.
IDENTIFIER_SHARE = 0.5


def _frequent_levels(column: pd.Series, name: str, levels: tuple[str, ...],
                     max_categories: int) -> tuple[str, ...]:
    """The ``max_categories`` most frequent levels of a column with many (ties by name), in
    the column's level order; the rarer values are then read as missing, like a level never
    seen in training. A column that is mostly distinct values is refused as an identifier."""
    text = column.dropna().astype(str)
    counts = text.value_counts()
    if len(counts) > IDENTIFIER_SHARE * len(text):
        raise ValueError(
            f"column {name!r} has {len(counts)} distinct values in {len(text)} rows (more "
            f"than max_categories={max_categories}, and most rows have a value of their "
            "own): an identifier is not a feature; drop it or make it the index")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = {level for level, _ in ranked[:max_categories]}
    rare_rows = int(sum(count for level, count in ranked[max_categories:]))
    warnings.warn(
        f"column {name!r} has {len(counts)} distinct values; its {max_categories} most "
        f"frequent are its levels and the other {len(counts) - max_categories} "
        f"({rare_rows} rows) are read as missing (TrainConfig.max_categories)",
        UserWarning, stacklevel=4)
    return tuple(level for level in levels if level in kept)


# --------------------------------------------------------------------------- splits
def _time_cut(time_values: pd.Series, positions: np.ndarray, fraction: float,
              what: str) -> tuple[np.ndarray, np.ndarray]:
    """Split ``positions`` into (earlier, latest ~fraction) without splitting a timestamp."""
    t = time_values.iloc[positions]
    ranks = t.rank(method="min").to_numpy()
    order = np.argsort(ranks, kind="stable")
    cut_rank = ranks[order[int(np.floor(len(order) * (1 - fraction)))]]
    late = ranks >= cut_rank
    if late.all() or not late.any():
        raise ValueError(f"cannot cut an out-of-time {what}: too few distinct times")
    return positions[~late], positions[late]


def _as_datetimes(time_values: pd.Series) -> pd.Series:
    """The time column as pandas datetimes, for an embargo in days."""
    if pd.api.types.is_datetime64_any_dtype(time_values.dtype):
        return time_values
    if pd.api.types.is_numeric_dtype(time_values.dtype):
        raise ValueError("an embargo in days needs a datetime time column; the time column "
                         "is numeric")
    try:  # Timestamps with a time zone arrive as objects from Series.to_numpy()
        return pd.Series(pd.to_datetime(time_values, utc=True), index=time_values.index)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"an embargo in days needs a datetime time column ({exc})") from None


def _embargo(times: pd.Series | None, earlier: np.ndarray, later: np.ndarray,
             embargo_days: float) -> tuple[np.ndarray, int]:
    """``earlier`` without the rows less than ``embargo_days`` before the first later row."""
    if times is None or embargo_days <= 0 or len(later) == 0:
        return earlier, 0
    bound = times.iloc[later].min() - pd.Timedelta(days=embargo_days)
    keep = (times.iloc[earlier] <= bound).to_numpy()
    return earlier[keep], int((~keep).sum())


def _windows(time_values: pd.Series, train: np.ndarray, validation: np.ndarray,
             holdout: np.ndarray) -> dict[str, list[str]]:
    """The first and last time of each part, for the report."""
    return {"train": _window(time_values, train),
            "validation": _window(time_values, validation),
            "holdout": _window(time_values, holdout)}


def _extras_until(matrix: np.ndarray, label: np.ndarray, weight: np.ndarray,
                  extra_time: pd.Series | None, training_times: pd.Series,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The augmentation rows no later than the last training row, and how many were left
    out (all of them kept without times)."""
    if extra_time is None:
        return matrix, label, weight, 0
    usable = (extra_time <= _comparable_times(training_times).max()).to_numpy()
    return matrix[usable], label[usable], weight[usable], int((~usable).sum())


def _without_shared_groups(groups: pd.Index | None, earlier: np.ndarray, later: np.ndarray,
                           ) -> tuple[np.ndarray, int]:
    """``earlier`` without the rows whose group also has a row in ``later``."""
    if groups is None:
        return earlier, 0
    shared = groups[earlier].isin(groups[later])
    return earlier[~shared], int(shared.sum())


def cross_validation_folds(y: np.ndarray, n_folds: int, seed: int,
                           groups: pd.Index | None = None,
                           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds ``(fit, valid)`` of positions ``0 .. len(y) - 1``.

    With ``groups``, :class:`~sklearn.model_selection.StratifiedGroupKFold`: every row of a
    group falls in the same fold, so no group is on both sides of any fold's split.

    Raises
    ------
    ValueError
        When there are fewer groups than folds.
    """
    positions = np.arange(len(y))
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return list(splitter.split(positions, y))
    n_groups = groups.nunique()
    if n_groups < n_folds:
        raise ValueError(f"{n_groups} groups cannot make {n_folds} grouped cross-validation "
                         "folds")
    grouped = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(grouped.split(positions, y, groups.to_numpy()))


def _hash_holdout(index: pd.Index, fraction: float) -> np.ndarray:
    """Hold-out membership from a keyed hash of each row's index label.

    Independent of the seed and of the other rows, so models trained on the same or an
    overlapping table (same index labels, e.g. ``seller_id``) keep the same rows out, and
    promotion compares them on rows neither has seen.
    """
    labels = np.asarray(index.astype(str), dtype=object)
    keys = pd.util.hash_array(labels, hash_key=_HOLDOUT_HASH_KEY, categorize=False)
    return (keys % np.uint64(100_000)) < np.uint64(round(fraction * 100_000))


def _window(time_values: pd.Series | None, positions: np.ndarray) -> list[str]:
    if time_values is None or len(positions) == 0:
        return []
    part = time_values.iloc[positions]
    return [str(part.min()), str(part.max())]


# ---------------------------------------------------------------------- LightGBM
def _lgb_params(candidate: Mapping[str, Any], specs: list[ColumnSpec], config: TrainConfig,
                n_fit: int) -> dict[str, Any]:
    params: dict[str, Any] = {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": config.learning_rate,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "min_data_per_group": 20,
        "cat_smooth": 10.0,
        "max_bin": 255,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": config.n_jobs,
        "verbosity": -1,
    }
    params.update(candidate)
    # A leaf minimum tuned for large tables would forbid every split on a small one.
    params["min_child_samples"] = int(min(params.get("min_child_samples", 20),
                                          max(5, n_fit // 40)))
    constraints = [spec.monotone for spec in specs]
    if any(constraints):
        params["monotone_constraints"] = constraints
        params["monotone_constraints_method"] = "intermediate"
    return params


def _dataset(matrix: np.ndarray, y: np.ndarray, names: list[str], categorical: list[int],
             reference: lgb.Dataset | None = None, weight: np.ndarray | None = None,
             init_score: np.ndarray | None = None) -> lgb.Dataset:
    return lgb.Dataset(matrix, label=y, weight=weight, init_score=init_score,
                       feature_name=names, categorical_feature=categorical,
                       reference=reference, free_raw_data=False,
                       params={"max_bin": 255, "verbosity": -1})


@dataclass
class _FittingRows:
    """What fits a booster (and a linear base) besides the table's own rows: their weights
    and extra rows."""

    weights: np.ndarray | None
    extra_matrix: np.ndarray
    extra_label: np.ndarray
    extra_weight: np.ndarray
    specs: list[ColumnSpec] = field(default_factory=list)
    seed: int = 0
    groups: pd.Index | None = None
    _linears: dict[bytes, LinearBase] = field(default_factory=dict)

    def rows(self, matrix: np.ndarray, y: np.ndarray, positions: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The fitting matrix, labels and weights (``None``: all 1) of ``positions``."""
        if self.weights is None and len(self.extra_label) == 0:
            return matrix[positions], y[positions], None
        own = np.ones(len(positions)) if self.weights is None else self.weights[positions]
        return (np.vstack([matrix[positions], self.extra_matrix]),
                np.concatenate([y[positions], self.extra_label]),
                np.concatenate([own, self.extra_weight]))

    def dataset(self, matrix: np.ndarray, y: np.ndarray, positions: np.ndarray,
                names: list[str], categorical: list[int],
                linear: LinearBase | None = None) -> lgb.Dataset:
        rows, labels, weight = self.rows(matrix, y, positions)
        return _dataset(rows, labels, names, categorical, weight=weight,
                        init_score=_linear_raw(linear, rows))

    def linear(self, matrix: np.ndarray, y: np.ndarray, positions: np.ndarray) -> LinearBase:
        """The linear base fitted on the fitting rows of ``positions`` (the same rows and
        weights as the booster; each fitted once per training)."""
        key = np.ascontiguousarray(positions, dtype=np.int64).tobytes()
        if key not in self._linears:
            rows, labels, weight = self.rows(matrix, y, positions)
            groups = None
            if self.groups is not None:  # augmentation rows: a group of their own each
                codes = pd.factorize(np.asarray(self.groups[positions]))[0]
                groups = np.concatenate([codes, codes.max(initial=-1) + 1
                                         + np.arange(len(rows) - len(positions))])
            self._linears[key] = LinearBase.fit(rows, labels, self.specs, weight=weight,
                                                own_rows=len(positions), groups=groups,
                                                seed=self.seed)
        return self._linears[key]


def _sample_weights(sample_weight: object, n_rows: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    try:
        weights = np.asarray(sample_weight, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError("sample_weight must be numbers, one per row") from None
    if len(weights) != n_rows:
        raise ValueError(f"sample_weight has {len(weights)} values for {n_rows} rows")
    if not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise ValueError("sample_weight must be finite and >= 0")
    if not weights.sum() > 0:
        raise ValueError("sample_weight must not be all zero")
    return weights


def _comparable_times(values: object) -> pd.Series:
    series = pd.Series(values.to_numpy() if isinstance(values, pd.Series | pd.Index)
                       else np.asarray(values))
    if pd.api.types.is_numeric_dtype(series.dtype) and \
            not pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(float)
    return pd.Series(pd.to_datetime(series, utc=True))


def _augmentation_rows(augmentation: TrainingAugmentation | None, specs: list[ColumnSpec],
                       time_values: pd.Series | None,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Series | None]:
    if augmentation is None:
        return np.empty((0, len(specs))), np.empty(0), np.empty(0), None
    augmentation.check()
    try:
        extra = encode_columns(augmentation.features, specs)
    except ValueError as exc:
        raise ValueError(f"augmentation rows: {exc}") from None
    extra_time: pd.Series | None = None
    if time_values is not None:
        if augmentation.time is None:
            raise ValueError("with a time column the augmentation rows need their times "
                             "(only those no later than the training rows are used)")
        try:
            extra_time = _comparable_times(augmentation.time)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"augmentation time: {exc}") from None
        if extra_time.isna().any():
            raise ValueError(f"augmentation time has {int(extra_time.isna().sum())} missing "
                             "values")
    return (extra, np.asarray(augmentation.label, dtype=float),
            np.asarray(augmentation.weight, dtype=float), extra_time)


def _fit_booster(params: dict[str, Any], train_set: lgb.Dataset,
                 valid_set: lgb.Dataset | None, rounds: int, config: TrainConfig,
                 ) -> lgb.Booster:
    callbacks: list[Any] = []
    valid_sets: list[lgb.Dataset] = []
    if valid_set is not None:
        callbacks.append(lgb.early_stopping(config.early_stopping_rounds, verbose=False))
        valid_sets.append(valid_set)
    return lgb.train(without_linear_key(params), train_set, num_boost_round=rounds,
                     valid_sets=valid_sets, callbacks=callbacks)


def _raw(booster: lgb.Booster, matrix: np.ndarray, iteration: int | None = None,
         linear: LinearBase | None = None) -> np.ndarray:
    """The model's raw score: the booster's, plus the linear base's when there is one."""
    raw = np.asarray(booster.predict(matrix, raw_score=True, num_iteration=iteration),
                     dtype=float)
    return raw if linear is None else raw + linear.raw(matrix)


def _linear_raw(linear: LinearBase | None, matrix: np.ndarray) -> np.ndarray | None:
    """LightGBM's ``init_score`` of rows under a linear base (``None`` without one)."""
    return None if linear is None else linear.raw(matrix)


def _log_loss(y: np.ndarray, raw: np.ndarray) -> float:
    # log(1 + exp(-z)) for bads and log(1 + exp(z)) for goods, computed stably.
    z = np.where(y == 1, raw, -raw)
    return float(np.mean(np.logaddexp(0.0, -z)))


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if y.min() != y.max() else float("nan")


# -------------------------------------------------------------------- calibration
def _platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the logistic regression of ``y`` on the raw score."""
    lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
    lr.fit(raw.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _fit_calibration(method: str, raw: np.ndarray, y: np.ndarray,
                     pd_floor: float = DEFAULT_PD_FLOOR) -> Calibration:
    """A Platt or isotonic map fitted on ``raw`` and ``y``; both carry the Platt map as the
    scale of the points (see :class:`Calibration`)."""
    slope, intercept = _platt(raw, y)
    if not slope > 0:  # scores that do not rank on these rows: no increasing Platt map
        slope, intercept = 1.0, 0.0
        if method == "platt":
            return Calibration("none", pd_floor=pd_floor)
    if method == "platt":
        return Calibration("platt", slope=slope, intercept=intercept, pd_floor=pd_floor,
                           points_slope=slope, points_intercept=intercept)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip",
                             increasing=True).fit(raw, y)
    return Calibration("isotonic", thresholds=tuple(float(v) for v in iso.X_thresholds_),
                       values=tuple(float(v) for v in iso.y_thresholds_), pd_floor=pd_floor,
                       points_slope=slope, points_intercept=intercept)


def _choose_calibration(raw: np.ndarray, y: np.ndarray, config: TrainConfig,
                        groups: pd.Index | None = None,
                        ) -> tuple[Calibration, dict[str, float], dict[str, Any]]:
    """The calibration map, the Brier scores behind the choice and how it was chosen (see
    the module notes, step 5)."""
    floor = config.pd_floor
    briers = {"raw": float(brier_score_loss(y, Calibration(pd_floor=floor).apply(raw)))}
    choice: dict[str, Any] = {"rows": len(y), "defaults": int(y.sum()), "pd_floor": floor}
    methods = {"auto": ["platt", "isotonic"], "platt": ["platt"],
               "isotonic": ["platt", "isotonic"], "none": []}[config.calibration]
    n_minority = int(min(y.sum(), len(y) - y.sum()))
    n_splits = min(5, n_minority)
    if groups is not None:
        n_splits = min(n_splits, groups.nunique())
    if not methods:
        return (Calibration(pd_floor=floor), briers,
                {**choice, "method": "none", "reason": "calibration='none' in the config"})
    if n_splits < 2:
        return (Calibration(pd_floor=floor), briers,
                {**choice, "method": "none",
                 "reason": f"too few defaults or non-defaults ({n_minority}) to calibrate"})
    folds = _calibration_folds(y, n_splits, config.seed, groups)
    crossfit: dict[str, np.ndarray] = {}
    for method in methods:
        crossfit[method] = np.empty_like(raw)
        for fit_idx, test_idx in folds:
            crossfit[method][test_idx] = _fit_calibration(
                method, raw[fit_idx], y[fit_idx], floor).apply(raw[test_idx])
        briers[method] = float(brier_score_loss(y, crossfit[method]))
    chosen = "platt"
    if "isotonic" in methods:
        difference = (crossfit["isotonic"] - y) ** 2 - (crossfit["platt"] - y) ** 2
        mean, lower, upper = _paired_bootstrap(difference, groups, config.seed)
        isotonic_wins = upper < 0.0
        choice.update({
            "brier_difference": mean, "lower": lower, "upper": upper,
            "level": CALIBRATION_BOOTSTRAP_LEVEL, "resamples": CALIBRATION_BOOTSTRAP_RESAMPLES,
            "resampled": "rows" if groups is None else "groups"})
        if config.calibration == "isotonic":
            chosen, reason = "isotonic", "calibration='isotonic' in the config"
        elif isotonic_wins:
            chosen = "isotonic"
            reason = (f"isotonic beats Platt: Brier difference {mean:+.6f}, "
                      f"{CALIBRATION_BOOTSTRAP_LEVEL * 100:g} % interval [{lower:+.6f}, "
                      f"{upper:+.6f}] below 0")
        else:
            reason = (f"Platt (default): isotonic's Brier difference {mean:+.6f} is not "
                      f"below 0 beyond noise ({CALIBRATION_BOOTSTRAP_LEVEL * 100:g} % interval "
                      f"[{lower:+.6f}, {upper:+.6f}])")
    else:
        reason = "calibration='platt' in the config"
    calibration = _fit_calibration(chosen, raw, y, floor)
    if calibration.method == "none":
        reason = ("the booster's scores do not rank the calibration rows (Platt slope <= 0); "
                  "no calibration")
    return calibration, briers, {**choice, "method": calibration.method, "reason": reason}


def _paired_bootstrap(difference: np.ndarray, groups: pd.Index | None, seed: int,
                      ) -> tuple[float, float, float]:
    """Mean of a per-row loss difference and its percentile bootstrap interval
    (:data:`CALIBRATION_BOOTSTRAP_LEVEL`), resampling rows, or whole groups with
    ``groups`` (a group's rows are not independent)."""
    if groups is None:
        sums, counts = difference, np.ones(len(difference))
    else:
        codes = pd.factorize(np.asarray(groups))[0]
        sums = np.bincount(codes, weights=difference)
        counts = np.bincount(codes).astype(float)
    rng = np.random.default_rng(seed)
    units = len(sums)
    stats = np.empty(CALIBRATION_BOOTSTRAP_RESAMPLES)
    chunk = max(1, 2_000_000 // max(units, 1))  # bounds the index matrix in memory
    for start in range(0, CALIBRATION_BOOTSTRAP_RESAMPLES, chunk):
        k = min(chunk, CALIBRATION_BOOTSTRAP_RESAMPLES - start)
        pick = rng.integers(0, units, size=(k, units))
        stats[start:start + k] = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    tail = (1.0 - CALIBRATION_BOOTSTRAP_LEVEL) / 2.0
    lower, upper = np.quantile(stats, [tail, 1.0 - tail])
    return float(difference.mean()), float(lower), float(upper)


def _calibration_folds(y: np.ndarray, n_splits: int, seed: int, groups: pd.Index | None,
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-fitting folds (grouped when ``groups``) whose fitting parts hold both classes."""
    if groups is not None:
        folds = cross_validation_folds(y, n_splits, seed, groups)
        if all(y[fit].min() != y[fit].max() for fit, _ in folds):
            return folds
        # A few large groups can leave one class out of a fitting part; rows then.
    return cross_validation_folds(y, n_splits, seed)


# ----------------------------------------------------------------- references
def _feature_reference(matrix: np.ndarray, specs: list[ColumnSpec]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for j, spec in enumerate(specs):
        column = matrix[:, j]
        if spec.kind == "numeric":
            out[spec.name] = {"kind": "numeric", **ScoreReference.fit(column).to_dict()}
        else:
            missing = np.isnan(column)
            codes = column[~missing].astype(np.int64)
            counts = np.bincount(codes, minlength=len(spec.levels)).astype(float)
            shares = np.append(counts, float(missing.sum())) / max(len(column), 1)
            out[spec.name] = {"kind": "categorical", "levels": list(spec.levels),
                              "shares": shares.tolist()}
    return out


# ------------------------------------------------------------------------- fit
def fit_credit_model(features: pd.DataFrame, label: object, *, time: object = None,
                     groups: object = None, embargo_days: float = 0.0,
                     config: TrainConfig, sample_weight: object = None,
                     augmentation: TrainingAugmentation | None = None,
                     ) -> tuple[lgb.Booster, FittedState, TrainingReport]:
    """The training procedure behind :func:`train` (see the module notes)."""
    started = time_module.perf_counter()
    config.check()
    X, y, time_values, group_values = _split_inputs(features, label, time, groups)
    embargo_days = float(embargo_days)
    if not (np.isfinite(embargo_days) and embargo_days >= 0):
        raise ValueError(f"embargo_days must be a number >= 0; got {embargo_days}")
    times: pd.Series | None = None
    if embargo_days > 0:
        if time_values is None:
            raise ValueError("an embargo needs a time column (it separates the out-of-time "
                             "parts)")
        times = _as_datetimes(time_values)
    embargoed = dropped_for_groups = 0
    specs = _column_specs(X, config)
    matrix = encode_columns(X, specs)
    names = booster_feature_names([s.name for s in specs])
    categorical = [j for j, s in enumerate(specs) if s.kind == "categorical"]
    all_positions = np.arange(len(X))
    weights = _sample_weights(sample_weight, len(X))
    extra_matrix, extra_label, extra_weight, extra_time = _augmentation_rows(
        augmentation, specs, time_values)
    extra_left_out = 0

    if config.group_split == "outcome" and group_values is not None and embargo_days <= 0:
        raise ValueError("group_split='outcome' keeps a group's earlier rows only across an "
                         "embargo (at least the label window): give embargo_days")
    # the groups an out-of-time cut keeps apart ("outcome": the embargo does)
    cut_groups = group_values if config.group_split == "strict" else None
    # 1. hold-out
    if time_values is not None:
        rest, holdout = _time_cut(time_values, all_positions, config.holdout_fraction,
                                  "hold-out")
        rest, embargoed = _embargo(times, rest, holdout, embargo_days)
        rest, dropped_for_groups = _without_shared_groups(cut_groups, rest, holdout)
        if len(rest) == 0:
            raise ValueError(f"no row is left before the hold-out once the embargo of "
                             f"{embargo_days:g} days and the sellers it holds are taken out; "
                             "more history (or a shorter embargo) is needed")
    else:
        in_holdout = _hash_holdout(X.index if group_values is None else group_values,
                                   config.holdout_fraction)
        rest, holdout = all_positions[~in_holdout], all_positions[in_holdout]
        if min(y[rest].sum(), len(rest) - y[rest].sum()) < config.cv_folds:
            raise ValueError("too few defaults or non-defaults for "
                             f"{config.cv_folds}-fold cross-validation")
    if len(holdout) == 0 or y[holdout].min() == y[holdout].max():
        raise ValueError("the hold-out holds only one class; more data (or more defaults) "
                         "is needed")

    # 2./3. validation scheme and search
    candidates = list(config.candidates)[: config.max_candidates]
    results: list[CandidateResult] = []
    cut_by_budget = False
    boosters: list[lgb.Booster] = []
    validation_raw: list[np.ndarray] = []
    windows: dict[str, list[str]] = {}
    if time_values is not None and config.time_validation == "out-of-time":
        scheme = "out-of-time"
        fit_pos, valid_pos = _time_cut(time_values, rest, config.validation_fraction,
                                       "validation")
        fit_pos, gap_rows = _embargo(times, fit_pos, valid_pos, embargo_days)
        fit_pos, shared_rows = _without_shared_groups(cut_groups, fit_pos, valid_pos)
        embargoed += gap_rows
        dropped_for_groups += shared_rows
        if len(fit_pos) == 0:
            raise ValueError(f"no training row is left before the validation window once the "
                             f"embargo of {embargo_days:g} days and the sellers it holds are "
                             "taken out; more history (or a shorter embargo) is needed")
        if y[valid_pos].min() == y[valid_pos].max() or y[fit_pos].min() == y[fit_pos].max():
            raise ValueError("the out-of-time training or validation part holds only one "
                             "class; more data (or more defaults) is needed")
        windows = _windows(time_values, fit_pos, valid_pos, holdout)
        # nothing from the validation or hold-out window fits the model
        extra_matrix, extra_label, extra_weight, extra_left_out = _extras_until(
            extra_matrix, extra_label, extra_weight, extra_time, time_values.iloc[fit_pos])
        fitting = _FittingRows(weights, extra_matrix, extra_label, extra_weight, specs,
                               config.seed, group_values)
        sets: dict[bool, tuple[lgb.Dataset, lgb.Dataset]] = {}
        linears: list[LinearBase | None] = []
        for index, candidate in enumerate(candidates):
            if index > 0 and time_module.perf_counter() - started > config.time_budget_seconds:
                cut_by_budget = True
                break
            t0 = time_module.perf_counter()
            params = _lgb_params(candidate, specs, config, len(fit_pos))
            linear = fitting.linear(matrix, y, fit_pos) if uses_linear_base(params) else None
            if (linear is not None) not in sets:  # one linear base: fit_pos is fixed
                train_set = fitting.dataset(matrix, y, fit_pos, names, categorical, linear)
                sets[linear is not None] = (train_set, _dataset(
                    matrix[valid_pos], y[valid_pos], names, categorical, train_set,
                    init_score=_linear_raw(linear, matrix[valid_pos])))
            train_set, valid_set = sets[linear is not None]
            booster = _fit_booster(params, train_set, valid_set, config.max_rounds, config)
            best = booster.best_iteration or booster.current_iteration()
            raw = _raw(booster, matrix[valid_pos], best, linear)
            results.append(CandidateResult(index, params, _auc(y[valid_pos], raw),
                                           _log_loss(y[valid_pos], raw), int(best),
                                           time_module.perf_counter() - t0))
            boosters.append(booster)
            linears.append(linear)
            validation_raw.append(raw)
        chosen = _best(results)
        best_iteration = results[chosen].best_iteration
        served_linear = linears[chosen]
        # keep only the rounds early stopping chose, so booster_ predicts what the model does
        booster = lgb.Booster(model_str=boosters[chosen].model_to_string(
            num_iteration=best_iteration))
        # the served booster is the one that scored the validation rows: they calibrate it
        calibration_pos, calibration_raw = valid_pos, validation_raw[chosen]
        fitted_on = "validation rows (out of time), scored by the served booster"
        reference_rows = fit_pos
        n_train, n_validation = len(fit_pos), len(valid_pos)
        train_positions, validation_positions = fit_pos, valid_pos
    else:
        scheme = "cross-validation"
        if time_values is not None:
            scheme = "cross-validation, out-of-time hold-out"
            if min(y[rest].sum(), len(rest) - y[rest].sum()) < config.cv_folds:
                raise ValueError("too few defaults or non-defaults before the hold-out for "
                                 f"{config.cv_folds}-fold cross-validation")
            windows = _windows(time_values, rest, rest, holdout)
            # nothing from the hold-out window fits the model
            extra_matrix, extra_label, extra_weight, extra_left_out = _extras_until(
                extra_matrix, extra_label, extra_weight, extra_time, time_values.iloc[rest])
        fitting = _FittingRows(weights, extra_matrix, extra_label, extra_weight, specs,
                               config.seed, group_values)
        folds = cross_validation_folds(
            y[rest], config.cv_folds, config.seed,
            None if group_values is None else group_values[rest])
        for index, candidate in enumerate(candidates):
            if index > 0 and time_module.perf_counter() - started > config.time_budget_seconds:
                cut_by_budget = True
                break
            t0 = time_module.perf_counter()
            params = _lgb_params(candidate, specs, config,
                                 len(rest) * (config.cv_folds - 1) // config.cv_folds)
            oof = np.empty(len(rest))
            aucs, losses, iterations = [], [], []
            for fit_idx, valid_idx in folds:
                fit_p, valid_p = rest[fit_idx], rest[valid_idx]
                linear = (fitting.linear(matrix, y, fit_p) if uses_linear_base(params)
                          else None)
                train_set = fitting.dataset(matrix, y, fit_p, names, categorical, linear)
                valid_set = _dataset(matrix[valid_p], y[valid_p], names, categorical,
                                     train_set, init_score=_linear_raw(linear,
                                                                       matrix[valid_p]))
                fold_booster = _fit_booster(params, train_set, valid_set, config.max_rounds,
                                            config)
                best = fold_booster.best_iteration or fold_booster.current_iteration()
                oof[valid_idx] = _raw(fold_booster, matrix[valid_p], best, linear)
                aucs.append(_auc(y[valid_p], oof[valid_idx]))
                losses.append(_log_loss(y[valid_p], oof[valid_idx]))
                iterations.append(best)
            results.append(CandidateResult(index, params, float(np.mean(aucs)),
                                           float(np.mean(losses)),
                                           max(1, round(float(np.mean(iterations)))),
                                           time_module.perf_counter() - t0))
            validation_raw.append(oof)
        chosen = _best(results)
        best_iteration = results[chosen].best_iteration
        params = results[chosen].params
        with_linear = uses_linear_base(params)
        served_idx, calibration_idx = folds[0]
        part_defaults = int(y[rest[calibration_idx]].sum())
        part_minority = min(part_defaults, len(calibration_idx) - part_defaults)
        if part_minority >= MIN_CALIBRATION_PART_CLASS:
            # The first fold stays out of the served booster: its rows, scored by that
            # booster, calibrate it (the fold boosters' out-of-fold scores have another
            # scale: fewer rows, rounds early-stopped on those very rows).
            served_linear = (fitting.linear(matrix, y, rest[served_idx]) if with_linear
                             else None)
            served_set = fitting.dataset(matrix, y, rest[served_idx], names, categorical,
                                         served_linear)
            booster = _fit_booster(params, served_set, None, best_iteration, config)
            calibration_pos = rest[calibration_idx]
            calibration_raw = _raw(booster, matrix[calibration_pos], best_iteration,
                                   served_linear)
            fitted_on = ("the first cross-validation fold, kept out of the served booster "
                         "and scored by it")
            n_train = len(served_idx)
        else:
            # Too few defaults to set a fold aside: the served booster keeps every row, and
            # the map is fitted on out-of-fold scores of boosters trained exactly like it
            # (same parameters and rounds, no early stopping) on the other folds.
            served_linear = fitting.linear(matrix, y, rest) if with_linear else None
            booster = _fit_booster(params, fitting.dataset(matrix, y, rest, names,
                                                           categorical, served_linear),
                                   None, best_iteration, config)
            calibration_pos = rest
            calibration_raw = np.empty(len(rest))
            for fit_idx, valid_idx in folds:
                fold_linear = (fitting.linear(matrix, y, rest[fit_idx]) if with_linear
                               else None)
                like_served = _fit_booster(params, fitting.dataset(
                    matrix, y, rest[fit_idx], names, categorical, fold_linear), None,
                    best_iteration, config)
                calibration_raw[valid_idx] = _raw(like_served, matrix[rest[valid_idx]],
                                                  best_iteration, fold_linear)
            fitted_on = (f"out-of-fold scores of boosters refitted like the served one on the "
                         f"other folds (one fold holds {part_minority} defaults or "
                         f"non-defaults, fewer than {MIN_CALIBRATION_PART_CLASS}: too few to "
                         "set it aside)")
            n_train = len(rest)
        reference_rows = rest
        n_validation = len(rest)
        train_positions = validation_positions = np.empty(0, dtype=np.int64)

    # 5. calibration on raw scores of the served booster, on rows it did not train on
    calibration_y = y[calibration_pos]
    calibration, briers, calibration_choice = _choose_calibration(
        calibration_raw, calibration_y, config,
        None if group_values is None else group_values[calibration_pos])
    calibration_choice["fitted_on"] = fitted_on
    validation_metrics = classification_metrics(calibration_y,
                                                calibration.apply(calibration_raw))
    holdout_raw = _raw(booster, matrix[holdout], best_iteration, served_linear)
    holdout_metrics = classification_metrics(y[holdout], calibration.apply(holdout_raw))

    report = TrainingReport(
        scheme=scheme, n_rows=len(X), n_train=n_train, n_validation=n_validation,
        n_holdout=len(holdout), holdout_positions=holdout, candidates=results, chosen=chosen,
        search_cut_by_budget=cut_by_budget, calibration_brier=briers,
        validation_metrics=validation_metrics, holdout_metrics=holdout_metrics,
        windows=windows, seconds=time_module.perf_counter() - started,
        grouped=group_values is not None, embargo_days=embargo_days,
        rows_embargoed=embargoed, rows_dropped_for_groups=dropped_for_groups,
        train_positions=train_positions, validation_positions=validation_positions,
        weighted=weights is not None, n_calibration=len(calibration_pos),
        calibration_positions=calibration_pos,
        calibration_choice=calibration_choice,
        augmentation=None if augmentation is None else {
            "method": augmentation.method, "rows": len(fitting.extra_label),
            "rows_left_out": extra_left_out, "weight": float(fitting.extra_weight.sum())})
    state = FittedState(
        columns=specs,
        calibration=calibration,
        score_reference=ScoreReference.fit(_raw(booster, matrix[reference_rows],
                                                best_iteration, served_linear)),
        feature_reference=_feature_reference(matrix[reference_rows], specs),
        params=results[chosen].params,
        best_iteration=best_iteration,
        metadata={"training": report.summary(), "feature_registry_version": registry_version(),
                  "bad_rate": float(y.mean())},
        linear=served_linear,
    )
    return booster, state, report


def _best(results: list[CandidateResult]) -> int:
    """Index of the best validation AUC; the earlier candidate wins a tie (NaN loses)."""
    scores = [(-1.0 if np.isnan(r.validation_auc) else r.validation_auc) for r in results]
    return int(np.argmax(scores))
