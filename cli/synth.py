"""``sme-credit synth``: write a synthetic marketplace (sellers, orders, truth) to a folder.

The command parses and checks its arguments, calls :func:`synth.marketplace.generate_marketplace`
and :func:`synth.marketplace.write_marketplace`, and reports what it wrote. The generative
story lives in :mod:`synth.marketplace` and ``docs/synthetic-marketplace.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

from cli import CliError
from features import DEFAULT_TIMEZONE, resolve_as_of
from settings import Settings
from synth.marketplace import (
    DEFAULT_APPROVAL_RATE,
    DEFAULT_AS_OF,
    DEFAULT_HIDDEN_RISK_SHARE,
    DEFAULT_ORDERS_PER_SELLER_MONTH,
    generate_marketplace,
    write_marketplace,
)

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` sub-command to the ``sme-credit`` parser."""
    parser = subparsers.add_parser(
        "synth",
        help="generate a synthetic marketplace with known default risk",
        description="Generate sellers and their orders over MONTHS months before AS_OF, and "
        "separately the ground truth (each seller's true 12-month default probability, "
        "whether it defaulted, and whether the generator's approval policy approved it: "
        "column observed_default_12m holds the outcome of approved sellers only, what a "
        "lender would train on). Writes sellers, orders, truth and manifest.json into OUT.",
    )
    parser.add_argument("--sellers", type=int, required=True, metavar="N",
                        help="number of sellers (>= 1)")
    parser.add_argument("--months", type=int, default=24, metavar="M",
                        help="months of records before the as-of date (>= 1; default 24)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="random seed; the same seed gives identical files (default 0)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="output folder (created when missing)")
    parser.add_argument("--as-of", dest="as_of", default=DEFAULT_AS_OF.isoformat(),
                        metavar="DATE",
                        help="extraction date or timestamp; without an offset it is read in "
                        "the lender's time zone (setting `timezone`, default "
                        f"{DEFAULT_TIMEZONE}), "
                        "as `sme-credit features --as-of` reads it "
                        f"(default {DEFAULT_AS_OF.isoformat()})")
    parser.add_argument("--default-rate", dest="default_rate", type=float, default=0.05,
                        metavar="R", help="base 12-month default rate, in (0, 0.5) "
                        "(default 0.05)")
    parser.add_argument("--orders-per-month", dest="orders_per_month", type=float,
                        default=DEFAULT_ORDERS_PER_SELLER_MONTH, metavar="K",
                        help="average orders per seller and month (default "
                        f"{DEFAULT_ORDERS_PER_SELLER_MONTH:.2f}: 100,000 sellers over 24 months "
                        "give about 10 million orders)")
    parser.add_argument("--hidden-risk-share", dest="hidden_risk_share", type=float,
                        default=DEFAULT_HIDDEN_RISK_SHARE, metavar="H",
                        help="share of the variance of a seller's own default risk that the "
                        f"records never show, in [0, 1) (default {DEFAULT_HIDDEN_RISK_SHARE})")
    parser.add_argument("--approval-rate", dest="approval_rate", type=float,
                        default=DEFAULT_APPROVAL_RATE, metavar="A",
                        help="share of sellers the approval policy approves, in (0, 1]; "
                        "only they get an observed_default_12m (default "
                        f"{DEFAULT_APPROVAL_RATE}; 1 labels every seller)")
    parser.add_argument("--format", dest="file_format", choices=("parquet", "csv"),
                        default="parquet", help="file format (default parquet)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="do not show a progress bar on stderr")
    parser.set_defaults(handler=run)


def _check_arguments(args: argparse.Namespace, timezone: str) -> pd.Timestamp:
    if args.sellers < 1:
        raise CliError(f"--sellers must be at least 1; got {args.sellers}")
    if args.months < 1:
        raise CliError(f"--months must be at least 1; got {args.months}")
    if args.seed < 0:
        raise CliError(f"--seed must be 0 or more; got {args.seed}")
    if not 0.0 < args.default_rate < 0.5:
        raise CliError(f"--default-rate must be between 0 and 0.5 (exclusive); "
                       f"got {args.default_rate}")
    if not args.orders_per_month > 0:
        raise CliError(f"--orders-per-month must be above 0; got {args.orders_per_month}")
    if not 0.0 <= args.hidden_risk_share < 1.0:
        raise CliError(f"--hidden-risk-share must be in [0, 1); got {args.hidden_risk_share}")
    if not 0.0 < args.approval_rate <= 1.0:
        raise CliError(f"--approval-rate must be in (0, 1]; got {args.approval_rate}")
    try:
        return resolve_as_of(args.as_of, timezone)
    except (TypeError, ValueError):
        raise CliError(f"--as-of is not a date or timestamp: {args.as_of!r}") from None


def _check_out_dir(out: Path) -> None:
    """Fail before the (possibly long) generation when the folder cannot be written."""
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out} exists and is not a folder")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CliError(f"--out {out} is not writable")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Generate the marketplace described by ``args`` and write it to ``args.out``."""
    as_of = _check_arguments(args, settings.timezone)
    _check_out_dir(args.out)
    started = time.perf_counter()
    try:
        market = generate_marketplace(
            args.sellers, args.months, args.seed, as_of=as_of,
            base_default_rate=args.default_rate,
            orders_per_seller_month=args.orders_per_month,
            hidden_risk_share=args.hidden_risk_share,
            approval_rate=args.approval_rate,
            progress=bool(args.progress) and sys.stderr.isatty(),
        )
    except ValueError as exc:  # e.g. a window outside the supported years
        raise CliError(str(exc)) from exc
    generated = time.perf_counter() - started
    try:
        written = write_marketplace(market, args.out, args.file_format)
    except OSError as exc:
        raise CliError(f"could not write to {args.out}: {exc}") from exc
    elapsed = time.perf_counter() - started
    manifest = written.manifest
    for name in ("sellers", "orders", "truth"):
        print(f"wrote {written.paths[name]} ({manifest['counts'][name]:,} rows)")
    print(f"wrote {written.paths['manifest']}")
    print(f"as of {market.as_of.isoformat()}, {args.months} months, seed {args.seed}; "
          f"realised default rate {manifest['realised_default_rate']:.2%} "
          f"(base {args.default_rate:.2%})")
    approved = market.truth["approved"].to_numpy(dtype=bool)
    defaulted = market.truth["defaulted_12m"].to_numpy(dtype=bool)
    print(f"approved {approved.mean():.1%} of sellers (realised default rate "
          f"{defaulted[approved].mean() if approved.any() else 0.0:.2%}); the declined have "
          "no observed_default_12m")
    print(f"generated in {generated:.1f} s, written in {elapsed - generated:.1f} s")
    return 0
