"""Group commit: concurrent writes share one transaction, each caller gets its own answer
only once that transaction is durable, and one failing write takes no other with it.

Each test parks the writer thread in a first write (``_Gate``) so that the writes handed
over meanwhile make one known group when it is released: no timing is assumed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lending.persistence import IdempotencyRecord, SqlUnitOfWork
from store import GroupCommit
from store.database import READ_ONLY_OPTION
from tests.store.parking import Calls, wait_for, writer_parked

_TABLE = IdempotencyRecord.metadata.tables["idempotency_record"]


def _insert(key: str, *, then: Callable[[], None] | None = None
            ) -> Callable[[SqlUnitOfWork], str]:
    """A write storing one row under ``key`` (and then doing ``then``)."""

    def write(uow: SqlUnitOfWork) -> str:
        uow.session.connection().execute(_TABLE.insert(), {
            "scope": "test", "key": key, "fingerprint": "f", "line_id": "",
            "response": "{}", "created_at": datetime.now(UTC)})
        if then is not None:
            then()
        return f"stored {key}"

    return write


def _stored(engine: sa.Engine) -> set[str]:
    """The keys committed, read on a connection of its own (without waiting for a
    writer: SQLite's deferred ``BEGIN``)."""
    with engine.execution_options(**{READ_ONLY_OPTION: True}).connect() as connection:
        return set(connection.execute(sa.select(_TABLE.c.key)
                                      .where(_TABLE.c.scope == "test")).scalars())


@pytest.fixture
def commits(engine: sa.Engine) -> Iterator[GroupCommit]:
    with GroupCommit(engine, unit_of_work=SqlUnitOfWork, max_batch=64) as group:
        yield group


def test_writes_waiting_together_are_committed_in_one_group(engine, commits):
    calls = Calls(commits)
    with writer_parked(commits, _insert("gate")):
        for number in range(10):
            calls.start(f"k{number}", _insert(f"k{number}"))
        wait_for(lambda: commits.waiting == 10, "ten writes waiting")

    assert calls.join() == {f"k{n}": f"stored k{n}" for n in range(10)}
    assert _stored(engine) == {"gate"} | {f"k{n}" for n in range(10)}
    assert commits.stats.largest == 10
    assert (commits.stats.groups, commits.stats.writes, commits.stats.reruns) == (2, 11, 0)


def test_no_caller_is_answered_before_its_group_is_committed(engine, commits):
    calls = Calls(commits)
    with writer_parked(commits, _insert("gate")):
        calls.start("early", _insert("early"))
        wait_for(lambda: commits.waiting == 1, "one write waiting")
        time.sleep(0.05)
        assert calls.results == {}  # still waiting: nothing acknowledged
        assert _stored(engine) == set()
    # Each caller's answer comes only after the commit: its row is then visible to all.
    assert calls.join() == {"early": "stored early"}
    assert _stored(engine) == {"gate", "early"}


def test_a_failing_write_takes_no_other_write_with_it(engine, commits):
    def refuse() -> None:
        raise ValueError("refused after writing")

    calls = Calls(commits)
    with writer_parked(commits, _insert("gate")):
        for number in range(3):
            calls.start(f"ok{number}", _insert(f"ok{number}"))
        calls.start("bad", _insert("bad", then=refuse))
        calls.start("dup", _insert("gate"))  # a unique key already stored
        for number in range(3, 6):
            calls.start(f"ok{number}", _insert(f"ok{number}"))
        wait_for(lambda: commits.waiting == 8, "eight writes waiting")

    results = calls.join()
    assert {name: results[name] for name in results if name.startswith("ok")} == {
        f"ok{n}": f"stored ok{n}" for n in range(6)}
    assert isinstance(results["bad"], ValueError)
    assert isinstance(results["dup"], sa.exc.IntegrityError)
    # The refused write's row went with its rollback; every other write is stored once.
    assert _stored(engine) == {"gate"} | {f"ok{n}" for n in range(6)}
    assert commits.stats.reruns == 1
    assert commits.stats.writes == 1 + 6  # the gate and the six stored, not the refused


def test_a_group_holds_at_most_max_batch_writes(engine):
    with GroupCommit(engine, unit_of_work=SqlUnitOfWork, max_batch=3) as commits:
        calls = Calls(commits)
        with writer_parked(commits, _insert("gate")):
            for number in range(7):
                calls.start(f"k{number}", _insert(f"k{number}"))
            wait_for(lambda: commits.waiting == 7, "seven writes waiting")
        assert len(calls.join()) == 7
        assert commits.stats.largest == 3
        assert commits.stats.groups == 1 + 3  # the gate, then 3 + 3 + 1
    assert _stored(engine) == {"gate"} | {f"k{n}" for n in range(7)}


def test_close_commits_what_was_handed_over_then_writes_run_alone(engine):
    commits = GroupCommit(engine, unit_of_work=SqlUnitOfWork)
    calls = Calls(commits)
    with writer_parked(commits, _insert("gate")):
        for number in range(4):
            calls.start(f"k{number}", _insert(f"k{number}"))
        wait_for(lambda: commits.waiting == 4, "four writes waiting")
        closing = threading.Thread(target=commits.close)
        closing.start()
    closing.join(timeout=60)
    assert calls.join() == {f"k{n}": f"stored k{n}" for n in range(4)}

    assert commits.run(_insert("after")) == "stored after"  # in this thread, on its own
    assert _stored(engine) == {"gate", "after"} | {f"k{n}" for n in range(4)}


def test_a_write_handing_over_another_is_refused_instead_of_waiting_for_itself(engine,
                                                                              commits):
    def nested(uow: SqlUnitOfWork) -> str:
        return commits.run(_insert("inner"))

    with pytest.raises(RuntimeError, match="must not hand over another"):
        commits.run(nested)
    assert _stored(engine) == set()


def test_many_threads_each_get_their_own_answer(engine, commits):
    calls = Calls(commits)
    for number in range(40):
        calls.start(f"k{number}", _insert(f"k{number}"))

    assert calls.join() == {f"k{n}": f"stored k{n}" for n in range(40)}
    assert _stored(engine) == {f"k{n}" for n in range(40)}
    assert commits.stats.writes == 40


def test_max_batch_must_be_positive(engine):
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(engine, unit_of_work=SqlUnitOfWork, max_batch=0)


def test_writes_handed_over_while_closing_are_all_committed(engine):
    """close() racing with callers: each call returns (in a group before the stop, or on
    its own after it) and every answered write is stored; none waits forever."""
    commits = GroupCommit(engine, unit_of_work=SqlUnitOfWork, max_batch=4)
    answered: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(9)

    def caller(number: int) -> None:
        go.wait()
        for step in range(15):
            key = f"c{number}-{step}"
            assert commits.run(_insert(key)) == f"stored {key}"
            with lock:
                answered.append(key)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    go.wait()
    wait_for(lambda: len(answered) >= 10, "some writes answered")
    commits.close()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert len(answered) == 8 * 15
    assert _stored(engine) == set(answered)
