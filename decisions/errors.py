"""Named refusals of the credit case and of the decisions service.

Each is a :class:`DecisionError` with a stable ``code`` (the ``code`` of the error body
the API answers) and, where it helps a client, structured ``details``. They know nothing
of HTTP: :mod:`api.errors` maps each class to its status in the one table of the service,
as it does the lending, store and access errors.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DecisionError",
    "UnknownDecision",
    "InvalidCursor",
    "InvalidFilter",
    "ModelVersionUnavailable",
    "PolicyVersionUnavailable",
    "ReasonRequired",
    "InvalidReason",
    "ReasonTooLong",
    "LimitOutOfRange",
    "LimitRequired",
    "InvalidAction",
    "InvalidDecisionRequest",
    "DecisionAlreadyDecided",
    "DecisionChanged",
    "NoProduct",
]


class DecisionError(Exception):
    """Base class of every refusal by the credit case or the decisions service.

    Parameters
    ----------
    message : a sentence naming what was refused and why.
    details : optional structured data (JSON-serialisable): the decision's id and
        version, the policy's bounds, or the field at fault (``[{"path": ..., ...}]``).
    """

    code: str = "decision_error"

    def __init__(self, message: str, details: Any = None) -> None:
        message, details = _without_unshown_ids(message, details)
        super().__init__(message)
        self.details = details


def _without_unshown_ids(message: str, details: Any) -> tuple[str, Any]:
    """The message and details with every id (a ``*_id`` entry of ``details``) that may
    not be quoted back (:func:`features.records.shown_id`: not well formed, or shaped
    like a secret) replaced by "the given id", in the details and where the message
    quotes it."""
    if not isinstance(details, dict):
        return message, details
    # Imported here: the credit case (decisions.case) stays plain code that loads no
    # pandas, which the record contract's module does.
    from features.records import shown_id

    cleaned = dict(details)
    for name, value in details.items():
        if name.endswith("_id") and isinstance(value, str) and shown_id(value) is None:
            cleaned[name] = None
            if value:
                message = message.replace(repr(value), "with the given id").replace(
                    value, "the given id")
    return message, cleaned


class UnknownDecision(DecisionError):
    """No credit decision with that id is stored."""

    code = "unknown_decision"


class InvalidCursor(DecisionError):
    """A list's cursor is not one the list gave."""

    code = "invalid_cursor"


class InvalidFilter(DecisionError):
    """A list filter is not one the list knows (an unknown status, a page too large)."""

    code = "invalid_filter"


class ModelVersionUnavailable(DecisionError):
    """The model version a stored decision was scored with cannot be loaded now."""

    code = "model_version_unavailable"


class PolicyVersionUnavailable(DecisionError):
    """The credit policy version a stored decision was made under is not installed."""

    code = "policy_version_unavailable"


class ReasonRequired(DecisionError):
    """An officer action came without a written reason."""

    code = "reason_required"


class InvalidReason(DecisionError):
    """A written reason holds a control character other than a line break or a tab."""

    code = "invalid_reason"


class ReasonTooLong(DecisionError):
    """A written reason is longer than the audit trail keeps."""

    code = "reason_too_long"


class LimitOutOfRange(DecisionError):
    """A limit is outside the policy's floor and cap."""

    code = "limit_out_of_range"


class LimitRequired(DecisionError):
    """Changing a limit needs the new limit."""

    code = "limit_required"


class InvalidAction(DecisionError):
    """An officer action that is not approve, decline or change_limit."""

    code = "invalid_action"


class InvalidDecisionRequest(DecisionError):
    """An officer request whose parts do not go together (a decline with a limit)."""

    code = "invalid_request"


class DecisionAlreadyDecided(DecisionError):
    """The case was approved or declined already (by the policy or an officer)."""

    code = "decision_already_decided"


class DecisionChanged(DecisionError):
    """The case changed since the version the officer saw."""

    code = "decision_changed"


class NoProduct(DecisionError):
    """The case offers no product to open a line with, so it cannot be approved."""

    code = "no_product"
