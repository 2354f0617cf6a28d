"""How a simulated seller buys and pays: pure rules on its hidden health and the shock.

A seller with latent health ``h`` (standard normal, higher is healthier; the generator's)
pays each instalment of each draw in one of these ways, drawn from the simulation's
random stream:

- **never**: from its default day on (the truth's, :func:`simulation.market.seller_fates`)
  a defaulter pays nothing more and draws nothing more;
- **early**: a one-payment interest-free draw repaid in full 1-15 days before its due
  date (a prepayment), with probability ``0.25 * sigmoid(h)``;
- **late**: paid ``1 + Exponential(mean)`` days after the due date, the mean 6 days for a
  healthy seller and up to 25 for a weak one, with probability ``sigmoid(-2.2 - 1.2 h)``,
  higher while the generator's demand shock hits the seller's industry (``+ 0.15`` for a
  weak seller); half of the late payers first pay half on the due date (**partly**);
- **on time**: otherwise, on the due date.

A late payment pays the instalment plus the penalty interest it accrued (at most, the
line's daily rate on the whole instalment), rounded up to the minor unit; what is over
is kept by the line as credit. Draws: each month an active shop draws with probability
0.6 (a factory 0.25) between 30 % and 70 % of what it has available, in whole hundreds;
a seller whose default day falls in the month or within :data:`DISTRESS_WINDOW` after it
draws that month, before its default day (distress shows as a last draw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Literal

import numpy as np

__all__ = ["PaymentAction", "instalment_payments", "draw_amount", "draws_this_month",
           "PENALTY_DAILY_RATE", "MIN_DRAW", "DISTRESS_WINDOW"]

#: The line's penalty interest per day on unpaid principal (``credit_line`` default).
PENALTY_DAILY_RATE = Decimal("0.0005")
#: A seller whose default day falls in the month or this long after it draws that month
#: (before its default day), whatever its usual rhythm: distress shows as a last draw.
DISTRESS_WINDOW = timedelta(days=30)
#: Smallest draw a seller makes.
MIN_DRAW = Decimal("500.00")
_CENT = Decimal("0.01")

PaymentKind = Literal["early", "on_time", "late", "partly"]


@dataclass(frozen=True)
class PaymentAction:
    """One payment a seller will make: on ``day``, ``amount``; ``prepay`` for an early
    repayment of a draw (its principal not yet due)."""

    day: date
    amount: Decimal
    kind: PaymentKind
    prepay: bool = False


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def late_probability(health: float, shocked: bool) -> float:
    """Probability that an instalment is paid late."""
    p = _sigmoid(-2.2 - 1.2 * health)
    if shocked:
        p += 0.15 * _sigmoid(-1.5 * health)
    return min(p, 0.95)


def instalment_payments(rng: np.random.Generator, *, health: float, due: date,
                        total: Decimal, single_interest_free: bool,
                        default_day: date | None, shocked: bool) -> list[PaymentAction]:
    """The payments of one instalment (none when the seller has defaulted by then).

    Parameters
    ----------
    rng : the simulation's random stream (consumed in a fixed order: deterministic).
    health : the seller's latent health.
    due : the instalment's due date; ``total`` what falls due on it.
    single_interest_free : the draw is one interest-free payment (may be repaid early).
    default_day : the day the seller stops paying (``None``: never).
    shocked : the demand shock hits the seller at the due date.
    """
    draws = rng.random(4)
    late_days = 1 + int(rng.exponential(6.0 + 19.0 * _sigmoid(-1.5 * health)))
    early_days = 1 + int(draws[3] * 15)
    actions: list[PaymentAction]
    if single_interest_free and draws[0] < 0.25 * _sigmoid(health):
        actions = [PaymentAction(due - timedelta(days=early_days), total, "early", prepay=True)]
    elif draws[1] < late_probability(health, shocked):
        late = due + timedelta(days=late_days)
        with_penalty = _with_penalty(total, late_days)
        if draws[2] < 0.5:
            half = (total / 2).quantize(_CENT, rounding=ROUND_DOWN)
            actions = [PaymentAction(due, half, "partly"),
                       PaymentAction(late, with_penalty - half, "partly")]
        else:
            actions = [PaymentAction(late, with_penalty, "late")]
    else:
        actions = [PaymentAction(due, total, "on_time")]
    if default_day is None:
        return actions
    return [action for action in actions if action.day < default_day]


def _with_penalty(total: Decimal, days: int) -> Decimal:
    return (total * (1 + PENALTY_DAILY_RATE * days)).quantize(_CENT, rounding=ROUND_CEILING)


def draws_this_month(rng: np.random.Generator, kind: str) -> bool:
    """Whether an active seller draws this month (shops most months, factories less)."""
    return bool(rng.random() < (0.6 if kind == "shop" else 0.25))


def draw_amount(rng: np.random.Generator, available: Decimal) -> Decimal | None:
    """How much a seller draws of what is available (``None``: too little to draw)."""
    share = Decimal(str(round(0.3 + 0.4 * float(rng.random()), 3)))
    amount = (available * share / 100).quantize(Decimal(1), rounding=ROUND_DOWN) * 100
    return amount if amount >= MIN_DRAW else None
