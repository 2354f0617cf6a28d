"""Idempotency keys: the one mechanism behind every write a client may safely retry.

A client sends a key with a request (draws, repayments and limit changes of credit lines;
credit decisions). The first request keeps its answer under ``(scope, key)`` with a
fingerprint of its body (:func:`fingerprint`), **in the same transaction as its effect**:

* a later request with the same key and the same body gets the stored answer back and
  has no effect;
* the same key with another body is refused (:class:`IdempotencyKeyReused`);
* a request the rules refuse (a draw over the limit, on a frozen line, outside the
  value-date window) keeps its refusal under the key (:meth:`IdempotencyRepository.refuse`)
  in place of an answer: the same key and body replay the refusal, even when the line
  would now accept it, so a resend that overtakes its own first request can never be
  refused while the first then succeeds. A *corrected* request (another body) may take
  the key over from a stored refusal, and only from a refusal;
* a request refused before it reached its effect's rules (a malformed body, an unknown
  line) stores nothing.

The scope is the operation and the client (:func:`idempotency_scope`): each client's keys
are its own. Two ways to keep an answer, both through :class:`IdempotencyRepository`:

* **after the effect** (credit lines): the service locks the line, asks
  :meth:`~IdempotencyRepository.replay` for a stored answer, otherwise acts and
  :meth:`~IdempotencyRepository.add`\\ s its answer. Two requests racing with one key
  serialise on the line's lock; on different lines the loser hits the primary key and is
  run once more (:func:`store.conflicts.retry_on_conflict`), which then replays or refuses;
* **before the effect** (credit decisions, whose answer, the decision's id, is known
  before anything is written): :meth:`~IdempotencyRepository.claim` inserts the key
  unless it is taken, in one statement that tolerates a concurrent duplicate, and
  otherwise replays or refuses. It is meant for the group commit's hot path: core
  statements, no ORM bookkeeping.

The table is ``idempotency_record`` (migration ``0001``). Its ``line_id`` column names
the credit line the effect landed on (empty for a decision that opened none); it keeps
the lending name it was created with, as renaming it would need a migration.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_CLIENT_LENGTH",
    "IdempotencyError",
    "IdempotencyKeyReused",
    "InvalidIdempotencyKey",
    "IdempotencyRecord",
    "IdempotencyRepository",
    "check_idempotency_key",
    "idempotency_scope",
    "fingerprint",
    "stored_refusal",
]

#: Longest idempotency key, in characters.
MAX_KEY_LENGTH = 200
#: Longest client id a scope names.
MAX_CLIENT_LENGTH = 48


class IdempotencyError(Exception):
    """Base class of the refusals of an idempotency key (each with a stable ``code``)."""

    code: str = "idempotency_error"


class IdempotencyKeyReused(IdempotencyError):
    """An idempotency key already served a request with a different body."""

    code = "idempotency_key_reused"


class InvalidIdempotencyKey(IdempotencyError):
    """A key that is not a non-empty string of at most :data:`MAX_KEY_LENGTH`
    characters, or a scope whose client id is not printable or too long."""

    code = "invalid_idempotency_key"


class IdempotencyRecord(SQLModel, table=True):
    """The first answer served for an idempotency key, written with its effect.

    ``fingerprint`` is a SHA-256 of the request's canonical body (:func:`fingerprint`);
    ``response`` the JSON answer replayed to a repeated request with the same body;
    ``line_id`` the credit line the effect landed on (``""``: none).
    """

    __tablename__ = "idempotency_record"

    scope: str = Field(primary_key=True, max_length=60)
    key: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64)
    line_id: str = Field(max_length=100)
    response: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


def check_idempotency_key(key: str) -> None:
    """Refuse a key that is not a non-empty string of at most :data:`MAX_KEY_LENGTH`
    characters (:class:`InvalidIdempotencyKey`)."""
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"an idempotency key must be a non-empty string of at "
                                    f"most {MAX_KEY_LENGTH} characters; got {key!r}")


def idempotency_scope(operation: str, client: str = "") -> str:
    """The scope a key lives in: the operation, and the client when given
    (``draw@<client>``).

    Keys of different clients never meet: the same key sent by two API clients names two
    requests, and neither can read the other's stored answer.

    Raises
    ------
    InvalidIdempotencyKey
        The client id is not printable or longer than :data:`MAX_CLIENT_LENGTH`.
    """
    if not client:
        return operation
    if len(client) > MAX_CLIENT_LENGTH or not client.isprintable():
        raise InvalidIdempotencyKey(f"client must be printable and at most "
                                    f"{MAX_CLIENT_LENGTH} characters")
    return f"{operation}@{client}"


def _json_default(value: object) -> str:
    if isinstance(value, Decimal | date):
        return str(value)
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def fingerprint(document: Mapping[str, Any]) -> str:
    """SHA-256 of a request body's canonical JSON (sorted keys, no spaces, decimals and
    dates as strings): what an idempotency key is bound to."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"),
                           default=_json_default)
    return hashlib.sha256(canonical.encode()).hexdigest()


_TABLE = IdempotencyRecord.metadata.tables["idempotency_record"]
_INSERT = _TABLE.insert()
#: ``INSERT ... ON CONFLICT DO NOTHING RETURNING key``, by dialect (SQLite from 3.35).
_CLAIM: dict[str, sa.Executable] = {
    "postgresql": postgresql.insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.key),
}
if sqlite3.sqlite_version_info >= (3, 35):  # RETURNING
    _CLAIM["sqlite"] = sqlite.insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.key)
#: Prefix of the effect's parameters in :func:`_claim_then_insert` (the claim's are the
#: record's column names).
_EFFECT_PREFIX = "effect_"


@functools.cache
def _claim_then_insert(table: sa.Table, columns: tuple[str, ...]) -> sa.Executable:
    """PostgreSQL: ``WITH claimed AS (<the claim> RETURNING key) INSERT INTO table
    (columns) SELECT <parameters> FROM claimed RETURNING 1``: the row is inserted only
    when the key was free, and a row comes back only then. Built once per table and
    columns. The parameters are bound with their columns' types (each a typed
    parameter, never a ``CAST``, which would cut a string to a ``VARCHAR``'s length
    where the insert refuses it)."""
    claimed = (postgresql.insert(_TABLE)
               .values({column.name: sa.bindparam(column.name, type_=column.type)
                        for column in _TABLE.c})
               .on_conflict_do_nothing().returning(_TABLE.c.key).cte("claimed"))
    chosen = sa.select(*[sa.bindparam(_EFFECT_PREFIX + name, type_=table.c[name].type)
                         for name in columns]).select_from(claimed)
    return (table.insert().from_select(list(columns), chosen).add_cte(claimed)
            .returning(sa.literal_column("1")))


_FIND = (sa.select(_TABLE.c.fingerprint, _TABLE.c.response)
         .where(_TABLE.c.scope == sa.bindparam("scope"), _TABLE.c.key == sa.bindparam("key")))


#: The one key of a stored response that is a refusal, not an answer.
_REFUSED = "refused"


def _refusal_document(code: str, message: str, details: Any) -> str:
    return json.dumps({_REFUSED: {"code": code, "message": message, "details": details}},
                      sort_keys=True, default=_json_default)


def stored_refusal(response: str) -> dict[str, Any] | None:
    """The refusal kept under a key (``code``, ``message``, ``details``), or ``None``
    when ``response`` is an answer."""
    if not response.startswith('{"' + _REFUSED + '"'):
        return None
    document = json.loads(response)
    refusal = document.get(_REFUSED) if isinstance(document, dict) else None
    return refusal if isinstance(refusal, dict) and len(document) == 1 else None


def _refused(key: str, request: str) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(f"idempotency key {key!r} was used for a different "
                                f"{request} request")


class IdempotencyRepository:
    """The first answer served for each idempotency key, on a unit of work's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The record of ``key`` in ``scope``, if any."""
        return self._session.get(IdempotencyRecord, (scope, key))

    def add(self, record: IdempotencyRecord) -> None:
        """Store a record (in the same transaction as the effect it describes)."""
        self._session.add(record)

    def replay(self, scope: str, key: str, body: Mapping[str, Any], *,
               request: str | None = None) -> str | None:
        """The answer stored under ``key`` for this ``body``; ``None`` if the key is free.

        ``request`` names the request in the refusal (default: the scope).

        Raises
        ------
        IdempotencyKeyReused
            The key served a request with another body.
        """
        record = self.get(scope, key)
        if record is None:
            return None
        if record.fingerprint != fingerprint(body):
            if stored_refusal(record.response) is not None:
                # a corrected request takes the key over from a refusal
                self._session.delete(record)
                self._session.flush()
                return None
            raise _refused(key, request or scope)
        return record.response

    def refuse(self, *, scope: str, key: str, body: Mapping[str, Any], line_id: str,
               code: str, message: str, details: Any, created_at: datetime) -> None:
        """Keep a refusal under ``key`` (in the transaction that found it, which the
        caller commits): :meth:`replay` of the same body then returns it
        (:func:`stored_refusal` reads it), and another body may take the key over."""
        self.add(IdempotencyRecord(
            scope=scope, key=key, fingerprint=fingerprint(body), line_id=line_id,
            response=_refusal_document(code, message, details), created_at=created_at))

    def claim(self, *, scope: str, key: str, body_fingerprint: str, line_id: str,
              response: str, created_at: datetime, request: str | None = None,
              effect: tuple[sa.Table, Mapping[str, Any]] | None = None) -> str | None:
        """Keep ``response`` under ``key`` before the effect is written; ``None`` when the
        key was free (and is now taken), else the answer stored under it.

        One ``INSERT ... ON CONFLICT DO NOTHING`` (a plain read and insert on a SQLite
        older than 3.35): a request racing with the same key waits on PostgreSQL until the
        first one's transaction ends, then finds the key taken and reads what the winner
        stored (SQLite's write lock already serialises the two).

        Parameters
        ----------
        scope, key : where the answer is kept (:func:`idempotency_scope`).
        body_fingerprint : :func:`fingerprint` of the request's body.
        line_id : the credit line the effect lands on (``""``: none).
        response : the answer, as JSON.
        created_at : when (aware UTC).
        request : names the request in the refusal (default: the scope).
        effect : ``(table, row)``: a row to insert when, and only when, the key was free
            (a declined decision: the whole of its effect). On PostgreSQL the claim and
            the insert are one statement (the claim a data-modifying ``WITH``, the insert
            selecting from what it returned): one statement and round trip fewer on the
            decisions' hot path. Elsewhere the insert follows the claim.

        Raises
        ------
        IdempotencyKeyReused
            The key served a request with another body.
        """
        values = {"scope": scope, "key": key, "fingerprint": body_fingerprint,
                  "line_id": line_id, "response": response, "created_at": created_at}
        connection = self._session.connection()
        dialect = connection.dialect.name
        if effect is not None and dialect == "postgresql":
            table, row = effect
            joint = {**values, **{_EFFECT_PREFIX + name: value for name, value in row.items()}}
            if connection.execute(_claim_then_insert(table, tuple(row)), joint).first():
                return None  # claimed, and the effect written, in one statement
            claimed = False
        else:
            statement = _CLAIM.get(dialect)
            claimed = (statement is not None
                       and connection.execute(statement, values).first() is not None)
        if not claimed:
            stored = connection.execute(_FIND, {"scope": scope, "key": key}).first()
            if stored is not None:
                if stored.fingerprint != body_fingerprint:
                    raise _refused(key, request or scope)
                return str(stored.response)
            connection.execute(_INSERT, values)
        if effect is not None:
            connection.execute(effect[0].insert(), effect[1])
        return None
