"""``sme-credit labels``: default labels from the ledger, one row per decision.

Reads the service's store (decisions and the lines they opened or changed) and writes the
labelled decisions as Parquet, with a JSON sidecar (the same path with ``.json``) holding
the counts, the definition and the window; see ``decisions.labels`` and
docs/models.md ("Labels from the ledger").
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from cli import CliError
from cli.database import store_engine
from cli.export import check_parquet_out
from cli.files import write_file, write_table
from decisions.labels import LABEL_DEFINITIONS, label_decisions
from settings import Settings

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``labels`` sub-command."""
    parser = subparsers.add_parser(
        "labels", help="label every decision from what its line did afterwards",
        description="One row per decision with a line observed for the whole window: "
        "the decision, every feature as scored and `label` (1 when the line went bad "
        "within the window). A decision that granted no line (a declined review, say) "
        "on a seller whose line was open and not yet bad is labelled from that line. "
        "Decisions not yet observed for the whole window and the other ones without a "
        "line (declined, referred) are left out and counted.")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="the Parquet file to write; counts go to PATH with .json")
    parser.add_argument("--window-months", type=int, default=12, metavar="N",
                        help="outcome window after the decision, in months (default 12)")
    parser.add_argument("--definition", choices=tuple(LABEL_DEFINITIONS), default="default",
                        help="default: 90+ days past due or written off (default); "
                        "ever-90; ever-60; written-off")
    parser.add_argument("--as-of", metavar="YYYY-MM-DD", default=None,
                        help="last business date observed (default: the last day any line "
                        "is booked to)")
    parser.add_argument("--own-lines-only", action="store_true",
                        help="label only decisions with a line of their own (leave out "
                        "declined and referred decisions on a seller's open line)")
    parser.set_defaults(handler=run_labels)


def run_labels(args: argparse.Namespace, settings: Settings) -> int:
    """Label the decisions, write the table and its sidecar, print the counts."""
    check_parquet_out(args.out)
    if args.window_months < 1:
        raise CliError(f"--window-months must be at least 1; got {args.window_months}")
    as_of = None
    if args.as_of is not None:
        try:
            as_of = date.fromisoformat(args.as_of)
        except ValueError:
            raise CliError(f"--as-of is not a date (YYYY-MM-DD): {args.as_of!r}") from None
    with store_engine(settings) as engine:
        print("labelling decisions ...", file=sys.stderr)
        labels = label_decisions(engine, window_months=args.window_months,
                                 definition=args.definition, as_of=as_of,
                                 timezone=settings.timezone,
                                 open_lines=not args.own_lines_only)
    counts = labels.counts
    sidecar = args.out.with_suffix(".json")
    write_table(labels.frame, args.out, index=False)
    write_file(sidecar, lambda path: path.write_text(
        json.dumps(counts.to_dict(), indent=2) + "\n"), option="--out")
    print(f"wrote {counts.labelled} labelled decisions ({counts.bad} bad, definition "
          f"{counts.definition}, {counts.window_months}-month window, observed through "
          f"{counts.as_of}) to {args.out}"
          + (f"; {counts.on_open_line} of them granted no line and are labelled from the "
             "seller's open line" if counts.on_open_line else ""))
    print(f"left out: {counts.not_yet_observed} not yet observed for the whole window, "
          f"{counts.declined} declined, {counts.referred_without_line} referred without a "
          f"line; counts in {sidecar}")
    return 0
