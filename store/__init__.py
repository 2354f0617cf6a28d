"""The store: one home for the database.

Engines for SQLite and PostgreSQL (:func:`make_engine`), the unit of work every service
writes through (:class:`UnitOfWork`), group commit (:class:`GroupCommit`) and the Alembic
migrations of **every** table, whichever package declares it (``store/migrations``):
a new table is declared beside its domain (``lending/persistence/tables.py``,
``records/tables.py``, ``decisions/tables.py``, ``access/tables.py``) and migrated by a
new revision here.

This package imports no domain package: the domain packages build on it.
"""

from store.database import (
    READ_ONLY_OPTION,
    current_revision,
    head_revision,
    make_engine,
    upgrade_database,
)
from store.group_commit import GroupCommit, GroupCommitStats, commit_alone
from store.unit_of_work import UnitOfWork

__all__ = ["make_engine", "upgrade_database", "current_revision", "head_revision",
           "READ_ONLY_OPTION", "UnitOfWork", "GroupCommit", "GroupCommitStats",
           "commit_alone"]
