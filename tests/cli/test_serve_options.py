"""``sme-credit serve``'s worker options reach uvicorn (uvicorn.run stood in for, as the
real server is started by tests/hardening)."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from cli import main
from cli.serve import WORKER_TIMEOUT_SECONDS


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    return calls


def test_workers_get_a_health_check_timeout_longer_than_uvicorns_five_seconds(started):
    assert main(["serve", "--workers", "3", "--log-level", "warning"]) == 0
    assert started[0]["workers"] == 3
    assert started[0]["timeout_worker_healthcheck"] == WORKER_TIMEOUT_SECONDS >= 30

    assert main(["serve", "--workers", "2", "--worker-timeout", "120",
                 "--log-level", "warning"]) == 0
    assert started[1]["timeout_worker_healthcheck"] == 120


def test_a_worker_timeout_below_one_second_is_refused(started, capsys):
    assert main(["serve", "--workers", "2", "--worker-timeout", "0"]) == 2
    assert "--worker-timeout must be at least 1 second; got 0" in capsys.readouterr().err
    assert started == []
