"""How good a probability of default is: discrimination, calibration, stability.

Every function takes the observed label ``y`` (1 = default) and a predicted probability of
default ``pd_`` (or any score where higher means riskier, for the rank-based figures) and
returns plain numbers or small DataFrames, so the same code serves the training report,
the model card, the promotion gates and the scoring service's stability checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

__all__ = [
    "ScoreReference",
    "auc",
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
