"""A first champion for the simulation tests, trained once per session (about 10 s)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from settings import Settings
from simulation import ensure_champion
from simulation.run import DEFAULT_START


@pytest.fixture(scope="session")
def champion_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose MLflow store holds a promoted champion (read only: copy its
    ``mlflow.db``; the artifacts stay here, found by their absolute location)."""
    folder = tmp_path_factory.mktemp("champion")
    settings = Settings(data_dir=folder)
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
