"""The FastAPI application: the marketplace's API under ``/v1`` and the officer pages.

``create_app`` wires settings, the database (migrated at start-up), the model holder,
the credit policy, error rendering, the body limit and metrics, then includes each
area's router. Routes translate HTTP to service calls; rules live in ``lending`` and
``scoring``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI

from api.errors import BodySizeLimit, ErrorBody, SecurityHeaders, install_error_handlers
from api.metrics import Metrics, MetricsMiddleware
from api.model_holder import ModelHolder
from api.settings import Settings
from lending.persistence import make_engine, upgrade_database
from lending.policy import CreditPolicy, load_policy
from scoring import Scorer

__all__ = ["create_app", "ROUTER_MODULES"]

log = logging.getLogger("sme_credit.api")

#: Modules whose ``router`` the app includes, in this order.
ROUTER_MODULES = ("api.routes.health", "api.routes.docs", "api.routes.models", "api.routes.records",
                  "api.routes.decisions", "api.routes.lines", "api.web")

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
               scorer: Scorer | None = None, policy: CreditPolicy | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings : configuration (default: from the environment).
    engine : a database engine to use (default: one for ``settings``'s database URL).
    scorer : serve this scorer as is (tests, a model folder) instead of the registry's
        ``models:/<model_name>@<model_alias>``.
    policy : the credit policy (default: ``settings.policy_path`` or the shipped one).
    """
    settings = settings or Settings()
    own_engine = engine is None
    engine = engine or make_engine(settings.resolved_database_url())
    holder = ModelHolder(None if scorer is not None else settings.resolved_tracking_uri(),
                         settings.model_name, settings.model_alias, scorer=scorer)
    metrics = Metrics(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade_database(engine)
        if scorer is None:
            holder.try_reload()
            holder.start_polling(settings.model_poll_seconds)
        try:
            yield
        finally:
            holder.stop()
            if own_engine:
                engine.dispose()

    app = FastAPI(title="sme-credit", version=_version(), description=_DESCRIPTION,
                  lifespan=lifespan, responses=_ERROR_RESPONSES, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.models = holder
    app.state.policy = policy or load_policy(settings.policy_path)
    app.state.metrics = metrics
    install_error_handlers(app)
    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name != name:
                raise
            continue
        router = getattr(module, "router", None)
        if router is None:  # a package still being built
            continue
        app.include_router(router)
        mount = getattr(module, "mount", None)
        if mount is not None:
            mount(app)
    # Outermost first: metrics see every answer, including the body limit's 413.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, hsts=settings.environment == "production")
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("sme-credit")
    except metadata.PackageNotFoundError:
        return "0"
