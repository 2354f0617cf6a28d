"""FastAPI dependencies shared by every route (``Annotated`` shortcuts).

They are ``async`` and do no I/O (the permission check reads the database only when a
key is not in the cache, and then in a worker thread), so a request costs one hop to the
thread pool, for the route itself, not one per dependency.

Routes declare what they need and the permission they require::

    @router.post("/decisions")
    def create(principal: Annotated[Principal, require("decisions:create")],
               uow: UowDep, scorer: ScorerDep) -> DecisionPublic: ...
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from access.principal import Principal
from api.errors import ApiError
from api.model_holder import ModelHolder
from lending.persistence import SqlUnitOfWork
from lending.policy import CreditPolicy
from scoring import Scorer
from settings import Settings
from store import GroupCommit

__all__ = ["SettingsDep", "EngineDep", "UowDep", "ScorerDep", "PolicyDep", "ModelsDep",
           "DecisionCommitsDep", "IdempotencyKeyHeader", "require", "required_permission",
           "PUBLIC_PATHS", "settings_of", "engine_of"]

#: Routes anyone may call (health checks of load balancers and orchestrators).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})


def settings_of(request: Request) -> Settings:
    """The service's settings (what :func:`get_settings` gives a route)."""
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> sa.Engine:
    """The database engine (what :func:`get_engine` gives a route)."""
    engine: sa.Engine = request.app.state.engine
    return engine


async def get_settings(request: Request) -> Settings:
    """The service's settings."""
    return settings_of(request)


async def get_engine(request: Request) -> sa.Engine:
    """The database engine."""
    return engine_of(request)


def decision_commits_of(request: Request) -> GroupCommit | None:
    """The group commit that stores decisions (what :func:`get_decision_commits` gives)."""
    commits: GroupCommit | None = request.app.state.decision_commits
    return commits


def models_of(request: Request) -> ModelHolder:
    """The model holder (what :func:`get_models` gives a route)."""
    holder: ModelHolder = request.app.state.models
    return holder


def policy_of(request: Request) -> CreditPolicy:
    """The credit policy in force (what :func:`get_policy` gives a route)."""
    policy: CreditPolicy = request.app.state.policy
    return policy


async def get_uow(request: Request) -> SqlUnitOfWork:
    """A fresh unit of work, not yet entered (``with uow: ... uow.commit()``)."""
    return SqlUnitOfWork(engine_of(request))


async def get_decision_commits(request: Request) -> GroupCommit | None:
    """The group commit that stores decisions (``None``: each in its own transaction)."""
    return decision_commits_of(request)


async def get_models(request: Request) -> ModelHolder:
    """The model holder."""
    return models_of(request)


async def get_scorer(request: Request) -> Scorer:
    """The scorer serving now; 503 ``model_unavailable`` when no model is loaded."""
    scorer = request.app.state.models.current()
    if scorer is None:
        raise ApiError(503, "model_unavailable", "no credit model is loaded; a risk user "
                       "must register and promote one (sme-credit train / promote)")
    return scorer


async def get_policy(request: Request) -> CreditPolicy:
    """The credit policy in force."""
    return policy_of(request)


_KEY_MAX = 200
#: Printable ASCII, at least one character that is not a space.
IDEMPOTENCY_KEY_PATTERN = r"^[ -~]*[!-~][ -~]*$"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"


#: The ``Idempotency-Key`` header of a write: required, 1 to 200 printable ASCII characters
#: with one that is not a space. A header parameter of the route rather than a dependency
#: (FastAPI resolves each dependency for every request, about 40 microseconds each).
#: Declared required so the OpenAPI document says so; a missing or malformed header is
#: answered by the validation handler with ``idempotency_key_required`` or
#: ``invalid_idempotency_key`` (:mod:`api.errors`).
IdempotencyKeyHeader = Annotated[str, Header(
    alias=IDEMPOTENCY_KEY_HEADER, min_length=1, max_length=_KEY_MAX,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description="Any unique string (1 to 200 printable ASCII characters), reused only to "
    "retry the same request: the retry replays the first answer.")]


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[sa.Engine, Depends(get_engine)]
UowDep = Annotated[SqlUnitOfWork, Depends(get_uow)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
PolicyDep = Annotated[CreditPolicy, Depends(get_policy)]
ModelsDep = Annotated[ModelHolder, Depends(get_models)]
DecisionCommitsDep = Annotated[GroupCommit | None, Depends(get_decision_commits)]


class _Requirement:
    """The dependency behind :func:`require`; ``permission`` is read by the role test."""

    def __init__(self, permission: str) -> None:
        from access.permissions import check_permission, is_allowed

        self.permission = check_permission(permission)
        self._is_allowed = is_allowed
        self.__name__ = f"require_{permission.replace(':', '_')}"

    async def __call__(self, request: Request) -> Principal:
        from api.security import authenticate_request, cached_key_principal

        # A key verified moments ago answers from memory on the event loop; anything
        # else reads the database in a worker thread, never on the loop.
        principal = cached_key_principal(request)
        if principal is None:
            principal = await run_in_threadpool(authenticate_request, request)
        if principal is None:
            raise ApiError(401, "unauthenticated", "this route needs credentials: an API "
                           "key as 'Authorization: Bearer <key>' or an officer session")
        if not self._is_allowed(self.permission, principal.role):
            raise ApiError(403, "forbidden", f"role {principal.role.value!r} may not "
                           f"{self.permission!r}", {"permission": self.permission})
        request.state.principal = principal
        return principal


def require(permission: str) -> Any:
    """A dependency that authenticates the caller and checks ``permission``.

    Use as ``principal: Annotated[Principal, require("lines:write")]``. Answers 401
    ``unauthenticated`` without valid credentials and 403 ``forbidden`` when the caller's
    role lacks the permission (see :mod:`access.permissions`).
    """
    return Depends(_Requirement(permission))


def required_permission(dependant_call: object) -> str | None:
    """The permission a dependency callable checks, or ``None`` (for the role test)."""
    return dependant_call.permission if isinstance(dependant_call, _Requirement) else None
