"""`sme-credit demo`, the pipeline behind `make run`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cli import main


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
    # 2,500 sellers: the model learns from the 60% the generator's policy approved, about
    # 45 defaults, enough for the promotion gates' calibration check.
    demo = ["demo", "--sellers", "2500", "--months", "12", "--decisions", "40"]
    assert main(demo) == 0
    versions = list_versions(f"sqlite:///{tmp_path / 'mlflow.db'}", "sme-credit-pd")
    assert versions["aliases"].tolist() == ["champion"]
    captured = capsys.readouterr()
    first = captured.out
    # Only the approved sellers' outcomes are observed; the declined are left out.
    assert "note: 1000 rows without a label left out" in captured.err
    assert first.count("officer login: officer / ") == 1
    assert first.count("marketplace API key: smc_") == 1

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sme_credit.db'}")
    with engine.connect() as connection:
        def count(sql: str) -> int:
            return int(connection.execute(sa.text(sql)).scalar_one())

        assert count("SELECT count(*) FROM seller") == 2500
        assert count("SELECT count(*) FROM feature_snapshot") > 2400
        assert count("SELECT count(*) FROM credit_decision") == 40
        assert count("SELECT count(*) FROM app_user") == 1
        assert count("SELECT count(*) FROM api_key") == 1
    engine.dispose()

    assert main(demo) == 0
    second = capsys.readouterr().out
    assert "already has a champion" in second
    assert "officer login" not in second and "API key: smc_" not in second
    assert len(list_versions(f"sqlite:///{tmp_path / 'mlflow.db'}", "sme-credit-pd")) == 1
