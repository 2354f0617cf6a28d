"""Business-date rules: monthly due dates and day-count conventions.

Monthly due dates are anchored on the start date's day of month. The k-th due date is
``start`` plus k calendar months, clamped to the last day of the month when that month is
shorter: a loan started on 31 January falls due on 28 February (29 in a leap year), then
31 March, 30 April, 31 May. The anchor is always the *start* day, never the previous due
date, so one short month does not pull every later due date earlier.

Day counts turn a number of days into a fraction of a year: ``ACT/365`` (the default,
"Actual/365 Fixed": actual days / 365, also in leap years) and ``ACT/360``.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import date
from decimal import Decimal
from typing import Literal, get_args

from lending.errors import InvalidScheduleTerms

__all__ = [
    "DayCount",
    "DAY_COUNTS",
    "day_count_basis",
    "add_months",
    "monthly_due_dates",
    "year_fraction",
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
