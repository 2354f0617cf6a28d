"""SQLModel tables of access control: people, API keys, sessions and login attempts.

No secret is stored in a form that can be used: people's passwords as argon2 hashes,
API keys and session tokens as SHA-256 hashes of high-entropy random values (a leaked
table gives nobody a way in). The services that read and write these tables are in
:mod:`access.security`; ``docs/security.md`` lists every column and why it is kept.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = ["AppUserRecord", "ApiKeyRecord", "UserSessionRecord", "LoginAttemptRecord"]

#: Auto-incrementing 64-bit key; SQLite only auto-increments an ``INTEGER PRIMARY KEY``.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


class AppUserRecord(SQLModel, table=True):
    """A person who logs in to the officer pages (``app_user``)."""

    __tablename__ = "app_user"

    #: Lower-case login name; also the principal id recorded in audit trails.
    username: str = Field(primary_key=True, max_length=100)
    #: argon2id hash in PHC string form (parameters and salt included).
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)
    created_at: datetime = Field(sa_type=_timestamp())
    password_changed_at: datetime = Field(sa_type=_timestamp())
    #: Set when the person may no longer log in; their sessions stop working at once.
    disabled_at: datetime | None = Field(default=None, sa_type=_timestamp())


class ApiKeyRecord(SQLModel, table=True):
    """A machine client's API key (``api_key``); the secret itself is never stored."""

    __tablename__ = "api_key"

    #: Public id (``k_3f2a9c41d0``): part of the key, shown in listings and audits.
    id: str = Field(primary_key=True, max_length=40)
    #: Hex SHA-256 of the key's secret part.
    secret_hash: str = Field(max_length=64)
    role: str = Field(max_length=20)
    name: str = Field(max_length=100)
    created_at: datetime = Field(sa_type=_timestamp())
    revoked_at: datetime | None = Field(default=None, sa_type=_timestamp())
    #: Refreshed at most about once a minute per process (see ``access.security``).
    last_used_at: datetime | None = Field(default=None, sa_type=_timestamp())


class UserSessionRecord(SQLModel, table=True):
    """A logged-in person's session (``user_session``); deleted at logout."""

    __tablename__ = "user_session"

    #: Hex SHA-256 of the session token held in the cookie.
    id: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=100, index=True, foreign_key="app_user.username")
    created_at: datetime = Field(sa_type=_timestamp())
    #: Last request seen (refreshed at most once a minute); drives the idle expiry.
    last_seen_at: datetime = Field(sa_type=_timestamp())
    #: Absolute expiry: the session ends then, however active.
    expires_at: datetime = Field(sa_type=_timestamp())
    client_ip: str = Field(max_length=64)


class LoginAttemptRecord(SQLModel, table=True):
    """One login attempt (``login_attempt``), kept for rate limiting across processes."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    #: SHA-256 digest of the name as typed (normalised), whether or not it exists: never
    #: the text, in case a password was typed into the name field.
    username: str = Field(max_length=100, index=True)
    client_ip: str = Field(max_length=64, index=True)
    succeeded: bool
    attempted_at: datetime = Field(sa_type=_timestamp(), index=True)
