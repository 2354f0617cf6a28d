"""Health needs no credentials; errors share one body; metrics are Prometheus text."""

from __future__ import annotations

import pytest

from access.principal import Role

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_liveness_answers_without_credentials(service):
    assert service.client.get("/healthz").json() == {"status": "ok"}


def test_the_service_is_not_ready_without_a_model(service):
    answer = service.client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["database"] == "ok"
    assert answer.json()["model"] != "ok"


def test_a_route_without_credentials_is_401_with_the_error_body(service):
    answer = service.client.get("/v1/lines/L-1")
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthenticated"
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_body_over_the_limit_is_refused_before_it_is_read(service):
    answer = service.client.post(
        "/v1/lines/L-1/draws", content=b"{" + b" " * (9 * 1024 * 1024) + b"}",
        headers={**service.as_role(Role.MARKETPLACE), "Idempotency-Key": "k",
                 "Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["code"] == "body_too_large"


def test_malformed_json_is_a_422_naming_the_body(service):
    answer = service.client.post(
        "/v1/lines/L-1/draws", content=b'{"amount": ',
        headers={**service.as_role(Role.MARKETPLACE), "Idempotency-Key": "k",
                 "Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["details"][0]["path"].startswith("body")


def test_an_unknown_path_is_a_404_with_the_error_body(service):
    answer = service.client.get("/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_metrics_count_requests_by_route_template(service, line):
    line_id = line("L-42")
    service.client.get(f"/v1/lines/{line_id}", headers=service.as_role(Role.OFFICER))
    assert service.client.get("/metrics").status_code == 401
    assert service.client.get("/metrics",
                              headers=service.as_role(Role.MARKETPLACE)).status_code == 403
    answer = service.client.get("/metrics", headers=service.as_role(Role.RISK))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert ('sme_credit_http_requests_total{method="GET",route="/v1/lines/{line_id}",'
            'status="200"} 1.0') in text
    assert "L-42" not in text
    assert "sme_credit_http_request_duration_seconds_bucket" in text


def test_every_answer_carries_the_security_headers(service):
    for answer in (service.client.get("/healthz"), service.client.get("/v1/lines/L-1"),
                   service.client.get("/v1/nothing")):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in answer.headers["content-security-policy"]
