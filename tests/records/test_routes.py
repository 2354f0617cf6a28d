"""The records routes: batches over HTTP, rejected rows, permissions, the seller read."""

from __future__ import annotations

import json

import pytest

from access.principal import Role
from records.ingest import MAX_BATCH_ROWS

from .conftest import as_rows

SELLER = {"seller_id": "S1", "kind": "shop", "registered_at": "2024-01-01T00:00:00+08:00",
          "region": "Zhejiang", "industry": "apparel", "membership_tier": "gold"}


def order(order_id: str, **changes: object) -> dict:
    row = {"order_id": order_id, "seller_id": "S1", "buyer_id": "B1",
           "created_at": "2026-06-01T10:00:00+08:00", "amount": "1250.00", "currency": "CNY",
           "status": "completed", "refunded_amount": 0, "refunded_at": None,
           "disputed": False, "channel": "wholesale", "buyer_country": "CN",
           "shipped_at": None, "paid_out_at": None}
    row.update(changes)
    return row


@pytest.fixture
def seller(service):
    answer = service.client.post("/v1/sellers", json={"items": [SELLER]},
                                 headers=service.as_role(Role.MARKETPLACE))
    assert answer.status_code == 200, answer.text
    return service


def test_a_batch_keeps_its_good_rows_and_lists_every_problem_of_the_others(seller):
    items = [order("O1"), order("O2", amount="ten", buyer_country="China"),
             order("O3", seller_id="S-unknown"), order("O4", amount=99.5)]
    answer = seller.client.post("/v1/orders", json={"items": items},
                                headers=seller.as_role(Role.MARKETPLACE))
    assert answer.status_code == 200
    assert answer.json() == {
        "received": 4, "accepted": 2, "unchanged": 0, "updated": 0, "rejected_rows": 2,
        "rejected": [
            {"row": 2, "field": "amount", "reason": "not a number"},
            {"row": 2, "field": "buyer_country",
             "reason": "not an ISO 3166-1 alpha-2 country code"},
            {"row": 3, "field": "seller_id", "reason": "order for an unknown seller"},
        ],
        "problems": 3, "rejected_row_numbers": [2, 3]}
    again = seller.client.post("/v1/orders", json={"items": [
        order("O1"), order("O4", amount="99.50", refunded_amount="99.50",
                           refunded_at="2026-06-03T10:00:00+08:00")]},
        headers=seller.as_role(Role.MARKETPLACE))
    assert (again.json()["unchanged"], again.json()["updated"]) == (1, 1)


def test_reading_a_seller_gives_its_snapshot_moment(seller):
    seller.client.post("/v1/orders", json={"items": [order("O1")]},
                       headers=seller.as_role(Role.MARKETPLACE))
    answer = seller.client.get("/v1/sellers/S1", headers=seller.as_role(Role.OFFICER))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["seller_id"], body["kind"], body["snapshot_orders_seen"]) == ("S1", "shop", 1)
    assert body["snapshot_as_of"] is not None
    missing = seller.client.get("/v1/sellers/S404", headers=seller.as_role(Role.OFFICER))
    assert missing.status_code == 404
    assert missing.json() == {"code": "unknown_seller",
                              "message": "no seller 'S404' is registered",
                              "details": {"seller_id": "S404"}}


def test_an_unknown_field_or_an_impossible_type_is_refused_with_its_path(seller):
    answer = seller.client.post("/v1/orders", json={"items": [order("O1", colour="red")]},
                                headers=seller.as_role(Role.MARKETPLACE))
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_request"
    assert answer.json()["details"][0]["path"] == "body.items.0.colour"
    answer = seller.client.post("/v1/orders", json={"items": [order("O1", amount=[1])]},
                                headers=seller.as_role(Role.MARKETPLACE))
    assert answer.status_code == 422
    assert answer.json()["details"][0]["path"].startswith("body.items.0.amount")
    # a JSON boolean is no id: refused as the document says, not coerced to 1
    answer = seller.client.post("/v1/orders", json={"items": [order("O1", seller_id=True)]},
                                headers=seller.as_role(Role.MARKETPLACE))
    assert answer.status_code == 422
    assert answer.json()["details"][0]["path"].startswith("body.items.0.seller_id")


def test_a_batch_over_the_cap_is_refused(service):
    items = [{"seller_id": f"S{i}"} for i in range(MAX_BATCH_ROWS + 1)]
    answer = service.client.post("/v1/sellers", json={"items": items},
                                 headers=service.as_role(Role.MARKETPLACE))
    assert answer.status_code == 413
    assert answer.json() == {
        "code": "batch_too_large",
        "message": f"a batch takes at most {MAX_BATCH_ROWS:,} rows; got "
                   f"{MAX_BATCH_ROWS + 1:,}: split it into several requests",
        "details": {"rows": MAX_BATCH_ROWS + 1, "max_rows": MAX_BATCH_ROWS}}


ROUTES = [
    ("POST", "/v1/sellers", {Role.MARKETPLACE, Role.ADMIN}),
    ("POST", "/v1/orders", {Role.MARKETPLACE, Role.ADMIN}),
    ("GET", "/v1/sellers/S1", {Role.MARKETPLACE, Role.OFFICER, Role.RISK, Role.ADMIN}),
]


def test_each_role_gets_exactly_what_the_permission_table_allows(seller):
    for method, path, allowed in ROUTES:
        body = {"items": []} if method == "POST" else None
        assert seller.client.request(method, path, json=body).status_code == 401
        for role in Role:
            answer = seller.client.request(method, path, json=body,
                                           headers=seller.as_role(role))
            assert answer.status_code == (200 if role in allowed else 403), (path, role)


def test_the_synthetic_marketplace_goes_through_the_api(service, market):
    headers = service.as_role(Role.MARKETPLACE)
    answer = service.client.post("/v1/sellers", json={"items": as_rows(market.sellers)},
                                 headers=headers)
    assert answer.json()["accepted"] == len(market.sellers)
    orders = as_rows(market.orders.head(300))
    answer = service.client.post("/v1/orders", json={"items": orders}, headers=headers)
    assert (answer.json()["accepted"], answer.json()["rejected"]) == (300, [])


def test_texts_no_database_can_store_never_make_the_service_fail(seller):
    headers = seller.as_role(Role.MARKETPLACE)
    items = [order("O1"), order("O2", buyer_id="B\ud800"), order("O3", seller_id="S\x00")]
    # escaped in the JSON text, as a client would send them; the service's input guard
    # may refuse the request (422), else the rows are rejected (see test_ingest)
    answer = seller.client.post("/v1/orders", content=json.dumps({"items": items}),
                                headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code in (200, 422), answer.text
    for bad in ("S%00", "S%ED%A0%80", "S" * 200):
        read = seller.client.get(f"/v1/sellers/{bad}", headers=seller.as_role(Role.OFFICER))
        assert read.status_code in (404, 422), (bad, read.text)


def test_a_batch_of_bad_rows_gets_a_bounded_answer_that_still_names_every_row(seller):
    items = [order(f"O{n}", amount="ten", buyer_country="China") for n in range(3_000)]
    answer = seller.client.post("/v1/orders", json={"items": items},
                                headers=seller.as_role(Role.MARKETPLACE))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["received"], body["rejected_rows"], body["problems"]) == (3_000, 3_000, 6_000)
    assert body["rejected_row_numbers"] == list(range(1, 3_001))
    assert len(body["rejected"]) == 1_000  # the first problems, in row order
    assert [p["row"] for p in body["rejected"][:4]] == [1, 1, 2, 2]
    assert body["rejected"][-1]["row"] == 500
    assert len(answer.content) < len(json.dumps({"items": items}))
