"""The service follows the champion alias without a restart or a failed request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from access.principal import Role
from models import train
from models.registry import alias_versions, log_and_register, promote
from settings import Settings
from tests.api.service.conftest import Service, start_service
from tests.mlflow_store import empty_store
from tests.models.conftest import FAST, make_credit_table


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An MLflow store with two versions of one model (registering costs seconds)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("registry"), model_name="reload-pd",
                        model_poll_seconds=0.2)
    empty_store(settings.data_dir / "mlflow.db")
    for seed in (3, 4):
        table = make_credit_table(n=600, seed=seed)
        features = table.features.drop(columns=["applied_at"])
        model = train(features, table.label, config=FAST)
        log_and_register(model, features, table.label,
                         tracking_uri=settings.resolved_tracking_uri(),
                         model_name=settings.model_name,
                         artifact_location=settings.artifact_location())
    return settings


@pytest.fixture
def served(registry: Settings) -> Iterator[Service]:
    """The service started with version 1 as champion."""
    uri = registry.resolved_tracking_uri()
    if alias_versions(uri, registry.model_name).get("champion") != "1":
        promote(uri, registry.model_name, version="1", force=True,
                reason="test: version 1 is champion at start")
    yield from start_service(registry)


def _serving(service: Service) -> str | None:
    answer = service.client.get("/v1/models", headers=service.as_role(Role.RISK))
    assert answer.status_code == 200, answer.text
    return answer.json()["serving_version"]  # type: ignore[no-any-return]


def test_the_service_starts_ready_on_the_champion(served: Service) -> None:
    assert served.client.get("/readyz").json()["model_version"] == "1"
    models = served.client.get("/v1/models", headers=served.as_role(Role.OFFICER)).json()
    assert models["champion"] == "1" and models["serving_version"] == "1"


def test_a_promotion_is_served_without_restart_or_failed_request(
        served: Service, registry: Settings) -> None:
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            statuses.append(served.client.get("/readyz").status_code)

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        promote(registry.resolved_tracking_uri(), registry.model_name, version="2",
                force=True, reason="test: move the alias")
        deadline = time.monotonic() + 60
        while _serving(served) != "2" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert _serving(served) == "2"
    assert statuses and set(statuses) == {200}


def test_a_reload_is_for_the_risk_role_and_reports_no_change_when_the_alias_stayed(
        served: Service) -> None:
    denied = served.client.post("/v1/models/reload", headers=served.as_role(Role.OFFICER))
    assert denied.status_code == 403
    answer = served.client.post("/v1/models/reload", headers=served.as_role(Role.RISK))
    assert answer.status_code == 200
    assert answer.json() == {"previous_version": "1", "serving_version": "1",
                             "changed": False}
