from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.calendar import add_months, monthly_due_dates, year_fraction
from lending.errors import InvalidScheduleTerms


def test_february_due_date_clamps_to_month_end():
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)


def test_due_dates_stay_anchored_on_the_start_day_after_a_short_month():
    assert monthly_due_dates(date(2025, 1, 31), 4) == (
        date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30), date(2025, 5, 31))


def test_due_dates_cross_the_year_end():
    assert monthly_due_dates(date(2025, 11, 15), 3) == (
        date(2025, 12, 15), date(2026, 1, 15), date(2026, 2, 15))


def test_act_365_counts_actual_days_over_365_even_in_a_leap_year():
    assert year_fraction(date(2024, 1, 1), date(2025, 1, 1)) == Decimal(366) / 365


def test_act_360_counts_actual_days_over_360():
    assert year_fraction(date(2025, 1, 1), date(2025, 1, 31), "ACT/360") == Decimal(30) / 360


def test_unknown_day_count_is_refused():
    with pytest.raises(InvalidScheduleTerms, match="day count"):
        year_fraction(date(2025, 1, 1), date(2025, 2, 1), "30/360")


@settings(max_examples=200, deadline=None)
@given(start=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       months=st.integers(min_value=0, max_value=120))
def test_monthly_due_date_is_the_anchor_day_or_the_month_end(start, months):
    due = add_months(start, months)
    assert (due.year * 12 + due.month) - (start.year * 12 + start.month) == months
    next_day_month = date.fromordinal(due.toordinal() + 1).month
    assert due.day == start.day or (due.day < start.day and next_day_month != due.month)
