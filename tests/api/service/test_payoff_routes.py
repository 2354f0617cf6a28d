"""Payoff quotes, payoffs and balance refunds over HTTP (GET/POST /v1/lines/{id}/payoff,
POST /v1/lines/{id}/balance-refunds), on the business date moved by end of day with the
simulated clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from access.principal import Role
from lending import Account, RepaymentPlan
from lending.persistence import (
    SqlUnitOfWork,
    draw,
    journal_totals,
    open_line,
    run_end_of_day,
    trial_balance,
)
from settings import Settings
from tests.api.service.conftest import Service, start_service

OPENED = date(2026, 1, 5)  # the store's first business date
TODAY = date(2026, 12, 7)  # the calendar date; the simulated clock ignores it
#: The business date after end of day closed the loan's first 15 days.
EARLY = OPENED + timedelta(days=15)
ERROR_KEYS = {"code", "message", "details"}


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    settings = Settings(data_dir=tmp_path, database_url=database_url, model_poll_seconds=0,
                        clock="simulated")
    yield from start_service(settings)


def _term_loan(service: Service, line_id: str = "T-1") -> str:
    """A 12,000.00 annuity over 12 months at 12 % a year, drawn on OPENED."""
    open_line(SqlUnitOfWork(service.engine), line_id=line_id, seller_id="S-1",
              limit="12000.00", opened_on=OPENED, product="term_loan", revolving=False)
    draw(SqlUnitOfWork(service.engine), line_id=line_id, amount="12000.00", on=OPENED,
         plan=RepaymentPlan.term_loan("annuity", 12, "0.12"), supplier_id="SUP-1",
         idempotency_key="draw", draw_id="D-T1")
    return line_id


def _close_days_through(service: Service, day: date) -> None:
    run_end_of_day(service.engine, through=day, today=TODAY, clock="simulated")


def _quote(service: Service, line_id: str, role: Role = Role.MARKETPLACE, **params: str):
    return service.client.get(f"/v1/lines/{line_id}/payoff", params=params,
                              headers=service.as_role(role))


def _post(service: Service, path: str, body: dict, key: str | None = "key-1",
          role: Role = Role.MARKETPLACE):
    headers = service.as_role(role)
    if key is not None:
        headers["Idempotency-Key"] = key
    return service.client.post(path, json=body, headers=headers)


def _pay_off(service: Service, line_id: str, body: dict, key: str | None = "payoff-1",
             role: Role = Role.MARKETPLACE):
    return _post(service, f"/v1/lines/{line_id}/payoff", body, key, role)


def _refund(service: Service, line_id: str, body: dict, key: str | None = "refund-1",
            role: Role = Role.OFFICER):
    return _post(service, f"/v1/lines/{line_id}/balance-refunds", body, key, role)


def _get(service: Service, path: str) -> dict:
    answer = service.client.get(path, headers=service.as_role(Role.OFFICER))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _version(service: Service, line_id: str) -> int:
    return int(_get(service, f"/v1/lines/{line_id}")["version"])


def test_a_term_loan_paid_off_early_pays_interest_to_date_and_never_falls_past_due(service):
    line_id = _term_loan(service)
    _close_days_through(service, EARLY - timedelta(days=1))

    answer = _quote(service, line_id)
    assert answer.status_code == 200, answer.text
    quote = answer.json()
    # the first month's interest is 120.00 over 31 days, 15 of which have run
    assert quote == {
        "line_id": line_id, "on": EARLY.isoformat(), "draw_id": None,
        "draws": [{"draw_id": "D-T1", "principal": "12000.00", "interest": "58.06",
                   "fee": "0.00", "penalty": "0.00", "rebated_fee": "0.00",
                   "total": "12058.06"}],
        "principal": "12000.00", "interest": "58.06", "fee": "0.00", "penalty": "0.00",
        "rebated_fee": "0.00", "total": "12058.06", "credit_balance": "0.00",
        "amount_to_pay": "12058.06"}

    paid = _pay_off(service, line_id, {"amount": quote["amount_to_pay"]})
    assert paid.status_code == 201, paid.text
    receipt = paid.json()
    assert (receipt["on"], receipt["amount"], receipt["total_due"],
            receipt["outstanding_principal"], receipt["credit_balance"]) == (
        EARLY.isoformat(), "12058.06", "0.00", "0.00", "0.00")

    # end of day runs on past the first due date (2026-02-05): nothing falls due
    _close_days_through(service, date(2026, 2, 10))
    line = _get(service, f"/v1/lines/{line_id}")
    assert (line["as_of"], line["days_past_due"], line["bucket"],
            line["outstanding_principal"]) == ("2026-02-10", 0, "current", "0.00")
    statement = _get(service, f"/v1/lines/{line_id}/statement")
    assert (statement["total_due"], statement["next_due_amount"],
            statement["balances"]["interest_income"]) == ("0.00", "0.00", "58.06")
    nothing = _quote(service, line_id)
    assert nothing.status_code == 409
    assert nothing.json()["code"] == "nothing_to_pay_off"


def test_paying_off_one_draw_of_several_leaves_the_others(service, line):
    line_id = line(limit="1000.00")
    ids = []
    for n, amount in enumerate(("300.00", "200.00")):
        drawn = _post(service, f"/v1/lines/{line_id}/draws",
                      {"amount": amount, "supplier_id": "SUP-1",
                       "plan": {"kind": "interest_free", "days": 30}}, f"draw-{n}")
        assert drawn.status_code == 201, drawn.text
        ids.append(drawn.json()["draw_id"])

    quote = _quote(service, line_id, draw_id=ids[0]).json()
    assert (quote["draw_id"], [d["draw_id"] for d in quote["draws"]],
            quote["amount_to_pay"]) == (ids[0], [ids[0]], "300.00")
    paid = _pay_off(service, line_id, {"amount": "300.00", "draw_id": ids[0],
                                       "payment_id": "P-OFF-1"})
    assert paid.status_code == 201, paid.text
    assert (paid.json()["payment_id"], paid.json()["outstanding_principal"],
            paid.json()["available_credit"]) == ("P-OFF-1", "200.00", "800.00")

    draws = {d["draw_id"]: d for d in _get(service, f"/v1/lines/{line_id}/schedule")["draws"]}
    assert (draws[ids[0]]["status"], draws[ids[0]]["outstanding_principal"]) == (
        "repaid", "0.00")
    assert (draws[ids[1]]["status"], draws[ids[1]]["outstanding_principal"]) == (
        "open", "200.00")
    left = _quote(service, line_id).json()
    assert [(d["draw_id"], d["total"]) for d in left["draws"]] == [(ids[1], "200.00")]


def test_an_amount_below_the_quote_is_refused_and_nothing_is_stored(service):
    line_id = _term_loan(service)
    version = _version(service, line_id)

    answer = _pay_off(service, line_id, {"amount": "11999.99"})

    assert answer.status_code == 422, answer.text
    assert set(answer.json()) == ERROR_KEYS
    assert answer.json()["code"] == "insufficient_payoff"
    assert "12000.00" in answer.json()["message"]
    assert _version(service, line_id) == version
    assert _get(service, f"/v1/lines/{line_id}")["outstanding_principal"] == "12000.00"


def test_an_overpayment_stays_as_credit_which_a_balance_refund_pays_back(service):
    line_id = _term_loan(service)
    _close_days_through(service, EARLY - timedelta(days=1))
    paid = _pay_off(service, line_id, {"amount": "12100.00", "currency": "CNY"})
    assert paid.status_code == 201, paid.text
    assert paid.json()["credit_balance"] == "41.94"

    too_much = _refund(service, line_id, {"amount": "41.95"}, key="refund-0")
    assert too_much.status_code == 409, too_much.text
    assert set(too_much.json()) == ERROR_KEYS
    assert too_much.json()["code"] == "refund_exceeds_credit_balance"

    refunded = _refund(service, line_id, {"amount": "41.94", "refund_id": "R-1"})
    assert refunded.status_code == 201, refunded.text
    assert refunded.json() == {"line_id": line_id, "refund_id": "R-1",
                               "on": EARLY.isoformat(), "amount": "41.94",
                               "credit_balance": "0.00",
                               "line_version": refunded.json()["line_version"]}
    statement = _get(service, f"/v1/lines/{line_id}/statement")
    assert statement["credit_balance"] == "0.00"
    assert [e["kind"] for e in statement["entries"]][-1] == "balance_refund"

    with SqlUnitOfWork(service.engine) as unit:
        totals = journal_totals(unit, line_id)
        check = trial_balance(unit.session, EARLY)
    assert totals[Account.CREDIT_BALANCE] == 0
    assert str(totals[Account.COLLECTIONS_CASH]) == "12058.06"
    assert check.ok, check.problems()


def test_a_repeated_request_replays_the_first_answer_and_a_reused_key_is_refused(service):
    line_id = _term_loan(service)
    first = _pay_off(service, line_id, {"amount": "12100.00"})
    assert first.status_code == 201, first.text
    again = _pay_off(service, line_id, {"amount": "12100.00"})
    assert (again.status_code, again.json()) == (201, first.json())
    reused = _pay_off(service, line_id, {"amount": "12200.00"})
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"

    refund = _refund(service, line_id, {"amount": "60.00"})
    assert refund.status_code == 201, refund.text
    assert _refund(service, line_id, {"amount": "60.00"}).json() == refund.json()
    reused = _refund(service, line_id, {"amount": "61.00"})
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")
    assert _get(service, f"/v1/lines/{line_id}/statement")["credit_balance"] == "40.00"


def test_unknown_lines_and_draws_are_404_and_a_line_owing_nothing_is_409(service, line):
    for answer in (_quote(service, "NOPE"), _pay_off(service, "NOPE", {"amount": "1.00"}),
                   _refund(service, "NOPE", {"amount": "1.00"})):
        assert answer.status_code == 404, answer.text
        assert (set(answer.json()), answer.json()["code"]) == (ERROR_KEYS, "unknown_line")
    line_id = _term_loan(service)
    for answer in (_quote(service, line_id, draw_id="D-NONE"),
                   _pay_off(service, line_id, {"amount": "13000.00", "draw_id": "D-NONE"})):
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "unknown_draw"
    empty = line(line_id="L-EMPTY")
    for answer in (_quote(service, empty), _pay_off(service, empty, {"amount": "1.00"})):
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "nothing_to_pay_off"


def test_each_route_needs_its_permission(service):
    line_id = _term_loan(service)
    for role in Role:
        assert _quote(service, line_id, role).status_code == 200
    for role in (Role.OFFICER, Role.RISK):
        answer = _pay_off(service, line_id, {"amount": "13000.00"}, role=role)
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    for role in (Role.MARKETPLACE, Role.RISK):
        answer = _refund(service, line_id, {"amount": "1.00"}, role=role)
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    assert _version(service, line_id) == 2  # opened, drawn: nothing else happened


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_bodies_and_a_missing_key_get_the_uniform_error_body(service):
    line_id = _term_loan(service)
    payoff, refunds = f"/v1/lines/{line_id}/payoff", f"/v1/lines/{line_id}/balance-refunds"
    cases = [
        (payoff, {"amount": "13000.00", "on": "2026-01-05"}, "invalid_request",
         "body.on"),
        (payoff, {}, "invalid_request", "body.amount"),
        (payoff, {"amount": "1e4"}, "invalid_request", "body.amount"),
        (payoff, {"amount": "13000.00", "draw_id": "no spaces"}, "invalid_request",
         "body.draw_id"),
        (payoff, {"amount": "13000.00", "currency": "usd"}, "invalid_request",
         "body.currency"),
        (payoff, {"amount": "13000.001"}, "invalid_amount", None),
        (payoff, {"amount": "-13000.00"}, "invalid_amount", None),
        (payoff, {"amount": "13000.00", "currency": "USD"}, "currency_mismatch", None),
        (refunds, {"amount": "1.00", "payment_id": "P-1"}, "invalid_request",
         "body.payment_id"),
        (refunds, {"amount": "0"}, "invalid_amount", None),
    ]
    for path, body, code, field in cases:
        role = Role.OFFICER if path == refunds else Role.MARKETPLACE
        answer = _post(service, path, body, role=role)
        assert answer.status_code == 422, (body, answer.text)
        assert set(answer.json()) == ERROR_KEYS
        assert answer.json()["code"] == code, (body, answer.text)
        if field is not None:
            assert answer.json()["details"][0]["path"] == field
    for path in (payoff, refunds):
        role = Role.OFFICER if path == refunds else Role.MARKETPLACE
        answer = _post(service, path, {"amount": "1.00"}, key=None, role=role)
        assert (answer.status_code, answer.json()["code"]) == (422, "idempotency_key_required")
    bad_query = _quote(service, line_id, draw_id="x" * 101)
    assert (bad_query.status_code, bad_query.json()["code"]) == (422, "invalid_request")
    assert _version(service, line_id) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_document_names_the_operations_and_the_quotes_409(service):
    document = service.client.get("/openapi.json",
                                  headers=service.as_role(Role.MARKETPLACE)).json()
    payoff = document["paths"]["/v1/lines/{line_id}/payoff"]
    refunds = document["paths"]["/v1/lines/{line_id}/balance-refunds"]
    assert (payoff["get"]["operationId"], payoff["post"]["operationId"],
            refunds["post"]["operationId"]) == (
        "read_payoff_quote", "create_payoff", "create_balance_refund")
    for operation in (payoff["get"], payoff["post"], refunds["post"]):
        assert {"404", "409", "422"} <= set(operation["responses"])
