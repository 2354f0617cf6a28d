"""FROZEN reference: lending/persistence/history.py as it was before the credit-history
reads were optimised (git HEAD of 2026-12-07). The tests and bench/history.py compare the
new frames to the ones this builds; do not edit."""
# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from tqdm import tqdm

from lending.allocation import AllocationPolicy, Component
from lending.delinquency import (
    BUCKETS,
    BucketChanged,
    DelinquencyPolicy,
    LineWrittenOff,
    bucket_for,
)
from lending.lines import (
    CreditLine,
    DrawMade,
    LimitChanged,
    LineEvent,
    LineState,
    LineTerms,
    PaymentReceived,
    PaymentReversed,
    PayoffReceived,
    PrepaymentReceived,
)
from lending.persistence.codec import event_from_row
from lending.persistence.tables import (
    CreditLineRecord,
    JournalEntryRecord,
    JournalPostingRecord,
    LineEventRecord,
    from_minor,
)
from lending.persistence.unit_of_work import SqlUnitOfWork

__all__ = [
    "HISTORY_COLUMNS",
    "PANEL_COLUMNS",
    "JOURNAL_COLUMNS",
    "HistorySource",
    "credit_history_frame",
    "empty_credit_history",
    "line_month_panel",
    "delinquency_frame",
    "booked_through",
    "journal_frame",
    "history_date",
    "end_of_day",
]

#: An engine, an open connection (its transaction is used) or a unit of work.
HistorySource = sa.Engine | sa.Connection | SqlUnitOfWork

#: Columns of :func:`credit_history_frame`: the credit-history contract
#: (:mod:`features.credit_history`) and its ledger extension.
HISTORY_COLUMNS: tuple[str, ...] = (
    "draw_id", "seller_id", "drawn_at", "amount", "credit_limit", "due_at", "repaid_at",
    "line_id", "line_opened_at", "instalment_id", "instalment_due_at", "instalment_paid_at",
    "instalment_principal", "written_off_at",
)
#: Columns of :func:`line_month_panel`.
PANEL_COLUMNS: tuple[str, ...] = ("line_id", "seller_id", "opened_on", "month",
                                  "months_on_book", "days_past_due", "bucket", "status")
#: Columns of :func:`delinquency_frame`.
DELINQUENCY_COLUMNS: tuple[str, ...] = ("line_id", "seller_id", "opened_on", "on",
                                        "to_bucket", "days_past_due")
#: Columns of :func:`journal_frame`.
JOURNAL_COLUMNS: tuple[str, ...] = (
    "entry_id", "line_id", "on", "posted_on", "kind", "reference", "adjustment", "account",
    "side", "amount", "amount_minor", "currency", "recorded_at",
)

_LINE = cast(sa.Table, CreditLineRecord.__table__)  # type: ignore[attr-defined]
_EVENT = cast(sa.Table, LineEventRecord.__table__)  # type: ignore[attr-defined]
_ENTRY = cast(sa.Table, JournalEntryRecord.__table__)  # type: ignore[attr-defined]
_POSTING = cast(sa.Table, JournalPostingRecord.__table__)  # type: ignore[attr-defined]
#: Ids per ``IN (...)`` list (SQLite allows 32,766 parameters per statement).
_CHUNK = 2_000
_MICROSECOND = timedelta(microseconds=1)
_PAYMENTS = (PaymentReceived, PrepaymentReceived, PayoffReceived)
_DEFAULT_TIMEZONE = "Asia/Shanghai"


# --------------------------------------------------------------------------- reading


@contextmanager
def _connected(source: HistorySource) -> Iterator[sa.Connection]:
    """A connection inside a read transaction of ``source``."""
    if isinstance(source, sa.Connection):
        yield source
    elif isinstance(source, sa.Engine):
        with source.connect() as connection:
            yield connection
    else:
        with source.reading():
            yield source.session.connection()


@dataclass(frozen=True)
class _StoredLine:
    line_id: str
    seller_id: str
    currency: str
    opened_on: date
    booked_on: date
    freeze_after_days: int
    terms: LineTerms
    events: tuple[LineEvent, ...]


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start:start + _CHUNK])


def _terms(row: Any, events: Sequence[LineEvent]) -> LineTerms:
    """The terms the line was opened with (its limit then is the limit before its first
    change; ``limit_minor`` is the limit in force now)."""
    first_change = next((e for e in events if isinstance(e, LimitChanged)), None)
    limit = (from_minor(row.limit_minor, row.currency) if first_change is None
             else first_change.previous_limit)
    return LineTerms(
        line_id=row.id, limit=limit, opened_on=row.opened_on, currency=row.currency,
        revolving=bool(row.revolving),
        delinquency=DelinquencyPolicy(row.grace_days, Decimal(row.penalty_daily_rate),
                                      row.freeze_after_days, row.write_off_after_days),
        allocation=AllocationPolicy(
            cast(tuple[Component, ...], tuple(row.allocation_order.split(","))),
            "instalment" if row.allocation_by == "instalment" else "component"))


def _read_lines(connection: sa.Connection, seller_ids: Iterable[str] | None,
                line_ids: Iterable[str] | None = None) -> list[_StoredLine]:
    """The stored lines (of ``seller_ids``, or with ``line_ids``, or all) with their
    events, by line id."""
    statement = sa.select(_LINE).order_by(_LINE.c.id)
    if seller_ids is None and line_ids is None:
        rows = list(connection.execute(statement))
    else:
        column, wanted = ((_LINE.c.seller_id, seller_ids) if seller_ids is not None
                          else (_LINE.c.id, line_ids))
        ids = sorted({str(value) for value in wanted or ()})
        rows = [row for chunk in _chunks(ids)
                for row in connection.execute(statement.where(column.in_(chunk)))]
        rows.sort(key=lambda row: row.id)
    currency = {row.id: row.currency for row in rows}
    events: dict[str, list[LineEvent]] = {row.id: [] for row in rows}
    select_events = (sa.select(_EVENT.c.line_id, _EVENT.c.kind, _EVENT.c.on,
                               _EVENT.c.operation_id, _EVENT.c.amount_minor, _EVENT.c.payload)
                     .order_by(_EVENT.c.line_id, _EVENT.c.sequence))
    for chunk in _chunks(list(events)):
        for event in connection.execute(select_events.where(_EVENT.c.line_id.in_(chunk))):
            amount = (None if event.amount_minor is None
                      else from_minor(event.amount_minor, currency[event.line_id]))
            events[event.line_id].append(event_from_row(
                event.kind, _as_date(event.on), event.operation_id, amount, event.payload))
    return [_StoredLine(row.id, row.seller_id, row.currency, _as_date(row.opened_on),
                        _as_date(row.as_of), row.freeze_after_days,
                        _terms(row, events[row.id]), tuple(events[row.id]))
            for row in rows]


def _as_date(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


# --------------------------------------------------------------------------- times


def end_of_day(day: date, timezone: str = _DEFAULT_TIMEZONE) -> datetime:
    """The moment business date ``day`` ends: midnight starting the next day, in UTC."""
    local = datetime.combine(day + timedelta(days=1), datetime.min.time(),
                             tzinfo=ZoneInfo(timezone))
    return local.astimezone(ZoneInfo("UTC"))


def history_date(as_of: datetime, timezone: str = _DEFAULT_TIMEZONE) -> date:
    """The last business date that ended at or before the moment ``as_of``."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must be timezone-aware; got {as_of.isoformat()}")
    return as_of.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def _stamps(days: Sequence[date | None], timezone: str, *, during: bool) -> pd.Series:
    """Business dates as UTC moments: their end, or one microsecond before it (an event
    of the day); ``None`` is NaT."""
    values = pd.to_datetime(pd.Series([None if day is None else day + timedelta(days=1)
                                       for day in days], dtype="object"))
    moments = values.dt.tz_localize(timezone).dt.tz_convert("UTC")
    if during:
        moments = moments - pd.Timedelta(_MICROSECOND)
    return moments.astype("datetime64[ns, UTC]")


# --------------------------------------------------------------------------- one line


@dataclass(frozen=True)
class _DrawRow:
    line: _StoredLine
    draw_id: str
    drawn_on: date
    amount: Decimal
    credit_limit: Decimal
    due_on: date
    repaid_on: date | None
    written_off_on: date | None
    instalment: int
    instalment_due_on: date
    instalment_paid_on: date | None
    instalment_principal: Decimal


def _restated(events: Sequence[LineEvent]) -> list[LineEvent]:
    """The events without the payments reversed among them and without the reversals:
    the fold treats a reversed payment as void from the start, so days past due are the
    same, and a fold as of a day before the reversal then restates it too."""
    void = {event.payment_id for event in events if isinstance(event, PaymentReversed)}
    return [event for event in events if not isinstance(event, PaymentReversed)
            and not (isinstance(event, _PAYMENTS) and event.payment_id in void)]


def _limit_at_draws(line: _StoredLine, events: Sequence[LineEvent]) -> dict[str, Decimal]:
    limit = line.terms.limit
    at_draw: dict[str, Decimal] = {}
    for event in events:
        if isinstance(event, LimitChanged):
            limit = event.new_limit
        elif isinstance(event, DrawMade):
            at_draw[event.draw_id] = limit
    return at_draw


def _folds(credit_line: CreditLine, events: Sequence[LineEvent], through: date
           ) -> dict[date, LineState]:
    """The line as of each day money arrived, each due date a credit balance could pay,
    and ``through``."""
    days = sorted({event.on for event in events if isinstance(event, _PAYMENTS)
                   and event.on <= through})
    states: dict[date, LineState] = {}
    pending = list(days)
    while pending:
        day = pending.pop(0)
        if day in states:
            continue
        state = credit_line.state(day)
        states[day] = state
        if state.credit_balance > 0 and state.next_due_date is not None \
                and state.next_due_date <= through and state.next_due_date not in states:
            pending.append(state.next_due_date)
            pending.sort()
    states[through] = credit_line.state(through)
    return states


def _first_of_last_run(days: Sequence[date], paid: Sequence[bool]) -> date | None:
    """The first day of the run of paid days that reaches the last day, if any."""
    found: date | None = None
    for day, is_paid in zip(reversed(days), reversed(paid), strict=True):
        if not is_paid:
            break
        found = day
    return found


def _line_rows(line: _StoredLine, through: date) -> list[_DrawRow]:
    """One row per instalment of each draw of the line, as known at the end of
    ``through``."""
    if through < line.opened_on:
        return []
    events = _restated([event for event in line.events if event.on <= through])
    credit_line = CreditLine(line.terms, events)
    states = _folds(credit_line, events, through)
    final = states[through]
    written_off_on = next((event.on for event in final.delinquency_events
                           if isinstance(event, LineWrittenOff)), None)
    limits = _limit_at_draws(line, events)
    tolerance = line.terms.delinquency.arrears_tolerance
    rows: list[_DrawRow] = []
    for draw in final.draws:
        written_off = draw.status == "written_off"
        days = sorted(day for day in states if day >= draw.drawn_on
                      and (not written_off or written_off_on is None
                           or day < written_off_on))
        known = [states[day] for day in days]
        present = [next((d for d in state.draws if d.draw_id == draw.draw_id), None)
                   for state in known]
        repaid_on = None if written_off else _first_of_last_run(
            days, [d is not None and d.status == "repaid" for d in present])
        for instalment in draw.instalments:
            flags = []
            for status in present:
                item = None if status is None else next(
                    (i for i in status.instalments if i.number == instalment.number), None)
                if item is None:
                    flags.append(False)
                elif item.is_due:
                    flags.append(item.principal_unpaid + item.interest_unpaid
                                 + item.fee_unpaid <= tolerance)
                else:
                    flags.append(item.principal_unpaid == 0)
            rows.append(_DrawRow(
                line=line, draw_id=draw.draw_id, drawn_on=draw.drawn_on, amount=draw.amount,
                credit_limit=limits.get(draw.draw_id, line.terms.limit),
                due_on=max(i.due_date for i in draw.instalments), repaid_on=repaid_on,
                written_off_on=written_off_on if written_off else None,
                instalment=instalment.number, instalment_due_on=instalment.due_date,
                instalment_paid_on=_first_of_last_run(days, flags),
                instalment_principal=instalment.principal))
    return rows


# --------------------------------------------------------------------------- the frames


def _through(line: _StoredLine, as_of: datetime | None, timezone: str) -> date:
    return line.booked_on if as_of is None else history_date(as_of, timezone)


def _history(rows: list[_DrawRow], timezone: str) -> pd.DataFrame:
    def stamps(days: Sequence[date | None], *, during: bool) -> pd.Series:
        return _stamps(days, timezone, during=during)

    return pd.DataFrame({
        "draw_id": pd.Series([r.draw_id for r in rows], dtype="string"),
        "seller_id": pd.Series([r.line.seller_id for r in rows], dtype="string"),
        "drawn_at": stamps([r.drawn_on for r in rows], during=True),
        "amount": np.array([float(r.amount) for r in rows], dtype=np.float64),
        "credit_limit": np.array([float(r.credit_limit) for r in rows], dtype=np.float64),
        "due_at": stamps([r.due_on for r in rows], during=False),
        "repaid_at": stamps([r.repaid_on for r in rows], during=True),
        "line_id": pd.Series([r.line.line_id for r in rows], dtype="string"),
        "line_opened_at": stamps([r.line.opened_on for r in rows], during=True),
        "instalment_id": pd.Series([f"{r.draw_id}.{r.instalment}" for r in rows],
                                   dtype="string"),
        "instalment_due_at": stamps([r.instalment_due_on for r in rows], during=False),
        "instalment_paid_at": stamps([r.instalment_paid_on for r in rows], during=True),
        "instalment_principal": np.array([float(r.instalment_principal) for r in rows],
                                         dtype=np.float64),
        "written_off_at": stamps([r.written_off_on for r in rows], during=False),
    }, columns=list(HISTORY_COLUMNS))


def credit_history_frame(source: HistorySource, *, seller_ids: Iterable[str] | None = None,
                         as_of: datetime | None = None,
                         timezone: str = _DEFAULT_TIMEZONE,
                         progress: bool = False) -> pd.DataFrame:
    """The store's credit lines in the credit-history contract, one row per instalment.

    Parameters
    ----------
    source : an engine, an open connection (read in its transaction) or a unit of work
        not yet entered (read only).
    seller_ids : only these sellers' lines (default: every line).
    as_of : the moment the history is known at (timezone-aware): every line is folded
        through the last business date ended by then (:func:`history_date`), and only
        events dated up to it are read. Default: each line through its booked date
        (what end of day and the last write left).
    timezone : the lender's time zone (business dates to moments).
    progress : show a tqdm bar on stderr, one step per line.

    Returns
    -------
    pandas.DataFrame
        :data:`HISTORY_COLUMNS` in the contract's canonical dtypes (ids as strings,
        timestamps UTC, amounts float64 in the major unit), sorted by line, draw and
        instalment; ``features.build_features(..., credit_history=frame)`` reads it
        directly. See the module notes for how business dates become moments.
    """
    with _connected(source) as connection:
        lines = _read_lines(connection, seller_ids)
    rows: list[_DrawRow] = []
    for line in tqdm(lines, unit="line", desc="credit history", file=sys.stderr,
                     leave=False, disable=not progress):
        rows += _line_rows(line, _through(line, as_of, timezone))
    return _history(rows, timezone)


def empty_credit_history() -> pd.DataFrame:
    """A credit history without a row, in the contract's dtypes: what a store without a
    line exports (every seller gets the repayment features' no-history values)."""
    return _history([], _DEFAULT_TIMEZONE)


def _nanoseconds(values: pd.Series) -> np.ndarray:
    """UTC moments as int64 nanoseconds; NaT as the int64 maximum (never)."""
    naive = values.dt.tz_convert("UTC").dt.tz_localize(None)
    ns = naive.to_numpy(dtype="datetime64[ns]").view(np.int64)
    return np.where(naive.isna().to_numpy(), np.iinfo(np.int64).max, ns)


def _days_past_due(rows: pd.DataFrame, moments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A line's days past due at each of ``moments`` (int64 ns) from its instalments, and
    whether it was written off by then: an instalment counts once due and until paid in
    full (``paid < t`` no longer), its days stop at the write-off."""
    drawn = _nanoseconds(rows["drawn_at"])[:, None]
    due = _nanoseconds(rows["instalment_due_at"])[:, None]
    paid = _nanoseconds(rows["instalment_paid_at"])[:, None]
    written_off = _nanoseconds(rows["written_off_at"])[:, None]
    t = moments[None, :]
    counting = (drawn < t) & (due < t) & ~(paid < t)
    until = np.where(written_off < t, written_off, t)
    late = np.where(counting, (until - due) // (86_400 * 10**9), 0)
    if not len(rows):
        return np.zeros(len(moments), dtype=np.int64), np.zeros(len(moments), dtype=bool)
    return (np.asarray(late.max(axis=0), dtype=np.int64),
            np.asarray((written_off <= t).any(axis=0), dtype=bool))


def line_month_panel(source: HistorySource, *, through: date | None = None,
                     timezone: str = _DEFAULT_TIMEZONE, progress: bool = False
                     ) -> pd.DataFrame:
    """Every line at every month end from its opening month to ``through``.

    Parameters
    ----------
    source : an engine, an open connection or a unit of work (read only).
    through : the last business date (default: each line's booked date). Month ends
        after it are left out.
    timezone : the lender's time zone.
    progress : a tqdm bar on stderr.

    Returns
    -------
    pandas.DataFrame
        :data:`PANEL_COLUMNS`: ``line_id``, ``seller_id`` (str), ``opened_on``,
        ``month`` (the month's last day; ``datetime64[ns]``), ``months_on_book`` (int, 0
        in the opening month), ``days_past_due`` (int, at the end of that day; a written-off
        line keeps those of its write-off), ``bucket`` (one of
        :data:`lending.delinquency.BUCKETS` or ``written_off``) and ``status`` (``open``,
        ``frozen`` past the line's freeze threshold, or ``written_off``).
    """
    with _connected(source) as connection:
        lines = _read_lines(connection, None)
    records: list[tuple[Any, ...]] = []
    for line in tqdm(lines, unit="line", desc="month-end panel", file=sys.stderr,
                     leave=False, disable=not progress):
        last = line.booked_on if through is None else through
        if last < line.opened_on:
            continue
        history = _history(_line_rows(line, last), timezone)
        months = pd.date_range(pd.Timestamp(line.opened_on) + pd.offsets.MonthEnd(0),
                               pd.Timestamp(last), freq="ME")
        if not len(months):
            continue
        moments = np.array([int(pd.Timestamp(end_of_day(month.date(), timezone)).value)
                            for month in months], dtype=np.int64)
        days, gone = _days_past_due(history, moments)
        opened = pd.Timestamp(line.opened_on)
        for number, (month, late, written_off) in enumerate(zip(months, days, gone,
                                                                 strict=True)):
            bucket = "written_off" if written_off else bucket_for(int(late))
            status = ("written_off" if written_off
                      else "frozen" if late > line.freeze_after_days else "open")
            records.append((line.line_id, line.seller_id, opened, month, number, int(late),
                            bucket, status))
    frame = pd.DataFrame.from_records(records, columns=list(PANEL_COLUMNS))
    return frame.astype({"line_id": "str", "seller_id": "str",
                         "opened_on": "datetime64[ns]", "month": "datetime64[ns]",
                         "months_on_book": "int64", "days_past_due": "int64",
                         "bucket": "str", "status": "str"})


def delinquency_frame(source: HistorySource, *, line_ids: Iterable[str] | None = None,
                      through: date | None = None) -> pd.DataFrame:
    """Every change of delinquency bucket of the lines, and their write-offs, as end of
    day derived them (one fold of each line's events through ``through``, default its
    booked date).

    Returns
    -------
    pandas.DataFrame
        :data:`DELINQUENCY_COLUMNS`: ``line_id``, ``seller_id``, ``opened_on`` (date),
        ``on`` (the business date whose end saw the change), ``to_bucket`` (one of
        :data:`lending.delinquency.BUCKETS`, or ``written_off``) and ``days_past_due``
        then; by line and date. A line never past due has no row.
    """
    with _connected(source) as connection:
        lines = _read_lines(connection, None, line_ids)
    records: list[tuple[Any, ...]] = []
    for line in lines:
        last = line.booked_on if through is None else through
        if last < line.opened_on:
            continue
        state = CreditLine(line.terms, [e for e in line.events if e.on <= last]).state(last)
        for event in state.delinquency_events:
            if isinstance(event, BucketChanged):
                records.append((line.line_id, line.seller_id, line.opened_on, event.on,
                                event.to_bucket, event.days_past_due))
            elif isinstance(event, LineWrittenOff):
                records.append((line.line_id, line.seller_id, line.opened_on, event.on,
                                "written_off", event.days_past_due))
    frame = pd.DataFrame.from_records(records, columns=list(DELINQUENCY_COLUMNS))
    return frame.astype({"line_id": "str", "seller_id": "str", "to_bucket": "str",
                         "days_past_due": "int64"})


def booked_through(source: HistorySource) -> date | None:
    """The latest date any line is booked to (the last day end of day closed, once it
    ran), or ``None`` without a line."""
    with _connected(source) as connection:
        value = connection.execute(sa.select(sa.func.max(_LINE.c.as_of))).scalar()
    return None if value is None else _as_date(value)


#: Buckets of the panel, in order of severity.
PANEL_BUCKETS: tuple[str, ...] = (*BUCKETS, "written_off")


def journal_frame(source: HistorySource, *, progress: bool = False) -> pd.DataFrame:
    """Every journal entry with its postings, one row per posting.

    Returns
    -------
    pandas.DataFrame
        :data:`JOURNAL_COLUMNS`: the entry (id, line, business date ``on``, ``posted_on``,
        kind, reference, adjustment flag, ``recorded_at`` UTC) and the posting (account,
        side ``debit``/``credit``, ``amount`` as exact decimal text in the major unit,
        ``amount_minor`` as integer minor units, ``currency``), by entry id.
    """
    statement = (sa.select(_ENTRY.c.id, _ENTRY.c.line_id, _ENTRY.c.on, _ENTRY.c.posted_on,
                           _ENTRY.c.kind, _ENTRY.c.reference, _ENTRY.c.adjustment,
                           _POSTING.c.account, _POSTING.c.side, _POSTING.c.amount_minor,
                           _ENTRY.c.currency, _ENTRY.c.recorded_at)
                 .join(_POSTING, _POSTING.c.entry_id == _ENTRY.c.id)
                 .order_by(_ENTRY.c.id, _POSTING.c.id))
    records: list[tuple[Any, ...]] = []
    with _connected(source) as connection:
        result = connection.execution_options(yield_per=10_000).execute(statement)
        for row in tqdm(result, unit="posting", desc="journal", file=sys.stderr,
                        leave=False, disable=not progress):
            records.append((row.id, row.line_id, _as_date(row.on), _as_date(row.posted_on),
                            row.kind, row.reference, bool(row.adjustment), row.account,
                            row.side, str(from_minor(row.amount_minor, row.currency)),
                            row.amount_minor, row.currency, row.recorded_at))
    frame = pd.DataFrame.from_records(records, columns=list(JOURNAL_COLUMNS))
    frame["on"] = pd.to_datetime(frame["on"])
    frame["posted_on"] = pd.to_datetime(frame["posted_on"])
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"], utc=True, format="ISO8601")
    return frame.astype({"entry_id": "int64", "amount_minor": "int64", "adjustment": "bool"})
