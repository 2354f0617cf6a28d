"""The unit of work and the repositories it exposes.

A :class:`SqlUnitOfWork` opens a session (one transaction) when entered and rolls it back
when left, unless :meth:`~SqlUnitOfWork.commit` was called: nothing is ever committed
implicitly. Services enter it, do their work through the repositories, and commit once.

Repositories speak the domain's language (events, journal entries) and keep storage
details (minor units, JSON payloads) to themselves. The event log and the journal have
``append``/``add`` and read methods only: they are append-only (the migration also makes
the database refuse updates and deletes of their rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from lending.ledger import Account, EntryKind, JournalEntry, Posting
from lending.lines import LineEvent
from lending.money import minor_unit
from lending.persistence.codec import (
    event_from_row,
    event_kind,
    event_operation_id,
    event_payload,
)
from lending.persistence.tables import (
    CreditLineRecord,
    JournalEntryRecord,
    JournalPostingRecord,
    LineEventRecord,
    from_minor,
    to_minor,
)
from store.clock import utc_now
from store.idempotency import IdempotencyRepository
from store.unit_of_work import UnitOfWork

__all__ = [
    "SqlUnitOfWork",
    "CreditLineRepository",
    "LineEventRepository",
    "JournalRepository",
    "BookedEntry",
    "journal_rows",
    "IdempotencyRepository",
]


class CreditLineRepository:
    """Stored credit lines."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, record: CreditLineRecord) -> None:
        """Store a new line (inserted at the next flush or commit)."""
        self._session.add(record)

    def insert(self, values: dict[str, Any]) -> dict[str, Any]:
        """Store a new line at once, by one ``INSERT`` on the session's connection (no ORM
        object: an approval opens one, on the decisions' hot path), after flushing what
        the session holds; the columns not in ``values`` take the record's defaults.

        Returns the row stored. Raises the database's ``IntegrityError`` when the id is
        taken.
        """
        row = {**_LINE_DEFAULTS, **values}
        self._session.flush()
        self._session.connection().execute(_LINE_TABLE.insert(), row)
        return row

    def get(self, line_id: str) -> CreditLineRecord | None:
        """The line, without locking it."""
        return self._session.get(CreditLineRecord, line_id)

    def get_for_update(self, line_id: str) -> CreditLineRecord | None:
        """The line, locked until the transaction ends.

        ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the whole database is already
        write-locked by ``BEGIN IMMEDIATE`` (see :mod:`store.database`).
        ``populate_existing`` re-reads the row even if the session held it already.
        """
        statement = (select(CreditLineRecord).where(CreditLineRecord.id == line_id)
                     .with_for_update().execution_options(populate_existing=True))
        return self._session.exec(statement).first()


class LineEventRepository:
    """The append-only event log of each line."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, line: CreditLineRecord, events: Sequence[LineEvent]) -> None:
        """Append ``events`` after the line's last one and count them on the line."""
        now = utc_now()
        for event in events:
            amount = getattr(event, "amount", None)
            self._session.add(LineEventRecord(
                line_id=line.id, sequence=line.event_count, kind=event_kind(event),
                on=event.on, operation_id=event_operation_id(event),
                amount_minor=None if amount is None else to_minor(amount, line.currency),
                payload=event_payload(event), recorded_at=now))
            line.event_count += 1

    def list(self, line: CreditLineRecord) -> list[LineEvent]:
        """Every event of the line, in recording order."""
        rows = self._session.exec(select(LineEventRecord)
                                  .where(LineEventRecord.line_id == line.id)
                                  .order_by(col(LineEventRecord.sequence))).all()
        return [event_from_row(row.kind, row.on, row.operation_id,
                               None if row.amount_minor is None
                               else from_minor(row.amount_minor, line.currency), row.payload)
                for row in rows]


@dataclass(frozen=True)
class BookedEntry:
    """A journal entry as booked: the entry, when it was booked, and whether it adjusts."""

    entry: JournalEntry
    posted_on: date
    adjustment: bool


_ENTRY_TABLE: sa.Table = JournalEntryRecord.__table__  # type: ignore[attr-defined]
_POSTING_TABLE: sa.Table = JournalPostingRecord.__table__  # type: ignore[attr-defined]
_LINE_TABLE: sa.Table = CreditLineRecord.__table__  # type: ignore[attr-defined]
#: A new line's columns that have a fixed default in :class:`CreditLineRecord` (``None``
#: included), as its constructor would set them (the record has no default factory).
_LINE_DEFAULTS: dict[str, Any] = {
    name: field.default for name, field in CreditLineRecord.model_fields.items()
    if name in _LINE_TABLE.c and not field.is_required() and field.default_factory is None}


def journal_rows(line_id: str, entry: JournalEntry, *, posted_on: date, adjustment: bool,
                 recorded_at: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``journal_entry`` row of ``entry`` (without its id) and its ``journal_posting``
    rows (without their ``entry_id``), as every writer of the journal stores them.

    A :class:`JournalEntry`'s amounts are whole minor units already (it refuses finer
    ones): shifting the decimal point is exact, and cheaper than :func:`to_minor`'s check.
    """
    places = -int(minor_unit(entry.currency).as_tuple().exponent)
    return ({"line_id": line_id, "on": entry.on, "posted_on": posted_on,
             "kind": str(entry.kind), "reference": entry.reference,
             "currency": entry.currency, "adjustment": adjustment,
             "amount_minor": int(entry.amount.scaleb(places)), "recorded_at": recorded_at},
            [{"account": str(posting.account), "side": posting.side,
              "amount_minor": int(posting.amount.scaleb(places))}
             for posting in entry.postings])


class JournalRepository:
    """The append-only book of journal entries of each line."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, line: CreditLineRecord, entries: Sequence[tuple[JournalEntry, bool]],
                 *, posted_on: date) -> None:
        """Book ``entries`` (each with whether it is an adjusting one), in their order.

        Two statements whatever their number: the entries' rows, their ids returned in
        the order given, then every posting (after one flush of what the session holds,
        so that the line's row and events go first). The rows are written directly, not
        through ORM objects: booking a draw or a payment books several entries, and an
        ORM flush per entry (for its id) cost more than the rest of the write.
        """
        if not entries:
            return
        self._session.flush()
        stamp = utc_now()
        rows = [journal_rows(line.id, entry, posted_on=posted_on, adjustment=adjustment,
                             recorded_at=stamp) for entry, adjustment in entries]
        connection = self._session.connection()
        ids = connection.execute(
            sa.insert(_ENTRY_TABLE).returning(_ENTRY_TABLE.c.id,
                                              sort_by_parameter_order=True),
            [entry_row for entry_row, _ in rows]).scalars().all()
        connection.execute(sa.insert(_POSTING_TABLE), [
            {"entry_id": entry_id, **posting}
            for entry_id, (_, postings) in zip(ids, rows, strict=True)
            for posting in postings])

    def list(self, line: CreditLineRecord) -> list[BookedEntry]:
        """Every booked entry of the line, in booking order."""
        self._session.flush()
        rows = self._session.exec(
            select(JournalEntryRecord, JournalPostingRecord)
            .join(JournalPostingRecord, col(JournalPostingRecord.entry_id)
                  == col(JournalEntryRecord.id))
            .where(JournalEntryRecord.line_id == line.id)
            .order_by(col(JournalEntryRecord.id), col(JournalPostingRecord.id))).all()
        grouped: dict[int, tuple[JournalEntryRecord, list[Posting]]] = {}
        for entry, posting in rows:
            assert entry.id is not None
            side: Literal["debit", "credit"] = ("debit" if posting.side == "debit"
                                                else "credit")
            grouped.setdefault(entry.id, (entry, []))[1].append(
                Posting(Account(posting.account), side,
                        from_minor(posting.amount_minor, entry.currency)))
        return [BookedEntry(JournalEntry(entry.on, EntryKind(entry.kind), tuple(postings),
                                         entry.reference, entry.currency),
                            entry.posted_on, entry.adjustment)
                for entry, postings in grouped.values()]

    def totals(self, line_id: str | None = None) -> dict[tuple[str, str], int]:
        """Sum of posted minor units by (account, side), for one line or the whole book."""
        statement = (sa.select(col(JournalPostingRecord.account), col(JournalPostingRecord.side),
                               sa.func.sum(col(JournalPostingRecord.amount_minor)))
                     .join(JournalEntryRecord, col(JournalPostingRecord.entry_id)
                           == col(JournalEntryRecord.id))
                     .group_by(JournalPostingRecord.account, JournalPostingRecord.side))
        if line_id is not None:
            statement = statement.where(col(JournalEntryRecord.line_id) == line_id)
        return {(account, side): int(total)
                for account, side, total in self._session.execute(statement).all()}


class SqlUnitOfWork(UnitOfWork):
    """A unit of work on the lending tables, with their repositories and the store's
    idempotency records (:class:`store.idempotency.IdempotencyRepository`).

    Parameters
    ----------
    engine
        An engine from :func:`~store.database.make_engine`.

    Examples
    --------
    ::

        with SqlUnitOfWork(engine) as uow:
            line = uow.lines.get("L1")
            ...
            uow.commit()
    """

    lines: CreditLineRepository
    events: LineEventRepository
    journal: JournalRepository
    idempotency: IdempotencyRepository

    def open_repositories(self, session: Session) -> None:
        """The lending repositories on the session just opened."""
        self.lines = CreditLineRepository(session)
        self.events = LineEventRepository(session)
        self.journal = JournalRepository(session)
        self.idempotency = IdempotencyRepository(session)
