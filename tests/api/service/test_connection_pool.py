"""The service's connection pool: a fixed number of connections, each kept once opened.

A pool with overflow connections closed every connection beyond its size when it came
back and opened a new one at the next checkout: under steady load above the pool's size,
a new PostgreSQL backend (a process started, authenticated and warmed) per decision.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api.app import create_app
from settings import Settings


@pytest.fixture
def service_engine(database_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    """The service's engine, with a pool of 3."""
    settings = Settings(data_dir=tmp_path, database_url=database_url, model_poll_seconds=0,
                        database_pool_size=3)
    app = create_app(settings)
    yield app.state.engine
    app.state.engine.dispose()


@pytest.fixture
def pool(service_engine: sa.Engine) -> Any:
    return service_engine.pool


def test_a_burst_beyond_the_pool_opens_no_more_connections_and_keeps_those_it_opened(
        service_engine):
    """Five requests at once on a pool of 3: three connections are opened, the other two
    requests wait for one, and all three are still open afterwards (a pool with overflow
    opened five and closed two)."""
    service_engine.dispose()  # a fresh pool: start-up's connection is not counted
    opened: list[int] = []
    sa.event.listen(service_engine, "connect", lambda dbapi, record: opened.append(id(dbapi)))
    all_in = threading.Barrier(3)

    def request() -> None:
        with service_engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
            with contextlib.suppress(threading.BrokenBarrierError):
                all_in.wait(timeout=1)  # the first three hold theirs at once

    burst = [threading.Thread(target=request) for _ in range(5)]
    for thread in burst:
        thread.start()
    for thread in burst:
        thread.join(30)

    assert len(opened) == 3
    assert service_engine.pool.checkedin() == 3  # none closed on its return
    with service_engine.connect() as connection:
        assert id(connection.connection.dbapi_connection) in opened


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
