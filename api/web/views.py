"""What the officer pages show: small frozen view models, filled from the services.

Templates read only these classes, never database rows or service results, so a page
cannot leak a column it was not meant to show (a password hash, a session token) and the
templates stay simple. :mod:`api.web.backend` builds them from the decisions, records and
lending services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

__all__ = [
    "QueueItem",
    "DecisionRow",
    "Contribution",
    "ReasonLine",
    "PrincipalReasonLine",
    "ActionLine",
    "MonthFigures",
    "SellerHistoryView",
    "DrawLine",
    "CreditHistoryView",
    "CaseView",
]


@dataclass(frozen=True)
class QueueItem:
    """A referred case waiting for an officer."""

    decision_id: str
    seller_id: str
    grade: str
    points: Decimal
    probability_of_default: Decimal
    proposed_limit: Decimal
    currency: str
    created_at: datetime
    days_waiting: int


@dataclass(frozen=True)
class DecisionRow:
    """One line of the past-decisions list."""

    decision_id: str
    seller_id: str
    outcome: str
    status: str
    grade: str
    points: Decimal
    limit: Decimal
    currency: str
    created_at: datetime


@dataclass(frozen=True)
class Contribution:
    """A bar of the waterfall: a reason family's effect on the score, in points."""

    label: str
    points: float


@dataclass(frozen=True)
class ReasonLine:
    """A reason in plain language (``code`` kept for the officer's reference).

    ``text`` is English; ``text_zh`` the same in Chinese, when the reason has it (a
    policy reason stored before policy messages were bilingual has none).
    """

    code: str
    text: str
    points: float | None = None
    text_zh: str = ""


@dataclass(frozen=True)
class PrincipalReasonLine:
    """A reason the applicant is told, in English and Chinese.

    ``source`` is ``"policy"`` (a rule of the credit policy) or ``"model"`` (a factor of
    the score); the decisions service puts the policy's first and keeps at most four
    (:func:`decisions.case.principal_reasons`).
    """

    source: str
    code: str
    text_en: str
    text_zh: str


@dataclass(frozen=True)
class ActionLine:
    """One audited officer action: who, when, what, before and after, why."""

    actor: str
    at: datetime
    action: str
    before: str
    after: str
    reason: str


@dataclass(frozen=True)
class MonthFigures:
    """A month of the seller's trade."""

    month: str
    gmv: Decimal
    orders: int
    refund_rate: float | None


@dataclass(frozen=True)
class SellerHistoryView:
    """The seller's trade history as of the decision."""

    months: tuple[MonthFigures, ...]
    top_buyer_shares: tuple[tuple[str, float], ...]
    buyer_count: int | None
    #: Herfindahl-Hirschman index of the buyers' shares (0 to 1; 1: a single buyer).
    buyer_hhi: float | None
    currency: str


@dataclass(frozen=True)
class InstalmentLine:
    """One instalment of a draw's schedule as of the page's date.

    ``unpaid`` is everything still owed on it (penalty included); ``state`` is ``paid``,
    ``past due`` (its due date has passed with something unpaid), ``due`` (due today) or
    ``upcoming``.
    """

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    total: Decimal
    unpaid: Decimal
    state: str


@dataclass(frozen=True)
class DrawLine:
    """A draw on the seller's line, with its schedule."""

    draw_id: str
    drawn_on: date
    amount: Decimal
    outstanding: Decimal
    days_past_due: int
    status: str
    instalments: tuple[InstalmentLine, ...] = ()


@dataclass(frozen=True)
class CreditHistoryView:
    """The seller's credit line and its draws (when the seller has a line)."""

    line_id: str
    status: str
    limit: Decimal
    available: Decimal
    outstanding: Decimal
    days_past_due: int
    bucket: str
    currency: str
    as_of: date
    draws: tuple[DrawLine, ...]


@dataclass(frozen=True)
class CaseView:
    """Everything the case page shows about one decision.

    ``limit`` is the case's limit now (after officer actions), ``proposed_limit`` what
    the policy proposed; ``version`` is passed back by the action forms so that an
    action on a page that is out of date is refused.
    """

    decision_id: str
    seller_id: str
    seller_kind: str | None
    outcome: str
    status: str
    grade: str
    points: Decimal
    probability_of_default: Decimal
    limit: Decimal
    proposed_limit: Decimal
    currency: str
    terms: tuple[str, ...]
    reasons: tuple[ReasonLine, ...]
    positive_factors: tuple[ReasonLine, ...]
    policy_reasons: tuple[ReasonLine, ...]
    baseline_points: float | None
    contributions: tuple[Contribution, ...]
    model_name: str
    model_version: str
    policy_version: str
    created_at: datetime
    features_as_of: datetime | None
    min_limit: Decimal | None
    max_limit: Decimal | None
    version: int
    decided_by: str | None = None
    decided_at: datetime | None = None
    actions: tuple[ActionLine, ...] = ()
    history: SellerHistoryView | None = None
    credit: CreditHistoryView | None = None
    #: A referred case: an officer may approve or decline it.
    can_decide: bool = False
    #: Not declined: an officer may change the (proposed or granted) limit.
    can_change_limit: bool = False
    #: What the applicant is told: the policy's rules first, then the model's reasons.
    principal_reasons: tuple[PrincipalReasonLine, ...] = ()
