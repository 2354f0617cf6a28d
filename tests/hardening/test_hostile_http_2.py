"""Hostile HTTP input, second round (issue 16), on SQLite and PostgreSQL.

Covered: dates and times outside the plausible range (1970-01-01T00:00:00Z to
2099-12-31T23:59:59.999999Z) in record batches, decision requests and list filters, at
every UTC offset; error answers bounded whatever the request (a batch of 900,000 junk
items, 100,000 unknown keys); the login limit under 40 simultaneous attempts; secrets
pasted into ids never sent back; look-alike ids (fullwidth, Cyrillic, combining accents,
invisible characters, other digits) refused by the one id pattern.
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from access.principal import Role
from tests.hardening.conftest import Stack, counts
from tests.hardening.test_hostile_http import _order, _post, assert_error_body, changes_nothing

#: Timestamps outside the documented range, each with a UTC offset (so none is naive).
OUT_OF_RANGE = {
    "year_1500": "1500-01-01T00:00:00Z",
    "year_1": "0001-01-01T00:00:00+14:00",
    "year_9999": "9999-12-31T23:59:59-14:00",
    "before_1970": "1969-12-31T23:59:59Z",
    "year_2100": "2100-01-01T00:00:00Z",
    "year_2262": "2262-04-12T00:00:00Z",
    "before_pandas": "1677-09-21T00:00:00Z",
}
#: The first and last moments of the range, written with offsets: both accepted.
EDGES = ["1970-01-01T08:00:00+08:00", "2099-12-31T23:59:59.999999Z"]
#: Nine ids that all display as "S000001" (the lower-case one is a different, valid id).
LOOK_ALIKES = {
    "fullwidth": "\uff33\uff10\uff10\uff10\uff10\uff10\uff11",
    "fullwidth_digits": "S\uff10\uff10\uff10\uff10\uff10\uff11",
    "cyrillic_dze": "\u0405000001",
    "combining_accent": "S\u0301000001",
    "zero_width_space": "S000\u200b001",
    "byte_order_mark": "\ufeffS000001",
    "arabic_indic_digits": "S\u0660\u0660\u0660\u0660\u0660\u0661",
    "rtl_mark": "S000001\u200f",
}


def _seller(seller_id: str, **fields: Any) -> dict[str, Any]:
    return {"seller_id": seller_id, "kind": "shop", "registered_at": "2025-01-01T00:00:00Z",
            "region": "east", "industry": "apparel", "membership_tier": "basic", **fields}


def _rejected_fields(answer: httpx.Response) -> dict[int, set[str]]:
    assert answer.status_code == 200, answer.text[:500]
    found: dict[int, set[str]] = {}
    for problem in answer.json()["rejected"]:
        found.setdefault(problem["row"], set()).add(problem["field"])
    return found


# ------------------------------------------------------------------- dates out of range
def test_a_seller_timestamp_out_of_range_rejects_its_row_and_keeps_the_good_ones(
        stack: Stack):
    items = [_seller("S-DATE-GOOD")] + [
        _seller(f"S-DATE-{n}", registered_at=moment)
        for n, moment in enumerate(OUT_OF_RANGE.values())] + [
        _seller(f"S-EDGE-{n}", registered_at=moment) for n, moment in enumerate(EDGES)]
    answer = _post(stack, "/v1/sellers", json={"items": items})
    rejected = _rejected_fields(answer)
    assert rejected == {row: {"registered_at"} for row in range(2, 2 + len(OUT_OF_RANGE))}
    assert answer.json()["accepted"] == 1 + len(EDGES)
    assert all("1970-01-01" in problem["reason"] and "2099-12-31" in problem["reason"]
               for problem in answer.json()["rejected"]), answer.json()["rejected"]
    read = stack.client.get("/v1/sellers/S-DATE-GOOD", headers=stack.headers())
    assert read.status_code == 200, read.text


@pytest.mark.parametrize("field", ["created_at", "shipped_at", "paid_out_at"])
def test_an_order_timestamp_out_of_range_rejects_its_row_and_keeps_the_good_ones(
        stack: Stack, field: str):
    items = [_order(stack, order_id="O-DATE-GOOD")] + [
        _order(stack, order_id=f"O-DATE-{n}", **{field: moment})
        for n, moment in enumerate(OUT_OF_RANGE.values())]
    answer = _post(stack, "/v1/orders", json={"items": items})
    rejected = _rejected_fields(answer)
    assert set(rejected) == set(range(2, 2 + len(OUT_OF_RANGE))), answer.text
    assert all(field in fields for fields in rejected.values()), rejected
    assert answer.json()["accepted"] == 1


@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE))
def test_a_decision_as_of_out_of_range_is_422_naming_the_field(module_stack: Stack,
                                                               name: str):
    stack = module_stack
    with changes_nothing(stack):
        answer = _post(stack, "/v1/decisions", key=f"date-{name}", role=Role.MARKETPLACE,
                       json={"seller_id": stack.seller_ids[0], "as_of": OUT_OF_RANGE[name]})
    body = assert_error_body(answer, 422)
    assert [entry["path"] for entry in body["details"]] == ["body.as_of"], body


@pytest.mark.parametrize("param", ["older_than", "newer_than"])
@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE))
def test_a_list_filter_out_of_range_is_422_naming_the_parameter(module_stack: Stack,
                                                                name: str, param: str):
    stack = module_stack
    value = quote(OUT_OF_RANGE[name], safe="")
    answer = stack.client.get(f"/v1/decisions?{param}={value}", headers=stack.headers())
    body = assert_error_body(answer, 422)
    assert [entry["path"] for entry in body["details"]] == [f"query.{param}"], body


def test_list_filters_at_the_edges_of_the_range_are_accepted(module_stack: Stack):
    stack = module_stack
    answer = stack.client.get(f"/v1/decisions?newer_than={quote(EDGES[0], safe='')}"
                              f"&older_than={quote(EDGES[1], safe='')}",
                              headers=stack.headers())
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["items"]) == len(stack.decision_ids)


# ---------------------------------------------------------------- bounded error answers
def test_a_batch_of_nine_hundred_thousand_junk_items_gets_a_small_413(module_stack: Stack):
    stack = module_stack
    body = b'{"items": [' + b",".join([b"1"] * 900_000) + b"]}"
    with changes_nothing(stack):
        answers = [_post(stack, path, content=body,
                         headers={"Content-Type": "application/json"})
                   for path in ("/v1/sellers", "/v1/orders")]
    for answer in answers:
        error = assert_error_body(answer, 413)
        assert error["code"] == "batch_too_large", error
        assert len(answer.content) < 1_000, answer.content[:500]


def test_a_batch_one_row_over_the_limit_is_413_before_any_row_is_read(module_stack: Stack):
    stack = module_stack
    with changes_nothing(stack):
        answer = _post(stack, "/v1/sellers", json={"items": [{"seller_id": 1}] * 10_001})
    assert assert_error_body(answer, 413)["code"] == "batch_too_large"


def test_validation_details_are_bounded_with_a_count_of_the_rest(module_stack: Stack):
    stack = module_stack
    with changes_nothing(stack):
        answer = _post(stack, "/v1/sellers", json={"items": [1] * 10_000})
    body = assert_error_body(answer, 422)
    listed = [entry for entry in body["details"] if entry["type"] != "truncated"]
    assert len(listed) == 100, len(listed)
    assert body["details"][-1] == {"path": "body.items", "type": "truncated",
                                   "message": "9900 more problems not listed",
                                   "count": 9900}, body["details"][-1]
    assert "9999 more problem" in body["message"], body["message"]
    assert len(answer.content) < 20_000


@pytest.mark.parametrize("path", ["/v1/decisions", "draws"])
def test_a_hundred_thousand_unknown_keys_are_reported_once(module_stack: Stack, path: str):
    stack = module_stack
    base: dict[str, Any] = ({"seller_id": stack.seller_ids[0]} if path == "/v1/decisions"
                            else {"amount": "1.00", "supplier_id": "SUP-1",
                                  "plan": {"method": "interest_free_bullet",
                                           "interest_free_days": 30}})
    if path == "draws":
        path = f"/v1/lines/{stack.line_ids[0]}/draws"
    body = json.dumps({**base, **{f"k{n}": 1 for n in range(100_000)}}).encode()
    with changes_nothing(stack):
        answer = _post(stack, path, key="unknown-keys", content=body,
                       headers={"Content-Type": "application/json"})
    error = assert_error_body(answer, 422)
    unknown = [entry for entry in error["details"] if entry["type"] == "extra_forbidden"]
    assert len(unknown) == 1, error["details"][:3]
    assert "100000 unknown fields" in unknown[0]["message"], unknown[0]
    assert len(answer.content) < 2_000, answer.content[:500]


# -------------------------------------------------------------- the login limit, racing
def test_forty_simultaneous_wrong_passwords_get_at_most_the_limit_checked(
        engine: sa.Engine):
    from access.security import (
        InvalidCredentials,
        LoginThrottled,
        create_user,
        login,
    )

    # A hasher slow enough (a few milliseconds) that every attempt overlaps the others.
    hasher = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1)
    create_user(engine, "racer", "the right passphrase 42", Role.OFFICER, hasher=hasher)
    start = threading.Barrier(40)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        start.wait()
        try:
            login(engine, "racer", "a wrong passphrase", client_ip=f"192.0.2.{n}",
                  hasher=hasher)
            outcome = "logged in"
        except InvalidCredentials:
            outcome = "checked"
        except LoginThrottled:
            outcome = "throttled"
        except Exception as error:  # noqa: BLE001 - reported below
            outcome = f"{type(error).__name__}: {error}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(outcomes)) == ["checked", "throttled"], outcomes
    assert outcomes.count("checked") == 5, outcomes
    assert outcomes.count("throttled") == 35, outcomes


# ------------------------------------------------------------------- no secret echoed
def _secrets(stack: Stack) -> list[str]:
    token = secrets.token_urlsafe(32).replace("_", "x")  # shaped like a session token
    return [stack.keys[Role.ADMIN], token, "smc_k_0123456789_" + "ab" * 32]


def test_an_api_key_or_token_pasted_into_an_id_is_never_sent_back(module_stack: Stack):
    stack = module_stack
    for secret in _secrets(stack):
        with changes_nothing(stack):
            answers = [
                stack.client.get(f"/v1/sellers/{secret}", headers=stack.headers()),
                stack.client.get(f"/v1/decisions?seller_id={secret}",
                                 headers=stack.headers()),
                stack.client.get(f"/v1/decisions/{secret[:40]}", headers=stack.headers()),
                _post(stack, "/v1/decisions", key=f"secret-{secret[-8:]}",
                      role=Role.MARKETPLACE, json={"seller_id": secret}),
                _post(stack, "/v1/orders", json={"items": [_order(
                    stack, order_id=secret, seller_id=secret, buyer_id=secret)]}),
            ]
        for answer in answers:
            assert answer.status_code < 500, answer.text
            for shown in (secret, secret[:40], secret[-32:]):
                assert shown not in answer.text, (answer.request.url, answer.text)


def test_an_unknown_well_formed_seller_id_is_named_in_the_answer(module_stack: Stack):
    stack = module_stack
    answer = stack.client.get("/v1/sellers/S-NOBODY-1", headers=stack.headers())
    assert assert_error_body(answer, 404)["code"] == "unknown_seller"
    assert "S-NOBODY-1" in answer.json()["message"]


# ------------------------------------------------------------------------ look-alike ids
def test_ids_that_display_alike_never_make_a_second_seller(stack: Stack):
    items = [_seller("S000001")] + [_seller(text) for text in LOOK_ALIKES.values()] + [
        _seller("s000001")]
    answer = _post(stack, "/v1/sellers", json={"items": items})
    rejected = _rejected_fields(answer)
    assert rejected == {row: {"seller_id"} for row in range(2, 2 + len(LOOK_ALIKES))}
    # Ids are case-sensitive: "s000001" is another id, which displays differently.
    result = answer.json()
    assert result["accepted"] + result["updated"] + result["unchanged"] == 2, result
    for text in LOOK_ALIKES.values():
        assert text not in answer.text


@pytest.mark.parametrize("field", ["order_id", "buyer_id", "seller_id"])
def test_look_alike_ids_in_orders_are_rejected_rows(stack: Stack, field: str):
    items = [_order(stack, order_id="O-ALIKE-GOOD")] + [
        _order(stack, **{"order_id": f"O-ALIKE-{n}", field: text})
        for n, text in enumerate(LOOK_ALIKES.values())]
    before = counts(stack.engine)["seller_order"]
    answer = _post(stack, "/v1/orders", json={"items": items})
    rejected = _rejected_fields(answer)
    assert rejected == {row: {field} for row in range(2, 2 + len(LOOK_ALIKES))}, rejected
    assert counts(stack.engine)["seller_order"] == before + 1


@pytest.mark.parametrize("name", sorted(LOOK_ALIKES))
def test_look_alike_ids_in_paths_and_bodies_are_refused_without_echo(module_stack: Stack,
                                                                      name: str):
    stack = module_stack
    text = LOOK_ALIKES[name]
    with changes_nothing(stack):
        answers = [stack.client.get(f"/v1/sellers/{quote(text, safe='')}",
                                    headers=stack.headers()),
                   _post(stack, "/v1/decisions", key=f"alike-{name}", role=Role.MARKETPLACE,
                         json={"seller_id": text})]
    for answer in answers:
        assert_error_body(answer, 404, 422)
        assert text not in answer.text, answer.text
