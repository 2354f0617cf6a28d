"""The unit of work: one transaction, rolled back unless committed.

:class:`UnitOfWork` opens a session (one transaction) when entered and rolls it back when
left, unless :meth:`~UnitOfWork.commit` was called: nothing is ever committed implicitly.
Services enter it, do their work and commit once. A package with tables of its own adds
its repositories by subclassing and overriding :meth:`UnitOfWork.open_repositories`
(:class:`lending.persistence.SqlUnitOfWork` adds the lines, events, journal and
idempotency records).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlmodel import Session

from store.database import READ_ONLY_OPTION

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """One transaction on the store; rolled back unless :meth:`commit` is called.

    Parameters
    ----------
    engine
        An engine from :func:`~store.database.make_engine` (its SQLite locking is what
        makes concurrent writers serialise there).

    Examples
    --------
    ::

        with UnitOfWork(engine) as uow:
            uow.session.add(record)
            uow.commit()
    """

    session: Session

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._read_only = False

    def reading(self) -> Self:
        """This unit of work, to be entered for reading only (``with uow.reading():``).

        On SQLite its transaction starts with a deferred ``BEGIN`` instead of taking the
        write lock, so reads do not wait for writers; nothing may be written in it.
        """
        self._read_only = True
        return self

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def open_repositories(self, session: Session) -> None:
        """Attach the repositories of a subclass to the session just opened (none here)."""

    def __enter__(self) -> Self:
        bind = (self.engine.execution_options(**{READ_ONLY_OPTION: True}) if self._read_only
                else self.engine)
        self.session = Session(bind, expire_on_commit=False, autoflush=True)
        self.open_repositories(self.session)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        # After a commit there is nothing left to roll back; otherwise everything goes.
        self.rollback()
        self.session.close()
        self._read_only = False

    def commit(self) -> None:
        """Commit everything done in this unit of work."""
        self.session.commit()

    def rollback(self) -> None:
        """Undo everything not committed."""
        self.session.rollback()
