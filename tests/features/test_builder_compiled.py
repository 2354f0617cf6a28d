"""The compiled single-pass path (features._kernels) gives exactly the numpy path's table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features import CORE_FEATURES, _kernels, build_features, builder
from features.definitions import PROFILE_FEATURES
from synth.marketplace import generate_marketplace
from tests.features.test_builder_helpers import (
    AS_OF,
    at,
    example_orders,
    example_sellers,
    order,
    seller,
    validated_orders,
    validated_sellers,
)

pytestmark = pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")

COMPILED = sorted(builder._COMPILED_FEATURES)


def numpy_path(monkeypatch: pytest.MonkeyPatch, *args: object, **kwargs: object) -> pd.DataFrame:
    with monkeypatch.context() as patch:
        patch.setattr(_kernels, "available", lambda: False)
        return build_features(*args, **kwargs)  # type: ignore[arg-type]


def compiled_path(monkeypatch: pytest.MonkeyPatch, *args: object,
                  **kwargs: object) -> pd.DataFrame:
    def refuse(*_: object) -> None:
        raise AssertionError("the numpy path ran")

    with monkeypatch.context() as patch:
        patch.setattr(builder, "_numpy_features", refuse)
        return build_features(*args, **kwargs)  # type: ignore[arg-type]


def renamed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    return frame.assign(**{name: (frame[name].astype(object).map(lambda v, f=f: f.format(v)))
                           .astype(frame[name].dtype) for name, f in columns.items()})


@pytest.fixture(scope="module")
def market() -> object:
    return generate_marketplace(400, 24, seed=11)


@pytest.mark.parametrize("ids", ["synthetic", "free-form", "long"])
@pytest.mark.parametrize("days_back", [0, 45, 500])
def test_compiled_path_equals_the_numpy_path_exactly(monkeypatch: pytest.MonkeyPatch,
                                                     market: object, ids: str,
                                                     days_back: int) -> None:
    orders, sellers = market.orders, market.sellers  # type: ignore[attr-defined]
    if ids == "free-form":
        orders = renamed(orders, {"seller_id": "{}x", "buyer_id": "买家-{}"})
        sellers = renamed(sellers, {"seller_id": "{}x"})
    elif ids == "long":  # longer than two words, the same first 16 bytes: compared in full
        orders = renamed(orders, {"seller_id": "marketplace-seller-{}",
                                  "buyer_id": "marketplace-buyer--{}"})
        sellers = renamed(sellers, {"seller_id": "marketplace-seller-{}"})
    as_of = pd.Timestamp(market.as_of) - pd.Timedelta(days=days_back)  # type: ignore[attr-defined]
    wanted = COMPILED + list(PROFILE_FEATURES)
    expected = numpy_path(monkeypatch, orders, sellers, as_of, features=wanted)
    got = compiled_path(monkeypatch, orders, sellers, as_of, features=wanted, threads=1)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_threads_and_buckets_change_nothing(monkeypatch: pytest.MonkeyPatch,
                                            market: object) -> None:
    orders, sellers, as_of = market.orders, market.sellers, market.as_of  # type: ignore[attr-defined]
    expected = numpy_path(monkeypatch, orders, sellers, as_of, features=COMPILED)
    monkeypatch.setattr(_kernels, "_PARALLEL_MIN_ROWS", 0)
    for log2 in (4, 9, 20):  # many small buckets, some, one
        monkeypatch.setattr(_kernels, "_BUCKET_LOG2", log2)
        for threads in (1, 2, 3):
            got = compiled_path(monkeypatch, orders, sellers, as_of, features=COMPILED,
                                threads=threads)
            pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_core_features_of_the_hand_built_marketplace(monkeypatch: pytest.MonkeyPatch) -> None:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers)
    expected = numpy_path(monkeypatch, orders, sellers, AS_OF, features=CORE_FEATURES)
    got = compiled_path(monkeypatch, orders, sellers, AS_OF, features=CORE_FEATURES)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.loc["S1", "distinct_buyers_365d"] == 3


def test_buyers_are_told_apart_by_every_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids equal in length and in their first 16 bytes, or one a prefix of another, or
    differing only past byte 16, are different buyers; equal ids are one buyer."""
    sellers = validated_sellers([seller("S1", "2024-01-01T00:00:00Z"),
                                 seller("S1-but-longer-than-sixteen", "2024-01-01T00:00:00Z")])
    buyers = ["b", "b", "bb", "0123456789abcdefX", "0123456789abcdefY",
              "0123456789abcdefX", "0123456789abcdef", "0123456789abcde", "01234567",
              "0123456789abcdefXYZ-0123456789", "0123456789abcdefXYZ-0123456780"]
    rows = [order(f"o{i}", "S1", buyer, at(i + 1), 10.0 + i) for i, buyer in enumerate(buyers)]
    rows += [order("p1", "S1-but-longer-than-sixteen", "b", at(2), 5.0),
             order("p2", "S1-but-longer-than-sixteen", "b", at(3), 7.0)]
    orders = validated_orders(rows, sellers)
    got = compiled_path(monkeypatch, orders, sellers, AS_OF, features=CORE_FEATURES)
    expected = numpy_path(monkeypatch, orders, sellers, AS_OF, features=CORE_FEATURES)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert list(got["distinct_buyers_365d"]) == [len(set(buyers)), 1]
    assert got.loc["S1", "top_buyer_share_365d"] == pytest.approx(
        (13.0 + 15.0) / sum(10.0 + i for i in range(len(buyers))))


def test_orders_of_unknown_sellers_are_refused_like_the_numpy_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers)
    stray = orders.assign(seller_id=orders["seller_id"].where(orders.index != 2, "S9"))
    with pytest.raises(ValueError, match=r"1 orders belong to sellers missing from `sellers` "
                                         r"\(for example 'S9'\)"):
        compiled_path(monkeypatch, stray, sellers, AS_OF, features=CORE_FEATURES)
    with pytest.raises(ValueError, match=r"1 orders belong to sellers missing"):
        numpy_path(monkeypatch, stray, sellers, AS_OF, features=CORE_FEATURES)


def test_no_orders_and_features_outside_the_compiled_set(monkeypatch: pytest.MonkeyPatch) -> None:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers)
    empty = orders.iloc[:0]
    pd.testing.assert_frame_equal(
        compiled_path(monkeypatch, empty, sellers, AS_OF, features=CORE_FEATURES),
        numpy_path(monkeypatch, empty, sellers, AS_OF, features=CORE_FEATURES),
        check_exact=True)
    # a feature the kernels do not compute sends the whole build down the numpy path
    with pytest.raises(AssertionError, match="the numpy path ran"):
        compiled_path(monkeypatch, orders, sellers, AS_OF,
                      features=[*CORE_FEATURES, "buyer_hhi_365d"])


def test_kernels_decline_ids_that_are_not_plain_strings() -> None:
    ids = pa.array(["S1", None], pa.large_string())
    known = pa.array(["S1"], pa.large_string())
    stamps = np.zeros(2, dtype=np.int64)
    amounts = np.ones(2)
    assert _kernels.order_aggregates(
        ids, ids, known, np.zeros(1, dtype=np.int64), 1, stamps, amounts, stamps, amounts,
        1, np.ones(6, dtype=np.int64), 1, 1, 1, 1) is None


def chunked(series: pd.Series, sizes: list[int]) -> pd.Series:
    """The same strings held as an Arrow chunked array with chunks of ``sizes`` rows."""
    values = pa.array(series.astype(object).tolist(), pa.large_string())
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == len(values)
    chunks = [values.slice(int(lo), int(hi - lo)) for lo, hi in zip(bounds[:-1], bounds[1:],
                                                                    strict=True)]
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks, pa.large_string())),
                     index=series.index, name=series.name)


@pytest.mark.parametrize("long_ids", [False, True])
def test_chunked_id_columns_are_read_chunk_by_chunk(monkeypatch: pytest.MonkeyPatch,
                                                    market: object, long_ids: bool) -> None:
    orders, sellers, as_of = market.orders, market.sellers, market.as_of  # type: ignore[attr-defined]
    if long_ids:
        orders = renamed(orders, {"buyer_id": "a-buyer-id-longer-than-16-bytes-{}"})
    n = len(orders)
    # different chunk boundaries in the two columns, an empty chunk among them
    orders = orders.assign(
        seller_id=chunked(orders["seller_id"], [n // 3, 0, n // 3, n - 2 * (n // 3)]),
        buyer_id=chunked(orders["buyer_id"], [n // 5, n // 2, n - n // 5 - n // 2]))
    assert pa.array(orders["buyer_id"].array).num_chunks == 3
    expected = numpy_path(monkeypatch, orders, sellers, as_of, features=COMPILED)
    monkeypatch.setattr(_kernels, "_PARALLEL_MIN_ROWS", 0)
    for threads in (1, 2):
        got = compiled_path(monkeypatch, orders, sellers, as_of, features=COMPILED,
                            threads=threads)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
