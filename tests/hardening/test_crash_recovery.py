"""SIGKILL mid-load: nothing acknowledged is lost, nothing happens twice.

The service runs as its own process. Client threads send draws and repayments (on
PostgreSQL), or credit decisions (on SQLite and PostgreSQL: two workers, each storing
decisions by group commit), each with its own idempotency key, and retry the same request
(same key, same body) whenever the connection fails, as a marketplace would. The server is
killed with SIGKILL twice while they run and restarted. Then: every acknowledged operation
is stored exactly once, every key replays its first answer, each line's journal balances,
and no line is drawn above its limit; every acknowledged decision is stored once, with the
line it announced, and nothing else is.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa

from access.principal import Role
from access.security import create_api_key
from features import DEFAULT_TIMEZONE
from lending.persistence import SqlUnitOfWork, get_line, open_line
from store import make_engine, upgrade_database
from tests.hardening._market import prepare_store
from tests.hardening._server import ServerProcess

LINES = [f"L-{n}" for n in range(4)]
LIMIT = Decimal("2000.00")
CLIENTS = 4
OPERATIONS_PER_CLIENT = 20


def _operations(client: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, path, body) of one client's operations: mostly draws, some repayments."""
    rng = random.Random(client)
    operations = []
    for n in range(OPERATIONS_PER_CLIENT):
        line = rng.choice(LINES)
        key = f"c{client}-op{n}"
        if rng.random() < 0.7:
            body: dict[str, Any] = {
                "amount": f"{rng.randint(5_000, 40_000) / 100:.2f}",
                "supplier_id": f"SUP-{rng.randint(1, 9)}",
                "plan": {"method": "interest_free_bullet", "interest_free_days": 30}}
            operations.append((key, f"/v1/lines/{line}/draws", body))
        else:
            body = {"amount": f"{rng.randint(1_000, 30_000) / 100:.2f}"}
            operations.append((key, f"/v1/lines/{line}/repayments", body))
    return operations


def _client() -> httpx.Client:
    """An HTTP client for one client thread's requests and retries.

    A long read timeout: a retry is sent only when the server is down, never while the
    first request may still be in flight on a slow machine (a same-key retry racing its own
    first request is idempotency's concern, not this crash test's). Every request opens a
    new connection (no keep-alive), as ``httpx.post`` did, so the requests keep spreading
    over both workers; but one client per thread, not ``httpx.post`` per attempt, which
    builds a client and its SSL context (about 40 ms of CPU) each time: clients retrying
    every 50 ms while the server restarted took a core from the restarting server."""
    return httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0),
                        limits=httpx.Limits(max_keepalive_connections=0))


def _send_until_answered(client: httpx.Client, server: ServerProcess, token: str, key: str,
                         path: str, body: dict[str, Any], deadline: float) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    while time.monotonic() < deadline:
        try:
            answer = client.post(f"{server.url}{path}", json=body, headers=headers)
        except httpx.HTTPError:
            time.sleep(0.05)  # the server is down: retry the very same request
            continue
        if answer.status_code >= 500:
            time.sleep(0.05)
            continue
        return answer
    raise AssertionError(f"{key} was never answered")


def _lender_today() -> date:
    """Today in the lender's time zone: lines opened today leave the service's end of day
    nothing to catch up while the server is killed (catching up a long-closed store under
    SIGKILL is end of day's own crash test, tests/cli/test_eod.py)."""
    return datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date()


def test_acknowledged_draws_and_repayments_survive_sigkill_exactly_once(
        postgres_url: str, tmp_path: Path) -> None:
    engine = make_engine(postgres_url)
    upgrade_database(engine)
    for line_id in LINES:
        open_line(SqlUnitOfWork(engine), line_id=line_id, seller_id=f"S-{line_id}",
                  limit=LIMIT, opened_on=_lender_today())
    token, _ = create_api_key(engine, Role.MARKETPLACE, name="crash-test")
    server = ServerProcess(tmp_path, postgres_url)
    server.start()

    answers: dict[str, tuple[str, dict[str, Any], int, Any]] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + 600

    def client(number: int) -> None:
        with _client() as http:
            for key, path, body in _operations(number):
                answer = _send_until_answered(http, server, token, key, path, body, deadline)
                with lock:
                    answers[key] = (path, body, answer.status_code, answer.json())

    threads = [threading.Thread(target=client, args=(n,), daemon=True)
               for n in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        for pause in (1.0, 1.5):  # kill twice while the clients are sending
            time.sleep(pause)
            server.kill()
            time.sleep(0.3)
            server.start()
        for thread in threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in threads)
        assert len(answers) == CLIENTS * OPERATIONS_PER_CLIENT
        statuses = Counter(status for _, _, status, _ in answers.values())
        assert set(statuses) <= {201, 409}, statuses
        refused = {body["code"] for _, _, status, body in answers.values() if status == 409}
        assert refused <= {"credit_limit_exceeded"}, refused

        # every key replays its first answer, byte for byte
        with _client() as http:
            for key, (path, body, status, first) in answers.items():
                again = _send_until_answered(http, server, token, key, path, body, deadline)
                if status == 201:
                    assert again.status_code == 201 and again.json() == first, key
    finally:
        server.stop()

    acknowledged = [(path, first) for path, _, status, first in answers.values()
                    if status == 201]
    draws = Counter(first["draw_id"] for path, first in acknowledged if path.endswith("draws"))
    payments = Counter(first["payment_id"] for path, first in acknowledged
                       if path.endswith("repayments"))
    with engine.connect() as connection:
        events = Counter(row.operation_id for row in connection.execute(sa.text(
            "SELECT operation_id FROM line_event WHERE kind IN ('draw', 'payment')")))
        postings = connection.execute(sa.text(
            "SELECT e.line_id, p.side, sum(p.amount_minor) AS total FROM journal_posting p "
            "JOIN journal_entry e ON e.id = p.entry_id GROUP BY e.line_id, p.side")).all()
    # each acknowledged operation is stored once, and nothing unacknowledged was stored
    assert events == draws + payments
    assert set(draws.values()) <= {1} and set(payments.values()) <= {1}
    book: dict[str, dict[str, int]] = {}
    for line_id, side, total in postings:
        book.setdefault(line_id, {})[side] = int(total)
    for line_id, sides in book.items():
        assert sides.get("debit", 0) == sides.get("credit", 0), line_id
    for line_id in LINES:
        view = get_line(SqlUnitOfWork(engine), line_id)
        assert view.outstanding_principal <= view.limit
        assert view.available_credit >= 0
    engine.dispose()


def test_acknowledged_decisions_survive_sigkill_of_grouped_commits_exactly_once(
        database_url: str, tmp_path: Path) -> None:
    url = database_url  # SQLite and PostgreSQL
    # 120 sellers, 15 per client: the kills land after a sixth and after half of them
    # were answered, with every client still sending (most of the test is the three
    # starts of a two-worker server, not the decisions)
    token, sellers = prepare_store(tmp_path, url, sellers=120)
    server = ServerProcess(tmp_path, url, workers=2)
    server.start()
    clients = 8
    answers: dict[str, tuple[str, int, Any]] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + 600

    def client(number: int) -> None:
        with _client() as http:
            for seller in sellers[number::clients]:
                key = f"decide-{seller}"
                answer = _send_until_answered(http, server, token, key, "/v1/decisions",
                                              {"seller_id": seller}, deadline)
                with lock:
                    answers[key] = (seller, answer.status_code, answer.json())

    threads = [threading.Thread(target=client, args=(n,), daemon=True)
               for n in range(clients)]
    try:
        for thread in threads:
            thread.start()
        for answered in (20, 60):  # kill twice while the clients are sending
            while len(answers) < answered and time.monotonic() < deadline:
                time.sleep(0.005)
            server.kill()
            killed_at = len(answers)
            assert killed_at < len(sellers)  # requests were still coming
            time.sleep(0.3)
            server.start()
        for thread in threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in threads)
        assert len(answers) == len(sellers)
        assert {status for _, status, _ in answers.values()} == {201}, [
            body for _, status, body in answers.values() if status != 201][:3]
        with _client() as http:
            for key, (seller, _status, first) in list(answers.items())[::10]:
                again = _send_until_answered(http, server, token, key, "/v1/decisions",
                                             {"seller_id": seller}, deadline)
                assert again.status_code == 201 and again.json() == first, key
                assert again.headers["Idempotent-Replayed"] == "true", key
    finally:
        server.stop()

    engine = sa.create_engine(url)
    with engine.connect() as connection:
        stored = {row.id: (row.seller_id, row.line_id) for row in connection.execute(
            sa.text("SELECT id, seller_id, line_id FROM credit_decision"))}
        lines = {row.id: row.seller_id for row in connection.execute(
            sa.text("SELECT id, seller_id FROM credit_line"))}
    engine.dispose()
    # every acknowledged decision is stored once, and nothing else is (a decision committed
    # just before a kill was retried with its key and replayed, so it was acknowledged)
    assert stored == {body["decision_id"]: (seller, body["line_id"])
                      for seller, _, body in answers.values()}
    announced = {body["line_id"]: seller for seller, _, body in answers.values()
                 if body["line_id"]}
    assert lines == announced
