"""A text column with more levels than ``max_categories``: its most frequent levels are
kept, the rare ones read as missing; a column of mostly distinct values is an identifier."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models import train
from tests.models.conftest import FAST, CreditTable


def _cities(n: int, seed: int = 3) -> pd.Series:
    """40 frequent cities (about 80 % of the rows) and 300 rare ones."""
    rng = np.random.default_rng(seed)
    frequent = rng.choice([f"city-{k:02d}" for k in range(40)], n)
    rare = rng.choice([f"town-{k:03d}" for k in range(300)], n)
    return pd.Series(np.where(rng.random(n) < 0.8, frequent, rare), name="city")


def test_a_column_with_many_levels_keeps_the_most_frequent_and_reads_the_rest_as_missing(
        credit_table: CreditTable) -> None:
    X = credit_table.features.drop(columns=["applied_at"])
    X = X.assign(city=_cities(len(X)).to_numpy())
    config = replace(FAST, max_categories=50)
    with pytest.warns(UserWarning, match=r"column 'city' has \d+ distinct values; its 50 most"):
        model = train(X, credit_table.label, config=config)

    counts = X["city"].value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    expected = tuple(sorted(level for level, _ in ranked[:50]))
    spec = {column.name: column for column in model.columns_}["city"]
    assert spec.levels == expected
    # a rare town scores exactly as a missing city; a kept city is a level of its own
    rare = next(level for level, _ in ranked[50:])
    row = X.iloc[[0]]
    as_rare = model.predict_proba(row.assign(city=rare))
    as_missing = model.predict_proba(row.assign(city=None))
    assert np.array_equal(as_rare, as_missing)
    assert np.isfinite(model.predict_proba(row.assign(city=expected[0]))).all()


def test_a_column_of_mostly_distinct_values_is_still_refused_as_an_identifier(
        credit_table: CreditTable) -> None:
    X = credit_table.features.drop(columns=["applied_at"])
    ids = [f"C{i}" if i % 3 else "shared" for i in range(len(X))]  # 2 in 3 rows unique
    with pytest.raises(ValueError, match="most rows have a value of their own"):
        train(X.assign(customer=ids), credit_table.label, config=FAST)
