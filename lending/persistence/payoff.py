"""Paying a line off, and paying a credit balance back: the store's side of
:meth:`lending.CreditLine.pay_off` and :meth:`lending.CreditLine.refund_balance`.

A payoff quote is read-only: the line's events folded as of the day the payment would be
made (by default the lender's business date). Paying off and refunding are writes of a
line like a draw (:func:`lending.persistence.services.line_write`): the line is locked,
a known idempotency key answers its stored receipt, the operation is dated under the
lock, the event is appended, the line folded and booked to that date, the receipt kept
under the key, and everything committed once.

Both happen on the business date. With ``business_today`` (the calendar date in the
lender's time zone: the HTTP path) the date is the store's business date, read under the
line's lock after the key's replay, and a client's other date is refused
(``NotTheBusinessDate``), as a draw's is: a quote holds for one day only, and money paid
out (a refund) leaves on the day it is booked. Without ``business_today``, ``on`` is the
operation's date (batch loads, simulations, tests).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lending.errors import NothingToPayOff
from lending.lines import PayoffQuote
from lending.money import AmountInput
from lending.persistence.codec import normalized_amount
from lending.persistence.services import (
    PaymentReceipt,
    StoredReceipt,
    business_dating,
    check_write_dating,
    line_write,
    load_line,
    payment_receipt,
)
from lending.persistence.unit_of_work import SqlUnitOfWork
from store.idempotency import idempotency_scope

__all__ = ["BalanceRefundReceipt", "get_payoff_quote", "pay_off", "refund_balance"]


@dataclass(frozen=True)
class BalanceRefundReceipt(StoredReceipt):
    """The result of a balance refund (replayed as is to a repeated idempotent request).

    ``credit_balance`` is what the borrower still holds on the line after the refund.
    """

    line_id: str
    refund_id: str
    on: date
    amount: Decimal
    credit_balance: Decimal
    line_version: int


def get_payoff_quote(uow: SqlUnitOfWork, line_id: str, *, on: date | None = None,
                     draw_id: str | None = None,
                     business_date: date | None = None) -> PayoffQuote:
    """What settles the line (or one draw) if paid on a date, with its breakdown.

    Parameters
    ----------
    uow
        A unit of work, not yet entered (entered for reading only).
    line_id
        The line.
    on
        The day the payment would be made. Default: ``business_date`` when given (the
        lender's current business date), else the line's booked date.
    draw_id
        One draw to quote; every open draw of the line when ``None``.
    business_date
        The lender's current business date, when the caller knows it.

    Returns
    -------
    PayoffQuote
        Per draw principal, interest accrued to the date, fees, penalty and the unearned
        fee rebated; the line's credit balance, applied first; the amount to pay.

    Raises
    ------
    UnknownLine
        If the line does not exist.
    UnknownDraw
        If ``draw_id`` names no draw of the line.
    NothingToPayOff
        If the line (or the draw) owes nothing on that date.
    """
    with uow.reading():
        record, line = load_line(uow, line_id, lock=False)
        day = on or business_date or record.as_of
    quote = line.payoff_quote(day, draw_id)
    if not quote.total:
        what = f"draw {draw_id!r} of line" if draw_id is not None else "line"
        raise NothingToPayOff(f"{what} {line_id!r} owes nothing to pay off on {day}")
    return quote


def pay_off(uow: SqlUnitOfWork, *, line_id: str, amount: AmountInput, idempotency_key: str,
            on: date | None = None, business_today: date | None = None,
            draw_id: str | None = None, payment_id: str | None = None,
            currency: str | None = None, client: str = "") -> PaymentReceipt:
    """Pay off the line (or draw ``draw_id``) on the business date, once per idempotency
    key (scope ``payoff``, per ``client``).

    The payment must cover the quote of that day (:func:`get_payoff_quote`, the credit
    balance counted first); the draws it covers are settled at once and nothing falls
    due on them afterwards. Anything above the quote stays as the borrower's credit
    balance (:func:`refund_balance` pays it back).

    Parameters
    ----------
    uow
        A unit of work, not yet entered.
    line_id
        The line.
    amount
        The amount paid: an exact, positive amount in the line's currency.
    idempotency_key
        The payoff is made once per key; a retry with the same body gets the same receipt.
    on
        The payoff's date. With ``business_today``, optional and, when given, it must be
        the business date; without it, required.
    business_today
        The calendar date in the lender's time zone (the HTTP path): the payoff is dated
        by the store's business date, read under the line's lock.
    draw_id
        One draw to pay off; every open draw of the line when ``None``.
    payment_id
        Identifier of the payment among the line's operations (default: a new
        ``P-<uuid>``).
    currency
        The currency ``amount`` is in, when the caller states it.
    client
        The caller's id, which keeps each client's keys apart.

    Returns
    -------
    PaymentReceipt
        The payment, and what the line owes and holds after it.

    Raises
    ------
    UnknownLine, UnknownDraw
        If the line, or the draw, does not exist.
    NothingToPayOff
        If the line (or the draw) owes nothing, or the line was written off.
    InsufficientPayoff
        If ``amount`` with the credit balance is below the quote.
    InvalidAmount, CurrencyMismatch, DuplicateOperation, BackdatedOperation
        As :meth:`lending.CreditLine.pay_off`.
    NotTheBusinessDate
        If ``on`` is given with ``business_today`` and is not the business date.
    IdempotencyKeyReused
        If the key served a different request of the same client.
    """
    check_write_dating(idempotency_key, on, business_today, "pay_off")
    body = {"line_id": line_id, "amount": normalized_amount(amount),
            "on": None if on is None else on.isoformat(), "draw_id": draw_id,
            "payment_id": payment_id, "currency": currency}
    return line_write(
        uow, line_id=line_id, scope=idempotency_scope("payoff", client),
        idempotency_key=idempotency_key, body=body, on=on, receipt_type=PaymentReceipt,
        dated=None if business_today is None else business_dating(
            today=business_today, on=on, kind="draw"),
        act=lambda line, day: line.pay_off(payment_id or f"P-{uuid.uuid4().hex}", amount,
                                           day, draw_id, currency=currency),
        receipt=payment_receipt(line_id))


def refund_balance(uow: SqlUnitOfWork, *, line_id: str, amount: AmountInput,
                   idempotency_key: str, on: date | None = None,
                   business_today: date | None = None, refund_id: str | None = None,
                   currency: str | None = None, client: str = "") -> BalanceRefundReceipt:
    """Pay ``amount`` of the borrower's credit balance back to them on the business date,
    once per idempotency key (scope ``balance_refund``, per ``client``).

    The book takes a ``balance_refund`` entry (debit the credit balance, credit the
    collections cash account): money leaves the lender.

    Parameters
    ----------
    uow
        A unit of work, not yet entered.
    line_id
        The line.
    amount
        The amount paid back: exact, positive, at most the credit balance.
    idempotency_key
        The refund is made once per key; a retry with the same body gets the same receipt.
    on, business_today
        The refund's date, as for :func:`pay_off`.
    refund_id
        Identifier of the refund among the line's operations (default: a new
        ``R-<uuid>``).
    currency
        The currency ``amount`` is in, when the caller states it.
    client
        The caller's id, which keeps each client's keys apart.

    Returns
    -------
    BalanceRefundReceipt
        The refund and the credit balance left.

    Raises
    ------
    UnknownLine
        If the line does not exist.
    RefundExceedsCreditBalance
        If ``amount`` is above the credit balance.
    InvalidAmount, CurrencyMismatch, DuplicateOperation, BackdatedOperation
        As :meth:`lending.CreditLine.refund_balance`.
    NotTheBusinessDate
        If ``on`` is given with ``business_today`` and is not the business date.
    IdempotencyKeyReused
        If the key served a different request of the same client.
    """
    check_write_dating(idempotency_key, on, business_today, "refund_balance")
    body = {"line_id": line_id, "amount": normalized_amount(amount),
            "on": None if on is None else on.isoformat(), "refund_id": refund_id,
            "currency": currency}
    return line_write(
        uow, line_id=line_id, scope=idempotency_scope("balance_refund", client),
        idempotency_key=idempotency_key, body=body, on=on, receipt_type=BalanceRefundReceipt,
        dated=None if business_today is None else business_dating(
            today=business_today, on=on, kind="draw"),
        act=lambda line, day: line.refund_balance(refund_id or f"R-{uuid.uuid4().hex}",
                                                  amount, day, currency=currency),
        receipt=lambda event, state, version, day: BalanceRefundReceipt(
            line_id, event.refund_id, day, event.amount, state.credit_balance, version))
