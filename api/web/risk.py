"""The risk team's page, served under ``/risk/`` by the same FastAPI app.

One server-rendered page (no script; the officer pages' login, session, CSRF rules and
security headers) over reads of the services: the book by grade and delinquency bucket
with exposure (:func:`decisions.book.book_by_grade`), vintage curves and roll rates
(:func:`decisions.book.delinquency_curves`), the score's PSI of recent decisions against
the serving model's training sample (:func:`decisions.book.score_stability`), the
champion and the challenger side by side and the last backtest (:mod:`models.runs`), and
the challenger's shadow scores beside the champion's
(:func:`decisions.book.shadow_comparison`). ``docs/risk-page.md`` describes it.

Access needs ``book:read`` (roles ``risk`` and ``admin``). A section whose source is not
there yet (an empty store, no model, no MLflow store, no backtest) says "none yet"; one
whose source fails (the tracking server down) says so, and the rest of the page shows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from access.security import logout
from api.deps import engine_of, settings_of
from api.model_holder import ModelHolder
from api.security import (
    clear_session_cookie,
    session_cookie_settings,
)
from api.web import backend, charts
from api.web.access import Officer, PageAccess, PageForbidden, form_csrf_matches
from api.web.rendering import render_page
from decisions.book import (
    BOOK_BUCKETS,
    Book,
    CurvesCache,
    DelinquencyCurves,
    book_by_grade,
    score_stability,
    shadow_comparison,
)
from models.runs import BacktestRun, champion_and_challenger, latest_backtest
from scoring.monitor import StabilityReport

__all__ = ["PERMISSION", "RiskPageForbidden", "RiskViewerDep", "router",
           "VINTAGES_SHOWN", "CURVES", "CURVES_WAIT_SECONDS"]

log = logging.getLogger("sme_credit.web.risk")

#: The permission of the risk page (roles ``risk`` and ``admin``).
PERMISSION = "book:read"
#: The latest vintages drawn on the vintage charts (older ones stay in the data).
VINTAGES_SHOWN = 12
#: Features listed under the score's PSI (the most shifted first).
FEATURES_SHOWN = 8
#: How long a page waits for vintage curves and roll rates being computed before it
#: answers without them (a small book is done by then; a big one shows them on a later
#: view, see :class:`decisions.book.CurvesCache`).
CURVES_WAIT_SECONDS = 3.0
#: The vintage curves and roll rates of each store, computed in the background.
CURVES = CurvesCache()

router = APIRouter(prefix="/risk", include_in_schema=False)
T = TypeVar("T")


class RiskPageForbidden(PageForbidden):
    """Logged in, but the role may not see the risk page."""

    may_not = "see the risk page"
    role_to_ask_for = "risk"


#: ``viewer: RiskViewerDep`` in a route: logged in with ``book:read``.
RiskViewerDep = Annotated[Officer, Depends(PageAccess(PERMISSION, "/risk/", RiskPageForbidden))]


# --------------------------------------------------------------------- sections
@dataclass(frozen=True)
class Section:
    """What one section of the page got: its data, or why it has none."""

    data: Any
    error: str | None = None


def _section(what: str, read: Callable[[], T]) -> Section:
    try:
        return Section(read())
    except Exception as error:  # noqa: BLE001 - one failing source must not take the page down
        log.warning("risk page: %s failed", what, exc_info=True)
        return Section(None, f"{what} could not be read ({type(error).__name__}: {error}).")


@dataclass(frozen=True)
class BookRow:
    """One grade of the book in one currency: lines and exposure per bucket."""

    grade: str
    lines: tuple[int, ...]
    exposure: tuple[Decimal, ...]
    total_lines: int
    total_exposure: Decimal


@dataclass(frozen=True)
class BookTable:
    currency: str
    rows: tuple[BookRow, ...]
    totals: BookRow


def _book_tables(book: Book) -> list[BookTable]:
    buckets = BOOK_BUCKETS  # the last is written_off
    tables = []
    for currency in book.currencies:
        rows = []
        for grade in (*book.grades, None):
            cells = [book.cell(grade, b, currency) if grade is not None else None
                     for b in buckets]
            if grade is None:
                lines = tuple(sum(c.lines for c in book.cells if c.currency == currency
                                  and c.bucket == b) for b in buckets)
                exposure = tuple(sum((c.exposure for c in book.cells if c.currency == currency
                                      and c.bucket == b), Decimal(0)) for b in buckets)
            else:
                lines = tuple(c.lines if c else 0 for c in cells)
                exposure = tuple(c.exposure if c else Decimal(0) for c in cells)
            # The total is the book on the balance sheet: written-off lines are apart.
            row = BookRow(grade or "all grades", lines, exposure, sum(lines[:-1]),
                          sum(exposure[:-1], Decimal(0)))
            if grade is None:
                totals = row
            elif sum(lines):
                rows.append(row)
        tables.append(BookTable(currency, tuple(rows), totals))
    return tables


def _pct(value: float) -> str:
    return f"{value:.0%}" if value * 100 == round(value * 100) else f"{value:.1%}"


def _vintage_charts(curves: DelinquencyCurves) -> dict[str, Markup]:
    frame = curves.curves
    found: dict[str, Markup] = {}
    vintages = sorted(frame["vintage"].unique())[-VINTAGES_SHOWN:] if not frame.empty else []
    ages = (list(range(int(frame["months_on_book"].max()) + 1))
            if not frame.empty else [])
    for column, what in (("ever_30_rate", "30"), ("ever_90_rate", "90")):
        series = []
        for vintage in vintages:
            part = frame[frame["vintage"] == vintage].set_index("months_on_book")[column]
            series.append(charts.Series(str(vintage), [
                float(part[age]) if age in part.index else None for age in ages]))
        found[f"ever_{what}"] = Markup(charts.multi_line_chart_svg(
            [str(age) for age in ages], series, chart_id=f"chart-vintage-{what}",
            title=f"Share of each vintage's lines ever {what}+ days past due",
            y_label=f"ever {what}+", x_label="months on book", value_format=_pct,
            empty_message="No month end closed yet."))
    return found


@dataclass(frozen=True)
class RollRow:
    bucket: str
    shares: tuple[float | None, ...]
    heat: tuple[int, ...]
    lines: int


def _roll_rows(curves: DelinquencyCurves) -> list[RollRow]:
    matrix = curves.roll_rates
    if matrix.empty or not int(matrix["lines"].sum()):
        return []
    rows = []
    for bucket in BOOK_BUCKETS:
        if bucket not in matrix.index:
            continue
        row: dict[Any, Any] = matrix.loc[bucket].to_dict()
        values = [float(row[to]) for to in BOOK_BUCKETS]
        shares = tuple(v if math.isfinite(v) else None for v in values)
        heat = tuple(0 if s is None else min(5, math.ceil(s * 5)) for s in shares)
        rows.append(RollRow(bucket, shares, heat, int(row["lines"])))
    return rows


def _stability_chart(report: StabilityReport) -> Markup:
    score = report.score
    # The reference deciles of the raw score run from the best points to the worst:
    # reversed, points grow from left to right (as the monitor's PNG draws them).
    keep = [k for k, label in enumerate(score.labels) if label != "missing"][::-1]
    return Markup(charts.multi_line_chart_svg(
        [score.labels[k] for k in keep],
        [charts.Series(f"{report.reference}", [score.reference[k] for k in keep]),
         charts.Series(f"latest {report.n_current:,} decisions",
                       [score.current[k] for k in keep])],
        chart_id="chart-score-psi", title="Score distribution: training sample and recent "
        "decisions", y_label="share", x_label="score bin (points; training deciles)",
        value_format=_pct))


@dataclass(frozen=True)
class BacktestGrade:
    grade: str
    n: int
    predicted_pd: float | None
    observed_rate: float | None
    lower: float | None
    upper: float | None
    outside: bool


def _backtest_grades(run: BacktestRun) -> list[BacktestGrade]:
    def number(value: Any) -> float | None:
        try:
            found = float(value)
        except (TypeError, ValueError):
            return None
        return found if math.isfinite(found) else None

    rows = []
    for item in run.by_grade:
        n = int(number(item.get("n")) or 0)
        if not n:
            continue
        predicted, lower, upper = (number(item.get("predicted_pd")), number(item.get("lower")),
                                   number(item.get("upper")))
        outside = (predicted is not None and lower is not None and upper is not None
                   and not lower <= predicted <= upper)
        rows.append(BacktestGrade(str(item.get("grade")), n, predicted,
                                  number(item.get("observed_rate")), lower, upper, outside))
    return rows


# ------------------------------------------------------------------------ routes
@router.get("/")
def risk_page(request: Request, viewer: RiskViewerDep) -> Response:
    """The book, its delinquency through time, the score's stability and the models."""
    settings, engine = settings_of(request), engine_of(request)
    holder: ModelHolder = request.app.state.models
    grades = backend.GRADES
    scorer = holder.current()
    tracking_uri = settings.resolved_tracking_uri()
    book = _section("The book", lambda: book_by_grade(engine, grades))
    progress = _section("Vintage curves and roll rates",
                        lambda: CURVES.figures(engine, timezone=settings.timezone,
                                               wait=CURVES_WAIT_SECONDS))
    status = progress.data
    curves = Section(status.curves if status else None, progress.error or (
        f"Vintage curves and roll rates could not be computed ({status.error})."
        if status and status.error else None))
    stability = _section("The score's stability", lambda: None if scorer is None
                         else score_stability(engine, scorer))
    versions = _section("The model registry",
                        lambda: champion_and_challenger(tracking_uri, settings.model_name))
    backtest = _section("The last backtest",
                        lambda: latest_backtest(tracking_uri, settings.model_name))
    shadow = _section("Shadow scores", lambda: shadow_comparison(engine, grades))
    context: dict[str, Any] = {
        "book": book, "book_tables": _book_tables(book.data) if book.data else [],
        "buckets": BOOK_BUCKETS, "roll_buckets": BOOK_BUCKETS,
        "curves": curves, "curves_status": status,
        "roll_rows": _roll_rows(curves.data) if curves.data else [],
        "vintage_charts": _vintage_charts(curves.data) if curves.data else {},
        "stability": stability, "serving": scorer,
        "stability_chart": _stability_chart(stability.data) if stability.data else None,
        "shifted_features": sorted(stability.data.features, key=lambda s: -s.psi)[
            :FEATURES_SHOWN] if stability.data else [],
        "versions": versions, "version_metrics": {"auc": "AUC", "ks": "KS", "brier": "Brier score",
                            "calibration_error": "calibration error"},
        "backtest": backtest,
        "backtest_grades": _backtest_grades(backtest.data) if backtest.data else [],
        "backtest_metrics": [m for m in ("n", "auc", "gini", "ks", "brier",
                                         "calibration_error", "bad_rate", "mean_pd")
                             if backtest.data and m in backtest.data.metrics],
        "shadow": shadow, "model_name": settings.model_name,
        "vintages_shown": VINTAGES_SHOWN,
    }
    return render_page("risk.html", principal=viewer.principal,
                       csrf_token=viewer.csrf_token, nav="risk", **context)


@router.post("/logout")
def risk_logout(request: Request, viewer: RiskViewerDep,
                csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """End the session (the form carries the CSRF token: no forced logout by others)."""
    if not form_csrf_matches(viewer, csrf_token):
        return render_page("error.html", principal=viewer.principal,
                           csrf_token=viewer.csrf_token, status_code=403, heading="Not done",
                           explanation="The form's security token did not match. Reload "
                           "the page and try again.")
    settings = settings_of(request)
    logout(engine_of(request), request.cookies.get(session_cookie_settings(settings).name, ""))
    response = RedirectResponse("/officer/login?next=/risk/", status_code=303)
    clear_session_cookie(response, settings)
    return response

