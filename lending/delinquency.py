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
    """

    grace_days: int = 3
    penalty_daily_rate: Decimal = Decimal("0.0005")
    freeze_after_days: int = 3
    write_off_after_days: int = 180

    def __post_init__(self) -> None:
        for name in ("grace_days", "freeze_after_days", "write_off_after_days"):
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


DelinquencyEvent = BucketChanged | LineFreezeStarted | LineFreezeLifted | LineWrittenOff
