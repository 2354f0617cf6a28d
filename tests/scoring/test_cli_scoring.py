"""``sme-credit score`` and ``sme-credit monitor`` as a risk team runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cli import CliError
from models.registry import log_and_register
from scoring import Scorer
from settings import Settings
from tests.commands import run_command as run
from tests.mlflow_store import empty_store
from tests.scoring.conftest import Market


@pytest.fixture(scope="module")
def model_folder(market: Market, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return market.model.save(tmp_path_factory.mktemp("model") / "market-pd")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def test_score_writes_pd_points_grade_and_reasons_indexed_like_the_input(
        market: Market, model_folder: Path, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    features = tmp_path / "features.parquet"
    market.table.to_parquet(features)  # indexed by seller_id
    out = tmp_path / "out" / "scores.parquet"
    assert run(["score", "--features", str(features), "--out", str(out), "--model",
                str(model_folder), "--batch-size", "400"], settings) == 0
    scored = pd.read_parquet(out)
    assert list(scored.index) == list(market.table.index)
    assert scored.index.name == "seller_id"
    expected = Scorer.load(model_folder).score_batch(market.table)
    np.testing.assert_allclose(scored["probability_of_default"],
                               expected.probability_of_default, atol=1e-12)
    np.testing.assert_allclose(scored["points"], expected.points, atol=1e-9)
    assert list(scored["grade"]) == list(expected.grade)
    codes = [[c for c in row if isinstance(c, str)] for row in
             scored[[f"reason_code_{k}" for k in range(1, 5)]].to_numpy().tolist()]
    assert codes == expected.reason_codes()
    row = next(k for k, found in enumerate(codes) if found)  # a row with an adverse reason
    first = json.loads(scored["reasons"].iloc[row])
    assert [r["code"] for r in first["adverse_reasons"]] == codes[row]
    assert {"text_en", "text_zh", "drivers"} <= set(first["adverse_reasons"][0])
    assert set(scored["model_name"]) == {"market-pd"}
    assert f"scored {len(market.table):,} rows with market-pd" in capsys.readouterr().out


def test_score_reads_a_csv_with_an_id_column(market: Market, model_folder: Path,
                                             settings: Settings, tmp_path: Path) -> None:
    features = tmp_path / "features.csv"
    market.table.head(30).reset_index().to_csv(features, index=False)
    out = tmp_path / "scores.parquet"
    assert run(["score", "--features", str(features), "--out", str(out), "--model",
                str(model_folder)], settings) == 0
    scored = pd.read_parquet(out)
    assert list(scored.index) == list(market.table.index[:30])
    assert scored.index.name == "seller_id"


def test_score_names_the_columns_missing_from_the_models_contract_and_writes_nothing(
        market: Market, model_folder: Path, settings: Settings, tmp_path: Path) -> None:
    features = tmp_path / "features.parquet"
    market.table.drop(columns=["refund_rate_365d", "seller_kind"]).to_parquet(features)
    out = tmp_path / "scores.parquet"
    with pytest.raises(CliError, match=r"lacks 2 of the 49 feature columns of market-pd "
                       r"v.*: refund_rate_365d, seller_kind"):
        run(["score", "--features", str(features), "--out", str(out), "--model",
             str(model_folder)], settings)
    assert not out.exists()
    with pytest.raises(CliError, match="no such file"):
        run(["score", "--features", str(tmp_path / "none.parquet"), "--out", str(out),
             "--model", str(model_folder)], settings)


def test_monitor_flags_a_shifted_feature_and_draws_the_score_distributions(
        market: Market, model_folder: Path, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    reference = tmp_path / "reference.parquet"
    market.table.iloc[:750].to_parquet(reference)
    current_table = market.table.iloc[750:].copy()
    current_table["refund_rate_365d"] = current_table["refund_rate_365d"] * 4 + 0.2
    current = tmp_path / "current.parquet"
    current_table.to_parquet(current)
    png, report = tmp_path / "psi.png", tmp_path / "psi.json"
    assert run(["monitor", "--reference", str(reference), "--current", str(current),
                "--model", str(model_folder), "--out-png", str(png), "--out-json",
                str(report)], settings) == 0
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if line.startswith("refund_rate_365d"))
    assert line.endswith("major shift")
    assert "warning" not in text  # 750 rows each
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(report.read_text(encoding="utf-8"))
    shifted = next(f for f in data["features"] if f["name"] == "refund_rate_365d")
    assert shifted["psi"] >= 0.25
    steady = next(f for f in data["features"] if f["name"] == "tenure_days")
    assert steady["flag"] == "stable"


def test_monitor_warns_that_a_small_sample_says_little(
        market: Market, model_folder: Path, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    current = tmp_path / "current.parquet"
    market.table.head(120).to_parquet(current)
    assert run(["monitor", "--current", str(current), "--model", str(model_folder)],
               settings) == 0
    text = capsys.readouterr().out
    assert "reference: training sample" in text
    assert "warning: the current sample has 120 rows (< 500)" in text


def test_score_uses_the_registered_champion_and_reports_its_version(
        market: Market, tmp_path: Path) -> None:
    store = empty_store(tmp_path / "mlflow.db")
    logged = log_and_register(market.model, market.table, market.label, tracking_uri=store,
                              model_name="scoring-champion",
                              artifact_location=(tmp_path / "artifacts").as_uri())
    with pytest.raises(LookupError, match="no alias 'champion'"):
        Scorer.load("models:/scoring-champion", tracking_uri=store)
    MlflowClient(store).set_registered_model_alias("scoring-champion", "champion",
                                                   logged.version)
    scorer = Scorer.load("models:/scoring-champion@champion", tracking_uri=store)
    assert (scorer.model_name, scorer.model_version) == ("scoring-champion", logged.version)
    assert scorer.score(market.table.iloc[0]).model_version == logged.version
    settings = Settings(data_dir=tmp_path, mlflow_tracking_uri=store,
                        model_name="scoring-champion")
    features, out = tmp_path / "features.parquet", tmp_path / "scores.parquet"
    market.table.head(20).to_parquet(features)
    assert run(["score", "--features", str(features), "--out", str(out)], settings) == 0
    assert set(pd.read_parquet(out)["model_version"]) == {logged.version}
