"""Credit lines over HTTP: reads, idempotent draws and repayments, refusals that change
nothing."""

from __future__ import annotations

import json
from datetime import date

from access.principal import Role
from lending.persistence import run_end_of_day

#: The lines open on 2026-01-05, the store's first business date; a draw happens on the
#: business date, so it names none.
DRAW = {"amount": "300.00", "supplier_id": "SUP-1",
        "plan": {"method": "interest_free_bullet", "interest_free_days": 30}}


def _draw(service, line_id, body=DRAW, key="draw-1"):
    return service.client.post(f"/v1/lines/{line_id}/draws", json=body,
                               headers={**service.as_role(Role.MARKETPLACE),
                                        "Idempotency-Key": key})


def _line(service, line_id):
    answer = service.client.get(f"/v1/lines/{line_id}", headers=service.as_role(Role.OFFICER))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_draw_pays_the_supplier_and_lowers_available_credit(service, line):
    line_id = line(limit="1000.00")
    answer = _draw(service, line_id)
    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    assert receipt["amount"] == "300.00"
    assert receipt["available_credit"] == "700.00"
    assert receipt["on"] == "2026-01-05"
    assert [i["due_date"] for i in receipt["schedule"]] == ["2026-02-04"]
    assert _line(service, line_id)["available_credit"] == "700.00"


def test_a_retried_draw_replays_the_first_answer_and_draws_once(service, line):
    line_id = line()
    first = _draw(service, line_id).json()
    second = _draw(service, line_id)
    assert second.status_code == 201
    assert second.json() == first
    assert _line(service, line_id)["outstanding_principal"] == "300.00"


def test_an_idempotency_key_reused_for_another_draw_is_refused(service, line):
    line_id = line()
    _draw(service, line_id)
    answer = _draw(service, line_id, {**DRAW, "amount": "301.00"})
    assert answer.status_code == 409
    assert answer.json()["code"] == "idempotency_key_reused"
    assert _line(service, line_id)["outstanding_principal"] == "300.00"


def test_a_draw_above_the_available_credit_is_refused_and_changes_nothing(service, line):
    line_id = line(limit="500.00")
    answer = _draw(service, line_id, {**DRAW, "amount": "500.01"})
    assert answer.status_code == 409
    body = answer.json()
    assert body["code"] == "credit_limit_exceeded"
    assert set(body) == {"code", "message", "details"}
    view = _line(service, line_id)
    assert view["available_credit"] == "500.00" and view["version"] == 1


def test_a_resent_refused_draw_gets_the_same_refusal_marked_replayed(service, line):
    line_id = line(limit="500.00")
    first = _draw(service, line_id, {**DRAW, "amount": "500.01"})
    again = _draw(service, line_id, {**DRAW, "amount": "500.01"})
    assert (first.status_code, again.status_code) == (409, 409)
    assert again.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    # a corrected draw may take the key over from the refusal
    corrected = _draw(service, line_id, {**DRAW, "amount": "500.00"})
    assert corrected.status_code == 201, corrected.text
    assert _line(service, line_id)["outstanding_principal"] == "500.00"


def test_amounts_below_the_minor_unit_or_not_finite_are_refused(service, line):
    line_id = line()
    for amount in ('"10.001"', '"NaN"', '"Infinity"', '"-5.00"', '"0"', "1e309", "NaN",
                   "-Infinity", '"1e400"', "10.001"):
        body = json.dumps(DRAW).replace('"300.00"', amount)
        answer = service.client.post(
            f"/v1/lines/{line_id}/draws", content=body.encode(),
            headers={**service.as_role(Role.MARKETPLACE), "Idempotency-Key": f"k-{amount}",
                     "Content-Type": "application/json"})
        assert answer.status_code == 422, (amount, answer.text)
        assert answer.json()["code"] in {"invalid_request", "invalid_amount"}
    assert _line(service, line_id)["outstanding_principal"] == "0.00"


def test_validation_errors_name_the_field_path(service, line):
    line_id = line()
    body = {**DRAW, "plan": {"method": "interest_free_bullet", "interest_free_days": 45}}
    answer = _draw(service, line_id, body)
    assert answer.status_code == 422
    paths = [d["path"] for d in answer.json()["details"]]
    assert any(p.startswith("body.plan") and p.endswith("interest_free_days") for p in paths)


def test_a_draw_without_an_idempotency_key_is_refused(service, line):
    line_id = line()
    answer = service.client.post(f"/v1/lines/{line_id}/draws", json=DRAW,
                                 headers=service.as_role(Role.MARKETPLACE))
    assert answer.status_code == 422
    assert answer.json()["code"] == "idempotency_key_required"


def test_an_unknown_line_is_a_404_with_the_error_body(service):
    answer = service.client.get("/v1/lines/NOPE", headers=service.as_role(Role.OFFICER))
    assert answer.status_code == 404
    assert answer.json()["code"] == "unknown_line"


def test_a_repayment_pays_the_due_draw_and_the_statement_balances(service, line):
    line_id = line()
    _draw(service, line_id)
    # end of day closes every day through 2026-02-08: the business date is 2026-02-09,
    # and the bank's payment of the due date (2026-02-04) arrives five days late,
    # value-dated within the window
    run_end_of_day(service.engine, through=date(2026, 2, 8), today=date(2026, 12, 6),
                   clock="simulated")
    answer = service.client.post(
        f"/v1/lines/{line_id}/repayments", json={"amount": "300.00", "on": "2026-02-04"},
        headers={**service.as_role(Role.MARKETPLACE), "Idempotency-Key": "pay-1"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["outstanding_principal"] == "0.00"
    statement = service.client.get(f"/v1/lines/{line_id}/statement?as_of=2026-02-10",
                                   headers=service.as_role(Role.RISK)).json()
    assert statement["total_due"] == "0.00"
    assert statement["available_credit"] == "1000.00"
    for entry in statement["entries"]:
        debit = sum(float(p["amount"]) for p in entry["postings"] if p["side"] == "debit")
        credit = sum(float(p["amount"]) for p in entry["postings"] if p["side"] == "credit")
        assert round(debit - credit, 2) == 0
    schedule = service.client.get(f"/v1/lines/{line_id}/schedule?as_of=2026-02-10",
                                  headers=service.as_role(Role.OFFICER)).json()
    assert schedule["draws"][0]["status"] == "repaid"


def test_a_repayment_needs_the_write_permission(service, line):
    line_id = line()
    answer = service.client.post(
        f"/v1/lines/{line_id}/repayments", json={"amount": "1.00"},
        headers={**service.as_role(Role.OFFICER), "Idempotency-Key": "pay-x"})
    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"


def test_two_clients_using_the_same_idempotency_key_make_two_draws(service, line):
    from access.security import create_api_key

    line_id = line()
    other, _ = create_api_key(service.engine, Role.MARKETPLACE, name="second-client")
    first = _draw(service, line_id).json()
    answer = service.client.post(f"/v1/lines/{line_id}/draws", json=DRAW,
                                 headers={"Authorization": f"Bearer {other}",
                                          "Idempotency-Key": "draw-1"})
    assert answer.status_code == 201
    assert answer.json()["draw_id"] != first["draw_id"]
    assert _line(service, line_id)["outstanding_principal"] == "600.00"


def test_dates_outside_the_plausible_range_are_refused_naming_the_field(service, line):
    line_id = line()
    headers = service.as_role(Role.OFFICER)
    for path in ("", "/schedule", "/statement"):
        answer = service.client.get(f"/v1/lines/{line_id}{path}?as_of=9999-12-31",
                                    headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["details"][0]["path"] == "query.as_of"
    answer = service.client.get(f"/v1/lines/{line_id}/statement?since=1500-01-01",
                                headers=headers)
    assert answer.status_code == 422 and answer.json()["details"][0]["path"] == "query.since"
    for body, field in (({**DRAW, "on": "9999-10-01"}, "body.on"),):
        answer = _draw(service, line_id, body, key="far")
        assert answer.status_code == 422, answer.text
        assert answer.json()["details"][0]["path"] == field
    answer = service.client.post(
        f"/v1/lines/{line_id}/repayments", json={"amount": "1.00", "on": "2100-01-01"},
        headers={**service.as_role(Role.MARKETPLACE), "Idempotency-Key": "far-pay"})
    assert answer.status_code == 422 and answer.json()["details"][0]["path"] == "body.on"
    assert _line(service, line_id)["version"] == 1
