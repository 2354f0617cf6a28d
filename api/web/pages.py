"""The officer page routes: login, queue, case, actions, past decisions.

Routes are thin: check access (:mod:`api.web.access`), parse the query or form, call one
function of :mod:`api.web.backend` (which calls the decisions, records and lending
services) and render a template. A refused action re-renders the case with the message
and a 4xx status and changes nothing; a successful one redirects to the case (so a
reload does not post the form again).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from access.security import (
    InvalidCredentials,
    InvalidInput,
    LoginThrottled,
    login,
    logout,
    normalise_username,
)
from api.deps import engine_of, settings_of
from api.security import (
    clear_session_cookie,
    client_ip,
    session_cookie_settings,
    set_session_cookie,
)
from api.web import backend, charts
from api.web.access import (
    Officer,
    OfficerDep,
    clear_login_csrf_cookie,
    current_officer,
    form_csrf_matches,
    login_csrf_matches,
    new_login_csrf,
    safe_next_path,
    set_login_csrf_cookie,
)
from api.web.rendering import Message, render_page
from api.web.views import CaseView
from store.clock import utc_now

__all__ = ["router", "GRADES", "ACTIONS"]

router = APIRouter()

GRADES = backend.GRADES
#: Form value -> what the officer does.
ACTIONS = {"approve": "approve", "decline": "decline", "change_limit": "change the limit"}
_DONE = {"approve": "The case is approved.", "decline": "The case is declined.",
         "change_limit": "The limit is changed."}
_MAX_QUERY = 200
_MAX_DAYS = 3650


# --------------------------------------------------------------------------- login


def _login_page(request: Request, *, next_path: str, username: str = "",
                status_code: int = 200, error: str | None = None) -> Response:
    token = new_login_csrf()
    response = render_page("login.html", principal=None, csrf_token=None,
                           status_code=status_code,
                           messages=[Message("error", error)] if error else [],
                           login_csrf=token, next_path=safe_next_path(next_path),
                           username=username)
    set_login_csrf_cookie(response, settings_of(request), token)
    return response


def _refillable(username: str) -> str:
    """The typed user name if the form may show it again after a failure, else "".

    Only a well-formed user name is put back: what does not fit the user-name rules (a
    passphrase with spaces, say) may be a password typed into the wrong field, and a
    password is never sent back (it reaches the login service all the same, which
    answers "wrong user name or password").
    """
    try:
        normalise_username(username)
    except InvalidInput:
        return ""
    return username.strip()


@router.get("/login")
def login_form(request: Request, next: str = "/officer/") -> Response:
    """The login form (a visitor already logged in goes straight on)."""
    if current_officer(request) is not None:
        return RedirectResponse(safe_next_path(next), status_code=303)
    return _login_page(request, next_path=next)


@router.post("/login")
def login_submit(request: Request, username: Annotated[str, Form(max_length=200)] = "",
                 password: Annotated[str, Form(max_length=1024)] = "",
                 csrf_token: Annotated[str, Form(max_length=200)] = "",
                 next: Annotated[str, Form()] = "/officer/") -> Response:
    """Check the password, open a session, set the cookie and go on."""
    shown = _refillable(username)
    if not login_csrf_matches(request, csrf_token):
        return _login_page(request, next_path=next, username=shown, status_code=403,
                           error="The login form expired. Please log in again.")
    settings = settings_of(request)
    try:
        tokens = login(engine_of(request), username, password, client_ip=client_ip(request),
                       settings=settings)
    except InvalidCredentials:
        return _login_page(request, next_path=next, username=shown, status_code=401,
                           error="Wrong user name or password.")
    except LoginThrottled as throttled:
        response = _login_page(request, next_path=next, username=shown, status_code=429,
                               error=f"Too many failed logins: {throttled}.")
        response.headers["Retry-After"] = str(throttled.retry_after_seconds)
        return response
    response = RedirectResponse(safe_next_path(next), status_code=303)
    set_session_cookie(response, settings, tokens)
    clear_login_csrf_cookie(response, settings)
    return response


@router.post("/logout")
def logout_submit(request: Request, officer: OfficerDep,
                  csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """End the session (the form carries the CSRF token: no forced logout by others)."""
    if not form_csrf_matches(officer, csrf_token):
        return _refused_page(officer, 403, "The form's security token did not match. "
                             "Reload the page and try again.")
    settings = settings_of(request)
    token = request.cookies.get(session_cookie_settings(settings).name, "")
    logout(engine_of(request), token)
    response = RedirectResponse("/officer/login", status_code=303)
    clear_session_cookie(response, settings)
    return response


def _refused_page(officer: Officer, status_code: int, explanation: str) -> Response:
    return render_page("error.html", principal=officer.principal,
                       csrf_token=officer.csrf_token, status_code=status_code,
                       heading="Not done", explanation=explanation)


# --------------------------------------------------------------------------- queue


def _days(text: str, what: str, problems: list[str]) -> int | None:
    text = text.strip()[:10]
    if not text:
        return None
    try:
        days = int(text)
    except ValueError:
        days = -1
    if not 0 <= days <= _MAX_DAYS:
        problems.append(f"{what} must be a whole number of days from 0 to {_MAX_DAYS}.")
        return None
    return days


@router.get("/")
def queue_page(request: Request, officer: OfficerDep,
               grade: str = "", min_days: str = "", max_days: str = "") -> Response:
    """Referred cases waiting for an officer, oldest first, filtered by grade and age."""
    problems: list[str] = []
    grade = grade.strip().upper()[:10]
    if grade and grade not in GRADES:
        problems.append(f"Grade must be one of {', '.join(GRADES)}.")
        grade = ""
    low = _days(min_days, "Waiting at least", problems)
    high = _days(max_days, "Waiting at most", problems)
    if low is not None and high is not None and low > high:
        problems.append("'Waiting at least' must not be more than 'at most'.")
        low = high = None
    items = backend.referred_cases(engine_of(request), grade=grade or None, min_days=low,
                                   max_days=high, now=utc_now())
    return render_page("queue.html", principal=officer.principal,
                       csrf_token=officer.csrf_token, nav="queue",
                       status_code=400 if problems else 200,
                       messages=[Message("error", text) for text in problems],
                       items=items, grades=GRADES,
                       filters={"grade": grade, "min_days": low, "max_days": high})


# --------------------------------------------------------------------------- decisions


@router.get("/decisions")
def decisions_page(request: Request, officer: OfficerDep,
                   q: str = "") -> Response:
    """Past decisions, newest first; ``q`` finds a seller id, decision id, outcome or
    grade."""
    # Cut rather than refuse: no id is this long, and the page should still answer.
    query = q.strip()[:_MAX_QUERY]
    rows, truncated = backend.past_decisions(engine_of(request), query)
    return render_page("decisions.html", principal=officer.principal,
                       csrf_token=officer.csrf_token, nav="decisions", rows=rows,
                       truncated=truncated, query=query)


# --------------------------------------------------------------------------- case


def case_charts(case: CaseView) -> dict[str, Markup]:
    """The case page's charts as inline SVG (text escaped by :mod:`api.web.charts`)."""
    steps = [charts.WaterfallStep(c.label, c.points) for c in case.contributions]
    found: dict[str, str] = {}
    if case.baseline_points is not None:
        found["waterfall"] = charts.waterfall_svg(case.baseline_points, steps,
                                                  chart_id="chart-waterfall",
                                                  title="Score breakdown")
    else:
        found["waterfall"] = charts.bar_chart_svg(
            [], chart_id="chart-waterfall", title="Score breakdown", y_label="points",
            empty_message="No contributions were stored with this decision.")
    history = case.history
    if history is not None:
        currency = history.currency
        found["gmv"] = charts.bar_chart_svg(
            [(m.month, float(m.gmv)) for m in history.months], chart_id="chart-gmv",
            title=f"Monthly GMV ({currency})", y_label=currency,
            empty_message="No sales in the window.")
        found["refunds"] = charts.line_chart_svg(
            [(m.month, m.refund_rate) for m in history.months], chart_id="chart-refunds",
            title="Refund rate by month", y_label="refund rate",
            value_format=lambda v: f"{v:.0%}" if v * 100 == round(v * 100) else f"{v:.1%}",
            empty_message="No sales in the window.")
        found["buyers"] = charts.share_bars_svg(
            list(history.top_buyer_shares), chart_id="chart-buyers",
            title="Buyer concentration", empty_message="No buyers in the window.")
    credit = case.credit
    if credit is not None and credit.draws:
        found["draws"] = charts.bar_chart_svg(
            [(d.drawn_on.isoformat(), float(d.amount)) for d in credit.draws],
            chart_id="chart-draws", title=f"Draws ({credit.currency})",
            y_label=credit.currency)
    # Markup: the chart functions escape every text they place (see api.web.charts).
    return {name: Markup(svg) for name, svg in found.items()}


def _case_page(request: Request, officer: Officer, decision_id: str, *,
               status_code: int = 200, messages: list[Message] | None = None,
               new_limit: str = "") -> Response:
    case = backend.case_view(request.app.state, decision_id)
    if case is None:
        return render_page("error.html", principal=officer.principal,
                           csrf_token=officer.csrf_token, status_code=404,
                           heading="No such case",
                           explanation=f"There is no decision with id {decision_id!r}.")
    return render_page("case.html", principal=officer.principal,
                       csrf_token=officer.csrf_token, status_code=status_code,
                       messages=messages, nav="queue", case=case, charts=case_charts(case),
                       form={"new_limit": new_limit or f"{case.limit:.2f}"})


@router.get("/cases/{decision_id}")
def case_page(request: Request, officer: OfficerDep, decision_id: str,
              done: str = "") -> Response:
    """One decision: score, reasons, charts, trade and credit history, actions, audit."""
    messages = [Message("success", _DONE[done])] if done in _DONE else []
    return _case_page(request, officer, decision_id, messages=messages)


@router.post("/cases/{decision_id}/actions")
def case_action(request: Request, officer: OfficerDep, decision_id: str,
                action: Annotated[str, Form(max_length=20)] = "",
                reason: Annotated[str, Form()] = "",
                new_limit: Annotated[str, Form(max_length=40)] = "",
                version: Annotated[str, Form(max_length=20)] = "",
                csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Approve, decline or change the limit, with a mandatory written reason.

    The CSRF token is checked here; every rule on the action itself (a reason, a limit
    within the policy's range, a case still open and unchanged since the page was
    loaded) is the decisions service's, whose refusal is shown on the case page.
    """

    def refused(status_code: int, text: str) -> Response:
        return _case_page(request, officer, decision_id, status_code=status_code,
                          messages=[Message("error", text)], new_limit=new_limit)

    if not form_csrf_matches(officer, csrf_token):
        return refused(403, "The form's security token did not match, so nothing was "
                       "changed. Reload the page and try again.")
    if action not in ACTIONS:
        return refused(400, "Unknown action; choose approve, decline or change the limit. "
                       "Nothing was changed.")
    amount = new_limit.strip().replace(",", "") or None
    try:
        backend.act(request.app.state, decision_id, action=action,
                    principal=officer.principal, reason=reason, new_limit=amount,
                    expected_version=int(version) if version.strip().isdigit() else None)
    except backend.ActionRefused as refusal:
        return refused(refusal.status, f"{refusal.message} Nothing was changed.")
    return RedirectResponse(f"/officer/cases/{quote(decision_id, safe='')}?done={action}",
                            status_code=303)
