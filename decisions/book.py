"""The risk team's view of the book: exposure by grade and delinquency bucket, vintage
curves and roll rates, the score's stability on recent decisions, and the challenger's
shadow scores beside the champion's.

Everything here reads; nothing writes. The figures:

**Exposure by grade and bucket** (:func:`book_by_grade`): every credit line, graded by
the *latest* decision that points at it (a seller's later decision keeps the open line,
so it is the line's current grade; a line opened without a decision is ``ungraded``),
bucketed by the line's stored summary as end of day (or the last write) left it
(``credit_line.bucket``; a written-off line is in ``written_off``). Exposure is the
outstanding balance, summed in the database in integer minor units per currency, then
turned into ``Decimal`` (never a float). One aggregate query, however big the book.

**Vintage curves and roll rates** (:func:`delinquency_curves`): the month-end panel of
every line (:func:`lending.persistence.history.line_month_panel`, which folds each line's
events) through the last closed business day, fed to :func:`models.backtest.vintage_curves`
and :func:`models.backtest.roll_rates`. The panel folds every line (minutes on a book of a
hundred thousand lines), so the page reads them through a :class:`CurvesCache`, which
computes them in the background once per store and last closed day.

**Score stability** (:func:`score_stability`): the PSI of the score of the most recent
decisions' stored feature values, scored by the serving model, against that model's
training sample (:func:`scoring.monitor.stability_report`).

**Shadow scores** (:func:`shadow_comparison`): when the ``shadow_score`` table holds the
challenger's scores of live decisions, the champion's grade (stored with the decision)
against the challenger's on the same applicants.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa

from decisions.tables import CreditDecisionRecord
from lending.persistence.business_day import BusinessDayRecord
from lending.persistence.history import booked_through, line_month_panel
from lending.persistence.tables import CreditLineRecord, from_minor
from models.backtest import BUCKETS, roll_rates, vintage_curves
from scoring import Scorer
from scoring.monitor import StabilityReport, stability_report

__all__ = [
    "UNGRADED",
    "BOOK_BUCKETS",
    "RECENT_DECISIONS",
    "BookCell",
    "Book",
    "DelinquencyCurves",
    "CurvesStatus",
    "CurvesCache",
    "ShadowComparison",
    "book_by_grade",
    "delinquency_curves",
    "recent_decision_features",
    "score_stability",
    "shadow_comparison",
]

#: The grade of a line no decision points at (opened by hand or by an import).
UNGRADED = "ungraded"
#: The buckets of the book, from best to worst, ``written_off`` last (those of the
#: backtests' month-end panel).
BOOK_BUCKETS: tuple[str, ...] = BUCKETS
#: How many of the latest decisions the score's PSI is computed on by default.
RECENT_DECISIONS = 2_000

_DECISION = cast(sa.Table, CreditDecisionRecord.__table__)  # type: ignore[attr-defined]
_LINE = cast(sa.Table, CreditLineRecord.__table__)  # type: ignore[attr-defined]
_BUSINESS_DAY = cast(sa.Table, BusinessDayRecord.__table__)  # type: ignore[attr-defined]
#: The challenger's scores of live decisions (written by the decisions service when a
#: challenger exists); named here rather than imported, so the page works on a store
#: migrated before the table existed.
_SHADOW = sa.table("shadow_score", sa.column("decision_id"), sa.column("model_name"),
                   sa.column("model_version"), sa.column("pd"), sa.column("grade"),
                   sa.column("scored_at"))

Source = sa.Engine | sa.Connection


# ------------------------------------------------------------------ the book
@dataclass(frozen=True)
class BookCell:
    """Lines of one grade in one bucket, in one currency."""

    grade: str
    bucket: str
    currency: str
    lines: int
    exposure: Decimal


@dataclass(frozen=True)
class Book:
    """The book by grade and bucket.

    Attributes
    ----------
    cells : every non-empty (grade, bucket, currency) cell.
    grades : the grades in order: the scorer's bands first, then any other grade seen
        (``ungraded`` last).
    currencies : the currencies of the book, sorted.
    """

    cells: tuple[BookCell, ...]
    grades: tuple[str, ...]
    currencies: tuple[str, ...]

    @property
    def lines(self) -> int:
        """Every line of the book."""
        return sum(cell.lines for cell in self.cells)

    def cell(self, grade: str, bucket: str, currency: str) -> BookCell | None:
        """The cell, or ``None`` when no line is in it."""
        for cell in self.cells:
            if (cell.grade, cell.bucket, cell.currency) == (grade, bucket, currency):
                return cell
        return None

    def exposure(self, currency: str, *, grade: str | None = None,
                 bucket: str | None = None) -> Decimal:
        """Outstanding balance in ``currency``, of one grade and/or bucket when given
        (written-off lines count only when ``bucket`` is ``written_off``)."""
        total = Decimal(0)
        for cell in self.cells:
            if cell.currency != currency:
                continue
            if grade is not None and cell.grade != grade:
                continue
            if bucket is None and cell.bucket == "written_off":
                continue
            if bucket is not None and cell.bucket != bucket:
                continue
            total += cell.exposure
        return total

    def line_count(self, *, grade: str | None = None, bucket: str | None = None) -> int:
        """Lines of one grade and/or bucket (every currency)."""
        return sum(c.lines for c in self.cells
                   if (grade is None or c.grade == grade)
                   and (bucket is None or c.bucket == bucket))


def _rows(source: Source, statement: sa.Executable) -> list[Any]:
    if isinstance(source, sa.Engine):
        with source.connect() as connection:
            return list(connection.execute(statement))
    return list(source.execute(statement))


def book_by_grade(source: Source, grade_order: tuple[str, ...] = ()) -> Book:
    """Lines and outstanding balance by grade, bucket and currency (one query).

    Parameters
    ----------
    source : an engine or an open connection (read only).
    grade_order : the grades in the order to show them (the scorer's grade labels).
    """
    ranked = sa.select(
        _DECISION.c.line_id, _DECISION.c.grade,
        sa.func.row_number().over(partition_by=_DECISION.c.line_id,
                                  order_by=(_DECISION.c.created_at.desc(),
                                            _DECISION.c.id.desc())).label("rank"),
    ).where(_DECISION.c.line_id.is_not(None)).subquery("ranked")
    grade = sa.func.coalesce(ranked.c.grade, UNGRADED).label("grade")
    bucket = sa.case((_LINE.c.status == "written_off", "written_off"),
                     else_=_LINE.c.bucket).label("bucket")
    statement = (
        sa.select(grade, bucket, _LINE.c.currency, sa.func.count().label("lines"),
                  sa.func.coalesce(sa.func.sum(_LINE.c.outstanding_minor), 0)
                  .label("outstanding_minor"))
        .select_from(_LINE.outerjoin(ranked, sa.and_(ranked.c.line_id == _LINE.c.id,
                                                     ranked.c.rank == 1)))
        .group_by(grade, bucket, _LINE.c.currency))
    cells = tuple(BookCell(str(row.grade), str(row.bucket), str(row.currency),
                           int(row.lines), from_minor(int(row.outstanding_minor),
                                                      str(row.currency)))
                  for row in _rows(source, statement))
    seen = {cell.grade for cell in cells}
    grades = [g for g in grade_order]
    grades += sorted(seen - set(grades) - {UNGRADED})
    if UNGRADED in seen:
        grades.append(UNGRADED)
    rank = {name: k for k, name in enumerate(BOOK_BUCKETS)}
    ordered = sorted(cells, key=lambda c: (grades.index(c.grade), rank.get(c.bucket, 99),
                                           c.bucket, c.currency))
    return Book(tuple(ordered), tuple(grades), tuple(sorted({c.currency for c in cells})))


# --------------------------------------------------------- vintages, roll rates
@dataclass(frozen=True)
class DelinquencyCurves:
    """Vintage curves and the roll-rate matrix of the book through ``through``.

    ``curves`` is :func:`models.backtest.vintage_curves`' frame, ``roll_rates``
    :func:`models.backtest.roll_rates`' matrix; both empty when no line has a month end
    by ``through`` (``through`` is ``None`` without any line).
    """

    through: date | None
    lines: int
    month_ends: int
    curves: pd.DataFrame
    roll_rates: pd.DataFrame


def _closed_through(source: Source) -> tuple[date | None, int, bool]:
    """The last closed business day (else, for a store that never ran end of day, the
    lines' latest booked date), the number of lines, and whether end of day ran."""
    lines = int(_rows(source, sa.select(sa.func.count()).select_from(_LINE))[0][0])
    if not lines:
        return None, 0, False
    closed = _rows(source, sa.select(_BUSINESS_DAY.c.last_closed))
    if closed:
        value = closed[0][0]
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
        return day, lines, True
    return booked_through(source), lines, False


def _curves_through(engine: sa.Engine, through: date | None, lines: int, *,
                    timezone: str) -> DelinquencyCurves:
    if through is None:
        panel = pd.DataFrame(columns=["line_id", "opened_on", "month", "months_on_book",
                                      "bucket"])
    else:
        panel = line_month_panel(engine, through=through, timezone=timezone)
    return DelinquencyCurves(through, lines, int(panel["month"].nunique()),
                             vintage_curves(panel), roll_rates(panel))


def delinquency_curves(engine: sa.Engine, *, timezone: str) -> DelinquencyCurves:
    """Vintage curves and roll rates of every line through the last closed day, computed
    now (a fold of every line: seconds per thousand lines; the page reads them through a
    :class:`CurvesCache` instead).

    Parameters
    ----------
    engine : the store.
    timezone : the lender's time zone (month ends are its business dates).
    """
    through, lines, _ = _closed_through(engine)
    return _curves_through(engine, through, lines, timezone=timezone)


@dataclass(frozen=True)
class CurvesStatus:
    """What a :class:`CurvesCache` has for a store.

    Attributes
    ----------
    curves : the latest figures computed for the store (``None`` before the first).
    current : whether they are those of the last closed day (else older ones are shown
        while the new ones are computed).
    computing : whether a computation is running.
    error : why the last computation failed, if it did.
    """

    curves: DelinquencyCurves | None
    current: bool
    computing: bool
    error: str | None = None


_Key = tuple[str, date | None, int | None]


class CurvesCache:
    """Vintage curves and roll rates per store and last closed day, computed in the
    background.

    The month-end panel folds every line, which takes minutes on a book of a hundred
    thousand lines: a page cannot wait for it. :meth:`figures` answers at once with the
    figures of the last closed day when they are ready, else starts computing them in a
    thread of their own (one at a time per store), waits at most ``wait`` seconds (a small
    book is done by then) and otherwise answers with the previous day's figures, or none,
    saying that new ones are on their way. A store's figures change only when end of day
    closes another day (a line opened since is not in any closed month end); a store that
    never ran end of day is keyed by its number of lines as well.
    """

    def __init__(self, keep: int = 8) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._done: OrderedDict[_Key, DelinquencyCurves] = OrderedDict()
        self._running: dict[str, threading.Thread] = {}
        self._errors: dict[_Key, str] = {}

    def figures(self, engine: sa.Engine, *, timezone: str, wait: float = 2.0
                ) -> CurvesStatus:
        """The store's figures as far as they are ready (see the class)."""
        through, lines, closed = _closed_through(engine)
        store = engine.url.render_as_string(hide_password=True)
        key: _Key = (store, through, None if closed else lines)
        with self._lock:
            found = self._done.get(key)
            if found is not None:
                self._done.move_to_end(key)
                return CurvesStatus(found, True, store in self._running)
            if key in self._errors:
                return CurvesStatus(self._latest(store), False, False, self._errors[key])
            thread = self._running.get(store)
            if thread is None:
                thread = threading.Thread(target=self._compute,
                                          args=(engine, key, through, lines, timezone),
                                          name="risk-curves", daemon=True)
                self._running[store] = thread
                thread.start()
        thread.join(timeout=max(wait, 0.0))
        with self._lock:
            found = self._done.get(key)
            if found is not None:
                return CurvesStatus(found, True, False)
            return CurvesStatus(self._latest(store), False, store in self._running,
                                self._errors.get(key))

    def _latest(self, store: str) -> DelinquencyCurves | None:
        for key in reversed(self._done):
            if key[0] == store:
                return self._done[key]
        return None

    def _compute(self, engine: sa.Engine, key: _Key, through: date | None, lines: int,
                 timezone: str) -> None:
        try:
            result = _curves_through(engine, through, lines, timezone=timezone)
        except Exception as error:  # noqa: BLE001 - kept and shown; the page still answers
            with self._lock:
                self._errors[key] = f"{type(error).__name__}: {error}"
                self._running.pop(key[0], None)
            return
        with self._lock:
            self._done[key] = result
            self._errors.pop(key, None)
            while len(self._done) > self._keep:
                self._done.popitem(last=False)
            self._running.pop(key[0], None)


# ------------------------------------------------------------------- stability
def recent_decision_features(source: Source, *, limit: int = RECENT_DECISIONS,
                             days: int | None = None) -> pd.DataFrame:
    """The stored feature values of the latest ``limit`` decisions (one row each, newest
    first; a value is as scored, ``None`` is missing), within the last ``days`` of the
    newest decision when given."""
    if limit <= 0:
        raise ValueError(f"limit must be > 0; got {limit}")
    statement = sa.select(_DECISION.c.features, _DECISION.c.created_at).order_by(
        _DECISION.c.created_at.desc(), _DECISION.c.id.desc()).limit(limit)
    rows = _rows(source, statement)
    if days is not None and rows:
        newest = pd.Timestamp(rows[0].created_at)
        start = newest - timedelta(days=days)
        rows = [row for row in rows if pd.Timestamp(row.created_at) >= start]
    return pd.DataFrame.from_records([json.loads(row.features) for row in rows])


def score_stability(source: Source, scorer: Scorer, *, limit: int = RECENT_DECISIONS
                    ) -> StabilityReport | None:
    """PSI of the score (and of every model feature) of the latest decisions against the
    scorer's training sample; ``None`` when there is no decision yet.

    Decisions made before a model change may lack a feature the scorer needs: it counts
    as missing (the PSI's missing bin shows it).
    """
    current = recent_decision_features(source, limit=limit)
    if current.empty:
        return None
    for name in scorer.feature_names:
        if name not in current.columns:
            current[name] = None
    return stability_report(scorer, current, reference_name="training sample")


# ---------------------------------------------------------------------- shadow
@dataclass(frozen=True)
class ShadowComparison:
    """The champion's and the challenger's scores of the same live decisions.

    Attributes
    ----------
    challenger : ``model_name`` and version of the shadow scores compared (the latest).
    n : decisions scored by both.
    champion_mean_pd, challenger_mean_pd : mean PD of each.
    grades : the grades in order.
    crosstab : ``{(champion_grade, challenger_grade): count}``.
    """

    challenger: str
    n: int
    champion_mean_pd: float
    challenger_mean_pd: float
    grades: tuple[str, ...]
    crosstab: dict[tuple[str, str], int]

    def champion_count(self, grade: str) -> int:
        return sum(n for (a, _), n in self.crosstab.items() if a == grade)

    def challenger_count(self, grade: str) -> int:
        return sum(n for (_, b), n in self.crosstab.items() if b == grade)

    @property
    def same_grade(self) -> int:
        """Decisions both models put in the same grade."""
        return sum(n for (a, b), n in self.crosstab.items() if a == b)


def _has_shadow_table(engine: sa.Engine) -> bool:
    return sa.inspect(engine).has_table("shadow_score")


def shadow_comparison(engine: sa.Engine, grade_order: tuple[str, ...] = ()
                      ) -> ShadowComparison | None:
    """Champion against challenger on the decisions the latest challenger version
    shadow-scored; ``None`` when the store has no shadow score (or no such table)."""
    if not _has_shadow_table(engine):
        return None
    latest = _rows(engine, sa.select(_SHADOW.c.model_name, _SHADOW.c.model_version)
                   .order_by(_SHADOW.c.scored_at.desc()).limit(1))
    if not latest:
        return None
    name, version = str(latest[0].model_name), str(latest[0].model_version)
    statement = (
        sa.select(_DECISION.c.grade.label("champion_grade"),
                  _SHADOW.c.grade.label("challenger_grade"), sa.func.count().label("n"),
                  sa.func.sum(_DECISION.c.pd).label("champion_pd"),
                  sa.func.sum(_SHADOW.c.pd).label("challenger_pd"))
        .select_from(_SHADOW.join(_DECISION, _DECISION.c.id == _SHADOW.c.decision_id))
        .where(_SHADOW.c.model_name == name, _SHADOW.c.model_version == version)
        .group_by(_DECISION.c.grade, _SHADOW.c.grade))
    rows = _rows(engine, statement)
    n = sum(int(row.n) for row in rows)
    if not n:
        return None
    crosstab = {(str(row.champion_grade), str(row.challenger_grade)): int(row.n)
                for row in rows}
    seen = {g for pair in crosstab for g in pair}
    grades = [g for g in grade_order] + sorted(seen - set(grade_order))
    return ShadowComparison(
        f"{name} v{version}", n,
        sum(float(row.champion_pd) for row in rows) / n,
        sum(float(row.challenger_pd) for row in rows) / n, tuple(grades), crosstab)
