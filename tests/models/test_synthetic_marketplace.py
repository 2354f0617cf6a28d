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
    # The generator's own defaults: 5% base default rate, 5% of the risk variance hidden from
    # the records (the oracle knows it, no model can). 20,000 sellers give a hold-out of
    # about 4,000 with some 200 defaults.
    market = generate_marketplace(20_000, 12, 2026)
    table = features.build_features(market.orders, market.sellers, market.as_of)
    truth = market.truth.set_index("seller_id").reindex(table.index)
    return table, truth["defaulted_12m"].astype(int).to_numpy(), truth["true_pd"].to_numpy()


def test_model_reaches_ninety_percent_of_the_oracle_auc_lift_on_the_holdout(
        marketplace_table: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    table, defaulted, true_pd = marketplace_table
    model = train(table, defaulted,
                  config=TrainConfig(max_candidates=1, cv_folds=3, n_jobs=1))
    holdout = model.training_report_.holdout_positions
    model_auc = auc(defaulted[holdout], model.predict_pd(table.iloc[holdout]))
    oracle_auc = auc(defaulted[holdout], true_pd[holdout])
    ratio = (model_auc - 0.5) / (oracle_auc - 0.5)
    assert len(holdout) > 3500
    assert ratio >= 0.9, f"model AUC {model_auc:.4f}, oracle {oracle_auc:.4f}, ratio {ratio:.3f}"


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
