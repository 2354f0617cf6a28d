"""End of day's trial balance carries the last close's balances forward and adds the
entries booked since: always equal to the full scan of every posting, on both databases."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import select

from lending import RepaymentPlan
from lending.persistence import (
    SqlUnitOfWork,
    close_day,
    draw,
    open_line,
    repay,
    reverse_payment,
    trial_balance,
)
from lending.persistence.business_day import ClosingBalanceRecord, EndOfDayRunRecord
from lending.persistence.eod import TrialBalanceFailed, stored_trial_balance

OPENED = date(2026, 3, 2)
TODAY = date(2026, 12, 7)


def _day(n: int) -> date:
    return OPENED + timedelta(days=n)


def _close(engine, n: int):
    closed = close_day(engine, _day(n), today=TODAY, clock="simulated", batch_size=2)
    assert closed.trial_balance is not None
    return closed.trial_balance


def _full_scan(engine, on: date):
    with SqlUnitOfWork(engine).reading() as unit:
        return trial_balance(unit.session, on)


def _open(uow, line_id: str, amount: str, plan: RepaymentPlan, *, on: date = OPENED,
          revolving: bool = True) -> None:
    open_line(uow(), line_id=line_id, seller_id=f"S-{line_id}", limit="20000.00",
              opened_on=OPENED, revolving=revolving)
    draw(uow(), line_id=line_id, amount=amount, on=on, plan=plan, supplier_id="SUP",
         idempotency_key=f"{line_id}-d0")


def test_each_close_equals_the_full_scan_through_back_valued_payments_reversals_and_late_writes(
        engine, uow):
    _open(uow, "BULLET", "3000.00", RepaymentPlan.bullet(30))
    _open(uow, "LOAN", "12000.00", RepaymentPlan.term_loan("annuity", 6, "0.18"),
          revolving=False)
    _open(uow, "INSTALMENTS", "6000.00",
          RepaymentPlan.instalments(3, fee_rate_per_month="0.005"))
    for n in range(45):
        if n == 34:  # the bullet is 4 days late: paid back-valued to its due date
            repay(uow(), line_id="BULLET", amount="3000.00", on=_day(30),
                  idempotency_key="bullet-late", business_today=TODAY,
                  value_date_window_days=5)
        if n == 20:  # booked ahead of the business date: left out of the check
            _open(uow, "AHEAD", "500.00", RepaymentPlan.bullet(30), on=_day(23))
        if n == 31:
            repay(uow(), line_id="INSTALMENTS", amount="2000.00", on=_day(31),
                  idempotency_key="inst-1", payment_id="P-INST-1")
        if n == 33:
            reverse_payment(uow(), line_id="INSTALMENTS", payment_id="P-INST-1", on=_day(33))
        if n == 38:
            # booked into the day closed yesterday (the line is booked to it): the stored
            # balance of that day no longer matches a full scan of it, the next close does
            repay(uow(), line_id="LOAN", amount="700.00", on=_day(37),
                  idempotency_key="loan-late")
            assert _full_scan(engine, _day(37)) != stored_trial_balance_of(engine, _day(37))
        closed = _close(engine, n)
        assert closed.ok, (n, closed.problems())
        assert closed == _full_scan(engine, _day(n)), n
    (cny,) = closed.currencies
    assert cny.loans_receivable == cny.lines_outstanding > Decimal("0.00")
    assert {a.account for a in cny.accounts} >= {
        "loans_receivable", "interest_income", "penalty_income", "fee_income"}
    with SqlUnitOfWork(engine).reading() as unit:
        runs = unit.session.exec(select(EndOfDayRunRecord)).all()
        assert all(run.journal_through for run in runs)
        # the closing balance of each day is the last close's carried forward
        kept = unit.session.exec(select(ClosingBalanceRecord)
                                 .where(ClosingBalanceRecord.day == _day(44))).all()
        assert {row.posted_on for row in kept} == {_day(44)}


def stored_trial_balance_of(engine, on: date):
    with SqlUnitOfWork(engine).reading() as unit:
        return stored_trial_balance(unit.session, on)


def test_an_entry_booked_ahead_joins_the_balance_on_the_day_it_was_posted(engine, uow):
    _open(uow, "NOW", "1000.00", RepaymentPlan.bullet(30))
    _close(engine, 0)
    _open(uow, "AHEAD", "400.00", RepaymentPlan.bullet(30), on=_day(3))
    for n in range(1, 5):
        closed = _close(engine, n)
        assert closed == _full_scan(engine, _day(n))
        (cny,) = closed.currencies
        (drawn,) = (a for a in cny.accounts if a.account == "loans_receivable")
        assert drawn.debit == (Decimal("1400.00") if n >= 3 else Decimal("1000.00"))
        assert closed.lines_not_checked == (1 if n < 3 else 0)
    with SqlUnitOfWork(engine).reading() as unit:
        ahead = unit.session.exec(select(ClosingBalanceRecord.posted_on)
                                  .where(ClosingBalanceRecord.day == _day(1))).all()
    assert set(ahead) == {_day(1), _day(3)}


def test_days_closed_without_closing_balances_are_summed_once_from_every_posting(engine, uow):
    _open(uow, "LOAN", "12000.00", RepaymentPlan.term_loan("annuity", 6, "0.18"),
          revolving=False)
    for n in range(5):
        _close(engine, n)
    with engine.begin() as connection:  # as a store closed before closing balances
        connection.execute(sa.text("DELETE FROM closing_balance"))
        connection.execute(sa.text("UPDATE end_of_day_run SET journal_through = NULL"))
    closed = _close(engine, 5)
    assert closed.ok and closed == _full_scan(engine, _day(5))
    assert _close(engine, 6) == _full_scan(engine, _day(6))


def test_a_close_adds_to_the_carried_balance_so_a_wrong_carry_fails_the_day(engine, uow):
    _open(uow, "LOAN", "12000.00", RepaymentPlan.term_loan("annuity", 6, "0.18"),
          revolving=False)
    _close(engine, 0)
    _close(engine, 1)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "UPDATE closing_balance SET amount_minor = amount_minor + 1 "
            "WHERE account = 'interest_income' AND day = :day"), {"day": _day(1)})
    with pytest.raises(TrialBalanceFailed, match="differ from credits"):
        _close(engine, 2)
    assert _full_scan(engine, _day(2)).ok  # the book itself holds
    with SqlUnitOfWork(engine).reading() as unit:
        run = unit.session.exec(select(EndOfDayRunRecord)
                                .where(EndOfDayRunRecord.day == _day(2))).one()
        assert run.status == "failed" and run.journal_through is None
