"""PNG plots of a model on one sample: ROC, calibration, KS, SHAP beeswarm, importance.

Plots are drawn with matplotlib's Agg backend (no display needed) and written as files;
each function returns the path it wrote.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from models.credit_model import BIAS_COLUMN, CreditModel  # noqa: E402
from models.evaluation import auc, calibration_by_decile, ks_statistic  # noqa: E402

__all__ = ["plot_roc", "plot_calibration", "plot_ks", "plot_shap_beeswarm",
           "plot_importance", "save_plots"]

_DPI = 100


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    return path


def plot_roc(y: np.ndarray, pd_: np.ndarray, path: Path) -> Path:
    """ROC curve with its AUC and Gini."""
    fpr, tpr, _ = roc_curve(y, pd_)
    area = auc(y, pd_)
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot(fpr, tpr, label=f"model (AUC {area:.3f}, Gini {2 * area - 1:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    ax.set_xlabel("false positive rate (goods flagged)")
    ax.set_ylabel("true positive rate (bads caught)")
    ax.set_title("ROC")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_calibration(y: np.ndarray, pd_: np.ndarray, path: Path) -> Path:
    """Observed bad rate against mean predicted PD by decile."""
    table = calibration_by_decile(y, pd_)
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    top = float(max(table["mean_pd"].max(), table["bad_rate"].max(), 1e-3)) * 1.05
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(table["mean_pd"], table["bad_rate"], marker="o", label="deciles")
    ax.set_xlabel("mean predicted PD")
    ax.set_ylabel("observed bad rate")
    ax.set_title("Calibration by decile")
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_ks(y: np.ndarray, pd_: np.ndarray, path: Path) -> Path:
    """Cumulative PD distributions of bads and goods, with the KS gap marked."""
    order = np.sort(np.unique(pd_))
    bads = np.sort(pd_[y == 1])
    goods = np.sort(pd_[y == 0])
    cdf_bad = np.searchsorted(bads, order, side="right") / max(len(bads), 1)
    cdf_good = np.searchsorted(goods, order, side="right") / max(len(goods), 1)
    gap = cdf_good - cdf_bad
    at = int(np.argmax(gap))
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.plot(order, cdf_good, label="goods")
    ax.plot(order, cdf_bad, label="bads")
    ax.vlines(order[at], cdf_bad[at], cdf_good[at], colors="black", linestyles=":",
              label=f"KS {ks_statistic(y, pd_):.3f}")
    ax.set_xlabel("predicted PD")
    ax.set_ylabel("cumulative share")
    ax.set_title("KS")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_importance(model: CreditModel, path: Path, top: int = 20) -> Path:
    """Gain importance of the ``top`` features."""
    gain = model.feature_importance("gain").head(top)[::-1]
    fig = Figure(figsize=(6, max(2.5, 0.3 * len(gain) + 1)))
    ax = fig.subplots()
    ax.barh(gain.index.astype(str), gain.to_numpy())
    ax.set_xlabel("total gain")
    ax.set_title("Feature importance")
    return _save(fig, path)


def plot_shap_beeswarm(model: CreditModel, X: pd.DataFrame, path: Path,
                       max_rows: int = 2000, seed: int = 0) -> Path:
    """SHAP summary (beeswarm) of the raw log-odds contributions on up to ``max_rows``.

    Colours show the feature value (categorical features: their level code).
    """
    import shap

    sample = X.sample(n=min(max_rows, len(X)), random_state=seed) if len(X) > max_rows else X
    contrib = model.explain(sample).drop(columns=[BIAS_COLUMN])
    values = model.to_matrix(sample)
    shap.summary_plot(contrib.to_numpy(), features=values,
                      feature_names=[str(n) for n in model.feature_names_in_],
                      max_display=20, show=False, plot_size=(7.0, 6.0))
    fig = plt.gcf()
    fig.suptitle("SHAP contributions (raw log-odds)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def save_plots(model: CreditModel, X: pd.DataFrame, y: np.ndarray, folder: Path,
               ) -> list[Path]:
    """All five plots of ``model`` on sample ``(X, y)`` into ``folder``."""
    y_arr = np.asarray(y, dtype=float)
    pd_ = model.predict_pd(X)
    return [
        plot_roc(y_arr, pd_, folder / "roc.png"),
        plot_calibration(y_arr, pd_, folder / "calibration.png"),
        plot_ks(y_arr, pd_, folder / "ks.png"),
        plot_shap_beeswarm(model, X, folder / "shap_beeswarm.png"),
        plot_importance(model, folder / "importance.png"),
    ]
