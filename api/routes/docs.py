"""The OpenAPI description and the interactive docs, for authenticated callers only.

Every route but the health checks needs credentials, these too: an API key (any role)
or an officer session.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.deps import require
from api.principal import Principal

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
def openapi(principal: Annotated[Principal, require("api:docs")],
            request: Request) -> dict[str, Any]:
    """The OpenAPI document of the service."""
    document: dict[str, Any] = request.app.openapi()
    return document


@router.get("/docs", response_class=HTMLResponse)
def swagger(principal: Annotated[Principal, require("api:docs")]) -> HTMLResponse:
    """Swagger UI (its scripts load from a CDN; offline, read ``/openapi.json``)."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="sme-credit API")


@router.get("/redoc", response_class=HTMLResponse)
def redoc(principal: Annotated[Principal, require("api:docs")]) -> HTMLResponse:
    """ReDoc (its script loads from a CDN)."""
    return get_redoc_html(openapi_url="/openapi.json", title="sme-credit API")
