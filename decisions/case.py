"""The credit case: what the policy decided, what officers may do with it, as plain rules.

A :class:`CreditCase` is where one credit decision stands. The policy opens it
(:meth:`CreditCase.opened`): an approval or a decline is decided at once, by the client
that asked; a referral waits for an officer. Officers act on it (:meth:`CreditCase.act`):

* **approve** a referred case, with the limit it proposes or another one within the
  policy's floor and cap; a line opens (:class:`OpenLine`), named after the decision;
* **decline** a referred case; its limit becomes zero;
* **change the limit** of a case not declined: a referral's limit is what an approval
  would grant; an approved case's line gets the new limit (:class:`ChangeLineLimit`).

Every action needs a written reason (:func:`check_reason`), names who acts, may name the
case version the officer saw (a case changed since is refused) and, once accepted, moves
the case to its next version. What is refused raises a named
:class:`~decisions.errors.DecisionError` (or a lending error for an amount that is not
one); nothing here reads a database, a model or a request. Each command returns the case
after it and what happened (:class:`OfficerActed`), which the decisions service stores
in one transaction (:func:`decisions.service.act_on_decision`).

Who may do what: asking for a decision needs ``decisions:create``; every officer action
needs :data:`REVIEW_PERMISSION`; which actions a case still allows depends only on where
it stands (:func:`allowed_actions`).

What the applicant is told (:func:`principal_reasons`): the policy's own rules that referred
or declined the application first, then the model's reasons, at most
:data:`MAX_PRINCIPAL_REASONS`, each in English and Chinese.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, cast

from decisions.errors import (
    DecisionAlreadyDecided,
    DecisionChanged,
    InvalidAction,
    InvalidDecisionRequest,
    InvalidReason,
    LimitOutOfRange,
    LimitRequired,
    NoProduct,
    ReasonRequired,
    ReasonTooLong,
)
from lending.errors import CurrencyMismatch, InvalidIdentifier
from lending.money import ZERO, AmountInput, parse_amount, quantize
from lending.policy import CreditPolicy, Outcome, PolicyReason

__all__ = [
    "CaseStatus",
    "OfficerActionName",
    "STATUSES",
    "OFFICER_ACTIONS",
    "STATUS_OF_OUTCOME",
    "REVIEW_PERMISSION",
    "ACTOR_LENGTH",
    "REASON_LENGTH",
    "allowed_actions",
    "line_id_for",
    "check_reason",
    "check_actor",
    "check_limit",
    "OfficerRequest",
    "CaseStanding",
    "OpenLine",
    "ChangeLineLimit",
    "OfficerActed",
    "CreditCase",
    "MAX_PRINCIPAL_REASONS",
    "SCORE_POLICY_CODES",
    "POLICY_REASON_FEATURES",
    "PrincipalReason",
    "principal_reasons",
]

CaseStatus = Literal["approved", "referred", "declined"]
OfficerActionName = Literal["approve", "decline", "change_limit"]

#: Where a case can stand.
STATUSES: tuple[CaseStatus, ...] = ("approved", "referred", "declined")
#: What an officer can do on a case.
OFFICER_ACTIONS: tuple[OfficerActionName, ...] = ("approve", "decline", "change_limit")
#: Where the policy's outcome leaves a new case.
STATUS_OF_OUTCOME: dict[str, CaseStatus] = {"approve": "approved", "refer": "referred",
                                            "decline": "declined"}
#: The permission every officer action needs (:mod:`access.permissions`).
REVIEW_PERMISSION = "cases:review"
#: Longest actor name (``user:<name>`` or ``key:<public id>``).
ACTOR_LENGTH = 160
#: Longest written reason of an officer action, in characters.
REASON_LENGTH = 2000

_ALLOWED: dict[CaseStatus, frozenset[OfficerActionName]] = {
    "referred": frozenset({"approve", "decline", "change_limit"}),
    # An approved case keeps its line: its limit may still change.
    "approved": frozenset({"change_limit"}),
    "declined": frozenset(),
}


def allowed_actions(status: CaseStatus) -> frozenset[OfficerActionName]:
    """The officer actions a case standing at ``status`` allows.

    A referred case may be approved, declined or given another limit; an approved one
    only another limit (its line's); a declined one nothing.
    """
    return _ALLOWED[status]


def line_id_for(decision_id: str) -> str:
    """The id of the line a decision opens (``DEC-<token>`` opens ``L-<token>``), whether
    the policy approved it or an officer did."""
    return f"L-{decision_id.removeprefix('DEC-')}"


def check_reason(reason: str) -> str:
    """An officer's written reason, stripped of surrounding blanks.

    Raises
    ------
    ReasonRequired
        The reason is blank (or not text).
    InvalidReason
        It holds a control character other than a line break or a tab.
    ReasonTooLong
        It is longer than :data:`REASON_LENGTH` characters.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired("an officer action needs a written reason",
                             [{"path": "body.reason", "message": "must not be blank"}])
    text = reason.strip()
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\r\t" for ch in text):
        # PostgreSQL cannot store a NUL, a lone surrogate is not text, and no control
        # character belongs in an audit trail people read.
        raise InvalidReason("the reason may contain line breaks and tabs but no other "
                            "control characters",
                            [{"path": "body.reason", "message": "control character"}])
    if len(text) > REASON_LENGTH:
        raise ReasonTooLong(f"the reason must be at most {REASON_LENGTH} characters; got "
                            f"{len(text)}", [{"path": "body.reason", "message": "too long"}])
    return text


def check_actor(actor: str) -> str:
    """Who acts or asks (``Principal.actor``), as given.

    Raises
    ------
    InvalidIdentifier
        Not a non-empty string of at most :data:`ACTOR_LENGTH` characters.
    """
    if not isinstance(actor, str) or not actor.strip() or len(actor) > ACTOR_LENGTH:
        raise InvalidIdentifier(f"actor must be a non-empty string of at most {ACTOR_LENGTH} "
                                f"characters; got {actor!r}")
    return actor


def check_limit(limit: AmountInput, policy: CreditPolicy) -> Decimal:
    """A limit within the policy's floor and cap, exact to its currency's minor unit.

    Raises
    ------
    InvalidAmount
        Not a positive amount exact to the minor unit.
    LimitOutOfRange
        Below the policy's floor or above its cap.
    """
    amount = parse_amount(limit, policy.currency, what="limit")
    floor, cap = policy.limit.floor, policy.limit.cap
    if not floor <= amount <= cap:
        raise LimitOutOfRange(f"the limit must be between {floor} and {cap} "
                              f"{policy.currency} (policy {policy.version}); got {amount}",
                              {"floor": str(floor), "cap": str(cap), "limit": str(amount)})
    return amount


@dataclass(frozen=True)
class OfficerRequest:
    """An officer's action as asked for, checked before the case is read.

    Build it with :meth:`checked`. ``reason`` is the stripped written reason; ``limit``
    the limit asked for (``None``: an approval grants the case's own limit).
    """

    action: OfficerActionName
    reason: str
    actor: str
    limit: Decimal | None = None

    @classmethod
    def checked(cls, action: str, *, reason: str, actor: str, policy: CreditPolicy,
                limit: AmountInput | None = None) -> OfficerRequest:
        """Check what the request says on its own, in the order a client reads refusals.

        Raises
        ------
        InvalidAction
            ``action`` is not one of :data:`OFFICER_ACTIONS`.
        ReasonRequired, InvalidReason, ReasonTooLong
            As :func:`check_reason`.
        InvalidIdentifier
            As :func:`check_actor`.
        LimitRequired
            A limit change without a limit.
        InvalidDecisionRequest
            A decline with a limit.
        InvalidAmount, LimitOutOfRange
            As :func:`check_limit`.
        """
        if action not in OFFICER_ACTIONS:
            raise InvalidAction(f"action must be one of {', '.join(OFFICER_ACTIONS)}; got "
                                f"{action!r}",
                                [{"path": "body.action", "message": "unknown action"}])
        text = check_reason(reason)
        check_actor(actor)
        if action == "change_limit" and limit is None:
            raise LimitRequired("changing the limit needs the new limit",
                                [{"path": "body.limit", "message": "required"}])
        if action == "decline" and limit is not None:
            raise InvalidDecisionRequest(
                "a decline takes no limit",
                [{"path": "body.limit", "message": "not allowed with decline"}])
        amount = None if limit is None else check_limit(limit, policy)
        return cls(cast(OfficerActionName, action), text, actor, amount)


@dataclass(frozen=True)
class CaseStanding:
    """Where a case stands: what the audit trail keeps before and after each action."""

    status: CaseStatus
    limit: Decimal
    line_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """As stored in the audit trail (the limit as a decimal string)."""
        return {"status": self.status, "limit": str(self.limit), "line_id": self.line_id}


@dataclass(frozen=True)
class OpenLine:
    """An approval's effect: open the line ``line_id`` with ``limit`` and ``product``."""

    line_id: str
    limit: Decimal
    product: str


@dataclass(frozen=True)
class ChangeLineLimit:
    """A limit change's effect on an opened line, as the line operation ``change_id``."""

    line_id: str
    new_limit: Decimal
    change_id: str


@dataclass(frozen=True)
class OfficerActed:
    """What an accepted officer action did: who, when, why, the case before and after,
    and what it asks of the case's credit line (``None``: nothing)."""

    decision_id: str
    action: OfficerActionName
    actor: str
    reason: str
    at: datetime
    before: CaseStanding
    after: CaseStanding
    version: int
    line_effect: OpenLine | ChangeLineLimit | None = None


@dataclass(frozen=True)
class CreditCase:
    """A credit case as it stands: its status, limit and line, who closed it and when,
    and its version (incremented by every officer action).

    Attributes
    ----------
    decision_id : the decision the case belongs to.
    currency : the currency of its limit (the policy's that decided it).
    product : the product an approval opens a line of (``None``: none is configured for
        the seller's kind, so the case cannot be approved).
    status : ``referred``, ``approved`` or ``declined``.
    limit : the proposal of a referral, the granted limit of an approval, zero once
        declined (exact, in the minor unit of ``currency``).
    line_id : the opened line (approved cases only).
    decided_by, decided_at : who closed the case and when (aware UTC); ``None`` while it
        is referred.
    version : 1 as the policy left it; one more for every officer action.
    """

    decision_id: str
    currency: str
    product: str | None
    status: CaseStatus
    limit: Decimal
    line_id: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    version: int = 1

    @classmethod
    def opened(cls, decision_id: str, outcome: Outcome, *, limit: Decimal, currency: str,
               product: str | None, requested_by: str, at: datetime) -> CreditCase:
        """The case as the policy's ``outcome`` leaves it: an approval and a decline are
        decided by the client that asked (``requested_by``), at once; an approval has
        its line (:func:`line_id_for`); a referral waits for an officer."""
        status = STATUS_OF_OUTCOME[outcome]
        referred = status == "referred"
        return cls(decision_id=decision_id, currency=currency, product=product,
                   status=status, limit=limit,
                   line_id=line_id_for(decision_id) if status == "approved" else None,
                   decided_by=None if referred else requested_by,
                   decided_at=None if referred else at)

    @property
    def standing(self) -> CaseStanding:
        """Status, limit and line, as the audit trail records them."""
        return CaseStanding(self.status, self.limit, self.line_id)

    def allows(self, action: OfficerActionName) -> bool:
        """Whether the case, as it stands, allows ``action`` (:func:`allowed_actions`)."""
        return action in allowed_actions(self.status)

    # ------------------------------------------------------------------ commands

    def act(self, request: OfficerRequest, *, at: datetime, policy: CreditPolicy,
            expected_version: int | None = None) -> tuple[CreditCase, OfficerActed]:
        """Apply an officer's checked request; the case after it and what happened.

        Parameters
        ----------
        request : the request (:meth:`OfficerRequest.checked` with ``policy``).
        at : when (aware UTC); an approval or decline is decided at this time.
        policy : the policy in force: a granted limit must be within its floor and cap,
            and it must decide in the case's currency.
        expected_version : the version the officer saw; another one is refused.

        Raises
        ------
        DecisionChanged
            ``expected_version`` is not the case's version.
        CurrencyMismatch
            The policy decides in another currency than the case's.
        DecisionAlreadyDecided
            The case no longer allows the action (approved or declined already).
        NoProduct
            An approval of a case that offers no product.
        LimitOutOfRange
            An approval granting the case's own limit, which the policy no longer allows.
        """
        if expected_version is not None and self.version != expected_version:
            raise DecisionChanged(
                f"decision {self.decision_id} changed since version {expected_version} "
                f"(now version {self.version}, {self.status}); reload it",
                {"decision_id": self.decision_id, "version": self.version,
                 "status": self.status})
        if self.currency != policy.currency:
            raise CurrencyMismatch(f"decision {self.decision_id} is in {self.currency}; "
                                   f"policy {policy.version} in {policy.currency}")
        if not self.allows(request.action):
            raise self._already_decided(request.action)
        effect: OpenLine | ChangeLineLimit | None = None
        if request.action == "approve":
            if self.product is None:
                raise NoProduct(f"decision {self.decision_id} offers no product (none is "
                                "configured for the seller's kind); it cannot be approved",
                                {"decision_id": self.decision_id})
            granted = request.limit if request.limit is not None else self.limit
            check_limit(granted, policy)
            effect = OpenLine(line_id_for(self.decision_id), granted, self.product)
            after = replace(self, status="approved", limit=granted, line_id=effect.line_id,
                            decided_by=request.actor, decided_at=at)
        elif request.action == "decline":
            after = replace(self, status="declined", limit=quantize(ZERO, self.currency),
                            decided_by=request.actor, decided_at=at)
        else:
            assert request.limit is not None  # OfficerRequest.checked requires it
            if self.line_id is not None:
                effect = ChangeLineLimit(self.line_id, request.limit,
                                         f"{self.decision_id}/v{self.version + 1}")
            after = replace(self, limit=request.limit)
        after = replace(after, version=self.version + 1)
        return after, OfficerActed(
            decision_id=self.decision_id, action=request.action, actor=request.actor,
            reason=request.reason, at=at, before=self.standing, after=after.standing,
            version=after.version, line_effect=effect)

    def approve(self, *, reason: str, actor: str, at: datetime, policy: CreditPolicy,
                limit: AmountInput | None = None, expected_version: int | None = None
                ) -> tuple[CreditCase, OfficerActed]:
        """An officer approves a referred case (``limit``: by default its own).
        See :meth:`act`."""
        request = OfficerRequest.checked("approve", reason=reason, actor=actor,
                                         policy=policy, limit=limit)
        return self.act(request, at=at, policy=policy, expected_version=expected_version)

    def decline(self, *, reason: str, actor: str, at: datetime, policy: CreditPolicy,
                expected_version: int | None = None) -> tuple[CreditCase, OfficerActed]:
        """An officer declines a referred case. See :meth:`act`."""
        request = OfficerRequest.checked("decline", reason=reason, actor=actor,
                                         policy=policy)
        return self.act(request, at=at, policy=policy, expected_version=expected_version)

    def change_limit(self, new_limit: AmountInput, *, reason: str, actor: str, at: datetime,
                     policy: CreditPolicy, expected_version: int | None = None
                     ) -> tuple[CreditCase, OfficerActed]:
        """An officer gives a case not declined another limit. See :meth:`act`."""
        request = OfficerRequest.checked("change_limit", reason=reason, actor=actor,
                                         policy=policy, limit=new_limit)
        return self.act(request, at=at, policy=policy, expected_version=expected_version)

    def _already_decided(self, action: str) -> DecisionAlreadyDecided:
        who = self.decided_by or "the policy"
        when = f" at {self.decided_at.isoformat()}" if self.decided_at else ""
        return DecisionAlreadyDecided(
            f"decision {self.decision_id} is already {self.status} by {who}{when}; it cannot "
            f"be given '{action}'",
            {"decision_id": self.decision_id, "status": self.status,
             "decided_by": self.decided_by, "version": self.version})


# ------------------------------------------------------------------ principal reasons

#: Most principal reasons an applicant is given (policy and model together).
MAX_PRINCIPAL_REASONS = 4
#: Policy rules that only restate the score (its grade, its PD against a threshold): the
#: model's reasons say *why* the score is what it is, so they stand for these rules and
#: no place is spent on "grade E is set to decline". They stay in the decision's
#: ``policy_reasons``.
SCORE_POLICY_CODES: frozenset[str] = frozenset({
    "GRADE_REFER", "GRADE_DECLINE", "PD_ABOVE_REFER_THRESHOLD", "PD_ABOVE_DECLINE_THRESHOLD"})
#: Features a policy rule already speaks of: the model's statement of the same figure is
#: left out when the rule is given.
POLICY_REASON_FEATURES: dict[str, frozenset[str]] = {
    "GMV_BELOW_MINIMUM": frozenset({"gmv_365d"}),
    "CASH_CYCLE_UNKNOWN": frozenset({"median_payout_delay_days_365d"}),
    "CASH_CYCLE_LONG": frozenset({"median_payout_delay_days_365d"}),
}


class ModelReasonLike(Protocol):
    """What :func:`principal_reasons` reads of a model reason (``scoring``'s satisfies it)."""

    @property
    def code(self) -> str: ...

    @property
    def text_en(self) -> str: ...

    @property
    def text_zh(self) -> str: ...

    @property
    def feature(self) -> str: ...


@dataclass(frozen=True)
class PrincipalReason:
    """One reason the applicant is told, in English and Chinese.

    Attributes
    ----------
    source : ``"policy"`` (a rule of the credit policy) or ``"model"`` (a factor of the
        score, against the typical approved applicant at the cut-off).
    code : the policy rule's code (``GMV_BELOW_MINIMUM``) or the model reason's family
        code (``R-QUALITY``).
    text_en, text_zh : the sentence.
    feature : the model reason's feature (``None`` for a policy rule).
    """

    source: Literal["policy", "model"]
    code: str
    text_en: str
    text_zh: str
    feature: str | None = None


def _sentence(text: str, stop: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "。")) else text + stop


def principal_reasons(policy_reasons: tuple[PolicyReason, ...] | list[PolicyReason],
                      model_reasons: tuple[ModelReasonLike, ...] | list[ModelReasonLike],
                      *, limit: int = MAX_PRINCIPAL_REASONS) -> tuple[PrincipalReason, ...]:
    """The reasons an applicant is told: policy rules first, then the model's, at most
    ``limit``.

    Policy rules that referred or declined the application come first, in the policy's
    order, except those that only restate the score (:data:`SCORE_POLICY_CODES`) and
    information-only ones (a capped limit). The model's adverse reasons follow, strongest
    first, without a figure a policy rule already named (:data:`POLICY_REASON_FEATURES`).
    A policy reason stored before policy messages were bilingual has its English message
    in both languages.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0; got {limit}")
    told: list[PrincipalReason] = []
    covered: set[str] = set()
    for rule in policy_reasons:
        if rule.effect == "info" or rule.code in SCORE_POLICY_CODES:
            continue
        english = _sentence(rule.message, ".")
        told.append(PrincipalReason("policy", rule.code, english,
                                    _sentence(rule.message_zh, "。") or english))
        covered |= POLICY_REASON_FEATURES.get(rule.code, frozenset())
    for reason in model_reasons:
        feature = getattr(reason, "feature", "") or None
        if feature is not None and feature in covered:
            continue
        told.append(PrincipalReason("model", reason.code, reason.text_en, reason.text_zh,
                                    feature))
    return tuple(told[:limit])
