"""Jinja2 environment of the officer pages: autoescaping, formatting filters, headers.

Autoescaping is on for every template (not only ``.html``), and undefined names fail
loudly, so a typo in a template is a test failure instead of an empty cell. Charts
arrive as :class:`markupsafe.Markup` built by :mod:`api.web.charts`, which escapes its
own text; nothing else is ever marked safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from access.principal import Principal

__all__ = ["TEMPLATES_DIR", "STATIC_DIR", "STATIC_FILES", "PAGE_HEADERS", "Message",
           "render_page", "environment"]

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
#: The only files served under ``/officer/static/`` (a fixed list: nothing else in the
#: package can be fetched by guessing a path).
STATIC_FILES: Mapping[str, str] = {"officer.css": "text/css; charset=utf-8",
                                   "favicon.svg": "image/svg+xml"}

#: Sent with every page. The CSP allows only this origin's stylesheet and images and no
#: script at all (the pages need none), so even an escaping bug could not run code; no
#: framing (clickjacking of the action buttons); forms post only to this origin.
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; "
                                "base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages show credit data: never keep them in a shared or back-button cache.
    "Cache-Control": "no-store",
}


class Message:
    """A notice shown at the top of a page (``kind``: ``error`` or ``success``)."""

    __slots__ = ("kind", "text")

    def __init__(self, kind: str, text: str) -> None:
        self.kind = kind
        self.text = text

    def __repr__(self) -> str:
        return f"Message({self.kind!r}, {self.text!r})"


def _money(value: Decimal | float | int | None) -> str:
    """``Decimal("12500")`` -> ``12,500.00`` (amounts are shown with two decimals)."""
    if value is None:
        return "—"
    return f"{Decimal(value):,.2f}"


def _points(value: Decimal | float | None) -> str:
    if value is None:
        return "—"
    return f"{float(value):.0f}"


def _pct(value: Decimal | float | None) -> str:
    """A probability or rate as a percentage with two decimals."""
    if value is None:
        return "—"
    percent = float(value) * 100
    if 0 < percent < 0.005:
        return "< 0.01 %"  # not "0.00 %": a PD is never zero
    return f"{percent:.2f} %"


def _when(moment: datetime | None) -> str:
    """A moment in UTC, to the minute (officers of several offices read one clock)."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _humanize(code: str | None) -> str:
    """``change_limit`` -> ``change limit``."""
    return "" if code is None else str(code).replace("_", " ")


def _static_url(name: str) -> str:
    if name not in STATIC_FILES:
        raise KeyError(f"no static file {name!r}")
    return f"/officer/static/{name}"


def environment() -> jinja2.Environment:
    """The officer pages' Jinja2 environment (autoescape on, strict undefined)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=_money, points=_points, pct=_pct, when=_when,
                       humanize=_humanize)
    env.globals["static_url"] = _static_url
    return env


_ENVIRONMENT = environment()


def render_page(template: str, *, principal: Principal | None, csrf_token: str | None,
                status_code: int = 200, messages: list[Message] | None = None,
                nav: str = "", **context: Any) -> HTMLResponse:
    """Render one page with the shared context and the security headers.

    Parameters
    ----------
    template : file name under ``templates/``.
    principal : the logged-in person (``None`` on the login page).
    csrf_token : the session's CSRF token, put into every form.
    status_code : HTTP status of the answer (a refused action answers 4xx with the page).
    messages : notices shown at the top of the page.
    nav : which navigation entry is current.
    """
    html = _ENVIRONMENT.get_template(template).render(
        principal=principal, csrf_token=csrf_token, messages=messages or [], nav=nav,
        **context)
    return HTMLResponse(html, status_code=status_code, headers=dict(PAGE_HEADERS))
