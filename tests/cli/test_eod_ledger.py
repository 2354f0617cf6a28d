"""``sme-credit ledger trial-balance``: what end of day stored for a closed day, and with
``--full`` the sum of every posting, compared with it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lending import RepaymentPlan
from lending.persistence import SqlUnitOfWork, draw, open_line, repay, run_end_of_day
from store import make_engine, upgrade_database

ROOT = Path(__file__).resolve().parents[2]
OPENED = date(2026, 1, 5)
CLOSED = OPENED + timedelta(days=3)


def _ledger(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SME_CREDIT_DATABASE_URL": url,
                   "SME_CREDIT_CLOCK": "simulated", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())",
         "ledger", "trial-balance", *args], env=environment, capture_output=True, text=True,
        cwd=ROOT, timeout=300)


@pytest.fixture
def store(database_url: str) -> sa.Engine:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    for n in range(2):
        open_line(SqlUnitOfWork(engine), line_id=f"L{n}", seller_id=f"S{n}",
                  limit="1000.00", opened_on=OPENED)
        draw(SqlUnitOfWork(engine), line_id=f"L{n}", amount="300.00", on=OPENED,
             plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key=f"d{n}")
    run_end_of_day(engine, through=CLOSED, today=OPENED, clock="simulated")
    yield engine
    engine.dispose()


def test_a_closed_day_prints_its_stored_balance_and_full_compares_every_posting(
        database_url, store):
    stored = _ledger(database_url, "--on", CLOSED.isoformat())
    assert stored.returncode == 0, stored.stderr
    assert "as end of day closed the day" in stored.stdout
    assert "loans receivable 600.00 vs 2 lines' outstanding principal 600.00: agree" \
        in stored.stdout
    full = _ledger(database_url, "--on", CLOSED.isoformat(), "--full")
    assert full.returncode == 0, full.stderr
    assert "summed from every posting" in full.stdout and "postings agree" in full.stdout

    # a payment booked into the closed day afterwards (a direct service call: the HTTP
    # path books on the business date): the stored balance stays as closed, --full sees it
    repay(SqlUnitOfWork(store), line_id="L0", amount="100.00", on=CLOSED,
          idempotency_key="late")
    again = _ledger(database_url, "--on", CLOSED.isoformat())
    assert again.stdout == stored.stdout
    later = _ledger(database_url, "--on", CLOSED.isoformat(), "--full")
    assert later.returncode == 0 and "postings DIFFER" in later.stdout
    assert "loans receivable 500.00 vs 2 lines' outstanding principal 500.00: agree" \
        in later.stdout


def test_a_day_not_closed_is_summed_from_every_posting(database_url, store):
    open_day = _ledger(database_url, "--on", (CLOSED + timedelta(days=1)).isoformat())
    assert open_day.returncode == 0, open_day.stderr
    assert "summed from every posting of the book now" in open_day.stdout
    assert "stored" not in open_day.stdout
