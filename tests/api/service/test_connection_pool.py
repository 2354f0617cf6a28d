"""The service's connection pool: a fixed number of connections, each kept once opened.

A pool with overflow connections closed every connection beyond its size when it came
back and opened a new one at the next checkout: under steady load above the pool's size,
a new PostgreSQL backend (a process started, authenticated and warmed) per decision.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from settings import Settings


@pytest.fixture
def pool(database_url: str, tmp_path: Path) -> Iterator[object]:
    settings = Settings(data_dir=tmp_path, database_url=database_url, model_poll_seconds=0,
                        database_pool_size=3)
    app = create_app(settings)
    yield app.state.engine.pool
    app.state.engine.dispose()


def test_connections_opened_under_a_burst_stay_open(pool):
    held = [pool.connect() for _ in range(3)]
    opened = {id(connection.dbapi_connection) for connection in held}
    for connection in held:
        connection.close()

    again = [pool.connect() for _ in range(3)]
    assert {id(connection.dbapi_connection) for connection in again} == opened
    for connection in again:
        connection.close()


def test_a_checkout_beyond_the_pool_waits_for_a_returned_connection(pool):
    held = [pool.connect() for _ in range(3)]
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(pool.connect()))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not got  # no fourth connection was opened

    returned = held.pop()
    returned_id = id(returned.dbapi_connection)
    returned.close()
    waiter.join(10)
    assert len(got) == 1 and id(got[0].dbapi_connection) == returned_id  # type: ignore[attr-defined]
    for connection in [*held, *got]:
        connection.close()  # type: ignore[attr-defined]
