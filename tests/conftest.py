"""Shared fixtures for the whole suite.

Database tests run on SQLite always and on the PostgreSQL at 127.0.0.1:5432 (database
``test``) when it answers. Under CI (``CI`` set) PostgreSQL is required: a test that needs
it fails instead of skipping. Set ``SME_CREDIT_TEST_POSTGRES_URL`` to use another server.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

if TYPE_CHECKING:
    from lending.persistence import SqlUnitOfWork

os.environ.setdefault("MPLBACKEND", "Agg")

# One BLAS thread per test process. `make test` runs a pytest-xdist worker per core; with
# OpenBLAS's default of a thread per core in every worker, the workers' BLAS threads
# busy-wait for cores the other worker (or any other process) holds, and CPU-bound tests
# (the logistic-regression references, the linear base) ran 4-6 times slower than alone.
# Set before NumPy loads OpenBLAS (it reads the variable once), inherited by the servers
# and commands the tests start; a value set by the caller wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if "numpy" in sys.modules:  # loaded before this file (by a plugin): limit it at run time
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")
# OpenMP threads (LightGBM's, with n_jobs=2: the default configuration, `sme-credit train`
# and `demo`) sleep when they wait instead of spinning. Spinning threads of two workers,
# and of the servers and commands they start, held the two cores the others needed:
# training on 1,500 rows took 19 s instead of 2.3 s (12 s of CPU instead of 1.4) on the
# shared machine. Only how idle threads wait changes, not the threads or the results. Read
# once when LightGBM loads libgomp (after this file); inherited by subprocesses; a value
# set by the caller wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

POSTGRES_URL = os.environ.get(
    "SME_CREDIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


def _postgres_answers() -> str | None:
    """``None`` when PostgreSQL answers, else why not."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a declared dependency
        return f"psycopg is not installed ({exc})"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3) as connection:
            connection.execute("select 1")
    except Exception as exc:  # any connection failure means: not available
        return f"PostgreSQL at {dsn} does not answer ({exc.__class__.__name__}: {exc})"
    return None


_POSTGRES_PROBLEM = _postgres_answers()


def pytest_report_header() -> list[str]:
    if _POSTGRES_PROBLEM is None:
        return [f"postgresql: {POSTGRES_URL} answers; PostgreSQL tests run"]
    action = "FAIL (CI is set)" if IN_CI else "are skipped"
    return [f"postgresql: PostgreSQL tests {action}: {_POSTGRES_PROBLEM}"]


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test write into the developer's ./data folder."""
    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema that is dropped after the test."""
    if _POSTGRES_PROBLEM is not None:
        if IN_CI:
            pytest.fail(f"CI requires PostgreSQL: {_POSTGRES_PROBLEM}")
        pytest.skip(_POSTGRES_PROBLEM)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'create schema "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'drop schema "{schema}" cascade')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> str:
    """Each database test runs on the embedded SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'sme_credit.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on a freshly migrated database (every table of every package), with room
    for 50 concurrent sessions."""
    from store import make_engine, upgrade_database

    engine = make_engine(database_url, pool_size=50, max_overflow=0)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine: sa.Engine) -> Callable[[], SqlUnitOfWork]:
    """A fresh unit of work (with the lending repositories) on the test database per call."""
    from lending.persistence import SqlUnitOfWork

    return lambda: SqlUnitOfWork(engine)
