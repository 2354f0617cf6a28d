from datetime import date
from decimal import Decimal

import pytest

from lending import (
    Account,
    BackdatedOperation,
    CreditLimitExceeded,
    CurrencyMismatch,
    DelinquencyPolicy,
    DuplicateOperation,
    EntryKind,
    InvalidAmount,
    InvalidIdentifier,
    NothingToPrepay,
    PaymentAlreadyReversed,
    RepaymentPlan,
    UnknownDraw,
    UnknownPayment,
    accrued_interest,
    fold_line,
    open_term_loan,
)
from tests.lending.builders import OPENED, new_line


def test_draw_pays_the_supplier_and_reduces_available_credit():
    line = new_line()
    line.draw("D1", "3000.00", OPENED, RepaymentPlan.bullet(60), supplier_id="S1")
    state = line.state(OPENED)
    assert state.available_credit == Decimal("7000.00")
    assert state.outstanding_principal == Decimal("3000.00")
    assert [e.kind for e in state.journal] == [EntryKind.DISBURSEMENT,
                                              EntryKind.SUPPLIER_PAYOUT]
    assert state.journal.balance(Account.FUNDING_CASH) == Decimal("-3000.00")
    assert state.journal.balance(Account.COLLECTIONS_CASH) == 0


def test_state_tells_the_next_date_and_amount_due_across_draws():
    line = new_line()
    line.draw("D1", "900.00", OPENED, RepaymentPlan.instalments(3, fee="9.00"),
              supplier_id="S1")
    line.draw("D2", "500.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S2")
    state = line.state(date(2025, 1, 20))
    assert state.next_due_date == date(2025, 1, 31)
    assert state.next_due_amount == Decimal("500.00")
    after = line.state(date(2025, 1, 31))
    assert (after.next_due_date, after.next_due_amount) == (date(2025, 2, 1), Decimal("303.00"))


def test_instalment_fee_can_be_a_monthly_rate_of_the_draw():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.instalments(6, fee_rate_per_month="0.005"),
              supplier_id="S1")
    schedule = line.state(OPENED).draw("D1").schedule
    assert schedule.total_fee == Decimal("30.00")  # 1,000 * 0.5 % * 6 months
    assert [i.fee for i in schedule] == [Decimal("5.00")] * 6


def test_draw_above_available_credit_is_refused():
    line = new_line()
    line.draw("D1", "6000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    with pytest.raises(CreditLimitExceeded, match="available credit 4000.00"):
        line.draw("D2", "4000.01", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    assert len(line.events) == 1


def test_a_draw_of_exactly_the_available_credit_is_allowed():
    line = new_line()
    line.draw("D1", "10000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    assert line.state(OPENED).available_credit == 0


def test_repaid_principal_restores_available_credit():
    line = new_line()
    line.draw("D1", "6000.00", OPENED, RepaymentPlan.instalments(3), supplier_id="S1")
    line.repay("P1", "2000.00", date(2025, 2, 1))
    assert line.state(date(2025, 2, 1)).available_credit == Decimal("6000.00")


def test_a_term_loan_does_not_restore_credit_when_repaid():
    loan = new_line("5000.00", revolving=False)
    loan.draw("D1", "5000.00", OPENED, RepaymentPlan.term_loan("annuity", 6, "0.12"),
              supplier_id="S1")
    loan.repay("P1", "900.00", date(2025, 2, 1))
    state = loan.state(date(2025, 2, 1))
    assert state.outstanding_principal < Decimal("5000.00")
    assert state.available_credit == 0


def test_term_loan_is_a_non_revolving_line_drawn_in_full():
    loan = open_term_loan("T1", "20000.00", OPENED, RepaymentPlan.term_loan("annuity", 12, "0.10"),
                          supplier_id="S1")
    state = loan.state(OPENED)
    assert state.outstanding_principal == Decimal("20000.00") and state.available_credit == 0
    assert not state.terms.revolving
    with pytest.raises(CreditLimitExceeded):
        loan.draw("D2", "0.01", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")


def test_interest_accrues_daily_and_falls_due_in_full_with_its_instalment():
    line = new_line()
    line.draw("D1", "10000.00", OPENED, RepaymentPlan.term_loan("annuity", 6, "0.12"),
              supplier_id="S1")
    before = line.state(date(2025, 1, 31))
    assert before.interest_due == 0 and before.interest_accrued == Decimal("100.00")
    state = line.state(date(2025, 2, 1))
    assert state.interest_due == Decimal("100.00")
    assert state.journal.balance(Account.INTEREST_INCOME,
                                 as_of=date(2025, 1, 31)) == Decimal("100.00")
    assert state.journal.balance(Account.INTEREST_RECEIVABLE) == (
        state.interest_due + state.interest_accrued)


def test_partial_payment_pays_penalty_then_interest_before_principal():
    line = new_line(delinquency=DelinquencyPolicy(post_maturity_interest=False,
                                                  penalty_on_overdue_interest=False))
    line.draw("D1", "10000.00", OPENED, RepaymentPlan.term_loan("annuity", 6, "0.12"),
              supplier_id="S1")
    line.repay("P1", "110.00", date(2025, 2, 10))  # 1,725.48 due on 1 Feb, 9 days late
    draw = line.state(date(2025, 2, 10)).draw("D1")
    # 5 penalty days (4th to 8th past due) on 1,625.48 at 0.05 % = 4.06; then 100 interest;
    # 5.94 of principal. Today's penalty accrues after today's payment, on what is left.
    assert draw.interest_due == 0
    assert draw.penalty_due == (Decimal("1619.54") * Decimal("0.0005")).quantize(Decimal("0.01"))
    assert draw.principal_due == Decimal("1625.48") - Decimal("5.94")
    assert draw.days_past_due == 9


def test_payment_on_the_due_date_is_on_time():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    line.repay("P1", "1000.00", date(2025, 1, 31))
    state = line.state(date(2025, 3, 1))
    assert state.days_past_due == 0 and state.penalty_due == 0
    assert state.delinquency_events == ()


def test_write_off_takes_principal_not_yet_due_too():
    line = new_line()
    line.draw("D1", "1200.00", OPENED, RepaymentPlan.instalments(12), supplier_id="S1")
    state = line.state(date(2025, 7, 31))  # first instalment (1 Feb) 180 days past due
    write_off = [e for e in state.journal if e.kind == EntryKind.WRITE_OFF]
    principal_written_off = sum(p.amount for e in write_off for p in e.postings
                                if p.account is Account.LOANS_RECEIVABLE)
    assert state.closed and principal_written_off == Decimal("1200.00")
    assert state.draw("D1").status == "written_off"


def test_overpayment_becomes_credit_balance():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    line.repay("P1", "1200.00", date(2025, 1, 31))
    state = line.state(date(2025, 1, 31))
    assert state.credit_balance == Decimal("200.00")
    assert state.journal.balance(Account.CREDIT_BALANCE) == Decimal("200.00")
    assert state.draw("D1").status == "repaid"


def test_early_payment_repays_the_nearest_instalment_at_once():
    line = new_line()
    line.draw("D1", "900.00", OPENED, RepaymentPlan.instalments(3), supplier_id="S1")
    line.repay("P1", "300.00", date(2025, 1, 15))
    early = line.state(date(2025, 1, 15))
    assert early.credit_balance == 0 and early.outstanding_principal == Decimal("600.00")
    assert early.available_credit == Decimal("9400.00")
    # No reschedule: the first instalment is gone, the others stand.
    assert [(i.due_date, i.principal) for i in early.draw("D1").schedule] == [
        (date(2025, 3, 1), Decimal("300.00")), (date(2025, 4, 1), Decimal("300.00"))]
    state = line.state(date(2025, 2, 1))
    assert state.total_due == 0 and state.days_past_due == 0


def test_prepayment_shortens_the_term_and_restores_credit_at_once():
    line = new_line()
    line.draw("D1", "1200.00", OPENED, RepaymentPlan.instalments(12), supplier_id="S1")
    line.prepay("P1", "300.00", date(2025, 1, 20), "D1", "shorten_term")
    state = line.state(date(2025, 1, 20))
    schedule = state.draw("D1").schedule
    assert state.available_credit == Decimal("9100.00")
    assert len(schedule) == 9 and schedule.maturity == date(2025, 10, 1)
    assert schedule.total_principal + schedule.prepaid_principal == Decimal("1200.00")


def test_prepayment_can_lower_the_instalment_instead():
    line = new_line()
    line.draw("D1", "1200.00", OPENED, RepaymentPlan.instalments(12), supplier_id="S1")
    line.prepay("P1", "600.00", date(2025, 1, 20), "D1", "lower_instalment")
    schedule = line.state(date(2025, 1, 20)).draw("D1").schedule
    assert len(schedule) == 12 and {i.principal for i in schedule} == {Decimal("50.00")}


def test_prepayment_beyond_the_draw_is_kept_as_credit_balance():
    line = new_line()
    line.draw("D1", "500.00", OPENED, RepaymentPlan.bullet(90), supplier_id="S1")
    line.prepay("P1", "650.00", date(2025, 1, 5), "D1")
    state = line.state(date(2025, 1, 5))
    assert state.draw("D1").status == "repaid"
    assert state.credit_balance == Decimal("150.00")
    assert state.available_credit == Decimal("10000.00")


def test_prepaying_a_repaid_draw_is_refused():
    line = new_line()
    line.draw("D1", "500.00", OPENED, RepaymentPlan.bullet(90), supplier_id="S1")
    line.prepay("P1", "500.00", date(2025, 1, 5), "D1")
    with pytest.raises(NothingToPrepay):
        line.prepay("P2", "10.00", date(2025, 1, 6), "D1")
    with pytest.raises(UnknownDraw):
        line.prepay("P3", "10.00", date(2025, 1, 6), "D9")


def test_borrow_and_repay_any_time_charges_interest_only_for_the_days_borrowed():
    line = new_line()
    line.draw("D1", "10000.00", OPENED, RepaymentPlan.term_loan("daily_interest", 12, "0.0365"),
              supplier_id="S1")
    line.prepay("P1", "6000.00", date(2025, 1, 11), "D1")
    state = line.state(date(2025, 2, 1))
    expected = accrued_interest([(OPENED, Decimal("10000.00")),
                                 (date(2025, 1, 11), Decimal("4000.00"))],
                                Decimal("0.0365"), OPENED, date(2025, 2, 1))
    assert expected == Decimal("10.00") + Decimal("8.40")  # 10 days on 10k, 21 on 4k
    assert state.interest_due == expected


def test_reversal_of_a_bounced_payment_rederives_every_balance():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    never_paid = fold_line(line.terms, line.events, date(2025, 3, 20))
    line.repay("P1", "1000.00", date(2025, 1, 31))
    assert line.state(date(2025, 2, 20)).outstanding_principal == 0
    line.reverse_payment("P1", date(2025, 2, 20))
    state = line.state(date(2025, 3, 20))
    for field in ("outstanding_principal", "available_credit", "penalty_due", "credit_balance",
                  "days_past_due", "bucket", "frozen", "delinquency_events"):
        assert getattr(state, field) == getattr(never_paid, field), field
    assert state.penalty_due > 0  # penalty since February, as if the payment never came
    assert [e.kind for e in state.journal if e.reference == "P1"] == [
        EntryKind.REPAYMENT_RECEIVED, EntryKind.PAYMENT_REVERSAL]
    assert state.journal.balance(Account.FUNDING_CASH) == Decimal("-1000.00")
    assert state.journal.balance(Account.COLLECTIONS_CASH) == 0


def test_a_payment_counts_until_its_reversal_is_recorded():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    line.repay("P1", "1000.00", date(2025, 1, 31))
    line.reverse_payment("P1", date(2025, 2, 20))
    assert line.state(date(2025, 2, 19)).outstanding_principal == 0
    between = line.state(date(2025, 2, 20))
    assert between.outstanding_principal == Decimal("1000.00")
    assert between.credit_balance == 0


def test_a_bounced_prepayment_can_leave_the_line_over_its_limit_but_credit_never_negative():
    line = new_line()
    line.draw("D1", "10000.00", OPENED, RepaymentPlan.bullet(90), supplier_id="S1")
    line.prepay("P1", "4000.00", date(2025, 1, 10), "D1")
    line.draw("D2", "4000.00", date(2025, 1, 10), RepaymentPlan.bullet(30), supplier_id="S1")
    line.reverse_payment("P1", date(2025, 1, 12))
    state = line.state(date(2025, 1, 12))
    assert state.outstanding_principal == Decimal("14000.00")
    assert (state.available_credit, state.over_limit) == (0, Decimal("4000.00"))
    with pytest.raises(CreditLimitExceeded):
        line.draw("D3", "0.01", date(2025, 1, 12), RepaymentPlan.bullet(30), supplier_id="S1")


def test_a_draw_made_before_a_bounce_revealed_a_write_off_is_written_off_too():
    policy = DelinquencyPolicy(write_off_after_days=30)
    line = new_line(delinquency=policy)
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    line.repay("P1", "1000.00", date(2025, 1, 31))
    line.draw("D2", "500.00", date(2025, 3, 15), RepaymentPlan.bullet(30), supplier_id="S1")
    line.reverse_payment("P1", date(2025, 3, 20))
    state = line.state(date(2025, 3, 20))
    assert state.closed  # 30 days past due on 2 March, as it turns out
    assert state.draw("D2").status == "written_off"
    assert state.outstanding_principal == 0
    assert state.journal.balance(Account.WRITE_OFF_EXPENSE) > Decimal("1500.00")


def test_a_payment_can_be_reversed_once_and_only_if_it_exists():
    line = new_line()
    line.repay("P1", "10.00", OPENED)
    with pytest.raises(UnknownPayment):
        line.reverse_payment("P9", OPENED)
    line.reverse_payment("P1", OPENED)
    with pytest.raises(PaymentAlreadyReversed):
        line.reverse_payment("P1", OPENED)


def test_operations_cannot_be_backdated_or_reuse_an_id():
    line = new_line()
    line.repay("P1", "10.00", date(2025, 2, 1))
    with pytest.raises(BackdatedOperation):
        line.repay("P2", "10.00", date(2025, 1, 31))
    with pytest.raises(DuplicateOperation):
        line.repay("P1", "10.00", date(2025, 2, 1))


@pytest.mark.parametrize("draw_id", ["", "   ", None])
def test_operation_ids_must_be_non_empty_strings(draw_id):
    with pytest.raises(InvalidIdentifier):
        new_line().draw(draw_id, "10.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")


def test_amounts_in_another_currency_are_refused():
    with pytest.raises(CurrencyMismatch):
        new_line().repay("P1", "10.00", OPENED, currency="USD")


@pytest.mark.parametrize("amount", [100.0, "0.00", "-5.00", "10.001", "NaN"])
def test_draw_amount_must_be_a_positive_exact_decimal(amount):
    with pytest.raises(InvalidAmount):
        new_line().draw("D1", amount, OPENED, RepaymentPlan.bullet(30), supplier_id="S1")


def test_state_as_of_an_earlier_date_ignores_later_events():
    line = new_line()
    line.draw("D1", "1000.00", date(2025, 1, 10), RepaymentPlan.bullet(30), supplier_id="S1")
    assert line.state(date(2025, 1, 9)).outstanding_principal == 0
