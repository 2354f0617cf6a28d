"""Tables of credit decisions and of the officer actions taken on them.

``credit_decision`` holds one automated decision with everything needed to audit and
reproduce it: the feature values scored (JSON), the SHAP contributions in points, the
reasons in English and Chinese, the model and policy versions and the snapshot's as-of
time. Those columns never change after the insert (the migration makes the database
refuse updates of them and any delete). What an officer may change later, the
*current* ``status``, ``limit_minor``, ``line_id``, ``decided_by``/``decided_at`` and the
``version`` counter, is kept beside them; every such change is written as an
``officer_action`` row, which is append-only (no update, no delete).

JSON columns are compact canonical text (:func:`lending.persistence.codec.dumps`); money
is integer minor units (``*_minor``), times are timezone-aware UTC.

One family per stored entity, as in the FastAPI full-stack template: the fields a
decision's every shape shares are declared once, in the bases below, and inherited by the
tables, by the service's answers (:mod:`decisions.service`) and by the HTTP answers
(:mod:`api.routes.decisions`). What differs between them is declared where it differs:
money in minor units and JSON text here, ``Decimal`` and parsed reasons in the service.

* :class:`DecisionScoreBase`: what the model said (PD, points, grade);
* :class:`CreditDecisionBase`: a decision as made (the seller, the model and policy
  versions, the product offered, when);
* :class:`CaseBase`: where the case stands now (status, line, who closed it, version);
* :class:`OfficerActionBase`: one officer action (what, who, why, when).

``shadow_score`` (:class:`ShadowScore`) holds what a challenger model said of a decision
beside the champion that made it; it is stored, never acted on, and never changes.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from decisions.case import ACTOR_LENGTH, REASON_LENGTH
from lending.persistence.tables import BIG_ID

__all__ = ["DecisionScoreBase", "CreditDecisionBase", "CaseBase", "OfficerActionBase",
           "CreditDecisionRecord", "OfficerActionRecord", "ShadowScore", "AUDIT_COLUMNS",
           "SELLER_ID_LENGTH", "ACTOR_LENGTH", "REASON_LENGTH"]

#: Longest seller id the record contract accepts (as :data:`records.tables.ID_LENGTH`).
SELLER_ID_LENGTH = 128


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


class DecisionScoreBase(SQLModel):
    """What the model said of a seller: shared by a decision, its reproduction and every
    answer that shows them."""

    pd: float = Field(description="Calibrated probability of default.")
    points: float
    grade: str = Field(max_length=10)


class CreditDecisionBase(DecisionScoreBase):
    """The fields every shape of a credit decision shares (stored, answered, listed)."""

    seller_id: str = Field(max_length=SELLER_ID_LENGTH, index=True)
    currency: str = Field(max_length=3)
    product: str | None = Field(default=None, max_length=40)
    model_name: str = Field(max_length=100)
    model_version: str = Field(max_length=60)
    policy_version: str = Field(max_length=40)
    created_at: datetime = Field(sa_type=_timestamp(), index=True)


class CaseBase(SQLModel):
    """Where a credit case stands now (changed by officer actions only)."""

    status: str = Field(max_length=10, description="approved, referred or declined.")
    line_id: str | None = Field(default=None, foreign_key="credit_line.id", max_length=100)
    decided_by: str | None = Field(default=None, max_length=ACTOR_LENGTH)
    decided_at: datetime | None = Field(default=None, sa_type=_timestamp())
    #: Incremented by every officer action; lets a page refuse to act on a stale view.
    version: int = 1


class OfficerActionBase(SQLModel):
    """One officer action on a case: what, who, why and when."""

    action: str = Field(max_length=20)
    actor: str = Field(max_length=ACTOR_LENGTH)
    reason: str = Field(sa_type=sa.Text)
    acted_at: datetime = Field(sa_type=_timestamp())


class CreditDecisionRecord(CreditDecisionBase, CaseBase, table=True):
    """One credit decision: its immutable audit record and its current status.

    ``outcome`` is what the policy decided (``approve``, ``refer``, ``decline``) and
    ``proposed_limit_minor`` the limit it gave; ``status`` (``approved``, ``referred``,
    ``declined``) and ``limit_minor`` are where the case stands after any officer action.
    """

    __tablename__ = "credit_decision"
    # The officer queue reads referred cases by age; the list of past decisions by time.
    __table_args__ = (sa.Index("ix_credit_decision_status_created_at", "status", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    seller_kind: str = Field(max_length=20)
    outcome: str = Field(max_length=10)
    raw_score: float
    baseline_points: float
    proposed_limit_minor: int = Field(sa_type=sa.BigInteger)
    #: JSON: the product's terms (``null`` when declined).
    terms: str | None = Field(default=None, sa_type=sa.Text)
    #: JSON: the principal adverse reasons (at most four) as the scorer gave them.
    reasons: str = Field(sa_type=sa.Text)
    #: JSON: the factors that raised the score most.
    positive_factors: str = Field(sa_type=sa.Text)
    #: JSON: the policy rules that referred or declined (code, effect, message).
    policy_reasons: str = Field(sa_type=sa.Text)
    #: JSON: every feature value of the snapshot (what was scored).
    features: str = Field(sa_type=sa.Text)
    #: JSON: each model feature's SHAP contribution, in points (positive raised the score).
    contributions: str = Field(sa_type=sa.Text)
    #: JSON: points per reason family.
    family_points: str = Field(sa_type=sa.Text)
    snapshot_as_of: datetime = Field(sa_type=_timestamp())
    #: Who asked for the decision.
    actor: str = Field(max_length=ACTOR_LENGTH)
    # ---- the case as it stands (with CaseBase's fields; changed by officer actions only)
    limit_minor: int = Field(sa_type=sa.BigInteger)


#: Columns of ``credit_decision`` that the database refuses to update.
AUDIT_COLUMNS: tuple[str, ...] = (
    "id", "seller_id", "seller_kind", "outcome", "pd", "points", "raw_score",
    "baseline_points", "grade", "currency", "proposed_limit_minor", "product", "terms",
    "reasons", "positive_factors", "policy_reasons", "features", "contributions",
    "family_points", "model_name", "model_version", "policy_version", "snapshot_as_of",
    "created_at", "actor")


class OfficerActionRecord(OfficerActionBase, table=True):
    """One officer action on a decision (append-only): who, when, what, before, after, why.

    ``before`` and ``after`` are JSON of the case's status, limit and line.
    """

    __tablename__ = "officer_action"

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    decision_id: str = Field(foreign_key="credit_decision.id", max_length=40, index=True)
    before: str = Field(sa_type=sa.Text)
    after: str = Field(sa_type=sa.Text)


class ShadowScore(DecisionScoreBase, table=True):
    """What a challenger model said of a decision the champion made (append-only).

    Written in the decision's own transaction, one row per decision and challenger
    version; never acted on. A backtest compares champion (the decision's ``pd``) and
    challenger (this ``pd``) on the same live applicants.
    """

    __tablename__ = "shadow_score"

    decision_id: str = Field(foreign_key="credit_decision.id", primary_key=True,
                             max_length=40)
    model_version: str = Field(primary_key=True, max_length=60)
    model_name: str = Field(max_length=100)
    scored_at: datetime = Field(sa_type=_timestamp())
