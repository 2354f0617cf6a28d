"""The core features agree with an independent DuckDB SQL formulation on synthetic data."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from features import CORE_FEATURES, build_features
from synth.marketplace import generate_marketplace

pytest.importorskip("duckdb")


def bench_module() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "features.py"
    spec = importlib.util.spec_from_file_location("bench_features", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("days_back", [0, 45])
def test_core_features_match_duckdb_sql_on_a_synthetic_marketplace(days_back: int) -> None:
    market = generate_marketplace(60, 15, seed=5)
    as_of = pd.Timestamp(market.as_of) - pd.Timedelta(days=days_back)
    ours = build_features(market.orders, market.sellers, as_of, features=CORE_FEATURES)
    theirs = bench_module().duckdb_core(market.orders, market.sellers, as_of)
    assert sorted(theirs.index) == sorted(ours.index)
    theirs = theirs.loc[ours.index]
    for name in CORE_FEATURES:
        np.testing.assert_allclose(ours[name].to_numpy(dtype=float),
                                   theirs[name].to_numpy(dtype=float, na_value=np.nan),
                                   rtol=1e-9, atol=1e-9, err_msg=name)
