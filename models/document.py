"""The model document of one registered version: one HTML file with its charts beside it.

A validator's reading of a version (SR 11-7: intended use, data, method, performance,
limits, monitoring, governance), built only from what the MLflow store recorded:

- the registered model and version (descriptions, tags, aliases, ``promotion.*`` tags and
  the run's ``promotion/promotion-<UTC>.json`` records written by
  :func:`models.registry.promote`);
- the version's run (parameters ``data.*``, metrics ``holdout_*``, the model card, the
  stored hold-out sample ``holdout/holdout.parquet`` and, when recorded, the fairness
  review ``fairness/fairness.json``);
- the native model (:func:`models.registry.load_credit_model`), scored again on the stored
  hold-out: AUC with DeLong's interval (:func:`models.evaluation.delong_covariance`), KS,
  Brier and log loss with normal intervals of the row-wise loss, calibration by grade with
  Jeffreys intervals (:func:`models.backtest.by_grade`);
- the latest backtest of the version (:func:`models.runs.latest_backtest`).

Stability needs the scorer (``scoring.monitor``), which sits above this layer: the caller
passes it in as a function (:data:`StabilityFunction`); without it only the score PSI is
computed, from the model's stored training reference. The HTML has no script, no style
sheet from the network and no remote image: every text that comes from the store is
escaped.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from scipy.stats import norm

from features.registry import get_feature
from models.backtest import by_grade, grades_of, plot_by_grade
from models.credit_model import CreditModel
from models.evaluation import classification_metrics, delong_covariance, ks_statistic
from models.gates import RecentApplicants
from models.plots import plot_calibration, plot_importance, plot_ks, plot_roc
from models.registry import (
    FAIRNESS_PATH,
    alias_versions,
    list_versions,
    load_credit_model,
    load_holdout,
    tracking,
)
from models.report import linear_base_text
from models.runs import latest_backtest

__all__ = ["SECTIONS", "DocumentInputs", "StabilityFunction", "write_model_document"]

#: Section headings, in order (every document has all of them).
SECTIONS: tuple[str, ...] = (
    "Intended use", "Data and default definition", "Method", "Performance",
    "Calibration by grade", "Stability", "Fairness", "Limitations", "Monitoring plan",
    "Promotion record")

#: ``(model, feature table, name of the sample) -> StabilityReport.to_dict()`` of
#: :func:`scoring.monitor.stability_report` against the model's training sample.
StabilityFunction = Callable[[CreditModel, pd.DataFrame, str], Mapping[str, Any]]

_FAIRNESS = FAIRNESS_PATH
_CARD = "model_card.md"
_LEVEL = 0.95


@dataclass(frozen=True)
class DocumentInputs:
    """What the caller knows beyond the store.

    Attributes
    ----------
    grade_upper_pd, grade_labels : the scorer's grade bands.
    stability : PSI of the score and of every feature (see :data:`StabilityFunction`).
    recent : the latest applicants the service decided on (the promotion gate's PSI base).
    label_definitions : the default definitions of the labels (name -> bad states).
    progress : called with a short message before each slow step.
    """

    grade_upper_pd: tuple[float, ...] = (0.01, 0.025, 0.05, 0.10)
    grade_labels: tuple[str, ...] = ("A", "B", "C", "D", "E")
    stability: StabilityFunction | None = None
    recent: RecentApplicants | None = None
    label_definitions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    progress: Callable[[str], None] | None = None


# ------------------------------------------------------------------ helpers
def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: object, digits: int = 4) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _e(value) if value is not None else "n/a"
    return "n/a" if not math.isfinite(number) else f"{number:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else _e(c)}</td>"
                                    for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _source(text: str) -> str:
    return f'<p class="source">Source: {text}</p>'


def _figure(name: str, caption: str) -> str:
    return (f'<figure><img src="figures/{_e(name)}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _artifact_json(client: Any, run_id: str, path: str) -> Any:
    with contextlib.suppress(MlflowException, OSError, ValueError), \
            tempfile.TemporaryDirectory(prefix="sme-credit-doc-") as folder:
        local = client.download_artifacts(run_id, path, folder)
        return json.loads(Path(local).read_text(encoding="utf-8"))
    return None


def _artifact_text(client: Any, run_id: str, path: str) -> str | None:
    with contextlib.suppress(MlflowException, OSError), \
            tempfile.TemporaryDirectory(prefix="sme-credit-doc-") as folder:
        local = client.download_artifacts(run_id, path, folder)
        return Path(local).read_text(encoding="utf-8")
    return None


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean of row-wise values with its normal 95 % interval."""
    mean = float(values.mean())
    half = float(norm.ppf(0.5 + _LEVEL / 2) * values.std(ddof=1) / math.sqrt(len(values))) \
        if len(values) > 1 else math.nan
    return mean, mean - half, mean + half


# ------------------------------------------------------------------ entry point
def write_model_document(tracking_uri: str, model_name: str, version: str, out: Path,
                         inputs: DocumentInputs | None = None) -> Path:
    """Write ``out/model-<name>-v<version>.html`` and its charts in ``out/figures/``.

    Raises
    ------
    LookupError
        Unknown model, or unknown version (the message lists the versions there are).
    NotADirectoryError
        When ``out`` is a file.
    """
    inputs = inputs or DocumentInputs()
    progress = inputs.progress or (lambda message: None)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a folder for the model document")
    versions = list_versions(tracking_uri, model_name)
    known = [str(v) for v in versions["version"]]
    version = str(version).removeprefix("v")
    if version not in known:
        raise LookupError(f"registered model {model_name!r} has no version {version}; "
                          f"versions: {', '.join(known) or 'none'}")
    progress(f"reading {model_name} v{version} from the registry")
    aliases = [a for a, v in alias_versions(tracking_uri, model_name).items() if v == version]
    with tracking(tracking_uri) as client:
        registered = client.get_registered_model(model_name)
        mv = client.get_model_version(model_name, version)
        run = client.get_run(mv.run_id) if mv.run_id else None
        run_id = mv.run_id or ""
        tags = dict(mv.tags or {})
        card = _artifact_text(client, run_id, _CARD) if run_id else None
        fairness = _artifact_json(client, run_id, _FAIRNESS) if run_id else None
        records: list[dict[str, Any]] = []
        if run_id:
            with contextlib.suppress(MlflowException, OSError):
                for item in client.list_artifacts(run_id, "promotion"):
                    if item.path.endswith(".json"):
                        record = _artifact_json(client, run_id, item.path)
                        if isinstance(record, dict):
                            records.append({**record, "_artifact": item.path})
    progress("loading the model and its stored hold-out sample")
    model, _ = load_credit_model(tracking_uri, model_name, version=version)
    X, y = load_holdout(tracking_uri, model_name, version)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    progress(f"scoring the hold-out ({len(y):,} rows) and drawing the charts")
    context = _Context(model_name, version, run_id, tags, run.data.params if run else {},
                       run.data.metrics if run else {}, model, X, y, inputs, figures)
    performance, grades = _performance(context)
    progress("stability")
    stability = _stability(context)
    backtest = latest_backtest(tracking_uri, model_name)
    created = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)
    body = [
        _intro(context, registered.description or "", mv.description or "", aliases, created),
        _intended_use(context), _data(context), _method(context), performance, grades,
        stability, _fairness(context, fairness), _limitations(context, card),
        _monitoring(context, backtest), _promotion(context, records)]
    html = _page(f"Model document: {model_name} v{version}", "\n".join(body))
    path = out / f"model-{_file_name(model_name)}-v{version}.html"
    path.write_text(html, encoding="utf-8")
    return path


def _file_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


@dataclass
class _Context:
    model_name: str
    version: str
    run_id: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    model: CreditModel
    X: pd.DataFrame
    y: np.ndarray
    inputs: DocumentInputs
    figures: Path

    @property
    def holdout_source(self) -> str:
        return (f"run <code>{_e(self.run_id)}</code>, artifact "
                f"<code>{_e(self.tags.get('holdout_sample', 'holdout/holdout.parquet'))}"
                f"</code> ({len(self.y):,} rows, {int(self.y.sum()):,} defaults)")


# ------------------------------------------------------------------ sections
def _section(title: str, inner: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>\n{inner}</section>'


def _intro(c: _Context, model_description: str, version_description: str,
           aliases: list[str], created: datetime) -> str:
    rows = [("registered model", c.model_name), ("version", c.version),
            ("aliases now", ", ".join(sorted(aliases)) or "none"),
            ("registered", created.strftime("%Y-%m-%d %H:%M UTC")),
            ("run", c.run_id or "none"),
            ("model description", model_description or "-"),
            ("version description", version_description or "-")]
    rows += [(key, c.tags.get(key, "-")) for key in ("code_version", "data_fingerprint",
                                                     "feature_registry_version",
                                                     "training_scheme")]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<p>Generated {generated} by <code>sme-credit models document</code>.</p>"
            + _table(["", ""], rows)
            + _source("the MLflow registry (registered model, version, aliases and tags)"))


def _intended_use(c: _Context) -> str:
    return _section("Intended use", (
        "<p>Probability of default (PD) of a seller of the marketplace applying for an "
        "interest-free purchase credit line or a term micro-loan. Class 1 is a default. The "
        "calibrated PD is turned into score points, a grade (A to E by the bands below) and "
        "a credit limit by the scoring and lending policy; every decision carries up to four "
        "reasons from exact TreeSHAP contributions on the calibrated log-odds (the Platt "
        "map's: 600 points are 50:1 calibrated odds). Decisions are made "
        "without a human up to the policy's thresholds; referred cases go to a loan "
        "officer.</p>"
        "<p>Not intended for: applicants outside the population the model was trained on "
        "(sellers without enough trade history to build the features), consumer credit, "
        "pricing beyond the policy's grades, or any use after a change of the default "
        "definition without recalibration.</p>"
        + _table(["grade", "PD up to"],
                 [(g, f"{p:.2%}") for g, p in zip(c.inputs.grade_labels,
                                                   c.inputs.grade_upper_pd, strict=False)]
                 + [(c.inputs.grade_labels[-1], "above")])
        + _source("the scorer's grade bands (<code>scoring.config.GradeBands</code>) and "
                  "docs/models.md")))


def _labels_sidecar(c: _Context) -> dict[str, Any] | None:
    path = c.params.get("data.features", "")
    if not path or path == "-":
        return None
    with contextlib.suppress(OSError, ValueError):
        sidecar = Path(path).with_suffix(".json")
        if sidecar.is_file() and sidecar != Path(path):
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            return meta if isinstance(meta, dict) else None
    return None


def _data(c: _Context) -> str:
    training = c.model.metadata_.get("training", {})
    rows: list[tuple[str, object]] = [
        (key.removeprefix("data."), value) for key, value in sorted(c.params.items())
        if key.startswith("data.")]
    rows += [("training rows", training.get("n_train", "n/a")),
             ("validation rows", training.get("n_validation", "n/a")),
             ("hold-out rows (at training)", training.get("n_holdout", "n/a")),
             ("hold-out rows stored", len(c.y)),
             ("bad rate of the training table",
              _num(c.model.metadata_.get("bad_rate", math.nan))),
             ("validation scheme", training.get("scheme", "n/a"))]
    windows = training.get("windows") or {}
    for part in ("train", "validation", "holdout"):
        if windows.get(part):
            rows.append((f"{part} window", f"{windows[part][0]} to {windows[part][1]}"))
    if not windows:
        rows.append(("time window", "no time column: the hold-out is a hash sample of the "
                                    "index, not out of time"))
    sidecar = _labels_sidecar(c)
    if sidecar is not None:
        definition = (f"<p>The training table is a labels table of <code>sme-credit "
                      f"labels</code>: definition <b>{_e(sidecar.get('definition', '?'))}</b>, "
                      f"window {_e(sidecar.get('window_months', '?'))} months (its sidecar "
                      "JSON).</p>")
    elif "data.label" in c.params:
        definition = (f"<p>The label is the column <code>{_e(c.params['data.label'])}</code> "
                      "of the training data; the registry does not record which definition "
                      "produced it (no labels-table sidecar beside the training file).</p>")
    else:
        definition = ("<p>The run records no <code>data.*</code> parameters (the model was "
                      "logged from Python, not by <code>sme-credit train</code>): the label's "
                      "source and definition are not recorded.</p>")
    defs = c.inputs.label_definitions
    table = _table(["definition", "label 1 when the line was, at the end of a day of the "
                                  "window"],
                   [(name, ", ".join(sorted(states))) for name, states in defs.items()]) \
        if defs else ""
    return _section("Data and default definition", (
        _table(["", ""], rows) + definition
        + "<p>Labels from the ledger: a decision is labelled when its line has been observed "
          "for the whole window after the decision; <code>default</code> (the default "
          "definition) is 1 when the line was more than 90 days past due or written off at "
          "the end of any business day of the window. Declined decisions have no outcome and "
          "are not in the training data (reject inference is not applied).</p>"
        + table
        + _source(f"run <code>{_e(c.run_id)}</code> parameters <code>data.*</code>, the "
                  "model's training summary, <code>decisions.labels.LABEL_DEFINITIONS</code> "
                  "and docs/models.md (Labels from the ledger)")))


def _method(c: _Context) -> str:
    model = c.model
    training = model.metadata_.get("training", {})
    gain = model.feature_importance("gain")
    total = float(gain.sum()) or 1.0
    rows = []
    for spec in model.columns_:
        registered = get_feature(spec.name)
        rows.append((spec.name, spec.kind, {1: "+1 (risk rises)", -1: "-1 (risk falls)",
                                            0: "none"}[spec.monotone],
                     f"{gain[spec.name] / total:.1%}",
                     registered.description if registered else "(not in the feature registry)"))
    params = ", ".join(f"{k}={model.params_[k]}" for k in
                       ("num_leaves", "min_child_samples", "feature_fraction", "lambda_l2",
                        "learning_rate") if k in model.params_)
    plot_importance(model, c.figures / "importance.png")
    return _section("Method", (
        f"<p>Gradient-boosted trees (LightGBM){_e(linear_base_text(model))}, "
        f"{model.best_iteration_} rounds ({_e(params)}), "
        f"chosen among {len(training.get('candidates', []))} hyper-parameter candidate(s) "
        f"by {_e(training.get('scheme', 'n/a'))}; monotone constraints where the "
        f"direction of risk is known; calibration <b>{_e(model.calibration_.method)}</b> "
        "(chosen by cross-fitted validation Brier: "
        + _e(", ".join(f"{k} {v:.5f}" for k, v in
                       (training.get("calibration_brier") or {}).items())) + ")"
        + _e(_calibration_choice(training.get("calibration_choice") or {},
                                 model.calibration_.pd_floor)) + ".</p>"
        + _table(["feature", "kind", "monotone", "gain share", "meaning"], rows)
        + _figure("importance.png", "Gain importance of the features")
        + _source(f"the version's model (run <code>{_e(c.run_id)}</code>, artifact "
                  "<code>model/artifacts/credit_model</code>) and the feature registry")))


def _performance(c: _Context) -> tuple[str, str]:
    raw = c.model.decision_function(c.X)
    pd_ = np.asarray(c.model.calibration_.apply(raw), dtype=float)
    y = c.y
    figures = classification_metrics(y, pd_)
    z = float(norm.ppf(0.5 + _LEVEL / 2))
    rows: list[tuple[object, ...]] = []
    if 0 < y.sum() < len(y):
        aucs, cov = delong_covariance(y, np.vstack([raw, pd_]))
        for i, what in enumerate(("raw score (log-odds)", "calibrated PD")):
            se = math.sqrt(max(float(cov[i, i]), 0.0))
            rows.append((f"AUC, {what}", _num(aucs[i]), _num(aucs[i] - z * se),
                         _num(aucs[i] + z * se), f"DeLong, s.e. {se:.4f}"))
        gini = 2 * aucs[0] - 1
        se0 = math.sqrt(max(float(cov[0, 0]), 0.0))
        rows.append(("Gini, raw score", _num(gini), _num(gini - 2 * z * se0),
                     _num(gini + 2 * z * se0), "2 AUC - 1"))
    else:
        rows.append(("AUC", "n/a", "", "", "the sample holds one class only"))
    rows.append(("KS, raw score", _num(ks_statistic(y, raw)), "", "",
                 "no interval computed"))
    clipped = np.clip(pd_, 1e-6, 1 - 1e-6)
    brier = _interval((pd_ - y) ** 2)
    logloss = _interval(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    rows.append(("Brier score", _num(brier[0], 5), _num(brier[1], 5), _num(brier[2], 5),
                 "normal interval of the row-wise loss"))
    rows.append(("log loss", _num(logloss[0], 5), _num(logloss[1], 5), _num(logloss[2], 5),
                 "normal interval of the row-wise loss"))
    rows.append(("decile calibration error", _num(figures["calibration_error"]), "", "",
                 "row-weighted mean |PD - bad rate| over PD deciles"))
    logged = _table(["metric", "registry (run metric)", "recomputed"],
                    [(key, _num(c.metrics.get(f"holdout_{key}", math.nan)),
                      _num(figures[key])) for key in ("auc", "ks", "brier", "log_loss",
                                                       "calibration_error")])
    plot_roc(y, pd_, c.figures / "roc.png")
    plot_ks(y, pd_, c.figures / "ks.png")
    plot_calibration(y, pd_, c.figures / "calibration.png")
    validation = (c.model.metadata_.get("training", {}) or {}).get("validation_metrics") or {}
    performance = _section("Performance", (
        f"<p>The stored hold-out sample scored again by the registered model: "
        f"{len(y):,} rows, {int(y.sum()):,} defaults (bad rate {y.mean():.2%}, mean PD "
        f"{pd_.mean():.2%}). Intervals are two-sided {_LEVEL:.0%}.</p>"
        + _table(["figure", "value", "lower", "upper", "how"], rows)
        + "<p>The same figures as the registry logged them at training (AUC, KS and Brier "
          "of the calibrated PD) and as recomputed here; they agree unless the model or the "
          "sample changed:</p>" + logged
        + (f"<p>Validation ({_e(c.model.metadata_.get('training', {}).get('scheme'))}): AUC "
           f"{_num(validation.get('auc'))}, Brier {_num(validation.get('brier'))}.</p>"
           if validation else "")
        + _figure("roc.png", "ROC on the hold-out")
        + _figure("ks.png", "KS on the hold-out")
        + _figure("calibration.png", "Calibration by decile on the hold-out")
        + _source(c.holdout_source + "; run metrics <code>holdout_*</code>")))
    grades = grades_of(pd_, c.inputs.grade_upper_pd, c.inputs.grade_labels)
    table = by_grade(y, pd_, grades, c.inputs.grade_labels, level=_LEVEL)
    plot_by_grade(table, c.figures / "by_grade.png", title="Hold-out: PD against outcomes "
                  "by grade")
    rows_g = []
    for row in table.to_dict(orient="records"):
        inside = (row["n"] > 0 and row["lower"] <= row["predicted_pd"] <= row["upper"])
        rows_g.append((row["grade"], f"{int(row['n']):,}", f"{int(row['bads']):,}",
                       _num(row["predicted_pd"]), _num(row["observed_rate"]),
                       f"[{_num(row['lower'])}, {_num(row['upper'])}]",
                       "-" if not row["n"] else ("yes" if inside else "no")))
    calibration = _section("Calibration by grade", (
        "<p>Mean PD against the observed default rate in each grade, with the Jeffreys "
        f"{_LEVEL:.0%} interval of the rate (each grade on its own; the promotion gate "
        "adjusts the level over the grades and allows a materiality factor).</p>"
        + _table(["grade", "n", "defaults", "mean PD", "observed rate", "Jeffreys interval",
                  "PD inside"], rows_g)
        + _figure("by_grade.png", "PD against outcomes by grade")
        + _source(c.holdout_source + "; <code>models.backtest.by_grade</code>")))
    return performance, calibration


def _stability_rows(report: Mapping[str, Any]) -> str:
    score = report.get("score") or {}
    rows = [("score", "score", _num(score.get("psi")), score.get("flag", ""))]
    for item in sorted(report.get("features") or [], key=lambda f: -float(f.get("psi", 0))):
        rows.append((item.get("name", ""), item.get("kind", ""), _num(item.get("psi")),
                     item.get("flag", "")))
    warnings = "".join(f"<p>Warning: {_e(w)}</p>" for w in report.get("warnings") or [])
    return (warnings + _table(["distribution", "kind", "PSI", "flag"], rows))


def _stability(c: _Context) -> str:
    parts = ["<p>Population stability index (PSI) against the model's training sample "
             "(bins and shares stored with the model). Flags: 0.1 shift, 0.25 major "
             "shift.</p>"]
    function = c.inputs.stability
    parts.append(f"<h3>Hold-out sample ({len(c.y):,} rows)</h3>")
    if function is not None:
        parts.append(_stability_rows(function(c.model, c.X, "stored hold-out")))
    else:
        psi = c.model.score_reference_.psi(c.model.decision_function(c.X))
        parts.append(f"<p>Score PSI {_num(psi)} (features not computed).</p>")
    parts.append("<p>A hash hold-out is split from the training table itself, so its PSI "
                 "shows little; the applicants' PSI below is the one that matters.</p>")
    sources = [c.holdout_source]
    recent = c.inputs.recent
    parts.append("<h3>Latest applicants</h3>")
    if recent is None:
        parts.append("<p>No decisions database was given and the service's own database "
                     "is not there: not computed.</p>")
    elif not len(recent.features):
        parts.append(f"<p>{_e(recent.source)} holds no decision: not computed.</p>")
    else:
        missing = [str(n) for n in c.model.feature_names_in_ if n not in recent.features]
        if missing:
            parts.append(f"<p>The applicants of {_e(recent.source)} lack "
                         f"{len(missing)} model features ({_e(', '.join(missing[:5]))}): "
                         "not computed.</p>")
        else:
            parts.append(f"<p>{len(recent.features):,} latest applicants (one decision per "
                         f"seller) of {_e(recent.source)}, as the promotion gate takes "
                         "them.</p>")
            if function is not None:
                parts.append(_stability_rows(function(c.model, recent.features,
                                                      recent.source)))
            else:
                psi = c.model.score_reference_.psi(c.model.decision_function(recent.features))
                parts.append(f"<p>Score PSI {_num(psi)}.</p>")
            sources.append(_e(recent.source))
    return _section("Stability", "".join(parts) + _source(
        "; ".join(sources) + "; the model's training reference; "
        "<code>scoring.monitor.stability_report</code>"))


def _fairness(c: _Context, fairness: Any) -> str:
    if not isinstance(fairness, dict) or not fairness.get("segments"):
        return _section("Fairness", "<p>Fairness review: not recorded for this version."
                                    "</p>" + _source(f"run <code>{_e(c.run_id)}</code> has no "
                                                     f"artifact <code>{_FAIRNESS}</code>"))
    rows = []
    for seg in fairness.get("segments") or []:
        if not isinstance(seg, dict):
            continue
        rows.append((seg.get("dimension", ""), seg.get("segment", ""), seg.get("n", ""),
                     _num(seg.get("approval_rate")), _num(seg.get("air")),
                     _num(seg.get("mean_pd")), _num(seg.get("observed_rate")),
                     f"[{_num(seg.get('lower'))}, {_num(seg.get('upper'))}]",
                     ", ".join(map(str, seg.get("flags") or [])) or "-"))
    thresholds = fairness.get("thresholds") or {}
    notes = "".join(f"<li>{_e(n)}</li>" for n in fairness.get("notes") or [])
    return _section("Fairness", (
        "<p>Approval rate, adverse impact ratio (AIR: a segment's approval rate over the "
        "most approved segment's), mean PD against the observed rate with its interval, "
        "by segment.</p>"
        + _table(["dimension", "segment", "n", "approval rate", "AIR", "mean PD",
                  "observed rate", "interval", "flags"], rows)
        + (_table(["threshold", "value"], [(k, v) for k, v in thresholds.items()])
           if thresholds else "")
        + (f"<ul>{notes}</ul>" if notes else "")
        + _source(f"run <code>{_e(c.run_id)}</code>, artifact <code>{_FAIRNESS}</code>")))


def _limitations(c: _Context, card: str | None) -> str:
    items: list[str] = []
    if card and "## Known limits" in card:
        for line in card.split("## Known limits", 1)[1].splitlines():
            if line.startswith("## "):
                break
            if line.startswith("- "):
                items.append(line[2:])
    if not (c.model.metadata_.get("training", {}).get("windows")):
        items.append("The hold-out is a hash sample of the training table, not out of time: "
                     "its figures are optimistic about a later population.")
    bads = int(c.y.sum())
    if min(bads, len(c.y) - bads) < 100:
        items.append(f"The hold-out holds {bads} defaults: the intervals above are wide.")
    items.append("Only approved applicants have outcomes: the PD of the declined "
                 "population is extrapolated (no reject inference).")
    return _section("Limitations", "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items)
                    + "</ul>" + _source(f"the model card (run <code>{_e(c.run_id)}</code>, "
                                        f"artifact <code>{_CARD}</code>) and the hold-out"))


def _monitoring(c: _Context, backtest: Any) -> str:
    thresholds = {}
    with contextlib.suppress(ValueError):
        thresholds = json.loads(c.tags.get("promotion.thresholds", "{}"))
    max_psi = thresholds.get("max_psi", 0.25)
    plan = [
        "Score and feature PSI of the latest applicants against the training sample "
        f"(<code>sme-credit monitor</code>, the risk page's PSI): investigate at 0.1, "
        f"retrain or recalibrate at {_num(max_psi, 2)}.",
        "Backtest of every labelled cohort (<code>sme-credit labels</code>, then "
        "<code>sme-credit backtest</code>): AUC, KS, Brier and mean PD against the observed "
        "rate by grade with Jeffreys intervals; a grade outside its interval by more than "
        "the materiality factor is a finding.",
        "Champion against challenger in the shadow on the same decisions "
        "(<code>sme-credit backtest --compare-shadow</code>) before any promotion; every "
        "promotion through <code>sme-credit promote</code>'s gates, its verdict recorded.",
        "Vintage curves and roll rates from the ledger at each month end."]
    items = "".join(f"<li>{p}</li>" for p in plan)
    if backtest is not None and str(backtest.model_version) == c.version:
        rows = [(k, _num(v)) for k, v in backtest.metrics.items()]
        last = (f"<h3>Latest backtest of this version</h3><p>{backtest.started:%Y-%m-%d %H:%M}"
                f" UTC, run <code>{_e(backtest.run_id)}</code>.</p>"
                + _table(["figure", "value"], rows)
                + _table(["grade", "n", "bads", "mean PD", "observed", "interval"],
                         [(g.get("grade"), g.get("n"), g.get("bads"),
                           _num(g.get("predicted_pd")), _num(g.get("observed_rate")),
                           f"[{_num(g.get('lower'))}, {_num(g.get('upper'))}]")
                          for g in backtest.by_grade])
                + _source(f"run <code>{_e(backtest.run_id)}</code>, artifact "
                          "<code>backtest/backtest.json</code>"))
    elif backtest is not None:
        last = (f"<p>No backtest of this version recorded; the latest backtest of "
                f"{_e(c.model_name)} is of v{_e(backtest.model_version)} (run "
                f"<code>{_e(backtest.run_id)}</code>).</p>")
    else:
        last = "<p>No backtest recorded for this model yet.</p>"
    return _section("Monitoring plan", f"<ul>{items}</ul>" + last + _source(
        "the tracking store's backtest runs (tag <code>sme_credit.run_kind = backtest</code>)"
        " and the version's tag <code>promotion.thresholds</code>"))


def _promotion(c: _Context, records: list[dict[str, Any]]) -> str:
    verdict = c.tags.get("promotion.verdict")
    if not verdict and not records:
        return _section("Promotion record", "<p>This version has not been through the "
                                            "promotion gates.</p>" + _source(
                                                "the version's <code>promotion.*</code> tags"))
    parts = []
    if verdict:
        rows = [(key.removeprefix("promotion."), c.tags[key]) for key in
                ("promotion.verdict", "promotion.by", "promotion.at",
                 "promotion.compared_with", "promotion.reason", "promotion.sample",
                 "promotion.notes", "promotion.record") if key in c.tags]
        parts.append("<h3>Latest verdict (version tags)</h3>" + _table(["", ""], rows))
    if "demotion" in c.tags:
        parts.append(f"<p>Demoted: {_e(c.tags['demotion'])}</p>")
    for record in sorted(records, key=lambda r: str(r.get("at", "")), reverse=True):
        gates = [(g.get("name"), "pass" if g.get("passed") else
                  ("FAIL" if g.get("blocking", True) else "warn"), _num(g.get("value")),
                  g.get("bound", ""), g.get("detail", ""))
                 for g in record.get("gates") or [] if isinstance(g, dict)]
        figures = record.get("figures") or {}
        keys = sorted({k for f in figures.values() if isinstance(f, dict) for k in f})
        parts.append(
            f"<h3>{_e(record.get('verdict', '?'))} {_e(record.get('at', ''))} by "
            f"{_e(record.get('by', '?'))}</h3>"
            f"<p>Compared with: {_e(record.get('champion_version') or 'no champion')}. "
            f"Sample: {_e(record.get('sample', ''))}."
            + (f" Reason: {_e(record['reason'])}." if record.get("reason") else "") + "</p>"
            + "".join(f"<p>Note: {_e(n)}</p>" for n in record.get("notes") or [])
            + _table(["gate", "result", "value", "bound", "detail"], gates)
            + (_table(["figure", *figures.keys()],
                      [(k, *(_num(f.get(k)) for f in figures.values())) for k in keys])
               if figures else "")
            + _source(f"run <code>{_e(c.run_id)}</code>, artifact "
                      f"<code>{_e(record.get('_artifact', ''))}</code>"))
    return _section("Promotion record", "".join(parts) + _source(
        "the version's <code>promotion.*</code> tags and the run's <code>promotion/</code> "
        "records"))


_STYLE = """
body { font-family: sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #eee; }
figure { display: inline-block; margin: 0.5rem; }
img { max-width: 28rem; }
.source { color: #555; font-size: 0.85rem; border-left: 3px solid #bbb;
          padding-left: 0.5rem; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2rem; }
"""


def _page(title: str, body: str) -> str:
    contents = "".join(f'<li><a href="#{s.lower().replace(" ", "-")}">{_e(s)}</a></li>'
                       for s in SECTIONS)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{_e(title)}</h1><nav><ol>{contents}</ol></nav>\n{body}\n</body></html>\n")


def _calibration_choice(choice: Mapping[str, Any], pd_floor: float) -> str:
    """The paired bootstrap behind the calibration and the PD floor, as a sentence tail."""
    text = ""
    if "upper" in choice:
        text += (f"; Brier(isotonic) \u2212 Brier(Platt) {choice['brier_difference']:+.6f}, "
                 f"{choice['level'] * 100:g} % paired bootstrap interval "
                 f"[{choice['lower']:+.6f}, {choice['upper']:+.6f}] over "
                 f"{choice['resamples']} resamples (isotonic only when below 0)")
    if choice.get("rows"):
        text += f"; fitted on {choice['rows']} rows: {choice.get('fitted_on', '')}"
    return text + (f"; PD floor {pd_floor:g}" if pd_floor > 0 else "; no PD floor")
