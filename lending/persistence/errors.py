"""Named refusals of the persistence services (on top of :mod:`lending.errors`).

Each is a :class:`~lending.errors.LendingError` with a stable ``code``, so the HTTP layer
maps them in the same single place as the rule errors. :class:`IdempotencyKeyReused` is
the store's (:mod:`store.idempotency`, shared with the decisions), named here too.
"""

from __future__ import annotations

from lending.errors import LendingError, NotTheBusinessDate, ValueDateOutsideWindow
from store.idempotency import IdempotencyKeyReused

__all__ = ["UnknownLine", "LineAlreadyExists", "IdempotencyKeyReused", "DecisionNotApproved",
           "NotTheBusinessDate", "ValueDateOutsideWindow", "DayNotClosable",
           "DayAlreadyClosed", "EndOfDayRunning"]


class UnknownLine(LendingError):
    """No credit line with that id is stored."""

    code = "unknown_line"


class LineAlreadyExists(LendingError):
    """A credit line with that id is already stored."""

    code = "line_already_exists"


class DecisionNotApproved(LendingError):
    """A line can only be opened from an approved credit decision."""

    code = "decision_not_approved"


class DayNotClosable(LendingError):
    """End of day cannot close this day: it is today or later on a real clock, or an
    earlier day is still open."""

    code = "day_not_closable"


class DayAlreadyClosed(LendingError):
    """The day was closed by an earlier end of day (closing it again changes nothing)."""

    code = "day_already_closed"


class EndOfDayRunning(LendingError):
    """Another process is running end of day on this store."""

    code = "end_of_day_running"
