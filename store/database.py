"""Engines and migrations: the same code on SQLite and PostgreSQL.

Locking
-------
A draw locks its credit line for the rest of its transaction, so concurrent draws on one
line serialise and each sees the draws committed before it.

* **PostgreSQL**: ``SELECT ... FOR UPDATE`` on the ``credit_line`` row
  (:meth:`~lending.persistence.unit_of_work.CreditLineRepository.get_for_update`).
* **SQLite** has no row locks. Engines made by :func:`make_engine` start every
  transaction with ``BEGIN IMMEDIATE``, which takes the database's write lock at once:
  transactions serialise database-wide, and a waiting one retries for ``busy_timeout``
  seconds (30 by default) before failing, in short steps of its own (0.1 to 2 ms; see
  :func:`_begin_immediate`) rather than SQLite's busy handler's 1 to 100 ms sleeps. A
  deferred ``BEGIN`` would not do: two readers that both try to upgrade to writers make
  SQLite refuse one at once (``database is locked``) instead of waiting. Read-only units of work
  (:meth:`~store.unit_of_work.UnitOfWork.reading`, used by the read
  services) set :data:`READ_ONLY_OPTION` and get a deferred ``BEGIN``: they do not wait
  for a writer's transaction, and never write.
"""

from __future__ import annotations

import select
import sqlite3
import time
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

__all__ = ["make_engine", "upgrade_database", "current_revision", "head_revision",
           "READ_ONLY_OPTION"]

#: Execution option marking a read-only transaction (SQLite: deferred ``BEGIN``).
READ_ONLY_OPTION = "lending_read_only"

#: Key of the PostgreSQL advisory lock held while migrating ("sme-lend" in ASCII).
_MIGRATION_LOCK = 0x736D652D6C656E64


def make_engine(url: str, *, busy_timeout: float = 30.0, **kwargs: Any) -> sa.Engine:
    """An engine for ``url`` with the locking this package relies on.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///path`` or ``postgresql+psycopg://user@host/db``.
    busy_timeout
        SQLite only: seconds a transaction waits for the write lock.
    **kwargs
        Passed to :func:`sqlalchemy.create_engine` (e.g. ``pool_size``).
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql" and "pool_pre_ping" not in kwargs:
        engine = sa.create_engine(parsed, **kwargs)
        _ping_when_in_doubt(engine)
        return engine
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(parsed, **kwargs)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", busy_timeout)
    connect_args.setdefault("check_same_thread", False)
    engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN instead of the sqlite3 module's own
        # deferred BEGIN; turn on foreign keys, off by default in SQLite.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        # Write-ahead log: readers never wait for the writer and a commit is one append
        # and one fsync of the log; synchronous=FULL keeps every acknowledged commit
        # through a crash or power loss (NORMAL could lose the last ones on power loss).
        if parsed.database not in (None, "", ":memory:"):
            _use_write_ahead_log(dbapi_connection, busy_timeout)
        dbapi_connection.execute("PRAGMA synchronous = FULL")

    file_backed = parsed.database not in (None, "", ":memory:")

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        if read_only:
            connection.exec_driver_sql("BEGIN")
        elif file_backed:
            _begin_immediate(connection.connection.dbapi_connection, busy_timeout)
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


#: A pooled PostgreSQL connection back in the pool for less than this many seconds, whose
#: socket has nothing to read, is handed out without a ping (see :func:`_ping_when_in_doubt`).
PING_AFTER_IDLE_SECONDS = 5.0
#: Key of the moment a connection was made or returned to the pool, in its record's ``info``.
_RETURNED_AT = "store.returned_at"


def _ping_when_in_doubt(engine: sa.Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, without its round trip when the connection is known
    to be alive: every check-out of a PostgreSQL connection pings the server (``SELECT 1``
    and two switches of autocommit, about 0.1 ms of CPU and more of latency; a decision
    checks out two connections) unless the connection came back to the pool less than
    :data:`PING_AFTER_IDLE_SECONDS` ago and its socket has nothing to read.

    A server that ends a connection (restart, ``pg_terminate_backend``, a crashed back-end,
    an idle timeout) sends an error message and closes the socket, which then reads as
    ready; such a connection, and one idle for longer (a connection dropped silently on
    the way), is pinged as before. A failed ping invalidates the pool, as the pre-ping
    does, and the pool connects again.
    """
    dialect = engine.dialect
    poll = getattr(select, "poll", None)

    def quiet(dbapi_connection: Any) -> bool:
        """Nothing to read on the connection's socket (no message from the server)."""
        if poll is None or getattr(dbapi_connection, "closed", False) or getattr(
                dbapi_connection, "broken", False):
            return False
        try:
            watch = poll()
            watch.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
            return not watch.poll(0)
        except Exception:  # noqa: BLE001 - no socket to watch: ping
            return False

    @sa.event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if (returned is not None and time.monotonic() - returned < PING_AFTER_IDLE_SECONDS
                and quiet(dbapi_connection)):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # as a failed pre-ping: every pooled connection is made again
                raise sa.exc.InvalidatePoolError(str(error)) from error
            raise


#: Pauses between two tries for SQLite's write lock: short at first, then longer.
_LOCK_PAUSES = (0.0001, 0.0002, 0.0005, 0.001, 0.002)


def _begin_immediate(dbapi_connection: Any, busy_timeout: float) -> None:
    """``BEGIN IMMEDIATE``, waiting up to ``busy_timeout`` seconds for the write lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 then 100 ms
    between tries, so a writer that finds the lock taken for a few milliseconds (another
    process's commit: one fsync) typically sleeps well past its release, and under load
    waiters sleep in 25–100 ms steps while the lock is free. Here the try is repeated after
    0.1 ms, growing to 2 ms: the writer takes the lock within about 2 ms of its release
    (measured over HTTP with two worker processes: the p99 of a decision at 8 clients fell
    from 150–190 ms to 44–48 ms). The connection's busy timeout is restored for every
    other statement.
    """
    deadline = time.monotonic() + busy_timeout
    dbapi_connection.execute("PRAGMA busy_timeout = 0")
    try:
        tries = 0
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                busy = "locked" in str(error) or "busy" in str(error)
                if not busy or time.monotonic() >= deadline:
                    # as SQLAlchemy reports any failed statement
                    raise sa.exc.OperationalError("BEGIN IMMEDIATE", (), error) from error
            time.sleep(_LOCK_PAUSES[min(tries, len(_LOCK_PAUSES) - 1)])
            tries += 1
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")


def _use_write_ahead_log(dbapi_connection: Any, busy_timeout: float) -> None:
    """Switch a SQLite file to WAL mode (once per file; the mode is stored in it).

    The switch needs the file to itself and SQLite may refuse it at once ("database is
    locked") while another connection is opening it, without waiting in the busy
    handler: connections starting together retry until the first one has switched.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() == "wal":
            return
        try:
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _alembic_config() -> Config:
    config = Config()
    location = resources.files("store").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    return config


def head_revision() -> str:
    """The newest migration shipped with the package."""
    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); "
                           "add a merge revision")
    return heads[0]


def current_revision(engine: sa.Engine) -> str | None:
    """The migration the database is at (``None`` for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(url_or_engine: str | sa.Engine, revision: str = "heads") -> None:
    """Bring a database's tables (every package's) up to ``revision`` (all migrations by default).

    Idempotent: an up-to-date database is left as it is, so this runs at every start-up
    and in tests. Processes starting together take turns: on PostgreSQL a transaction
    advisory lock, on SQLite ``BEGIN IMMEDIATE``, is held while migrating (the DDL runs in
    that one transaction). The migrations ship inside the package
    (``store/migrations``); no ``alembic.ini`` is needed.
    """
    engine = (make_engine(url_or_engine) if isinstance(url_or_engine, str)
              else url_or_engine)
    try:
        config = _alembic_config()
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()
