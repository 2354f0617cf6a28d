"""End to end in headless Chromium: an officer reviews a referred case and overrides it.

The real app is served by uvicorn on a free loopback port (SQLite in ``tmp_path``, a
small trained model); Playwright drives Debian's ``chromium`` (installed by
``scripts/ensure-chromium.sh``; Playwright's own browser downloads are not used). Every
console message, page error, failed request and dialog is collected: the pages must
produce none.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from access.principal import Role
from access.security import create_user
from api.app import create_app
from settings import Settings
from tests.api.web.conftest import (
    FAST_HASHER,
    HOSTILE_SELLER,
    PASSWORD,
    USERS,
    Market,
    Site,
    referable_rows,
)

CHROMIUM = Path(os.environ.get("SME_CREDIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = (f"{CHROMIUM} is missing; run scripts/ensure-chromium.sh (Debian's chromium) "
              "to run the browser test")
    if os.environ.get("CI"):
        pytest.fail(f"CI requires the browser test: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    """The app served over HTTP on loopback."""

    app: FastAPI
    base_url: str
    site: Site


@pytest.fixture
def served(market: Market, tmp_path: Path) -> Iterator[Served]:
    """uvicorn serving the real app in a background thread."""
    from fastapi.testclient import TestClient

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'e2e.db'}",
                              model_poll_seconds=0), scorer=market.scorer)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        engine = app.state.engine
        for role, name in USERS.items():
            create_user(engine, name, PASSWORD, role, hasher=FAST_HASHER)
        # The Site helper seeds decisions through the services; its client is unused.
        site = Site(app, TestClient(app), engine, market)
        yield Served(app, f"http://127.0.0.1:{port}", site)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class BrowserLog:
    """Everything the browser reported that a clean page never causes."""

    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [*self.console, *self.page_errors, *self.failed_requests, *self.dialogs]

    def watch(self, page: Any) -> None:
        """Record what ``page`` reports from now on (and dismiss any dialog)."""
        page.on("console", lambda m: self.console.append(f"console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.page_errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.failed_requests.append(
            f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: self.failed_requests.append(
            f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        page.on("dialog", lambda d: (self.dialogs.append(f"dialog: {d.message}"),
                                     d.dismiss()))


def test_an_officer_logs_in_reviews_a_referred_case_and_overrides_its_limit(
        served: Served) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    row = referable_rows(served.site.market, served.app.state.policy)[0]
    seller_id = served.site.load_trade(row)
    case = served.site.decide(seller_id, row=row, days_ago=2)
    assert case.outcome == "refer"
    served.site.referred(HOSTILE_SELLER, days_ago=1)
    log = BrowserLog()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(10_000)
            log.watch(page)

            # Not logged in: the queue sends the officer to the login form.
            page.goto(f"{served.base_url}/officer/")
            expect(page).to_have_url(re.compile(r"/officer/login\?next=/officer/$"))
            page.get_by_label("User name").fill(USERS[Role.OFFICER])
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()

            # The queue lists both referred cases, oldest first; the hostile id is text.
            queue = page.get_by_test_id("queue")
            expect(queue.locator("tbody tr")).to_have_count(2)
            expect(queue.locator("tbody tr").first).to_contain_text(seller_id)
            expect(queue.locator("tbody tr").nth(1)).to_contain_text(HOSTILE_SELLER)
            queue.locator("tbody tr").first.get_by_test_id("open-case").click()

            # The case: score, reasons and the waterfall chart with one bar per family.
            expect(page).to_have_url(re.compile(re.escape(case.decision_id)))
            expect(page.get_by_test_id("seller-id")).to_have_text(seller_id)
            chart = page.locator("svg#chart-waterfall")
            expect(chart).to_be_visible()
            bars = chart.locator("g.step rect.bar")
            assert bars.count() >= 3
            widths = [float(bars.nth(k).get_attribute("width") or "nan")
                      for k in range(bars.count())]
            assert all(width >= 0 for width in widths) and max(widths) > 0
            expect(chart.locator("title")).to_have_text("Score breakdown")
            # What the applicant is told: the policy's rule first, in English and Chinese.
            told = page.get_by_test_id("principal-reason")
            expect(told).to_have_count(len(case.principal_reasons))
            expect(told.first).to_have_attribute("data-source", "policy")
            expect(told.first).to_contain_text(case.principal_reasons[0].text_en)
            expect(told.first.locator('span[lang="zh-Hans"]')).to_have_text(
                case.principal_reasons[0].text_zh)
            expect(told.first.locator('span[lang="zh-Hans"]')).to_be_visible()
            # The trade history charts are drawn too.
            for chart_id in ("chart-gmv", "chart-refunds", "chart-buyers"):
                expect(page.locator(f"svg#{chart_id}")).to_be_visible()
            assert page.locator("svg#chart-gmv rect.bar").count() == 24

            # Override the limit with a written reason.
            form = page.get_by_test_id("limit-form")
            form.get_by_label(re.compile("New limit")).fill("3000.00")
            form.get_by_label("Reason (required)").fill(
                "Repeat buyers for two years; confirmed by phone.")
            form.get_by_role("button", name="Change the limit").click()

            expect(page.locator(".message.success")).to_have_text("The limit is changed.")
            audit = page.get_by_test_id("audit-line")
            expect(audit).to_have_count(1)
            expect(audit).to_contain_text("user:olga")
            expect(audit).to_contain_text("change limit")
            expect(audit.locator("td").nth(3)).to_contain_text(f"{case.limit:,.2f}")
            expect(audit.locator("td").nth(4)).to_contain_text("3,000.00")
            expect(audit).to_contain_text("Repeat buyers for two years; confirmed by phone.")
            expect(page.get_by_test_id("limit")).to_have_text("3,000.00 CNY")
        finally:
            browser.close()
    assert log.problems() == []
