"""Daily interest on an outstanding balance (borrow and repay any time).

Interest accrues every calendar day on the balance outstanding at the *end* of that day's
events, i.e. a balance that starts on day ``d`` earns interest for day ``d``; a balance
repaid on day ``d`` earns nothing for day ``d``. Days are counted from ``start``
(included) to ``end`` (excluded), the usual "first day in, last day out" rule, so a balance
held from 1 March to 31 March earns 30 days. The daily rate is ``annual_rate / basis`` of
the day-count convention. Interest is summed exactly and rounded once, half up, to the
minor unit at the end of the period.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from lending.calendar import day_count_basis
from lending.errors import InvalidAmount
from lending.money import ZERO, quantize, to_decimal

__all__ = ["BalanceChange", "accrued_interest", "exact_accrued_interest"]

#: One point of a balance history: from this date on, the balance is this amount.
BalanceChange = tuple[date, Decimal]


def exact_accrued_interest(history: Sequence[BalanceChange], annual_rate: Decimal,
                           start: date, end: date, day_count: str = "ACT/365") -> Decimal:
    """Unrounded interest between ``start`` (in) and ``end`` (out) on a balance history.

    See :func:`accrued_interest`. Balance-days are summed exactly and divided once by the
    year basis (at the ``Decimal`` context precision, 28 digits), so callers that accrue
    across several periods can round once.
    """
    rate = to_decimal(annual_rate, what="annual_rate")
    if rate < 0:
        raise InvalidAmount(f"annual_rate must not be negative; got {rate}")
    if end < start:
        raise InvalidAmount(f"end {end} is before start {start}")
    points = sorted(history, key=lambda point: point[0])
    for _, balance in points:
        if balance < 0:
            raise InvalidAmount(f"balance must not be negative; got {balance}")
    basis = Decimal(day_count_basis(day_count))
    balance_days = ZERO
    for index, (changed_on, balance) in enumerate(points):
        next_change = points[index + 1][0] if index + 1 < len(points) else end
        period_start = max(changed_on, start)
        period_end = min(next_change, end)
        if period_end > period_start:
            balance_days += balance * (period_end - period_start).days
    return balance_days * rate / basis


def accrued_interest(history: Sequence[BalanceChange], annual_rate: Decimal, start: date,
                     end: date, day_count: str = "ACT/365", currency: str = "CNY") -> Decimal:
    """Interest accrued from ``start`` (included) to ``end`` (excluded) on a balance history.

    Parameters
    ----------
    history
        ``(date, balance)`` pairs: from each date on, the outstanding balance is that
        amount, until the next pair. Before the first pair the balance is zero.
    annual_rate
        Nominal annual rate as a fraction (``Decimal("0.12")`` for 12 %).
    start, end
        The accrual period; ``end`` is excluded.
    day_count
        ``"ACT/365"`` (default) or ``"ACT/360"``.
    currency
        Currency whose minor unit the result is rounded to (half up).

    Returns
    -------
    Decimal
        The accrued interest, rounded once to the minor unit.

    Examples
    --------
    >>> accrued_interest([(date(2025, 3, 1), Decimal("10000.00"))], Decimal("0.0365"),
    ...                  date(2025, 3, 1), date(2025, 3, 11))
    Decimal('10.00')
    """
    return quantize(exact_accrued_interest(history, annual_rate, start, end, day_count),
                    currency)
