"""Named refusals of the persistence services (on top of :mod:`lending.errors`).

Each is a :class:`~lending.errors.LendingError` with a stable ``code``, so the HTTP layer
maps them in the same single place as the rule errors.
"""

from __future__ import annotations

from lending.errors import LendingError

__all__ = ["UnknownLine", "LineAlreadyExists", "IdempotencyKeyReused", "DecisionNotApproved",
           "ConcurrentUpdate"]


class UnknownLine(LendingError):
    """No credit line with that id is stored."""

    code = "unknown_line"


class LineAlreadyExists(LendingError):
    """A credit line with that id is already stored."""

    code = "line_already_exists"


class IdempotencyKeyReused(LendingError):
    """An idempotency key already served a request with a different body."""

    code = "idempotency_key_reused"


class DecisionNotApproved(LendingError):
    """A line can only be opened from an approved credit decision."""

    code = "decision_not_approved"


class ConcurrentUpdate(LendingError):
    """Another transaction changed the line at the same time and the retry did not help."""

    code = "concurrent_update"
