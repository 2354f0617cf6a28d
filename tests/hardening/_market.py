"""A small registered model and a loaded store, for tests that run the service as a process."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
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
from tests.mlflow_store import empty_store
from tests.models.conftest import FAST

#: (sellers, months, seed) of the market the shared model is trained on.
MODEL_MARKET = (300, 12, 5)


@functools.cache
def _model_store() -> Path:
    """A data directory holding a registered champion, made once per test process and
    shared by every store :func:`prepare_store` prepares, whatever its size: training and
    registering take seconds, so the model store is made once and its database copied into
    each test's data directory (the artifacts stay in the template, read only, by their
    absolute location). The model is always trained on the same market
    (:data:`MODEL_MARKET`), so every test serves the same kind of model whatever ran
    first."""
    template = Path(tempfile.mkdtemp(prefix="sme-credit-model-"))
    atexit.register(shutil.rmtree, template, ignore_errors=True)
    settings = Settings(data_dir=template)
    sellers, months, seed = MODEL_MARKET
    market = generate_marketplace(sellers, months, seed=seed, as_of=datetime.now(UTC))
    table = features.build_features(market.orders, market.sellers, market.as_of)
    label = (market.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    model = train(table, label, config=FAST)
    empty_store(template / "mlflow.db")
    log_and_register(model, table, label, tracking_uri=settings.resolved_tracking_uri(),
                     model_name=settings.model_name,
                     artifact_location=settings.artifact_location())
    promote(settings.resolved_tracking_uri(), settings.model_name, version="1",
            force=True, reason="test store")
    return template


def prepare_store(data_dir: Path, database_url: str, *, sellers: int = 400,
                  months: int = 12, seed: int = 5) -> tuple[str, list[str]]:
    """Register and promote a small model in ``data_dir``'s MLflow store, load a synthetic
    marketplace as of now into the database; returns a marketplace API key and the seller
    ids."""
    now = datetime.now(UTC)
    market = generate_marketplace(sellers, months, seed=seed, as_of=now)
    template = _model_store()
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(template / "mlflow.db", data_dir / "mlflow.db")
    engine = make_engine(database_url)
    upgrade_database(engine)
    load_records(engine, market.sellers, market.orders, now=now)
    key, _ = create_api_key(engine, Role.MARKETPLACE, name="load-test")
    engine.dispose()
    return key, sorted(market.sellers["seller_id"].astype(str))
