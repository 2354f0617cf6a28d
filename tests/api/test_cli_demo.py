"""`sme-credit demo`, the pipeline behind `make run`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from api.cli import main


def test_demo_writes_marketplace_and_features_and_reuses_the_marketplace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(tmp_path))
    assert main(["demo", "--sellers", "150", "--months", "6", "--no-train"]) == 0
    features = pd.read_parquet(tmp_path / "demo" / "features.parquet")
    sellers = pd.read_parquet(tmp_path / "demo" / "market" / "sellers.parquet")
    assert set(features.index) <= set(sellers["seller_id"])
    assert len(features) > 0
    first = capsys.readouterr().out
    assert "The demo wrote:" in first and "features.parquet" in first

    orders_file = tmp_path / "demo" / "market" / "orders.parquet"
    stamp = orders_file.stat().st_mtime_ns
    assert main(["demo", "--sellers", "150", "--months", "6", "--no-train"]) == 0
    assert "using the synthetic marketplace" in capsys.readouterr().out
    assert orders_file.stat().st_mtime_ns == stamp


def test_demo_refuses_a_marketplace_without_sellers(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(tmp_path))
    assert main(["demo", "--sellers", "0"]) == 2
    assert "--sellers and --months must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_demo_trains_and_promotes_a_champion_once(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from models.registry import list_versions

    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(tmp_path))
    assert main(["demo", "--sellers", "1500", "--months", "12"]) == 0
    versions = list_versions(f"sqlite:///{tmp_path / 'mlflow.db'}", "sme-credit-pd")
    assert versions["aliases"].tolist() == ["champion"]
    capsys.readouterr()

    assert main(["demo", "--sellers", "1500", "--months", "12"]) == 0
    assert "already has a champion" in capsys.readouterr().out
    assert len(list_versions(f"sqlite:///{tmp_path / 'mlflow.db'}", "sme-credit-pd")) == 1
