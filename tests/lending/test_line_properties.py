"""Random sequences of line operations; the books must hold after every one of them."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from lending import (
    Account,
    AllocationPolicy,
    BalanceRefunded,
    CreditLimitExceeded,
    CreditLine,
    DelinquencyPolicy,
    DrawMade,
    InsufficientPayoff,
    InvalidAmount,
    LimitChanged,
    LineClosed,
    LineFrozen,
    LineTerms,
    NothingToPayOff,
    NothingToPrepay,
    PaymentReceived,
    PaymentReversed,
    PayoffReceived,
    PrepaymentReceived,
    RefundExceedsCreditBalance,
    RepaymentPlan,
    fold_line,
)

LIMIT = Decimal("10000.00")
OPENED = date(2025, 1, 31)

limits = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("20000.00"), places=2)
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("6000.00"), places=2)
small_amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("300.00"), places=2)
plans = st.one_of(
    st.sampled_from([30, 60, 90]).map(RepaymentPlan.bullet),
    st.builds(RepaymentPlan.instalments, st.integers(1, 12),
              st.decimals(min_value=0, max_value=Decimal("50.00"), places=2)),
    st.builds(RepaymentPlan.term_loan,
              st.sampled_from(["annuity", "equal_principal", "interest_only",
                               "daily_interest"]),
              st.integers(1, 12),
              st.decimals(min_value=0, max_value=Decimal("0.24"), places=3),
              interest_basis=st.sampled_from([None, "daily"]),
              day_count=st.sampled_from(["ACT/365", "ACT/360"])),
)


class LineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.line = CreditLine(LineTerms("L1", LIMIT, OPENED))
        self.today = OPENED
        self.draw_ids: list[str] = []
        self.payment_ids: list[str] = []
        self.counter = 0

    @initialize(by=st.sampled_from(["component", "instalment"]),
                grace_days=st.integers(0, 5), freeze_after_days=st.integers(0, 30),
                write_off_after_days=st.sampled_from([30, 90, 180]),
                penalty_daily_rate=st.sampled_from([Decimal(0), Decimal("0.0005"),
                                                    Decimal("0.001")]))
    def open_line(self, by: str, grace_days: int, freeze_after_days: int,
                  write_off_after_days: int, penalty_daily_rate: Decimal) -> None:
        self.line = CreditLine(LineTerms(
            "L1", LIMIT, OPENED, allocation=AllocationPolicy(by=by),  # type: ignore[arg-type]
            delinquency=DelinquencyPolicy(grace_days, penalty_daily_rate, freeze_after_days,
                                          write_off_after_days)))

    def _next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    @rule(days=st.one_of(st.integers(min_value=1, max_value=35),
                         st.integers(min_value=60, max_value=200)))
    def advance(self, days: int) -> None:
        self.today += timedelta(days=days)

    @rule(amount=amounts, plan=plans)
    def draw(self, amount: Decimal, plan: RepaymentPlan) -> None:
        before = self.line.state(self.today)
        draw_id = self._next_id("D")
        try:
            self.line.draw(draw_id, amount, self.today, plan, supplier_id="S1")
        except LineClosed:
            assert before.closed
        except LineFrozen:
            assert before.frozen
        except CreditLimitExceeded:
            assert amount > before.available_credit
        else:
            assert not before.closed and not before.frozen
            assert amount <= before.available_credit
            self.draw_ids.append(draw_id)

    @rule(amount=st.one_of(small_amounts, amounts))
    def repay(self, amount: Decimal) -> None:
        payment_id = self._next_id("P")
        self.line.repay(payment_id, amount, self.today)
        self.payment_ids.append(payment_id)

    @precondition(lambda self: bool(self.draw_ids))
    @rule(data=st.data(), amount=amounts,
          option=st.sampled_from(["shorten_term", "lower_instalment"]))
    def prepay(self, data: st.DataObject, amount: Decimal, option: str) -> None:
        draw_id = data.draw(st.sampled_from(self.draw_ids))
        payment_id = self._next_id("P")
        try:
            self.line.prepay(payment_id, amount, self.today, draw_id, option)  # type: ignore[arg-type]
        except NothingToPrepay:
            draw = self.line.state(self.today).draw(draw_id)
            assert draw.status != "open" or all(
                i.is_due for i in draw.instalments if i.principal_unpaid)
        else:
            self.payment_ids.append(payment_id)

    @rule(data=st.data(), extra=st.sampled_from(["0.00", "0.01", "25.00"]))
    def pay_off(self, data: st.DataObject, extra: str) -> None:
        draw_id = data.draw(st.sampled_from([None, *self.draw_ids]))
        quote = self.line.payoff_quote(self.today, draw_id)
        payment_id = self._next_id("P")
        amount = quote.amount_to_pay + Decimal(extra)
        if amount == 0:  # the credit balance already covers it
            return
        try:
            self.line.pay_off(payment_id, amount, self.today, draw_id)
        except NothingToPayOff:
            assert quote.total == 0
            return
        except InsufficientPayoff:
            raise AssertionError("the quoted amount was refused") from None
        self.payment_ids.append(payment_id)
        state = self.line.state(self.today)
        covered = [d for d in state.draws if draw_id in (None, d.draw_id)]
        assert all(d.status != "open" for d in covered)

    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        balance = self.line.state(self.today).credit_balance
        amount = data.draw(st.sampled_from([balance, balance + Decimal("0.01")]))
        try:
            self.line.refund_balance(self._next_id("R"), amount, self.today)
        except RefundExceedsCreditBalance:
            assert amount > balance
        except InvalidAmount:
            assert amount == 0
        else:
            # Money paid back cannot bounce any more.
            self.payment_ids.clear()

    @rule(limit=limits)
    def change_limit(self, limit: Decimal) -> None:
        before = self.line.state(self.today)
        try:
            event = self.line.change_limit(self._next_id("C"), limit, self.today)
        except LineClosed:
            assert before.closed
        else:
            assert not before.closed
            assert (event.previous_limit, event.new_limit) == (before.limit, limit)

    @precondition(lambda self: bool(self.payment_ids))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        payment_id = data.draw(st.sampled_from(self.payment_ids))
        self.payment_ids.remove(payment_id)
        self.line.reverse_payment(payment_id, self.today)

    @invariant()
    def books_hold(self) -> None:
        state = self.line.state(self.today)
        journal = state.journal
        balances = journal.balances()
        events = self.line.events

        # Debits equal credits, entry by entry (by construction) and in total.
        assert journal.total_debits() == journal.total_credits()

        # Outstanding principal in the books equals the open draws' principal.
        assert state.outstanding_principal == sum(
            (d.outstanding_principal for d in state.draws if d.status == "open"), Decimal(0))
        for draw in state.draws:
            assert draw.outstanding_principal == sum(
                (i.principal_unpaid for i in draw.instalments), Decimal(0)) or (
                draw.status == "written_off")
            assert draw.schedule.total_principal + draw.schedule.prepaid_principal == draw.amount

        # The limit in force is the latest change's, and available credit follows it:
        # never negative, zero while the line owes more than its limit.
        changes = [e for e in events if isinstance(e, LimitChanged)]
        assert state.limit == (changes[-1].new_limit if changes else LIMIT)
        assert state.available_credit >= 0
        assert state.over_limit == max(Decimal(0), state.outstanding_principal - state.limit)
        if not state.closed:
            assert state.available_credit == max(Decimal(0),
                                                 state.limit - state.outstanding_principal)

        # No cent created or lost: the settlement account is cash in minus cash out.
        money = PaymentReceived | PrepaymentReceived | PayoffReceived
        cash_in = sum((e.amount for e in events if isinstance(e, money)), Decimal(0))
        payment_amounts = {e.payment_id: e.amount for e in events if isinstance(e, money)}
        bounced = sum((payment_amounts[e.payment_id] for e in events
                       if isinstance(e, PaymentReversed)), Decimal(0))
        refunded = sum((e.amount for e in events if isinstance(e, BalanceRefunded)), Decimal(0))
        paid_out = sum((e.amount for e in events if isinstance(e, DrawMade)), Decimal(0))
        assert balances[Account.FUNDING_CASH] == -paid_out
        assert balances[Account.COLLECTIONS_CASH] == cash_in - bounced - refunded
        assert balances[Account.SETTLEMENT_CASH] == 0
        assert balances[Account.SUPPLIER_PAYABLE] == 0
        assert balances[Account.CREDIT_BALANCE] == state.credit_balance
        # ...and what came in is exactly what was repaid, earned or is held for the borrower.
        repaid_principal = paid_out - state.outstanding_principal - sum(
            (p.amount for e in journal if e.kind == "write_off" for p in e.postings
             if p.account is Account.LOANS_RECEIVABLE), Decimal(0))
        earned_and_paid = sum(
            (p.amount for e in journal if e.kind == "repayment_allocation" for p in e.postings
             if p.side == "credit" and p.account is not Account.LOANS_RECEIVABLE), Decimal(0))
        assert cash_in - bounced - refunded == (repaid_principal + earned_and_paid
                                                + state.recovered + state.credit_balance)
        assert balances[Account.RECOVERY_INCOME] == state.recovered

        # A credit balance only when nothing at all is owed; every figure agrees.
        # (or kept back for the next instalments' interest and fee, see lending.lines).
        if state.credit_balance and not state.closed:
            assert state.total_due == 0
            kept_back = sum((next((i.interest + i.fee for i in d.instalments if not i.is_due),
                                  Decimal(0)) for d in state.draws if d.status == "open"),
                            Decimal(0))
            assert state.outstanding_principal == 0 or state.credit_balance <= kept_back
        assert balances[Account.INTEREST_RECEIVABLE] == (state.interest_due
                                                         + state.interest_accrued)
        if state.closed:
            assert state.outstanding_principal == state.principal_due == 0
            assert state.total_due == state.interest_accrued == 0
            assert balances[Account.INCOME_SUSPENSE] == 0

        # Nothing owed or held is ever negative.
        for account in (Account.LOANS_RECEIVABLE, Account.INTEREST_RECEIVABLE,
                        Account.FEE_RECEIVABLE, Account.PENALTY_RECEIVABLE,
                        Account.CREDIT_BALANCE, Account.INCOME_SUSPENSE):
            assert balances[account] >= 0, account
        for draw in state.draws:
            assert all(i.unpaid >= 0 for i in draw.instalments)

        # A reversed payment leaves the line exactly as if it had never been made.
        reversed_ids = {e.payment_id for e in events if isinstance(e, PaymentReversed)}
        if reversed_ids:
            without = fold_line(self.line.terms, [
                e for e in events if not isinstance(e, PaymentReversed)
                and getattr(e, "payment_id", None) not in reversed_ids], self.today)
            for field in ("outstanding_principal", "available_credit", "interest_due",
                          "fee_due", "penalty_due", "credit_balance", "days_past_due",
                          "bucket", "frozen", "closed", "delinquency_events"):
                assert getattr(state, field) == getattr(without, field), field


LineMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
test_books_hold_after_every_operation = LineMachine.TestCase
