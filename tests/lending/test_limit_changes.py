"""A line's limit changes by an event: available credit follows it from its date."""

from datetime import date
from decimal import Decimal

import pytest

from lending import (
    BackdatedOperation,
    CreditLimitExceeded,
    CreditLine,
    CurrencyMismatch,
    DelinquencyPolicy,
    DuplicateOperation,
    InvalidAmount,
    InvalidIdentifier,
    LimitChanged,
    LineClosed,
    RepaymentPlan,
    fold_line,
    open_term_loan,
)
from tests.lending.builders import OPENED, new_line


def _draw(line: CreditLine, draw_id: str, amount: str, on: date = OPENED) -> None:
    line.draw(draw_id, amount, on, RepaymentPlan.bullet(60), supplier_id="S1")


def test_a_limit_change_is_recorded_as_an_event_with_the_limit_before_and_after():
    line = new_line()
    event = line.change_limit("C1", "12000.00", date(2025, 1, 10), reason="good payer",
                              actor="user:carol")
    assert event == LimitChanged("C1", date(2025, 1, 10), Decimal("10000.00"),
                                 Decimal("12000.00"), "good payer", "user:carol")
    assert line.events == (event,)


def test_raising_the_limit_raises_available_credit_from_its_date_on():
    line = new_line()
    _draw(line, "D1", "3000.00")
    line.change_limit("C1", "15000.00", date(2025, 1, 10))
    before, after = line.state(date(2025, 1, 9)), line.state(date(2025, 1, 10))
    assert (before.limit, before.available_credit) == (Decimal("10000.00"), Decimal("7000.00"))
    assert (after.limit, after.available_credit) == (Decimal("15000.00"), Decimal("12000.00"))
    assert line.terms.limit == Decimal("10000.00")  # the terms keep the opening limit
    _draw(line, "D2", "12000.00", date(2025, 1, 10))


def test_lowering_the_limit_below_what_is_owed_leaves_no_credit_and_refuses_draws():
    line = new_line()
    _draw(line, "D1", "6000.00")
    line.change_limit("C1", "4000.00", date(2025, 1, 10), reason="seasonal dip")
    state = line.state(date(2025, 1, 10))
    assert (state.limit, state.available_credit, state.over_limit) == (
        Decimal("4000.00"), Decimal("0.00"), Decimal("2000.00"))
    assert state.outstanding_principal == Decimal("6000.00")  # nothing is called in
    assert state.total_due == 0 and state.days_past_due == 0
    with pytest.raises(CreditLimitExceeded):
        _draw(line, "D2", "0.01", date(2025, 1, 10))


def test_after_a_cut_repayments_restore_credit_only_below_the_new_limit():
    line = new_line()
    _draw(line, "D1", "6000.00")
    line.change_limit("C1", "4000.00", date(2025, 1, 10))
    line.prepay("P1", "1500.00", date(2025, 1, 20), "D1")
    assert line.state(date(2025, 1, 20)).available_credit == 0
    line.prepay("P2", "1000.00", date(2025, 1, 25), "D1")
    state = line.state(date(2025, 1, 25))
    assert (state.available_credit, state.over_limit) == (Decimal("500.00"), Decimal("0.00"))


def test_a_limit_of_zero_stops_new_draws_without_closing_the_line():
    line = new_line()
    line.change_limit("C1", "0.00", date(2025, 1, 10))
    state = line.state(date(2025, 1, 10))
    assert (state.available_credit, state.closed, state.frozen) == (0, False, False)
    with pytest.raises(CreditLimitExceeded):
        _draw(line, "D1", "1.00", date(2025, 1, 10))


def test_a_limit_change_moves_no_money():
    line = new_line()
    _draw(line, "D1", "3000.00")
    journal_before = line.state(date(2025, 1, 10)).journal
    line.change_limit("C1", "5000.00", date(2025, 1, 10))
    assert line.state(date(2025, 1, 10)).journal == journal_before


def test_every_change_is_folded_in_order_and_the_state_follows_the_latest():
    line = new_line()
    line.change_limit("C1", "8000.00", date(2025, 1, 5))
    line.change_limit("C2", "9000.00", date(2025, 1, 5))
    second = line.change_limit("C3", "2000.00", date(2025, 2, 1))
    assert second.previous_limit == Decimal("9000.00")
    limits = {day: fold_line(line.terms, line.events, day).limit
              for day in (date(2025, 1, 4), date(2025, 1, 5), date(2025, 3, 1))}
    assert limits == {date(2025, 1, 4): Decimal("10000.00"),
                      date(2025, 1, 5): Decimal("9000.00"),
                      date(2025, 3, 1): Decimal("2000.00")}


def test_a_frozen_line_may_have_its_limit_lowered():
    line = new_line(delinquency=DelinquencyPolicy(freeze_after_days=3))
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    assert line.state(date(2025, 2, 10)).frozen
    line.change_limit("C1", "500.00", date(2025, 2, 10))
    assert line.state(date(2025, 2, 10)).limit == Decimal("500.00")


def test_a_closed_line_keeps_its_limit():
    line = new_line(delinquency=DelinquencyPolicy(write_off_after_days=30))
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    assert line.state(date(2025, 3, 15)).closed
    with pytest.raises(LineClosed, match="its limit cannot change"):
        line.change_limit("C1", "20000.00", date(2025, 3, 15))
    assert line.events[-1].on == OPENED


def test_a_limit_change_cannot_be_backdated():
    line = new_line()
    line.repay("P1", "10.00", date(2025, 2, 1))
    with pytest.raises(BackdatedOperation):
        line.change_limit("C1", "5000.00", date(2025, 1, 31))
    with pytest.raises(BackdatedOperation):
        new_line().change_limit("C1", "5000.00", date(2024, 12, 31))


def test_an_operation_dated_before_the_last_limit_change_is_backdated_too():
    line = new_line()
    line.change_limit("C1", "5000.00", date(2025, 2, 1))
    with pytest.raises(BackdatedOperation):
        line.repay("P1", "10.00", date(2025, 1, 31))


@pytest.mark.parametrize("limit", [5000.0, "-1.00", "5000.001", "NaN", "lots", None,
                                   "1000000000000000"])
def test_a_new_limit_must_be_an_exact_non_negative_amount(limit):
    line = new_line()
    with pytest.raises(InvalidAmount):
        line.change_limit("C1", limit, date(2025, 1, 10))
    assert line.events == ()


def test_a_new_limit_in_another_currency_is_refused():
    with pytest.raises(CurrencyMismatch):
        new_line().change_limit("C1", "5000.00", OPENED, currency="USD")


def test_a_change_id_is_a_non_empty_string_used_once_on_the_line():
    line = new_line()
    _draw(line, "D1", "10.00")
    with pytest.raises(InvalidIdentifier):
        line.change_limit(" ", "5000.00", OPENED)
    line.change_limit("C1", "5000.00", OPENED)
    for used in ("C1", "D1"):
        with pytest.raises(DuplicateOperation):
            line.change_limit(used, "6000.00", OPENED)
    with pytest.raises(DuplicateOperation):
        line.repay("C1", "1.00", OPENED)


def test_a_term_loan_limit_counts_everything_ever_drawn():
    loan = open_term_loan("T1", "5000.00", OPENED, RepaymentPlan.term_loan("annuity", 6, "0.1"),
                          supplier_id="S1")
    loan.change_limit("C1", "8000.00", date(2025, 1, 10))
    loan.repay("P1", "6000.00", date(2025, 3, 1))
    assert loan.state(date(2025, 3, 1)).available_credit == Decimal("3000.00")
