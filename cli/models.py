"""``sme-credit train``, ``sme-credit promote`` and ``sme-credit models``.

Thin translation of command-line arguments into calls of :mod:`models` and
:mod:`models.registry`; the tracking store comes from the settings (an embedded SQLite
store under the data directory unless ``SME_CREDIT_MLFLOW_TRACKING_URI`` names another,
for example an ``http://`` tracking server).

``train`` recognises a labels table written by ``sme-credit labels`` (by the sidecar JSON
beside it, else by its decision columns): the decision's own columns are not features and
are dropped, rows are grouped by seller (no seller on both sides of a split), and with a
time column the out-of-time cuts keep an embargo at least the label window long.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cli import CliError
from decisions.labels import LABEL_COLUMNS
from settings import Settings

__all__ = ["register", "train_command", "promote_command", "models_command",
           "document_command", "latest_applicants",
           "LabelsTable", "TrainingTable", "describe_labels_table", "load_training_table"]

DEFAULT_EXPERIMENT = "sme-credit"
#: Columns of a labels table (``sme-credit labels``) that describe the decision, not the
#: seller: never features (the id, time and label columns are handled on their own).
DECISION_COLUMNS: tuple[str, ...] = tuple(
    name for name in LABEL_COLUMNS if name not in ("seller_id", "decided_at", "label"))
#: Columns by which a labels table is known when its sidecar JSON is absent.
LABELS_TABLE_SIGNATURE: tuple[str, ...] = ("decision_id", "decided_at", "model_version")
#: Time column of a labels table.
DECISION_TIME_COLUMN = "decided_at"
#: Label window assumed for a labels table without its sidecar (``sme-credit labels``'s
#: default ``--window-months``).
DEFAULT_LABEL_WINDOW_MONTHS = 12
#: Days per month of label window in the embargo: the longest month, so the embargo is
#: never shorter than the window (12 months: 372 days).
EMBARGO_DAYS_PER_MONTH = 31


def _add_applicant_options(parser: argparse.ArgumentParser, use: str) -> None:
    """``--decisions-database`` and ``--psi-applicants``: the latest applicants in the
    service's decisions, read by :func:`_recent_applicants` (``use`` ends the first help)."""
    parser.add_argument("--decisions-database", metavar="URL",
                        help=f"database of the service's decisions whose latest applicants {use}")
    parser.add_argument("--psi-applicants", type=int, default=5000, metavar="N",
                        help="latest applicants (one decision per seller) for the score PSI "
                        "(default: %(default)s)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train``, ``promote`` and ``models`` sub-commands."""
    train = subparsers.add_parser(
        "train", help="train a PD model, log it to MLflow and register it as challenger",
        description="Train a LightGBM probability-of-default model on a feature table, log "
        "parameters, metrics, plots, model card and model to MLflow, register a new version "
        "and point alias 'challenger' at it.")
    train.add_argument("--features", required=True, type=Path, metavar="PATH",
                       help="feature table (.parquet or .csv), one row per applicant")
    train.add_argument("--label", required=True, metavar="COLUMN",
                       help="label column (1 or true = default), in the feature table or in "
                       "--labels")
    train.add_argument("--bad-value", action="append", default=[], metavar="VALUE",
                       help="a value of the label column that means default, when the "
                       "label is not 0/1 (repeatable; compared as text, so 'bad' or '2'): "
                       "every other value means no default")
    train.add_argument("--labels", type=Path, metavar="PATH",
                       help="separate label table (.parquet or .csv) joined on --id-column "
                       "(e.g. the synthetic marketplace's truth.parquet)")
    train.add_argument("--id-column", default="seller_id", metavar="COLUMN",
                       help="row identifier: made the index, never a feature; the join key "
                       "of --labels (default: %(default)s)")
    train.add_argument("--time-column", metavar="COLUMN",
                       help="observation time; enables out-of-time validation (never a "
                       "feature)")
    train.add_argument("--segment-column", metavar="COLUMN",
                       help="column whose segments get their own AUC (default: seller_kind "
                       "or kind when present)")
    train.add_argument("--drop", action="append", default=[], metavar="COLUMN",
                       help="column that is not a feature (repeatable); the decision "
                       "columns of a labels table are dropped without it")
    train.add_argument("--embargo-days", type=float, metavar="DAYS",
                       help="with --time-column, least gap in days between the training "
                       "rows and the validation rows (and between those and the hold-out), "
                       "at least the label window. Default: for a labels table, its window "
                       f"from the sidecar JSON x {EMBARGO_DAYS_PER_MONTH} days (without "
                       f"the sidecar, {DEFAULT_LABEL_WINDOW_MONTHS} months: "
                       f"{DEFAULT_LABEL_WINDOW_MONTHS * EMBARGO_DAYS_PER_MONTH} days); for "
                       "any other table 0")
    train.add_argument("--time-validation", choices=("out-of-time", "cross-validation"),
                       default="out-of-time",
                       help="with --time-column, how the rows before the out-of-time "
                       "hold-out validate: 'out-of-time' (the latest of them, a second cut "
                       "with its own embargo) or 'cross-validation' (grouped folds; one "
                       "embargo only, so a short book with a long label window can train) "
                       "(default: %(default)s)")
    train.add_argument("--group-split", choices=("strict", "outcome"), default="strict",
                       help="rows of one seller (a labels table with several decisions "
                       "per seller): 'strict': no seller on both sides of any split (a "
                       "seller decided in a later part loses its earlier rows); 'outcome': "
                       "at the out-of-time cuts a seller's earlier rows stay, since an "
                       "embargo at least the label window means their outcomes were known "
                       "before the later part began (needs --time-column and such an "
                       "embargo); folds stay grouped (default: %(default)s)")
    train.add_argument("--experiment", default=DEFAULT_EXPERIMENT, metavar="NAME",
                       help="MLflow experiment (default: %(default)s)")
    train.add_argument("--model-name", metavar="NAME",
                       help="registered model name (default: settings.model_name)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--max-candidates", type=int, default=4, metavar="N",
                       help="hyper-parameter candidates to try (default: %(default)s)")
    train.add_argument("--time-budget", type=float, default=900.0, metavar="SECONDS",
                       help="wall-clock safety cap on the search (default: %(default)s)")
    train.add_argument("--cv-folds", type=int, default=5, metavar="N",
                       help="cross-validation folds without a time column "
                       "(default: %(default)s)")
    train.add_argument("--n-jobs", type=int, default=2, metavar="N",
                       help="LightGBM threads (default: %(default)s)")
    train.add_argument("--reject-inference", choices=("fuzzy",), metavar="METHOD",
                       help="reject inference (needs --rejects): 'fuzzy' augmentation: a "
                       "model on the labelled rows scores the rejects, each enters the "
                       "training rows as good with weight 1-PD and as bad with weight PD, "
                       "and the model is trained again (models/reject_inference.py)")
    train.add_argument("--rejects", type=Path, metavar="PATH",
                       help="table (.parquet or .csv) of rejected applicants' features, e.g. "
                       "'sme-credit export decisions' (rows with a line_id are approved and "
                       "left out); with --time-column it needs that column (or created_at)")
    train.add_argument("--reject-pd-factor", type=float, default=1.0, metavar="K",
                       help="fuzzy augmentation: a reject's PD is min(1, K x the first "
                       "model's PD) (default: %(default)s)")
    train.add_argument("--reject-weight", type=float, default=1.0, metavar="W",
                       help="fuzzy augmentation: total weight of one reject (default: "
                       "%(default)s, as much as a labelled row)")
    train.set_defaults(handler=train_command)

    promote = subparsers.add_parser(
        "promote", help="promote the challenger to champion when the gates pass",
        description="Score challenger and champion on the rows of the challenger's stored "
        "hold-out sample that neither trained on and move alias 'champion' when every gate "
        "passes (exit status 1 when rejected): serving features, DeLong AUC "
        "non-inferiority on raw scores, paired Brier and log loss, calibration by grade "
        "with Jeffreys intervals, decile calibration error, and the score PSI of the "
        "latest applicants in the service's decisions. The verdict is recorded as tags and "
        "a JSON document on the version.")
    promote.add_argument("--version", metavar="N",
                         help="version to promote (default: the 'challenger' alias)")
    promote.add_argument("--model-name", metavar="NAME",
                         help="registered model name (default: settings.model_name)")
    promote.add_argument("--auc-margin", type=float, default=0.005,
                         help="non-inferiority margin: the lower bound of the interval of "
                         "challenger minus champion AUC must be above -MARGIN "
                         "(default: %(default)s)")
    promote.add_argument("--confidence", type=float, default=0.95,
                         help="two-sided level of the AUC, Brier and log-loss intervals "
                         "(default: %(default)s)")
    promote.add_argument("--max-loss-increase", type=float, default=0.02, metavar="SHARE",
                         help="the upper bound of the Brier and log-loss differences may be "
                         "at most this share of the champion's (default: %(default)s)")
    promote.add_argument("--max-calibration-error", type=float, default=0.05,
                         help="bound of the decile calibration error (default: %(default)s)")
    promote.add_argument("--max-psi", type=float, default=0.25,
                         help="score PSI must be below this (default: %(default)s)")
    promote.add_argument("--min-air", type=float, default=0.8, metavar="RATIO",
                         help="fairness warning (never blocks): a segment's adverse impact "
                         "ratio below this (default: %(default)s)")
    _add_applicant_options(promote, "are the base of the score PSI (default: the service's "
                           "own database when it is there; without decisions, the hold-out)")
    promote.add_argument("--force", action="store_true",
                         help="promote even when a gate fails (needs --reason)")
    promote.add_argument("--reason", metavar="TEXT", help="written reason, recorded")
    promote.add_argument("--by", metavar="NAME",
                         help="who decides (default: the operating-system user)")
    promote.set_defaults(handler=promote_command)

    listing = subparsers.add_parser(
        "models", help="list registered model versions, aliases and headline metrics")
    listing.add_argument("--model-name", metavar="NAME",
                         help="registered model name (default: settings.model_name)")
    listing.set_defaults(handler=models_command)
    _register_document(listing)


# ------------------------------------------------------------------ helpers
def require_registry(settings: Settings) -> None:
    """Refuse a command that reads the model registry when the embedded store does not
    exist yet (opening it would create an empty ``mlflow.db`` in the data folder).

    Raises
    ------
    CliError
        Naming the folder and what to do.
    """
    if settings.mlflow_tracking_uri is None and not (settings.data_dir / "mlflow.db").is_file():
        raise CliError(f"no model registry in {settings.data_dir} (no mlflow.db): train and "
                       "register a model first (sme-credit train, or sme-credit demo), or "
                       "point SME_CREDIT_MLFLOW_TRACKING_URI at the registry")


def _tracking(settings: Settings, *, reading: bool = False) -> tuple[str, str | None]:
    """Tracking URI, and the artifact root for new experiments of an embedded store.

    ``reading``: the command only reads the registry; refused when there is none
    (:func:`require_registry`).
    """
    if reading:
        require_registry(settings)
    uri = settings.resolved_tracking_uri()
    if settings.mlflow_tracking_uri is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return uri, settings.artifact_location()
    return uri, None


def _read(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise CliError(f"{what} file not found: {path}")
    suffix = path.name.lower()
    try:
        if suffix.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if suffix.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CliError(f"{path}: cannot read the {what} table ({exc})") from exc
    raise CliError(f"{path}: unsupported file type (use .parquet, .csv or .csv.gz)")


def _index_by(frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    if id_column in frame.columns:
        frame = frame.set_index(id_column)
    return frame


@dataclass(frozen=True)
class LabelsTable:
    """What is known of a labels table written by ``sme-credit labels``.

    Attributes
    ----------
    sidecar : the JSON beside the table (``PATH.with_suffix('.json')``), when present.
    window_months : the label window: from the sidecar, else the labels command's default.
    definition : the label definition named in the sidecar (``None`` without it).
    """

    sidecar: Path | None
    window_months: float
    definition: str | None

    @property
    def embargo_days(self) -> float:
        """The embargo the window needs: never shorter than the window."""
        return float(math.ceil(self.window_months * EMBARGO_DAYS_PER_MONTH))

    def describe(self) -> str:
        if self.sidecar is None:
            return (f"labels table (no sidecar JSON; label window assumed "
                    f"{self.window_months:g} months)")
        definition = f"definition {self.definition}, " if self.definition else ""
        return (f"labels table ({definition}window {self.window_months:g} months, from "
                f"{self.sidecar.name})")


def describe_labels_table(path: Path, columns: pd.Index) -> LabelsTable | None:
    """A :class:`LabelsTable` when ``path`` holds one (its sidecar JSON says so, or it has
    the decision columns), else ``None``.

    Raises
    ------
    CliError
        When the sidecar cannot be read or names no usable window.
    """
    sidecar = path.with_suffix(".json")
    if sidecar.is_file() and sidecar != path:
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CliError(f"{sidecar}: cannot read the labels table's sidecar ({exc})") \
                from None
        if isinstance(meta, dict) and "window_months" in meta:
            window = meta["window_months"]
            if isinstance(window, bool) or not isinstance(window, int | float) \
                    or not window > 0:
                raise CliError(f"{sidecar}: window_months must be a number of months > 0; "
                               f"got {window!r}")
            definition = meta.get("definition")
            return LabelsTable(sidecar, float(window),
                               None if definition is None else str(definition))
    if all(name in columns for name in LABELS_TABLE_SIGNATURE):
        return LabelsTable(None, float(DEFAULT_LABEL_WINDOW_MONTHS), None)
    return None


@dataclass
class TrainingTable:
    """The training inputs the arguments name.

    Attributes
    ----------
    features : feature columns only, indexed by the id column when the table has it.
    label, time : aligned with ``features`` (``time`` ``None`` without ``--time-column``).
    groups : the id of each row when one id has several rows (a seller decided several
        times): no group on both sides of a split. ``None`` otherwise.
    labels_table : set when ``--features`` is a labels table.
    dropped : columns left out as not features (decision columns, ``--drop``).
    notes : what the user should know.
    """

    features: pd.DataFrame
    label: pd.Series
    time: pd.Series | None
    groups: pd.Index | None = None
    labels_table: LabelsTable | None = None
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _binary_label(label: pd.Series, column: str, bad_values: list[str],
                  notes: list[str]) -> pd.Series:
    """The label as 0/1: booleans and 0/1 as they are; with ``--bad-value``, 1 where the
    value (as text) is one of them. Any other label is refused, naming what it holds."""
    if bad_values:
        text = label.astype(str).str.strip()
        unknown = sorted(set(bad_values) - set(text.unique()))
        if unknown:
            seen = sorted(text.unique())[:10]
            raise CliError(f"--bad-value {unknown} never occurs in label column {column!r} "
                           f"(its values: {seen})")
        flagged = text.isin(bad_values).astype(int)
        notes.append(f"label {column!r}: {int(flagged.sum())} rows with "
                     f"{' or '.join(map(repr, bad_values))} taken as default (1), "
                     f"{int(len(flagged) - flagged.sum())} as no default (0)")
        return flagged
    if label.dtype == bool or pd.api.types.is_bool_dtype(label.dtype):
        return label.astype(int)
    numeric = pd.to_numeric(label, errors="coerce")
    if numeric.isna().any() or not numeric.isin([0, 1]).all():
        seen = sorted({str(v) for v in label.unique()[:10]})
        raise CliError(f"label column {column!r} must be 0/1 or true/false (1 = default); it "
                       f"holds {seen}: say which value means default with --bad-value VALUE")
    return label


def load_training_table(args: argparse.Namespace) -> TrainingTable:
    """Features (id as index), label, time, groups and notes for the user, from the
    arguments."""
    notes: list[str] = []
    raw = _read(args.features, "features")
    unknown = [c for c in args.drop if c not in raw.columns]
    if unknown:
        raise CliError(f"--drop names columns that are not in the table: {unknown}")
    labels_table = describe_labels_table(args.features, raw.columns)
    drop = list(args.drop)
    if labels_table is not None:
        drop += [c for c in DECISION_COLUMNS if c in raw.columns and c not in drop]
        if args.time_column != DECISION_TIME_COLUMN and DECISION_TIME_COLUMN in raw.columns \
                and DECISION_TIME_COLUMN not in drop:
            drop.append(DECISION_TIME_COLUMN)
    if args.label in drop or args.time_column in drop or args.id_column in drop:
        raise CliError("--drop names the label, the time or the id column, which are never "
                       "features anyway")
    features = _index_by(raw.drop(columns=drop), args.id_column)
    time_values: pd.Series | None = None
    if args.labels is not None:
        labels = _index_by(_read(args.labels, "labels"), args.id_column)
        if args.label not in labels.columns:
            raise CliError(f"{args.labels}: no label column {args.label!r} "
                           f"(columns: {', '.join(map(str, labels.columns))})")
        for path, frame in ((args.features, features), (args.labels, labels)):
            if frame.index.name != args.id_column:
                raise CliError(f"cannot join --labels: {path} has no column "
                               f"{args.id_column!r} (use --id-column)")
        if labels.index.duplicated().any():
            raise CliError(f"{args.labels}: duplicate {args.id_column} values")
        label = labels[args.label].reindex(features.index)
        if args.time_column and args.time_column not in features.columns \
                and args.time_column in labels.columns:
            time_values = labels[args.time_column].reindex(features.index)
    else:
        if args.label not in features.columns:
            raise CliError(f"{args.features}: no label column {args.label!r}; give the "
                           "label table with --labels")
        label = features[args.label]
        features = features.drop(columns=[args.label])
    missing = label.isna().to_numpy()
    if missing.all():
        raise CliError("no row of the feature table has a label (check --id-column)")
    if missing.any():
        notes.append(f"{int(missing.sum())} rows without a label left out")
        features, label = features.loc[~missing], label.loc[~missing]
        if time_values is not None:
            time_values = time_values.loc[~missing]
    if args.time_column:
        if time_values is None:
            if args.time_column not in features.columns:
                raise CliError(f"no time column {args.time_column!r} in the feature table")
            time_values = features[args.time_column]
            features = features.drop(columns=[args.time_column])
        if not (pd.api.types.is_numeric_dtype(time_values.dtype)
                or pd.api.types.is_datetime64_any_dtype(time_values.dtype)):
            try:
                time_values = pd.Series(pd.to_datetime(time_values, utc=True,
                                                       format="ISO8601"),
                                        index=time_values.index)
            except (ValueError, TypeError) as exc:
                raise CliError(f"time column {args.time_column!r} is neither numeric nor "
                               f"ISO 8601 timestamps ({exc})") from exc
    label = _binary_label(label, args.label, getattr(args, "bad_value", []), notes)
    groups: pd.Index | None = None
    if features.index.name == args.id_column and features.index.has_duplicates:
        groups = pd.Index(features.index.to_numpy())
        repeated = int((features.index.value_counts() > 1).sum())
        notes.append(f"rows grouped by {args.id_column} ({repeated} with several rows): no "
                     f"{args.id_column} sits on both sides of a split")
    return TrainingTable(features, label, time_values, groups, labels_table,
                         [c for c in drop if c not in args.drop] + list(args.drop), notes)


def _embargo_days(args: argparse.Namespace, table: TrainingTable) -> tuple[float, str | None]:
    """The embargo in days and, when there is one, the sentence that explains it."""
    window = table.labels_table
    if args.embargo_days is not None:
        if not (math.isfinite(args.embargo_days) and args.embargo_days >= 0):
            raise CliError(f"--embargo-days must be a number of days >= 0; got "
                           f"{args.embargo_days:g}")
        if table.time is None:
            raise CliError("--embargo-days needs --time-column (the embargo separates the "
                           "out-of-time parts)")
        if window is not None and args.embargo_days < window.embargo_days:
            table.notes.append(
                f"--embargo-days {args.embargo_days:g} is shorter than the label window "
                f"({window.window_months:g} months, {window.embargo_days:g} days): the last "
                "training labels are outcomes seen during the validation window")
        return float(args.embargo_days), f"embargo {args.embargo_days:g} days (--embargo-days)"
    if table.time is None or window is None:
        return 0.0, None
    return window.embargo_days, (f"embargo {window.embargo_days:g} days (label window "
                                 f"{window.window_months:g} months x "
                                 f"{EMBARGO_DAYS_PER_MONTH} days)")


def _check_group_split(args: argparse.Namespace, table: TrainingTable,
                       embargo_days: float) -> None:
    """Refuse ``--group-split outcome`` where a seller's earlier outcome could be on both
    sides of a cut: without a time column, without an embargo, or with an embargo shorter
    than a labels table's window."""
    if args.group_split != "outcome":
        return
    if table.time is None:
        raise CliError("--group-split outcome needs --time-column: it keeps a seller's "
                       "earlier rows across an out-of-time cut")
    window = table.labels_table
    needed = window.embargo_days if window is not None else None
    if embargo_days <= 0 or (needed is not None and embargo_days < needed):
        raise CliError(
            "--group-split outcome needs an embargo at least the label window"
            + (f" ({window.window_months:g} months: {needed:g} days)" if window is not None
               else " (give --embargo-days)")
            + f"; the embargo is {embargo_days:g} days, so a seller's earlier outcome could "
            "fall in the later part")


#: Columns of a decisions export that tell an approved decision (it opened a line).
REJECT_LINE_COLUMN = "line_id"
#: Time column a decisions export always has, used for rejects without --time-column.
REJECT_FALLBACK_TIME_COLUMN = "created_at"


@dataclass
class RejectsTable:
    """The rejected applicants ``--rejects`` names, ready for fuzzy augmentation.

    Attributes
    ----------
    features : the training table's feature columns, one row per reject.
    time : their observation times (``None`` without ``--time-column``).
    notes : what the user should know (rows left out).
    """

    features: pd.DataFrame
    time: pd.Series | None
    notes: list[str] = field(default_factory=list)


def load_rejects(args: argparse.Namespace, table: TrainingTable) -> RejectsTable:
    """The ``--rejects`` table with the training table's feature columns (and times).

    A decisions export (``sme-credit export decisions``) is understood as it is: rows with
    a line (approved) are left out, and features renamed ``feature_NAME`` for a clash with
    a decision column are renamed back.

    Raises
    ------
    CliError
        A missing or unreadable file, missing feature or time columns, or no reject left.
    """
    raw = _read(args.rejects, "rejects")
    notes: list[str] = []
    renamed = {c: c.removeprefix("feature_") for c in raw.columns
               if c.startswith("feature_") and c.removeprefix("feature_") in table.features}
    if renamed:
        raw = raw.drop(columns=list(renamed.values()), errors="ignore").rename(
            columns=renamed)
    if REJECT_LINE_COLUMN in raw.columns:
        booked = raw[REJECT_LINE_COLUMN].notna().to_numpy()
        if booked.any():
            notes.append(f"--rejects: {int(booked.sum())} rows with a {REJECT_LINE_COLUMN} "
                         "(approved) left out")
            raw = raw.loc[~booked]
    if len(raw) == 0:
        raise CliError(f"{args.rejects}: no rejected applicant (every row has a line)")
    missing = [str(c) for c in table.features.columns if c not in raw.columns]
    if missing:
        raise CliError(f"{args.rejects}: the rejects lack the feature column(s) "
                       f"{', '.join(missing)} of the training table")
    time_values: pd.Series | None = None
    if table.time is not None:
        time_column = args.time_column
        if time_column not in raw.columns:
            time_column = REJECT_FALLBACK_TIME_COLUMN
        if time_column not in raw.columns:
            raise CliError(f"{args.rejects}: no time column {args.time_column!r} (nor "
                           f"{REJECT_FALLBACK_TIME_COLUMN!r}) for the rejects")
        time_values = raw[time_column]
        if time_column != REJECT_FALLBACK_TIME_COLUMN \
                and REJECT_FALLBACK_TIME_COLUMN in raw.columns:
            time_values = time_values.fillna(raw[REJECT_FALLBACK_TIME_COLUMN])
        if pd.api.types.is_datetime64_any_dtype(table.time.dtype) \
                and not pd.api.types.is_datetime64_any_dtype(time_values.dtype):
            try:
                time_values = pd.Series(pd.to_datetime(time_values, utc=True,
                                                       format="ISO8601"),
                                        index=time_values.index)
            except (ValueError, TypeError) as exc:
                raise CliError(f"{args.rejects}: time column {time_column!r} is not ISO "
                               f"8601 timestamps ({exc})") from None
        unknown = time_values.isna().to_numpy()
        if unknown.all():
            raise CliError(f"{args.rejects}: no reject has a time in {time_column!r}")
        if unknown.any():
            notes.append(f"--rejects: {int(unknown.sum())} rows without a time left out")
            raw, time_values = raw.loc[~unknown], time_values.loc[~unknown]
    features = raw[list(table.features.columns)]
    return RejectsTable(features.reset_index(drop=True),
                        None if time_values is None else time_values.reset_index(drop=True),
                        notes)


def _segment(args: argparse.Namespace, features: pd.DataFrame) -> str | None:
    if args.segment_column:
        if args.segment_column not in features.columns:
            raise CliError(f"no segment column {args.segment_column!r} in the feature table")
        return str(args.segment_column)
    for name in ("seller_kind", "kind"):
        if name in features.columns:
            return name
    return None


# ----------------------------------------------------------------- handlers
def train_command(args: argparse.Namespace, settings: Settings) -> int:
    """Train, log, register; print the new version and its hold-out figures."""
    from mlflow.exceptions import MlflowException

    from models import TrainConfig, train
    from models.fairness import FairnessConfig
    from models.registry import log_and_register

    table = load_training_table(args)
    features, label, time_values = table.features, table.label, table.time
    embargo_days, embargo_text = _embargo_days(args, table)
    _check_group_split(args, table, embargo_days)
    if table.labels_table is not None:
        print(f"{table.labels_table.describe()}: not features: {', '.join(table.dropped)}")
    for note in table.notes:
        print(f"note: {note}", file=sys.stderr)
    segment = _segment(args, features)
    if (args.reject_inference is None) != (args.rejects is None):
        raise CliError("--reject-inference and --rejects go together: --reject-inference "
                       "fuzzy --rejects PATH")
    rejects = load_rejects(args, table) if args.rejects is not None else None
    for note in rejects.notes if rejects is not None else ():
        print(f"note: {note}", file=sys.stderr)
    inference: Any = None
    try:
        config = TrainConfig(seed=args.seed, max_candidates=args.max_candidates,
                             time_budget_seconds=args.time_budget, cv_folds=args.cv_folds,
                             n_jobs=args.n_jobs, time_validation=args.time_validation,
                             group_split=args.group_split)
        config.check()
        options: dict[str, Any] = {
            "time": time_values.to_numpy() if time_values is not None else None,
            "groups": None if table.groups is None else table.groups.to_numpy(),
            "embargo_days": embargo_days, "config": config}
        if rejects is None:
            model = train(features, label.to_numpy(), **options)
        else:
            from models.reject_inference import (
                FuzzyAugmentationConfig,
                train_with_reject_inference,
            )

            augmentation_config = FuzzyAugmentationConfig(pd_factor=args.reject_pd_factor,
                                                          reject_weight=args.reject_weight)
            try:
                augmentation_config.check()
            except ValueError as exc:
                option = str(exc).split(" ", 1)[0].replace("pd_factor", "reject-pd-factor")
                raise CliError(f"--{option.replace('_', '-')}: {exc}") from None
            inference = train_with_reject_inference(
                features, label.to_numpy(), rejects.features,
                reject_time=None if rejects.time is None else rejects.time.to_numpy(),
                augmentation_config=augmentation_config, **options)
            model = inference.model
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    uri, artifact_location = _tracking(settings)
    model_name = args.model_name or settings.model_name
    extra: dict[str, Any] = {"data.features": str(args.features), "data.label": args.label,
                             "data.labels": str(args.labels or "-"),
                             "data.time_column": args.time_column or "-",
                             "data.rows": len(features),
                             "data.embargo_days": embargo_days,
                             "data.time_validation": args.time_validation
                             if time_values is not None else "-",
                             "data.group_split": args.group_split,
                             "data.grouped_by": args.id_column if table.groups is not None
                             else "-",
                             "data.not_features": ",".join(table.dropped) or "-"}
    if inference is not None:
        extra.update({f"reject_inference.{k}": v for k, v in inference.summary().items()})
        extra["reject_inference.rejects_path"] = str(args.rejects)
        extra["reject_inference.known_good_bad_holdout_auc"] = \
            inference.known_good_bad.training_report_.holdout_metrics["auc"]
    try:
        logged = log_and_register(
            model, features, label.to_numpy(), tracking_uri=uri, model_name=model_name,
            experiment=args.experiment, artifact_location=artifact_location, segment=segment,
            data_description=f"{args.features} (label {args.label}"
            + (f" from {args.labels}" if args.labels else "") + ")",
            extra_params=extra, fairness=FairnessConfig(approval=approval_rule(settings)))
    except (ValueError, MlflowException) as exc:
        raise CliError(f"cannot log the model to {uri}: {exc}") from exc
    report = model.training_report_
    metrics = report.holdout_metrics
    print(f"registered {model_name} v{logged.version} (alias challenger), run "
          f"{logged.run_id}")
    print(f"scheme {report.scheme}: {report.n_train} training, {report.n_validation} "
          f"validation, {report.n_holdout} hold-out rows; {len(report.candidates)} "
          f"candidates, {model.best_iteration_} rounds, calibration "
          f"{model.calibration_.method}")
    reason = report.calibration_choice.get("reason")
    if reason:
        print(f"calibration: {reason}")
    linear = getattr(model, "linear_", None)
    if linear is not None:
        print(f"linear base: the trees are boosted on a logistic regression over "
              f"{len(linear.terms)} columns (C {linear.strength:g}"
              + (f"; left out against their monotone direction: "
                 f"{', '.join(linear.left_out)}" if linear.left_out else "") + ")")
    print(f"hold-out: AUC {metrics['auc']:.4f}  Gini {metrics['gini']:.4f}  KS "
          f"{metrics['ks']:.4f}  Brier {metrics['brier']:.4f}  log loss "
          f"{metrics['log_loss']:.4f}")
    if inference is not None:
        figures = inference.summary()
        kgb = inference.known_good_bad.training_report_.holdout_metrics
        print(f"reject inference {figures['method']}: {figures['rejects_used']:,} of "
              f"{figures['rejects']:,} rejects in the training rows (the others are later "
              f"than the last training row), mean PD {figures['rejects_mean_pd']:.4f} by the "
              f"model without them (hold-out AUC {kgb['auc']:.4f}), PD factor "
              f"{figures['pd_factor']:g}, weight {figures['reject_weight']:g}")
    if embargo_text:
        print(f"{embargo_text}: {report.rows_embargoed} rows in the gaps left out")
    if report.rows_dropped_for_groups:
        print(f"{report.rows_dropped_for_groups} earlier rows of sellers also in a later part "
              "left out")
    print(f"tracking: {uri}")
    return 0


def _decisions_of(url: str, **options: Any) -> pd.DataFrame:
    """:func:`decisions.labels.decisions_frame` of the database at ``url``.

    Raises
    ------
    CliError
        When the database cannot be read.
    """
    import sqlalchemy as sa

    from decisions.labels import decisions_frame
    from store import make_engine

    engine = make_engine(url)
    try:
        return decisions_frame(engine, **options)
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise CliError(f"--decisions-database: cannot read the decisions "
                       f"({exc.__class__.__name__}: {exc})") from None
    finally:
        engine.dispose()


def latest_applicants(url: str, limit: int) -> pd.DataFrame:
    """Feature values of the ``limit`` latest applicants in the decisions of the database at
    ``url`` (each seller's latest decision), indexed by seller id; empty without decisions.

    Raises
    ------
    CliError
        When the database cannot be read.
    """
    frame = _decisions_of(url, latest_per_seller=limit)
    return frame if frame.empty else frame.set_index("seller_id")


def _recent_applicants(args: argparse.Namespace, settings: Settings) -> Any:
    from models.registry import RecentApplicants

    if args.psi_applicants < 1:
        raise CliError(f"--psi-applicants must be at least 1; got {args.psi_applicants}")
    url = args.decisions_database
    if url is None:
        if not settings.database_url and not (settings.data_dir / "sme_credit.db").is_file():
            return None
        url = settings.resolved_database_url()
        try:
            frame = latest_applicants(url, args.psi_applicants)
        except CliError as exc:  # the service's own store, not asked for: say so, go on
            print(f"note: the service's database gives no applicants for the score PSI "
                  f"({exc}); using the hold-out", file=sys.stderr)
            return None
    else:
        frame = latest_applicants(url, args.psi_applicants)
    where = _safe_url(url)
    return RecentApplicants(_decision_features(frame), f"the decisions at {where}",
                            read_window=lambda first, last: _decision_features(
                                applicants_between(url, first, last)))


def _decision_features(frame: pd.DataFrame) -> pd.DataFrame:
    """A decisions frame with its features under their own names (decisions_frame
    renames a feature that shares a decision column's name ``feature_NAME``)."""
    renamed = {c: c.removeprefix("feature_") for c in frame.columns
               if c.startswith("feature_")}
    if not renamed:
        return frame
    return frame.drop(columns=list(renamed.values()), errors="ignore").rename(
        columns=renamed)


def applicants_between(url: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """Every decision of the database at ``url`` made from ``first`` to ``last`` (UTC,
    inclusive), approved or not, with its feature values: the applicants of a
    challenger's training window, the base of its score PSI (docs/models.md).

    Raises
    ------
    CliError
        When the database cannot be read.
    """
    utc = [(moment.tz_localize("UTC") if moment.tzinfo is None
            else moment.tz_convert("UTC")).to_pydatetime() for moment in (first, last)]
    frame = _decisions_of(url, between=(utc[0], utc[1]))
    return frame if frame.empty else frame.set_index("seller_id")


def _safe_url(url: str) -> str:
    try:
        import sqlalchemy as sa

        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "the given database"


def approval_rule(settings: Settings) -> Any:
    """The fairness figures' approval rule, read from the credit policy the service runs
    (``settings.policy_path``, default the shipped one) and the scorer's grade bands:
    :mod:`models` cannot read the policy itself (it imports nothing of ``lending``).

    Raises
    ------
    CliError
        The policy file cannot be read.
    """
    from lending.errors import InvalidPolicy
    from lending.policy import load_policy
    from models.fairness import ApprovalRule
    from scoring.config import GradeBands

    try:
        policy = load_policy(settings.policy_path)
    except (InvalidPolicy, OSError) as exc:
        raise CliError(f"cannot read the credit policy for the fairness figures: {exc}") \
            from None
    grades = GradeBands()
    return ApprovalRule(
        approve_grades=tuple(name for name, rule in policy.grades.items()
                             if rule.decision == "approve"),
        max_pd=float(policy.decision.refer_pd_above),
        grade_upper_pd=tuple(grades.upper_pd), grade_labels=tuple(grades.labels),
        policy_version=policy.version)


def promote_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the gates; exit status 0 when promoted (or forced), 1 when rejected."""
    from mlflow.exceptions import MlflowException

    from models.fairness import FairnessConfig
    from models.registry import GateConfig, promote
    from scoring.config import GradeBands

    if args.force and not (args.reason and args.reason.strip()):
        raise CliError("--force needs a written reason: --reason TEXT")
    uri, _ = _tracking(settings, reading=True)
    grades = GradeBands()
    try:
        gates = GateConfig(auc_margin=args.auc_margin, confidence=args.confidence,
                           max_relative_loss_increase=args.max_loss_increase,
                           max_calibration_error=args.max_calibration_error,
                           max_psi=args.max_psi, grade_upper_pd=tuple(grades.upper_pd),
                           grade_labels=tuple(grades.labels),
                           fairness=FairnessConfig(min_air=args.min_air,
                                                   approval=approval_rule(settings)))
        gates.check()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    recent = _recent_applicants(args, settings)
    try:
        result = promote(uri, args.model_name or settings.model_name, version=args.version,
                         gates=gates, force=args.force, reason=args.reason, actor=args.by,
                         recent=recent)
    except (ValueError, LookupError, MlflowException) as exc:
        raise CliError(str(exc)) from exc
    print(result.render())
    return 0 if result.promoted else 1


def models_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print versions, aliases and headline metrics."""
    from mlflow.exceptions import MlflowException

    from models.registry import list_versions

    uri, _ = _tracking(settings, reading=True)
    name = args.model_name or settings.model_name
    try:
        table = list_versions(uri, name)
    except (LookupError, MlflowException) as exc:
        raise CliError(str(exc)) from exc
    if table.empty:
        print(f"{name}: no versions")
        return 0
    print(f"{name} at {uri}")
    header = (f"{'version':>7}  {'aliases':<20} {'created (UTC)':<17} {'AUC':>7} {'KS':>7} "
              f"{'Brier':>7} {'cal.err':>7}  promotion")
    print(header)
    for row in table.to_dict(orient="records"):
        print(f"{row['version']:>7}  {row['aliases'] or '-':<20} {row['created']:<17} "
              f"{_num(row['holdout_auc']):>7} {_num(row['holdout_ks']):>7} "
              f"{_num(row['holdout_brier']):>7} {_num(row['holdout_calibration_error']):>7}  "
              f"{row['promotion'] or '-'}")
    return 0


def _num(value: Any) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.4f}"


# ------------------------------------------------------------- model document
def _register_document(listing: argparse.ArgumentParser) -> None:
    """``sme-credit models document VERSION --out DIR``."""
    actions = listing.add_subparsers(dest="models_action", metavar="{document}")
    document = actions.add_parser(
        "document", help="write a version's model document (HTML with its charts)",
        description="Write a complete model document of one registered version from the "
        "MLflow registry and its run: intended use, data and default definition, method, "
        "performance with confidence intervals, calibration by grade, stability, fairness, "
        "limitations, monitoring plan and the promotion record. One HTML file (no script, "
        "nothing from the network) with its PNG charts in DIR/figures.")
    document.add_argument("version", metavar="VERSION", help="registered version (e.g. 3)")
    document.add_argument("--out", required=True, type=Path, metavar="DIR",
                          help="folder to write the document into (created when missing)")
    document.add_argument("--model-name", dest="document_model_name", metavar="NAME",
                          help="registered model name (default: settings.model_name)")
    _add_applicant_options(document, "get a PSI as in the promotion gate (default: the "
                           "service's own database when it is there)")
    document.set_defaults(handler=document_command)


def document_command(args: argparse.Namespace, settings: Settings) -> int:
    """Write the model document; print its path."""
    import time

    from mlflow.exceptions import MlflowException

    from decisions.labels import LABEL_DEFINITIONS
    from models.document import DocumentInputs, write_model_document
    from scoring.config import GradeBands
    from scoring.monitor import stability_report
    from scoring.scorer import Scorer

    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out} is a file; give a folder for the document")
    uri, _ = _tracking(settings, reading=True)
    name = args.document_model_name or args.model_name or settings.model_name
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {message}", file=sys.stderr, flush=True)

    def stability(model: Any, frame: pd.DataFrame, sample: str) -> dict[str, Any]:
        scorer = Scorer(model, model_name=name, model_version=str(args.version))
        return stability_report(scorer, frame, reference_name="training sample").to_dict()

    grades = GradeBands()
    progress("reading the latest applicants")
    inputs = DocumentInputs(
        grade_upper_pd=tuple(grades.upper_pd), grade_labels=tuple(grades.labels),
        stability=stability, recent=_recent_applicants(args, settings),
        label_definitions={k: tuple(sorted(v)) for k, v in LABEL_DEFINITIONS.items()},
        progress=progress)
    try:
        path = write_model_document(uri, name, args.version, args.out, inputs)
    except (LookupError, NotADirectoryError, MlflowException) as exc:
        raise CliError(str(exc)) from exc
    print(f"model document of {name} v{str(args.version).removeprefix('v')}: {path}")
    return 0
