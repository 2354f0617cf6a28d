"""What the browser tests share: Debian's Chromium driven by Playwright, the real app
served by uvicorn on a loopback port, a log of everything a clean page never causes, and
the login form.

Playwright's own browser downloads are not used: ``scripts/ensure-chromium.sh`` installs
Debian's ``chromium`` (``SME_CREDIT_CHROMIUM`` names another). Without it a browser test
is skipped, and fails under CI.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from fastapi import FastAPI

from access.principal import Role
from access.security import create_user
from api.app import create_app
from settings import Settings
from tests.api.web.conftest import FAST_HASHER, PASSWORD, USERS, Market, Site

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

CHROMIUM = Path(os.environ.get("SME_CREDIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    """Skip the test without Debian's chromium (fail it under CI)."""
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


@contextmanager
def serve(market: Market, tmp_path: Path) -> Iterator[Served]:
    """uvicorn serving the real app (SQLite in ``tmp_path``, the market's model, a user
    of every role) in a background thread."""
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
        def dismissed(dialog: Any) -> None:
            self.dialogs.append(f"dialog: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", dismissed)


@contextmanager
def chromium_page(log: BrowserLog, *, timeout_ms: int = 10_000,
                  route: Callable[[Route], None] | None = None) -> Iterator[Page]:
    """A new page of headless Chromium, watched by ``log`` (every request through
    ``route`` when given); the browser is closed after. Skips without chromium."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            if route is not None:
                context.route("**/*", route)
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            log.watch(page)
            yield page
        finally:
            browser.close()


def log_in(page: Page, role: Role, *, next_path: str | None = None) -> None:
    """Fill and send the login form on ``page`` (which shows it) as the user of ``role``;
    with ``next_path``, first check that the form was reached on the way there."""
    from playwright.sync_api import expect

    if next_path is not None:
        expect(page).to_have_url(re.compile(
            rf"/officer/login\?next={re.escape(next_path)}$"))
    page.get_by_label("User name").fill(USERS[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
