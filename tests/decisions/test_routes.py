"""The decision routes over HTTP: records loaded through the records service, a real
model, API keys of every role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from access.principal import Role
from api.app import create_app
from settings import Settings


@dataclass
class Service:
    client: TestClient
    engine: sa.Engine
    keys: dict[Role, str]
    as_of: str

    def headers(self, role: Role, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def decide(self, seller_id: str, key: str, role: Role = Role.MARKETPLACE):
        return self.client.post("/v1/decisions", json={"seller_id": seller_id,
                                                       "as_of": self.as_of},
                                headers=self.headers(role, key))


@pytest.fixture
def service(database_url: str, tmp_path: Path, market) -> Iterator[Service]:
    """The app with the test model; the three sellers of the market loaded as records."""
    from access.security import create_api_key
    from records.ingest import ingest_orders, register_sellers

    settings = Settings(data_dir=tmp_path, database_url=database_url, model_poll_seconds=0)
    app = create_app(settings, scorer=market.scorer)
    chosen = sorted(market.seller_for.values())
    with TestClient(app, raise_server_exceptions=False) as client:
        engine = app.state.engine
        register_sellers(engine, market.sellers[market.sellers["seller_id"].isin(chosen)],
                         now=market.as_of)
        ingest_orders(engine, market.orders[market.orders["seller_id"].isin(chosen)],
                      now=market.as_of)
        keys = {role: create_api_key(engine, role, name=f"test-{role.value}")[0]
                for role in Role}
        yield Service(client, engine, keys, market.as_of.isoformat())


def test_an_approved_decision_answers_everything_and_opens_the_line(service, market):
    answer = service.decide(market.seller_for["approve"], "k-1")

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["decision"], body["status"]) == ("approve", "approved")
    assert {"pd", "points", "grade", "limit", "terms", "reasons", "model_name",
            "model_version", "policy_version", "snapshot_as_of", "decision_id",
            "line_id"} <= set(body)
    assert (body["model_name"], body["model_version"]) == ("market-pd", "7")
    assert body["snapshot_as_of"].startswith(service.as_of[:19])
    assert isinstance(body["limit"], str) and len(body["reasons"]) <= 4
    line = service.client.get(f"/v1/lines/{body['line_id']}",
                              headers=service.headers(Role.MARKETPLACE)).json()
    assert Decimal(line["limit"]) == Decimal(body["limit"])
    # The stored features are the batch builder's row for this seller at that moment.
    audit = service.client.get(f"/v1/decisions/{body['decision_id']}",
                               headers=service.headers(Role.OFFICER)).json()
    row = market.table.loc[body["seller_id"]]
    assert audit["features"]["gmv_365d"] == pytest.approx(row["gmv_365d"])
    assert audit["decision"] == body and audit["requested_by"].startswith("key:")


def test_a_retry_replays_the_answer_and_another_body_with_the_key_is_409(service, market):
    first = service.decide(market.seller_for["approve"], "k-1")
    again = service.decide(market.seller_for["approve"], "k-1")
    other = service.decide(market.seller_for["refer"], "k-1")

    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    listed = service.client.get("/v1/decisions", headers=service.headers(Role.RISK)).json()
    assert len(listed["items"]) == 1


def test_a_decision_reproduces_exactly_over_http(service, market):
    made = service.decide(market.seller_for["decline"], "k-1").json()

    answer = service.client.post(f"/v1/decisions/{made['decision_id']}/reproduce",
                                 headers=service.headers(Role.MARKETPLACE))

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["exact"] is True and result["differences"] == []
    assert result["stored"] == result["reproduced"]
    assert (result["stored"]["pd"], result["stored"]["points"], result["stored"]["grade"],
            result["stored"]["decision"], result["stored"]["reasons"]) == (
        made["pd"], made["points"], made["grade"], made["decision"], made["reasons"])


def test_an_officer_approves_a_referral_with_a_reason_and_sees_the_audit_line(service,
                                                                              market):
    referred = service.decide(market.seller_for["refer"], "k-1").json()
    assert referred["status"] == "referred" and referred["line_id"] is None
    queue = service.client.get("/v1/decisions", params={"status": "referred",
                                                        "oldest_first": "true"},
                               headers=service.headers(Role.OFFICER)).json()
    assert [i["decision_id"] for i in queue["items"]] == [referred["decision_id"]]
    url = f"/v1/decisions/{referred['decision_id']}/actions"

    blank = service.client.post(url, json={"action": "approve", "reason": "  "},
                                headers=service.headers(Role.OFFICER))
    market_role = service.client.post(url, json={"action": "approve", "reason": "ok"},
                                      headers=service.headers(Role.MARKETPLACE))
    done = service.client.post(url, json={"action": "approve", "limit": "3000.00",
                                          "reason": "Known supplier; start at 3,000."},
                               headers=service.headers(Role.OFFICER))
    twice = service.client.post(url, json={"action": "decline", "reason": "no"},
                                headers=service.headers(Role.ADMIN))

    assert (blank.status_code, blank.json()["code"]) == (422, "reason_required")
    assert blank.json()["details"][0]["path"] == "body.reason"
    assert market_role.status_code == 403
    assert done.status_code == 200, done.text
    audit = done.json()
    assert (audit["status"], audit["limit"]) == ("approved", "3000.00")
    (action,) = audit["actions"]
    assert action["action"] == "approve" and action["actor"].startswith("key:")
    assert action["reason"] == "Known supplier; start at 3,000."
    assert action["before"]["status"] == "referred" and action["after"]["limit"] == "3000.00"
    assert (twice.status_code, twice.json()["code"]) == (409, "decision_already_decided")
    line = service.client.get(f"/v1/lines/{audit['line_id']}",
                              headers=service.headers(Role.OFFICER)).json()
    assert line["limit"] == "3000.00"


def test_bad_requests_get_the_error_body(service, market):
    missing_key = service.client.post("/v1/decisions", json={"seller_id": "S1"},
                                      headers=service.headers(Role.MARKETPLACE))
    unknown_seller = service.decide("NOPE-1", "k-2")
    naive_time = service.client.post("/v1/decisions", json={"seller_id": "S1",
                                                            "as_of": "2026-01-01T00:00:00"},
                                     headers=service.headers(Role.MARKETPLACE, "k-3"))
    unknown = service.client.get("/v1/decisions/DEC-0", headers=service.headers(Role.RISK))
    bad_limit = service.client.post("/v1/decisions/DEC-0/actions",
                                    json={"action": "approve", "limit": "12.345",
                                          "reason": "r"},
                                    headers=service.headers(Role.OFFICER))
    no_auth = service.client.get("/v1/decisions")

    assert missing_key.status_code == 422
    assert unknown_seller.status_code == 404
    assert (naive_time.status_code, naive_time.json()["code"]) == (422, "invalid_request")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_decision")
    assert bad_limit.status_code == 422
    assert no_auth.status_code == 401


def test_odd_input_gets_a_4xx_with_the_error_body_never_a_500(service, market):
    referred = service.decide(market.seller_for["refer"], "k-1").json()["decision_id"]
    actions = f"/v1/decisions/{referred}/actions"
    officer = service.headers(Role.OFFICER)
    odd = [
        ("post", "/v1/decisions", {"seller_id": "S\u00e9\u4e2d"}, "k-a"),
        ("post", "/v1/decisions", {"seller_id": "S1", "as_of": "9999-12-31T00:00:00Z"}, "k-b"),
        ("post", "/v1/decisions", {"seller_id": "S1", "extra": 1}, "k-c"),
        ("post", "/v1/decisions", {"seller_id": ["S1"]}, "k-d"),
        ("post", "/v1/decisions", {"seller_id": "x" * 500}, "k-e"),
        ("post", actions, {"action": "approve", "limit": "1e400", "reason": "r"}, None),
        ("post", actions, {"action": "approve", "limit": "NaN", "reason": "r"}, None),
        ("post", actions, {"action": "approve", "limit": 5000.555, "reason": "r"}, None),
        ("post", actions, {"action": "approve", "limit": "-1", "reason": "r"}, None),
        ("post", actions, {"action": "approve", "reason": 7}, None),
        ("post", actions, {"action": "approve", "reason": "r", "expected_version": 10**30},
         None),
        ("post", actions, {"action": "close", "reason": "r"}, None),
        ("post", actions, {"action": "change_limit", "reason": "r"}, None),
        ("post", actions, {"action": "decline", "reason": "r", "limit": "3000.00"}, None),
        ("get", "/v1/decisions?cursor=%FF%FE", None, None),
        ("get", "/v1/decisions?cursor=" + "A" * 300, None, None),
        ("get", "/v1/decisions?older_than=yesterday", None, None),
        ("get", "/v1/decisions?older_than=2026-01-01T00:00:00", None, None),
        ("get", "/v1/decisions?limit=0", None, None),
        ("get", "/v1/decisions?status=pending", None, None),
        ("get", "/v1/decisions/" + "D" * 300, None, None),
        ("post", "/v1/decisions/%00/reproduce", None, None),
    ]
    for method, url, body, key in odd:
        headers = {**(service.headers(Role.ADMIN, key) if key else officer)}
        answer = service.client.request(method, url, json=body, headers=headers)
        assert 400 <= answer.status_code < 500, (url, body, answer.status_code, answer.text)
        assert set(answer.json()) == {"code", "message", "details"}, answer.text
    # None of it changed the case.
    audit = service.client.get(f"/v1/decisions/{referred}", headers=officer).json()
    assert audit["status"] == "referred" and audit["actions"] == []


def test_decisions_are_stored_by_the_group_commit_and_metrics_show_it(service, market):
    sellers = sorted(market.seller_for.values())
    for number, seller in enumerate(sellers):
        assert service.decide(seller, f"k-{number}").status_code == 201
    replay = service.decide(sellers[0], "k-0")
    assert replay.headers["Idempotent-Replayed"] == "true"

    text = service.client.get("/metrics", headers=service.headers(Role.RISK)).text
    assert "sme_credit_decision_commit_writes_total 4.0" in text
    assert "sme_credit_decision_commit_reruns_total 0.0" in text
    assert "sme_credit_decision_commit_waiting 0.0" in text
    assert 'sme_credit_decisions_total{outcome="approve"} 1.0' in text


def test_without_group_commit_each_decision_commits_on_its_own(
        database_url: str, tmp_path: Path, market) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url, model_poll_seconds=0,
                        decision_group_commit=0)
    app = create_app(settings, scorer=market.scorer)
    assert app.state.decision_commits is None
    with TestClient(app, raise_server_exceptions=False) as client:
        from access.security import create_api_key
        from records.ingest import ingest_orders, register_sellers

        engine = app.state.engine
        seller = market.seller_for["approve"]
        register_sellers(engine, market.sellers[market.sellers["seller_id"] == seller],
                         now=market.as_of)
        ingest_orders(engine, market.orders[market.orders["seller_id"] == seller],
                      now=market.as_of)
        key = create_api_key(engine, Role.ADMIN, name="admin")[0]
        answer = client.post("/v1/decisions", json={"seller_id": seller,
                                                    "as_of": market.as_of.isoformat()},
                             headers={"Authorization": f"Bearer {key}",
                                      "Idempotency-Key": "k-1"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["line_id"]
        text = client.get("/metrics", headers={"Authorization": f"Bearer {key}"}).text
        assert "sme_credit_decision_commit" not in text
