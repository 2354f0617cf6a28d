"""The PostgreSQL pool's ping (store.database.make_engine): a connection back in the pool
moments ago with nothing on its socket is handed out without a round trip; one the
server ended, or one idle for longer, is pinged and, if dead, made again."""

import time

import pytest
import sqlalchemy as sa

from store import database
from store.database import make_engine


@pytest.fixture
def pinged(postgres_url, monkeypatch):
    """An engine of the service's kind, and the list of the pings it sends."""
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    original = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    yield engine, pings
    engine.dispose()


def _backend(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_used_moments_ago_is_not_pinged(pinged):
    engine, pings = pinged
    first = _backend(engine)
    assert [_backend(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_a_connection_the_server_ended_is_replaced(pinged, postgres_url):
    engine, pings = pinged
    ended = _backend(engine)
    admin = sa.create_engine(postgres_url)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": ended})
            connection.commit()
    finally:
        admin.dispose()
    time.sleep(0.2)  # the server's goodbye reaches the socket
    assert _backend(engine) != ended
    assert len(pings) == 1


def test_a_connection_idle_for_long_is_pinged(pinged, monkeypatch):
    engine, pings = pinged
    first = _backend(engine)
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert _backend(engine) == first
    assert len(pings) == 1
