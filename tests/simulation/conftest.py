"""A first champion for the simulation tests, trained once per session (about 10 s)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from lending.policy import load_policy
from scoring import Scorer
from settings import Settings
from simulation import Simulation, SimulationConfig, ensure_champion, simulate
from simulation.run import DEFAULT_START, relax_durability
from store import make_engine, upgrade_database
from tests.mlflow_store import empty_store


@pytest.fixture(scope="session")
def champion_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose MLflow store holds a promoted champion (read only: copy its
    ``mlflow.db``; the artifacts stay here, found by their absolute location)."""
    folder = tmp_path_factory.mktemp("champion")
    settings = Settings(data_dir=folder)
    empty_store(folder / "mlflow.db")
    ensure_champion(settings.resolved_tracking_uri(), settings.model_name,
                    artifact_location=settings.artifact_location(),
                    as_of=pd.Timestamp(DEFAULT_START.isoformat(), tz=settings.timezone),
                    sellers=600, history_months=12, seed=11)
    return folder


@pytest.fixture
def data_dir(champion_store: Path, tmp_path: Path) -> Path:
    """A fresh data folder with the session's champion in its registry."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy2(champion_store / "mlflow.db", folder / "mlflow.db")
    return folder


def run_book(url: str, data_dir: Path, config: SimulationConfig) -> Simulation:
    """Simulate ``config`` on the store at ``url`` with the champion of ``data_dir``."""
    settings = Settings(data_dir=data_dir)
    scorer = Scorer.load(f"models:/{settings.model_name}@champion",
                         tracking_uri=settings.resolved_tracking_uri())
    engine = make_engine(url)
    relax_durability(engine)
    try:
        upgrade_database(engine)
        return simulate(engine, config, scorer=scorer, policy=load_policy())
    finally:
        engine.dispose()
