"""Small models for the scoring tests (2 shared cores: tiny tables, few rounds)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import features
from models import CreditModel, train
from scoring import Scorer
from synth.marketplace import generate_marketplace
from tests.models.conftest import FAST, CreditTable, make_credit_table


@dataclass
class Market:
    table: pd.DataFrame
    label: np.ndarray
    model: CreditModel


@pytest.fixture(scope="session")
def market() -> Market:
    """Marketplace features of 1,500 sellers (every column in the feature registry) and a
    model trained on them."""
    generated = generate_marketplace(1500, 12, seed=11)
    table = features.build_features(generated.orders, generated.sellers, generated.as_of)
    label = (generated.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    return Market(table, label, train(table, label, config=FAST))


@pytest.fixture(scope="session")
def market_scorer(market: Market) -> Scorer:
    return Scorer(market.model, model_name="market-pd", model_version="7")


@pytest.fixture(scope="session")
def generic() -> CreditTable:
    return make_credit_table(n=1500, seed=3)


@pytest.fixture(scope="session")
def generic_model(generic: CreditTable) -> CreditModel:
    """A model on a generic applicant table: no column is in the feature registry."""
    return train(generic.features.drop(columns=["applied_at"]), generic.label, config=FAST)


@pytest.fixture(scope="session")
def generic_scorer(generic_model: CreditModel) -> Scorer:
    return Scorer(generic_model, model_name="generic-pd", model_version="1")
