"""``sme-credit records``: load sellers and orders into the service's store, refresh snapshots.

``records load`` reads the files through the record contract (:mod:`features.records`),
stores the good rows in the database of the settings (idempotent by id: loading the same
files again changes nothing) and builds every changed seller's feature snapshot with one
builder call. ``records refresh-snapshots`` rebuilds the snapshots as of now (time windows
move even when no order arrives).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

import pandas as pd

from cli import CliError
from cli.database import store_engine
from features import resolve_as_of
from features.records import RecordValidationError, read_table
from records.errors import RecordsError
from records.ingest import IngestResult, load_records
from records.snapshots import refresh_snapshots
from settings import Settings
from store.clock import utc_now

__all__ = ["register"]

#: Problems printed per record type before "... and N more".
_SHOWN = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``records`` sub-command (``load``, ``refresh-snapshots``)."""
    parser = subparsers.add_parser(
        "records", help="load records into the service's store; refresh feature snapshots",
        description="Manage the records the HTTP service decides from: load sellers and "
        "orders into its database (setting `database_url`), rebuild feature snapshots.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    load = actions.add_parser(
        "load", help="validate and store sellers and orders, then build their snapshots",
        description="Validate sellers and orders with the record contract, store the good "
        "rows (new ones added, changed ones updated, identical ones left alone) and build "
        "the feature snapshot of every seller whose records changed. Rows with problems are "
        "set aside and listed (row and field); --strict stores nothing when any row has one.")
    load.add_argument("--sellers", type=Path, required=True, metavar="PATH",
                      help="sellers file (.csv, .csv.gz or .parquet)")
    load.add_argument("--orders", type=Path, required=True, metavar="PATH",
                      help="orders file (.csv, .csv.gz or .parquet)")
    load.add_argument("--tier-history", dest="tier_history", type=Path, metavar="PATH",
                      help="membership-tier history file (seller_id, membership_tier, "
                      "valid_from, valid_to), optional (.csv, .csv.gz or .parquet)")
    load.add_argument("--as-of", dest="as_of", metavar="DATE",
                      help="the moment the snapshots describe (default: now); a value "
                      "without offset is read in the lender's time zone")
    load.add_argument("--strict", action="store_true",
                      help="store nothing when any row has a problem")
    load.set_defaults(handler=run_load)

    refresh = actions.add_parser(
        "refresh-snapshots", help="rebuild the sellers' feature snapshots",
        description="Rebuild the feature snapshot of every seller (or of the sellers given) "
        "from the stored orders, as of now or --as-of.")
    refresh.add_argument("--as-of", dest="as_of", metavar="DATE",
                         help="the moment the snapshots describe (default: now)")
    refresh.add_argument("--seller", dest="sellers", action="append", metavar="ID",
                         help="only this seller (repeatable)")
    refresh.set_defaults(handler=run_refresh)



def _moment(value: str | None, settings: Settings) -> datetime:
    if value is None:
        return utc_now()
    try:
        return resolve_as_of(value, settings.timezone).to_pydatetime()
    except ValueError:
        raise CliError(f"--as-of is not a date or timestamp: {value!r}") from None


def _read(option: str, path: Path) -> pd.DataFrame:
    if not path.exists():
        raise CliError(f"{option} {path}: no such file")
    try:
        return read_table(path)
    except ValueError as exc:
        raise CliError(f"{option} {exc}") from None


def _report(what: str, path: Path, result: IngestResult) -> str:
    lines = [f"{path}: {what}: {result.received:,} rows read, {result.accepted:,} added, "
             f"{result.updated:,} updated, {result.unchanged:,} unchanged, "
             f"{result.rejected_rows:,} set aside"]
    for problem in result.rejected[:_SHOWN]:
        where = "column" if problem.row == 0 else f"row {problem.row}"
        lines.append(f"  {where}, field {problem.field}: {problem.reason}")
    if len(result.rejected) > _SHOWN:
        lines.append(f"  ... and {len(result.rejected) - _SHOWN:,} more problems")
    return "\n".join(lines)


def run_load(args: argparse.Namespace, settings: Settings) -> int:
    """Load the files of ``args`` into the store; exit 2 on bad input (nothing stored)."""
    now = _moment(args.as_of, settings)
    sellers = _read("--sellers", args.sellers)
    orders = _read("--orders", args.orders)
    tiers = None if args.tier_history is None else _read("--tier-history", args.tier_history)
    with store_engine(settings) as engine:
        try:
            result = load_records(engine, sellers, orders, now=now,
                                  currencies=settings.currencies, timezone=settings.timezone,
                                  strict=args.strict, progress=True, tier_history=tiers)
        except RecordValidationError as exc:
            path = {"sellers": args.sellers, "tier history": args.tier_history}.get(
                exc.report.record_type, args.orders)
            mode = " (--strict)" if args.strict else ""
            raise CliError(f"{path}: {exc.report.record_type} rejected{mode}, nothing "
                           f"stored:\n{exc.report.summary(_SHOWN)}") from None
    print(_report("sellers", args.sellers, result.sellers))
    print(_report("orders", args.orders, result.orders))
    if result.tiers is not None:
        print(_report("tier periods", args.tier_history, result.tiers))
    print(f"built {result.snapshots:,} feature snapshots as of {now.isoformat()} "
          f"in {result.seconds:.1f} s")
    if result.sellers.received and result.sellers.rejected_rows == result.sellers.received:
        raise CliError(f"{args.sellers}: no valid seller row")
    return 0


def run_refresh(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the snapshots; exit 2 for an unknown seller."""
    now = _moment(args.as_of, settings)
    with store_engine(settings) as engine:
        try:
            count = refresh_snapshots(engine, now=now, seller_ids=args.sellers,
                                      timezone=settings.timezone, progress=True)
        except RecordsError as exc:
            raise CliError(str(exc)) from None
    print(f"rebuilt {count:,} feature snapshots as of {now.isoformat()}")
    return 0
