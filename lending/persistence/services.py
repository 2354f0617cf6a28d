"""Services: plain values in, domain results out, one transaction each.

Every service takes a :class:`~lending.persistence.unit_of_work.SqlUnitOfWork` (not yet
entered) and plain values, enters the unit of work, applies the lending rules
(:class:`lending.CreditLine`), stores what changed, commits once, and returns a frozen
result. Any error rolls everything back; refusals are named
:class:`~lending.errors.LendingError` subclasses.

Writes
------
A writing service locks the line (:meth:`CreditLineRepository.get_for_update`), loads its
events, runs the command, appends the new event, folds the line as of the operation's
date, **books** the journal up to that date and refreshes the line's cached summary and
``version``. The line's ``as_of`` is the date its book is closed to: operations dated
before it are refused (``BackdatedOperation``). Booking compares the whole derived
journal with the booked one (:func:`book_journal`) only when the write may re-derive
history (a back-valued payment, a reversal, a second write of the booked date);
otherwise only the entries dated after the booked date are new and are booked without
reading the book (:func:`books_forward`).

Limit changes
-------------
:func:`change_limit` records a :class:`lending.LimitChanged` event like any other write,
so the line's log holds its limit history and a fold from scratch reproduces every limit
it had. ``credit_line.limit_minor`` caches the limit in force as of the line's ``as_of``;
the limit the line was opened with (its terms) is the ``previous_limit`` of its first
limit change, or ``limit_minor`` while it has none.

Idempotency
-----------
Draws and repayments take an idempotency key (a limit change may: an officer's change is
already guarded by the decision it belongs to), kept by the store's one mechanism
(:mod:`store.idempotency`, shared with the credit decisions). The first request stores
its receipt under ``(scope, key)`` with a fingerprint of its body, in the same
transaction as the effect. A later request with the same key and the same body gets that
stored receipt back and has no effect; with another body it is refused
(:class:`~store.idempotency.IdempotencyKeyReused`). A request the rules refuse keeps its
refusal under the key, replayed to the same body sent again; a corrected retry (another
body) may take the key over from a refusal. Two racing requests with
one key serialise on the line's lock; if they name different lines, the loser hits the
primary key and is retried once, which then replays or refuses.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Self, TypeVar, cast

import sqlalchemy.exc
from sqlmodel import col, select

from lending.allocation import AllocationPolicy, Component
from lending.delinquency import DelinquencyPolicy
from lending.errors import (
    BackdatedOperation,
    DuplicateOperation,
    InvalidIdentifier,
    LendingError,
    refusal_from_code,
)
from lending.ledger import ACCOUNT_TYPES, Account, EntryKind, Journal, JournalEntry
from lending.lines import (
    CreditLine,
    DrawStatus,
    LimitChanged,
    LineEvent,
    LineState,
    LineTerms,
    PaymentReceived,
    PaymentReversed,
    PrepaymentReceived,
    RepaymentPlan,
    operation_id,
)
from lending.money import ZERO, AmountInput, parse_amount, quantize
from lending.persistence.business_day import business_date, check_draw_date, check_value_date
from lending.persistence.codec import (
    dumps,
    normalized_amount,
    plan_to_json,
    schedule_from_json,
    schedule_to_json,
)
from lending.persistence.errors import (
    DecisionNotApproved,
    LineAlreadyExists,
    UnknownLine,
)
from lending.persistence.tables import (
    CreditLineRecord,
    from_minor,
    to_minor,
)
from lending.persistence.unit_of_work import BookedEntry, SqlUnitOfWork
from lending.policy import CreditDecision, Terms
from lending.products import (
    RequestedPlan,
    check_plan_granted,
    granted_plan,
    plan_without_terms,
    terms_from_document,
    terms_to_document,
)
from lending.schedules import PrepaymentOption, Schedule
from store.clock import utc_now
from store.conflicts import retry_on_conflict
from store.idempotency import (
    IdempotencyRecord,
    check_idempotency_key,
    fingerprint,
    idempotency_scope,
    stored_refusal,
)

__all__ = [
    "StoredReceipt",
    "terms_of",
    "load_line",
    "line_write",
    "payment_receipt",
    "check_write_dating",
    "LineView",
    "DrawReceipt",
    "PaymentReceipt",
    "LimitChangeReceipt",
    "Statement",
    "open_line",
    "open_line_from_decision",
    "regrant_line",
    "granted_terms_of",
    "draw",
    "repay",
    "prepay",
    "reverse_payment",
    "change_limit",
    "advance_line",
    "advance_in",
    "Advanced",
    "get_line",
    "lines_of_seller",
    "get_schedule",
    "get_statement",
    "book_journal",
    "journal_plan",
    "books_forward",
    "journal_totals",
]

T = TypeVar("T")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LineView:
    """A credit line as of a date: limit, what is available and owed, delinquency."""

    line_id: str
    seller_id: str
    product: str
    currency: str
    policy_version: str | None
    limit: Decimal
    available_credit: Decimal
    outstanding_principal: Decimal
    days_past_due: int
    bucket: str
    status: str
    as_of: date
    version: int
    opened_on: date
    revolving: bool



#: How a receipt's fields of these types are written to and read from JSON (by the name of
#: the annotated type; every other field is stored as it is).
_RECEIPT_ENCODERS: dict[str, Callable[[Any], Any]] = {"Schedule": schedule_to_json}
_RECEIPT_DECODERS: dict[str, Callable[[Any], Any]] = {
    "date": date.fromisoformat, "Decimal": Decimal, "Schedule": schedule_from_json}


class StoredReceipt:
    """A receipt kept in an idempotency record: every field, as canonical JSON."""

    def to_json(self) -> str:
        """The receipt as stored in an idempotency record."""
        return dumps({f.name: _RECEIPT_ENCODERS.get(str(f.type), _same)(getattr(self, f.name))
                      for f in fields(cast(Any, self))})

    @classmethod
    def from_json(cls, text: str) -> Self:
        """The receipt :meth:`to_json` stored."""
        doc = json.loads(text)
        return cast(Any, cls)(**{f.name: _RECEIPT_DECODERS.get(str(f.type), _same)(doc[f.name])
                                 for f in fields(cast(Any, cls))})


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class DrawReceipt(StoredReceipt):
    """The result of a draw (replayed as is to a repeated idempotent request)."""

    line_id: str
    draw_id: str
    on: date
    amount: Decimal
    supplier_id: str
    schedule: Schedule
    available_credit: Decimal
    outstanding_principal: Decimal
    line_version: int


@dataclass(frozen=True)
class PaymentReceipt(StoredReceipt):
    """The result of a repayment (replayed as is to a repeated idempotent request)."""

    line_id: str
    payment_id: str
    on: date
    amount: Decimal
    total_due: Decimal
    credit_balance: Decimal
    outstanding_principal: Decimal
    available_credit: Decimal
    line_version: int


@dataclass(frozen=True)
class LimitChangeReceipt(StoredReceipt):
    """The result of a limit change (replayed as is to a repeated idempotent request).

    ``over_limit`` is the outstanding principal above the new limit (a limit lowered below
    what is owed); ``available_credit`` is then zero.
    """

    line_id: str
    change_id: str
    on: date
    previous_limit: Decimal
    new_limit: Decimal
    available_credit: Decimal
    outstanding_principal: Decimal
    over_limit: Decimal
    line_version: int


@dataclass(frozen=True)
class Statement:
    """A line's statement as of a date.

    ``entries`` are the journal entries dated in ``(since, as_of]`` (every entry when
    ``since`` is ``None``); ``balances`` every account's balance at the end of ``as_of``;
    the ``*_due`` amounts are due and unpaid; ``next_due_date``/``next_due_amount`` what
    falls due next.
    """

    line_id: str
    currency: str
    as_of: date
    since: date | None
    limit: Decimal
    available_credit: Decimal
    over_limit: Decimal
    outstanding_principal: Decimal
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal
    penalty_due: Decimal
    total_due: Decimal
    credit_balance: Decimal
    days_past_due: int
    bucket: str
    status: str
    next_due_date: date | None
    next_due_amount: Decimal
    entries: tuple[JournalEntry, ...]
    balances: dict[Account, Decimal]


# --------------------------------------------------------------------------- helpers


def _status(state: LineState) -> str:
    """``open``, ``frozen`` or ``written_off`` (:attr:`lending.LineState.status`)."""
    return state.status


def terms_of(record: CreditLineRecord, events: Iterable[LineEvent]) -> LineTerms:
    """The terms the line was opened with; its limit then is the limit before its first
    change (the stored ``limit_minor`` is the limit in force now)."""
    first_change = next((e for e in events if isinstance(e, LimitChanged)), None)
    opening_limit = (from_minor(record.limit_minor, record.currency) if first_change is None
                     else first_change.previous_limit)
    return LineTerms(
        line_id=record.id, limit=opening_limit,
        opened_on=record.opened_on, currency=record.currency, revolving=record.revolving,
        delinquency=DelinquencyPolicy(record.grace_days, Decimal(record.penalty_daily_rate),
                                      record.freeze_after_days, record.write_off_after_days),
        allocation=AllocationPolicy(
            cast(tuple[Component, ...], tuple(record.allocation_order.split(","))),
            "instalment" if record.allocation_by == "instalment" else "component"))


def _view(record: CreditLineRecord | SimpleNamespace) -> LineView:
    return LineView(record.id, record.seller_id, record.product, record.currency,
                    record.policy_version, from_minor(record.limit_minor, record.currency),
                    from_minor(record.available_minor, record.currency),
                    from_minor(record.outstanding_minor, record.currency),
                    record.days_past_due, record.bucket, record.status, record.as_of,
                    record.version, record.opened_on, record.revolving)


def _state_view(record: CreditLineRecord, state: LineState) -> LineView:
    return LineView(record.id, record.seller_id, record.product, record.currency,
                    record.policy_version, state.limit, state.available_credit,
                    state.outstanding_principal, state.days_past_due, state.bucket,
                    _status(state), state.as_of, record.version, record.opened_on,
                    record.revolving)


def load_line(uow: SqlUnitOfWork, line_id: str, *, lock: bool
              ) -> tuple[CreditLineRecord, CreditLine]:
    """The line's stored record and its events as a :class:`~lending.CreditLine`, in the
    caller's unit of work; ``lock`` takes the line's row lock first (every write does).

    Raises
    ------
    UnknownLine
    """
    record = uow.lines.get_for_update(line_id) if lock else uow.lines.get(line_id)
    if record is None:
        raise UnknownLine(f"no credit line {line_id!r}")
    events = uow.events.list(record)
    return record, CreditLine(terms_of(record, events), events)


def _check_not_before_book(record: CreditLineRecord, on: date) -> None:
    if on < record.as_of:
        raise BackdatedOperation(f"{on} is before {record.as_of}, the date line "
                                 f"{record.id!r} is already booked to")


def _signature(entry: JournalEntry) -> tuple[object, ...]:
    return (entry.on, entry.kind, entry.reference,
            tuple(sorted((str(p.account), p.side, p.amount) for p in entry.postings)))


def _net(entries: Iterable[JournalEntry]) -> dict[Account, Decimal]:
    net: dict[Account, Decimal] = {}
    for entry in entries:
        for posting in entry.postings:
            signed = posting.amount if posting.side == "debit" else -posting.amount
            net[posting.account] = net.get(posting.account, ZERO) + signed
    return net


def book_journal(uow: SqlUnitOfWork, record: CreditLineRecord, state: LineState) -> int:
    """Book the derived journal of ``state`` into the stored, append-only journal.

    The fold re-derives the whole journal from the events; the book only grows. Entries
    are compared per ``(kind, reference)`` group (e.g. every allocation of one payment):

    * when every booked entry of a group is still in the derived journal, the derived
      entries not yet booked are booked as they are, with their own dates (a draw, an
      interest accrual on its due date, an allocation);
    * otherwise history was re-derived (a payment reversed, penalty re-accrued in other
      steps): one **adjusting entry** dated ``state.as_of`` books the difference of the
      group's net amounts per account.

    Afterwards every account's booked balance equals the derived one as of
    ``state.as_of``. Returns the number of entries booked.
    """
    planned = journal_plan(uow.journal.list(record), state, record.currency)
    uow.journal.add_many(record, planned, posted_on=state.as_of)
    return len(planned)


def journal_plan(booked: Iterable[BookedEntry], state: LineState, currency: str
                 ) -> list[tuple[JournalEntry, bool]]:
    """What :func:`book_journal` books given the line's booked entries: each entry with
    whether it is an adjusting one."""
    derived: dict[tuple[EntryKind, str], list[JournalEntry]] = {}
    for entry in state.journal:
        derived.setdefault((entry.kind, entry.reference), []).append(entry)
    posted: dict[tuple[EntryKind, str], list[JournalEntry]] = {}
    for item in booked:
        posted.setdefault((item.entry.kind, item.entry.reference), []).append(item.entry)
    planned: list[tuple[JournalEntry, bool]] = []
    adjust: list[tuple[EntryKind, str]] = []
    for group, entries in derived.items():
        have = Counter(_signature(entry) for entry in posted.get(group, ()))
        if have - Counter(_signature(entry) for entry in entries):
            adjust.append(group)
            continue
        for entry in entries:
            signature = _signature(entry)
            if have[signature]:
                have[signature] -= 1
                continue
            planned.append((entry, False))
    adjust.extend(group for group in posted if group not in derived)
    for kind, reference in adjust:
        target = _net(derived.get((kind, reference), ()))
        current = _net(posted[(kind, reference)])
        difference = {account: target.get(account, ZERO) - current.get(account, ZERO)
                      for account in set(target) | set(current)}
        adjusting = JournalEntry.compound(
            state.as_of, kind,
            debits={a: v for a, v in difference.items() if v > 0},
            credits={a: -v for a, v in difference.items() if v < 0},
            reference=reference, currency=currency)
        if adjusting is not None:
            planned.append((adjusting, True))
    return planned


def books_forward(record: CreditLineRecord, events: Sequence[LineEvent],
                  new_events: int, on: date) -> bool:
    """Whether bringing the line to ``on`` with its last ``new_events`` events leaves every
    entry dated on or before its booked date (``record.as_of``) as the fold derived it.

    So it does when every event before them is dated on or before the booked date (as
    the services keep it) and each new one after it and no reversal (which voids a
    payment from its start): the fold then derives the same entries up to the booked
    date, which the book already holds (per ``(kind, reference)`` group), and only the
    entries dated after it are new (property-tested against :func:`book_journal` in
    ``tests/lending/persistence/test_booking_properties.py``). A new limit change may be
    dated on any day: it posts nothing and moves no entry (a line review re-granting the
    limit on the day the line was last written to need not read the book).
    """
    booked_to = record.as_of
    old, new = events[:len(events) - new_events], events[len(events) - new_events:]
    return (on >= booked_to and all(event.on <= booked_to for event in old)
            and all((event.on > booked_to or isinstance(event, LimitChanged))
                    and not isinstance(event, PaymentReversed) for event in new))


def _book_forward(uow: SqlUnitOfWork, record: CreditLineRecord, state: LineState) -> int:
    """Book the derived entries dated after the line's booked date (see
    :func:`books_forward`), without reading the book."""
    entries = [(entry, False) for entry in state.journal if entry.on > record.as_of]
    uow.journal.add_many(record, entries, posted_on=state.as_of)
    return len(entries)


def _apply(uow: SqlUnitOfWork, record: CreditLineRecord, line: CreditLine,
           events_before: int, on: date) -> LineState:
    """Store the new events, book the journal to ``on`` and refresh the line's summary."""
    uow.events.append(record, line.events[events_before:])
    state = line.state(on)
    if books_forward(record, line.events, len(line.events) - events_before, on):
        _book_forward(uow, record, state)
    else:
        book_journal(uow, record, state)
    currency = record.currency
    record.as_of = on
    if len(line.events) > events_before:
        record.last_operation_on = on
    record.status = _status(state)
    record.limit_minor = to_minor(state.limit, currency)
    record.outstanding_minor = to_minor(state.outstanding_principal, currency)
    record.available_minor = to_minor(state.available_credit, currency)
    record.days_past_due = state.days_past_due
    record.bucket = state.bucket
    record.version += 1
    uow.lines.add(record)
    return state


def journal_totals(uow: SqlUnitOfWork, line_id: str | None = None
                   ) -> dict[Account, Decimal]:
    """Booked balance of every account on its normal side (one line, or the whole book).

    Read inside an entered unit of work. Amounts in minor units are converted with the
    line's currency (CNY when ``line_id`` is ``None``: the whole book is one currency).
    """
    currency = "CNY"
    if line_id is not None:
        record = uow.lines.get(line_id)
        if record is None:
            raise UnknownLine(f"no credit line {line_id!r}")
        currency = record.currency
    totals = uow.journal.totals(line_id)
    result: dict[Account, Decimal] = {}
    for account in Account:
        debit = totals.get((str(account), "debit"), 0)
        credit = totals.get((str(account), "credit"), 0)
        signed = debit - credit if ACCOUNT_TYPES[account] in ("asset", "expense") \
            else credit - debit
        result[account] = from_minor(signed, currency)
    return result


# --------------------------------------------------------------------------- services


def open_line(uow: SqlUnitOfWork, *, line_id: str, seller_id: str, limit: AmountInput,
              opened_on: date, currency: str = "CNY", product: str = "purchase_line",
              policy_version: str | None = None, revolving: bool = True,
              delinquency: DelinquencyPolicy | None = None,
              allocation: AllocationPolicy | None = None,
              granted_terms: Terms | None = None) -> LineView:
    """Open a credit line with an explicit limit.

    ``granted_terms`` are the terms granted by the decision behind the line (kept on the
    line; every draw must then fit them, see :mod:`lending.products`); without them the
    line takes any plan the schedule rules accept.

    Raises
    ------
    InvalidIdentifier
        If the line or seller id is empty.
    InvalidAmount
        If the limit is not an exact non-negative amount.
    LineAlreadyExists
        If a line with this id is stored.
    """
    for what, value, longest in (("line_id", line_id, 100), ("seller_id", seller_id, 128)):
        if not isinstance(value, str) or not value.strip() or len(value) > longest:
            raise InvalidIdentifier(f"{what} must be a non-empty string of at most {longest} "
                                    f"characters; got {value!r}")
    terms = LineTerms(line_id, parse_amount(limit, currency, allow_zero=True, what="limit"),
                      opened_on, currency, revolving, delinquency or DelinquencyPolicy(),
                      allocation or AllocationPolicy())
    policy = terms.delinquency
    granted = granted_terms

    def work() -> LineView:
        with uow:
            # No read first: a taken id fails the insert on the primary key, which saves a
            # round trip on every line opened (each approved decision opens one); and no
            # ORM object, whose flush cost more than the rest of opening the line.
            row = uow.lines.insert(dict(
                id=line_id, seller_id=seller_id, product=product, currency=currency,
                policy_version=policy_version, revolving=revolving,
                limit_minor=to_minor(terms.limit, currency), opened_on=opened_on,
                grace_days=policy.grace_days,
                penalty_daily_rate=str(policy.penalty_daily_rate),
                freeze_after_days=policy.freeze_after_days,
                write_off_after_days=policy.write_off_after_days,
                allocation_order=",".join(terms.allocation.order),
                allocation_by=terms.allocation.by, as_of=opened_on,
                available_minor=to_minor(terms.limit, currency), version=1,
                terms=None if granted is None else dumps(terms_to_document(granted)),
                created_at=utc_now()))
            uow.commit()
            return _view(SimpleNamespace(**row))

    try:
        return work()
    except sqlalchemy.exc.IntegrityError:
        raise LineAlreadyExists(f"credit line {line_id!r} already exists") from None


def open_line_from_decision(uow: SqlUnitOfWork, decision: CreditDecision, *, line_id: str,
                            opened_on: date, currency: str = "CNY",
                            delinquency: DelinquencyPolicy | None = None) -> LineView:
    """Open the line an approved credit decision grants (limit, product, policy version
    and terms: every draw on the line must fit the decision's terms).

    A purchase line is revolving; a term loan is not (repaid principal does not restore
    it).

    Raises
    ------
    DecisionNotApproved
        If the decision is a referral or a decline (an officer's approval is a new
        decision).
    """
    if decision.outcome != "approve" or decision.product is None:
        raise DecisionNotApproved(f"the decision for seller {decision.seller_id!r} is "
                                  f"{decision.outcome!r}; only an approval opens a line")
    return open_line(uow, line_id=line_id, seller_id=decision.seller_id,
                     limit=decision.limit, opened_on=opened_on, currency=currency,
                     product=decision.product, policy_version=decision.policy_version,
                     revolving=decision.product == "purchase_line",
                     delinquency=delinquency, granted_terms=decision.terms)


def regrant_line(uow: SqlUnitOfWork, *, line_id: str, seller_id: str, limit: AmountInput,
                 terms: Terms, policy_version: str | None, on: date, actor: str,
                 change_id: str, reason: str, record_unchanged: bool = True) -> LineView:
    """A new approval for a seller who already has an open line of its product: that
    line takes the approval's limit and terms instead of a second line being opened.

    The line is locked; the limit change is a :class:`lending.LimitChanged` event (as by
    :func:`change_limit`, with ``reason`` and ``actor``), dated ``on`` or the line's booked
    date if a write already booked it further; the line's granted terms and policy
    version become the approval's, all in one transaction.

    With ``record_unchanged=False`` (a scheduled review approved again, the decision being
    its own record), an approval that would change nothing writes nothing: when the line
    is booked to ``on`` (its cached state is its state that day), not written off, and
    already has this limit, these terms and this policy version, the line stays as it is
    (no event, no new version) and its current view is returned. An officer's approval
    keeps the default: its reason and name go into the line's log even when the limit
    stays.

    Raises
    ------
    UnknownLine
        If the line does not exist, or belongs to another seller or product.
    LineClosed
        If the line is written off.
    InvalidAmount, DuplicateOperation
        As :meth:`lending.CreditLine.change_limit`.
    """

    document = dumps(terms_to_document(terms))

    def work() -> LineView:
        with uow:
            record = uow.lines.get_for_update(line_id)
            if record is None or (record.seller_id, record.product) != (seller_id,
                                                                        terms.product):
                raise UnknownLine(f"no {terms.product} line {line_id!r} of seller "
                                  f"{seller_id!r}")
            if not record_unchanged and _regrant_changes_nothing(
                    record, limit, document, policy_version, on):
                view = _view(record)
                uow.commit()
                return view
            events = uow.events.list(record)
            line = CreditLine(terms_of(record, events), events)
            day = max(on, record.as_of)
            before = len(line.events)
            line.change_limit(change_id, limit, day, reason=reason, actor=actor,
                              currency=record.currency)
            state = _apply(uow, record, line, before, day)
            record.terms = document
            record.policy_version = policy_version
            uow.lines.add(record)
            view = _state_view(record, state)
            uow.commit()
            return view

    return retry_on_conflict(work)


def _regrant_changes_nothing(record: CreditLineRecord, limit: AmountInput, terms: str,
                             policy_version: str | None, on: date) -> bool:
    """Whether re-granting the line ``limit``, ``terms`` (as stored) and ``policy_version``
    on ``on`` would leave it as it is: booked to that very day (so its cached summary is
    its state then), not written off, with the same limit, terms and policy version."""
    try:
        limit_minor = to_minor(parse_amount(limit, record.currency, allow_zero=True,
                                            what="limit"), record.currency)
    except LendingError:
        return False  # let the full path raise its own error
    return (record.as_of == on and record.status != "written_off"
            and record.limit_minor == limit_minor and record.terms == terms
            and record.policy_version == policy_version)


def granted_terms_of(record: CreditLineRecord) -> Terms | None:
    """The terms granted by the decision that opened the line (``None``: none kept)."""
    return None if record.terms is None else terms_from_document(json.loads(record.terms))


def _plan_within_terms(record: CreditLineRecord, plan: RepaymentPlan | RequestedPlan
                       ) -> RepaymentPlan:
    """The plan a draw on the line is booked with (see :func:`draw`)."""
    granted = granted_terms_of(record)
    if granted is not None:
        if isinstance(plan, RequestedPlan):
            return granted_plan(granted, plan)
        return check_plan_granted(granted, plan)
    return plan if isinstance(plan, RepaymentPlan) else plan_without_terms(plan)


def draw(uow: SqlUnitOfWork, *, line_id: str, amount: AmountInput, on: date | None,
         plan: RepaymentPlan | RequestedPlan, supplier_id: str, idempotency_key: str,
         currency: str | None = None, draw_id: str | None = None,
         client: str = "", business_today: date | None = None) -> DrawReceipt:
    """Draw on a line to pay a supplier, once per idempotency key.

    The line is locked for the transaction, so concurrent draws serialise and never take
    more than the limit together.

    ``plan`` is either a request (:class:`lending.products.RequestedPlan`: a kind and its
    period), which the line's granted terms turn into the plan booked (their fee rate or
    annual rate), or a whole :class:`RepaymentPlan`, which on a line with granted terms
    must be exactly the one they give. A line opened without terms takes a request for an
    interest-free period or instalments (no fee), or any whole plan.

    Raises
    ------
    UnknownLine
        If the line does not exist.
    PlanNotGranted
        If the plan does not fit the line's granted terms (the error names what does).
    InvalidAmount, CurrencyMismatch, LineClosed, LineFrozen, CreditLimitExceeded
        As :meth:`lending.CreditLine.draw`.
    BackdatedOperation
        If ``on`` is before the line's last operation or booked date.
    IdempotencyKeyReused
        If the key served a different request of the same client.

    ``client`` (the caller's id) keeps each client's keys apart
    (:func:`idempotency_scope`).

    With ``business_today`` (the calendar date in the lender's time zone: the HTTP path)
    the draw is dated by the store's business date, read under the line's lock after the
    key's replay; ``on``, when given, must be that date (``NotTheBusinessDate``).
    Without it, ``on`` is the draw's date (batch loads, simulations, tests).
    """
    check_write_dating(idempotency_key, on, business_today, "draw")
    scope = idempotency_scope("draw", client)
    body = {"line_id": line_id, "amount": normalized_amount(amount),
            "on": None if on is None else on.isoformat(),
            "plan": plan.to_document() if isinstance(plan, RequestedPlan)
            else plan_to_json(plan), "supplier_id": supplier_id, "currency": currency,
            "draw_id": draw_id}

    def plan_on(line: CreditLine) -> RepaymentPlan:
        # The line is locked and in the session already (line_write loaded it).
        record = uow.lines.get(line.terms.line_id)
        assert record is not None
        return _plan_within_terms(record, plan)

    return line_write(
        uow, line_id=line_id, scope=scope, idempotency_key=idempotency_key, body=body, on=on,
        receipt_type=DrawReceipt,
        dated=None if business_today is None else business_dating(
            today=business_today, on=on, kind="draw"),
        act=lambda line, day: line.draw(draw_id or f"D-{uuid.uuid4().hex}", amount, day,
                                        plan_on(line), supplier_id=supplier_id,
                                        currency=currency),
        receipt=lambda event, state, version, day: DrawReceipt(
            line_id, event.draw_id, day, event.amount, supplier_id, event.schedule,
            state.available_credit, state.outstanding_principal, version))


def repay(uow: SqlUnitOfWork, *, line_id: str, amount: AmountInput, on: date | None,
          idempotency_key: str, currency: str | None = None,
          payment_id: str | None = None, client: str = "",
          booked_on: date | None = None, business_today: date | None = None,
          value_date_window_days: int = 5) -> PaymentReceipt:
    """Record a repayment, once per idempotency key; allocated by the line's waterfall.

    ``on`` is the payment's value date. With ``booked_on`` (the lender's business date,
    the caller having checked ``on`` against the value-date window with
    :func:`lending.persistence.business_day.check_value_date`) a value date before it is
    **back-valued**: the payment is applied as of ``on`` even when end of day already
    booked the line past it (and even when operations were recorded after ``on``), and
    the book is brought to ``booked_on``;
    whatever end of day booked since ``on`` that the payment changes (penalty accrued on
    what it paid) is corrected by adjusting entries dated ``booked_on``, nothing booked is
    rewritten. Without ``booked_on`` the payment is booked on ``on`` and a date before
    the line's booked date is refused.

    With ``business_today`` (the HTTP path) the value date is checked against the store's
    business date under the line's lock, after the key's replay: ``on`` (default: the
    business date) must lie from ``value_date_window_days`` before it to it
    (``ValueDateOutsideWindow``), and the payment is booked on the business date.

    Raises
    ------
    UnknownLine
        If the line does not exist.
    InvalidAmount, CurrencyMismatch, BackdatedOperation, DuplicateOperation
        As :meth:`lending.CreditLine.repay`.
    IdempotencyKeyReused
        If the key served a different request.
    """
    check_write_dating(idempotency_key, on, business_today, "repay")
    body = {"line_id": line_id, "amount": normalized_amount(amount),
            "on": None if on is None else on.isoformat(),
            "currency": currency, "payment_id": payment_id}

    def act(line: CreditLine, on: date, booked_on: date | None) -> PaymentReceived:
        ident = payment_id or f"P-{uuid.uuid4().hex}"
        later = [event for event in line.events if event.on > on]
        if booked_on is None or not later:
            return line.repay(ident, amount, on, currency=currency)
        # Back-valued behind later operations: a payment's rule depends on nothing but
        # the line's terms and the ids used, so it is checked on the line as it stood on
        # its value date, and the ids recorded after that date are checked here. The fold
        # applies each event on its own date, whatever the recording order.
        if ident in {operation_id(event) for event in later}:
            raise DuplicateOperation(f"id {ident!r} is already used on line {line_id!r}")
        earlier = CreditLine(line.terms, [event for event in line.events if event.on <= on])
        return earlier.repay(ident, amount, on, currency=currency)

    return _record_payment(
        uow, idempotency_scope("repay", client), line_id, idempotency_key, body, on, act,
        booked_on=booked_on,
        dated=None if business_today is None else business_dating(
            today=business_today, on=on, kind="payment",
            window_days=value_date_window_days))


def prepay(uow: SqlUnitOfWork, *, line_id: str, draw_id: str, amount: AmountInput, on: date,
           idempotency_key: str, option: PrepaymentOption = "shorten_term",
           currency: str | None = None, payment_id: str | None = None,
           client: str = "", booked_on: date | None = None) -> PaymentReceipt:
    """Record a prepayment of one draw, once per idempotency key (scope ``prepay``).

    The draw's dues are paid first, then principal not yet due (its schedule re-derived
    by ``option``), restoring available credit at once; any excess stays as credit.
    ``booked_on`` back-values it as :func:`repay` does, except behind operations recorded
    after ``on`` (a prepayment's rule depends on the draw's state then): those refuse it
    (``BackdatedOperation``).

    Raises
    ------
    UnknownLine, UnknownDraw, NothingToPrepay, InvalidAmount, CurrencyMismatch
        As :meth:`lending.CreditLine.prepay`.
    IdempotencyKeyReused
        If the key served a different request.
    """
    check_idempotency_key(idempotency_key)
    body = {"line_id": line_id, "draw_id": draw_id, "amount": normalized_amount(amount),
            "on": on.isoformat(), "option": option, "currency": currency,
            "payment_id": payment_id}

    return _record_payment(
        uow, idempotency_scope("prepay", client), line_id, idempotency_key, body, on,
        lambda line, day, _booked: line.prepay(payment_id or f"P-{uuid.uuid4().hex}", amount,
                                               day, draw_id, option, currency=currency),
        booked_on=booked_on)


def _record_payment(uow: SqlUnitOfWork, scope: str, line_id: str, idempotency_key: str,
                    body: dict[str, Any], on: date | None,
                    act: Callable[[CreditLine, date, date | None],
                                  PaymentReceived | PrepaymentReceived],
                    *, booked_on: date | None = None,
                    dated: tuple[date, Dating] | None = None) -> PaymentReceipt:
    """A repayment or prepayment through :func:`line_write`, answered with a
    :class:`PaymentReceipt`; ``act`` gets the line, the value date and the booked date."""
    booked: list[date | None] = [booked_on]

    def dating_kept(business: date) -> tuple[date, date | None]:
        assert dated is not None
        value, booked[0] = dated[1](business)
        return value, booked[0]

    return line_write(
        uow, line_id=line_id, scope=scope, idempotency_key=idempotency_key, body=body, on=on,
        receipt_type=PaymentReceipt, act=lambda line, day: act(line, day, booked[0]),
        booked_on=booked_on, dated=None if dated is None else (dated[0], dating_kept),
        receipt=payment_receipt(line_id))


def payment_receipt(line_id: str) -> Callable[[Any, LineState, int, date], PaymentReceipt]:
    """The receipt of any money received on a line (repayment, prepayment, payoff): the
    payment, and what the line owes and holds after it (a ``receipt`` of
    :func:`line_write`)."""
    return lambda event, state, version, day: PaymentReceipt(
        line_id, event.payment_id, day, event.amount, state.total_due,
        state.credit_balance, state.outstanding_principal, state.available_credit,
        version)


EventT = TypeVar("EventT")
ReceiptT = TypeVar("ReceiptT", bound=StoredReceipt)


#: Dates a write from the lender's business date, read under the line's lock after the
#: idempotency replay: (the operation's date, the date its book is brought to or None).
Dating = Callable[[date], tuple[date, "date | None"]]


def check_write_dating(idempotency_key: str, on: date | None, business_today: date | None,
                       what: str) -> None:
    """What every dated write checks first: its idempotency key, and that it has a date
    (``on``) or is dated by the business date (``business_today``, the HTTP path)."""
    check_idempotency_key(idempotency_key)
    if on is None and business_today is None:
        raise TypeError(f"{what} needs on or business_today")


def business_dating(*, today: date, on: date | None, kind: str,
                    window_days: int = 0) -> tuple[date, Dating]:
    """How a client's write is dated by the business date (``today`` is the calendar date
    in the lender's time zone, used only by a store that never ran end of day).

    A draw (``kind="draw"``) happens on the business date (a client's other date is
    refused); a repayment (``kind="payment"``) takes a value date from the business date
    back ``window_days`` (default: the business date) and is booked on the business date.
    """
    def dating(business: date) -> tuple[date, date | None]:
        if kind == "draw":
            return check_draw_date(on, business), None
        return check_value_date(on, business, window_days), business

    return today, dating


def _replayed_refusal(refused: dict[str, Any]) -> LendingError:
    error = refusal_from_code(str(refused.get("code", "")), str(refused.get("message", "")),
                              refused.get("details"))
    error.replayed = True  # the HTTP layer says so in a header
    return error


def line_write(uow: SqlUnitOfWork, *, line_id: str, scope: str, idempotency_key: str | None,
                body: dict[str, Any], on: date | None, receipt_type: type[ReceiptT],
                act: Callable[[CreditLine, date], EventT],
                receipt: Callable[[EventT, LineState, int, date], ReceiptT],
                not_before_book: bool = False, booked_on: date | None = None,
                dated: tuple[date, Dating] | None = None) -> ReceiptT:
    """The one shape of every write that appends an event to a line.

    Lock the line; with an idempotency key already used, answer the stored receipt;
    otherwise refuse a date before the line's book (or, ``not_before_book``, move it to
    the booked date; with ``booked_on``, a value date before it is booked on ``booked_on``,
    see :func:`repay`), ``act`` on the line on that date, fold and book it, build the
    ``receipt`` (from the event, the new state, the line's new version and the date),
    keep it under the key, and commit, all in one transaction (run once more if it lost
    a race on a unique key).

    A refusal by the rules (the date checks or ``act`` raising a :class:`LendingError`)
    is kept under the key too, and re-raised, marked ``replayed``, to the same request
    sent again (see :mod:`store.idempotency`); a refusal of the body itself
    (``invalid_input``: a malformed amount, say) is not, as it depends on no state.
    """

    def work() -> ReceiptT:
        with uow:
            record, line = load_line(uow, line_id, lock=True)
            if idempotency_key is not None:
                stored = uow.idempotency.replay(scope, idempotency_key, body)
                if stored is not None:
                    refused = stored_refusal(stored)
                    if refused is not None:
                        raise _replayed_refusal(refused)
                    return receipt_type.from_json(stored)
            before = len(line.events)
            try:
                value_date, book_to = on, booked_on
                if dated is not None:
                    # the business date is read here, under the line's lock and after the
                    # replay: a retry answered from its key never depends on the day it
                    # arrives, and end of day cannot close the day between read and write
                    today, dating = dated
                    value_date, book_to = dating(business_date(uow.session, today=today))
                assert value_date is not None
                day = max(value_date, record.as_of) if not_before_book else value_date
                booked = day if book_to is None else max(book_to, day)
                _check_not_before_book(record, booked)
                event = act(line, day)
            except LendingError as refusal:
                if idempotency_key is not None and not refusal.invalid_input:
                    # kept under the key, so that the same request sent again (a resend
                    # overtaking its first try, say) gets this answer, never an effect
                    uow.idempotency.refuse(
                        scope=scope, key=idempotency_key, body=body, line_id=line_id,
                        code=refusal.code, message=str(refusal), details=refusal.details,
                        created_at=utc_now())
                    uow.commit()
                raise
            if len(line.events) == before:  # recorded on the line as of its value date
                line = CreditLine(line.terms, [*line.events, cast(LineEvent, event)])
            state = _apply(uow, record, line, before, booked)
            result = receipt(event, state, record.version, day)
            if idempotency_key is not None:
                uow.idempotency.add(IdempotencyRecord(
                    scope=scope, key=idempotency_key, fingerprint=fingerprint(body),
                    line_id=line_id, response=result.to_json(), created_at=utc_now()))
            uow.commit()
            return result

    return retry_on_conflict(work)


def reverse_payment(uow: SqlUnitOfWork, *, line_id: str, payment_id: str, on: date,
                    reason: str = "bounced") -> LineView:
    """Reverse a bounced payment; the book gets adjusting entries dated ``on``.

    Raises
    ------
    UnknownLine, UnknownPayment, PaymentAlreadyReversed, BackdatedOperation
    """
    with uow:
        record, line = load_line(uow, line_id, lock=True)
        _check_not_before_book(record, on)
        before = len(line.events)
        line.reverse_payment(payment_id, on, reason)
        state = _apply(uow, record, line, before, on)
        view = _state_view(record, state)
        uow.commit()
        return view


def change_limit(uow: SqlUnitOfWork, *, line_id: str, new_limit: AmountInput, on: date,
                 reason: str = "", actor: str = "", change_id: str | None = None,
                 idempotency_key: str | None = None, currency: str | None = None,
                 client: str = "", not_before_book: bool = False) -> LimitChangeReceipt:
    """Give a line a new limit from ``on`` on, recorded as a :class:`lending.LimitChanged`.

    The line is locked, the change checked by :meth:`lending.CreditLine.change_limit` and
    appended to the line's events, and the line is folded and booked to ``on`` (a limit
    change moves no money; accruals up to ``on`` are booked as by any write). Available
    credit follows the new limit at once. A limit below the outstanding principal is
    allowed: nothing is called in, available credit is zero and draws are refused until
    repayments bring what is owed below the limit (``over_limit`` says by how much it is
    above).

    Parameters
    ----------
    uow
        A unit of work, not yet entered.
    line_id
        The line.
    new_limit
        The limit from ``on``: an exact, non-negative amount in the line's currency.
    on
        Business date of the change; not before the line's booked date.
    reason, actor
        Why, and who decided; kept in the event.
    change_id
        Identifier of the change among the line's operations (default: a new
        ``C-<uuid>``).
    idempotency_key
        Optional: with a key, the change is made once per key (scope ``change_limit``,
        per ``client``), as a draw is; without one, each call is a change of its own.
    currency
        The currency ``new_limit`` is in, when the caller states it.
    client
        The caller's id, which keeps each client's keys apart (:func:`idempotency_scope`).
    not_before_book
        When true, a line already booked past ``on`` takes the change on its booked date
        (read under the line's lock) instead of refusing it as backdated: "from today, or
        from where the line already stands", as an officer's change is.

    Returns
    -------
    LimitChangeReceipt
        The limits before and after, and the line's figures on the date of the change.

    Raises
    ------
    UnknownLine
        If the line does not exist.
    InvalidAmount, InvalidIdentifier, DuplicateOperation, CurrencyMismatch, LineClosed
        As :meth:`lending.CreditLine.change_limit`.
    BackdatedOperation
        If ``on`` is before the line's last operation or booked date.
    IdempotencyKeyReused
        If the key served a different request.
    """
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    scope = idempotency_scope("change_limit", client)
    body = {"line_id": line_id, "new_limit": normalized_amount(new_limit),
            "on": on.isoformat(), "reason": reason, "actor": actor, "change_id": change_id,
            "currency": currency}

    return line_write(
        uow, line_id=line_id, scope=scope, idempotency_key=idempotency_key, body=body, on=on,
        receipt_type=LimitChangeReceipt, not_before_book=not_before_book,
        act=lambda line, day: line.change_limit(change_id or f"C-{uuid.uuid4().hex}",
                                                new_limit, day, reason=reason, actor=actor,
                                                currency=currency),
        receipt=lambda event, state, version, day: LimitChangeReceipt(
            line_id, event.change_id, day, event.previous_limit, event.new_limit,
            state.available_credit, state.outstanding_principal, state.over_limit, version))


def advance_line(uow: SqlUnitOfWork, *, line_id: str, to: date) -> LineView:
    """Bring a line to the end of ``to``: book accruals, penalties, write-off; refresh its
    days past due, bucket and status (end of day does this for every open line, see
    :mod:`lending.persistence.eod`).

    Raises
    ------
    UnknownLine, BackdatedOperation
    """
    with uow:
        record, line = load_line(uow, line_id, lock=True)
        _check_not_before_book(record, to)
        state = _apply(uow, record, line, len(line.events), to)
        view = _state_view(record, state)
        uow.commit()
        return view


@dataclass(frozen=True)
class Advanced:
    """What :func:`advance_in` did to one line.

    ``moved`` is false when the line was already booked to the date (a write of that
    day did it); ``history_changed`` when its credit history changed on the way (days
    past due bucket, or status: frozen, written off), which makes the seller's feature
    snapshot stale.
    """

    line_id: str
    seller_id: str
    currency: str
    moved: bool
    history_changed: bool


def advance_in(uow: SqlUnitOfWork, line_id: str, to: date) -> Advanced:
    """:func:`advance_line` inside a unit of work the caller entered and commits (end of
    day advances a batch of lines in one transaction); a line already booked to ``to``
    or later is left as it is.

    Raises
    ------
    UnknownLine
    """
    record, line = load_line(uow, line_id, lock=True)
    if record.as_of >= to:
        return Advanced(record.id, record.seller_id, record.currency, False, False)
    before = (record.bucket, record.status)
    _apply(uow, record, line, len(line.events), to)
    return Advanced(record.id, record.seller_id, record.currency, True,
                    (record.bucket, record.status) != before)


def _reading_date(record: CreditLineRecord, as_of: date | None,
                  business_date: date | None) -> date:
    """The date a read answers for: the one asked; else, given the business date, the
    last closed day (the day before it) or the line's booked date if later (a write of
    today books the line to today: the last closed day plus today's events); else the
    line's booked date."""
    if as_of is not None:
        return as_of
    if business_date is not None:
        return max(business_date - timedelta(days=1), record.as_of)
    return record.as_of


def get_line(uow: SqlUnitOfWork, line_id: str, as_of: date | None = None, *,
             business_date: date | None = None) -> LineView:
    """A line's limit, available credit, outstanding principal, days past due and bucket.

    Without ``as_of``, given ``business_date`` (the lender's current business date), the
    line is read as end of day left it plus today's events: as of the last closed day, or
    as of today when a write of today booked it there; a line nobody touched is never
    stale, even if end of day has not reached it. Without either date, as of its own
    booked date. When the date read is the line's booked date the stored summary answers
    with no fold; another date folds the line's events as of that date.
    """
    with uow.reading():
        record = uow.lines.get(line_id)
        if record is None:
            raise UnknownLine(f"no credit line {line_id!r}")
        as_of = _reading_date(record, as_of, business_date)
        if as_of == record.as_of:
            return _view(record)
        _, line = load_line(uow, line_id, lock=False)
        return _state_view(record, line.state(as_of))


def lines_of_seller(uow: SqlUnitOfWork, seller_id: str, *, limit: int | None = None
                    ) -> list[LineView]:
    """A seller's credit lines, most recently opened first, from their stored summaries.

    Lines opened on one date come in descending id order. Each view is as of its line's
    own ``as_of`` (no fold), as :func:`get_line` without a date answers.

    Parameters
    ----------
    uow
        A unit of work, not yet entered (entered for reading only).
    seller_id
        The seller.
    limit
        At most this many lines (``None``: every one).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1; got {limit}")
    statement = (select(CreditLineRecord).where(CreditLineRecord.seller_id == seller_id)
                 .order_by(col(CreditLineRecord.opened_on).desc(),
                           col(CreditLineRecord.id).desc())
                 .limit(limit))
    with uow.reading():
        return [_view(record) for record in uow.session.exec(statement).all()]


#: Statuses of a line that is over: end of day no longer advances it, and it takes no
#: new business (closed, or written off by end of day).
FINISHED_STATUSES: tuple[str, ...] = ("closed", "written_off")


def owing_lines(uow: SqlUnitOfWork) -> set[str]:
    """The ids of the lines with principal outstanding, from their stored summaries (as
    of each line's last end of day); ``uow`` not yet entered (entered for reading only)."""
    statement = select(CreditLineRecord.id).where(col(CreditLineRecord.outstanding_minor) > 0)
    with uow.reading():
        return {str(line_id) for line_id in uow.session.exec(statement).all()}


def finished_lines(uow: SqlUnitOfWork) -> set[str]:
    """The ids of the lines that are over (:data:`FINISHED_STATUSES`), from their stored
    summaries; ``uow`` not yet entered (entered for reading only)."""
    statement = select(CreditLineRecord.id).where(
        col(CreditLineRecord.status).in_(FINISHED_STATUSES))
    with uow.reading():
        return {str(line_id) for line_id in uow.session.exec(statement).all()}


def get_schedule(uow: SqlUnitOfWork, line_id: str, as_of: date | None = None, *,
                 business_date: date | None = None) -> tuple[DrawStatus, ...]:
    """Every draw of the line with its current schedule and unpaid amounts as of a date
    (without ``as_of``: as :func:`get_line` chooses it)."""
    with uow.reading():
        record, line = load_line(uow, line_id, lock=False)
        return line.state(_reading_date(record, as_of, business_date)).draws


def get_statement(uow: SqlUnitOfWork, line_id: str, as_of: date | None = None,
                  since: date | None = None, *,
                  business_date: date | None = None) -> Statement:
    """The line's statement as of a date: entries, balances and next amounts due
    (without ``as_of``: as :func:`get_line` chooses it).

    Derived from the events (the book holds the same balances up to the line's booked
    date, see :func:`book_journal`).
    """
    with uow.reading():
        record, line = load_line(uow, line_id, lock=False)
        currency = record.currency
        as_of = _reading_date(record, as_of, business_date)
    state = line.state(as_of)
    zero = quantize(ZERO, currency)
    entries = tuple(e for e in state.journal if since is None or e.on > since)
    return Statement(
        line_id=line_id, currency=currency, as_of=as_of, since=since,
        limit=state.limit, available_credit=state.available_credit,
        over_limit=state.over_limit, outstanding_principal=state.outstanding_principal,
        principal_due=state.principal_due, interest_due=state.interest_due,
        fee_due=state.fee_due, penalty_due=state.penalty_due, total_due=state.total_due,
        credit_balance=state.credit_balance, days_past_due=state.days_past_due,
        bucket=state.bucket, status=_status(state), next_due_date=state.next_due_date,
        next_due_amount=state.next_due_amount if state.next_due_date else zero,
        entries=entries, balances=Journal(state.journal.entries, currency).balances())


