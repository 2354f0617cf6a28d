"""End of day: close the lender's business day for every open line, in batches.

:func:`close_day` closes one day: every line not written off (or closed) and opened by
then is advanced to the end of that day (:func:`lending.persistence.services.advance_in`:
the fold books accruals, penalties, days past due, bucket, freeze and write-off, and
refreshes the line's summary row). Lines go in batches of ``batch_size`` ordered by id,
each batch in one transaction that also moves the run's **resume cursor** (the last line
id done), so a process killed mid-run resumes after the last committed batch and books
nothing twice (a line already booked to the day is left as it is anyway). Memory stays
flat in the book's size: one batch's lines are loaded at a time (two on PostgreSQL, where
a second thread writes and commits one batch while the next is read and advanced, so the
database's work and Python's overlap; batches still commit one at a time, in order).

A day's work is proportional to what changes, not to the lines' histories. Each line
keeps a **checkpoint** of its fold (``line_checkpoint``, :func:`lending.lines.resume_fold`)
as of a day end of day closed; the next day resumes it instead of folding the line from
its first event, and books only the entries dated after the line's booked date (the
entries up to it are already in the book; advancing without new events cannot change
them). A line whose checkpoint says nothing happens that day (no due date, nothing past
due, no interest accruing) only has its booked date moved (its checkpoint's state is not
even read). A line written to since its checkpoint (a new event, a back-valued payment, a
reversal) is folded from its events once and gets a new checkpoint. Each batch is read
and written set-based: its lines and checkpoints in a few statements; its entries and
postings by ``COPY`` on PostgreSQL (one ``executemany`` each on SQLite), its summaries
and checkpoints in one statement each.

The day ends with a **trial balance** per currency (:func:`closing_trial_balance`):
debits equal credits, and the booked ``loans_receivable`` equals the sum of the lines'
outstanding principal. It costs what the day booked, not what the book holds: the
previous close's balances per account (``closing_balance``) are carried forward and only
the entries booked since its close are added (journal entry ids above the previous run's
``journal_through``, whatever date they are posted on: a back-valued payment, or an entry
booked into a closed day later, is counted too). It equals the full scan of every posting
(:func:`trial_balance`, ``sme-credit ledger trial-balance --full``; tested on both
databases), which the first close of a store (or the first after the upgrade) does
once. It is stored on the run; if it fails, the run stops with
:class:`~lending.persistence.errors.TrialBalanceFailed` and the day stays open. Only then
does the store's last closed day move, in the same transaction, with the day's closing
balances.

Closing a closed day again changes nothing; :func:`run_end_of_day` closes every open day
up to ``through`` in order (catch-up). On a ``real`` clock a day on or after ``today``
(the calendar date in the lender's time zone) is never closed; a ``simulated`` clock may
close any day (simulations and tests move time this way).

One runner per store: :func:`runner_lock` takes a PostgreSQL advisory lock
(``pg_try_advisory_lock``) or, on SQLite, a claim on the store's ``business_day`` row
(with a lease renewed by every batch; a claim of a process that died on this host is
taken over at once). Even without it two runners could not book twice: each batch reads
the cursor under the run row's lock before it commits, and a batch chosen from a cursor
another runner has moved since is rolled back.

Sellers whose credit history changed (bucket, freeze, write-off) are listed on the run
(``sellers_changed``): their feature snapshots are stale (``records`` sits above
``lending`` and rebuilds them; this package cannot reach its tables).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time as clock_time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from lending.allocation import AllocationPolicy
from lending.delinquency import DelinquencyPolicy
from lending.errors import LendingError
from lending.ledger import ACCOUNT_TYPES, Account, JournalEntry
from lending.lines import (
    FoldCheckpoint,
    LineEvent,
    LineTerms,
    fold_with_checkpoint,
    resume_fold,
)
from lending.persistence.business_day import (
    STORE_ROW,
    BusinessDayRecord,
    ClosingBalanceRecord,
    EndOfDayRunRecord,
    last_closed_day,
)
from lending.persistence.codec import event_from_row
from lending.persistence.errors import (
    DayNotClosable,
    EndOfDayRunning,
)
from lending.persistence.services import FINISHED_STATUSES, advance_in, terms_of
from lending.persistence.tables import (
    CreditLineRecord,
    JournalEntryRecord,
    JournalPostingRecord,
    from_minor,
    to_minor,
)
from lending.persistence.unit_of_work import SqlUnitOfWork, journal_rows
from store.clock import as_utc, utc_now

__all__ = ["TrialBalanceFailed", "Clock", "AccountBalance", "CurrencyBalance", "TrialBalance",
           "DayClosed",
           "RunSummary", "EndOfDayStatus", "trial_balance", "closing_trial_balance",
           "stored_trial_balance", "store_closing_balance", "ClosingSums", "close_day",
           "run_end_of_day",
           "runner_lock", "end_of_day_status", "EndOfDayScheduler", "days_to_close",
           "DEFAULT_BATCH_SIZE"]

log = logging.getLogger("sme_credit.eod")

Clock = Literal["real", "simulated"]
#: Lines advanced per transaction.
DEFAULT_BATCH_SIZE = 1000
#: Statuses of a line end of day no longer visits.
_FINISHED = FINISHED_STATUSES
#: First key of the PostgreSQL advisory lock of the end-of-day runner ("eod!" in ASCII);
#: the second is the store's schema, so stores sharing one database do not exclude each
#: other (advisory locks are per database, not per schema).
_RUNNER_LOCK = 0x656F6421
_LOCK_KEYS = ":key, hashtext(current_schema())"
#: How long a SQLite claim holds without renewal (each batch renews it).
_LEASE = timedelta(minutes=5)

#: ``progress(day, lines done so far, lines to do)``.
Progress = Callable[[date, int, int], None]


# --------------------------------------------------------------------------- trial balance


class TrialBalanceFailed(RuntimeError):
    """A closed day's trial balance does not hold (debits differ from credits in a
    currency, or the receivables differ from the sum of the lines' balances); the run
    stops and the day stays open.

    Not a refusal of a request but a broken invariant of the book: an operator's alarm,
    never an HTTP answer.
    """

    code = "trial_balance_failed"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class AccountBalance:
    """One account's posted debits and credits in one currency."""

    account: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class CurrencyBalance:
    """The trial balance of one currency (never added across currencies).

    ``loans_receivable`` is the booked balance of the account over the lines checked
    (every line booked to the day or before), ``lines_outstanding`` the sum of those
    lines' own outstanding principal (their summary rows).
    """

    currency: str
    accounts: tuple[AccountBalance, ...]
    total_debit: Decimal
    total_credit: Decimal
    loans_receivable: Decimal
    lines_outstanding: Decimal
    lines_checked: int

    @property
    def balanced(self) -> bool:
        """Debits equal credits."""
        return self.total_debit == self.total_credit

    @property
    def receivables_agree(self) -> bool:
        """The receivable account equals the sum of the lines' balances."""
        return self.loans_receivable == self.lines_outstanding


@dataclass(frozen=True)
class TrialBalance:
    """The book as closed on ``on``: entries posted on or before it, per currency.

    ``lines_not_checked`` counts lines booked past ``on`` (written since): their
    balances then are not stored, so they are left out of the receivables check.
    """

    on: date
    currencies: tuple[CurrencyBalance, ...]
    lines_not_checked: int

    @property
    def ok(self) -> bool:
        """Every currency balances and its receivables agree with the lines."""
        return all(c.balanced and c.receivables_agree for c in self.currencies)

    def problems(self) -> list[str]:
        """What does not hold, one sentence each."""
        found = []
        for c in self.currencies:
            if not c.balanced:
                found.append(f"{c.currency}: debits {c.total_debit} differ from credits "
                             f"{c.total_credit}")
            if not c.receivables_agree:
                found.append(f"{c.currency}: loans_receivable {c.loans_receivable} differs "
                             f"from the lines' outstanding principal {c.lines_outstanding}")
        return found

    def to_json(self) -> str:
        """The trial balance as stored on the run."""
        return json.dumps(asdict(self), default=str, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrialBalance:
        """The trial balance :meth:`to_json` stored."""
        doc = json.loads(text)
        return cls(date.fromisoformat(doc["on"]), tuple(
            CurrencyBalance(
                c["currency"],
                tuple(AccountBalance(a["account"], Decimal(a["debit"]), Decimal(a["credit"]))
                      for a in c["accounts"]),
                Decimal(c["total_debit"]), Decimal(c["total_credit"]),
                Decimal(c["loans_receivable"]), Decimal(c["lines_outstanding"]),
                int(c["lines_checked"]))
            for c in doc["currencies"]), int(doc["lines_not_checked"]))


def trial_balance(session: Session, on: date) -> TrialBalance:
    """The trial balance of the book as it stands now, for the close of ``on`` (entries
    posted on or before it), summed from every posting: the full scan.

    End of day does not call it (:func:`closing_trial_balance` carries the last close's
    totals forward); it is the check a closing balance is compared with (``sme-credit
    ledger trial-balance --full``), equal to it when nothing was booked into the day
    since it closed.

    Two aggregates in SQL, whatever the book's size: one pass over the postings by
    currency, account, side and whether the entry's line is booked to ``on`` or before
    (giving the totals and those lines' booked ``loans_receivable``), and those lines'
    outstanding principal from their summary rows.
    """
    entry, posting, line = JournalEntryRecord, JournalPostingRecord, CreditLineRecord
    # One pass over the postings: by currency, account and side, and whether the entry's
    # line is booked to ``on`` or before (those lines' receivables are checked).
    checked = sa.case((col(line.as_of) <= on, 1), else_=0)
    totals: dict[str, dict[tuple[str, str], int]] = {}
    receivable: dict[str, int] = {}
    for currency, account, side, in_check, amount in session.execute(
            sa.select(col(entry.currency), col(posting.account), col(posting.side), checked,
                      sa.func.sum(col(posting.amount_minor)))
            .join(entry, col(posting.entry_id) == col(entry.id))
            .outerjoin(line, col(line.id) == col(entry.line_id))
            .where(col(entry.posted_on) <= on)
            .group_by(col(entry.currency), col(posting.account), col(posting.side), checked)):
        by_account = totals.setdefault(currency, {})
        by_account[(account, side)] = by_account.get((account, side), 0) + int(amount)
        if account == Account.LOANS_RECEIVABLE.value and in_check:
            signed = int(amount) if side == "debit" else -int(amount)
            receivable[currency] = receivable.get(currency, 0) + signed
    return _assemble(session, on, totals, receivable)


def _assemble(session: Session, on: date, totals: dict[str, dict[tuple[str, str], int]],
              receivable: dict[str, int]) -> TrialBalance:
    """The trial balance of ``on`` from the posted totals (minor units by currency,
    account and side) and the booked receivables of the lines checked (booked to ``on``
    or before), against those lines' outstanding principal from their summary rows."""
    line = CreditLineRecord
    outstanding: dict[str, tuple[int, int]] = {}
    for currency, amount, count in session.execute(
            sa.select(col(line.currency), sa.func.sum(col(line.outstanding_minor)),
                      sa.func.count()).where(col(line.as_of) <= on,
                                             col(line.opened_on) <= on)
            .group_by(col(line.currency))):
        outstanding[currency] = (int(amount or 0), int(count))
    not_checked = session.execute(sa.select(sa.func.count()).select_from(line)
                                  .where(col(line.as_of) > on)).scalar_one()
    currencies = []
    for currency in sorted(set(totals) | set(outstanding)):
        by_account = totals.get(currency, {})
        accounts = tuple(
            AccountBalance(str(account), from_minor(by_account.get((account, "debit"), 0),
                                                    currency),
                           from_minor(by_account.get((account, "credit"), 0), currency))
            for account in sorted({a for a, _ in by_account}, key=_account_order))
        lines_amount, lines_count = outstanding.get(currency, (0, 0))
        currencies.append(CurrencyBalance(
            currency, accounts, sum((a.debit for a in accounts), from_minor(0, currency)),
            sum((a.credit for a in accounts), from_minor(0, currency)),
            from_minor(receivable.get(currency, 0), currency),
            from_minor(lines_amount, currency), lines_count))
    return TrialBalance(on, tuple(currencies), int(not_checked))


#: Posted minor units by (date posted, currency, account, side), as ``closing_balance``
#: keeps them: everything posted on or before the closed day under that day.
ClosingSums = dict[tuple[date, str, str, str], int]


def _journal_high_water(session: Session) -> int:
    """The largest journal entry id, once every entry up to it is committed.

    PostgreSQL hands out ids from a sequence before the inserting transaction commits,
    so an id below the largest one visible may still be on its way: ``LOCK TABLE ... IN
    SHARE MODE`` waits for every transaction writing entries to end and holds new ones
    until this transaction ends (a close takes well under a second). SQLite's
    transaction already holds the database's write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("LOCK TABLE journal_entry IN SHARE MODE"))
    return int(session.execute(sa.select(sa.func.max(col(JournalEntryRecord.id))))
               .scalar() or 0)


def closing_trial_balance(session: Session, day: date, previous: EndOfDayRunRecord | None
                          ) -> tuple[TrialBalance, int, ClosingSums]:
    """The trial balance of ``day`` as end of day closes it, from the previous close's
    balances and the entries booked since; equal to :func:`trial_balance` of the book at
    this moment (tested on both databases, back-valued payments included).

    ``previous`` is the run of the day before. When it closed with closing balances
    (``journal_through``), they are carried forward and only the entries with larger ids
    are summed, whatever date they are posted on (a back-valued payment is posted on the
    business date; an entry booked into a closed day since is counted as well); without
    them (the first close, or the first after the upgrade) every entry is summed once.
    The booked receivables of lines booked past ``day`` (left out of the check) are
    taken out line by line: there are none unless writes are dated ahead of the
    business date.

    Returns the trial balance, the largest entry id counted and the closing balances to
    store for ``day``.
    """
    entry, posting, line = JournalEntryRecord, JournalPostingRecord, CreditLineRecord
    through = _journal_high_water(session)
    after = 0
    sums: ClosingSums = {}
    if previous is not None and previous.status == "closed" \
            and previous.journal_through is not None:
        after = previous.journal_through
        kept = ClosingBalanceRecord
        for posted_on, currency, account, side, amount in session.execute(
                sa.select(col(kept.posted_on), col(kept.currency), col(kept.account),
                          col(kept.side), col(kept.amount_minor))
                .where(col(kept.day) == previous.day)):
            key = (max(posted_on, day), currency, account, side)
            sums[key] = sums.get(key, 0) + int(amount)
    bucket = sa.type_coerce(sa.case((col(entry.posted_on) <= day, sa.literal(day, sa.Date())),
                                    else_=col(entry.posted_on)), sa.Date())
    for posted_on, currency, account, side, amount in session.execute(
            sa.select(bucket, col(entry.currency), col(posting.account), col(posting.side),
                      sa.func.sum(col(posting.amount_minor)))
            .join(entry, col(posting.entry_id) == col(entry.id))
            # both ranges: each table is read by its own index over the new ids only
            .where(col(entry.id) > after, col(entry.id) <= through,
                   col(posting.entry_id) > after, col(posting.entry_id) <= through)
            .group_by(bucket, col(entry.currency), col(posting.account), col(posting.side))):
        key = (posted_on, currency, account, side)
        sums[key] = sums.get(key, 0) + int(amount)
    totals: dict[str, dict[tuple[str, str], int]] = {}
    receivable: dict[str, int] = {}
    for (posted_on, currency, account, side), amount in sums.items():
        if posted_on != day or not amount:
            continue
        totals.setdefault(currency, {})[(account, side)] = amount
        if account == Account.LOANS_RECEIVABLE.value:
            receivable[currency] = (receivable.get(currency, 0)
                                    + (amount if side == "debit" else -amount))
    ahead = list(session.execute(sa.select(col(line.id)).where(col(line.as_of) > day))
                 .scalars())
    for start in range(0, len(ahead), 1000):
        for currency, side, amount in session.execute(
                sa.select(col(entry.currency), col(posting.side),
                          sa.func.sum(col(posting.amount_minor)))
                .join(entry, col(posting.entry_id) == col(entry.id))
                .where(col(entry.line_id).in_(ahead[start:start + 1000]),
                       col(entry.posted_on) <= day, col(entry.id) <= through,
                       col(posting.account) == Account.LOANS_RECEIVABLE.value)
                .group_by(col(entry.currency), col(posting.side))):
            receivable[currency] = (receivable.get(currency, 0)
                                    - (int(amount) if side == "debit" else -int(amount)))
    return _assemble(session, day, totals, receivable), through, sums


def stored_trial_balance(session: Session, on: date) -> TrialBalance | None:
    """The trial balance end of day stored when it closed ``on`` (``None``: the day is
    not closed, or was closed without one)."""
    text = session.execute(sa.select(col(EndOfDayRunRecord.trial_balance)).where(
        col(EndOfDayRunRecord.day) == on, col(EndOfDayRunRecord.status) == "closed")
    ).scalar()
    return None if text is None else TrialBalance.from_json(text)


def store_closing_balance(session: Session, day: date, sums: ClosingSums) -> None:
    """Keep the closing balance :func:`closing_trial_balance` summed for ``day`` (in the
    caller's transaction, replacing any kept for it)."""
    table = _table(ClosingBalanceRecord.__tablename__)
    session.execute(sa.delete(table).where(table.c.day == day))
    rows = [{"day": day, "posted_on": posted_on, "currency": currency, "account": account,
             "side": side, "amount_minor": amount}
            for (posted_on, currency, account, side), amount in sorted(sums.items())
            if amount]
    if rows:
        session.execute(sa.insert(table), rows)


def _account_order(name: str) -> tuple[int, str]:
    kinds = ("asset", "liability", "income", "expense")
    try:
        return kinds.index(ACCOUNT_TYPES[Account(name)]), name
    except (ValueError, KeyError):
        return len(kinds), name


# --------------------------------------------------------------------------- one batch


@dataclass
class _BatchWork:
    """What one batch books and stores, written set-based at the end of the batch."""

    day: date
    recorded_at: datetime
    entries: list[dict[str, Any]]
    postings: list[list[dict[str, Any]]]
    summaries: list[dict[str, Any]]
    quiet: list[str]
    checkpoints: list[dict[str, Any]]
    changed: set[str]
    visited: int = 0

    def book(self, line_id: str, entries: Iterable[JournalEntry]) -> None:
        for entry in entries:
            row, postings = journal_rows(line_id, entry, posted_on=self.day,
                                         adjustment=False, recorded_at=self.recorded_at)
            self.entries.append(row)
            self.postings.append(postings)

    def summary(self, row: Any, *, limit: Decimal, outstanding: Decimal, available: Decimal,
                days_past_due: int, bucket: str, status: str) -> None:
        currency = row.currency
        self.summaries.append({
            "line_id": row.id, "as_of": self.day, "status": status,
            "limit_minor": to_minor(limit, currency),
            "outstanding_minor": to_minor(outstanding, currency),
            "available_minor": to_minor(available, currency),
            "days_past_due": days_past_due, "bucket": bucket})
        if (bucket, status) != (row.bucket, row.status):
            self.changed.add(row.seller_id)

    def keep(self, row: Any, checkpoint: FoldCheckpoint) -> None:
        self.checkpoints.append({
            "line_id": row.id, "as_of": checkpoint.as_of, "event_count": row.event_count,
            "next_visit": checkpoint.next_visit, "quiet_through": checkpoint.quiet_through,
            "state": json.dumps(checkpoint.document, separators=(",", ":"))})


def _table(name: str) -> sa.Table:
    return SQLModel.metadata.tables[name]


def _usable(row: Any, stored: Any) -> bool:
    """Whether the line's stored checkpoint still folds the line as booked: the same
    events, and the line booked to the checkpoint's date or to a day before the fold's
    next visit (days on which nothing but interest accrues, booked from it)."""
    if stored.event_count != row.event_count or stored.as_of > row.as_of:
        return False
    return (stored.as_of == row.as_of or stored.next_visit is None
            or row.as_of < stored.next_visit)


def _advance_batch(uow: SqlUnitOfWork, ids: list[str], day: date) -> _BatchWork:
    """Advance the batch's lines to the end of ``day``: what to write (nothing is written
    yet; :func:`_commit_batch` writes it set-based), with the lines visited and the
    sellers whose credit history changed.

    A line goes one of three ways. **Quiet** (its checkpoint says nothing happens through
    ``day``): only its booked date moves. **Resumed**: its checkpoint is advanced to
    ``day`` (:func:`lending.lines.resume_fold`) and the entries dated after the line's
    booked date are booked; a new checkpoint is kept when the fold visited a day (a due
    date, a day past due), not when only interest accrued. **Refolded** (no usable
    checkpoint: the line was written to since, or never closed): folded from its events,
    booking likewise the entries dated after its booked date, with a new checkpoint; a
    line with an event dated after it (not written by the services) goes through
    :func:`advance_in`'s full comparison of the journal instead (booked at once, in the
    batch's transaction).
    """
    session = uow.session
    line_table = _table("credit_line")
    checkpoint_table = _table("line_checkpoint")
    # The batch is a run of consecutive ids: read by range, one statement whatever its
    # size (a list of ids would make every batch's statement a new one to parse).
    first, last = ids[0], ids[-1]
    rows = session.execute(sa.select(line_table)
                           .where(line_table.c.id >= first, line_table.c.id <= last)
                           .order_by(line_table.c.id).with_for_update()).all()
    # the checkpoints' dates first: the state (the bulk of a row) only of those resumed
    stored = {row.line_id: row for row in session.execute(
        sa.select(checkpoint_table.c.line_id, checkpoint_table.c.as_of,
                  checkpoint_table.c.event_count, checkpoint_table.c.next_visit,
                  checkpoint_table.c.quiet_through)
        .where(checkpoint_table.c.line_id >= first,
               checkpoint_table.c.line_id <= last)).all()}
    work = _BatchWork(day, utc_now(), [], [], [], [], [], set())
    refold, resume = [], []
    for row in rows:
        if row.as_of >= day or row.status in _FINISHED or row.opened_on > day:
            continue  # booked to the day by a write of the day, or closed meanwhile
        work.visited += 1
        kept = stored.get(row.id)
        if kept is None or not _usable(row, kept):
            refold.append(row)
        elif kept.quiet_through is not None and day <= kept.quiet_through:
            work.quiet.append(row.id)
        else:
            resume.append((row, kept))
    if resume:
        states = dict(session.execute(
            sa.select(checkpoint_table.c.line_id, checkpoint_table.c.state)
            .where(checkpoint_table.c.line_id.in_([row.id for row, _ in resume]))).all())
        for row, kept in resume:
            # a day the fold visits changes its state: keep a new checkpoint; before
            # it, only interest accrues, which the one kept books again as well
            visited = kept.next_visit is not None and day >= kept.next_visit
            _resume(work, row, FoldCheckpoint(kept.as_of, kept.next_visit,
                                              kept.quiet_through,
                                              json.loads(states[row.id])), keep=visited)
    if refold:
        _refold(uow, work, refold)
    return work


@lru_cache(maxsize=64)
def _policies(grace_days: int, penalty_daily_rate: str, freeze_after_days: int,
              write_off_after_days: int, allocation_order: str, allocation_by: str
              ) -> tuple[DelinquencyPolicy, AllocationPolicy]:
    """The delinquency and allocation policies of lines opened with these terms (shared by
    most of the book: built and checked once)."""
    terms = terms_of(CreditLineRecord(
        id="-", seller_id="-", limit_minor=0, opened_on=date.min, as_of=date.min,
        grace_days=grace_days, penalty_daily_rate=penalty_daily_rate,
        freeze_after_days=freeze_after_days, write_off_after_days=write_off_after_days,
        allocation_order=allocation_order, allocation_by=allocation_by,
        created_at=datetime.min), ())
    return terms.delinquency, terms.allocation


def _resume_terms(row: Any) -> LineTerms:
    """:func:`terms_of` a line without events (what resuming its checkpoint needs: the
    checkpoint holds the limit in force), with the policies built once per set of terms."""
    delinquency, allocation = _policies(
        row.grace_days, row.penalty_daily_rate, row.freeze_after_days,
        row.write_off_after_days, row.allocation_order, row.allocation_by)
    return LineTerms(line_id=row.id, limit=from_minor(row.limit_minor, row.currency),
                     opened_on=row.opened_on, currency=row.currency, revolving=row.revolving,
                     delinquency=delinquency, allocation=allocation)


def _resume(work: _BatchWork, row: Any, checkpoint: FoldCheckpoint, *, keep: bool) -> None:
    advance = resume_fold(_resume_terms(row), checkpoint, work.day)
    # entries dated up to the booked date were booked by the days before
    work.book(row.id, (e for e in advance.entries if e.on > row.as_of))
    work.summary(row, limit=advance.limit, outstanding=advance.outstanding_principal,
                 available=advance.available_credit, days_past_due=advance.days_past_due,
                 bucket=advance.bucket, status=advance.status)
    if keep:
        work.keep(row, advance.checkpoint)


def _refold(uow: SqlUnitOfWork, work: _BatchWork, rows: list[Any]) -> None:
    event_table = _table("line_event")
    events: dict[str, list[LineEvent]] = {row.id: [] for row in rows}
    currency = {row.id: row.currency for row in rows}
    for event in uow.session.execute(
            sa.select(event_table.c.line_id, event_table.c.kind, event_table.c.on,
                      event_table.c.operation_id, event_table.c.amount_minor,
                      event_table.c.payload)
            .where(event_table.c.line_id.in_(list(events)))
            .order_by(event_table.c.line_id, event_table.c.sequence)).all():
        events[event.line_id].append(event_from_row(
            event.kind, event.on, event.operation_id,
            None if event.amount_minor is None
            else from_minor(event.amount_minor, currency[event.line_id]), event.payload))
    for row in rows:
        line_events = events[row.id]
        if any(event.on > row.as_of for event in line_events):
            # Not booked as the services book (an event after the booked date): compare
            # the whole journal, one line at a time, with no checkpoint kept.
            advanced = advance_in(uow, row.id, work.day)
            if advanced.history_changed:
                work.changed.add(advanced.seller_id)
            continue
        state, checkpoint = fold_with_checkpoint(
            terms_of(cast(CreditLineRecord, row), line_events), line_events, work.day)
        work.book(row.id, (entry for entry in state.journal if entry.on > row.as_of))
        work.summary(row, limit=state.limit, outstanding=state.outstanding_principal,
                     available=state.available_credit, days_past_due=state.days_past_due,
                     bucket=state.bucket, status=state.status)
        work.keep(row, checkpoint)


def _entry_ids(session: Session, count: int) -> list[int]:
    """``count`` new journal entry ids, taken before inserting, so that the postings can
    name their entries without reading them back (``COPY`` returns nothing).
    PostgreSQL: from the table's sequence, as its default does; SQLite: after the
    largest, under the write lock the transaction holds."""
    if session.get_bind().dialect.name == "postgresql":
        return list(session.execute(sa.text(
            "SELECT nextval(pg_get_serial_sequence('journal_entry', 'id')) "
            "FROM generate_series(1, :count)"), {"count": count}).scalars())
    largest = session.execute(sa.text("SELECT MAX(id) FROM journal_entry")).scalar()
    start = int(largest or 0) + 1
    return list(range(start, start + count))


_ENTRY_COLUMNS = ("id", "line_id", "on", "posted_on", "kind", "reference", "currency",
                  "adjustment", "amount_minor", "recorded_at")
_SUMMARY_COLUMNS = (("line_id", "text"), ("as_of", "date"), ("status", "text"),
                    ("limit_minor", "int8"), ("outstanding_minor", "int8"),
                    ("available_minor", "int8"), ("days_past_due", "int4"),
                    ("bucket", "text"))


def _write_batch_postgresql(session: Session, work: _BatchWork) -> None:
    """:func:`_write_batch` on PostgreSQL: entries and postings by ``COPY``, summaries in
    one statement over arrays (``unnest``), whatever the batch's size; checkpoints as
    everywhere (a JSON text in an array literal would be escaped character by
    character)."""
    if work.entries:
        ids = _entry_ids(session, len(work.entries))
        driver = session.connection().connection.driver_connection
        assert driver is not None
        columns = ", ".join(f'"{name}"' for name in _ENTRY_COLUMNS)
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY journal_entry ({columns}) FROM STDIN") as copy:
                for entry_id, entry in zip(ids, work.entries, strict=True):
                    copy.write_row((entry_id, *(entry[name] for name in _ENTRY_COLUMNS[1:])))
            with cursor.copy("COPY journal_posting (entry_id, account, side, amount_minor) "
                             "FROM STDIN") as copy:
                for entry_id, postings in zip(ids, work.postings, strict=True):
                    for posting in postings:
                        copy.write_row((entry_id, posting["account"], posting["side"],
                                        posting["amount_minor"]))
    if work.summaries:
        names = [name for name, _ in _SUMMARY_COLUMNS]
        session.execute(sa.text(
            "UPDATE credit_line SET " + ", ".join(f"{name} = v.{name}" for name in names[1:])
            + ", version = credit_line.version + 1 FROM unnest("
            + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _SUMMARY_COLUMNS)
            + ") AS v(" + ", ".join(names) + ") WHERE credit_line.id = v.line_id"),
            {name: [summary[name] for summary in work.summaries] for name in names})
    if work.quiet:
        session.execute(sa.text(
            "UPDATE credit_line SET as_of = :day, version = version + 1 "
            "WHERE id = ANY(CAST(:ids AS text[]))"), {"day": work.day, "ids": work.quiet})
    _write_checkpoints(session, work)


def _write_batch(session: Session, work: _BatchWork) -> None:
    """The batch's entries, postings, summaries and checkpoints, a few statements each."""
    if session.get_bind().dialect.name == "postgresql":
        _write_batch_postgresql(session, work)
        return
    line_table = _table("credit_line")
    entry_table = _table("journal_entry")
    posting_table = _table("journal_posting")
    if work.entries:
        ids = _entry_ids(session, len(work.entries))
        session.execute(sa.insert(entry_table), [
            {"id": entry_id, **entry} for entry_id, entry in zip(ids, work.entries, strict=True)])
        session.execute(sa.insert(posting_table), [
            {"entry_id": entry_id, **posting}
            for entry_id, postings in zip(ids, work.postings, strict=True)
            for posting in postings])
    if work.summaries:
        # the SET clause is every key of the parameters but the one the WHERE binds
        session.execute(
            sa.update(line_table).where(line_table.c.id == sa.bindparam("line_id"))
            .values(version=line_table.c.version + 1), work.summaries)
    if work.quiet:
        session.execute(sa.update(line_table).where(line_table.c.id == sa.bindparam("line_id"))
                        .values(as_of=work.day, version=line_table.c.version + 1),
                        [{"line_id": line_id} for line_id in work.quiet])
    _write_checkpoints(session, work)


def _write_checkpoints(session: Session, work: _BatchWork) -> None:
    if work.checkpoints:
        table = _table("line_checkpoint")
        insert = (postgresql.insert(table) if session.get_bind().dialect.name == "postgresql"
                  else sqlite.insert(table))
        session.execute(insert.on_conflict_do_update(
            index_elements=[table.c.line_id],
            set_={name: insert.excluded[name] for name in
                  ("as_of", "event_count", "next_visit", "quiet_through", "state")}),
            work.checkpoints)


# --------------------------------------------------------------------------- closing days


@dataclass(frozen=True)
class DayClosed:
    """What end of day did to one day.

    ``already_closed``: the day was closed before this call, which changed nothing (the
    other figures are the stored run's). ``lines_processed`` counts the lines visited
    over every attempt, ``seconds`` the time spent over every attempt.
    """

    day: date
    already_closed: bool
    lines_processed: int
    seconds: float
    attempts: int
    trial_balance: TrialBalance | None
    sellers_changed: tuple[str, ...]


def _check_closable(day: date, last: date, *, today: date, clock: Clock) -> None:
    if day != last + timedelta(days=1):
        raise DayNotClosable(f"{day} cannot be closed before {last + timedelta(days=1)}: "
                             f"days close in order (last closed: {last})",
                             {"next": (last + timedelta(days=1)).isoformat()})
    if clock == "real" and day >= today:
        raise DayNotClosable(f"{day} is not over yet: on a real clock end of day closes "
                             f"days before today ({today}) in the lender's time zone",
                             {"latest": (today - timedelta(days=1)).isoformat()})


def _store_row(session: Session, *, today: date) -> BusinessDayRecord:
    """The store's business-day row, locked; created (not yet committed) if missing."""
    row = session.exec(select(BusinessDayRecord).where(BusinessDayRecord.id == STORE_ROW)
                       .with_for_update()).first()
    if row is None:
        row = BusinessDayRecord(id=STORE_ROW, last_closed=last_closed_day(session, today=today),
                                updated_at=utc_now())
        session.add(row)
        session.flush()
    return row


def _run_row(session: Session, day: date) -> EndOfDayRunRecord | None:
    return session.exec(select(EndOfDayRunRecord).where(EndOfDayRunRecord.day == day)
                        .with_for_update().execution_options(populate_existing=True)
                        ).first()


def _open_lines(day: date) -> Any:
    return (select(CreditLineRecord.id)
            .where(col(CreditLineRecord.status).not_in(_FINISHED),
                   col(CreditLineRecord.opened_on) <= day))


def _closed_result(run: EndOfDayRunRecord | None, day: date) -> DayClosed:
    if run is None:  # closed before runs were recorded (or by the store's default)
        return DayClosed(day, True, 0, 0.0, 0, None, ())
    return DayClosed(day, True, run.lines_processed, run.seconds, run.attempts,
                     TrialBalance.from_json(run.trial_balance) if run.trial_balance else None,
                     tuple(json.loads(run.sellers_changed)))


def close_day(engine: sa.Engine, day: date, *, today: date, clock: Clock = "real",
              batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | None = None,
              runner: str | None = None) -> DayClosed:
    """Close business day ``day`` for every open line (see the module).

    Parameters
    ----------
    engine
        The store.
    day
        The day to close: the day after the last closed one (a closed day is a no-op).
    today
        The calendar date in the lender's time zone.
    clock
        ``"real"`` refuses to close ``today`` or later; ``"simulated"`` does not.
    batch_size
        Lines advanced per transaction.
    progress
        Called after each batch with the day, the lines done and the lines to do.
    runner
        The SQLite claim of :func:`runner_lock`, renewed by each batch.

    Raises
    ------
    DayNotClosable
        An earlier day is open, or the day is not over on a real clock.
    TrialBalanceFailed
        The day's trial balance does not hold; the day stays open, the run is marked
        ``failed`` with the problems.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    started = clock_time.monotonic()
    with SqlUnitOfWork(engine) as uow:
        store = _store_row(uow.session, today=today)
        if day <= store.last_closed:
            return _closed_result(_run_row(uow.session, day), day)
        _check_closable(day, store.last_closed, today=today, clock=clock)
        run = _run_row(uow.session, day)
        if run is None:
            run = EndOfDayRunRecord(day=day, started_at=utc_now())
        else:
            run.attempts += 1
            run.status, run.error = "running", None
        uow.session.add(run)
        done = run.lines_processed
        uow.commit()
    total = done + _remaining(engine, day, run.cursor)
    if progress is not None:
        progress(day, done, total)
    timer = _Timer(clock_time.monotonic())
    _run_batches(engine, day, run.cursor, batch_size=batch_size, runner=runner,
                 progress=None if progress is None
                 else (lambda done: progress(day, done, max(total, done))), timer=timer)
    batch_started = timer.last
    with SqlUnitOfWork(engine) as uow:
        store = _store_row(uow.session, today=today)
        run = _run_row(uow.session, day)
        assert run is not None
        if day <= store.last_closed:  # another runner finished it meanwhile
            return _closed_result(run, day)
        previous = uow.session.exec(select(EndOfDayRunRecord).where(
            EndOfDayRunRecord.day == day - timedelta(days=1))).first()
        balance, through, sums = closing_trial_balance(uow.session, day, previous)
        run.seconds += clock_time.monotonic() - batch_started
        run.trial_balance = balance.to_json()
        if not balance.ok:
            run.status, run.error = "failed", "; ".join(balance.problems())
            uow.session.add(run)
            uow.commit()
            raise TrialBalanceFailed(f"the trial balance of {day} does not hold: "
                                     f"{run.error}; the day stays open",
                                     {"day": day.isoformat(), "problems": balance.problems()})
        run.status, run.finished_at = "closed", utc_now()
        run.journal_through = through
        store_closing_balance(uow.session, day, sums)
        store.last_closed, store.updated_at = day, utc_now()
        uow.session.add_all([run, store])
        uow.commit()
        log.info("closed %s: %d lines in %.1f s", day, run.lines_processed,
                 clock_time.monotonic() - started)
        return DayClosed(day, False, run.lines_processed, run.seconds, run.attempts,
                         balance, tuple(json.loads(run.sellers_changed)))


@dataclass
class _Timer:
    """When the run's time was last counted (each committed batch adds its share)."""

    last: float


def _next_batch(session: Session, day: date, cursor: str | None, size: int) -> list[str]:
    batch = _open_lines(day).order_by(col(CreditLineRecord.id)).limit(size)
    if cursor is not None:
        batch = batch.where(col(CreditLineRecord.id) > cursor)
    return list(session.exec(batch).all())


def _commit_batch(uow: SqlUnitOfWork, work: _BatchWork, ids: list[str], *,
                  after: str | None, runner: str | None, timer: _Timer) -> int | None:
    """Write a batch :func:`_advance_batch` advanced, move the run's cursor past it and
    commit, all in the batch's transaction; then leave its unit of work.

    Returns the lines processed so far, or ``None`` (rolled back, nothing written) when
    the run's cursor is no longer ``after``, the cursor the batch was chosen from:
    another runner moved it meanwhile (or closed the day).
    """
    try:
        run = _run_row(uow.session, work.day)
        if run is None or run.status == "closed" or run.cursor != after:
            return None
        _write_batch(uow.session, work)
        run.cursor = ids[-1]
        run.lines_processed += len(ids)
        if work.changed:
            run.sellers_changed = json.dumps(sorted(
                set(json.loads(run.sellers_changed)) | work.changed))
        now = clock_time.monotonic()
        run.seconds += now - timer.last
        timer.last = now
        uow.session.add(run)
        if runner is not None:
            _renew(uow.session, runner)
        uow.commit()
        return run.lines_processed
    finally:
        uow.__exit__(None, None, None)


def _stored_cursor(engine: sa.Engine, day: date) -> tuple[str | None, bool]:
    """The run's cursor as committed, and whether the day is closed."""
    with SqlUnitOfWork(engine).reading() as uow:
        run = uow.session.exec(select(EndOfDayRunRecord)
                               .where(EndOfDayRunRecord.day == day)).first()
        return (None, True) if run is None else (run.cursor, run.status == "closed")


def _run_batches(engine: sa.Engine, day: date, cursor: str | None, *, batch_size: int,
                 runner: str | None, progress: Callable[[int], None] | None,
                 timer: _Timer) -> None:
    """Advance every open line after ``cursor`` to the end of ``day``, batch by batch.

    Each batch is one transaction: its lines are read under their row locks and advanced
    (Python), then written set-based with the run's cursor moved past them and committed
    (:func:`_commit_batch`). On PostgreSQL a second thread writes and commits each batch
    while this one reads and advances the next (its own transaction and connection, on
    the lines after it: no lock is shared), so the database's work and Python's overlap
    on two cores; batches still commit one at a time and in order, so a process killed
    at any point leaves the cursor after the last committed batch. SQLite has one writer
    at a time: its batches go one after the other.
    """
    overlap = engine.dialect.name == "postgresql"
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eod-writer") \
        if overlap else None
    pending: Future[int | None] | None = None

    def settle() -> bool:
        """Wait for the batch being written; false if it was outdated."""
        nonlocal pending
        if pending is None:
            return True
        future, pending = pending, None
        done = future.result()
        if done is not None and progress is not None:
            progress(done)
        return done is not None

    try:
        while True:
            uow = SqlUnitOfWork(engine).__enter__()
            try:
                ids = _next_batch(uow.session, day, cursor, batch_size)
                work = _advance_batch(uow, ids, day) if ids else None
                current = settle()
            except BaseException:
                uow.__exit__(None, None, None)
                raise
            if not current or work is None:
                uow.__exit__(None, None, None)
                if current:
                    return  # no line left
                # the cursor moved under us: start again from where it is
                cursor, closed = _stored_cursor(engine, day)
                if closed:
                    return
                continue
            commit = partial(_commit_batch, uow, work, ids, after=cursor, runner=runner,
                             timer=timer)
            cursor = ids[-1]
            if writer is None:
                done = commit()
                if done is None:
                    cursor, closed = _stored_cursor(engine, day)
                    if closed:
                        return
                elif progress is not None:
                    progress(done)
            else:
                pending = writer.submit(commit)
    finally:
        if pending is not None:  # an error here: let the batch being written finish
            with suppress(Exception):  # the error raised first is the one reported
                pending.result()
        if writer is not None:
            writer.shutdown(wait=True)



def _remaining(engine: sa.Engine, day: date, cursor: str | None) -> int:
    query = _open_lines(day)
    if cursor is not None:
        query = query.where(col(CreditLineRecord.id) > cursor)
    with SqlUnitOfWork(engine).reading() as uow:
        return int(uow.session.execute(
            sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())


def days_to_close(engine: sa.Engine, *, through: date, today: date,
                  clock: Clock = "real") -> list[date]:
    """The open days up to ``through``, in order (none when it is closed already).

    Raises
    ------
    DayNotClosable
        ``through`` is today or later on a real clock.
    """
    if clock == "real" and through >= today:
        raise DayNotClosable(f"{through} is not over yet: on a real clock end of day closes "
                             f"days before today ({today}) in the lender's time zone",
                             {"latest": (today - timedelta(days=1)).isoformat()})
    with SqlUnitOfWork(engine).reading() as uow:
        last = last_closed_day(uow.session, today=today)
    return [last + timedelta(days=n) for n in range(1, (through - last).days + 1)]


def run_end_of_day(engine: sa.Engine, *, through: date, today: date, clock: Clock = "real",
                   batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | None = None
                   ) -> list[DayClosed]:
    """Close every open day up to ``through`` in order, as the store's one runner.

    Raises
    ------
    EndOfDayRunning
        Another process runs end of day on this store.
    DayNotClosable, TrialBalanceFailed
        As :func:`close_day` (days closed before the failure stay closed).
    """
    days = days_to_close(engine, through=through, today=today, clock=clock)
    if not days:
        return []
    with runner_lock(engine, today=today) as runner:
        return [close_day(engine, day, today=today, clock=clock, batch_size=batch_size,
                          progress=progress, runner=runner)
                for day in days_to_close(engine, through=through, today=today, clock=clock)]


# --------------------------------------------------------------------------- one runner


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim_lapsed(row: BusinessDayRecord, now: datetime) -> bool:
    if row.runner is None or row.runner_until is None or as_utc(row.runner_until) < now:
        return True
    host, _, rest = row.runner.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


def _renew(session: Session, runner: str) -> None:
    row = session.get(BusinessDayRecord, STORE_ROW)
    if row is not None and row.runner == runner:
        row.runner_until = utc_now() + _LEASE
        session.add(row)


@contextmanager
def runner_lock(engine: sa.Engine, *, today: date) -> Iterator[str | None]:
    """Be the store's one end-of-day runner for the block.

    PostgreSQL: a session advisory lock (``pg_try_advisory_lock``, keyed by the store's
    schema) on a connection held for the block (released if the process dies). SQLite: a
    claim on the store's ``business_day`` row, with a lease each batch renews; yields the
    claim's token (``None`` on PostgreSQL).

    Raises
    ------
    EndOfDayRunning
        Another runner holds the lock or a live claim.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            held = connection.execute(sa.text(f"SELECT pg_try_advisory_lock({_LOCK_KEYS})"),
                                      {"key": _RUNNER_LOCK}).scalar_one()
            connection.commit()
            if not held:
                raise EndOfDayRunning("another process is running end of day on this store")
            try:
                yield None
            finally:
                connection.execute(sa.text(f"SELECT pg_advisory_unlock({_LOCK_KEYS})"),
                                   {"key": _RUNNER_LOCK})
                connection.commit()
        return
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    with SqlUnitOfWork(engine) as uow:
        row = _store_row(uow.session, today=today)
        now = utc_now()
        if not _claim_lapsed(row, now):
            raise EndOfDayRunning(f"end of day is running on this store ({row.runner}, "
                                  f"claimed until {row.runner_until})",
                                  {"runner": row.runner})
        row.runner, row.runner_until = token, now + _LEASE
        uow.session.add(row)
        uow.commit()
    try:
        yield token
    finally:
        with SqlUnitOfWork(engine) as uow:
            held = uow.session.get(BusinessDayRecord, STORE_ROW)
            if held is not None and held.runner == token:
                held.runner, held.runner_until = None, None
                uow.session.add(held)
                uow.commit()


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class RunSummary:
    """One day's end-of-day run as stored."""

    day: date
    status: str
    started_at: datetime
    finished_at: datetime | None
    seconds: float
    lines_processed: int
    attempts: int
    cursor: str | None
    error: str | None


@dataclass(frozen=True)
class EndOfDayStatus:
    """The store's business day: last closed day, business date, the latest run."""

    last_closed: date
    business_date: date
    last_run: RunSummary | None
    last_closed_run: RunSummary | None


def _summary(run: EndOfDayRunRecord | None) -> RunSummary | None:
    if run is None:
        return None
    return RunSummary(run.day, run.status, as_utc(run.started_at),
                      None if run.finished_at is None else as_utc(run.finished_at),
                      run.seconds, run.lines_processed, run.attempts, run.cursor, run.error)


def end_of_day_status(engine: sa.Engine, *, today: date) -> EndOfDayStatus:
    """The last closed day, the business date and the latest runs (read only)."""
    with SqlUnitOfWork(engine).reading() as uow:
        last = last_closed_day(uow.session, today=today)
        latest = uow.session.exec(select(EndOfDayRunRecord)
                                  .order_by(col(EndOfDayRunRecord.day).desc())).first()
        closed = uow.session.exec(select(EndOfDayRunRecord)
                                  .where(EndOfDayRunRecord.day == last)).first()
        return EndOfDayStatus(last, last + timedelta(days=1), _summary(latest),
                              _summary(closed))


# --------------------------------------------------------------------------- the service's runner


class _Stopped(Exception):
    """The service is stopping: leave the run after the batch just committed."""


class EndOfDayScheduler:
    """Runs end of day in a background thread at the lender's cut-off.

    At start, and then at each cut-off (``cutoff`` local time in ``timezone``), it closes
    every day before today (before the cut-off: every day before yesterday) as the
    store's one runner; when another process holds the runner lock or the run fails, it
    tries again ``retry_seconds`` later. Only a ``real`` clock is run this way: a
    simulated store's days are closed by ``sme-credit eod run``.

    Parameters
    ----------
    engine, timezone, cutoff, batch_size
        The store, the lender's time zone, its cut-off and the batch size.
    retry_seconds
        Pause before trying again after a busy lock or a failure.
    now
        The clock (aware datetimes; tests pass their own).
    on_closed
        Called after a successful run with the days it closed (never with none), e.g.
        to refresh the feature snapshots of the sellers they list; its errors are
        logged, the days stay closed.
    """

    def __init__(self, engine: sa.Engine, *, timezone: str, cutoff: time,
                 batch_size: int = DEFAULT_BATCH_SIZE, retry_seconds: float = 300.0,
                 now: Callable[[], datetime] = utc_now,
                 on_closed: Callable[[list[DayClosed]], None] | None = None) -> None:
        self.engine = engine
        self.on_closed = on_closed
        self.zone = ZoneInfo(timezone)
        self.cutoff = cutoff
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.now = now
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def target(self) -> tuple[date, date]:
        """(today, the last day to close now) in the lender's time zone."""
        local = self.now().astimezone(self.zone)
        today = local.date()
        days_back = 1 if local.time() >= self.cutoff else 2
        return today, today - timedelta(days=days_back)

    def run_once(self) -> bool:
        """Close what is due now; true when nothing is left to close."""
        today, through = self.target()
        try:
            closed = run_end_of_day(self.engine, through=through, today=today, clock="real",
                                    batch_size=self.batch_size, progress=self._check_stop)
        except (EndOfDayRunning, _Stopped):
            return False
        except (LendingError, sa.exc.SQLAlchemyError) as error:
            self.last_error = f"{type(error).__name__}: {error}"
            log.error("end of day through %s failed: %s", through, self.last_error)
            return False
        self.last_error = None
        if closed and self.on_closed is not None:
            try:
                self.on_closed(closed)
            except Exception:  # the days are closed; a failing listener must not undo that
                log.exception("on_closed failed after closing %s", closed[-1].day)
        return True

    def _check_stop(self, _day: date, _done: int, _total: int) -> None:
        if self._stop.is_set():  # between batches: what is committed stays, resumed later
            raise _Stopped

    def seconds_to_next_cutoff(self) -> float:
        """Seconds from now to the next cut-off."""
        local = self.now().astimezone(self.zone)
        moment = datetime.combine(local.date(), self.cutoff, tzinfo=self.zone)
        if moment <= local:
            moment = datetime.combine(local.date() + timedelta(days=1), self.cutoff,
                                      tzinfo=self.zone)
        return max(1.0, (moment - local).total_seconds())

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="end-of-day", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop (after its current batch) and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            finished = self.run_once()
            pause = self.seconds_to_next_cutoff() if finished else self.retry_seconds
            self._stop.wait(pause)
