"""Allocation of a payment over the amounts due (the repayment waterfall).

By default a payment clears the oldest instalment completely (penalty, then fee, then
interest, then principal) before it touches the next one (ties between instalments due
the same day broken by draw id and instalment number, so allocation is deterministic).
Paying instalment by instalment means a shortfall always sits in the newest instalment,
never in an old one: a borrower who pays each instalment as it falls due is never left
in arrears by a fen short weeks ago. ``AllocationPolicy(by="component")`` instead pays
each component across all due dates, oldest first, before the next component (it clears
the costs of being late, across every draw, before any principal). The component order
is configurable.
Whatever is left once everything due is paid is *unapplied*: the caller keeps it as a
credit balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Literal, get_args

from lending.errors import InvalidAmount
from lending.money import ZERO

__all__ = [
    "Component",
    "COMPONENTS",
    "DEFAULT_ORDER",
    "DueAmount",
    "AllocationPolicy",
    "Allocation",
    "allocate_payment",
]

Component = Literal["penalty", "fee", "interest", "principal"]
COMPONENTS: tuple[Component, ...] = get_args(Component)
DEFAULT_ORDER: tuple[Component, ...] = ("penalty", "fee", "interest", "principal")


@dataclass(frozen=True)
class DueAmount:
    """An amount of one component of one instalment that is due (or, in an
    :class:`Allocation`, the part of it that a payment covered)."""

    draw_id: str
    instalment: int
    due_date: date
    component: Component
    amount: Decimal


@dataclass(frozen=True)
class AllocationPolicy:
    """How a payment is spread over what is due.

    Parameters
    ----------
    order
        The four components in the order they are paid (default penalty, fee, interest,
        principal).
    by
        ``"instalment"`` (default): each due date completely, oldest first, components
        in ``order`` within it; ``"component"``: each component across all due dates,
        oldest first, before the next component.
    """

    order: tuple[Component, ...] = DEFAULT_ORDER
    by: Literal["component", "instalment"] = "instalment"

    def __post_init__(self) -> None:
        if sorted(self.order) != sorted(COMPONENTS):
            raise InvalidAmount(f"allocation order must name each of {COMPONENTS} once; "
                                f"got {self.order}")
        if self.by not in ("component", "instalment"):
            raise InvalidAmount(f"allocation must be by 'component' or 'instalment'; "
                                f"got {self.by!r}")

    def sort_key(self, due: DueAmount) -> tuple[object, ...]:
        """Position of ``due`` in the waterfall."""
        rank = self.order.index(due.component)
        if self.by == "component":
            return (rank, due.due_date, due.draw_id, due.instalment)
        return (due.due_date, due.draw_id, due.instalment, rank)


@dataclass(frozen=True)
class Allocation:
    """The result of allocating a payment: what each due amount received, and the rest."""

    paid: tuple[DueAmount, ...]
    unapplied: Decimal

    def total(self, component: Component | None = None) -> Decimal:
        """Amount applied to ``component`` (or to everything when ``None``)."""
        return sum((p.amount for p in self.paid
                    if component is None or p.component == component), ZERO)


def allocate_payment(amount: Decimal, dues: Sequence[DueAmount],
                     policy: AllocationPolicy | None = None) -> Allocation:
    """Spread ``amount`` over ``dues`` in waterfall order.

    Parameters
    ----------
    amount
        The payment, non-negative and already quantized.
    dues
        Amounts currently due; zero amounts are ignored.
    policy
        Waterfall order (default: oldest instalment first; penalty, fee, interest, principal
        within it).

    Returns
    -------
    Allocation
        ``paid`` lists, in waterfall order, the part of each due amount that was paid;
        ``unapplied`` is what is left (to be kept as a credit balance).

    Raises
    ------
    InvalidAmount
        If ``amount`` or a due amount is negative.
    """
    if amount < 0:
        raise InvalidAmount(f"payment must not be negative; got {amount}")
    policy = policy or AllocationPolicy()
    remaining = amount
    paid: list[DueAmount] = []
    for due in sorted(dues, key=policy.sort_key):
        if due.amount < 0:
            raise InvalidAmount(f"due amount must not be negative; got {due}")
        if remaining == 0:
            break
        if due.amount == 0:
            continue
        part = min(remaining, due.amount)
        paid.append(replace(due, amount=part))
        remaining -= part
    return Allocation(tuple(paid), remaining)
