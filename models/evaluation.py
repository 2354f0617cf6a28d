"""How good a probability of default is: discrimination, calibration, stability.

Every function takes the observed label ``y`` (1 = default) and a predicted probability of
default ``pd_`` (or any score where higher means riskier, for the rank-based figures) and
returns plain numbers or small DataFrames, so the same code serves the training report,
the model card, the promotion gates and the scoring service's stability checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import rankdata
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

__all__ = [
    "logistic_reference",
    "AucComparison",
    "LossComparison",
    "ScoreReference",
    "auc",
    "single_feature_aucs",
    "delong_covariance",
    "paired_auc_difference",
    "paired_loss_difference",
    "ks_statistic",
    "calibration_by_decile",
    "calibration_error",
    "classification_metrics",
    "cutoff_table",
    "auc_by_segment",
    "population_stability_index",
]

_EPS = 1e-6


def _arrays(y: object, score: object) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float).ravel()
    s_arr = np.asarray(score, dtype=float).ravel()
    if y_arr.shape != s_arr.shape:
        raise ValueError(f"labels and scores differ in length: {len(y_arr)} != {len(s_arr)}")
    if len(y_arr) == 0:
        raise ValueError("no rows to evaluate")
    if np.isnan(y_arr).any() or not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1 (1 = default) without missing values")
    if not np.isfinite(s_arr).all():
        raise ValueError("scores must be finite numbers")
    return y_arr, s_arr


def auc(y: object, score: object) -> float:
    """Area under the ROC curve; ``nan`` when only one class is present."""
    y_arr, s_arr = _arrays(y, score)
    if y_arr.min() == y_arr.max():
        return float("nan")
    return float(roc_auc_score(y_arr, s_arr))


def delong_covariance(y: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of several scores of the same rows and DeLong's covariance of them.

    The fast algorithm of Sun & Xu (2014, "Fast implementation of DeLong's algorithm for
    comparing the areas under correlated receiver operating characteristic curves", IEEE
    Signal Processing Letters 21(11)): the placement values come from mid-ranks, so the
    cost is one sort per score, O(n log n), instead of comparing every default with every
    non-default. Ties count one half, as in :func:`auc`.

    Parameters
    ----------
    y : 1 = default, 0 = not (both must occur).
    scores : one score per row (1-D), or shape ``(k, n)`` for ``k`` scores of the same
        rows; higher means riskier.

    Returns
    -------
    (aucs, covariance)
        ``aucs`` of shape ``(k,)`` and their ``(k, k)`` covariance
        ``S10 / m + S01 / n`` (``m`` defaults, ``n`` non-defaults).

    Raises
    ------
    ValueError
        Bad labels or scores, or only one class present.
    """
    matrix = np.atleast_2d(np.asarray(scores, dtype=float))
    y_arr = np.asarray(y, dtype=float).ravel()
    for row in matrix:
        _arrays(y_arr, row)
    positive = y_arr == 1.0
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's covariance needs both defaults and non-defaults")
    bads, goods = matrix[:, positive], matrix[:, ~positive]
    k = matrix.shape[0]
    rank_bads = np.empty((k, m))
    rank_goods = np.empty((k, n))
    rank_all = np.empty((k, m + n))
    for r in range(k):
        rank_bads[r] = rankdata(bads[r])
        rank_goods[r] = rankdata(goods[r])
        rank_all[r] = rankdata(np.concatenate([bads[r], goods[r]]))
    aucs = (rank_all[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    # placement values: V10 of each default (share of non-defaults it outranks),
    # V01 of each non-default (share of defaults that outrank it)
    v10 = (rank_all[:, :m] - rank_bads) / n
    v01 = 1.0 - (rank_all[:, m:] - rank_goods) / m
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((k, k))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((k, k))
    return aucs, s10 / m + s01 / n


@dataclass(frozen=True)
class AucComparison:
    """Paired comparison of two scores' AUCs on the same rows (DeLong).

    ``difference`` is ``auc_a - auc_b``; ``lower`` and ``upper`` bound it at ``level``
    (two-sided, normal approximation of DeLong's variance).
    """

    auc_a: float
    auc_b: float
    difference: float
    standard_error: float
    lower: float
    upper: float
    level: float
    correlation: float

    def to_dict(self) -> dict[str, float]:
        return {"auc_a": self.auc_a, "auc_b": self.auc_b, "difference": self.difference,
                "standard_error": self.standard_error, "lower": self.lower,
                "upper": self.upper, "level": self.level, "correlation": self.correlation}


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level}")
    return float(ndtri(0.5 + level / 2.0))


def paired_auc_difference(y: object, score_a: object, score_b: object,
                          level: float = 0.95) -> AucComparison:
    """DeLong's interval of ``AUC(score_a) - AUC(score_b)`` on the same rows.

    Use untied scores (raw log-odds) where there are any: a step calibration (isotonic)
    ties many rows and so changes both the AUC and its variance.
    """
    z = _z(level)
    aucs, cov = delong_covariance(y, np.vstack([np.asarray(score_a, dtype=float).ravel(),
                                                np.asarray(score_b, dtype=float).ravel()]))
    variance = max(float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]), 0.0)
    se = float(np.sqrt(variance))
    diff = float(aucs[0] - aucs[1])
    denominator = float(np.sqrt(cov[0, 0] * cov[1, 1]))
    correlation = float(cov[0, 1] / denominator) if denominator > 0 else float("nan")
    return AucComparison(float(aucs[0]), float(aucs[1]), diff, se, diff - z * se,
                         diff + z * se, level, correlation)


@dataclass(frozen=True)
class LossComparison:
    """Paired comparison of a per-row loss of two PDs on the same rows.

    ``difference`` is ``mean(loss_a) - mean(loss_b)`` (negative: ``a`` is better);
    ``lower`` and ``upper`` bound it at ``level`` (two-sided, normal approximation of the
    mean of the row-wise differences).
    """

    loss: str
    value_a: float
    value_b: float
    difference: float
    standard_error: float
    lower: float
    upper: float
    level: float

    def to_dict(self) -> dict[str, float | str]:
        return {"loss": self.loss, "value_a": self.value_a, "value_b": self.value_b,
                "difference": self.difference, "standard_error": self.standard_error,
                "lower": self.lower, "upper": self.upper, "level": self.level}


def paired_loss_difference(y: object, pd_a: object, pd_b: object, loss: str = "brier",
                           level: float = 0.95) -> LossComparison:
    """Interval of the difference of mean Brier score (``loss="brier"``) or log loss
    (``"log_loss"``, PDs clipped to [1e-6, 1 - 1e-6]) between two PDs of the same rows."""
    y_arr, a = _arrays(y, pd_a)
    _, b = _arrays(y_arr, pd_b)
    z = _z(level)
    if loss == "brier":
        per_a, per_b = (a - y_arr) ** 2, (b - y_arr) ** 2
    elif loss == "log_loss":
        ca, cb = np.clip(a, _EPS, 1 - _EPS), np.clip(b, _EPS, 1 - _EPS)
        per_a = -(y_arr * np.log(ca) + (1 - y_arr) * np.log(1 - ca))
        per_b = -(y_arr * np.log(cb) + (1 - y_arr) * np.log(1 - cb))
    else:
        raise ValueError(f"loss must be 'brier' or 'log_loss'; got {loss!r}")
    d = per_a - per_b
    diff = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return LossComparison(loss, float(per_a.mean()), float(per_b.mean()), diff, se,
                          diff - z * se, diff + z * se, level)


def ks_statistic(y: object, score: object) -> float:
    """Kolmogorov-Smirnov: largest gap between the score distributions of bads and goods."""
    y_arr, s_arr = _arrays(y, score)
    if y_arr.min() == y_arr.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(y_arr, s_arr)
    return float(np.max(tpr - fpr))


def calibration_by_decile(y: object, pd_: object, n_bins: int = 10) -> pd.DataFrame:
    """Observed bad rate against mean predicted PD in PD quantile bins.

    Rows are sorted by PD and cut into ``n_bins`` groups of (almost) equal size; ties never
    straddle a bin edge only by accident of order, because the sort is stable on PD.

    Returns
    -------
    DataFrame
        ``bin`` (1 = safest), ``n``, ``min_pd``, ``max_pd``, ``mean_pd``, ``bad_rate``,
        ``bads``.
    """
    y_arr, p_arr = _arrays(y, pd_)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    order = np.argsort(p_arr, kind="stable")
    groups = np.array_split(order, min(n_bins, len(order)))
    rows = []
    for number, idx in enumerate(groups, start=1):
        rows.append({
            "bin": number,
            "n": len(idx),
            "min_pd": float(p_arr[idx].min()),
            "max_pd": float(p_arr[idx].max()),
            "mean_pd": float(p_arr[idx].mean()),
            "bad_rate": float(y_arr[idx].mean()),
            "bads": int(y_arr[idx].sum()),
        })
    return pd.DataFrame(rows)


def calibration_error(y: object, pd_: object, n_bins: int = 10) -> float:
    """Expected calibration error: row-weighted mean ``|mean PD - bad rate|`` over deciles."""
    table = calibration_by_decile(y, pd_, n_bins)
    weights = table["n"] / table["n"].sum()
    return float((weights * (table["mean_pd"] - table["bad_rate"]).abs()).sum())


def classification_metrics(y: object, pd_: object) -> dict[str, float]:
    """The headline figures of a PD model on one sample.

    Returns
    -------
    dict
        ``auc``, ``gini`` (2 AUC - 1), ``ks``, ``brier``, ``log_loss``,
        ``calibration_error`` (decile ECE), ``bad_rate``, ``mean_pd``, ``n``.
    """
    y_arr, p_arr = _arrays(y, pd_)
    area = auc(y_arr, p_arr)
    clipped = np.clip(p_arr, _EPS, 1 - _EPS)
    return {
        "auc": area,
        "gini": 2 * area - 1,
        "ks": ks_statistic(y_arr, p_arr),
        "brier": float(brier_score_loss(y_arr, p_arr)),
        "log_loss": float(log_loss(y_arr, clipped, labels=[0, 1])),
        "calibration_error": calibration_error(y_arr, p_arr),
        "bad_rate": float(y_arr.mean()),
        "mean_pd": float(p_arr.mean()),
        "n": float(len(y_arr)),
    }


def cutoff_table(y: object, pd_: object,
                 approval_rates: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
                                                    0.9, 1.0)) -> pd.DataFrame:
    """Approval rate against bad rate when approving everyone below a PD cut-off.

    For each target approval rate the cut-off is the PD quantile that approves that share
    of the sample (applicants are approved when ``pd <= cutoff``; ties may approve a little
    more).

    Returns
    -------
    DataFrame
        ``cutoff_pd``, ``approval_rate``, ``approved``, ``approved_bad_rate``,
        ``rejected_bad_rate``, ``bads_rejected_share`` (share of all bads turned away).
    """
    y_arr, p_arr = _arrays(y, pd_)
    total_bads = y_arr.sum()
    rows = []
    for rate in approval_rates:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"approval rates must be in (0, 1]; got {rate}")
        cutoff = float(np.quantile(p_arr, rate, method="inverted_cdf"))
        approved = p_arr <= cutoff
        n_approved = int(approved.sum())
        rejected = ~approved
        rows.append({
            "cutoff_pd": cutoff,
            "approval_rate": n_approved / len(p_arr),
            "approved": n_approved,
            "approved_bad_rate": float(y_arr[approved].mean()) if n_approved else float("nan"),
            "rejected_bad_rate": float(y_arr[rejected].mean()) if rejected.any()
            else float("nan"),
            "bads_rejected_share": float(y_arr[rejected].sum() / total_bads) if total_bads
            else float("nan"),
        })
    return pd.DataFrame(rows)


def single_feature_aucs(table: pd.DataFrame, label: object) -> pd.Series:
    """AUC of each numeric or boolean column alone, in its better direction (missing
    values at the column's median), highest first; constant and categorical columns are
    left out. How much one feature alone says of the label (e.g. the synthetic
    marketplace's difficulty: no feature should come close to the true PD)."""
    result: dict[str, float] = {}
    for name in table.columns:
        column = table[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or not (
                pd.api.types.is_numeric_dtype(column.dtype)
                or pd.api.types.is_bool_dtype(column.dtype)):
            continue
        values = column.astype(float)
        values = values.fillna(values.median() if values.notna().any() else 0.0)
        if values.nunique() < 2:
            continue
        area = auc(label, values.to_numpy())
        result[str(name)] = max(area, 1.0 - area)
    return pd.Series(result, dtype=float).sort_values(ascending=False)


def auc_by_segment(y: object, pd_: object, segment: object) -> pd.DataFrame:
    """AUC, size and bad rate per segment (for example ``kind``: shop or factory).

    A segment with only goods or only bads has AUC ``nan``. Missing segment values form
    their own segment ``"(missing)"``.
    """
    y_arr, p_arr = _arrays(y, pd_)
    seg = pd.Series(segment).astype("string").fillna("(missing)").to_numpy()
    if len(seg) != len(y_arr):
        raise ValueError(f"segment has {len(seg)} values for {len(y_arr)} rows")
    rows = []
    for value in sorted(set(seg)):
        mask = seg == value
        rows.append({
            "segment": str(value),
            "n": int(mask.sum()),
            "bad_rate": float(y_arr[mask].mean()),
            "mean_pd": float(p_arr[mask].mean()),
            "auc": auc(y_arr[mask], p_arr[mask]),
        })
    return pd.DataFrame(rows)


def population_stability_index(expected: object, actual: object) -> float:
    """PSI between two distributions given as shares of the same bins.

    ``sum((actual - expected) * ln(actual / expected))``; shares are floored at 1e-4 so an
    empty bin counts as very different rather than infinite. Rule of thumb: below 0.1
    stable, 0.1 to 0.25 some shift, above 0.25 a significant shift.
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape:
        raise ValueError(f"PSI needs shares of the same bins; got {e.shape} and {a.shape}")
    e = np.clip(e, 1e-4, None)
    a = np.clip(a, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class ScoreReference:
    """The distribution of a numeric value on the training sample, for PSI later.

    ``edges`` are the interior bin edges (training deciles, duplicates removed); a value
    ``v`` falls in bin ``searchsorted(edges, v, side="right")``. ``shares`` has one entry
    per bin plus a last one for missing values.
    """

    edges: tuple[float, ...]
    shares: tuple[float, ...]

    @classmethod
    def fit(cls, values: object, n_bins: int = 10) -> ScoreReference:
        """Decile edges and shares of ``values`` (missing values get their own share)."""
        arr = np.asarray(values, dtype=float).ravel()
        present = arr[~np.isnan(arr)]
        if len(present):
            qs = np.quantile(present, np.linspace(0, 1, n_bins + 1)[1:-1])
            edges = tuple(float(q) for q in np.unique(qs))
        else:
            edges = ()
        return cls(edges, tuple(float(s) for s in cls._shares(edges, arr)))

    @staticmethod
    def _shares(edges: tuple[float, ...], arr: np.ndarray) -> np.ndarray:
        missing = np.isnan(arr)
        bins = np.searchsorted(np.asarray(edges, dtype=float), arr[~missing], side="right")
        counts = np.bincount(bins, minlength=len(edges) + 1).astype(float)
        counts = np.append(counts, float(missing.sum()))
        return counts / max(len(arr), 1)

    def shares_of(self, values: object) -> np.ndarray:
        """Shares of ``values`` in this reference's bins (last entry: missing)."""
        return self._shares(self.edges, np.asarray(values, dtype=float).ravel())

    def psi(self, values: object) -> float:
        """PSI of ``values`` against this reference."""
        return population_stability_index(self.shares, self.shares_of(values))

    def to_dict(self) -> dict[str, list[float]]:
        return {"edges": list(self.edges), "shares": list(self.shares)}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> ScoreReference:
        return cls(tuple(float(v) for v in data["edges"]),
                   tuple(float(v) for v in data["shares"]))


def logistic_reference(text: Sequence[str], numbers: Sequence[str], *, cs: int | None = 20,
                       max_iter: int = 5000) -> Pipeline:
    """The reference a model is compared with on a small credit table: the ``text`` columns
    one-hot encoded, the ``numbers`` standardised, and a logistic regression whose
    regularisation strength (``cs`` values) is chosen by a 5-fold inner cross-validation on
    AUC (scikit-learn's ``LogisticRegressionCV``); ``cs=None``: a plain logistic regression
    (scikit-learn's default strength). Unfitted."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    classifier = (LogisticRegression(max_iter=max_iter) if cs is None else
                  LogisticRegressionCV(Cs=cs, cv=5, scoring="roc_auc", max_iter=max_iter))
    return make_pipeline(
        ColumnTransformer([("text", OneHotEncoder(handle_unknown="ignore"), list(text)),
                           ("numbers", StandardScaler(), list(numbers))]),
        classifier)
