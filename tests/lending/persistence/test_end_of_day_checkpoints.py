"""End of day resumes each line's fold from its checkpoint: the book and the summaries it
leaves are those of folding every line from its first event, whatever happened between."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from lending import DelinquencyPolicy, LendingError, RepaymentPlan
from lending.persistence import (
    EndOfDayScheduler,
    SqlUnitOfWork,
    close_day,
    current_business_date,
    draw,
    get_line,
    journal_totals,
    open_line,
    repay,
    reverse_payment,
)
from lending.persistence.services import load_line
from lending.persistence.tables import LineCheckpointRecord

OPENED = date(2026, 2, 1)
TODAY = date(2026, 12, 7)
PLANS = [RepaymentPlan.bullet(30), RepaymentPlan.instalments(3, "15.00"),
         RepaymentPlan.term_loan("annuity", 6, "0.18"),
         RepaymentPlan.term_loan("daily_interest", 3, "0.10")]

#: (day of the write after opening, line, kind, amount in fen, plan)
writes = st.lists(st.tuples(st.integers(0, 70), st.integers(0, 2),
                            st.sampled_from(["draw", "repay", "reverse"]),
                            st.integers(1, 200_000), st.integers(0, len(PLANS) - 1)),
                  max_size=8)


def _check_line(uow, line_id: str, day: date) -> None:
    with uow() as unit:
        record, line = load_line(unit, line_id, lock=False)
        state = line.state(day)
        assert record.as_of == day
        assert journal_totals(unit, line_id) == state.journal.balances()
    view = get_line(uow(), line_id)
    assert (view.outstanding_principal, view.available_credit, view.limit,
            view.days_past_due, view.bucket, view.status) == (
        state.outstanding_principal, state.available_credit, state.limit,
        state.days_past_due, state.bucket, state.status)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(plan=writes, days=st.integers(10, 60))
def test_every_closed_day_leaves_the_book_and_summaries_of_the_full_fold(engine, uow, plan,
                                                                         days):
    # the store lives across examples: each one opens its lines on the business date
    opened = current_business_date(uow(), today=OPENED)
    prefix = uuid.uuid4().hex[:6]
    lines = [f"{prefix}-L{n}" for n in range(3)]
    for n, line_id in enumerate(lines):
        open_line(uow(), line_id=line_id, seller_id=f"S{n}", limit="3000.00", opened_on=opened,
                  delinquency=DelinquencyPolicy(write_off_after_days=45))
        draw(uow(), line_id=line_id, amount="800.00", on=opened, plan=PLANS[n],
             supplier_id="SUP", idempotency_key=f"{line_id}-first")
    payments: dict[str, list[str]] = {line_id: [] for line_id in lines}
    start = close_day(engine, opened, today=TODAY, clock="simulated").day
    for offset in range(1, days):
        day = start + timedelta(days=offset)
        for number, (when, which, kind, fen, choice) in enumerate(plan):
            if when != offset:
                continue
            line_id = lines[which]
            try:
                if kind == "draw":
                    draw(uow(), line_id=line_id, amount=Decimal(fen) / 100, on=day,
                         plan=PLANS[choice], supplier_id="SUP",
                         idempotency_key=f"{line_id}-{number}")
                elif kind == "repay":
                    payments[line_id].append(repay(
                        uow(), line_id=line_id, amount=Decimal(fen) / 100, on=day,
                        idempotency_key=f"{line_id}-{number}").payment_id)
                elif payments[line_id]:
                    reverse_payment(uow(), line_id=line_id,
                                    payment_id=payments[line_id][fen % len(payments[line_id])],
                                    on=day)
            except LendingError:
                pass
        closed = close_day(engine, day, today=TODAY, clock="simulated", batch_size=2)
        assert closed.trial_balance is not None and closed.trial_balance.ok
        for line_id in lines:
            if get_line(uow(), line_id).status != "written_off":
                _check_line(uow, line_id, day)


def test_a_line_written_to_is_folded_again_and_gets_a_new_checkpoint(engine, uow):
    open_line(uow(), line_id="L1", seller_id="S1", limit="3000.00", opened_on=OPENED)
    draw(uow(), line_id="L1", amount="900.00", on=OPENED,
         plan=RepaymentPlan.term_loan("annuity", 6, "0.18"), supplier_id="SUP",
         idempotency_key="d1")
    close_day(engine, OPENED, today=TODAY, clock="simulated")  # booked to it by the draw
    close_day(engine, OPENED + timedelta(days=1), today=TODAY, clock="simulated")
    with SqlUnitOfWork(engine).reading() as unit:
        (kept,) = unit.session.exec(select(LineCheckpointRecord)).all()
        assert (kept.as_of, kept.event_count) == (OPENED + timedelta(days=1), 1)
    day = OPENED + timedelta(days=2)
    repay(uow(), line_id="L1", amount="100.00", on=day, idempotency_key="p1")
    close_day(engine, day, today=TODAY, clock="simulated")  # booked to it by the payment
    close_day(engine, day + timedelta(days=1), today=TODAY, clock="simulated")
    with SqlUnitOfWork(engine).reading() as unit:
        (kept,) = unit.session.exec(select(LineCheckpointRecord)).all()
        assert (kept.as_of, kept.event_count) == (day + timedelta(days=1), 2)
    _check_line(uow, "L1", day + timedelta(days=1))


def test_the_scheduler_tells_its_listener_the_days_it_closed(engine, uow):
    from datetime import UTC, datetime, time

    open_line(uow(), line_id="L1", seller_id="S1", limit="3000.00",
              opened_on=date(2026, 12, 3))
    heard: list[list[date]] = []
    scheduler = EndOfDayScheduler(
        engine, timezone="UTC", cutoff=time(0, 0),
        now=lambda: datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
        on_closed=lambda days: heard.append([d.day for d in days]))
    assert scheduler.run_once()
    assert scheduler.run_once()  # nothing left to close: nobody is told
    assert heard == [[date(2026, 12, 3), date(2026, 12, 4), date(2026, 12, 5)]]
