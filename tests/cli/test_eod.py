"""``sme-credit eod`` and ``sme-credit ledger`` as a user runs them: as processes, killed
midway and run again, with nothing booked twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from lending import RepaymentPlan
from lending.ledger import Account
from lending.persistence import (
    SqlUnitOfWork,
    draw,
    get_statement,
    journal_totals,
    open_line,
)
from lending.persistence.business_day import EndOfDayRunRecord
from lending.persistence.tables import CreditLineRecord, JournalEntryRecord
from store import make_engine, upgrade_database

ROOT = Path(__file__).resolve().parents[2]
OPENED = date(2026, 1, 5)


def _cli(url: str, *args: str, clock: str = "simulated") -> subprocess.Popen[str]:
    environment = {**os.environ, "SME_CREDIT_DATABASE_URL": url, "SME_CREDIT_CLOCK": clock,
                   "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())", *args],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT)


def _run(url: str, *args: str, clock: str = "simulated") -> subprocess.CompletedProcess[str]:
    process = _cli(url, *args, clock=clock)
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _book(engine: sa.Engine, lines: int) -> None:
    for n in range(lines):
        open_line(SqlUnitOfWork(engine), line_id=f"L{n:04d}", seller_id=f"S{n}",
                  limit="1000.00", opened_on=OPENED)
        draw(SqlUnitOfWork(engine), line_id=f"L{n:04d}", amount="300.00", on=OPENED,
             plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key=f"d{n}")


@pytest.fixture
def store(database_url: str) -> sa.Engine:
    engine = make_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


def _booked_as_derived(engine: sa.Engine, on: date) -> None:
    """Every line's booked balances equal its fold's: nothing booked twice or missed."""
    with SqlUnitOfWork(engine).reading() as unit:
        records = [(r.id, r.as_of) for r in unit.session.exec(select(CreditLineRecord))]
    for line_id, as_of in records:
        assert as_of == on
        derived = get_statement(SqlUnitOfWork(engine), line_id, on).balances
        with SqlUnitOfWork(engine).reading() as unit:
            booked = journal_totals(unit, line_id)
        assert {a: v for a, v in booked.items() if v} == \
            {a: v for a, v in derived.items() if v}, line_id


def test_a_run_killed_midway_resumes_and_books_nothing_twice(database_url, store):
    _book(store, 300)
    through = OPENED + timedelta(days=3)
    process = _cli(database_url, "eod", "run", "--through", through.isoformat(),
                   "--batch-size", "10")
    deadline = time.monotonic() + 300
    killed_on = None
    while time.monotonic() < deadline and process.poll() is None:
        with SqlUnitOfWork(store).reading() as unit:
            running = unit.session.exec(select(EndOfDayRunRecord).where(
                EndOfDayRunRecord.status == "running",
                EndOfDayRunRecord.lines_processed > 0)).first()
            if running is not None and running.day > OPENED:
                killed_on = running.day
        if killed_on is not None:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.communicate(timeout=60)
    assert killed_on is not None, "the run finished before it could be killed"
    assert process.returncode == -signal.SIGKILL

    status = _run(database_url, "eod", "status")
    assert f"{killed_on} running" in status.stdout and "resumes after line L" in status.stdout

    again = _run(database_url, "eod", "run", "--through", through.isoformat(),
                 "--batch-size", "10")
    assert again.returncode == 0, again.stderr
    assert f"business date is now {through + timedelta(days=1)}" in again.stdout
    _booked_as_derived(store, through)
    with SqlUnitOfWork(store).reading() as unit:
        assert not unit.session.exec(select(JournalEntryRecord).where(
            JournalEntryRecord.adjustment == sa.true())).first()
        run = unit.session.exec(select(EndOfDayRunRecord).where(
            EndOfDayRunRecord.day == killed_on)).one()
        assert run.status == "closed" and run.attempts == 2 and run.lines_processed >= 300
        assert journal_totals(unit)[Account.LOANS_RECEIVABLE] == 300 * 300

    balance = _run(database_url, "ledger", "trial-balance", "--on", through.isoformat())
    assert balance.returncode == 0, balance.stdout
    assert "debits equal credits: yes" in balance.stdout and "agree" in balance.stdout

    # idempotent: the days are closed, nothing changes
    entries = _count_entries(store)
    repeat = _run(database_url, "eod", "run", "--through", through.isoformat())
    assert repeat.returncode == 0 and "nothing to close" in repeat.stdout
    assert _count_entries(store) == entries


def _count_entries(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM journal_entry")).scalar_one()


def test_missed_days_are_caught_up_in_order(database_url, store):
    _book(store, 3)
    through = OPENED + timedelta(days=35)
    result = _run(database_url, "eod", "run", "--through", through.isoformat())
    assert result.returncode == 0, result.stderr
    assert f"closed 36 day(s), {OPENED} to {through}" in result.stdout
    assert "credit history changed for 3 seller(s)" in result.stdout
    _booked_as_derived(store, through)
    status = _run(database_url, "eod", "status")
    assert f"last closed day: {through}" in status.stdout
    assert f"latest run:      {through} closed, 3 lines" in status.stdout


def test_a_real_clock_refuses_to_close_today_with_a_clear_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    today = date.today() + timedelta(days=2)  # after today in any time zone
    result = _run(url, "eod", "run", "--through", today.isoformat(), clock="real")
    assert result.returncode == 2
    assert "not over yet" in result.stderr and "Traceback" not in result.stderr
    bad = _run(url, "eod", "run", "--through", "2026-02-30")
    assert bad.returncode == 2 and "--through is not a date" in bad.stderr
