"""The simulation's first champion learns only from outcomes a lender could have seen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.registry import alias_versions
from settings import Settings
from simulation import champion
from simulation.run import DEFAULT_START
from synth.marketplace import generate_marketplace
from tests.mlflow_store import empty_store


def test_the_first_champion_is_trained_on_the_approved_sellers_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real_train = champion.train

    def recording_train(table: pd.DataFrame, label: Any, **kwargs: Any) -> Any:
        seen["sellers"], seen["label"] = list(table.index), np.asarray(label)
        return real_train(table, label, **kwargs)

    monkeypatch.setattr(champion, "train", recording_train)
    settings = Settings(data_dir=tmp_path)
    empty_store(tmp_path / "mlflow.db")
    as_of = pd.Timestamp(DEFAULT_START.isoformat(), tz=settings.timezone)
    version, trained = champion.ensure_champion(
        settings.resolved_tracking_uri(), settings.model_name,
        artifact_location=settings.artifact_location(), as_of=as_of, sellers=600,
        history_months=12, seed=11)

    truth = generate_marketplace(600, 12, seed=11, as_of=as_of).truth.set_index("seller_id")
    approved = truth.index[truth["approved"].to_numpy(dtype=bool)]
    assert trained and alias_versions(settings.resolved_tracking_uri(),
                                      settings.model_name)["champion"] == version
    assert 0 < len(approved) < len(truth)
    assert sorted(seen["sellers"]) == sorted(approved)
    expected = truth.loc[seen["sellers"], "defaulted_12m"].to_numpy(dtype=int)
    np.testing.assert_array_equal(seen["label"], expected)
