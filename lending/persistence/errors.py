"""Named refusals of the persistence services (on top of :mod:`lending.errors`).

Each is a :class:`~lending.errors.LendingError` with a stable ``code``, so the HTTP layer
maps them in the same single place as the rule errors. :class:`IdempotencyKeyReused` is
the store's (:mod:`store.idempotency`, shared with the decisions), named here too.
"""

from __future__ import annotations

from lending.errors import LendingError
from store.idempotency import IdempotencyKeyReused

__all__ = ["UnknownLine", "LineAlreadyExists", "IdempotencyKeyReused", "DecisionNotApproved"]


class UnknownLine(LendingError):
    """No credit line with that id is stored."""

    code = "unknown_line"


class LineAlreadyExists(LendingError):
    """A credit line with that id is already stored."""

    code = "line_already_exists"


class DecisionNotApproved(LendingError):
    """A line can only be opened from an approved credit decision."""

    code = "decision_not_approved"
