"""Who is calling: the roles of the engine and the authenticated principal.

The permission table that says what each role may do is :mod:`api.permissions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = ["Role", "Principal"]


class Role(StrEnum):
    """The four roles; each API key and each person has exactly one."""

    MARKETPLACE = "marketplace"  #: the marketplace's systems: records, decisions, draws
    OFFICER = "officer"          #: loan officers: review referred cases, act on them
    RISK = "risk"                #: risk teams: models, monitoring
    ADMIN = "admin"              #: everything


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes
    ----------
    kind : ``"api_key"`` for machine clients, ``"user"`` for people logged in.
    id : the key's public id or the user's name; recorded in audit trails.
    role : what the caller may do (:mod:`api.permissions`).
    """

    kind: Literal["api_key", "user"]
    id: str
    role: Role

    @property
    def actor(self) -> str:
        """How audit records name this caller (``user:alice``, ``key:k_3f2a``)."""
        return f"{'user' if self.kind == 'user' else 'key'}:{self.id}"
