"""Backtests: a model's PDs against the outcomes of the decisions it would have scored, and
the book's delinquency through time (vintage curves, roll rates).

Everything here is plain pandas, numpy, scikit-learn, scipy and matplotlib on tables the
caller provides; loading the model, reading the ledger and logging to MLflow are the
command line's (``sme-credit backtest``).

The figures
-----------
- **Discrimination and accuracy** on the labelled decisions (``y`` 1 = default within the
  label window): AUC, Gini, KS, Brier score, log loss, decile calibration error, bad rate
  and mean PD (:func:`models.evaluation.classification_metrics`).
- **By grade**: per grade of the PD (the grade bands the scorer uses), the number of
  decisions, the mean predicted PD, the observed default rate and its **Jeffreys 95 %
  interval**: the quantiles of Beta(0.5 + bads, 0.5 + goods), with the lower bound 0 when
  there is no bad and the upper bound 1 when every decision is bad (the usual convention,
  which keeps the coverage near 95 % at the edges). A grade whose mean PD lies outside its
  interval is mis-calibrated beyond what chance explains.
- **Vintage curves** (:func:`vintage_curves`): lines grouped by the month they opened
  (the vintage); for each number of months on book, the share of the vintage's lines that
  have *ever* been 30+ (bucket ``31-60`` or worse, or written off) and ever 90+ (bucket
  ``90+`` or written off) by then. A line that closes keeps the status it reached; a curve
  stops at the vintage's last observed month. Later vintages above earlier ones at the same
  age mean the book is getting worse.
- **Roll rates** (:func:`roll_rates`): of the lines in a bucket at one month end, the share
  in each bucket at the next month end (rows sum to 1): ``current -> 1-30`` is the entry
  rate into delinquency, ``61-90 -> 90+`` how many roll on to default, and the columns to
  the left of the diagonal are the cures.
- **Champion against challenger on the same applicants** (:func:`compare_shadow`): the
  service scores every decision with the challenger too, in the shadow (stored, never
  acted on), so a labels table holds both PDs of the same live decisions (``pd`` and
  ``shadow_pd``). On the rows that have both, per challenger version: AUC, Gini, KS,
  Brier and log loss of each, and the paired differences (challenger minus champion) with
  95 % intervals: DeLong's for the AUC, the normal interval of the mean row-wise
  difference for the Brier score and log loss. Paired, because the same applicants are
  scored by both: the interval is much narrower than comparing two separate samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402 - the backend must be chosen first
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.stats import beta  # noqa: E402

from models.evaluation import (  # noqa: E402
    classification_metrics,
    paired_auc_difference,
    paired_loss_difference,
)

__all__ = [
    "BUCKETS",
    "NINETY_PLUS",
    "PANEL_COLUMNS",
    "THIRTY_PLUS",
    "Backtest",
    "ShadowComparison",
    "ShadowPair",
    "backtest",
    "compare_shadow",
    "by_grade",
    "grades_of",
    "jeffreys_interval",
    "plot_by_grade",
    "plot_roll_rates",
    "plot_vintage_curves",
    "roll_rate_counts",
    "roll_rates",
    "vintage_curves",
]

#: Delinquency buckets of a line at a month end, from best to worst.
BUCKETS: tuple[str, ...] = ("current", "1-30", "31-60", "61-90", "90+", "written_off")
#: Buckets that count as "30+" (more than 30 days past due) in a vintage curve.
THIRTY_PLUS: tuple[str, ...] = ("31-60", "61-90", "90+", "written_off")
#: Buckets that count as "90+" (more than 90 days past due: default) in a vintage curve.
NINETY_PLUS: tuple[str, ...] = ("90+", "written_off")
#: Columns a line-month panel needs (``lending.persistence.history.line_month_panel``).
PANEL_COLUMNS: tuple[str, ...] = ("line_id", "opened_on", "month", "months_on_book",
                                  "bucket")

_DPI = 100


# ------------------------------------------------------------------ by grade
def jeffreys_interval(bads: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Jeffreys interval of a default rate observed as ``bads`` out of ``n``.

    The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of Beta(0.5 + bads,
    0.5 + n - bads); the lower bound is 0 when ``bads == 0`` and the upper bound 1 when
    ``bads == n``.

    Raises
    ------
    ValueError
        When the counts are impossible or ``level`` is not in (0, 1).
    """
    if not 0 <= bads <= n:
        raise ValueError(f"need 0 <= bads <= n; got bads={bads}, n={n}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level}")
    tail = (1.0 - level) / 2.0
    a, b = 0.5 + bads, 0.5 + n - bads
    lower = 0.0 if bads == 0 else float(beta.ppf(tail, a, b))
    upper = 1.0 if bads == n else float(beta.ppf(1.0 - tail, a, b))
    return lower, upper


def grades_of(pd_: object, upper_pd: Sequence[float], labels: Sequence[str]) -> np.ndarray:
    """The grade of each PD: ``labels[i]`` when the PD is at or below ``upper_pd[i]`` (and
    above the bound before), the last label above the last bound; as the scorer grades."""
    if len(labels) != len(upper_pd) + 1:
        raise ValueError(f"grade bands need one label more than bounds; got {len(labels)} "
                         f"labels for {len(upper_pd)} bounds")
    values = np.asarray(pd_, dtype=float)
    positions = np.searchsorted(np.asarray(upper_pd, dtype=float), values, side="left")
    return np.asarray(labels, dtype=object)[positions]


def by_grade(y: object, pd_: object, grades: object, order: Sequence[str],
             level: float = 0.95) -> pd.DataFrame:
    """Predicted PD against the observed default rate per grade, with its interval.

    Parameters
    ----------
    y : 1 = default, 0 = not.
    pd_ : predicted PD per row.
    grades : grade per row.
    order : the grades to report, in this order (every one, empty or not); a grade seen in
        ``grades`` but not in ``order`` is added after them.
    level : of the Jeffreys interval.

    Returns
    -------
    DataFrame
        ``grade``, ``n``, ``bads``, ``predicted_pd`` (mean PD), ``observed_rate``,
        ``lower``, ``upper``; rates are NaN for an empty grade (its interval is [0, 1]).
    """
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(pd_, dtype=float)
    g_arr = np.asarray(grades, dtype=object).astype(str)
    if not len(y_arr) == len(p_arr) == len(g_arr):
        raise ValueError(f"y, pd_ and grades differ in length: {len(y_arr)}, {len(p_arr)}, "
                         f"{len(g_arr)}")
    names = [str(g) for g in order]
    names += sorted(set(g_arr) - set(names))
    rows = []
    for grade in names:
        mask = g_arr == grade
        n = int(mask.sum())
        bads = int(y_arr[mask].sum())
        lower, upper = jeffreys_interval(bads, n, level)
        rows.append({"grade": grade, "n": n, "bads": bads,
                     "predicted_pd": float(p_arr[mask].mean()) if n else math.nan,
                     "observed_rate": bads / n if n else math.nan,
                     "lower": lower, "upper": upper})
    return pd.DataFrame(rows, columns=["grade", "n", "bads", "predicted_pd", "observed_rate",
                                       "lower", "upper"])


# ------------------------------------------------------------------- backtest
@dataclass
class Backtest:
    """A model's PDs against observed outcomes.

    Attributes
    ----------
    metrics : :func:`models.evaluation.classification_metrics` of the model's PDs
        (``auc``, ``gini``, ``ks``, ``brier``, ``log_loss``, ``calibration_error``,
        ``bad_rate``, ``mean_pd``, ``n``).
    grades : :func:`by_grade` of the model's PDs and grades.
    predicted_pd : the model's PD per row.
    as_decided_metrics, as_decided_grades : the same figures of the PD and grade stored
        with each decision (the model that decided), when the table has them.
    """

    metrics: dict[str, float]
    grades: pd.DataFrame
    predicted_pd: np.ndarray
    as_decided_metrics: dict[str, float] | None = None
    as_decided_grades: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (NaN as ``None``): the metrics at the top level, ``by_grade`` and,
        when known, ``as_decided``."""
        out: dict[str, Any] = {k: _plain(v) for k, v in self.metrics.items()}
        out["n"] = int(self.metrics["n"])
        out["by_grade"] = _records(self.grades)
        if self.as_decided_metrics is not None and self.as_decided_grades is not None:
            decided: dict[str, Any] = {k: _plain(v) for k, v in
                                       self.as_decided_metrics.items()}
            decided["n"] = int(self.as_decided_metrics["n"])
            decided["by_grade"] = _records(self.as_decided_grades)
            out["as_decided"] = decided
        else:
            out["as_decided"] = None
        out.update(self.extra)
        return out


def backtest(model: Any, table: pd.DataFrame, *, label: str = "label",
             upper_pd: Sequence[float], grade_labels: Sequence[str],
             decided_pd: str | None = "pd", decided_grade: str | None = "grade",
             level: float = 0.95) -> Backtest:
    """Score the labelled rows of ``table`` with ``model`` and compare with the outcomes.

    Parameters
    ----------
    model : anything with ``predict_pd(frame)`` (a :class:`models.CreditModel`).
    table : one row per decision: the model's feature columns and ``label``.
    label : the outcome column (1 = default within the window, 0 = observed without).
    upper_pd, grade_labels : the grade bands (``scoring.config.GradeBands``).
    decided_pd, decided_grade : columns holding the PD and grade given at the decision;
        when both are present the same figures are computed on them (``as_decided``).
    level : of the Jeffreys intervals.

    Raises
    ------
    ValueError
        No label column, labels that are not 0/1, no rows, or a feature the model needs
        missing (named).
    """
    if label not in table.columns:
        raise ValueError(f"the table has no label column {label!r}")
    if len(table) == 0:
        raise ValueError("the table has no rows to backtest")
    y = _labels(table[label], label)
    pd_ = np.asarray(model.predict_pd(table), dtype=float)
    result = Backtest(classification_metrics(y, pd_),
                      by_grade(y, pd_, grades_of(pd_, upper_pd, grade_labels), grade_labels,
                               level), pd_)
    if decided_pd and decided_grade and decided_pd in table.columns \
            and decided_grade in table.columns:
        stored = pd.to_numeric(table[decided_pd], errors="coerce").to_numpy(dtype=float)
        known = np.isfinite(stored) & table[decided_grade].notna().to_numpy()
        if known.any():
            result.as_decided_metrics = classification_metrics(y[known], stored[known])
            result.as_decided_grades = by_grade(
                y[known], stored[known], table[decided_grade].to_numpy()[known],
                grade_labels, level)
    return result


def _labels(column: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=float)
    values = pd.to_numeric(column, errors="coerce")
    if values.isna().any() or not values.isin([0, 1]).all():
        seen = sorted({str(v) for v in column.unique()[:5]})
        raise ValueError(f"label column {name!r} must hold 0 or 1 (1 = default) without "
                         f"missing values; got {seen}")
    return values.to_numpy(dtype=float)


# ------------------------------------------------- champion against challenger
#: Figures of each model reported in a shadow comparison.
_PAIR_METRICS = ("auc", "gini", "ks", "brier", "log_loss", "calibration_error", "mean_pd")


@dataclass(frozen=True)
class ShadowPair:
    """The champion's and one challenger version's PDs of the same labelled decisions.

    Attributes
    ----------
    challenger_version : the challenger version that scored these decisions in the shadow.
    champion_versions : the champion version(s) that made them, with their counts.
    n, bads : decisions compared and the defaults among them.
    champion, challenger : AUC, Gini, KS, Brier, log loss, calibration error and mean PD
        of each on these rows.
    difference : challenger minus champion: ``auc`` (DeLong's interval ``auc_lower`` /
        ``auc_upper``, ``auc_se``), ``brier`` and ``log_loss`` (normal intervals of the
        mean row-wise difference, ``*_lower`` / ``*_upper`` / ``*_se``) and ``ks`` (the
        point difference only). Intervals are NaN when one class is missing.
    """

    challenger_version: str
    champion_versions: dict[str, int]
    n: int
    bads: int
    champion: dict[str, float]
    challenger: dict[str, float]
    difference: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (NaN as ``None``)."""
        return {"challenger_version": self.challenger_version,
                "champion_versions": dict(self.champion_versions), "n": self.n,
                "bads": self.bads,
                "champion": {k: _plain(v) for k, v in self.champion.items()},
                "challenger": {k: _plain(v) for k, v in self.challenger.items()},
                "difference": {k: _plain(v) for k, v in self.difference.items()}}


@dataclass(frozen=True)
class ShadowComparison:
    """Champion against challenger on the labelled decisions scored by both.

    ``rows`` labelled decisions were read, ``rows_with_both`` had a shadow score;
    ``pairs`` holds one comparison per challenger version, most decisions first.
    """

    rows: int
    rows_with_both: int
    level: float
    pairs: tuple[ShadowPair, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: what ``backtest.json`` holds under ``shadow_comparison``."""
        return {"rows": self.rows, "rows_with_both": self.rows_with_both,
                "rows_without_shadow": self.rows - self.rows_with_both, "level": self.level,
                "difference_is": "challenger minus champion",
                "pairs": [pair.to_dict() for pair in self.pairs]}


def compare_shadow(table: pd.DataFrame, *, label: str = "label", champion_pd: str = "pd",
                   challenger_pd: str = "shadow_pd",
                   challenger_version: str = "shadow_model_version",
                   champion_version: str = "model_version",
                   level: float = 0.95) -> ShadowComparison:
    """Compare the champion's and the challenger's PDs of the same labelled decisions.

    Parameters
    ----------
    table : a labels table (``sme-credit labels``): one row per decision with ``label``,
        the champion's PD as decided and the challenger's shadow PD and version (empty
        where no challenger scored the decision).
    label, champion_pd, challenger_pd, challenger_version, champion_version : columns.
    level : of the intervals of the differences.

    Raises
    ------
    ValueError
        A column is missing (named), labels that are not 0/1, or no row has both PDs.
    """
    missing = [c for c in (label, champion_pd, challenger_pd, challenger_version)
               if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks the column(s) {', '.join(missing)} (a labels "
                         "table written before shadow scoring? run sme-credit labels again)")
    y_all = _labels(table[label], label)
    champion = pd.to_numeric(table[champion_pd], errors="coerce").to_numpy(dtype=float)
    challenger = pd.to_numeric(table[challenger_pd], errors="coerce").to_numpy(dtype=float)
    versions = table[challenger_version].astype("string")
    both = np.isfinite(champion) & np.isfinite(challenger) & versions.notna().to_numpy()
    if not both.any():
        raise ValueError(f"no decision of the {len(table):,} has both the champion's and a "
                         "challenger's PD (was a challenger registered while they were made?)")
    champions = (table[champion_version].astype(str) if champion_version in table.columns
                 else pd.Series("?", index=table.index))
    pairs = []
    for version in pd.unique(versions[both]):
        rows = both & (versions == version).fillna(False).to_numpy()
        pairs.append(_pair(str(version), y_all[rows], champion[rows], challenger[rows],
                           champions[rows].value_counts().to_dict(), level))
    pairs.sort(key=lambda pair: (-pair.n, pair.challenger_version))
    return ShadowComparison(len(table), int(both.sum()), level, tuple(pairs))


def _pair(version: str, y: np.ndarray, champion: np.ndarray, challenger: np.ndarray,
          champion_versions: dict[Any, int], level: float) -> ShadowPair:
    figures = {name: classification_metrics(y, pd_) for name, pd_ in
               (("champion", champion), ("challenger", challenger))}
    difference = {name: figures["challenger"][name] - figures["champion"][name]
                  for name in ("auc", "ks", "brier", "log_loss")}
    nan = math.nan
    difference.update(auc_se=nan, auc_lower=nan, auc_upper=nan)
    if 0 < y.sum() < len(y):
        auc = paired_auc_difference(y, challenger, champion, level)
        difference.update(auc=auc.difference, auc_se=auc.standard_error,
                          auc_lower=auc.lower, auc_upper=auc.upper)
    for loss in ("brier", "log_loss"):
        compared = paired_loss_difference(y, challenger, champion, loss, level)
        difference.update({loss: compared.difference, f"{loss}_se": compared.standard_error,
                           f"{loss}_lower": compared.lower, f"{loss}_upper": compared.upper})
    return ShadowPair(version, {str(k): int(v) for k, v in champion_versions.items()},
                      len(y), int(y.sum()),
                      {k: figures["champion"][k] for k in _PAIR_METRICS},
                      {k: figures["challenger"][k] for k in _PAIR_METRICS}, difference)


# --------------------------------------------------------------- the panel
def _check_panel(panel: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PANEL_COLUMNS if c not in panel.columns]
    if missing:
        raise ValueError(f"the line-month panel lacks column(s): {', '.join(missing)}")
    unknown = sorted(set(panel["bucket"].dropna().astype(str)) - set(BUCKETS))
    if unknown:
        raise ValueError(f"the line-month panel has unknown bucket(s) {unknown}; expected "
                         f"{list(BUCKETS)}")
    return panel


def _vintage_labels(opened_on: pd.Series) -> pd.Series:
    opened = pd.to_datetime(opened_on)
    if getattr(opened.dt, "tz", None) is not None:
        opened = opened.dt.tz_localize(None)
    return opened.dt.strftime("%Y-%m")


def vintage_curves(panel: pd.DataFrame) -> pd.DataFrame:
    """Cumulative shares of lines ever 30+ and ever 90+ by months on book, per vintage.

    Parameters
    ----------
    panel : one row per line and month end: ``line_id``, ``opened_on``, ``month``,
        ``months_on_book`` (0 = the opening month), ``bucket`` (:data:`BUCKETS`).

    Returns
    -------
    DataFrame
        ``vintage`` (opening month, ``YYYY-MM``), ``months_on_book``, ``lines`` (lines
        opened in the vintage), ``ever_30``, ``ever_90`` (lines that have been 30+ / 90+ at
        or before that age) and ``ever_30_rate``, ``ever_90_rate`` (shares of ``lines``);
        one row per vintage and age from 0 to the vintage's last observed age.
    """
    _check_panel(panel)
    columns = ["vintage", "months_on_book", "lines", "ever_30", "ever_90", "ever_30_rate",
               "ever_90_rate"]
    if panel.empty:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame({
        "line_id": panel["line_id"].to_numpy(),
        "vintage": _vintage_labels(panel["opened_on"]).to_numpy(),
        "mob": panel["months_on_book"].astype(int).to_numpy(),
        "bucket": panel["bucket"].astype(str).to_numpy(),
    })
    mob_30 = frame["mob"].where(frame["bucket"].isin(THIRTY_PLUS))
    mob_90 = frame["mob"].where(frame["bucket"].isin(NINETY_PLUS))
    lines = frame.assign(first_30=mob_30, first_90=mob_90).groupby("line_id").agg(
        vintage=("vintage", "first"), last_mob=("mob", "max"), first_30=("first_30", "min"),
        first_90=("first_90", "min"))
    rows = []
    for vintage, part in lines.groupby("vintage", sort=True):
        count = len(part)
        first_30 = part["first_30"].to_numpy(dtype=float)
        first_90 = part["first_90"].to_numpy(dtype=float)
        for age in range(int(part["last_mob"].max()) + 1):
            ever_30 = int((first_30 <= age).sum())  # NaN (never) compares False
            ever_90 = int((first_90 <= age).sum())
            rows.append({"vintage": str(vintage), "months_on_book": age, "lines": count,
                         "ever_30": ever_30, "ever_90": ever_90,
                         "ever_30_rate": ever_30 / count, "ever_90_rate": ever_90 / count})
    return pd.DataFrame(rows, columns=columns)


def _transitions(panel: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({
        "line_id": panel["line_id"].to_numpy(),
        "month": pd.to_datetime(panel["month"]).to_numpy(),
        "mob": panel["months_on_book"].astype(int).to_numpy(),
        "bucket": panel["bucket"].astype(str).to_numpy(),
    }).sort_values(["line_id", "mob"], kind="stable")
    following = frame.groupby("line_id", sort=False).shift(-1)
    consecutive = (following["mob"] == frame["mob"] + 1).to_numpy()
    return pd.DataFrame({"month": following["month"].to_numpy()[consecutive],
                         "from_bucket": frame["bucket"].to_numpy()[consecutive],
                         "to_bucket": following["bucket"].to_numpy()[consecutive]})


def roll_rate_counts(panel: pd.DataFrame) -> pd.DataFrame:
    """Month-to-month moves between buckets, counted: one row per (month, from, to).

    A move pairs a line's bucket at one month end with its bucket at the next month end
    (consecutive months on book of the same line). ``month`` is the later month end.

    Returns
    -------
    DataFrame
        ``month``, ``from_bucket``, ``to_bucket``, ``lines``, ``share`` (of the lines in
        ``from_bucket`` at the earlier month end that moved to ``to_bucket``).
    """
    _check_panel(panel)
    moves = _transitions(panel)
    columns = ["month", "from_bucket", "to_bucket", "lines", "share"]
    if moves.empty:
        return pd.DataFrame(columns=columns)
    counts = pd.DataFrame(
        moves.groupby(["month", "from_bucket", "to_bucket"]).size().rename("lines")
    ).reset_index()
    totals = counts.groupby(["month", "from_bucket"])["lines"].transform("sum")
    counts["share"] = counts["lines"] / totals
    rank = {b: i for i, b in enumerate(BUCKETS)}
    counts["_from"] = counts["from_bucket"].map(rank)
    counts["_to"] = counts["to_bucket"].map(rank)
    counts = counts.sort_values(["month", "_from", "_to"], kind="stable")
    return counts[columns].reset_index(drop=True)


def roll_rates(panel: pd.DataFrame) -> pd.DataFrame:
    """The roll-rate matrix over every pair of consecutive month ends of the panel.

    Returns
    -------
    DataFrame
        Index ``from_bucket`` and one column per ``to`` bucket (:data:`BUCKETS` order):
        the share of the lines in the row's bucket at a month end that are in the column's
        bucket at the next (each row sums to 1; NaN for a bucket no line was in), and a last
        column ``lines``: the moves counted from that bucket.
    """
    _check_panel(panel)
    moves = _transitions(panel)
    counts = pd.crosstab(pd.Categorical(moves["from_bucket"], categories=BUCKETS),
                         pd.Categorical(moves["to_bucket"], categories=BUCKETS),
                         dropna=False).reindex(index=list(BUCKETS), columns=list(BUCKETS),
                                               fill_value=0)
    lines = counts.sum(axis=1)
    shares = counts.div(lines.where(lines > 0), axis=0).astype(float)
    shares.index.name = "from_bucket"
    shares.columns = list(BUCKETS)
    shares["lines"] = lines.astype(int).to_numpy()
    return shares


# ------------------------------------------------------------------- charts
def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    return path


def plot_by_grade(grades: pd.DataFrame, path: Path, title: str = "PD against outcomes "
                  "by grade") -> Path:
    """Mean predicted PD and observed default rate (with its interval) per grade."""
    shown = grades[grades["n"] > 0]
    x = np.arange(len(shown))
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    observed = shown["observed_rate"].to_numpy(dtype=float)
    errors = np.vstack([observed - shown["lower"].to_numpy(dtype=float),
                        shown["upper"].to_numpy(dtype=float) - observed])
    ax.errorbar(x, observed, yerr=errors, fmt="o", capsize=4,
                label="observed rate (Jeffreys 95 %)")
    ax.scatter(x, shown["predicted_pd"], marker="x", color="black", zorder=3,
               label="mean predicted PD")
    ax.set_xticks(x, [f"{g}\n(n={n:,})" for g, n in zip(shown["grade"], shown["n"],
                                                          strict=True)])
    ax.set_xlabel("grade")
    ax.set_ylabel("default rate")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_vintage_curves(curves: pd.DataFrame, path: Path) -> Path:
    """Ever 30+ and ever 90+ shares by months on book, one line per vintage."""
    fig = Figure(figsize=(10, 4.5))
    axes = fig.subplots(1, 2, sharex=True)
    vintages = sorted(curves["vintage"].unique()) if not curves.empty else []
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, max(len(vintages), 1)))
    for ax, column, what in ((axes[0], "ever_30_rate", "ever 30+"),
                             (axes[1], "ever_90_rate", "ever 90+")):
        for colour, vintage in zip(colours, vintages, strict=False):
            part = curves[curves["vintage"] == vintage]
            ax.plot(part["months_on_book"], part[column], marker=".", color=colour,
                    label=str(vintage))
        ax.set_xlabel("months on book")
        ax.set_ylabel(f"share of the vintage's lines {what}")
        ax.set_title(f"Vintage curves: {what}")
    if 0 < len(vintages) <= 24:
        axes[1].legend(title="opened", loc="upper left", fontsize="small")
    return _save(fig, path)


def plot_roll_rates(matrix: pd.DataFrame, path: Path) -> Path:
    """The roll-rate matrix as a heat map with the shares written in."""
    shares = matrix[list(BUCKETS)].to_numpy(dtype=float)
    fig = Figure(figsize=(7, 5.5))
    ax = fig.subplots()
    image = ax.imshow(np.nan_to_num(shares, nan=0.0), cmap="Reds", vmin=0.0, vmax=1.0)
    for i in range(shares.shape[0]):
        for j in range(shares.shape[1]):
            if np.isfinite(shares[i, j]):
                ax.text(j, i, f"{shares[i, j]:.0%}", ha="center", va="center",
                        color="white" if shares[i, j] > 0.6 else "black", fontsize=8)
    ax.set_xticks(range(len(BUCKETS)), list(BUCKETS), rotation=30)
    ax.set_yticks(range(len(BUCKETS)),
                  [f"{b} (n={n:,})" for b, n in zip(BUCKETS, matrix["lines"], strict=True)])
    ax.set_xlabel("bucket at the next month end")
    ax.set_ylabel("bucket at a month end")
    ax.set_title("Roll rates, month to month")
    fig.colorbar(image, ax=ax, label="share of the row's lines")
    return _save(fig, path)


# ------------------------------------------------------------------ helpers
def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]
