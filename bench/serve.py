"""Benchmark: explained, persisted credit decisions over HTTP against ``mlflow models serve``.

    .venv/bin/python bench/serve.py                              # SQLite and PostgreSQL
    .venv/bin/python bench/serve.py --databases sqlite --duration 5 --requests 200
    .venv/bin/python bench/serve.py --workdir /tmp/bs --keep     # keep folder and schema

One run, on loopback:

1. **Set-up** (not timed) in a temporary folder (or ``--workdir``): a synthetic marketplace
   (``--sellers`` x ``--months``, seeded, as of the current minute), its features, a
   LightGBM model trained quickly (one candidate, three folds), logged, registered and
   promoted to champion in an MLflow SQLite store in that folder, so that both servers serve
   the same registered version. For each database: the records bulk-loaded into the
   service's store with every seller's feature snapshot (``load_records``) and an API key
   of role ``marketplace``. PostgreSQL gets a schema of its own on the server of
   ``--postgres-url``, dropped at the end.
2. **Servers**: ``sme-credit serve --workers W`` once per database (each a process group of
   its own, configured through ``SME_CREDIT_*``) and, with ``--workers W`` too, ``mlflow
   models serve --env-manager local`` of (``--mlflow``) ``pyfunc``: ``models:/<name>/
   <version>``, the registered version itself (its ``predict`` encodes the row, runs the
   booster and calibrates), and ``lightgbm``: the same version's bare booster logged with
   MLflow's LightGBM flavour (no encoding, no calibration: the cheapest plain prediction
   MLflow can serve of this model). The MLflow servers get ``OMP_NUM_THREADS=1``
   (``--mlflow-threads``), as our single-row path uses one thread. The bench waits for
   ``/readyz`` and ``/ping``, then until every server is idle (every worker of every
   server has started: one ready worker answers while others may still be starting).
3. **Latency** (concurrency 1): ``--requests`` timed requests per server after
   ``--warmup`` untimed ones, taking turns (one request to each server, then the next), so
   that load from elsewhere on the machine hits every server alike. p50 and p99.
4. **Throughput**: for each level of ``--concurrency``, that many closed-loop clients on
   kept-alive connections for ``--duration`` seconds, one server after the other
   (``--rounds`` turns; the median round is reported). Requests per second, with every
   non-2xx answer or lost request counted as an error, and where the machine's CPU went
   (ms per answer: the server's process group, PostgreSQL's processes, the client, the
   rest of the machine, read from /proc).

Our requests are ``POST /v1/decisions`` ``{"seller_id": ...}`` with a unique
``Idempotency-Key`` each (an idempotent replay would be a cheap read, so the client counts
``Idempotent-Replayed`` answers and the bench fails if there is one); sellers are taken in
a seeded random order, wrapping round when a phase needs more requests than there are
sellers (every request is still a new decision). MLflow's are ``POST /invocations`` with
the same seller's feature row as ``{"dataframe_split": ...}`` (one row, plain prediction).
After the run, the rows of ``credit_decision`` must equal our 2xx answers.

``--profile`` samples our servers' workers with py-spy (``--gil``: Python holding the GIL)
during their throughput phases and prints inclusive and self time per answer.

The client is one asyncio process (uvloop when installed) writing pre-built HTTP/1.1
requests and reading answers by ``Content-Length``; its own CPU time is printed with each
phase. It shares the machine's cores with the servers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "bench-serve-pd"
DEFAULT_POSTGRES_URL = os.environ.get(
    "SME_CREDIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET_RATIO = 0.5
TARGET_THROUGHPUT = 300.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sellers", type=int, default=5_000,
                        help="sellers in the synthetic marketplace (default 5000)")
    parser.add_argument("--months", type=int, default=12, help="months of orders (default 12)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--requests", type=int, default=500,
                        help="timed sequential requests per server (default 500)")
    parser.add_argument("--warmup", type=int, default=50,
                        help="untimed sequential requests per server first (default 50)")
    parser.add_argument("--concurrency", default="8,32",
                        help="concurrent clients of the throughput phase; a comma-separated "
                        "list runs one phase per level (default 8,32)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of the throughput phase per server and round "
                        "(default 10)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="throughput rounds, servers taking turns (default 1)")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1),
                        help="worker processes of every server (default: twice the "
                        "machine's CPUs, as `sme-credit serve` is advised to run: one "
                        "process, one GIL, cannot keep a core busy while its requests "
                        "wait on the database)")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql (default both)")
    parser.add_argument("--mlflow", default="pyfunc,lightgbm",
                        help="MLflow servers to compare with, comma-separated (default "
                        "pyfunc,lightgbm): pyfunc serves the registered version itself; "
                        "lightgbm serves the same version's bare booster logged with "
                        "MLflow's LightGBM flavour (no encoding, no calibration: the "
                        "cheapest plain prediction MLflow can serve of this model)")
    parser.add_argument("--no-mlflow", dest="mlflow", action="store_const", const="",
                        help="do not start mlflow models serve (our figures only)")
    parser.add_argument("--mlflow-threads", type=int, default=1,
                        help="OMP_NUM_THREADS of the MLflow servers (default 1, as our "
                        "service's single-row path uses; 0 leaves it unset)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="PostgreSQL server and database for the bench's own schema "
                        f"(default {DEFAULT_POSTGRES_URL})")
    parser.add_argument("--workdir", type=Path,
                        help="folder for data, stores and server logs (default: temporary)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the folder and the PostgreSQL schema afterwards")
    parser.add_argument("--profile", action="store_true",
                        help="sample our servers' workers with py-spy (must be installed: "
                        ".venv/bin/pip install py-spy) during their throughput phase and "
                        "print where the time goes; profiles are written to "
                        "<workdir>/profiles/")
    parser.add_argument("--hold", action="store_true",
                        help="after the set-up, keep the servers up until Ctrl-C (to "
                        "profile them by hand) instead of measuring")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown or not args.databases:
        parser.error(f"--databases takes sqlite and/or postgresql; got {args.databases}")
    try:
        args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    except ValueError:
        parser.error(f"--concurrency takes integers; got {args.concurrency!r}")
    if not args.concurrency or min(args.concurrency) < 1:
        parser.error("--concurrency needs levels of at least 1")
    for name in ("sellers", "months", "requests", "workers", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    args.mlflow = [m.strip() for m in args.mlflow.split(",") if m.strip()]
    if set(args.mlflow) - {"pyfunc", "lightgbm"}:
        parser.error(f"--mlflow takes pyfunc and/or lightgbm; got {args.mlflow}")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    return args


# ------------------------------------------------------------------ processes
@dataclass
class Server:
    """A server process the bench started (a process group of its own)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    ready_path: str

    def alive(self) -> bool:
        """Whether the main process is still running."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for error messages."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


@dataclass
class Processes:
    """Every server started; :meth:`stop_all` ends each process group (TERM, then KILL)."""

    servers: list[Server] = field(default_factory=list)

    def start(self, name: str, argv: list[str], *, port: int, env: dict[str, str],
              cwd: Path, log: Path, ready_path: str) -> Server:
        """Start ``argv`` in a new session (its own process group), output to ``log``."""
        with log.open("wb") as out:
            process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        server = Server(name, port, process, log, ready_path)
        self.servers.append(server)
        return server

    def stop_all(self, timeout: float = 15.0) -> None:
        """TERM every group the bench started, wait, KILL what is left."""
        for server in self.servers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(server.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for server in self.servers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(max(0.1, deadline - time.monotonic()))
            # uvicorn's workers are children in the same group: end any left over
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(server.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(5)
        self.servers.clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(server: Server, timeout: float = 180.0) -> None:
    """Poll the server's readiness path until it answers 200 three times in a row.

    With several workers each answer may come from another process; three in a row make
    it likely that every worker has finished its start-up (the warm-up covers the rest).
    """
    url = f"http://127.0.0.1:{server.port}{server.ready_path}"
    deadline = time.monotonic() + timeout
    streak, last = 0, "no answer yet"
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited with status {server.process.returncode}"
                               f"; its log ends:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                streak = streak + 1 if answer.status == 200 else 0
                last = f"HTTP {answer.status}"
        except urllib.error.HTTPError as error:
            streak, last = 0, f"HTTP {error.code}: {error.read()[:200]!r}"
        except OSError as error:
            streak, last = 0, f"{type(error).__name__}: {error}"
        if streak >= 3:
            return
        time.sleep(0.3)
    raise RuntimeError(f"{server.name} not ready at {url} after {timeout:.0f} s ({last}); "
                       f"its log ends:\n{server.log_tail()}")


def _wait_settled(servers: list[Server], *, idle_share: float = 0.1, window: float = 2.0,
                  timeout: float = 300.0) -> float:
    """Wait until the servers' process groups together use less than ``idle_share`` of a
    core over ``window`` seconds: every worker has finished starting (imports, the model),
    so that no start-up work runs into the timed phases. Readiness alone does not say so:
    one ready worker answers ``/readyz`` while the others may still be starting. Returns
    the seconds waited; raises if the servers are still busy after ``timeout``."""
    pgids = [server.process.pid for server in servers]
    mark = time.monotonic()
    before = CpuSample.take(pgids)
    while True:
        time.sleep(window)
        after = CpuSample.take(pgids)
        used = sum(after.groups.values()) - sum(before.groups.values())
        if used < idle_share * (after.wall - before.wall):
            return time.monotonic() - mark
        if time.monotonic() - mark > timeout:
            raise RuntimeError(f"the servers still used {used:.1f} s of CPU in "
                               f"{window:g} s after {timeout:.0f} s")
        before = after


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, so that ``finally`` blocks clean up as for Ctrl-C."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------- set-up
@dataclass
class Setup:
    """What the servers and the client share."""

    tracking_uri: str
    model_name: str
    version: str
    n_trees: int
    n_features: int
    seller_ids: list[str]
    mlflow_bodies: dict[str, bytes]
    booster_model: str
    booster_bodies: dict[str, bytes]
    market: Any
    now: datetime
    seconds: dict[str, float]


def _prepare_model(args: argparse.Namespace, folder: Path) -> Setup:
    """Marketplace, features, a quick model registered and promoted in ``folder``."""
    import numpy as np

    import features
    from models import TrainConfig, train
    from models.registry import log_and_register, promote
    from synth.marketplace import generate_marketplace

    seconds: dict[str, float] = {}
    mark = time.perf_counter()
    # As of the current minute: the service decides "now", right after the records end,
    # so the snapshots built at load time are current (no rebuild during the run).
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    market = generate_marketplace(args.sellers, args.months, args.seed, as_of=now)
    table = features.build_features(market.orders, market.sellers, market.as_of)
    label = (market.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    seconds["marketplace and features"] = time.perf_counter() - mark

    mark = time.perf_counter()
    config = TrainConfig(max_candidates=1, cv_folds=3, max_rounds=300,
                         early_stopping_rounds=20, learning_rate=0.1, n_jobs=1,
                         seed=args.seed)
    model = train(table, label, config=config)
    tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    logged = log_and_register(model, table, label, tracking_uri=tracking_uri,
                              model_name=MODEL_NAME,
                              artifact_location=(folder / "mlartifacts").as_uri())
    result = promote(tracking_uri, MODEL_NAME, version=logged.version, force=True,
                     reason="bench/serve.py: the model both servers serve", actor="bench")
    if not result.promoted:
        raise RuntimeError(f"could not promote {MODEL_NAME} v{logged.version}: {result}")
    booster_model, booster_bodies = _log_booster(model, table, tracking_uri, logged.run_id)
    seconds["training and registry"] = time.perf_counter() - mark

    # MLflow's request bodies: each seller's row in the model's plain dtypes (what a JSON
    # client sends), ``null`` for a missing value.
    plain = model.to_plain(table)
    columns = [str(c) for c in plain.columns]
    bodies = {str(seller): _split_body(columns, list(row))
              for seller, row in zip(plain.index, plain.itertuples(index=False), strict=True)}
    rng = np.random.default_rng(args.seed)
    order = [str(s) for s in rng.permutation(np.asarray(table.index, dtype=object))]
    return Setup(tracking_uri=tracking_uri, model_name=MODEL_NAME, version=logged.version,
                 n_trees=int(model.best_iteration_ or model.booster_.num_trees()),
                 n_features=len(columns), seller_ids=order, mlflow_bodies=bodies,
                 booster_model=booster_model, booster_bodies=booster_bodies,
                 market=market, now=now, seconds=seconds)


def _split_body(columns: list[str], values: list[Any]) -> bytes:
    """One row as ``{"dataframe_split": ...}``, ``null`` for a missing value."""
    import math

    row = [None if v is None or (isinstance(v, float) and math.isnan(v)) else
           (v.item() if hasattr(v, "item") else v) for v in values]
    return json.dumps({"dataframe_split": {"columns": columns, "data": [row]}},
                      separators=(",", ":")).encode()


def _log_booster(model: Any, table: Any, tracking_uri: str, run_id: str,
                 ) -> tuple[str, dict[str, bytes]]:
    """The registered version's booster, logged with MLflow's LightGBM flavour in the same
    run and registered as ``<name>-booster``: its URI and each seller's request body (the
    encoded feature row the booster takes)."""
    import mlflow
    import mlflow.lightgbm
    import pandas as pd

    from models.registry import tracking

    booster = model.booster_
    names = [str(n) for n in booster.feature_name()]
    matrix = pd.DataFrame(model.to_matrix(table), columns=names, index=table.index)
    with tracking(tracking_uri), mlflow.start_run(run_id=run_id), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = mlflow.lightgbm.log_model(booster, name="booster",
                                         input_example=matrix.head(3),
                                         registered_model_name=f"{MODEL_NAME}-booster")
    version = info.registered_model_version
    bodies = {str(seller): _split_body(names, list(row))
              for seller, row in zip(matrix.index, matrix.itertuples(index=False),
                                     strict=True)}
    return f"models:/{MODEL_NAME}-booster/{version}", bodies


def _postgres_schema(url: str) -> tuple[str, str]:
    """Create a schema of the bench's own; its URL and name."""
    import psycopg

    schema = f"bench_serve_{secrets.token_hex(4)}"
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}", schema


def _drop_postgres_schema(url: str, schema: str) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _load_store(database_url: str, setup: Setup) -> tuple[str, float]:
    """Migrate the store, load the marketplace with its snapshots, create an API key."""
    from access.principal import Role
    from access.security import create_api_key
    from records.ingest import load_records
    from store import make_engine, upgrade_database

    mark = time.perf_counter()
    engine = make_engine(database_url)
    try:
        upgrade_database(engine)
        load_records(engine, setup.market.sellers, setup.market.orders, now=setup.now)
        key, _ = create_api_key(engine, Role.MARKETPLACE, name="bench-serve")
    finally:
        engine.dispose()
    return key, time.perf_counter() - mark


def _count_decisions(database_url: str) -> int:
    import sqlalchemy as sa

    from store import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM credit_decision"))
                       .scalar_one())
    finally:
        engine.dispose()


# ------------------------------------------------------------------- requests
def _ours_factory(port: int, key: str, sellers: list[str], run: str) -> Any:
    head = (f"POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n").encode()
    n = len(sellers)
    encoded = [s.encode() for s in sellers]

    def request(i: int) -> bytes:
        body = b'{"seller_id":"' + encoded[i % n] + b'"}'
        return b"".join((head, b"Idempotency-Key: ", run.encode(), b"-", str(i).encode(),
                         b"\r\nContent-Length: ", str(len(body)).encode(), b"\r\n\r\n",
                         body))

    return request


def _mlflow_factory(port: int, sellers: list[str], bodies: dict[str, bytes]) -> Any:
    head = (f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n").encode()
    prepared = [head + b"Content-Length: " + str(len(bodies[s])).encode() + b"\r\n\r\n"
                + bodies[s] for s in sellers]
    n = len(prepared)

    def request(i: int) -> bytes:
        return prepared[i % n]

    return request


# ------------------------------------------------------------------ CPU time
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stats() -> Iterator[tuple[int, str, int, float]]:
    """``(pid, comm, process group, CPU seconds)`` of every process /proc shows (Linux)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        comm = text[text.find("(") + 1:text.rfind(")")]
        fields = text[text.rfind(")") + 2:].split()
        yield int(entry.name), comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK


@dataclass
class CpuSample:
    """CPU seconds so far: per server process group, PostgreSQL's processes, the machine."""

    groups: dict[int, float]
    postgres: float
    machine_busy: float
    wall: float

    @classmethod
    def take(cls, pgids: list[int]) -> CpuSample:
        """Read /proc now (zeros where it is not there)."""
        groups = dict.fromkeys(pgids, 0.0)
        postgres = 0.0
        if Path("/proc/stat").exists():
            for _pid, comm, pgrp, cpu in _proc_stats():
                if pgrp in groups:
                    groups[pgrp] += cpu
                elif comm.startswith("postgres"):
                    postgres += cpu
        busy = 0.0
        with contextlib.suppress(OSError, ValueError):
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
            # user nice system idle iowait irq softirq steal: busy is all but idle and iowait
            busy = (sum(values[:8]) - values[3] - values[4]) / _TICK
        return cls(groups, postgres, busy, time.perf_counter())


def _cpu_line(before: CpuSample, after: CpuSample, pgid: int, client_cpu: float,
              answers: int, database: str | None) -> str:
    """Where the machine's CPU went during a phase, in ms per answer.

    PostgreSQL's share counts only processes alive at both ends of the phase: a backend
    opened and closed within it (a connection pool that overflows) is missed, and its CPU
    shows under "everything else".
    """
    n = max(answers, 1)
    server = after.groups[pgid] - before.groups[pgid]
    postgres = after.postgres - before.postgres if database == "postgresql" else 0.0
    busy = after.machine_busy - before.machine_busy
    wall = after.wall - before.wall
    other = busy - server - postgres - client_cpu
    parts = [f"server {1e3 * server / n:.2f}"]
    if database == "postgresql":
        parts.append(f"postgres {1e3 * postgres / n:.2f}")
    parts += [f"client {1e3 * client_cpu / n:.2f}",
              f"everything else on the machine {1e3 * other / n:.2f}"]
    return (f"    CPU ms per answer: {', '.join(parts)}; machine busy "
            f"{100 * busy / wall / (os.cpu_count() or 1):.0f} % of {os.cpu_count()} cores")


# -------------------------------------------------------------------- profile
def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-")


def _start_py_spy(server: Server, output: Path, duration: float,
                  ) -> tuple[subprocess.Popen[bytes], Path]:
    """Sample the server and its worker processes for ``duration`` seconds (100 Hz)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
        "py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    output.parent.mkdir(parents=True, exist_ok=True)
    # --gil: only samples of a thread holding the GIL, i.e. Python code running on a CPU
    # (waits on a socket, the disk or SQLite's lock release it and are left out);
    # --nonblocking: the workers are not paused to be sampled (less distortion)
    argv = [spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--gil",
            "--nonblocking", "--format", "raw", "--rate", str(_RATE), "--duration",
            str(max(1, int(duration))), "--output", str(output)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    time.sleep(0.5)  # let it attach before the load starts
    return process, output


def _finish_py_spy(process: subprocess.Popen[bytes], output: Path, answers: int) -> None:
    try:
        _out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    if not output.exists():
        print(f"  py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")
        return
    print(_summarise_profile(output, answers))


#: Frames worth naming in the summary: where a decision's time can go.
_INTERESTING = ("sme-credit", "api/", "scoring/", "lending/", "features/", "sqlalchemy",
                "sqlite3", "psycopg", "pydantic", "fastapi", "starlette", "json", "lightgbm",
                "uvicorn", "anyio", "sqlmodel")


_RATE = 100  # samples a second: one sample stands for 10 ms of a thread holding the GIL


def _summarise_profile(path: Path, answers: int, top: int = 40) -> str:
    """Inclusive and self time of the sampled stacks (py-spy ``raw``: folded stacks), in
    ms of GIL-holding time per answer (one sample is ``1 / _RATE`` s)."""
    from collections import Counter

    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            leaf[frames[-1]] += count
    if not total:
        return f"  profile {path.name}: no samples"
    per = 1e3 / _RATE / max(answers, 1)
    lines = [f"  profile {path.name}: {total:,} samples holding the GIL (all workers), "
             f"{total * per:.2f} ms per answer; inclusive (ms per answer, share):"]
    shown = 0
    for frame, count in inclusive.most_common():
        if any(key in frame for key in _INTERESTING):
            lines.append(f"    {count * per:6.2f} {100 * count / total:5.1f} %  {frame}")
            shown += 1
            if shown >= top:
                break
    lines.append("  self (leaf):")
    for frame, count in leaf.most_common(20):
        lines.append(f"    {count * per:6.2f} {100 * count / total:5.1f} %  {frame}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- report
def _percentile_ms(values: list[int], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) / 1e6 if values \
        else float("nan")


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sys.path.insert(0, str(ROOT))
    import _loadgen as lg  # bench/ is on sys.path when run as a script

    warnings.filterwarnings("ignore", message="LightGBM binary classifier")
    warnings.filterwarnings("ignore", message=r".*Add type hints to the")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    command = shlex.join([".venv/bin/python", "bench/serve.py",
                          *(sys.argv[1:] if argv is None else argv)])
    started_at = datetime.now(UTC)
    print(f"bench/serve.py at {started_at:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; "
          f"load average {_load()}", flush=True)
    own_folder = args.workdir is None
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-")) if own_folder \
        else args.workdir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    processes = Processes()
    schema: str | None = None
    status = 1
    try:
        with _terminate_as_interrupt():
            setup = _prepare_model(args, folder)
            print(f"set-up (not timed): {args.sellers:,} sellers x {args.months} months, "
                  f"{len(setup.market.orders):,} orders; model {setup.model_name} "
                  f"v{setup.version} ({setup.n_trees} trees, {setup.n_features} features) "
                  f"registered and champion in {setup.tracking_uri}; "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in setup.seconds.items()),
                  flush=True)
            stores: dict[str, tuple[str, str]] = {}  # database -> (url, key)
            for database in args.databases:
                if database == "sqlite":
                    url = f"sqlite:///{folder / 'sme_credit.db'}"
                else:
                    url, schema = _postgres_schema(args.postgres_url)
                key, took = _load_store(url, setup)
                stores[database] = (url, key)
                where = url.split("?")[0] + (f", schema {schema}"
                                             if database == "postgresql" else "")
                print(f"{database}: records and snapshots loaded in {took:.1f} s ({where})",
                      flush=True)
            status = _measure(args, setup, folder, stores, processes, lg, command)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers", file=sys.stderr)
        status = 130
    finally:
        processes.stop_all()
        if schema is not None and not args.keep:
            with contextlib.suppress(Exception):
                _drop_postgres_schema(args.postgres_url, schema)
        if own_folder and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        elif args.keep:
            print(f"kept: {folder}" + (f" and PostgreSQL schema {schema}" if schema else ""))
    return status


def _measure(args: argparse.Namespace, setup: Setup, folder: Path,
             stores: dict[str, tuple[str, str]], processes: Processes, lg: Any,
             command: str) -> int:
    """Start the servers, run both phases, print the report; the exit status."""
    servers: list[tuple[str, Server]] = []
    bin_dir = Path(sys.executable).parent
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("SME_CREDIT_")}
    # mlflow models serve runs ``uvicorn`` from PATH: the virtualenv's comes first
    base_env["PATH"] = f"{bin_dir}{os.pathsep}{base_env.get('PATH', '')}"
    (folder / "logs").mkdir(exist_ok=True)
    for database, (url, _key) in stores.items():
        port = _free_port()
        env = dict(base_env, SME_CREDIT_DATA_DIR=str(folder / f"data-{database}"),
                   SME_CREDIT_DATABASE_URL=url,
                   SME_CREDIT_MLFLOW_TRACKING_URI=setup.tracking_uri,
                   SME_CREDIT_MODEL_NAME=setup.model_name)
        argv = [str(bin_dir / "sme-credit"), "serve", "--host", "127.0.0.1", "--port",
                str(port), "--workers", str(args.workers), "--log-level", "warning"]
        servers.append((f"ours ({database})", processes.start(
            f"sme-credit serve ({database})", argv, port=port, env=env, cwd=folder,
            log=folder / "logs" / f"serve-{database}.log", ready_path="/readyz")))
    mlflow_env = dict(base_env, MLFLOW_TRACKING_URI=setup.tracking_uri)
    if args.mlflow_threads > 0:
        mlflow_env["OMP_NUM_THREADS"] = str(args.mlflow_threads)
    for flavour in args.mlflow:
        port = _free_port()
        uri = (f"models:/{setup.model_name}/{setup.version}" if flavour == "pyfunc"
               else setup.booster_model)
        argv = [str(bin_dir / "mlflow"), "models", "serve", "-m", uri, "--env-manager",
                "local", "-p", str(port), "-h", "127.0.0.1", "-w", str(args.workers)]
        servers.append((f"mlflow serve {flavour}", processes.start(
            f"mlflow models serve {uri}", argv, port=port, env=mlflow_env, cwd=folder,
            log=folder / "logs" / f"mlflow-{flavour}.log", ready_path="/ping")))
    for _name, server in servers:
        _wait_ready(server)
    settled = _wait_settled([server for _, server in servers])
    print("servers ready: " + ", ".join(f"{name} :{server.port}" for name, server in servers)
          + f" ({args.workers} workers each; every worker started: the servers idle "
          f"{settled:.0f} s after the first answers)", flush=True)

    run = f"bench-{secrets.token_hex(4)}"
    targets = []
    for name, server in servers:
        if name.startswith("ours"):
            database = name[len("ours ("):-1]
            factory = _ours_factory(server.port, stores[database][1], setup.seller_ids,
                                    f"{run}-{database}")
        else:
            factory = _mlflow_factory(server.port, setup.seller_ids,
                                      setup.mlflow_bodies if name.endswith("pyfunc")
                                      else setup.booster_bodies)
        targets.append(lg.Target(name, "127.0.0.1", server.port, factory))

    if args.hold:
        print("--hold: servers up until Ctrl-C; request factories not used", flush=True)
        while all(server.alive() for _, server in servers):
            time.sleep(1)
        return 1

    # ------------------------------------------------------------- latency
    load_before = _load()
    sequential = lg.run(lg.run_interleaved(targets, requests=args.requests,
                                           warmup=args.warmup))
    seq_wall = sequential[0].wall_seconds
    seq_cpu = sequential[0].client_cpu_seconds
    seq_count = sum(r.completed + r.transport_errors for r in sequential)
    print(f"latency phase: {args.warmup} + {args.requests} sequential requests per server "
          f"in turns, {seq_wall:.1f} s; client CPU {seq_cpu:.2f} s "
          f"({1e6 * seq_cpu / max(seq_count, 1):.0f} us a request); load average "
          f"{_load()}", flush=True)

    # ---------------------------------------------------------- throughput
    next_index = {t.name: r.next_index for t, r in zip(targets, sequential, strict=True)}
    # (server, concurrency) -> the results of its rounds
    rounds: dict[tuple[str, int], list[Any]] = {
        (t.name, c): [] for t in targets for c in args.concurrency}
    for round_no, level in ((r, c) for r in range(args.rounds) for c in args.concurrency):
        for target, (name, server) in zip(targets, servers, strict=True):
            spy = (_start_py_spy(server, folder / "profiles" /
                                 f"{_slug(name)}-c{level}-{round_no}.txt", args.duration)
                   if args.profile and name.startswith("ours") else None)
            pgids = [s.process.pid for _, s in servers]
            before = CpuSample.take(pgids)
            result = lg.run(lg.run_concurrent(target, concurrency=level,
                                              duration=args.duration,
                                              first_index=next_index[target.name]))
            after = CpuSample.take(pgids)
            next_index[target.name] = result.next_index
            rounds[(target.name, level)].append(result)
            rate = result.ok / result.wall_seconds
            print(f"throughput round {round_no + 1}, concurrency {level}, {target.name}: "
                  f"{result.completed:,} "
                  f"answers in {result.wall_seconds:.1f} s, {rate:,.0f} 2xx/s, errors "
                  f"{result.errors}; client CPU {result.client_cpu_seconds:.2f} s "
                  f"({100 * result.client_cpu_seconds / result.wall_seconds:.0f} % of a "
                  f"core); load average {_load()}", flush=True)
            database = name[len("ours ("):-1] if name.startswith("ours") else None
            print(_cpu_line(before, after, server.process.pid, result.client_cpu_seconds,
                            result.completed, database), flush=True)
            if spy is not None:
                _finish_py_spy(*spy, answers=result.completed)
    load_after = _load()

    # -------------------------------------------------------------- checks
    failures: list[str] = []
    persisted: dict[str, tuple[int, int]] = {}
    for (name, _server), latency in zip(servers, sequential, strict=True):
        all_results = [latency, *(r for c in args.concurrency for r in rounds[(name, c)])]
        replayed = sum(r.replayed for r in all_results)
        if replayed:
            failures.append(f"{name}: {replayed} idempotent replays (keys must be unique)")
        for result in all_results:
            for sample in result.error_samples[:2]:
                print(f"  error sample, {name}: {sample}")
        if name.startswith("ours"):
            database = name[len("ours ("):-1]
            answered = sum(r.ok for r in all_results)
            rows = _count_decisions(stores[database][0])
            persisted[name] = (answered, rows)
            if rows != answered:
                failures.append(f"{name}: {answered} 2xx decisions but {rows} rows in "
                                "credit_decision")

    # -------------------------------------------------------------- report
    def median_round(name: str, level: int) -> Any:
        ordered = sorted(rounds[(name, level)], key=lambda r: r.ok / r.wall_seconds)
        return ordered[len(ordered) // 2]

    print()
    print(f"Results ({args.workers} workers per server; latency: {args.requests} sequential "
          f"requests each after {args.warmup} warm-up, in turns; throughput: N concurrent "
          f"clients x {args.duration:g} s"
          f"{f', median of {args.rounds} rounds' if args.rounds > 1 else ''}; errors: "
          "non-2xx or lost, all phases):")
    header = f"  {'server':<22} {'p50 ms':>7} {'p99 ms':>7}"
    for level in args.concurrency:
        header += f" | N={level:<3} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7}"
    print(header + f" | {'errors':>6}")
    figures: dict[str, dict[str, float]] = {}
    for (name, _server), latency in zip(servers, sequential, strict=True):
        errors = latency.errors + sum(r.errors for c in args.concurrency
                                      for r in rounds[(name, c)])
        f = figures[name] = {"p50": _percentile_ms(latency.latencies_ns, 50),
                             "p99": _percentile_ms(latency.latencies_ns, 99),
                             "errors": errors, "rate": 0.0, "rate_at": 0}
        line = f"  {name:<22} {f['p50']:7.2f} {f['p99']:7.2f}"
        for level in args.concurrency:
            middle = median_round(name, level)
            rate = middle.ok / middle.wall_seconds
            if rate > f["rate"]:
                f["rate"], f["rate_at"] = rate, level
            line += (f" |       {rate:6.0f} {_percentile_ms(middle.latencies_ns, 50):7.1f} "
                     f"{_percentile_ms(middle.latencies_ns, 99):7.1f}")
        print(line + f" | {int(errors):6d}")
    for name, (answered, rows) in persisted.items():
        print(f"  {name}: {answered:,} decisions answered 2xx, {rows:,} rows in "
              f"credit_decision {'(equal)' if answered == rows else '(DIFFERENT)'}")
    verdicts = []
    for name, f in figures.items():
        if not name.startswith("ours"):
            continue
        for flavour in args.mlflow:
            mlflow_p50 = figures[f"mlflow serve {flavour}"]["p50"]
            ratio = f["p50"] / mlflow_p50
            verdicts.append(f"{name}: p50 ratio to MLflow ({flavour}) {ratio:.2f} (target "
                            f"<= {TARGET_RATIO}) "
                            f"{'MET' if ratio <= TARGET_RATIO else 'NOT MET'}")
        verdicts.append(f"{name}: {f['rate']:.0f} decisions/s at best (N={f['rate_at']}; "
                        f"target >= {TARGET_THROUGHPUT:.0f}) "
                        f"{'MET' if f['rate'] >= TARGET_THROUGHPUT else 'NOT MET'}")
    for line in verdicts:
        print("  " + line)
    print(f"load average: {load_before} before the latency phase, {load_after} after the "
          "throughput phase (1, 5, 15 min)")
    print(f"command: {command}")
    for failure in failures:
        print(f"FAILED CHECK: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
