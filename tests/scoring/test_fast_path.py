"""The fast single-row TreeSHAP path is checked against LightGBM's public call on load.

The fast path reaches LightGBM's C library through private internals (``_LIB``, the
booster's ``_handle``); a scorer that finds it disagreeing with the public
``Booster.predict(..., pred_contrib=True)``, or failing, says so and uses the public call.
"""

from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import pytest

from models import CreditModel
from scoring import Scorer
from scoring import contributions as contributions_module
from scoring.contributions import FastPathFallbackWarning
from scoring.scorer import FAST_PATH_CHECK_ROWS, fast_path_check_rows
from tests.models.conftest import CreditTable


def _public(model: CreditModel, row: np.ndarray) -> tuple[np.ndarray, float]:
    matrix = row.reshape(1, -1)
    contributions = model.booster_.predict(matrix, pred_contrib=True,
                                           num_iteration=model.best_iteration_)
    raw = model.booster_.predict(matrix, raw_score=True, num_iteration=model.best_iteration_)
    return np.asarray(contributions, dtype=np.float64)[0], float(raw[0])


def _records(generic: CreditTable, n: int = 12) -> list[dict[str, object]]:
    return generic.features.head(n).to_dict(orient="records")


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls of the fast single-row predictor (still computing for real)."""
    calls: list[int] = []
    real = contributions_module._FastRow.predict

    def counted(self: contributions_module._FastRow, row: np.ndarray,
                ) -> tuple[np.ndarray, float]:
        calls.append(1)
        return real(self, row)

    monkeypatch.setattr(contributions_module._FastRow, "predict", counted)
    return calls


def test_check_rows_span_the_training_range_and_end_with_a_missing_row(
        generic_model: CreditModel) -> None:
    rows = fast_path_check_rows(generic_model)
    assert rows.shape == (FAST_PATH_CHECK_ROWS, generic_model.n_features_in_)
    assert np.isnan(rows[-1]).all()
    assert not np.isnan(rows[:-1]).any()
    np.testing.assert_array_equal(rows, fast_path_check_rows(generic_model))  # deterministic
    for j, column in enumerate(generic_model.columns_):
        if column.kind == "categorical":
            assert set(rows[:-1, j]) <= set(range(len(column.levels)))
        else:
            edges = generic_model.feature_reference_[column.name]["edges"]
            assert set(rows[:-1, j]) <= set(edges)
    # the rows reach different leaves: their raw scores differ
    raw = generic_model.booster_.predict(rows, raw_score=True)
    assert len(np.unique(raw)) >= FAST_PATH_CHECK_ROWS - 1


def test_a_scorer_explains_single_applicants_with_the_fast_path_when_it_agrees(
        generic: CreditTable, generic_model: CreditModel, fast_calls: list[int]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", FastPathFallbackWarning)
        scorer = Scorer(generic_model, model_name="generic-pd", model_version="1")
    assert scorer.engine.uses_fast_path
    assert len(fast_calls) >= FAST_PATH_CHECK_ROWS  # the load-time check used it
    fast_calls.clear()
    for record in _records(generic):
        explained, contributions = scorer.score_with_contributions(record)
        expected, raw = _public(generic_model, scorer.encode(record))
        np.testing.assert_allclose(contributions, expected, rtol=0, atol=1e-12)
        assert explained.raw_score == pytest.approx(raw, abs=1e-12)
    assert len(fast_calls) == len(_records(generic))


def test_a_fast_path_that_disagrees_makes_the_scorer_warn_and_use_the_public_call(
        generic: CreditTable, generic_model: CreditModel,
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = contributions_module._FastRow.predict

    def slightly_wrong(self: contributions_module._FastRow, row: np.ndarray,
                       ) -> tuple[np.ndarray, float]:
        contributions, raw = real(self, row)
        contributions[0] += 1e-6  # well beyond floating-point rounding
        return contributions, raw + 1e-6

    monkeypatch.setattr(contributions_module._FastRow, "predict", slightly_wrong)
    with pytest.warns(FastPathFallbackWarning,
                      match=r"generic-pd v1: .*disagrees with predict\(pred_contrib=True\)"):
        scorer = Scorer(generic_model, model_name="generic-pd", model_version="1")
    assert not scorer.engine.uses_fast_path
    for record in _records(generic):
        explained, contributions = scorer.score_with_contributions(record)
        expected, raw = _public(generic_model, scorer.encode(record))
        np.testing.assert_array_equal(contributions, expected)  # exactly the public call
        assert explained.raw_score == raw
    batch = scorer.score_batch(generic.features.head(12))
    assert [s.points for s in batch] == pytest.approx(
        [scorer.score(r).points for r in _records(generic)], abs=1e-9)


@pytest.mark.parametrize("failure", [
    AttributeError("'Booster' object has no attribute '_handle'"),
    lgb.basic.LightGBMError("Unknown exception"),
])
def test_a_fast_path_that_fails_makes_the_scorer_warn_and_use_the_public_call(
        failure: Exception, generic: CreditTable, generic_model: CreditModel,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: contributions_module._FastRow, *args: object) -> None:
        raise failure

    monkeypatch.setattr(contributions_module._FastRow, "__init__", broken)
    with pytest.warns(FastPathFallbackWarning, match=type(failure).__name__):
        scorer = Scorer(generic_model, model_name="generic-pd", model_version="1")
    assert not scorer.engine.uses_fast_path
    record = _records(generic, 1)[0]
    _, contributions = scorer.score_with_contributions(record)
    expected, _ = _public(generic_model, scorer.encode(record))
    np.testing.assert_array_equal(contributions, expected)
    assert scorer.baseline_raw_score == expected[-1]


def test_check_rows_must_match_the_models_columns(generic_model: CreditModel) -> None:
    scorer = Scorer(generic_model, model_name="generic-pd", model_version="1")
    with pytest.raises(ValueError, match="columns"):
        scorer.engine.verify_fast_path(np.zeros((2, generic_model.n_features_in_ + 1)))
