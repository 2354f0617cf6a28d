"""One error body for every client error, and the one place domain errors become HTTP.

Every 4xx (and the rare 5xx) answers ``{"code": ..., "message": ..., "details": ...}``:
``code`` is a stable machine-readable snake-case name, ``message`` a sentence for people,
``details`` structured data or ``null`` (for validation errors, one entry per problem
with the field path).

Validation answers are bounded whatever the request: at most :data:`MAX_DETAILS`
problems are listed, and when more were found one last entry ``{"path": ..., "type":
"truncated", "message": "N more problems not listed", "count": N}`` counts the rest
(its path is what the unlisted problems share, such as ``body.items``); the unknown
fields of one object are one problem (``extra_forbidden``, naming the first and counting
them all), however many were sent.
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

from access import security as auth_errors
from decisions import errors as decision_errors
from decisions.errors import DecisionError
from lending import errors as lending_errors
from lending.errors import LendingError
from lending.persistence import errors as persistence_errors
from lending.products import PlanNotGranted
from records import errors as records_errors
from records.errors import RecordsError
from store.conflicts import ConcurrentUpdate
from store.idempotency import IdempotencyError, IdempotencyKeyReused, InvalidIdempotencyKey

__all__ = ["ApiError", "ErrorBody", "BodySizeLimit", "SecurityHeaders", "HostileInputGuard",
           "install_error_handlers", "domain_status", "error_code"]

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


# Every domain error by class: its HTTP status. The domain packages raise errors that
# know nothing of HTTP, each with a stable ``code`` (or a class name that gives one); this
# table is the one place they become statuses. A class not listed takes the status of its
# nearest listed base; the bases are listed last, as the defaults of their families.
_DOMAIN_STATUS: dict[type[Exception], int] = {
    # lending rules and their persistence
    persistence_errors.UnknownLine: 404,
    lending_errors.UnknownDraw: 404,
    lending_errors.UnknownPayment: 404,
    lending_errors.CreditLimitExceeded: 409,
    lending_errors.LineFrozen: 409,
    lending_errors.LineClosed: 409,
    lending_errors.BackdatedOperation: 409,
    lending_errors.DuplicateOperation: 409,
    lending_errors.PaymentAlreadyReversed: 409,
    lending_errors.PaymentAlreadyRefunded: 409,
    lending_errors.NothingToPrepay: 409,
    lending_errors.NothingToPayOff: 409,
    lending_errors.RefundExceedsCreditBalance: 409,
    lending_errors.InsufficientPayoff: 422,
    persistence_errors.LineAlreadyExists: 409,
    persistence_errors.DecisionNotApproved: 409,
    persistence_errors.NotTheBusinessDate: 422,
    persistence_errors.ValueDateOutsideWindow: 422,
    persistence_errors.DayNotClosable: 409,
    persistence_errors.DayAlreadyClosed: 409,
    persistence_errors.EndOfDayRunning: 409,
    PlanNotGranted: 422,
    # records
    records_errors.UnknownSeller: 404,
    records_errors.SellerNotYetRegistered: 409,
    records_errors.BatchTooLarge: 413,
    # credit decisions
    decision_errors.UnknownDecision: 404,
    decision_errors.InvalidCursor: 422,
    decision_errors.InvalidFilter: 422,
    decision_errors.ModelVersionUnavailable: 409,
    decision_errors.PolicyVersionUnavailable: 409,
    decision_errors.ReasonRequired: 422,
    decision_errors.InvalidReason: 422,
    decision_errors.ReasonTooLong: 422,
    decision_errors.LimitOutOfRange: 422,
    decision_errors.LimitRequired: 422,
    decision_errors.InvalidAction: 422,
    decision_errors.InvalidDecisionRequest: 422,
    decision_errors.DecisionAlreadyDecided: 409,
    decision_errors.DecisionChanged: 409,
    decision_errors.NoProduct: 409,
    # the store
    ConcurrentUpdate: 409,
    IdempotencyKeyReused: 409,
    InvalidIdempotencyKey: 422,
    # access control
    auth_errors.InvalidInput: 422,
    auth_errors.UserExists: 409,
    auth_errors.UnknownUser: 404,
    auth_errors.UnknownApiKey: 404,
    auth_errors.InvalidCredentials: 401,
    auth_errors.LoginThrottled: 429,
    # the family defaults: a request the rules refuse as invalid
    LendingError: 422,
    RecordsError: 422,
    DecisionError: 422,
    IdempotencyError: 422,
    auth_errors.AuthError: 400,
}

#: The bases whose subclasses the table above maps (each gets the one handler).
DOMAIN_ERRORS: tuple[type[Exception], ...] = (LendingError, RecordsError, DecisionError,
                                              IdempotencyError, auth_errors.AuthError,
                                              ConcurrentUpdate)


def domain_status(error: Exception) -> int:
    """The HTTP status of a domain error (the most specific class listed wins)."""
    for cls in type(error).__mro__:
        if cls in _DOMAIN_STATUS:
            return _DOMAIN_STATUS[cls]
    return 422


def error_code(error: BaseException) -> str:
    """The error's stable ``code``; else its class name in snake case
    (``CreditLimitExceeded`` -> ``credit_limit_exceeded``)."""
    code = getattr(type(error), "code", None)
    if isinstance(code, str):
        return code
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


#: Most problems a validation answer lists; the rest are counted in one last entry.
MAX_DETAILS = 100
#: Longest part of a field path shown (a key name is text the client chose).
_PATH_PART = 64


def _path(location: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(text if len(text := str(part)) <= _PATH_PART
                    else text[:_PATH_PART - 3] + "..." for part in location)


def _json_safe(value: Any) -> Any:
    """Validation inputs echoed back may hold NaN, bytes or objects: keep them printable."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)[:200]


def _sent_texts(value: Any, depth: int = 0) -> list[str]:
    """The strings (4 characters or more) in a value sent by a client, longest first."""
    found: list[str] = []
    if isinstance(value, str):
        found = [value] if len(value) >= 4 else []
    elif depth < 3 and isinstance(value, dict):
        found = [text for item in list(value.values())[:50]
                 for text in _sent_texts(item, depth + 1)]
    elif depth < 3 and isinstance(value, (list, tuple)):
        found = [text for item in value[:50] for text in _sent_texts(item, depth + 1)]
    return sorted(found, key=len, reverse=True)


def _common_prefix(left: tuple[Any, ...] | None, right: tuple[Any, ...]) -> tuple[Any, ...]:
    if left is None:
        return right
    size = 0
    for mine, theirs in zip(left, right, strict=False):
        if mine != theirs:
            break
        size += 1
    return left[:size]


def _validation_details(error: RequestValidationError) -> list[dict[str, Any]]:
    """One entry per problem, at most :data:`MAX_DETAILS` of them and then one entry
    counting the rest; the unknown fields of one object are one problem."""
    details: list[dict[str, Any]] = []
    unknown_counts: dict[tuple[Any, ...], int] = {}
    unknown_entries: dict[tuple[Any, ...], dict[str, Any]] = {}
    unlisted = 0
    unlisted_at: tuple[Any, ...] | None = None
    for problem in error.errors():
        location = tuple(problem.get("loc", ()))
        kind = str(problem.get("type", "invalid"))
        if kind == "extra_forbidden":
            # 150,000 unknown keys are one mistake, reported once per object
            parent = location[:-1]
            if parent in unknown_counts:
                unknown_counts[parent] += 1
                continue
            unknown_counts[parent] = 1
        if len(details) >= MAX_DETAILS:
            unlisted += 1
            unlisted_at = _common_prefix(unlisted_at, location)
            continue
        message = str(problem.get("msg", "invalid"))
        # Some messages quote the value sent (a union's tag): never echo what a client put
        # in a field, which may be a secret pasted in the wrong place.
        for sent in _sent_texts(problem.get("input")):
            message = message.replace(sent, "...")
        entry: dict[str, Any] = {"path": _path(location), "message": message, "type": kind}
        if kind == "extra_forbidden":
            unknown_entries[location[:-1]] = entry
        details.append(entry)
    for parent, entry in unknown_entries.items():
        if unknown_counts[parent] > 1:
            entry["message"] = (f"{unknown_counts[parent]} unknown fields in this object "
                                "(the first is named); extra inputs are not permitted")
    if unlisted:
        details.append({"path": _path(unlisted_at or ()), "type": "truncated",
                        "message": f"{unlisted} more problems not listed",
                        "count": unlisted})
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


def _allowed_methods(app: Any, path: str) -> set[str]:
    """Every method some route of ``app`` answers at ``path``."""
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "route_methods", None)
    if table is None:
        from starlette.routing import compile_path

        try:  # FastAPI >= 0.16x keeps included routers in app.routes and flattens lazily
            from fastapi.routing import iter_route_contexts

            pairs = [(context.path or getattr(context.original_route, "path", ""),
                      context.methods) for context in iter_route_contexts(app.routes)]
        except ImportError:  # pragma: no cover - older FastAPI copied the routes
            pairs = [(getattr(route, "path", ""), getattr(route, "methods", None))
                     for route in app.routes]
        table = [(compile_path(template)[0], frozenset(methods)) for template, methods in pairs
                 if template and methods]
        app.state.route_methods = table
    return {method for pattern, methods in table if pattern.match(path) for method in methods}


def install_error_handlers(app: FastAPI) -> None:
    """Render every error raised in ``app`` with :class:`ErrorBody`."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return _answer(error.status, error.code, error.message, _json_safe(error.details),
                       headers)

    async def _domain_error(_request: Request, error: Exception) -> JSONResponse:
        status = domain_status(error)
        headers = None
        retry_after = getattr(error, "retry_after_seconds", None)
        if status == 429 and isinstance(retry_after, int):
            headers = {"Retry-After": str(retry_after)}
        if getattr(error, "replayed", False):  # a refusal kept under an idempotency key
            headers = {**(headers or {}), "Idempotent-Replayed": "true"}
        return _answer(status, error_code(error), str(error),
                       _json_safe(getattr(error, "details", None)), headers)

    for family in DOMAIN_ERRORS:
        app.add_exception_handler(family, _domain_error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = _validation_details(error)
        key_problem = _idempotency_key_problem(details)
        if key_problem is not None:
            return key_problem
        first = details[0] if details else {"path": "", "message": "invalid request"}
        message = (f"{first['path']}: {first['message']}" if first["path"]
                   else str(first["message"]))
        problems = sum(entry.get("count", 1) if entry["type"] == "truncated" else 1
                       for entry in details)
        if problems > 1:
            message += f" (and {problems - 1} more problem(s))"
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
        headers = dict(error.headers) if error.headers else None
        if error.status_code == 405:
            # Starlette names the methods of the first route that matched the path only;
            # /v1/decisions has a GET and a POST route: list every method of the path.
            allowed = _allowed_methods(_request.app, _request.url.path)
            if allowed:
                headers = {**(headers or {}), "Allow": ", ".join(sorted(allowed))}
        return _answer(error.status_code, code, message, None, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # A bug, not a client error: logged with its trace, never shown to the caller.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        # Starlette answers this from its outermost layer, outside the middleware that
        # adds the security headers: add them here.
        settings = getattr(request.app.state, "settings", None)
        hsts = getattr(settings, "environment", None) == "production"
        headers = {name.decode(): value.decode() for name, value in
                   SecurityHeaders.base_headers(hsts) + SecurityHeaders.api_headers()}
        return _answer(500, "internal_error", "the service failed to answer; the error is "
                       "logged", None, headers)


class _TooLarge(Exception):
    """A streamed request body passed :class:`BodySizeLimit`'s limit."""


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
    Content-Security-Policy that allows nothing. Only the interactive docs set a wider
    policy, on their two pages (``/docs``, ``/redoc``: their own scripts and styles, see
    :mod:`api.routes.docs`), and a long ``Cache-Control`` on their versioned static files;
    their error answers, like every other, get the policy that allows nothing. With
    ``hsts`` (production, behind TLS) browsers are told to use HTTPS only.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self._base = self.base_headers(hsts)
        self._api = self.api_headers()

    @staticmethod
    def base_headers(hsts: bool) -> list[tuple[bytes, bytes]]:
        """The headers of every answer (HSTS in production)."""
        base = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                (b"referrer-policy", b"no-referrer"),
                (b"cross-origin-opener-policy", b"same-origin")]
        if hsts:
            base.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        return base

    @staticmethod
    def api_headers() -> list[tuple[bytes, bytes]]:
        """The headers of the API's JSON answers besides the base ones."""
        return [(b"cache-control", b"no-store"),
                (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = self._base + self._api

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in wanted if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class _Refused(Exception):
    """A JSON body the guard refuses: ``path`` and ``message`` of the answer."""

    def __init__(self, message: str, problem_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.problem_type = problem_type


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number; send amounts as decimal strings",
                   "json_non_finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"the number {text[:40]} is too large to be a finite number",
                       "json_non_finite")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):  # the common case, at C speed
        return found
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Refused(f"the key {key[:60]!r} appears twice in one object; which one "
                           "counts would be a guess", "json_duplicate_key")
        seen.add(key)
    return found  # pragma: no cover - a shorter dict always has a repeated key


def _check_shape(document: Any, max_depth: int, check_strings: bool) -> None:
    """Nesting depth, and (when the raw body hints at them) NUL and lone surrogates."""
    if check_strings and isinstance(document, str):
        _check_text(document)
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if check_strings:
                for key in value:
                    _check_text(key)
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            raise _Refused(f"the body nests deeper than {max_depth} levels",
                           "json_too_deep")
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            elif check_strings and isinstance(child, str):
                _check_text(child)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise _Refused("a text holds a NUL character (\\u0000)", "json_nul")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused("a text holds a lone surrogate (an escape such as \\ud800 that is "
                       "not half of a pair): it is not Unicode text", "json_surrogate"
                       ) from None


def _json_content_type(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class HostileInputGuard:
    """Refuse, with a 422 error body, input that Python's JSON parser would take but the
    service must not act on, before any route sees it.

    * ``NaN``, ``Infinity`` and ``-Infinity`` tokens and numbers too large for a float
      (``1e309``): not JSON numbers (RFC 8259); they would become non-finite floats;
    * duplicate keys in one object (``{"amount": "1", "amount": "9"}``): parsers disagree
      on which one wins, so a proxy and the service could read different requests;
    * nesting deeper than ``max_depth`` (and any nesting deep enough to exhaust the
      parser's recursion: ten thousand ``[``);
    * NUL characters and lone surrogates (``\\ud800``) in strings: PostgreSQL cannot
      store them and they are not text; a NUL (``%00``) in the path or query too;
    * a body that is not UTF-8 (Python would guess UTF-16 or UTF-32 and act on it).

    Only bodies sent as JSON (``application/json`` or ``+json``) are parsed here, once
    more than the route does; malformed JSON is left to the route (422 naming the body).
    The body is bounded by :class:`BodySizeLimit`, which must wrap this middleware.
    """

    def __init__(self, app: ASGIApp, *, max_depth: int = 32) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = bytes(scope.get("raw_path") or b"") + b"?" + bytes(
            scope.get("query_string") or b"")
        if b"%00" in address or "\x00" in str(scope.get("path", "")):
            await _answer(422, "invalid_request", "the address holds a NUL character "
                          "(%00)", [{"path": "address", "message": "NUL character",
                                     "type": "nul"}])(scope, receive, send)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH") or not _json_content_type(
                scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            self._check(body)
        except _Refused as refused:
            await _answer(422, "invalid_request", f"body: {refused.message}",
                          [{"path": "body", "message": refused.message,
                            "type": refused.problem_type}])(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _check(self, body: bytes) -> None:
        if not body.strip():
            return
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # json.loads would guess UTF-16 or UTF-32 and act on it; JSON between systems
            # is UTF-8 (RFC 8259, section 8.1).
            raise _Refused("the body is not UTF-8 text (JSON is sent in UTF-8)",
                           "json_not_utf8") from None
        try:
            document = json.loads(text, object_pairs_hook=_no_duplicate_keys,
                                  parse_constant=_refuse_constant, parse_float=_finite_float)
        except RecursionError:
            raise _Refused("the body nests too deeply to be read", "json_too_deep") from None
        except (ValueError, TypeError):
            return  # not JSON at all: the route answers 422 naming the body
        lowered = body.lower()
        _check_shape(document, self.max_depth,
                     check_strings=b"\\u0000" in lowered or b"\\ud" in lowered)
