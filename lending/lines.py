"""Credit lines, draws and repayments, event-sourced.

A :class:`CreditLine` records what happened to it as a list of events: draws
(:class:`DrawMade`), payments (:class:`PaymentReceived`), prepayments
(:class:`PrepaymentReceived`), reversals of bounced payments (:class:`PaymentReversed`)
and changes of its limit (:class:`LimitChanged`). Everything else (balances, amounts
due, days past due, penalties, freezes, write-off and the double-entry journal) is
*derived*: :func:`fold_line` replays the events day by day up to a date and returns a frozen
:class:`LineState`. Commands (:meth:`CreditLine.draw`, :meth:`~CreditLine.repay`, ...)
check the rules against the state on their date, raise a named domain error when a rule
is broken, and otherwise append one event.

Order of one business day
-------------------------
1. Instalments falling due today are recognized: their interest and fee are accrued
   into receivables; a credit balance is applied to what is due.
2. Today's events, in the order they were recorded.
3. End of day: penalty interest for today, days past due, bucket, freeze and write-off.

Payments
--------
Every payment is first received into ``credit_balance`` (Dr settlement_cash, Cr
credit_balance) and then allocated to what is due (Dr credit_balance, Cr receivables),
in waterfall order (:mod:`lending.allocation`). What nothing is due for stays as a credit
balance and is applied automatically when the next instalment falls due. A prepayment
names a draw: it pays what that draw has due, then repays principal not yet due and
re-derives the draw's schedule (shorten the term or lower the instalment), and keeps any
excess as a credit balance.

Limit changes
-------------
The limit a line was opened with is one of its terms; a :class:`LimitChanged` event sets
another from its date on, and :attr:`LineState.limit` is the limit in force on the
state's date. Available credit follows it at once. A limit may be lowered below what is
owed, as lenders do when a borrower's risk rises: nothing is called in (the schedules
stand), available credit is zero and draws are refused until repayments bring the
outstanding principal (everything ever drawn, for a term loan) below the new limit; the
excess shows as ``over_limit``. A limit change moves no money, so it posts nothing to
the journal.

Reversal of a bounced payment
-----------------------------
A bounced payment never really arrived. Once its :class:`PaymentReversed` is dated on or
before the state's date, the fold treats the payment as void from the start: it is still
received (the journal shows the money coming in on its date, as it did) but held apart,
never allocated, and paid back out by the reversal entry on the reversal date. Every
balance, penalty, day past due and bucket in between is therefore re-derived as if the
payment had never been made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from operator import attrgetter
from typing import Literal

from lending.allocation import AllocationPolicy, Component, DueAmount, allocate_payment
from lending.calendar import day_count_basis
from lending.delinquency import (
    Bucket,
    BucketChanged,
    DelinquencyEvent,
    DelinquencyPolicy,
    LineAccrualResumed,
    LineFreezeLifted,
    LineFreezeStarted,
    LineNonAccrualStarted,
    LineWrittenOff,
    bucket_for,
)
from lending.errors import (
    BackdatedOperation,
    CreditLimitExceeded,
    CurrencyMismatch,
    DuplicateOperation,
    InsufficientPayoff,
    InvalidAmount,
    InvalidIdentifier,
    LineClosed,
    LineFrozen,
    NothingToPayOff,
    NothingToPrepay,
    PaymentAlreadyRefunded,
    PaymentAlreadyReversed,
    RefundExceedsCreditBalance,
    UnknownDraw,
    UnknownPayment,
)
from lending.ledger import Account, EntryKind, Journal, JournalEntry
from lending.money import ZERO, AmountInput, parse_amount, quantize, to_decimal
from lending.schedules import (
    Instalment,
    InterestBasis,
    PrepaymentOption,
    Schedule,
    ScheduleMethod,
    build_schedule,
    reschedule_after_prepayment,
)

__all__ = [
    "RepaymentPlan",
    "LineTerms",
    "DrawMade",
    "PaymentReceived",
    "PrepaymentReceived",
    "PaymentReversed",
    "LimitChanged",
    "PayoffReceived",
    "BalanceRefunded",
    "LineEvent",
    "operation_id",
    "InstalmentStatus",
    "DrawStatus",
    "LineState",
    "DrawPayoff",
    "PayoffQuote",
    "CreditLine",
    "fold_line",
    "FoldCheckpoint",
    "FoldAdvance",
    "fold_with_checkpoint",
    "resume_fold",
    "payoff_quote",
    "open_term_loan",
]


@dataclass(frozen=True)
class RepaymentPlan:
    """How one draw is repaid; turned into a :class:`~lending.schedules.Schedule` at draw time.

    Use the constructors :meth:`bullet`, :meth:`instalments` and :meth:`term_loan`.
    """

    method: ScheduleMethod
    months: int = 1
    annual_rate: Decimal = ZERO
    interest_free_days: int | None = None
    fee: Decimal = ZERO
    day_count: str = "ACT/365"
    interest_basis: InterestBasis | None = None
    #: Service fee per month as a fraction of the drawn principal; when set, the plan's
    #: total fee is ``principal * rate * months`` rounded half up (added to ``fee``).
    fee_rate_per_month: Decimal = ZERO

    @classmethod
    def bullet(cls, interest_free_days: int, fee: AmountInput = ZERO) -> RepaymentPlan:
        """One interest-free payment at the end of 30, 60 or 90 days."""
        return cls("interest_free_bullet", 1, ZERO, interest_free_days,
                   parse_amount(fee, allow_zero=True, what="fee"))

    @classmethod
    def instalments(cls, months: int, fee: AmountInput = ZERO, *,
                    fee_rate_per_month: AmountInput = ZERO) -> RepaymentPlan:
        """``months`` equal monthly instalments at 0 %, with an optional flat service fee.

        The fee is given either as a total (``fee``) or as a monthly rate of the drawn
        principal (``fee_rate_per_month``, as in the policy's purchase-line terms).
        """
        rate = to_decimal(fee_rate_per_month, what="fee_rate_per_month")
        if rate < 0:
            raise InvalidAmount(f"fee_rate_per_month must not be negative; got {rate}")
        return cls("interest_free_instalments", months, ZERO, None,
                   parse_amount(fee, allow_zero=True, what="fee"), fee_rate_per_month=rate)

    @classmethod
    def term_loan(cls, method: ScheduleMethod, months: int, annual_rate: AmountInput, *,
                  day_count: str = "ACT/365",
                  interest_basis: InterestBasis | None = None) -> RepaymentPlan:
        """An interest-bearing plan: annuity, equal principal, interest-only or daily."""
        return cls(method, months, to_decimal(annual_rate, what="annual_rate"), None, ZERO,
                   day_count, interest_basis)

    def schedule_for(self, principal: Decimal, start: date, currency: str) -> Schedule:
        """The schedule of a draw of ``principal`` made on ``start``."""
        fee = self.fee + quantize(principal * self.fee_rate_per_month * self.months, currency)
        return build_schedule(principal, self.annual_rate, self.months, self.method, start,
                              day_count=self.day_count, fee=fee,
                              interest_free_days=self.interest_free_days,
                              interest_basis=self.interest_basis, currency=currency)


@dataclass(frozen=True)
class LineTerms:
    """What a line was opened with.

    Parameters
    ----------
    line_id
        Identifier of the line.
    limit
        Credit limit the line is opened with (a :class:`LimitChanged` sets another from its
        date); available credit is ``limit - outstanding principal`` (revolving) or
        ``limit - everything ever drawn`` (not revolving: a term loan).
    opened_on
        First business date of the line.
    currency
        Currency of every amount on the line.
    revolving
        Whether repaid principal restores available credit (purchase lines: yes).
    delinquency
        Penalty, freeze and write-off parameters.
    allocation
        Repayment waterfall.
    rebate_unearned_fees
        Whether paying a draw off early drops the service fees of its periods not yet
        begun (default yes); when not, a payoff charges every remaining fee.
    """

    line_id: str
    limit: Decimal
    opened_on: date
    currency: str = "CNY"
    revolving: bool = True
    delinquency: DelinquencyPolicy = field(default_factory=DelinquencyPolicy)
    allocation: AllocationPolicy = field(default_factory=AllocationPolicy)
    rebate_unearned_fees: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "limit", parse_amount(self.limit, self.currency,
                                                       allow_zero=True, what="limit"))


@dataclass(frozen=True)
class DrawMade:
    """A draw paid ``amount`` to a supplier on ``on``, to be repaid on ``schedule``."""

    draw_id: str
    on: date
    amount: Decimal
    supplier_id: str
    schedule: Schedule


@dataclass(frozen=True)
class PaymentReceived:
    """The borrower paid ``amount`` on ``on``; it goes to what is due, the rest to credit."""

    payment_id: str
    on: date
    amount: Decimal


@dataclass(frozen=True)
class PrepaymentReceived:
    """The borrower paid ``amount`` on ``on`` to repay draw ``draw_id`` ahead of schedule."""

    payment_id: str
    on: date
    amount: Decimal
    draw_id: str
    option: PrepaymentOption


@dataclass(frozen=True)
class PaymentReversed:
    """Payment ``payment_id`` bounced; reversed on ``on``."""

    payment_id: str
    on: date
    reason: str = "bounced"


@dataclass(frozen=True)
class LimitChanged:
    """The line's limit went from ``previous_limit`` to ``new_limit`` on ``on``.

    ``reason`` and ``actor`` say why and who (an officer's written reason, the policy's
    periodic review); neither changes the fold.
    """

    change_id: str
    on: date
    previous_limit: Decimal
    new_limit: Decimal
    reason: str = ""
    actor: str = ""


@dataclass(frozen=True)
class PayoffReceived:
    """The borrower paid ``amount`` on ``on`` to pay off draw ``draw_id`` (every open draw
    when ``None``): the draws it covers are settled at once and nothing falls due on them
    afterwards; anything above the payoff is applied like any payment."""

    payment_id: str
    on: date
    amount: Decimal
    draw_id: str | None = None


@dataclass(frozen=True)
class BalanceRefunded:
    """``amount`` of the borrower's credit balance was paid back to them on ``on``."""

    refund_id: str
    on: date
    amount: Decimal


LineEvent = (DrawMade | PaymentReceived | PrepaymentReceived | PaymentReversed | LimitChanged
             | PayoffReceived | BalanceRefunded)


@dataclass(frozen=True)
class InstalmentStatus:
    """One instalment of a draw as of a date: what it asks and what is still unpaid."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    principal_unpaid: Decimal
    interest_unpaid: Decimal
    fee_unpaid: Decimal
    penalty_unpaid: Decimal
    is_due: bool
    #: First day of the instalment's interest period (the draw date or the previous due
    #: date).
    period_start: date | None = None
    #: Interest of the instalment booked so far by the daily accrual (all of it once due).
    interest_accrued: Decimal = ZERO

    @property
    def unpaid(self) -> Decimal:
        """Everything still owed on this instalment (not yet due principal included)."""
        return (self.principal_unpaid + self.interest_unpaid + self.fee_unpaid
                + self.penalty_unpaid)


@dataclass(frozen=True)
class DrawStatus:
    """A draw as of a date.

    ``outstanding_principal`` is all principal still owed (due or not); the ``*_due``
    amounts are what fell due on or before the date and is unpaid; ``schedule`` is the
    current schedule (re-derived after prepayments); ``instalments`` carry the unpaid
    amounts of each instalment.
    """

    draw_id: str
    drawn_on: date
    amount: Decimal
    supplier_id: str
    schedule: Schedule
    status: Literal["open", "repaid", "written_off"]
    outstanding_principal: Decimal
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal
    penalty_due: Decimal
    days_past_due: int
    instalments: tuple[InstalmentStatus, ...]
    #: Interest accrued day by day and not yet due.
    interest_accrued: Decimal = ZERO

    @property
    def total_due(self) -> Decimal:
        """Everything due on this draw on or before the state's date and unpaid."""
        return self.principal_due + self.interest_due + self.fee_due + self.penalty_due


@dataclass(frozen=True)
class LineState:
    """Everything derived from a line's events as of the end of a business day.

    Balances (``outstanding_principal``, ``fee_due``, ``penalty_due`` and
    ``credit_balance``) are read from the journal; ``principal_due`` and ``interest_due``
    (interest fallen due; ``interest_accrued`` is what has accrued and is not yet due:
    the journal's ``interest_receivable`` is their sum) from the draws, whose figures are
    derived independently from their instalments, so the two can be reconciled.
    """

    terms: LineTerms
    as_of: date
    #: The limit in force at the end of ``as_of``: the opening limit (``terms.limit``) or
    #: the latest :class:`LimitChanged` on or before that date.
    limit: Decimal
    outstanding_principal: Decimal
    available_credit: Decimal
    #: Principal above the limit: a limit lowered below what is owed, or a reversed
    #: payment (a draw never goes above it).
    over_limit: Decimal
    interest_due: Decimal
    fee_due: Decimal
    penalty_due: Decimal
    principal_due: Decimal
    #: The borrower's money not applied to any debt (overpayments).
    credit_balance: Decimal
    days_past_due: int
    bucket: Bucket
    frozen: bool
    closed: bool
    draws: tuple[DrawStatus, ...]
    journal: Journal
    delinquency_events: tuple[DelinquencyEvent, ...]
    #: Interest accrued day by day on the open draws and not yet due.
    interest_accrued: Decimal = ZERO
    #: Whether the line is non-accrual (income no longer recognised; see
    #: :class:`~lending.delinquency.DelinquencyPolicy`).
    non_accrual: bool = False
    #: Money recovered after the write-off (booked as recovery income).
    recovered: Decimal = ZERO

    @property
    def status(self) -> Literal["open", "frozen", "written_off"]:
        """``written_off`` once written off (closed), ``frozen`` while past due beyond the
        freeze threshold, ``open`` otherwise."""
        return "written_off" if self.closed else "frozen" if self.frozen else "open"

    @property
    def total_due(self) -> Decimal:
        """Everything due now (on or before the state's date) and unpaid."""
        return self.principal_due + self.interest_due + self.fee_due + self.penalty_due

    @property
    def next_due_date(self) -> date | None:
        """The next date after ``as_of`` on which something falls due, if any."""
        dates = [i.due_date for d in self.draws if d.status == "open"
                 for i in d.instalments if not i.is_due]
        return min(dates, default=None)

    @property
    def next_due_amount(self) -> Decimal:
        """What falls due on :attr:`next_due_date` (before any credit balance is applied)."""
        next_date = self.next_due_date
        return sum((i.principal_unpaid + i.interest + i.fee for d in self.draws
                    if d.status == "open" for i in d.instalments
                    if not i.is_due and i.due_date == next_date),
                   quantize(ZERO, self.terms.currency))

    def draw(self, draw_id: str) -> DrawStatus:
        """The status of one draw."""
        for status in self.draws:
            if status.draw_id == draw_id:
                return status
        raise UnknownDraw(f"no draw {draw_id!r} on line {self.terms.line_id!r}")


@dataclass(frozen=True)
class DrawPayoff:
    """What settles one draw on a date, by component.

    ``fee`` is the fees due and those of periods begun (and, without a rebate, of the
    later ones); ``rebated_fee`` the unearned fees dropped; ``interest`` the interest due
    and accrued to the date.
    """

    draw_id: str
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    rebated_fee: Decimal

    @property
    def total(self) -> Decimal:
        """Principal, interest, fees and penalty: what settles the draw."""
        return self.principal + self.interest + self.fee + self.penalty


@dataclass(frozen=True)
class PayoffQuote:
    """What settles a line (or one draw) if paid on ``on`` (see :func:`payoff_quote`).

    ``total`` is the sum of the draws' payoffs; ``amount_to_pay`` is ``total`` less the
    borrower's credit balance, which is applied first.
    """

    line_id: str
    on: date
    draw_id: str | None
    draws: tuple[DrawPayoff, ...]
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    rebated_fee: Decimal
    total: Decimal
    credit_balance: Decimal
    amount_to_pay: Decimal


# --------------------------------------------------------------------------- the fold


def _accrued_before(interest: Decimal, period_start: date, due_date: date, day: date,
                    currency: str) -> Decimal:
    """A period's interest earned on the days before ``day``.

    The interest of an instalment is spread evenly over the days of its period (first day
    in, due date out) and rounded half up *cumulatively*, so the daily amounts are never
    negative and sum to the instalment's interest exactly on its due date.
    """
    days = (due_date - period_start).days
    elapsed = (day - period_start).days
    if elapsed <= 0 or not interest:
        return interest * 0
    if elapsed >= days:
        return interest
    return quantize(interest * elapsed / days, currency)


class _Item:
    """Mutable state of one instalment during a fold."""

    __slots__ = ("number", "due_date", "period_start", "principal", "interest", "fee",
                 "recognized", "principal_unpaid", "interest_unpaid", "fee_unpaid",
                 "interest_accrued", "penalty_exact", "penalty_posted", "penalty_paid",
                 "late_interest_exact", "late_interest_posted", "interest_suspended",
                 "fee_suspended", "penalty_suspended")

    def __init__(self, number: int, due_date: date, period_start: date, principal: Decimal,
                 interest: Decimal, fee: Decimal, zero: Decimal) -> None:
        self.number = number
        self.due_date = due_date
        self.period_start = period_start
        self.principal = principal
        self.interest = interest
        self.fee = fee
        self.recognized = False
        self.principal_unpaid = principal
        self.interest_unpaid = zero
        self.fee_unpaid = zero
        #: Interest of this instalment booked so far by the daily accrual.
        self.interest_accrued = zero
        self.penalty_exact = ZERO
        self.penalty_posted = zero
        self.penalty_paid = zero
        self.late_interest_exact = ZERO
        self.late_interest_posted = zero
        # Parts of the receivables booked to income_suspense (non-accrual) and unpaid.
        self.interest_suspended = zero
        self.fee_suspended = zero
        self.penalty_suspended = zero

    @property
    def penalty_unpaid(self) -> Decimal:
        return self.penalty_posted - self.penalty_paid

    @property
    def unpaid_due(self) -> Decimal:
        return self.principal_unpaid + self.interest_unpaid + self.fee_unpaid

    def has_unpaid_due(self) -> bool:
        return self.recognized and bool(self.principal_unpaid or self.interest_unpaid
                                        or self.fee_unpaid)

    def counts_past_due(self, day: date, tolerance: Decimal) -> bool:
        """Past due on ``day``: fallen due before it and short by more than the tolerance."""
        return self.recognized and self.due_date < day and self.unpaid_due > tolerance


def _items_of(schedule: Schedule, instalments: Iterable[Instalment], zero: Decimal
              ) -> list[_Item]:
    starts = {i.number: start for i, start in zip(
        schedule.instalments, (schedule.start, *(i.due_date for i in schedule.instalments)),
        strict=False)}
    return [_Item(i.number, i.due_date, starts[i.number], i.principal, i.interest, i.fee, zero)
            for i in instalments]


class _Draw:
    """Mutable state of one draw during a fold."""

    def __init__(self, event: DrawMade, tolerance: Decimal) -> None:
        self._event: DrawMade | None = event
        self._draw_id = event.draw_id
        self._schedule: Schedule | None = event.schedule
        #: A restored draw's header as its checkpoint stored it (draw id, date, amount,
        #: supplier, schedule document) while its schedule is the one stored: the event
        #: and the schedule are decoded only when the day needs them (a past-due draw's
        #: late charges; a snapshot), and the next checkpoint writes the header back as is.
        self._stored: list | None = None
        self.tolerance = tolerance
        self.zero = quantize(ZERO, event.schedule.currency)
        self.items = _items_of(event.schedule, event.schedule.instalments, self.zero)
        self.written_off = False
        #: Days past due when written off: what the draw keeps showing afterwards, as the
        #: line does (a written-off draw is not cured by being taken off the book).
        self.written_off_days = 0
        self.interest_bearing = event.schedule.annual_rate > 0
        self.history: list[tuple[date, Decimal]] = [(event.on, event.amount)]

    @property
    def draw_id(self) -> str:
        return self._draw_id

    @property
    def event(self) -> DrawMade:
        if self._event is None:
            assert self._stored is not None
            draw_id, on, amount, supplier = self._stored[:4]
            self._event = DrawMade(draw_id, date.fromisoformat(on), Decimal(amount), supplier,
                                   self.schedule)
        return self._event

    @property
    def schedule(self) -> Schedule:
        if self._schedule is None:
            assert self._stored is not None
            self._schedule = _schedule_of(self._stored[4])
        return self._schedule

    @schedule.setter
    def schedule(self, schedule: Schedule) -> None:
        self.event  # noqa: B018 - the event keeps the schedule the draw was restored with
        self._schedule, self._stored = schedule, None

    def outstanding_principal(self) -> Decimal:
        return sum((item.principal_unpaid for item in self.items), self.zero)

    def future_items(self) -> list[_Item]:
        return [item for item in self.items if not item.recognized]

    def future_principal(self) -> Decimal:
        return sum((item.principal_unpaid for item in self.future_items()), self.zero)

    def days_past_due(self, day: date) -> int:
        overdue = [i.due_date for i in self.items if i.counts_past_due(day, self.tolerance)]
        return (day - min(overdue)).days if overdue else 0

    def is_settled(self) -> bool:
        return all(item.recognized and not (item.unpaid_due or item.penalty_unpaid)
                   for item in self.items)

    def item(self, number: int) -> _Item:
        return next(i for i in self.items if i.number == number)

    def dues(self) -> list[DueAmount]:
        dues: list[DueAmount] = []
        for item in self.items:
            if not item.recognized:
                continue
            parts: tuple[tuple[Component, Decimal], ...] = (
                ("penalty", item.penalty_unpaid), ("fee", item.fee_unpaid),
                ("interest", item.interest_unpaid), ("principal", item.principal_unpaid))
            for component, amount in parts:
                if amount:
                    dues.append(DueAmount(self.draw_id, item.number, item.due_date,
                                          component, amount))
        return dues


_RECEIVABLE = {"principal": Account.LOANS_RECEIVABLE, "interest": Account.INTEREST_RECEIVABLE,
               "fee": Account.FEE_RECEIVABLE, "penalty": Account.PENALTY_RECEIVABLE}
_INCOME = {"interest": Account.INTEREST_INCOME, "fee": Account.FEE_INCOME,
           "penalty": Account.PENALTY_INCOME}


class _Fold:
    """Replays a line's events day by day; used only by :func:`fold_line`."""

    def __init__(self, terms: LineTerms, void_payments: set[str],
                 payment_amounts: dict[str, Decimal], first_day: date) -> None:
        self.terms = terms
        self._payment_amounts = payment_amounts
        self.currency = terms.currency
        self.void_payments = void_payments
        self.entries: list[JournalEntry] = []
        self.draws: dict[str, _Draw] = {}
        # Draws that may still owe something; settled and written-off draws leave it for
        # good within one fold (nothing accrues on a settled draw), which keeps a fold
        # proportional to the live draws rather than to the line's whole history.
        self.active: dict[str, _Draw] = {}
        self.zero = quantize(ZERO, terms.currency)
        self.credit = self.zero
        self.limit = terms.limit
        self.events: list[DelinquencyEvent] = []
        self.bucket: Bucket = "current"
        self.frozen = False
        self.closed = False
        self.non_accrual = False
        self.days_past_due = 0
        self.accrued_through = first_day - timedelta(days=1)
        self.written_off_total = self.zero
        self.recovered = self.zero
        #: The next day the fold visits after the last one it closed (``None``: none, as
        #: nothing is due any more); set by :func:`_run_fold`, kept in a checkpoint.
        self.next_visit: date | None = None

    # -- journal helpers
    def _post(self, entry: JournalEntry | None) -> None:
        if entry is not None:
            self.entries.append(entry)

    def _transfer(self, on: date, kind: EntryKind, debit: Account, credit: Account,
                  amount: Decimal, reference: str) -> None:
        self._post(JournalEntry.transfer(on, kind, debit, credit, amount,
                                         reference=reference, currency=self.currency))

    def _accrue(self, day: date, kind: EntryKind, component: Component, item: _Item,
                amount: Decimal, reference: str) -> None:
        """Book ``amount`` of ``component`` earned on ``item``: to income, or to suspense
        while the line is non-accrual; a negative amount takes back suspense first."""
        receivable, income = _RECEIVABLE[component], _INCOME[component]
        attribute = f"{component}_suspended"
        suspended: Decimal = getattr(item, attribute)
        if amount > 0:
            if self.non_accrual:
                setattr(item, attribute, suspended + amount)
                income = Account.INCOME_SUSPENSE
            self._transfer(day, kind, receivable, income, amount, reference)
        elif amount < 0:
            from_suspense = min(-amount, suspended)
            setattr(item, attribute, suspended - from_suspense)
            self._post(JournalEntry.compound(
                day, kind, debits={Account.INCOME_SUSPENSE: from_suspense,
                                   income: -amount - from_suspense},
                credits={receivable: -amount}, reference=reference, currency=self.currency))

    def _open_draws(self) -> list[_Draw]:
        return list(self.active.values())

    def _retire_settled(self, draws: Iterable[_Draw]) -> None:
        for draw in draws:
            if draw.is_settled():
                self.active.pop(draw.draw_id, None)

    # -- the day
    def start_of_day(self, day: date) -> None:
        if self.closed:
            return
        self.accrue_through(day - timedelta(days=1))
        for draw in self._open_draws():
            for item in draw.items:
                if item.due_date == day and not item.recognized:
                    self._recognize(day, draw, item)
        self._apply_money(day, "credit_balance")
        self._retire_settled(self._open_draws())

    def _recognize(self, day: date, draw: _Draw, item: _Item) -> None:
        """The instalment falls due: its interest (accrued by now) and fee become due."""
        item.recognized = True
        self._accrue(day, EntryKind.INTEREST_ACCRUAL, "interest", item,
                     item.interest - item.interest_accrued, draw.draw_id)
        item.interest_accrued = item.interest
        item.interest_unpaid = item.interest
        item.fee_unpaid = item.fee
        self._accrue(day, EntryKind.FEE_ACCRUAL, "fee", item, item.fee, draw.draw_id)

    def accrue_through(self, last: date) -> None:
        """Book each day's interest of the interest-bearing draws up to ``last``."""
        if self.closed or last <= self.accrued_through:
            return
        bearing = [d for d in self.active.values() if d.interest_bearing]
        day = self.accrued_through + timedelta(days=1)
        self.accrued_through = last
        if not bearing:
            return
        while day <= last:
            tomorrow = day + timedelta(days=1)
            for draw in bearing:
                for item in draw.items:
                    if item.recognized or not item.period_start <= day < item.due_date:
                        continue
                    target = _accrued_before(item.interest, item.period_start, item.due_date,
                                             tomorrow, self.currency)
                    delta = target - item.interest_accrued
                    item.interest_accrued = target
                    self._accrue(day, EntryKind.INTEREST_ACCRUAL, "interest", item, delta,
                                 draw.draw_id)
            day = tomorrow

    def apply(self, event: LineEvent) -> None:
        if isinstance(event, DrawMade):
            self._draw(event)
        elif isinstance(event, PaymentReceived | PrepaymentReceived | PayoffReceived):
            self._receive(event)
        elif isinstance(event, LimitChanged):
            self.limit = event.new_limit
        elif isinstance(event, BalanceRefunded):
            self.credit -= event.amount
            self._transfer(event.on, EntryKind.BALANCE_REFUND, Account.CREDIT_BALANCE,
                           Account.COLLECTIONS_CASH, event.amount, event.refund_id)
        else:
            self._transfer(event.on, EntryKind.PAYMENT_REVERSAL, Account.CREDIT_BALANCE,
                           Account.COLLECTIONS_CASH, self._payment_amounts[event.payment_id],
                           event.payment_id)

    def end_of_day(self, day: date) -> None:
        if self.closed:
            return
        policy = self.terms.delinquency
        days = max((d.days_past_due(day) for d in self._open_draws()), default=0)
        self.days_past_due = days
        non_accrual = days >= policy.non_accrual_after_days
        if non_accrual and not self.non_accrual:
            self.events.append(LineNonAccrualStarted(day, days))
        elif self.non_accrual and not non_accrual:
            self.events.append(LineAccrualResumed(day))
        self.non_accrual = non_accrual
        self.accrue_through(day)
        if days:
            for draw in self._open_draws():
                self._late_charges(day, draw)
        bucket = bucket_for(days)
        if bucket != self.bucket:
            self.events.append(BucketChanged(day, self.bucket, bucket, days))
            self.bucket = bucket
        frozen = days > policy.freeze_after_days
        if frozen and not self.frozen:
            self.events.append(LineFreezeStarted(day, days))
        elif self.frozen and not frozen:
            self.events.append(LineFreezeLifted(day))
        self.frozen = frozen
        if days >= policy.write_off_after_days:
            self._write_off(day, days)

    def _late_charges(self, day: date, draw: _Draw) -> None:
        """Today's interest after the due date and penalty on the past-due instalments.

        Both accrue exactly and are booked each day rounded half up (the cumulative
        amount, so the booked total never drifts from the exact one by half a fen).
        """
        policy = self.terms.delinquency
        late_rate = ZERO
        if policy.post_maturity_interest and draw.interest_bearing:
            late_rate = (draw.schedule.annual_rate
                         / day_count_basis(draw.schedule.day_count))
        for item in draw.items:
            if not item.counts_past_due(day, policy.arrears_tolerance):
                continue
            if late_rate and item.principal_unpaid:
                item.late_interest_exact += item.principal_unpaid * late_rate
                rounded = quantize(item.late_interest_exact, self.currency)
                delta = rounded - item.late_interest_posted
                item.late_interest_posted = rounded
                item.interest_unpaid += delta
                self._accrue(day, EntryKind.INTEREST_ACCRUAL, "interest", item, delta,
                             draw.draw_id)
            if policy.penalty_daily_rate and (day - item.due_date).days > policy.grace_days:
                base = item.principal_unpaid
                if policy.penalty_on_overdue_interest:
                    base += item.interest_unpaid
                item.penalty_exact += base * policy.penalty_daily_rate
                rounded = quantize(item.penalty_exact, self.currency)
                delta = rounded - item.penalty_posted
                item.penalty_posted = rounded
                self._accrue(day, EntryKind.PENALTY_ACCRUAL, "penalty", item, delta,
                             draw.draw_id)

    def needs_daily_steps(self) -> bool:
        """Whether anything changes from one day to the next without an event or due date.

        Only a past-due instalment does (days past due, penalty, interest after the due
        date); the daily interest of a current draw is booked in one go when the fold
        skips ahead (:meth:`accrue_through`).
        """
        tolerance = self.terms.delinquency.arrears_tolerance
        return not self.closed and any(item.recognized and item.unpaid_due > tolerance
                                       for draw in self._open_draws() for item in draw.items)

    def next_due_date(self, after: date) -> date | None:
        dates = [item.due_date for draw in self._open_draws() for item in draw.items
                 if not item.recognized and item.due_date > after]
        return min(dates, default=None)

    # -- events
    def _draw(self, event: DrawMade) -> None:
        draw = _Draw(event, self.terms.delinquency.arrears_tolerance)
        self.draws[event.draw_id] = self.active[event.draw_id] = draw
        self._transfer(event.on, EntryKind.DISBURSEMENT, Account.LOANS_RECEIVABLE,
                       Account.SUPPLIER_PAYABLE, event.amount, event.draw_id)
        self._transfer(event.on, EntryKind.SUPPLIER_PAYOUT, Account.SUPPLIER_PAYABLE,
                       Account.FUNDING_CASH, event.amount, event.draw_id)
        if self.closed:
            # Only in hindsight: a payment reversed later shows the line was already
            # written off when this draw was made. A closed line's receivables are
            # written off, so this one is too, on its own date.
            self._write_off_draw(event.on, draw)
            return
        # A credit balance (a true overpayment) repays the new draw at once.
        self._apply_money(event.on, "credit_balance")

    def _receive(self, event: PaymentReceived | PrepaymentReceived | PayoffReceived) -> None:
        day = event.on
        self._transfer(day, EntryKind.REPAYMENT_RECEIVED, Account.COLLECTIONS_CASH,
                       Account.CREDIT_BALANCE, event.amount, event.payment_id)
        if event.payment_id in self.void_payments:
            # Known to bounce by the state's date: received, never allocated, paid back
            # out by the reversal entry.
            return
        self.credit += event.amount
        if self.closed:
            self._recover(day, event.payment_id)
            return
        if isinstance(event, PrepaymentReceived):
            draw = self.active.get(event.draw_id)
            if draw is not None:
                self._apply_credit(day, [draw], event.payment_id)
                if self.credit >= self.draw_payoff(draw, day).total:
                    self._settle(day, draw, event.payment_id)
                else:
                    principal = min(self.credit, draw.future_principal())
                    if principal > 0:
                        self._prepay(day, draw, principal, event.option, event.payment_id)
        elif isinstance(event, PayoffReceived):
            covered = (list(self.active.values()) if event.draw_id is None
                       else [d for d in (self.active.get(event.draw_id),) if d is not None])
            self._apply_credit(day, covered, event.payment_id)
            for draw in covered:
                if draw.draw_id in self.active and (
                        self.credit >= self.draw_payoff(draw, day).total):
                    self._settle(day, draw, event.payment_id)
        self._apply_money(day, event.payment_id)

    def _recover(self, day: date, reference: str) -> None:
        """Money received after the write-off is income, up to what was written off."""
        amount = min(self.credit, self.written_off_total - self.recovered)
        if amount > 0:
            self.credit -= amount
            self.recovered += amount
            self._transfer(day, EntryKind.RECOVERY, Account.CREDIT_BALANCE,
                           Account.RECOVERY_INCOME, amount, reference)

    # -- applying money: dues first, then principal not yet due
    def _apply_money(self, day: date, reference: str) -> None:
        if not self.credit or self.closed:
            return
        self._apply_credit(day, self._open_draws(), reference)
        self._revolve(day, reference)

    def _revolve(self, day: date, reference: str) -> None:
        """Money left once everything due is paid repays principal not yet due at once,
        oldest draw first; a draw it fully covers is paid off.

        Of a draw it does not cover, the next instalment's interest and fee are kept back
        (in the credit balance, paying them when they fall due), so paying the amount
        shown due before its date always settles that instalment; the rest repays
        principal: the next instalment's first, then (interest-bearing draws) the later
        ones with a ``shorten_term`` reschedule that lowers future interest, or
        (interest-free draws) the next ones in order, with no reschedule.
        """
        free = self.credit
        for draw in self._open_draws():
            if free <= 0:
                return
            future = draw.future_items()
            if not future:
                continue
            payoff = self.draw_payoff(draw, day).total
            if free >= payoff:
                self._settle(day, draw, reference)
                free -= payoff
                continue
            nearest = future[0]
            free -= min(free, nearest.interest + nearest.fee)
            principal = min(free, draw.future_principal())
            if principal <= 0:
                continue
            free -= principal
            if not draw.interest_bearing:
                self._shrink_nearest(day, draw, principal, reference)
                continue
            first = min(principal, nearest.principal_unpaid)
            if first:
                self._shrink_nearest(day, draw, first, reference)
            if principal - first:
                self._prepay(day, draw, principal - first, "shorten_term", reference,
                             after=nearest.due_date)

    def _prepay(self, day: date, draw: _Draw, principal: Decimal, option: PrepaymentOption,
                reference: str, *, after: date | None = None) -> None:
        """Repay ``principal`` not yet due and re-derive the draw's instalments due after
        ``after`` (default: after today)."""
        draw.history.append((day, draw.outstanding_principal() - principal))
        schedule = reschedule_after_prepayment(draw.schedule, on=after or day,
                                               prepaid_principal=principal,
                                               option=option,
                                               balance_history=draw.history)
        self._replace_future(draw, schedule, day)
        self._book_principal(day, draw, principal, reference)

    def _shrink_nearest(self, day: date, draw: _Draw, principal: Decimal,
                        reference: str) -> None:
        """Repay ``principal`` of an interest-free draw off its nearest instalments.

        Nothing is rescheduled: the next instalments lose their principal, oldest first;
        an instalment left with nothing to pay disappears. Once no principal is left, the
        fees of periods not yet begun are dropped when the terms rebate unearned fees.
        """
        past = [i for i in draw.schedule if i.due_date <= day]
        upcoming = [i for i in draw.schedule if i.due_date > day]
        starts = [past[-1].due_date if past else draw.schedule.start,
                  *(i.due_date for i in upcoming)]
        remaining = principal
        kept: list[tuple[Instalment, date]] = []
        for instalment, start in zip(upcoming, starts, strict=False):
            take = min(remaining, instalment.principal)
            remaining -= take
            if instalment.principal - take or instalment.interest or instalment.fee:
                kept.append((replace(instalment, principal=instalment.principal - take), start))
        if self.terms.rebate_unearned_fees and not any(i.principal for i, _ in kept):
            kept = [(i, start) for i, start in kept if start <= day]
        future = [i for i, _ in kept]
        balance = sum((i.principal for i in future), ZERO)
        rebuilt: list[Instalment] = []
        for instalment in future:
            balance -= instalment.principal
            rebuilt.append(Instalment(instalment.number, instalment.due_date,
                                      instalment.principal, instalment.interest,
                                      instalment.fee, quantize(balance, self.currency)))
        draw.history.append((day, draw.outstanding_principal() - principal))
        schedule = replace(draw.schedule, instalments=(*past, *rebuilt),
                           prepaid_principal=draw.schedule.prepaid_principal + principal)
        self._replace_future(draw, schedule, day)
        self._book_principal(day, draw, principal, reference)

    def _replace_future(self, draw: _Draw, schedule: Schedule, day: date) -> None:
        """Rebuild the draw's instalments not yet due from ``schedule``; what the current
        period has accrued so far stays with it."""
        old = {item.number: item for item in draw.future_items()}
        draw.schedule = schedule
        new = _items_of(schedule, [i for i in schedule if i.due_date > day], draw.zero)
        for item in new:
            previous = old.get(item.number)
            if previous is not None:
                item.period_start = previous.period_start
                item.interest_accrued = previous.interest_accrued
                item.interest_suspended = previous.interest_suspended
        draw.items = [item for item in draw.items if item.recognized] + new

    def _book_principal(self, day: date, draw: _Draw, principal: Decimal,
                        reference: str) -> None:
        self.credit -= principal
        self._transfer(day, EntryKind.REPAYMENT_ALLOCATION, Account.CREDIT_BALANCE,
                       Account.LOANS_RECEIVABLE, principal, reference)
        self._retire_settled([draw])

    def draw_payoff(self, draw: _Draw, day: date) -> DrawPayoff:
        """What settles ``draw`` today: everything due, principal not yet due, interest
        accrued to date (today excluded), the fees of periods begun (and of later ones
        unless the terms rebate unearned fees)."""
        zero = draw.zero
        due = [i for i in draw.items if i.recognized]
        future = draw.future_items()
        rebate = self.terms.rebate_unearned_fees
        fee = sum((i.fee_unpaid for i in due), zero) + sum(
            (i.fee for i in future if i.period_start <= day or not rebate), zero)
        rebated = sum((i.fee for i in future if i.period_start > day and rebate), zero)
        return DrawPayoff(
            draw_id=draw.draw_id,
            principal=draw.outstanding_principal(),
            interest=sum((i.interest_unpaid for i in due), zero) + sum(
                (_accrued_before(i.interest, i.period_start, i.due_date, day, self.currency)
                 for i in future),
                zero),
            fee=fee,
            penalty=sum((i.penalty_unpaid for i in draw.items), zero),
            rebated_fee=rebated,
        )

    def _settle(self, day: date, draw: _Draw, reference: str) -> None:
        """Pay ``draw`` off: its instalments not yet due become one instalment due today
        (principal, interest accrued to date, fees earned), paid from the credit."""
        quote = self.draw_payoff(draw, day)
        future = draw.future_items()
        if future:
            principal = sum((i.principal_unpaid for i in future), draw.zero)
            interest = sum((_accrued_before(i.interest, i.period_start, i.due_date, day,
                                            self.currency) for i in future), draw.zero)
            fee = quote.fee - sum((i.fee_unpaid for i in draw.items if i.recognized),
                                  draw.zero)
            first = future[0]
            kept = [i for i in draw.items if i.recognized]
            draw.schedule = replace(draw.schedule, instalments=(
                *(i for i in draw.schedule if i.due_date <= day),
                *((Instalment(first.number, day, principal, interest, fee, draw.zero),)
                  if principal or interest or fee else ())))
            if principal or interest or fee:
                final = _Item(first.number, day, first.period_start, principal, interest, fee,
                              draw.zero)
                final.interest_accrued = sum((i.interest_accrued for i in future), draw.zero)
                final.interest_suspended = sum((i.interest_suspended for i in future),
                                               draw.zero)
                draw.items = [*kept, final]
                self._recognize(day, draw, final)
            else:
                draw.items = kept
        self._apply_credit(day, [draw], reference)
        self._retire_settled([draw])

    def _apply_credit(self, day: date, draws: Sequence[_Draw], reference: str) -> None:
        """Pay what is due on ``draws`` from the credit, in waterfall order."""
        if not self.credit or self.closed:
            return
        dues = [due for draw in draws for due in draw.dues()]
        if not dues:
            return
        allocation = allocate_payment(self.credit, dues, self.terms.allocation)
        credits: dict[Account, Decimal] = {}
        recognized: dict[Account, Decimal] = {}
        for paid in allocation.paid:
            draw = self.draws[paid.draw_id]
            item = draw.item(paid.instalment)
            if paid.component == "principal":
                item.principal_unpaid -= paid.amount
                draw.history.append((day, draw.outstanding_principal()))
            else:
                # Money pays the part booked to income first, then the suspended part,
                # which becomes income now that it is paid.
                unpaid = {"interest": item.interest_unpaid, "fee": item.fee_unpaid,
                          "penalty": item.penalty_unpaid}[paid.component]
                attribute = f"{paid.component}_suspended"
                suspended: Decimal = getattr(item, attribute)
                from_suspense = max(ZERO, paid.amount - (unpaid - suspended))
                if from_suspense:
                    setattr(item, attribute, suspended - from_suspense)
                    income = _INCOME[paid.component]
                    recognized[income] = recognized.get(income, ZERO) + from_suspense
                if paid.component == "interest":
                    item.interest_unpaid -= paid.amount
                elif paid.component == "fee":
                    item.fee_unpaid -= paid.amount
                else:
                    item.penalty_paid += paid.amount
            account = _RECEIVABLE[paid.component]
            credits[account] = credits.get(account, ZERO) + paid.amount
        applied = allocation.total()
        self.credit -= applied
        self._post(JournalEntry.compound(day, EntryKind.REPAYMENT_ALLOCATION,
                                         debits={Account.CREDIT_BALANCE: applied},
                                         credits=credits, reference=reference,
                                         currency=self.currency))
        if recognized:
            self._post(JournalEntry.compound(
                day, EntryKind.INCOME_RECOGNIZED,
                debits={Account.INCOME_SUSPENSE: sum(recognized.values(), ZERO)},
                credits=recognized, reference=reference, currency=self.currency))
        self._retire_settled({self.draws[paid.draw_id] for paid in allocation.paid})

    def _write_off_draw(self, day: date, draw: _Draw) -> Decimal:
        credits = {
            Account.LOANS_RECEIVABLE: sum((i.principal_unpaid for i in draw.items), ZERO),
            Account.INTEREST_RECEIVABLE: sum(
                (i.interest_unpaid if i.recognized else i.interest_accrued
                 for i in draw.items), ZERO),
            Account.FEE_RECEIVABLE: sum((i.fee_unpaid for i in draw.items), ZERO),
            Account.PENALTY_RECEIVABLE: sum((i.penalty_unpaid for i in draw.items), ZERO),
        }
        amount = sum(credits.values(), ZERO)
        # What was never income (suspense) is not an expense either.
        suspended = sum((i.interest_suspended + i.fee_suspended + i.penalty_suspended
                         for i in draw.items), ZERO)
        self._post(JournalEntry.compound(day, EntryKind.WRITE_OFF,
                                         debits={Account.WRITE_OFF_EXPENSE: amount - suspended,
                                                 Account.INCOME_SUSPENSE: suspended},
                                         credits=credits, reference=draw.draw_id,
                                         currency=self.currency))
        draw.written_off_days = draw.days_past_due(day)
        for item in draw.items:
            item.principal_unpaid = item.interest_unpaid = item.fee_unpaid = draw.zero
            item.penalty_paid = item.penalty_posted
            item.interest_suspended = item.fee_suspended = item.penalty_suspended = draw.zero
            if not item.recognized:
                item.interest_accrued = draw.zero
        draw.written_off = True
        self.active.pop(draw.draw_id, None)
        self.written_off_total += amount
        return amount

    def _write_off(self, day: date, days: int) -> None:
        total = sum((self._write_off_draw(day, draw) for draw in self._open_draws()), ZERO)
        self.events.append(LineWrittenOff(day, days, total))
        self.closed = True
        self.frozen = False  # superseded by closed
        self.non_accrual = False  # nothing is left to accrue

    # -- the snapshot
    def snapshot(self, as_of: date) -> LineState:
        self.accrue_through(as_of)
        journal = Journal(tuple(self.entries), self.currency)
        balances = journal.balances()
        outstanding = balances[Account.LOANS_RECEIVABLE]
        limit = self.limit
        used = outstanding if self.terms.revolving else sum(
            (d.event.amount for d in self.draws.values()), ZERO)
        zero = self.zero
        draws = tuple(self._draw_status(draw, as_of) for draw in self.draws.values())
        return LineState(
            terms=self.terms,
            as_of=as_of,
            limit=limit,
            outstanding_principal=outstanding,
            available_credit=max(zero, limit - used) if not self.closed else zero,
            over_limit=max(zero, outstanding - limit),
            interest_due=sum((d.interest_due for d in draws), zero),
            fee_due=balances[Account.FEE_RECEIVABLE],
            penalty_due=balances[Account.PENALTY_RECEIVABLE],
            principal_due=sum((d.principal_due for d in draws), zero),
            credit_balance=self.credit,
            days_past_due=self.days_past_due,
            bucket=self.bucket,
            frozen=self.frozen,
            closed=self.closed,
            draws=draws,
            journal=journal,
            delinquency_events=tuple(self.events),
            interest_accrued=sum((d.interest_accrued for d in draws), zero),
            non_accrual=self.non_accrual,
            recovered=self.recovered,
        )

    def _draw_status(self, draw: _Draw, as_of: date) -> DrawStatus:
        zero = self.zero
        items = tuple(InstalmentStatus(
            i.number, i.due_date, i.principal, i.interest, i.fee, i.principal_unpaid,
            i.interest_unpaid, i.fee_unpaid, i.penalty_unpaid, i.recognized,
            period_start=i.period_start,
            interest_accrued=i.interest_accrued) for i in draw.items)
        due = [i for i in items if i.is_due]
        status: Literal["open", "repaid", "written_off"] = (
            "written_off" if draw.written_off else "repaid" if draw.is_settled() else "open")
        return DrawStatus(
            draw_id=draw.draw_id, drawn_on=draw.event.on, amount=draw.event.amount,
            supplier_id=draw.event.supplier_id, schedule=draw.schedule, status=status,
            outstanding_principal=draw.outstanding_principal(),
            principal_due=sum((i.principal_unpaid for i in due), zero),
            interest_due=sum((i.interest_unpaid for i in due), zero),
            fee_due=sum((i.fee_unpaid for i in due), zero),
            penalty_due=sum((i.penalty_unpaid for i in due), zero),
            days_past_due=(draw.written_off_days if draw.written_off
                           else draw.days_past_due(as_of)),
            instalments=items,
            interest_accrued=sum((i.interest_accrued for i in items if not i.is_due), zero),
        )


def _run_fold(terms: LineTerms, events: Iterable[LineEvent], as_of: date, *,
              close_last_day: bool = True) -> _Fold:
    known = [event for event in events if event.on <= as_of]
    void = {event.payment_id for event in known if isinstance(event, PaymentReversed)}
    amounts = {event.payment_id: event.amount for event in known
               if isinstance(event, PaymentReceived | PrepaymentReceived | PayoffReceived)}
    by_day: dict[date, list[LineEvent]] = {}
    for event in known:
        by_day.setdefault(event.on, []).append(event)
    day = min([terms.opened_on, *by_day])
    fold = _Fold(terms, void, amounts, day)
    while day <= as_of:
        fold.start_of_day(day)
        for event in by_day.get(day, ()):
            fold.apply(event)
        if day == as_of and not close_last_day:
            return fold
        fold.end_of_day(day)
        if fold.needs_daily_steps():
            day += timedelta(days=1)
            continue
        # Nothing is past due: nothing but the daily interest changes until the next
        # event or due date, and that is booked in one go when the fold gets there.
        candidates = [d for d in by_day if d > day]
        next_due = fold.next_due_date(day)
        if next_due is not None:
            candidates.append(next_due)
        if not candidates:
            fold.next_visit = None
            break
        day = min(candidates)
    else:
        fold.next_visit = day
    fold.accrue_through(as_of if close_last_day else as_of - timedelta(days=1))
    return fold


def fold_line(terms: LineTerms, events: Iterable[LineEvent], as_of: date) -> LineState:
    """Derive a line's state at the end of ``as_of`` from its events.

    Parameters
    ----------
    terms
        The line's terms.
    events
        Its events in the order they were recorded (dates non-decreasing). Events dated
        after ``as_of`` are ignored.
    as_of
        Business date of the state (end of day).

    Returns
    -------
    LineState
        Balances, draws, delinquency and the journal.
    """
    return _run_fold(terms, events, as_of).snapshot(as_of)


# --------------------------------------------------------------------------- resuming the fold

#: The amounts of an instalment's fold state, in the order a checkpoint stores them.
_ITEM_AMOUNTS = ("principal", "interest", "fee", "principal_unpaid", "interest_unpaid",
                 "fee_unpaid", "interest_accrued", "penalty_exact", "penalty_posted",
                 "penalty_paid", "late_interest_exact", "late_interest_posted",
                 "interest_suspended", "fee_suspended", "penalty_suspended")
_item_amounts = attrgetter(*_ITEM_AMOUNTS)
#: Version of the checkpoint document; a checkpoint of another version is not resumed.
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class FoldCheckpoint:
    """A line's fold as of the end of ``as_of``, to be resumed instead of refolded.

    Only valid for the events it was folded from: :func:`resume_fold` advances it through
    days **without new events** (an event, above all a reversal, may re-derive history;
    fold the line again then). ``document`` is its state as JSON-ready values (amounts as
    exact decimal strings), the open draws with their instalments and the line's flags,
    never its journal: a resumed fold books only what happens after ``as_of``.

    ``next_visit`` is the next day the fold visits (a due date, or the next day while
    something is past due; ``None``: none): before it, advancing only accrues the daily
    interest, so the checkpoint may be resumed to any earlier day and still books those
    days' interest. ``quiet_through`` is the last day through which advancing it changes
    nothing but the date: no day to visit and no interest accruing; ``None`` when the
    next day books something.
    """

    as_of: date
    next_visit: date | None
    quiet_through: date | None
    document: dict[str, object]


@dataclass(frozen=True)
class FoldAdvance:
    """What advancing a line's fold to ``as_of`` derived: the journal entries dated after
    the previous checkpoint's date, the summary figures as of ``as_of`` and the new
    checkpoint (see :func:`resume_fold`)."""

    as_of: date
    entries: tuple[JournalEntry, ...]
    limit: Decimal
    outstanding_principal: Decimal
    available_credit: Decimal
    days_past_due: int
    bucket: Bucket
    status: Literal["open", "frozen", "written_off"]
    delinquency_events: tuple[DelinquencyEvent, ...]
    #: Builds :attr:`checkpoint` (encoding the fold costs as much as advancing it, and
    #: a day that only accrues interest does not keep a new one).
    checkpoint_of: Callable[[], FoldCheckpoint] = field(repr=False, compare=False)

    @cached_property
    def checkpoint(self) -> FoldCheckpoint:
        """The fold as of ``as_of``, to be resumed later (built on first use)."""
        return self.checkpoint_of()


def _schedule_document(schedule: Schedule) -> list[object]:
    return [schedule.method, str(schedule.principal), str(schedule.annual_rate),
            schedule.start.isoformat(), schedule.day_count, schedule.interest_basis,
            schedule.currency, None if schedule.regular_amount is None
            else str(schedule.regular_amount), str(schedule.prepaid_principal),
            [[i.number, i.due_date.isoformat(), str(i.principal), str(i.interest), str(i.fee),
              str(i.balance_after)] for i in schedule.instalments]]


def _schedule_of(document: list) -> Schedule:
    (method, principal, rate, start, day_count, basis, currency, regular, prepaid,
     instalments) = document
    return Schedule(method, Decimal(principal), Decimal(rate), date.fromisoformat(start),
                    day_count, basis, currency, tuple(
                        Instalment(number, date.fromisoformat(due), Decimal(p), Decimal(i),
                                   Decimal(f), Decimal(b))
                        for number, due, p, i, f, b in instalments),
                    None if regular is None else Decimal(regular), Decimal(prepaid))


def _fold_document(fold: _Fold, as_of: date, outstanding: Decimal, drawn: Decimal
                   ) -> dict[str, object]:
    draws = []
    for draw in fold.active.values():
        if draw._stored is not None:
            header = draw._stored
        else:
            event = draw.event
            header = [event.draw_id, event.on.isoformat(), str(event.amount),
                      event.supplier_id, _schedule_document(draw.schedule)]
        draws.append([
            *header, draw.interest_bearing,
            [[on.isoformat(), str(amount)] for on, amount in draw.history],
            [[item.number, item.due_date.isoformat(), item.period_start.isoformat(),
              item.recognized, *map(str, _item_amounts(item))] for item in draw.items]])
    return {
        "version": CHECKPOINT_VERSION, "as_of": as_of.isoformat(),
        "credit": str(fold.credit), "limit": str(fold.limit), "bucket": fold.bucket,
        "frozen": fold.frozen, "closed": fold.closed, "non_accrual": fold.non_accrual,
        "days_past_due": fold.days_past_due,
        "accrued_through": fold.accrued_through.isoformat(),
        "written_off_total": str(fold.written_off_total), "recovered": str(fold.recovered),
        "outstanding": str(outstanding),
        "drawn": str(drawn),
        "draws": draws}


def _restore_fold(terms: LineTerms, document: dict[str, object]) -> _Fold:
    if document.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint version {document.get('version')!r} is not "
                         f"{CHECKPOINT_VERSION}")
    doc: dict = document
    fold = _Fold(terms, set(), {}, date.fromisoformat(doc["accrued_through"])
                 + timedelta(days=1))
    fold.credit = Decimal(doc["credit"])
    fold.limit = Decimal(doc["limit"])
    fold.bucket = doc["bucket"]
    fold.frozen, fold.closed = doc["frozen"], doc["closed"]
    fold.non_accrual, fold.days_past_due = doc["non_accrual"], doc["days_past_due"]
    fold.written_off_total = Decimal(doc["written_off_total"])
    fold.recovered = Decimal(doc["recovered"])
    tolerance = terms.delinquency.arrears_tolerance
    for (*header, bearing, history, items) in doc["draws"]:
        draw_id, schedule_doc = header[0], header[4]
        draw = _Draw.__new__(_Draw)
        draw._draw_id, draw._stored = draw_id, header
        draw._event, draw._schedule = None, None
        draw.tolerance = tolerance
        draw.zero = quantize(ZERO, schedule_doc[6])  # the schedule's currency
        draw.written_off = False
        draw.written_off_days = 0
        draw.interest_bearing = bearing
        draw.history = [(date.fromisoformat(d), Decimal(a)) for d, a in history]
        draw.items = []
        for number, due, start, recognized, *amounts in items:
            item = _Item.__new__(_Item)
            item.number, item.recognized = number, recognized
            item.due_date, item.period_start = date.fromisoformat(due), date.fromisoformat(start)
            (item.principal, item.interest, item.fee, item.principal_unpaid,
             item.interest_unpaid, item.fee_unpaid, item.interest_accrued, item.penalty_exact,
             item.penalty_posted, item.penalty_paid, item.late_interest_exact,
             item.late_interest_posted, item.interest_suspended, item.fee_suspended,
             item.penalty_suspended) = map(Decimal, amounts)
            draw.items.append(item)
        fold.draws[draw_id] = fold.active[draw_id] = draw
    return fold


def _checkpoint(fold: _Fold, as_of: date, outstanding: Decimal, drawn: Decimal
                ) -> FoldCheckpoint:
    accruing = not fold.closed and any(
        draw.interest_bearing and any(not item.recognized for item in draw.items)
        for draw in fold.active.values())
    if accruing:
        quiet: date | None = None
    elif fold.next_visit is None:
        quiet = date.max
    else:
        quiet = fold.next_visit - timedelta(days=1)
    return FoldCheckpoint(as_of, fold.next_visit, None if quiet is None or quiet <= as_of
                          else quiet, _fold_document(fold, as_of, outstanding, drawn))


def _advance(fold: _Fold, as_of: date, outstanding: Decimal, drawn: Decimal,
             entries: Sequence[JournalEntry]) -> FoldAdvance:
    zero = fold.zero
    used = outstanding if fold.terms.revolving else drawn
    return FoldAdvance(
        as_of=as_of, entries=tuple(entries), limit=fold.limit,
        outstanding_principal=outstanding,
        available_credit=max(zero, fold.limit - used) if not fold.closed else zero,
        days_past_due=fold.days_past_due, bucket=fold.bucket,
        status="written_off" if fold.closed else "frozen" if fold.frozen else "open",
        delinquency_events=tuple(fold.events),
        checkpoint_of=lambda: _checkpoint(fold, as_of, outstanding, drawn))


def fold_with_checkpoint(terms: LineTerms, events: Iterable[LineEvent], as_of: date
                         ) -> tuple[LineState, FoldCheckpoint]:
    """:func:`fold_line`, and the checkpoint :func:`resume_fold` continues from.

    The checkpoint is only for advancing through days without new events: every event
    it was folded from must be dated on or before ``as_of``.
    """
    fold = _run_fold(terms, events, as_of)
    state = fold.snapshot(as_of)
    drawn = sum((draw.event.amount for draw in fold.draws.values()), fold.zero)
    return state, _checkpoint(fold, as_of, state.outstanding_principal, drawn)


def resume_fold(terms: LineTerms, checkpoint: FoldCheckpoint, as_of: date) -> FoldAdvance:
    """Advance a line's fold from ``checkpoint`` to the end of ``as_of``, no event between.

    Equal to folding the line's events from scratch to ``as_of``: the same figures, and
    as its journal entries exactly those of the full fold dated after
    ``checkpoint.as_of`` (property-tested, ``tests/lending/persistence/test_fold_checkpoint.py``).
    ``terms`` are the line's terms (their limit is not used: the checkpoint holds the
    limit in force).

    Raises
    ------
    ValueError
        If ``as_of`` is before the checkpoint, or the checkpoint is of another version.
    """
    if as_of < checkpoint.as_of:
        raise ValueError(f"cannot resume a fold of {checkpoint.as_of} to an earlier "
                         f"{as_of}")
    doc: dict = checkpoint.document
    fold = _restore_fold(terms, doc)
    day = checkpoint.next_visit
    while day is not None and day <= as_of:
        fold.start_of_day(day)
        fold.end_of_day(day)
        if fold.needs_daily_steps():
            day += timedelta(days=1)
        else:
            day = fold.next_due_date(day)
    fold.next_visit = day
    fold.accrue_through(as_of)
    outstanding = Decimal(doc["outstanding"])
    for entry in fold.entries:
        for posting in entry.postings:
            if posting.account is Account.LOANS_RECEIVABLE:
                outstanding += posting.amount if posting.side == "debit" else -posting.amount
    return _advance(fold, as_of, outstanding, Decimal(doc["drawn"]), fold.entries)


def payoff_quote(line: CreditLine, on: date, draw_id: str | None = None) -> PayoffQuote:
    """What settles the line (or one draw) if paid on ``on``, with its breakdown.

    The quote is taken during the day, after the events already recorded on ``on`` and
    before the day's end: interest is accrued to ``on`` (that day excluded, as a balance
    repaid on a day earns nothing for it), penalty to the day before. Paying it with
    :meth:`CreditLine.pay_off` on ``on`` settles the draws it covers: nothing falls due
    on them afterwards.

    Parameters
    ----------
    line
        The line.
    on
        Business date of the payment.
    draw_id
        One draw to quote; every open draw when ``None``.

    Raises
    ------
    UnknownDraw
        If ``draw_id`` names no draw of the line.
    """
    fold = _run_fold(line.terms, line.events, on, close_last_day=False)
    if draw_id is not None and draw_id not in fold.draws:
        raise UnknownDraw(f"no draw {draw_id!r} on line {line.terms.line_id!r}")
    draws = [d for d in fold.active.values() if draw_id is None or d.draw_id == draw_id]
    if fold.closed:
        draws = []
    parts = tuple(fold.draw_payoff(draw, on) for draw in draws)
    zero = fold.zero
    total = sum((p.total for p in parts), zero)
    return PayoffQuote(
        line_id=line.terms.line_id, on=on, draw_id=draw_id, draws=parts,
        principal=sum((p.principal for p in parts), zero),
        interest=sum((p.interest for p in parts), zero),
        fee=sum((p.fee for p in parts), zero),
        penalty=sum((p.penalty for p in parts), zero),
        rebated_fee=sum((p.rebated_fee for p in parts), zero),
        total=total,
        credit_balance=fold.credit,
        amount_to_pay=max(zero, total - fold.credit),
    )


# --------------------------------------------------------------------------- the entity


class CreditLine:
    """A credit line (or a term loan) and the events that happened to it.

    Parameters
    ----------
    terms
        The line's limit, currency, revolving flag and policies.
    events
        Events already recorded (e.g. loaded from storage), in recording order.

    Examples
    --------
    >>> line = CreditLine(LineTerms("L1", Decimal("10000.00"), date(2025, 1, 1)))
    >>> _ = line.draw("D1", "3000.00", date(2025, 1, 5), RepaymentPlan.bullet(30),
    ...               supplier_id="S9")
    >>> line.state(date(2025, 1, 5)).available_credit
    Decimal('7000.00')
    """

    def __init__(self, terms: LineTerms, events: Iterable[LineEvent] = ()) -> None:
        self.terms = terms
        self._events: list[LineEvent] = list(events)
        self._cache: tuple[int, date, LineState] | None = None

    @property
    def events(self) -> tuple[LineEvent, ...]:
        """Every event recorded on the line, in order."""
        return tuple(self._events)

    def state(self, as_of: date) -> LineState:
        """The line as of the end of ``as_of`` (see :func:`fold_line`)."""
        if self._cache and self._cache[0] == len(self._events) and self._cache[1] == as_of:
            return self._cache[2]
        state = fold_line(self.terms, self._events, as_of)
        self._cache = (len(self._events), as_of, state)
        return state

    # -- checks shared by the commands
    def _check_operation(self, ident: str, on: date, currency: str | None) -> None:
        if not isinstance(ident, str) or not ident.strip():
            raise InvalidIdentifier(f"an operation id must be a non-empty string; got "
                                    f"{ident!r}")
        if currency is not None and currency != self.terms.currency:
            raise CurrencyMismatch(f"line {self.terms.line_id!r} is in {self.terms.currency}; "
                                   f"got {currency}")
        if on < self.terms.opened_on:
            raise BackdatedOperation(f"{on} is before the line opened on "
                                     f"{self.terms.opened_on}")
        if self._events and on < self._events[-1].on:
            raise BackdatedOperation(f"{on} is before the last recorded operation on "
                                     f"{self._events[-1].on}")
        if ident in {operation_id(e) for e in self._events
                     if not isinstance(e, PaymentReversed)}:
            raise DuplicateOperation(f"id {ident!r} is already used on line "
                                     f"{self.terms.line_id!r}")

    def _record(self, event: LineEvent) -> None:
        self._events.append(event)

    # -- commands
    def draw(self, draw_id: str, amount: AmountInput, on: date, plan: RepaymentPlan, *,
             supplier_id: str, currency: str | None = None) -> DrawMade:
        """Draw ``amount`` to pay supplier ``supplier_id``, repaid on ``plan``.

        Raises
        ------
        InvalidAmount
            If the amount is not a positive exact amount.
        LineClosed
            If the line was written off.
        LineFrozen
            If the line is past due beyond the freeze threshold.
        CreditLimitExceeded
            If the amount is above the available credit.
        InvalidScheduleTerms
            If the plan is not allowed.
        """
        self._check_operation(draw_id, on, currency)
        if not isinstance(supplier_id, str) or not supplier_id.strip():
            raise InvalidIdentifier(f"supplier_id must be a non-empty string; got "
                                    f"{supplier_id!r}")
        value = parse_amount(amount, self.terms.currency, what="draw amount")
        state = self.state(on)
        if state.closed:
            raise LineClosed(f"line {self.terms.line_id!r} is closed")
        if state.frozen:
            raise LineFrozen(f"line {self.terms.line_id!r} is {state.days_past_due} days past "
                             f"due (more than {self.terms.delinquency.freeze_after_days}); "
                             f"no new draws until it is cured")
        if value > state.available_credit:
            raise CreditLimitExceeded(f"draw of {value} exceeds the available credit "
                                      f"{state.available_credit} of line "
                                      f"{self.terms.line_id!r}")
        event = DrawMade(draw_id, on, value, supplier_id,
                         plan.schedule_for(value, on, self.terms.currency))
        self._record(event)
        return event

    def repay(self, payment_id: str, amount: AmountInput, on: date, *,
              currency: str | None = None) -> PaymentReceived:
        """Record a payment: what is due is paid in waterfall order, the rest kept as credit.

        Raises
        ------
        InvalidAmount
            If the amount is not a positive exact amount.
        """
        self._check_operation(payment_id, on, currency)
        event = PaymentReceived(payment_id, on,
                                parse_amount(amount, self.terms.currency, what="payment"))
        self._record(event)
        return event

    def prepay(self, payment_id: str, amount: AmountInput, on: date, draw_id: str,
               option: PrepaymentOption = "shorten_term", *,
               currency: str | None = None) -> PrepaymentReceived:
        """Record a prepayment of draw ``draw_id``: its dues first, then principal not yet due.

        Raises
        ------
        UnknownDraw
            If the draw does not exist.
        NothingToPrepay
            If the draw has no principal left that is not yet due.
        InvalidAmount
            If the amount is not a positive exact amount or the option is unknown.
        """
        self._check_operation(payment_id, on, currency)
        value = parse_amount(amount, self.terms.currency, what="prepayment")
        if option not in ("shorten_term", "lower_instalment"):
            raise InvalidAmount(f"prepayment option must be 'shorten_term' or "
                                f"'lower_instalment'; got {option!r}")
        state = self.state(on)
        draw = state.draw(draw_id)
        not_yet_due = sum((i.principal_unpaid for i in draw.instalments if not i.is_due),
                          quantize(ZERO, self.terms.currency))
        if draw.status != "open" or not_yet_due == 0:
            raise NothingToPrepay(f"draw {draw_id!r} has no principal left that is not yet due")
        event = PrepaymentReceived(payment_id, on, value, draw_id, option)
        self._record(event)
        return event

    def reverse_payment(self, payment_id: str, on: date, reason: str = "bounced"
                        ) -> PaymentReversed:
        """Reverse a bounced payment; every balance is re-derived as if it never came.

        Raises
        ------
        UnknownPayment
            If no such payment exists.
        PaymentAlreadyReversed
            If it was reversed before.
        PaymentAlreadyRefunded
            If the credit balance the payment left was refunded since: the lender paid out
            money it never received, which a reversal cannot express (the refund is not
            undone here).
        """
        if self._events and on < self._events[-1].on:
            raise BackdatedOperation(f"{on} is before the last recorded operation on "
                                     f"{self._events[-1].on}")
        payments = {e.payment_id for e in self._events
                    if isinstance(e, PaymentReceived | PrepaymentReceived | PayoffReceived)}
        if payment_id not in payments:
            raise UnknownPayment(f"no payment {payment_id!r} on line {self.terms.line_id!r}")
        if any(isinstance(e, PaymentReversed) and e.payment_id == payment_id
               for e in self._events):
            raise PaymentAlreadyReversed(f"payment {payment_id!r} was already reversed")
        event = PaymentReversed(payment_id, on, reason)
        if any(isinstance(e, BalanceRefunded) for e in self._events):
            balance = CreditLine(self.terms, [*self._events, event]).state(on).credit_balance
            if balance < 0:
                raise PaymentAlreadyRefunded(
                    f"payment {payment_id!r} cannot be reversed: {-balance} of the credit "
                    f"balance it left was already refunded to the borrower",
                    {"refunded": str(-balance)})
        self._record(event)
        return event

    def payoff_quote(self, on: date, draw_id: str | None = None) -> PayoffQuote:
        """What settles the line, or draw ``draw_id``, if paid on ``on`` (see
        :func:`payoff_quote`)."""
        return payoff_quote(self, on, draw_id)

    def pay_off(self, payment_id: str, amount: AmountInput, on: date,
                draw_id: str | None = None, *, currency: str | None = None) -> PayoffReceived:
        """Record a payment that pays off draw ``draw_id`` (every open draw when ``None``).

        The draws covered are settled at once (interest to date, the fees earned, less
        unearned fees when the terms rebate them); nothing falls due on them afterwards.
        Anything paid above the quote is applied like any payment.

        Raises
        ------
        InvalidAmount
            If the amount is not a positive exact amount.
        UnknownDraw
            If ``draw_id`` names no draw of the line.
        NothingToPayOff
            If the line (or the draw) owes nothing, or the line was written off.
        InsufficientPayoff
            If ``amount`` (with the credit balance) is below the payoff quote on ``on``.
        """
        self._check_operation(payment_id, on, currency)
        value = parse_amount(amount, self.terms.currency, what="payoff")
        quote = payoff_quote(self, on, draw_id)
        if not quote.total:
            raise NothingToPayOff(f"{'draw ' + repr(draw_id) if draw_id else 'line'} of "
                                  f"{self.terms.line_id!r} owes nothing to pay off")
        if value < quote.amount_to_pay:
            raise InsufficientPayoff(f"paying off takes {quote.amount_to_pay} on {on}; "
                                     f"got {value}")
        event = PayoffReceived(payment_id, on, value, draw_id)
        self._record(event)
        return event

    def refund_balance(self, refund_id: str, amount: AmountInput, on: date, *,
                       currency: str | None = None) -> BalanceRefunded:
        """Pay ``amount`` of the borrower's credit balance back to them.

        Raises
        ------
        InvalidAmount
            If the amount is not a positive exact amount.
        RefundExceedsCreditBalance
            If ``amount`` is above the credit balance on ``on``.
        """
        self._check_operation(refund_id, on, currency)
        value = parse_amount(amount, self.terms.currency, what="refund")
        balance = self.state(on).credit_balance
        if value > balance:
            raise RefundExceedsCreditBalance(f"refund of {value} exceeds the credit balance "
                                             f"{balance} of line {self.terms.line_id!r}")
        event = BalanceRefunded(refund_id, on, value)
        self._record(event)
        return event

    def change_limit(self, change_id: str, new_limit: AmountInput, on: date, *,
                     reason: str = "", actor: str = "",
                     currency: str | None = None) -> LimitChanged:
        """Set the line's limit to ``new_limit`` from ``on`` on; available credit follows.

        The new limit may be below the outstanding principal: nothing is called in, the
        line has no available credit (draws are refused) until repayments bring what is
        owed below the limit. Zero stops new draws without closing the line.

        Parameters
        ----------
        change_id
            Identifier of the change, unique among the line's operation ids.
        new_limit
            The limit from ``on``: an exact, non-negative amount in the line's currency.
        on
            Business date from which the new limit holds (not before the last operation).
        reason, actor
            Why, and who decided (kept in the event for the audit trail).
        currency
            The currency ``new_limit`` is in, when the caller states it.

        Raises
        ------
        InvalidAmount
            If the limit is not an exact non-negative amount below 10^15.
        InvalidIdentifier, DuplicateOperation
            If the change id is empty or already used on the line.
        CurrencyMismatch
            If ``currency`` is not the line's.
        BackdatedOperation
            If ``on`` is before the last recorded operation or the opening date.
        LineClosed
            If the line was written off.
        """
        self._check_operation(change_id, on, currency)
        value = parse_amount(new_limit, self.terms.currency, allow_zero=True, what="limit")
        state = self.state(on)
        if state.closed:
            raise LineClosed(f"credit line {self.terms.line_id!r} is closed; its limit cannot "
                             f"change")
        event = LimitChanged(change_id, on, state.limit, value, reason, actor)
        self._record(event)
        return event


def operation_id(event: LineEvent) -> str:
    """The draw, payment, refund or limit-change id an event is about (a reversal: the
    payment's)."""
    if isinstance(event, DrawMade):
        return event.draw_id
    if isinstance(event, LimitChanged):
        return event.change_id
    if isinstance(event, BalanceRefunded):
        return event.refund_id
    return event.payment_id


def open_term_loan(loan_id: str, principal: AmountInput, on: date, plan: RepaymentPlan, *,
                   supplier_id: str, currency: str = "CNY",
                   delinquency: DelinquencyPolicy | None = None,
                   allocation: AllocationPolicy | None = None) -> CreditLine:
    """Open a term micro-loan: a non-revolving line whose limit is the principal, drawn
    in full on ``on`` and repaid on ``plan``.

    Examples
    --------
    >>> loan = open_term_loan("T1", "20000.00", date(2025, 1, 31),
    ...                       RepaymentPlan.term_loan("annuity", 12, "0.10"),
    ...                       supplier_id="S3")
    >>> loan.state(date(2025, 2, 28)).interest_due
    Decimal('166.67')
    """
    terms = LineTerms(loan_id, parse_amount(principal, currency, what="principal"), on,
                      currency=currency, revolving=False,
                      delinquency=delinquency or DelinquencyPolicy(),
                      allocation=allocation or AllocationPolicy())
    loan = CreditLine(terms)
    loan.draw(loan_id, terms.limit, on, plan, supplier_id=supplier_id)
    return loan
