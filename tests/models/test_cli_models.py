"""``sme-credit train``, ``promote`` and ``models`` as a risk team uses them."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cli import CliError
from settings import Settings
from tests.commands import run_command as run
from tests.mlflow_store import empty_store
from tests.models.conftest import CreditTable

FAST_ARGS = ["--max-candidates", "1", "--cv-folds", "3", "--n-jobs", "1"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedded store for the module (an empty one copied, see tests/mlflow_store.py;
    creating a store is tests/cli/test_quiet_output.py's); each test uses a registered-model
    name of its own."""
    folder = tmp_path_factory.mktemp("data")
    empty_store(folder / "mlflow.db")
    return folder




@pytest.fixture
def files(credit_table: CreditTable, tmp_path: Path) -> tuple[Path, Path]:
    """Features (Parquet, with an id column) and labels (CSV) in separate files."""
    table = credit_table.features.reset_index()
    features = tmp_path / "features.parquet"
    table.to_parquet(features)
    labels = tmp_path / "labels.csv"
    table[["applicant_id"]].assign(defaulted=credit_table.label).iloc[::-1].to_csv(
        labels, index=False)
    return features, labels


def test_risk_team_trains_promotes_and_lists_models_from_the_command_line(
        files: tuple[Path, Path], data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    features, labels = files
    settings = Settings(data_dir=data_dir, model_name="cli-workflow")
    assert run(["train", "--features", str(features), "--labels", str(labels), "--label",
                "defaulted", "--id-column", "applicant_id", "--time-column", "applied_at",
                "--segment-column", "region", *FAST_ARGS], settings) == 0
    out = capsys.readouterr().out
    assert "registered cli-workflow v1 (alias challenger)" in out
    assert "scheme out-of-time" in out
    # how the calibration map was chosen, with the bootstrap's figures
    assert re.search(r"^calibration: (Platt \(default\): isotonic's Brier difference "
                     r"|isotonic beats Platt: Brier difference )[-+]\d", out, re.M), out
    assert (data_dir / "mlflow.db").is_file()
    assert (data_dir / "mlartifacts").is_dir()
    client = MlflowClient(settings.resolved_tracking_uri())
    version = client.get_model_version("cli-workflow", "1")
    run_params = client.get_run(str(version.run_id)).data.params
    assert run_params["data.labels"] == str(labels)
    assert run_params["data.time_column"] == "applied_at"
    assert "applicant_id" not in run_params["monotone_features"]

    assert run(["promote", "--max-calibration-error", "0.1", "--by", "analyst"],
               settings) == 0
    out = capsys.readouterr().out
    assert "verdict: promoted" in out
    assert run(["models"], settings) == 0
    listing = capsys.readouterr().out
    assert "champion" in listing
    assert "promoted" in listing


def test_rejected_promotion_exits_with_status_one(files: tuple[Path, Path], data_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    features, labels = files
    settings = Settings(data_dir=data_dir, model_name="cli-rejected")
    common = ["train", "--features", str(features), "--labels", str(labels), "--label",
              "defaulted", "--id-column", "applicant_id", "--drop", "applied_at", *FAST_ARGS]
    assert run(common, settings) == 0
    # an impossible calibration bound: the gate fails, nothing moves
    assert run(["promote", "--max-calibration-error", "0.000001"], settings) == 1
    assert "verdict: rejected" in capsys.readouterr().out
    client = MlflowClient(settings.resolved_tracking_uri())
    assert "champion" not in client.get_registered_model("cli-rejected").aliases
    with pytest.raises(CliError, match="--reason"):
        run(["promote", "--force"], settings)
    assert run(["promote", "--max-calibration-error", "0.000001", "--force", "--reason",
                "first model, calibration reviewed by hand"], settings) == 0
    assert "verdict: forced" in capsys.readouterr().out


def test_user_errors_name_the_problem(files: tuple[Path, Path], tmp_path: Path,
                                     data_dir: Path) -> None:
    features, labels = files
    settings = Settings(data_dir=data_dir, model_name="cli-nobody")
    with pytest.raises(CliError, match="no label column 'bad_flag'"):
        run(["train", "--features", str(features), "--label", "bad_flag"], settings)
    with pytest.raises(CliError, match="features file not found"):
        run(["train", "--features", str(tmp_path / "nope.parquet"), "--label", "x"], settings)
    with pytest.raises(CliError, match="neither numeric nor categorical"):
        run(["train", "--features", str(features), "--labels", str(labels), "--label",
             "defaulted", "--id-column", "applicant_id", *FAST_ARGS], settings)
    with pytest.raises(CliError, match="cannot join --labels"):
        run(["train", "--features", str(features), "--labels", str(labels), "--label",
             "defaulted", "--id-column", "seller_id"], settings)
    with pytest.raises(CliError, match="no model registry in"):
        run(["models"], Settings(data_dir=tmp_path / "empty", model_name="cli-nobody"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    """``mlflow server`` on loopback with a SQLite backend; always terminated."""
    port = _free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    empty_store(tmp_path / "server.db")  # its backend: a copy of a migrated empty store
    log = (tmp_path / "server.log").open("wb")
    # Without MLflow's job runner: by default the server also starts a huey consumer for
    # its GenAI jobs, more processes importing MLflow while the server starts (about twice
    # the start-up on two cores); tracking and the registry, all training uses, are the same.
    environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    process = subprocess.Popen(
        [str(mlflow_cli), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail("mlflow server exited: "
                            + (tmp_path / "server.log").read_text(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer within 120 s")
            time.sleep(0.2)
        yield url
    finally:
        with_group = os.getpgid(process.pid) if process.poll() is None else None
        if with_group is not None:
            os.killpg(with_group, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_training_against_a_tracking_server_works_the_same(
        files: tuple[Path, Path], tmp_path: Path, tracking_server: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    features, labels = files
    settings = Settings(data_dir=tmp_path / "data", mlflow_tracking_uri=tracking_server)
    assert run(["train", "--features", str(features), "--labels", str(labels), "--label",
                "defaulted", "--id-column", "applicant_id", "--drop", "applied_at",
                *FAST_ARGS], settings) == 0
    assert f"tracking: {tracking_server}" in capsys.readouterr().out
    assert run(["promote", "--max-calibration-error", "0.1"], settings) == 0
    assert run(["models"], settings) == 0
    assert "champion" in capsys.readouterr().out
    client = MlflowClient(tracking_server)
    assert str(client.get_model_version_by_alias("sme-credit-pd", "champion").version) == "1"
    assert not (tmp_path / "data" / "mlflow.db").exists()
    assert any((tmp_path / "server-artifacts").rglob("model_card.md"))


def _decisions_database(path: Path, rows: pd.DataFrame) -> str:
    """A migrated service database holding one decision per row of ``rows`` (its feature
    values as the decision stored them)."""
    import json as json_module
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from store import make_engine, upgrade_database

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade_database(engine)
    table = sa.Table("credit_decision", sa.MetaData(), autoload_with=engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = []
    for i, (seller, values) in enumerate(rows.iterrows()):
        features = {k: (None if pd.isna(v) else (bool(v) if isinstance(v, bool | np.bool_)
                                                 else v.item() if hasattr(v, "item") else v))
                    for k, v in values.items()}
        at = start + timedelta(minutes=i)
        records.append({
            "id": f"D{i:06d}", "seller_id": str(seller), "seller_kind": "shop",
            "outcome": "approve", "pd": 0.05, "points": 600.0, "raw_score": -3.0,
            "baseline_points": 600.0, "grade": "C", "currency": "CNY",
            "proposed_limit_minor": 100_000, "product": None, "terms": None, "reasons": "[]",
            "positive_factors": "[]", "policy_reasons": "[]",
            "features": json_module.dumps(features), "contributions": "{}",
            "family_points": "{}", "model_name": "m", "model_version": "1",
            "policy_version": "p1", "snapshot_as_of": at, "created_at": at, "actor": "test",
            "status": "approved", "line_id": None, "decided_by": None, "decided_at": None,
            "version": 1, "limit_minor": 100_000})
    with engine.begin() as connection:
        if records:
            connection.execute(table.insert(), records)
    engine.dispose()
    return url


def test_promote_measures_psi_on_the_latest_applicants_in_the_decisions_database(
        files: tuple[Path, Path], credit_table: CreditTable, data_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    features, labels = files
    settings = Settings(data_dir=data_dir, model_name="cli-psi")
    assert run(["train", "--features", str(features), "--labels", str(labels), "--label",
                "defaulted", "--id-column", "applicant_id", "--drop", "applied_at",
                *FAST_ARGS], settings) == 0
    capsys.readouterr()
    empty = _decisions_database(tmp_path / "empty.db", credit_table.features.iloc[:0])
    run(["promote", "--decisions-database", empty, "--max-calibration-error", "0.000001"],
        settings)
    out = capsys.readouterr().out
    assert "holds no decision" in out
    assert "the sample against the challenger's training scores" in out

    # the latest applicants carry far more debt than the training rows
    recent = credit_table.features.drop(columns=["applied_at"]).iloc[:600].assign(
        debt_ratio=lambda f: f["debt_ratio"] + 0.4)
    url = _decisions_database(tmp_path / "decisions.db", recent)
    assert run(["promote", "--decisions-database", url, "--psi-applicants", "500"],
               settings) == 1
    out = capsys.readouterr().out
    assert "[FAIL] score PSI" in out
    assert f"500 latest applicants of the decisions at {url}" in out
    assert "AUC non-inferiority" not in out  # a first model has no comparison
    for line in ("calibration in the large", "calibration by grade", "Jeffreys intervals",
                 "verdict: rejected"):
        assert line in out
    with pytest.raises(CliError, match="--psi-applicants"):
        run(["promote", "--decisions-database", url, "--psi-applicants", "0"], settings)
    with pytest.raises(CliError, match="auc_margin"):
        run(["promote", "--auc-margin", "-1"], settings)
    with pytest.raises(CliError, match="--decisions-database: cannot read the decisions"):
        run(["promote", "--decisions-database", f"sqlite:///{tmp_path / 'blank.db'}"],
            settings)


def test_the_fairness_approval_rule_is_read_from_the_policy_the_service_runs(
        tmp_path: Path) -> None:
    from importlib import resources

    from cli.models import approval_rule
    from lending.policy import DEFAULT_POLICY_PATH
    from models.fairness import ApprovalRule

    shipped = approval_rule(Settings(data_dir=tmp_path))
    # the fairness module's defaults are the shipped policy's
    assert shipped == ApprovalRule()
    text = resources.files("lending").joinpath(DEFAULT_POLICY_PATH).read_text("utf-8")
    stricter = text.replace('[grades.C]\ndecision = "approve"', '[grades.C]\ndecision = "refer"')
    assert stricter != text
    path = tmp_path / "strict.toml"
    path.write_text(stricter.replace('version = "', 'version = "strict-', 1), "utf-8")
    rule = approval_rule(Settings(data_dir=tmp_path, policy_path=path))
    assert rule.approve_grades == ("A", "B")
    assert rule.policy_version.startswith("strict-")
    path.write_text("not toml [", "utf-8")
    with pytest.raises(CliError, match="credit policy"):
        approval_rule(Settings(data_dir=tmp_path, policy_path=path))


@pytest.mark.parametrize("argv", [["models"], ["models", "document", "1", "--out", "doc"],
                                  ["promote", "--version", "1"],
                                  ["score", "--features", "features.parquet", "--out",
                                   "scores.parquet"]])
def test_commands_that_read_the_registry_refuse_a_folder_without_one_and_create_nothing(
        argv: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "data"
    empty.mkdir()
    pd.DataFrame({"seller_id": ["S1"], "x": [1.0]}).to_parquet(tmp_path / "features.parquet")
    argv = [str(tmp_path / part) if part in ("doc", "features.parquet", "scores.parquet")
            else part for part in argv]
    with pytest.raises(CliError, match=r"no model registry in .*data \(no mlflow.db\)"):
        run(argv, Settings(data_dir=empty))
    assert list(empty.iterdir()) == []


def test_a_text_label_is_trained_on_once_the_bad_value_is_named(
        credit_table: CreditTable, tmp_path: Path, data_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    table = credit_table.features.reset_index().assign(
        outcome=np.where(credit_table.label == 1, "bad", "good"))
    path = tmp_path / "text-label.csv"
    table.to_csv(path, index=False)
    settings = Settings(data_dir=data_dir, model_name="cli-text-label")
    argv = ["train", "--features", str(path), "--label", "outcome", "--id-column",
            "applicant_id", "--time-column", "applied_at", *FAST_ARGS]
    with pytest.raises(CliError, match=r"holds \['bad', 'good'\]: say which value means "
                       r"default with --bad-value"):
        run(argv, settings)
    with pytest.raises(CliError, match=r"--bad-value \['BAD'\] never occurs"):
        run([*argv, "--bad-value", "BAD"], settings)
    assert run([*argv, "--bad-value", "bad"], settings) == 0
    printed = capsys.readouterr().err
    assert f"{int(credit_table.label.sum())} rows with 'bad' taken as default (1)" in printed
