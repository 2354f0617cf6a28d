"""Which model version serves, what the registry's aliases say, and a reload."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from access.principal import Principal
from api.deps import ModelsDep, require
from api.errors import ApiError

router = APIRouter(prefix="/v1", tags=["models"])


class ModelsPublic(BaseModel):
    """The model the service answers with, the registry's aliases, and the challenger the
    service actually scores in the shadow.

    ``challenger`` is where the registry's alias points; ``shadow_version`` is the
    version the service loaded and scores every decision with (``None``: no shadow
    scoring), and ``challenger_error`` why the alias's version is not loaded.
    """

    model_name: str
    alias: str
    serving_version: str | None
    champion: str | None
    challenger: str | None = Field(
        description="The version the registry's challenger alias points to, as last read "
                    "(null: no alias).")
    aliases: dict[str, str]
    loaded_at: datetime | None
    last_error: str | None
    shadow_version: str | None = Field(
        description="The challenger version this service loaded and scores every decision "
                    "with in the shadow (null: no shadow scoring: no challenger alias, the "
                    "alias on the serving version, or a version that failed to load).")
    challenger_error: str | None = Field(
        description="Why the challenger alias's version is not loaded (`ExceptionType: "
                    "message`; retried at the next poll or reload); null when it loaded or "
                    "there is none.")


class ReloadPublic(BaseModel):
    """The outcome of a reload."""

    previous_version: str | None
    serving_version: str | None
    changed: bool


def _public(models: ModelsDep) -> ModelsPublic:
    status = models.status()
    return ModelsPublic(model_name=status.model_name, alias=status.alias,
                        serving_version=status.serving_version,
                        champion=status.registry_aliases.get("champion"),
                        challenger=status.registry_aliases.get("challenger"),
                        aliases=status.registry_aliases, loaded_at=status.loaded_at,
                        last_error=status.last_error,
                        shadow_version=status.shadow_version,
                        challenger_error=status.challenger_error)


@router.get("/models", response_model=ModelsPublic)
def read_models(principal: Annotated[Principal, require("models:read")],
                models: ModelsDep) -> ModelsPublic:
    """The serving version, the champion and challenger as last read from the registry,
    and the challenger version loaded for shadow scoring (or why it failed to load)."""
    return _public(models)


@router.post("/models/reload", response_model=ReloadPublic)
def reload_models(principal: Annotated[Principal, require("models:reload")],
                  models: ModelsDep) -> ReloadPublic:
    """Read the alias now and serve the version it points to (no restart, no failed
    request: requests in flight finish on the version they started with)."""
    try:
        result = models.reload()
    except LookupError as error:
        raise ApiError(409, "model_not_found", str(error)) from None
    except Exception as error:  # noqa: BLE001 - a model that fails to load: old one serves
        raise ApiError(409, "model_load_failed", f"the new version failed to load; the "
                       f"previous one keeps serving ({type(error).__name__}: {error})"
                       ) from None
    return ReloadPublic(previous_version=result.previous_version,
                        serving_version=result.serving_version, changed=result.changed)
