"""The interactive API docs in headless Chromium, with no network beyond the service.

An officer logs in on the login page, then opens Swagger UI (``/docs``) and ReDoc
(``/redoc``). Every request to a host other than the service is blocked and recorded: the
viewers must draw the API from the service's own files (no CDN), with no console
message (a Content-Security-Policy violation is one), page error or failed request.
The app, its uvicorn thread and the skip when chromium is missing are those of every
browser test (:mod:`tests.api.web.browser`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from access.principal import Role
from tests.api.web.browser import BrowserLog, Served, chromium_page, log_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

_LOOPBACK = "127.0.0.1"


@dataclass
class Browsing:
    """A logged-in page, what the browser reported, and every URL of another host it
    tried to fetch (all blocked)."""

    page: Page
    log: BrowserLog = field(default_factory=BrowserLog)
    foreign: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        self.page.wait_for_load_state("networkidle")
        assert self.foreign == []
        assert self.log.problems() == []


def _operation_count(served: Served) -> int:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    document = served.app.openapi()
    return sum(1 for item in document["paths"].values() for method in item
               if method in methods)


@pytest.fixture
def officer(served: Served) -> Iterator[Browsing]:
    """Chromium, logged in as an officer through the login page, cut off from every
    host but the service."""
    from playwright.sync_api import Route, expect

    log = BrowserLog()
    foreign: list[str] = []

    def only_the_service(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname != _LOOPBACK:
            foreign.append(route.request.url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    with chromium_page(log, timeout_ms=20_000, route=only_the_service) as page:
        page.goto(f"{served.base_url}/officer/login")
        log_in(page, Role.OFFICER)
        expect(page.get_by_role("heading", name="Referred cases")).to_be_visible()
        page.wait_for_load_state("networkidle")  # its icon too, before leaving
        yield Browsing(page, log, foreign)


def test_swagger_ui_shows_every_operation_from_the_services_own_files(
        served: Served, officer: Browsing) -> None:
    from playwright.sync_api import expect

    page = officer.page
    answer = page.goto(f"{served.base_url}/docs")
    assert answer is not None and answer.status == 200

    operations = page.locator("#swagger-ui .opblock")
    expect(operations.first).to_be_visible()
    expect(operations).to_have_count(_operation_count(served))
    expect(page.locator("#swagger-ui .info .title")).to_contain_text(served.app.title)
    officer.assert_clean()


def test_redoc_shows_the_api_from_the_services_own_files(
        served: Served, officer: Browsing) -> None:
    from playwright.sync_api import expect

    page = officer.page
    answer = page.goto(f"{served.base_url}/redoc")
    assert answer is not None and answer.status == 200

    expect(page.locator("h1").first).to_contain_text(served.app.title)
    # An operation of the API, in the page body and in the side menu (search included).
    summary = served.app.openapi()["paths"]["/v1/decisions"]["post"]["summary"]
    expect(page.get_by_role("heading", name=summary).first).to_be_visible()
    expect(page.get_by_role("menuitem").first).to_be_visible()
    expect(page.get_by_placeholder("Search...")).to_be_visible()
    officer.assert_clean()
