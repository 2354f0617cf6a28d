from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.calendar import (
    add_months,
    check_draw_date,
    check_value_date,
    monthly_due_dates,
    year_fraction,
)
from lending.errors import InvalidScheduleTerms, NotTheBusinessDate, ValueDateOutsideWindow


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


# --------------------------------------------------------------------------- client dates


def test_a_draw_happens_on_the_business_date_only():
    business = date(2026, 3, 10)
    assert check_draw_date(None, business) == business
    assert check_draw_date(business, business) == business
    with pytest.raises(NotTheBusinessDate) as refused:
        check_draw_date(business + timedelta(days=1), business)
    assert refused.value.details == {"allowed": "2026-03-10"}


@given(business=st.dates(date(2000, 1, 1), date(2100, 12, 31)),
       window=st.integers(0, 60), offset=st.integers(-90, 90))
def test_a_value_date_is_accepted_exactly_within_the_window(business, window, offset):
    on = business + timedelta(days=offset)
    inside = -window <= offset <= 0
    if inside:
        assert check_value_date(on, business, window) == on
    else:
        with pytest.raises(ValueDateOutsideWindow) as refused:
            check_value_date(on, business, window)
        assert refused.value.details == {
            "earliest": (business - timedelta(days=window)).isoformat(),
            "latest": business.isoformat()}
    assert check_value_date(None, business, window) == business


def test_a_negative_window_is_a_programming_error():
    with pytest.raises(ValueError, match="window_days"):
        check_value_date(None, date(2026, 3, 10), -1)
