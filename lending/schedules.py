"""Repayment schedules: interest-free purchase plans and term micro-loans.

Methods (``method`` argument of :func:`build_schedule`)
-------------------------------------------------------
``interest_free_bullet``
    One payment of the whole principal at the end of an interest-free period of 30, 60 or
    90 days (``interest_free_days``); ``months`` must be 1 (one instalment).
``interest_free_instalments``
    ``months`` equal monthly instalments at 0 %, with an optional flat service ``fee``
    (a total, spread over the instalments like the principal).
``annuity``
    Equal monthly instalments (principal + interest). The instalment is
    ``P * r / (1 - (1 + r) ** -n)`` with ``r = annual_rate / 12``, rounded half up to the
    minor unit; this is ``numpy_financial.pmt(r, n, -P)``. Each period's interest is the
    opening balance times ``r`` (``interest_basis="monthly"``, the default), rounded half
    up; the principal part is the instalment minus that interest.
``equal_principal``
    The same principal every month plus interest on the opening balance.
``interest_only``
    Interest every month, the whole principal with the last instalment.
``daily_interest``
    Borrow and repay any time: an interest-only schedule to maturity whose interest is
    accrued daily on the outstanding balance (``interest_basis`` is always ``"daily"``);
    repay any time with a prepayment.

Conventions
-----------
* Due dates: monthly, anchored on the start day with end-of-month clamping
  (:func:`lending.calendar.add_months`). The bullet falls due ``interest_free_days``
  calendar days after the start.
* ``interest_basis="monthly"``: a period's interest is ``balance * annual_rate / 12``,
  whatever the period's length. ``interest_basis="daily"``: ``balance * annual_rate *
  actual_days / basis`` with the ``day_count`` basis (ACT/365 by default, or ACT/360);
  the annuity instalment is still the ``rate / 12`` one, so the last instalment absorbs
  the difference.
* Rounding: computed amounts half up to 0.01; split shares (equal principal, fee shares)
  rounded down with the last share taking the remainder. The last instalment's principal
  is always the remaining balance, so the instalments' principal sums to the loan exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Literal, get_args, overload

from lending.calendar import add_months, day_count_basis
from lending.errors import InvalidScheduleTerms
from lending.interest import BalanceChange, exact_accrued_interest
from lending.money import (
    ZERO,
    AmountInput,
    parse_amount,
    quantize,
    split_evenly,
    to_decimal,
)

__all__ = [
    "ScheduleMethod",
    "SCHEDULE_METHODS",
    "InterestBasis",
    "PrepaymentOption",
    "INTEREST_FREE_PERIODS",
    "MAX_ANNUAL_RATE",
    "MAX_MONTHS",
    "Instalment",
    "Schedule",
    "annuity_payment",
    "build_schedule",
    "reschedule_after_prepayment",
]

ScheduleMethod = Literal["interest_free_bullet", "interest_free_instalments", "annuity",
                         "equal_principal", "interest_only", "daily_interest"]
SCHEDULE_METHODS: tuple[str, ...] = get_args(ScheduleMethod)
InterestBasis = Literal["monthly", "daily"]
#: ``shorten_term`` keeps the instalment and drops the last ones; ``lower_instalment``
#: keeps the number of instalments and lowers each.
PrepaymentOption = Literal["shorten_term", "lower_instalment"]
#: Interest-free periods a bullet plan may use, in days.
INTEREST_FREE_PERIODS: tuple[int, ...] = (30, 60, 90)
#: Highest nominal annual rate a schedule accepts (a guard against 12 meaning 12 %).
MAX_ANNUAL_RATE = Decimal("1")
MAX_MONTHS = 360

_INTEREST_FREE = ("interest_free_bullet", "interest_free_instalments")


@dataclass(frozen=True)
class Instalment:
    """One due date of a schedule and what falls due on it.

    Attributes
    ----------
    number
        1-based position in the schedule.
    due_date
        The business date the amounts fall due.
    principal, interest, fee
        Amounts falling due, each quantized to the minor unit.
    balance_after
        Principal still outstanding once this instalment's principal is paid.
    total
        ``principal + interest + fee``.
    """

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    balance_after: Decimal
    total: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.principal + self.interest + self.fee)


@dataclass(frozen=True)
class Schedule:
    """A repayment schedule: the terms it was built from and its instalments.

    Iterating over a schedule yields its :class:`Instalment` objects. After a prepayment
    (:func:`reschedule_after_prepayment`) ``prepaid_principal`` holds the principal repaid
    outside the instalments, so ``total_principal + prepaid_principal == principal``.
    """

    method: str
    principal: Decimal
    annual_rate: Decimal
    start: date
    day_count: str
    interest_basis: str
    currency: str
    instalments: tuple[Instalment, ...]
    #: The regular instalment (annuity) or principal share (equal principal, 0 %
    #: instalments) that ``shorten_term`` keeps; ``None`` for the other methods.
    regular_amount: Decimal | None = None
    prepaid_principal: Decimal = ZERO

    def __iter__(self) -> Iterator[Instalment]:
        return iter(self.instalments)

    def __len__(self) -> int:
        return len(self.instalments)

    @overload
    def __getitem__(self, index: int) -> Instalment: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Instalment, ...]: ...

    def __getitem__(self, index: int | slice) -> Instalment | tuple[Instalment, ...]:
        return self.instalments[index]

    @property
    def maturity(self) -> date:
        """Due date of the last instalment (the start date when none is left)."""
        return self.instalments[-1].due_date if self.instalments else self.start

    @property
    def total_principal(self) -> Decimal:
        """Sum of the instalments' principal."""
        return sum((i.principal for i in self.instalments), ZERO)

    @property
    def total_interest(self) -> Decimal:
        """Sum of the instalments' interest."""
        return sum((i.interest for i in self.instalments), ZERO)

    @property
    def total_fee(self) -> Decimal:
        """Sum of the instalments' fees."""
        return sum((i.fee for i in self.instalments), ZERO)

    @property
    def total(self) -> Decimal:
        """Everything the schedule asks to be paid."""
        return sum((i.total for i in self.instalments), ZERO)


def annuity_payment(principal: Decimal, annual_rate: Decimal, months: int,
                    currency: str = "CNY") -> Decimal:
    """The equal monthly instalment of an annuity, rounded half up to the minor unit.

    ``P * r / (1 - (1 + r) ** -n)`` with ``r = annual_rate / 12``; ``P / n`` when the rate
    is zero. Equals ``numpy_financial.pmt(annual_rate / 12, months, -principal)`` rounded
    to the cent.
    """
    monthly_rate = annual_rate / 12
    if monthly_rate == 0:
        return quantize(principal / months, currency)
    with localcontext() as context:
        context.prec = 50
        growth = (1 + monthly_rate) ** months
        payment = principal * monthly_rate * growth / (growth - 1)
    return quantize(payment, currency)


def _check_rate(annual_rate: object) -> Decimal:
    try:
        rate = to_decimal(annual_rate, what="annual_rate")
    except Exception as error:
        raise InvalidScheduleTerms(str(error)) from None
    if rate < 0 or rate > MAX_ANNUAL_RATE:
        raise InvalidScheduleTerms(f"annual_rate must be between 0 and {MAX_ANNUAL_RATE} "
                                   f"(a fraction: 0.12 for 12 %); got {rate}")
    return rate


def build_schedule(principal: AmountInput, annual_rate: AmountInput, months: int,
                   method: ScheduleMethod, start: date, *, day_count: str = "ACT/365",
                   fee: AmountInput = ZERO, interest_free_days: int | None = None,
                   interest_basis: InterestBasis | None = None,
                   currency: str = "CNY") -> Schedule:
    """Build the repayment schedule of a draw or a term loan.

    Parameters
    ----------
    principal
        Amount lent; positive and exact to the minor unit (``Decimal``, ``int`` or ``str``).
    annual_rate
        Nominal annual interest rate as a fraction (``Decimal("0.12")``); must be 0 for the
        interest-free methods.
    months
        Number of monthly instalments (the maturity in months for ``interest_only`` and
        ``daily_interest``); 1 for ``interest_free_bullet``.
    method
        One of :data:`SCHEDULE_METHODS` (see the module docstring).
    start
        Disbursement date; monthly due dates are anchored on its day of month.
    day_count
        ``"ACT/365"`` (default) or ``"ACT/360"``; used by the daily interest basis.
    fee
        Flat service fee (a total), spread over the instalments, last one taking the rest.
    interest_free_days
        Interest-free period of a bullet plan: 30, 60 or 90.
    interest_basis
        ``"monthly"`` (``rate / 12`` per period, default) or ``"daily"`` (actual days on
        the day-count basis); always ``"daily"`` for ``daily_interest``.
    currency
        Currency of the amounts (minor unit and rounding).

    Returns
    -------
    Schedule
        The instalments with due date, principal, interest, fee and total.

    Raises
    ------
    InvalidAmount
        If ``principal`` or ``fee`` is not a valid amount.
    InvalidScheduleTerms
        If the method, term, rate, period or day count is not allowed.

    Examples
    --------
    >>> schedule = build_schedule("1000.00", "0", 3, "interest_free_instalments",
    ...                           date(2025, 1, 31))
    >>> [(i.due_date.isoformat(), str(i.principal)) for i in schedule]
    [('2025-02-28', '333.33'), ('2025-03-31', '333.33'), ('2025-04-30', '333.34')]
    """
    amount = parse_amount(principal, currency, what="principal")
    fee_total = parse_amount(fee, currency, allow_zero=True, what="fee")
    rate = _check_rate(annual_rate)
    day_count_basis(day_count)
    if method not in SCHEDULE_METHODS:
        raise InvalidScheduleTerms(f"unknown method {method!r}; expected one of "
                                   f"{SCHEDULE_METHODS}")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise InvalidScheduleTerms(f"months must be an int from 1 to {MAX_MONTHS}; "
                                   f"got {months!r}")
    if method in _INTEREST_FREE and rate != 0:
        raise InvalidScheduleTerms(f"{method} is interest-free; annual_rate must be 0, "
                                   f"got {rate}")
    if method == "daily_interest":
        if interest_basis not in (None, "daily"):
            raise InvalidScheduleTerms("daily_interest always accrues on a daily basis")
        basis: str = "daily"
    else:
        basis = interest_basis or "monthly"
        if basis not in ("monthly", "daily"):
            raise InvalidScheduleTerms(f"interest_basis must be 'monthly' or 'daily'; "
                                       f"got {basis!r}")
    if method == "interest_free_bullet":
        if months != 1:
            raise InvalidScheduleTerms(f"a bullet has one instalment; months must be 1, "
                                       f"got {months}")
        if interest_free_days not in INTEREST_FREE_PERIODS:
            raise InvalidScheduleTerms(f"interest_free_days must be one of "
                                       f"{INTEREST_FREE_PERIODS}; got {interest_free_days!r}")
        try:
            due = start + timedelta(days=interest_free_days)
        except OverflowError:
            raise InvalidScheduleTerms(f"a schedule starting {start} ends past the "
                                       f"calendar") from None
        nothing = quantize(ZERO, currency)
        bullet = Instalment(1, due, amount, nothing, fee_total, nothing)
        return Schedule(method, amount, rate, start, day_count, basis, currency, (bullet,))
    if interest_free_days is not None:
        raise InvalidScheduleTerms("interest_free_days applies to interest_free_bullet only")

    try:
        due_dates = [add_months(start, k) for k in range(1, months + 1)]
    except ValueError:
        raise InvalidScheduleTerms(f"a schedule starting {start} ends past the "
                                   f"calendar") from None
    periods = list(zip([start, *due_dates[:-1]], due_dates, strict=True))
    regular: Decimal | None
    if method == "annuity":
        regular = annuity_payment(amount, rate, months, currency)
    elif method in ("equal_principal", "interest_free_instalments"):
        regular = split_evenly(amount, months, currency)[0]
    else:
        regular = None
    schedule = Schedule(method, amount, rate, start, day_count, basis, currency, (),
                        regular_amount=regular)
    instalments = _amortize(schedule, amount, periods, split_evenly(fee_total, months, currency),
                            first_number=1, first_interest=None, stop_when_repaid=False)
    return replace(schedule, instalments=instalments)


def _period_interest(schedule: Schedule, balance: Decimal, period_start: date,
                     due: date) -> Decimal:
    if schedule.annual_rate == 0:
        return ZERO
    if schedule.interest_basis == "monthly":
        return quantize(balance * schedule.annual_rate / 12, schedule.currency)
    days = (due - period_start).days
    return quantize(balance * schedule.annual_rate * days / day_count_basis(schedule.day_count),
                    schedule.currency)


def _principal_rule(schedule: Schedule) -> Callable[[Decimal, Decimal], Decimal]:
    """Principal of a regular (not last) instalment from the balance and the interest."""
    regular = schedule.regular_amount
    if schedule.method == "annuity":
        assert regular is not None
        return lambda balance, interest: min(max(regular - interest, ZERO), balance)
    if schedule.method in ("equal_principal", "interest_free_instalments"):
        assert regular is not None
        return lambda balance, interest: min(regular, balance)
    return lambda balance, interest: ZERO


def _amortize(schedule: Schedule, balance: Decimal, periods: Sequence[tuple[date, date]],
              fees: Sequence[Decimal], *, first_number: int, first_interest: Decimal | None,
              stop_when_repaid: bool) -> tuple[Instalment, ...]:
    """Instalments over ``periods``; the last one (or, when ``stop_when_repaid``, the first
    that would exhaust the balance) takes all the remaining principal."""
    principal_for = _principal_rule(schedule)
    instalments: list[Instalment] = []
    for index, (period_start, due) in enumerate(periods):
        if index == 0 and first_interest is not None:
            interest = first_interest
        else:
            interest = _period_interest(schedule, balance, period_start, due)
        is_last = index == len(periods) - 1
        principal = principal_for(balance, interest)
        if is_last or (stop_when_repaid and principal >= balance):
            principal = balance
            is_last = True
        balance -= principal
        currency = schedule.currency
        instalments.append(Instalment(
            first_number + index, due, quantize(principal, currency), quantize(interest, currency),
            quantize(fees[index] if index < len(fees) else ZERO, currency),
            quantize(balance, currency)))
        if is_last:
            break
    return tuple(instalments)


def reschedule_after_prepayment(schedule: Schedule, *, on: date, prepaid_principal: Decimal,
                                option: PrepaymentOption,
                                balance_history: Sequence[BalanceChange] = ()) -> Schedule:
    """Re-derive the instalments not yet due after a prepayment of principal.

    Parameters
    ----------
    schedule
        The current schedule of the draw.
    on
        Prepayment date. Instalments due on or before it are kept as they were.
    prepaid_principal
        Principal repaid now, out of the instalments not yet due.
    option
        ``"shorten_term"``: keep the regular instalment (annuity) or principal share and
        drop the last instalments; ``"lower_instalment"``: keep the number of instalments
        and lower each. Bullet, interest-only and daily-interest schedules keep their dates
        either way (only the balance falls).
    balance_history
        Outstanding-principal history of the draw, including this prepayment; used for
        the current period's interest on the daily basis.

    Returns
    -------
    Schedule
        The schedule with its future instalments re-derived and ``prepaid_principal``
        increased.

    Notes
    -----
    Interest of the current period (the first instalment not yet due): on the monthly
    basis it stays as scheduled, the prepayment lowering interest from the next period
    on; on the daily basis it is re-accrued on ``balance_history``. The unpaid service fee
    of the future instalments is kept in total and spread over the new instalments.
    """
    if option not in ("shorten_term", "lower_instalment"):
        raise InvalidScheduleTerms(f"unknown prepayment option {option!r}")
    past = [i for i in schedule.instalments if i.due_date <= on]
    future = [i for i in schedule.instalments if i.due_date > on]
    if not future:
        raise InvalidScheduleTerms("nothing is left to prepay on this schedule")
    balance = sum((i.principal for i in future), ZERO) - prepaid_principal
    if prepaid_principal <= 0 or balance < 0:
        raise InvalidScheduleTerms(f"prepaid principal must be positive and at most "
                                   f"{balance + prepaid_principal}; got {prepaid_principal}")
    currency = schedule.currency
    period_starts = [past[-1].due_date if past else schedule.start,
                     *(i.due_date for i in future[:-1])]
    periods = list(zip(period_starts, (i.due_date for i in future), strict=True))
    if schedule.interest_basis == "daily" and schedule.annual_rate > 0 and balance_history:
        first_interest = quantize(exact_accrued_interest(
            balance_history, schedule.annual_rate, periods[0][0], periods[0][1],
            schedule.day_count), currency)
    else:
        first_interest = future[0].interest
    remaining_fee = sum((i.fee for i in future), ZERO)
    regular = schedule.regular_amount
    stop_when_repaid = False
    if balance == 0:
        periods = periods[:1]
        if first_interest == 0 and remaining_fee == 0:
            periods = []
    elif option == "lower_instalment" and schedule.method == "annuity":
        regular = annuity_payment(balance, schedule.annual_rate, len(periods), currency)
    elif option == "lower_instalment" and regular is not None:
        regular = split_evenly(balance, len(periods), currency)[0]
    elif option == "shorten_term" and regular is not None:
        stop_when_repaid = True
    rebuilt = replace(schedule, regular_amount=regular)
    if stop_when_repaid:
        # The fee spread needs the new count: amortize once to learn it.
        count = len(_amortize(rebuilt, balance, periods, (), first_number=1,
                              first_interest=first_interest, stop_when_repaid=True))
    else:
        count = len(periods)
    fees = split_evenly(remaining_fee, count, currency) if count else ()
    new_future = _amortize(rebuilt, balance, periods[:count], fees,
                           first_number=len(past) + 1, first_interest=first_interest,
                           stop_when_repaid=stop_when_repaid)
    return replace(rebuilt, instalments=(*past, *new_future),
                   prepaid_principal=schedule.prepaid_principal + prepaid_principal)
