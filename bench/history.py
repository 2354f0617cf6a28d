"""Benchmark: the credit-history reads over a book, against the implementation before
their optimisation and a set-based SQL statement.

    .venv/bin/python bench/history.py                                  # 2,000 lines, both databases
    .venv/bin/python bench/history.py --lines 200 --databases sqlite   # a quick look
    .venv/bin/python bench/history.py --lines 20000 --no-reference     # larger, new code only

One run per database and book size:

1. **Set-up** (not timed): the book of ``bench/eod.py`` (its builders are imported, not
   copied): twenty template lines built through the real services (purchase lines,
   instalment lines and term loans paid on time, three past due), closed by end of day,
   copied with SQL into ``--lines`` lines with their events, journal and checkpoints.
2. **Timed, cold** (each call reads the database itself): ``credit_history_frame`` and
   ``line_month_panel`` of :mod:`lending.persistence.history`, then the same two of the
   frozen pre-optimisation copy (``tests/lending/persistence/history_reference.py``)
   unless ``--no-reference``; the frames must be equal (the bench fails otherwise).
3. **The floor**: one set-based SQL statement computing each line's days past due at
   the close of :data:`bench.eod.DAY` from the stored events (``bench/eod.py``'s, rolled
   back): much less than the panel (one day, no instalment paid dates, FIFO only), the
   floor any fold-based read stands on.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eod import built_book, dpd_floor  # noqa: E402

from lending.persistence.history import credit_history_frame, line_month_panel  # noqa: E402
from store import make_engine  # noqa: E402
from tests.lending.persistence import history_reference as reference  # noqa: E402


def _timed(label: str, read: object, engine: sa.Engine, lines: int) -> tuple[pd.DataFrame, float]:
    started = time.perf_counter()
    frame = read(engine)  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"  {label:<44} {seconds:8.2f} s  {seconds / lines * 1000:7.2f} ms/line  "
          f"{len(frame):>9,} rows", flush=True)
    return frame, seconds


def _bench(database: str, lines: int, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    with built_book(database, lines, args.postgres_url, prefix="history", keep=args.keep,
                    steady=False) as book:
        engine = make_engine(book.url)
        with engine.connect() as connection:
            total = int(connection.execute(sa.text("SELECT COUNT(*) FROM credit_line"))
                        .scalar_one())
            events = int(connection.execute(sa.text("SELECT COUNT(*) FROM line_event"))
                         .scalar_one())
        print(f"[{database}] book: {total:,} lines, {events:,} events "
              f"(set-up {time.perf_counter() - started:.1f} s, not timed)", flush=True)
        engine.dispose()
        engine = make_engine(book.url)
        # warm both implementations up (imports, first folds) on one template seller
        credit_history_frame(engine, seller_ids=["S00"])
        reference.credit_history_frame(engine, seller_ids=["S00"])
        history, new_history = _timed("credit_history_frame", credit_history_frame,
                                      engine, total)
        panel, new_panel = _timed("line_month_panel", line_month_panel, engine, total)
        if not args.no_reference:
            old_history_frame, old_history = _timed(
                "credit_history_frame (before, reference)", reference.credit_history_frame,
                engine, total)
            old_panel_frame, old_panel = _timed(
                "line_month_panel (before, reference)", reference.line_month_panel,
                engine, total)
            pd.testing.assert_frame_equal(history, old_history_frame)
            pd.testing.assert_frame_equal(panel, old_panel_frame)
            print(f"[{database}] frames equal to the reference; speed-up: credit history "
                  f"{old_history / new_history:.1f}x, month-end panel "
                  f"{old_panel / new_panel:.1f}x", flush=True)
        floor, past_due = dpd_floor(engine)
        print(f"[{database}] set-based SQL days past due on one day (one statement, floor): "
              f"{floor:.2f} s ({past_due:,} lines past due); panel / floor = "
              f"{new_panel / floor:.0f}x", flush=True)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[2_000],
                        help="book sizes in lines (three draws each)")
    parser.add_argument("--databases", nargs="+", default=["postgresql", "sqlite"],
                        choices=["postgresql", "sqlite"])
    parser.add_argument("--postgres-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the pre-optimisation implementation (slow on big books)")
    parser.add_argument("--keep", action="store_true", help="keep the folder and schema")
    args = parser.parse_args()
    for database in args.databases:
        for lines in sorted(args.lines):
            _bench(database, lines, args)


if __name__ == "__main__":
    main()
