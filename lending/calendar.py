"""Business-date rules: monthly due dates and day-count conventions.

Monthly due dates are anchored on the start date's day of month. The k-th due date is
``start`` plus k calendar months, clamped to the last day of the month when that month is
shorter: a loan started on 31 January falls due on 28 February (29 in a leap year), then
31 March, 30 April, 31 May. The anchor is always the *start* day, never the previous due
date, so one short month does not pull every later due date earlier.

Dates from clients (the business date is the lender's, see
:mod:`lending.persistence.business_day`): :func:`check_draw_date` (a draw happens on the
business date) and :func:`check_value_date` (a repayment's value date lies from
``window_days`` before the business date to it).

Day counts turn a number of days into a fraction of a year: ``ACT/365`` (the default,
"Actual/365 Fixed": actual days / 365, also in leap years) and ``ACT/360``.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal, get_args

from lending.errors import InvalidScheduleTerms, NotTheBusinessDate, ValueDateOutsideWindow

__all__ = [
    "DayCount",
    "DAY_COUNTS",
    "day_count_basis",
    "add_months",
    "monthly_due_dates",
    "year_fraction",
    "check_draw_date",
    "check_value_date",
]

DayCount = Literal["ACT/365", "ACT/360"]
DAY_COUNTS: tuple[str, ...] = get_args(DayCount)
_BASIS: dict[str, int] = {"ACT/365": 365, "ACT/360": 360}


def day_count_basis(day_count: str) -> int:
    """Days in the year of a day-count convention (365 for ACT/365, 360 for ACT/360).

    Raises
    ------
    InvalidScheduleTerms
        For an unknown convention.
    """
    try:
        return _BASIS[day_count]
    except KeyError:
        raise InvalidScheduleTerms(f"unknown day count {day_count!r}; expected one of "
                                   f"{DAY_COUNTS}") from None


def add_months(anchor: date, months: int) -> date:
    """``anchor`` plus ``months`` calendar months, clamped to the end of a shorter month.

    >>> add_months(date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    >>> add_months(date(2024, 1, 31), 2)
    datetime.date(2024, 3, 31)
    """
    month_index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    last_day = _calendar.monthrange(year, month)[1]
    return date(year, month, min(anchor.day, last_day))


def monthly_due_dates(start: date, count: int) -> tuple[date, ...]:
    """The ``count`` monthly due dates after ``start``, each anchored on ``start``'s day."""
    return tuple(add_months(start, k) for k in range(1, count + 1))


def year_fraction(start: date, end: date, day_count: str = "ACT/365") -> Decimal:
    """Actual days from ``start`` to ``end`` divided by the convention's year basis."""
    return Decimal((end - start).days) / Decimal(day_count_basis(day_count))


def check_draw_date(on: date | None, business: date) -> date:
    """The date of a draw: the business date, whether the client gave it or not.

    Raises
    ------
    NotTheBusinessDate
        If ``on`` is another date (``details["allowed"]`` is the business date).
    """
    if on is not None and on != business:
        raise NotTheBusinessDate(
            f"draws happen on the business date {business}; got {on}",
            {"allowed": business.isoformat()})
    return business


def check_value_date(on: date | None, business: date, window_days: int) -> date:
    """A repayment's value date: ``on`` if it lies within ``window_days`` before the
    business date (inclusive) and not after it; the business date when ``on`` is
    ``None``.

    Raises
    ------
    ValueDateOutsideWindow
        Outside the window (``details`` give ``earliest`` and ``latest``).
    """
    if window_days < 0:
        raise ValueError(f"window_days must be >= 0; got {window_days}")
    if on is None:
        return business
    earliest = business - timedelta(days=window_days)
    if not earliest <= on <= business:
        raise ValueDateOutsideWindow(
            f"a repayment's value date must be from {earliest} to {business} (the business "
            f"date and {window_days} days before it); got {on}",
            {"earliest": earliest.isoformat(), "latest": business.isoformat()})
    return on
