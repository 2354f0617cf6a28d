"""The Dask backend returns exactly the pandas result, on a real distributed cluster."""

from __future__ import annotations

from collections.abc import Iterator

import dask.dataframe as dd
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from features import build_features
from synth.marketplace import generate_marketplace
from tests.features.test_builder_helpers import (
    AS_OF,
    example_orders,
    example_sellers,
    validated_orders,
    validated_sellers,
)
from tests.features.test_credit_history import example_credit_history

# dask's own shuffle code still calls Series.values on timezone-aware columns (pandas 3.1)
pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as connected:
        yield connected


def test_dask_orders_on_a_cluster_give_exactly_the_pandas_table(client: Client) -> None:
    market = generate_marketplace(40, 15, seed=11)
    expected = build_features(market.orders, market.sellers, market.as_of)
    orders = dd.from_pandas(market.orders, npartitions=4)
    result = build_features(orders, market.sellers, market.as_of)
    pd.testing.assert_frame_equal(result, expected, check_exact=True)


def test_dask_sellers_and_credit_history_are_accepted(client: Client) -> None:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers)
    credit = example_credit_history(sellers)
    expected = build_features(orders, sellers, AS_OF, credit)
    result = build_features(dd.from_pandas(orders, npartitions=2),
                            dd.from_pandas(sellers, npartitions=2), AS_OF, credit)
    pd.testing.assert_frame_equal(result, expected, check_exact=True)


def test_sellers_without_orders_keep_their_place_on_dask() -> None:
    # no cluster here: the local threaded scheduler runs the same graph
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders()[:1], sellers)  # only S1 has an order
    expected = build_features(orders, sellers, AS_OF)
    result = build_features(dd.from_pandas(orders, npartitions=1), sellers, AS_OF)
    pd.testing.assert_frame_equal(result, expected, check_exact=True)
    assert list(result.index) == ["S1", "S2", "S3"]


def test_dask_orders_missing_columns_raise_before_any_work() -> None:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers).drop(columns=["amount"])
    with pytest.raises(ValueError, match="orders is missing columns: amount"):
        build_features(dd.from_pandas(orders, npartitions=2), sellers, AS_OF)


def test_several_currencies_across_partitions_are_refused_on_dask() -> None:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers)
    orders.loc[len(orders) - 1, "currency"] = "USD"  # alone in the last partition
    with pytest.raises(ValueError, match="several currencies"):
        build_features(dd.from_pandas(orders, npartitions=6), sellers, AS_OF)
