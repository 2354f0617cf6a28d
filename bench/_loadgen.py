"""A small HTTP/1.1 load generator for ``bench/serve.py`` (asyncio, keep-alive, loopback).

Requests are complete byte strings built by the caller (request line, headers, body), so
the client does no JSON or header work of its own while timing: it writes the bytes on a
kept-alive connection, reads the status line and headers, then exactly ``Content-Length``
bytes of body (or the chunks of a chunked answer). One connection per concurrent worker.
With uvloop installed the event loop is uvloop's. Figures of the client's own cost (CPU
seconds of this process over the phase) come with every result, so a reader can check
that the client was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Answer", "Connection", "PhaseResult", "Target", "run", "run_concurrent",
           "run_interleaved"]

T = TypeVar("T")

#: Builds the bytes of request number ``i`` (0, 1, 2, ... per target).
RequestFactory = Callable[[int], bytes]


@dataclass(frozen=True)
class Target:
    """A server under test and how to build its ``i``-th request."""

    name: str
    host: str
    port: int
    request: RequestFactory


@dataclass
class Answer:
    """One response: status code, raw header block, body."""

    status: int
    headers: bytes
    body: bytes


@dataclass
class PhaseResult:
    """What one target saw in one phase."""

    name: str
    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    replayed: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    #: the request number the phase would have sent next
    next_index: int = 0

    @property
    def completed(self) -> int:
        """Requests that got an answer (any status)."""
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        """Answers with a 2xx status."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        """Non-2xx answers plus requests that failed on the connection."""
        return self.completed - self.ok + self.transport_errors

    def record(self, started_ns: int, answer: Answer, *, check_replay: bool,
               timed: bool = True) -> None:
        """Count one answer, and its latency when ``timed`` (not a warm-up request)."""
        if timed:
            self.latencies_ns.append(time.perf_counter_ns() - started_ns)
        self.statuses[answer.status] += 1
        if not 200 <= answer.status < 300 and len(self.error_samples) < 5:
            self.error_samples.append(f"{answer.status}: {answer.body[:300]!r}")
        # A replayed idempotent answer would be a cheap read, not a decision: counted apart.
        if check_replay and b"idempotent-replayed: true" in answer.headers.lower():
            self.replayed += 1

    def failed(self, error: BaseException) -> None:
        """Count a request lost on the connection (reset, closed, malformed answer)."""
        self.transport_errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"transport: {type(error).__name__}: {error}")


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def send(self, request: bytes) -> Answer:
        """Write one request and read its whole answer."""
        reader, writer = await self._open()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            length = _header(lower, b"content-length")
            if length is not None:
                body = await reader.readexactly(int(length))
            elif b"transfer-encoding: chunked" in lower:
                body = await _read_chunked(reader)
            else:  # no framing: the body runs to the end of the connection
                body = await reader.read()
                self.close()
            if b"connection: close" in lower:
                self.close()
            return Answer(status, head, body)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _header(head_lower: bytes, name: bytes) -> bytes | None:
    start = head_lower.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    return head_lower[start:head_lower.find(b"\r\n", start)].strip()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers expected
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def run_interleaved(targets: Sequence[Target], *, requests: int, warmup: int,
                          first_index: int = 0, check_replay: bool = True,
                          ) -> list[PhaseResult]:
    """Sequential requests (concurrency 1), taking turns between the targets.

    Round ``k`` sends request ``first_index + k`` to each target in turn, waiting for each
    answer, so that load from elsewhere on the machine hits every target alike. The first
    ``warmup`` rounds are sent and counted (statuses, errors, replays) but not timed.

    Returns
    -------
    list of PhaseResult
        One per target, in order; ``latencies_ns`` holds the timed requests only; the
        client's CPU and wall time are the whole phase's (all targets together).
    """
    connections = [Connection(t.host, t.port) for t in targets]
    results = [PhaseResult(t.name) for t in targets]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        for k in range(warmup + requests):
            for target, connection, result in zip(targets, connections, results, strict=True):
                payload = target.request(first_index + k)
                started = time.perf_counter_ns()
                try:
                    answer = await connection.send(payload)
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    result.failed(error)
                    continue
                result.record(started, answer, check_replay=check_replay, timed=k >= warmup)
    finally:
        for connection in connections:
            connection.close()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    for result in results:
        result.wall_seconds, result.client_cpu_seconds = wall, cpu
        result.next_index = first_index + warmup + requests
    return results


async def run_concurrent(target: Target, *, concurrency: int, duration: float,
                         first_index: int = 0, check_replay: bool = True) -> PhaseResult:
    """``concurrency`` closed-loop clients, each on its own connection, for ``duration`` s.

    Each client sends its next request as soon as the previous answer is read; request
    numbers are handed out in order from ``first_index``. No request is started after the
    deadline; those in flight are finished and counted, and throughput is completed
    requests over the phase's whole wall time.
    """
    result = PhaseResult(target.name)
    counter = iter(range(first_index, 1 << 62))
    deadline = time.perf_counter() + duration

    async def client() -> None:
        connection = Connection(target.host, target.port)
        try:
            while time.perf_counter() < deadline:
                payload = target.request(next(counter))
                started = time.perf_counter_ns()
                try:
                    answer = await connection.send(payload)
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    result.failed(error)
                    await asyncio.sleep(0.01)  # a refused connection must not spin
                    continue
                result.record(started, answer, check_replay=check_replay)
        finally:
            connection.close()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.wall_seconds = time.perf_counter() - wall0
    result.client_cpu_seconds = time.process_time() - cpu0
    result.next_index = next(counter)
    return result


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on uvloop when it is installed, else on asyncio's own loop."""
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)
