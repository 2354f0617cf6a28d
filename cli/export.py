"""``sme-credit export``: the service's credit history, decisions and journal as Parquet.

``export credit-history`` writes every line's instalments in the credit-history contract
(``lending.persistence.history.credit_history_frame``: what ``sme-credit features
--credit-history`` and ``features.build_features`` read); ``export decisions`` one row per
stored decision with its fields and every feature as scored
(``decisions.labels.decisions_frame``); ``export ledger`` the journal, one row per posting
(``lending.persistence.history.journal_frame``). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from cli import CliError
from cli.database import store_engine
from cli.files import write_table
from decisions.labels import decisions_frame
from lending.persistence.history import credit_history_frame, journal_frame
from settings import Settings

__all__ = ["register", "check_parquet_out"]

_WHAT = ("credit-history", "decisions", "ledger")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` sub-command."""
    parser = subparsers.add_parser(
        "export", help="write the credit history, decisions or journal as Parquet",
        description="Export the service's store for the risk team as Parquet: "
        "credit-history (every line's instalments in the credit-history contract, "
        "docs/features.md), decisions (one row per decision, features as columns) or "
        "ledger (the journal, one row per posting).")
    parser.add_argument("what", choices=_WHAT, help="what to export")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="the Parquet file to write (.parquet)")
    parser.add_argument("--as-of", metavar="TIME", default=None,
                        help="credit-history only: the history as known at this moment "
                        "(ISO 8601; a date or a time without offset is read in the "
                        "lender's time zone); default: each line as last booked")
    parser.set_defaults(handler=run_export)


def check_parquet_out(out: Path, option: str = "--out") -> None:
    """Refuse a folder or a name that is not a Parquet file's (exit 2, naming it)."""
    if out.exists() and out.is_dir():
        raise CliError(f"{option} {out} is a folder; give the path of a Parquet file")
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise CliError(f"{option} {out}: the export is written as Parquet; use a name "
                       f"ending in .parquet")
    if out.parent.exists() and not out.parent.is_dir():
        raise CliError(f"{option} {out}: {out.parent} is not a folder")


def _as_of(value: str | None, timezone: str) -> datetime | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise CliError(f"--as-of is not a date or time (ISO 8601): {value!r}") from None
    if pd.isna(stamp):
        raise CliError(f"--as-of is not a date or time (ISO 8601): {value!r}")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone)
    moment: datetime = stamp.tz_convert("UTC").to_pydatetime()
    return moment


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write the export; print what was written."""
    check_parquet_out(args.out)
    if args.as_of is not None and args.what != "credit-history":
        raise CliError("--as-of applies to credit-history only")
    as_of = _as_of(args.as_of, settings.timezone)
    builders: dict[str, Callable[[sa.Engine], pd.DataFrame]] = {
        "credit-history": lambda engine: credit_history_frame(
            engine, as_of=as_of, timezone=settings.timezone, progress=True),
        "decisions": decisions_frame,
        "ledger": lambda engine: journal_frame(engine, progress=True),
    }
    started = time.perf_counter()
    with store_engine(settings) as engine:
        print(f"reading {args.what} ...", file=sys.stderr)
        frame = builders[args.what](engine)
    write_table(frame, args.out, index=False)
    print(f"wrote {len(frame)} rows x {frame.shape[1]} columns of {args.what} to {args.out} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0
