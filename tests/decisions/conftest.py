"""Fixtures of the decision tests: a small marketplace, a model trained on it in a second,
the shipped policy, and a migrated database (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

import features
from lending.policy import CreditPolicy, SellerProfile, decide, load_policy
from models import train
from records.snapshots import FeatureSnapshot
from scoring import Scorer
from synth.marketplace import generate_marketplace
from tests.models.conftest import FAST

#: When the tests' decisions are made (after the marketplace's as-of date).
NOW = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)


@dataclass
class Market:
    """Features of every seller as of one date, and a scorer trained on them."""

    table: pd.DataFrame
    as_of: datetime
    scorer: Scorer
    #: Whether each seller defaulted within 12 months (the training label).
    label: np.ndarray
    #: The generated records (``synth.marketplace``): sellers and orders frames.
    sellers: pd.DataFrame
    orders: pd.DataFrame
    #: A seller id for each policy outcome (``approve``, ``refer``, ``decline``).
    seller_for: dict[str, str]

    def snapshot(self, seller_id: str) -> FeatureSnapshot:
        row = self.table.loc[seller_id].to_dict()
        return FeatureSnapshot(seller_id, str(row["seller_kind"]), self.as_of, row)


@pytest.fixture(scope="session")
def policy() -> CreditPolicy:
    return load_policy()


@pytest.fixture(scope="session")
def market(policy: CreditPolicy) -> Market:
    """600 synthetic sellers (every feature of the registry) and a model trained on them."""
    generated = generate_marketplace(600, 12, seed=11)
    table = features.build_features(generated.orders, generated.sellers, generated.as_of)
    label = (generated.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    scorer = Scorer(train(table, label, config=FAST), model_name="market-pd",
                    model_version="7")
    seller_for: dict[str, str] = {}
    for seller_id, row in table.iterrows():
        result = scorer.score(row.to_dict())
        outcome = decide(_Score(result.probability_of_default, result.points, result.grade),
                         SellerProfile.from_feature_row(str(seller_id), row), policy).outcome
        seller_for.setdefault(outcome, str(seller_id))
        if len(seller_for) == 3:
            break
    assert set(seller_for) == {"approve", "refer", "decline"}
    return Market(table, pd.Timestamp(generated.as_of).to_pydatetime(), scorer, label,
                  generated.sellers, generated.orders, seller_for)


@dataclass(frozen=True)
class _Score:
    pd: float
    points: float
    grade: str


