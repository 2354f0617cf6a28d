"""Group commit: the writes of concurrent requests committed together, one commit for all.

A commit is durable only once the database has flushed it to disk: one ``fsync`` of the
write-ahead log (SQLite with ``synchronous=FULL``, PostgreSQL with ``synchronous_commit``
on). On SQLite commits are also serial: the whole database has one writer. So a service
that commits each request on its own can never answer more requests per second than its
disk does ``fsync`` calls, however many cores it has.

:class:`GroupCommit` lets each request prepare its write, then hands the write to one
writer thread per process. The writer takes every write waiting (up to ``max_batch``),
runs them in **one** transaction, commits once and only then wakes each request with its
own result. While it commits, the next requests' writes queue up and make the next group,
so groups grow with the load and no request waits for a timer.

Guarantees
----------
* **Nothing is acknowledged before it is durable**: :meth:`GroupCommit.run` returns only
  after the commit that holds its write.
* **Each write stands alone**: when any write of a group raises, or the commit fails, the
  whole transaction is rolled back and every write of the group runs again in a
  transaction of its own, so one bad request never takes others with it and each caller
  gets its own result or error, exactly as without grouping. (Grouping is optimistic:
  failures are rare, so they pay, not every write.)
* **A write must be safe to run again** after a rollback: it prepares its values
  (ids, timestamps) *before* it is handed over, does not commit, and does nothing but
  database work through the unit of work it is given.

A write runs in the writer thread with the group's unit of work (entered, shared by the
group: the statements of the group's writes are in one transaction, in submission
order). It must not call :meth:`GroupCommit.run` itself. Calls after
:meth:`GroupCommit.close` run in a transaction of their own in the calling thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

import sqlalchemy as sa

from store.unit_of_work import UnitOfWork

__all__ = ["GroupCommit", "GroupCommitStats", "commit_alone"]

T = TypeVar("T")
U = TypeVar("U", bound=UnitOfWork)
Write = Callable[[U], T]

_log = logging.getLogger(__name__)


class _Pending(Generic[U, T]):
    """One submitted write and, once its group committed, its result or error."""

    __slots__ = ("write", "finished", "result", "error", "_waiting")

    def __init__(self, write: Write[U, T]) -> None:
        self.write = write
        self.finished = False
        self.result: T | None = None
        self.error: BaseException | None = None
        # Held until the result is in: a bare lock, released by the writer's thread, is a
        # fraction of an Event's cost (an Event builds a Condition), paid per decision.
        self._waiting = threading.Lock()
        self._waiting.acquire()

    def succeed(self, result: T) -> None:
        self.result = result
        self._finish()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._finish()

    def _finish(self) -> None:
        # Only the writer's thread finishes a write, once: no race on ``finished``.
        if not self.finished:
            self.finished = True
            self._waiting.release()

    def wait(self) -> None:
        """Block until :meth:`succeed` or :meth:`fail`."""
        self._waiting.acquire()


class GroupCommitStats:
    """Counters of a :class:`GroupCommit` (read them for monitoring; not locked):
    ``groups`` committed, the ``writes`` they stored, the ``largest`` group, and the
    groups rolled back and ``reruns`` write by write."""

    __slots__ = ("groups", "writes", "largest", "reruns")

    def __init__(self) -> None:
        self.groups = 0
        self.writes = 0
        self.largest = 0
        self.reruns = 0


class _Stop:
    """Marks the end of the queue."""


_STOP = _Stop()


class GroupCommit(Generic[U]):
    """A writer thread that commits the writes handed to it in groups.

    Parameters
    ----------
    engine
        The database (an engine from :func:`~store.database.make_engine`).
        The writer holds one of its pooled connections while it writes a group.
    max_batch
        The most writes in one transaction (a bound on how long the database's write lock
        is held, and on the work repeated when a group must be run again write by write).
    unit_of_work
        Makes the unit of work a group's writes share (given the engine): the class of
        the repositories the writes use, e.g. :class:`lending.persistence.SqlUnitOfWork`.
    name
        The writer thread's name.

    Examples
    --------
    ::

        commits = GroupCommit(engine, unit_of_work=SqlUnitOfWork)
        def write(uow: SqlUnitOfWork) -> str:
            uow.session.connection().execute(insert_stmt, values)
            return values["id"]
        stored_id = commits.run(write)     # returns once the group's commit is durable
        commits.close()
    """

    def __init__(self, engine: sa.Engine, *, unit_of_work: Callable[[sa.Engine], U],
                 max_batch: int = 64, name: str = "group-commit") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1; got {max_batch}")
        self.engine = engine
        self.unit_of_work = unit_of_work
        self.max_batch = max_batch
        self.name = name
        self.stats = GroupCommitStats()
        self._queue: queue.SimpleQueue[_Pending[U, object] | _Stop] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ public

    def run(self, write: Write[U, T]) -> T:
        """Run ``write`` in the next group and return its result once that group committed.

        Raises whatever ``write`` raised (after its transaction was rolled back), or the
        error of a commit of its own that failed.
        """
        pending: _Pending[U, T] = _Pending(write)
        # Handed over under the lock that close() takes to queue the stop, so every write
        # handed over is queued before the stop and committed before the writer ends.
        with self._lock:
            if self._closed:
                handed = False
            else:
                writer = self._writer()
                if threading.current_thread() is writer:
                    # it would wait for its own group: a deadlock
                    raise RuntimeError("a write handed to a group commit must not hand "
                                       "over another")
                self._queue.put(pending)  # type: ignore[arg-type]
                handed = True
        if not handed:
            return self._alone(write)
        pending.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]

    @property
    def waiting(self) -> int:
        """Writes handed over and not yet taken into a group."""
        return self._queue.qsize()

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit what was handed over, then stop the writer (later calls run alone)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> GroupCommit:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ writer

    def _writer(self) -> threading.Thread:
        """The writer thread, started on first use (in this process: a forked worker
        starts its own) and again should it ever have ended. Called under the lock."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()
        return self._thread

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if isinstance(first, _Stop):
                return
            group: list[_Pending[U, object]] = [first]
            stop = False
            while len(group) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(more, _Stop):
                    stop = True
                    break
                group.append(more)
            try:
                self._commit(group)
            except BaseException as error:  # never leave a caller waiting
                _log.exception("group commit failed unexpectedly")
                for pending in group:
                    if not pending.finished:
                        pending.fail(error)
            if stop:
                return

    def _commit(self, group: list[_Pending[U, object]]) -> None:
        try:
            with self.unit_of_work(self.engine) as uow:
                results = [pending.write(uow) for pending in group]
                uow.commit()
        except Exception as error:
            # Some write refused, or the commit failed: nothing of the group is stored.
            if len(group) == 1:
                group[0].fail(error)
                return
            # Each write runs again on its own, so each caller gets its own answer.
            self.stats.reruns += 1
            for pending in group:
                self._commit([pending])
            return
        self._count(len(group))
        for pending, result in zip(group, results, strict=True):
            pending.succeed(result)

    def _count(self, writes: int) -> None:
        self.stats.groups += 1
        self.stats.writes += writes
        self.stats.largest = max(self.stats.largest, writes)

    def _alone(self, write: Write[U, T]) -> T:
        return commit_alone(self.unit_of_work(self.engine), write)


def commit_alone(uow: U, write: Write[U, T]) -> T:
    """Run ``write`` in a transaction of its own on ``uow`` (not yet entered) and commit
    it: what a write handed to a :class:`GroupCommit` gets when it runs alone."""
    with uow:
        result = write(uow)
        uow.commit()
        return result
