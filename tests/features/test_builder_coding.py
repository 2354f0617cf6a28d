"""Exact integer codes for identifiers: the fast numeric path and the general path agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features import build_features
from features.coding import fixed_width_numbers, pair_codes, positions
from tests.features.test_builder_helpers import (
    AS_OF,
    example_orders,
    example_sellers,
    validated_orders,
    validated_sellers,
)


def strings(*values: str) -> pa.Array:
    return pa.array(values, type=pa.large_string())


def test_fixed_width_numeric_ids_are_read_as_numbers() -> None:
    numbers = fixed_width_numbers(strings("B00000001", "B12345678", "B99999999"))
    assert numbers is not None and numbers.prefix == b"B" and numbers.width == 8
    assert list(numbers.values) == [1, 12345678, 99999999]
    long = fixed_width_numbers(strings("X1234567890123456"))
    assert long is not None and list(long.values) == [1234567890123456]


def test_ids_of_other_shapes_take_the_general_path() -> None:
    for values in (("S1", "S10"), ("S1", "T2"), ("a1", "a_"), ("X12345678901234567",),
                   ("S1", "S-")):
        assert fixed_width_numbers(strings(*values)) is None, values
    assert fixed_width_numbers(pa.array(["S1", None], type=pa.large_string())) is None


def test_positions_find_each_id_whatever_its_shape() -> None:
    universe = pd.Series(["S003", "S001", "S100"], dtype="string")
    values = pd.Series(["S001", "S100", "S002", "S003"], dtype="string")
    assert list(positions(values, universe)) == [1, 2, -1, 0]
    # same digits but another width or prefix is another id
    assert list(positions(pd.Series(["S01", "T001"], dtype="string"), universe)) == [-1, -1]
    free_form = pd.Series(["shop-a", "shop-b"], dtype="string")
    assert list(positions(pd.Series(["shop-b", "x"], dtype="string"), free_form)) == [1, -1]


def test_pairs_group_rows_by_seller_and_buyer_on_both_paths() -> None:
    seller = np.array([0, 1, 0, 1, 0, 2])
    for buyers in (strings("B1", "B1", "B2", "B1", "B1", "B2"),
                   strings("ann", "ann", "bob", "ann", "ann", "bob")):
        pairs = pair_codes(seller, buyers, np.arange(6), 3)
        assert pairs.n_pairs == 4  # (0, 1), (1, 1), (0, 2), (2, 2)
        pair_of_row = np.empty(6, dtype=np.int64)
        pair_of_row[pairs.order] = pairs.pair
        assert pair_of_row[0] == pair_of_row[4] and pair_of_row[1] == pair_of_row[3]
        assert len(set(pair_of_row[[0, 1, 2, 5]])) == 4
        assert list(pairs.seller[pair_of_row]) == list(seller)


def test_numeric_and_free_form_ids_give_the_same_features() -> None:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers)
    free_form = build_features(orders, sellers, AS_OF)  # b1, c1: general path for buyers
    numbered = orders.assign(buyer_id=orders["buyer_id"].map(
        {"b1": "B0001", "b2": "B0002", "b3": "B0003", "c1": "B0004"}).astype("string"))
    pd.testing.assert_frame_equal(build_features(numbered, sellers, AS_OF), free_form,
                                  check_exact=True)
    renamed = {"S1": "shop one", "S2": "factory two", "S3": "shop three"}
    sellers_free = sellers.assign(seller_id=sellers["seller_id"].map(renamed).astype("string"))
    orders_free = orders.assign(seller_id=orders["seller_id"].map(renamed).astype("string"))
    table = build_features(orders_free, sellers_free, AS_OF)
    pd.testing.assert_frame_equal(table.reset_index(drop=True),
                                  free_form.reset_index(drop=True), check_exact=True)


def test_positions_compare_ids_held_in_different_string_types() -> None:
    universe = pd.Series(["x-1", "y-2"], dtype=pd.ArrowDtype(pa.string()))
    values = pd.Series(["y-2", "x-1", "z"], dtype="string")
    assert list(positions(values, universe)) == [1, 0, -1]
    assert list(positions(pd.Series(["x-1"], dtype=object), universe)) == [0]


def test_fast_and_general_pair_paths_find_the_same_pairs() -> None:
    rng = np.random.default_rng(1)
    n, n_sellers = 200_000, 3000  # several buckets
    seller = rng.integers(0, n_sellers, n)
    buyer_numbers = rng.integers(0, 5000, n)
    numeric = pa.array([f"B{b:05d}" for b in buyer_numbers], type=pa.large_string())
    free_form = pa.array([f"buyer-{b}" for b in buyer_numbers], type=pa.large_string())
    rows = np.arange(n)
    numeric_pairs = pair_codes(seller, numeric, rows, n_sellers)
    free_pairs = pair_codes(seller, free_form, rows, n_sellers)
    expected = len(set(zip(seller.tolist(), buyer_numbers.tolist(), strict=True)))
    assert numeric_pairs.n_pairs == free_pairs.n_pairs == expected
    for pairs in (numeric_pairs, free_pairs):
        pair_of_row = np.empty(n, dtype=np.int64)
        pair_of_row[pairs.order] = pairs.pair
        np.testing.assert_array_equal(pairs.seller[pair_of_row], seller)
    np.testing.assert_array_equal(numeric_pairs.pair, free_pairs.pair)
