"""On the synthetic marketplace the true PD is known: the model must get close to it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import features
from models import TrainConfig, train
from models.evaluation import auc
from synth.marketplace import generate_marketplace


@pytest.fixture(scope="module")
def marketplace_table() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    # The generator's own defaults: 5% base default rate, 15% of the seller's risk variance
    # hidden from the records and an industry climate whose future the records cannot show
    # (the oracle knows both, no model can). 20,000 sellers give a hold-out of about 4,000
    # with some 200 defaults. Every seller is labelled here (the simulator's view), so the
    # figure measures what the records can tell, not the approval policy's selection.
    market = generate_marketplace(20_000, 12, 2026)
    table = features.build_features(market.orders, market.sellers, market.as_of)
    truth = market.truth.set_index("seller_id").reindex(table.index)
    return table, truth["defaulted_12m"].astype(int).to_numpy(), truth["true_pd"].to_numpy()


def test_model_reaches_three_quarters_of_the_oracle_auc_lift_and_beats_every_feature(
        marketplace_table: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    table, defaulted, true_pd = marketplace_table
    model = train(table, defaulted,
                  config=TrainConfig(max_candidates=1, cv_folds=3, n_jobs=1))
    holdout = model.training_report_.holdout_positions
    y = defaulted[holdout]
    model_auc = auc(y, model.predict_pd(table.iloc[holdout]))
    oracle_auc = auc(y, true_pd[holdout])
    ratio = (model_auc - 0.5) / (oracle_auc - 0.5)
    assert len(holdout) > 3500
    # 0.82 at generator 2.0 (model AUC 0.838, oracle 0.909); the best single feature
    # (median payout delay) reaches 0.769, 0.66 of the oracle's lift.
    assert ratio >= 0.75, f"model AUC {model_auc:.4f}, oracle {oracle_auc:.4f}, ratio {ratio:.3f}"
    numeric = table.iloc[holdout].select_dtypes("number")
    best_feature = max(max(a, 1 - a) for a in (
        auc(y, numeric[c].fillna(numeric[c].median()).to_numpy())
        for c in numeric.columns if numeric[c].nunique() > 1))
    assert model_auc > best_feature + 0.03, (model_auc, best_feature)


def test_every_marketplace_feature_with_a_known_direction_is_constrained(
        marketplace_table: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    from features.registry import risk_direction

    table, defaulted, _ = marketplace_table
    sample = table.iloc[:3000]
    model = train(sample, defaulted[:3000],
                  config=TrainConfig(max_candidates=1, cv_folds=3, n_jobs=1, max_rounds=50))
    for spec in model.columns_:
        expected = risk_direction(spec.name) if spec.kind == "numeric" else 0
        assert spec.monotone == expected, spec.name
    assert {"seller_kind", "membership_tier"} <= {c.name for c in model.columns_
                                                 if c.kind == "categorical"}
