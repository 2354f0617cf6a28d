"""End of day closes the lender's business day for every open line: in order, in
batches, once; each day ends with a trial balance that holds."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from lending import CreditLine, LineTerms, RepaymentPlan
from lending.persistence import (
    DayNotClosable,
    EndOfDayRunning,
    SqlUnitOfWork,
    ValueDateOutsideWindow,
    check_draw_date,
    check_value_date,
    close_day,
    current_business_date,
    draw,
    end_of_day_status,
    get_line,
    get_statement,
    open_line,
    repay,
    run_end_of_day,
    trial_balance,
)
from lending.persistence.business_day import EndOfDayRunRecord
from lending.persistence.eod import runner_lock
from lending.persistence.errors import NotTheBusinessDate
from lending.persistence.tables import JournalEntryRecord

OPENED = date(2026, 1, 5)
TODAY = date(2026, 12, 7)


def _book(uow, lines: int = 5, *, drawn: str = "300.00") -> None:
    for n in range(lines):
        open_line(uow(), line_id=f"L{n:03d}", seller_id=f"S{n}", limit="1000.00",
                  opened_on=OPENED)
        draw(uow(), line_id=f"L{n:03d}", amount=drawn, on=OPENED,
             plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key=f"d{n}")


def _entries(engine) -> int:
    with SqlUnitOfWork(engine).reading() as unit:
        return len(unit.session.exec(select(JournalEntryRecord.id)).all())


def test_a_new_store_starts_its_business_date_on_the_day_its_first_line_opened(engine, uow):
    assert current_business_date(uow(), today=TODAY) == TODAY
    _book(uow, 1)
    assert current_business_date(uow(), today=TODAY) == OPENED


def test_closing_a_day_advances_every_open_line_and_the_business_date(engine, uow):
    _book(uow, 3)
    closed = close_day(engine, OPENED, today=TODAY, batch_size=2)
    assert not closed.already_closed and closed.lines_processed == 3
    assert closed.trial_balance is not None and closed.trial_balance.ok
    (cny,) = closed.trial_balance.currencies
    assert cny.loans_receivable == cny.lines_outstanding == Decimal("900.00")
    assert current_business_date(uow(), today=TODAY) == OPENED + timedelta(days=1)


def test_closing_a_closed_day_again_changes_nothing(engine, uow):
    _book(uow, 2)
    run_end_of_day(engine, through=OPENED + timedelta(days=40), today=TODAY)
    entries = _entries(engine)
    again = close_day(engine, OPENED + timedelta(days=10), today=TODAY)
    assert again.already_closed
    assert run_end_of_day(engine, through=OPENED + timedelta(days=40), today=TODAY) == []
    assert _entries(engine) == entries


def test_missed_days_are_caught_up_in_order_and_penalties_booked_daily(engine, uow):
    _book(uow, 2)
    through = OPENED + timedelta(days=40)  # the bullet fell due on day 30: 10 days late
    days = run_end_of_day(engine, through=through, today=TODAY, batch_size=1)
    assert [d.day for d in days] == [OPENED + timedelta(days=n) for n in range(41)]
    assert all(d.trial_balance is not None and d.trial_balance.ok for d in days)
    view = get_line(uow(), "L000")
    assert (view.as_of, view.days_past_due, view.bucket) == (through, 10, "1-30")
    assert days[-1].sellers_changed == () and "S0" in days[31].sellers_changed
    status = end_of_day_status(engine, today=TODAY)
    assert status.last_closed == through and status.business_date == through + timedelta(1)
    assert status.last_run is not None and status.last_run.lines_processed == 2


def test_days_close_in_order_and_a_real_clock_never_closes_today(engine, uow):
    _book(uow, 1)
    with pytest.raises(DayNotClosable, match="in order"):
        close_day(engine, OPENED + timedelta(days=2), today=TODAY)
    with pytest.raises(DayNotClosable, match="not over yet"):
        run_end_of_day(engine, through=TODAY, today=TODAY)
    days = run_end_of_day(engine, through=OPENED + timedelta(days=1), today=OPENED,
                          clock="simulated")
    assert len(days) == 2


def test_an_untouched_line_reads_written_off_after_the_end_of_day_of_its_180th_day(
        engine, uow):
    _book(uow, 1)
    due = OPENED + timedelta(days=30)
    run_end_of_day(engine, through=due + timedelta(days=179), today=TODAY)
    business = current_business_date(uow(), today=TODAY)
    assert get_line(uow(), "L000", business_date=business).status != "written_off"
    close_day(engine, due + timedelta(days=180), today=TODAY)
    business = current_business_date(uow(), today=TODAY)
    view = get_line(uow(), "L000", business_date=business)
    assert view.status == "written_off" and view.outstanding_principal == Decimal("0.00")
    assert view.as_of == due + timedelta(days=180)
    # the written-off line is left alone by later days
    assert close_day(engine, due + timedelta(days=181), today=TODAY).lines_processed == 0


def test_reads_without_a_date_show_the_business_date_not_the_last_write(engine, uow):
    _book(uow, 1)
    run_end_of_day(engine, through=OPENED + timedelta(days=34), today=TODAY)
    business = current_business_date(uow(), today=TODAY)
    view = get_line(uow(), "L000", business_date=business)  # as closed: 4 days past due
    assert (view.as_of, view.days_past_due, view.status) == (business - timedelta(1), 4,
                                                             "frozen")
    statement = get_statement(uow(), "L000", business_date=business)
    assert statement.as_of == business - timedelta(1) and statement.penalty_due > 0
    repay(uow(), line_id="L000", amount="10.00", on=business, idempotency_key="p")
    assert get_line(uow(), "L000", business_date=business).as_of == business


def test_draws_happen_on_the_business_date_only():
    assert check_draw_date(None, OPENED) == OPENED
    assert check_draw_date(OPENED, OPENED) == OPENED
    with pytest.raises(NotTheBusinessDate) as refused:
        check_draw_date(OPENED + timedelta(days=1), OPENED)
    assert refused.value.details == {"allowed": "2026-01-05"}


def test_a_value_date_is_allowed_back_to_the_window_and_never_forward():
    business = date(2026, 3, 10)
    assert check_value_date(date(2026, 3, 5), business, 5) == date(2026, 3, 5)
    assert check_value_date(None, business, 5) == business
    for outside in (date(2026, 3, 4), date(2026, 3, 11)):
        with pytest.raises(ValueDateOutsideWindow) as refused:
            check_value_date(outside, business, 5)
        assert refused.value.details == {"earliest": "2026-03-05", "latest": "2026-03-10"}


def test_a_back_valued_repayment_corrects_what_end_of_day_booked_with_adjusting_entries(
        engine, uow):
    _book(uow, 1)
    late = OPENED + timedelta(days=40)  # 10 days past due, penalty booked daily
    run_end_of_day(engine, through=late, today=TODAY)
    booked_penalty = get_statement(uow(), "L000", late).penalty_due
    assert booked_penalty > 0
    with SqlUnitOfWork(engine).reading() as unit:
        before = {(e.id, e.on, e.kind) for e in unit.session.exec(select(JournalEntryRecord))}
    business = current_business_date(uow(), today=TODAY)
    value = check_value_date(OPENED + timedelta(days=30), business, 15)  # paid on the due date
    receipt = repay(uow(), line_id="L000", amount="300.00", on=value, idempotency_key="p",
                    booked_on=business)
    assert receipt.on == value and receipt.outstanding_principal == Decimal("0.00")
    view = get_line(uow(), "L000", business_date=business)
    assert (view.days_past_due, view.as_of) == (0, business)
    with SqlUnitOfWork(engine).reading() as unit:
        after = {(e.id, e.on, e.kind, e.adjustment)
                 for e in unit.session.exec(select(JournalEntryRecord))}
    assert before <= {(i, on, kind) for i, on, kind, _ in after}  # nothing rewritten
    adjusting = [on for _, on, _, adjustment in after if adjustment]
    assert adjusting and set(adjusting) == {business}
    assert get_statement(uow(), "L000", business).penalty_due == Decimal("0.00")
    closed = close_day(engine, business, today=TODAY)
    assert closed.trial_balance is not None and closed.trial_balance.ok


def test_a_repayment_back_valued_behind_a_later_draw_is_applied_on_its_value_date(uow):
    _book(uow, 1)
    draw(uow(), line_id="L000", amount="100.00", on=OPENED + timedelta(days=3),
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="d-late")
    receipt = repay(uow(), line_id="L000", amount="50.00", on=OPENED + timedelta(days=1),
                    idempotency_key="p-back", booked_on=OPENED + timedelta(days=3))
    assert receipt.on == OPENED + timedelta(days=1)
    # as if it had been recorded on its value date, before the later draw
    line = CreditLine(LineTerms("L000", Decimal("1000.00"), OPENED))
    line.draw("D", "300.00", OPENED, RepaymentPlan.bullet(30), supplier_id="SUP")
    line.repay("P", "50.00", OPENED + timedelta(days=1))
    line.draw("D2", "100.00", OPENED + timedelta(days=3), RepaymentPlan.bullet(30),
              supplier_id="SUP")
    expected = line.state(OPENED + timedelta(days=3))
    assert (receipt.outstanding_principal, receipt.total_due) == (
        expected.outstanding_principal, expected.total_due)


def test_one_runner_per_store(engine, uow):
    _book(uow, 1)
    with runner_lock(engine, today=TODAY), pytest.raises(EndOfDayRunning):
        run_end_of_day(engine, through=OPENED, today=TODAY)
    assert len(run_end_of_day(engine, through=OPENED, today=TODAY)) == 1


def test_a_run_resumes_after_its_cursor_without_visiting_lines_again(engine, uow):
    _book(uow, 5)
    close_day(engine, OPENED, today=TODAY)
    with SqlUnitOfWork(engine) as unit:  # as if killed after the first batch of day 2
        unit.session.add(EndOfDayRunRecord(day=OPENED + timedelta(days=1), started_at=TODAY,
                                           lines_processed=2, cursor="L001"))
        unit.commit()
    seen: list[int] = []
    closed = close_day(engine, OPENED + timedelta(days=1), today=TODAY, batch_size=2,
                       progress=lambda day, done, total: seen.append(done))
    assert closed.attempts == 2 and closed.lines_processed == 5
    assert seen == [2, 4, 5]
    with SqlUnitOfWork(engine).reading() as unit:
        assert trial_balance(unit.session, OPENED + timedelta(days=1)).ok
