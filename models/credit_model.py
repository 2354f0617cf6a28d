"""The fitted credit model: a LightGBM booster, its input contract and its calibration.

:class:`CreditModel` follows scikit-learn's classifier conventions (``fit`` returns
``self``, ``predict_proba`` with ``classes_ == [0, 1]`` where 1 means default, fitted
attributes end in ``_``), and adds what credit work needs:

- ``explain(X)``: exact TreeSHAP contributions from LightGBM itself (``pred_contrib``), in
  raw log-odds, one column per feature plus :data:`BIAS_COLUMN`; each row adds up to the
  booster's raw score, which is checked on every call.
- ``save``/``load``: a folder with the booster as LightGBM text and everything else as
  JSON (no pickle), so a stored model can be read by any later version of this code.
- an optional linear base (``linear_``, :mod:`models.linear_base`): an L2 logistic
  regression whose log-odds the booster was trained on; the raw score is then
  ``linear_(x) + booster_(x)`` and ``explain`` adds the linear part's exact, additive
  Shapley values to the TreeSHAP ones. Saved as ``linear_base`` with format version 2
  (:data:`LINEAR_FORMAT_VERSION`); without one, the saved layout is version 1 as before.

The input contract
------------------
Every feature column is either *numeric* (any integer, float or boolean dtype; converted to
float, missing stays missing) or *categorical* (pandas ``category``, ``str``/``string`` or
``object``). Categorical levels are fixed at fit time and stored: at predict time a value is
mapped to the code it had in training, and a level never seen in training is treated as
missing, exactly like a missing value. The booster itself only ever sees a float matrix.

Calibration
-----------
The booster gives a raw score ``f(x)`` in log-odds. :class:`Calibration` maps it to the
probability of default:

- ``"none"``: ``sigmoid(f(x))``;
- ``"platt"`` (the default of :func:`models.train`): ``sigmoid(a * f(x) + b)``;
- ``"isotonic"``: a non-decreasing piecewise-linear function of ``f(x)`` (chosen only when it
  beats Platt in a paired bootstrap; see :mod:`models.training`).

Whatever the method, the PD is kept inside ``[pd_floor, 1 - pd_floor]`` (default floor
:data:`DEFAULT_PD_FLOOR`): no applicant is ever certain to repay or to default.

Points and explanations live on the *calibrated log-odds* ``a * f(x) + b``
(:meth:`Calibration.points_log_odds`): multiply every TreeSHAP contribution by ``a`` and
give the bias ``a * bias + b`` (:meth:`Calibration.scale_contributions`), and they add up to
the calibrated log-odds exactly as the raw contributions add up to ``f(x)``. ``(a, b)`` is
the Platt map for Platt *and* for isotonic calibration (where the Platt map fitted on the same
scores is stored beside the isotonic one: the PD comes from isotonic, which has no additive
split, while points and reasons come from the Platt scale), and ``(1, 0)`` without
calibration. A model saved before these fields existed loads with ``(1, 0)`` and no floor,
so it scores exactly as it did.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from models.config import TrainConfig
from models.evaluation import ScoreReference
from models.linear_base import LinearBase

if TYPE_CHECKING:
    from models.training import TrainingReport

__all__ = [
    "BIAS_COLUMN",
    "Calibration",
    "ColumnSpec",
    "CreditModel",
    "DEFAULT_PD_FLOOR",
    "FORMAT_VERSION",
]

#: Column of :meth:`CreditModel.explain` that holds the expected value (the bias term).
BIAS_COLUMN = "__bias__"
#: Version of the folder layout written by :meth:`CreditModel.save` for a model without a
#: linear base (the layout of every model saved before the linear base existed).
FORMAT_VERSION = 1
#: Version written for a model with a linear base (``linear_base`` in the JSON): code that
#: knows only :data:`FORMAT_VERSION` refuses it instead of scoring without the linear part.
LINEAR_FORMAT_VERSION = 2
#: Tolerance of the additivity check between contributions and raw score.
ADDITIVITY_TOLERANCE = 1e-6

#: Lowest calibrated PD (and ``1 -`` the highest) a model gives by default
#: (``TrainConfig.pd_floor``): 3 in 10,000, the order of the one-year default rate of the
#: best-rated borrowers and of regulatory PD floors (0.03 % under Basel's IRB approach).
DEFAULT_PD_FLOOR: float = TrainConfig.pd_floor

ColumnKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of the model.

    Attributes
    ----------
    name : column name in the input table.
    kind : ``"numeric"`` or ``"categorical"``.
    levels : the categorical levels seen in training, as text, in code order.
    monotone : monotone constraint used in training (+1 risk rises with the value, -1 it
        falls, 0 none).
    value_type : what a numeric column held in training: ``"integer"``, ``"boolean"`` or
        ``"float"`` (``"text"`` for categorical columns); the input schema logged with the
        model uses it. Predictions accept any numeric type either way.
    """

    name: str
    kind: ColumnKind
    levels: tuple[str, ...] = ()
    monotone: int = 0
    value_type: Literal["integer", "boolean", "float", "text"] = "float"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "levels": list(self.levels),
                "monotone": self.monotone, "value_type": self.value_type}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        return cls(str(data["name"]), data["kind"], tuple(str(v) for v in data["levels"]),
                   int(data["monotone"]), data.get("value_type", "float"))


def value_type(series: pd.Series) -> Literal["integer", "boolean", "float", "text"]:
    """The kind of values a feature column holds (see :attr:`ColumnSpec.value_type`)."""
    dtype = series.dtype
    if is_categorical_dtype(dtype):
        return "text"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean" if not series.isna().any() else "float"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer" if not series.isna().any() else "float"
    return "float"


def is_categorical_dtype(dtype: Any) -> bool:
    """Whether a column of this dtype is treated as categorical."""
    return (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype))


def column_kind(series: pd.Series) -> ColumnKind:
    """``"numeric"`` or ``"categorical"`` for a feature column; ``ValueError`` otherwise."""
    dtype = series.dtype
    if is_categorical_dtype(dtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    raise ValueError(f"column {series.name!r} has dtype {dtype}, which is neither numeric "
                     "nor categorical; convert it (for example a date to an age in days) "
                     "or drop it")


def categorical_levels(series: pd.Series) -> tuple[str, ...]:
    """The levels of a categorical column as text: category order, else sorted values."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return tuple(str(level) for level in series.cat.categories)
    text = series.dropna().astype(str)
    return tuple(sorted(text.unique()))


def _as_text(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    return series.astype("string")


def booster_feature_names(names: Sequence[str]) -> list[str]:
    """Feature names LightGBM accepts (no JSON special characters), unique."""
    used: set[str] = set()
    out = []
    for name in names:
        base = re.sub(r"[^0-9A-Za-z_]", "_", str(name)) or "feature"
        candidate, k = base, 1
        while candidate in used:
            k += 1
            candidate = f"{base}_{k}"
        used.add(candidate)
        out.append(candidate)
    return out


@dataclass(frozen=True)
class Calibration:
    """Maps the booster's raw log-odds to a calibrated probability of default.

    Attributes
    ----------
    method : ``"none"`` (sigmoid of the raw score), ``"platt"`` (sigmoid of
        ``slope * raw + intercept``) or ``"isotonic"`` (piecewise-linear interpolation
        through ``thresholds`` -> ``values``, clipped at both ends).
    pd_floor : every PD is clipped to ``[pd_floor, 1 - pd_floor]`` (0: no clipping, as for
        models saved before the floor existed).
    points_slope, points_intercept : ``(a, b)`` of the calibrated log-odds that points and
        reasons are scaled on, ``a * raw + b``: Platt's slope and intercept for ``"platt"``,
        those of a Platt map fitted on the same scores for ``"isotonic"``, ``(1, 0)`` for
        ``"none"`` (and for a model saved before these fields existed).
    """

    method: Literal["none", "platt", "isotonic"] = "none"
    slope: float = 1.0
    intercept: float = 0.0
    thresholds: tuple[float, ...] = ()
    values: tuple[float, ...] = ()
    pd_floor: float = DEFAULT_PD_FLOOR
    points_slope: float = 1.0
    points_intercept: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.pd_floor < 0.5:
            raise ValueError(f"pd_floor must be >= 0 and < 0.5; got {self.pd_floor}")
        if not (math.isfinite(self.points_slope) and self.points_slope > 0
                and math.isfinite(self.points_intercept)):
            raise ValueError("the points map must be increasing and finite; got slope "
                             f"{self.points_slope}, intercept {self.points_intercept}")

    @property
    def pd_cap(self) -> float:
        """Highest PD given: ``1 - pd_floor``."""
        return 1.0 - self.pd_floor

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Probability of default for raw log-odds ``raw``, within the floor and the cap."""
        raw = np.asarray(raw, dtype=float)
        if self.method == "isotonic":
            pd_ = np.interp(raw, np.asarray(self.thresholds), np.asarray(self.values))
        else:
            z = self.slope * raw + self.intercept if self.method == "platt" else raw
            with np.errstate(over="ignore"):  # exp overflows to inf: a PD of 0, then floored
                pd_ = 1.0 / (1.0 + np.exp(-z))
        if self.pd_floor > 0.0:
            pd_ = np.clip(pd_, self.pd_floor, self.pd_cap)
        return pd_

    def apply_one(self, raw: float) -> float:
        """:meth:`apply` of one raw score, on Python floats (the single-applicant path)."""
        if self.method == "isotonic":
            pd_ = float(np.interp(raw, self.thresholds, self.values))
        else:
            z = self.slope * raw + self.intercept if self.method == "platt" else raw
            pd_ = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
        if self.pd_floor > 0.0:
            pd_ = min(max(pd_, self.pd_floor), self.pd_cap)
        return pd_

    def points_log_odds(self, raw: np.ndarray) -> np.ndarray:
        """The calibrated log-odds points are scaled on: ``points_slope * raw +
        points_intercept``."""
        return self.points_slope * np.asarray(raw, dtype=float) + self.points_intercept

    def scale_contributions(self, contributions: np.ndarray) -> np.ndarray:
        """Raw TreeSHAP contributions (features, then the bias last) on the calibrated
        log-odds: every feature's times ``points_slope``, the bias
        ``points_slope * bias + points_intercept``; a row then adds up to
        :meth:`points_log_odds` of its raw score."""
        scaled = np.asarray(contributions, dtype=float) * self.points_slope
        scaled[..., -1] += self.points_intercept
        return scaled

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "slope": self.slope, "intercept": self.intercept,
                "thresholds": list(self.thresholds), "values": list(self.values),
                "pd_floor": self.pd_floor, "points_slope": self.points_slope,
                "points_intercept": self.points_intercept}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """The inverse of :meth:`to_dict`. A calibration saved before the floor and the
        points map existed reads with no floor and points on the raw log-odds, so an old
        model scores exactly as it did."""
        return cls(data["method"], float(data["slope"]), float(data["intercept"]),
                   tuple(float(v) for v in data["thresholds"]),
                   tuple(float(v) for v in data["values"]),
                   pd_floor=float(data.get("pd_floor", 0.0)),
                   points_slope=float(data.get("points_slope", 1.0)),
                   points_intercept=float(data.get("points_intercept", 0.0)))


@dataclass
class FittedState:
    """Everything :meth:`CreditModel.fit` produces besides the booster (saved as JSON)."""

    columns: list[ColumnSpec]
    calibration: Calibration
    score_reference: ScoreReference
    feature_reference: dict[str, dict[str, Any]]
    params: dict[str, Any]
    best_iteration: int
    metadata: dict[str, Any] = field(default_factory=dict)
    linear: LinearBase | None = None


class CreditModel(ClassifierMixin, BaseEstimator):
    """LightGBM probability-of-default model with calibration and exact explanations.

    Parameters
    ----------
    config : training configuration; ``None`` means :class:`TrainConfig` defaults.

    Attributes
    ----------
    classes_ : ``array([0, 1])``; column 1 of :meth:`predict_proba` is the PD.
    feature_names_in_ : feature column names in model order.
    n_features_in_ : number of features.
    columns_ : :class:`ColumnSpec` per feature (kind, categorical levels, monotone sign).
    booster_ : the fitted :class:`lightgbm.Booster`.
    calibration_ : :class:`Calibration` from raw log-odds to PD.
    score_reference_ : :class:`ScoreReference` of the raw score on the training rows, the
        base of the score PSI.
    feature_reference_ : per feature, the training distribution (numeric: decile edges and
        shares; categorical: level shares), the base of the feature PSI.
    params_ : the LightGBM parameters of the chosen candidate.
    best_iteration_ : number of boosting rounds in the booster.
    linear_ : :class:`models.linear_base.LinearBase` under the booster (the raw score is
        ``linear_.raw(x) + booster``), or ``None`` (the raw score is the booster's).
    training_report_ : :class:`models.training.TrainingReport` (only after ``fit`` in this
        process; a loaded model has ``metadata_["training"]`` instead).
    metadata_ : free JSON-friendly facts saved with the model (training summary, data
        window, hold-out metrics).
    """

    def __init__(self, config: TrainConfig | None = None) -> None:
        self.config = config

    # ------------------------------------------------------------------ fitting
    def fit(self, X: pd.DataFrame, y: object, *, time: object = None) -> CreditModel:
        """Train on a feature table; see :func:`models.train` for the procedure.

        Parameters
        ----------
        X : feature table (rows: applicants).
        y : binary label aligned with ``X`` (1 = default), or the name of a column of ``X``.
        time : a column name of ``X`` or values aligned with ``X``; enables out-of-time
            validation. The time column is never a feature.
        """
        from models.training import fit_credit_model

        booster, state, report = fit_credit_model(X, y, time=time,
                                                  config=self.config or TrainConfig())
        self._set_fitted(booster, state)
        self.training_report_: TrainingReport = report
        return self

    def _set_fitted(self, booster: lgb.Booster, state: FittedState) -> None:
        self.booster_ = booster
        self.columns_ = list(state.columns)
        self.feature_names_in_ = np.array([c.name for c in state.columns], dtype=object)
        self.n_features_in_ = len(state.columns)
        self.classes_ = np.array([0, 1])
        self.calibration_ = state.calibration
        self.score_reference_ = state.score_reference
        self.feature_reference_ = state.feature_reference
        self.params_ = dict(state.params)
        self.best_iteration_ = state.best_iteration
        self.metadata_ = dict(state.metadata)
        self.linear_: LinearBase | None = state.linear

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise ValueError("this CreditModel is not fitted yet; call fit() or load() first")

    # ------------------------------------------------------------- input matrix
    def to_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The float matrix the booster sees (categorical columns as training codes).

        Extra columns are ignored; a missing feature column is an error. Unseen categorical
        levels become missing.
        """
        self._check_fitted()
        return encode_columns(X, self.columns_)

    # --------------------------------------------------------------- prediction
    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw score in log-odds (before calibration): the booster's, plus the linear base's
        when the model has one."""
        return self.raw_of_matrix(self.to_matrix(X))

    def raw_of_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """:meth:`decision_function` of an encoded matrix (:meth:`to_matrix`)."""
        raw = np.asarray(self.booster_.predict(matrix, raw_score=True,
                                               num_iteration=self.best_iteration_), dtype=float)
        linear = getattr(self, "linear_", None)
        return raw if linear is None else raw + linear.raw(matrix)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of default, one value per row."""
        return np.asarray(self.calibration_.apply(self.decision_function(X)), dtype=float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``[[1 - PD, PD], ...]`` following scikit-learn's ``classes_ == [0, 1]``."""
        pd_ = self.predict_pd(X)
        return np.column_stack([1.0 - pd_, pd_])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the PD is above one half (scikit-learn convention; lending uses cut-offs)."""
        return (self.predict_pd(X) > 0.5).astype(int)

    def explain(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact contributions in raw log-odds: LightGBM's TreeSHAP (``pred_contrib``) of the
        booster, plus, with a linear base, each feature's exact Shapley value in it
        (``w_j(x_j) - E[w_j]``; see :mod:`models.linear_base`).

        Returns
        -------
        DataFrame
            Indexed like ``X``: one column per feature (``feature_names_in_`` order) and
            :data:`BIAS_COLUMN` (the expected raw score). Each row sums to
            :meth:`decision_function` for that row; this is asserted. The values are on the
            raw (uncalibrated) log-odds scale; see the module notes for how they relate to
            the calibrated PD.
        """
        matrix = self.to_matrix(X)
        contrib = np.asarray(self.booster_.predict(matrix, pred_contrib=True,
                                                   num_iteration=self.best_iteration_),
                             dtype=float)
        raw = np.asarray(self.booster_.predict(matrix, raw_score=True,
                                               num_iteration=self.best_iteration_), dtype=float)
        linear = getattr(self, "linear_", None)
        if linear is not None:
            contrib = contrib + linear.contributions(matrix)
            raw = raw + linear.raw(matrix)
        gap = np.abs(contrib.sum(axis=1) - raw)
        scale = np.maximum(1.0, np.abs(raw))
        if not np.all(gap <= ADDITIVITY_TOLERANCE * scale):
            raise AssertionError(  # noqa: TRY003 - an internal invariant, not a user error
                f"SHAP contributions do not add up to the raw score (largest gap "
                f"{float(gap.max()):.3g})")
        columns = [*self.feature_names_in_.tolist(), BIAS_COLUMN]
        return pd.DataFrame(contrib, index=X.index, columns=columns)

    def feature_importance(self, kind: Literal["gain", "split"] = "gain") -> pd.Series:
        """Booster feature importance by feature name, largest first."""
        self._check_fitted()
        values = self.booster_.feature_importance(importance_type=kind,
                                                  iteration=self.best_iteration_)
        return pd.Series(values, index=self.feature_names_in_.tolist(),
                         name=kind).sort_values(ascending=False)

    def input_example(self, X: pd.DataFrame, n: int = 5) -> pd.DataFrame:
        """The first ``n`` rows of ``X`` as :meth:`to_plain` gives them."""
        return self.to_plain(X.head(n))

    def to_plain(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` in the model's column order with plain dtypes, as the MLflow model takes it.

        Numeric columns as ``int64``, ``bool`` or ``float64`` (as in training; ``float64``
        when a value is missing), categorical columns as Python text with ``None`` for
        missing, which is what a JSON request to a serving endpoint carries. MLflow's schema
        check refuses pandas ``category`` columns, so convert a feature table with this
        before calling the ``pyfunc`` model; :meth:`predict_proba` takes either.
        """
        self._check_fitted()
        head = X
        out = {}
        for spec in self.columns_:
            if spec.kind == "numeric":
                values = pd.to_numeric(head[spec.name], errors="coerce")
                kept = {"integer": "int64", "boolean": "bool"}.get(spec.value_type, "float64")
                out[spec.name] = values.astype(np.dtype(kept) if not values.isna().any()
                                               else np.float64)
            else:
                text = _as_text(head[spec.name])
                out[spec.name] = pd.Series(
                    [None if pd.isna(v) else str(v) for v in text], index=head.index,
                    dtype=object)
        return pd.DataFrame(out, index=head.index)

    def contract(self) -> list[dict[str, str]]:
        """The feature contract: name and kind of each input column, in order."""
        self._check_fitted()
        return [{"name": c.name, "kind": c.kind} for c in self.columns_]

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the model to folder ``path`` (created; existing files are replaced).

        The folder holds ``booster.txt`` (LightGBM text model) and ``credit_model.json``.
        """
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(folder / "booster.txt"),
                                 num_iteration=self.best_iteration_)
        linear = getattr(self, "linear_", None)
        payload = {
            "format_version": FORMAT_VERSION if linear is None else LINEAR_FORMAT_VERSION,
            "lightgbm_version": lgb.__version__,
            "columns": [c.to_dict() for c in self.columns_],
            "calibration": self.calibration_.to_dict(),
            "score_reference": self.score_reference_.to_dict(),
            "feature_reference": self.feature_reference_,
            "params": self.params_,
            "best_iteration": self.best_iteration_,
            "config": (self.config or TrainConfig()).to_dict(),
            "metadata": self.metadata_,
        }
        if linear is not None:
            payload["linear_base"] = linear.to_dict()
        (folder / "credit_model.json").write_text(
            json.dumps(payload, indent=1, sort_keys=True, default=_json_default),
            encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: str | Path) -> CreditModel:
        """Read a model written by :meth:`save`."""
        folder = Path(path)
        meta_path = folder / "credit_model.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"no credit model in {folder} (credit_model.json missing)")
        payload = json.loads(meta_path.read_text(encoding="utf-8"))
        version = payload.get("format_version")
        if version not in (FORMAT_VERSION, LINEAR_FORMAT_VERSION) or (
                (version == LINEAR_FORMAT_VERSION) != ("linear_base" in payload)):
            raise ValueError(f"{folder}: unsupported model format version {version!r} "
                             f"(expected {FORMAT_VERSION}, or {LINEAR_FORMAT_VERSION} with a "
                             "linear base)")
        booster = lgb.Booster(model_file=str(folder / "booster.txt"))
        model = cls(TrainConfig.from_dict(payload["config"]))
        state = FittedState(
            columns=[ColumnSpec.from_dict(c) for c in payload["columns"]],
            calibration=Calibration.from_dict(payload["calibration"]),
            score_reference=ScoreReference.from_dict(payload["score_reference"]),
            feature_reference=payload["feature_reference"],
            params=payload["params"],
            best_iteration=int(payload["best_iteration"]),
            metadata=payload["metadata"],
            linear=(LinearBase.from_dict(payload["linear_base"])
                    if "linear_base" in payload else None),
        )
        model._set_fitted(booster, state)
        return model


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode_columns(X: pd.DataFrame, columns: Sequence[ColumnSpec]) -> np.ndarray:
    """Float matrix of ``X`` under the column contract ``columns`` (see module notes)."""
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"X must be a pandas DataFrame; got {type(X).__name__}")
    missing = [c.name for c in columns if c.name not in X.columns]
    if missing:
        raise ValueError(f"X lacks feature column(s) the model needs: {', '.join(missing)}")
    matrix = np.empty((len(X), len(columns)), dtype=np.float64)
    for j, spec in enumerate(columns):
        series = X[spec.name]
        if spec.kind == "numeric":
            if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
                # numpy booleans, integers and floats: numpy's cast, as astype("float64")
                # does, without pandas' per-call work
                matrix[:, j] = series.to_numpy()
                continue
            if is_categorical_dtype(series.dtype):
                converted = pd.to_numeric(series.astype(object), errors="coerce")
                bad = converted.isna() & series.notna()
                if bad.any():
                    example = series[bad].iloc[0]
                    raise ValueError(f"column {spec.name!r} must be numeric; got {example!r}")
                series = converted
            matrix[:, j] = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            matrix[:, j] = _level_codes(series, spec.levels)
    return matrix


def _level_codes(series: pd.Series, levels: Sequence[str]) -> np.ndarray:
    """The training code of each value's text in ``levels`` (NaN: missing or unseen)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        # each category's text is looked up once (the values are their categories)
        categories = pd.Series(series.cat.categories.astype(object), dtype=object)
        lookup = np.append(_level_codes(categories, levels), np.nan)
        return lookup[series.cat.codes.to_numpy()]  # code -1 (missing) takes the NaN
    text = pd.Index(_as_text(series).astype(object).where(series.notna(), None))
    codes = pd.Index(list(levels), dtype=object).get_indexer(text)
    values = codes.astype(np.float64)
    values[codes < 0] = np.nan
    return values
