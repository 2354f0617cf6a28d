"""``sme-credit eod``: close the lender's business days; show where end of day stands.

``eod run`` closes every open day up to ``--through`` (default: every day before today in
the lender's time zone), in order and in batches, as the store's one runner
(:func:`lending.persistence.run_end_of_day`); a run killed midway resumes where it
stopped. ``eod status`` prints the last closed day, the business date and the latest run.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tqdm import tqdm

from cli import CliError
from cli.database import store_engine
from lending.persistence import end_of_day_status, run_end_of_day
from lending.persistence.eod import TrialBalanceFailed
from lending.persistence.errors import DayNotClosable, EndOfDayRunning
from records.snapshots import refresh_changed_sellers
from settings import Settings
from store.clock import utc_now

__all__ = ["register", "parse_day", "lender_today"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eod`` sub-command (``run``, ``status``)."""
    parser = subparsers.add_parser(
        "eod", help="close business days (end of day); show the last closed day",
        description="End of day: accruals, penalties, days past due, freeze and write-off "
        "for every open line, then a trial balance per currency, one business day at a "
        "time (see docs/lending.md, 'Business day and end of day').")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run", help="close every open day up to --through",
        description="Close every open business day up to --through in order (default: every "
        "day before today in the lender's time zone). A closed day is never closed again; a "
        "run stopped midway resumes where it stopped.")
    run.add_argument("--through", metavar="YYYY-MM-DD",
                     help="last day to close (a real clock refuses today or later; "
                     "SME_CREDIT_CLOCK=simulated allows any day)")
    run.add_argument("--batch-size", type=int, default=None, metavar="N",
                     help="lines per transaction (default: setting eod_batch_size)")
    run.set_defaults(handler=run_eod)
    status = actions.add_parser("status", help="last closed day and the latest run",
                                description="Print the last closed day, the business date "
                                "and the latest end-of-day run (duration, lines).")
    status.set_defaults(handler=show_status)



def lender_today(settings: Settings) -> date:
    """Today's calendar date in the lender's time zone."""
    return datetime.now(ZoneInfo(settings.timezone)).date()


def parse_day(value: str, option: str) -> date:
    """A ``YYYY-MM-DD`` option value, or a :class:`CliError` naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option} is not a date (YYYY-MM-DD): {value!r}") from None


def run_eod(args: argparse.Namespace, settings: Settings) -> int:
    """Close the open days; exit 2 with a clear message when that is refused."""
    today = lender_today(settings)
    through = (parse_day(args.through, "--through") if args.through
               else today - timedelta(days=1))
    batch_size = args.batch_size or settings.eod_batch_size
    if batch_size < 1:
        raise CliError(f"--batch-size must be at least 1; got {batch_size}")
    bars: dict[date, tqdm] = {}

    def progress(day: date, done: int, total: int) -> None:
        bar = bars.get(day)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[day] = tqdm(total=total, initial=done, desc=f"eod {day}", unit="line",
                                   file=sys.stderr, disable=None, leave=False)
        bar.total = max(total, done)
        bar.update(done - bar.n)

    with store_engine(settings) as engine:
        try:
            days = run_end_of_day(engine, through=through, today=today, clock=settings.clock,
                                  batch_size=batch_size, progress=progress)
        except (DayNotClosable, EndOfDayRunning, TrialBalanceFailed) as error:
            raise CliError(str(error)) from None
        finally:
            for bar in bars.values():
                bar.close()
        status = end_of_day_status(engine, today=today)
    if not days:
        print(f"nothing to close: the last closed day is {status.last_closed} "
              f"(business date {status.business_date})")
        return 0
    lines = sum(day.lines_processed for day in days)
    seconds = sum(day.seconds for day in days)
    print(f"closed {len(days):,} day(s), {days[0].day} to {days[-1].day}: {lines:,} line "
          f"visits in {seconds:.1f} s; trial balance holds on every day")
    changed = sorted({seller for day in days for seller in day.sellers_changed})
    if changed:
        with store_engine(settings) as engine:
            refreshed = refresh_changed_sellers(engine, changed, now=utc_now(),
                                                timezone=settings.timezone)
        shown = ", ".join(changed[:10]) + (" ..." if len(changed) > 10 else "")
        print(f"credit history changed for {len(changed):,} seller(s): {shown}; feature "
              f"snapshots rebuilt for the {refreshed:,} registered with the records service")
    print(f"business date is now {status.business_date}")
    return 0


def show_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print the last closed day and the latest run."""
    with store_engine(settings) as engine:
        status = end_of_day_status(engine, today=lender_today(settings))
    print(f"last closed day: {status.last_closed}")
    print(f"business date:   {status.business_date}")
    run = status.last_run
    if run is None:
        print("no end-of-day run recorded")
        return 0
    print(f"latest run:      {run.day} {run.status}, {run.lines_processed:,} lines in "
          f"{run.seconds:.1f} s ({run.attempts} attempt(s))")
    if run.status != "closed":
        print(f"  resumes after line {run.cursor or '(start)'}")
    if run.error:
        print(f"  error: {run.error}")
    return 0
