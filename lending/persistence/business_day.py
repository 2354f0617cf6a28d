"""The lender's business date: its tables, how it is read, and the dates clients may use.

The business date belongs to the lender and advances only by end of day
(:mod:`lending.persistence.eod`): the **current business date** is the last closed day
plus one. A store that never ran end of day has no ``business_day`` row yet; its last
closed day is then the day before its first line opened (so the first end of day books
every day of the book from its start), or, with no line at all, the day before ``today``
(the calendar date in the lender's time zone, passed in by the caller).

Tables
------
``business_day``
    One row per store (``id`` 1): the last closed day, and the claim of the end-of-day
    runner on SQLite (``runner``, ``runner_until``; PostgreSQL uses an advisory lock).
``end_of_day_run``
    One row per day end of day started to close: status (``running``, ``closed``,
    ``failed``), start and finish, lines processed, the resume cursor (the last line id
    whose batch committed), attempts, the trial balance it ended with (JSON), the
    sellers whose credit history changed that day and the largest journal entry id its
    trial balance counted (``journal_through``).
``closing_balance``
    The book's posted amounts at each close, per date posted, currency, account and side
    (:class:`ClosingBalanceRecord`): the next close adds the entries booked since.

Dates from clients
------------------
The rules are pure (:mod:`lending.calendar`, re-exported here):
:func:`check_draw_date`: a draw happens on the business date (a client may repeat it,
nothing else). :func:`check_value_date`: a repayment's value date may go back
``window_days`` from the business date, never forward.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

from lending.calendar import check_draw_date, check_value_date
from lending.persistence.tables import BIG_ID, CreditLineRecord
from lending.persistence.unit_of_work import SqlUnitOfWork

__all__ = ["BusinessDayRecord", "EndOfDayRunRecord", "ClosingBalanceRecord", "STORE_ROW",
           "last_closed_day", "business_date", "current_business_date", "read_business_date",
           "check_draw_date", "check_value_date"]

#: The id of the store's one ``business_day`` row.
STORE_ROW = 1


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


class BusinessDayRecord(SQLModel, table=True):
    """The store's business day: the last day end of day closed."""

    __tablename__ = "business_day"

    id: int = Field(default=STORE_ROW, primary_key=True)
    last_closed: date
    #: SQLite's end-of-day claim: who runs it (``host:pid:token``) and until when the
    #: claim holds unless renewed (each batch renews it).
    runner: str | None = Field(default=None, max_length=200)
    runner_until: datetime | None = Field(default=None, sa_type=_timestamp())
    updated_at: datetime = Field(sa_type=_timestamp())


class EndOfDayRunRecord(SQLModel, table=True):
    """End of day of one business day: progress, resume cursor and outcome."""

    __tablename__ = "end_of_day_run"
    __table_args__ = (sa.UniqueConstraint("day", name="uq_end_of_day_run_day"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    day: date
    status: str = Field(default="running", max_length=20)
    started_at: datetime = Field(sa_type=_timestamp())
    finished_at: datetime | None = Field(default=None, sa_type=_timestamp())
    #: Seconds spent over every attempt (a resumed run adds its own).
    seconds: float = 0.0
    lines_processed: int = 0
    #: The last line id of the last committed batch: a resumed run goes on after it.
    cursor: str | None = Field(default=None, max_length=100)
    attempts: int = 1
    trial_balance: str | None = Field(default=None, sa_type=sa.Text)
    #: JSON list of the sellers whose credit history changed on the day.
    sellers_changed: str = Field(default="[]", sa_type=sa.Text)
    error: str | None = Field(default=None, sa_type=sa.Text)
    #: The largest journal entry id in the book when the day closed: its trial balance
    #: counted every entry up to it (``None``: closed before closing balances were kept).
    journal_through: int | None = Field(default=None, sa_type=sa.BigInteger)


class ClosingBalanceRecord(SQLModel, table=True):
    """The book's posted amounts at the close of ``day``, carried to the next close.

    One row per date posted, currency, account and side: the sum of the postings of every
    journal entry in the book when end of day closed ``day`` (ids up to the run's
    ``journal_through``). Entries posted on or before ``day`` are summed under
    ``posted_on = day``: those rows are the day's trial balance. An entry posted after
    ``day`` (a write dated ahead of the business date: simulations and tests) is kept
    under its own date, to join the balance when its day closes. The next close adds only
    the entries booked since (ids above ``journal_through``), whatever date they were
    posted on, so an entry booked into a closed day later is counted too.
    """

    __tablename__ = "closing_balance"

    day: date = Field(primary_key=True)
    posted_on: date = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    account: str = Field(primary_key=True, max_length=30)
    side: str = Field(primary_key=True, max_length=6)
    amount_minor: int = Field(sa_type=sa.BigInteger)


def last_closed_day(session: Session, *, today: date) -> date:
    """The last day end of day closed (see the module for a store that never ran it)."""
    row = session.get(BusinessDayRecord, STORE_ROW)
    if row is not None:
        return row.last_closed
    first = session.exec(select(sa.func.min(CreditLineRecord.opened_on))).first()
    return _last_closed(None, first, today)


def _last_closed(closed: date | None, first_opened: date | None, today: date) -> date:
    if closed is not None:
        return closed
    if first_opened is not None:
        return first_opened - timedelta(days=1)
    return today - timedelta(days=1)


def business_date(session: Session, *, today: date) -> date:
    """The current business date: the last closed day plus one."""
    return last_closed_day(session, today=today) + timedelta(days=1)


_DAY_TABLE = BusinessDayRecord.metadata.tables["business_day"]
_LINE_TABLE = CreditLineRecord.metadata.tables["credit_line"]
#: The store row's last closed day, and the first line's opening date only when there is
#: no store row (the condition is evaluated once, before the scan, which it skips).
_READ_LAST_CLOSED = sa.select(
    sa.select(_DAY_TABLE.c.last_closed).where(_DAY_TABLE.c.id == STORE_ROW)
    .scalar_subquery(),
    sa.select(sa.func.min(_LINE_TABLE.c.opened_on))
    .where(~sa.exists().where(_DAY_TABLE.c.id == STORE_ROW)).scalar_subquery())


def read_business_date(connection: sa.Connection, *, today: date) -> date:
    """:func:`business_date` in one statement on ``connection`` (read in its transaction).

    For a hot path whose session has not loaded the store's ``business_day`` row (an ORM
    session answers :func:`business_date` from the row it holds, as first read in its
    transaction): one round trip instead of one or two, and no ORM query.
    """
    closed, first = connection.execute(_READ_LAST_CLOSED).one()
    return _last_closed(closed, first, today) + timedelta(days=1)


def current_business_date(uow: SqlUnitOfWork, *, today: date) -> date:
    """:func:`business_date` read in its own (read-only) unit of work.

    Parameters
    ----------
    uow
        A unit of work, not yet entered.
    today
        The calendar date in the lender's time zone (used only by a store that never
        ran end of day and has no line).
    """
    with uow.reading():
        return business_date(uow.session, today=today)
