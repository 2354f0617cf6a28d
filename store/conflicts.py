"""The one retry of a write that lost a race on a unique key.

Two transactions can both find a key free (an idempotency key, a new line's id, a new
seller) and both insert it; the database refuses the second. Running the losing write
once more lets it see what the winner committed and replay or refuse accordingly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy.exc

__all__ = ["ConcurrentUpdate", "retry_on_conflict", "INTEGRITY_ERRORS"]

T = TypeVar("T")


class ConcurrentUpdate(Exception):
    """Another transaction changed the same rows at the same time and the retry did not
    help; the request may be sent again."""

    code = "concurrent_update"


def _driver_integrity_errors() -> tuple[type[Exception], ...]:
    found: list[type[Exception]] = [sqlite3.IntegrityError]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return tuple(found)
    found.append(psycopg.IntegrityError)
    return tuple(found)


#: A unique key taken by someone else: SQLAlchemy's error, and the drivers' own (raised
#: by statements run on the driver's cursor directly, such as PostgreSQL's COPY).
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlalchemy.exc.IntegrityError,
                                                 *_driver_integrity_errors())


def retry_on_conflict(work: Callable[[], T]) -> T:
    """Run ``work``; run it once more if it lost a race on a unique key.

    ``work`` must open and commit its own transaction (a unit of work entered inside it),
    so that its second run starts afresh and sees what the winner committed.

    Raises
    ------
    ConcurrentUpdate
        If the second run conflicts too.
    """
    try:
        return work()
    except INTEGRITY_ERRORS:
        try:
            return work()
        except INTEGRITY_ERRORS as error:
            detail = getattr(error, "orig", None) or error
            raise ConcurrentUpdate(f"a concurrent request conflicted twice: {detail}"
                                   ) from error
