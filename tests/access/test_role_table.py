"""The whole permission table against every route of the real app.

Each route of ``create_app`` is called with no credentials, and with an API key of each
role: no credentials give 401 with the JSON error body, a role without the route's
permission 403, a role with it neither. Routes are discovered from ``app.routes``, so a
route added later is covered without touching this file; one that declares no permission
(through ``api.deps.require``) and is not on the public list below fails the test.
Requests are syntactically minimal (placeholder path values, an empty JSON object as the
body): authentication and the permission check come before any validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route

from access.permissions import PERMISSIONS, is_allowed
from access.principal import Role
from access.security import create_api_key, create_user, login
from api.app import create_app
from api.deps import PUBLIC_PATHS, required_permission
from api.security import session_cookie_settings
from scoring import Scorer
from settings import Settings
from tests.access.conftest import FAST_HASHER, PASSWORD

#: Routes anyone may call besides the health checks (``api.deps.PUBLIC_PATHS``): the
#: officer login page, which must work without a session.
PUBLIC_PAGES = frozenset({"/officer/login"})
#: Non-API routes that are public on purpose: the OpenAPI document and its viewers, and
#: the officer pages' static files (styles, no data).
PUBLIC_DOCUMENTS: frozenset[str] = frozenset()  # the docs need credentials too
PUBLIC_MOUNTS = frozenset({"/officer/static", "/static"})
#: The web pages (officer and risk): for people, with a session; readable 403 pages.
PAGE_PREFIXES = ("/officer", "/risk")
#: Unsafe methods; a request with one of them carries an empty JSON body.
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    permission: str | None  # None: public

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _permission_of(call: object) -> str | None:
    """The permission a dependency checks: ``api.deps.require``'s, or the ``permission``
    attribute of another checking dependency (the officer pages' access check)."""
    permission = required_permission(call)
    if permission is None:
        declared = getattr(call, "permission", None)
        permission = declared if isinstance(declared, str) else None
    return permission


def _permissions(dependant: Dependant) -> list[str]:
    """Every permission required anywhere in a route's dependency tree."""
    found: list[str] = []
    for dependency in dependant.dependencies:
        permission = _permission_of(dependency.call)
        if permission is not None:
            found.append(permission)
        found.extend(_permissions(dependency))
    return found


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path in PUBLIC_PAGES or path.rstrip("/") in PUBLIC_PAGES


@dataclass(frozen=True)
class _Walked:
    """One route of the app as served: its full path, with its dependency tree."""

    route: BaseRoute  # the route as declared (APIRoute, Mount, Route, ...)
    path: str
    methods: frozenset[str]
    dependant: Dependant | None


def _walk(app: FastAPI) -> Iterator[_Walked]:
    """Every route of the app, included routers flattened (whatever the FastAPI version)."""
    try:  # FastAPI >= 0.16x includes routers lazily: app.routes holds the routers
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies included routes into app.routes
        for route in app.routes:
            yield _Walked(route, getattr(route, "path", ""),
                          frozenset(getattr(route, "methods", None) or ()),
                          getattr(route, "dependant", None))
        return
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        dependant = getattr(context, "dependant", None) if isinstance(route, APIRoute) else None
        yield _Walked(route, context.path or getattr(route, "path", ""),
                      frozenset(context.methods or ()), dependant)


def _endpoints(app: FastAPI) -> tuple[list[Endpoint], list[str]]:
    """Every API route with its permission, and the problems found while walking."""
    endpoints: list[Endpoint] = []
    problems: list[str] = []
    for walked in _walk(app):
        route, path = walked.route, walked.path
        if isinstance(route, APIRoute):
            assert walked.dependant is not None
            permissions = _permissions(walked.dependant)
            for method in sorted(walked.methods - {"HEAD", "OPTIONS"}):
                endpoint = Endpoint(method, path, permissions[0] if permissions else None)
                if _is_public(path):
                    if permissions:
                        problems.append(f"{endpoint}: on the public list but requires "
                                        f"{permissions}")
                    endpoints.append(endpoint)
                elif len(permissions) != 1:
                    problems.append(f"{endpoint}: declares {len(permissions)} permissions "
                                    f"({permissions}); every route but the public ones "
                                    "needs exactly one, through api.deps.require")
                elif permissions[0] not in PERMISSIONS:
                    problems.append(f"{endpoint}: unknown permission {permissions[0]!r}")
                else:
                    endpoints.append(endpoint)
        elif isinstance(route, Mount):
            if path not in PUBLIC_MOUNTS:
                problems.append(f"mount {path}: not an API route and not a known "
                                "public mount; it escapes the permission check")
        elif isinstance(route, Route):
            if path not in PUBLIC_DOCUMENTS:
                problems.append(f"route {path}: not an API route and not a known "
                                "public document; it escapes the permission check")
        else:
            problems.append(f"{route!r}: a route of unknown type escapes the permission check")
    return endpoints, problems


def _concrete(path: str) -> str:
    """The path with a placeholder in each path parameter."""
    return re.sub(r"\{[^}]+\}", "x1", path)


def _is_page(endpoint: Endpoint) -> bool:
    return endpoint.path.startswith(PAGE_PREFIXES)


@dataclass
class Service:
    """The running app and a credential of each role: an API key for the API, a person's
    session (cookie and CSRF token) for the officer pages, which are for people."""

    app: FastAPI
    client: TestClient
    keys: dict[Role, str]

    def call(self, endpoint: Endpoint, role: Role | None, *, key: str | None = None
             ) -> httpx.Response:
        """One syntactically minimal request to ``endpoint`` as ``role`` (None: nobody)."""
        self.client.cookies.clear()
        headers = {"Accept": "application/json", "Idempotency-Key": "role-table-test"}
        csrf = ""
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        elif role is not None and _is_page(endpoint):
            # A fresh session each time: a page may end it (logout).
            tokens = login(self.app.state.engine, f"{role.value}-tester", PASSWORD,
                           client_ip="role-table", hasher=FAST_HASHER)
            name = session_cookie_settings(self.app.state.settings).name
            headers["Cookie"] = f"{name}={tokens.session_token}"
            csrf = tokens.csrf_token
        elif role is not None:
            headers["Authorization"] = f"Bearer {self.keys[role]}"
        path = _concrete(endpoint.path)
        if endpoint.method not in WITH_BODY:
            return self.client.request(endpoint.method, path, headers=headers,
                                       follow_redirects=False)
        if _is_page(endpoint):  # the pages' forms, with the session's CSRF token
            return self.client.request(endpoint.method, path, headers=headers,
                                       data={"csrf_token": csrf}, follow_redirects=False)
        return self.client.request(endpoint.method, path, headers=headers, json={},
                                   follow_redirects=False)


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    """A tiny real model, so the app starts without a model registry."""
    from models import train
    from tests.models.conftest import FAST, make_credit_table

    table = make_credit_table(n=300, seed=3)
    model = train(table.features.drop(columns=["applied_at"]), table.label, config=FAST)
    return Scorer(model, model_name="role-table-pd", model_version="1")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, scorer: Scorer) -> Iterator[Service]:
    data_dir: Path = tmp_path_factory.mktemp("role-table")
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'db.sqlite'}",
                        model_poll_seconds=0)
    app = create_app(settings, scorer=scorer)
    with TestClient(app, raise_server_exceptions=False) as client:
        engine = app.state.engine
        keys = {role: create_api_key(engine, role, name=f"{role.value} test")[0]
                for role in Role}
        for role in Role:
            create_user(engine, f"{role.value}-tester", PASSWORD, role, hasher=FAST_HASHER)
        yield Service(app, client, keys)


def test_every_route_declares_one_known_permission_or_is_public(service: Service) -> None:
    endpoints, problems = _endpoints(service.app)
    assert problems == []
    assert any(endpoint.permission for endpoint in endpoints)  # the walk found routes


def test_each_role_gets_exactly_the_answer_the_permission_table_allows(
        service: Service) -> None:
    endpoints, _ = _endpoints(service.app)
    wrong: list[str] = []
    for endpoint in endpoints:
        anonymous = service.call(endpoint, None)
        if endpoint.permission is None:
            # (A 403 can be a refused CSRF token, as on the login form without one.)
            if anonymous.status_code == 401 or _unauthenticated(endpoint, anonymous):
                wrong.append(f"{endpoint}: public, but {anonymous.status_code} without "
                             "credentials")
            continue
        if not _unauthenticated(endpoint, anonymous):
            wrong.append(f"{endpoint}: {anonymous.status_code} without credentials "
                         f"({anonymous.text[:120]!r}); expected 401 with the error body")
        for role in Role:
            answer = service.call(endpoint, role)
            if is_allowed(endpoint.permission, role):
                if answer.status_code in (401, 403):
                    wrong.append(f"{endpoint} as {role.value}: {answer.status_code}, but the "
                                 f"role holds {endpoint.permission!r}")
            elif not _forbidden(endpoint, answer):
                wrong.append(f"{endpoint} as {role.value}: {answer.status_code}; expected "
                             f"403 forbidden (no {endpoint.permission!r})")
    assert wrong == []


def _forbidden(endpoint: Endpoint, answer) -> bool:
    """403 with the JSON error body ``forbidden``; an officer page answers a readable page."""
    if answer.status_code != 403:
        return False
    if _is_page(endpoint):
        return True
    return answer.json().get("code") == "forbidden"


def _unauthenticated(endpoint: Endpoint, answer) -> bool:
    """401 with the JSON error body; an officer page may send a browser to its login."""
    if answer.status_code == 401:
        body = answer.json()
        return (set(body) == {"code", "message", "details"}
                and body["code"] == "unauthenticated")
    return (_is_page(endpoint) and answer.status_code in (302, 303, 307)
            and "/officer/login" in answer.headers.get("location", ""))


def test_a_made_up_key_gets_401_on_every_api_route_and_is_never_echoed(service: Service) -> None:
    endpoints, _ = _endpoints(service.app)
    made_up = "smc_k_0123456789_" + "0" * 64
    checked = 0
    for endpoint in endpoints:
        if endpoint.permission is not None and not _is_page(endpoint):
            answer = service.call(endpoint, Role.ADMIN, key=made_up)
            assert answer.status_code == 401, str(endpoint)
            assert made_up[-64:] not in answer.text  # never echoed
            checked += 1
    assert checked
