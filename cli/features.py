"""``sme-credit features``: build the point-in-time seller feature table and write Parquet.

The command loads the records through the contract (:mod:`features.records`,
:mod:`features.credit_history`), reports what it kept and set aside, builds the features
with :func:`features.build_features` (in process, or on a Dask cluster with
``--scheduler``) and writes one row per seller to a Parquet file. The feature definitions
live in :mod:`features.definitions` and ``docs/features.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cli import CliError
from cli.files import refuse_writing_over_inputs, write_table
from features import DEFAULT_TIMEZONE, build_features, resolve_as_of
from features.credit_history import load_credit_history
from features.records import (
    LoadedRecords,
    RecordValidationError,
    load_orders,
    load_sellers,
    load_tier_history,
)
from settings import Settings

__all__ = ["register", "run"]

_STEPS = ("load sellers", "load orders", "load tier history", "load credit history",
          "build features", "write")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``features`` sub-command to the ``sme-credit`` parser."""
    parser = subparsers.add_parser(
        "features",
        help="build the point-in-time seller feature table",
        description="Load and validate sellers and orders (and optionally a credit history), "
        "build one row of features per seller as of AS_OF using only what was known before "
        "it, and write the table to a Parquet file.",
    )
    parser.add_argument("--orders", type=Path, required=True, metavar="PATH",
                        help="orders file (.csv, .csv.gz or .parquet)")
    parser.add_argument("--sellers", type=Path, required=True, metavar="PATH",
                        help="sellers file (.csv, .csv.gz or .parquet)")
    parser.add_argument("--as-of", dest="as_of", required=True, metavar="DATE",
                        help="the moment the features describe; a date or a timestamp "
                        "without offset is read in the lender's time zone (setting "
                        f"`timezone`, default {DEFAULT_TIMEZONE})")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="Parquet file to write (its folder is created when missing)")
    parser.add_argument("--credit-history", dest="credit_history", type=Path, metavar="PATH",
                        help="credit-history file; adds the repayment features")
    parser.add_argument("--strict", action="store_true",
                        help="reject an input with any invalid row instead of setting the "
                        "bad rows aside")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of a Dask distributed scheduler (tcp://host:8786) to "
                        "build the features on; default: in this process")
    parser.add_argument("--partitions", type=int, default=None, metavar="N",
                        help="number of Dask partitions of the orders with --scheduler "
                        "(default: 2 per worker)")
    parser.add_argument("--tier-history", dest="tier_history", type=Path, metavar="PATH",
                        help="membership-tier history file (seller_id, membership_tier, "
                        "valid_from, valid_to); the tier feature is the one in effect at "
                        "AS_OF (without it, only a seller's tier observed by AS_OF, "
                        "membership_tier_at)")
    parser.add_argument("--shipping-sla-days", dest="shipping_sla_days", type=int, default=3,
                        metavar="DAYS", help="an order is late when not shipped within this "
                        "many days (default 3)")
    parser.set_defaults(handler=run)


def _load(what: str, path: Path, loader: Any, *args: Any, strict: bool) -> LoadedRecords:
    """Load one input through the contract; problems the user can fix become CliError."""
    if not path.exists():
        raise CliError(f"--{what.replace('_', '-')} {path}: no such file")
    try:
        loaded: LoadedRecords = loader(path, *args, strict=strict)
    except RecordValidationError as exc:
        mode = "rejected (--strict)" if strict else "rejected"
        raise CliError(f"{path}: {what} {mode}:\n{exc.report.summary()}") from None
    except ValueError as exc:  # unreadable file, unsupported type
        raise CliError(str(exc)) from None
    print(f"{path}: {loaded.report.summary()}")
    if loaded.report.n_good == 0 and loaded.report.n_rows > 0:
        raise CliError(f"{path}: no valid {what} row to build features from")
    return loaded


@contextmanager
def _dask_client(address: str | None) -> Iterator[Any]:
    if address is None:
        yield None
        return
    try:
        from distributed import Client

        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise CliError(f"--scheduler {address}: cannot connect ({exc})") from None
    try:
        yield client
    finally:
        client.close()


def _check_out(out: Path) -> None:
    if out.exists() and out.is_dir():
        raise CliError(f"--out {out} is a folder; give the path of a Parquet file")
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise CliError(f"--out {out}: the feature table is written as Parquet; use a "
                       ".parquet file name")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Load, validate, build and write the feature table described by ``args``."""
    try:
        as_of = resolve_as_of(args.as_of, settings.timezone)
    except ValueError:
        raise CliError(f"--as-of is not a date or timestamp: {args.as_of!r}") from None
    _check_out(args.out)
    refuse_writing_over_inputs(args.out, {"--orders": args.orders, "--sellers": args.sellers,
                                          "--tier-history": args.tier_history,
                                          "--credit-history": args.credit_history})
    if args.partitions is not None and args.partitions < 1:
        raise CliError(f"--partitions must be at least 1; got {args.partitions}")
    started = time.perf_counter()
    steps = [step for step in _STEPS
             if (args.credit_history or step != "load credit history")
             and (args.tier_history or step != "load tier history")]
    with tqdm(total=len(steps), desc="features", unit="step", file=sys.stderr,
              disable=None, leave=False) as bar:

        def step(name: str) -> None:
            bar.set_postfix_str(name)

        step("load sellers")
        sellers = _load("sellers", args.sellers, load_sellers, strict=args.strict).frame
        bar.update()
        step("load orders")
        orders = _load("orders", args.orders, partial(load_orders, currencies=settings.currencies),
                       sellers, strict=args.strict).frame
        bar.update()
        tiers = None
        if args.tier_history:
            step("load tier history")
            tiers = _load("tier_history", args.tier_history, load_tier_history, sellers,
                          strict=args.strict).frame
            bar.update()
        credit = None
        if args.credit_history:
            step("load credit history")
            credit = _load("credit_history", args.credit_history, load_credit_history,
                           sellers, strict=args.strict).frame
            bar.update()

        step("build features")
        registered_later = int((sellers["registered_at"] >= as_of).sum())
        with _dask_client(args.scheduler) as client:
            source: Any = orders
            if client is not None:
                import dask.dataframe as dd

                workers = max(len(client.scheduler_info().get("workers", {})), 1)
                source = dd.from_pandas(orders, npartitions=args.partitions or 2 * workers)
            try:
                table = build_features(
                    source, sellers, as_of, credit, tier_history=tiers,
                    shipping_sla_days=args.shipping_sla_days,
                    timezone=settings.timezone)
            except ValueError as exc:
                raise CliError(str(exc)) from None
        bar.update()

        step("write")
        write_table(table, args.out)
        bar.update()

    elapsed = time.perf_counter() - started
    where = f"on {args.scheduler}" if args.scheduler else "in process"
    print(f"wrote {len(table):,} sellers x {table.shape[1]} features as of "
          f"{as_of.isoformat()} to {args.out} ({elapsed:.1f} s, {where})")
    if registered_later:
        print(f"left out {registered_later} sellers registered at or after as_of")
    return 0
