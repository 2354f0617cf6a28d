"""Servicing rules: lines revolve, payoff, arrears tolerance, accrual and non-accrual."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from lending import (
    Account,
    CreditLine,
    CurrencyMismatch,
    DelinquencyPolicy,
    EntryKind,
    InsufficientPayoff,
    Journal,
    JournalEntry,
    LineNonAccrualStarted,
    LineTerms,
    LineWrittenOff,
    NothingToPayOff,
    RefundExceedsCreditBalance,
    RepaymentPlan,
    open_term_loan,
)
from lending.errors import PaymentAlreadyRefunded
from tests.lending.builders import OPENED, new_line

ANNUITY = RepaymentPlan.term_loan("annuity", 12, "0.12")


# ---------------------------------------------------------------- lines revolve


@pytest.mark.parametrize("plan", [RepaymentPlan.bullet(30), RepaymentPlan.instalments(3)])
def test_a_same_day_repayment_restores_the_whole_limit(plan):
    line = new_line("6000.00")
    line.draw("D1", "5000.00", OPENED, plan, supplier_id="S1")
    line.repay("P1", "5000.00", OPENED)
    state = line.state(OPENED)
    assert (state.outstanding_principal, state.available_credit) == (0, Decimal("6000.00"))
    assert state.credit_balance == 0 and state.draw("D1").status == "repaid"


def test_money_beyond_what_is_due_repays_the_oldest_draw_first():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(60), supplier_id="S1")
    line.draw("D2", "1000.00", date(2025, 1, 2), RepaymentPlan.bullet(30), supplier_id="S1")
    line.repay("P1", "1500.00", date(2025, 1, 10))
    state = line.state(date(2025, 1, 10))
    assert state.draw("D1").status == "repaid"
    assert state.draw("D2").outstanding_principal == Decimal("500.00")
    assert state.available_credit == Decimal("9500.00") and state.credit_balance == 0


def test_early_principal_on_an_interest_bearing_draw_shortens_it_and_saves_interest():
    untouched = new_line()
    untouched.draw("D1", "10000.00", OPENED, ANNUITY, supplier_id="S1")
    line = new_line()
    line.draw("D1", "10000.00", OPENED, ANNUITY, supplier_id="S1")
    line.repay("P1", "4000.00", date(2025, 1, 15))
    early = line.state(date(2025, 1, 15))
    # The February instalment's interest (100.00) is kept back for its due date.
    assert early.credit_balance == Decimal("100.00")
    assert early.outstanding_principal == Decimal("6100.00")
    assert line.state(date(2025, 2, 1)).credit_balance == 0
    schedule = early.draw("D1").schedule
    original = untouched.state(OPENED).draw("D1").schedule
    assert len(schedule) < len(original)
    assert schedule.regular_amount == original.regular_amount  # shorten_term
    assert schedule.total_interest < original.total_interest


def test_a_credit_balance_arises_only_when_nothing_at_all_is_owed():
    line = new_line()
    line.draw("D1", "900.00", OPENED, RepaymentPlan.instalments(3), supplier_id="S1")
    line.draw("D2", "100.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    line.repay("P1", "1250.00", date(2025, 1, 5))
    state = line.state(date(2025, 1, 5))
    assert state.outstanding_principal == 0 and state.credit_balance == Decimal("250.00")
    assert all(d.status == "repaid" for d in state.draws)
    assert state.next_due_date is None


def test_a_credit_balance_can_be_refunded_to_the_seller_but_not_beyond_it():
    line = new_line()
    line.draw("D1", "100.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    line.repay("P1", "150.00", OPENED)
    with pytest.raises(RefundExceedsCreditBalance, match="credit balance 50.00"):
        line.refund_balance("R1", "50.01", date(2025, 1, 2))
    line.refund_balance("R1", "50.00", date(2025, 1, 2))
    state = line.state(date(2025, 1, 2))
    assert state.credit_balance == 0
    assert state.journal.balance(Account.COLLECTIONS_CASH) == Decimal("100.00")
    assert [e.kind for e in state.journal if e.reference == "R1"] == [EntryKind.BALANCE_REFUND]


# ---------------------------------------------------------------- nobody who paid is in arrears


def test_a_fen_short_is_still_owed_but_not_past_due():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.instalments(2), supplier_id="S1")
    line.repay("P1", "499.99", date(2025, 2, 1))
    state = line.state(date(2025, 2, 20))
    assert state.principal_due == Decimal("0.01")
    assert (state.days_past_due, state.frozen, state.penalty_due) == (0, False, 0)
    line.repay("P2", "500.00", date(2025, 3, 1))  # the next instalment, on time
    after = line.state(date(2025, 3, 20))
    assert after.days_past_due == 0 and after.principal_due == Decimal("0.01")


def test_short_by_more_than_the_tolerance_is_past_due():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.instalments(2), supplier_id="S1")
    line.repay("P1", "498.99", date(2025, 2, 1))
    assert line.state(date(2025, 2, 11)).days_past_due == 10


def test_the_arrears_tolerance_is_a_policy_setting():
    strict = DelinquencyPolicy(arrears_tolerance=Decimal("0.00"))
    line = new_line(delinquency=strict)
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    line.repay("P1", "999.99", date(2025, 1, 31))
    assert line.state(date(2025, 2, 5)).days_past_due == 5


def test_paying_each_instalment_on_time_clears_an_older_shortfall_first():
    line = new_line(delinquency=DelinquencyPolicy(arrears_tolerance=Decimal("0.00")))
    line.draw("D1", "900.00", OPENED, RepaymentPlan.instalments(3), supplier_id="S1")
    line.repay("P1", "299.99", date(2025, 2, 1))
    line.repay("P2", "300.00", date(2025, 3, 1))
    state = line.state(date(2025, 3, 1))
    # The fen short moved to the newest instalment, due today: nothing is past due.
    assert [i.principal_unpaid for i in state.draw("D1").instalments[:2]] == [
        Decimal("0.00"), Decimal("0.01")]
    assert line.state(date(2025, 3, 1)).days_past_due == 0


# ---------------------------------------------------------------- payoff


def test_a_term_loan_paid_off_mid_period_owes_nothing_afterwards():
    loan = open_term_loan("T1", "12000.00", OPENED, ANNUITY, supplier_id="S1")
    for number, due in enumerate((date(2025, 2, 1), date(2025, 3, 1)), start=1):
        loan.repay(f"P{number}", loan.state(due).total_due, due)
    payoff_day = date(2025, 3, 15)
    quote = loan.payoff_quote(payoff_day)
    (draw_quote,) = quote.draws
    state_before = loan.state(date(2025, 3, 14))
    assert quote.principal == state_before.outstanding_principal
    # Interest of the March period, 14 of its 31 days, rounded half up.
    period_interest = state_before.draw("T1").instalments[2].interest
    assert quote.interest == (period_interest * 14 / 31).quantize(Decimal("0.01"))
    assert quote.total == quote.principal + quote.interest == draw_quote.total
    loan.pay_off("PAYOFF", quote.amount_to_pay, payoff_day)
    for later in (payoff_day, date(2025, 4, 2), date(2026, 6, 1)):
        state = loan.state(later)
        assert state.outstanding_principal == state.total_due == state.interest_accrued == 0
        assert state.days_past_due == 0 and state.credit_balance == 0
        assert state.draw("T1").status == "repaid"
    journal = loan.state(date(2026, 6, 1)).journal
    assert max(e.on for e in journal) == payoff_day
    assert journal.balance(Account.INTEREST_RECEIVABLE) == 0


def test_a_payoff_rebates_the_fees_of_periods_not_yet_begun():
    line = new_line()
    line.draw("D1", "900.00", OPENED, RepaymentPlan.instalments(3, fee="30.00"),
              supplier_id="S1")
    quote = line.payoff_quote(date(2025, 1, 20))
    assert (quote.principal, quote.fee, quote.rebated_fee) == (
        Decimal("900.00"), Decimal("10.00"), Decimal("20.00"))
    assert quote.total == Decimal("910.00")
    line.pay_off("P1", "910.00", date(2025, 1, 20))
    state = line.state(date(2025, 6, 1))
    assert state.draw("D1").status == "repaid" and state.total_due == 0
    assert state.journal.balance(Account.FEE_INCOME) == Decimal("10.00")


def test_without_the_rebate_a_payoff_charges_every_remaining_fee():
    line = new_line(rebate_unearned_fees=False)
    line.draw("D1", "900.00", OPENED, RepaymentPlan.instalments(3, fee="30.00"),
              supplier_id="S1")
    quote = line.payoff_quote(date(2025, 1, 20))
    assert (quote.fee, quote.rebated_fee, quote.total) == (
        Decimal("30.00"), Decimal("0.00"), Decimal("930.00"))


def test_a_payoff_of_one_draw_leaves_the_others_on_their_schedule():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, ANNUITY, supplier_id="S1")
    line.draw("D2", "600.00", OPENED, RepaymentPlan.instalments(3), supplier_id="S1")
    quote = line.payoff_quote(date(2025, 1, 10), "D1")
    line.pay_off("P1", quote.amount_to_pay, date(2025, 1, 10), "D1")
    state = line.state(date(2025, 1, 10))
    assert state.draw("D1").status == "repaid"
    assert state.draw("D2").outstanding_principal == Decimal("600.00")


def test_a_payoff_below_the_quote_or_of_nothing_is_refused():
    line = new_line()
    with pytest.raises(NothingToPayOff):
        line.pay_off("P0", "1.00", OPENED)
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    with pytest.raises(InsufficientPayoff, match="1000.00"):
        line.pay_off("P1", "999.99", date(2025, 1, 5))
    assert len(line.events) == 1


# ---------------------------------------------------------------- accrual and non-accrual


def test_daily_interest_sums_to_each_instalments_interest_exactly():
    loan = open_term_loan("T1", "10000.00", OPENED, ANNUITY, supplier_id="S1")
    state = loan.state(date(2025, 4, 1))  # unpaid, but its interest is pinned by schedule
    for instalment in state.draw("T1").schedule.instalments[:3]:
        accrued = sum((p.amount for e in state.journal
                       if e.kind == EntryKind.INTEREST_ACCRUAL and e.on < instalment.due_date
                       and e.on >= (instalment.due_date - timedelta(days=40))
                       for p in e.postings if p.account is Account.INTEREST_RECEIVABLE
                       and p.side == "debit"), Decimal(0))
        assert accrued >= instalment.interest  # + interest after maturity on overdue ones
    one_day = [e for e in state.journal if e.kind == EntryKind.INTEREST_ACCRUAL
               and e.on == date(2025, 1, 1)]
    assert len(one_day) == 1 and one_day[0].amount == (Decimal("100.00") / 31).quantize(
        Decimal("0.01"))


def test_overdue_principal_keeps_earning_the_contractual_rate_and_penalty_on_interest():
    plan = RepaymentPlan.term_loan("interest_only", 1, "0.365")
    on_time = open_term_loan("T1", "1000.00", OPENED, plan, supplier_id="S1")
    late = open_term_loan("T1", "1000.00", OPENED, plan, supplier_id="S1")
    due = date(2025, 2, 1)
    on_time.repay("P1", on_time.state(due).total_due, due)
    late_day = due + timedelta(days=10)
    state = late.state(late_day)
    # 10 days at 36.5 % / 365 on 1,000 = 10.00 after the scheduled 30.42
    assert state.interest_due == Decimal("30.42") + Decimal("10.00")
    assert state.penalty_due > Decimal("1030.42") * Decimal("0.0005") * 6
    late.repay("P1", state.total_due, late_day)
    paid_late = late.state(late_day).journal.balance(Account.COLLECTIONS_CASH)
    paid_on_time = on_time.state(late_day).journal.balance(Account.COLLECTIONS_CASH)
    assert paid_late > paid_on_time


def test_from_90_days_past_due_income_is_no_longer_recognised():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, ANNUITY, supplier_id="S1")
    start = date(2025, 2, 1) + timedelta(days=90)
    state = line.state(start + timedelta(days=10))
    assert state.non_accrual
    assert LineNonAccrualStarted(start, 90) in state.delinquency_events
    income_after = [e for e in state.journal if e.on > start and any(
        p.account in (Account.INTEREST_INCOME, Account.PENALTY_INCOME, Account.FEE_INCOME)
        for p in e.postings)]
    assert income_after == []
    suspended = state.journal.balance(Account.INCOME_SUSPENSE)
    assert suspended > 0
    # Nothing booked before is reversed: income up to the threshold stays.
    assert state.journal.balance(Account.INTEREST_INCOME) == line.state(start).journal.balance(
        Account.INTEREST_INCOME, as_of=start - timedelta(days=1)) + sum(
        (p.amount for e in line.state(start).journal if e.on == start
         for p in e.postings if p.account is Account.INTEREST_INCOME), Decimal(0))


def test_paying_a_non_accrual_line_recognises_the_suspended_income():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, ANNUITY, supplier_id="S1")
    day = date(2025, 6, 1)
    owed = line.state(day)
    assert owed.non_accrual and owed.journal.balance(Account.INCOME_SUSPENSE) > 0
    quote = line.payoff_quote(day)
    line.pay_off("P1", quote.amount_to_pay, day)
    state = line.state(day)
    assert state.journal.balance(Account.INCOME_SUSPENSE) == 0
    assert state.outstanding_principal == state.total_due == 0 and not state.non_accrual
    assert any(e.kind == EntryKind.INCOME_RECOGNIZED for e in state.journal)


def test_after_write_off_every_figure_agrees():
    line = new_line()
    line.draw("D1", "5000.00", OPENED, ANNUITY, supplier_id="S1")
    state = line.state(date(2025, 9, 1))
    assert state.status == "written_off" and state.closed
    assert state.outstanding_principal == state.principal_due == 0
    assert state.total_due == state.interest_accrued == 0
    draw = state.draw("D1")
    assert draw.status == "written_off" and draw.total_due == 0
    assert all(i.unpaid == 0 for i in draw.instalments)
    balances = state.journal.balances()
    assert all(balances[a] == 0 for a in (
        Account.LOANS_RECEIVABLE, Account.INTEREST_RECEIVABLE, Account.FEE_RECEIVABLE,
        Account.PENALTY_RECEIVABLE, Account.INCOME_SUSPENSE))


# ---------------------------------------------------------------- accounts


def test_a_recovery_after_write_off_is_income_not_a_credit_balance():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    (written_off,) = [e.amount for e in line.state(date(2025, 9, 1)).delinquency_events
                      if isinstance(e, LineWrittenOff)]  # the whole claim, suspense too
    line.repay("P1", "400.00", date(2025, 9, 1))
    state = line.state(date(2025, 9, 1))
    assert state.credit_balance == 0 and state.recovered == Decimal("400.00")
    assert state.journal.balance(Account.RECOVERY_INCOME) == Decimal("400.00")
    line.repay("P2", written_off, date(2025, 9, 2))  # more than is left to recover
    after = line.state(date(2025, 9, 2))
    assert after.recovered == written_off and after.credit_balance == Decimal("400.00")


def test_funding_and_collections_are_separate_cash_accounts():
    line = new_line()
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    line.repay("P1", "300.00", date(2025, 1, 5))
    balances = line.state(date(2025, 1, 5)).journal.balances()
    assert balances[Account.FUNDING_CASH] == Decimal("-1000.00")
    assert balances[Account.COLLECTIONS_CASH] == Decimal("300.00")
    assert balances[Account.SETTLEMENT_CASH] == 0


def test_a_journal_never_mixes_currencies():
    entry = JournalEntry.transfer(OPENED, EntryKind.DISBURSEMENT, Account.LOANS_RECEIVABLE,
                                  Account.SUPPLIER_PAYABLE, Decimal("1.00"), currency="USD")
    with pytest.raises(CurrencyMismatch):
        Journal((entry,), "CNY")
    with pytest.raises(CurrencyMismatch):
        Journal((), "CNY").extended([entry])


def test_a_written_off_draw_keeps_the_days_past_due_it_was_written_off_at():
    line = CreditLine(LineTerms("L1", Decimal("1000.00"), OPENED))
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S")
    state = line.state(OPENED + timedelta(days=30 + 200))
    assert (state.status, state.days_past_due, state.bucket) == ("written_off", 180, "90+")
    (drawn,) = state.draws
    assert (drawn.status, drawn.days_past_due, drawn.outstanding_principal) == (
        "written_off", 180, Decimal("0.00"))


def test_a_payment_whose_excess_was_refunded_cannot_be_reversed():
    line = CreditLine(LineTerms("L1", Decimal("1000.00"), OPENED))
    line.draw("D1", "1000.00", OPENED, RepaymentPlan.bullet(30), supplier_id="S")
    line.repay("P1", "1100.00", OPENED + timedelta(days=5))
    line.refund_balance("R1", "100.00", OPENED + timedelta(days=5))
    with pytest.raises(PaymentAlreadyRefunded) as refused:
        line.reverse_payment("P1", OPENED + timedelta(days=6))
    assert refused.value.details == {"refunded": "100.00"}
    assert line.state(OPENED + timedelta(days=40)).credit_balance == Decimal("0.00")
    # a payment whose excess is still held can be reversed
    line.repay("P2", "50.00", OPENED + timedelta(days=7))
    line.reverse_payment("P2", OPENED + timedelta(days=8))
