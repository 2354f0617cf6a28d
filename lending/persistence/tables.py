"""SQLModel tables of the lending engine.

Money is stored as exact integer **minor units** (fen for CNY): ``BigInteger`` columns
named ``*_minor``, never floats (SQLite has no exact decimal type, so ``Numeric`` would
round-trip through a float there). :func:`to_minor` and :func:`from_minor` convert.

The credit line follows the one-family-per-entity habit: :class:`CreditLineBase` (shared
fields), :class:`CreditLineCreate` (input) and :class:`CreditLineRecord` (the table); its
HTTP output, ``CreditLinePublic``, is the API's (``api/routes/lines.py``). The other
tables are append-only logs written only by the services: line events (what
:func:`lending.fold_line` folds), journal entries with their postings. Idempotency
records are the store's (:class:`IdempotencyRecord`, from :mod:`store.idempotency`),
shared with the credit decisions.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from lending.money import minor_unit
from store.idempotency import IdempotencyRecord

__all__ = [
    "to_minor",
    "from_minor",
    "CreditLineBase",
    "CreditLineCreate",
    "CreditLineRecord",
    "LineEventRecord",
    "JournalEntryRecord",
    "JournalPostingRecord",
    "LineCheckpointRecord",
    "IdempotencyRecord",
]

#: Auto-incrementing 64-bit key; SQLite only auto-increments an ``INTEGER PRIMARY KEY``.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def to_minor(amount: Decimal, currency: str) -> int:
    """An exact amount as an integer number of minor units (``Decimal("12.34")`` -> 1234).

    Raises
    ------
    ValueError
        If the amount is finer than the currency's minor unit (a bug upstream: every
        amount reaching storage was already checked by the rules).
    """
    units = amount / minor_unit(currency)
    if units != units.to_integral_value():
        raise ValueError(f"{amount} is finer than the {currency} minor unit")
    return int(units)


def from_minor(units: int, currency: str) -> Decimal:
    """An integer number of minor units as a quantized ``Decimal`` (1234 -> ``12.34``)."""
    unit = minor_unit(currency)
    return (Decimal(units) * unit).quantize(unit)


class CreditLineBase(SQLModel):
    """Fields shared by every shape of a credit line."""

    seller_id: str = Field(max_length=128, index=True)
    product: str = Field(default="purchase_line", max_length=40)
    currency: str = Field(default="CNY", max_length=3)
    policy_version: str | None = Field(default=None, max_length=40)
    revolving: bool = True


class CreditLineCreate(CreditLineBase):
    """What opening a line takes."""

    id: str = Field(max_length=100)
    limit: Decimal
    opened_on: date


class CreditLineRecord(CreditLineBase, table=True):
    """A stored credit line: its terms, a version counter, and a cached summary.

    ``status``, ``outstanding_minor``, ``available_minor``, ``days_past_due``, ``bucket``
    and ``as_of`` are a cache of the fold as of ``as_of`` (the date of the last write),
    refreshed by every service that changes the line; the events stay the truth.
    ``limit_minor`` is the limit in force as of ``as_of`` too: the opening limit until a
    limit change, whose event keeps the limit before it (so the first one's
    ``previous_limit`` is the limit the line was opened with).
    """

    __tablename__ = "credit_line"

    id: str = Field(primary_key=True, max_length=100)
    limit_minor: int = Field(sa_type=sa.BigInteger)
    #: Indexed: a store that never ran end of day takes its business date from the
    #: earliest line (lending.persistence.business_day), read by every approval.
    opened_on: date = Field(index=True)
    # Delinquency and allocation parameters the line was opened with (see LineTerms).
    grace_days: int = 3
    penalty_daily_rate: str = Field(default="0.0005", max_length=20)
    freeze_after_days: int = 3
    write_off_after_days: int = 180
    allocation_order: str = Field(default="penalty,fee,interest,principal", max_length=60)
    allocation_by: str = Field(default="component", max_length=20)
    #: The terms granted by the decision that opened the line (``lending.policy.Terms``
    #: as JSON, see :mod:`lending.products`); ``None`` for a line opened without one.
    terms: str | None = Field(default=None, sa_type=sa.Text)
    status: str = Field(default="open", max_length=20)
    #: Incremented by every change; a cheap ETag and a guard for optimistic checks.
    version: int = 0
    #: Number of events recorded; the next event's sequence number.
    event_count: int = 0
    last_operation_on: date | None = None
    as_of: date
    outstanding_minor: int = Field(default=0, sa_type=sa.BigInteger)
    available_minor: int = Field(default=0, sa_type=sa.BigInteger)
    days_past_due: int = 0
    bucket: str = Field(default="current", max_length=10)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class LineEventRecord(SQLModel, table=True):
    """One event of a line's append-only log, in recording order (``sequence``).

    ``amount_minor`` is the event's money (draws and payments; ``None`` for reversals and
    limit changes, whose limits are in the payload);
    ``payload`` is the rest of the event as JSON with amounts as strings (a draw's whole
    schedule, so replay never depends on schedule code that may change later).
    """

    __tablename__ = "line_event"
    __table_args__ = (sa.UniqueConstraint("line_id", "sequence", name="uq_line_event_sequence"),
                      sa.UniqueConstraint("line_id", "kind", "operation_id",
                                          name="uq_line_event_operation"))

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    line_id: str = Field(foreign_key="credit_line.id", max_length=100)
    sequence: int
    kind: str = Field(max_length=30)
    on: date
    operation_id: str = Field(max_length=100)
    amount_minor: int | None = Field(default=None, sa_type=sa.BigInteger)
    payload: str = Field(sa_type=sa.Text)
    recorded_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class JournalEntryRecord(SQLModel, table=True):
    """A balanced journal entry as booked (append-only).

    ``on`` is the business date the movement belongs to; ``posted_on`` the business date
    of the service call that booked it; ``adjustment`` marks an entry booked to bring the
    book in line with a re-derived history (a reversed payment), dated ``posted_on``.
    """

    __tablename__ = "journal_entry"

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    line_id: str = Field(foreign_key="credit_line.id", max_length=100, index=True)
    on: date
    posted_on: date
    kind: str = Field(max_length=30)
    reference: str = Field(max_length=100)
    currency: str = Field(max_length=3)
    adjustment: bool = False
    amount_minor: int = Field(sa_type=sa.BigInteger)
    recorded_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class JournalPostingRecord(SQLModel, table=True):
    """One debit or credit of a journal entry (append-only)."""

    __tablename__ = "journal_posting"

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    entry_id: int = Field(foreign_key="journal_entry.id", sa_type=BIG_ID, index=True)
    account: str = Field(max_length=30)
    side: str = Field(max_length=6)
    amount_minor: int = Field(sa_type=sa.BigInteger)


class LineCheckpointRecord(SQLModel, table=True):
    """A line's fold as end of day left it: resumed the next day instead of refolding.

    ``state`` is the :class:`lending.lines.FoldCheckpoint` document as JSON, the fold as
    of ``as_of`` folded from the line's first ``event_count`` events. It is a cache, never
    the truth: end of day uses it only while the line still has that many events and is
    booked no further than ``quiet_through`` (the last day through which advancing it
    changes nothing but the date) or ``as_of``; any write to the line (a new event, a
    booking to another date) makes it stale, and end of day then folds the line from its
    events and stores a new one.
    """

    __tablename__ = "line_checkpoint"

    line_id: str = Field(primary_key=True, foreign_key="credit_line.id", max_length=100)
    as_of: date
    event_count: int
    next_visit: date | None = None
    quiet_through: date | None = None
    state: str = Field(sa_type=sa.Text)
