"""A bounded burst of concurrent decisions, draws and repayments: no error, no lost write.

The service runs as its own process on loopback. Concurrent clients first ask for a
decision on every seller (each with its own idempotency key), then draw on and repay the
lines the approvals opened. Every request must succeed, and the database must hold
exactly what was acknowledged: one decision per seller, one line per approval, every
draw and repayment once, a balanced journal.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tests.hardening._market import prepare_store
from tests.hardening._server import ServerProcess

CONCURRENCY = 12


def _burst(url: str, key: str, requests: list[tuple[str, str, dict[str, Any]]]
           ) -> tuple[list[httpx.Response], float]:
    """Send (idempotency key, path, body) requests from CONCURRENCY threads."""
    with httpx.Client(base_url=url, timeout=30,
                      limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        def send(request: tuple[str, str, dict[str, Any]]) -> httpx.Response:
            idempotency_key, path, body = request
            return client.post(path, json=body, headers={
                "Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key})

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            answers = list(pool.map(send, requests))
        return answers, time.perf_counter() - started


def test_a_burst_of_decisions_draws_and_repayments_loses_nothing(
        database_url: str, tmp_path: Path) -> None:
    url = database_url  # SQLite and PostgreSQL
    database = sa.make_url(url).get_backend_name()
    key, sellers = prepare_store(tmp_path, url, sellers=300)
    server = ServerProcess(tmp_path, url, workers=2)
    server.start()
    try:
        decisions, seconds = _burst(server.url, key, [
            (f"decide-{seller}", "/v1/decisions", {"seller_id": seller})
            for seller in sellers])
        assert Counter(a.status_code for a in decisions) == {201: len(sellers)} or \
            Counter(a.status_code for a in decisions) == {200: len(sellers)}, \
            [a.text for a in decisions if a.status_code >= 300][:3]
        print(f"\n{database}: {len(sellers) / seconds:.0f} decisions/s "
              f"({len(sellers)} in {seconds:.2f} s, {CONCURRENCY} clients)")
        lines = [(a.json()["line_id"], a.json()["terms"]) for a in decisions
                 if a.json()["line_id"]]
        assert lines, "the policy approved nobody"
        money: list[tuple[str, str, dict[str, Any]]] = []
        for n, (line_id, terms) in enumerate(lines * 3):
            # a draw within what the decision granted: a purchase line's first interest-free
            # period, a term loan's first method and term
            plan = ({"kind": "term_loan", "method": terms["methods"][0],
                     "months": terms["months"][0]} if terms["product"] == "term_loan"
                    else {"kind": "interest_free", "days": terms["interest_free_days"][0]})
            money.append((f"draw-{n}", f"/v1/lines/{line_id}/draws", {
                "amount": "10.00", "supplier_id": "SUP-1", "plan": plan}))
            money.append((f"repay-{n}", f"/v1/lines/{line_id}/repayments",
                          {"amount": "4.00"}))
        answers, seconds = _burst(server.url, key, money)
        errors = [a.text for a in answers if a.status_code != 201]
        assert not errors, errors[:3]
        print(f"{database}: {len(money) / seconds:.0f} draws and repayments/s")
    finally:
        server.stop()

    engine = sa.create_engine(url)
    with engine.connect() as connection:
        def count(sql: str) -> int:
            return int(connection.execute(sa.text(sql)).scalar_one())

        assert count("SELECT count(*) FROM credit_decision") == len(sellers)
        assert count("SELECT count(DISTINCT seller_id) FROM credit_decision") == len(sellers)
        assert count("SELECT count(*) FROM credit_line") == len(lines)
        assert count("SELECT count(*) FROM line_event WHERE kind = 'draw'") == len(lines) * 3
        assert count("SELECT count(*) FROM line_event WHERE kind = 'payment'") == len(lines) * 3
        unbalanced = connection.execute(sa.text(
            "SELECT p.entry_id FROM journal_posting p GROUP BY p.entry_id HAVING "
            "sum(CASE WHEN p.side = 'debit' THEN p.amount_minor ELSE -p.amount_minor END)"
            " <> 0")).all()
        assert unbalanced == []
    engine.dispose()
