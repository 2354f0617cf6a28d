"""The command line prints what it means: MLflow's own chatter only with ``-v``.

Each test runs the installed ``sme-credit`` console script in a subprocess, as a user does,
against a real MLflow store in a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from models import train
from models.registry import log_and_register
from tests.mlflow_store import empty_store
from tests.models.conftest import FAST, make_credit_table

SME_CREDIT = Path(sys.executable).with_name("sme-credit")
MODEL = "models:/sme-credit-pd@challenger"
MLFLOW_NOISE = ("Downloading artifacts", "Add type hints", " INFO mlflow", " INFO alembic",
                "CloudPickle")


@dataclass
class Store:
    data_dir: Path
    features: Path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """An embedded MLflow store (as the settings lay it out) holding one registered model,
    and the feature table it was trained on."""
    data_dir = tmp_path_factory.mktemp("data")
    table = make_credit_table(n=600, seed=4)
    features = table.features.drop(columns=["applied_at"])
    model = train(features, table.label, config=FAST)
    log_and_register(model, features, table.label,
                     tracking_uri=empty_store(data_dir / "mlflow.db"),
                     model_name="sme-credit-pd",
                     artifact_location=(data_dir / "mlartifacts").as_uri())
    path = data_dir / "features.parquet"
    features.reset_index().to_parquet(path)
    return Store(data_dir, path)


def sme_credit(argv: list[str], data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the console script with MLflow's defaults and the settings' store in data_dir."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("MLFLOW_", "SME_CREDIT_"))
                   and name != "PYTHONWARNINGS"}
    environment["SME_CREDIT_DATA_DIR"] = str(data_dir)
    return subprocess.run([str(SME_CREDIT), *argv], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=600, check=False)


def test_scoring_with_a_registered_model_prints_only_the_commands_own_lines(
        store: Store, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    result = sme_credit(["score", "--features", str(store.features), "--out", str(out),
                         "--model", MODEL, "--id-column", "applicant_id"],
                        store.data_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    for noise in MLFLOW_NOISE:
        assert noise not in result.stdout
        assert noise not in result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("scored 600 rows with sme-credit-pd v1 in ")
    assert lines[1].startswith("mean PD ")
    assert out.is_file()


def test_verbose_scoring_shows_mlflows_own_output(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    result = sme_credit(["-v", "score", "--features", str(store.features), "--out", str(out),
                         "--model", MODEL, "--id-column", "applicant_id"],
                        store.data_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Downloading artifacts" in result.stderr  # MLflow's bars are back
    assert "Add type hints" not in result.stderr  # the pyfunc's predict has its hints
    assert "scored 600 rows with sme-credit-pd v1" in result.stdout


def test_a_new_store_is_created_without_mlflows_migration_messages(tmp_path: Path) -> None:
    table = make_credit_table(n=400, seed=5)
    labelled = tmp_path / "labelled.parquet"
    table.features.drop(columns=["applied_at"]).assign(defaulted=table.label).reset_index(
    ).to_parquet(labelled)
    fast = ["--max-candidates", "1", "--cv-folds", "3", "--n-jobs", "1"]
    data_dir = tmp_path / "data"
    # a command that only reads the registry refuses, and creates nothing
    refused = sme_credit(["models"], data_dir, tmp_path)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"sme-credit models: error: no model registry in {data_dir} (no mlflow.db): train "
        "and register a model first (sme-credit train, or sme-credit demo), or point "
        "SME_CREDIT_MLFLOW_TRACKING_URI at the registry"]
    assert not (data_dir / "mlflow.db").exists()

    result = sme_credit(["train", "--features", str(labelled), "--label", "defaulted",
                         "--id-column", "applicant_id", *fast], data_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (data_dir / "mlflow.db").is_file()  # MLflow created its tables
    assert not any(noise in result.stderr for noise in MLFLOW_NOISE), result.stderr
    assert "Creating initial MLflow database tables" not in result.stderr

    verbose = sme_credit(["-v", "train", "--features", str(labelled), "--label",
                          "defaulted", "--id-column", "applicant_id", *fast],
                         tmp_path / "other", tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    assert "Creating initial MLflow database tables" in verbose.stderr
