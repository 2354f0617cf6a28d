"""``sme-credit train`` on a labels table and ``sme-credit backtest`` as a risk team runs
them, against a real MLflow store in a temporary folder."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import cli
from cli import backtest as backtest_cli
from models.backtest import vintage_curves
from settings import Settings
from tests.commands import run_command as _run
from tests.mlflow_store import empty_store
from tests.models.test_backtest import hand_made_panel
from tests.models.test_out_of_time import make_labels_table

MODEL_NAME = "backtest-pd"
FAST_ARGS = ["--max-candidates", "1", "--cv-folds", "3", "--n-jobs", "1"]
NOT_FEATURES = ["decision_id", "outcome", "grade", "pd", "points", "model_version", "line_id"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Book:
    data_dir: Path
    labels: Path
    panel: Path
    train_output: str
    settings: Settings




@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """A labels table with its sidecar, trained on and promoted from the command line once
    (creating an MLflow store costs seconds)."""
    folder = tmp_path_factory.mktemp("book")
    data_dir = folder / "data"
    labels = folder / "labels.parquet"
    # 800 sellers: the Platt map is fitted on the out-of-time validation part, and with
    # under 100 of its rows it drifts past the calibration gate on this table
    make_labels_table(n_sellers=800, seed=1).to_parquet(labels)
    labels.with_suffix(".json").write_text(json.dumps({
        "definition": "90+ days past due or written off within the window",
        "window_months": 3, "counts": {"labelled": 1000}}), encoding="utf-8")
    panel = folder / "panel.parquet"
    hand_made_panel().to_parquet(panel)
    settings = Settings(data_dir=data_dir, model_name=MODEL_NAME)
    empty_store(data_dir / "mlflow.db")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert _run(["train", "--features", str(labels), "--label", "label",
                     "--time-column", "decided_at", *FAST_ARGS], settings) == 0
        assert _run(["promote", "--max-calibration-error", "0.5", "--max-psi", "10",
                     "--by", "risk"], settings) == 0
    return Book(data_dir, labels, panel, buffer.getvalue(), settings)


def _environment(monkeypatch: pytest.MonkeyPatch, book: Book) -> None:
    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(book.data_dir))
    monkeypatch.setenv("SME_CREDIT_MODEL_NAME", MODEL_NAME)


def test_a_labels_table_trains_out_of_time_with_an_embargo_and_without_decision_columns(
        book: Book) -> None:
    out = book.train_output
    assert ("labels table (definition 90+ days past due or written off within the window, "
            "window 3 months, from labels.json): not features: " + ", ".join(NOT_FEATURES)
            in out)
    assert "scheme out-of-time" in out
    assert "embargo 93 days (label window 3 months x 31 days)" in out
    assert "verdict: promoted" in out
    client = MlflowClient(book.settings.resolved_tracking_uri())
    version = client.get_model_version(MODEL_NAME, "1")
    params = client.get_run(str(version.run_id)).data.params
    assert params["data.embargo_days"] == "93.0"
    assert params["data.grouped_by"] == "seller_id"
    assert params["n_features"] == "4"  # gmv_12m, refund_rate, late_days, seller_kind
    report = json.loads(Path(client.download_artifacts(
        str(version.run_id), "evaluation/training_report.json",
        str(book.data_dir.parent))).read_text())
    assert report["embargo_days"] == 93
    assert report["grouped"] is True
    assert report["rows_embargoed"] > 0


def test_a_labels_table_trains_with_folds_before_the_hold_out_and_keeps_earlier_rows(
        book: Book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``--time-validation cross-validation`` needs one embargo; ``--group-split outcome``
    keeps a seller's earlier rows across it, and is refused where an outcome could fall
    on both sides."""
    settings = Settings(data_dir=tmp_path / "data", model_name=MODEL_NAME)
    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SME_CREDIT_MODEL_NAME", MODEL_NAME)
    base = ["train", "--features", str(book.labels), "--label", "label", "--time-column",
            "decided_at", *FAST_ARGS]
    assert cli.main([*base, "--group-split", "outcome", "--embargo-days", "30"]) == 2
    err = capsys.readouterr().err
    assert "--group-split outcome needs an embargo at least the label window (3 months: " \
        "93 days); the embargo is 30 days" in err
    assert not (tmp_path / "data" / "mlflow.db").exists()  # nothing written
    assert cli.main(["train", "--features", str(book.labels), "--label", "label",
                     "--group-split", "outcome", *FAST_ARGS]) == 2
    assert "--group-split outcome needs --time-column" in capsys.readouterr().err

    empty_store(settings.data_dir / "mlflow.db")
    assert _run([*base, "--time-validation", "cross-validation", "--group-split",
                 "outcome"], settings) == 0
    out = capsys.readouterr().out
    assert "scheme cross-validation, out-of-time hold-out" in out
    assert "earlier rows of sellers also in a later part" not in out
    client = MlflowClient(settings.resolved_tracking_uri())
    params = client.get_run(str(client.get_model_version(MODEL_NAME, "1").run_id)
                            ).data.params
    assert params["data.time_validation"] == "cross-validation"
    assert params["data.group_split"] == "outcome"


def test_backtest_of_the_champion_writes_figures_charts_and_logs_a_run_beside_it(
        book: Book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _environment(monkeypatch, book)
    out = tmp_path / "backtest"
    assert cli.main(["backtest", "--labels", str(book.labels), "--out", str(out),
                     "--panel", str(book.panel)]) == 0
    printed = capsys.readouterr().out
    assert f"backtest of {MODEL_NAME} v1 on" in printed

    document = json.loads((out / "backtest.json").read_text())
    table = pd.read_parquet(book.labels)
    assert document["n"] == len(table)
    assert document["bad_rate"] == pytest.approx(table["label"].mean())
    assert 0.5 < document["auc"] <= 1.0
    assert 0.0 < document["ks"] < 1.0
    assert 0.0 < document["brier"] < 0.25
    assert document["model"] == {"name": MODEL_NAME, "version": "1",
                                 "source": f"models:/{MODEL_NAME}@champion"}
    assert document["labels"]["window_months"] == 3
    assert [row["grade"] for row in document["by_grade"]] == ["A", "B", "C", "D", "E"]
    assert sum(row["n"] for row in document["by_grade"]) == len(table)
    for row in document["by_grade"]:
        if row["n"]:
            assert row["lower"] <= row["observed_rate"] <= row["upper"]
    assert document["as_decided"]["n"] == len(table)
    assert document["book"] == {"source": f"--panel {book.panel}", "lines": 7,
                                "vintages": 2, "month_to_month_moves": 23}

    curves = pd.read_csv(out / "vintage_curves.csv", dtype={"vintage": str})
    expected = vintage_curves(pd.read_parquet(book.panel))
    assert curves["ever_90_rate"].to_numpy() == pytest.approx(
        expected["ever_90_rate"].to_numpy())
    roll = pd.read_csv(out / "roll_rates.csv", index_col="from_bucket")
    assert roll.loc["current", "1-30"] == pytest.approx(5 / 14)
    for name in ("by_grade.png", "roc.png", "calibration.png", "ks.png",
                 "vintage_curves.png", "roll_rates.png"):
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE, name

    client = MlflowClient(book.settings.resolved_tracking_uri())
    version = client.get_model_version(MODEL_NAME, "1")
    run_id = version.tags["backtest.last_run_id"]
    run = client.get_run(run_id)
    assert run.data.tags["backtest.model_name"] == MODEL_NAME
    assert run.data.tags["backtest.model_version"] == "1"
    model_run = client.get_run(str(version.run_id))
    assert run.info.experiment_id == model_run.info.experiment_id
    assert run.data.metrics["backtest_auc"] == pytest.approx(document["auc"])
    assert run.data.metrics["backtest_n"] == len(table)
    logged = {Path(a.path).name for a in client.list_artifacts(run_id, "backtest")}
    assert {"backtest.json", "by_grade.png", "vintage_curves.png", "roll_rates.png",
            "roll_rates.csv"} <= logged
    assert f"logged run {run_id}" in printed


def test_backtest_without_a_ledger_or_panel_says_so_and_writes_no_book_figures(
        book: Book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _environment(monkeypatch, book)
    out = tmp_path / "backtest"
    assert cli.main(["backtest", "--model", f"models:/{MODEL_NAME}/1", "--labels",
                     str(book.labels), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "no vintage curves or roll rates" in captured.err
    assert json.loads((out / "backtest.json").read_text())["book"] is None
    assert not (out / "vintage_curves.csv").exists()


def test_backtest_reads_the_book_from_the_service_ledger_without_a_panel(
        book: Book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from cli.database import store_engine
    from lending.persistence import SqlUnitOfWork, open_line, run_end_of_day

    database_url = f"sqlite:///{tmp_path / 'service.db'}"
    with store_engine(Settings(database_url=database_url, data_dir=tmp_path)) as engine:
        open_line(SqlUnitOfWork(engine), line_id="L1", seller_id="S1", limit="50000.00",
                  opened_on=date(2025, 3, 25))
        open_line(SqlUnitOfWork(engine), line_id="L2", seller_id="S2", limit="20000.00",
                  opened_on=date(2025, 4, 3))
        run_end_of_day(engine, through=date(2025, 4, 30), today=date(2025, 5, 2),
                       clock="simulated")
    _environment(monkeypatch, book)
    monkeypatch.setenv("SME_CREDIT_DATABASE_URL", database_url)
    out = tmp_path / "backtest"
    assert cli.main(["backtest", "--model", f"models:/{MODEL_NAME}/1", "--labels",
                     str(book.labels), "--out", str(out)]) == 0
    assert "2 lines in 2 vintages" in capsys.readouterr().out
    document = json.loads((out / "backtest.json").read_text())
    assert document["book"] == {"source": "the service's ledger", "lines": 2, "vintages": 2,
                                "month_to_month_moves": 1}
    curves = pd.read_csv(out / "vintage_curves.csv", dtype={"vintage": str})
    assert curves[["vintage", "months_on_book", "lines", "ever_30"]].values.tolist() == [
        ["2025-03", 0, 1, 0], ["2025-03", 1, 1, 0], ["2025-04", 0, 1, 0]]
    roll = pd.read_csv(out / "roll_rates.csv", index_col="from_bucket")
    assert roll.loc["current", "current"] == 1.0


def test_backtest_names_the_problem_and_exits_2(
        book: Book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _environment(monkeypatch, book)
    out = tmp_path / "out"
    table = pd.read_parquet(book.labels)

    assert cli.main(["backtest", "--labels", str(tmp_path / "missing.parquet"), "--out",
                     str(out)]) == 2
    assert "missing.parquet: no such file" in capsys.readouterr().err

    unlabelled = tmp_path / "unlabelled.parquet"
    table.drop(columns=["label"]).to_parquet(unlabelled)
    assert cli.main(["backtest", "--labels", str(unlabelled), "--out", str(out)]) == 2
    assert "no label column 'label'" in capsys.readouterr().err

    short = tmp_path / "short.parquet"
    table.drop(columns=["refund_rate"]).to_parquet(short)
    assert cli.main(["backtest", "--labels", str(short), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "lacks 1 of the 4 feature columns" in err
    assert "refund_rate" in err
    assert not out.exists()  # nothing written when the input is rejected


def test_backtest_is_a_listed_command() -> None:
    assert "cli.backtest" in cli.COMMAND_MODULES
    args = cli.build_parser().parse_args(["backtest", "--labels", "l.parquet", "--out", "d"])
    assert args.handler is backtest_cli.backtest_command
