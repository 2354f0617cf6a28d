"""One error body for every client error, and the one place domain errors become HTTP.

Every 4xx (and the rare 5xx) answers ``{"code": ..., "message": ..., "details": ...}``:
``code`` is a stable machine-readable snake-case name, ``message`` a sentence for people,
``details`` structured data or ``null`` (for validation errors, one entry per problem
with the field path).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lending import errors as lending_errors
from lending.errors import LendingError
from lending.persistence import errors as persistence_errors

__all__ = ["ApiError", "ErrorBody", "BodySizeLimit", "SecurityHeaders", "install_error_handlers",
           "domain_status", "error_code"]

log = logging.getLogger("sme_credit.api")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    code: str
    message: str
    details: Any = None


class ApiError(Exception):
    """A client error raised in the API layer, rendered as :class:`ErrorBody`.

    Parameters
    ----------
    status : HTTP status (4xx; 503 for a service that is not ready).
    code : stable snake-case name, e.g. ``unknown_seller``.
    message : a sentence naming what was wrong.
    details : optional structured data (JSON-serialisable).
    """

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


# Domain errors by class: HTTP status. Anything else derived from LendingError is a 422
# (the request asked for something the rules refuse as invalid).
_DOMAIN_STATUS: dict[type[LendingError], int] = {
    persistence_errors.UnknownLine: 404,
    lending_errors.UnknownDraw: 404,
    lending_errors.UnknownPayment: 404,
    lending_errors.CreditLimitExceeded: 409,
    lending_errors.LineFrozen: 409,
    lending_errors.LineClosed: 409,
    lending_errors.BackdatedOperation: 409,
    lending_errors.DuplicateOperation: 409,
    lending_errors.PaymentAlreadyReversed: 409,
    lending_errors.NothingToPrepay: 409,
    persistence_errors.LineAlreadyExists: 409,
    persistence_errors.IdempotencyKeyReused: 409,
    persistence_errors.DecisionNotApproved: 409,
    persistence_errors.ConcurrentUpdate: 409,
}


def domain_status(error: LendingError) -> int:
    """The HTTP status of a domain error (most specific class wins)."""
    for cls in type(error).__mro__:
        if cls in _DOMAIN_STATUS:
            return _DOMAIN_STATUS[cls]
    return 422


def error_code(error: BaseException) -> str:
    """``CreditLimitExceeded`` -> ``credit_limit_exceeded``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def _answer(status: int, code: str, message: str, details: Any = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": details},
                        status_code=status, headers=headers)


_STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden",
                 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
                 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
                 429: "too_many_requests", 503: "unavailable"}


#: FastAPI's HTTPException detail for a request body it could not decode.
_UNPARSABLE_BODY = "There was an error parsing the body"


def _path(location: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in location)


def _json_safe(value: Any) -> Any:
    """Validation inputs echoed back may hold NaN, bytes or objects: keep them printable."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)[:200]


def _validation_details(error: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for problem in error.errors():
        entry: dict[str, Any] = {"path": _path(problem.get("loc", ())),
                                 "message": str(problem.get("msg", "invalid")),
                                 "type": str(problem.get("type", "invalid"))}
        details.append(entry)
    return details


_KEY_PATH = "header.Idempotency-Key"


def _idempotency_key_problem(details: list[dict[str, Any]]) -> JSONResponse | None:
    """The Idempotency-Key header's own codes when it is the request's only problem."""
    if not details or any(entry["path"] != _KEY_PATH for entry in details):
        return None
    if any(entry["type"] == "missing" for entry in details):
        return _answer(422, "idempotency_key_required", "this request needs an "
                       "Idempotency-Key header (any unique string, reused only to retry)",
                       [{"path": _KEY_PATH, "message": "missing"}])
    return _answer(422, "invalid_idempotency_key", "the Idempotency-Key must be 1 to 200 "
                   "printable ASCII characters with at least one that is not a space",
                   [{"path": _KEY_PATH, "message": "invalid"}])


def install_error_handlers(app: FastAPI) -> None:
    """Render every error raised in ``app`` with :class:`ErrorBody`."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return _answer(error.status, error.code, error.message, _json_safe(error.details),
                       headers)

    @app.exception_handler(LendingError)
    async def _domain_error(_request: Request, error: LendingError) -> JSONResponse:
        return _answer(domain_status(error), error_code(error), str(error))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = _validation_details(error)
        key_problem = _idempotency_key_problem(details)
        if key_problem is not None:
            return key_problem
        first = details[0] if details else {"path": "", "message": "invalid request"}
        message = (f"{first['path']}: {first['message']}" if first["path"]
                   else str(first["message"]))
        if len(details) > 1:
            message += f" (and {len(details) - 1} more problem(s))"
        return _answer(422, "invalid_request", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == _UNPARSABLE_BODY:
            # FastAPI's answer to a body it cannot decode (bytes that are not UTF-8, for
            # instance); JSON that does not parse is already a 422: keep them alike.
            return _answer(422, "invalid_request", "body: the body is not valid JSON in "
                           "UTF-8", [{"path": "body", "message": "not valid JSON in UTF-8",
                                      "type": "json_invalid"}])
        code = _STATUS_CODES.get(error.status_code, f"http_{error.status_code}")
        message = str(error.detail) if error.detail else code.replace("_", " ")
        return _answer(error.status_code, code, message, None,
                       dict(error.headers) if error.headers else None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # A bug, not a client error: logged with its trace, never shown to the caller.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _answer(500, "internal_error", "the service failed to answer; the error is "
                       "logged", None)


class BodySizeLimit:
    """Refuse request bodies above ``max_bytes`` with 413 before any route reads them.

    A declared ``Content-Length`` above the limit is refused at once; a chunked body is
    counted as it streams and cut off when it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"]
                         if name == b"content-length"), None)
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                too_large = False
            if too_large:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        limit = self.max_bytes

        class _TooLarge(Exception):
            pass

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _answer(413, "body_too_large",
                           f"the request body is larger than {self.max_bytes} bytes",
                           {"max_bytes": self.max_bytes})
        await response(scope, receive, send)


class SecurityHeaders:
    """Headers every answer carries unless its route set its own (the officer pages set a
    stricter policy for HTML).

    ``nosniff``, no framing, no referrer, and ``Cache-Control: no-store`` on the API
    (credit data must not sit in shared caches); the API's JSON gets a
    Content-Security-Policy that allows nothing. The interactive docs (``/docs``,
    ``/redoc``) are left without a policy so their page can load its assets. With
    ``hsts`` (production, behind TLS) browsers are told to use HTTPS only.
    """

    _DOCS = ("/docs", "/redoc")

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        base = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                (b"referrer-policy", b"no-referrer"),
                (b"cross-origin-opener-policy", b"same-origin")]
        if hsts:
            base.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self._base = base
        self._api = [(b"cache-control", b"no-store"),
                     (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        extra = [] if path.startswith(self._DOCS) else self._api
        wanted = self._base + extra

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in wanted if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
