"""Each decision records the model version that made it, and a decision made by an older
champion is reproduced exactly with that version, loaded from the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from access.principal import Role
from api.app import create_app
from models import train
from models.registry import alias_versions, log_and_register, promote
from settings import Settings
from tests.mlflow_store import empty_store
from tests.models.conftest import FAST


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, market) -> Path:
    """An MLflow store with two versions trained on the market's features (different
    rows, so the two versions score differently)."""
    folder = tmp_path_factory.mktemp("registry")
    settings = Settings(data_dir=folder, model_name="market-pd")
    empty_store(folder / "mlflow.db")
    import numpy as np

    label = market.label
    for rows in (slice(0, 600), slice(0, 400)):
        table = market.table.iloc[rows]
        model = train(table, label[rows], config=FAST)
        log_and_register(model, table, np.asarray(label[rows]),
                         tracking_uri=settings.resolved_tracking_uri(),
                         model_name=settings.model_name,
                         artifact_location=settings.artifact_location())
    return folder


@pytest.fixture
def client(registry: Path, database_url: str, market) -> Iterator[tuple[TestClient, dict]]:
    from access.security import create_api_key
    from records.ingest import ingest_orders, register_sellers

    settings = Settings(data_dir=registry, database_url=database_url, model_name="market-pd",
                        model_poll_seconds=0)
    uri = settings.resolved_tracking_uri()
    if alias_versions(uri, "market-pd").get("champion") != "1":
        promote(uri, "market-pd", version="1", force=True, reason="test: start on 1")
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        engine = app.state.engine
        chosen = sorted(market.seller_for.values())
        register_sellers(engine, market.sellers[market.sellers["seller_id"].isin(chosen)],
                         now=market.as_of)
        ingest_orders(engine, market.orders[market.orders["seller_id"].isin(chosen)],
                      now=market.as_of)
        keys = {role: {"Authorization": f"Bearer {create_api_key(engine, role, name='t')[0]}"}
                for role in Role}
        yield test_client, keys


def test_a_decision_of_a_former_champion_reproduces_with_its_own_version(client, market):
    test_client, keys = client
    body = {"seller_id": market.seller_for["approve"], "as_of": market.as_of.isoformat()}
    first = test_client.post("/v1/decisions", json=body,
                             headers={**keys[Role.MARKETPLACE], "Idempotency-Key": "a"}).json()
    promote(test_client.app.state.settings.resolved_tracking_uri(), "market-pd", version="2",
            force=True, reason="test: a new champion")
    reloaded = test_client.post("/v1/models/reload", headers=keys[Role.RISK])
    assert reloaded.status_code == 200, reloaded.text
    second = test_client.post("/v1/decisions", json=body,
                              headers={**keys[Role.MARKETPLACE], "Idempotency-Key": "b"}).json()

    assert (first["model_version"], second["model_version"]) == ("1", "2")
    assert first["points"] != second["points"]
    for made in (first, second):
        result = test_client.post(f"/v1/decisions/{made['decision_id']}/reproduce",
                                  headers=keys[Role.OFFICER]).json()
        assert result["model_version"] == made["model_version"]
        assert result["exact"] is True and result["differences"] == []
        assert result["reproduced"]["points"] == made["points"]
