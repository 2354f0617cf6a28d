"""A line opened from a decision keeps its granted terms, and every draw must fit them.

Every test runs on SQLite and on PostgreSQL (the ``engine`` fixture).
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from lending import LimitChanged, RepaymentPlan
from lending.ledger import Account
from lending.persistence import draw, get_line, get_statement, open_line
from lending.persistence.services import (
    granted_terms_of,
    open_line_from_decision,
    regrant_line,
)
from lending.policy import CreditDecision, Terms
from lending.products import PlanNotGranted, RequestedPlan

OPENED = date(2026, 3, 2)
PURCHASE = Terms("purchase_line", interest_free_days=(30, 60), instalment_months=(3, 6, 12),
                 instalment_fee_rate_per_month=Decimal("0.005"))
TERM_LOAN = Terms("term_loan", methods=("annuity", "equal_principal", "interest_only"),
                  months=(6, 12, 24), annual_rate=Decimal("0.08"))


def _approved(terms: Terms, limit: str = "50000.00") -> CreditDecision:
    return CreditDecision(seller_id="S1", outcome="approve", limit=Decimal(limit),
                          terms=terms, reasons=(), policy_version="test-1", grade="A",
                          pd=Decimal("0.02"), points=Decimal("640"),
                          sized_limit=Decimal(limit))


def _open(uow, terms: Terms, line_id: str = "L1") -> str:
    open_line_from_decision(uow(), _approved(terms), line_id=line_id, opened_on=OPENED)
    return line_id


def _draw(uow, line_id, plan, amount="20000.00", key="k1"):
    return draw(uow(), line_id=line_id, amount=amount, on=OPENED, plan=plan,
                supplier_id="SUP", idempotency_key=key)


def test_the_line_keeps_the_terms_of_the_decision_that_opened_it(uow):
    _open(uow, TERM_LOAN)
    with uow() as unit:
        record = unit.lines.get("L1")
        assert record is not None
        assert granted_terms_of(record) == TERM_LOAN


def test_a_term_loan_at_8_percent_refuses_interest_free_instalments_over_2_months(uow):
    line_id = _open(uow, TERM_LOAN)
    with pytest.raises(PlanNotGranted) as refused:
        _draw(uow, line_id, RequestedPlan.instalments(2))
    assert refused.value.details["allowed"] == {"term_loan": {
        "methods": ["annuity", "equal_principal", "interest_only"], "months": [6, 12, 24],
        "annual_rate": "0.08"}}
    # Nothing was drawn, and the same key may be used for a corrected request.
    assert get_line(uow(), line_id).outstanding_principal == 0
    receipt = _draw(uow, line_id, RequestedPlan.term_loan("annuity", 12))
    assert receipt.schedule.annual_rate == Decimal("0.08")
    assert [i.total for i in receipt.schedule.instalments][:2] == [Decimal("1739.77")] * 2
    assert receipt.schedule.instalments[0].interest == Decimal("133.33")


def test_a_term_loan_line_refuses_a_whole_plan_at_another_rate(uow):
    line_id = _open(uow, TERM_LOAN)
    with pytest.raises(PlanNotGranted):
        _draw(uow, line_id, RepaymentPlan.term_loan("annuity", 12, "0.02"))
    receipt = _draw(uow, line_id, RepaymentPlan.term_loan("annuity", 12, "0.08"))
    assert receipt.schedule.annual_rate == Decimal("0.08")


@pytest.mark.parametrize("months", [2, 24])
def test_a_purchase_line_granted_3_6_12_months_refuses_other_terms(uow, months):
    line_id = _open(uow, PURCHASE)
    with pytest.raises(PlanNotGranted):
        _draw(uow, line_id, RequestedPlan.instalments(months))
    with pytest.raises(PlanNotGranted):
        _draw(uow, line_id, RequestedPlan.interest_free(90))
    assert get_line(uow(), line_id).outstanding_principal == 0


def test_a_purchase_line_books_the_granted_instalment_fee_to_fee_income(uow):
    line_id = _open(uow, PURCHASE)
    receipt = _draw(uow, line_id, RequestedPlan.instalments(3), amount="6000.00")
    # 6,000 * 0.5 % a month * 3 months.
    assert sum(i.fee for i in receipt.schedule.instalments) == Decimal("90.00")
    statement = get_statement(uow(), line_id, date(2026, 6, 2))
    assert statement.balances[Account.FEE_INCOME] == Decimal("90.00")
    assert statement.fee_due == Decimal("90.00")


def test_a_line_opened_without_a_decision_keeps_todays_plans(uow):
    open_line(uow(), line_id="L0", seller_id="S0", limit="5000.00", opened_on=OPENED)
    receipt = _draw(uow, "L0", RequestedPlan.instalments(2), amount="100.00")
    assert sum(i.fee for i in receipt.schedule.instalments) == 0
    _draw(uow, "L0", RepaymentPlan.bullet(90), amount="100.00", key="k2")
    with pytest.raises(PlanNotGranted):
        _draw(uow, "L0", RequestedPlan.term_loan("annuity", 12), amount="100.00", key="k3")


def test_a_new_grant_changes_the_lines_limit_and_terms(uow):
    line_id = _open(uow, PURCHASE)
    longer = Terms("purchase_line", interest_free_days=(30, 60, 90), instalment_months=(3,),
                   instalment_fee_rate_per_month=Decimal("0.004"))
    regrant_line(uow(), line_id=line_id, seller_id="S1", limit="70000.00", terms=longer,
                 policy_version="test-2", on=OPENED, actor="key:mkt", change_id="DEC-2",
                 reason="approved again")
    line = get_line(uow(), line_id)
    assert (line.limit, line.policy_version) == (Decimal("70000.00"), "test-2")
    _draw(uow, line_id, RequestedPlan.interest_free(90), amount="100.00")
    with pytest.raises(PlanNotGranted):
        _draw(uow, line_id, RequestedPlan.instalments(6), amount="100.00", key="k2")


def _limit_changes(uow, line_id: str) -> list[str]:
    with uow() as unit:
        record = unit.lines.get(line_id)
        assert record is not None
        return [e.change_id for e in unit.events.list(record) if isinstance(e, LimitChanged)]


def test_a_review_approved_again_on_the_same_terms_writes_nothing_unless_asked_to(uow):
    line_id = _open(uow, PURCHASE)
    before = get_line(uow(), line_id)
    same = {"line_id": line_id, "seller_id": "S1", "terms": PURCHASE,
            "policy_version": "test-1", "actor": "key:mkt", "reason": "approved again"}

    # the decision is its own record: the same limit, terms and policy change nothing
    view = regrant_line(uow(), limit="50000.00", on=OPENED, change_id="DEC-2",
                        record_unchanged=False, **same)
    assert view == before and get_line(uow(), line_id) == before
    assert _limit_changes(uow, line_id) == []

    # any difference is a real change, and an officer's approval is always logged
    for change_id, changed in (("DEC-3", {"limit": "60000.00", "on": OPENED}),
                               ("DEC-4", {"limit": "60000.00", "on": OPENED,
                                          "policy_version": "test-2"}),
                               ("DEC-5", {"limit": "60000.00", "on": OPENED + timedelta(1),
                                          "policy_version": "test-2"})):
        regrant_line(uow(), change_id=change_id, record_unchanged=False,
                     **{**same, **changed})
    regrant_line(uow(), limit="60000.00", on=OPENED + timedelta(1), change_id="OFFICER",
                 **{**same, "policy_version": "test-2"})
    assert _limit_changes(uow, line_id) == ["DEC-3", "DEC-4", "DEC-5", "OFFICER"]
    after = get_line(uow(), line_id)
    assert (after.limit, after.policy_version, after.version) == (
        Decimal("60000.00"), "test-2", before.version + 4)
