"""The reasons' comparison point is computed once, when a version is registered, and read
from the model on every load; versions registered before are still served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import models.registry
import scoring.scorer
from models.cutoff import REFERENCE_SAMPLE_ROWS, CutoffReference, stored_cutoff_reference
from models.registry import load_credit_model, load_holdout, log_and_register
from scoring import Scorer
from scoring.config import ScoringConfig
from tests.mlflow_store import empty_store
from tests.scoring.conftest import Market

NAME = "reference-pd"


def _register(market: Market, store: str, tmp_path: Path) -> str:
    logged = log_and_register(market.model, market.table, market.label, tracking_uri=store,
                              model_name=NAME,
                              artifact_location=(tmp_path / "artifacts").as_uri())
    MlflowClient(store).set_registered_model_alias(NAME, "champion", logged.version)
    return logged.version


def _assert_same_reference(found: CutoffReference, expected: CutoffReference) -> None:
    assert (found.cutoff_pd, found.rows) == (expected.cutoff_pd, expected.rows)
    assert found.raw_score == pytest.approx(expected.raw_score, abs=1e-12)
    # pred_contrib and the scorer's grouped TreeSHAP agree to rounding of the tree sums
    np.testing.assert_allclose(found.contributions, expected.contributions, atol=1e-12)
    np.testing.assert_array_equal(found.values, expected.values)


def test_a_registered_version_carries_its_reference_and_a_load_reads_no_sample(
        market: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = empty_store(tmp_path / "mlflow.db")
    version = _register(market, store, tmp_path)
    assert "cutoff_reference" not in market.model.metadata_  # the caller's model untouched
    model, _ = load_credit_model(store, NAME, version=version)
    stored = stored_cutoff_reference(model)
    assert stored is not None and stored.reference is not None
    assert stored.matches(0.05, 200) and stored.reference.rows == 200

    def no_sample(*args: object) -> pd.DataFrame:
        raise AssertionError("the hold-out sample was read on load")

    monkeypatch.setattr(scoring.scorer, "_holdout_sample", no_sample)
    scorer = Scorer.load(f"models:/{NAME}@champion", tracking_uri=store)
    assert scorer.reasons.reference == stored.reference
    # the same reference the scorer computes itself from the stored hold-out sample
    features, _ = load_holdout(store, NAME, version)
    computed = scorer.cutoff_reference(features.iloc[:REFERENCE_SAMPLE_ROWS])
    _assert_same_reference(stored.reference, computed)
    # other settings than the stored ones: computed from the sample (here: refused)
    with pytest.raises(AssertionError, match="hold-out sample was read"):
        Scorer.load(f"models:/{NAME}@champion", tracking_uri=store,
                    config=ScoringConfig(approval_cutoff_pd=0.08))


def test_a_version_registered_before_references_were_stored_computes_it_on_load(
        market: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = empty_store(tmp_path / "mlflow.db")
    # register as the code before did: without the reference in the model's metadata
    monkeypatch.setattr(models.registry, "CUTOFF_METADATA_KEY", "not-stored")
    version = _register(market, store, tmp_path)
    monkeypatch.undo()
    model, _ = load_credit_model(store, NAME, version=version)
    assert stored_cutoff_reference(model) is None
    reads: list[str] = []
    original = scoring.scorer._holdout_sample

    def counted(tracking_uri: str, name: str, version: str) -> pd.DataFrame | None:
        reads.append(version)
        return original(tracking_uri, name, version)

    monkeypatch.setattr(scoring.scorer, "_holdout_sample", counted)
    scorer = Scorer.load(f"models:/{NAME}@champion", tracking_uri=store)
    assert reads == [version]
    reference = scorer.reasons.reference
    assert reference.at_cutoff and reference.rows == 200
    # what registering now would have stored
    features, _ = load_holdout(store, NAME, version)
    from models.cutoff import cutoff_reference_record

    stored = cutoff_reference_record(model, features, sample_name="hold-out").reference
    assert stored is not None
    _assert_same_reference(stored, reference)
