"""Explained credit scores: PD, points, grade and reasons, for one seller or a batch.

A :class:`Scorer` holds one fitted :class:`models.CreditModel` (loaded once from the MLflow
registry or a local folder) and answers with the model's name and version every time.

What a score is made of
-----------------------
- ``probability_of_default``: the model's calibrated PD (``CreditModel.predict_pd``).
- ``raw_score``: the booster's raw log-odds of default ``f``, before calibration.
- ``points``: ``offset - factor * (a * f + b)`` (:class:`scoring.config.ScoreScale`; 600
  points at 50:1 good:bad odds, 20 points to double the odds, by default) on the model's
  calibrated log-odds ``a * f + b`` (``Calibration.points_slope`` and
  ``points_intercept``: the Platt map, also for an isotonic model; ``(1, 0)`` without
  calibration). So 600 points mean 50:1 calibrated odds whichever model is the champion,
  and points split exactly into reasons:

      points = baseline_points + sum of the points of every reason family

- ``baseline_points``: the points of the model's expected score, the bias on the
  calibrated scale ``a * bias + b`` (LightGBM's ``__bias__``: each tree's leaf values
  averaged with the training rows that reached each leaf, summed over the trees; in effect
  the average raw score of the training data). Every reason says how far a family moved
  *this* seller from that baseline.
- ``grade``: from the calibrated PD (:class:`scoring.config.GradeBands`).
- ``family_points``: the exact TreeSHAP contribution of each feature (raw log-odds) times
  ``a`` (:meth:`Scorer.scaled_contributions`) times ``-pdo / ln 2`` is its points (positive
  raises the score); a family's points are the sum over its features, relative to the
  baseline.
- Reasons (:mod:`scoring.reasons`): one statement per factor (a feature, with the
  adjustment features folded into it) with the seller's value and that of the typical
  applicant approved at the cut-off; factors are measured against that applicant
  (``reference_points``), not the baseline, and at most ``max_adverse_reasons`` are given.

Calibration is monotone, so a higher score always means a PD at least as low. With Platt
calibration the points' odds are the PD's odds (except beyond the PD floor, which bounds the
PD and not the points); with isotonic calibration the PD comes from the isotonic map and the
points from the Platt map fitted on the same scores, so they can differ a little. Read the PD
for a probability.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from features.registry import get_feature
from models.credit_model import CreditModel
from models.cutoff import REFERENCE_SAMPLE_ROWS, stored_cutoff_reference
from scoring.config import ScoringConfig
from scoring.contributions import ContributionEngine, FastPathFallbackWarning
from scoring.reasons import (
    CutoffReference,
    Driver,
    Reason,
    ReasonGroup,
    ReasonMaker,
    member_layers,
    ordered_sums,
    ordered_sums_of_columns,
    reason_group_for,
)

__all__ = [
    "DEFAULT_MODEL_URI",
    "BatchScores",
    "Driver",
    "ExplainedScore",
    "ModelInfo",
    "Reason",
    "Scorer",
    "fast_path_check_rows",
]

#: The registered model a scorer loads when none is named.
DEFAULT_MODEL_URI = "models:/sme-credit-pd@champion"
#: Largest allowed gap between the sum of the contributions and the raw score (relative to
#: ``max(1, |raw score|)``), as in :meth:`models.CreditModel.explain`.
ADDITIVITY_TOLERANCE = 1e-6
#: Rows on which a new scorer checks LightGBM's fast single-row path against the public call.
FAST_PATH_CHECK_ROWS = 8

Value = float | str | None
_T = TypeVar("_T")


@dataclass(frozen=True)
class ExplainedScore:
    """One scored, explained applicant.

    ``points == baseline_points + sum(points for _, points in family_points)`` (to
    rounding); ``family_points`` lists every reason family of the model (code, points).
    The reasons are measured against ``reference_points``, the points of the typical
    approved applicant at the cut-off (:mod:`scoring.reasons`).
    """

    model_name: str
    model_version: str
    probability_of_default: float
    raw_score: float
    points: float
    grade: str
    baseline_points: float
    adverse_reasons: tuple[Reason, ...]
    positive_factors: tuple[Reason, ...]
    family_points: tuple[tuple[str, float], ...]
    reference_points: float

    @property
    def reason_codes(self) -> tuple[str, ...]:
        """Codes of the principal adverse reasons, strongest first."""
        return tuple(r.code for r in self.adverse_reasons)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly values (what an HTTP answer carries)."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "probability_of_default": self.probability_of_default,
            "raw_score": self.raw_score,
            "points": self.points,
            "grade": self.grade,
            "baseline_points": self.baseline_points,
            "reason_codes": list(self.reason_codes),
            "adverse_reasons": [r.to_dict() for r in self.adverse_reasons],
            "positive_factors": [r.to_dict() for r in self.positive_factors],
            "family_points": dict(self.family_points),
            "reference_points": self.reference_points,
        }


@dataclass(frozen=True)
class ModelInfo:
    """Which model a scorer serves and what its scores are relative to."""

    name: str
    version: str
    source: str
    calibration: str
    baseline_raw_score: float
    baseline_points: float
    features: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source,
                "calibration": self.calibration,
                "baseline_raw_score": self.baseline_raw_score,
                "baseline_points": self.baseline_points, "features": list(self.features)}


@dataclass(frozen=True)
class BatchScores:
    """Scores of a batch, as arrays (row ``i`` in full: ``batch[i]``).

    Attributes
    ----------
    index : the input's index.
    probability_of_default, raw_score, points, grade : one value per row.
    contributions : exact TreeSHAP contributions, ``(rows, features + 1)``, bias last, in
        raw log-odds (:attr:`scaled_contributions`: on the calibrated log-odds of the
        points).
    family_points : ``(rows, families)`` points per reason family (``family_codes`` order).
    adverse : ``(rows, max_adverse_reasons)`` indices into ``scorer.reasons.factors`` of
        the principal adverse reasons, strongest first; -1 where there are fewer.
    """

    scorer: Scorer
    index: pd.Index
    matrix: np.ndarray
    probability_of_default: np.ndarray
    raw_score: np.ndarray
    points: np.ndarray
    grade: np.ndarray
    contributions: np.ndarray
    family_points: np.ndarray
    adverse: np.ndarray

    @property
    def family_codes(self) -> tuple[str, ...]:
        return self.scorer.family_codes

    @property
    def scaled_contributions(self) -> np.ndarray:
        """:attr:`contributions` on the calibrated log-odds the points are scaled on
        (:meth:`Scorer.scaled_contributions`): rows add up to ``a * raw_score + b``."""
        return self.scorer.scaled_contributions(self.contributions)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, position: int) -> ExplainedScore:
        return self.scorer._explained(self.matrix[position], self.contributions[position],
                                      float(self.raw_score[position]),
                                      float(self.probability_of_default[position]),
                                      str(self.grade[position]),
                                      self.family_points[position].tolist())

    def __iter__(self) -> Iterator[ExplainedScore]:
        for position in range(len(self)):
            yield self[position]

    def reason_codes(self) -> list[list[str]]:
        """Codes of the principal adverse reasons of every row."""
        codes = self.scorer.reasons.codes
        return [[codes[k] for k in row if k >= 0] for row in self.adverse.tolist()]

    def to_frame(self, *, reasons_json: bool = True) -> pd.DataFrame:
        """The batch as a table indexed like the input.

        Columns: ``model_name``, ``model_version``, ``probability_of_default``,
        ``raw_score``, ``points``, ``grade``, ``baseline_points``, ``reason_code_1`` to
        ``reason_code_<max_adverse_reasons>`` (``None`` where there are fewer reasons) and,
        with ``reasons_json``, ``reasons``: JSON of the adverse reasons and positive
        factors with texts and drivers (as :meth:`ExplainedScore.to_dict`).
        """
        n = len(self)
        frame = pd.DataFrame({
            "model_name": [self.scorer.model_name] * n,
            "model_version": [self.scorer.model_version] * n,
            "probability_of_default": self.probability_of_default,
            "raw_score": self.raw_score,
            "points": self.points,
            "grade": self.grade.astype(str),
            "baseline_points": np.full(n, self.scorer.baseline_points),
        }, index=self.index)
        codes = np.asarray([*self.scorer.reasons.codes, None], dtype=object)
        for k in range(self.adverse.shape[1]):
            frame[f"reason_code_{k + 1}"] = codes[self.adverse[:, k]]
        if reasons_json:
            texts = []
            for result in self:
                full = result.to_dict()
                texts.append(json.dumps({"adverse_reasons": full["adverse_reasons"],
                                         "positive_factors": full["positive_factors"]},
                                        ensure_ascii=False))
            frame["reasons"] = texts
        return frame


class _Column:
    """How one model column is read from a plain value (the single-row path)."""

    __slots__ = ("name", "levels", "codes")

    def __init__(self, name: str, levels: tuple[str, ...] | None) -> None:
        self.name = name
        self.levels = levels
        self.codes = None if levels is None else {level: float(k)
                                                   for k, level in enumerate(levels)}


class Scorer:
    """Explained scores from one credit model, loaded once.

    Parameters
    ----------
    model : a fitted :class:`models.CreditModel`.
    model_name, model_version : reported with every result.
    config : :class:`ScoringConfig`; defaults when ``None``.
    source : where the model came from (URI or folder), for :attr:`info`.
    n_threads : LightGBM threads of the batch path (the single-row path uses one).
    reference : a sample of applicants (a feature table) from which the typical applicant
        approved at the cut-off is found (:class:`scoring.reasons.CutoffReference`), or that
        reference itself; ``None``: reasons are measured against the model's expected raw
        score (the average training applicant) and say so.

    Warns
    -----
    FastPathFallbackWarning
        LightGBM's fast single-row path (private LightGBM internals) disagreed with the
        public ``pred_contrib`` call on the check rows (:func:`fast_path_check_rows`), or
        failed: this scorer explains single applicants with the public call (slower, the
        same values).

    Notes
    -----
    Safe to share between threads for scoring: nothing changes after construction but a
    cache of reason sentences.
    """

    def __init__(self, model: CreditModel, *, model_name: str, model_version: str,
                 config: ScoringConfig | None = None, source: str = "",
                 n_threads: int = 1,
                 reference: pd.DataFrame | CutoffReference | None = None) -> None:
        if not hasattr(model, "booster_"):
            raise ValueError("the scorer needs a fitted CreditModel")
        self.config = config or ScoringConfig()
        self.config.check()
        self.model = model
        self.model_name = str(model_name)
        self.model_version = str(model_version)
        self.source = source
        self.engine = ContributionEngine(model.booster_, model.best_iteration_,
                                         n_threads=n_threads,
                                         linear=getattr(model, "linear_", None))
        problem = self.engine.verify_fast_path(fast_path_check_rows(model))
        if problem is not None:
            warnings.warn(f"{self.model_name} v{self.model_version}: {problem}; single "
                          "applicants are explained with LightGBM's public "
                          "predict(pred_contrib=True) instead (slower, the same values)",
                          FastPathFallbackWarning, stacklevel=2)
        names = [str(n) for n in model.feature_names_in_]
        self.feature_names: tuple[str, ...] = tuple(names)
        self._columns = [_Column(c.name, c.levels if c.kind == "categorical" else None)
                         for c in model.columns_]
        self._numeric_positions = [j for j, c in enumerate(self._columns) if c.codes is None]
        self._numeric_names = [names[j] for j in self._numeric_positions]
        self._categorical_positions = [j for j, c in enumerate(self._columns)
                                       if c.codes is not None]
        self._categorical_names = [names[j] for j in self._categorical_positions]
        self._categorical_codes = [self._columns[j].codes or {}
                                   for j in self._categorical_positions]
        self._categorical_lookup = list(zip(self._categorical_positions,
                                            self._categorical_codes, strict=True))
        self._levels = [c.levels for c in self._columns]
        self._units = tuple((spec.unit if (spec := get_feature(n)) is not None else "")
                            for n in names)
        groups: list[ReasonGroup] = []
        member: list[int] = []
        for name in names:  # families in order of first appearance among the columns
            group = reason_group_for(name)
            codes = [g.code for g in groups]
            if group.code not in codes:
                groups.append(group)
                codes.append(group.code)
            member.append(codes.index(group.code))
        self.groups: tuple[ReasonGroup, ...] = tuple(groups)
        self.family_codes: tuple[str, ...] = tuple(g.code for g in groups)
        self._group_members = tuple([j for j, m in enumerate(member) if m == g]
                                    for g in range(len(groups)))
        self._member_layers = member_layers(self._group_members)
        scale = self.config.scale
        calibration = model.calibration_
        # Points per unit of raw log-odds and points at raw score 0: the scale's on the
        # calibrated log-odds a * raw + b. With (a, b) = (1, 0) (no calibration, or a model
        # saved before the map was stored) these are the scale's own values, bit for bit.
        self._factor = scale.factor * calibration.points_slope
        self._offset = scale.offset - scale.factor * calibration.points_intercept
        self._bands = np.asarray(self.config.grades.upper_pd, dtype=np.float64)
        self._labels = np.asarray(self.config.grades.labels, dtype=object)
        self._band_list = [float(b) for b in self.config.grades.upper_pd]
        self._label_list = list(self.config.grades.labels)
        bias = self.engine.row(np.zeros(len(names)))[0][-1]
        self._calibration = calibration
        self.baseline_raw_score = float(bias)
        self.baseline_points = self._offset - self._factor * self.baseline_raw_score
        if isinstance(reference, pd.DataFrame):
            reference = self.cutoff_reference(reference)
        elif reference is None:
            reference = CutoffReference.training_average(
                len(names), self.baseline_raw_score, self.config.approval_cutoff_pd)
        config = self.config
        #: Chooses and words the reasons (:class:`scoring.reasons.ReasonMaker`).
        self.reasons = ReasonMaker(
            names, self._levels, self._units, factor=self._factor, reference=reference,
            max_adverse=config.max_adverse_reasons, max_positive=config.max_positive_factors,
            min_points=config.min_reason_points, min_gap_share=config.min_gap_share,
            max_drivers=config.max_drivers)
        self.reference_points = self._offset - self._factor * reference.raw_score

    def cutoff_reference(self, sample: pd.DataFrame) -> CutoffReference:
        """The typical applicant approved at the cut-off in a sample of applicants.

        Raises
        ------
        ValueError
            A model feature column is missing, or no applicant of the sample is approved at
            ``config.approval_cutoff_pd``.
        """
        missing = [n for n in self.feature_names if n not in sample.columns]
        if missing:
            raise ValueError("the reference sample lacks feature column(s) the model needs: "
                             + ", ".join(missing))
        matrix = self.model.to_matrix(sample)
        contributions, raw = self.engine.explain(matrix)
        pd_ = np.asarray(self.model.calibration_.apply(raw), dtype=np.float64)
        return CutoffReference.from_scores(
            contributions, matrix, pd_, cutoff_pd=self.config.approval_cutoff_pd,
            band_rows=self.config.reference_band_rows,
            categorical=[levels is not None for levels in self._levels])

    @property
    def point_factor(self) -> float:
        """Points per unit of the booster's raw log-odds: ``pdo / ln 2`` times the slope of
        the model's points map; a feature's points are ``-contribution * point_factor``."""
        return self._factor

    def points_of(self, raw: float | np.ndarray) -> float | np.ndarray:
        """Points of raw log-odds ``raw`` (``offset - factor * (a * raw + b)``)."""
        return self._offset - self._factor * raw

    def scaled_contributions(self, contributions: np.ndarray) -> np.ndarray:
        """Raw TreeSHAP contributions (bias last) on the calibrated log-odds of the points:
        every feature's exactly ``a`` times its raw one, the bias ``a * bias + b``
        (:meth:`models.credit_model.Calibration.scale_contributions`); a row's points are
        ``offset - factor * row.sum()``."""
        return self._calibration.scale_contributions(contributions)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, uri: str | Path = DEFAULT_MODEL_URI, *, tracking_uri: str | None = None,
             config: ScoringConfig | None = None, n_threads: int = 1) -> Scorer:
        """Load a model once: a registry URI or a folder written by ``CreditModel.save``.

        Parameters
        ----------
        uri : ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``models:/<name>``
            (alias ``champion``) or a local folder.
        tracking_uri : MLflow tracking URI; required for ``models:/`` URIs.

        Raises
        ------
        LookupError
            The registered model, version or alias does not exist.
        FileNotFoundError
            The folder holds no saved model.
        """
        text = str(uri)
        if text.startswith("models:/"):
            if not tracking_uri:
                raise ValueError(f"loading {text} needs an MLflow tracking URI")
            name, version, alias = parse_model_uri(text)
            from models.registry import load_credit_model

            model, found = load_credit_model(tracking_uri, name, version=version,
                                             alias=alias)
            config = config or ScoringConfig()
            stored = stored_cutoff_reference(model)
            if stored is not None and stored.matches(config.approval_cutoff_pd,
                                                     config.reference_band_rows):
                # computed when the version was registered: nothing to read or score here
                if stored.reference is None:
                    warnings.warn(f"{name} v{found.version}: {stored.problem}; reasons are "
                                  "measured against the training average", stacklevel=2)
                return cls(model, model_name=name, model_version=str(found.version),
                           config=config, source=text, n_threads=n_threads,
                           reference=stored.reference)
            # a version registered before references were stored, or other settings
            sample = _holdout_sample(tracking_uri, name, str(found.version))
            try:
                return cls(model, model_name=name, model_version=str(found.version),
                           config=config, source=text, n_threads=n_threads,
                           reference=sample)
            except ValueError as problem:  # no hold-out applicant approved at the cut-off
                if sample is None:
                    raise
                warnings.warn(f"{name} v{found.version}: {problem}; reasons are measured "
                              "against the training average", stacklevel=2)
                return cls(model, model_name=name, model_version=str(found.version),
                           config=config, source=text, n_threads=n_threads)
        folder = Path(text)
        model = CreditModel.load(folder)
        digest = hashlib.sha256((folder / "booster.txt").read_bytes()).hexdigest()[:12]
        return cls(model, model_name=folder.resolve().name, model_version=f"local-{digest}",
                   config=config, source=str(folder), n_threads=n_threads)

    @property
    def info(self) -> ModelInfo:
        """Model name, version, source, calibration and the baseline of the reasons."""
        return ModelInfo(self.model_name, self.model_version, self.source,
                         self.model.calibration_.method, self.baseline_raw_score,
                         self.baseline_points, self.feature_names)

    # --------------------------------------------------------------- one seller
    def encode(self, features: Mapping[Any, Any]) -> np.ndarray:
        """One applicant's values as the model's float row (extra keys are ignored).

        Raises
        ------
        ValueError
            A model feature is missing (all missing ones are named), or a numeric feature
            holds text.
        """
        try:
            values = [features[name] for name in self.feature_names]
        except KeyError:
            missing = [c.name for c in self._columns if c.name not in features]
            raise ValueError("missing feature(s) the model needs: "
                             + ", ".join(missing)) from None
        for j, codes in self._categorical_lookup:
            value = values[j]
            missing_value = value is None or value is pd.NA or (
                isinstance(value, float) and math.isnan(value))
            values[j] = math.nan if missing_value else codes.get(str(value), math.nan)
        try:  # None becomes NaN here
            return np.array(values, dtype=np.float64)
        except (TypeError, ValueError):  # pd.NA, text: one value at a time
            for j, name in zip(self._numeric_positions, self._numeric_names, strict=True):
                values[j] = _as_float(values[j], name)
            return np.array(values, dtype=np.float64)

    def score(self, features: Mapping[Any, Any] | pd.Series) -> ExplainedScore:
        """Score and explain one applicant given as a mapping of feature values."""
        return self.score_with_contributions(features)[0]

    def score_with_contributions(self, features: Mapping[Any, Any] | pd.Series
                                 ) -> tuple[ExplainedScore, np.ndarray]:
        """:meth:`score`, with the exact TreeSHAP contributions it was explained from.

        The contributions are in raw log-odds, one per model feature in
        ``feature_names`` order and the expected value last (they add up to
        ``raw_score``); a feature's points are ``-contribution * point_factor``
        (:meth:`scaled_contributions` gives them on the calibrated log-odds). One
        encoding and one tree walk serve both, where :meth:`score` then ``engine.row``
        would do each twice.
        """
        values: Mapping[Any, Any] = (features.to_dict() if isinstance(features, pd.Series)
                                     else features)
        row = self.encode(values)
        contributions, raw = self.engine.row(row)
        gap = abs(float(contributions.sum()) - raw)
        if not gap <= ADDITIVITY_TOLERANCE * max(1.0, abs(raw)):
            raise AssertionError(  # an internal invariant, not a user error
                f"SHAP contributions do not add up to the raw score (gap {gap:.3g})")
        pd_ = self._probability(raw)
        grade = self._label_list[bisect_left(self._band_list, pd_)]
        family = self._family_points_of_row(contributions[:-1].tolist())
        return self._explained(row, contributions, raw, pd_, grade, family), contributions

    # -------------------------------------------------------------------- batch
    def score_batch(self, features: pd.DataFrame) -> BatchScores:
        """Score and explain every row of a feature table (extra columns are ignored).

        Raises
        ------
        ValueError
            A model feature column is missing (all are named), or holds unusable values.
        """
        missing = [n for n in self.feature_names if n not in features.columns]
        if missing:
            raise ValueError("the table lacks feature column(s) the model needs: "
                             + ", ".join(missing))
        matrix = self.model.to_matrix(features)
        contributions, raw = self.engine.explain(matrix)
        self._check_additivity(contributions, raw)
        pd_ = np.asarray(self.model.calibration_.apply(raw), dtype=np.float64)
        grade = self._labels[np.searchsorted(self._bands, pd_, side="left")]
        # the per-feature arithmetic on contiguous rows: the contributions transposed once
        columns = np.ascontiguousarray(contributions[:, :-1].T)
        sums = ordered_sums_of_columns(columns, self._member_layers, len(self._group_members))
        family = np.ascontiguousarray((-self._factor * sums).T)
        adverse = self.reasons.adverse_of(columns, matrix)
        return BatchScores(self, features.index, matrix, pd_, raw,
                           self._offset - self._factor * raw, grade, contributions, family,
                           adverse)

    # ------------------------------------------------------------------ helpers
    def _check_additivity(self, contributions: np.ndarray, raw: np.ndarray) -> None:
        gap = np.abs(contributions.sum(axis=1) - raw)
        if not np.all(gap <= ADDITIVITY_TOLERANCE * np.maximum(1.0, np.abs(raw))):
            raise AssertionError(  # an internal invariant, not a user error
                "SHAP contributions do not add up to the raw score (largest gap "
                f"{float(gap.max()):.3g})")

    def _probability(self, raw: float) -> float:
        """The calibrated PD of one raw score (as ``Calibration.apply``, without arrays)."""
        return self._calibration.apply_one(raw)

    def _family_points_of_row(self, contributions: list[float]) -> list[float]:
        """One row's points per reason family: the same additions as :meth:`_family_sums`
        (from 0.0, member by member, then times ``-factor``) on Python floats, which for one
        row cost a tenth of the numpy column loop and give the same bits."""
        negative_factor = -self._factor
        points = []
        for members in self._group_members:
            total = 0.0
            for column in members:
                total += contributions[column]
            points.append(negative_factor * total)
        return points

    def _family_sums(self, contributions: np.ndarray) -> np.ndarray:
        """Each row's contributions summed per reason family, column by column in a fixed
        order, so one applicant scored alone and in a batch get the same bits (a matrix
        product sums in an order that depends on the matrix's shape)."""
        return ordered_sums(contributions, self._member_layers, len(self._group_members))

    def _explained(self, row: np.ndarray, contributions: np.ndarray, raw: float, pd_: float,
                   grade: str, family_points: list[float]) -> ExplainedScore:
        adverse, positive, _ = self.reasons.explain(row, contributions)
        return _frozen(
            ExplainedScore, model_name=self.model_name, model_version=self.model_version,
            probability_of_default=pd_, raw_score=raw,
            points=self._offset - self._factor * raw, grade=grade,
            baseline_points=self._offset - self._factor * float(contributions[-1]),
            adverse_reasons=adverse, positive_factors=positive,
            family_points=tuple(zip(self.family_codes, family_points, strict=True)),
            reference_points=self.reference_points)


def _frozen(cls: type[_T], **fields: Any) -> _T:
    """An instance of a frozen dataclass built without its generated ``__init__``.

    That ``__init__`` sets every field through ``object.__setattr__``, which costs more than
    the rest of a one-row explanation together; the result is the same object.
    """
    instance = object.__new__(cls)
    object.__setattr__(instance, "__dict__", fields)  # the keyword arguments' own dict
    return instance


def fast_path_check_rows(model: CreditModel, n_rows: int = FAST_PATH_CHECK_ROWS,
                         ) -> np.ndarray:
    """Encoded rows, in the training range, on which a scorer checks the fast path.

    Built deterministically from the training distribution the model keeps
    (``feature_reference_``): in row ``k`` each numeric feature takes one of its training
    decile edges and each categorical feature one of its levels, shifted by the feature's
    position so that the rows mix low and high values and reach different leaves; the last
    row is all missing.

    Parameters
    ----------
    model : a fitted :class:`models.CreditModel`.
    n_rows : number of rows (at least 1).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_rows, n_features)``, in the model's column order.

    Raises
    ------
    ValueError
        ``n_rows`` is below 1.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1; got {n_rows}")
    references: Mapping[str, Any] = getattr(model, "feature_reference_", None) or {}
    rows = np.full((n_rows, len(model.columns_)), np.nan, dtype=np.float64)
    for j, column in enumerate(model.columns_):
        reference = references.get(column.name) or {}
        if column.kind == "categorical":
            candidates = np.arange(len(column.levels), dtype=np.float64)
        else:
            candidates = np.asarray(reference.get("edges") or [0.0], dtype=np.float64)
        if len(candidates) == 0:
            continue
        for k in range(n_rows - 1):  # the last row stays missing
            rows[k, j] = candidates[(k * (len(candidates) - 1) // max(1, n_rows - 2) + j)
                                    % len(candidates)]
    return rows


def _holdout_sample(tracking_uri: str, name: str, version: str) -> pd.DataFrame | None:
    """The hold-out sample stored with a registered version (at most
    :data:`models.cutoff.REFERENCE_SAMPLE_ROWS` rows), the reasons' reference sample, for a
    version registered without its reference (:mod:`models.cutoff`); ``None`` when the
    version has none (a version registered without its run), so the reasons fall back to
    the training average."""
    from models.registry import load_holdout

    try:
        features, _ = load_holdout(tracking_uri, name, version)
    except (LookupError, OSError):
        return None
    except Exception as exc:  # MLflow raises its own errors for a missing artifact
        if type(exc).__name__ in ("MlflowException", "RestException"):
            return None
        raise
    return features.iloc[:REFERENCE_SAMPLE_ROWS]


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, version, alias)`` of ``models:/name@alias``, ``models:/name/3`` or
    ``models:/name`` (alias ``champion``)."""
    rest = uri.removeprefix("models:/").strip("/")
    if not rest:
        raise ValueError(f"no model name in {uri!r}")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return name, None, alias
    if "/" in rest:
        name, version = rest.rsplit("/", 1)
        return name, version, None
    return rest, None, "champion"


def _as_float(value: Any, name: str) -> float:
    if value is None or value is pd.NA:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        if pd.isna(value):
            return math.nan
        raise ValueError(f"feature {name!r} must be numeric; got {value!r}") from None
