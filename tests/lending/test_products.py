"""Granted terms: a draw gets only a plan the decision granted, with the granted fee or
rate (pure, no database)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest

from lending import RepaymentPlan
from lending.policy import Terms
from lending.products import (
    PlanNotGranted,
    RequestedPlan,
    allowed_plans,
    check_plan_granted,
    granted_plan,
    plan_without_terms,
    terms_from_document,
    terms_to_document,
)

#: The golden cases of issue 13: a purchase line granted 30/60 days or 3/6/12 months at
#: 0.5 % a month, and a term loan granted at 8 % by annuity over 6/12/24 months.
PURCHASE = Terms("purchase_line", interest_free_days=(30, 60), instalment_months=(3, 6, 12),
                 instalment_fee_rate_per_month=Decimal("0.005"))
TERM_LOAN = Terms("term_loan", methods=("annuity",), months=(6, 12, 24),
                  annual_rate=Decimal("0.08"))


def test_a_term_loan_is_drawn_at_the_granted_rate_not_one_the_client_sends():
    plan = granted_plan(TERM_LOAN, RequestedPlan.term_loan("annuity", 12))
    assert plan == RepaymentPlan.term_loan("annuity", 12, Decimal("0.08"))
    schedule = plan.schedule_for(Decimal("20000.00"), date(2026, 3, 1), "CNY")
    # 20,000 at 8 % over 12 months: numpy_financial.pmt(0.08 / 12, 12, -20000) = 1739.77
    assert schedule.instalments[0].total == Decimal("1739.77")
    assert schedule.instalments[0].interest == Decimal("133.33")


def test_a_term_loan_line_refuses_an_interest_free_draw_and_names_what_it_grants():
    with pytest.raises(PlanNotGranted) as refused:
        granted_plan(TERM_LOAN, RequestedPlan.instalments(2))
    assert refused.value.code == "plan_not_granted"
    assert refused.value.details == {
        "requested": {"kind": "instalments", "months": 2},
        "allowed": {"term_loan": {"methods": ["annuity"], "months": [6, 12, 24],
                                  "annual_rate": "0.08"}}}
    with pytest.raises(PlanNotGranted):
        granted_plan(TERM_LOAN, RequestedPlan.interest_free(30))


@pytest.mark.parametrize("requested", [RequestedPlan.term_loan("annuity", 18),
                                       RequestedPlan.term_loan("interest_only", 12),
                                       RequestedPlan.term_loan("interest_free_bullet", 12)])
def test_a_term_loan_takes_only_the_granted_methods_and_months(requested):
    with pytest.raises(PlanNotGranted):
        granted_plan(TERM_LOAN, requested)


@pytest.mark.parametrize("months", [2, 24])
def test_a_purchase_line_refuses_instalment_months_it_was_not_granted(months):
    with pytest.raises(PlanNotGranted) as refused:
        granted_plan(PURCHASE, RequestedPlan.instalments(months))
    assert refused.value.details["allowed"]["instalments"] == {
        "months": [3, 6, 12], "fee_rate_per_month": "0.005"}
    assert "3, 6, 12" in str(refused.value)


def test_purchase_line_instalments_bear_the_granted_fee():
    plan = granted_plan(PURCHASE, RequestedPlan.instalments(3))
    schedule = plan.schedule_for(Decimal("6000.00"), date(2026, 3, 1), "CNY")
    # 6,000 * 0.5 % * 3 months = 90.00 of service fee, spread over the instalments.
    assert sum(i.fee for i in schedule.instalments) == Decimal("90.00")
    assert sum(i.interest for i in schedule.instalments) == 0


def test_a_purchase_line_refuses_an_interest_free_period_or_a_term_loan_not_granted():
    assert granted_plan(PURCHASE, RequestedPlan.interest_free(60)) == RepaymentPlan.bullet(60)
    for requested in (RequestedPlan.interest_free(90), RequestedPlan.term_loan("annuity", 6)):
        with pytest.raises(PlanNotGranted):
            granted_plan(PURCHASE, requested)


def test_a_whole_plan_must_be_exactly_the_granted_one():
    granted = RepaymentPlan.instalments(3, fee_rate_per_month="0.005")
    assert check_plan_granted(PURCHASE, granted) is granted
    for other in (RepaymentPlan.instalments(3),  # without the granted fee
                  RepaymentPlan.term_loan("annuity", 12, "0.05")):
        with pytest.raises(PlanNotGranted):
            check_plan_granted(PURCHASE if other.method.startswith("interest") else TERM_LOAN,
                               other)


def test_a_line_without_granted_terms_keeps_its_interest_free_plans_and_no_term_loan():
    assert plan_without_terms(RequestedPlan.interest_free(30)) == RepaymentPlan.bullet(30)
    assert plan_without_terms(RequestedPlan.instalments(2)) == RepaymentPlan.instalments(2)
    with pytest.raises(PlanNotGranted):
        plan_without_terms(RequestedPlan.term_loan("annuity", 12))


def test_terms_survive_their_json_document_exactly():
    for terms in (PURCHASE, TERM_LOAN):
        assert terms_from_document(terms_to_document(terms)) == terms
    assert allowed_plans(Terms("purchase_line")) == {}


def test_the_products_module_is_pure():
    code = ("import sys, lending.products; print(sorted(m for m in ('sqlalchemy', 'sqlmodel', "
            "'fastapi', 'store', 'pandas', 'numpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
