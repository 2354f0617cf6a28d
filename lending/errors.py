"""Named domain errors of the lending rules.

Every refusal of a lending rule raises a subclass of :class:`LendingError`, so the HTTP
layer can map each one to a status and a stable ``code`` in one place. The ``code`` class
attribute is that stable identifier; the message says what was refused and why.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "LendingError",
    "refusal_from_code",
    "InvalidAmount",
    "CurrencyMismatch",
    "InvalidScheduleTerms",
    "CreditLimitExceeded",
    "LineFrozen",
    "LineClosed",
    "BackdatedOperation",
    "DuplicateOperation",
    "UnknownDraw",
    "UnknownPayment",
    "PaymentAlreadyReversed",
    "PaymentAlreadyRefunded",
    "NothingToPrepay",
    "UnbalancedEntry",
    "InvalidPolicy",
    "UnknownGrade",
    "InvalidScore",
    "InvalidIdentifier",
    "RefundExceedsCreditBalance",
    "InsufficientPayoff",
    "NothingToPayOff",
    "NotTheBusinessDate",
    "ValueDateOutsideWindow",
]


class LendingError(Exception):
    """Base class of every refusal by a lending rule.

    ``details`` is optional structured data for the error body (the allowed values, a
    range), JSON-serialisable.
    """

    def __init__(self, message: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details

    code: str = "lending_error"
    #: A refusal of the request's own content (a malformed amount, a currency or
    #: identifier that can never be right), the same whatever the line's state: never
    #: kept under an idempotency key, as the same body always gets it again. Every other
    #: refusal depends on the state it met and is kept (see ``store.idempotency``).
    invalid_input: bool = False
    #: Set on a refusal answered again from an idempotency key rather than met anew.
    replayed: bool = False


class InvalidAmount(LendingError):
    """An amount is a float, not finite, negative or zero where that is not allowed, or
    finer than the currency's minor unit where it must be exact."""

    code = "invalid_amount"
    invalid_input = True


class CurrencyMismatch(LendingError):
    """An amount in one currency was applied to something kept in another."""

    code = "currency_mismatch"
    invalid_input = True


class InvalidScheduleTerms(LendingError):
    """The terms of a repayment schedule are not allowed (unknown method, term, rate...)."""

    code = "invalid_schedule_terms"
    invalid_input = True


class CreditLimitExceeded(LendingError):
    """A draw asks for more than the line's available credit."""

    code = "credit_limit_exceeded"


class LineFrozen(LendingError):
    """The line refuses new draws while it is past due beyond the freeze threshold."""

    code = "line_frozen"


class LineClosed(LendingError):
    """The line is closed (written off) and accepts no new draws."""

    code = "line_closed"


class BackdatedOperation(LendingError):
    """An operation is dated before the last operation already recorded on the line."""

    code = "backdated_operation"


class DuplicateOperation(LendingError):
    """A draw or payment id is already used on the line."""

    code = "duplicate_operation"


class UnknownDraw(LendingError):
    """No draw with that id exists on the line."""

    code = "unknown_draw"


class UnknownPayment(LendingError):
    """No payment with that id exists on the line."""

    code = "unknown_payment"


class PaymentAlreadyReversed(LendingError):
    """The payment was already reversed."""

    code = "payment_already_reversed"


class PaymentAlreadyRefunded(LendingError):
    """A payment cannot be reversed: the credit balance it left was already paid back to
    the borrower, so reversing it would leave the borrower a negative credit balance."""

    code = "payment_already_refunded"


class NothingToPrepay(LendingError):
    """A prepayment names a draw that owes nothing more."""

    code = "nothing_to_prepay"


class UnbalancedEntry(LendingError):
    """A journal entry whose debits do not equal its credits (or is otherwise malformed)."""

    code = "unbalanced_entry"


class InvalidPolicy(LendingError):
    """A credit-policy configuration is malformed."""

    code = "invalid_policy"
    invalid_input = True


class UnknownGrade(LendingError):
    """A score carries a grade the credit policy does not know."""

    code = "unknown_grade"
    invalid_input = True


class InvalidScore(LendingError):
    """A score result or seller profile given to the credit policy is not usable."""

    code = "invalid_score"
    invalid_input = True


class InvalidIdentifier(LendingError):
    """A draw, payment or supplier id is empty or not a string."""

    code = "invalid_identifier"
    invalid_input = True


class RefundExceedsCreditBalance(LendingError):
    """A balance refund asks for more than the borrower's credit balance."""

    code = "refund_exceeds_credit_balance"


class InsufficientPayoff(LendingError):
    """A payoff payment is less than the payoff quote of the draws it names."""

    code = "insufficient_payoff"


class NothingToPayOff(LendingError):
    """A payoff names a line or draw that owes nothing."""

    code = "nothing_to_pay_off"


class NotTheBusinessDate(LendingError):
    """A draw dated other than the lender's current business date (draws happen on the
    business date; ``details["allowed"]`` names it)."""

    code = "not_the_business_date"


class ValueDateOutsideWindow(LendingError):
    """A repayment's value date outside ``[business date - window, business date]``
    (``details["earliest"]`` and ``details["latest"]`` give the allowed range)."""

    code = "value_date_outside_window"


def _subclasses(cls: type[LendingError]) -> list[type[LendingError]]:
    found: list[type[LendingError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def refusal_from_code(code: str, message: str,
                      details: dict[str, Any] | None = None) -> LendingError:
    """The refusal a stored ``code`` names, rebuilt with its message and details.

    Used to replay a refusal kept under an idempotency key: the client gets the same
    class of error (so the same HTTP status and ``code``) as the first time. A code no
    loaded class carries comes back as a plain :class:`LendingError`.
    """
    for cls in _subclasses(LendingError):
        if cls.__dict__.get("code") == code:
            try:
                return cls(message, details)
            except TypeError:  # a refusal whose constructor wants more: same class
                error = cls.__new__(cls)
                Exception.__init__(error, message)
                error.details = details
                return error
    return LendingError(message, details)

