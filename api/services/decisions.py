"""Credit decisions: decide, audit, reproduce, and the officer actions on a case.

A decision scores and explains a seller's feature snapshot (:class:`scoring.Scorer`),
applies the credit policy (:func:`lending.policy.decide`) and, in **one transaction**,
stores the decision's audit record (``credit_decision``), opens the credit line when it is
approved (:func:`lending.persistence.open_line_from_decision`) and keeps the answer under
its idempotency key (the lending store's ``idempotency_record``, scope ``decision``, bound
to a fingerprint of the request body as for draws and repayments).

What is stored is enough to reproduce the decision exactly: the feature values exactly as
scored (JSON; a float's JSON text is its shortest repr, which reads back to the same
float), the model's name and version and the policy's version. The features are made
JSON-plain *before* scoring, so the stored values are the scored values, not a copy.

Officer actions (approve, decline, change the limit) lock the decision's row, refuse a
case someone else already decided (409 ``decision_already_decided``) or a page showing an
older version of it (409 ``decision_changed``), apply the change (an approval opens the
line; a new limit on an opened line changes the line), and append an ``officer_action``
row with who, when, the state before and after, and the written reason, all in one
transaction.

Errors are :class:`api.errors.ApiError` (status, code, message, details) or the lending
store's named errors (``IdempotencyKeyReused``, ``InvalidAmount``, ``LineClosed``), which
the API maps in one place; officer pages can catch both.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import sqlite3
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace, TracebackType
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from api.errors import ApiError
from api.services.snapshot import FeatureSnapshot
from api.store.decisions import (
    ACTOR_LENGTH,
    REASON_LENGTH,
    CreditDecisionRecord,
    OfficerActionRecord,
)
from lending.errors import CurrencyMismatch, InvalidIdentifier
from lending.money import AmountInput, parse_amount
from lending.persistence.codec import dumps, fingerprint
from lending.persistence.errors import IdempotencyKeyReused
from lending.persistence.group_commit import GroupCommit, commit_alone
from lending.persistence.services import (
    change_limit as change_line_limit,
)
from lending.persistence.services import (
    check_idempotency_key,
    idempotency_scope,
    open_line,
    open_line_from_decision,
    retry_on_conflict,
)
from lending.persistence.tables import IdempotencyRecord, from_minor, to_minor
from lending.persistence.unit_of_work import SqlUnitOfWork
from lending.policy import (
    CreditDecision,
    CreditPolicy,
    Outcome,
    PolicyReason,
    SellerProfile,
    Terms,
    decide,
)
from scoring import Scorer
from scoring.scorer import Driver, Reason

__all__ = [
    "DECISION_SCOPE",
    "DEFAULT_TIMEZONE",
    "STATUSES",
    "OFFICER_ACTIONS",
    "DecisionView",
    "DecisionAudit",
    "DecisionSummary",
    "DecisionPage",
    "OfficerAction",
    "ReproducedFigures",
    "Reproduction",
    "make_decision",
    "decide_for_seller",
    "get_decision",
    "list_decisions",
    "reproduce_decision",
    "act_on_decision",
    "approve",
    "decline",
    "change_limit",
]

#: Scope of decision requests in the lending store's idempotency records.
DECISION_SCOPE = "decision"
#: Lender's time zone: a line opened by a decision is dated on this business date.
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: Where a case can stand.
STATUSES: tuple[str, ...] = ("approved", "referred", "declined")
#: What an officer can do on a case.
OFFICER_ACTIONS: tuple[str, ...] = ("approve", "decline", "change_limit")
OfficerActionName = Literal["approve", "decline", "change_limit"]

_STATUS_OF: dict[str, str] = {"approve": "approved", "refer": "referred",
                              "decline": "declined"}
_MAX_PAGE = 200

_DECISION_TABLE = CreditDecisionRecord.metadata.tables["credit_decision"]
_KEY_TABLE = IdempotencyRecord.metadata.tables["idempotency_record"]
_INSERT_DECISION = _DECISION_TABLE.insert()
_INSERT_KEY = _KEY_TABLE.insert()
#: ``INSERT ... ON CONFLICT DO NOTHING`` of an idempotency key, by dialect.
_CLAIM_KEY: dict[str, sa.Executable] = {
    "postgresql": postgresql.insert(_KEY_TABLE).on_conflict_do_nothing()
    .returning(_KEY_TABLE.c.key),
}
if sqlite3.sqlite_version_info >= (3, 35):  # RETURNING
    _CLAIM_KEY["sqlite"] = sqlite.insert(_KEY_TABLE).on_conflict_do_nothing().returning(
        _KEY_TABLE.c.key)
_FIND_KEY = (sa.select(_KEY_TABLE.c.fingerprint, _KEY_TABLE.c.response)
             .where(_KEY_TABLE.c.scope == sa.bindparam("scope"),
                    _KEY_TABLE.c.key == sa.bindparam("key")))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class DecisionView:
    """A decision as the policy made it: what ``POST /v1/decisions`` answers.

    ``status``, ``limit`` and ``line_id`` are those of the decision itself (a referral is
    ``referred`` with the limit an officer would grant and no line); where the case
    stands after officer actions is in :class:`DecisionAudit`. ``reasons`` are the
    principal adverse reasons (at most four) with English and Chinese text, as the scorer
    gave them; ``policy_reasons`` the policy rules that referred or declined.
    ``replayed`` is true when an idempotent retry got the stored decision back.
    """

    decision_id: str
    seller_id: str
    seller_kind: str
    outcome: Outcome
    status: str
    pd: float
    points: float
    grade: str
    limit: Decimal
    currency: str
    product: str | None
    terms: Terms | None
    reasons: tuple[Reason, ...]
    policy_reasons: tuple[PolicyReason, ...]
    model_name: str
    model_version: str
    policy_version: str
    snapshot_as_of: datetime
    created_at: datetime
    line_id: str | None
    replayed: bool = False


@dataclass(frozen=True)
class OfficerAction:
    """One officer action as audited (``before``/``after``: status, limit, line)."""

    action_id: int
    decision_id: str
    action: str
    actor: str
    acted_at: datetime
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True)
class DecisionAudit:
    """The full audit record of a decision and where the case stands now.

    Attributes
    ----------
    decision : the decision as the policy made it (what the API answered).
    status, limit, line_id : the case now (after officer actions).
    decided_by, decided_at : who closed the case and when (the requesting client for an
        automatic approval or decline; ``None`` while referred).
    version : incremented by every officer action (pass it back as ``expected_version``).
    actor : who asked for the decision.
    features : every feature value scored.
    contributions : each model feature's SHAP contribution in points (positive raised
        the score); ``baseline_points + sum(contributions) == decision.points``.
    family_points : points per reason family.
    positive_factors : the families that raised the score most.
    actions : every officer action, oldest first.
    """

    decision: DecisionView
    status: str
    limit: Decimal
    line_id: str | None
    decided_by: str | None
    decided_at: datetime | None
    version: int
    actor: str
    raw_score: float
    baseline_points: float
    features: dict[str, Any]
    contributions: dict[str, float]
    family_points: dict[str, float]
    positive_factors: tuple[Reason, ...]
    actions: tuple[OfficerAction, ...]

    @property
    def decision_id(self) -> str:
        return self.decision.decision_id


@dataclass(frozen=True)
class DecisionSummary:
    """One row of the officer queue or of the list of past decisions."""

    decision_id: str
    seller_id: str
    outcome: str
    status: str
    grade: str
    pd: float
    points: float
    limit: Decimal
    proposed_limit: Decimal
    currency: str
    product: str | None
    reason_codes: tuple[str, ...]
    model_name: str
    model_version: str
    policy_version: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    line_id: str | None
    version: int


@dataclass(frozen=True)
class DecisionPage:
    """A page of decisions and the cursor of the next one (``None`` on the last page)."""

    items: tuple[DecisionSummary, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class ReproducedFigures:
    """The figures a decision is made of (stored, or re-computed)."""

    outcome: str
    pd: float
    points: float
    grade: str
    limit: Decimal
    reasons: tuple[Reason, ...]
    policy_reasons: tuple[PolicyReason, ...]


@dataclass(frozen=True)
class Reproduction:
    """A stored decision re-scored with its own model and policy versions.

    ``exact`` is true when every figure (PD, points, grade, reasons with their points and
    texts, contributions, outcome, limit, terms, policy reasons) is identical;
    ``differences`` names those that are not.
    """

    decision_id: str
    model_name: str
    model_version: str
    policy_version: str
    exact: bool
    differences: tuple[str, ...]
    stored: ReproducedFigures
    reproduced: ReproducedFigures


# --------------------------------------------------------------------------- helpers


class _JoinedUnitOfWork(SqlUnitOfWork):
    """The caller's entered unit of work, lent to a lending service so that the service's
    writes join the caller's transaction.

    Entering it returns it as it is; its ``commit`` only flushes (so rows are written in
    the order the services add them) and leaving it rolls nothing back: the caller commits
    or rolls back the whole transaction once.
    """

    def __init__(self, outer: SqlUnitOfWork) -> None:
        super().__init__(outer.engine)
        # The entered unit of work's session and every repository on it, whichever exist.
        self.__dict__.update(outer.__dict__)

    def __enter__(self) -> _JoinedUnitOfWork:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        return None

    def commit(self) -> None:
        self.session.flush()

    def rollback(self) -> None:
        return None


@dataclass(frozen=True)
class _Score:
    """What :func:`lending.policy.decide` reads of a score."""

    pd: float
    points: float
    grade: str


@dataclass(frozen=True)
class _Scored:
    """One scored, explained and decided feature row, with its JSON already written."""

    features_json: str
    pd: float
    points: float
    raw_score: float
    baseline_points: float
    grade: str
    decision: CreditDecision
    reasons: tuple[Reason, ...]
    reasons_json: str
    positive_json: str
    policy_reasons_json: str
    terms_json: str | None
    contributions_json: str
    family_points_json: str
    model_name: str
    model_version: str


def _utc(moment: datetime) -> datetime:
    """A stored or given time as aware UTC (SQLite hands back naive UTC times)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _plain(value: Any) -> Any:
    """A feature value as a plain JSON value; NaN and missing become ``None``.

    The scorer reads ``None`` as missing exactly as it reads NaN, so scoring the plain
    values gives the same score as scoring the originals.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    # numpy scalars, pandas' missing markers, categoricals' levels
    if hasattr(value, "item"):
        return _plain(value.item())
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _terms_to_json(terms: Terms | None) -> dict[str, Any] | None:
    if terms is None:
        return None
    return {"product": terms.product, "interest_free_days": list(terms.interest_free_days),
            "instalment_months": list(terms.instalment_months),
            "instalment_fee_rate_per_month": str(terms.instalment_fee_rate_per_month),
            "methods": list(terms.methods), "months": list(terms.months),
            "annual_rate": str(terms.annual_rate)}


def _terms_from_json(text: str | None) -> Terms | None:
    if text is None:
        return None
    doc = json.loads(text)
    if doc is None:
        return None
    return Terms(doc["product"], tuple(doc["interest_free_days"]),
                 tuple(doc["instalment_months"]), Decimal(doc["instalment_fee_rate_per_month"]),
                 tuple(doc["methods"]), tuple(doc["months"]), Decimal(doc["annual_rate"]))


def _reasons_from_json(text: str) -> tuple[Reason, ...]:
    return tuple(Reason(code=r["code"], family=r["family"], direction=r["direction"],
                        points=r["points"], text_en=r["text_en"], text_zh=r["text_zh"],
                        drivers=tuple(Driver(**d) for d in r["drivers"]))
                 for r in json.loads(text))


def _policy_reasons_from_json(text: str) -> tuple[PolicyReason, ...]:
    return tuple(PolicyReason(r["code"], r["effect"], r["message"]) for r in json.loads(text))


def _score(features: Mapping[str, Any], seller_id: str, scorer: Scorer,
           policy: CreditPolicy) -> _Scored:
    """Score, explain and decide JSON-plain ``features`` (shared by deciding and
    reproducing, so that a reproduction runs exactly the code a decision ran)."""
    explained, contributions = scorer.score_with_contributions(features)
    factor = scorer.config.scale.factor
    feature_points = (contributions[:-1] * -factor).tolist()
    decision = decide(_Score(explained.probability_of_default, explained.points,
                             explained.grade),
                      SellerProfile.from_feature_row(seller_id, features), policy)
    return _Scored(
        features_json=dumps(features),
        pd=explained.probability_of_default, points=explained.points,
        raw_score=explained.raw_score, baseline_points=explained.baseline_points,
        grade=explained.grade, decision=decision, reasons=explained.adverse_reasons,
        reasons_json=_dumps_list([r.to_dict() for r in explained.adverse_reasons]),
        positive_json=_dumps_list([r.to_dict() for r in explained.positive_factors]),
        policy_reasons_json=_dumps_list([{"code": r.code, "effect": r.effect,
                                         "message": r.message} for r in decision.reasons]),
        terms_json=None if decision.terms is None else dumps(_terms_to_json(decision.terms)
                                                             or {}),
        contributions_json=dumps(dict(zip(scorer.feature_names, feature_points,
                                          strict=True))),
        family_points_json=dumps(dict(explained.family_points)),
        model_name=explained.model_name, model_version=explained.model_version)


def _dumps_list(items: list[dict[str, Any]]) -> str:
    """A list of documents as compact canonical JSON (as :func:`codec.dumps` writes one),
    in one encoder call."""
    return json.dumps(items, sort_keys=True, separators=(",", ":"))


def _view(record: CreditDecisionRecord | SimpleNamespace, *, replayed: bool = False
          ) -> DecisionView:
    """The decision as the policy made it, from its immutable columns only (so a replay
    answers exactly what the first request got, whatever officers did since)."""
    outcome = cast(Outcome, record.outcome)
    return DecisionView(
        decision_id=record.id, seller_id=record.seller_id, seller_kind=record.seller_kind,
        outcome=outcome, status=_STATUS_OF[outcome], pd=record.pd, points=record.points,
        grade=record.grade, limit=from_minor(record.proposed_limit_minor, record.currency),
        currency=record.currency, product=record.product,
        terms=_terms_from_json(record.terms), reasons=_reasons_from_json(record.reasons),
        policy_reasons=_policy_reasons_from_json(record.policy_reasons),
        model_name=record.model_name, model_version=record.model_version,
        policy_version=record.policy_version, snapshot_as_of=_utc(record.snapshot_as_of),
        created_at=_utc(record.created_at),
        line_id=record.line_id if outcome == "approve" else None, replayed=replayed)


def _action(row: OfficerActionRecord) -> OfficerAction:
    assert row.id is not None
    return OfficerAction(row.id, row.decision_id, row.action, row.actor, _utc(row.acted_at),
                         row.reason, json.loads(row.before), json.loads(row.after))


def _audit(record: CreditDecisionRecord, actions: list[OfficerActionRecord]) -> DecisionAudit:
    return DecisionAudit(
        decision=_view(record), status=record.status,
        limit=from_minor(record.limit_minor, record.currency), line_id=record.line_id,
        decided_by=record.decided_by,
        decided_at=None if record.decided_at is None else _utc(record.decided_at),
        version=record.version, actor=record.actor, raw_score=record.raw_score,
        baseline_points=record.baseline_points, features=json.loads(record.features),
        contributions=json.loads(record.contributions),
        family_points=json.loads(record.family_points),
        positive_factors=_reasons_from_json(record.positive_factors),
        actions=tuple(_action(row) for row in actions))


def _actions_of(uow: SqlUnitOfWork, decision_id: str) -> list[OfficerActionRecord]:
    return list(uow.session.exec(select(OfficerActionRecord)
                                 .where(OfficerActionRecord.decision_id == decision_id)
                                 .order_by(col(OfficerActionRecord.id))).all())


def _unknown(decision_id: str) -> ApiError:
    return ApiError(404, "unknown_decision", f"no credit decision {decision_id!r}",
                    {"decision_id": decision_id})


def _check_actor(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > ACTOR_LENGTH:
        raise InvalidIdentifier(f"actor must be a non-empty string of at most {ACTOR_LENGTH} "
                                f"characters; got {actor!r}")


def _business_date(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


# --------------------------------------------------------------------------- deciding


def make_decision(uow: SqlUnitOfWork, *, snapshot: FeatureSnapshot, scorer: Scorer,
                  policy: CreditPolicy, idempotency_key: str, actor: str, now: datetime,
                  currency: str, requested_as_of: datetime | None = None,
                  timezone: str = DEFAULT_TIMEZONE, client: str = "",
                  commits: GroupCommit | None = None) -> DecisionView:
    """Score, explain and decide a seller's snapshot; store it and open the line if approved.

    Parameters
    ----------
    uow : a unit of work, not yet entered.
    snapshot : the seller's features as of a moment (:class:`FeatureSnapshot`).
    scorer, policy : the model and the credit policy in force (loaded once by the caller).
    idempotency_key : the client's key: a retry with the same key and body gets the stored
        decision back (``replayed``) and changes nothing.
    actor : who asks (``Principal.actor``), recorded with the decision.
    now : when the decision is made (``created_at``; the line opens on its business date).
    currency : the currency of the line; must be the policy's.
    requested_as_of : the as-of time the client asked for (``None``: now). With the seller
        id it is the body the idempotency key is bound to (not the snapshot's own as-of
        time, which moves with ``now`` between two retries).
    timezone : the lender's time zone, for the line's opening date.
    client : the caller's id: each client's idempotency keys are its own.
    commits : a group commit (:class:`lending.persistence.GroupCommit`) to store the
        decision with other requests' in one transaction, or ``None`` for a transaction
        of its own (``uow``'s). Either way it returns once the decision is durable.

    Returns
    -------
    DecisionView
        The decision, with the line id when approved.

    Raises
    ------
    IdempotencyKeyReused
        The key served a request for another seller or as-of time (409).
    CurrencyMismatch
        ``currency`` is not the policy's.
    UnknownGrade, InvalidScore
        The model's grade or the seller's figures do not fit the policy.
    """
    check_idempotency_key(idempotency_key)
    _check_actor(actor)
    if currency != policy.currency:
        raise CurrencyMismatch(f"policy {policy.version} decides in {policy.currency}; "
                               f"lines in {currency} cannot be opened from it")
    now = _utc(now)
    seller_id = snapshot.seller_id
    body = {"seller_id": seller_id,
            "as_of": None if requested_as_of is None else _utc(requested_as_of).isoformat()}
    features = {str(name): _plain(value) for name, value in snapshot.features.items()}
    features.setdefault("seller_kind", snapshot.seller_kind)
    # Scoring is pure CPU: done before the transaction so that the write lock (SQLite
    # takes the whole database's) is held only for the few statements below.
    scored = _score(features, seller_id, scorer, policy)
    decision = scored.decision
    token = uuid.uuid4().hex
    decision_id = f"DEC-{token}"
    line_id = f"L-{token}" if decision.outcome == "approve" else None
    limit_minor = to_minor(decision.limit, currency)

    refer = decision.outcome == "refer"
    values = dict(
        id=decision_id, seller_id=seller_id, seller_kind=str(features["seller_kind"]),
        outcome=decision.outcome, pd=scored.pd, points=scored.points,
        raw_score=scored.raw_score, baseline_points=scored.baseline_points,
        grade=scored.grade, currency=currency, proposed_limit_minor=limit_minor,
        product=decision.product, terms=scored.terms_json, reasons=scored.reasons_json,
        positive_factors=scored.positive_json, policy_reasons=scored.policy_reasons_json,
        features=scored.features_json, contributions=scored.contributions_json,
        family_points=scored.family_points_json, model_name=scored.model_name,
        model_version=scored.model_version, policy_version=decision.policy_version,
        snapshot_as_of=_utc(snapshot.as_of), created_at=now, actor=actor,
        status=_STATUS_OF[decision.outcome], limit_minor=limit_minor, line_id=line_id,
        decided_by=None if refer else actor, decided_at=None if refer else now, version=1)
    scope = idempotency_scope(DECISION_SCOPE, client)
    key_values = dict(scope=scope, key=idempotency_key,
                      fingerprint=fingerprint(body), line_id=line_id or "",
                      response=dumps({"decision_id": decision_id}), created_at=now)
    # The view is what a replay rebuilds from the stored row, so both answers are equal.
    view = _view(SimpleNamespace(**values))

    def write(uow: SqlUnitOfWork) -> DecisionView:
        # The hot path: core statements on the unit of work's connection (the ORM's
        # per-object bookkeeping would cost more than scoring). ``uow`` is entered and is
        # committed by the caller: on its own below, or with other requests' decisions
        # by a group commit. Everything written is prepared above, so a group that is
        # rolled back can run this again.
        connection = uow.session.connection()
        # Claiming the key first saves the read in the common case. A request racing
        # with the same key waits on PostgreSQL until the first one ends, then finds
        # the key taken and reads what the winner stored (SQLite's write lock already
        # serialises the two).
        claim = _CLAIM_KEY.get(uow.dialect)
        claimed = (claim is not None
                   and connection.execute(claim, key_values).first() is not None)
        if not claimed:
            stored = connection.execute(_FIND_KEY, {"scope": scope,
                                                    "key": idempotency_key}).first()
            if stored is not None:
                if stored.fingerprint != key_values["fingerprint"]:
                    raise IdempotencyKeyReused(
                        f"idempotency key {idempotency_key!r} was used for a different "
                        f"decision request")
                known = uow.session.get(CreditDecisionRecord,
                                        json.loads(stored.response)["decision_id"])
                assert known is not None  # written in the same transaction as the key
                return _view(known, replayed=True)
            connection.execute(_INSERT_KEY, key_values)
        if line_id is not None:
            open_line_from_decision(_JoinedUnitOfWork(uow), decision, line_id=line_id,
                                    opened_on=_business_date(now, timezone),
                                    currency=currency)
        connection.execute(_INSERT_DECISION, values)
        return view

    def work() -> DecisionView:
        return commit_alone(uow, write) if commits is None else commits.run(write)

    return retry_on_conflict(work)


def decide_for_seller(uow: SqlUnitOfWork, *, seller_id: str,
                      requested_as_of: datetime | None, scorer: Scorer, policy: CreditPolicy,
                      idempotency_key: str, actor: str, now: datetime, max_age: timedelta,
                      timezone: str = DEFAULT_TIMEZONE, client: str = "",
                      commits: GroupCommit | None = None) -> DecisionView:
    """Decide on a registered seller from its stored feature snapshot (what the route calls).

    The snapshot is read (one primary-key read; rebuilt from the seller's stored orders only
    when older than ``max_age``) as of ``requested_as_of`` or ``now``, in its own short
    transaction, then :func:`make_decision` decides in the policy's currency.

    Raises
    ------
    UnknownSeller, SellerNotYetRegistered
        From :func:`api.services.snapshot.current_snapshot` (404, 409).
    """
    from api.services.snapshot import current_snapshot

    snapshot = current_snapshot(uow.engine, seller_id, now=requested_as_of or now,
                                max_age=max_age, timezone=timezone)
    return make_decision(uow, snapshot=snapshot, scorer=scorer, policy=policy,
                         idempotency_key=idempotency_key, actor=actor, now=now,
                         currency=policy.currency, requested_as_of=requested_as_of,
                         timezone=timezone, client=client, commits=commits)


# --------------------------------------------------------------------------- reading


def get_decision(uow: SqlUnitOfWork, decision_id: str) -> DecisionAudit:
    """The full audit record of a decision: features, contributions, versions, reasons and
    every officer action in order.

    Raises
    ------
    ApiError
        404 ``unknown_decision``.
    """
    with uow.reading():
        record = uow.session.get(CreditDecisionRecord, decision_id)
        if record is None:
            raise _unknown(decision_id)
        return _audit(record, _actions_of(uow, decision_id))


_SUMMARY_COLUMNS = (
    "id", "seller_id", "outcome", "status", "grade", "pd", "points", "limit_minor",
    "proposed_limit_minor", "currency", "product", "reasons", "model_name", "model_version",
    "policy_version", "created_at", "decided_by", "decided_at", "line_id", "version")


def _encode_cursor(created_at: datetime, decision_id: str) -> str:
    text = f"{_utc(created_at).isoformat()}|{decision_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, decision_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        return _utc(datetime.fromisoformat(moment)), decision_id
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiError(422, "invalid_cursor", "the cursor is not one this list gave",
                       [{"path": "query.cursor", "message": "invalid cursor"}]) from None


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_decisions(uow: SqlUnitOfWork, *, status: str | None = None, grade: str | None = None,
                   older_than: datetime | None = None, newer_than: datetime | None = None,
                   seller_id: str | None = None, query: str | None = None, limit: int = 50,
                   cursor: str | None = None, oldest_first: bool = False) -> DecisionPage:
    """Decisions, newest first (the officer queue: ``status="referred"``, oldest first).

    Parameters
    ----------
    status : ``approved``, ``referred`` or ``declined`` (where the case stands now).
    grade : the score's grade.
    older_than, newer_than : only decisions made before / at or after these moments.
    seller_id : one seller's decisions.
    query : text searched (case-insensitive) in the seller id, the decision id and the
        line id.
    limit : page size, 1 to 200.
    cursor : the ``next_cursor`` of the previous page.
    oldest_first : order by age, oldest first (the queue of referred cases).

    Raises
    ------
    ApiError
        422 ``invalid_filter`` or ``invalid_cursor``.
    """
    if status is not None and status not in STATUSES:
        raise ApiError(422, "invalid_filter", f"status must be one of {', '.join(STATUSES)}; "
                       f"got {status!r}", [{"path": "query.status", "message": "unknown"}])
    if not 1 <= limit <= _MAX_PAGE:
        raise ApiError(422, "invalid_filter", f"limit must be between 1 and {_MAX_PAGE}; "
                       f"got {limit}", [{"path": "query.limit", "message": "out of range"}])
    table = CreditDecisionRecord
    created = col(table.created_at)
    ident = col(table.id)
    columns = _DECISION_TABLE.c
    statement = sa.select(*(columns[name] for name in _SUMMARY_COLUMNS))
    if status is not None:
        statement = statement.where(col(table.status) == status)
    if grade is not None:
        statement = statement.where(col(table.grade) == grade)
    if older_than is not None:
        statement = statement.where(created < _utc(older_than))
    if newer_than is not None:
        statement = statement.where(created >= _utc(newer_than))
    if seller_id is not None:
        statement = statement.where(col(table.seller_id) == seller_id)
    if query is not None and query.strip():
        pattern = _like(query.strip())
        statement = statement.where(sa.or_(
            sa.func.lower(col(table.seller_id)).like(pattern, escape="\\"),
            sa.func.lower(ident).like(pattern, escape="\\"),
            sa.func.lower(col(table.line_id)).like(pattern, escape="\\")))
    if cursor is not None:
        moment, last_id = _decode_cursor(cursor)
        if oldest_first:
            statement = statement.where(sa.or_(created > moment,
                                               sa.and_(created == moment, ident > last_id)))
        else:
            statement = statement.where(sa.or_(created < moment,
                                               sa.and_(created == moment, ident < last_id)))
    order = (created.asc(), ident.asc()) if oldest_first else (created.desc(), ident.desc())
    statement = statement.order_by(*order).limit(limit + 1)
    with uow.reading():
        rows = uow.session.execute(statement).all()
    items = tuple(DecisionSummary(
        decision_id=row.id, seller_id=row.seller_id, outcome=row.outcome, status=row.status,
        grade=row.grade, pd=row.pd, points=row.points,
        limit=from_minor(row.limit_minor, row.currency),
        proposed_limit=from_minor(row.proposed_limit_minor, row.currency),
        currency=row.currency, product=row.product,
        reason_codes=tuple(r["code"] for r in json.loads(row.reasons)),
        model_name=row.model_name, model_version=row.model_version,
        policy_version=row.policy_version, created_at=_utc(row.created_at),
        decided_by=row.decided_by,
        decided_at=None if row.decided_at is None else _utc(row.decided_at),
        line_id=row.line_id, version=row.version) for row in rows[:limit])
    next_cursor = (_encode_cursor(items[-1].created_at, items[-1].decision_id)
                   if len(rows) > limit else None)
    return DecisionPage(items, next_cursor)


# --------------------------------------------------------------------------- reproducing


def _figures(outcome: str, pd: float, points: float, grade: str, limit: Decimal,
             reasons: tuple[Reason, ...], policy_reasons: tuple[PolicyReason, ...]
             ) -> ReproducedFigures:
    return ReproducedFigures(outcome, pd, points, grade, limit, reasons, policy_reasons)


def reproduce_decision(uow: SqlUnitOfWork, decision_id: str,
                       scorer_for_version: Callable[[str, str], Scorer],
                       policy_for_version: Callable[[str], CreditPolicy]) -> Reproduction:
    """Re-score a stored decision's feature values with its own model and policy versions.

    Parameters
    ----------
    uow : a unit of work, not yet entered (only read).
    decision_id : the decision.
    scorer_for_version : ``(model_name, model_version) -> Scorer``; raises ``LookupError``
        when that version cannot be loaded.
    policy_for_version : ``policy_version -> CreditPolicy``; raises ``LookupError`` when
        that version is not known.

    Raises
    ------
    ApiError
        404 ``unknown_decision``; 409 ``model_version_unavailable`` or
        ``policy_version_unavailable``.
    """
    with uow.reading():
        record = uow.session.get(CreditDecisionRecord, decision_id)
        if record is None:
            raise _unknown(decision_id)
        # Kept loaded after the (read-only) transaction ends: scoring needs no database.
        uow.session.expunge(record)
    try:
        scorer = scorer_for_version(record.model_name, record.model_version)
    except LookupError as error:
        raise ApiError(409, "model_version_unavailable", f"model {record.model_name} version "
                       f"{record.model_version} cannot be loaded: {error}",
                       {"model_name": record.model_name,
                        "model_version": record.model_version}) from None
    try:
        policy = policy_for_version(record.policy_version)
    except LookupError as error:
        raise ApiError(409, "policy_version_unavailable", f"credit policy version "
                       f"{record.policy_version} is not available: {error}",
                       {"policy_version": record.policy_version}) from None
    features = json.loads(record.features)
    again = _score(features, record.seller_id, scorer, policy)
    decision = again.decision
    compared = {
        "model_version": (record.model_version, again.model_version),
        "policy_version": (record.policy_version, decision.policy_version),
        "pd": (record.pd, again.pd),
        "points": (record.points, again.points),
        "raw_score": (record.raw_score, again.raw_score),
        "grade": (record.grade, again.grade),
        "reasons": (record.reasons, again.reasons_json),
        "positive_factors": (record.positive_factors, again.positive_json),
        "contributions": (record.contributions, again.contributions_json),
        "family_points": (record.family_points, again.family_points_json),
        "outcome": (record.outcome, decision.outcome),
        "limit": (record.proposed_limit_minor, to_minor(decision.limit, record.currency)),
        "terms": (record.terms, again.terms_json),
        "policy_reasons": (record.policy_reasons, again.policy_reasons_json),
    }
    differences = tuple(name for name, (stored, now) in compared.items() if stored != now)
    view = _view(record)
    return Reproduction(
        decision_id=decision_id, model_name=record.model_name,
        model_version=record.model_version, policy_version=record.policy_version,
        exact=not differences, differences=differences,
        stored=_figures(view.outcome, view.pd, view.points, view.grade, view.limit,
                        view.reasons, view.policy_reasons),
        reproduced=_figures(decision.outcome, again.pd, again.points, again.grade,
                            decision.limit, again.reasons,
                            _policy_reasons_from_json(again.policy_reasons_json)))


# --------------------------------------------------------------------------- officers


def _check_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(422, "reason_required", "an officer action needs a written reason",
                       [{"path": "body.reason", "message": "must not be blank"}])
    text = reason.strip()
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\r\t" for ch in text):
        # PostgreSQL cannot store a NUL, a lone surrogate is not text, and no control
        # character belongs in an audit trail people read.
        raise ApiError(422, "invalid_reason", "the reason may contain line breaks and tabs "
                       "but no other control characters",
                       [{"path": "body.reason", "message": "control character"}])
    if len(text) > REASON_LENGTH:
        raise ApiError(422, "reason_too_long", f"the reason must be at most {REASON_LENGTH} "
                       f"characters; got {len(text)}",
                       [{"path": "body.reason", "message": "too long"}])
    return text


def _check_limit(limit: AmountInput, policy: CreditPolicy) -> Decimal:
    amount = parse_amount(limit, policy.currency, what="limit")
    floor, cap = policy.limit.floor, policy.limit.cap
    if not floor <= amount <= cap:
        raise ApiError(422, "limit_out_of_range", f"the limit must be between {floor} and "
                       f"{cap} {policy.currency} (policy {policy.version}); got {amount}",
                       {"floor": str(floor), "cap": str(cap), "limit": str(amount)})
    return amount


def _case(record: CreditDecisionRecord) -> dict[str, Any]:
    return {"status": record.status,
            "limit": str(from_minor(record.limit_minor, record.currency)),
            "line_id": record.line_id}


def _already_decided(record: CreditDecisionRecord, action: str) -> ApiError:
    who = record.decided_by or "the policy"
    when = f" at {_utc(record.decided_at).isoformat()}" if record.decided_at else ""
    return ApiError(409, "decision_already_decided",
                    f"decision {record.id} is already {record.status} by {who}{when}; "
                    f"it cannot be given '{action}'",
                    {"decision_id": record.id, "status": record.status,
                     "decided_by": record.decided_by, "version": record.version})


def _lock_decision(uow: SqlUnitOfWork, decision_id: str) -> CreditDecisionRecord:
    """The decision, locked until the transaction ends (as a draw locks its line)."""
    statement = (select(CreditDecisionRecord).where(CreditDecisionRecord.id == decision_id)
                 .with_for_update().execution_options(populate_existing=True))
    record = uow.session.exec(statement).first()
    if record is None:
        raise _unknown(decision_id)
    return record


def act_on_decision(uow: SqlUnitOfWork, decision_id: str, *, action: OfficerActionName,
                    reason: str, actor: str, now: datetime, policy: CreditPolicy,
                    limit: AmountInput | None = None, expected_version: int | None = None,
                    timezone: str = DEFAULT_TIMEZONE) -> DecisionAudit:
    """Apply an officer action to a decision and audit it, in one transaction.

    Parameters
    ----------
    uow : a unit of work, not yet entered.
    decision_id : the case.
    action : ``approve`` (a referred case; opens the line with ``limit``, by default the
        proposed one), ``decline`` (a referred case) or ``change_limit`` (a referred case:
        the limit an approval would grant; an approved case: its line's limit).
    reason : the officer's written reason (mandatory, at most 2,000 characters).
    actor : who acts (``Principal.actor``).
    now : when (the audit time; a line opens on its business date in ``timezone``).
    policy : the policy in force: a limit must be within its floor and cap.
    limit : the limit (``approve``: optional; ``change_limit``: required); a decimal string
        exact to the minor unit.
    expected_version : the case version the officer saw; another one is refused.

    Returns
    -------
    DecisionAudit
        The case after the action, with every action so far.

    Raises
    ------
    ApiError
        404 ``unknown_decision``; 409 ``decision_already_decided`` (the case was approved
        or declined already, by the policy or another officer), ``decision_changed``
        (``expected_version`` is not the current one), ``no_product`` (no product to open
        a line with); 422 ``reason_required``, ``invalid_reason`` (a control character),
        ``reason_too_long``, ``limit_required``,
        ``limit_out_of_range``, ``invalid_action``.
    InvalidAmount
        The limit is not a positive amount exact to the minor unit.
    LineClosed
        The approved line is closed (written off).
    """
    if action not in OFFICER_ACTIONS:
        raise ApiError(422, "invalid_action", f"action must be one of "
                       f"{', '.join(OFFICER_ACTIONS)}; got {action!r}",
                       [{"path": "body.action", "message": "unknown action"}])
    text = _check_reason(reason)
    _check_actor(actor)
    if action == "change_limit" and limit is None:
        raise ApiError(422, "limit_required", "changing the limit needs the new limit",
                       [{"path": "body.limit", "message": "required"}])
    if action == "decline" and limit is not None:
        raise ApiError(422, "invalid_request", "a decline takes no limit",
                       [{"path": "body.limit", "message": "not allowed with decline"}])
    amount = None if limit is None else _check_limit(limit, policy)
    now = _utc(now)
    with uow:
        record = _lock_decision(uow, decision_id)
        if expected_version is not None and record.version != expected_version:
            raise ApiError(409, "decision_changed",
                           f"decision {decision_id} changed since version {expected_version} "
                           f"(now version {record.version}, {record.status}); reload it",
                           {"decision_id": decision_id, "version": record.version,
                            "status": record.status})
        if record.currency != policy.currency:
            raise CurrencyMismatch(f"decision {decision_id} is in {record.currency}; policy "
                                   f"{policy.version} in {policy.currency}")
        before = _case(record)
        today = _business_date(now, timezone)
        if action == "approve":
            if record.status != "referred":
                raise _already_decided(record, action)
            if record.product is None:
                raise ApiError(409, "no_product", f"decision {decision_id} offers no product "
                               "(none is configured for the seller's kind); it cannot be "
                               "approved", {"decision_id": decision_id})
            granted = amount if amount is not None else from_minor(record.limit_minor,
                                                                   record.currency)
            _check_limit(granted, policy)
            line_id = f"L-{record.id.removeprefix('DEC-')}"
            open_line(_JoinedUnitOfWork(uow), line_id=line_id, seller_id=record.seller_id,
                      limit=granted, opened_on=today, currency=record.currency,
                      product=record.product, policy_version=record.policy_version,
                      revolving=record.product == "purchase_line")
            record.status = "approved"
            record.limit_minor = to_minor(granted, record.currency)
            record.line_id = line_id
            record.decided_by, record.decided_at = actor, now
        elif action == "decline":
            if record.status != "referred":
                raise _already_decided(record, action)
            record.status = "declined"
            record.limit_minor = 0
            record.decided_by, record.decided_at = actor, now
        else:
            assert amount is not None
            if record.status == "declined":
                raise _already_decided(record, action)
            if record.line_id is not None:
                # The lending store's service records the change as a line event, in this
                # transaction; from today, or from the line's booked date if a write
                # already booked it further (read under the line's lock).
                change_line_limit(_JoinedUnitOfWork(uow), line_id=record.line_id,
                                  new_limit=amount, on=today, not_before_book=True,
                                  reason=text, actor=actor,
                                  change_id=f"{record.id}/v{record.version + 1}")
            record.limit_minor = to_minor(amount, record.currency)
        record.version += 1
        uow.session.add(record)
        uow.session.add(OfficerActionRecord(
            decision_id=decision_id, action=action, actor=actor, reason=text,
            before=dumps(before), after=dumps(_case(record)), acted_at=now))
        uow.session.flush()
        audit = _audit(record, _actions_of(uow, decision_id))
        uow.commit()
        return audit


def approve(uow: SqlUnitOfWork, decision_id: str, *, reason: str, actor: str, now: datetime,
            policy: CreditPolicy, limit: AmountInput | None = None,
            expected_version: int | None = None,
            timezone: str = DEFAULT_TIMEZONE) -> DecisionAudit:
    """An officer approves a referred case; its line opens with ``limit`` (default: the
    proposed limit). See :func:`act_on_decision`."""
    return act_on_decision(uow, decision_id, action="approve", reason=reason, actor=actor,
                           now=now, policy=policy, limit=limit,
                           expected_version=expected_version, timezone=timezone)


def decline(uow: SqlUnitOfWork, decision_id: str, *, reason: str, actor: str, now: datetime,
            policy: CreditPolicy, expected_version: int | None = None) -> DecisionAudit:
    """An officer declines a referred case. See :func:`act_on_decision`."""
    return act_on_decision(uow, decision_id, action="decline", reason=reason, actor=actor,
                           now=now, policy=policy, expected_version=expected_version)


def change_limit(uow: SqlUnitOfWork, decision_id: str, *, new_limit: AmountInput, reason: str,
                 actor: str, now: datetime, policy: CreditPolicy,
                 expected_version: int | None = None,
                 timezone: str = DEFAULT_TIMEZONE) -> DecisionAudit:
    """An officer changes a case's limit: the proposal of a referred case, or the line of an
    approved one. See :func:`act_on_decision`."""
    return act_on_decision(uow, decision_id, action="change_limit", reason=reason,
                           actor=actor, now=now, policy=policy, limit=new_limit,
                           expected_version=expected_version, timezone=timezone)
