"""Credit decisions: decide, audit, reproduce, and the officer actions on a case.

A decision scores and explains a seller's feature snapshot (:class:`scoring.Scorer`),
applies the credit policy (:func:`lending.policy.decide`) and, in **one transaction**,
stores the decision's audit record (``credit_decision``), opens the credit line when it is
approved (:func:`lending.persistence.open_line_from_decision`) and keeps the answer under
its idempotency key (the store's one mechanism, :mod:`store.idempotency`, scope
``decision``, bound to a fingerprint of the request body as for draws and repayments).

What is stored is enough to reproduce the decision exactly: the feature values exactly as
scored (JSON; a float's JSON text is its shortest repr, which reads back to the same
float), the model's name and version and the policy's version. The features are made
JSON-plain *before* scoring, so the stored values are the scored values, not a copy.

Officer actions (approve, decline, change the limit) lock the decision's row, build the
case (:class:`decisions.case.CreditCase`) from it, ask the case (which refuses a case
someone else already decided, a page showing an older version of it, a limit outside the
policy, a blank reason), carry out what the case says happened (an approval opens the
line; a new limit on an opened line changes the line), store the case as it now stands
and append an ``officer_action`` row with who, when, the state before and after, and the
written reason, all in one transaction.

The answers (:class:`DecisionView`, :class:`DecisionAudit`, :class:`DecisionSummary`,
:class:`OfficerAction`, :class:`ReproducedFigures`) belong to the decision's one model
family (:mod:`decisions.tables`): they inherit its shared fields. Errors are named
:class:`~decisions.errors.DecisionError` subclasses, lending errors (``InvalidAmount``,
``LineClosed``, ...) or the store's ``IdempotencyKeyReused``; none knows of HTTP, and
the API maps them all in one place (:mod:`api.errors`).

**Shadow scoring.** When a challenger model is given (the registry's ``challenger``
alias, loaded beside the champion by the service), :func:`make_decision` scores the same
JSON-plain features with it too and stores what it said (PD, points, grade, its name and
version) in ``shadow_score``, in the decision's own transaction; the decision is the
champion's and nothing reads the shadow score to act on it. A challenger that fails
(missing feature, a figure that is not finite, any exception) is reported to the
caller's ``on_shadow_failure`` and logged; the decision goes on without a shadow row.
An idempotent replay writes nothing, so a decision has at most one shadow score per
challenger version. :func:`shadow_scores_of` reads them back.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace, TracebackType
from typing import Any, NamedTuple, Protocol, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from decisions.case import (
    OFFICER_ACTIONS,
    STATUS_OF_OUTCOME,
    STATUSES,
    CaseStatus,
    ChangeLineLimit,
    CreditCase,
    OfficerActionName,
    OfficerRequest,
    OpenLine,
    PrincipalReason,
    check_actor,
    principal_reasons,
)
from decisions.errors import (
    InvalidCursor,
    InvalidFilter,
    ModelVersionUnavailable,
    PolicyVersionUnavailable,
    UnknownDecision,
)
from decisions.tables import (
    CaseBase,
    CreditDecisionBase,
    CreditDecisionRecord,
    DecisionScoreBase,
    OfficerActionBase,
    OfficerActionRecord,
    ShadowScore,
)
from features import DEFAULT_TIMEZONE, json_value
from lending.errors import CurrencyMismatch
from lending.money import AmountInput
from lending.persistence.business_day import read_business_date
from lending.persistence.codec import dumps
from lending.persistence.services import change_limit as change_line_limit
from lending.persistence.services import (
    lines_of_seller,
    open_line,
    open_line_from_decision,
    regrant_line,
)
from lending.persistence.tables import CreditLineRecord, from_minor, to_minor
from lending.persistence.unit_of_work import SqlUnitOfWork
from lending.policy import (
    OWN_LINES_WORST_DAYS_PAST_DUE,
    OWN_LINES_WRITTEN_OFF,
    CreditDecision,
    CreditPolicy,
    Outcome,
    PolicyReason,
    SellerProfile,
    Terms,
    decide,
)
from lending.products import terms_from_document, terms_to_document
from records.snapshots import FeatureSnapshot, ReadAlong
from scoring import Scorer
from scoring.scorer import Reason
from store.clock import as_utc, as_utc_or_none
from store.conflicts import retry_on_conflict
from store.group_commit import GroupCommit, commit_alone
from store.idempotency import check_idempotency_key, fingerprint, idempotency_scope

__all__ = [
    "DECISION_SCOPE",
    "STATUSES",
    "OFFICER_ACTIONS",
    "DecisionView",
    "DecisionAudit",
    "DecisionSummary",
    "DecisionPage",
    "OfficerAction",
    "ReproducedFigures",
    "Reproduction",
    "ShadowScoreView",
    "ShadowFailureHandler",
    "make_decision",
    "decide_for_seller",
    "get_decision",
    "list_decisions",
    "reproduce_decision",
    "shadow_scores_of",
    "act_on_decision",
    "approve",
    "decline",
    "change_limit",
]

#: Scope of decision requests in the idempotency records.
DECISION_SCOPE = "decision"
#: Lender's time zone: a line opened by a decision is dated on this business date.

_MAX_PAGE = 200

_DECISION_TABLE = CreditDecisionRecord.metadata.tables["credit_decision"]
_INSERT_DECISION = _DECISION_TABLE.insert()
_SHADOW_TABLE = ShadowScore.metadata.tables["shadow_score"]
_INSERT_SHADOW = _SHADOW_TABLE.insert()

#: ``(challenger, error)``: told of a challenger that could not score a decision (the
#: service counts it in its metrics); the decision is made without a shadow score.
ShadowFailureHandler = Callable[[Scorer, Exception], None]

log = logging.getLogger("sme_credit.decisions")

#: The answers are values: frozen once built (SQLModel's own configuration otherwise).
_FROZEN = SQLModel.model_config | {"frozen": True}


# --------------------------------------------------------------------------- results


class DecisionView(CreditDecisionBase):
    """A decision as the policy made it: what ``POST /v1/decisions`` answers.

    ``status``, ``limit`` and ``line_id`` are those of the decision itself (a referral is
    ``referred`` with the limit an officer would grant and no line); where the case
    stands after officer actions is in :class:`DecisionAudit`. ``reasons`` are the
    principal adverse reasons (at most four) with English and Chinese text, as the scorer
    gave them; ``policy_reasons`` the policy rules that referred or declined;
    ``principal_reasons`` what the applicant is told: those rules first, then the model's
    reasons, at most four (:func:`decisions.case.principal_reasons`).
    ``replayed`` is true when an idempotent retry got the stored decision back.
    """

    model_config = _FROZEN

    decision_id: str
    seller_kind: str
    outcome: Outcome
    status: str
    limit: Decimal
    terms: Terms | None
    reasons: tuple[Reason, ...]
    policy_reasons: tuple[PolicyReason, ...]
    snapshot_as_of: datetime
    line_id: str | None
    principal_reasons: tuple[PrincipalReason, ...] = ()
    replayed: bool = False


class OfficerAction(OfficerActionBase):
    """One officer action as audited (``before``/``after``: status, limit, line)."""

    model_config = _FROZEN

    id: int
    decision_id: str
    before: dict[str, Any]
    after: dict[str, Any]


class DecisionAudit(CaseBase):
    """The full audit record of a decision and where the case stands now.

    Attributes
    ----------
    decision : the decision as the policy made it (what the API answered).
    status, limit, line_id : the case now (after officer actions).
    decided_by, decided_at : who closed the case and when (the requesting client for an
        automatic approval or decline; ``None`` while referred).
    version : incremented by every officer action (pass it back as ``expected_version``).
    requested_by : who asked for the decision.
    features : every feature value scored.
    contributions : each model feature's SHAP contribution in points (positive raised
        the score); ``baseline_points + sum(contributions) == decision.points``.
    family_points : points per reason family.
    positive_factors : the families that raised the score most.
    actions : every officer action, oldest first.
    """

    model_config = _FROZEN

    decision: DecisionView
    limit: Decimal
    requested_by: str
    raw_score: float
    baseline_points: float
    features: dict[str, Any]
    contributions: dict[str, float]
    family_points: dict[str, float]
    positive_factors: tuple[Reason, ...]
    actions: tuple[OfficerAction, ...]

    @property
    def decision_id(self) -> str:
        """The decision's id."""
        return self.decision.decision_id


class DecisionSummary(CreditDecisionBase, CaseBase):
    """One row of the officer queue or of the list of past decisions: the decision as
    made, and where its case stands now (``limit``; ``proposed_limit`` is the policy's)."""

    model_config = _FROZEN

    decision_id: str
    outcome: Outcome
    limit: Decimal
    proposed_limit: Decimal
    reason_codes: tuple[str, ...]


@dataclass(frozen=True)
class DecisionPage:
    """A page of decisions and the cursor of the next one (``None`` on the last page)."""

    items: tuple[DecisionSummary, ...]
    next_cursor: str | None


class ReproducedFigures(DecisionScoreBase):
    """The figures a decision is made of (stored, or re-computed)."""

    model_config = _FROZEN

    outcome: Outcome
    limit: Decimal
    reasons: tuple[Reason, ...]
    policy_reasons: tuple[PolicyReason, ...]


class ShadowScoreView(DecisionScoreBase):
    """What a challenger said of a decision beside the champion that made it (never acted
    on): its PD, points and grade, its name and version, and when it scored."""

    model_config = _FROZEN

    decision_id: str
    model_name: str
    model_version: str
    scored_at: datetime


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


def _terms_to_json(terms: Terms | None) -> dict[str, Any] | None:
    return None if terms is None else terms_to_document(terms)


def _terms_from_json(text: str | None) -> Terms | None:
    if text is None:
        return None
    doc = json.loads(text)
    return None if doc is None else terms_from_document(doc)


#: Statuses of a line that is no longer open because it was written off ("closed" is
#: what the lending store calls a written-off line).
_WRITTEN_OFF = frozenset({"closed", "written_off"})


class _SellerLine(Protocol):
    """What a decision reads of a seller's line (a
    :class:`lending.persistence.services.LineView` has it too)."""

    @property
    def line_id(self) -> str: ...

    @property
    def product(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def days_past_due(self) -> int: ...


class _LineSummary(NamedTuple):
    """A seller's line as a decision reads it: the stored summary's columns that the
    policy's history and the one-line-per-product rule look at."""

    line_id: str
    product: str
    status: str
    days_past_due: int


_LINE_TABLE = CreditLineRecord.metadata.tables["credit_line"]
#: :func:`lending.persistence.lines_of_seller`'s read (the same rows), of the columns a
#: decision needs, as one JSON array in a column of the snapshot's own SELECT
#: (:func:`records.snapshots.current_snapshot_and`): ``[id, product, status,
#: days_past_due, opened_on]`` per line, ``opened_on`` as ``YYYY-MM-DD``; one template,
#: the JSON functions by dialect.
_SELLER_LINES_SQL = ("(SELECT {agg}({array}(id, product, status, days_past_due, opened_on)) "
                     "FROM credit_line WHERE credit_line.seller_id = {{seller}})")
_JSON_FUNCTIONS = {"postgresql": ("json_agg", "json_build_array"),
                   "sqlite": ("json_group_array", "json_array")}


def _seller_lines_column(dialect: str) -> str:
    try:
        agg, array = _JSON_FUNCTIONS[dialect]
    except KeyError:
        raise ValueError(f"no read of a seller's lines for database {dialect!r}") from None
    return _SELLER_LINES_SQL.format(agg=agg, array=array)


def _parse_seller_lines(value: Any) -> list[_LineSummary]:
    """The lines of :data:`_SELLER_LINES_SQL`'s column (psycopg parses JSON; SQLite gives
    text; no line: ``NULL`` or ``[]``), most recently opened first, then by id descending
    in code point order (``lines_of_seller`` sorts ids in the database's collation: the
    two can differ only for lines of one seller opened on one day)."""
    items = json.loads(value) if isinstance(value, str | bytes) else (value or [])
    items.sort(key=lambda item: (str(item[4]), str(item[0])), reverse=True)
    return [_LineSummary(str(line_id), str(product), str(status), int(days))
            for line_id, product, status, days, _opened in items]


#: The read of a seller's lines beside its snapshot (one statement for both).
_SELLER_LINES: ReadAlong[list[_LineSummary]] = ReadAlong(_seller_lines_column,
                                                         _parse_seller_lines)


def _credit_history(lines: Sequence[_SellerLine]) -> dict[str, Any]:
    """The seller's credit history with us, as the policy reads it (see
    :meth:`lending.policy.SellerProfile.from_feature_row`): nothing when the seller has
    no line, else the worst days past due of its open lines and whether one was written
    off. Stored with the feature values, so a reproduction reads the same history."""
    if not lines:
        return {}
    open_lines = [line for line in lines if line.status not in _WRITTEN_OFF]
    return {OWN_LINES_WORST_DAYS_PAST_DUE: max((line.days_past_due for line in open_lines),
                                               default=0),
            OWN_LINES_WRITTEN_OFF: len(open_lines) < len(lines)}


def _open_line_of(lines: Sequence[_SellerLine], product: str | None) -> _SellerLine | None:
    """The seller's open line of ``product`` (the most recently opened), if any."""
    return next((line for line in lines
                 if line.product == product and line.status not in _WRITTEN_OFF), None)


def _reasons_from_json(text: str) -> tuple[Reason, ...]:
    return tuple(Reason.from_dict(r) for r in json.loads(text))


def _policy_reasons_from_json(text: str) -> tuple[PolicyReason, ...]:
    return tuple(PolicyReason(r["code"], r["effect"], r["message"], r.get("message_zh", ""))
                 for r in json.loads(text))


def _score(features: Mapping[str, Any], seller_id: str, scorer: Scorer,
           policy: CreditPolicy) -> _Scored:
    """Score, explain and decide JSON-plain ``features`` (shared by deciding and
    reproducing, so that a reproduction runs exactly the code a decision ran)."""
    explained, contributions = scorer.score_with_contributions(features)
    factor = scorer.point_factor  # points per unit of raw log-odds (the model's scale)
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
                                         "message": r.message, "message_zh": r.message_zh}
                                        for r in decision.reasons]),
        terms_json=None if decision.terms is None else dumps(_terms_to_json(decision.terms)
                                                             or {}),
        contributions_json=dumps(dict(zip(scorer.feature_names, feature_points,
                                          strict=True))),
        family_points_json=dumps(dict(explained.family_points)),
        model_name=explained.model_name, model_version=explained.model_version)


class _ShadowRefused(ValueError):
    """A challenger's answer that cannot be stored (a PD outside [0, 1], a grade or
    version too long for its column)."""


def _shadow_values(challenger: Scorer, features: Mapping[str, Any], decision_id: str,
                   now: datetime) -> dict[str, Any]:
    """The ``shadow_score`` row of what ``challenger`` says of ``features``.

    Checked here, before the transaction, so that the insert cannot be refused by the
    database (a refused statement would roll back the decision with it).

    Raises
    ------
    Exception
        Whatever the challenger raised, or :class:`_ShadowRefused`.
    """
    explained = challenger.score(features)
    pd_, points = float(explained.probability_of_default), float(explained.points)
    if not (math.isfinite(pd_) and 0.0 <= pd_ <= 1.0 and math.isfinite(points)):
        raise _ShadowRefused(f"PD {pd_!r} / points {points!r} is not a probability and a "
                             "finite score")
    columns = _SHADOW_TABLE.c
    for name, value in (("grade", explained.grade), ("model_name", explained.model_name),
                        ("model_version", explained.model_version)):
        limit = getattr(columns[name].type, "length", None)
        if not value or (limit is not None and len(value) > limit):
            raise _ShadowRefused(f"{name} {value!r} is empty or longer than {limit}")
    return dict(decision_id=decision_id, model_name=explained.model_name,
                model_version=explained.model_version, pd=pd_, points=points,
                grade=explained.grade, scored_at=now)


def _shadow(challenger: Scorer | None, champion: Scorer, features: Mapping[str, Any],
            decision_id: str, now: datetime,
            on_failure: ShadowFailureHandler | None) -> dict[str, Any] | None:
    """The shadow row of a decision, or ``None`` (no challenger, the champion itself, or a
    challenger that failed: reported and logged, never raised)."""
    if challenger is None or challenger is champion or (
            challenger.model_name, challenger.model_version) == (champion.model_name,
                                                                 champion.model_version):
        return None
    try:
        return _shadow_values(challenger, features, decision_id, now)
    except Exception as error:  # noqa: BLE001 - a shadow never fails a decision
        log.warning("challenger %s v%s could not score decision %s: %s: %s",
                    challenger.model_name, challenger.model_version, decision_id,
                    type(error).__name__, error)
        if on_failure is not None:
            try:
                on_failure(challenger, error)
            except Exception:  # noqa: BLE001 - nor does its reporting
                log.exception("reporting a shadow scoring failure failed")
        return None


def _store_shadow(uow: SqlUnitOfWork, shadow: dict[str, Any] | None) -> None:
    """Insert a decision's shadow score, after the decision's row (its foreign key) and in
    its transaction."""
    if shadow is not None:
        uow.session.connection().execute(_INSERT_SHADOW, shadow)


def _dumps_list(items: list[dict[str, Any]]) -> str:
    """A list of documents as compact canonical JSON (as :func:`codec.dumps` writes one),
    in one encoder call."""
    return json.dumps(items, sort_keys=True, separators=(",", ":"))



def _view(record: CreditDecisionRecord | SimpleNamespace, *, replayed: bool = False,
          reasons: tuple[Reason, ...] | None = None,
          rules: tuple[PolicyReason, ...] | None = None) -> DecisionView:
    """The decision as the policy made it, from its immutable columns only (so a replay
    answers exactly what the first request got, whatever officers did since).

    ``reasons`` and ``rules``: the objects the reasons and policy reasons columns were
    written from (a new decision's), instead of reading the columns back: the JSON
    round trip gives equal values, at a cost per decision.
    """
    outcome = cast(Outcome, record.outcome)
    if reasons is None:
        reasons = _reasons_from_json(record.reasons)
    if rules is None:
        rules = _policy_reasons_from_json(record.policy_reasons)
    return DecisionView(
        decision_id=record.id, seller_id=record.seller_id, seller_kind=record.seller_kind,
        outcome=outcome, status=STATUS_OF_OUTCOME[outcome], pd=record.pd,
        points=record.points, grade=record.grade,
        limit=from_minor(record.proposed_limit_minor, record.currency),
        currency=record.currency, product=record.product,
        terms=_terms_from_json(record.terms),
        reasons=reasons, policy_reasons=rules,
        principal_reasons=principal_reasons(rules, reasons),
        model_name=record.model_name, model_version=record.model_version,
        policy_version=record.policy_version, snapshot_as_of=as_utc(record.snapshot_as_of),
        created_at=as_utc(record.created_at),
        line_id=record.line_id if outcome == "approve" else None, replayed=replayed)


def _action(row: OfficerActionRecord) -> OfficerAction:
    assert row.id is not None
    return OfficerAction(id=row.id, decision_id=row.decision_id, action=row.action,
                         actor=row.actor, acted_at=as_utc(row.acted_at), reason=row.reason,
                         before=json.loads(row.before), after=json.loads(row.after))


def _audit(record: CreditDecisionRecord, actions: list[OfficerActionRecord]) -> DecisionAudit:
    return DecisionAudit(
        decision=_view(record), status=record.status,
        limit=from_minor(record.limit_minor, record.currency), line_id=record.line_id,
        decided_by=record.decided_by, decided_at=as_utc_or_none(record.decided_at),
        version=record.version, requested_by=record.actor, raw_score=record.raw_score,
        baseline_points=record.baseline_points, features=json.loads(record.features),
        contributions=json.loads(record.contributions),
        family_points=json.loads(record.family_points),
        positive_factors=_reasons_from_json(record.positive_factors),
        actions=tuple(_action(row) for row in actions))


def _actions_of(uow: SqlUnitOfWork, decision_id: str) -> list[OfficerActionRecord]:
    return list(uow.session.exec(select(OfficerActionRecord)
                                 .where(OfficerActionRecord.decision_id == decision_id)
                                 .order_by(col(OfficerActionRecord.id))).all())


def _unknown(decision_id: str) -> UnknownDecision:
    return UnknownDecision(f"no credit decision {decision_id!r}", {"decision_id": decision_id})


def _business_date(uow: SqlUnitOfWork, now: datetime, timezone: str) -> date:
    """The lender's business date, read in the caller's transaction: a line opened by a
    decision opens on it, so that it can be drawn at once (draws happen on the business
    date, which stays on yesterday until end of day closes it, e.g. before the cut-off).

    Read once per transaction (and calendar date), in one statement
    (:func:`lending.persistence.business_day.read_business_date`): the approvals a group
    commit stores together open their lines on one business date, as an ORM session
    answers the store's row from the one it loaded first, without an ORM query or two
    each on the writer's connection (a store that never closed a day finds it from its
    earliest line, a scan of every line). Nothing a decision writes moves it: only end of
    day, in a transaction of its own, does.
    """
    today = now.astimezone(ZoneInfo(timezone)).date()
    known: dict[date, date] = uow.session.info.setdefault(_BUSINESS_DATES, {})
    found = known.get(today)
    if found is None:
        # One statement (nothing on this path loads the business_day row into the
        # session), after flushing what the session holds, as its query would.
        uow.session.flush()
        found = known[today] = read_business_date(uow.session.connection(), today=today)
    return found


#: Key of :func:`_business_date`'s dates in the session's ``info`` (one transaction).
_BUSINESS_DATES = "decisions.business_dates"


# --------------------------------------------------------------------------- deciding


def make_decision(uow: SqlUnitOfWork, *, snapshot: FeatureSnapshot, scorer: Scorer,
                  policy: CreditPolicy, idempotency_key: str, actor: str, now: datetime,
                  currency: str, requested_as_of: datetime | None = None,
                  timezone: str = DEFAULT_TIMEZONE, client: str = "",
                  commits: GroupCommit[SqlUnitOfWork] | None = None,
                  challenger: Scorer | None = None,
                  on_shadow_failure: ShadowFailureHandler | None = None,
                  lines: Sequence[_SellerLine] | None = None) -> DecisionView:
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
    commits : a group commit (:class:`store.GroupCommit`) to store the decision with other
        requests' in one transaction, or ``None`` for a transaction of its own
        (``uow``'s). Either way it returns once the decision is durable.
    challenger : a model to score the same features with in the shadow (the registry's
        challenger): its score is stored beside the decision (``shadow_score``) and never
        acted on. ``None``, or the champion itself, scores nothing more.
    on_shadow_failure : told ``(challenger, error)`` when the challenger cannot score;
        the decision is made and stored all the same, without a shadow score.
    lines : the seller's credit lines, most recently opened first, read after the
        snapshot (:func:`decide_for_seller` reads them with it); ``None`` reads them here
        (:func:`lending.persistence.lines_of_seller`).

    Returns
    -------
    DecisionView
        The decision, with the line id when approved.

    Raises
    ------
    IdempotencyKeyReused
        The key served a request for another seller or as-of time (409).
    InvalidIdempotencyKey
        The key is blank or longer than 200 characters.
    CurrencyMismatch
        ``currency`` is not the policy's.
    UnknownGrade, InvalidScore
        The model's grade or the seller's figures do not fit the policy.
    """
    check_idempotency_key(idempotency_key)
    check_actor(actor)
    if currency != policy.currency:
        raise CurrencyMismatch(f"policy {policy.version} decides in {policy.currency}; "
                               f"lines in {currency} cannot be opened from it")
    now = as_utc(now)
    seller_id = snapshot.seller_id
    body = {"seller_id": seller_id,
            "as_of": None if requested_as_of is None else as_utc(requested_as_of).isoformat()}
    features = {str(name): json_value(value) for name, value in snapshot.features.items()}
    features.setdefault("seller_kind", snapshot.seller_kind)
    # The seller's lines with us: an input of the policy (history) and of the approval
    # (one line per seller and product: a new approval changes the open line's limit).
    if lines is None:
        lines = lines_of_seller(uow, seller_id)
    features.update(_credit_history(lines))
    # Scoring is pure CPU: done before the transaction so that the write lock (SQLite
    # takes the whole database's) is held only for the few statements below.
    scored = _score(features, seller_id, scorer, policy)
    decision = scored.decision
    decision_id = f"DEC-{uuid.uuid4().hex}"
    shadow = _shadow(challenger, scorer, features, decision_id, now, on_shadow_failure)
    case = CreditCase.opened(decision_id, decision.outcome, limit=decision.limit,
                             currency=currency, product=decision.product,
                             requested_by=actor, at=now)
    existing = _open_line_of(lines, decision.product) if case.line_id else None
    if existing is not None:
        case = replace(case, line_id=existing.line_id)
    line_id = case.line_id
    limit_minor = to_minor(decision.limit, currency)

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
        snapshot_as_of=as_utc(snapshot.as_of), created_at=now, actor=actor,
        status=case.status, limit_minor=limit_minor, line_id=line_id,
        decided_by=case.decided_by, decided_at=case.decided_at, version=case.version)
    scope = idempotency_scope(DECISION_SCOPE, client)
    body_fingerprint = fingerprint(body)
    response = dumps({"decision_id": decision_id})
    # The view is what a replay rebuilds from the stored row, so both answers are equal.
    view = _view(SimpleNamespace(**values), reasons=scored.reasons,
                 rules=decision.reasons)

    def write(uow: SqlUnitOfWork) -> DecisionView:
        # The hot path: core statements on the unit of work's connection (the ORM's
        # per-object bookkeeping would cost more than scoring). ``uow`` is entered and is
        # committed by the caller: on its own below, or with other requests' decisions
        # by a group commit. Everything written is prepared above, so a group that is
        # rolled back can run this again. Claiming the key first saves a read in the
        # common case. A decision that opens no line is the whole of its effect: it is
        # written with its key (on PostgreSQL in the claim's own statement).
        alone = existing is None and line_id is None
        stored = uow.idempotency.claim(
            scope=scope, key=idempotency_key, body_fingerprint=body_fingerprint,
            line_id=line_id or "", response=response, created_at=now, request="decision",
            effect=(_DECISION_TABLE, values) if alone else None)
        if stored is not None:
            known = uow.session.get(CreditDecisionRecord, json.loads(stored)["decision_id"])
            assert known is not None  # written in the same transaction as the key
            return _view(known, replayed=True)
        if alone:
            _store_shadow(uow, shadow)
            return view
        today = _business_date(uow, now, timezone)
        regranted = existing.line_id if existing is not None else None
        if regranted is None:
            # One line per seller and product, even when two approvals race: the
            # seller's approvals take turns from here to commit, and the loser finds
            # the winner's line and changes its limit instead of opening a second.
            assert decision.product is not None  # an approval has a product
            regranted = _lock_open_line(uow, seller_id, decision.product)
        row, answer = values, view
        if regranted is not None:
            assert decision.terms is not None  # an approval has its product's terms
            regrant_line(_JoinedUnitOfWork(uow), line_id=regranted,
                         seller_id=seller_id, limit=decision.limit, terms=decision.terms,
                         policy_version=decision.policy_version,
                         on=today, actor=actor,
                         change_id=decision_id,
                         reason=f"approved again by decision {decision_id}",
                         record_unchanged=False)
            if regranted != line_id:
                row = {**values, "line_id": regranted}
                answer = _view(SimpleNamespace(**row), reasons=view.reasons,
                               rules=view.policy_reasons)
        else:
            assert line_id is not None
            open_line_from_decision(_JoinedUnitOfWork(uow), decision, line_id=line_id,
                                    opened_on=today,
                                    currency=currency)
        uow.session.connection().execute(_INSERT_DECISION, row)
        _store_shadow(uow, shadow)
        return answer

    def work() -> DecisionView:
        return commit_alone(uow, write) if commits is None else commits.run(write)

    return retry_on_conflict(work)


def decide_for_seller(uow: SqlUnitOfWork, *, seller_id: str,
                      requested_as_of: datetime | None, scorer: Scorer, policy: CreditPolicy,
                      idempotency_key: str, actor: str, now: datetime, max_age: timedelta,
                      timezone: str = DEFAULT_TIMEZONE, client: str = "",
                      commits: GroupCommit[SqlUnitOfWork] | None = None,
                      challenger: Scorer | None = None,
                      on_shadow_failure: ShadowFailureHandler | None = None
                      ) -> DecisionView:
    """Decide on a registered seller from its stored feature snapshot (what the route calls).

    The snapshot is read (one primary-key read; rebuilt from the seller's stored orders only
    when older than ``max_age``) as of ``requested_as_of`` or ``now``, and the seller's
    credit lines after it on the same connection; then :func:`make_decision` decides in
    the policy's currency (and scores in the shadow with ``challenger``, when given).

    Raises
    ------
    UnknownSeller, SellerNotYetRegistered
        From :func:`records.snapshots.current_snapshot` (404, 409).
    """
    from records.snapshots import current_snapshot_and

    # The seller's lines are read in the snapshot's own statement: one pooled connection,
    # one round trip and no transaction, where reads of their own took two of each.
    snapshot, lines = current_snapshot_and(uow.engine, seller_id, _SELLER_LINES,
                                           now=requested_as_of or now, max_age=max_age,
                                           timezone=timezone)
    return make_decision(uow, snapshot=snapshot, scorer=scorer, policy=policy,
                         idempotency_key=idempotency_key, actor=actor, now=now,
                         currency=policy.currency, requested_as_of=requested_as_of,
                         timezone=timezone, client=client, commits=commits,
                         challenger=challenger, on_shadow_failure=on_shadow_failure,
                         lines=lines)


# --------------------------------------------------------------------------- reading


def get_decision(uow: SqlUnitOfWork, decision_id: str) -> DecisionAudit:
    """The full audit record of a decision: features, contributions, versions, reasons and
    every officer action in order.

    Raises
    ------
    UnknownDecision
        No such decision.
    """
    with uow.reading():
        record = uow.session.get(CreditDecisionRecord, decision_id)
        if record is None:
            raise _unknown(decision_id)
        return _audit(record, _actions_of(uow, decision_id))


def shadow_scores_of(uow: SqlUnitOfWork, decision_id: str) -> tuple[ShadowScoreView, ...]:
    """What challengers said of a decision in the shadow, oldest first (empty when no
    challenger scored it).

    Raises
    ------
    UnknownDecision
        No such decision.
    """
    with uow.reading():
        known = uow.session.execute(sa.select(_DECISION_TABLE.c.id).where(
            _DECISION_TABLE.c.id == decision_id)).first()
        if known is None:
            raise _unknown(decision_id)
        rows = uow.session.execute(sa.select(_SHADOW_TABLE).where(
            _SHADOW_TABLE.c.decision_id == decision_id).order_by(
            _SHADOW_TABLE.c.scored_at, _SHADOW_TABLE.c.model_version)).all()
    return tuple(ShadowScoreView(decision_id=row.decision_id, model_name=row.model_name,
                                 model_version=row.model_version, pd=row.pd,
                                 points=row.points, grade=row.grade,
                                 scored_at=as_utc(row.scored_at)) for row in rows)


_SUMMARY_COLUMNS = (
    "id", "seller_id", "outcome", "status", "grade", "pd", "points", "limit_minor",
    "proposed_limit_minor", "currency", "product", "reasons", "model_name", "model_version",
    "policy_version", "created_at", "decided_by", "decided_at", "line_id", "version")


def _encode_cursor(created_at: datetime, decision_id: str) -> str:
    text = f"{as_utc(created_at).isoformat()}|{decision_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, decision_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        return as_utc(datetime.fromisoformat(moment)), decision_id
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidCursor("the cursor is not one this list gave",
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
    InvalidFilter, InvalidCursor
        An unknown status, a page size out of range, a cursor this list did not give.
    """
    if status is not None and status not in STATUSES:
        raise InvalidFilter(f"status must be one of {', '.join(STATUSES)}; got {status!r}",
                            [{"path": "query.status", "message": "unknown"}])
    if not 1 <= limit <= _MAX_PAGE:
        raise InvalidFilter(f"limit must be between 1 and {_MAX_PAGE}; got {limit}",
                            [{"path": "query.limit", "message": "out of range"}])
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
        statement = statement.where(created < as_utc(older_than))
    if newer_than is not None:
        statement = statement.where(created >= as_utc(newer_than))
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
        policy_version=row.policy_version, created_at=as_utc(row.created_at),
        decided_by=row.decided_by, decided_at=as_utc_or_none(row.decided_at),
        line_id=row.line_id, version=row.version) for row in rows[:limit])
    next_cursor = (_encode_cursor(items[-1].created_at, items[-1].decision_id)
                   if len(rows) > limit else None)
    return DecisionPage(items, next_cursor)


# --------------------------------------------------------------------------- reproducing


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
    UnknownDecision
        No such decision.
    ModelVersionUnavailable, PolicyVersionUnavailable
        The decision's model or policy version cannot be had.
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
        raise ModelVersionUnavailable(
            f"model {record.model_name} version {record.model_version} cannot be loaded: "
            f"{error}", {"model_name": record.model_name,
                         "model_version": record.model_version}) from None
    try:
        policy = policy_for_version(record.policy_version)
    except LookupError as error:
        raise PolicyVersionUnavailable(
            f"credit policy version {record.policy_version} is not available: {error}",
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
        stored=ReproducedFigures(outcome=view.outcome, pd=view.pd, points=view.points,
                                 grade=view.grade, limit=view.limit, reasons=view.reasons,
                                 policy_reasons=view.policy_reasons),
        reproduced=ReproducedFigures(
            outcome=decision.outcome, pd=again.pd, points=again.points, grade=again.grade,
            limit=decision.limit, reasons=again.reasons,
            policy_reasons=_policy_reasons_from_json(again.policy_reasons_json)))


# --------------------------------------------------------------------------- officers


#: First key of the PostgreSQL advisory lock that serialises the opening of a seller's
#: line of a product ("line" in ASCII); the second is a hash of the seller and product.
_OPENING_LOCK = 0x6C696E65


def _lock_open_line(uow: SqlUnitOfWork, seller_id: str, product: str) -> str | None:
    """Take the seller's line-opening turn for ``product`` until the transaction ends, then
    read the seller's open line of it (``None``: none, open one).

    PostgreSQL: a transaction advisory lock on (seller, product), so two approvals racing
    for one seller take turns and the second sees the first's line. SQLite's writers
    already take turns (``BEGIN IMMEDIATE``): the read alone is enough.
    """
    connection = uow.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_OPENING_LOCK_STATEMENT,
                           {"key": _OPENING_LOCK, "name": f"{seller_id}\x1f{product}"})
    return _open_line_id(uow, seller_id, product)


_OPENING_LOCK_STATEMENT = sa.text("SELECT pg_advisory_xact_lock(:key, hashtext(:name))")
#: The seller's open line of a product, the most recently opened (built once: a Core
#: statement on the session's connection, not an ORM query per approval).
_OPEN_LINE_ID = (sa.select(_LINE_TABLE.c.id)
                 .where(_LINE_TABLE.c.seller_id == sa.bindparam("seller_id"),
                        _LINE_TABLE.c.product == sa.bindparam("product"),
                        _LINE_TABLE.c.status.not_in(sorted(_WRITTEN_OFF)))
                 .order_by(_LINE_TABLE.c.opened_on.desc(), _LINE_TABLE.c.id.desc())
                 .limit(1))


def _open_line_id(uow: SqlUnitOfWork, seller_id: str, product: str) -> str | None:
    """The seller's open line of ``product`` (the most recently opened), read in the
    caller's transaction (after flushing what the session holds, as its query would)."""
    uow.session.flush()
    return uow.session.connection().execute(
        _OPEN_LINE_ID, {"seller_id": seller_id, "product": product}).scalar_one_or_none()


def _granted_terms(record: CreditDecisionRecord, product: str) -> Terms:
    """The terms a referred decision proposed (an officer's approval grants them)."""
    terms = _terms_from_json(record.terms)
    return terms if terms is not None else Terms(product)


def _lock_decision(uow: SqlUnitOfWork, decision_id: str) -> CreditDecisionRecord:
    """The decision, locked until the transaction ends (as a draw locks its line)."""
    statement = (select(CreditDecisionRecord).where(CreditDecisionRecord.id == decision_id)
                 .with_for_update().execution_options(populate_existing=True))
    record = uow.session.exec(statement).first()
    if record is None:
        raise _unknown(decision_id)
    return record


def _case_of(record: CreditDecisionRecord) -> CreditCase:
    """The credit case as its stored row stands."""
    return CreditCase(
        decision_id=record.id, currency=record.currency, product=record.product,
        status=cast(CaseStatus, record.status),
        limit=from_minor(record.limit_minor, record.currency), line_id=record.line_id,
        decided_by=record.decided_by, decided_at=as_utc_or_none(record.decided_at),
        version=record.version)


def act_on_decision(uow: SqlUnitOfWork, decision_id: str, *, action: OfficerActionName,
                    reason: str, actor: str, now: datetime, policy: CreditPolicy,
                    limit: AmountInput | None = None, expected_version: int | None = None,
                    timezone: str = DEFAULT_TIMEZONE) -> DecisionAudit:
    """Apply an officer action to a decision and audit it, in one transaction.

    The request is checked first (:meth:`decisions.case.OfficerRequest.checked`); then the
    decision's row is locked, the case built from it decides (:meth:`CreditCase.act`),
    and what it says happened is stored: the line opened or its limit changed, the case
    as it now stands and the audit line.

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
    UnknownDecision
        No such decision.
    DecisionAlreadyDecided, DecisionChanged, NoProduct
        The case was approved or declined already (by the policy or another officer);
        ``expected_version`` is not the current one; no product to open a line with.
    ReasonRequired, InvalidReason, ReasonTooLong, LimitRequired, LimitOutOfRange,
    InvalidAction, InvalidDecisionRequest
        The request itself is refused.
    InvalidAmount
        The limit is not a positive amount exact to the minor unit.
    LineClosed
        The approved line is closed (written off).
    """
    request = OfficerRequest.checked(action, reason=reason, actor=actor, policy=policy,
                                     limit=limit)
    now = as_utc(now)
    with uow:
        record = _lock_decision(uow, decision_id)
        case, acted = _case_of(record).act(request, at=now, policy=policy,
                                           expected_version=expected_version)
        effect = acted.line_effect
        today = _business_date(uow, now, timezone)
        existing = (_lock_open_line(uow, record.seller_id, effect.product)
                    if isinstance(effect, OpenLine) else None)
        if isinstance(effect, OpenLine) and existing is not None:
            # One line per seller and product: the open line takes the approved limit.
            regrant_line(_JoinedUnitOfWork(uow), line_id=existing, seller_id=record.seller_id,
                         limit=effect.limit, terms=_granted_terms(record, effect.product),
                         policy_version=record.policy_version, on=today, actor=acted.actor,
                         change_id=f"{decision_id}/v{case.version}", reason=acted.reason)
            case = replace(case, line_id=existing)
            acted = replace(acted, after=replace(acted.after, line_id=existing))
        elif isinstance(effect, OpenLine):
            open_line(_JoinedUnitOfWork(uow), line_id=effect.line_id,
                      seller_id=record.seller_id, limit=effect.limit, opened_on=today,
                      currency=record.currency, product=effect.product,
                      policy_version=record.policy_version,
                      revolving=effect.product == "purchase_line",
                      granted_terms=_terms_from_json(record.terms))
        elif isinstance(effect, ChangeLineLimit):
            # The lending store's service records the change as a line event, in this
            # transaction; from today, or from the line's booked date if a write already
            # booked it further (read under the line's lock).
            change_line_limit(_JoinedUnitOfWork(uow), line_id=effect.line_id,
                              new_limit=effect.new_limit, on=today, not_before_book=True,
                              reason=acted.reason, actor=acted.actor,
                              change_id=effect.change_id)
        record.status = case.status
        record.limit_minor = to_minor(case.limit, case.currency)
        record.line_id = case.line_id
        record.decided_by, record.decided_at = case.decided_by, case.decided_at
        record.version = case.version
        uow.session.add(record)
        uow.session.add(OfficerActionRecord(
            decision_id=decision_id, action=acted.action, actor=acted.actor,
            reason=acted.reason, before=dumps(acted.before.to_dict()),
            after=dumps(acted.after.to_dict()), acted_at=acted.at))
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
