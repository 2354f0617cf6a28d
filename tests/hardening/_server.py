"""The service as a separate process (``sme-credit serve``) for fault and load tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """``sme-credit serve`` in its own process group, started and killed on demand."""

    def __init__(self, data_dir: Path, database_url: str, *, port: int | None = None,
                 workers: int = 1, extra_env: dict[str, str] | None = None,
                 log_level: str = "warning") -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_level = log_level
        self.log = data_dir / f"server-{self.port}.log"
        self.env = {**os.environ, "SME_CREDIT_DATA_DIR": str(data_dir),
                    "SME_CREDIT_DATABASE_URL": database_url,
                    "SME_CREDIT_MODEL_POLL_SECONDS": "0", **(extra_env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> None:
        """Start the server and wait for ``/healthz``.

        Two workers import the whole stack and load the model before they answer: about
        10 s on an idle two-core machine, several times that when CI shares the machine,
        hence the generous default; the log's tail is in the error when it does not come
        up."""
        command = [sys.executable, "-c", "import sys; from cli import main; "
                   "sys.exit(main(sys.argv[1:]))", "serve", "--port", str(self.port),
                   "--workers", str(self.workers), "--log-level", self.log_level]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        # one client for every probe: ``httpx.get`` makes a client, and with it an SSL
        # context (about 40 ms of CPU), per call, which ten probes a second would take
        # from the starting server on a two-core machine
        with httpx.Client(timeout=1) as probe:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
                try:
                    if probe.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"the server did not answer in {timeout} s; its log ends: "
                           f"{self.log.read_text(errors='replace')[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handler runs."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
