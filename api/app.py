"""The FastAPI application: the marketplace's API under ``/v1`` and the officer pages.

``create_app`` wires settings, the database (migrated at start-up), the model holder,
the credit policy, error rendering, the body limit and metrics, then includes each
area's router. Routes translate HTTP to service calls; rules live in ``lending`` and
``scoring``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from api import web
from api.errors import (
    BodySizeLimit,
    ErrorBody,
    HostileInputGuard,
    SecurityHeaders,
    install_error_handlers,
)
from api.metrics import Metrics, MetricsMiddleware
from api.model_holder import ModelHolder
from api.routes import decisions, docs, health, lines, models, records
from lending.persistence import EndOfDayScheduler, SqlUnitOfWork
from lending.persistence.eod import DayClosed
from lending.policy import CreditPolicy, load_policy
from records.snapshots import refresh_changed_sellers
from scoring import Scorer
from settings import Settings
from store import GroupCommit, make_engine, upgrade_database
from store.clock import utc_now

__all__ = ["create_app", "declare_error_answers", "ROUTERS", "operation_id",
           "check_operation_ids"]

log = logging.getLogger("sme_credit.api")

#: The routers the app includes, in this order (imported by name: a missing module stops
#: the service at start-up instead of leaving its routes out). A request is matched against
#: the routes in this order, so the marketplace's (decisions, then draws and payments) come
#: first: each route tried before the one that answers costs FastAPI a few microseconds.
ROUTERS: tuple[APIRouter, ...] = (decisions.router, lines.router, records.router, models.router,
                                  health.router, docs.router, web.router)

_OPERATION_ID = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in ((401, "No valid credentials"), (403, "The role lacks the permission"),
                         (413, "Body too large"), (422, "Invalid request"))}

_DESCRIPTION = """\
Credit decisions, credit lines and trade records for the marketplace's sellers.

Authenticate with an API key: `Authorization: Bearer <key>` (create one with
`sme-credit keys create --role marketplace`). Every error answers
`{"code", "message", "details"}`. Writes that move money or make decisions take an
`Idempotency-Key` header: a retry with the same key and body replays the first answer.
"""


def create_app(settings: Settings | None = None, *, engine: sa.Engine | None = None,
               scorer: Scorer | None = None, policy: CreditPolicy | None = None,
               challenger: Scorer | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings : configuration (default: from the environment).
    engine : a database engine to use (default: one for ``settings``'s database URL).
    scorer : serve this scorer as is (tests, a model folder) instead of the registry's
        ``models:/<model_name>@<model_alias>``.
    policy : the credit policy (default: ``settings.policy_path`` or the shipped one).
    challenger : with ``scorer``, score every decision in the shadow with this one too
        (default: the registry's ``challenger`` alias, followed like the champion).
    """
    settings = settings or Settings()
    own_engine = engine is None
    url = settings.resolved_database_url()
    in_memory = url in ("sqlite://", "sqlite:///:memory:")  # one shared connection, no pool
    # A fixed pool: every connection opened stays open. With overflow connections, a
    # burst beyond the pool's size closed each one on its return and opened another on
    # the next checkout (a new PostgreSQL backend per decision, under steady load).
    pool = {} if in_memory else {"pool_size": settings.database_pool_size,
                                 "max_overflow": 0}
    engine = engine or make_engine(url, **pool)
    holder = ModelHolder(None if scorer is not None else settings.resolved_tracking_uri(),
                         settings.model_name, settings.model_alias, scorer=scorer,
                         challenger=challenger)
    # One connection shared by every thread (in-memory SQLite) cannot have a writer of
    # its own beside the requests: decisions then commit one by one.
    commits = (GroupCommit(engine, unit_of_work=SqlUnitOfWork,
                           max_batch=settings.decision_group_commit,
                           name="decision-commit")
               if settings.decision_group_commit and not in_memory else None)
    metrics = Metrics(engine, commits=commits, timezone=settings.timezone)
    # End of day at the lender's cut-off, on a real clock (a simulated store's days are
    # closed by `sme-credit eod run`); several worker processes take turns through the
    # runner lock, so a day is closed once.
    def refresh_changed(days: list[DayClosed]) -> None:
        # the sellers whose credit history changed get fresh feature snapshots
        changed = {seller for day in days for seller in day.sellers_changed}
        if changed:
            refresh_changed_sellers(engine, changed, now=utc_now(), timezone=settings.timezone)

    end_of_day = (EndOfDayScheduler(engine, timezone=settings.timezone,
                                    cutoff=settings.eod_cutoff_time(),
                                    batch_size=settings.eod_batch_size,
                                    on_closed=refresh_changed)
                  if settings.clock == "real" and not in_memory else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade_database(engine)
        if scorer is None:
            holder.try_reload()
            holder.start_polling(settings.model_poll_seconds)
        if end_of_day is not None:
            end_of_day.start()
        try:
            yield
        finally:
            if end_of_day is not None:
                end_of_day.stop()
            holder.stop()
            if commits is not None:
                commits.close()
            if own_engine:
                engine.dispose()

    app = FastAPI(title="sme-credit", version=_version(), description=_DESCRIPTION,
                  lifespan=lifespan, responses=_ERROR_RESPONSES, docs_url=None,
                  redoc_url=None, openapi_url=None, generate_unique_id_function=operation_id)
    app.state.settings = settings
    app.state.engine = engine
    app.state.models = holder
    app.state.policy = policy or load_policy(settings.policy_path)
    app.state.metrics = metrics
    app.state.decision_commits = commits
    app.state.end_of_day = end_of_day
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    web.mount(app)
    check_operation_ids(app)
    declare_error_answers(app)
    # Outermost first: metrics see every answer, including the body limit's 413.
    # Inside the body limit, which bounds what the guard reads.
    app.add_middleware(HostileInputGuard)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, hsts=settings.environment == "production")
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def operation_id(route: APIRoute) -> str:
    """The OpenAPI ``operationId`` of a route: its function's name (``create_decision``).

    FastAPI's default adds the path and method (``create_decision_v1_decisions_post``);
    a client generated from ``/openapi.json`` names its methods after these ids, so the
    plain name reads naturally. :func:`create_app` refuses two operations with one name.
    """
    return route.name


def check_operation_ids(app: FastAPI) -> None:
    """Every documented operation has its own plain snake-case id.

    Raises
    ------
    RuntimeError
        Two operations of the OpenAPI document share an id (two route functions of one
        name), or an id is not snake case.
    """
    try:  # FastAPI >= 0.16x keeps included routers in app.routes and flattens lazily
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI copied the routes
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    seen: dict[str, str] = {}
    for route in routes:
        if not isinstance(getattr(route, "original_route", route), APIRoute) \
                or not route.include_in_schema:
            continue
        name = str(route.unique_id)
        where = f"{' '.join(sorted(route.methods or ()))} {route.path}"
        if not _OPERATION_ID.fullmatch(name):
            raise RuntimeError(f"operation id {name!r} ({where}) is not snake case")
        if name in seen:
            raise RuntimeError(f"operation id {name!r} names two operations: {seen[name]} "
                               f"and {where}; rename one route function")
        seen[name] = where


def declare_error_answers(app: FastAPI) -> None:
    """Make the OpenAPI document list the errors each API operation can answer.

    Every operation already declares 401, 403, 413 and 422. One with a path parameter,
    and a ``POST`` under ``/v1`` (a seller id in the body), may name something that does
    not exist (404); a ``POST`` under ``/v1`` may also conflict with stored state (409:
    an idempotency key reused with another body, a credit limit, a case changed since it
    was read); one that needs the model answers 503 while none is loaded. Clients
    generated from the document then know every status they can meet, and the fuzzing
    test (tests/hardening/test_openapi_fuzz.py) holds the service to it.
    """
    generate = app.openapi
    error = {"content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/ErrorBody"}}}}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        needs_model = _paths_needing_the_model(app)
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                answers = operation.setdefault("responses", {})
                posts = method == "post" and path.startswith("/v1/")
                if "{" in path or posts:  # an id in the path or the body may be unknown
                    answers.setdefault("404", {"description": "No such resource", **error})
                if posts:
                    answers.setdefault("409", {"description": "Conflicts with the stored "
                                               "state", **error})
                if (method.upper(), path) in needs_model:
                    answers.setdefault("503", {"description": "No credit model is loaded",
                                               **error})
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _paths_needing_the_model(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route that depends on the serving scorer."""
    from fastapi.routing import APIRoute

    from api.deps import get_scorer

    found: set[tuple[str, str]] = set()
    try:  # FastAPI >= 0.16x keeps included routers in app.routes and flattens lazily
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI copied the routes
        walked = [(route, getattr(route, "path", ""), getattr(route, "methods", None),
                   getattr(route, "dependant", None)) for route in app.routes]
    else:
        walked = [(context.original_route, context.path or "", context.methods,
                   getattr(context, "dependant", None))
                  for context in iter_route_contexts(app.routes)]
    for route, path, methods, dependant in walked:
        if isinstance(route, APIRoute) and dependant is not None and _depends_on(
                dependant, get_scorer):
            found.update((method, path or route.path) for method in methods or ())
    return found


def _depends_on(dependant: Any, call: Any) -> bool:
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("sme-credit")
    except metadata.PackageNotFoundError:
        return "0"
