"""Lending rules: pure domain logic on ``Decimal`` with no I/O (see docs/lending.md)."""

from lending.calendar import DayCount, add_months, monthly_due_dates, year_fraction
from lending.errors import *  # noqa: F403
from lending.errors import __all__ as _error_names
from lending.interest import accrued_interest
from lending.money import minor_unit, parse_amount, quantize, split_evenly
from lending.schedules import (
    Instalment,
    Schedule,
    annuity_payment,
    build_schedule,
    reschedule_after_prepayment,
)

__all__ = [
    *_error_names,
    "DayCount",
    "add_months",
    "monthly_due_dates",
    "year_fraction",
    "accrued_interest",
    "minor_unit",
    "parse_amount",
    "quantize",
    "split_evenly",
    "Instalment",
    "Schedule",
    "annuity_payment",
    "build_schedule",
    "reschedule_after_prepayment",
]
