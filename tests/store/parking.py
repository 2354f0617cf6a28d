"""Parking a group commit's writer, so that the writes handed over meanwhile make one
known group when it is released (no timing assumed), and calls in threads of their own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lending.persistence import SqlUnitOfWork
from store import GroupCommit

__all__ = ["Calls", "wait_for", "writer_parked"]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds (at most 30 s)."""
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class Calls:
    """Calls of ``commits.run`` in threads of their own, with what each got."""

    def __init__(self, commits: GroupCommit) -> None:
        self.commits = commits
        self.results: dict[str, Any] = {}
        self.threads: list[threading.Thread] = []

    def start(self, name: str, write: Callable[[SqlUnitOfWork], Any]) -> None:
        """Hand ``write`` over in a thread of its own."""
        self.spawn(name, lambda: self.commits.run(write))

    def spawn(self, name: str, call: Callable[[], Any]) -> None:
        """Run ``call`` (which hands a write over) in a thread of its own."""

        def run() -> None:
            try:
                self.results[name] = call()
            except Exception as error:  # kept and asserted by the test
                self.results[name] = error

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)

    def join(self) -> dict[str, Any]:
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads)
        return self.results


@contextmanager
def writer_parked(commits: GroupCommit,
                  write: Callable[[SqlUnitOfWork], Any] | None = None) -> Iterator[None]:
    """Hold the writer in a group of its own until the block ends: the writes handed over
    meanwhile make the next group. ``write`` (default: none) is the parked group's own."""
    entered, release = threading.Event(), threading.Event()

    def gate(uow: SqlUnitOfWork) -> Any:
        result = None if write is None else write(uow)
        entered.set()
        release.wait(60)
        return result

    calls = Calls(commits)
    calls.start("gate", gate)
    assert entered.wait(30)
    try:
        yield
    finally:
        release.set()
        calls.join()
        gate_result = calls.results["gate"]
        if isinstance(gate_result, BaseException):
            raise gate_result


