"""``sme-credit backtest``: a model against the outcomes of the decisions in a labels table.

Scores every labelled decision of a table written by ``sme-credit labels`` with a model
(default: ``models:/<settings.model_name>@champion`` in the settings' tracking store, or
``--model``: another registry URI or a folder saved by ``CreditModel.save``) and writes to
``--out``:

- ``backtest.json``: AUC, Gini, KS, Brier, log loss, calibration error, ``n``, bad rate,
  mean PD, ``by_grade`` (mean PD against the observed rate with its Jeffreys 95 % interval,
  per grade of the scorer's grade bands), ``as_decided`` (the same figures of the PD and
  grade stored with each decision), and where the inputs came from;
- ``by_grade.csv`` / ``by_grade.png``, ``roc.png``, ``calibration.png``, ``ks.png``;
- with a line-month panel (``--panel PATH``, else the service's ledger through
  ``lending.persistence.history.line_month_panel`` when its database is there):
  ``vintage_curves.csv`` / ``.png``, ``roll_rates.csv`` / ``.png`` and
  ``roll_rates_by_month.csv``;
- with ``--compare-shadow``: champion against challenger on the same live decisions (the
  labelled decisions the challenger scored in the shadow), per challenger version: AUC,
  KS, Brier, log loss of both and the paired differences with 95 % intervals
  (:func:`models.backtest.compare_shadow`), in ``backtest.json`` under
  ``shadow_comparison`` and in ``shadow_comparison.csv``.

The figures are computed by :mod:`models.backtest`. A registered model's backtest is
logged to MLflow as a run in the experiment of the version's own run, tagged
``backtest.model_name`` and ``backtest.model_version``, with the metrics (``backtest_*``)
and every file written as artifacts; the version gets tags ``backtest.last_run_id`` and
``backtest.last_at``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cli import CliError
from cli.scoring import load_scorer
from settings import Settings

if TYPE_CHECKING:
    from models.backtest import ShadowComparison

__all__ = ["register", "backtest_command", "ledger_panel", "log_backtest_run"]

#: Experiment of a backtest whose model version has no run of its own.
FALLBACK_EXPERIMENT = "sme-credit"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` sub-command."""
    parser = subparsers.add_parser(
        "backtest", help="score labelled decisions with a model: AUC, KS, Brier, by grade, "
        "vintage curves, roll rates",
        description="Score the labelled decisions of a labels table (sme-credit labels) "
        "with a model and compare with the outcomes: backtest.json (AUC, KS, Brier, bad "
        "rate, predicted PD against the observed rate per grade with Jeffreys 95 % "
        "intervals), tables and PNG charts in --out, plus vintage curves and roll rates "
        "from a line-month panel (--panel, else the service's ledger). A registered "
        "model's backtest is logged to MLflow beside the version it tested.")
    parser.add_argument("--labels", required=True, type=Path, metavar="PATH",
                        help="labels table (.parquet or .csv) from sme-credit labels")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder for backtest.json, the tables and the charts "
                        "(created when missing; files of the same names are replaced)")
    parser.add_argument("--model", metavar="URI",
                        help="models:/NAME@ALIAS, models:/NAME/VERSION or a folder saved by "
                        "CreditModel.save (default: models:/<settings.model_name>@champion "
                        "in the settings' tracking store)")
    parser.add_argument("--label", default="label", metavar="COLUMN",
                        help="outcome column, 1 = default (default: %(default)s)")
    parser.add_argument("--panel", type=Path, metavar="PATH",
                        help="line-month panel (.parquet: line_id, opened_on, month, "
                        "months_on_book, bucket) for vintage curves and roll rates "
                        "(default: read from the service's database when it is there)")
    parser.add_argument("--compare-shadow", action="store_true",
                        help="also compare the champion's PD as decided with the "
                        "challenger's shadow PD on the labelled decisions that have both "
                        "(AUC, KS, Brier and their paired differences)")
    parser.set_defaults(handler=backtest_command)


# ------------------------------------------------------------------ inputs
def _read_table(path: Path, option: str) -> pd.DataFrame:
    if not path.exists():
        raise CliError(f"{option} {path}: no such file")
    if not path.is_file():
        raise CliError(f"{option} {path}: not a regular file")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CliError(f"{option} {path}: cannot read the table ({exc})") from None
    raise CliError(f"{option} {path}: unsupported file type (use .parquet, .csv or .csv.gz)")


def _sidecar(path: Path) -> dict[str, Any]:
    sidecar = path.with_suffix(".json")
    if sidecar == path or not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def ledger_panel(settings: Settings) -> tuple[pd.DataFrame | None, str]:
    """The line-month panel of the service's ledger, or ``None`` and why not.

    Read only when a database is configured (``SME_CREDIT_DATABASE_URL``) or the embedded
    SQLite file exists, so a backtest never creates an empty store.
    """
    if not settings.database_url and not (settings.data_dir / "sme_credit.db").is_file():
        return None, (f"no service database (SME_CREDIT_DATABASE_URL unset, no "
                      f"{settings.data_dir / 'sme_credit.db'}); give --panel for vintage "
                      "curves and roll rates")
    try:
        from lending.persistence.history import line_month_panel
    except ImportError as exc:
        return None, f"this version cannot read the ledger's history ({exc})"
    import sqlalchemy as sa

    from cli.database import store_engine

    try:
        with store_engine(settings) as engine:
            panel = line_month_panel(engine, timezone=settings.timezone,
                                     progress=sys.stderr.isatty())
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        return None, f"cannot read the ledger ({exc.__class__.__name__}: {exc})"
    if panel.empty:
        return None, "the service's ledger has no credit line yet"
    return panel, "the service's ledger"


# ----------------------------------------------------------------- MLflow
def log_backtest_run(tracking_uri: str, model_name: str, version: str, *,
                     metrics: dict[str, float], params: dict[str, Any], files: list[Path],
                     artifact_location: str | None = None) -> tuple[str, str]:
    """Log a backtest as an MLflow run beside the model version it tested.

    The run goes in the experiment of the version's own run (else
    :data:`FALLBACK_EXPERIMENT`), tagged ``backtest.model_name`` and
    ``backtest.model_version``, with ``metrics`` (prefixed ``backtest_``), ``params`` and
    ``files`` as artifacts under ``backtest/``. The version gets the tags
    ``backtest.last_run_id`` and ``backtest.last_at``.

    Returns
    -------
    tuple
        ``(run_id, experiment_id)``.
    """
    import mlflow

    from models.registry import tracking

    at = datetime.now(UTC).isoformat(timespec="seconds")
    with tracking(tracking_uri) as client:
        found = client.get_model_version(model_name, version)
        experiment_id: str | None = None
        if found.run_id:
            experiment_id = str(client.get_run(found.run_id).info.experiment_id)
        if experiment_id is None:
            existing = client.get_experiment_by_name(FALLBACK_EXPERIMENT)
            experiment_id = (str(existing.experiment_id) if existing is not None else
                             str(client.create_experiment(FALLBACK_EXPERIMENT,
                                                          artifact_location=artifact_location)))
        with mlflow.start_run(experiment_id=experiment_id,
                              run_name=f"backtest {model_name} v{version}") as run:
            mlflow.set_tags({"backtest.model_name": model_name,
                             "backtest.model_version": str(version),
                             "backtest.model_run_id": found.run_id or "-",
                             "sme_credit.run_kind": "backtest"})
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics({f"backtest_{k}": float(v) for k, v in metrics.items()
                                if v is not None and np.isfinite(v)})
            for path in files:
                mlflow.log_artifact(str(path), "backtest")
            run_id = str(run.info.run_id)
        client.set_model_version_tag(model_name, version, "backtest.last_run_id", run_id)
        client.set_model_version_tag(model_name, version, "backtest.last_at", at)
    return run_id, experiment_id


# ---------------------------------------------------------------- handler
def backtest_command(args: argparse.Namespace, settings: Settings) -> int:
    """Score, compare, write the files, log the run; print the headline figures."""
    from models import backtest as bt
    from models.plots import plot_calibration, plot_ks, plot_roc

    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out}: not a folder")
    table = _read_table(args.labels, "--labels")
    if args.label not in table.columns:
        raise CliError(f"--labels {args.labels}: no label column {args.label!r} (columns: "
                       f"{', '.join(map(str, table.columns))})")
    unlabelled = int(table[args.label].isna().sum())
    if unlabelled:
        print(f"note: {unlabelled} rows without a label left out", file=sys.stderr)
        table = table.loc[table[args.label].notna()]
    if table.empty:
        raise CliError(f"--labels {args.labels}: no labelled decision to backtest")
    panel: pd.DataFrame | None = None
    if args.panel is not None:
        panel = _read_table(args.panel, "--panel")
        panel_source = f"--panel {args.panel}"
        if panel.empty:
            raise CliError(f"--panel {args.panel}: no line-month rows")
    shadow = None
    if getattr(args, "compare_shadow", False):
        try:
            shadow = bt.compare_shadow(table, label=args.label)
        except ValueError as exc:
            raise CliError(f"--labels {args.labels}: --compare-shadow: {exc}") from None
    scorer = load_scorer(args, settings)
    missing = [n for n in scorer.feature_names if n not in table.columns]
    if missing:
        raise CliError(f"--labels {args.labels} lacks {len(missing)} of the "
                       f"{len(scorer.feature_names)} feature columns {scorer.model_name} "
                       f"v{scorer.model_version} needs: {', '.join(missing)}")
    grades = scorer.config.grades
    try:
        result = bt.backtest(scorer.model, table, label=args.label,
                             upper_pd=grades.upper_pd, grade_labels=grades.labels)
    except ValueError as exc:
        raise CliError(f"--labels {args.labels}: {exc}") from None
    if panel is None:
        panel, panel_source = ledger_panel(settings)
        if panel is None:
            print(f"note: no vintage curves or roll rates: {panel_source}", file=sys.stderr)
    curves = matrix = by_month = None
    if panel is not None:
        try:
            curves = bt.vintage_curves(panel)
            matrix = bt.roll_rates(panel)
            by_month = bt.roll_rate_counts(panel)
        except (ValueError, KeyError, TypeError) as exc:
            raise CliError(f"line-month panel from {panel_source}: {exc}") from None

    meta = _sidecar(args.labels)
    decided = (pd.to_datetime(table["decided_at"], utc=True, errors="coerce")
               if "decided_at" in table.columns else None)
    result.extra = {
        "model": {"name": scorer.model_name, "version": scorer.model_version,
                  "source": scorer.source},
        "labels": {"path": str(args.labels), "label_column": args.label,
                   "rows": len(table), "rows_without_label": unlabelled,
                   "definition": meta.get("definition"),
                   "window_months": meta.get("window_months"),
                   "decided_from": None if decided is None or decided.isna().all()
                   else decided.min().isoformat(),
                   "decided_to": None if decided is None or decided.isna().all()
                   else decided.max().isoformat()},
        "grade_bands": {"upper_pd": list(grades.upper_pd), "labels": list(grades.labels)},
        "book": None if panel is None or curves is None or matrix is None else {
            "source": panel_source,
            "lines": int(panel["line_id"].nunique()),
            "vintages": int(curves["vintage"].nunique()),
            "month_to_month_moves": int(matrix["lines"].sum()),
        },
        "shadow_comparison": None if shadow is None else shadow.to_dict(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }

    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--out {out}: cannot create the folder ({exc})") from None
    y = table[args.label].astype(float).to_numpy()
    written = [out / "backtest.json", out / "by_grade.csv"]
    (out / "backtest.json").write_text(json.dumps(result.to_dict(), indent=1,
                                                  ensure_ascii=False), encoding="utf-8")
    result.grades.to_csv(out / "by_grade.csv", index=False)
    written += [bt.plot_by_grade(result.grades, out / "by_grade.png",
                                 title=f"{scorer.model_name} v{scorer.model_version}: PD "
                                 "against outcomes by grade")]
    if 0 < y.sum() < len(y):
        written += [plot_roc(y, result.predicted_pd, out / "roc.png"),
                    plot_calibration(y, result.predicted_pd, out / "calibration.png"),
                    plot_ks(y, result.predicted_pd, out / "ks.png")]
    if curves is not None and matrix is not None and by_month is not None:
        curves.to_csv(out / "vintage_curves.csv", index=False)
        matrix.to_csv(out / "roll_rates.csv")
        by_month.to_csv(out / "roll_rates_by_month.csv", index=False)
        written += [out / "vintage_curves.csv", out / "roll_rates.csv",
                    out / "roll_rates_by_month.csv",
                    bt.plot_vintage_curves(curves, out / "vintage_curves.png"),
                    bt.plot_roll_rates(matrix, out / "roll_rates.png")]

    if shadow is not None:
        _shadow_table(shadow).to_csv(out / "shadow_comparison.csv", index=False)
        written.append(out / "shadow_comparison.csv")

    metrics = result.metrics
    print(f"backtest of {scorer.model_name} v{scorer.model_version} on {int(metrics['n']):,} "
          f"labelled decisions (bad rate {metrics['bad_rate']:.4f}, mean PD "
          f"{metrics['mean_pd']:.4f})")
    print(f"AUC {_num(metrics['auc'])}  Gini {_num(metrics['gini'])}  KS "
          f"{_num(metrics['ks'])}  Brier {_num(metrics['brier'])}  calibration error "
          f"{_num(metrics['calibration_error'])}")
    print(f"{'grade':<6}{'n':>8}{'mean PD':>10}{'observed':>10}{'95% interval':>20}")
    for row in result.grades.to_dict(orient="records"):
        if row["n"]:
            print(f"{row['grade']:<6}{row['n']:>8,}{row['predicted_pd']:>10.4f}"
                  f"{row['observed_rate']:>10.4f}   [{row['lower']:.4f}, {row['upper']:.4f}]")
    if shadow is not None:
        _print_shadow(shadow)
    if curves is not None:
        print(f"vintage curves and roll rates of {panel_source}: "
              f"{result.extra['book']['lines']:,} lines in "
              f"{result.extra['book']['vintages']} vintages")
    print(f"wrote {len(written)} files to {out}")

    if scorer.source.startswith("models:/"):
        from mlflow.exceptions import MlflowException

        uri = settings.resolved_tracking_uri()
        # an embedded store keeps artifacts under the data folder, as `train` does
        artifact_location = (settings.artifact_location() if settings.mlflow_tracking_uri
                             is None else None)
        try:
            run_id, experiment_id = log_backtest_run(
                uri, scorer.model_name, scorer.model_version,
                metrics={**metrics, **_shadow_metrics(shadow)},
                params={"labels": str(args.labels), "label_column": args.label,
                        "rows": len(table), "panel": panel_source if panel is not None
                        else "-", "model_uri": scorer.source},
                files=written, artifact_location=artifact_location)
        except MlflowException as exc:
            raise CliError(f"wrote {out}, but cannot log the backtest to {uri}: {exc}") \
                from None
        print(f"logged run {run_id} (experiment {experiment_id}) beside "
              f"{scorer.model_name} v{scorer.model_version}")
    else:
        print(f"note: {scorer.source} is not a registered version; the backtest is not "
              "logged to MLflow", file=sys.stderr)
    return 0


def _shadow_table(shadow: ShadowComparison) -> pd.DataFrame:
    """One row per challenger version and model (champion, challenger, difference)."""
    rows = []
    for pair in shadow.pairs:
        for who, figures in (("champion", pair.champion), ("challenger", pair.challenger),
                             ("difference", pair.difference)):
            rows.append({"challenger_version": pair.challenger_version, "n": pair.n,
                         "bads": pair.bads, "figures_of": who, **figures})
    return pd.DataFrame(rows)


def _shadow_metrics(shadow: ShadowComparison | None) -> dict[str, float]:
    """The comparison with the most decisions, as metrics of the MLflow run."""
    if shadow is None or not shadow.pairs:
        return {}
    pair = shadow.pairs[0]
    return {"shadow_n": float(pair.n),
            **{f"shadow_champion_{k}": v for k, v in pair.champion.items()},
            **{f"shadow_challenger_{k}": v for k, v in pair.challenger.items()},
            **{f"shadow_difference_{k}": v for k, v in pair.difference.items()}}


def _print_shadow(shadow: ShadowComparison) -> None:
    print(f"champion against challenger on the same {shadow.rows_with_both:,} labelled "
          f"decisions (of {shadow.rows:,}; difference = challenger - champion, "
          f"{shadow.level:.0%} interval):")
    for pair in shadow.pairs:
        champions = ", ".join(f"v{v}" for v in sorted(pair.champion_versions))
        d = pair.difference
        print(f"  challenger v{pair.challenger_version} against champion {champions}: "
              f"{pair.n:,} decisions, {pair.bads:,} bad")
        for name in ("auc", "ks", "brier"):
            interval = (f"  [{_num(d[f'{name}_lower'])}, {_num(d[f'{name}_upper'])}]"
                        if f"{name}_lower" in d else "")
            print(f"    {name.upper() if name != 'brier' else 'Brier':<6}"
                  f"{_num(pair.champion[name]):>9}{_num(pair.challenger[name]):>9}  "
                  f"difference {_num(d[name])}{interval}")


def _num(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4f}"
