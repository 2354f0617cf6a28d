"""Small credit tables and MLflow stores for the model tests (kept small: 2 shared cores)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import CreditModel, TrainConfig

#: A quick configuration: one candidate, three folds, one thread.
FAST = TrainConfig(max_candidates=1, cv_folds=3, max_rounds=300, early_stopping_rounds=20,
                   learning_rate=0.1, n_jobs=1)


@dataclass
class CreditTable:
    features: pd.DataFrame
    label: np.ndarray
    true_pd: np.ndarray


def make_credit_table(n: int = 2000, seed: int = 0) -> CreditTable:
    """A generic applicant table: numeric, integer, boolean, category and text columns with
    missing values, an application time, and a known default probability."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.6, n)
    debt_ratio = rng.beta(2, 5, n)
    late_payments = rng.poisson(0.6, n)
    has_guarantor = rng.random(n) < 0.3
    region = pd.Categorical(rng.choice(["north", "south", "east", "west"], n),
                            categories=["east", "north", "south", "west"])
    sector = pd.Series(rng.choice(["retail", "food", "textile", "electronics"], n),
                       dtype="str")
    z = (-2.0 - 1.5 * (np.log(income) - 10) + 6.0 * (debt_ratio - 0.3) + 0.9 * late_payments
         - 0.9 * has_guarantor + np.where(np.asarray(region) == "south", 1.0, 0.0)
         + np.where(sector.to_numpy() == "food", -1.0, 0.0))
    true_pd = 1 / (1 + np.exp(-z))
    label = (rng.random(n) < true_pd).astype(int)
    income_seen = income.copy()
    income_seen[rng.random(n) < 0.1] = np.nan
    sector_seen = sector.copy()
    sector_seen[rng.random(n) < 0.05] = None
    applied_at = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 365, n)), unit="D")
    features = pd.DataFrame({
        "income": income_seen,
        "debt_ratio": debt_ratio,
        "late_payments": late_payments,
        "has_guarantor": has_guarantor,
        "region": region,
        "sector": sector_seen.to_numpy(),
        "applied_at": applied_at,
    }, index=pd.Index([f"A{i:06d}" for i in range(n)], name="applicant_id"))
    return CreditTable(features, label, true_pd)


@pytest.fixture(scope="session")
def credit_table() -> CreditTable:
    return make_credit_table()


@pytest.fixture(scope="session")
def trained(credit_table: CreditTable) -> CreditModel:
    """One model trained by cross-validation on the generic table (shared, read-only)."""
    from models import train

    return train(credit_table.features.drop(columns=["applied_at"]), credit_table.label,
                 config=FAST)


@pytest.fixture
def tracking_uri(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty MLflow SQLite store in tmp_path (a copy of a migrated one)."""
    from tests.mlflow_store import empty_store

    yield empty_store(tmp_path / "mlflow.db")
