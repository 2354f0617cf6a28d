from datetime import date, timedelta
from decimal import Decimal

import pytest

from lending import (
    Account,
    BackdatedOperation,
    CreditLimitExceeded,
    CurrencyMismatch,
    DelinquencyPolicy,
    InvalidAmount,
    LineClosed,
    LineFrozen,
    NothingToPrepay,
    RepaymentPlan,
    ScoreSummary,
    SellerProfile,
    UnknownPayment,
    decide,
    fold_line,
    load_policy,
)
from lending.persistence import (
    DecisionNotApproved,
    LineAlreadyExists,
    UnknownLine,
    advance_line,
    draw,
    get_line,
    get_schedule,
    get_statement,
    journal_totals,
    open_line,
    open_line_from_decision,
    prepay,
    repay,
    reverse_payment,
)
from lending.persistence.services import load_line

OPENED = date(2026, 1, 5)


def _open(uow, limit="10000.00", line_id="L1", **kwargs):
    return open_line(uow(), line_id=line_id, seller_id="S1", limit=limit, opened_on=OPENED,
                     **kwargs)


def _draw(uow, amount, on, key, plan=None, line_id="L1", **kwargs):
    return draw(uow(), line_id=line_id, amount=amount, on=on,
                plan=plan or RepaymentPlan.bullet(30), supplier_id="SUP-1",
                idempotency_key=key, **kwargs)


def _event_count(uow, line_id="L1"):
    with uow() as unit:
        _, line = load_line(unit, line_id, lock=False)
        return len(line.events)


def _assert_book_matches_fold(uow, line_id="L1"):
    with uow() as unit:
        record, line = load_line(unit, line_id, lock=False)
        booked = journal_totals(unit, line_id)
        derived = line.state(record.as_of).journal.balances()
        debits = sum(v for (_, side), v in unit.journal.totals(line_id).items()
                     if side == "debit")
        credits = sum(v for (_, side), v in unit.journal.totals(line_id).items()
                      if side == "credit")
    assert debits == credits
    assert booked == derived


def test_a_line_opened_from_an_approved_decision_carries_its_limit_product_and_policy(uow):
    policy = load_policy()
    decision = decide(ScoreSummary(Decimal("0.02"), Decimal("640"), "A"),
                      SellerProfile("S1", "shop", Decimal("1200000"), Decimal("20")), policy)
    view = open_line_from_decision(uow(), decision, line_id="L1", opened_on=OPENED)
    assert (view.limit, view.available_credit, view.product, view.policy_version) == (
        Decimal("98000.00"), Decimal("98000.00"), "purchase_line", policy.version)
    assert get_line(uow(), "L1") == view
    assert (view.line_id, view.limit, view.bucket) == ("L1", Decimal("98000.00"), "current")


def test_only_an_approved_decision_opens_a_line(uow):
    decision = decide(ScoreSummary(Decimal("0.40"), Decimal("420"), "E"),
                      SellerProfile("S2", "shop", Decimal("50000"), Decimal("20")),
                      load_policy())
    with pytest.raises(DecisionNotApproved):
        open_line_from_decision(uow(), decision, line_id="L2", opened_on=OPENED)
    with pytest.raises(UnknownLine):
        get_line(uow(), "L2")


def test_a_line_id_can_be_opened_only_once(uow):
    _open(uow)
    with pytest.raises(LineAlreadyExists):
        _open(uow, limit="5.00")
    assert get_line(uow(), "L1").limit == Decimal("10000.00")


def test_drawing_on_an_unknown_line_is_refused(uow):
    with pytest.raises(UnknownLine):
        _draw(uow, "10.00", OPENED, "k1", line_id="nope")


def test_a_draw_takes_available_credit_and_is_still_there_in_a_new_session(uow):
    _open(uow)
    receipt = _draw(uow, "3000.00", date(2026, 1, 6), "k1")
    assert receipt.available_credit == Decimal("7000.00")
    assert receipt.schedule[0].due_date == date(2026, 2, 5)
    view = get_line(uow(), "L1")
    assert (view.outstanding_principal, view.available_credit, view.version) == (
        Decimal("3000.00"), Decimal("7000.00"), 2)
    (status,) = get_schedule(uow(), "L1", date(2026, 1, 6))
    assert status.draw_id == receipt.draw_id and status.schedule == receipt.schedule


@pytest.mark.parametrize(("amount", "currency", "error"), [
    ("10000.01", None, CreditLimitExceeded),
    ("100.00", "USD", CurrencyMismatch),
    ("0", None, InvalidAmount),
    ("-5.00", None, InvalidAmount),
    ("1.005", None, InvalidAmount),
])
def test_a_refused_draw_leaves_nothing_behind(uow, amount, currency, error):
    _open(uow)
    with pytest.raises(error):
        _draw(uow, amount, date(2026, 1, 6), "k1", currency=currency)
    assert _event_count(uow) == 0
    assert get_line(uow(), "L1").version == 1


def test_a_line_past_due_beyond_the_freeze_threshold_refuses_draws_until_cured(uow):
    _open(uow)
    _draw(uow, "1000.00", OPENED, "k1")  # due 2026-02-04
    view = advance_line(uow(), line_id="L1", to=date(2026, 2, 9))
    assert (view.status, view.days_past_due, view.bucket) == ("frozen", 5, "1-30")
    with pytest.raises(LineFrozen):
        _draw(uow, "10.00", date(2026, 2, 9), "k2")
    repay(uow(), line_id="L1", amount="1010.00", on=date(2026, 2, 10), idempotency_key="p1")
    assert get_line(uow(), "L1").status == "open"
    _draw(uow, "10.00", date(2026, 2, 10), "k3")
    _assert_book_matches_fold(uow)


def test_a_written_off_line_is_closed_to_draws(uow):
    _open(uow, delinquency=DelinquencyPolicy(write_off_after_days=10))
    _draw(uow, "1000.00", OPENED, "k1")
    view = advance_line(uow(), line_id="L1", to=date(2026, 2, 20))
    assert (view.status, view.outstanding_principal) == ("written_off", Decimal("0.00"))
    with pytest.raises(LineClosed):
        _draw(uow, "10.00", date(2026, 2, 21), "k2")
    assert journal_totals_for(uow)[Account.WRITE_OFF_EXPENSE] > Decimal("1000.00")
    _assert_book_matches_fold(uow)


def journal_totals_for(uow, line_id="L1"):
    with uow() as unit:
        return journal_totals(unit, line_id)


def test_repaid_principal_restores_available_credit(uow):
    _open(uow)
    _draw(uow, "6000.00", date(2026, 1, 6), "k1", plan=RepaymentPlan.instalments(3))
    receipt = repay(uow(), line_id="L1", amount="2000.00", on=date(2026, 2, 6),
                    idempotency_key="p1")
    assert (receipt.outstanding_principal, receipt.available_credit, receipt.total_due) == (
        Decimal("4000.00"), Decimal("6000.00"), Decimal("0.00"))
    assert get_line(uow(), "L1").available_credit == Decimal("6000.00")


def test_operations_dated_before_the_booked_date_are_refused(uow):
    _open(uow)
    _draw(uow, "100.00", date(2026, 1, 6), "k1")
    advance_line(uow(), line_id="L1", to=date(2026, 1, 20))
    with pytest.raises(BackdatedOperation):
        repay(uow(), line_id="L1", amount="100.00", on=date(2026, 1, 10),
              idempotency_key="p1")


def test_the_book_holds_the_derived_balances_through_penalties_payments_and_a_reversal(uow):
    _open(uow)
    _draw(uow, "3000.00", date(2026, 1, 6), "k1", plan=RepaymentPlan.instalments(3, "30.00"))
    _draw(uow, "2000.00", date(2026, 1, 20), "k2",
          plan=RepaymentPlan.term_loan("annuity", 6, "0.12"))
    day = date(2026, 1, 20)
    for step, amount in enumerate(["500.00", "1500.00", "40.00", "2500.00"]):
        day += timedelta(days=23)
        advance_line(uow(), line_id="L1", to=day)
        _assert_book_matches_fold(uow)
        repay(uow(), line_id="L1", amount=amount, on=day, idempotency_key=f"p{step}",
              payment_id=f"P{step}")
        _assert_book_matches_fold(uow)
    reverse_payment(uow(), line_id="L1", payment_id="P1", on=day + timedelta(days=2))
    _assert_book_matches_fold(uow)
    advance_line(uow(), line_id="L1", to=day + timedelta(days=40))
    _assert_book_matches_fold(uow)
    with pytest.raises(UnknownPayment):
        reverse_payment(uow(), line_id="L1", payment_id="P9", on=day + timedelta(days=40))


def test_a_reversal_is_booked_as_adjusting_entries_on_its_date_and_history_is_kept(uow):
    _open(uow)
    _draw(uow, "1000.00", OPENED, "k1")  # due 2026-02-04
    repay(uow(), line_id="L1", amount="1000.00", on=date(2026, 2, 4), idempotency_key="p1",
          payment_id="P1")
    with uow() as unit:
        before = unit.journal.list(unit.lines.get("L1"))
    reverse_payment(uow(), line_id="L1", payment_id="P1", on=date(2026, 2, 10))
    with uow() as unit:
        after = unit.journal.list(unit.lines.get("L1"))
    assert after[:len(before)] == before
    added = after[len(before):]
    assert {item.posted_on for item in added} == {date(2026, 2, 10)}
    # what the reversal re-derived is adjusted on its date; the penalty the unpaid draw
    # now owes from the end of its grace (8 February) is booked daily, on its own dates
    assert {item.entry.on for item in added if item.adjustment} == {date(2026, 2, 10)}
    assert {(item.entry.on, str(item.entry.kind)) for item in added if not item.adjustment
            } <= {(date(2026, 2, day), "penalty_accrual") for day in (8, 9, 10)} | {
                (date(2026, 2, 10), "payment_reversal")}
    assert any(item.adjustment for item in added)
    view = get_line(uow(), "L1")
    assert (view.outstanding_principal, view.days_past_due, view.status) == (
        Decimal("1000.00"), 6, "frozen")
    _assert_book_matches_fold(uow)


def test_a_statement_lists_entries_balances_and_the_next_amount_due(uow):
    _open(uow)
    _draw(uow, "3000.00", date(2026, 1, 6), "k1", plan=RepaymentPlan.instalments(3, "30.00"))
    repay(uow(), line_id="L1", amount="1200.00", on=date(2026, 2, 6), idempotency_key="p1")
    statement = get_statement(uow(), "L1", date(2026, 2, 10))
    # 1010 paid the first instalment; of the 190 beyond it, 180 repaid principal at once
    # (the line revolves) and 10 is held for the next instalment's fee
    assert statement.outstanding_principal == Decimal("1820.00")
    assert statement.credit_balance == Decimal("10.00")
    assert statement.total_due == Decimal("0.00")
    assert (statement.next_due_date, statement.next_due_amount) == (
        date(2026, 3, 6), Decimal("830.00"))
    assert statement.balances[Account.LOANS_RECEIVABLE] == Decimal("1820.00")
    assert [entry.kind for entry in statement.entries] == [
        "disbursement", "supplier_payout", "fee_accrual", "repayment_received",
        "repayment_allocation", "repayment_allocation"]
    later = get_statement(uow(), "L1", date(2026, 3, 6), since=date(2026, 2, 10))
    assert [entry.kind for entry in later.entries] == ["fee_accrual", "repayment_allocation"]
    assert later.credit_balance == Decimal("0.00")
    assert later.total_due == Decimal("820.00")


def test_reading_a_line_at_its_booked_date_needs_no_fold_and_agrees_with_one(uow):
    _open(uow)
    _draw(uow, "400.00", date(2026, 1, 6), "k1")
    stored = get_line(uow(), "L1")
    with uow() as unit:
        _, line = load_line(unit, "L1", lock=False)
    state = fold_line(line.terms, line.events, stored.as_of)
    assert (stored.available_credit, stored.outstanding_principal, stored.bucket) == (
        state.available_credit, state.outstanding_principal, state.bucket)
    assert get_line(uow(), "L1", date(2026, 3, 1)).days_past_due == 24


def test_a_prepayment_repays_future_principal_and_restores_available_credit_at_once(uow):
    _open(uow)
    receipt = _draw(uow, "6000.00", date(2026, 1, 6), "k1", plan=RepaymentPlan.instalments(3))
    paid = prepay(uow(), line_id="L1", draw_id=receipt.draw_id, amount="4000.00",
                  on=date(2026, 1, 20), idempotency_key="pp1")
    assert (paid.outstanding_principal, paid.available_credit) == (
        Decimal("2000.00"), Decimal("8000.00"))
    again = prepay(uow(), line_id="L1", draw_id=receipt.draw_id, amount="4000.00",
                   on=date(2026, 1, 20), idempotency_key="pp1")
    assert again == paid
    (status,) = get_schedule(uow(), "L1", date(2026, 1, 20))
    assert status.schedule.prepaid_principal == Decimal("4000.00")
    _assert_book_matches_fold(uow)
    with pytest.raises(NothingToPrepay):
        prepay(uow(), line_id="L1", draw_id=receipt.draw_id, amount="2000.00",
               on=date(2026, 4, 7), idempotency_key="pp2")
