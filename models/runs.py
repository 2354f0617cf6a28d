"""What the MLflow store recorded for the risk team's page: the champion and the challenger
with their hold-out figures and last promotion verdict, and the latest backtest run.

Reading only. Versions and aliases come from :func:`models.registry.list_versions`; a
backtest run is the one ``sme-credit backtest`` logs (:func:`cli.backtest.log_backtest_run`:
tag ``sme_credit.run_kind = backtest``, metrics ``backtest_*`` and ``backtest/backtest.json``
among its artifacts). A store that does not exist yet is never created here: an embedded
SQLite store that is not there reads as "nothing yet".
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException

from models.registry import CHALLENGER, CHAMPION, list_versions, tracking

__all__ = ["BACKTEST_METRICS", "VersionSummary", "BacktestRun", "store_exists",
           "champion_and_challenger", "latest_backtest"]

#: The headline figures of a backtest, in the order the page shows them.
BACKTEST_METRICS: tuple[str, ...] = ("n", "auc", "gini", "ks", "brier", "log_loss",
                                     "calibration_error", "bad_rate", "mean_pd")
_REPORT = "backtest/backtest.json"


@dataclass(frozen=True)
class VersionSummary:
    """One aliased version: its figures on its own hold-out and its promotion verdict."""

    alias: str
    version: str
    created: str
    metrics: dict[str, float]
    verdict: str
    verdict_at: str
    compared_with: str
    gates: tuple[dict[str, Any], ...]
    last_backtest_at: str


@dataclass(frozen=True)
class BacktestRun:
    """The latest backtest logged to MLflow."""

    run_id: str
    model_name: str
    model_version: str
    started: datetime
    metrics: dict[str, float]
    by_grade: tuple[dict[str, Any], ...]
    labels: dict[str, Any] = field(default_factory=dict)


def store_exists(tracking_uri: str) -> bool:
    """False for an embedded SQLite store whose file is not there (MLflow would create an
    empty one, which takes seconds); True for any other URI."""
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix):
        return Path(tracking_uri.removeprefix(prefix)).is_file()
    return True


def _finite(value: Any) -> float:
    number = float(value)
    return number if math.isfinite(number) else math.nan


def champion_and_challenger(tracking_uri: str, model_name: str) -> list[VersionSummary]:
    """The versions aliased ``champion`` and ``challenger`` (in that order), each with its
    hold-out figures and the promotion verdict recorded on it; empty when the store or the
    registered model does not exist yet."""
    if not store_exists(tracking_uri):
        return []
    try:
        versions = list_versions(tracking_uri, model_name)
    except LookupError:
        return []
    found: list[VersionSummary] = []
    with tracking(tracking_uri) as client:
        for alias in (CHAMPION, CHALLENGER):
            rows = versions[versions["aliases"].str.split(",").map(
                lambda names, alias=alias: alias in names)]
            if rows.empty:
                continue
            row = rows.iloc[0]
            version = str(row["version"])
            try:
                tags = dict(client.get_model_version(model_name, version).tags or {})
            except MlflowException:
                tags = {}
            try:
                gates = tuple(json.loads(tags.get("promotion.gates", "[]")))
            except ValueError:
                gates = ()
            metrics = {key.removeprefix("holdout_"): _finite(row[key])
                       for key in ("holdout_auc", "holdout_ks", "holdout_brier",
                                   "holdout_calibration_error")}
            found.append(VersionSummary(
                alias, version, str(row["created"]), metrics, str(row["promotion"] or ""),
                tags.get("promotion.at", ""), tags.get("promotion.compared_with", ""),
                gates, tags.get("backtest.last_at", "")))
    return found


_REPORTS: OrderedDict[str, dict[str, Any]] = OrderedDict()
_REPORTS_LOCK = threading.Lock()


def _report(client: Any, run_id: str) -> dict[str, Any]:
    """The run's ``backtest.json`` (cached: a run's artifacts never change)."""
    with _REPORTS_LOCK:
        if run_id in _REPORTS:
            return _REPORTS[run_id]
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = client.download_artifacts(run_id, _REPORT, folder)
            report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (MlflowException, OSError, ValueError):
        report = {}
    if not isinstance(report, dict):
        report = {}
    with _REPORTS_LOCK:
        _REPORTS[run_id] = report
        while len(_REPORTS) > 16:
            _REPORTS.popitem(last=False)
    return report


def latest_backtest(tracking_uri: str, model_name: str) -> BacktestRun | None:
    """The most recent backtest of any version of ``model_name``, or ``None`` when no
    backtest was logged (or the store does not exist yet)."""
    if not store_exists(tracking_uri):
        return None
    with tracking(tracking_uri) as client:
        try:
            experiments = [e.experiment_id for e in client.search_experiments()]
            if not experiments:
                return None
            runs = client.search_runs(
                experiments, filter_string=("tags.`sme_credit.run_kind` = 'backtest' and "
                                            f"tags.`backtest.model_name` = "
                                            f"'{model_name.replace(chr(39), '')}'"),
                order_by=["attributes.start_time DESC"], max_results=1)
        except MlflowException:
            return None
        if not runs:
            return None
        run = runs[0]
        report = _report(client, run.info.run_id)
    metrics = {key.removeprefix("backtest_"): _finite(value)
               for key, value in run.data.metrics.items() if key.startswith("backtest_")}
    by_grade = tuple(row for row in report.get("by_grade") or () if isinstance(row, dict))
    labels = report.get("labels") if isinstance(report.get("labels"), dict) else {}
    return BacktestRun(run.info.run_id, model_name,
                       run.data.tags.get("backtest.model_version", "?"),
                       datetime.fromtimestamp(run.info.start_time / 1000, UTC),
                       metrics, by_grade, dict(labels or {}))
