from decimal import Decimal

import pytest

from lending.errors import InvalidAmount
from lending.money import minor_unit, parse_amount, quantize, split_evenly


def test_amounts_are_quantized_to_the_fen():
    assert parse_amount("12.3") == Decimal("12.30")
    assert str(parse_amount(5)) == "5.00"


def test_computed_half_fen_rounds_up():
    assert quantize(Decimal("0.005")) == Decimal("0.01")
    assert quantize(Decimal("2.345")) == Decimal("2.35")
    assert quantize(Decimal("-2.345")) == Decimal("-2.35")


@pytest.mark.parametrize("value", [0.1, 1.0, True])
def test_floats_and_bools_are_refused_as_money(value):
    with pytest.raises(InvalidAmount, match="float|bool"):
        parse_amount(value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", Decimal("NaN"), "sNaN"])
def test_nan_and_infinities_are_refused(value):
    with pytest.raises(InvalidAmount, match="finite|not a number"):
        parse_amount(value)


def test_garbage_text_is_refused():
    with pytest.raises(InvalidAmount, match="not a number"):
        parse_amount("12,30")


def test_sub_fen_amount_given_from_outside_is_refused():
    with pytest.raises(InvalidAmount, match="finer than the CNY minor unit"):
        parse_amount("12.345")


def test_sub_fen_amount_may_be_rounded_when_exactness_is_not_required():
    assert parse_amount("12.345", exact=False) == Decimal("12.35")


def test_negative_and_zero_amounts_are_refused_unless_allowed():
    with pytest.raises(InvalidAmount, match="negative"):
        parse_amount("-1.00")
    with pytest.raises(InvalidAmount, match="positive"):
        parse_amount("0")
    assert parse_amount("0", allow_zero=True) == Decimal("0.00")
    assert parse_amount("-1", allow_negative=True) == Decimal("-1.00")


def test_unknown_currency_is_refused():
    with pytest.raises(InvalidAmount, match="unsupported currency"):
        minor_unit("XXX")


def test_yen_has_no_minor_digits():
    assert parse_amount("100", "JPY") == Decimal("100")
    with pytest.raises(InvalidAmount):
        parse_amount("100.5", "JPY")


def test_split_shares_sum_exactly_and_the_last_takes_the_remainder():
    assert split_evenly(Decimal("100.00"), 3) == (Decimal("33.33"), Decimal("33.33"),
                                                  Decimal("33.34"))
    assert split_evenly(Decimal("0.15"), 10)[-1] == Decimal("0.06")
    assert sum(split_evenly(Decimal("0.15"), 10)) == Decimal("0.15")


@pytest.mark.parametrize("value", ["1e15", "-1e300", "1" + "0" * 40])
def test_absurdly_large_amounts_are_refused_not_crashed_on(value):
    with pytest.raises(InvalidAmount, match="below"):
        parse_amount(value)
