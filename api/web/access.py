"""Who may see the officer pages, and the CSRF checks of their forms.

Pages authenticate like the API (:func:`api.security.authenticate_request`: the session
cookie of a person, or an API key), and need the ``cases:review`` permission (roles
``officer`` and ``admin``). Instead of the API's JSON 401/403, a visitor without a
session is sent to the login page and a wrong role gets a readable 403 page; the
exception handlers that do this are installed by :func:`api.web.mount`.

Every form that changes something carries the session's CSRF token
(:func:`api.security.verify_csrf`). The login form has no session yet, so it carries a
random token that must match a short-lived cookie (double submit): another site cannot
log a browser into an account of its choosing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from starlette.responses import Response

from access.permissions import is_allowed
from access.principal import Principal
from access.security import UserSession, verify_csrf
from api.security import authenticate_request, session_cookie_settings, session_from_request
from settings import Settings

__all__ = ["PERMISSION", "LoginRequired", "PageForbidden", "Officer", "OfficerDep", "PageAccess",
           "current_officer", "safe_next_path", "login_redirect_target", "LOGIN_CSRF_COOKIE",
           "new_login_csrf",
           "set_login_csrf_cookie", "clear_login_csrf_cookie", "login_csrf_matches",
           "form_csrf_matches"]

#: The permission every officer page needs.
PERMISSION = "cases:review"
#: Cookie of the login form's CSRF token (scoped to the login path).
LOGIN_CSRF_COOKIE = "sme_login_csrf"
_LOGIN_PATH = "/officer/login"


class LoginRequired(Exception):
    """No valid session: the visitor is sent to the login page, then back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__("login required")
        self.next_path = next_path


class PageForbidden(Exception):
    """Logged in, but the role may not use the officer pages.

    Subclasses for other pages name what the role may not do and the role to ask for,
    which the readable 403 page says.
    """

    may_not = "review credit cases"
    role_to_ask_for = "officer"

    def __init__(self, principal: Principal) -> None:
        super().__init__(f"role {principal.role.value!r} may not review cases")
        self.principal = principal


@dataclass(frozen=True)
class Officer:
    """The person (or key) viewing a page, and the session behind it if any."""

    principal: Principal
    session: UserSession | None

    @property
    def csrf_token(self) -> str | None:
        """The token the page's forms carry (``None`` without a session: no forms)."""
        return self.session.csrf_token if self.session is not None else None


class PageAccess:
    """The dependency of a family of pages: logged in with ``permission``; ``permission``
    is read by the role test.

    A visitor without a session is sent to the login page and back (to ``home`` after a
    form post); a role without the permission gets ``forbidden`` (a readable 403 page).
    """

    __name__ = "page_access"

    def __init__(self, permission: str, home: str,
                 forbidden: type[PageForbidden] = PageForbidden) -> None:
        self.permission = permission
        self.home = home
        self.forbidden = forbidden

    def __call__(self, request: Request) -> Officer:
        principal = authenticate_request(request)
        if principal is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target if request.method == "GET" else self.home)
        if not is_allowed(self.permission, principal.role):
            raise self.forbidden(principal)
        session = session_from_request(request) if principal.kind == "user" else None
        request.state.principal = principal
        return Officer(principal, session)


#: ``officer: OfficerDep`` in a page route: logged in with ``cases:review``.
OfficerDep = Annotated[Officer, Depends(PageAccess(PERMISSION, "/officer/"))]


def current_officer(request: Request) -> Principal | None:
    """The caller if they may use the officer pages, else ``None`` (never raises)."""
    principal = authenticate_request(request)
    if principal is None or not is_allowed(PERMISSION, principal.role):
        return None
    return principal


def safe_next_path(candidate: str | None) -> str:
    """Where to go after login: only a path of the officer or risk pages (no open
    redirect)."""
    if (not candidate or len(candidate) > 500
            or not candidate.startswith(("/officer/", "/risk/"))
            or "//" in candidate
            or "\\" in candidate or any(ord(ch) < 0x20 for ch in candidate)):
        return "/officer/"
    # "/officer/../../x" (also spelt %2e%2e) is resolved by the browser to "/x".
    segments = unquote(candidate.split("?", 1)[0]).split("/")
    if any(segment in (".", "..") for segment in segments):
        return "/officer/"
    return candidate


def login_redirect_target(next_path: str) -> str:
    """The login page's address, remembering where the visitor wanted to go."""
    return f"{_LOGIN_PATH}?next={quote(safe_next_path(next_path), safe='/')}"


def new_login_csrf() -> str:
    """A fresh random token for the login form."""
    return secrets.token_urlsafe(32)


def set_login_csrf_cookie(response: Response, settings: Settings, token: str) -> None:
    """Store the login form's token in a cookie only the login path receives."""
    secure = session_cookie_settings(settings).secure
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path=_LOGIN_PATH,
                        secure=secure, httponly=True, samesite="strict")


def clear_login_csrf_cookie(response: Response, settings: Settings) -> None:
    """Drop the login form's cookie once the login succeeded."""
    secure = session_cookie_settings(settings).secure
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=_LOGIN_PATH, secure=secure,
                           httponly=True, samesite="strict")


def login_csrf_matches(request: Request, submitted: str | None) -> bool:
    """Whether the login form's token is the one its cookie holds."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not submitted or len(submitted) > 200:
        return False
    return secrets.compare_digest(expected.encode(), submitted.encode())


def form_csrf_matches(officer: Officer, submitted: str | None) -> bool:
    """Whether a page form's token is the session's (never true without a session)."""
    return officer.session is not None and verify_csrf(officer.session, submitted)
