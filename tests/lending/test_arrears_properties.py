"""Properties of paying on time: nobody who paid is in arrears; paying late never pays off."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lending import CreditLine, LineTerms, RepaymentPlan

OPENED = date(2025, 1, 31)

plans = st.one_of(
    st.sampled_from([30, 60, 90]).map(RepaymentPlan.bullet),
    st.builds(RepaymentPlan.instalments, st.integers(1, 6),
              st.decimals(min_value=0, max_value=Decimal("60.00"), places=2)),
    st.builds(RepaymentPlan.term_loan,
              st.sampled_from(["annuity", "equal_principal", "interest_only",
                               "daily_interest"]),
              st.integers(1, 6),
              st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.36"), places=3),
              interest_basis=st.sampled_from([None, "daily"])),
)
amounts = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("5000.00"), places=2)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _line(amount: Decimal, plan: RepaymentPlan) -> CreditLine:
    line = CreditLine(LineTerms("L1", Decimal("10000.00"), OPENED))
    line.draw("D1", amount, OPENED, plan, supplier_id="S1")
    return line


def _settled(line: CreditLine, day: date) -> bool:
    return all(d.status != "open" for d in line.state(day).draws)


@SETTINGS
@given(amount=amounts, plan=plans, early=st.lists(st.integers(0, 10), min_size=12,
                                                  max_size=12))
def test_a_borrower_who_pays_what_is_shown_due_by_its_date_is_never_past_due(
        amount, plan, early):
    line = _line(amount, plan)
    day, paid = OPENED, 0
    while not _settled(line, day) and paid < 12:
        state = line.state(day)
        due_date = state.next_due_date
        assert due_date is not None
        shown = state.next_due_amount  # what the statement shows for the next due date
        pay_on = max(day, due_date - timedelta(days=early[paid]))
        for check in (pay_on, due_date):
            assert line.state(check).days_past_due == 0
        to_pay = shown - line.state(pay_on).credit_balance
        if to_pay > 0:
            line.repay(f"P{paid}", to_pay, pay_on)
        paid += 1
        day = due_date
        assert line.state(day).total_due == 0
        assert line.state(day + timedelta(days=1)).days_past_due == 0
    assert _settled(line, day)


@SETTINGS
@given(amount=amounts, plan=plans, after_days=st.integers(0, 200))
def test_a_borrower_who_pays_the_payoff_quote_is_never_past_due_afterwards(
        amount, plan, after_days):
    line = _line(amount, plan)
    on = OPENED + timedelta(days=after_days % 25)
    quote = line.payoff_quote(on)
    line.pay_off("P1", quote.amount_to_pay, on)
    for later in (on, on + timedelta(days=after_days), on + timedelta(days=400)):
        state = line.state(later)
        assert state.days_past_due == 0 and state.total_due == 0
        assert state.outstanding_principal == 0


def _cost(line: CreditLine, lateness: int) -> Decimal:
    """Everything the borrower pays when each payment is ``lateness`` days late."""
    day, count = OPENED, 0
    while not _settled(line, day):
        due_date = line.state(day).next_due_date
        pay_on = (due_date or day) + timedelta(days=lateness)
        state = line.state(pay_on)
        if state.total_due:
            line.repay(f"P{count}", state.total_due, pay_on)
            count += 1
        day = pay_on
        assert count < 40
    final = line.state(day)
    return sum((e.amount for e in line.events if hasattr(e, "payment_id")),
               Decimal(0)) - final.credit_balance


@SETTINGS
@given(amount=amounts, plan=plans, lateness=st.integers(1, 60))
def test_paying_late_never_costs_less_than_paying_on_time(amount, plan, lateness):
    on_time = _cost(_line(amount, plan), 0)
    late = _cost(_line(amount, plan), lateness)
    assert late >= on_time
