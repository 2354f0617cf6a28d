"""MLflow rules: what a registered version holds, and champion/challenger promotion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import get_type_hints

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from features.registry import registry_version
from models import CreditModel, train
from models.registry import (
    CreditModelPyfunc,
    GateConfig,
    data_fingerprint,
    list_versions,
    load_credit_model,
    load_holdout,
    log_and_register,
    promote,
    tracking,
)
from tests.mlflow_store import empty_store
from tests.models.conftest import FAST, CreditTable

LENIENT = GateConfig(max_calibration_error=0.1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow SQLite store for this module (creating one costs seconds); each test
    registers its own model name, so tests stay independent."""
    return empty_store(tmp_path_factory.mktemp("mlflow") / "mlflow.db")


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A registered-model name of the test's own."""
    return request.node.name.removeprefix("test_")[:60]


def _features(table: CreditTable) -> pd.DataFrame:
    return table.features.drop(columns=["applied_at"])


def _log(model: CreditModel, table: CreditTable, uri: str, name: str, tmp_path: Path,
         label: np.ndarray | None = None, features: pd.DataFrame | None = None) -> str:
    logged = log_and_register(
        model, _features(table) if features is None else features,
        table.label if label is None else label, tracking_uri=uri, model_name=name,
        artifact_location=(tmp_path / "artifacts").as_uri(), segment="region")
    return logged.version


def _noisy_labels(table: CreditTable, share: float, seed: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flip = rng.random(len(table.label)) < share
    return np.where(flip, rng.permutation(table.label), table.label)


def test_registered_version_holds_metrics_plots_card_holdout_and_a_loadable_model(
        trained: CreditModel, credit_table: CreditTable, store: str, name: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X = _features(credit_table)
    logged = log_and_register(trained, X, credit_table.label, tracking_uri=store,
                              model_name=name, experiment="tests",
                              artifact_location=(tmp_path / "artifacts").as_uri(),
                              segment="region")
    client = MlflowClient(store)
    run = client.get_run(logged.run_id)
    assert run.data.metrics["holdout_auc"] == pytest.approx(
        trained.training_report_.holdout_metrics["auc"])
    assert {"holdout_gini", "holdout_ks", "holdout_brier", "holdout_log_loss",
            "holdout_calibration_error", "holdout_psi", "holdout_auc_south",
            "validation_auc"} <= set(run.data.metrics)
    assert run.data.params["calibration"] == trained.calibration_.method
    artifacts = {a.path for a in client.list_artifacts(logged.run_id)}
    assert {"plots", "evaluation", "holdout", "model_card.md"} <= artifacts
    plots = {Path(a.path).name for a in client.list_artifacts(logged.run_id, "plots")}
    assert plots == {"roc.png", "calibration.png", "ks.png", "shap_beeswarm.png",
                     "importance.png"}
    local = Path(client.download_artifacts(logged.run_id, "plots/shap_beeswarm.png",
                                           str(tmp_path)))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = Path(client.download_artifacts(logged.run_id, "model_card.md", str(tmp_path)))
    text = card.read_text(encoding="utf-8")
    for section in ("## Data", "## Features", "## Metrics on the hold-out",
                    "### Calibration by decile", "### Cut-offs", "### AUC by region",
                    "## Known limits"):
        assert section in text

    version = client.get_model_version(name, logged.version)
    assert version.tags["data_fingerprint"] == data_fingerprint(X, credit_table.label)
    assert version.tags["code_version"].startswith(("git:", "package:"))
    assert version.tags["feature_registry_version"] == registry_version()
    assert str(client.get_model_version_by_alias(name, "challenger").version) == logged.version

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    served = mlflow.pyfunc.load_model(f"models:/{name}@challenger")
    rows = X.head(25)
    predicted = served.predict(trained.to_plain(rows))
    np.testing.assert_allclose(predicted["probability_of_default"], trained.predict_pd(rows))
    np.testing.assert_allclose(predicted["raw_score"], trained.decision_function(rows))
    assert [c.name for c in served.metadata.get_input_schema().inputs] == list(
        trained.feature_names_in_)

    native, found = load_credit_model(store, name, alias="challenger")
    assert str(found.version) == logged.version
    pd.testing.assert_frame_equal(native.explain(rows), trained.explain(rows))
    holdout_X, holdout_y = load_holdout(store, name, logged.version)
    positions = trained.training_report_.holdout_positions
    assert holdout_X.index.equals(X.index[positions])
    np.testing.assert_array_equal(holdout_y, credit_table.label[positions])


def test_fingerprint_changes_with_any_value_of_the_training_data(
        credit_table: CreditTable) -> None:
    X = _features(credit_table)
    base = data_fingerprint(X, credit_table.label)
    assert data_fingerprint(X.copy(), credit_table.label.copy()) == base
    changed = X.copy()
    changed["debt_ratio"] = changed["debt_ratio"] + np.where(np.arange(len(X)) == 7, 1e-9, 0.0)
    assert data_fingerprint(changed, credit_table.label) != base
    assert data_fingerprint(X, 1 - credit_table.label) != base


def test_first_model_becomes_champion_on_its_own_gates_and_the_verdict_is_recorded(
        trained: CreditModel, credit_table: CreditTable, store: str, name: str,
        tmp_path: Path) -> None:
    version = _log(trained, credit_table, store, name, tmp_path)
    result = promote(store, name, gates=LENIENT, actor="risk-officer-1")
    assert result.verdict == "promoted"
    assert result.champion_version is None
    first_gates = ["serving features", "calibration in the large", "calibration by grade",
                   "decile calibration error", "score PSI", "fairness by segment"]
    assert [g.name for g in result.gates] == first_gates
    # a generic table's columns are not the feature builder's: without a champion, a warning
    serving = result.gates[0]
    assert not serving.passed and not serving.blocking
    assert "[WARN] serving features" in result.render()
    assert "verdict: promoted" in result.render()
    client = MlflowClient(store)
    assert str(client.get_model_version_by_alias(name, "champion").version) == version
    registered = client.get_registered_model(name)
    assert "challenger" not in registered.aliases
    tags = client.get_model_version(name, version).tags
    assert tags["promotion.verdict"] == "promoted"
    assert tags["promotion.by"] == "risk-officer-1"
    assert tags["promotion.at"].endswith("+00:00")
    assert [g["name"] for g in json.loads(tags["promotion.gates"])] == first_gates
    figures = json.loads(tags["promotion.figures"])
    record = json.loads(Path(client.download_artifacts(
        str(client.get_model_version(name, version).run_id), tags["promotion.record"],
        str(tmp_path))).read_text(encoding="utf-8"))
    assert record["verdict"] == "promoted"
    assert [row["grade"] for row in record["calibration"]["challenger"]] == [
        "all", "A", "B", "C", "D", "E"]
    assert record["figures"]["challenger"]["auc"] == pytest.approx(
        result.figures["challenger"]["auc"])
    assert figures["challenger"]["auc"] == pytest.approx(result.figures["challenger"]["auc"],
                                                         abs=1e-6)
    listing = list_versions(store, name)
    assert listing[["version", "aliases", "promotion"]].to_dict("records") == [
        {"version": int(version), "aliases": "champion", "promotion": "promoted"}]
    assert listing.loc[0, "holdout_auc"] == pytest.approx(
        trained.training_report_.holdout_metrics["auc"])


def test_weaker_challenger_is_rejected_until_forced_with_a_written_reason(
        trained: CreditModel, credit_table: CreditTable, store: str, name: str,
        tmp_path: Path) -> None:
    _log(trained, credit_table, store, name, tmp_path)
    assert promote(store, name, gates=LENIENT).verdict == "promoted"
    noisy = _noisy_labels(credit_table, 0.6)
    weak = train(_features(credit_table), noisy, config=FAST)
    weak_version = _log(weak, credit_table, store, name, tmp_path, label=noisy)

    result = promote(store, name, gates=LENIENT)
    assert result.verdict == "rejected"
    auc_gate = next(g for g in result.gates if g.name == "AUC non-inferiority")
    assert not auc_gate.passed
    assert auc_gate.value == pytest.approx(result.comparisons["auc"]["lower"])
    assert result.figures["challenger"]["auc"] < result.figures["champion"]["auc"] - 0.01
    assert "[FAIL] AUC non-inferiority" in result.render()
    client = MlflowClient(store)
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert client.get_model_version(name, weak_version).tags["promotion.verdict"] == "rejected"

    with pytest.raises(ValueError, match="written reason"):
        promote(store, name, gates=LENIENT, force=True, reason="  ")
    forced = promote(store, name, gates=LENIENT, force=True,
                     reason="regulator asked for the new label definition", actor="cro")
    assert forced.verdict == "forced"
    assert str(client.get_model_version_by_alias(name, "champion").version) == weak_version
    tags = client.get_model_version(name, weak_version).tags
    assert tags["promotion.reason"] == "regulator asked for the new label definition"
    assert tags["promotion.by"] == "cro"
    assert json.loads(client.get_model_version(name, "1").tags["demotion"])[
        "replaced_by"] == weak_version
    with pytest.raises(ValueError, match="already the champion"):
        promote(store, name, version=weak_version)


def test_challenger_needs_only_features_the_serving_pipeline_supplies(
        trained: CreditModel, credit_table: CreditTable, store: str, name: str,
        tmp_path: Path) -> None:
    _log(trained, credit_table, store, name, tmp_path)
    promote(store, name, gates=LENIENT)
    # fewer columns than the champion: every one is served today
    narrower = _features(credit_table).drop(columns=["sector"])
    other = train(narrower, credit_table.label, config=replace(FAST, seed=4))
    _log(other, credit_table, store, name, tmp_path, features=narrower)
    result = promote(store, name, gates=LENIENT)
    serving = next(g for g in result.gates if g.name == "serving features")
    assert serving.passed, serving
    assert "no longer used: sector" in serving.detail
    # the champion still scores the sample: its sector comes from its own stored hold-out
    assert "the champion's columns sector from its own stored hold-out" in result.sample
    assert "auc" in result.comparisons
    # a column neither the feature builder nor the champion supplies
    wider = _features(credit_table).assign(
        bureau_score=np.random.default_rng(5).normal(size=len(credit_table.label)))
    third = train(wider, credit_table.label, config=replace(FAST, seed=4))
    _log(third, credit_table, store, name, tmp_path, features=wider)
    result = promote(store, name, gates=LENIENT)
    serving = next(g for g in result.gates if g.name == "serving features")
    assert not serving.passed and serving.blocking
    assert "bureau_score" in serving.detail
    assert result.verdict == "rejected"


def test_retrained_challenger_as_good_as_the_champion_is_promoted(
        trained: CreditModel, credit_table: CreditTable, store: str, name: str,
        tmp_path: Path) -> None:
    _log(trained, credit_table, store, name, tmp_path)
    promote(store, name, gates=LENIENT)
    again = train(_features(credit_table), credit_table.label, config=FAST)
    version = _log(again, credit_table, store, name, tmp_path)
    result = promote(store, name, gates=LENIENT)
    # same table, so the same hold-out rows: neither model has seen them
    assert result.verdict == "promoted", result.render()
    assert result.figures["challenger"]["auc"] == result.figures["champion"]["auc"]
    assert result.champion_version == "1"
    assert str(MlflowClient(store).get_model_version_by_alias(
        name, "champion").version) == version


def test_unknown_model_or_missing_challenger_is_a_lookup_error(store: str) -> None:
    with pytest.raises(LookupError, match="no registered model"):
        list_versions(store, "nobody")
    with pytest.raises(LookupError, match="has no alias 'challenger'"):
        promote(store, "nobody")


def test_embedded_store_keeps_artifacts_beside_the_database_not_in_the_working_directory(
        trained: CreditModel, credit_table: CreditTable, store: str, name: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    logged = log_and_register(trained, _features(credit_table), credit_table.label,
                              tracking_uri=store, model_name=name,
                              experiment="default-artifact-location")
    database = Path(store.removeprefix("sqlite:///"))
    assert any((database.parent / "mlartifacts").rglob("model_card.md"))
    assert not (tmp_path / "mlruns").exists()
    assert logged.version == "1"


@pytest.fixture
def unset_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MLflow's fluent tracking URI not set, neither in code nor in the environment."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets it
    yield
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.mark.usefixtures("unset_tracking_uri")
def test_tracking_points_mlflow_at_the_store_and_restores_the_callers_own_setting(
        store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with tracking(store) as client:
        assert mlflow.get_tracking_uri() == store
        assert client.tracking_uri == store
    assert not mlflow.is_tracking_uri_set()  # "not set" stays not set
    assert "MLFLOW_TRACKING_URI" not in os.environ

    from_environment = f"sqlite:///{tmp_path / 'environment.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", from_environment)
    with tracking(store):
        assert mlflow.get_tracking_uri() == store
    assert mlflow.get_tracking_uri() == from_environment
    assert os.environ["MLFLOW_TRACKING_URI"] == from_environment

    set_in_code = f"sqlite:///{tmp_path / 'own.db'}"
    mlflow.set_tracking_uri(set_in_code)
    with pytest.raises(RuntimeError), tracking(store):
        raise RuntimeError("a failure inside the block")
    assert mlflow.get_tracking_uri() == set_in_code


@pytest.mark.usefixtures("unset_tracking_uri")
def test_threads_take_turns_with_the_process_wide_tracking_uri(store: str) -> None:
    # Two spellings of the same store: distinct URIs, no second database to create.
    database = Path(store.removeprefix("sqlite:///"))
    uris = [store, f"sqlite:///{database.parent}/./{database.name}"]
    seen: list[bool] = []

    def work(uri: str) -> None:
        for _ in range(10):
            with tracking(uri):
                time.sleep(0.002)  # another thread would change it here without the lock
                seen.append(mlflow.get_tracking_uri() == uri)

    threads = [threading.Thread(target=work, args=(uri,)) for uri in uris]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [True] * 20
    assert not mlflow.is_tracking_uri_set()


def test_the_pyfunc_predict_declares_a_dataframe_which_mlflow_takes_without_a_warning(
        ) -> None:
    hints = get_type_hints(CreditModelPyfunc.predict)
    assert hints["model_input"] is pd.DataFrame
    assert hints["return"] is pd.DataFrame
    # MLflow judges the hints when the class is defined: import it in a fresh interpreter.
    result = subprocess.run([sys.executable, "-W", "default", "-c", "import models.registry"],
                            capture_output=True, text=True, timeout=300, check=True)
    assert "type hint" not in result.stderr.lower(), result.stderr
