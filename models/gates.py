"""The champion/challenger promotion gates: statistics only, no MLflow.

:func:`judge` scores a challenger (and the current champion, when there is one) on a
labelled sample neither has trained on and returns every gate with its figure. The
registry (:func:`models.registry.promote`) chooses the sample, loads the models, moves
the alias and records the verdict; this module decides.

The gates
---------
- **Serving features.** Every challenger feature is one the serving pipeline supplies: a
  feature of the registry (:data:`features.registry.FEATURES`, which describes every column
  the snapshot builder produces), a column stored with the latest decisions, or a column the
  champion is served with today (the scorer refuses an applicant without one, so a champion
  in service proves the pipeline supplies them), of the same kind (numeric or categorical)
  as the champion's. Without a champion it only warns: a first model on a table of its own
  (a labels table, a public data set) may be promoted, but the service's scorer will refuse
  applicants whose snapshot lacks its columns.
- **AUC non-inferiority** (with a champion). DeLong's paired interval of
  ``AUC(challenger) - AUC(champion)`` on the same rows (:func:`paired_auc_difference`,
  Sun & Xu's O(n log n) algorithm); the gate passes when its lower bound at ``confidence``
  (two-sided) is above ``-auc_margin``. Both AUCs are of the **raw score** (the booster's
  log-odds before calibration), never of calibrated PDs, which a step calibration ties.
- **Brier score and log loss** (with a champion). The paired interval of the mean row-wise
  difference; the gate passes when its upper bound is at most ``max_relative_loss_increase``
  of the champion's value.
- **Calibration in the large** and **by grade**. The challenger's mean PD against the
  Jeffreys interval of the observed default rate (:func:`models.backtest.by_grade`), over
  the whole sample and in every grade (the scorer's bands). The grade intervals share
  ``calibration_level`` (Bonferroni: each at ``1 - (1 - level) / k`` for ``k`` non-empty
  grades), so a well-calibrated model fails by chance at most ``1 - level`` of the time. A
  grade fails when its mean PD is outside the interval **and** off the observed rate by more
  than the factor ``1 + calibration_materiality`` (both ways): PDs doubled or halved fail,
  a miss that is significant only because the sample is huge does not.
- **Decile calibration error** (row-weighted mean ``|PD - bad rate|`` over PD deciles) at
  most ``max_calibration_error``: a coarse bound kept beside the intervals.
- **Score PSI** of the challenger's raw score on the latest applicants the service decided
  on (when given) against its training scores, below ``max_psi``; without them, of the
  sample (a note says so: a hash hold-out is split from the same table as the training rows,
  so that PSI shows little). When the applicants come with those of the challenger's
  training window (:attr:`RecentApplicants.reference`, every decision of that window,
  approved or declined: :func:`applicants_of_training_window`), the base is the
  challenger's scores of them instead: a challenger trained on the ledger's labels learnt
  from the approved sellers only, while the latest applicants are the whole
  through-the-door population, so against its training scores the PSI measures the
  champion's selection, not a shift of the population.
- **Fairness** (a warning, never a rejection). Approval rates, adverse impact ratios and
  calibration by segment (seller kind, industry, region, tenure) of the challenger and the
  champion (:func:`models.fairness.fairness_report`, thresholds ``GateConfig.fairness``);
  it warns when a segment of at least ``min_segment_size`` applicants has an AIR below
  ``min_air`` or its mean PD outside its Jeffreys interval.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from models.backtest import by_grade, grades_of
from models.credit_model import CreditModel
from models.evaluation import (
    ScoreReference,
    auc,
    classification_metrics,
    ks_statistic,
    paired_auc_difference,
    paired_loss_difference,
)
from models.fairness import FairnessConfig, fairness_report

__all__ = [
    "Gate",
    "GateConfig",
    "GateOutcome",
    "MIN_WINDOW_APPLICANTS",
    "PromotionResult",
    "RecentApplicants",
    "applicants_of_training_window",
    "training_window",
    "calibration_table",
    "judge",
    "serving_feature_gate",
]


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the champion/challenger gates (see the module's description).

    Parameters
    ----------
    auc_margin : non-inferiority margin: the lower bound of the interval of
        ``AUC(challenger) - AUC(champion)`` must be above ``-auc_margin``.
    confidence : two-sided level of the AUC, Brier and log-loss intervals.
    max_relative_loss_increase : the upper bound of the Brier (and log-loss) difference
        may be at most this share of the champion's value.
    calibration_level : family-wise level of the Jeffreys intervals by grade (and the
        level of the interval of the whole sample).
    calibration_materiality : a grade's mean PD off its observed rate by a factor within
        ``1 + calibration_materiality`` (either way) never fails.
    max_calibration_error : bound of the decile calibration error.
    max_psi : the score PSI must be below this.
    grade_upper_pd, grade_labels : the scorer's grade bands (``scoring.config.GradeBands``).
    min_sample_defaults : the comparison is restricted to the rows both models held out
        when that part holds at least this many defaults and non-defaults.
    fairness : thresholds of the fairness warning; its approval rule's grade bands are
        replaced by ``grade_upper_pd`` and ``grade_labels`` in :func:`judge`.
    """

    auc_margin: float = 0.005
    confidence: float = 0.95
    max_relative_loss_increase: float = 0.02
    calibration_level: float = 0.95
    calibration_materiality: float = 0.25
    max_calibration_error: float = 0.05
    max_psi: float = 0.25
    grade_upper_pd: tuple[float, ...] = (0.01, 0.025, 0.05, 0.10)
    grade_labels: tuple[str, ...] = ("A", "B", "C", "D", "E")
    min_sample_defaults: int = 20
    fairness: FairnessConfig = field(default_factory=FairnessConfig)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first threshold out of range."""
        if not 0.0 <= self.auc_margin < 0.5:
            raise ValueError(f"auc_margin must be in [0, 0.5); got {self.auc_margin}")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"confidence must be in [0.5, 1); got {self.confidence}")
        if not 0.0 <= self.max_relative_loss_increase < 1.0:
            raise ValueError("max_relative_loss_increase must be in [0, 1); got "
                             f"{self.max_relative_loss_increase}")
        if not 0.5 <= self.calibration_level < 1.0:
            raise ValueError("calibration_level must be in [0.5, 1); got "
                             f"{self.calibration_level}")
        if self.calibration_materiality < 0:
            raise ValueError("calibration_materiality must be >= 0; got "
                             f"{self.calibration_materiality}")
        if not 0.0 < self.max_calibration_error <= 1.0:
            raise ValueError("max_calibration_error must be in (0, 1]; got "
                             f"{self.max_calibration_error}")
        if self.max_psi <= 0:
            raise ValueError(f"max_psi must be > 0; got {self.max_psi}")
        if len(self.grade_labels) != len(self.grade_upper_pd) + 1:
            raise ValueError(f"grade_labels needs one label more than grade_upper_pd; got "
                             f"{len(self.grade_labels)} and {len(self.grade_upper_pd)}")
        if list(self.grade_upper_pd) != sorted(set(self.grade_upper_pd)):
            raise ValueError(f"grade_upper_pd must increase; got {self.grade_upper_pd}")
        if self.min_sample_defaults < 1:
            raise ValueError(f"min_sample_defaults must be >= 1; got "
                             f"{self.min_sample_defaults}")
        self.fairness.check()


@dataclass(frozen=True)
class Gate:
    """One promotion gate: its figure, the bound and whether it passed.

    A gate that is not ``blocking`` is a warning: shown and recorded, never a rejection.
    """

    name: str
    passed: bool
    value: float | None
    bound: str
    detail: str = ""
    blocking: bool = True


#: Fewest applicants of the challenger's training window that replace its training scores
#: as the base of the score PSI (fewer make a reference of noise).
MIN_WINDOW_APPLICANTS = 100


@dataclass(frozen=True)
class RecentApplicants:
    """Feature values of the latest applicants the service decided on (the base of the
    score PSI) and where they came from.

    ``reference``, when given, holds the feature values of every applicant decided in the
    challenger's training window (approved and declined, through the door: see
    :func:`applicants_of_training_window`); the score PSI then compares the challenger's
    scores of the latest applicants with its scores of those, not with its training
    scores. ``read_window``, when given instead, reads them: called with the first and
    last time (UTC) of the challenger's training rows, it returns the feature values of
    the applicants decided between them (an empty frame when there are none)."""

    features: pd.DataFrame
    source: str
    reference: pd.DataFrame | None = None
    read_window: Callable[[pd.Timestamp, pd.Timestamp], pd.DataFrame] | None = None

    def reference_for(self, challenger: CreditModel) -> pd.DataFrame | None:
        """The applicants of ``challenger``'s training window (``None``: not known)."""
        if self.reference is not None:
            return self.reference
        window = training_window(challenger)
        if self.read_window is None or window is None:
            return None
        return self.read_window(*window)


def training_window(model: CreditModel) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first and last time (UTC) of the model's training rows, from
    ``metadata_["training"]["windows"]["train"]`` (``None``: trained without a time
    column)."""
    windows = (model.metadata_ or {}).get("training", {}).get("windows", {})
    window = windows.get("train") or []
    if len(window) != 2:
        return None
    first, last = (pd.Timestamp(value) for value in window)
    return (first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC"),
            last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC"))


def applicants_of_training_window(decisions: pd.DataFrame, challenger: CreditModel, *,
                                  time_column: str = "created_at") -> pd.DataFrame | None:
    """The decisions made in the challenger's training window (its training rows' first
    and last time, ``metadata_["training"]["windows"]["train"]``), approved or not.

    Parameters
    ----------
    decisions : decisions with their feature values (``sme-credit export decisions``),
        ``time_column`` in UTC.
    challenger : a model trained with a time column (``train --time-column``).

    Returns
    -------
    pandas.DataFrame or None
        The rows of ``decisions`` in the window; ``None`` when the model has no training
        window (trained without a time column) or no decision falls in it.
    """
    window = training_window(challenger)
    if window is None or time_column not in decisions.columns:
        return None
    first, last = window
    times = pd.to_datetime(decisions[time_column], utc=True)
    picked = decisions.loc[(times >= first) & (times <= last)]
    return picked if len(picked) else None


@dataclass
class GateOutcome:
    """What :func:`judge` found.

    Attributes
    ----------
    gates : every gate, in order.
    figures : per model (``challenger``, ``champion``): ``auc`` (raw score), ``auc_pd``
        (calibrated PD, ties and all), ``gini``, ``ks``, ``brier``, ``log_loss``,
        ``calibration_error``, ``bad_rate``, ``mean_pd``, ``n`` and, for the challenger,
        ``psi``.
    comparisons : ``auc``, ``brier`` and ``log_loss``: the paired intervals (challenger
        minus champion) as dicts; empty without a champion.
    calibration : per model, the calibration table of :func:`calibration_table` as records.
    notes : what the reader should know about the sample and the PSI base.
    fairness : per model, :meth:`models.fairness.FairnessReport.to_dict`.
    """

    gates: list[Gate]
    figures: dict[str, dict[str, float]]
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fairness: dict[str, dict[str, Any]] = field(default_factory=dict)


# ------------------------------------------------------------------ features
def serving_feature_gate(challenger: CreditModel, champion: CreditModel | None,
                         servable: Collection[str]) -> Gate:
    """Whether the serving pipeline can supply every challenger feature.

    ``servable`` is what the snapshot builder produces (the feature registry's names); the
    champion's own columns count as servable too, with the kind it is served with.
    """
    served_kinds = ({c.name: c.kind for c in champion.columns_} if champion is not None
                    else {})
    known = set(servable) | set(served_kinds)
    missing = [c.name for c in challenger.columns_ if c.name not in known]
    changed = [f"{c.name} ({served_kinds[c.name]} -> {c.kind})" for c in challenger.columns_
               if c.name in served_kinds and served_kinds[c.name] != c.kind]
    parts = []
    if missing:
        served = " nor served today" if champion is not None else ""
        parts.append(f"not produced by the feature builder{served}: {', '.join(missing)}")
    if changed:
        parts.append(f"kind differs from the champion's: {', '.join(changed)}")
    if champion is not None:
        added = [c.name for c in challenger.columns_ if c.name not in served_kinds
                 and c.name not in missing]
        dropped = sorted(set(served_kinds) - {c.name for c in challenger.columns_})
        if added:
            parts.append(f"new builder features: {', '.join(added)}")
        if dropped:
            parts.append(f"no longer used: {', '.join(dropped)}")
    passed = not missing and not changed
    if not passed and champion is None:
        parts.append("no champion yet, so a warning: the service's scorer refuses an "
                     "applicant whose snapshot lacks a feature the model needs")
    return Gate("serving features", passed, float(len(missing) + len(changed)),
                "every feature supplied by the serving pipeline", "; ".join(parts),
                blocking=champion is not None)


# --------------------------------------------------------------- calibration
def calibration_table(y: np.ndarray, pd_: np.ndarray, config: GateConfig) -> pd.DataFrame:
    """Mean PD against the observed default rate, whole sample (grade ``all``) and by grade.

    Columns of :func:`models.backtest.by_grade` (``grade``, ``n``, ``bads``,
    ``predicted_pd``, ``observed_rate``, ``lower``, ``upper``) plus ``level`` (of that
    row's Jeffreys interval: Bonferroni-adjusted for the grades), ``ratio`` (mean PD over
    observed rate) and ``passed``.
    """
    grades = grades_of(pd_, config.grade_upper_pd, config.grade_labels)
    occupied = max(1, int(len(set(grades.tolist()))))
    grade_level = 1.0 - (1.0 - config.calibration_level) / occupied
    table = by_grade(y, pd_, grades, config.grade_labels, level=grade_level)
    table.insert(len(table.columns), "level", grade_level)
    overall = by_grade(y, pd_, np.full(len(y), "all", dtype=object), ["all"],
                       level=config.calibration_level)
    overall.insert(len(overall.columns), "level", config.calibration_level)
    table = pd.concat([overall, table], ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = table["predicted_pd"] / table["observed_rate"]
    table["ratio"] = ratio
    outside = (table["predicted_pd"] < table["lower"]) | (table["predicted_pd"] > table["upper"])
    factor = 1.0 + config.calibration_materiality
    material = ~((ratio <= factor) & (ratio >= 1.0 / factor))
    table["passed"] = (table["n"] == 0) | ~(outside & material)
    return table


def _calibration_gates(table: pd.DataFrame, config: GateConfig) -> list[Gate]:
    overall = table.iloc[0]
    grades = table.iloc[1:]
    in_large = Gate(
        "calibration in the large", bool(overall["passed"]), float(overall["predicted_pd"]),
        f"within the Jeffreys {config.calibration_level:.0%} interval of the bad rate "
        f"[{overall['lower']:.4f}, {overall['upper']:.4f}] or within x"
        f"{1 + config.calibration_materiality:g} of it",
        f"mean PD {overall['predicted_pd']:.4f}, observed {overall['observed_rate']:.4f} "
        f"({int(overall['bads'])} of {int(overall['n'])})")
    failed = grades[(grades["n"] > 0) & ~grades["passed"]]
    detail = "; ".join(
        f"{row['grade']}: PD {row['predicted_pd']:.4f} vs {row['observed_rate']:.4f} "
        f"[{row['lower']:.4f}, {row['upper']:.4f}] n={row['n']}"
        for row in grades.to_dict(orient="records") if int(row["n"]) > 0)
    by_grade_gate = Gate(
        "calibration by grade", failed.empty, float(len(failed)),
        f"every grade's mean PD within its Jeffreys interval (family-wise "
        f"{config.calibration_level:.0%}) or within x{1 + config.calibration_materiality:g}"
        " of the observed rate", detail)
    return [in_large, by_grade_gate]


# --------------------------------------------------------------------- judge
def _figures(model: CreditModel, raw: np.ndarray, pd_: np.ndarray, y: np.ndarray,
             ) -> dict[str, float]:
    metrics = classification_metrics(y, pd_)
    metrics["auc_pd"] = metrics["auc"]
    metrics["auc"] = auc(y, raw)
    metrics["gini"] = 2.0 * metrics["auc"] - 1.0
    metrics["ks"] = ks_statistic(y, raw)
    return metrics


def judge(challenger: CreditModel, X: pd.DataFrame, y: object, *,
          champion: CreditModel | None = None, config: GateConfig | None = None,
          servable_features: Collection[str] = (), recent: RecentApplicants | None = None,
          segments: pd.DataFrame | None = None) -> GateOutcome:
    """Run every gate on the labelled sample ``(X, y)``, which neither model trained on.

    Parameters
    ----------
    challenger : the model up for promotion.
    X, y : the sample (feature columns of both models; 1 = default).
    champion : the model served now, or ``None`` for a first model (no comparison gates).
    config : thresholds; :class:`GateConfig` defaults when ``None``.
    servable_features : the feature names the snapshot builder produces.
    recent : the latest applicants, the base of the score PSI; ``None``: the sample.
    segments : segment columns of the sample (``industry``, ``region``, ...) that ``X``
        lacks, indexed like ``X`` (rows it lacks are ``missing``); the fairness figures
        read the segment columns of ``X`` and of ``segments``.

    Raises
    ------
    ValueError
        Bad thresholds, labels, or a sample the challenger cannot score.
    """
    config = config or GateConfig()
    config.check()
    y_arr = np.asarray(y, dtype=float)
    raw = challenger.decision_function(X)
    pd_ = challenger.calibration_.apply(raw)
    figures = {"challenger": _figures(challenger, raw, pd_, y_arr)}
    # columns the service stored with real decisions are supplied by its pipeline too
    supplied = set(servable_features) | (set(map(str, recent.features.columns))
                                         if recent is not None else set())
    outcome = GateOutcome(gates=[serving_feature_gate(challenger, champion, supplied)],
                          figures=figures)
    if champion is not None:
        outcome.gates += _comparison_gates(champion, X, y_arr, raw, pd_, config, outcome)
    table = calibration_table(y_arr, pd_, config)
    outcome.calibration["challenger"] = _records(table)
    outcome.gates += _calibration_gates(table, config)
    error = figures["challenger"]["calibration_error"]
    outcome.gates.append(Gate("decile calibration error", error <= config.max_calibration_error,
                              error, f"<= {config.max_calibration_error}",
                              "row-weighted mean |PD - bad rate| over PD deciles"))
    outcome.gates.append(_psi_gate(challenger, raw, recent, config, outcome))
    outcome.gates.append(_fairness_gate(X, y_arr, pd_, champion, segments, config, outcome))
    return outcome


def _fairness_gate(X: pd.DataFrame, y: np.ndarray, pd_: np.ndarray,
                   champion: CreditModel | None, segments: pd.DataFrame | None,
                   config: GateConfig, outcome: GateOutcome) -> Gate:
    fairness = replace(config.fairness, approval=replace(
        config.fairness.approval, grade_upper_pd=config.grade_upper_pd,
        grade_labels=config.grade_labels))
    frame = X
    if segments is not None:
        extra = [c for c in segments.columns if c not in X.columns]
        if extra and segments.index.has_duplicates:
            outcome.notes.append("fairness: the stored segment columns are not keyed by a "
                                 "unique index; only the sample's own columns are used")
        elif extra:
            frame = X.assign(**{c: segments[c].reindex(X.index).to_numpy() for c in extra})
    report = fairness_report(y, pd_, frame, fairness)
    outcome.fairness["challenger"] = report.to_dict()
    if champion is not None and "champion" in outcome.figures:
        champion_pd = champion.calibration_.apply(champion.decision_function(X))
        outcome.fairness["champion"] = fairness_report(y, champion_pd, frame,
                                                       fairness).to_dict()
    warnings = report.warnings()
    detail = report.describe_warnings() or (
        f"{len(report.table)} segments, none below AIR {fairness.min_air:g} or "
        "outside its calibration interval")
    if report.notes:
        detail += " (" + "; ".join(report.notes) + ")"
    return Gate("fairness by segment", warnings.empty, float(len(warnings)),
                f"every segment of >= {fairness.min_segment_size} applicants: AIR >= "
                f"{fairness.min_air:g} and mean PD within its Jeffreys interval ("
                f"{fairness.calibration_level:.0%}"
                + (" family-wise)" if fairness.family_wise else ")"), detail, blocking=False)


def _comparison_gates(champion: CreditModel, X: pd.DataFrame, y: np.ndarray,
                      raw: np.ndarray, pd_: np.ndarray, config: GateConfig,
                      outcome: GateOutcome) -> list[Gate]:
    bound = f"lower {config.confidence:.0%} bound > -{config.auc_margin:g}"
    try:
        champion_raw = champion.decision_function(X)
    except (ValueError, KeyError) as exc:
        return [Gate("AUC non-inferiority", False, None, bound,
                     f"the champion cannot score the sample: {exc}")]
    champion_pd = champion.calibration_.apply(champion_raw)
    outcome.figures["champion"] = _figures(champion, champion_raw, champion_pd, y)
    outcome.calibration["champion"] = _records(calibration_table(y, champion_pd, config))
    if y.min() == y.max():
        return [Gate("AUC non-inferiority", False, None, bound,
                     "the sample holds only one class")]
    area = paired_auc_difference(y, raw, champion_raw, config.confidence)
    outcome.comparisons["auc"] = area.to_dict()
    half_width = area.upper - area.difference
    if half_width >= config.auc_margin:
        outcome.notes.append(
            f"the sample is too small to show AUC non-inferiority within {config.auc_margin:g}"
            f": the interval's half-width is {half_width:.4f}, so a challenger measured equal "
            "to the champion fails; a larger hold-out (or --force with a reason) is needed")
    gates = [Gate(
        "AUC non-inferiority", area.lower > -config.auc_margin, area.lower, bound,
        f"challenger {area.auc_a:.4f} - champion {area.auc_b:.4f} = {area.difference:+.4f}"
        f" [{area.lower:+.4f}, {area.upper:+.4f}], DeLong s.e. {area.standard_error:.4f}, "
        f"raw scores")]
    for loss, title in (("brier", "Brier score"), ("log_loss", "log loss")):
        compared = paired_loss_difference(y, pd_, champion_pd, loss, config.confidence)
        outcome.comparisons[loss] = compared.to_dict()
        allowed = config.max_relative_loss_increase * compared.value_b
        gates.append(Gate(
            f"{title} against champion", compared.upper <= allowed, compared.upper,
            f"upper {config.confidence:.0%} bound <= {allowed:.5f} "
            f"({config.max_relative_loss_increase:.0%} of the champion's)",
            f"challenger {compared.value_a:.5f} - champion {compared.value_b:.5f} = "
            f"{compared.difference:+.5f} [{compared.lower:+.5f}, {compared.upper:+.5f}]"))
    return gates


def _psi_gate(challenger: CreditModel, raw: np.ndarray, recent: RecentApplicants | None,
              config: GateConfig, outcome: GateOutcome) -> Gate:
    base = None
    if recent is not None and len(recent.features):
        missing = [n for n in challenger.feature_names_in_ if n not in recent.features]
        if missing:
            outcome.notes.append(f"score PSI on the sample: the applicants of {recent.source} "
                                 f"lack {len(missing)} challenger features "
                                 f"({', '.join(map(str, missing[:5]))})")
        else:
            try:
                base = challenger.decision_function(recent.features)
                detail = (f"{len(base)} latest applicants of {recent.source} against the "
                          "challenger's training scores")
            except (ValueError, KeyError, TypeError) as exc:
                outcome.notes.append(f"score PSI on the sample: the challenger cannot score "
                                     f"the applicants of {recent.source} ({exc})")
            window = recent.reference_for(challenger) if base is not None else None
            if window is not None and 0 < len(window) < MIN_WINDOW_APPLICANTS:
                outcome.notes.append(f"score PSI against the training scores: only "
                                     f"{len(window)} applicants decided in the challenger's "
                                     f"training window (at least {MIN_WINDOW_APPLICANTS} "
                                     "needed to replace them)")
                window = None
            if base is not None and window is not None and len(window):
                try:
                    reference = ScoreReference.fit(challenger.decision_function(window))
                except (ValueError, KeyError, TypeError) as exc:
                    outcome.notes.append(f"score PSI against the training scores: the "
                                         f"challenger cannot score the applicants of its "
                                         f"training window ({exc})")
                else:
                    psi = reference.psi(base)
                    outcome.figures["challenger"]["psi"] = psi
                    outcome.figures["challenger"]["psi_training_scores"] = \
                        challenger.score_reference_.psi(base)
                    detail = (f"{len(base)} latest applicants of {recent.source} against "
                              f"the challenger's scores of the {len(window)} "
                              "applicants of its training window (approved and declined)")
                    return Gate("score PSI", psi < config.max_psi, psi,
                                f"< {config.max_psi}", detail)
    elif recent is not None:
        outcome.notes.append(f"score PSI on the sample: {recent.source} holds no decision")
    if base is None:
        base = raw
        detail = "the sample against the challenger's training scores (no recent applicants)"
        if recent is None:
            outcome.notes.append("score PSI on the sample: no decisions database; a hash "
                                 "hold-out comes from the training table, so this PSI "
                                 "shows little")
    psi = challenger.score_reference_.psi(base)
    outcome.figures["challenger"]["psi"] = psi
    return Gate("score PSI", psi < config.max_psi, psi, f"< {config.max_psi}", detail)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in frame.to_dict(orient="records"):
        out.append({str(k): (None if isinstance(v, float) and not np.isfinite(v) else
                        (v.item() if isinstance(v, np.generic) else v))
                    for k, v in record.items()})
    return out


# ------------------------------------------------------------------- result
@dataclass
class PromotionResult:
    """Outcome of :func:`models.registry.promote`; ``verdict`` is ``promoted``, ``forced``
    or ``rejected``."""

    model_name: str
    challenger_version: str
    champion_version: str | None
    gates: list[Gate]
    verdict: str
    actor: str
    at: str
    reason: str | None
    figures: dict[str, dict[str, float]]
    sample: str
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fairness: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return self.verdict in ("promoted", "forced")

    def render(self) -> str:
        """The comparison and the gates as text, for the terminal."""
        champion = f"v{self.champion_version}" if self.champion_version else "none"
        lines = [f"{self.model_name}: challenger v{self.challenger_version} against "
                 f"champion {champion}", f"sample: {self.sample}"]
        lines += [f"note: {note}" for note in self.notes]
        lines += ["", f"{'metric':<20}{'challenger':>12}{'champion':>12}"]
        for key in ("auc", "auc_pd", "gini", "ks", "brier", "log_loss", "calibration_error",
                    "mean_pd", "bad_rate", "psi"):
            chal = self.figures.get("challenger", {}).get(key)
            champ = self.figures.get("champion", {}).get(key)
            lines.append(f"{key:<20}{_fmt(chal):>12}{_fmt(champ):>12}")
        if self.comparisons:
            lines += ["", "challenger - champion (paired, same rows):"]
            for key, title in (("auc", "AUC (DeLong)"), ("brier", "Brier"),
                               ("log_loss", "log loss")):
                if key in self.comparisons:
                    c = self.comparisons[key]
                    lines.append(f"  {title:<14}{c['difference']:+.5f}  "
                                 f"{c['level']:.0%} interval [{c['lower']:+.5f}, "
                                 f"{c['upper']:+.5f}]")
        table = self.calibration.get("challenger")
        if table:
            level = float(table[0].get("level") or 0.95)
            lines += ["", f"challenger calibration (Jeffreys intervals of the bad rate: "
                      f"{level:.0%} overall, family-wise {level:.0%} over the grades):",
                      f"  {'grade':<6}{'n':>7}{'bads':>6}{'mean PD':>9}{'observed':>10}"
                      f"{'interval':>20}"]
            for row in table:
                if not row["n"]:
                    lines.append(f"  {row['grade']:<6}{0:>7}  (empty)")
                    continue
                mark = "ok" if row["passed"] else "FAIL"
                lines.append(f"  {row['grade']:<6}{row['n']:>7}{row['bads']:>6}"
                             f"{row['predicted_pd']:>9.4f}{row['observed_rate']:>10.4f}"
                             f"   [{row['lower']:.4f}, {row['upper']:.4f}]  {mark}")
        for who in ("challenger", "champion"):
            found = self.fairness.get(who)
            if not found:
                continue
            lines += ["", f"{who} fairness (approval by the credit policy, AIR against the "
                      "most-approved segment, Jeffreys interval of the bad rate):",
                      f"  {'dimension':<12}{'segment':<16}{'n':>7}{'approved':>10}"
                      f"{'AIR':>7}{'mean PD':>9}{'observed':>10}{'interval':>20}  flags"]
            for row in found["segments"]:
                lines.append(
                    f"  {row['dimension']:<12}{row['segment'][:15]:<16}{row['n']:>7}"
                    f"{_pct(row['approval_rate']):>10}{_fmt2(row['air']):>7}"
                    f"{_fmt(row['mean_pd']):>9}{_fmt(row['observed_rate']):>10}"
                    f"   [{row['lower']:.4f}, {row['upper']:.4f}]  "
                    f"{', '.join(row['flags'])}")
        lines += ["", "gates:"]
        for gate in self.gates:
            mark = "PASS" if gate.passed else ("FAIL" if gate.blocking else "WARN")
            detail = f"  ({gate.detail})" if gate.detail else ""
            figure = f"{_fmt(gate.value)} " if gate.value is not None else ""
            lines.append(f"  [{mark}] {gate.name}: {figure}{gate.bound}{detail}")
        lines += ["", f"verdict: {self.verdict}" + (f" — reason: {self.reason}"
                                                   if self.reason else "")]
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4f}"


def _fmt2(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.1%}"
