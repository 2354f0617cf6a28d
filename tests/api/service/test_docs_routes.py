"""The interactive docs work offline: Swagger UI and ReDoc load only the service's files.

``/docs`` and ``/redoc`` name only same-origin URLs; their scripts, styles and icon are
the ``fastapi-offline`` package's files, served under ``/docs/assets/`` (a fixed list of
names) to authenticated callers only. The two pages carry a Content-Security-Policy just
wide enough for their viewer (Swagger's inline bootstrap by its hash, never
``'unsafe-inline'`` scripts); every other answer keeps the policy that allows nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

import pytest

from access.principal import Role
from api.routes.docs import ASSET_TYPES, asset_url

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PAGES = ("/docs", "/redoc")
STRICT_POLICY = "default-src 'none'; frame-ancestors 'none'"


def _directives(policy: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        found[name] = values
    return found


def _referenced_urls(html: str) -> list[str]:
    """The src and href attributes of a page, and the spec URL its viewer fetches."""
    return (re.findall(r'(?:src|href)="([^"]*)"', html)
            + re.findall(r"url: '([^']*)'", html)
            + re.findall(r'spec-url="([^"]*)"', html))


def _package_file(name: str) -> bytes:
    return (resources.files("fastapi_offline") / "static" / name).read_bytes()


@pytest.mark.parametrize("path", PAGES)
def test_a_docs_page_names_only_urls_of_the_service_itself(service, path):
    answer = service.client.get(path, headers=service.as_role(Role.MARKETPLACE))

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert re.findall(r"https?://|//[a-z]", answer.text) == []  # no CDN, no other host
    urls = _referenced_urls(answer.text)
    assert "/openapi.json" in urls
    assert any(url.startswith("/docs/assets/") for url in urls)
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        fetched = service.client.get(url, headers=service.as_role(Role.MARKETPLACE))
        assert fetched.status_code == 200, url


def test_each_asset_is_the_packaged_file_with_its_media_type_and_a_long_private_cache(
        service):
    # Pinned here, not read from the code's own table, so a wrong type in it fails.
    expected = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
                "swagger-ui.css": "text/css; charset=utf-8",
                "redoc.standalone.js": "text/javascript; charset=utf-8",
                "favicon.png": "image/png"}
    assert set(ASSET_TYPES) == set(expected)
    for name, media_type in expected.items():
        answer = service.client.get(asset_url(name), headers=service.as_role(Role.RISK))

        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == media_type, name
        assert answer.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
        if name != "redoc.standalone.js":
            assert answer.content == _package_file(name), name


def test_an_asset_url_changes_with_the_content_it_serves(service):
    for name in ASSET_TYPES:
        content = service.client.get(asset_url(name),
                                     headers=service.as_role(Role.ADMIN)).content
        assert asset_url(name).endswith(f"?v={hashlib.sha256(content).hexdigest()[:16]}")


def test_redoc_is_served_without_its_image_from_redoclys_cdn(service):
    answer = service.client.get(asset_url("redoc.standalone.js"),
                                headers=service.as_role(Role.OFFICER))
    packaged = _package_file("redoc.standalone.js")

    assert b"cdn.redoc.ly" in packaged
    assert b"cdn.redoc.ly" not in answer.content
    assert len(packaged) - len(answer.content) == len("https://cdn.redoc.ly/redoc/logo-mini.svg")


def test_an_asset_needs_credentials_like_every_route(service):
    for name in ASSET_TYPES:
        answer = service.client.get(asset_url(name))
        assert answer.status_code == 401, name
        assert answer.json()["code"] == "unauthenticated"
        assert answer.headers["cache-control"] == "no-store"
    for role in Role:
        answer = service.client.get(asset_url("favicon.png"), headers=service.as_role(role))
        assert answer.status_code == 200, role


def test_an_officers_browser_session_gets_the_assets_as_the_page_does(service):
    from access.security import create_user, login
    from api.security import session_cookie_settings
    from tests.access.conftest import FAST_HASHER, PASSWORD

    create_user(service.engine, "olga", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    tokens = login(service.engine, "olga", PASSWORD, client_ip="docs-test",
                   hasher=FAST_HASHER)
    settings = service.client.app.state.settings
    cookie = {"Cookie": f"{session_cookie_settings(settings).name}={tokens.session_token}"}

    for url in ("/docs", "/redoc", asset_url("swagger-ui-bundle.js"), "/openapi.json"):
        assert service.client.get(url, headers=cookie).status_code == 200, url


@pytest.mark.parametrize("name", [
    "core.py", "__init__.py", "FAVICON.PNG", "swagger-ui-bundle.js.map", "...",
    "..%2Fcore.py", "%2E%2E%2F%2E%2E%2Fconsts.py", "static%2Ffavicon.png",
    "..%5Ccore.py", "favicon.png;.py", "favicon.png%20"])
def test_only_the_listed_asset_names_are_served(service, name):
    answer = service.client.get(f"/docs/assets/{name}",
                                headers=service.as_role(Role.ADMIN))

    assert answer.status_code == 404, answer.text[:200]
    assert answer.json()["code"] in ("unknown_asset", "not_found")
    assert b"FastAPIOffline" not in answer.content and b"cdn." not in answer.content


def test_an_asset_name_with_a_nul_is_refused_before_any_route(service):
    answer = service.client.get("/docs/assets/favicon.png%00.py",
                                headers=service.as_role(Role.ADMIN))

    assert answer.status_code == 422
    assert answer.json()["details"][0]["type"] == "nul"


def test_a_path_below_the_assets_is_no_asset(service):
    for path in ("/docs/assets/static/favicon.png", "/docs/assets/../../../etc/passwd",
                 "/docs/assets/", "/docs/assets"):
        answer = service.client.get(path, headers=service.as_role(Role.ADMIN))
        assert answer.status_code == 404, path
        assert answer.headers["content-security-policy"] == STRICT_POLICY


def test_swagger_runs_only_the_services_scripts_and_its_own_inline_bootstrap(service):
    answer = service.client.get("/docs", headers=service.as_role(Role.MARKETPLACE))
    policy = _directives(answer.headers["content-security-policy"])
    inline = re.findall(r"<script>(.*?)</script>", answer.text, re.DOTALL)
    digests = [base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
               for script in inline]

    assert len(inline) == 1 and "SwaggerUIBundle(" in inline[0]
    assert policy["script-src"] == ["'self'", f"'sha256-{digests[0]}'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'none'"]
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-frame-options"] == "DENY"


def test_redoc_runs_only_the_services_script_with_inline_styles_and_a_blob_worker(service):
    answer = service.client.get("/redoc", headers=service.as_role(Role.MARKETPLACE))
    policy = _directives(answer.headers["content-security-policy"])

    assert "<script>" not in answer.text  # nothing inline to allow
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["worker-src"] == ["blob:"]
    assert policy["default-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert answer.headers["cache-control"] == "no-store"


def test_every_other_answer_keeps_the_policy_that_allows_nothing(service):
    key = service.as_role(Role.MARKETPLACE)
    answers = {
        "openapi": service.client.get("/openapi.json", headers=key),
        "docs without credentials": service.client.get("/docs"),
        "redoc without credentials": service.client.get("/redoc"),
        "asset without credentials": service.client.get(asset_url("swagger-ui.css")),
        "unknown asset": service.client.get("/docs/assets/core.py", headers=key),
        "near the docs": service.client.get("/docsx", headers=key),
        "api": service.client.get("/v1/lines/L-none", headers=key),
        "health": service.client.get("/healthz"),
    }
    for label, answer in answers.items():
        assert answer.headers["content-security-policy"] == STRICT_POLICY, label
        assert answer.headers["cache-control"] == "no-store", label
    # The asset itself is no document: the strict policy, and a cache it may keep.
    asset = service.client.get(asset_url("swagger-ui.css"), headers=key)
    assert asset.headers["content-security-policy"] == STRICT_POLICY
