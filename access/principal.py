"""Who is calling: the roles of the engine and the authenticated principal.

The permission table that says what each role may do is :mod:`access.permissions`.
"""

from __future__ import annotations

import hashlib
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
    role : what the caller may do (:mod:`access.permissions`).
    """

    kind: Literal["api_key", "user"]
    id: str
    role: Role

    @property
    def client(self) -> str:
        """The scope of this caller's idempotency keys: the key id or the user name, or a
        digest of a name too long to be a scope."""
        text = self.actor
        if len(text) <= 40:
            return text
        return "h:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    @property
    def actor(self) -> str:
        """How audit records name this caller (``user:alice``, ``key:k_3f2a``)."""
        return f"{'user' if self.kind == 'user' else 'key'}:{self.id}"
