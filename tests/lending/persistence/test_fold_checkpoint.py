"""A fold resumed from a checkpoint equals the fold from the first event (pure rules).

End of day advances every line from its stored checkpoint instead of refolding its whole
history (:func:`lending.lines.resume_fold`); these properties are what make that safe.
They sit beside the end-of-day tests, whose fast path stands on them.
"""

import json
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lending import CreditLine, DelinquencyPolicy, LendingError, LineTerms, RepaymentPlan
from lending.lines import FoldCheckpoint, fold_line, fold_with_checkpoint, resume_fold

OPENED = date(2026, 1, 1)
PLANS = [RepaymentPlan.bullet(30), RepaymentPlan.instalments(3, "15.00"),
         RepaymentPlan.term_loan("annuity", 6, "0.18"),
         RepaymentPlan.term_loan("daily_interest", 3, "0.10"),
         RepaymentPlan.term_loan("equal_principal", 4, "0.24", interest_basis="daily")]

operations = st.lists(st.one_of(
    st.tuples(st.just("draw"), st.integers(1, 400_000), st.integers(0, len(PLANS) - 1)),
    st.tuples(st.just("repay"), st.integers(1, 300_000), st.just(0)),
    st.tuples(st.just("prepay"), st.integers(1, 300_000), st.integers(0, 5)),
    st.tuples(st.just("reverse"), st.integers(0, 5), st.just(0)),
    st.tuples(st.just("wait"), st.integers(1, 75), st.just(0)),
), min_size=1, max_size=10)


def _line(steps: list[tuple[str, int, int]], write_off_after_days: int) -> tuple[CreditLine,
                                                                                 date]:
    line = CreditLine(LineTerms("L1", Decimal("5000.00"), OPENED, delinquency=DelinquencyPolicy(
        write_off_after_days=write_off_after_days)))
    day = OPENED
    draws: list[str] = []
    payments: list[str] = []
    for number, (kind, value, choice) in enumerate(steps):
        try:
            if kind == "draw":
                draws.append(line.draw(f"D{number}", Decimal(value) / 100, day, PLANS[choice],
                                       supplier_id="SUP").draw_id)
            elif kind == "repay":
                payments.append(line.repay(f"P{number}", Decimal(value) / 100, day).payment_id)
            elif kind == "prepay" and draws:
                payments.append(line.prepay(f"P{number}", Decimal(value) / 100, day,
                                            draws[choice % len(draws)]).payment_id)
            elif kind == "reverse" and payments:
                line.reverse_payment(payments[value % len(payments)], day)
            elif kind == "wait":
                day += timedelta(days=value)
        except LendingError:
            pass
    return line, day


def _dated_after(entries: object, day: date) -> Counter[object]:
    return Counter(entry for entry in entries if entry.on > day)  # type: ignore[attr-defined]


def _same_figures(advance: object, state: object) -> None:
    for name in ("limit", "outstanding_principal", "available_credit", "days_past_due",
                 "bucket", "status"):
        assert getattr(advance, name) == getattr(state, name), name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations, gap=st.integers(0, 240), write_off=st.sampled_from([30, 60, 180]))
def test_a_fold_resumed_from_its_checkpoint_books_what_the_full_fold_books_after_it(
        steps, gap, write_off):
    line, last_event_day = _line(steps, write_off)
    checkpoint_day = last_event_day + timedelta(days=gap % 7)
    target = checkpoint_day + timedelta(days=gap)
    _, checkpoint = fold_with_checkpoint(line.terms, line.events, checkpoint_day)
    advance = resume_fold(line.terms, checkpoint, target)
    full = fold_line(line.terms, line.events, target)
    assert Counter(advance.entries) == _dated_after(full.journal, checkpoint_day)
    _same_figures(advance, full)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations, days=st.integers(1, 90))
def test_advancing_a_checkpoint_day_by_day_equals_the_full_fold_every_day(steps, days):
    line, day = _line(steps, 60)
    _, checkpoint = fold_with_checkpoint(line.terms, line.events, day)
    booked: Counter[object] = Counter()
    start = day
    for _ in range(days):
        day += timedelta(days=1)
        # the stored document goes through JSON-ready values only
        advance = resume_fold(line.terms, FoldCheckpoint(
            checkpoint.as_of, checkpoint.next_visit, checkpoint.quiet_through,
            json.loads(json.dumps(checkpoint.document))), day)
        booked.update(advance.entries)
        assert all(entry.on == day for entry in advance.entries)
        full = fold_line(line.terms, line.events, day)
        _same_figures(advance, full)
        checkpoint = advance.checkpoint
    assert booked == _dated_after(fold_line(line.terms, line.events, day).journal, start)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations)
def test_a_quiet_line_changes_nothing_but_its_date_through_its_quiet_days(steps):
    line, day = _line(steps, 60)
    state, checkpoint = fold_with_checkpoint(line.terms, line.events, day)
    if checkpoint.quiet_through is None:
        return
    through = min(checkpoint.quiet_through, day + timedelta(days=400))
    later = fold_line(line.terms, line.events, through)
    assert _dated_after(later.journal, day) == Counter()
    _same_figures(resume_fold(line.terms, checkpoint, through), state)
