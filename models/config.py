"""Training configuration: one frozen, documented object, checked when training starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["TrainConfig", "DEFAULT_CANDIDATES", "CalibrationChoice", "TimeValidation",
           "GroupSplit"]

CalibrationChoice = Literal["auto", "platt", "isotonic", "none"]
TimeValidation = Literal["out-of-time", "cross-validation"]
GroupSplit = Literal["strict", "outcome"]

#: The hyper-parameter candidates, tried in this order. The first is a sensible default on
#: its own; the others trade depth against regularisation, and the fourth boosts small,
#: strongly regularised trees on a linear base (``"linear_base": 1``: an L2 logistic
#: regression whose log-odds the trees start from; see :mod:`models.linear_base`), which
#: wins where effects are close to linear, as on small credit tables. A fixed list keeps
#: the search deterministic for a seed: the same candidates are tried in the same order,
#: and only ``max_candidates`` (or, exceptionally, the wall-clock safety cap) decides how
#: many.
DEFAULT_CANDIDATES: tuple[Mapping[str, float | int], ...] = (
    {"num_leaves": 15, "min_child_samples": 40, "feature_fraction": 0.8,
     "lambda_l2": 1.0},
    {"num_leaves": 7, "min_child_samples": 60, "feature_fraction": 0.7,
     "lambda_l2": 5.0},
    {"num_leaves": 31, "min_child_samples": 30, "feature_fraction": 0.8,
     "lambda_l2": 1.0},
    {"linear_base": 1, "num_leaves": 4, "min_child_samples": 60, "feature_fraction": 0.6,
     "lambda_l2": 10.0},
    {"num_leaves": 4, "min_child_samples": 30, "feature_fraction": 0.6,
     "lambda_l2": 10.0},
    {"num_leaves": 63, "min_child_samples": 80, "feature_fraction": 0.7,
     "lambda_l2": 3.0},
    {"num_leaves": 11, "min_child_samples": 20, "feature_fraction": 0.9,
     "lambda_l2": 0.0},
)


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`models.train` fits a model.

    Parameters
    ----------
    seed : seed of every random choice (splits, bagging, feature sampling, calibration folds).
        The same data, configuration and seed give the same model, bit for bit.
    holdout_fraction : share of rows set aside before anything is fitted and used only to
        report metrics and to be stored with the model for promotion. With a time column it
        is the most recent rows (out of time); without, the rows picked by a keyed hash of
        the index label (independent of the seed; see :mod:`models.training`).
    validation_fraction : with a time column, the share of the remaining rows (the most
        recent ones) used for early stopping, the search and calibration.
    cv_folds : the number of stratified cross-validation folds (without a time column, or
        with ``time_validation="cross-validation"``).
    time_validation : with a time column, how the rows before the out-of-time hold-out
        validate: ``"out-of-time"`` (the most recent ``validation_fraction`` of them, a
        second time cut with its own embargo) or ``"cross-validation"`` (``cv_folds``
        folds, grouped when rows are; the hold-out stays out of time). The second needs
        one embargo instead of two: a short history with a long label window can train.
    group_split : with groups, ``"strict"``: no group on both sides of any split;
        ``"outcome"``: at an out-of-time cut with an embargo, a group's earlier rows stay
        on the earlier side (with an embargo at least the label window, their outcomes
        were all known before the later part began, so no outcome is on both sides; a
        behavioural model is used on the very applicants it learnt from). Cross-validation
        and calibration folds stay grouped.
    max_candidates : how many of ``candidates`` the search tries (in order).
    time_budget_seconds : wall-clock safety cap on the search. The first candidate always
        completes; a later one is not started once the cap is spent, so a slow machine can
        try fewer candidates than ``max_candidates`` (the training report says so).
    max_rounds : upper bound of boosting rounds; early stopping usually ends sooner.
    early_stopping_rounds : rounds without improvement of the validation log loss that
        stop the boosting.
    learning_rate : shrinkage of every candidate.
    n_jobs : LightGBM threads.
    monotone : take monotone constraints from the feature registry
        (:func:`features.registry.risk_direction`) for numeric columns it knows.
    monotone_overrides : explicit directions by column (+1: higher value, higher risk;
        -1: lower risk; 0: unconstrained); they win over the registry.
    calibration : ``"auto"``: Platt scaling, replaced by an isotonic map only when isotonic
        beats it in a paired bootstrap of the cross-fitted Brier score (the upper end of the
        95 % interval of the difference below 0; see :mod:`models.training`); ``"platt"`` or
        ``"isotonic"``: that map; ``"none"``: the raw booster probability. Points are scaled
        on the Platt map's calibrated log-odds with ``"auto"``, ``"platt"`` and
        ``"isotonic"``, on the raw log-odds with ``"none"``.
    pd_floor : every calibrated PD is kept within ``[pd_floor, 1 - pd_floor]`` (default
        0.0003, 3 in 10,000), whatever the calibration: isotonic steps can reach 0 or 1,
        and no applicant is certain to repay or to default.
    max_categories : a text or category column with more distinct values than this keeps
        its ``max_categories`` most frequent values as levels and reads the rarer ones as
        missing (with a warning); one whose distinct values are more than half its
        non-missing rows is refused as an identifier.
    candidates : the hyper-parameter candidates; default :data:`DEFAULT_CANDIDATES`. A
        candidate with ``"linear_base": 1`` boosts its trees on a linear base (that key is
        not passed to LightGBM).
    """

    seed: int = 0
    holdout_fraction: float = 0.2
    validation_fraction: float = 0.2
    cv_folds: int = 5
    time_validation: TimeValidation = "out-of-time"
    group_split: GroupSplit = "strict"
    max_candidates: int = 4
    time_budget_seconds: float = 900.0
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    learning_rate: float = 0.05
    n_jobs: int = 2
    monotone: bool = True
    monotone_overrides: Mapping[str, int] = field(default_factory=dict)
    calibration: CalibrationChoice = "auto"
    pd_floor: float = 0.0003
    max_categories: int = 200
    candidates: tuple[Mapping[str, float | int], ...] = DEFAULT_CANDIDATES

    def check(self) -> None:
        """Raise ``ValueError`` naming the first parameter out of range."""
        if not 0.0 < self.holdout_fraction < 0.5:
            raise ValueError(
                f"holdout_fraction must be > 0 and < 0.5; got {self.holdout_fraction}")
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError(
                f"validation_fraction must be > 0 and < 0.5; got {self.validation_fraction}")
        if self.time_validation not in ("out-of-time", "cross-validation"):
            raise ValueError("time_validation must be 'out-of-time' or 'cross-validation'; "
                             f"got {self.time_validation!r}")
        if self.group_split not in ("strict", "outcome"):
            raise ValueError(f"group_split must be 'strict' or 'outcome'; got "
                             f"{self.group_split!r}")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds must be >= 2; got {self.cv_folds}")
        if self.max_candidates < 1:
            raise ValueError(f"max_candidates must be >= 1; got {self.max_candidates}")
        if not self.candidates:
            raise ValueError("candidates must hold at least one parameter set")
        if self.time_budget_seconds <= 0:
            raise ValueError(
                f"time_budget_seconds must be > 0; got {self.time_budget_seconds}")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1; got {self.max_rounds}")
        if self.early_stopping_rounds < 1:
            raise ValueError(
                f"early_stopping_rounds must be >= 1; got {self.early_stopping_rounds}")
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1]; got {self.learning_rate}")
        if self.n_jobs < 1:
            raise ValueError(f"n_jobs must be >= 1; got {self.n_jobs}")
        if self.calibration not in ("auto", "platt", "isotonic", "none"):
            raise ValueError("calibration must be 'auto', 'platt', 'isotonic' or 'none'; "
                             f"got {self.calibration!r}")
        if not 0.0 < self.pd_floor < 0.01:
            raise ValueError(f"pd_floor must be > 0 and < 0.01; got {self.pd_floor}")
        if self.max_categories < 2:
            raise ValueError(f"max_categories must be >= 2; got {self.max_categories}")
        for name, direction in self.monotone_overrides.items():
            if direction not in (-1, 0, 1):
                raise ValueError(
                    f"monotone_overrides[{name!r}] must be -1, 0 or 1; got {direction!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly values, for the saved model and the MLflow parameters."""
        data = asdict(self)
        data["monotone_overrides"] = dict(self.monotone_overrides)
        data["candidates"] = [dict(c) for c in self.candidates]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """The inverse of :meth:`to_dict`; unknown keys are refused."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        values = dict(data)
        if "candidates" in values:
            values["candidates"] = tuple(dict(c) for c in values["candidates"])
        if "monotone_overrides" in values:
            values["monotone_overrides"] = dict(values["monotone_overrides"])
        return cls(**values)
