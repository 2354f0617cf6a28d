"""Health (no authentication) and metrics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from access.principal import Principal
from api.deps import EngineDep, ModelsDep, SettingsDep, require
from api.metrics import CONTENT_TYPE
from lending.persistence import end_of_day_status
from store import current_revision, head_revision

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Liveness: the process answers."""

    status: str


class Readiness(BaseModel):
    """Readiness: the database answers and is migrated, and a model is loaded; with the
    lender's business day (shown, not a condition of readiness)."""

    status: str
    database: str
    model: str
    model_version: str | None = None
    last_closed_day: date | None = Field(None, description="The last business day end of "
                                         "day closed.")
    business_date: date | None = None
    end_of_day_seconds: float | None = Field(None, description="How long closing the last "
                                             "closed day took.")
    end_of_day_lines: int | None = None
    end_of_day_error: str | None = Field(None, description="Why the service's last end "
                                         "of day failed, if it did.")


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up (no dependency is checked)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(engine: EngineDep, models: ModelsDep, settings: SettingsDep,
           request: Request) -> JSONResponse:
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
    if database == "ok":
        day = end_of_day_status(engine, today=datetime.now(ZoneInfo(settings.timezone)).date())
        run = day.last_closed_run
        body.last_closed_day, body.business_date = day.last_closed, day.business_date
        if run is not None:
            body.end_of_day_seconds, body.end_of_day_lines = run.seconds, run.lines_processed
        scheduler = getattr(request.app.state, "end_of_day", None)
        body.end_of_day_error = getattr(scheduler, "last_error", None)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(principal: Annotated[Principal, require("metrics:read")],
            request: Request) -> Response:
    """Prometheus text: request counts and latencies, decisions by outcome."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
