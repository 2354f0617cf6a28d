"""``sme-credit score`` and ``sme-credit monitor``.

``score`` writes the explained score of every row of a feature table (PD, points, grade,
reason codes and reasons as JSON) to Parquet, indexed like the input. ``monitor`` reports
the PSI of the score and of every model feature of a current feature table against a
reference feature table (or the model's training sample) and can draw the score
distributions. Both load the model once: a registry URI (default: the settings' model name
at alias ``champion``, from the settings' tracking store) or a folder saved by
``CreditModel.save``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from cli import CliError
from cli.files import refuse_writing_over_inputs, write_file, write_table
from settings import Settings

__all__ = ["register", "score_command", "monitor_command", "load_scorer"]

DEFAULT_BATCH_SIZE = 20_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``score`` and ``monitor`` sub-commands."""
    score = subparsers.add_parser(
        "score", help="score a feature table: PD, points, grade and reasons, as Parquet",
        description="Score every row of a feature table with one model and write PD, "
        "points, grade, the principal adverse reason codes and the reasons (JSON, with "
        "texts in English and Chinese and the values that drove them) to Parquet, indexed "
        "like the input, with the model's name and version on every row.")
    score.add_argument("--features", required=True, type=Path, metavar="PATH",
                       help="feature table (.parquet, .csv or .csv.gz)")
    score.add_argument("--out", required=True, type=Path, metavar="PATH",
                       help="Parquet file to write (its folder is created when missing)")
    _model_arguments(score)
    score.add_argument("--id-column", default="seller_id", metavar="COLUMN",
                       help="made the index when the table has it as a column (default: "
                       "%(default)s)")
    score.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                       help="rows scored per batch (default: %(default)s)")
    score.add_argument("--threads", type=int, default=1, metavar="N",
                       help="LightGBM threads (default: %(default)s)")
    score.set_defaults(handler=score_command)

    monitor = subparsers.add_parser(
        "monitor", help="PSI of the score and of each feature, current against reference",
        description="Population stability index of the score and of every model feature "
        "(characteristic stability) of a current feature table against a reference "
        "feature table, or against the model's training sample when --reference is not "
        "given. Flags 0.1 (shift) and 0.25 (major shift); warns when a sample has fewer "
        "than 500 rows.")
    monitor.add_argument("--current", required=True, type=Path, metavar="PATH",
                         help="feature table of the current population")
    monitor.add_argument("--reference", type=Path, metavar="PATH",
                         help="feature table of the reference population (default: the "
                         "model's training sample)")
    _model_arguments(monitor)
    monitor.add_argument("--out-png", type=Path, metavar="PATH",
                         help="draw the reference and current score distributions here")
    monitor.add_argument("--out-json", type=Path, metavar="PATH",
                         help="write the full report (every bin's shares) as JSON")
    monitor.set_defaults(handler=monitor_command)


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="URI",
                        help="models:/NAME@ALIAS, models:/NAME/VERSION or a folder saved by "
                        "CreditModel.save (default: models:/<settings.model_name>@champion "
                        "in the settings' tracking store)")


# ------------------------------------------------------------------ helpers
def load_scorer(args: argparse.Namespace, settings: Settings, n_threads: int = 1) -> Any:
    """The scorer of ``args.model`` (default: the champion), or a :class:`CliError` naming
    what is wrong with the model given (``score``, ``monitor`` and ``backtest`` share it)."""
    from scoring import Scorer

    uri = args.model or f"models:/{settings.model_name}@champion"
    errors: tuple[type[Exception], ...] = (LookupError, ValueError)
    if uri.startswith("models:/"):
        from mlflow.exceptions import MlflowException

        from cli.models import require_registry

        require_registry(settings)
        errors = (*errors, MlflowException)
    elif not Path(uri).exists():
        raise CliError(f"--model {uri}: no such folder (give models:/NAME@ALIAS or the "
                       "folder of a saved model)")
    try:
        return Scorer.load(uri, tracking_uri=settings.resolved_tracking_uri(),
                           n_threads=n_threads)
    except errors as exc:
        raise CliError(f"cannot load model {uri}: {exc}") from None
    except FileNotFoundError as exc:
        raise CliError(f"--model {uri}: {exc}") from None


def _read(path: Path, option: str, id_column: str | None = None) -> pd.DataFrame:
    if not path.exists():
        raise CliError(f"{option} {path}: no such file")
    if not path.is_file():  # a folder, a device, a FIFO (reading one would block)
        raise CliError(f"{option} {path}: not a regular file")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        elif name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(path)
        else:
            raise CliError(f"{option} {path}: unsupported file type (use .parquet, .csv or "
                           ".csv.gz)")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CliError(f"{option} {path}: cannot read the table ({exc})") from None
    if id_column and id_column in frame.columns:
        frame = frame.set_index(id_column)
    return frame


def _check_contract(frame: pd.DataFrame, path: Path, scorer: Any) -> None:
    missing = [n for n in scorer.feature_names if n not in frame.columns]
    if missing:
        raise CliError(f"{path} lacks {len(missing)} of the {len(scorer.feature_names)} "
                       f"feature columns of {scorer.model_name} v{scorer.model_version}: "
                       + ", ".join(missing))


# ----------------------------------------------------------------- handlers
def score_command(args: argparse.Namespace, settings: Settings) -> int:
    """Score the table in batches and write it; nothing is written on an error."""
    if args.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1; got {args.batch_size}")
    if args.threads < 1:
        raise CliError(f"--threads must be at least 1; got {args.threads}")
    if args.out.suffix.lower() not in (".parquet", ".pq"):
        raise CliError(f"--out {args.out}: scores are written as Parquet; use a .parquet "
                       "file name")
    refuse_writing_over_inputs(args.out, {"--features": args.features})
    table = _read(args.features, "--features", args.id_column)
    scorer = load_scorer(args, settings, n_threads=args.threads)
    _check_contract(table, args.features, scorer)
    started = time.perf_counter()
    parts = []
    with tqdm(total=len(table), desc="score", unit="row", file=sys.stderr, disable=None,
              leave=False) as bar:
        for start in range(0, len(table), args.batch_size):
            batch = table.iloc[start:start + args.batch_size]
            try:
                parts.append(scorer.score_batch(batch).to_frame())
            except ValueError as exc:
                raise CliError(f"{args.features}: {exc}") from None
            bar.update(len(batch))
    scored = pd.concat(parts) if parts else scorer.score_batch(table).to_frame()
    write_table(scored, args.out)
    elapsed = time.perf_counter() - started
    grades = scored["grade"].value_counts().reindex(list(scorer.config.grades.labels),
                                                    fill_value=0)
    print(f"scored {len(scored):,} rows with {scorer.model_name} v{scorer.model_version} "
          f"in {elapsed:.1f} s; wrote {args.out}")
    if len(scored):
        print(f"mean PD {scored['probability_of_default'].mean():.4f}; points "
              f"{scored['points'].min():.0f} to {scored['points'].max():.0f}; grades "
              + ", ".join(f"{g} {n:,}" for g, n in grades.items()))
    return 0


def monitor_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the stability report; draw and write it when asked."""
    from scoring.monitor import plot_score_distributions, stability_report

    for out_option, out in (("--out-png", args.out_png), ("--out-json", args.out_json)):
        if out is not None:
            refuse_writing_over_inputs(out, {"--current": args.current,
                                             "--reference": args.reference},
                                       option=out_option)
    current = _read(args.current, "--current")
    reference = None if args.reference is None else _read(args.reference, "--reference")
    scorer = load_scorer(args, settings)
    _check_contract(current, args.current, scorer)
    if reference is not None:
        _check_contract(reference, args.reference, scorer)
    try:
        report = stability_report(scorer, current, reference,
                                  reference_name=str(args.reference) if args.reference
                                  else None)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(report.render())
    if args.out_png is not None:
        write_file(args.out_png, lambda path: plot_score_distributions(report, path),
                   option="--out-png")
        print(f"wrote {args.out_png}")
    if args.out_json is not None:
        import json

        text = json.dumps(report.to_dict(), indent=1, ensure_ascii=False)
        write_file(args.out_json, lambda path: path.write_text(text, encoding="utf-8"),
                   option="--out-json")
        print(f"wrote {args.out_json}")
    return 0
