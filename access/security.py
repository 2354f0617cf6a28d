"""Access control: API keys, people's passwords, sessions, CSRF and the login limit.

Who may do what is :mod:`access.permissions`; this module answers *who is calling*.

* **API keys** (machine clients) look like ``smc_k_3f2a9c41d0_<64 hex>``: a public id
  (``k_3f2a9c41d0``, shown in listings and audit trails) and a 256-bit secret from
  :mod:`secrets`. Only the SHA-256 of the secret is stored; a slow hash buys nothing
  for a random 256-bit value. A verified key is remembered in a small in-process cache
  for ``api_key_cache_seconds`` (5 s by default), so an authenticated request usually
  costs one SHA-256 and no database read; a revoked key therefore stops working at once
  in the process that revoked it and within that many seconds everywhere else.
* **People** log in with a password hashed with argon2id (:class:`argon2.PasswordHasher`,
  parameters and salt inside the stored hash); a hash made with older parameters is
  replaced at the next successful login.
* **Sessions**: a login gives a random session token (the cookie) and a CSRF token
  derived from it; only the SHA-256 of the session token is stored. A session ends at
  logout (its row is deleted), after ``session_idle_minutes`` without a request, and
  ``session_max_hours`` after login.
* **Login limit**: after ``login_max_failures`` failed attempts for one user name, or from
  one client address, within ``login_window_minutes``, logins are refused
  (:class:`LoginThrottled`) until old failures leave the window. Attempts are rows of
  ``login_attempt``, so the limit holds across processes; the count is taken and the
  attempt recorded in one locked transaction before the password is checked, so it
  holds for parallel attempts too.

Keys, passwords and tokens never appear in a log line, an error message or a ``repr``.
``docs/security.md`` is the long form.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from access.principal import Principal, Role
from access.tables import ApiKeyRecord, AppUserRecord, LoginAttemptRecord, UserSessionRecord
from settings import Settings
from store.clock import as_utc, as_utc_or_none, utc_now
from store.database import READ_ONLY_OPTION

__all__ = [
    # errors
    "AuthError", "InvalidInput", "WeakPassword", "UserExists", "UnknownUser",
    "UnknownApiKey", "InvalidCredentials", "LoginThrottled",
    # values
    "AuthLimits", "ApiKeyInfo", "UserInfo", "SessionTokens", "UserSession",
    # API keys
    "API_KEY_PREFIX", "ApiKeyCache", "create_api_key", "revoke_api_key", "list_api_keys",
    "authenticate_api_key",
    # people
    "MIN_PASSWORD_LENGTH", "DEFAULT_PASSWORD_HASHER", "check_password_policy",
    "normalise_username", "create_user", "set_password", "disable_user", "list_users",
    "verify_password",
    # sessions
    "login", "logout", "load_session", "verify_csrf", "key_digest",
]

API_KEY_PREFIX = "smc_"
MIN_PASSWORD_LENGTH = 12
#: Longer passwords are refused at creation; argon2's cost barely depends on the length,
#: but nothing legitimate needs more and it bounds the work a request can ask for.
MAX_PASSWORD_LENGTH = 1024

#: argon2id with the library's defaults (RFC 9106 low-memory profile: 3 passes, 64 MiB).
DEFAULT_PASSWORD_HASHER = PasswordHasher()

_KEY_PATTERN = re.compile(r"smc_(k_[0-9a-f]{10})_([0-9a-f]{64})")
_USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@-]{0,99}")
_CSRF_CONTEXT = b"sme-credit csrf v1"
#: last_used_at / last_seen_at are refreshed at most this often, so a busy client does
#: not turn every request into a database write.
_TOUCH_INTERVAL = timedelta(seconds=60)


# --------------------------------------------------------------------------- errors


class AuthError(Exception):
    """A refused access-control operation, with a stable ``code``.

    Messages never contain a key, password or token. ``api/errors.py`` maps each class
    to its HTTP status.
    """

    code = "auth_error"


class InvalidInput(AuthError, ValueError):
    """A user name, key name, role or password that cannot be accepted."""

    code = "invalid_request"


class WeakPassword(InvalidInput):
    """A new password that does not meet the password policy."""

    code = "weak_password"


class UserExists(AuthError):
    """A user with this name exists already."""

    code = "user_exists"


class UnknownUser(AuthError):
    """No user has this name."""

    code = "unknown_user"


class UnknownApiKey(AuthError):
    """No API key has this public id."""

    code = "unknown_api_key"


class InvalidCredentials(AuthError):
    """Wrong user name or password; the same answer for both, on purpose."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("wrong user name or password")


class LoginThrottled(AuthError):
    """Too many failed logins for this user name or from this address lately."""

    code = "too_many_login_attempts"

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        minutes = max(1, -(-retry_after_seconds // 60))
        super().__init__(f"too many failed logins; try again in {minutes} minute"
                         f"{'s' if minutes != 1 else ''}")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class AuthLimits:
    """Session lifetimes and the login limit (from :class:`~settings.Settings`)."""

    session_idle: timedelta = timedelta(minutes=30)
    session_max: timedelta = timedelta(hours=12)
    login_max_failures: int = 5
    login_window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Settings | None) -> AuthLimits:
        """The limits ``settings`` ask for; the defaults when ``settings`` is ``None``."""
        if settings is None:
            return cls()
        return cls(session_idle=timedelta(minutes=settings.session_idle_minutes),
                   session_max=timedelta(hours=settings.session_max_hours),
                   login_max_failures=settings.login_max_failures,
                   login_window=timedelta(minutes=settings.login_window_minutes))


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about an API key: everything but its secret."""

    id: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the key still authenticates (not revoked)."""
        return self.revoked_at is None


@dataclass(frozen=True)
class UserInfo:
    """What may be shown about a person: everything but the password hash."""

    username: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class SessionTokens:
    """What a successful login hands to the browser.

    ``session_token`` goes into the cookie (:func:`set_session_cookie`); ``csrf_token``
    into every form of the officer pages. Neither is stored (only a hash of the first).
    """

    session_token: str = field(repr=False)
    csrf_token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class UserSession:
    """A live session of a person, as found from its cookie."""

    username: str
    role: Role
    created_at: datetime
    #: Absolute end of the session.
    expires_at: datetime
    #: When the session ends unless another request arrives before.
    idle_expires_at: datetime
    #: The token the officer pages put into their forms (see :func:`verify_csrf`).
    csrf_token: str = field(repr=False)

    @property
    def principal(self) -> Principal:
        """The caller this session authenticates."""
        return Principal(kind="user", id=self.username, role=self.role)


# --------------------------------------------------------------------------- helpers


def key_digest(value: str) -> str:
    """The hex SHA-256 by which a key, token or cache entry is stored, never the value."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _same(left: str, right: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input."""
    return hmac.compare_digest(left.encode("utf-8", "surrogatepass"),
                               right.encode("utf-8", "surrogatepass"))


def _reading(engine: sa.Engine) -> Session:
    """A session whose transaction only reads (a deferred BEGIN on SQLite)."""
    return Session(engine.execution_options(**{READ_ONLY_OPTION: True}),
                   expire_on_commit=False)


def _writing(engine: sa.Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"unknown role {value!r}; the roles are: "
                           f"{', '.join(role.value for role in Role)}") from None


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("an API key needs a name (who or what uses it)")
    if len(name) > 100:
        raise InvalidInput(f"an API key name has at most 100 characters; got {len(name)}")
    if any(not character.isprintable() for character in name):
        raise InvalidInput("an API key name may not contain control characters")
    return name


# --------------------------------------------------------------------------- API keys


class ApiKeyCache:
    """Verified API keys -> principals for a few seconds, to skip the database read.

    Keys are remembered by the SHA-256 of the whole presented key, never the key itself.
    Revoking a key evicts it from every cache of this process at once; other processes
    forget it when its entry expires (``ttl_seconds``). ``ttl_seconds=0`` disables it.
    """

    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = 4096) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        _CACHES.add(self)

    def get(self, digest: str) -> Principal | None:
        """The principal remembered for this key digest, if still fresh."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        principal, expires = entry
        if self._clock() >= expires:
            with self._lock:
                self._entries.pop(digest, None)
            return None
        return principal

    def put(self, digest: str, principal: Principal) -> None:
        """Remember a verified key for ``ttl_seconds``."""
        if self.ttl_seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max_entries:
                # Crude but bounded: valid keys are few; a flood means churn, not growth.
                self._entries.clear()
            self._entries[digest] = (principal, self._clock() + self.ttl_seconds)

    def evict(self, key_id: str) -> None:
        """Forget every entry of the key with public id ``key_id``."""
        with self._lock:
            for digest in [digest for digest, (principal, _) in self._entries.items()
                           if principal.kind == "api_key" and principal.id == key_id]:
                del self._entries[digest]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()


_CACHES: weakref.WeakSet[ApiKeyCache] = weakref.WeakSet()


def _key_info(record: ApiKeyRecord) -> ApiKeyInfo:
    return ApiKeyInfo(id=record.id, role=Role(record.role), name=record.name,
                      created_at=as_utc(record.created_at),
                      revoked_at=as_utc_or_none(record.revoked_at),
                      last_used_at=as_utc_or_none(record.last_used_at))


def create_api_key(engine: sa.Engine, role: Role | str, *, name: str) -> tuple[str, ApiKeyInfo]:
    """Create an API key and return it in plain text, the only time it is ever seen.

    Parameters
    ----------
    engine
        The service's database (migrated).
    role
        What the key may do (:mod:`access.permissions`).
    name
        Who or what uses the key (shown in listings); 1–100 printable characters.

    Returns
    -------
    (key, info)
        ``key`` is ``smc_<public id>_<secret>``: hand it over and forget it; only a hash
        of the secret is stored. ``info`` describes the key without the secret.
    """
    role = _role(role)
    name = _check_name(name)
    secret = secrets.token_hex(32)
    record = ApiKeyRecord(id=f"k_{secrets.token_hex(5)}", secret_hash=key_digest(secret),
                          role=role.value, name=name, created_at=utc_now())
    with _writing(engine) as session:
        session.add(record)
        session.commit()
    return f"{API_KEY_PREFIX}{record.id}_{secret}", _key_info(record)


def revoke_api_key(engine: sa.Engine, key_id: str) -> ApiKeyInfo:
    """Revoke the key with public id ``key_id``; revoking twice keeps the first time.

    The key stops working at once in this process and within ``api_key_cache_seconds``
    in every other one.

    Raises
    ------
    UnknownApiKey
        If no key has that id.
    """
    with _writing(engine) as session:
        record = session.get(ApiKeyRecord, key_id.strip())
        if record is None:
            raise UnknownApiKey(f"no API key has the id {key_id.strip()[:40]!r}")
        if record.revoked_at is None:
            record.revoked_at = utc_now()
            session.add(record)
            session.commit()
        info = _key_info(record)
    for cache in list(_CACHES):
        cache.evict(info.id)
    return info


def list_api_keys(engine: sa.Engine, *, include_revoked: bool = True) -> list[ApiKeyInfo]:
    """Every API key, oldest first, without secrets."""
    statement = select(ApiKeyRecord).order_by(col(ApiKeyRecord.created_at), col(ApiKeyRecord.id))
    if not include_revoked:
        statement = statement.where(col(ApiKeyRecord.revoked_at).is_(None))
    with _reading(engine) as session:
        return [_key_info(record) for record in session.exec(statement)]


def authenticate_api_key(engine: sa.Engine, presented_key: str, *,
                         cache: ApiKeyCache | None = None) -> Principal | None:
    """The principal of a valid, unrevoked API key; ``None`` for anything else.

    Parameters
    ----------
    engine
        The service's database.
    presented_key
        What the client sent after ``Bearer``.
    cache
        Where verified keys are remembered (see :class:`ApiKeyCache`); none: always
        read the database.
    """
    if len(presented_key) > 200:
        return None
    digest = key_digest(presented_key)
    if cache is not None and (principal := cache.get(digest)) is not None:
        return principal
    match = _KEY_PATTERN.fullmatch(presented_key)
    if match is None:
        return None
    key_id, secret = match.groups()
    with _reading(engine) as session:
        record = session.get(ApiKeyRecord, key_id)
    if record is None or not _same(record.secret_hash, key_digest(secret)):
        return None
    if record.revoked_at is not None:
        return None
    principal = Principal(kind="api_key", id=record.id, role=Role(record.role))
    now = utc_now()
    last_used = as_utc_or_none(record.last_used_at)
    if last_used is None or now - last_used >= _TOUCH_INTERVAL:
        with _writing(engine) as session:
            session.execute(sa.update(ApiKeyRecord).where(col(ApiKeyRecord.id) == key_id)
                            .values(last_used_at=now))
            session.commit()
    if cache is not None:
        cache.put(digest, principal)
    return principal


# --------------------------------------------------------------------------- people


def normalise_username(username: str) -> str:
    """The stored form of a user name: trimmed, lower case.

    Raises
    ------
    InvalidInput
        Unless it is 1–100 characters of ``a-z 0-9 . _ @ -`` starting with a letter or
        digit.
    """
    name = username.strip().lower()
    if not _USERNAME_PATTERN.fullmatch(name):
        raise InvalidInput("a user name is 1 to 100 characters of letters, digits and "
                           ". _ @ -, starting with a letter or digit")
    return name


def check_password_policy(password: str, *, username: str | None = None) -> None:
    """Refuse a password that is too short, too long, or the user name itself.

    Raises
    ------
    WeakPassword
        With a message that says what is wrong and never repeats the password.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise WeakPassword("a password cannot be only spaces")
    if username is not None and password.strip().lower() == username.strip().lower():
        raise WeakPassword("a password cannot be the user name")


def _user_info(record: AppUserRecord) -> UserInfo:
    return UserInfo(username=record.username, role=Role(record.role),
                    created_at=as_utc(record.created_at),
                    disabled_at=as_utc_or_none(record.disabled_at))


def create_user(engine: sa.Engine, username: str, password: str, role: Role | str, *,
                hasher: PasswordHasher | None = None) -> UserInfo:
    """Create a person who can log in to the officer pages.

    Parameters
    ----------
    engine
        The service's database.
    username
        Login name (stored trimmed and in lower case; see :func:`normalise_username`).
    password
        At least :data:`MIN_PASSWORD_LENGTH` characters; stored as an argon2id hash only.
    role
        What the person may do.
    hasher
        The argon2 parameters; :data:`DEFAULT_PASSWORD_HASHER` by default.

    Raises
    ------
    InvalidInput, WeakPassword
        For a bad user name, role or password.
    UserExists
        If the name is taken.
    """
    name = normalise_username(username)
    role = _role(role)
    check_password_policy(password, username=name)
    now = utc_now()
    record = AppUserRecord(username=name,
                           password_hash=(hasher or DEFAULT_PASSWORD_HASHER).hash(password),
                           role=role.value, created_at=now, password_changed_at=now)
    with _writing(engine) as session:
        if session.get(AppUserRecord, name) is not None:
            raise UserExists(f"a user named {name!r} exists already")
        session.add(record)
        try:
            session.commit()
        except sa.exc.IntegrityError:  # created by someone else meanwhile
            raise UserExists(f"a user named {name!r} exists already") from None
    return _user_info(record)


def set_password(engine: sa.Engine, username: str, password: str, *,
                 hasher: PasswordHasher | None = None) -> UserInfo:
    """Give a person a new password; every session of theirs ends.

    Raises
    ------
    UnknownUser, InvalidInput, WeakPassword
    """
    name = normalise_username(username)
    check_password_policy(password, username=name)
    new_hash = (hasher or DEFAULT_PASSWORD_HASHER).hash(password)
    with _writing(engine) as session:
        record = session.get(AppUserRecord, name)
        if record is None:
            raise UnknownUser(f"no user is named {name!r}")
        record.password_hash = new_hash
        record.password_changed_at = utc_now()
        session.add(record)
        session.execute(sa.delete(UserSessionRecord)
                        .where(col(UserSessionRecord.username) == name))
        session.commit()
        return _user_info(record)


def disable_user(engine: sa.Engine, username: str) -> UserInfo:
    """Stop a person from logging in; their sessions end at once.

    Raises
    ------
    UnknownUser
    """
    name = normalise_username(username)
    with _writing(engine) as session:
        record = session.get(AppUserRecord, name)
        if record is None:
            raise UnknownUser(f"no user is named {name!r}")
        if record.disabled_at is None:
            record.disabled_at = utc_now()
            session.add(record)
        session.execute(sa.delete(UserSessionRecord)
                        .where(col(UserSessionRecord.username) == name))
        session.commit()
        return _user_info(record)


def list_users(engine: sa.Engine) -> list[UserInfo]:
    """Every person, by name, without password hashes."""
    with _reading(engine) as session:
        return [_user_info(record) for record in
                session.exec(select(AppUserRecord).order_by(col(AppUserRecord.username)))]


_DUMMY_HASHES: dict[tuple[int, int, int, int, int, str], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash with ``hasher``'s parameters to verify against when the user is unknown,
    so a wrong user name costs the same argon2 work as a wrong password."""
    parameters = (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len,
                  hasher.salt_len, hasher.type.name)
    if parameters not in _DUMMY_HASHES:
        _DUMMY_HASHES[parameters] = hasher.hash(secrets.token_hex(16))
    return _DUMMY_HASHES[parameters]


def verify_password(engine: sa.Engine, username: str, password: str, *,
                    hasher: PasswordHasher | None = None) -> Principal | None:
    """The person's principal if the password is theirs; ``None`` otherwise.

    An unknown or malformed user name, a disabled user and a wrong password all give
    ``None`` after the same argon2 verification work. A correct password whose hash was
    made with other parameters than ``hasher``'s is re-hashed and stored. No rate limit
    here: people log in through :func:`login`.
    """
    hasher = hasher or DEFAULT_PASSWORD_HASHER
    dummy = _dummy_hash(hasher)
    try:
        name: str | None = normalise_username(username)
    except InvalidInput:
        name = None
    record = None
    if name is not None:
        with _reading(engine) as session:
            record = session.get(AppUserRecord, name)
    stored = record.password_hash if record is not None else dummy
    try:
        hasher.verify(stored, password)
        matched = record is not None
    except (VerificationError, InvalidHashError):
        matched = False
    if not matched or record is None or record.disabled_at is not None:
        return None
    if hasher.check_needs_rehash(stored):
        with _writing(engine) as session:
            session.execute(sa.update(AppUserRecord)
                            .where(col(AppUserRecord.username) == record.username)
                            .where(col(AppUserRecord.password_hash) == stored)
                            .values(password_hash=hasher.hash(password)))
            session.commit()
    return Principal(kind="user", id=record.username, role=Role(record.role))


# --------------------------------------------------------------------------- sessions


def _csrf_token(session_token: str) -> str:
    """The CSRF token of a session: an HMAC keyed with the session token.

    Only someone who holds the cookie's value can compute it, so nothing needs storing.
    """
    return hmac.new(session_token.encode("utf-8", "surrogatepass"), _CSRF_CONTEXT,
                    hashlib.sha256).hexdigest()


def _storable(text: str, limit: int) -> str:
    """Typed text made storable: PostgreSQL refuses NUL characters and lone surrogates."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]


def _attempt_name(username: str) -> str:
    """How ``login_attempt`` records the typed name: a SHA-256 digest, never the text (a
    password typed into the name field must not be stored); the limit per name compares
    digests."""
    normalised = username.strip().lower().encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(normalised).hexdigest()


def _lock_key(text: str) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock`` from a text."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big",
                          signed=True)


def _lock_attempts(session: Session, name: str, address: str) -> None:
    """Take the locks under which the attempts of ``name`` and of ``address`` are counted
    and one more is recorded, until the session commits or rolls back.

    PostgreSQL: a transaction-scoped advisory lock on a hash of the name and one on a
    hash of the address (taken in one order, so two logins never wait on each other in a
    cycle). SQLite: the writing session's ``BEGIN IMMEDIATE`` already holds the
    database's write lock, which serialises every writer; the first statement takes it.
    """
    if session.get_bind().dialect.name == "postgresql":
        for key in sorted({_lock_key(f"login-name:{name}"), _lock_key(f"login-ip:{address}")}):
            session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _throttle_wait(session: Session, name: str, address: str, now: datetime,
                   limits: AuthLimits) -> int:
    """Seconds until a login for ``name`` from ``address`` is allowed again (0: now).

    Reads in ``session``'s transaction: under :func:`_lock_attempts` the count cannot
    change before the caller records its own attempt.
    """
    since = now - limits.login_window
    last_success = session.exec(
        select(sa.func.max(LoginAttemptRecord.attempted_at))
        .where(col(LoginAttemptRecord.username) == name)
        .where(col(LoginAttemptRecord.succeeded).is_(True))
        .where(col(LoginAttemptRecord.attempted_at) > since)).one()
    # A successful login clears the user name's count; an address's count is not
    # cleared, so an attacker's own valid account cannot reset it.
    user_since = max(since, as_utc(last_success)) if last_success is not None else since
    failures: list[list[datetime]] = []
    for column, value, start in ((LoginAttemptRecord.username, name, user_since),
                                 (LoginAttemptRecord.client_ip, address, since)):
        failures.append([as_utc(moment) for moment in session.exec(
            select(LoginAttemptRecord.attempted_at)
            .where(col(column) == value)
            .where(col(LoginAttemptRecord.succeeded).is_(False))
            .where(col(LoginAttemptRecord.attempted_at) > start)
            .order_by(col(LoginAttemptRecord.attempted_at)))])
    wait = 0.0
    for moments in failures:
        if len(moments) >= limits.login_max_failures:
            # Allowed again once enough old failures have left the window.
            freed_at = moments[len(moments) - limits.login_max_failures] + limits.login_window
            wait = max(wait, (freed_at - now).total_seconds())
    return max(1, int(wait + 0.999)) if wait > 0 else 0


def _record_attempt(engine: sa.Engine, name: str, address: str, moment: datetime,
                    limits: AuthLimits) -> int:
    """Count the attempts and record this one as failed, atomically; its row's id.

    Under :func:`_lock_attempts`, in one transaction: the count of failures of the name
    and of the address, then (when under the limit) a row for this attempt, marked
    failed until the password proves right. Parallel attempts therefore each see the
    rows of all those before them: no more than ``login_max_failures`` ever reach the
    password check. A refused attempt writes nothing (it does not prolong the lockout).

    Raises
    ------
    LoginThrottled
        When the limit is reached.
    """
    with _writing(engine) as session:
        _lock_attempts(session, name, address)
        wait = _throttle_wait(session, name, address, moment, limits)
        if wait:
            session.rollback()
            raise LoginThrottled(wait)
        attempt = LoginAttemptRecord(username=name, client_ip=address, succeeded=False,
                                     attempted_at=moment)
        session.add(attempt)
        # Attempts older than a day serve no limit; keep the table small.
        session.execute(sa.delete(LoginAttemptRecord).where(
            col(LoginAttemptRecord.attempted_at) < moment - max(limits.login_window,
                                                                timedelta(days=1))))
        session.commit()
        assert attempt.id is not None
        return attempt.id


def login(engine: sa.Engine, username: str, password: str, *, client_ip: str,
          settings: Settings | None = None, now: datetime | None = None,
          hasher: PasswordHasher | None = None) -> SessionTokens:
    """Log a person in: check the login limit and the password, open a session.

    The limit is checked atomically before the password: the failures of the name and
    of the address are counted and this attempt is recorded as failed in one locked
    transaction (:func:`_record_attempt`), then the password is checked (outside any
    lock: argon2 is slow on purpose), and a right password marks the attempt succeeded
    as it opens the session. Forty simultaneous wrong passwords get at most
    ``login_max_failures`` checks; the rest are refused unchecked.

    Parameters
    ----------
    engine
        The service's database.
    username, password
        As typed on the login form.
    client_ip
        The caller's address (:func:`client_ip`), for the per-address limit.
    settings
        Session lifetimes and the login limit; the defaults when ``None``.
    now
        The moment of the attempt (UTC); the current time by default.
    hasher
        The argon2 parameters (:data:`DEFAULT_PASSWORD_HASHER` by default).

    Returns
    -------
    SessionTokens
        The cookie value, the CSRF token and when the session ends at the latest.

    Raises
    ------
    LoginThrottled
        Too many failures for this user name or address within the window (the
        password is not even checked); an API would answer 429.
    InvalidCredentials
        Wrong user name or password (one answer for both, after the same work).
    """
    limits = AuthLimits.from_settings(settings)
    moment = now or utc_now()
    name = _attempt_name(username)
    address = _storable(client_ip or "unknown", 64)
    attempt_id = _record_attempt(engine, name, address, moment, limits)
    principal = verify_password(engine, username, password, hasher=hasher)
    if principal is None:
        raise InvalidCredentials()
    with _writing(engine) as session:
        session.execute(sa.update(LoginAttemptRecord)
                        .where(col(LoginAttemptRecord.id) == attempt_id)
                        .values(succeeded=True))
        token = secrets.token_urlsafe(32)
        expires_at = moment + limits.session_max
        session.execute(sa.delete(UserSessionRecord)
                        .where(col(UserSessionRecord.username) == principal.id)
                        .where(col(UserSessionRecord.expires_at) <= moment))
        session.add(UserSessionRecord(id=key_digest(token), username=principal.id,
                                      created_at=moment, last_seen_at=moment,
                                      expires_at=expires_at, client_ip=address))
        session.commit()
    return SessionTokens(session_token=token, csrf_token=_csrf_token(token),
                         expires_at=expires_at)


def logout(engine: sa.Engine, session_token: str) -> None:
    """End the session of ``session_token``: the cookie is useless from now on.

    Unknown or already ended sessions are ignored (logging out twice is fine).
    """
    if not session_token or len(session_token) > 200:
        return
    with _writing(engine) as session:
        session.execute(sa.delete(UserSessionRecord)
                        .where(col(UserSessionRecord.id) == key_digest(session_token)))
        session.commit()


def load_session(engine: sa.Engine, session_token: str, *, settings: Settings | None = None,
                 now: datetime | None = None) -> UserSession | None:
    """The live session of a cookie value; ``None`` if unknown, ended or expired.

    A session past its idle or absolute expiry, or of a disabled person, is deleted.
    The person's role is read afresh, so a role change applies to the next request.
    """
    if not session_token or len(session_token) > 200:
        return None
    limits = AuthLimits.from_settings(settings)
    moment = now or utc_now()
    digest = key_digest(session_token)
    with _reading(engine) as session:
        found = session.exec(
            select(UserSessionRecord, AppUserRecord)
            .join(AppUserRecord, col(AppUserRecord.username) == col(UserSessionRecord.username))
            .where(col(UserSessionRecord.id) == digest)).first()
    if found is None:
        return None
    record, user = found
    last_seen = as_utc(record.last_seen_at)
    expires_at = as_utc(record.expires_at)
    if (moment >= expires_at or moment - last_seen >= limits.session_idle
            or user.disabled_at is not None):
        logout(engine, session_token)
        return None
    if moment - last_seen >= _TOUCH_INTERVAL:
        with _writing(engine) as session:
            session.execute(sa.update(UserSessionRecord)
                            .where(col(UserSessionRecord.id) == digest)
                            .values(last_seen_at=moment))
            session.commit()
        last_seen = moment
    return UserSession(username=user.username, role=Role(user.role),
                       created_at=as_utc(record.created_at), expires_at=expires_at,
                       idle_expires_at=min(expires_at, last_seen + limits.session_idle),
                       csrf_token=_csrf_token(session_token))


def verify_csrf(session: UserSession, submitted_token: str | None) -> bool:
    """Whether a form's CSRF token is the session's (constant-time comparison)."""
    if not submitted_token or len(submitted_token) > 200:
        return False
    return _same(session.csrf_token, submitted_token)
