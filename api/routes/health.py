"""Health (no authentication) and metrics."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from access.principal import Principal
from api.deps import EngineDep, ModelsDep, require
from api.metrics import CONTENT_TYPE
from store import current_revision, head_revision

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Liveness: the process answers."""

    status: str


class Readiness(BaseModel):
    """Readiness: the database answers and is migrated, and a model is loaded."""

    status: str
    database: str
    model: str
    model_version: str | None = None


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up (no dependency is checked)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(engine: EngineDep, models: ModelsDep) -> JSONResponse:
    """Ready to take traffic: database reachable and migrated, model loaded (else 503)."""
    try:
        revision = current_revision(engine)
        database = "ok" if revision == head_revision() else f"at migration {revision}"
    except sa.exc.SQLAlchemyError as error:
        database = f"unreachable: {type(error).__name__}"
    status = models.status()
    model = "ok" if status.serving_version else (status.last_error or "not loaded")
    ready = database == "ok" and model == "ok"
    body = Readiness(status="ready" if ready else "not ready", database=database, model=model,
                     model_version=status.serving_version)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(principal: Annotated[Principal, require("metrics:read")],
            request: Request) -> Response:
    """Prometheus text: request counts and latencies, decisions by outcome."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
