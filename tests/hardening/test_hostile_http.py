"""Hostile HTTP input: each request gets a clear 4xx with the one error body and changes
nothing (row counts of every table and every credit line's version are compared before
and after), on SQLite and PostgreSQL.

Covered: oversize and deeply nested bodies, NaN / Infinity / -Infinity / 1e309 as JSON
numbers and as strings in every money field, negative, zero and sub-cent amounts, wrong
and lower-case currencies, Unicode (right-to-left marks, emoji, NUL and other control
characters, lone surrogates), SQL-like strings and very long ids in paths, bodies and
query strings, wrong content types, form bodies, duplicate keys and empty bodies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from access.principal import Role
from tests.hardening.conftest import CSRF_IN_FORM, Stack, counts, login_officer, new_officer

SQL = "'; DROP TABLE credit_line; --"
#: Odd ids: right-to-left override, emoji, control characters, SQL, very long.
ODD_IDS = {
    "rtl": "L-\u202eevil",
    "emoji": "L-\U0001f4b8",
    "control": "L-\x07\x1b[31m",
    "newline": "L-1\r\nX-Injected: yes",
    "sql": SQL,
    "sql_quote": "L-1' OR '1'='1",
    "long": "L" * 5000,
    "dots": "../../etc/passwd",
}
#: Strings that must never become a number of money.
NON_FINITE = ["NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "1e309", "-1e309",
              "sNaN"]
#: JSON number tokens Python's parser accepts although JSON has no such numbers.
NON_FINITE_TOKENS = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309"]
BAD_AMOUNTS = ["-1.00", "0", "0.00", "-0.00", "0.001", "1.005", "1e-3", "12.345",
               "1e30", "", " ", "1,000.00", "1 000", "¥100", "0x10", "1_000", "١٠٠",
               "100.00 ", "+-1", SQL]

DRAW_PLAN = {"method": "interest_free_bullet", "interest_free_days": 30}


def assert_error_body(answer: httpx.Response, *statuses: int) -> dict[str, Any]:
    """A 4xx (one of ``statuses`` when given) with exactly {code, message, details}."""
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:500])
    if statuses:
        assert answer.status_code in statuses, (answer.status_code, answer.text[:500])
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert set(body) == {"code", "message", "details"}, body
    assert re.fullmatch(r"[a-z][a-z0-9_]*", body["code"]), body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    return body


@contextmanager
def changes_nothing(stack: Stack) -> Iterator[None]:
    before = counts(stack.engine)
    yield
    assert counts(stack.engine) == before


def _post(stack: Stack, path: str, *, key: str = "hostile", role: Role = Role.ADMIN,
          **kwargs: Any) -> httpx.Response:
    headers = {**stack.headers(role, key), **kwargs.pop("headers", {})}
    return stack.client.post(path, headers=headers, **kwargs)


def _draw(amount: Any, **extra: Any) -> dict[str, Any]:
    return {"amount": amount, "supplier_id": "SUP-1", "plan": DRAW_PLAN, **extra}


def _money_requests(stack: Stack, amount: Any) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) of every request with a money field, the amount put in."""
    line = stack.line_ids[0]
    return [(f"/v1/lines/{line}/draws", _draw(amount)),
            (f"/v1/lines/{line}/repayments", {"amount": amount}),
            (f"/v1/decisions/{stack.decision_ids[0]}/actions",
             {"action": "change_limit", "limit": amount, "reason": "hostile test"})]


# ------------------------------------------------------------------- body size and shape
def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(module_stack: Stack):
    stack = module_stack
    big = b'{"amount": "1.00", "pad": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    path = f"/v1/lines/{stack.line_ids[0]}/draws"
    with changes_nothing(stack):
        declared = _post(stack, path, content=big,
                         headers={"Content-Type": "application/json"})
        streamed = _post(stack, path, content=iter([big[:1 << 20]] * 9),
                         headers={"Content-Type": "application/json"})
        orders = _post(stack, "/v1/orders", content=big,
                       headers={"Content-Type": "application/json"})
    for answer in (declared, streamed, orders):
        assert assert_error_body(answer, 413)["code"] == "body_too_large"


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")],
                         ids=["arrays", "objects"])
def test_ten_thousand_nested_levels_are_refused_not_a_recursion_error(
        module_stack: Stack, opening: str, closing: str):
    stack = module_stack
    nested = (opening * 10_000 + "1" + closing * 10_000).encode()
    inside = ('{"items": ' + opening * 200 + "1" + closing * 200 + "}").encode()
    with changes_nothing(stack):
        answers = [_post(stack, path, content=body,
                         headers={"Content-Type": "application/json"})
                   for path in (f"/v1/lines/{stack.line_ids[0]}/draws", "/v1/orders",
                                "/v1/decisions", "/v1/sellers")
                   for body in (nested, inside)]
    for answer in answers:
        body = assert_error_body(answer, 422)
        assert "nest" in body["message"], body


@pytest.mark.parametrize("body", [b"", b" ", b"null", b"[]", b"{}", b'""', b"0", b"{\"",
                                  b"\xff\xfe\x00", "{\"amount\": \"1.00\"}".encode("utf-16")],
                         ids=["empty", "space", "null", "list", "object", "string",
                              "number", "truncated", "binary", "utf16"])
def test_empty_and_malformed_bodies_are_422(module_stack: Stack, body: bytes):
    stack = module_stack
    with changes_nothing(stack):
        answers = [_post(stack, path, content=body,
                         headers={"Content-Type": "application/json"})
                   for path in (f"/v1/lines/{stack.line_ids[0]}/draws",
                                f"/v1/lines/{stack.line_ids[0]}/repayments",
                                "/v1/orders", "/v1/sellers", "/v1/decisions",
                                f"/v1/decisions/{stack.decision_ids[0]}/actions")]
    for answer in answers:
        assert_error_body(answer, 422)


def test_duplicate_keys_are_refused_rather_than_guessed(module_stack: Stack):
    stack = module_stack
    line = stack.line_ids[0]
    requests = [
        (f"/v1/lines/{line}/draws", b'{"amount": "1.00", "amount": "4900.00", '
         b'"supplier_id": "SUP-1", "plan": {"method": "interest_free_bullet", '
         b'"interest_free_days": 30}}'),
        (f"/v1/lines/{line}/repayments", b'{"amount": "1.00", "amount": "2.00"}'),
        ("/v1/decisions", b'{"seller_id": "x", "seller_id": "' +
         stack.seller_ids[0].encode() + b'"}'),
        ("/v1/orders", b'{"items": [], "items": []}'),
    ]
    with changes_nothing(stack):
        answers = [_post(stack, path, content=body,
                         headers={"Content-Type": "application/json"})
                   for path, body in requests]
    for answer in answers:
        body = assert_error_body(answer, 422)
        assert "twice" in body["message"], body


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml",
                                          "multipart/form-data; boundary=x", None])
def test_a_json_body_under_another_content_type_is_refused(module_stack: Stack,
                                                           content_type: str | None):
    stack = module_stack
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"amount": "1.00", "supplier_id": "SUP-1", "plan": {"method": ' \
           b'"interest_free_bullet", "interest_free_days": 30}}'
    with changes_nothing(stack):
        answer = _post(stack, f"/v1/lines/{stack.line_ids[0]}/draws", content=body,
                       headers=headers)
    assert_error_body(answer, 415, 422)


def test_a_form_body_to_a_json_route_is_refused(module_stack: Stack):
    stack = module_stack
    with changes_nothing(stack):
        answers = [_post(stack, path, data=data) for path, data in (
            (f"/v1/lines/{stack.line_ids[0]}/draws",
             {"amount": "1.00", "supplier_id": "SUP-1"}),
            (f"/v1/lines/{stack.line_ids[0]}/repayments", {"amount": "1.00"}),
            ("/v1/decisions", {"seller_id": stack.seller_ids[0]}))]
    for answer in answers:
        assert_error_body(answer, 415, 422)


# ------------------------------------------------------------------------------- money
@pytest.mark.parametrize("token", NON_FINITE_TOKENS)
def test_non_finite_json_number_tokens_are_refused_in_every_money_field(
        module_stack: Stack, token: str):
    stack = module_stack
    with changes_nothing(stack):
        answers = [_post(stack, path, content=_raw_json(body, token),
                         headers={"Content-Type": "application/json"})
                   for path, body in _money_requests(stack, "__TOKEN__")]
        orders = [_post(stack, "/v1/orders", content=_raw_json(
            {"items": [_order(stack, **{field: "__TOKEN__"})]}, token),
            headers={"Content-Type": "application/json"})
            for field in ("amount", "refunded_amount")]
    for answer in [*answers, *orders]:
        assert_error_body(answer, 422)


def _raw_json(body: dict[str, Any], token: str) -> bytes:
    import json

    return json.dumps(body).replace('"__TOKEN__"', token).encode()


@pytest.mark.parametrize("amount", NON_FINITE + BAD_AMOUNTS)
def test_non_finite_negative_zero_and_sub_cent_amounts_are_refused(module_stack: Stack,
                                                                   amount: str):
    stack = module_stack
    with changes_nothing(stack):
        answers = [_post(stack, path, json=body)
                   for path, body in _money_requests(stack, amount)]
    for answer in answers:
        assert_error_body(answer, 409, 422)


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1e309", "-5.00", "0.001", SQL])
@pytest.mark.parametrize("field", ["amount", "refunded_amount"])
def test_an_order_with_an_impossible_amount_is_rejected_and_not_stored(module_stack: Stack,
                                                                       amount: str,
                                                                       field: str):
    stack = module_stack
    with changes_nothing(stack):
        answer = _post(stack, "/v1/orders", json={"items": [_order(stack, **{
            field: amount, "order_id": "O-AMOUNT-1"})]})
    # A positive refund also needs refunded_at: either problem rejects the row.
    _assert_every_row_rejected(answer, field, "refunded_at")


@pytest.mark.parametrize("currency", ["cny", "Cny", "USD", "XXX", "CNYY", "", "元", SQL,
                                      "C\x00Y"])
def test_a_wrong_or_lower_case_currency_is_refused_by_draws_and_repayments(
        module_stack: Stack, currency: str):
    stack = module_stack
    line = stack.line_ids[0]
    with changes_nothing(stack):
        draw = _post(stack, f"/v1/lines/{line}/draws", json=_draw("1.00", currency=currency))
        repayment = _post(stack, f"/v1/lines/{line}/repayments",
                          json={"amount": "1.00", "currency": currency})
    for answer in (draw, repayment):
        assert_error_body(answer, 409, 422)


@pytest.mark.parametrize("currency", ["USD", "XXX", "CNYY", "", "元", SQL, "C\x00Y"])
def test_an_order_in_a_wrong_currency_is_rejected_and_not_stored(module_stack: Stack,
                                                                  currency: str):
    # (Records read codes case-insensitively and store them upper case, docs/records.md:
    # "cny" is CNY there, by design.)
    stack = module_stack
    with changes_nothing(stack):
        order = _post(stack, "/v1/orders", content=_json_with_escapes(
            {"items": [_order(stack, order_id="O-CUR-1", currency=currency)]}),
            headers={"Content-Type": "application/json"})
    _assert_every_row_rejected(order, "currency")


def _order(stack: Stack, **fields: Any) -> dict[str, Any]:
    order = {"order_id": "O-HOSTILE-1", "seller_id": stack.seller_ids[0], "buyer_id": "B-1",
             "created_at": "2026-05-01T10:00:00Z", "amount": "120.00", "currency": "CNY",
             "status": "completed", "refunded_amount": "0", "disputed": False,
             "channel": "wholesale", "buyer_country": "CN",
             "shipped_at": "2026-05-02T10:00:00Z", "paid_out_at": "2026-05-09T10:00:00Z"}
    order.update(fields)
    return order


def _assert_every_row_rejected(answer: httpx.Response, *fields: str) -> None:
    """A batch answers 422, or 200 with every row rejected naming one of ``fields``."""
    if answer.status_code != 200:
        assert_error_body(answer, 422)
        return
    body = answer.json()
    assert body["accepted"] == body["updated"] == body["unchanged"] == 0, body
    assert body["rejected_rows"] == body["received"] >= 1, body
    assert any(problem["field"] in fields for problem in body["rejected"]), body


def test_a_valid_order_is_accepted_so_the_refusals_above_mean_something(stack: Stack):
    answer = _post(stack, "/v1/orders", json={"items": [_order(stack)]})
    assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text


# ----------------------------------------------------------------------- ids and text
@pytest.mark.parametrize("name", sorted(ODD_IDS))
def test_odd_ids_in_paths_are_404_or_422_and_touch_nothing(module_stack: Stack, name: str):
    stack = module_stack
    odd = quote(ODD_IDS[name], safe="")
    reads = [f"/v1/lines/{odd}", f"/v1/lines/{odd}/schedule", f"/v1/lines/{odd}/statement",
             f"/v1/decisions/{odd}", f"/v1/sellers/{odd}"]
    writes = [(f"/v1/lines/{odd}/draws", _draw("1.00")),
              (f"/v1/lines/{odd}/repayments", {"amount": "1.00"}),
              (f"/v1/decisions/{odd}/actions", {"action": "decline", "reason": "test"}),
              (f"/v1/decisions/{odd}/reproduce", None)]
    with changes_nothing(stack):
        answers = [stack.client.get(path, headers=stack.headers()) for path in reads]
        answers += [_post(stack, path, json=body) for path, body in writes]
    for answer in answers:
        assert_error_body(answer, 404, 422)


@pytest.mark.parametrize("raw", ["%00", "L-1%00", "%00%00%00", "L%2500"],
                         ids=["nul", "trailing-nul", "nuls", "escaped-percent"])
def test_a_nul_in_the_path_is_refused(module_stack: Stack, raw: str):
    stack = module_stack
    with changes_nothing(stack):
        answers = [stack.client.get(f"/v1/{kind}/{raw}", headers=stack.headers())
                   for kind in ("lines", "decisions", "sellers")]
        answers.append(_post(stack, f"/v1/lines/{raw}/draws", json=_draw("1.00")))
    for answer in answers:
        assert_error_body(answer, 404, 422)


TEXTS = {**ODD_IDS, "nul": "S-\x00", "lone_surrogate": "\ud800", "bom": "\ufeffS-1",
         "zero_width": "S\u200b-1", "bidi_isolate": "S-\u2067x\u2069"}


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_odd_ids_in_bodies_are_refused_and_touch_nothing(module_stack: Stack, name: str):
    stack = module_stack
    text = TEXTS[name]
    line = stack.line_ids[0]
    requests = [("/v1/decisions", {"seller_id": text}),
                (f"/v1/lines/{line}/draws", _draw("1.00") | {"supplier_id": text}),
                (f"/v1/decisions/{stack.decision_ids[0]}/actions",
                 {"action": text, "reason": "test"})]
    with changes_nothing(stack):
        answers = [_post(stack, path, content=_json_with_escapes(body),
                         headers={"Content-Type": "application/json"})
                   for path, body in requests]
    for answer in answers:
        assert_error_body(answer, 404, 422)


def _json_with_escapes(body: Any) -> bytes:
    """JSON with every non-ASCII character escaped (lone surrogates as \\ud800)."""
    import json

    return json.dumps(body, ensure_ascii=True).encode()


@pytest.mark.parametrize("name", ["nul", "lone_surrogate", "sql", "control", "long"])
def test_odd_ids_in_orders_never_fail_the_batch(module_stack: Stack, name: str):
    # A batch keeps the good rows and lists the bad ones; no id may break it (PostgreSQL
    # refuses NUL characters in text) or reach the database as SQL.
    stack = module_stack
    text = TEXTS[name]
    before = counts(stack.engine)
    answers = [_post(stack, "/v1/orders", content=_json_with_escapes(
        {"items": [_order(stack, **{field: text})]}),
        headers={"Content-Type": "application/json"})
        for field in ("order_id", "seller_id", "buyer_id")]
    answers.append(_post(stack, "/v1/sellers", content=_json_with_escapes(
        {"items": [{"seller_id": text, "kind": "shop", "registered_at": "2025-01-01",
                    "region": "east", "industry": "apparel", "membership_tier": "basic"}]}),
        headers={"Content-Type": "application/json"}))
    for answer in answers:
        assert answer.status_code < 500, answer.text
        if answer.status_code != 200:
            assert_error_body(answer, 422)
    after = counts(stack.engine)
    assert after["credit_line"] == before["credit_line"]
    assert after["line_versions"] == before["line_versions"]
    if name in ("nul", "lone_surrogate"):
        assert after == before


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_odd_text_in_query_strings_is_answered_without_error(module_stack: Stack,
                                                             name: str):
    stack = module_stack
    text = TEXTS[name]
    # Percent-encoded by hand: a lone surrogate goes as the bytes a careless client sends.
    value = quote(text.encode("utf-8", "surrogatepass"), safe="")
    with changes_nothing(stack):
        answers = [stack.client.get(f"/v1/decisions?{param}={value}",
                                    headers=stack.headers())
                   for param in ("seller_id", "q", "grade", "cursor", "status",
                                 "older_than", "limit")]
        answers += [stack.client.get(f"/v1/lines/{stack.line_ids[0]}/statement?{param}="
                                     f"{value}", headers=stack.headers())
                    for param in ("as_of", "since")]
    for answer in answers:
        if answer.status_code == 200:
            assert answer.json()["items"] == [] if "items" in answer.json() else True
        else:
            assert_error_body(answer, 422)


@pytest.mark.parametrize("key", ["\u202ekey", "k\x00", "k\ud800", "\U0001f4b8", "k" * 201,
                                 " ", ""], ids=["rtl", "nul", "surrogate", "emoji", "long",
                                                "blank", "empty"])
def test_an_odd_idempotency_key_is_refused(module_stack: Stack, key: str):
    stack = module_stack
    raw = key.encode("utf-8", "surrogatepass")
    with changes_nothing(stack):
        answer = stack.client.post(
            f"/v1/lines/{stack.line_ids[0]}/draws", json=_draw("1.00"),
            headers=[("Authorization", f"Bearer {stack.keys[Role.ADMIN]}".encode()),
                     ("Idempotency-Key", raw)])
    assert assert_error_body(answer, 422)["code"] in ("idempotency_key_required",
                                                      "invalid_idempotency_key")


def test_an_unknown_field_is_refused_not_ignored(module_stack: Stack):
    stack = module_stack
    line = stack.line_ids[0]
    with changes_nothing(stack):
        answers = [_post(stack, f"/v1/lines/{line}/draws", json=_draw("1.00", limit="1e9")),
                   _post(stack, f"/v1/lines/{line}/repayments",
                         json={"amount": "1.00", "line_id": "L-other"}),
                   _post(stack, "/v1/decisions",
                         json={"seller_id": stack.seller_ids[0], "grade": "A"})]
    for answer in answers:
        assert "body." in str(assert_error_body(answer, 422)["details"])


def _referred_decision(stack: Stack) -> dict[str, Any]:
    page = stack.client.get("/v1/decisions?status=referred", headers=stack.headers()).json()
    if not page["items"]:
        pytest.skip("the small market gave no referred case")
    return dict(page["items"][0])


@pytest.mark.parametrize("limit", ["1_000", "١٠٠٠", "1e3", " 1000", "1000.001", "NaN",
                                   "-1000"])
def test_an_officer_limit_in_an_odd_notation_is_refused(module_stack: Stack, limit: str):
    stack = module_stack
    case = _referred_decision(stack)
    with changes_nothing(stack):
        answer = _post(stack, f"/v1/decisions/{case['decision_id']}/actions",
                       json={"action": "change_limit", "limit": limit,
                             "reason": "hostile notation"})
    assert_error_body(answer, 409, 422)


@pytest.mark.parametrize("notation", ["underscore", "exponent", "padded"])
def test_an_officer_limit_within_range_but_in_an_odd_notation_is_refused(
        module_stack: Stack, notation: str):
    stack = module_stack
    case = _referred_decision(stack)
    whole = int(float(case["proposed_limit"]))
    limit = {"underscore": f"{whole // 1000}_{whole % 1000:03d}",
             "exponent": f"{whole / 1000:g}e3", "padded": f" {whole}.00 "}[notation]
    with changes_nothing(stack):
        answer = _post(stack, f"/v1/decisions/{case['decision_id']}/actions",
                       json={"action": "change_limit", "limit": limit,
                             "reason": "hostile notation"})
    assert_error_body(answer, 422)


# ------------------------------------------------------------------- officer pages
@pytest.mark.parametrize("reason", ["a\x00b", "\x1b[31mred", "bell\x07", "del\x7f"],
                         ids=["nul", "escape", "bell", "delete"])
def test_an_officer_form_with_control_characters_changes_nothing(module_stack: Stack,
                                                                 reason: str):
    # The API refuses them in JSON (the guard); the page's form must too: PostgreSQL
    # cannot store a NUL, and no control character belongs in an audit trail.
    stack = module_stack
    case = _referred_decision(stack)
    with TestClient(stack.app, client=("192.0.2.10", 4000)) as browser:
        assert login_officer(browser, new_officer(stack.engine))[1].status_code == 303
        csrf = CSRF_IN_FORM.search(browser.get("/officer/").text)
        assert csrf
        encoded = quote(reason).encode()
        with changes_nothing(stack):
            answer = browser.post(
                f"/officer/cases/{case['decision_id']}/actions",
                content=b"action=decline&reason=" + encoded + b"&csrf_token=" +
                csrf.group(1).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                follow_redirects=False)
    assert answer.status_code == 422, answer.text[:300]
    assert "control characters" in answer.text


@pytest.mark.parametrize("value", ["a%00b", "%ED%A0%80", "%E9", "%3Cscript%3E", "x" * 5000])
def test_odd_text_in_officer_page_addresses_never_fails(module_stack: Stack, value: str):
    stack = module_stack
    with TestClient(stack.app, client=("192.0.2.11", 4000)) as browser:
        assert login_officer(browser, new_officer(stack.engine))[1].status_code == 303
        with changes_nothing(stack):
            answers = [browser.get(path, follow_redirects=False) for path in (
                f"/officer/decisions?q={value}", f"/officer/?grade={value}&min_days={value}",
                f"/officer/cases/{value}", f"/officer/login?next=/officer/{value}")]
    for answer in answers:
        assert 200 <= answer.status_code < 500, (answer.request.url, answer.status_code)
        assert "<script>" not in answer.text


@pytest.mark.parametrize("reason", ["\x1b[31mred", "bell\x07", "a\x00b", "del\x7f"],
                         ids=["escape", "bell", "nul", "delete"])
def test_an_officer_reason_with_control_characters_is_refused_by_the_api(
        module_stack: Stack, reason: str):
    stack = module_stack
    case = _referred_decision(stack)
    with changes_nothing(stack):
        answer = _post(stack, f"/v1/decisions/{case['decision_id']}/actions",
                       json={"action": "decline", "reason": reason})
    assert assert_error_body(answer, 422)["code"] in ("invalid_reason", "invalid_request")
