from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending import build_schedule
from lending.errors import InvalidAmount, InvalidScheduleTerms
from lending.schedules import annuity_payment, reschedule_after_prepayment

CENT = Decimal("0.01")
START = date(2025, 1, 31)

amounts = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("1000000.00"), places=2)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.36"), places=4)
terms = st.integers(min_value=1, max_value=60)
starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
methods = st.sampled_from(["annuity", "equal_principal", "interest_only", "daily_interest"])
bases = st.sampled_from(["monthly", "daily"])


def _assert_equals_pmt_to_the_cent(ours: Decimal, annual_rate: Decimal, months: int,
                                   principal: Decimal) -> None:
    """``ours`` is numpy-financial's payment rounded to the cent; when pmt lands within
    float noise of a half cent (e.g. 212.94 / 28 = 7.605) either neighbour is accepted,
    because the float cannot say which side the exact value is on."""
    payment = Decimal(repr(float(npf.pmt(float(annual_rate) / 12, months, -float(principal)))))
    rounded = payment.quantize(CENT, ROUND_HALF_UP)
    distance_to_tie = abs(abs(payment - payment.quantize(CENT, ROUND_HALF_UP)) - CENT / 2)
    if distance_to_tie < Decimal("1e-7"):
        assert abs(ours - payment) <= CENT / 2 + Decimal("1e-7")
    else:
        assert ours == rounded


def test_bullet_falls_due_at_the_end_of_the_interest_free_period():
    schedule = build_schedule("5000.00", 0, 1, "interest_free_bullet", date(2025, 3, 10),
                              interest_free_days=60)
    (bullet,) = schedule
    assert (bullet.due_date, bullet.principal, bullet.interest, bullet.total) == (
        date(2025, 5, 9), Decimal("5000.00"), Decimal("0.00"), Decimal("5000.00"))


def test_bullet_accepts_only_30_60_or_90_interest_free_days():
    with pytest.raises(InvalidScheduleTerms, match="interest_free_days"):
        build_schedule("5000.00", 0, 1, "interest_free_bullet", START, interest_free_days=45)


def test_interest_free_plans_refuse_an_interest_rate():
    with pytest.raises(InvalidScheduleTerms, match="interest-free"):
        build_schedule("5000.00", "0.05", 3, "interest_free_instalments", START)


def test_zero_percent_instalments_spread_principal_and_fee_with_the_last_absorbing():
    schedule = build_schedule("1000.00", 0, 3, "interest_free_instalments", START,
                              fee="10.00")
    assert [(i.due_date, i.principal, i.fee, i.total) for i in schedule] == [
        (date(2025, 2, 28), Decimal("333.33"), Decimal("3.33"), Decimal("336.66")),
        (date(2025, 3, 31), Decimal("333.33"), Decimal("3.33"), Decimal("336.66")),
        (date(2025, 4, 30), Decimal("333.34"), Decimal("3.34"), Decimal("336.68")),
    ]
    assert schedule.total_interest == 0


def test_annuity_pinned_example_matches_a_bank_table():
    # 10,000 at 12 % over 6 months: the textbook instalment is 1,725.48.
    schedule = build_schedule("10000.00", "0.12", 6, "annuity", START)
    assert [i.total for i in schedule][:5] == [Decimal("1725.48")] * 5
    assert [i.interest for i in schedule] == [Decimal(x) for x in (
        "100.00", "83.75", "67.33", "50.75", "34.00", "17.08")]
    assert schedule[-1].principal == Decimal("1708.43")
    assert schedule.total_principal == Decimal("10000.00")


def test_equal_principal_repays_the_same_principal_each_month():
    schedule = build_schedule("10000.00", "0.12", 4, "equal_principal", START)
    assert [i.principal for i in schedule] == [Decimal("2500.00")] * 4
    assert [i.interest for i in schedule] == [Decimal(x) for x in
                                              ("100.00", "75.00", "50.00", "25.00")]


def test_interest_only_repays_principal_with_the_last_instalment():
    schedule = build_schedule("10000.00", "0.12", 3, "interest_only", START)
    assert [(i.principal, i.interest) for i in schedule] == [
        (Decimal("0.00"), Decimal("100.00")), (Decimal("0.00"), Decimal("100.00")),
        (Decimal("10000.00"), Decimal("100.00"))]


def test_daily_interest_schedule_charges_actual_days():
    schedule = build_schedule("10000.00", "0.0365", 2, "daily_interest", START)
    # 28 days in February 2025, then 31 days to 31 March: 1 yuan a day on 10,000 at 3.65 %.
    assert [i.interest for i in schedule] == [Decimal("28.00"), Decimal("31.00")]


def test_act_360_option_charges_more_daily_interest():
    act360 = build_schedule("10000.00", "0.036", 1, "daily_interest", START,
                            day_count="ACT/360")
    assert act360[0].interest == Decimal("28.00")


@pytest.mark.parametrize("months", [0, 361, 1.5])
def test_term_must_be_a_whole_number_of_months_within_bounds(months):
    with pytest.raises(InvalidScheduleTerms, match="months"):
        build_schedule("100.00", "0.1", months, "annuity", START)


@pytest.mark.parametrize("method", ["annuity", "interest_free_bullet"])
def test_a_schedule_running_past_the_calendar_is_refused(method):
    with pytest.raises(InvalidScheduleTerms, match="past the calendar"):
        build_schedule("100.00", 0, 1, method, date(9999, 12, 15),
                       interest_free_days=90 if method == "interest_free_bullet" else None)


def test_rate_given_as_a_percentage_is_refused():
    with pytest.raises(InvalidScheduleTerms, match="fraction"):
        build_schedule("100.00", 12, 12, "annuity", START)


def test_float_principal_is_refused():
    with pytest.raises(InvalidAmount, match="float"):
        build_schedule(100.0, "0.1", 12, "annuity", START)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(principal=amounts, rate=rates, months=terms)
def test_annuity_instalment_equals_numpy_financial_pmt_to_the_cent(principal, rate, months):
    expected = annuity_payment(principal, rate, months)
    _assert_equals_pmt_to_the_cent(expected, rate, months, principal)
    schedule = build_schedule(principal, rate, months, "annuity", START)
    if principal >= months:  # below 1 yuan a month the rounding may already repay it early
        assert all(i.total == expected for i in schedule[:-1])


def test_annuity_instalment_on_an_exact_half_fen_rounds_up():
    # 212.94 / 28 = 7.605 exactly; pmt's float says 7.6049999..., the Decimal rule says 7.61.
    assert annuity_payment(Decimal("212.94"), Decimal(0), 28) == Decimal("7.61")


@settings(max_examples=300, deadline=None)
@given(principal=amounts, rate=rates, months=terms, start=starts, method=methods, basis=bases)
def test_instalment_principal_sums_to_the_loan_exactly(principal, rate, months, start,
                                                       method, basis):
    schedule = build_schedule(principal, rate, months, method, start,
                              interest_basis=None if method == "daily_interest" else basis)
    assert len(schedule) == months
    assert schedule.total_principal == principal
    assert all(i.principal >= 0 and i.interest >= 0 for i in schedule)
    assert all(i.principal == i.principal.quantize(CENT) for i in schedule)
    assert schedule[-1].balance_after == 0
    assert [i.due_date for i in schedule] == sorted({i.due_date for i in schedule})
    assert all(i.due_date.day == start.day or i.due_date.day < start.day for i in schedule)


@settings(max_examples=200, deadline=None)
@given(principal=amounts, months=terms, start=starts,
       fee=st.decimals(min_value=Decimal("0"), max_value=Decimal("500.00"), places=2))
def test_zero_percent_instalments_are_equal_except_the_last_which_takes_the_rest(
        principal, months, start, fee):
    schedule = build_schedule(principal, 0, months, "interest_free_instalments", start, fee=fee)
    regular = {i.principal for i in schedule[:-1]}
    assert len(regular) <= 1
    assert schedule.total_principal == principal and schedule.total_fee == fee
    assert 0 <= schedule[-1].principal - schedule[0].principal < CENT * months


@settings(max_examples=200, deadline=None)
@given(principal=amounts, rate=rates, months=st.integers(min_value=2, max_value=36),
       method=st.sampled_from(["annuity", "equal_principal", "interest_free_instalments"]),
       option=st.sampled_from(["shorten_term", "lower_instalment"]),
       share=st.integers(min_value=1, max_value=99), after=st.integers(min_value=0, max_value=1))
def test_prepayment_rederives_a_schedule_that_still_repays_exactly(
        principal, rate, months, method, option, share, after):
    if method == "interest_free_instalments":
        rate = Decimal(0)
    schedule = build_schedule(principal, rate, months, method, START)
    paid_through = schedule[after].due_date if after else START
    future_principal = sum((i.principal for i in schedule if i.due_date > paid_through),
                           Decimal(0))
    prepaid = (future_principal * share / 100).quantize(CENT)
    if prepaid <= 0:
        return
    rebuilt = reschedule_after_prepayment(schedule, on=paid_through, prepaid_principal=prepaid,
                                          option=option)
    assert rebuilt.total_principal + rebuilt.prepaid_principal == principal
    assert len(rebuilt) <= len(schedule)
    assert rebuilt[: after] == schedule[: after]
    assert all(i.principal >= 0 for i in rebuilt)
    if option == "lower_instalment":
        assert len(rebuilt) == len(schedule)


def test_shorten_the_term_keeps_the_instalment_and_drops_the_last_ones():
    schedule = build_schedule("12000.00", 0, 12, "interest_free_instalments", START)
    rebuilt = reschedule_after_prepayment(schedule, on=date(2025, 3, 5),
                                          prepaid_principal=Decimal("3000.00"),
                                          option="shorten_term")
    assert len(rebuilt) == 9
    assert {i.principal for i in rebuilt} == {Decimal("1000.00")}
    assert rebuilt.maturity == date(2025, 10, 31)


def test_lower_the_instalment_keeps_the_term_and_lowers_each_instalment():
    schedule = build_schedule("12000.00", 0, 12, "interest_free_instalments", START)
    rebuilt = reschedule_after_prepayment(schedule, on=date(2025, 3, 31),
                                          prepaid_principal=Decimal("3000.00"),
                                          option="lower_instalment")
    assert len(rebuilt) == 12 and rebuilt.maturity == schedule.maturity
    assert [i.principal for i in rebuilt[2:]] == [Decimal("700.00")] * 10


def test_lower_the_instalment_on_an_annuity_recomputes_the_payment():
    schedule = build_schedule("10000.00", "0.12", 6, "annuity", START)
    rebuilt = reschedule_after_prepayment(schedule, on=date(2025, 3, 1),
                                          prepaid_principal=Decimal("4000.00"),
                                          option="lower_instalment")
    # 8,374.52 - 4,000 = 4,374.52 over the 5 remaining months at 1 % a month.
    assert rebuilt[1].interest == Decimal("83.75")  # current period keeps its interest
    assert rebuilt[2].total == annuity_payment(Decimal("4374.52"), Decimal("0.12"), 5)
