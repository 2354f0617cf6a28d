"""A small registered model and a loaded store, for tests that run the service as a process."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import features
from access.principal import Role
from access.security import create_api_key
from models import train
from models.registry import log_and_register, promote
from records.ingest import load_records
from settings import Settings
from store import make_engine, upgrade_database
from synth.marketplace import generate_marketplace
from tests.models.conftest import FAST


def prepare_store(data_dir: Path, database_url: str, *, sellers: int = 400,
                  months: int = 12, seed: int = 5) -> tuple[str, list[str]]:
    """Register and promote a small model in ``data_dir``'s MLflow store, load a synthetic
    marketplace as of now into the database; returns a marketplace API key and the seller
    ids."""
    now = datetime.now(UTC)
    settings = Settings(data_dir=data_dir, database_url=database_url)
    market = generate_marketplace(sellers, months, seed=seed, as_of=now)
    table = features.build_features(market.orders, market.sellers, market.as_of)
    label = (market.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    model = train(table, label, config=FAST)
    log_and_register(model, table, label, tracking_uri=settings.resolved_tracking_uri(),
                     model_name=settings.model_name,
                     artifact_location=settings.artifact_location())
    promote(settings.resolved_tracking_uri(), settings.model_name, version="1", force=True,
            reason="test store")
    engine = make_engine(database_url)
    upgrade_database(engine)
    load_records(engine, market.sellers, market.orders, now=now)
    key, _ = create_api_key(engine, Role.MARKETPLACE, name="load-test")
    engine.dispose()
    return key, sorted(market.sellers["seller_id"].astype(str))
