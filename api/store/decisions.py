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
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from lending.persistence.tables import BIG_ID

__all__ = ["CreditDecisionRecord", "OfficerActionRecord", "AUDIT_COLUMNS",
           "SELLER_ID_LENGTH", "ACTOR_LENGTH", "REASON_LENGTH"]

#: Longest seller id the record contract accepts (as :data:`api.store.records.ID_LENGTH`).
SELLER_ID_LENGTH = 128
#: Longest actor name (``user:<name>`` or ``key:<public id>``).
ACTOR_LENGTH = 160
#: Longest written reason of an officer action, in characters.
REASON_LENGTH = 2000


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


class CreditDecisionRecord(SQLModel, table=True):
    """One credit decision: its immutable audit record and its current status.

    ``outcome`` is what the policy decided (``approve``, ``refer``, ``decline``) and
    ``proposed_limit_minor`` the limit it gave; ``status`` (``approved``, ``referred``,
    ``declined``) and ``limit_minor`` are where the case stands after any officer action.
    """

    __tablename__ = "credit_decision"
    # The officer queue reads referred cases by age; the list of past decisions by time.
    __table_args__ = (sa.Index("ix_credit_decision_status_created_at", "status", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    seller_id: str = Field(max_length=SELLER_ID_LENGTH, index=True)
    seller_kind: str = Field(max_length=20)
    outcome: str = Field(max_length=10)
    pd: float
    points: float
    raw_score: float
    baseline_points: float
    grade: str = Field(max_length=10)
    currency: str = Field(max_length=3)
    proposed_limit_minor: int = Field(sa_type=sa.BigInteger)
    product: str | None = Field(default=None, max_length=40)
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
    model_name: str = Field(max_length=100)
    model_version: str = Field(max_length=60)
    policy_version: str = Field(max_length=40)
    snapshot_as_of: datetime = Field(sa_type=_timestamp())
    created_at: datetime = Field(sa_type=_timestamp(), index=True)
    actor: str = Field(max_length=ACTOR_LENGTH)
    # ---- the case as it stands (changed by officer actions only)
    status: str = Field(max_length=10)
    limit_minor: int = Field(sa_type=sa.BigInteger)
    line_id: str | None = Field(default=None, foreign_key="credit_line.id", max_length=100)
    decided_by: str | None = Field(default=None, max_length=ACTOR_LENGTH)
    decided_at: datetime | None = Field(default=None, sa_type=_timestamp())
    #: Incremented by every officer action; lets a page refuse to act on a stale view.
    version: int = 1


#: Columns of ``credit_decision`` that the database refuses to update.
AUDIT_COLUMNS: tuple[str, ...] = (
    "id", "seller_id", "seller_kind", "outcome", "pd", "points", "raw_score",
    "baseline_points", "grade", "currency", "proposed_limit_minor", "product", "terms",
    "reasons", "positive_factors", "policy_reasons", "features", "contributions",
    "family_points", "model_name", "model_version", "policy_version", "snapshot_as_of",
    "created_at", "actor")


class OfficerActionRecord(SQLModel, table=True):
    """One officer action on a decision (append-only): who, when, what, before, after, why.

    ``before`` and ``after`` are JSON of the case's status, limit and line.
    """

    __tablename__ = "officer_action"

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    decision_id: str = Field(foreign_key="credit_decision.id", max_length=40, index=True)
    action: str = Field(max_length=20)
    actor: str = Field(max_length=ACTOR_LENGTH)
    reason: str = Field(sa_type=sa.Text)
    before: str = Field(sa_type=sa.Text)
    after: str = Field(sa_type=sa.Text)
    acted_at: datetime = Field(sa_type=_timestamp())
