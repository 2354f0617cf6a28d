"""Credit decisions: ask for one, read its audit record, reproduce it, act on a referral.

``POST /v1/decisions`` scores the seller's current feature snapshot with the serving model,
applies the credit policy, opens the credit line when approved or queues a referral for
officers, and answers with the decision, PD, points, grade, limit and terms, up to four
reasons (English and Chinese), the model and policy versions, the snapshot's as-of time,
the decision id and the line id. It takes an ``Idempotency-Key``: a retry with the same
key and body replays the first answer (header ``Idempotent-Replayed: true``); the same key
with another body is refused with 409 ``idempotency_key_reused``.

When the registry has a challenger, the service scores every decision with it too and
stores that score beside the decision, never acting on it (shadow scoring,
:mod:`decisions.service`). The decision's answers never show it: the marketplace answers
for the champion's decision only. ``GET /v1/decisions/{id}/shadow-scores`` shows it to the
roles that may see models (``models:read``: officers, risk, admin).

Permissions: ``decisions:create`` to decide, ``decisions:read`` to read, list and
reproduce (reproducing reads what ``GET`` already shows and changes nothing, so whoever
may read a decision's audit record may check it; ``models:read`` would shut out the
marketplace, which is the party that has to answer for a decision), ``models:read`` for
the shadow scores, ``cases:review`` for officer actions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter
from sqlmodel import SQLModel

from access.principal import Principal
from api.deps import (
    IdempotencyKeyHeader,
    ModelsDep,
    PolicyDep,
    ScorerDep,
    SettingsDep,
    UowDep,
    decision_commits_of,
    engine_of,
    models_of,
    policy_of,
    require,
    settings_of,
)
from api.errors import ApiError
from api.metrics import Metrics
from api.model_holder import ModelHolder
from api.routes.lines import plain_decimal
from api.validation import ID_REGEX, PlausibleDatetime
from decisions import service as service
from decisions.case import REVIEW_PERMISSION, OfficerActionName
from decisions.tables import CaseBase, CreditDecisionBase, DecisionScoreBase, OfficerActionBase
from lending.errors import LendingError
from lending.persistence import SqlUnitOfWork
from lending.policy import CreditPolicy, load_policy
from scoring import Scorer
from store.clock import utc_now

router = APIRouter(prefix="/v1", tags=["decisions"])

#: Seller ids: the record contract's one pattern (features.records.ID_PATTERN).
_ID = ID_REGEX
DecisionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$",
                                 description="Decision id (DEC-...).")]
Money = Annotated[Decimal, BeforeValidator(plain_decimal),
                  Field(allow_inf_nan=False, max_digits=20,
                        description="Decimal string in the major unit, e.g. \"5000.00\"; "
                        "exact to the minor unit.")]


# ------------------------------------------------------------------- bodies
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionRequest(_Body):
    """A credit decision for one seller."""

    seller_id: str = Field(pattern=_ID, description="The seller, as registered.")
    as_of: PlausibleDatetime | None = Field(
        None, description="Decide on the seller's features as of this moment (default: "
        "now); from 1970-01-01T00:00:00Z to 2099-12-31T23:59:59.999999Z, not in the future.")


class OfficerActionRequest(_Body):
    """An officer's action on a case, with the mandatory written reason."""

    action: OfficerActionName
    limit: Money | None = Field(None, description="approve: the limit granted (default: the "
                                "proposed one); change_limit: the new limit.")
    reason: str = Field(min_length=1, max_length=10_000,
                        description="Why (non-blank, at most 2,000 characters); kept in the "
                        "audit trail.")
    expected_version: int | None = Field(None, ge=1, description="The case version the "
                                         "officer saw; a case changed since is refused (409).")


# ------------------------------------------------------------------ answers
# The decision's answers belong to its one model family (decisions.tables): each inherits
# the fields it shares with the stored decision and the service's answers, and is built
# from the service's answer by attribute (``model_validate``), names matching. The one
# name that differs is the HTTP API's: the policy's ``outcome`` is answered as
# ``decision``.


class _Answer(BaseModel):
    """An answer read from the service's values by attribute."""

    model_config = ConfigDict(from_attributes=True)


class DriverPublic(_Answer):
    """A feature behind a reason: its value and its effect in points."""

    feature: str
    value: float | str | None
    unit: str
    points: float


class ReasonPublic(_Answer):
    """One factor of the score against the typical approved applicant at the cut-off, in
    plain language (docs/scoring.md, "Reasons")."""

    code: str
    family: str
    direction: str
    points: float
    text_en: str
    text_zh: str
    drivers: list[DriverPublic]
    feature: str = ""
    value: float | str | None = None
    compared_with: float | str | None = None
    unit: str = ""
    share_of_gap: float | None = None


class PolicyReasonPublic(_Answer):
    """A policy rule that referred or declined the application (or capped the limit)."""

    code: str
    effect: str
    message: str
    message_zh: str = ""


class PrincipalReasonPublic(_Answer):
    """A reason the applicant is told: a policy rule first, then the model's factors."""

    source: str
    code: str
    text_en: str
    text_zh: str
    feature: str | None = None


class TermsPublic(_Answer):
    """The product offered and its terms."""

    product: str
    interest_free_days: list[int]
    instalment_months: list[int]
    instalment_fee_rate_per_month: Decimal
    methods: list[str]
    months: list[int]
    annual_rate: Decimal


#: Every field of an answer is always in it (``null`` when empty): the schema says so.
_ANSWER = SQLModel.model_config | {"json_schema_serialization_defaults_required": True}


def _outcome() -> Any:
    """The policy's outcome: the service's ``outcome``, answered as ``decision``."""
    return Field(validation_alias=AliasChoices("decision", "outcome"),
                 description="approve, refer or decline.")


class DecisionPublic(CreditDecisionBase):
    """A credit decision as the policy made it."""

    model_config = _ANSWER

    decision_id: str
    decision: str = _outcome()
    status: str = Field(description="approved, referred or declined.")
    limit: Decimal = Field(description="The limit granted (referred: proposed; declined: 0).")
    terms: TermsPublic | None
    reasons: list[ReasonPublic] = Field(description="Principal adverse reasons, at most four.")
    policy_reasons: list[PolicyReasonPublic]
    principal_reasons: list[PrincipalReasonPublic] = Field(
        default=[], description="What the applicant is told: the policy rules that referred "
        "or declined first, then the model's reasons; at most four, English and Chinese.")
    snapshot_as_of: datetime
    line_id: str | None


class OfficerActionPublic(OfficerActionBase):
    """One audited officer action."""

    model_config = _ANSWER

    id: int
    before: dict[str, Any]
    after: dict[str, Any]


class DecisionAuditPublic(CaseBase):
    """The full audit record of a decision and where the case stands now."""

    model_config = _ANSWER

    decision: DecisionPublic
    limit: Decimal
    requested_by: str
    raw_score: float
    baseline_points: float
    features: dict[str, Any] = Field(description="Every feature value scored.")
    contributions: dict[str, float] = Field(
        description="SHAP contribution of each model feature, in points (positive raised "
        "the score); baseline_points plus their sum is the score.")
    family_points: dict[str, float]
    positive_factors: list[ReasonPublic]
    actions: list[OfficerActionPublic]


class DecisionSummaryPublic(CreditDecisionBase, CaseBase):
    """A decision in a list."""

    model_config = _ANSWER

    decision_id: str
    decision: str = _outcome()
    limit: Decimal
    proposed_limit: Decimal
    reason_codes: list[str]


class DecisionPagePublic(_Answer):
    """A page of decisions; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[DecisionSummaryPublic]
    next_cursor: str | None


class FiguresPublic(DecisionScoreBase):
    """What a decision is made of."""

    model_config = _ANSWER

    decision: str = _outcome()
    limit: Decimal
    reasons: list[ReasonPublic]
    policy_reasons: list[PolicyReasonPublic]


class ShadowScorePublic(DecisionScoreBase):
    """What a challenger said of the decision in the shadow (stored, never acted on)."""

    model_config = _ANSWER

    model_name: str
    model_version: str
    scored_at: datetime


class ShadowScoresPublic(_Answer):
    """The challengers' scores of one decision (empty when none scored it)."""

    decision_id: str
    items: list[ShadowScorePublic]


class ReproductionPublic(_Answer):
    """A stored decision re-scored with its own model and policy versions."""

    decision_id: str
    model_name: str
    model_version: str
    policy_version: str
    exact: bool
    differences: list[str]
    stored: FiguresPublic
    reproduced: FiguresPublic


# ----------------------------------------------------------------- mapping
def decision_public(view: service.DecisionView) -> DecisionPublic:
    """The public shape of a decision."""
    return DecisionPublic.model_validate(view)


def audit_public(audit: service.DecisionAudit) -> DecisionAuditPublic:
    """The public shape of an audit record."""
    return DecisionAuditPublic.model_validate(audit)


def _scorer_lookup(models: ModelHolder) -> Any:
    def scorer_for(name: str, version: str) -> Scorer:
        current = models.current()
        if current is not None and (current.model_name, current.model_version) == (
                name, version):
            return current
        if name != models.model_name:
            raise LookupError(f"the service serves model {models.model_name!r}, not {name!r}")
        try:
            return models.scorer_for(version)
        except LookupError:
            raise
        except Exception as error:  # a registry failure: the version cannot be had now
            raise LookupError(f"{type(error).__name__}: {error}") from None

    return scorer_for


def _policy_lookup(current: CreditPolicy) -> Any:
    def policy_for(version: str) -> CreditPolicy:
        if version == current.version:
            return current
        # Older versions that ship with the package (policies are versioned files).
        for entry in resources.files("lending").joinpath("policies").iterdir():
            if entry.name.endswith(".toml"):
                try:
                    with resources.as_file(entry) as path:
                        candidate = load_policy(path)
                except LendingError:
                    continue
                if candidate.version == version:
                    return candidate
        raise LookupError(f"no policy file of version {version!r} is installed")

    return policy_for


#: The JSON of a decision's answer, as FastAPI writes a ``response_model`` (by alias).
_DECISION_JSON = TypeAdapter(DecisionPublic)


def decision_response(view: service.DecisionView) -> Response:
    """``POST /v1/decisions``'s answer (201), its JSON written here, in the route's worker
    thread: FastAPI would validate the returned model against ``response_model`` again in a
    second hop to the thread pool (a sync route's answer is validated there) before writing
    the same bytes. ``Idempotent-Replayed: true`` on a replay."""
    response = Response(_DECISION_JSON.dump_json(decision_public(view), by_alias=True),
                        status_code=201, media_type="application/json")
    if view.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


# ------------------------------------------------------------------- routes
@router.post("/decisions", response_model=DecisionPublic, status_code=201)
def create_decision(body: DecisionRequest,
                    principal: Annotated[Principal, require("decisions:create")],
                    scorer: ScorerDep, idempotency_key: IdempotencyKeyHeader,
                    request: Request) -> Response:
    """Decide on a seller's credit from its current feature snapshot."""
    # the service's parts through api.deps' accessors rather than five dependencies:
    # each dependency costs FastAPI's resolver tens of microseconds a request
    settings = settings_of(request)
    models = models_of(request)
    now = utc_now()
    metrics: Metrics = request.app.state.metrics
    if body.as_of is not None and body.as_of > now + timedelta(minutes=5):
        raise ApiError(422, "invalid_request", "as_of must not be in the future",
                       [{"path": "body.as_of", "message": "in the future"}])
    view = service.decide_for_seller(
        SqlUnitOfWork(engine_of(request)), seller_id=body.seller_id,
        requested_as_of=body.as_of, scorer=scorer, policy=policy_of(request),
        idempotency_key=idempotency_key, actor=principal.actor, now=now,
        max_age=timedelta(seconds=settings.snapshot_max_age_seconds),
        timezone=settings.timezone, client=principal.client,
        commits=decision_commits_of(request),
        challenger=models.challenger(), on_shadow_failure=metrics.shadow_failed)
    return decision_response(view)


@router.get("/decisions", response_model=DecisionPagePublic)
def list_decisions(
        principal: Annotated[Principal, require("decisions:read")], uow: UowDep,
        status: Annotated[Literal["approved", "referred", "declined"] | None,
                          Query(description="Where the case stands now.")] = None,
        grade: Annotated[str | None, Query(max_length=10)] = None,
        older_than: Annotated[PlausibleDatetime | None,
                              Query(description="Made before this moment (1970-01-01 to "
                                    "2099-12-31, UTC).")] = None,
        newer_than: Annotated[PlausibleDatetime | None,
                              Query(description="Made at or after this moment (1970-01-01 "
                                    "to 2099-12-31, UTC).")] = None,
        seller_id: Annotated[str | None, Query(pattern=_ID)] = None,
        q: Annotated[str | None, Query(max_length=128, description="Text searched in seller, "
                                       "decision and line ids.")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(min_length=1, max_length=400)] = None,
        oldest_first: bool = False) -> DecisionPagePublic:
    """Decisions, newest first; the officer queue is ``status=referred&oldest_first=true``."""
    page = service.list_decisions(uow, status=status, grade=grade, older_than=older_than,
                                  newer_than=newer_than, seller_id=seller_id, query=q,
                                  limit=limit, cursor=cursor, oldest_first=oldest_first)
    return DecisionPagePublic.model_validate(page)


@router.get("/decisions/{decision_id}", response_model=DecisionAuditPublic)
def read_decision(decision_id: DecisionId,
                  principal: Annotated[Principal, require("decisions:read")],
                  uow: UowDep) -> DecisionAuditPublic:
    """The full audit record: features, contributions, versions, reasons, officer actions."""
    return audit_public(service.get_decision(uow, decision_id))


@router.get("/decisions/{decision_id}/shadow-scores", response_model=ShadowScoresPublic)
def read_shadow_scores(decision_id: DecisionId,
                       principal: Annotated[Principal, require("models:read")],
                       uow: UowDep) -> ShadowScoresPublic:
    """What the challenger said of a decision in the shadow (never acted on)."""
    scores = service.shadow_scores_of(uow, decision_id)
    return ShadowScoresPublic(decision_id=decision_id,
                              items=[ShadowScorePublic.model_validate(score, from_attributes=True)
                                     for score in scores])


@router.post("/decisions/{decision_id}/reproduce", response_model=ReproductionPublic)
def reproduce_decision(decision_id: DecisionId,
                       principal: Annotated[Principal, require("decisions:read")],
                       uow: UowDep, models: ModelsDep, policy: PolicyDep) -> ReproductionPublic:
    """Re-score the stored features with the stored model and policy versions."""
    result = service.reproduce_decision(uow, decision_id, _scorer_lookup(models),
                                        _policy_lookup(policy))
    return ReproductionPublic.model_validate(result)


@router.post("/decisions/{decision_id}/actions", response_model=DecisionAuditPublic)
def act_on_decision(decision_id: DecisionId, body: OfficerActionRequest,
                    principal: Annotated[Principal, require(REVIEW_PERMISSION)], uow: UowDep,
                    policy: PolicyDep, settings: SettingsDep) -> DecisionAuditPublic:
    """An officer approves, declines or changes the limit of a case, with a reason."""
    audit = service.act_on_decision(
        uow, decision_id, action=body.action, reason=body.reason, actor=principal.actor,
        now=utc_now(), policy=policy, limit=body.limit,
        expected_version=body.expected_version, timezone=settings.timezone)
    return audit_public(audit)
