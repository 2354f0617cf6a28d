"""Draw plans over HTTP: the line's granted terms decide what a draw may be."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from access.principal import Role
from lending.persistence import open_line
from lending.policy import Terms

TERM_LOAN = Terms("term_loan", methods=("annuity", "equal_principal", "interest_only"),
                  months=(6, 12, 24), annual_rate=Decimal("0.08"))
PURCHASE = Terms("purchase_line", interest_free_days=(30, 60), instalment_months=(3, 6, 12),
                 instalment_fee_rate_per_month=Decimal("0.005"))


def _granted_line(service, terms: Terms, line_id: str = "L-G") -> str:
    open_line(service.uow(), line_id=line_id, seller_id="S-G", limit="50000.00",
              opened_on=date(2026, 1, 5), product=terms.product,
              revolving=terms.product == "purchase_line", granted_terms=terms)
    return line_id


def _draw(service, line_id, plan, amount="20000.00", key="draw-1"):
    return service.client.post(
        f"/v1/lines/{line_id}/draws",
        json={"amount": amount, "supplier_id": "SUP-1", "plan": plan},
        headers={**service.as_role(Role.MARKETPLACE), "Idempotency-Key": key})


def test_a_term_loan_line_refuses_interest_free_instalments_naming_what_it_grants(service):
    line_id = _granted_line(service, TERM_LOAN)
    for plan in ({"kind": "instalments", "months": 2},
                 {"method": "interest_free_instalments", "months": 2},
                 {"kind": "term_loan", "method": "annuity", "months": 18}):
        answer = _draw(service, line_id, plan)
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["code"] == "plan_not_granted"
        assert body["details"]["allowed"] == {"term_loan": {
            "methods": ["annuity", "equal_principal", "interest_only"],
            "months": [6, 12, 24], "annual_rate": "0.08"}}


def test_a_term_loan_draw_bears_the_granted_rate(service):
    line_id = _granted_line(service, TERM_LOAN)
    answer = _draw(service, line_id, {"kind": "term_loan", "method": "annuity",
                                      "months": 12})
    assert answer.status_code == 201, answer.text
    schedule = answer.json()["schedule"]
    assert len(schedule) == 12
    assert (schedule[0]["interest"], schedule[0]["total"]) == ("133.33", "1739.77")


def test_a_client_cannot_send_its_own_rate(service):
    line_id = _granted_line(service, TERM_LOAN)
    answer = _draw(service, line_id, {"kind": "term_loan", "method": "annuity", "months": 12,
                                      "annual_rate": "0.01"})
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_request"


def test_a_purchase_line_refuses_2_and_24_months_and_books_the_granted_fee(service):
    line_id = _granted_line(service, PURCHASE)
    for months in (2, 24):
        answer = _draw(service, line_id, {"kind": "instalments", "months": months})
        assert answer.status_code == 422, answer.text
        assert answer.json()["details"]["allowed"]["instalments"] == {
            "months": [3, 6, 12], "fee_rate_per_month": "0.005"}
    answer = _draw(service, line_id, {"kind": "instalments", "months": 3}, amount="6000.00")
    assert answer.status_code == 201, answer.text
    fees = [Decimal(i["fee"]) for i in answer.json()["schedule"]]
    assert sum(fees) == Decimal("90.00")
    bullet = _draw(service, line_id, {"kind": "interest_free", "days": 60}, amount="100.00",
                   key="draw-2")
    assert bullet.status_code == 201, bullet.text


def test_an_unknown_plan_kind_is_a_validation_error_on_the_plan(service):
    line_id = _granted_line(service, PURCHASE)
    for plan in ({"kind": "payday"}, {"kind": ["instalments"]}, {}):
        answer = _draw(service, line_id, plan)
        assert answer.status_code == 422
        assert answer.json()["details"][0]["path"].startswith("body.plan")


def test_the_openapi_document_shows_every_plan_shape(service):
    document = service.client.get("/openapi.json", headers=service.as_role(Role.OFFICER))
    schemas = document.json()["components"]["schemas"]
    for name in ("InterestFreePlan", "InstalmentsPlan", "TermLoanPlan"):
        assert name in schemas
    assert "plan_not_granted" in schemas["DrawRequest"]["properties"]["plan"]["description"]
