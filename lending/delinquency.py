"""Days past due, delinquency buckets, penalty interest, freezing and write-off.

* **Days past due** of an instalment on date ``d``: ``d - due_date`` in days once the
  due date has passed with principal, interest or fee unpaid (an instalment due today is
  not yet past due). A draw's, and a line's, days past due are those of its oldest such
  instalment. Unpaid penalty alone does not make an instalment past due.
* **Buckets**: ``current`` (0), ``1-30``, ``31-60``, ``61-90``, ``90+`` (default).
* **Penalty interest** accrues each day on an instalment's unpaid principal at
  ``penalty_daily_rate`` once that instalment is more than ``grace_days`` past due (with
  the default 3 days: from the 4th day past due on; paying within the grace period costs
  no penalty). It accrues exactly and is posted rounded half up, so the posted total
  never drifts from the exact one by more than half a fen.
* **Freeze**: a line refuses new draws while it is more than ``freeze_after_days`` past
  due; it thaws when it is cured.
* **Arrears tolerance**: an instalment whose unpaid principal, interest and fee add up to
  at most ``arrears_tolerance`` (default 1.00 in the line's currency) does not count as
  past due (it is still owed, and paid by the next payment): a fen short is not arrears.
* **Non-accrual**: from ``non_accrual_after_days`` (90) days past due the line is
  non-accrual: interest, fees and penalty still accrue to the receivables (the borrower
  owes them) but are credited to ``income_suspense`` instead of income, and recognised as
  income only when paid. Nothing booked before is reversed. The line returns to accrual
  once it is back below the threshold.
* **Interest after maturity** (``post_maturity_interest``): an interest-bearing draw's
  overdue principal earns its contractual rate for every day past due; the penalty
  accrues on overdue interest too (``penalty_on_overdue_interest``). Defaulting never
  costs less than paying.
* **Write-off**: when a line reaches ``write_off_after_days`` (180) days past due, every
  receivable of every draw, including principal not yet due, is written off and the line
  is closed.

Each change (bucket, freeze, thaw, write-off) is reported as an event with its date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from lending.errors import InvalidPolicy

__all__ = [
    "Bucket",
    "BUCKETS",
    "DelinquencyPolicy",
    "bucket_for",
    "days_past_due",
    "BucketChanged",
    "LineFreezeStarted",
    "LineFreezeLifted",
    "LineWrittenOff",
    "LineNonAccrualStarted",
    "LineAccrualResumed",
    "DelinquencyEvent",
]

Bucket = Literal["current", "1-30", "31-60", "61-90", "90+"]
BUCKETS: tuple[Bucket, ...] = ("current", "1-30", "31-60", "61-90", "90+")


def bucket_for(days_past_due: int) -> Bucket:
    """The delinquency bucket of a number of days past due (``90+`` is default).

    >>> [bucket_for(d) for d in (0, 1, 30, 31, 61, 91)]
    ['current', '1-30', '1-30', '31-60', '61-90', '90+']
    """
    if days_past_due < 0:
        raise InvalidPolicy(f"days past due cannot be negative; got {days_past_due}")
    if days_past_due == 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "90+"


def days_past_due(unpaid_due_dates: Iterable[date], as_of: date) -> int:
    """Days since the oldest due date before ``as_of`` that is still unpaid (0 if none)."""
    overdue = [due for due in unpaid_due_dates if due < as_of]
    return (as_of - min(overdue)).days if overdue else 0


@dataclass(frozen=True)
class DelinquencyPolicy:
    """Parameters of penalty, freeze and write-off.

    Parameters
    ----------
    grace_days
        Days past due without penalty (default 3).
    penalty_daily_rate
        Penalty interest per day on overdue principal (default 0.05 % a day).
    freeze_after_days
        The line refuses draws while more than this many days past due (default 3).
    write_off_after_days
        Days past due at which the line is written off (default 180).
    arrears_tolerance
        An instalment short by at most this much (principal, interest and fee) is not
        past due (default 1.00 in the line's currency).
    non_accrual_after_days
        Days past due from which income is no longer recognised (default 90).
    post_maturity_interest
        Whether overdue principal of an interest-bearing draw keeps earning its
        contractual rate (default yes).
    penalty_on_overdue_interest
        Whether the penalty accrues on overdue interest as well as principal (default yes).
    """

    grace_days: int = 3
    penalty_daily_rate: Decimal = Decimal("0.0005")
    freeze_after_days: int = 3
    write_off_after_days: int = 180
    arrears_tolerance: Decimal = Decimal("1.00")
    non_accrual_after_days: int = 90
    post_maturity_interest: bool = True
    penalty_on_overdue_interest: bool = True

    def __post_init__(self) -> None:
        tolerance = self.arrears_tolerance
        if not isinstance(tolerance, Decimal) or not tolerance.is_finite() or tolerance < 0:
            raise InvalidPolicy(f"arrears_tolerance must be a non-negative Decimal; got "
                                f"{tolerance!r}")
        for flag in ("post_maturity_interest", "penalty_on_overdue_interest"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidPolicy(f"{flag} must be a bool; got {getattr(self, flag)!r}")
        for name in ("grace_days", "freeze_after_days", "write_off_after_days",
                     "non_accrual_after_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidPolicy(f"{name} must be a non-negative int; got {value!r}")
        if self.write_off_after_days < 1:
            raise InvalidPolicy("write_off_after_days must be at least 1")
        rate = self.penalty_daily_rate
        if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate < 1:
            raise InvalidPolicy(f"penalty_daily_rate must be a Decimal in [0, 1); got {rate!r}")


@dataclass(frozen=True)
class BucketChanged:
    """The line moved from one delinquency bucket to another at the end of ``on``."""

    on: date
    from_bucket: Bucket
    to_bucket: Bucket
    days_past_due: int


@dataclass(frozen=True)
class LineFreezeStarted:
    """The line went past the freeze threshold and refuses new draws from ``on``."""

    on: date
    days_past_due: int


@dataclass(frozen=True)
class LineFreezeLifted:
    """The line came back within the freeze threshold on ``on``."""

    on: date


@dataclass(frozen=True)
class LineWrittenOff:
    """Every receivable of the line was written off on ``on`` and the line closed."""

    on: date
    days_past_due: int
    amount: Decimal


@dataclass(frozen=True)
class LineNonAccrualStarted:
    """From ``on`` the line's interest, fees and penalty are no longer income (suspense)."""

    on: date
    days_past_due: int


@dataclass(frozen=True)
class LineAccrualResumed:
    """The line came back below the non-accrual threshold on ``on``."""

    on: date


DelinquencyEvent = (BucketChanged | LineFreezeStarted | LineFreezeLifted | LineWrittenOff
                    | LineNonAccrualStarted | LineAccrualResumed)
