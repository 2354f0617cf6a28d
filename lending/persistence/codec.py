"""Exact conversions between domain values and stored rows or JSON.

Amounts travel as decimal strings (``"12.30"``) in JSON and as integer minor units in
money columns; dates as ISO strings. Nothing passes through a float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any, cast

from lending.lines import (
    BalanceRefunded,
    DrawMade,
    LimitChanged,
    LineEvent,
    PaymentReceived,
    PaymentReversed,
    PayoffReceived,
    PrepaymentReceived,
    RepaymentPlan,
    operation_id,
)
from lending.money import to_decimal
from lending.schedules import Instalment, PrepaymentOption, Schedule

__all__ = [
    "EVENT_KINDS",
    "event_kind",
    "event_operation_id",
    "event_payload",
    "event_from_row",
    "schedule_to_json",
    "schedule_from_json",
    "plan_to_json",
    "dumps",
]

EVENT_KINDS: dict[type, str] = {DrawMade: "draw", PaymentReceived: "payment",
                                PrepaymentReceived: "prepayment",
                                PaymentReversed: "payment_reversal",
                                LimitChanged: "limit_change", PayoffReceived: "payoff",
                                BalanceRefunded: "balance_refund"}


def dumps(document: Mapping[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, Decimals and dates as strings."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=_default)


def _default(value: object) -> str:
    if isinstance(value, Decimal | date):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def normalized_amount(value: object) -> str:
    """An amount written one way whatever its spelling (``"100"``, ``100``, ``"100.00"``).

    Anything that is not an exact number is returned as its ``repr`` so that the rules,
    not the fingerprint, refuse it.
    """
    try:
        number = to_decimal(value)
    except Exception:
        return repr(value)
    return format(number.normalize(), "f")


def schedule_to_json(schedule: Schedule) -> dict[str, Any]:
    """A schedule as JSON-ready values (amounts as strings)."""
    return {
        "method": schedule.method, "principal": str(schedule.principal),
        "annual_rate": str(schedule.annual_rate), "start": schedule.start.isoformat(),
        "day_count": schedule.day_count, "interest_basis": schedule.interest_basis,
        "currency": schedule.currency,
        "regular_amount": None if schedule.regular_amount is None
        else str(schedule.regular_amount),
        "prepaid_principal": str(schedule.prepaid_principal),
        "instalments": [[i.number, i.due_date.isoformat(), str(i.principal), str(i.interest),
                         str(i.fee), str(i.balance_after)] for i in schedule],
    }


def schedule_from_json(document: Mapping[str, Any]) -> Schedule:
    """The schedule :func:`schedule_to_json` wrote, equal to the original."""
    regular = document["regular_amount"]
    return Schedule(
        method=document["method"], principal=Decimal(document["principal"]),
        annual_rate=Decimal(document["annual_rate"]),
        start=date.fromisoformat(document["start"]), day_count=document["day_count"],
        interest_basis=document["interest_basis"], currency=document["currency"],
        instalments=tuple(Instalment(number, date.fromisoformat(due), Decimal(principal),
                                     Decimal(interest), Decimal(fee), Decimal(balance))
                          for number, due, principal, interest, fee, balance
                          in document["instalments"]),
        regular_amount=None if regular is None else Decimal(regular),
        prepaid_principal=Decimal(document["prepaid_principal"]),
    )


def plan_to_json(plan: RepaymentPlan) -> dict[str, Any]:
    """A repayment plan as JSON-ready values (part of a draw's idempotency fingerprint)."""
    return {key: str(value) if isinstance(value, Decimal) else value
            for key, value in asdict(plan).items()}


def event_kind(event: LineEvent) -> str:
    """The stored kind of an event (``draw``, ``payment``, ...)."""
    return EVENT_KINDS[type(event)]


#: The draw, payment or limit-change id an event is about (stored as ``operation_id``).
event_operation_id = operation_id


def event_payload(event: LineEvent) -> str:
    """Everything of an event but its kind, date, operation id and amount, as JSON.

    A limit change has no amount of money moved: both limits travel in the payload, as
    decimal strings.
    """
    if isinstance(event, DrawMade):
        return dumps({"supplier_id": event.supplier_id,
                      "schedule": schedule_to_json(event.schedule)})
    if isinstance(event, PrepaymentReceived):
        return dumps({"draw_id": event.draw_id, "option": event.option})
    if isinstance(event, PaymentReversed):
        return dumps({"reason": event.reason})
    if isinstance(event, PayoffReceived):
        return dumps({"draw_id": event.draw_id})
    if isinstance(event, LimitChanged):
        return dumps({"previous_limit": event.previous_limit, "new_limit": event.new_limit,
                      "reason": event.reason, "actor": event.actor})
    return dumps({})


def event_from_row(kind: str, on: date, operation_id: str, amount: Decimal | None,
                   payload: str) -> LineEvent:
    """Rebuild the event stored as ``kind``; equal to the one that was stored.

    Raises
    ------
    ValueError
        For an unknown kind or a money event without an amount (a corrupt row).
    """
    document = json.loads(payload)
    if kind == "payment_reversal":
        return PaymentReversed(operation_id, on, document["reason"])
    if kind == "limit_change":
        return LimitChanged(operation_id, on, Decimal(document["previous_limit"]),
                            Decimal(document["new_limit"]), document["reason"],
                            document["actor"])
    if amount is None:
        raise ValueError(f"stored {kind} event {operation_id!r} has no amount")
    if kind == "draw":
        return DrawMade(operation_id, on, amount, document["supplier_id"],
                        schedule_from_json(document["schedule"]))
    if kind == "payment":
        return PaymentReceived(operation_id, on, amount)
    if kind == "prepayment":
        return PrepaymentReceived(operation_id, on, amount, document["draw_id"],
                                  cast(PrepaymentOption, document["option"]))
    if kind == "payoff":
        return PayoffReceived(operation_id, on, amount, document["draw_id"])
    if kind == "balance_refund":
        return BalanceRefunded(operation_id, on, amount)
    raise ValueError(f"unknown line event kind {kind!r}")
