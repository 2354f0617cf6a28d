"""Paying a line off and paying a credit balance back, through the store
(lending.persistence.payoff), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from lending import (
    Account,
    InsufficientPayoff,
    NothingToPayOff,
    RefundExceedsCreditBalance,
    RepaymentPlan,
    UnknownDraw,
)
from lending.persistence import (
    IdempotencyKeyReused,
    NotTheBusinessDate,
    UnknownLine,
    advance_line,
    draw,
    get_line,
    get_payoff_quote,
    get_statement,
    journal_totals,
    open_line,
    pay_off,
    refund_balance,
    repay,
    trial_balance,
)
from lending.persistence.services import load_line

OPENED = date(2026, 1, 5)
#: Fifteen days into the first month of a loan drawn on OPENED (first due date 2026-02-05).
EARLY = OPENED + timedelta(days=15)


def _term_loan(uow, line_id="T1", principal="12000.00"):
    """A 12-month annuity at 12 % a year, drawn in full on OPENED; returns the draw id."""
    open_line(uow(), line_id=line_id, seller_id="S1", limit=principal, opened_on=OPENED,
              product="term_loan", revolving=False)
    return draw(uow(), line_id=line_id, amount=principal, on=OPENED,
                plan=RepaymentPlan.term_loan("annuity", 12, "0.12"), supplier_id="SUP-1",
                idempotency_key=f"draw-{line_id}", draw_id=f"D-{line_id}").draw_id


def _purchase_line(uow, amounts=("300.00", "200.00")):
    """A purchase line with one 30-day interest-free draw per amount; their ids."""
    open_line(uow(), line_id="L1", seller_id="S1", limit="1000.00", opened_on=OPENED)
    return [draw(uow(), line_id="L1", amount=amount, on=OPENED,
                 plan=RepaymentPlan.bullet(30), supplier_id="SUP-1",
                 idempotency_key=f"draw-{n}", draw_id=f"D{n}").draw_id
            for n, amount in enumerate(amounts, 1)]


def _stored(uow, line_id):
    """(number of events, version) of a stored line: what a refusal must leave alone."""
    with uow() as unit:
        record, line = load_line(unit, line_id, lock=False)
        return len(line.events), record.version


def _assert_book_balanced_and_matches_fold(uow, line_id):
    with uow() as unit:
        record, line = load_line(unit, line_id, lock=False)
        totals = unit.journal.totals(line_id)
        booked = journal_totals(unit, line_id)
        derived = line.state(record.as_of).journal.balances()
    debits = sum(v for (_, side), v in totals.items() if side == "debit")
    credits = sum(v for (_, side), v in totals.items() if side == "credit")
    assert debits == credits
    assert booked == derived


def test_a_quote_is_taken_on_the_business_date_given_else_on_the_lines_booked_date(uow):
    _term_loan(uow)
    assert get_payoff_quote(uow(), "T1").on == OPENED
    assert get_payoff_quote(uow(), "T1", business_date=EARLY).on == EARLY
    assert get_payoff_quote(uow(), "T1", on=OPENED + timedelta(days=3),
                            business_date=EARLY).on == OPENED + timedelta(days=3)


def test_a_term_loan_paid_off_early_pays_interest_to_date_and_nothing_falls_due_after(uow):
    draw_id = _term_loan(uow)
    quote = get_payoff_quote(uow(), "T1", business_date=EARLY)
    # the first month's interest is 120.00 over 31 days; 15 of them have run
    assert [(d.draw_id, d.principal, d.interest, d.fee, d.penalty) for d in quote.draws] == [
        (draw_id, Decimal("12000.00"), Decimal("58.06"), Decimal("0.00"), Decimal("0.00"))]
    assert (quote.total, quote.credit_balance, quote.amount_to_pay) == (
        Decimal("12058.06"), Decimal("0.00"), Decimal("12058.06"))

    receipt = pay_off(uow(), line_id="T1", amount=quote.amount_to_pay, on=EARLY,
                      idempotency_key="payoff-1")
    assert (receipt.on, receipt.amount, receipt.total_due, receipt.outstanding_principal,
            receipt.credit_balance) == (EARLY, Decimal("12058.06"), Decimal("0.00"),
                                        Decimal("0.00"), Decimal("0.00"))

    for later in (date(2026, 2, 5), date(2026, 3, 10), date(2027, 2, 1)):
        view = advance_line(uow(), line_id="T1", to=later)
        assert (view.days_past_due, view.bucket, view.outstanding_principal) == (
            0, "current", Decimal("0.00"))
        statement = get_statement(uow(), "T1", later)
        assert (statement.total_due, statement.next_due_amount) == (
            Decimal("0.00"), Decimal("0.00"))
    assert statement.balances[Account.INTEREST_INCOME] == Decimal("58.06")
    _assert_book_balanced_and_matches_fold(uow, "T1")


def test_paying_off_one_draw_leaves_the_others_as_they_were(uow):
    first, second = _purchase_line(uow)
    day = OPENED + timedelta(days=10)
    quote = get_payoff_quote(uow(), "L1", draw_id=first, business_date=day)
    assert ([d.draw_id for d in quote.draws], quote.amount_to_pay) == (
        [first], Decimal("300.00"))

    pay_off(uow(), line_id="L1", amount="300.00", on=day, draw_id=first,
            idempotency_key="payoff-first")

    view = advance_line(uow(), line_id="L1", to=day)
    assert (view.outstanding_principal, view.available_credit) == (
        Decimal("200.00"), Decimal("800.00"))
    left = get_payoff_quote(uow(), "L1", business_date=day)
    assert [(d.draw_id, d.total) for d in left.draws] == [(second, Decimal("200.00"))]
    with pytest.raises(NothingToPayOff):
        get_payoff_quote(uow(), "L1", draw_id=first, business_date=day)


def test_an_amount_below_the_quote_is_refused_and_nothing_is_stored(uow):
    _term_loan(uow)
    before = _stored(uow, "T1")
    with pytest.raises(InsufficientPayoff, match="12058.06"):
        pay_off(uow(), line_id="T1", amount="12058.05", on=EARLY, idempotency_key="short")
    assert _stored(uow, "T1") == before
    # the refusal kept nothing under the key: corrected, the same key pays the line off
    receipt = pay_off(uow(), line_id="T1", amount="12058.06", on=EARLY,
                      idempotency_key="short")
    assert receipt.outstanding_principal == Decimal("0.00")


def test_an_overpayment_stays_as_credit_which_a_balance_refund_pays_back(uow):
    _term_loan(uow)
    paid = pay_off(uow(), line_id="T1", amount="12100.00", on=EARLY, idempotency_key="p")
    assert paid.credit_balance == Decimal("41.94")

    with pytest.raises(RefundExceedsCreditBalance):
        refund_balance(uow(), line_id="T1", amount="41.95", on=EARLY, idempotency_key="r0")
    refund = refund_balance(uow(), line_id="T1", amount="41.94", on=EARLY,
                            idempotency_key="r1", refund_id="R-1")
    assert (refund.refund_id, refund.on, refund.amount, refund.credit_balance) == (
        "R-1", EARLY, Decimal("41.94"), Decimal("0.00"))
    with pytest.raises(RefundExceedsCreditBalance):
        refund_balance(uow(), line_id="T1", amount="0.01", on=EARLY, idempotency_key="r2")

    _assert_book_balanced_and_matches_fold(uow, "T1")
    with uow() as unit:
        totals = journal_totals(unit, "T1")
        check = trial_balance(unit.session, EARLY)
    assert totals[Account.CREDIT_BALANCE] == Decimal("0.00")
    # what came in, less what went back, is the principal and the interest to date
    assert totals[Account.COLLECTIONS_CASH] == Decimal("12058.06")
    assert check.ok, check.problems()


def test_a_repeated_request_replays_its_receipt_and_a_reused_key_is_refused(uow):
    _term_loan(uow)
    first = pay_off(uow(), line_id="T1", amount="12100.00", on=EARLY, idempotency_key="k")
    again = pay_off(uow(), line_id="T1", amount="12100.0", on=EARLY, idempotency_key="k")
    assert again == first
    with pytest.raises(IdempotencyKeyReused):
        pay_off(uow(), line_id="T1", amount="12200.00", on=EARLY, idempotency_key="k")

    refund = refund_balance(uow(), line_id="T1", amount="10.00", on=EARLY,
                            idempotency_key="k")  # its own scope: not the payoff's key
    assert refund_balance(uow(), line_id="T1", amount="10", on=EARLY,
                          idempotency_key="k") == refund
    with pytest.raises(IdempotencyKeyReused):
        refund_balance(uow(), line_id="T1", amount="11.00", on=EARLY, idempotency_key="k")
    assert _stored(uow, "T1")[0] == 3  # the draw, one payoff, one refund


def test_over_http_a_payoff_and_a_refund_are_dated_by_the_business_date(uow):
    _term_loan(uow)  # the store never ran end of day: its business date is OPENED
    with pytest.raises(NotTheBusinessDate):
        pay_off(uow(), line_id="T1", amount="12100.00", on=EARLY, business_today=EARLY,
                idempotency_key="p-0")
    paid = pay_off(uow(), line_id="T1", amount="12100.00", business_today=EARLY,
                   idempotency_key="p-1")
    assert paid.on == OPENED and paid.credit_balance == Decimal("100.00")
    with pytest.raises(NotTheBusinessDate):
        refund_balance(uow(), line_id="T1", amount="1.00", on=EARLY, business_today=EARLY,
                       idempotency_key="r-0")
    assert refund_balance(uow(), line_id="T1", amount="100.00", business_today=EARLY,
                          idempotency_key="r-1").on == OPENED


def test_unknown_lines_and_draws_and_lines_owing_nothing_are_named(uow):
    with pytest.raises(UnknownLine):
        get_payoff_quote(uow(), "nope")
    with pytest.raises(UnknownLine):
        pay_off(uow(), line_id="nope", amount="1.00", on=OPENED, idempotency_key="k1")
    with pytest.raises(UnknownLine):
        refund_balance(uow(), line_id="nope", amount="1.00", on=OPENED, idempotency_key="k2")
    open_line(uow(), line_id="L0", seller_id="S1", limit="1000.00", opened_on=OPENED)
    with pytest.raises(NothingToPayOff):
        get_payoff_quote(uow(), "L0")
    with pytest.raises(NothingToPayOff):
        pay_off(uow(), line_id="L0", amount="1.00", on=OPENED, idempotency_key="k3")
    _term_loan(uow)
    with pytest.raises(UnknownDraw):
        get_payoff_quote(uow(), "T1", draw_id="D-none")
    with pytest.raises(UnknownDraw):
        pay_off(uow(), line_id="T1", amount="12100.00", on=EARLY, draw_id="D-none",
                idempotency_key="k4")


def test_a_line_repaid_in_full_by_an_ordinary_repayment_has_nothing_to_pay_off(uow):
    _purchase_line(uow, amounts=("300.00",))
    repay(uow(), line_id="L1", amount="300.00", on=OPENED + timedelta(days=30),
          idempotency_key="repay")
    assert get_line(uow(), "L1").outstanding_principal == Decimal("0.00")
    with pytest.raises(NothingToPayOff):
        get_payoff_quote(uow(), "L1")
