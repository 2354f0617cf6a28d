"""Evaluation of a fitted model on one sample, and its Markdown model card."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from features.registry import get_feature
from models.credit_model import CreditModel
from models.evaluation import (
    auc_by_segment,
    calibration_by_decile,
    classification_metrics,
    cutoff_table,
)
from models.fairness import FairnessConfig, FairnessReport, fairness_report

__all__ = ["Evaluation", "evaluate", "model_card"]


@dataclass
class Evaluation:
    """Figures and tables of one model on one labelled sample.

    Attributes
    ----------
    sample : what the sample is (for example ``"hold-out (out of time)"``).
    metrics : :func:`models.evaluation.classification_metrics` plus ``psi`` (score PSI
        against the training sample).
    calibration : calibration by decile.
    cutoffs : approval rate against bad rate at PD cut-offs.
    segments : AUC by segment, or ``None`` without a segment column.
    segment_column : the column that defined the segments.
    fairness : approval rates, adverse impact ratios and calibration by segment
        (:func:`models.fairness.fairness_report`).
    """

    sample: str
    metrics: dict[str, float]
    calibration: pd.DataFrame
    cutoffs: pd.DataFrame
    segments: pd.DataFrame | None
    segment_column: str | None
    fairness: FairnessReport | None = None


def evaluate(model: CreditModel, X: pd.DataFrame, y: object, *, sample: str = "hold-out",
             segment: str | pd.Series | None = None,
             segment_columns: pd.DataFrame | None = None,
             fairness: FairnessConfig | None = None) -> Evaluation:
    """Evaluate ``model`` on ``(X, y)``.

    Parameters
    ----------
    segment : a column of ``X`` (for example ``"kind"``) or values aligned with ``X``; the
        AUC is then also reported per segment.
    segment_columns : further segment columns of the rows of ``X`` (for example ``industry`` and
        ``region`` of the sellers), row for row; the fairness figures read these and the
        segment columns of ``X`` itself.
    fairness : thresholds of the fairness figures; defaults when ``None``.
    """
    y_arr = np.asarray(y, dtype=float)
    raw = model.decision_function(X)
    pd_ = model.calibration_.apply(raw)
    metrics = classification_metrics(y_arr, pd_)
    metrics["psi"] = model.score_reference_.psi(raw)
    segment_column: str | None = None
    segments = None
    if segment is not None:
        if isinstance(segment, str):
            if segment not in X.columns:
                raise ValueError(f"segment column {segment!r} is not in the sample")
            segment_column = segment
            values: object = X[segment].to_numpy()
        else:
            segment_column = str(segment.name) if segment.name is not None else "segment"
            values = segment.to_numpy()
        segments = auc_by_segment(y_arr, pd_, values)
    frame = X
    if segment_columns is not None:
        if len(segment_columns) != len(X):
            raise ValueError(f"segment_columns has {len(segment_columns)} rows, the sample "
                             f"{len(X)}")
        extra = [c for c in segment_columns.columns if c not in X.columns]
        frame = X.assign(**{c: segment_columns[c].to_numpy() for c in extra})
    fair = fairness_report(y_arr, pd_, frame, fairness)
    return Evaluation(sample, metrics, calibration_by_decile(y_arr, pd_),
                      cutoff_table(y_arr, pd_), segments, segment_column, fair)


def _table(frame: pd.DataFrame, digits: int = 4) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for value in record:
            if isinstance(value, float | np.floating):
                cells.append("n/a" if np.isnan(value) else f"{value:.{digits}f}")
            else:
                cells.append(str(value))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows])


def _fairness_section(report: FairnessReport) -> list[str]:
    config = report.config
    rule = config.approval
    lines = ["## Fairness", "",
             f"Approval as the credit policy {rule.policy_version} decides on the PD alone "
             f"(grades {', '.join(rule.approve_grades)} approved, PD at most "
             f"{rule.max_pd:g}); adverse impact ratio (AIR) = a segment's approval rate over "
             "the most-approved segment's (segments of at least "
             f"{config.min_segment_size} applicants), flagged below {config.min_air:g} "
             "(four-fifths rule); calibration = mean PD against the Jeffreys interval of the "
             f"observed default rate ({config.calibration_level:.0%}"
             + (" family-wise over the segments" if config.family_wise else "") + "). "
             f"Segments under {config.min_segment_size} applicants are shown, never "
             "flagged.", ""]
    if report.table.empty:
        lines.append("No segment column in the sample.")
    else:
        lines.append(report.to_markdown())
    warnings = report.describe_warnings()
    lines += ["", f"Warnings: {warnings}." if warnings else "Warnings: none."]
    lines += [f"- {note}" for note in report.notes]
    return [*lines, ""]


def linear_base_text(model: CreditModel) -> str:
    """How the model's linear base reads in a report (empty without one)."""
    linear = getattr(model, "linear_", None)
    if linear is None:
        return ""
    left_out = (f"; left out against their monotone direction: {', '.join(linear.left_out)}"
                if linear.left_out else "")
    return (f" boosted on a linear base (an L2 logistic regression over "
            f"{len(linear.terms)} columns, C {linear.strength:g}{left_out})")


def model_card(model: CreditModel, evaluation: Evaluation, *, name: str,
               data_description: str = "", version: str | None = None,
               extra: dict[str, Any] | None = None) -> str:
    """The model card in Markdown: data window, population, features, metrics, limits.

    Parameters
    ----------
    name : registered model name (or any title).
    data_description : where the training data came from (file, fingerprint).
    version : registry version, when known.
    extra : further facts listed under "Provenance" (code version, tags).
    """
    training = model.metadata_.get("training", {})
    metrics = evaluation.metrics
    lines = [f"# Model card: {name}" + (f" v{version}" if version else ""), ""]
    lines += [f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.", ""]
    lines += ["## Purpose",
              "Probability of default (PD) of a seller applying for marketplace credit. "
              "Class 1 = default. The PD feeds score points, grade and credit limits; points "
              "and reasons come from exact TreeSHAP contributions on the calibrated "
              "log-odds (the Platt map's).", ""]
    lines += ["## Data", ""]
    if data_description:
        lines += [f"- Source: {data_description}"]
    lines += [f"- Rows: {training.get('n_rows', 'n/a')} "
              f"(bad rate {model.metadata_.get('bad_rate', float('nan')):.2%})",
              f"- Validation scheme: {training.get('scheme', 'n/a')}; training rows "
              f"{training.get('n_train', 'n/a')}, validation rows "
              f"{training.get('n_validation', 'n/a')}, hold-out rows "
              f"{training.get('n_holdout', 'n/a')}"]
    windows = training.get("windows") or {}
    for part in ("train", "validation", "holdout"):
        if windows.get(part):
            lines.append(f"- {part} window: {windows[part][0]} to {windows[part][1]}")
    if not windows:
        lines.append("- Data window: no time column; the hold-out is a random "
                     "sample, not out of time.")
    if evaluation.segments is not None:
        counts = ", ".join(f"{r.segment}: {r.n}" for r in evaluation.segments.itertuples())
        lines.append(f"- Population of the evaluation sample by {evaluation.segment_column}: "
                     f"{counts}")
    lines.append("")

    lines += ["## Features", "", "| feature | kind | monotone | gain share | meaning |",
              "|---|---|---|---|---|"]
    gain = model.feature_importance("gain")
    total = float(gain.sum()) or 1.0
    for spec in model.columns_:
        registered = get_feature(spec.name)
        meaning = registered.description if registered else "(not in the feature registry)"
        sign = {1: "+1 (risk rises)", -1: "-1 (risk falls)", 0: "none"}[spec.monotone]
        kind = spec.kind if spec.kind == "numeric" else f"categorical ({len(spec.levels)})"
        lines.append(f"| `{spec.name}` | {kind} | {sign} | {gain[spec.name] / total:.1%} "
                     f"| {meaning} |")
    lines.append("")

    lines += ["## Training", "",
              f"- LightGBM{linear_base_text(model)}, {model.best_iteration_} rounds, "
              "parameters: "
              + ", ".join(f"{k}={model.params_[k]}" for k in
                          ("num_leaves", "min_child_samples", "feature_fraction",
                           "lambda_l2", "learning_rate") if k in model.params_),
              f"- Candidates tried: {len(training.get('candidates', []))}"
              + (" (cut short by the time budget)" if training.get("search_cut_by_budget")
                 else ""),
              f"- Calibration: {model.calibration_.method} (validation Brier, cross-fitted: "
              + ", ".join(f"{k} {v:.5f}" for k, v in
                          training.get("calibration_brier", {}).items()) + ")",
              *_calibration_choice_lines(training.get("calibration_choice") or {},
                                         model.calibration_.pd_floor), ""]

    lines += [f"## Metrics on the {evaluation.sample}", "",
              "| AUC | Gini | KS | Brier | log loss | calibration error | score PSI | n |",
              "|---|---|---|---|---|---|---|---|",
              f"| {metrics['auc']:.4f} | {metrics['gini']:.4f} | {metrics['ks']:.4f} "
              f"| {metrics['brier']:.4f} | {metrics['log_loss']:.4f} "
              f"| {metrics['calibration_error']:.4f} | {metrics['psi']:.4f} "
              f"| {int(metrics['n'])} |", ""]
    validation = training.get("validation_metrics")
    if validation:
        lines += [f"Validation ({training.get('scheme')}): AUC {validation['auc']:.4f}, "
                  f"Brier {validation['brier']:.4f}.", ""]
    lines += ["### Calibration by decile", "", _table(evaluation.calibration), ""]
    lines += ["### Cut-offs", "", _table(evaluation.cutoffs), ""]
    if evaluation.segments is not None:
        lines += [f"### AUC by {evaluation.segment_column}", "",
                  _table(evaluation.segments), ""]
    if evaluation.fairness is not None:
        lines += _fairness_section(evaluation.fairness)
    if extra:
        lines += ["## Provenance", ""] + [f"- {k}: {v}" for k, v in extra.items()] + [""]
    lines += ["## Known limits", "",
              "- The PD is calibrated to the bad rate of the training population and label "
              "definition; a change in either (new segments, new default definition) needs "
              "recalibration.",
              "- Explanations are exact on the calibrated log-odds of the Platt map; with "
              "isotonic calibration the PD comes from the isotonic map, which has no exact "
              "additive split, and the points from the Platt map.",
              "- Categorical levels unseen in training are scored as missing.",
              "- Metrics come from one hold-out sample; small samples give wide intervals "
              "(the AUC's standard error is roughly sqrt(AUC(1-AUC)/min(bads, goods))).",
              "- Sellers without enough history to build features are outside the "
              "population the model has seen.", ""]
    return "\n".join(lines)


def _calibration_choice_lines(choice: Mapping[str, Any], pd_floor: float) -> list[str]:
    """The bootstrap that chose the calibration, and the PD floor, as card lines."""
    lines = []
    if "upper" in choice:
        lines.append(
            f"- Calibration choice: Brier(isotonic) - Brier(Platt) "
            f"{choice['brier_difference']:+.6f}, {choice['level'] * 100:g} % paired "
            f"bootstrap interval [{choice['lower']:+.6f}, {choice['upper']:+.6f}] "
            f"({choice['resamples']} resamples of the {choice['resampled']}); isotonic only "
            "when the interval is below 0")
    if choice.get("rows"):
        lines.append(f"- Calibration rows: {choice['rows']} ({choice.get('defaults', 'n/a')} "
                     f"defaults), {choice.get('fitted_on', '')}")
    lines.append(f"- PD floor: {pd_floor:g} (every PD within [{pd_floor:g}, "
                 f"{1 - pd_floor:g}])" if pd_floor > 0 else "- PD floor: none")
    return lines
