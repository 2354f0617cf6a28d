"""Shadow scoring through the service: the registry's challenger is loaded beside the
champion and followed when its alias moves, every decision answered over HTTP is also
scored by it, and only the roles that may see models see that score."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from access.principal import Role
from api.model_holder import ModelHolder
from models import train
from models.registry import alias_versions, log_and_register, promote
from scoring import Scorer
from settings import Settings
from tests.api.service.conftest import Service, start_service
from tests.decisions.conftest import market, policy  # noqa: F401 - the market's fixtures
from tests.mlflow_store import empty_store
from tests.models.conftest import FAST

MODEL = "shadow-pd"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, market) -> Settings:  # noqa: F811
    """An MLflow store with two models of the market: version 1 (champion) and version 2
    (trained on two thirds of it; the challenger)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("registry"), model_name=MODEL,
                        model_poll_seconds=0)
    uri = settings.resolved_tracking_uri()
    empty_store(settings.data_dir / "mlflow.db")
    rows = np.arange(len(market.table)) % 3 != 0
    for features, label in ((market.table, market.label),
                            (market.table.iloc[rows], market.label[rows])):
        log_and_register(train(features, label, config=FAST), features, label,
                         tracking_uri=uri, model_name=MODEL,
                         artifact_location=settings.artifact_location())
    promote(uri, MODEL, version="1", force=True, reason="test: version 1 is champion")
    MlflowClient(uri, uri).set_registered_model_alias(MODEL, "challenger", "2")
    return settings


def _aliases(registry: Settings) -> dict[str, str]:
    return alias_versions(registry.resolved_tracking_uri(), MODEL)


@pytest.fixture
def served(registry: Settings, database_url: str, tmp_path: Path, market  # noqa: F811
           ) -> Iterator[Service]:
    """The service on the registry (champion 1, challenger 2) with the market's three
    sellers loaded as records."""
    from records.ingest import ingest_orders, register_sellers

    assert _aliases(registry) == {"champion": "1", "challenger": "2"}
    settings = registry.model_copy(update={"database_url": database_url})
    for service in start_service(settings):
        chosen = sorted(market.seller_for.values())
        register_sellers(service.engine,
                         market.sellers[market.sellers["seller_id"].isin(chosen)],
                         now=market.as_of)
        ingest_orders(service.engine, market.orders[market.orders["seller_id"].isin(chosen)],
                      now=market.as_of)
        yield service


def _decide(service: Service, seller_id: str, as_of: str, key: str) -> dict[str, object]:
    headers = {**service.as_role(Role.MARKETPLACE), "Idempotency-Key": key}
    answer = service.client.post("/v1/decisions", json={"seller_id": seller_id,
                                                        "as_of": as_of}, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_decision_over_http_is_scored_by_the_challenger_seen_by_model_roles_only(
        served: Service, market) -> None:  # noqa: F811
    body = _decide(served, market.seller_for["approve"], market.as_of.isoformat(), "k-1")
    replay = _decide(served, market.seller_for["approve"], market.as_of.isoformat(), "k-1")

    assert body["model_version"] == "1" and replay == body
    assert not any("shadow" in name for name in body)
    path = f"/v1/decisions/{body['decision_id']}"
    audit = served.client.get(path, headers=served.as_role(Role.MARKETPLACE)).json()
    assert "shadow" not in str(audit.keys())
    refused = served.client.get(f"{path}/shadow-scores",
                                headers=served.as_role(Role.MARKETPLACE))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    for role in (Role.OFFICER, Role.RISK, Role.ADMIN):
        answer = served.client.get(f"{path}/shadow-scores", headers=served.as_role(role))
        assert answer.status_code == 200, answer.text
        [shadow] = answer.json()["items"]  # the replay wrote no second one
        assert (shadow["model_name"], shadow["model_version"]) == (MODEL, "2")
        assert 0 <= shadow["pd"] <= 1 and shadow["pd"] != body["pd"]
    unknown = served.client.get("/v1/decisions/DEC-nope/shadow-scores",
                                headers=served.as_role(Role.RISK))
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_decision"
    metrics = served.client.get("/metrics", headers=served.as_role(Role.RISK)).text
    assert 'sme_credit_shadow_scores_total{model_version="2"} 1.0' in metrics
    models = served.client.get("/v1/models", headers=served.as_role(Role.RISK)).json()
    assert (models["serving_version"], models["challenger"]) == ("1", "2")


def test_the_models_route_tells_which_challenger_scores_in_the_shadow_and_why_not(
        served: Service, registry: Settings) -> None:
    uri = registry.resolved_tracking_uri()
    client = MlflowClient(uri, uri)
    risk = served.as_role(Role.RISK)
    models = served.client.get("/v1/models", headers=risk).json()
    assert (models["challenger"], models["shadow_version"]) == ("2", "2")
    assert models["challenger_error"] is None
    try:
        # A version whose artifacts are gone: the alias moves to it, the service cannot
        # load it, so it scores nothing in the shadow and says why.
        lost = client.create_model_version(MODEL, source=str(registry.data_dir / "gone"))
        client.set_registered_model_alias(MODEL, "challenger", str(lost.version))
        reload = served.client.post("/v1/models/reload", headers=served.as_role(Role.ADMIN))
        assert reload.status_code == 200, reload.text
        models = served.client.get("/v1/models", headers=risk).json()
        assert models["challenger"] == str(lost.version)
        assert models["shadow_version"] is None
        assert models["challenger_error"]  # the exception's type and message
        assert (models["serving_version"], models["last_error"]) == ("1", None)
    finally:
        client.set_registered_model_alias(MODEL, "challenger", "2")
    served.client.post("/v1/models/reload", headers=served.as_role(Role.ADMIN))
    models = served.client.get("/v1/models", headers=risk).json()
    assert (models["shadow_version"], models["challenger_error"]) == ("2", None)
    schema = served.client.get("/openapi.json", headers=risk).json()["components"]["schemas"]
    documented = schema["ModelsPublic"]["properties"]
    assert "shadow" in documented["shadow_version"]["description"]
    assert "load" in documented["challenger_error"]["description"]


def test_a_challenger_that_cannot_score_fails_no_decision_and_is_counted(
        database_url: str, tmp_path: Path, market) -> None:  # noqa: F811
    from records.ingest import ingest_orders, register_sellers

    table = market.table.assign(supplier_audit_score=np.linspace(0, 1, len(market.table)))
    broken = Scorer(train(table, market.label, config=FAST), model_name="market-pd",
                    model_version="9")
    settings = Settings(data_dir=tmp_path, database_url=database_url, model_poll_seconds=0)
    for service in start_service(settings, scorer=market.scorer, challenger=broken):
        chosen = sorted(market.seller_for.values())
        register_sellers(service.engine,
                         market.sellers[market.sellers["seller_id"].isin(chosen)],
                         now=market.as_of)
        ingest_orders(service.engine, market.orders[market.orders["seller_id"].isin(chosen)],
                      now=market.as_of)
        for n, outcome in enumerate(("approve", "refer", "decline")):
            body = _decide(service, market.seller_for[outcome], market.as_of.isoformat(),
                           f"k-{n}")
            assert body["decision"] == outcome
        metrics = service.client.get("/metrics", headers=service.as_role(Role.RISK)).text
        assert ('sme_credit_shadow_score_failures_total{error="ValueError",'
                'model_version="9"} 3.0') in metrics
        shadow = service.client.get(f"/v1/decisions/{body['decision_id']}/shadow-scores",
                                    headers=service.as_role(Role.RISK)).json()
        assert shadow["items"] == []


def test_the_holder_follows_the_challenger_alias_and_never_lets_it_touch_the_champion(
        registry: Settings) -> None:
    uri = registry.resolved_tracking_uri()
    client = MlflowClient(uri, uri)
    holder = ModelHolder(uri, MODEL)
    try:
        holder.reload()
        assert holder.current().model_version == "1"  # type: ignore[union-attr]
        assert holder.challenger().model_version == "2"  # type: ignore[union-attr]
        assert holder.status().shadow_version == "2"

        client.delete_registered_model_alias(MODEL, "challenger")
        holder.reload()
        assert holder.challenger() is None and holder.current().model_version == "1"  # type: ignore[union-attr]

        client.set_registered_model_alias(MODEL, "challenger", "1")  # the champion itself
        holder.reload()
        assert holder.challenger() is None

        # A version whose artifacts are gone: it cannot be loaded.
        lost = client.create_model_version(MODEL, source=str(registry.data_dir / "gone"))
        client.set_registered_model_alias(MODEL, "challenger", str(lost.version))
        holder.reload()
        status = holder.status()
        assert holder.challenger() is None and status.challenger_error
        assert (status.serving_version, status.last_error) == ("1", None)
    finally:
        client.set_registered_model_alias(MODEL, "challenger", "2")
    holder.reload()
    assert holder.challenger().model_version == "2"  # type: ignore[union-attr]
    assert holder.status().challenger_error is None
