"""Money as ``Decimal`` quantized to the currency's minor unit.

Rules
-----
* An amount is a :class:`~decimal.Decimal`. ``float`` (and ``bool``) inputs are refused:
  a float cannot say 0.10 exactly, so accepting one would silently invent or lose
  fractions of a cent. ``int`` and ``str`` are converted exactly.
* NaN and infinities are refused.
* Amounts are quantized to the currency's minor unit (CNY: 0.01). When an amount is
  *computed* (interest, a payment, a penalty), it is rounded with :data:`AMOUNT_ROUNDING`,
  ``ROUND_HALF_UP`` (half a fen goes up, the rule of Chinese bank statements). When an
  amount is *given* (a draw, a repayment), it must already be exact: ``12.345`` is refused
  rather than rounded, because nobody can pay half a fen.
* When an amount is *split* into shares (equal principal, a fee spread over instalments),
  each share is rounded down (:data:`SHARE_ROUNDING`) and the last share takes the
  remainder, so the shares sum to the whole exactly and no share is negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from lending.errors import InvalidAmount

__all__ = [
    "AMOUNT_ROUNDING",
    "SHARE_ROUNDING",
    "MINOR_UNIT_DIGITS",
    "AmountInput",
    "ZERO",
    "MAX_AMOUNT",
    "minor_unit",
    "to_decimal",
    "quantize",
    "parse_amount",
    "split_evenly",
]

#: Rounding of computed amounts (interest, payments, penalties): half a minor unit goes up.
AMOUNT_ROUNDING = ROUND_HALF_UP
#: Rounding of the regular shares when an amount is split; the last share takes the rest.
SHARE_ROUNDING = ROUND_DOWN

#: Digits after the decimal point of each supported currency's minor unit (ISO 4217).
MINOR_UNIT_DIGITS: dict[str, int] = {"CNY": 2, "HKD": 2, "USD": 2, "EUR": 2, "JPY": 0}

ZERO = Decimal(0)
#: Amounts must be smaller than this in absolute value (a quadrillion in major units):
#: far above any real credit line, and it keeps every computation exact at the default
#: 28-digit ``Decimal`` precision.
MAX_AMOUNT = Decimal(10) ** 15

#: What callers may pass where an amount is expected (never ``float``).
AmountInput = Decimal | int | str


def minor_unit(currency: str = "CNY") -> Decimal:
    """The smallest amount of ``currency`` (``Decimal("0.01")`` for CNY).

    Raises
    ------
    InvalidAmount
        If the currency is not supported.
    """
    try:
        digits = MINOR_UNIT_DIGITS[currency]
    except KeyError:
        raise InvalidAmount(f"unsupported currency {currency!r}; supported: "
                            f"{sorted(MINOR_UNIT_DIGITS)}") from None
    return _unit(digits)


@cache
def _unit(digits: int) -> Decimal:
    """``10 ** -digits`` (a ``Decimal`` is immutable: one per number of digits is shared;
    the daily accrual of a line's fold asks for it millions of times)."""
    return Decimal(1).scaleb(-digits)


def to_decimal(value: object, *, what: str = "amount") -> Decimal:
    """Convert ``value`` exactly to a finite ``Decimal``.

    Parameters
    ----------
    value
        A ``Decimal``, ``int`` or numeric ``str``. Floats and bools are refused.
    what
        Name of the value, used in error messages.

    Raises
    ------
    InvalidAmount
        For floats, bools, other types, unparsable strings, NaN, infinities and numbers
        of :data:`MAX_AMOUNT` or more in absolute value.
    """
    if isinstance(value, bool | float):
        raise InvalidAmount(f"{what} must be a Decimal, int or str, not {type(value).__name__} "
                            f"({value!r}): floats cannot hold money exactly")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidAmount(f"{what} {value!r} is not a number") from None
    else:
        raise InvalidAmount(f"{what} must be a Decimal, int or str, not {type(value).__name__}")
    if not result.is_finite():
        raise InvalidAmount(f"{what} must be finite; got {value!r}")
    if abs(result) >= MAX_AMOUNT:
        raise InvalidAmount(f"{what} must be below {MAX_AMOUNT:,} in absolute value; "
                            f"got {value!r}")
    return result


def quantize(value: Decimal, currency: str = "CNY", rounding: str = AMOUNT_ROUNDING) -> Decimal:
    """Round a computed amount to the currency's minor unit (half up unless told otherwise)."""
    return value.quantize(minor_unit(currency), rounding=rounding)


def parse_amount(value: object, currency: str = "CNY", *, allow_zero: bool = False,
                 allow_negative: bool = False, exact: bool = True,
                 what: str = "amount") -> Decimal:
    """Check and quantize an amount given from outside (a draw, a repayment, a limit).

    Parameters
    ----------
    value
        ``Decimal``, ``int`` or ``str``; never ``float``.
    currency
        Currency whose minor unit applies.
    allow_zero, allow_negative
        Whether zero, and negative amounts, are acceptable (both refused by default).
    exact
        When true (default) an amount finer than the minor unit is refused; when false it
        is rounded with :data:`AMOUNT_ROUNDING`.
    what
        Name of the amount in error messages.

    Returns
    -------
    Decimal
        The amount with exactly the minor unit's number of decimal places.

    Raises
    ------
    InvalidAmount
        If any of the rules above is broken.
    """
    number = to_decimal(value, what=what)
    unit = minor_unit(currency)
    rounded = number.quantize(unit, rounding=AMOUNT_ROUNDING)
    if exact and rounded != number:
        raise InvalidAmount(f"{what} {number} is finer than the {currency} minor unit {unit}")
    if rounded < 0 and not allow_negative:
        raise InvalidAmount(f"{what} must not be negative; got {rounded}")
    if rounded == 0 and not allow_zero:
        raise InvalidAmount(f"{what} must be positive; got {rounded}")
    return rounded


def split_evenly(total: Decimal, parts: int, currency: str = "CNY") -> tuple[Decimal, ...]:
    """Split ``total`` into ``parts`` shares that sum to it exactly.

    Every share but the last is ``total / parts`` rounded down to the minor unit; the last
    takes the remainder, which is therefore at least as large as the others and exceeds
    them by less than ``parts`` minor units.

    Raises
    ------
    InvalidAmount
        If ``parts`` is not positive or ``total`` is negative.
    """
    if parts < 1:
        raise InvalidAmount(f"cannot split into {parts} parts")
    if total < 0:
        raise InvalidAmount(f"cannot split a negative amount {total}")
    share = quantize(total / parts, currency, SHARE_ROUNDING)
    shares: Sequence[Decimal] = [share] * (parts - 1)
    return (*shares, total - share * (parts - 1))
