from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.errors import InvalidAmount
from lending.interest import accrued_interest, exact_accrued_interest


def test_daily_interest_counts_first_day_in_last_day_out():
    history = [(date(2025, 3, 1), Decimal("10000.00"))]
    # 10 days at 3.65 % on 10,000 = 10,000 * 0.0365 * 10 / 365 = 10.00
    assert accrued_interest(history, Decimal("0.0365"), date(2025, 3, 1),
                            date(2025, 3, 11)) == Decimal("10.00")


def test_daily_interest_follows_the_balance_history():
    history = [(date(2025, 3, 1), Decimal("10000.00")),
               (date(2025, 3, 6), Decimal("4000.00")),   # repaid 6,000 on 6 March
               (date(2025, 3, 9), Decimal("0.00"))]
    # 5 days on 10,000 + 3 days on 4,000 = 62,000 balance-days at 0.0365 / 365
    assert accrued_interest(history, Decimal("0.0365"), date(2025, 3, 1),
                            date(2025, 3, 31)) == Decimal("6.20")


def test_act_360_charges_more_than_act_365_for_the_same_days():
    history = [(date(2025, 1, 1), Decimal("36000.00"))]
    act365 = accrued_interest(history, Decimal("0.10"), date(2025, 1, 1), date(2025, 2, 1))
    act360 = accrued_interest(history, Decimal("0.10"), date(2025, 1, 1), date(2025, 2, 1),
                              "ACT/360")
    assert act360 == Decimal("310.00")
    assert act365 == Decimal("305.75")


def test_no_interest_before_the_first_balance_or_for_an_empty_period():
    history = [(date(2025, 3, 10), Decimal("1000.00"))]
    assert accrued_interest(history, Decimal("0.2"), date(2025, 3, 1),
                            date(2025, 3, 10)) == Decimal("0.00")
    assert accrued_interest(history, Decimal("0.2"), date(2025, 3, 12),
                            date(2025, 3, 12)) == Decimal("0.00")


def test_interest_period_must_not_run_backwards():
    with pytest.raises(InvalidAmount, match="before start"):
        accrued_interest([], Decimal("0.1"), date(2025, 3, 2), date(2025, 3, 1))


@settings(max_examples=200, deadline=None)
@given(balance=st.decimals(min_value=0, max_value=Decimal("1000000.00"), places=2),
       rate=st.decimals(min_value=0, max_value=Decimal("0.36"), places=4),
       start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
       days=st.integers(min_value=0, max_value=400), split=st.integers(min_value=0,
                                                                      max_value=400),
       day_count=st.sampled_from(["ACT/365", "ACT/360"]))
def test_daily_interest_is_additive_over_periods_and_linear_in_days(balance, rate, start, days,
                                                                    split, day_count):
    end = start + timedelta(days=days)
    middle = start + timedelta(days=min(split, days))
    history = [(start, balance)]
    whole = exact_accrued_interest(history, rate, start, end, day_count)
    parts = (exact_accrued_interest(history, rate, start, middle, day_count)
             + exact_accrued_interest(history, rate, middle, end, day_count))
    assert abs(whole - parts) < Decimal("1e-20")  # one division each, at 28 digits
    basis = 365 if day_count == "ACT/365" else 360
    assert accrued_interest(history, rate, start, end, day_count) == (
        balance * rate * days / basis).quantize(Decimal("0.01"), ROUND_HALF_UP)
