"""The loan-officer web pages, served under ``/officer/`` by the same FastAPI app.

Server-rendered (Jinja2, autoescaped) pages over the decisions, records and lending
services: login, the queue of referred cases, a case page with the score, the reasons,
a SHAP waterfall and the seller's trade and credit history as inline SVG, the officer's
actions with their audit trail, and the list of past decisions. ``docs/officer-page.md``
describes them.

:func:`create_app <api.app.create_app>` includes :data:`router` and calls :func:`mount`,
which serves the stylesheet and installs the handlers that turn "not logged in" into a
redirect to the login page and "wrong role" into a 403 page.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from api.web.access import LoginRequired, PageForbidden, login_redirect_target
from api.web.pages import router as _pages
from api.web.rendering import STATIC_DIR, render_page
from api.web.risk import router as risk_router

__all__ = ["router", "risk_router", "static_app", "mount"]

#: Every officer page; not part of the OpenAPI document (they answer HTML, not JSON).
router = APIRouter(prefix="/officer", include_in_schema=False)
router.include_router(_pages)

#: The pages' stylesheet and icon, mounted at ``/officer/static`` by :func:`mount`.
static_app = StaticFiles(directory=STATIC_DIR)


async def _login_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    return RedirectResponse(login_redirect_target(error.next_path), status_code=303)


async def _forbidden(request: Request, error: Exception) -> Response:
    assert isinstance(error, PageForbidden)
    return render_page("error.html", principal=None, csrf_token=None, status_code=403,
                       heading="Not allowed",
                       explanation=f"You are logged in as {error.principal.id} with the role "
                       f"{error.principal.role.value}, which may not {error.may_not}. "
                       f"Ask an administrator for the {error.role_to_ask_for} role.",
                       login_link=True)


def mount(app: FastAPI) -> None:
    """Serve the static files, add the risk page (``/risk/``, :mod:`api.web.risk`) and
    install the pages' redirect and 403 handlers."""
    app.mount("/officer/static", static_app, name="officer-static")
    app.include_router(risk_router)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageForbidden, _forbidden)
