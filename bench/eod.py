"""Benchmark: close one business day for a whole book, against one set-based SQL statement.

    .venv/bin/python bench/eod.py                                   # 100,000 lines, both databases
    .venv/bin/python bench/eod.py --lines 2000 --databases sqlite   # a quick look
    .venv/bin/python bench/eod.py --lines 10000 --batch-size 500    # another batch size
    .venv/bin/python bench/eod.py --lines 10000 100000              # memory at two sizes

One run per database and book size:

1. **Set-up** (not timed): a fresh store (a SQLite file in a temporary folder, or a schema
   of its own on the PostgreSQL of ``--postgres-url``, dropped at the end), migrated.
   Twenty *template* lines (:data:`MIX`, three draws each) are built through the real
   services (``open_line``, ``draw``, ``repay``, ``advance_line``): four in ten purchase
   lines drawn in the last weeks (interest-free bullets, nothing due yet), two in ten
   instalment lines paid on time, a quarter term loans paid on time (annuity, daily
   interest, equal principal: interest accruing every day) and three past due (never
   paid, paid by half). End of day then closes the day before :data:`DAY` for them, so
   each has its fold checkpoint as in steady state. The templates are copied with SQL
   (``INSERT ... SELECT`` over a numbers table) into ``--lines`` lines with their events,
   journal entries, postings and checkpoints (each copy a line of its own: ids
   suffixed): a book is prepared in bulk, not by hundreds of thousands of service calls.
   The closing balance of the day before is then summed over the whole book, as end of
   day would have kept it had it closed that day for every copy.
2. **End of day, timed as a whole process**: ``sme-credit eod run --through DAY`` with a
   simulated clock (``SME_CREDIT_CLOCK=simulated``), as an operator runs it: interpreter
   start, imports, reading every open line in batches, folding, booking, the summary rows,
   the trial balance. Its exit status must be 0 (a failed trial balance fails the bench).
   Wall time, lines per second and the process's peak resident memory are printed, with
   the part spent in the run itself (batches and trial balance, as the run records it),
   the time of the closing trial balance alone (read once more afterwards, carried from
   the day before as the close reads it) and of the full scan of every posting, which it
   must equal (the bench fails otherwise). Several sizes (``--lines 10000 100000``) show
   whether memory stays flat.
3. **The floor**: one set-based SQL statement that computes every line's days past due on
   that day from the stored events (each draw's instalments from its JSON schedule,
   cumulated by due date, against the line's payments: the oldest due date not covered)
   and writes it into ``credit_line.days_past_due``, inside a transaction rolled back
   afterwards. It computes much less than end of day (no penalties, fees, accruals,
   journal or trial balance), so it is the floor any end of day stands on; the ratio
   of end of day to it is printed.

The figures go to BENCHMARKS.md with the command that produced them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlmodel import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lending import RepaymentPlan  # noqa: E402
from lending.persistence import (  # noqa: E402
    SqlUnitOfWork,
    advance_line,
    close_day,
    draw,
    get_statement,
    open_line,
    repay,
    trial_balance,
)
from lending.persistence.business_day import EndOfDayRunRecord  # noqa: E402
from lending.persistence.eod import (  # noqa: E402
    closing_trial_balance,
    store_closing_balance,
)
from store import make_engine, upgrade_database  # noqa: E402

TEMPLATES = 10
#: The closed day; every template is built relative to it.
DAY = date(2026, 6, 30)

#: Instalments cumulated by due date, and payments, per line (after the dialect's ``inst``).
_DUE_AND_PAID = """), due AS (
  SELECT line_id, due,
         SUM(amount) OVER (PARTITION BY line_id ORDER BY due ROWS UNBOUNDED PRECEDING) AS cum
  FROM inst
), paid AS (
  SELECT line_id, SUM(amount_minor) / 100.0 AS paid FROM line_event
  WHERE kind IN ('payment', 'prepayment') AND "on" <= :day GROUP BY line_id
), dpd AS ("""

#: The set-based statement, per dialect: every line's days past due on :day, FIFO.
DPD_SQL = {
    "postgresql": """
WITH inst AS (
  SELECT e.line_id, (i->>1)::date AS due,
         (i->>2)::numeric + (i->>3)::numeric + (i->>4)::numeric AS amount
  FROM line_event e
  CROSS JOIN LATERAL jsonb_array_elements((e.payload::jsonb)->'schedule'->'instalments') AS i
  WHERE e.kind = 'draw' AND (i->>1)::date <= :day
""" + _DUE_AND_PAID + """
  SELECT d.line_id,
         COALESCE(:day - MIN(d.due) FILTER (WHERE d.cum > COALESCE(p.paid, 0)), 0) AS dpd
  FROM due d LEFT JOIN paid p USING (line_id) GROUP BY d.line_id
)
UPDATE credit_line SET days_past_due = dpd.dpd FROM dpd WHERE credit_line.id = dpd.line_id
""",
    "sqlite": """
WITH inst AS (
  SELECT e.line_id, json_extract(i.value, '$[1]') AS due,
         CAST(json_extract(i.value, '$[2]') AS REAL) + CAST(json_extract(i.value, '$[3]') AS REAL)
         + CAST(json_extract(i.value, '$[4]') AS REAL) AS amount
  FROM line_event e, json_each(e.payload, '$.schedule.instalments') AS i
  WHERE e.kind = 'draw' AND json_extract(i.value, '$[1]') <= :day
""" + _DUE_AND_PAID + """
  SELECT d.line_id,
         COALESCE(CAST(julianday(:day) - julianday(MIN(CASE WHEN d.cum > COALESCE(p.paid, 0)
                                                         THEN d.due END)) AS INTEGER), 0) AS dpd
  FROM due d LEFT JOIN paid p USING (line_id) GROUP BY d.line_id
)
UPDATE credit_line SET days_past_due = dpd.dpd FROM dpd WHERE credit_line.id = dpd.line_id
""",
}


#: The book's mix, one template line each (three draws a line): (plan of each draw, days
#: before DAY of each draw, repayment behaviour). Four in ten are purchase lines drawn in
#: the last weeks (nothing due yet), two in ten instalment lines paid on time, a quarter
#: term loans paid on time (interest accruing daily), the rest past due.
_BULLETS = [RepaymentPlan.bullet(30), RepaymentPlan.bullet(60), RepaymentPlan.bullet(90)]
_INSTALMENTS = RepaymentPlan.instalments(3, fee_rate_per_month="0.005")
_TERM_LOANS = [RepaymentPlan.term_loan("annuity", 12, "0.18"),
               RepaymentPlan.term_loan("daily_interest", 6, "0.12"),
               RepaymentPlan.term_loan("equal_principal", 6, "0.15")]
MIX: list[tuple[list[RepaymentPlan], list[int], str]] = [
    *[(_BULLETS, [24 - k, 15 - k, 6 - (k % 4)], "on_time") for k in range(6)],
    *[([_INSTALMENTS, _BULLETS[k % 3], _INSTALMENTS], [25 - k, 18 - k, 3 + k], "on_time")
      for k in range(2)],
    *[([_INSTALMENTS] * 3, [95 - 5 * k, 70 - 5 * k, 40 - 5 * k], "on_time") for k in range(4)],
    *[(_TERM_LOANS, [80 - 9 * k, 50 - 7 * k, 20 - 3 * k], "on_time") for k in range(5)],
    (_BULLETS, [75, 60, 50], "never"),
    ([_INSTALMENTS] * 3, [100, 80, 70], "half"),
    (_TERM_LOANS, [110, 90, 85], "never"),
]
TEMPLATES = len(MIX)


def _templates(engine: sa.Engine) -> list[str]:
    """The template lines built through the services and closed to the day before
    :data:`DAY` by end of day (which keeps each line's checkpoint, as in steady state)."""
    uow = lambda: SqlUnitOfWork(engine)  # noqa: E731
    ids = []
    for k, (plans, ago, behaviour) in enumerate(MIX):
        line_id = f"T{k:02d}"
        opened = DAY - timedelta(days=max(ago) + 5)
        open_line(uow(), line_id=line_id, seller_id=f"S{k:02d}", limit="200000.00",
                  opened_on=opened, revolving=plans is not _TERM_LOANS)
        draws: list[tuple[date, str, Decimal, RepaymentPlan]] = []
        dues: set[date] = set()
        for j, (plan, days) in enumerate(zip(plans, ago, strict=True)):
            on = DAY - timedelta(days=days)
            amount = Decimal(3000 + 1500 * j + 250 * k)
            draws.append((on, f"{line_id}-d{j}", amount, plan))
            dues.update(i.due_date for i in plan.schedule_for(amount, on, "CNY")
                        if i.due_date < DAY - timedelta(days=1))
        paid = 0
        for on in sorted({d[0] for d in draws} | dues):
            for drawn_on, key, amount, plan in draws:
                if drawn_on == on:
                    draw(uow(), line_id=line_id, amount=amount, on=on, plan=plan,
                         supplier_id="SUP", idempotency_key=key)
            if on not in dues or behaviour == "never":
                continue
            due = get_statement(uow(), line_id, as_of=on).total_due
            if behaviour == "half":
                due = (due / 2).quantize(Decimal("0.01"))
            if due > 0:
                paid += 1
                repay(uow(), line_id=line_id, amount=due, on=on,
                      idempotency_key=f"{line_id}-p{paid}")
        advance_line(uow(), line_id=line_id, to=DAY - timedelta(days=2))
        ids.append(line_id)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO business_day (id, last_closed, updated_at) "
            "VALUES (1, :day, CURRENT_TIMESTAMP)"), {"day": DAY - timedelta(days=2)})
    close_day(engine, DAY - timedelta(days=1), today=DAY, clock="simulated")
    return ids


def _replicate(engine: sa.Engine, copies: int) -> None:
    """Copy the template lines ``copies`` times (rows of every table a line has)."""
    with engine.begin() as connection:
        max_entry = connection.execute(sa.text("SELECT MAX(id) FROM journal_entry")).scalar()
        stride = int(max_entry or 0) + 1
        line_cols = [c["name"] for c in sa.inspect(connection).get_columns("credit_line")]
        numbers = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                   "WHERE i < :copies) ")

        def names(columns: list[str]) -> str:
            return ", ".join(f'"{c}"' for c in columns)

        select_cols = ", ".join(
            "t.id || '-' || n.i" if c == "id" else
            "t.seller_id || '-' || n.i" if c == "seller_id" else f't."{c}"' for c in line_cols)
        connection.execute(sa.text(
            f"{numbers}INSERT INTO credit_line ({names(line_cols)}) "
            f"SELECT {select_cols} FROM credit_line t CROSS JOIN n"), {"copies": copies})
        event_cols = [c["name"] for c in sa.inspect(connection).get_columns("line_event")
                      if c["name"] != "id"]
        connection.execute(sa.text(
            f"{numbers}INSERT INTO line_event ({names(event_cols)}) SELECT "
            + ", ".join("e.line_id || '-' || n.i" if c == "line_id" else f'e."{c}"'
                        for c in event_cols)
            + " FROM line_event e CROSS JOIN n WHERE e.line_id NOT LIKE '%-%'"),
            {"copies": copies})
        entry_cols = [c["name"] for c in sa.inspect(connection).get_columns("journal_entry")]
        connection.execute(sa.text(
            f"{numbers}INSERT INTO journal_entry ({names(entry_cols)}) SELECT "
            + ", ".join("j.id + n.i * :stride" if c == "id" else
                        "j.line_id || '-' || n.i" if c == "line_id" else f'j."{c}"'
                        for c in entry_cols)
            + " FROM journal_entry j CROSS JOIN n WHERE j.line_id NOT LIKE '%-%'"),
            {"copies": copies, "stride": stride})
        posting_cols = [c["name"] for c in sa.inspect(connection).get_columns("journal_posting")
                        if c["name"] != "id"]
        connection.execute(sa.text(
            f"{numbers}INSERT INTO journal_posting ({names(posting_cols)}) SELECT "
            + ", ".join("p.entry_id + n.i * :stride" if c == "entry_id" else f'p."{c}"'
                        for c in posting_cols)
            + " FROM journal_posting p CROSS JOIN n WHERE p.entry_id < :stride"),
            {"copies": copies, "stride": stride})
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(
                "SELECT setval(pg_get_serial_sequence('journal_entry', 'id'), "
                "(SELECT MAX(id) FROM journal_entry))"))
        checkpoint_cols = [c["name"] for c in
                           sa.inspect(connection).get_columns("line_checkpoint")]
        connection.execute(sa.text(
            f"{numbers}INSERT INTO line_checkpoint ({names(checkpoint_cols)}) SELECT "
            + ", ".join("c.line_id || '-' || n.i" if c == "line_id" else f'c."{c}"'
                        for c in checkpoint_cols)
            + " FROM line_checkpoint c CROSS JOIN n WHERE c.line_id NOT LIKE '%-%'"),
            {"copies": copies})
    with engine.connect() as connection:
        # as autovacuum would in a live store: without statistics PostgreSQL plans the
        # trial balance's aggregates as if each posting were a group of its own (an
        # ANALYZE left uncommitted is rolled back with its statistics)
        connection.execute(sa.text("ANALYZE"))
        connection.commit()


def _steady_closing_balance(engine: sa.Engine) -> None:
    """The closing balance of the day before :data:`DAY` over the whole book, as end of
    day would have left it had it closed that day for every copy (the copies' entries
    were added after the templates' close): the timed day then carries it forward and
    adds the day's entries, as in steady state."""
    before = DAY - timedelta(days=1)
    with SqlUnitOfWork(engine) as uow:
        _, through, sums = closing_trial_balance(uow.session, before, None)
        store_closing_balance(uow.session, before, sums)
        uow.session.execute(sa.text("UPDATE end_of_day_run SET journal_through = :through "
                                    "WHERE day = :day"), {"through": through, "day": before})
        uow.commit()


def _eod_process(url: str, workdir: Path, batch_size: int) -> tuple[float, float, str]:
    """``sme-credit eod run --through DAY`` as a process: seconds, peak RSS (MiB), output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SME_CREDIT_")}
    env.update(SME_CREDIT_DATABASE_URL=url, SME_CREDIT_CLOCK="simulated",
               SME_CREDIT_DATA_DIR=str(workdir / "data"),
               SME_CREDIT_EOD_BATCH_SIZE=str(batch_size))
    command = [str(ROOT / ".venv" / "bin" / "sme-credit"), "eod", "run", "--through",
               DAY.isoformat()]
    out, err = workdir / "eod.out", workdir / "eod.err"
    started = time.perf_counter()
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        # wait4 reaps the child and gives its own peak memory (RUSAGE_CHILDREN would
        # keep the largest of every child so far, the first database's for the second)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"eod run failed ({process.returncode}):\n{out.read_text()}\n"
                         f"{err.read_text()}")
    peak = usage.ru_maxrss
    return seconds, peak / 1024, out.read_text().strip().splitlines()[-1:][0]


def dpd_floor(engine: sa.Engine) -> tuple[float, int]:
    """The set-based statement's seconds (rolled back) and the lines it set past due."""
    dialect = engine.dialect.name
    with engine.connect() as connection:
        transaction = connection.begin()
        started = time.perf_counter()
        connection.execute(sa.text(DPD_SQL[dialect]), {"day": DAY})
        seconds = time.perf_counter() - started
        past_due = connection.execute(sa.text(
            "SELECT COUNT(*) FROM credit_line WHERE days_past_due > 0")).scalar()
        transaction.rollback()
    return seconds, int(past_due or 0)


@dataclass(frozen=True)
class Book:
    """A benchmark book: its store's URL, folder and (PostgreSQL) schema."""

    url: str
    workdir: Path
    schema: str


@contextlib.contextmanager
def built_book(database: str, lines: int, postgres_url: str, *, prefix: str, keep: bool,
               steady: bool = True) -> Iterator[Book]:
    """A store holding a book of ``lines`` lines (the templates copied), dropped after
    unless ``keep``; ``steady`` also keeps the day before's closing balance, as end of day
    would have left it."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    schema = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    if database == "sqlite":
        url = f"sqlite:///{workdir / 'book.db'}"
    else:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'create schema "{schema}"')
        separator = "&" if "?" in postgres_url else "?"
        url = f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    try:
        engine = make_engine(url)
        upgrade_database(engine)
        _templates(engine)
        copies = max(1, lines // TEMPLATES)
        if copies > 1:
            _replicate(engine, copies - 1)
            if steady:
                _steady_closing_balance(engine)
        engine.dispose()
        yield Book(url, workdir, schema)
    finally:
        if database == "postgresql" and not keep:
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute(f'drop schema "{schema}" cascade')
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _bench(database: str, lines: int, args: argparse.Namespace) -> tuple[int, float]:
    started = time.perf_counter()
    with built_book(database, lines, args.postgres_url, prefix="eod", keep=args.keep) as book:
        url, workdir = book.url, book.workdir
        engine = make_engine(url)
        with engine.connect() as connection:
            total = int(connection.execute(sa.text("SELECT COUNT(*) FROM credit_line"))
                        .scalar_one())
            draws = int(connection.execute(sa.text(
                "SELECT COUNT(*) FROM line_event WHERE kind = 'draw'")).scalar_one())
            entries = int(connection.execute(sa.text("SELECT COUNT(*) FROM journal_entry"))
                          .scalar_one())
        print(f"[{database}] book: {total:,} lines, {draws:,} draws, {entries:,} journal "
              f"entries "
              f"(set-up {time.perf_counter() - started:.1f} s, not timed)", flush=True)
        engine.dispose()
        seconds, peak, last = _eod_process(url, workdir, args.batch_size)
        print(f"[{database}] end of day {DAY} (whole process): {seconds:.1f} s, "
              f"{total / seconds:,.0f} lines/s, peak RSS {peak:,.0f} MiB; {last}", flush=True)
        engine = make_engine(url)
        with SqlUnitOfWork(engine) as uow:
            run_seconds = uow.session.execute(sa.text(
                "SELECT seconds FROM end_of_day_run WHERE day = :day"), {"day": DAY}).scalar()
            previous = uow.session.exec(select(EndOfDayRunRecord).where(
                EndOfDayRunRecord.day == DAY - timedelta(days=1))).one()
            started = time.perf_counter()
            closing, _, _ = closing_trial_balance(uow.session, DAY, previous)
            carried = time.perf_counter() - started
        with SqlUnitOfWork(engine).reading() as uow:
            started = time.perf_counter()
            full = trial_balance(uow.session, DAY)
            scan = time.perf_counter() - started
        if full != closing:
            raise SystemExit(f"the closing trial balance differs from the full scan:\n"
                             f"{closing}\n{full}")
        print(f"[{database}]   of which the run (batches and trial balance) "
              f"{run_seconds or 0:.1f} s; the closing trial balance alone (read again, "
              f"carried from the day before) {carried:.2f} s, equal to the full scan of "
              f"every posting ({scan:.1f} s, not part of end of day)", flush=True)
        floor, past_due = dpd_floor(engine)
        engine.dispose()
        print(f"[{database}] set-based SQL days past due (one statement): {floor:.2f} s "
              f"({past_due:,} lines past due); end of day / floor = {seconds / floor:.0f}x",
              flush=True)
        return total, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000],
                        help="book sizes in lines (three draws each); several sizes show "
                             "whether memory stays flat")
    parser.add_argument("--databases", nargs="+", default=["postgresql", "sqlite"],
                        choices=["postgresql", "sqlite"])
    parser.add_argument("--postgres-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--batch-size", type=int, default=1000,
                        help="lines per end-of-day transaction (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the folder and schema")
    args = parser.parse_args()
    for database in args.databases:
        peaks = [_bench(database, lines, args) for lines in sorted(args.lines)]
        if len(peaks) > 1:  # memory flat in the book's size: compared, not only printed
            (small, low), (large, high) = peaks[0], peaks[-1]
            verdict = "flat" if high <= low * 1.25 else "NOT flat"
            print(f"[{database}] peak RSS {low:,.0f} MiB at {small:,} lines, {high:,.0f} MiB "
                  f"at {large:,} ({large / small:.0f}x the book, {high / low:.2f}x the "
                  f"memory): {verdict} (flat: at most 1.25x)", flush=True)


if __name__ == "__main__":
    main()
