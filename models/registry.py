"""MLflow: log a trained model, register it, promote challenger to champion, list versions.

Everything that talks to MLflow lives here; :mod:`models.training` and
:mod:`models.evaluation` work without it.

What one registered version holds
---------------------------------
- The MLflow model (``pyfunc`` flavour, with signature and input example): loadable with
  ``mlflow.pyfunc.load_model("models:/<name>/<version>")``; ``predict`` returns a
  DataFrame with ``probability_of_default`` and ``raw_score`` (log-odds before
  calibration). Its artifact ``credit_model`` is the native :class:`CreditModel` folder
  (:func:`load_credit_model` reads it, with ``explain``). Its metadata holds the reasons'
  comparison point (``metadata_["cutoff_reference"]``, :mod:`models.cutoff`): the typical
  applicant of the hold-out sample approved at the default cut-off, computed once here so
  a scorer does not score the hold-out sample each time it loads the version.
- In its run: parameters, hold-out and validation metrics, plots (``plots/``), the model
  card (``model_card.md``), evaluation tables (``evaluation/``) and the **hold-out sample**
  ``holdout/holdout.parquet``: the rows :func:`models.train` set aside before fitting
  (the most recent ones with a time column, else a hash sample of the index labels; at most
  ``holdout_max_rows`` of them), feature columns plus :data:`LABEL_COLUMN`.
- Fairness (:mod:`models.fairness`) on the hold-out: ``fairness/fairness.json`` (approval
  rate, adverse impact ratio and calibration by segment, in the documented shape) and
  ``fairness/segments.parquet``: the hold-out rows' segment columns (seller kind, industry,
  region, tenure, those the training table or the ``segments`` argument carries), indexed
  like the hold-out, so a promotion reads the same segments.
- Tags on run and version: ``data_fingerprint``, ``code_version``,
  ``feature_registry_version``, ``training_scheme``.

Promotion
---------
:func:`promote` scores the challenger and the current champion on **the challenger's
hold-out sample**, restricted to the rows the champion has not trained on either: all of
them when the champion's training data ends before the sample starts (out of time) or both
were trained on the same table (the hash hold-out is a keyed hash of the index, so both
hold out the same rows); else the rows of the champion's own stored hold-out, when they hold
enough defaults; else all of them, with a note (a champion that has seen some is favoured,
so the gate errs on the side of keeping it). The gates are :mod:`models.gates`': serving
features, DeLong AUC non-inferiority on raw scores, paired Brier and log loss, calibration
in the large and by grade (Jeffreys intervals), decile calibration error, score PSI
against the latest applicants (when the caller passes them) and, as a warning that never
rejects, fairness by segment (with the stored segment columns). The first model is promoted
on the gates except the comparisons. The verdict (who, when, gates, figures, reason) is
recorded as ``promotion.*`` tags on the version and, with every figure and the calibration
tables, as a JSON document ``promotion/promotion-<time>.json`` in the version's run,
whatever it is.
"""

from __future__ import annotations

import contextlib
import copy
import getpass
import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.tracking import MlflowClient
from mlflow.types.schema import ColSpec, Schema

from features.registry import FEATURES, registry_version
from models.credit_model import CreditModel
from models.cutoff import METADATA_KEY as CUTOFF_METADATA_KEY
from models.cutoff import cutoff_reference_record
from models.fairness import DIMENSIONS, FairnessConfig
from models.gates import Gate, GateConfig, PromotionResult, RecentApplicants, judge
from models.report import evaluate, model_card

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "FAIRNESS_PATH",
    "LABEL_COLUMN",
    "CreditModelPyfunc",
    "Gate",
    "GateConfig",
    "LoggedVersion",
    "PromotionResult",
    "RecentApplicants",
    "alias_versions",
    "code_version",
    "data_fingerprint",
    "list_versions",
    "load_credit_model",
    "load_holdout",
    "log_and_register",
    "promote",
    "promotion_record",
    "tracking",
]

CHAMPION = "champion"
_TRACKING_LOCK = threading.RLock()
#: The environment variable ``mlflow.set_tracking_uri`` mirrors the fluent URI to.
_TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"
CHALLENGER = "challenger"
#: Label column of the stored hold-out sample.
LABEL_COLUMN = "__label__"
_MODEL_ARTIFACT = "credit_model"
_HOLDOUT_PATH = "holdout/holdout.parquet"
#: The fairness figures on the hold-out (read by the model document) and its segments.
FAIRNESS_PATH = "fairness/fairness.json"
_SEGMENTS_PATH = "fairness/segments.parquet"
#: Longest tag value written (MLflow's limit for a model version tag).
_TAG_LIMIT = 5000


# ------------------------------------------------------------------ provenance
def data_fingerprint(features: pd.DataFrame, label: object) -> str:
    """SHA-256 (first 16 hex digits) of the training table: columns, dtypes, index, values
    and label. Any change of a value, a row, a column or the row order changes it."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(features[c].dtype)] for c in features.columns])
                  .encode("utf-8"))
    digest.update(pd.util.hash_pandas_object(features, index=True).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(np.asarray(label, dtype=float)).tobytes())
    return digest.hexdigest()[:16]


def code_version() -> str:
    """``git:<commit>`` of the working tree holding this package, else ``package:<version>``."""
    root = Path(__file__).resolve().parent.parent
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return f"git:{out.stdout.strip()}"
    try:
        return f"package:{importlib_metadata.version('sme-credit')}"
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def tracking(tracking_uri: str) -> Iterator[MlflowClient]:
    """Point MLflow's fluent API at ``tracking_uri`` for the block, then restore it; yields
    a client of that store (``with tracking(uri) as client, mlflow.start_run(): ...``).

    The previous setting is restored as it was (also "not set", and the
    ``MLFLOW_TRACKING_URI`` environment variable that ``mlflow.set_tracking_uri`` mirrors
    it to), so a caller's own MLflow configuration is untouched; the registry follows the
    tracking URI.
    """
    # The fluent URI is process-wide: threads of one process (the service's poller and
    # its requests) take turns, so one's restore never undoes another's setting.
    with _TRACKING_LOCK:
        previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        previous_environment = os.environ.get(_TRACKING_URI_VARIABLE)
        mlflow.set_tracking_uri(tracking_uri)
        try:
            yield MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        finally:
            # None is how mlflow.set_tracking_uri unsets the URI (and its variable).
            mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]
            if previous_environment is None:
                os.environ.pop(_TRACKING_URI_VARIABLE, None)
            else:
                os.environ[_TRACKING_URI_VARIABLE] = previous_environment


# --------------------------------------------------------------------- pyfunc
#: The pyfunc's code, logged as a file ("models from code"), not a pickled object.
_PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_entry.py")


class CreditModelPyfunc(PythonModel):
    """MLflow ``pyfunc`` wrapper of a :class:`CreditModel` folder (artifact ``credit_model``).

    Loading it needs this package (``sme-credit``) importable, as the scoring service has.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Load the native model from the version's ``credit_model`` artifact."""
        self.model = CreditModel.load(context.artifacts[_MODEL_ARTIFACT])

    # MLflow reads predict's type hints: a DataFrame hint is one it infers no schema from
    # (nor validates against), so the schema stays the explicit signature logged with the
    # model, which already turns every input into a DataFrame of the model's columns.
    def predict(self, context: PythonModelContext | None, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """``probability_of_default`` and ``raw_score`` per row of ``model_input``.

        Parameters
        ----------
        context : MLflow's model context (unused: the model is loaded by
            :meth:`load_context`).
        model_input : one row per applicant, with the model's feature columns.
        params : MLflow inference parameters (none are used).

        Returns
        -------
        pandas.DataFrame
            Indexed like ``model_input``.
        """
        raw = self.model.decision_function(model_input)
        return pd.DataFrame({"probability_of_default": self.model.calibration_.apply(raw),
                             "raw_score": raw}, index=model_input.index)


def _signature(model: CreditModel) -> ModelSignature:
    mlflow_types = {"integer": "long", "boolean": "boolean", "float": "double",
                    "text": "string"}
    inputs = Schema([ColSpec(mlflow_types[c.value_type], c.name, required=False)
                     for c in model.columns_])
    outputs = Schema([ColSpec("double", "probability_of_default"),
                      ColSpec("double", "raw_score")])
    return ModelSignature(inputs=inputs, outputs=outputs)


def _requirements() -> list[str]:
    names = ["lightgbm", "numpy", "pandas", "pyarrow", "scikit-learn", "mlflow"]
    out = []
    for name in names:
        try:
            out.append(f"{name}=={importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:
            out.append(name)
    return out


# -------------------------------------------------------------------- logging
@dataclass
class LoggedVersion:
    """A model logged and registered by :func:`log_and_register`."""

    model_name: str
    version: str
    run_id: str
    experiment_id: str
    model_uri: str
    metrics: dict[str, float]
    tags: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)


def _holdout_positions(model: CreditModel, max_rows: int, seed: int) -> np.ndarray:
    positions = model.training_report_.holdout_positions
    if len(positions) > max_rows:
        rng = np.random.default_rng(seed)
        positions = np.sort(rng.choice(positions, size=max_rows, replace=False))
    return positions


def _label_array(features: pd.DataFrame, label: object) -> np.ndarray:
    if isinstance(label, str):
        return np.asarray(pd.to_numeric(features[label]), dtype=float)
    values = label.to_numpy() if isinstance(label, pd.Series) else np.asarray(label)
    return np.asarray(values, dtype=float)


def _flat_params(model: CreditModel, extra: dict[str, Any]) -> dict[str, Any]:
    config = (model.config.to_dict() if model.config is not None else {})
    config.pop("candidates", None)
    config["monotone_overrides"] = json.dumps(config.get("monotone_overrides", {}))
    params: dict[str, Any] = {f"config.{k}": v for k, v in config.items()}
    params.update({f"lgb.{k}": v for k, v in model.params_.items()
                   if k not in ("monotone_constraints",)})
    params["best_iteration"] = model.best_iteration_
    params["calibration"] = model.calibration_.method
    params["n_features"] = model.n_features_in_
    params["monotone_features"] = ",".join(c.name for c in model.columns_ if c.monotone) or "-"
    params.update(extra)
    return {k: (str(v)[:500] if not isinstance(v, int | float) else v) for k, v in params.items()}


def log_and_register(model: CreditModel, features: pd.DataFrame, label: object, *,
                     tracking_uri: str, model_name: str, experiment: str = "sme-credit",
                     artifact_location: str | None = None, segment: str | None = None,
                     data_description: str = "", extra_params: dict[str, Any] | None = None,
                     holdout_max_rows: int = 50_000, run_name: str | None = None,
                     segments: pd.DataFrame | None = None,
                     fairness: FairnessConfig | None = None) -> LoggedVersion:
    """Log a freshly trained model to MLflow, register a new version, alias it challenger.

    Parameters
    ----------
    model : fitted by :func:`models.train` in this process (its ``training_report_`` names
        the hold-out rows).
    features, label : exactly what was passed to :func:`models.train`.
    tracking_uri : MLflow tracking URI (SQLite store, file store or ``http(s)://`` server).
    model_name : registered model name.
    experiment : experiment name; created when missing (with ``artifact_location``).
    artifact_location : artifact root for a newly created experiment. ``None``: for a
        SQLite store, ``mlartifacts/`` beside the database file (never the working
        directory); otherwise left to the tracking server.
    segment : column of ``features`` whose segments get their own AUC (e.g. ``kind``).
    data_description : where the data came from, for the model card.
    extra_params : more run parameters (e.g. the CLI arguments).
    holdout_max_rows : cap of the stored hold-out sample (random rows, seeded).
    segments : segment columns the feature table lacks (``industry``, ``region`` of the
        sellers), indexed by the same (unique) labels as ``features``; rows it lacks are
        the segment ``missing``. The table's own segment columns are used too.
    fairness : thresholds of the fairness figures; defaults when ``None``.

    Returns
    -------
    LoggedVersion
        With ``seconds``: ``evaluation`` (metrics, plots, card; no MLflow) and ``mlflow``
        (everything that talks to MLflow).
    """
    if not hasattr(model, "training_report_"):
        raise ValueError("log_and_register needs a model trained in this process by "
                         "models.train (a loaded model does not know its hold-out rows)")
    started = time.perf_counter()
    if artifact_location is None and tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri.removeprefix("sqlite:///").split("?")[0])
        artifact_location = (database.parent / "mlartifacts").resolve().as_uri()
    y = _label_array(features, label)
    seed = model.config.seed if model.config is not None else 0
    positions = _holdout_positions(model, holdout_max_rows, seed)
    holdout = features.iloc[positions][list(model.feature_names_in_)].copy()
    holdout[LABEL_COLUMN] = y[positions].astype(np.int8)
    holdout_X = holdout.drop(columns=[LABEL_COLUMN])
    segment_values = None
    if segment is not None:
        if segment not in features.columns:
            raise ValueError(f"segment column {segment!r} is not in the feature table")
        segment_values = pd.Series(features[segment].iloc[positions].to_numpy(),
                                   index=holdout.index, name=segment)
    segment_frame = _holdout_segments(features, segments, positions, holdout.index)
    sample = ("hold-out (out of time)" if model.training_report_.scheme == "out-of-time"
              else "hold-out (hash sample of the index)")
    evaluation = evaluate(model, holdout_X, holdout[LABEL_COLUMN].to_numpy(), sample=sample,
                          segment=segment_values, segment_columns=segment_frame,
                          fairness=fairness)
    tags = {
        "data_fingerprint": data_fingerprint(features, y),
        "code_version": code_version(),
        "feature_registry_version": registry_version(),
        "training_scheme": model.training_report_.scheme,
        "holdout_sample": _HOLDOUT_PATH,
    }
    from models.plots import save_plots

    with tempfile.TemporaryDirectory(prefix="sme-credit-run-") as tmp:
        folder = Path(tmp)
        save_plots(model, holdout_X, holdout[LABEL_COLUMN].to_numpy(), folder / "plots")
        card = model_card(model, evaluation, name=model_name,
                          data_description=data_description, extra=tags)
        (folder / "model_card.md").write_text(card, encoding="utf-8")
        tables = folder / "evaluation"
        tables.mkdir()
        evaluation.calibration.to_csv(tables / "calibration_by_decile.csv", index=False)
        evaluation.cutoffs.to_csv(tables / "cutoffs.csv", index=False)
        if evaluation.segments is not None:
            evaluation.segments.to_csv(tables / "auc_by_segment.csv", index=False)
        (tables / "training_report.json").write_text(
            json.dumps(model.training_report_.summary(), indent=1, default=str),
            encoding="utf-8")
        (folder / "holdout").mkdir()
        holdout.to_parquet(folder / _HOLDOUT_PATH)
        (folder / "fairness").mkdir()
        segment_frame.to_parquet(folder / _SEGMENTS_PATH)
        if evaluation.fairness is not None:
            (folder / FAIRNESS_PATH).write_text(
                json.dumps(evaluation.fairness.to_dict(), indent=1, default=str),
                encoding="utf-8")
        # The reasons' comparison point, computed once here and stored with the model, so a
        # scorer loading this version reads it instead of scoring the hold-out sample.
        # (The caller's model is left as it is: a shallow copy carries the reference.)
        registered = copy.copy(model)
        registered.metadata_ = {**model.metadata_, CUTOFF_METADATA_KEY: cutoff_reference_record(
            model, holdout_X, sample_name=f"{sample} stored with the version").to_dict()}
        registered.save(folder / _MODEL_ARTIFACT)
        input_example = model.input_example(holdout_X)
        evaluation_seconds = time.perf_counter() - started

        mlflow_started = time.perf_counter()
        metrics = {f"holdout_{k}": float(v) for k, v in evaluation.metrics.items()
                   if np.isfinite(v)}
        metrics.update({f"validation_{k}": float(v) for k, v in
                        model.training_report_.validation_metrics.items() if np.isfinite(v)})
        metrics["train_seconds"] = model.training_report_.seconds
        if evaluation.fairness is not None:
            metrics["holdout_fairness_warnings"] = float(len(evaluation.fairness.warnings()))
        if evaluation.segments is not None:
            for row in evaluation.segments.to_dict(orient="records"):
                if np.isfinite(float(row["auc"])):
                    metrics[f"holdout_auc_{_metric_key(str(row['segment']))}"] = float(
                        row["auc"])
        with tracking(tracking_uri) as client:
            experiment_id = _experiment_id(client, experiment, artifact_location)
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
                mlflow.log_params(_flat_params(model, extra_params or {}))
                mlflow.log_metrics(metrics)
                mlflow.set_tags(tags)
                mlflow.log_artifacts(str(folder / "plots"), "plots")
                mlflow.log_artifacts(str(tables), "evaluation")
                mlflow.log_artifacts(str(folder / "holdout"), "holdout")
                mlflow.log_artifacts(str(folder / "fairness"), "fairness")
                mlflow.log_artifact(str(folder / "model_card.md"))
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(_PYFUNC_ENTRY),
                    artifacts={_MODEL_ARTIFACT: str(folder / _MODEL_ARTIFACT)},
                    signature=_signature(model),
                    input_example=input_example,
                    pip_requirements=_requirements(),
                )
                run_id = run.info.run_id
            _ensure_registered(client, model_name)
            version = client.create_model_version(
                model_name, source=info.model_uri, run_id=run_id, tags=tags,
                model_id=info.model_id,
                description=f"{sample} AUC {evaluation.metrics['auc']:.4f}")
            version = _wait_ready(client, version)
            client.set_registered_model_alias(model_name, CHALLENGER, version.version)
        mlflow_seconds = time.perf_counter() - mlflow_started
    return LoggedVersion(model_name=model_name, version=str(version.version), run_id=run_id,
                         experiment_id=experiment_id, model_uri=info.model_uri,
                         metrics=metrics, tags=tags,
                         seconds={"evaluation": evaluation_seconds, "mlflow": mlflow_seconds})


def _holdout_segments(features: pd.DataFrame, segments: pd.DataFrame | None,
                      positions: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """The segment columns (:data:`models.fairness.DIMENSIONS`) of the hold-out rows, from
    the training table and from ``segments`` (matched by index label)."""
    wanted = [c for candidates in DIMENSIONS.values() for c in candidates]
    frame = pd.DataFrame(index=index)
    for column in wanted:
        if column in features.columns:
            frame[column] = features[column].iloc[positions].to_numpy()
    if segments is not None:
        extra = [c for c in segments.columns if c in wanted and c not in frame.columns]
        if extra and segments.index.has_duplicates:
            raise ValueError("segments must be indexed by unique labels (the seller ids of "
                             "the feature table)")
        if extra:
            labels = features.index[positions]
            for column in extra:
                frame[column] = segments[column].reindex(labels).to_numpy()
    for column in frame.columns:  # parquet wants one type per column
        if frame[column].dtype == object or isinstance(frame[column].dtype,
                                                       pd.CategoricalDtype):
            frame[column] = frame[column].astype("string")
    return frame


def _metric_key(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in text)


def _experiment_id(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise ValueError(f"experiment {name!r} is deleted; restore it or choose another "
                             "name")
        return str(found.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifact_location))


def _ensure_registered(client: MlflowClient, name: str) -> None:
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Probability of default of marketplace sellers (sme-credit).")


def _wait_ready(client: MlflowClient, version: ModelVersion, timeout: float = 60.0,
                ) -> ModelVersion:
    deadline = time.monotonic() + timeout
    while version.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
        time.sleep(0.2)
        version = client.get_model_version(version.name, version.version)
    if version.status != "READY":
        raise RuntimeError(f"model version {version.name} v{version.version} is "
                           f"{version.status}")
    return version


# -------------------------------------------------------------------- loading
def _resolve(client: MlflowClient, model_name: str, version: str | None,
             alias: str | None) -> ModelVersion:
    try:
        if version is not None:
            return client.get_model_version(model_name, str(version))
        return client.get_model_version_by_alias(model_name, alias or CHAMPION)
    except MlflowException as exc:
        what = f"version {version}" if version is not None else f"alias {alias or CHAMPION!r}"
        raise LookupError(f"registered model {model_name!r} has no {what}") from exc


def load_credit_model(tracking_uri: str, model_name: str, *, version: str | None = None,
                      alias: str | None = CHAMPION) -> tuple[CreditModel, ModelVersion]:
    """The native :class:`CreditModel` of a registered version (by number, else by alias).

    Raises
    ------
    LookupError
        When the model, version or alias does not exist.
    """
    with tracking(tracking_uri) as client:
        found = _resolve(client, model_name, version, alias)
        with tempfile.TemporaryDirectory(prefix="sme-credit-model-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{model_name}/{found.version}", dst_path=tmp,
                tracking_uri=tracking_uri, registry_uri=tracking_uri)
            model = CreditModel.load(Path(local) / "artifacts" / _MODEL_ARTIFACT)
    return model, found


def load_holdout(tracking_uri: str, model_name: str, version: str,
                 ) -> tuple[pd.DataFrame, np.ndarray]:
    """The hold-out sample stored with a version: ``(features, label)``."""
    with tracking(tracking_uri) as client:
        found = _resolve(client, model_name, version, None)
        if not found.run_id:
            raise LookupError(f"{model_name} v{version} has no run; no hold-out sample")
        with tempfile.TemporaryDirectory(prefix="sme-credit-holdout-") as tmp:
            path = client.download_artifacts(found.run_id, _HOLDOUT_PATH, tmp)
            frame = pd.read_parquet(path)
    y = frame[LABEL_COLUMN].to_numpy(dtype=float)
    return frame.drop(columns=[LABEL_COLUMN]), y


# ------------------------------------------------------------------ promotion
def _comparison_sample(tracking_uri: str, model_name: str, challenger_mv: ModelVersion,
                       champion_mv: ModelVersion | None, challenger: CreditModel,
                       champion: CreditModel | None, X: pd.DataFrame, y: np.ndarray,
                       config: GateConfig) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The rows of the challenger's hold-out that the champion has not trained on either
    (with the champion's columns), and a description of the sample."""
    if champion is None or champion_mv is None:
        return X, y, (f"hold-out of v{challenger_mv.version} ({len(y)} rows, "
                      f"{int(y.sum())} defaults)")
    champion_holdout: list[pd.DataFrame | None] = []

    def champion_rows() -> pd.DataFrame | None:
        if not champion_holdout:  # read once, only when needed
            try:
                champion_holdout.append(
                    load_holdout(tracking_uri, model_name, str(champion_mv.version))[0])
            except (LookupError, MlflowException, OSError):
                champion_holdout.append(None)
        return champion_holdout[0]

    X, y, sample = _unseen_rows(challenger_mv, champion_mv, challenger, champion, X, y,
                                config, champion_rows)
    # a challenger with fewer columns stored only its own: the champion's other columns come
    # from the champion's stored hold-out, for the rows both hold out
    needed = [str(n) for n in champion.feature_names_in_ if n not in X.columns]
    rows = champion_rows() if needed else None
    if rows is not None and all(n in rows.columns for n in needed):
        rows = rows.loc[~rows.index.duplicated(), needed]
        keep = np.asarray(X.index.isin(rows.index))
        X = X.loc[keep].assign(**{n: rows[n].reindex(X.index[keep]) for n in needed})
        y = y[keep]
        sample += (f"; the champion's columns {', '.join(needed)} from its own stored "
                   f"hold-out: {int(keep.sum())} rows ({int(y.sum())} defaults)")
    return X, y, sample


def _unseen_rows(challenger_mv: ModelVersion, champion_mv: ModelVersion,
                 challenger: CreditModel, champion: CreditModel, X: pd.DataFrame,
                 y: np.ndarray, config: GateConfig,
                 champion_rows: Callable[[], pd.DataFrame | None],
                 ) -> tuple[pd.DataFrame, np.ndarray, str]:
    base = f"hold-out of v{challenger_mv.version} ({len(y)} rows, {int(y.sum())} defaults)"
    chal_training = challenger.metadata_.get("training", {})
    champ_training = champion.metadata_.get("training", {})
    holdout_window = (chal_training.get("windows") or {}).get("holdout") or []
    champ_windows = champ_training.get("windows") or {}
    seen = [w[1] for part, w in champ_windows.items() if part != "holdout" and w]
    if holdout_window and seen:
        with contextlib.suppress(ValueError, TypeError):
            last_seen = max(pd.Timestamp(t) for t in seen)
            if last_seen < pd.Timestamp(holdout_window[0]):
                return X, y, (f"{base}; neither model trained on it (the champion's data "
                              f"ends {last_seen}, the sample starts {holdout_window[0]})")
    chal_tags, champ_tags = challenger_mv.tags or {}, champion_mv.tags or {}
    if chal_tags.get("data_fingerprint") and \
            chal_tags.get("data_fingerprint") == champ_tags.get("data_fingerprint") and \
            chal_training.get("scheme") == champ_training.get("scheme") and \
            challenger.config is not None and champion.config is not None and \
            challenger.config.holdout_fraction == champion.config.holdout_fraction:
        return X, y, f"{base}; both models held out these rows (same training table)"
    rows = champion_rows()
    if rows is not None:
        both = np.asarray(X.index.isin(rows.index))
        bads = int(y[both].sum())
        if both.all():
            return X, y, f"{base}; both models held out these rows"
        if min(bads, int(both.sum()) - bads) >= config.min_sample_defaults:
            return (X.loc[both], y[both],
                    f"{int(both.sum())} rows ({bads} defaults) of the {base} that the "
                    f"champion v{champion_mv.version} also held out")
    return X, y, (f"{base}; the champion may have trained on some of these rows (fewer than "
                  f"{config.min_sample_defaults} defaults and non-defaults in its own "
                  "hold-out), which favours the champion")


def _load_segments(tracking_uri: str, version: ModelVersion) -> pd.DataFrame | None:
    """The segment columns stored with a version's hold-out; ``None`` for a version logged
    before they were stored."""
    if not version.run_id:
        return None
    with tracking(tracking_uri) as client, \
            tempfile.TemporaryDirectory(prefix="sme-credit-segments-") as tmp:
        try:
            path = client.download_artifacts(version.run_id, _SEGMENTS_PATH, tmp)
        except (MlflowException, OSError):
            return None
        return pd.read_parquet(path)


def promote(tracking_uri: str, model_name: str, *, version: str | None = None,
            gates: GateConfig | None = None, force: bool = False, reason: str | None = None,
            actor: str | None = None, recent: RecentApplicants | None = None,
            servable_features: Collection[str] | None = None) -> PromotionResult:
    """Move alias ``champion`` to the challenger when every gate passes (or when forced).

    The gates are :func:`models.gates.judge`'s, on the challenger's stored hold-out sample
    restricted to rows the champion has not trained on either (by time window, by the same
    training table, or by the champion's own stored hold-out); when that leaves too few
    defaults, on the whole hold-out, with a note (such a sample favours the champion).

    Parameters
    ----------
    version : the version to promote; default: the one aliased ``challenger``.
    gates : thresholds; :class:`GateConfig` defaults when ``None``.
    force : promote even when a gate fails; needs ``reason``.
    reason : written reason, required with ``force`` (recorded either way).
    actor : who decides; default: the operating-system user.
    recent : the latest applicants the service decided on, the base of the score PSI;
        ``None``: the sample (with a note).
    servable_features : the features the serving pipeline's snapshot builder produces;
        default: every feature of :data:`features.registry.FEATURES`.

    Raises
    ------
    ValueError
        ``force`` without a reason, bad thresholds, or the version already champion.
    LookupError
        Unknown model, version or missing ``challenger`` alias.
    """
    gates = gates or GateConfig()
    gates.check()
    if force and not (reason and reason.strip()):
        raise ValueError("--force needs a written reason (--reason TEXT)")
    actor = actor or _user()
    with tracking(tracking_uri) as client:
        challenger_mv = _resolve(client, model_name, version,
                                 CHALLENGER if version is None else None)
        champion_mv: ModelVersion | None
        try:
            champion_mv = client.get_model_version_by_alias(model_name, CHAMPION)
        except MlflowException:
            champion_mv = None
        if champion_mv is not None and str(champion_mv.version) == str(challenger_mv.version):
            raise ValueError(f"{model_name} v{challenger_mv.version} is already the champion")
    challenger, _ = load_credit_model(tracking_uri, model_name, version=challenger_mv.version)
    champion: CreditModel | None = None
    if champion_mv is not None:
        champion, _ = load_credit_model(tracking_uri, model_name,
                                        version=champion_mv.version)
    X, y = load_holdout(tracking_uri, model_name, challenger_mv.version)
    segments = _load_segments(tracking_uri, challenger_mv)
    X, y, sample = _comparison_sample(tracking_uri, model_name, challenger_mv, champion_mv,
                                      challenger, champion, X, y, gates)
    outcome = judge(challenger, X, y, champion=champion, config=gates,
                    servable_features=(FEATURES.keys() if servable_features is None
                                       else servable_features),
                    recent=recent, segments=segments)
    all_pass = all(g.passed for g in outcome.gates if g.blocking)
    verdict = "promoted" if all_pass else ("forced" if force else "rejected")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    result = PromotionResult(
        model_name=model_name, challenger_version=str(challenger_mv.version),
        champion_version=str(champion_mv.version) if champion_mv is not None else None,
        gates=outcome.gates, verdict=verdict, actor=actor, at=at,
        reason=reason.strip() if reason else None, figures=outcome.figures, sample=sample,
        comparisons=outcome.comparisons, calibration=outcome.calibration,
        notes=outcome.notes, fairness=outcome.fairness)
    with tracking(tracking_uri) as client:
        _record(client, result, gates, challenger_mv.run_id)
        if result.promoted:
            client.set_registered_model_alias(model_name, CHAMPION, result.challenger_version)
            with contextlib.suppress(MlflowException):
                current = client.get_model_version_by_alias(model_name, CHALLENGER)
                if str(current.version) == result.challenger_version:
                    client.delete_registered_model_alias(model_name, CHALLENGER)
            if result.champion_version is not None:
                client.set_model_version_tag(model_name, result.champion_version,
                                             "demotion", json.dumps({
                                                 "at": at, "by": actor,
                                                 "replaced_by": result.challenger_version}))
    return result


def promotion_record(result: PromotionResult, gates: GateConfig) -> dict[str, Any]:
    """The verdict with every figure, as written to the run's ``promotion/`` artifact."""
    return {
        "model_name": result.model_name, "challenger_version": result.challenger_version,
        "champion_version": result.champion_version, "verdict": result.verdict,
        "by": result.actor, "at": result.at, "reason": result.reason,
        "sample": result.sample, "notes": result.notes, "thresholds": asdict(gates),
        "gates": [asdict(g) for g in result.gates],
        "figures": {who: {k: (float(v) if np.isfinite(v) else None) for k, v in figs.items()}
                    for who, figs in result.figures.items()},
        "comparisons": result.comparisons, "calibration": result.calibration,
        "fairness": result.fairness,
    }


def _record(client: MlflowClient, result: PromotionResult, gates: GateConfig,
            run_id: str | None) -> None:
    tags = {
        "promotion.verdict": result.verdict,
        "promotion.by": result.actor,
        "promotion.at": result.at,
        "promotion.compared_with": result.champion_version or "none",
        "promotion.gates": _gates_tag(result.gates),
        "promotion.thresholds": json.dumps(asdict(gates)),
        "promotion.figures": json.dumps(
            {who: {k: round(v, 6) for k, v in figs.items() if np.isfinite(v)}
             for who, figs in result.figures.items()}),
        "promotion.comparisons": json.dumps(
            {key: {k: (round(v, 6) if isinstance(v, float) else v) for k, v in c.items()}
             for key, c in result.comparisons.items()}),
        "promotion.sample": result.sample,
    }
    if result.notes:
        tags["promotion.notes"] = " | ".join(result.notes)
    if result.reason:
        tags["promotion.reason"] = result.reason
    if run_id:
        # every figure (calibration tables included) in one JSON document per decision
        name = f"promotion-{result.at[:19].replace(':', '')}Z.json"
        client.log_text(run_id, json.dumps(promotion_record(result, gates), indent=1,
                                           default=str), f"promotion/{name}")
        tags["promotion.record"] = f"promotion/{name}"
    for key, value in tags.items():
        client.set_model_version_tag(result.model_name, result.challenger_version, key,
                                     value[:_TAG_LIMIT])


def _gates_tag(gates: list[Gate]) -> str:
    """The gates as JSON that fits a tag (5,000 characters) whole: long details are cut
    (the run's promotion record keeps them in full), never the JSON itself."""
    for limit in (400, 150, 0):
        text = json.dumps([{**asdict(g), "detail": g.detail[:limit]} for g in gates],
                          default=str)
        if len(text) <= _TAG_LIMIT:
            return text
    return json.dumps([{"name": g.name, "passed": g.passed, "blocking": g.blocking}
                       for g in gates])


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# -------------------------------------------------------------------- listing
def alias_versions(tracking_uri: str, model_name: str) -> dict[str, str]:
    """The version each alias of ``model_name`` points to (``{"champion": "3", ...}``).

    One registry read; the service polls it to notice a promotion.

    Raises
    ------
    LookupError
        When the registered model does not exist.
    """
    # An explicit client, not the fluent API's process-wide URI: the service polls this
    # from a background thread while other threads may use MLflow.
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        registered = client.get_registered_model(model_name)
    except MlflowException as exc:
        raise LookupError(f"no registered model {model_name!r} at {tracking_uri}") from exc
    return {str(alias): str(version)
            for alias, version in (registered.aliases or {}).items()}


def list_versions(tracking_uri: str, model_name: str) -> pd.DataFrame:
    """Every version of ``model_name``, newest first, with aliases and headline metrics.

    Columns: ``version``, ``aliases``, ``created``, ``holdout_auc``, ``holdout_ks``,
    ``holdout_brier``, ``holdout_calibration_error``, ``promotion``, ``run_id``.

    Raises
    ------
    LookupError
        When the registered model does not exist.
    """
    with tracking(tracking_uri) as client:
        try:
            registered = client.get_registered_model(model_name)
        except MlflowException as exc:
            raise LookupError(f"no registered model {model_name!r} at {tracking_uri}") from exc
        aliases: dict[str, list[str]] = {}
        for alias, version in (registered.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        rows = []
        for mv in client.search_model_versions(f"name = '{model_name}'"):
            metrics: dict[str, float] = {}
            if mv.run_id:
                with contextlib.suppress(MlflowException):
                    metrics = client.get_run(mv.run_id).data.metrics
            rows.append({
                "version": int(mv.version),
                "aliases": ",".join(sorted(aliases.get(str(mv.version), []))),
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)
                .strftime("%Y-%m-%d %H:%M"),
                "holdout_auc": metrics.get("holdout_auc", float("nan")),
                "holdout_ks": metrics.get("holdout_ks", float("nan")),
                "holdout_brier": metrics.get("holdout_brier", float("nan")),
                "holdout_calibration_error": metrics.get("holdout_calibration_error",
                                                         float("nan")),
                "promotion": (mv.tags or {}).get("promotion.verdict", ""),
                "run_id": mv.run_id or "",
            })
    frame = pd.DataFrame(rows, columns=["version", "aliases", "created", "holdout_auc",
                                        "holdout_ks", "holdout_brier",
                                        "holdout_calibration_error", "promotion", "run_id"])
    return frame.sort_values("version", ascending=False).reset_index(drop=True)

