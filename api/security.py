"""Credentials of an HTTP request: the Bearer key, the session cookie and its CSRF check.

The rules behind them (keys, passwords, sessions, the login limit) are
:mod:`access.security`; this module only reads and writes what HTTP carries.
``docs/security.md`` is the long form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from access.principal import Principal
from access.security import (
    ApiKeyCache,
    SessionTokens,
    UserSession,
    authenticate_api_key,
    key_digest,
    load_session,
    verify_csrf,
)
from settings import Settings

__all__ = ["CookieSettings", "session_cookie_settings", "set_session_cookie",
           "clear_session_cookie", "client_ip", "cached_key_principal",
           "session_from_request", "authenticate_request", "OFFICER_PREFIX", "CSRF_HEADER"]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Where the officer web pages live; their forms carry the CSRF token checked there.
OFFICER_PREFIX = "/officer"
#: The web pages (officer and risk), whose forms carry the CSRF token checked there.
PAGE_PREFIXES: tuple[str, ...] = (OFFICER_PREFIX, "/risk")
#: Header that carries the CSRF token of a cookie-authenticated API call.
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class CookieSettings:
    """How the session cookie is set; :meth:`as_kwargs` suits ``Response.set_cookie``."""

    name: str
    secure: bool
    max_age: int
    httponly: bool = True
    samesite: Literal["lax", "strict"] = "lax"
    path: str = "/"

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`starlette.responses.Response.set_cookie`."""
        return {"key": self.name, "max_age": self.max_age, "path": self.path,
                "secure": self.secure, "httponly": self.httponly,
                "samesite": self.samesite}




def session_cookie_settings(settings: Settings) -> CookieSettings:
    """How the session cookie is set: HttpOnly, SameSite=Lax, Path=/, Secure (with the
    ``__Host-`` name prefix) outside development, where the page is served over HTTPS."""
    secure = settings.environment != "development"
    return CookieSettings(name="__Host-sme_session" if secure else "sme_session",
                          secure=secure, max_age=settings.session_max_hours * 3600)


def set_session_cookie(response: Response, settings: Settings, tokens: SessionTokens) -> None:
    """Put a fresh login's session token into ``response``'s cookie."""
    response.set_cookie(value=tokens.session_token, **session_cookie_settings(settings)
                        .as_kwargs())


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Tell the browser to drop the session cookie (after :func:`logout`)."""
    cookie = session_cookie_settings(settings)
    response.delete_cookie(cookie.name, path=cookie.path, secure=cookie.secure,
                           httponly=cookie.httponly, samesite=cookie.samesite)


# --------------------------------------------------------------------------- requests


def client_ip(request: Request) -> str:
    """The caller's address as the server sees it (uvicorn applies X-Forwarded-For only
    from trusted proxies, see docs/security.md)."""
    return request.client.host if request.client is not None else "unknown"


def _app_cache(request: Request, settings: Settings) -> ApiKeyCache:
    state = request.app.state
    cache: ApiKeyCache | None = getattr(state, "api_key_cache", None)
    if cache is None:
        cache = ApiKeyCache(settings.api_key_cache_seconds)
        state.api_key_cache = cache
    return cache


def cached_key_principal(request: Request) -> Principal | None:
    """The principal of a Bearer key verified within the cache's lifetime, without any
    I/O (``None``: not cached; call :func:`authenticate_request`).

    Lets the permission check run on the event loop for nearly every API request instead
    of a worker thread.
    """
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    presented = credentials.strip()
    if scheme.lower() != "bearer" or not presented or len(presented) > 200:
        return None
    cache: ApiKeyCache | None = getattr(request.app.state, "api_key_cache", None)
    return None if cache is None else cache.get(key_digest(presented))


_NOT_LOOKED_UP = object()


def session_from_request(request: Request) -> UserSession | None:
    """The live session of the request's cookie (looked up once per request)."""
    found = getattr(request.state, "sme_user_session", _NOT_LOOKED_UP)
    if found is not _NOT_LOOKED_UP:
        return found  # type: ignore[return-value]
    settings: Settings = request.app.state.settings
    token = request.cookies.get(session_cookie_settings(settings).name)
    session = (load_session(request.app.state.engine, token, settings=settings)
               if token else None)
    request.state.sme_user_session = session
    return session


def authenticate_request(request: Request) -> Principal | None:
    """Who is calling: an API key (``Authorization: Bearer``) or a person's session cookie.

    Returns ``None`` for no, malformed, unknown, revoked or expired credentials; a
    request that sends an ``Authorization`` header is judged by it alone. A session
    cookie authenticates a state-changing request (POST, PUT, PATCH, DELETE) only on the
    officer pages, whose forms carry the CSRF token checked there, or with a matching
    ``X-CSRF-Token`` header: a cookie alone must not let another site act for an officer.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return None
        settings: Settings = request.app.state.settings
        return authenticate_api_key(request.app.state.engine, credentials.strip(),
                                    cache=_app_cache(request, settings))
    session = session_from_request(request)
    if session is None:
        return None
    if request.method.upper() not in _SAFE_METHODS:
        path = request.url.path
        on_pages = any(path == prefix or path.startswith(prefix + "/")
                       for prefix in PAGE_PREFIXES)
        if not on_pages and not verify_csrf(session, request.headers.get(CSRF_HEADER)):
            return None
    return session.principal
