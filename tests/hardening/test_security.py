"""Security: secrets never leak, logins are rate limited, the audit trail cannot be changed
through the application or behind its back, a session ends at logout, and every answer
carries the security headers.

The log test runs ``sme-credit serve`` as its own process at log level debug (SQL
statements and their parameters included), goes through logins, wrong logins, key use, a
revoked key, a made-up key and errors, then reads the log file and every answer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from access.principal import Role
from access.security import create_api_key, create_user, revoke_api_key
from decisions.tables import AUDIT_COLUMNS
from store import make_engine, upgrade_database
from tests.hardening._server import ServerProcess
from tests.hardening.conftest import (
    CSRF_IN_FORM,
    FAST_HASHER,
    PASSWORD,
    Stack,
    counts,
    login_officer,
    new_officer,
)

WRONG_PASSWORD = "a long officer passphrase 43"
#: Headers on every answer of the app (API and pages).
BASE_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY"}


def _login(client: Any, username: str, password: str) -> tuple[httpx.Response,
                                                               httpx.Response]:
    return login_officer(client, username, password)


# ---------------------------------------------------------------------- no secret leaks
def test_keys_passwords_and_tokens_never_reach_the_log_or_an_answer(database_url: str,
                                                                    tmp_path: Path):
    engine = make_engine(database_url)
    upgrade_database(engine)
    admin, _ = create_api_key(engine, Role.ADMIN, name="log test admin")
    revoked, revoked_info = create_api_key(engine, Role.MARKETPLACE, name="log test old")
    revoke_api_key(engine, revoked_info.id)
    create_user(engine, "olga", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    engine.dispose()
    made_up = "smc_k_0123456789_" + "ab" * 32
    server = ServerProcess(tmp_path, database_url, log_level="debug")
    answers: list[tuple[str, httpx.Response]] = []
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            def call(label: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
                answer = client.request(method, path, **kwargs)
                answers.append((label, answer))
                return answer

            bearer = {"Authorization": f"Bearer {admin}"}
            assert call("key", "GET", "/v1/lines/L-1", headers=bearer).status_code == 404
            assert call("revoked", "GET", "/v1/lines/L-1", headers={
                "Authorization": f"Bearer {revoked}"}).status_code == 401
            assert call("made-up", "GET", "/v1/lines/L-1", headers={
                "Authorization": f"Bearer {made_up}"}).status_code == 401
            assert call("basic", "GET", "/v1/lines/L-1", headers={
                "Authorization": f"Basic {admin}"}).status_code == 401
            assert call("query", "GET", f"/v1/lines/L-1?api_key={admin}").status_code == 401
            # A client that puts a secret where data goes gets it not echoed back.
            call("key-in-body", "POST", "/v1/lines/L-1/draws", headers={
                **bearer, "Idempotency-Key": "log-1"}, json={
                "amount": admin, "supplier_id": admin, "plan": {"method": admin}})
            call("password-in-body", "POST", "/v1/decisions", headers={
                **bearer, "Idempotency-Key": "log-2"}, json={"seller_id": PASSWORD})
            call("malformed", "POST", "/v1/lines/L-1/draws", headers={
                **bearer, "Idempotency-Key": "log-3", "Content-Type": "application/json"},
                content=b'{"amount": ')
            call("docs", "GET", "/openapi.json", headers=bearer)
            call("metrics", "GET", "/metrics", headers=bearer)

            page, wrong = _login(client, "olga", WRONG_PASSWORD)
            answers += [("login page", page), ("wrong login", wrong)]
            assert wrong.status_code == 401
            _, unknown = _login(client, PASSWORD, PASSWORD)  # a password typed as the name
            answers.append(("password as name", unknown))
            login_page, logged_in = _login(client, "olga", PASSWORD)
            answers += [("login page", login_page), ("login", logged_in)]
            assert logged_in.status_code == 303, logged_in.text
            session = logged_in.cookies["sme_session"]
            queue = call("page", "GET", "/officer/")
            csrf = CSRF_IN_FORM.search(queue.text)
            assert csrf, queue.text[:300]
            call("api with cookie", "GET", "/v1/decisions")
            call("logout", "POST", "/officer/logout", data={"csrf_token": csrf.group(1)},
                 follow_redirects=False)
            client.cookies.set("sme_session", session)
            replay = call("replay", "GET", "/officer/", follow_redirects=False)
            assert replay.status_code == 303
    finally:
        server.stop()
    log = server.log.read_text(errors="replace")
    # The service really logged at debug: every SQL statement with its parameters.
    assert "api_key" in log and "user_session" in log and "login_attempt" in log, log[-3000:]

    always_secret = {"admin key": admin, "admin secret": admin.rsplit("_", 1)[1],
                     "revoked key": revoked, "password": PASSWORD,
                     "wrong password": WRONG_PASSWORD, "made-up key": made_up}
    login_csrf = {match for _, answer in answers
                  for match in CSRF_IN_FORM.findall(answer.text)
                  if answer.request.url.path == "/officer/login"}
    tokens = {"session token": session, "csrf token": csrf.group(1),
              **{f"login csrf {n}": value for n, value in enumerate(sorted(login_csrf))}}
    for name, secret in {**always_secret, **tokens}.items():
        assert secret not in log, f"the {name} is in the server log"
    for label, answer in answers:
        headers = "\n".join(f"{k}: {v}" for k, v in answer.headers.multi_items())
        for name, secret in always_secret.items():
            assert secret not in answer.text, f"the {name} is in the {label} answer"
            assert secret not in headers, f"the {name} is in the {label} headers"
        issued_cookie = label == "login"
        if not issued_cookie:
            assert session not in headers, f"the session token is in the {label} headers"
        assert session not in answer.text, f"the session token is in the {label} body"
        if not answer.request.url.path.startswith("/officer/") or label == "replay":
            assert csrf.group(1) not in answer.text, f"the CSRF token is in {label}"
        assert "server" not in answer.headers, f"{label} names the server software"


# ------------------------------------------------------------------------- login limit
@pytest.fixture
def officer(module_stack: Stack) -> str:
    """A fresh officer account (unique per test) with PASSWORD."""
    return new_officer(module_stack.engine)


def test_failed_logins_for_one_name_lock_it_even_for_the_right_password(
        module_stack: Stack, officer: str):
    with TestClient(module_stack.app, client=("198.51.100.1", 5000)) as client:
        for _ in range(5):
            assert _login(client, officer, WRONG_PASSWORD)[1].status_code == 401
        _, locked = _login(client, officer, PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "Too many failed logins" in locked.text
    assert "sme_session" not in locked.headers.get("set-cookie", "")


def test_failed_logins_from_one_address_lock_every_name_from_it(module_stack: Stack,
                                                                 officer: str):
    # The address is the TCP peer (uvicorn's, behind a trusted proxy X-Forwarded-For).
    with TestClient(module_stack.app, client=("203.0.113.7", 5000)) as client:
        for n in range(5):
            assert _login(client, f"nobody{n}", WRONG_PASSWORD)[1].status_code == 401
        _, locked = _login(client, officer, PASSWORD)
    assert locked.status_code == 429
    with TestClient(module_stack.app, client=("203.0.113.8", 5000)) as elsewhere:
        assert _login(elsewhere, officer, PASSWORD)[1].status_code == 303


# -------------------------------------------------------------------------- sessions
def test_a_session_cookie_is_useless_after_logout(module_stack: Stack, officer: str):
    with TestClient(module_stack.app, client=("198.51.100.2", 5000)) as client:
        _, answer = _login(client, officer, PASSWORD)
        assert answer.status_code == 303
        cookie = client.cookies["sme_session"]
        page = client.get("/officer/")
        assert page.status_code == 200
        csrf = CSRF_IN_FORM.search(page.text)
        assert csrf
        api_before = client.get("/v1/decisions")
        assert api_before.status_code == 200  # a live session may read through the API
        client.post("/officer/logout", data={"csrf_token": csrf.group(1)},
                    follow_redirects=False)
    decision = module_stack.decision_ids[0]
    with TestClient(module_stack.app, cookies={"sme_session": cookie}) as replay:
        before = counts(module_stack.engine)
        page = replay.get("/officer/", follow_redirects=False)
        case = replay.get(f"/officer/cases/{decision}", follow_redirects=False)
        api = replay.get("/v1/decisions")
        action = replay.post(f"/officer/cases/{decision}/actions", data={
            "action": "decline", "reason": "replayed", "csrf_token": csrf.group(1)},
            follow_redirects=False)
        api_action = replay.post(f"/v1/decisions/{decision}/actions",
                                 json={"action": "decline", "reason": "replayed"},
                                 headers={"X-CSRF-Token": csrf.group(1)})
        assert counts(module_stack.engine) == before
    for answer in (page, case, action):
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/officer/login")
    assert api.status_code == api_action.status_code == 401


# ----------------------------------------------------------------------- audit trail
def _route_methods(app: Any) -> list[tuple[str, set[str]]]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI
        return [(getattr(r, "path", ""), set(getattr(r, "methods", None) or ()))
                for r in app.routes]
    return [(context.path or getattr(context.original_route, "path", ""),
             set(context.methods or ())) for context in iter_route_contexts(app.routes)]


def test_no_route_edits_or_deletes_anything(module_stack: Stack):
    routes = _route_methods(module_stack.app)
    assert any("/decisions/{decision_id}/actions" in path for path, _ in routes)
    editing = [(path, methods & {"PUT", "PATCH", "DELETE"}) for path, methods in routes
               if methods & {"PUT", "PATCH", "DELETE"}]
    assert editing == []
    for path, methods in routes:
        if "decision" in path or "action" in path or "cases" in path:
            assert methods <= {"GET", "HEAD", "POST"}, (path, methods)


def test_editing_or_deleting_a_decision_over_http_is_405_and_changes_nothing(
        module_stack: Stack):
    stack = module_stack
    decision = stack.decision_ids[0]
    before = counts(stack.engine)
    answers = [stack.client.request(method, path, headers=stack.headers(key="audit-1"),
                                    json={"status": "approved", "limit": "99999.00"})
               for method in ("PUT", "PATCH", "DELETE")
               for path in (f"/v1/decisions/{decision}", f"/v1/decisions/{decision}/actions",
                            f"/v1/decisions/{decision}/actions/1", "/v1/decisions",
                            f"/officer/cases/{decision}/actions")]
    assert counts(stack.engine) == before
    for answer in answers:
        assert answer.status_code in (404, 405), answer.text
        assert set(answer.json()) == {"code", "message", "details"}


def _an_officer_action(stack: Stack) -> None:
    """Make sure an officer action exists (decline the referred case, or note one)."""
    with stack.engine.connect() as connection:
        if connection.execute(sa.text("select count(*) from officer_action")).scalar_one():
            return
    page = stack.client.get("/v1/decisions?status=referred", headers=stack.headers()).json()
    if not page["items"]:
        pytest.skip("the small market gave no referred case to act on")
    answer = stack.client.post(f"/v1/decisions/{page['items'][0]['decision_id']}/actions",
                               json={"action": "decline", "reason": "audit test"},
                               headers=stack.headers())
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("statement", [
    "update officer_action set reason = 'rewritten'",
    "delete from officer_action",
    "delete from credit_decision",
    f"update credit_decision set {AUDIT_COLUMNS[AUDIT_COLUMNS.index('grade')]} = 'A'",
    "update credit_decision set pd = 0",
    "update credit_decision set features = '{}'",
    "update line_event set line_id = line_id",
    "delete from line_event",
    "delete from journal_entry",
    "update journal_posting set amount_minor = 0",
])
def test_the_database_refuses_to_rewrite_the_audit_trail(module_stack: Stack,
                                                         statement: str):
    _an_officer_action(module_stack)
    before = counts(module_stack.engine)
    with pytest.raises(sa.exc.DatabaseError) as refused, \
            module_stack.engine.begin() as connection:
        connection.execute(sa.text(statement))
    assert re.search(r"refused|append-only|not allowed", str(refused.value), re.I), refused
    assert counts(module_stack.engine) == before


# ------------------------------------------------------------------- security headers
def test_api_answers_carry_the_security_headers(module_stack: Stack):
    stack = module_stack
    client = stack.client
    answers = {
        "200": client.get(f"/v1/lines/{stack.line_ids[0]}", headers=stack.headers()),
        "401": client.get(f"/v1/lines/{stack.line_ids[0]}"),
        "404": client.get("/v1/lines/L-none", headers=stack.headers()),
        "405": client.delete(f"/v1/lines/{stack.line_ids[0]}", headers=stack.headers()),
        "413": client.post("/v1/orders", content=b"[" * (3 << 20),
                           headers={**stack.headers(), "Content-Type": "application/json"}),
        "422": client.post("/v1/decisions", json={}, headers=stack.headers(key="h-1")),
        "health": client.get("/healthz"),
        "openapi": client.get("/openapi.json", headers=stack.headers()),
    }
    for label, answer in answers.items():
        for name, value in BASE_HEADERS.items():
            assert answer.headers.get(name) == value, (label, dict(answer.headers))
        assert answer.headers.get("cache-control") == "no-store", label
        assert "default-src 'none'" in answer.headers["content-security-policy"], label
        assert answer.headers.get("referrer-policy") == "no-referrer", label


def test_officer_pages_carry_the_security_headers(module_stack: Stack, officer: str):
    with TestClient(module_stack.app, client=("198.51.100.3", 5000)) as client:
        login_page, logged_in = _login(client, officer, PASSWORD)
        answers = {"login page": login_page, "login": logged_in,
                   "queue": client.get("/officer/"),
                   "case": client.get(f"/officer/cases/{module_stack.decision_ids[0]}"),
                   "missing case": client.get("/officer/cases/DEC-none"),
                   "stylesheet": client.get("/officer/static/officer.css")}
    with TestClient(module_stack.app) as stranger:
        answers["redirect"] = stranger.get("/officer/", follow_redirects=False)
    for label, answer in answers.items():
        assert answer.status_code < 500, label
        for name, value in BASE_HEADERS.items():
            assert answer.headers.get(name) == value, (label, dict(answer.headers))
        assert answer.headers.get("cache-control") == "no-store", label
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src" not in policy, label
        assert answer.headers.get("referrer-policy") in ("no-referrer", "same-origin"), label


def test_production_answers_tell_browsers_to_use_https_only(tmp_path: Path,
                                                           small_market: Any):
    from api.app import create_app
    from settings import Settings

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'p.db'}",
                        environment="production", model_poll_seconds=0)
    with TestClient(create_app(settings, scorer=small_market.scorer)) as client:
        answers = [client.get("/healthz"), client.get("/officer/login"),
                   client.get("/v1/decisions")]
    for answer in answers:
        assert "max-age=" in answer.headers["strict-transport-security"]


# ----------------------------------------------------------- cross-site and redirects
def test_a_live_session_cannot_act_through_the_api_without_its_csrf_header(
        module_stack: Stack, officer: str):
    # Another site can make a browser send the cookie, not the header.
    stack = module_stack
    decision = stack.decision_ids[0]
    with TestClient(stack.app, client=("198.51.100.4", 5000)) as browser:
        assert _login(browser, officer, PASSWORD)[1].status_code == 303
        before = counts(stack.engine)
        answers = [browser.post(f"/v1/decisions/{decision}/actions",
                                json={"action": "decline", "reason": "cross-site"},
                                headers=headers)
                   for headers in ({}, {"X-CSRF-Token": "0" * 64},
                                   {"Origin": "https://evil.example"})]
        assert counts(stack.engine) == before
    assert [answer.status_code for answer in answers] == [401, 401, 401]


def test_a_session_chosen_by_someone_else_is_never_adopted(module_stack: Stack,
                                                           officer: str):
    planted = "attacker-chosen-session-value-0123456789abcdef"
    with TestClient(module_stack.app, client=("198.51.100.5", 5000),
                    cookies={"sme_session": planted}) as browser:
        _, answer = _login(browser, officer, PASSWORD)
        assert answer.status_code == 303
        issued = answer.cookies["sme_session"]
    assert issued != planted and len(issued) >= 40
    with TestClient(module_stack.app, cookies={"sme_session": planted}) as attacker:
        assert attacker.get("/officer/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/officer/", "https://evil.example/",
                                    "/officer/../../evil", "/\\evil.example",
                                    "/officer/%0d%0aSet-Cookie:x=1", "javascript:alert(1)"])
def test_the_login_never_redirects_off_the_officer_pages(module_stack: Stack, officer: str,
                                                         target: str):
    with TestClient(module_stack.app, client=("198.51.100.6", 5000)) as browser:
        page = browser.get("/officer/login", params={"next": target})
        token = CSRF_IN_FORM.search(page.text)
        assert token
        answer = browser.post("/officer/login", data={
            "username": officer, "password": PASSWORD, "csrf_token": token.group(1),
            "next": target}, follow_redirects=False)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/officer/") and "//" not in location, location
    assert "evil" not in location and "\r" not in location and "\n" not in location


def test_answers_name_no_foreign_host_and_allow_no_cross_origin_reads(module_stack: Stack):
    stack = module_stack
    hostile = {"Host": "evil.example", "Origin": "https://evil.example",
               "X-Forwarded-Host": "evil.example"}
    answers = [stack.client.get("/officer/", headers=hostile, follow_redirects=False),
               stack.client.get("/v1/decisions", headers={**hostile, **stack.headers()}),
               stack.client.options("/v1/decisions", headers={
                   **hostile, "Access-Control-Request-Method": "POST"})]
    for answer in answers:
        assert "access-control-allow-origin" not in answer.headers
        assert "evil.example" not in answer.headers.get("location", "")


def test_a_method_override_header_does_not_turn_a_post_into_a_delete(module_stack: Stack):
    stack = module_stack
    decision = stack.decision_ids[0]
    before = counts(stack.engine)
    answer = stack.client.post(f"/v1/decisions/{decision}", headers={
        **stack.headers(key="override-1"), "X-HTTP-Method-Override": "DELETE",
        "X-Method-Override": "DELETE"})
    assert answer.status_code == 405
    assert counts(stack.engine) == before


# ------------------------------------------------------------------- internal failures
def test_an_internal_failure_answers_a_bare_500_that_shows_no_internals(
        tmp_path: Path, small_market: Any, caplog: pytest.LogCaptureFixture):
    from api.app import create_app
    from settings import Settings

    database = tmp_path / "broken.db"
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{database}",
                        model_poll_seconds=0)
    app = create_app(settings, scorer=small_market.scorer)
    with TestClient(app, raise_server_exceptions=False) as client:
        key, _ = create_api_key(app.state.engine, Role.ADMIN, name="broken")
        with app.state.engine.begin() as connection:  # a fault no request can cause
            connection.execute(sa.text("alter table credit_line rename to credit_line_gone"))
        with caplog.at_level("ERROR", logger="sme_credit.api"):
            answer = client.get("/v1/lines/L-1", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 500
    assert answer.json() == {"code": "internal_error", "message": "the service failed to "
                             "answer; the error is logged", "details": None}
    for internal in ("credit_line", "select", "sqlite", str(tmp_path), "Traceback", key):
        assert internal.lower() not in answer.text.lower()
        assert internal.lower() not in str(answer.headers).lower()
    assert BASE_HEADERS.items() <= dict(answer.headers).items()
    assert any("unhandled error" in record.getMessage() for record in caplog.records)
    assert key not in caplog.text


@pytest.mark.parametrize("trusted", [False, True], ids=["no-proxy-trusted", "proxy-trusted"])
def test_a_client_chooses_its_address_only_through_a_trusted_proxy(tmp_path: Path,
                                                                   trusted: bool):
    """By default the login limit counts the TCP peer, whatever X-Forwarded-For says; the
    header is believed only from the proxies in SME_CREDIT_FORWARDED_ALLOW_IPS."""
    url = f"sqlite:///{tmp_path / 'sme_credit.db'}"
    engine = make_engine(url)
    upgrade_database(engine)
    officer = new_officer(engine)
    engine.dispose()
    proxies = {"SME_CREDIT_FORWARDED_ALLOW_IPS": "127.0.0.1"} if trusted else {}
    server = ServerProcess(tmp_path, url, extra_env={"FORWARDED_ALLOW_IPS": "*", **proxies})
    server.start()
    try:
        for n in range(5):  # each failure claims another address
            with httpx.Client(base_url=server.url, timeout=30, headers={
                    "X-Forwarded-For": f"198.51.100.{n}"}) as client:
                assert _login(client, f"nobody{n}", WRONG_PASSWORD)[1].status_code == 401
        with httpx.Client(base_url=server.url, timeout=30, headers={
                "X-Forwarded-For": "198.51.100.99"}) as client:
            answer = _login(client, officer, PASSWORD)[1]
    finally:
        server.stop()
    # Untrusted: all five failures came from 127.0.0.1, which is now locked.
    assert answer.status_code == (303 if trusted else 429), answer.text[:300]
