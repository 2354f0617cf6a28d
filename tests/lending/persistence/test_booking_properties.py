"""Random operations through the services: the book always holds the derived balances."""

import uuid
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lending import CreditLine, DelinquencyPolicy, LendingError, RepaymentPlan
from lending.persistence import (
    advance_line,
    change_limit,
    draw,
    get_line,
    journal_totals,
    open_line,
    prepay,
    repay,
    reverse_payment,
)
from lending.persistence.services import books_forward, journal_plan, load_line

PLANS = [RepaymentPlan.bullet(30), RepaymentPlan.instalments(3, "15.00"),
         RepaymentPlan.term_loan("annuity", 6, "0.18"),
         RepaymentPlan.term_loan("daily_interest", 3, "0.10")]

operations = st.lists(st.one_of(
    st.tuples(st.just("draw"), st.integers(1, 400_000), st.integers(0, len(PLANS) - 1)),
    st.tuples(st.just("repay"), st.integers(1, 300_000), st.just(0)),
    st.tuples(st.just("prepay"), st.integers(1, 300_000), st.integers(0, 5)),
    st.tuples(st.just("reverse"), st.integers(0, 5), st.just(0)),
    st.tuples(st.just("advance"), st.integers(1, 75), st.just(0)),
    st.tuples(st.just("limit"), st.integers(0, 800_000), st.just(0)),
), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(steps=operations)
def test_after_any_operations_the_book_balances_and_equals_the_fold(uow, steps):
    line_id = f"L-{uuid.uuid4().hex[:8]}"
    open_line(uow(), line_id=line_id, seller_id="S", limit="5000.00",
              opened_on=date(2026, 1, 1),
              delinquency=DelinquencyPolicy(write_off_after_days=60))
    day = date(2026, 1, 1)
    draws: list[str] = []
    payments: list[str] = []
    for number, (kind, value, choice) in enumerate(steps):
        key = f"{line_id}-{number}"
        version = get_line(uow(), line_id).version
        try:
            if kind == "draw":
                draws.append(draw(uow(), line_id=line_id, amount=Decimal(value) / 100, on=day,
                                  plan=PLANS[choice], supplier_id="SUP",
                                  idempotency_key=key).draw_id)
            elif kind == "repay":
                payments.append(repay(uow(), line_id=line_id, amount=Decimal(value) / 100,
                                      on=day, idempotency_key=key).payment_id)
            elif kind == "prepay" and draws:
                payments.append(prepay(uow(), line_id=line_id,
                                       draw_id=draws[choice % len(draws)],
                                       amount=Decimal(value) / 100, on=day,
                                       idempotency_key=key).payment_id)
            elif kind == "reverse" and payments:
                reverse_payment(uow(), line_id=line_id,
                                payment_id=payments[value % len(payments)], on=day)
            elif kind == "advance":
                day += timedelta(days=value)
                advance_line(uow(), line_id=line_id, to=day)
            elif kind == "limit":
                change_limit(uow(), line_id=line_id, new_limit=Decimal(value) / 100, on=day,
                             idempotency_key=key)
        except LendingError:
            assert get_line(uow(), line_id).version == version  # a refusal changes nothing
        with uow() as unit:
            record, line = load_line(unit, line_id, lock=False)
            state = line.state(record.as_of)
            booked = journal_totals(unit, line_id)
            totals = unit.journal.totals(line_id)
        assert sum(v for (_, side), v in totals.items() if side == "debit") == sum(
            v for (_, side), v in totals.items() if side == "credit")
        assert booked == state.journal.balances()
        assert get_line(uow(), line_id).outstanding_principal == state.outstanding_principal


def _operate(uow, line_id: str, steps) -> None:
    """Apply random operations through the services (refusals are part of the game)."""
    day = date(2026, 1, 1)
    draws: list[str] = []
    payments: list[str] = []
    for number, (kind, value, choice) in enumerate(steps):
        key = f"{line_id}-{number}"
        try:
            if kind == "draw":
                draws.append(draw(uow(), line_id=line_id, amount=Decimal(value) / 100, on=day,
                                  plan=PLANS[choice], supplier_id="SUP",
                                  idempotency_key=key).draw_id)
            elif kind == "repay":
                payments.append(repay(uow(), line_id=line_id, amount=Decimal(value) / 100,
                                      on=day, idempotency_key=key).payment_id)
            elif kind == "prepay" and draws:
                payments.append(prepay(uow(), line_id=line_id,
                                       draw_id=draws[choice % len(draws)],
                                       amount=Decimal(value) / 100, on=day,
                                       idempotency_key=key).payment_id)
            elif kind == "reverse" and payments:
                reverse_payment(uow(), line_id=line_id,
                                payment_id=payments[value % len(payments)], on=day)
            elif kind == "advance":
                day += timedelta(days=value)
                advance_line(uow(), line_id=line_id, to=day)
            elif kind == "limit":
                change_limit(uow(), line_id=line_id, new_limit=Decimal(value) / 100, on=day,
                             idempotency_key=key)
        except LendingError:
            pass


def _net_by_group(entries) -> Counter:
    net: Counter = Counter()
    for entry in entries:
        for posting in entry.postings:
            signed = posting.amount if posting.side == "debit" else -posting.amount
            net[(entry.kind, entry.reference, posting.account)] += signed
    return Counter({key: amount for key, amount in net.items() if amount})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(steps=operations, days=st.integers(1, 40))
def test_advancing_day_by_day_books_only_the_entries_after_the_booked_date_as_the_full_diff_would(
        uow, steps, days):
    line_id = f"L-{uuid.uuid4().hex[:8]}"
    open_line(uow(), line_id=line_id, seller_id="S", limit="5000.00",
              opened_on=date(2026, 1, 1),
              delinquency=DelinquencyPolicy(write_off_after_days=60))
    _operate(uow, line_id, steps)
    for number in range(days):
        with uow() as unit:
            record, line = load_line(unit, line_id, lock=False)
            day = record.as_of + timedelta(days=1)
            booked = unit.journal.list(record)
            # advancing the line, and (not stored) a payment the next day
            paying = CreditLine(line.terms, line.events)
            try:
                paying.repay(f"X{number}", Decimal("37.50"), day)
            except LendingError:
                paying = line
            # and (not stored) a limit change dated on the booked date itself: it posts
            # nothing, so the book need not be read for it either
            regranted = CreditLine(line.terms, line.events)
            try:
                regranted.change_limit(f"C{number}", Decimal("1234.00"), record.as_of)
            except LendingError:
                regranted = line
            for candidate, new in ((line, 0), (paying, len(paying.events) - len(line.events)),
                                   (regranted, len(regranted.events) - len(line.events))):
                assert books_forward(record, candidate.events, new, day)
                state = candidate.state(day)
                full = journal_plan(booked, state, record.currency)
                forward = [entry for entry in state.journal if entry.on > record.as_of]
                if not any(item.adjustment for item in booked):
                    # the book holds the derived journal entry for entry: the full diff
                    # books exactly the entries dated after the booked date
                    assert Counter(full) == Counter((entry, False) for entry in forward)
                else:
                    # groups adjusted before are adjusted again by the full diff (one
                    # entry of the difference) where the fast path books the derived
                    # entries: the same amounts
                    assert _net_by_group(e for e, _ in full) == _net_by_group(forward)
        advance_line(uow(), line_id=line_id, to=day)
        with uow() as unit:
            record, line = load_line(unit, line_id, lock=False)
            assert journal_totals(unit, line_id) == line.state(day).journal.balances()
