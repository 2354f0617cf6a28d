"""The OpenAPI description and the interactive docs, for authenticated callers only.

Every route but the health checks needs credentials, these too: an API key (any role)
or an officer session. Swagger UI (``/docs``) and ReDoc (``/redoc``) load their scripts,
styles and icon from this service, never from a CDN (the service runs where only package
registries are reachable): the files ship in the ``fastapi-offline`` package and are
served under ``/docs/assets/`` (a fixed list of names, nothing else). The two pages carry
a Content-Security-Policy of their own, just wide enough for their viewer; every other
answer keeps the policy of :class:`api.errors.SecurityHeaders`, which allows nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from access.principal import Principal
from api.deps import require
from api.errors import ApiError

__all__ = ["router", "ASSETS_PATH", "ASSET_TYPES", "asset_url", "SWAGGER_POLICY",
           "swagger_policy", "REDOC_POLICY"]

router = APIRouter(include_in_schema=False)

_TITLE = "sme-credit API"
_OPENAPI_URL = "/openapi.json"
_ASSET_PACKAGE = "fastapi_offline"  # its ``static`` folder holds the files

#: Where the viewers' files are served.
ASSETS_PATH = "/docs/assets"
#: The only files served under :data:`ASSETS_PATH`, with their media types.
ASSET_TYPES: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# An asset's URL carries a digest of its content, so a browser may keep it for a year:
# new files (a new fastapi-offline) come with new URLs. ``private``: the answers need
# credentials, so no shared cache may hand them to someone else.
_ASSET_CACHE_CONTROL = "private, max-age=31536000, immutable"

# Both pages: nothing but what is named; data: images are the viewers' inline icons;
# connect-src 'self' fetches /openapi.json (and Swagger's "Try it out" calls).
_COMMON_POLICY = ("default-src 'none'", "img-src 'self' data:", "connect-src 'self'",
                  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'")
#: ReDoc's page: its script, the inline styles it writes (styled-components) and the
#: search index it builds in a web worker started from a blob: URL.
REDOC_POLICY = "; ".join((*_COMMON_POLICY, "script-src 'self'",
                          "style-src 'self' 'unsafe-inline'", "worker-src blob:"))
#: Swagger UI's page besides the hash of its inline bootstrap script
#: (:func:`swagger_policy` gives the whole policy).
SWAGGER_POLICY = "; ".join((*_COMMON_POLICY, "style-src 'self'"))

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>",
                            re.DOTALL | re.IGNORECASE)


# ReDoc 2's side menu shows an image from Redocly's CDN beside its "API docs by Redocly"
# link, whatever the options: offline (and under the pages' policy) that is a failed
# request and a console error. An empty src makes the browser give up at once, fetching
# nothing, and ReDoc drops the image (its error handler); the link stays.
_REWRITES: dict[str, tuple[tuple[bytes, bytes], ...]] = {
    "redoc.standalone.js": ((b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"', b'src:""'),),
}


@functools.cache
def _asset_content(name: str) -> bytes:
    """The bytes of an allowed asset as served (read once per process)."""
    if name not in ASSET_TYPES:
        raise KeyError(name)
    content = (resources.files(_ASSET_PACKAGE) / "static" / name).read_bytes()
    for found, served in _REWRITES.get(name, ()):
        content = content.replace(found, served)
    return content


@functools.cache
def asset_url(name: str) -> str:
    """The same-origin URL of an asset, with a digest of its content as its version."""
    digest = hashlib.sha256(_asset_content(name)).hexdigest()[:16]
    return f"{ASSETS_PATH}/{name}?v={digest}"


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def swagger_policy(html: str) -> str:
    """The Content-Security-Policy of a Swagger UI page: :data:`SWAGGER_POLICY` and the
    scripts of this service, plus exactly the inline scripts of ``html`` by their hash
    (not ``'unsafe-inline'``: an injected script would not run)."""
    hashes = [_script_hash(script) for script in _INLINE_SCRIPT.findall(html)]
    return f"{SWAGGER_POLICY}; script-src 'self' {' '.join(hashes)}".rstrip()


@functools.cache
def _swagger_page() -> tuple[str, str]:
    """Swagger UI's page and its policy (the same for every request)."""
    page = get_swagger_ui_html(
        openapi_url=_OPENAPI_URL, title=_TITLE,
        swagger_js_url=asset_url("swagger-ui-bundle.js"),
        swagger_css_url=asset_url("swagger-ui.css"),
        swagger_favicon_url=asset_url("favicon.png"))
    html = bytes(page.body).decode("utf-8")
    return html, swagger_policy(html)


@functools.cache
def _redoc_page() -> str:
    page = get_redoc_html(
        openapi_url=_OPENAPI_URL, title=_TITLE,
        redoc_js_url=asset_url("redoc.standalone.js"),
        redoc_favicon_url=asset_url("favicon.png"), with_google_fonts=False)
    return bytes(page.body).decode("utf-8")


@router.get("/openapi.json")
def openapi(principal: Annotated[Principal, require("api:docs")],
            request: Request) -> dict[str, Any]:
    """The OpenAPI document of the service."""
    document: dict[str, Any] = request.app.openapi()
    return document


@router.get("/docs", response_class=HTMLResponse)
def swagger(principal: Annotated[Principal, require("api:docs")]) -> HTMLResponse:
    """Swagger UI, with its files served by this service."""
    html, policy = _swagger_page()
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


@router.get("/redoc", response_class=HTMLResponse)
def redoc(principal: Annotated[Principal, require("api:docs")]) -> HTMLResponse:
    """ReDoc, with its script served by this service."""
    return HTMLResponse(_redoc_page(), headers={"Content-Security-Policy": REDOC_POLICY})


@router.get(ASSETS_PATH + "/{name}")
def asset(principal: Annotated[Principal, require("api:docs")], name: str) -> Response:
    """One of the viewers' files (:data:`ASSET_TYPES`); any other name is 404."""
    if name not in ASSET_TYPES:
        raise ApiError(404, "unknown_asset", "no documentation asset has this name",
                       {"assets": sorted(ASSET_TYPES)})
    return Response(_asset_content(name), media_type=ASSET_TYPES[name],
                    headers={"Cache-Control": _ASSET_CACHE_CONTROL})
