"""authenticate_request: who a request comes from, by API key or by session cookie."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from access.principal import Role
from access.security import create_api_key, create_user, login, revoke_api_key
from tests.access.conftest import FAST_HASHER, PASSWORD

NOBODY = {"kind": None, "id": None, "role": None}


def _officer_session(engine: sa.Engine) -> tuple[str, str]:
    create_user(engine, "olga", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    tokens = login(engine, "olga", PASSWORD, client_ip="127.0.0.1", hasher=FAST_HASHER)
    return tokens.session_token, tokens.csrf_token


def test_a_bearer_key_authenticates_as_its_role(whoami_client: TestClient,
                                                sqlite_engine: sa.Engine) -> None:
    key, info = create_api_key(sqlite_engine, Role.MARKETPLACE, name="shop")
    for scheme in ("Bearer", "bearer"):
        answer = whoami_client.get("/v1/whoami", headers={"Authorization": f"{scheme} {key}"})
        assert answer.json() == {"kind": "api_key", "id": info.id, "role": "marketplace"}


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc",
                                    "Bearer smc_k_0000000000_" + "0" * 64])
def test_a_malformed_or_unknown_authorization_header_authenticates_nobody(
        whoami_client: TestClient, header: str) -> None:
    assert whoami_client.get("/v1/whoami", headers={"Authorization": header}).json() == NOBODY


def test_a_revoked_key_authenticates_nobody_at_once(whoami_client: TestClient,
                                                    sqlite_engine: sa.Engine) -> None:
    key, info = create_api_key(sqlite_engine, Role.RISK, name="risk")
    headers = {"Authorization": f"Bearer {key}"}
    assert whoami_client.get("/v1/whoami", headers=headers).json()["role"] == "risk"
    revoke_api_key(sqlite_engine, info.id)
    assert whoami_client.get("/v1/whoami", headers=headers).json() == NOBODY


def test_a_session_cookie_authenticates_the_person(whoami_client: TestClient,
                                                   sqlite_engine: sa.Engine) -> None:
    token, _ = _officer_session(sqlite_engine)
    whoami_client.cookies.set("sme_session", token)
    expected = {"kind": "user", "id": "olga", "role": "officer"}
    assert whoami_client.get("/officer/whoami").json() == expected
    assert whoami_client.get("/v1/whoami").json() == expected


def test_an_authorization_header_is_judged_alone_even_beside_a_valid_cookie(
        whoami_client: TestClient, sqlite_engine: sa.Engine) -> None:
    token, _ = _officer_session(sqlite_engine)
    whoami_client.cookies.set("sme_session", token)
    answer = whoami_client.get("/v1/whoami", headers={"Authorization": "Bearer wrong"})
    assert answer.json() == NOBODY


def test_a_cookie_alone_cannot_change_state_outside_the_officer_pages(
        whoami_client: TestClient, sqlite_engine: sa.Engine) -> None:
    token, csrf = _officer_session(sqlite_engine)
    whoami_client.cookies.set("sme_session", token)
    # The officer pages check the CSRF token of their forms themselves.
    assert whoami_client.post("/officer/whoami").json()["id"] == "olga"
    # Elsewhere a state-changing request with a cookie needs the X-CSRF-Token header.
    assert whoami_client.post("/v1/whoami").json() == NOBODY
    assert whoami_client.post("/v1/whoami", headers={"X-CSRF-Token": "nope"}).json() == NOBODY
    assert whoami_client.post("/v1/whoami", headers={"X-CSRF-Token": csrf}).json()["id"] == "olga"


def test_a_logged_out_cookie_authenticates_nobody(whoami_client: TestClient,
                                                  sqlite_engine: sa.Engine) -> None:
    from access.security import logout

    token, _ = _officer_session(sqlite_engine)
    whoami_client.cookies.set("sme_session", token)
    assert whoami_client.get("/officer/whoami").json()["id"] == "olga"
    logout(sqlite_engine, token)
    assert whoami_client.get("/officer/whoami").json() == NOBODY


def test_no_credentials_authenticate_nobody(whoami_client: TestClient) -> None:
    assert whoami_client.get("/v1/whoami").json() == NOBODY
    whoami_client.cookies.set("sme_session", "made-up")
    assert whoami_client.get("/officer/whoami").json() == NOBODY


def test_passwords_and_tokens_never_reach_the_logs(sqlite_engine: sa.Engine,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    engine_log = logging.getLogger("sqlalchemy.engine")
    engine_log.setLevel(logging.INFO)
    try:
        create_user(sqlite_engine, "olga", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
        tokens = login(sqlite_engine, "olga", PASSWORD, client_ip="127.0.0.1",
                       hasher=FAST_HASHER)
        with pytest.raises(Exception, match="wrong user name or password"):
            login(sqlite_engine, "olga", "not " + PASSWORD, client_ip="127.0.0.1",
                  hasher=FAST_HASHER)
    finally:
        engine_log.setLevel(logging.WARNING)
    assert caplog.records
    for secret in (PASSWORD, tokens.session_token, tokens.csrf_token):
        assert secret not in caplog.text
