"""Champion against challenger on the same live decisions: the paired comparison of a
backtest, as a function and through ``sme-credit backtest --compare-shadow``."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from cli import CliError
from cli import backtest as backtest_cli
from models import train
from models.backtest import compare_shadow
from scoring import Scorer
from settings import Settings
from tests.models.conftest import FAST


def _table(**columns: object) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_the_paired_differences_are_challenger_minus_champion_on_rows_with_both():
    table = _table(label=[0, 0, 1, 1, 1], pd=[0.1, 0.4, 0.35, 0.8, 0.5],
                   shadow_pd=[0.1, 0.2, 0.3, 0.4, None],
                   shadow_model_version=["8", "8", "8", "8", None],
                   model_version=["7", "7", "7", "7", "7"])

    result = compare_shadow(table)

    assert (result.rows, result.rows_with_both) == (5, 4)
    [pair] = result.pairs
    assert (pair.challenger_version, pair.champion_versions, pair.n, pair.bads) == (
        "8", {"7": 4}, 4, 2)
    assert pair.champion["auc"] == pytest.approx(0.75)
    assert pair.challenger["auc"] == pytest.approx(1.0)
    assert pair.difference["auc"] == pytest.approx(0.25)
    # Brier by hand: champion (.01 + .16 + .4225 + .04) / 4, challenger (.01 + .04 + .49
    # + .36) / 4
    assert pair.champion["brier"] == pytest.approx(0.158125)
    assert pair.challenger["brier"] == pytest.approx(0.225)
    assert pair.difference["brier"] == pytest.approx(0.066875)
    assert pair.difference["brier_lower"] < 0.066875 < pair.difference["brier_upper"]
    document = result.to_dict()
    assert document["rows_without_shadow"] == 1
    assert document["pairs"][0]["difference"]["auc"] == pytest.approx(0.25)


def test_each_challenger_version_is_compared_on_its_own_decisions():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    table = _table(label=y, pd=np.clip(0.3 + 0.2 * y + rng.normal(0, 0.2, 400), 0, 1),
                   shadow_pd=np.clip(0.2 + 0.6 * y + rng.normal(0, 0.1, 400), 0, 1),
                   shadow_model_version=np.where(np.arange(400) < 300, "8", "9"))

    result = compare_shadow(table)

    assert [(p.challenger_version, p.n) for p in result.pairs] == [("8", 300), ("9", 100)]
    for pair, rows in zip(result.pairs, (slice(0, 300), slice(300, 400)), strict=True):
        part = table.iloc[rows]
        assert pair.challenger["auc"] == pytest.approx(roc_auc_score(part.label,
                                                                     part.shadow_pd))
        # A much better challenger: the whole interval of the AUC gain is above 0.
        assert 0 < pair.difference["auc_lower"] < pair.difference["auc"]


@pytest.mark.parametrize(("table", "message"), [
    (_table(label=[0, 1], pd=[0.1, 0.2]), "lacks the column(s) shadow_pd"),
    (_table(label=[0, 1], pd=[0.1, 0.2], shadow_pd=[None, None],
            shadow_model_version=[None, None]), "no decision of the 2"),
])
def test_a_table_without_shadow_scores_is_refused_by_name(table, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compare_shadow(table)


# ------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def labels(market, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A labels table of the market's sellers as ``sme-credit labels`` writes it: the
    champion's PD as decided, the challenger's shadow PD on all but 100 rows; and the
    champion's saved model."""
    folder = tmp_path_factory.mktemp("shadow-backtest")
    rows = np.arange(len(market.table)) % 3 != 0
    challenger = Scorer(train(market.table.iloc[rows], market.label[rows], config=FAST),
                        model_name="market-pd", model_version="8")
    champion_pd = market.scorer.score_batch(market.table).probability_of_default
    shadow_pd = challenger.score_batch(market.table).probability_of_default
    shadowed = np.arange(len(market.table)) >= 100
    table = market.table.reset_index().assign(
        decision_id=[f"DEC-{n}" for n in range(len(market.table))],
        decided_at=pd.Timestamp("2026-07-01", tz="UTC"), outcome="approve",
        grade="B", pd=champion_pd, points=600.0, model_version="7",
        shadow_model_version=pd.Series(np.where(shadowed, "8", None), dtype="string"),
        shadow_pd=np.where(shadowed, shadow_pd, np.nan), shadow_grade="B", line_id="L",
        label=market.label)
    path = folder / "labels.parquet"
    table.to_parquet(path)
    model = folder / "champion"
    market.scorer.model.save(model)
    return path, model


def _backtest(argv: list[str], tmp_path: Path) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="sme-credit")
    backtest_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["backtest", *argv])
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        code = int(args.handler(args, Settings(data_dir=tmp_path / "data")))
    return code, buffer.getvalue()


def test_backtest_compare_shadow_writes_both_models_figures_on_the_same_decisions(
        labels, tmp_path):
    path, model = labels
    out = tmp_path / "out"

    code, printed = _backtest(["--labels", str(path), "--model", str(model), "--out",
                               str(out), "--compare-shadow"], tmp_path)

    assert code == 0
    document = json.loads((out / "backtest.json").read_text())["shadow_comparison"]
    table = pd.read_parquet(path)
    both = table[table.shadow_pd.notna()]
    assert (document["rows"], document["rows_with_both"]) == (len(table), len(both))
    [pair] = document["pairs"]
    assert pair["champion_versions"] == {"7": len(both)}
    assert pair["champion"]["auc"] == pytest.approx(roc_auc_score(both.label, both.pd))
    assert pair["challenger"]["auc"] == pytest.approx(roc_auc_score(both.label,
                                                                    both.shadow_pd))
    assert pair["difference"]["brier"] == pytest.approx(
        brier_score_loss(both.label, both.shadow_pd) - brier_score_loss(both.label, both.pd))
    low, high = pair["difference"]["auc_lower"], pair["difference"]["auc_upper"]
    assert low < pair["difference"]["auc"] < high
    assert "challenger v8 against champion v7" in printed
    csv = pd.read_csv(out / "shadow_comparison.csv")
    assert list(csv.figures_of) == ["champion", "challenger", "difference"]


def test_backtest_without_the_flag_leaves_the_comparison_out(labels, tmp_path):
    path, model = labels
    code, _ = _backtest(["--labels", str(path), "--model", str(model), "--out",
                         str(tmp_path / "out")], tmp_path)
    assert code == 0
    assert json.loads((tmp_path / "out" / "backtest.json").read_text())[
        "shadow_comparison"] is None
    assert not (tmp_path / "out" / "shadow_comparison.csv").exists()


def test_compare_shadow_on_a_table_from_before_shadow_scoring_names_the_columns(
        labels, tmp_path):
    path, model = labels
    old = tmp_path / "old.parquet"
    pd.read_parquet(path).drop(columns=["shadow_pd", "shadow_model_version"]).to_parquet(old)
    with pytest.raises(CliError, match="shadow_pd, shadow_model_version"):
        _backtest(["--labels", str(old), "--model", str(model), "--out",
                   str(tmp_path / "out"), "--compare-shadow"], tmp_path)
