"""Run the feature builder on Dask: shuffle orders by seller, same pandas code per partition.

Only the orders are large. They are shuffled on ``seller_id`` so that all orders of a
seller sit in one partition; each partition then goes through
:func:`features.builder.build_partition`, the very function the pandas path uses, for the
sellers whose orders it holds. Sellers without any order row are computed on the client
(with an empty orders frame), and the rows are put back in the order of ``sellers``. No
feature needs a quantity across sellers, and money is summed exactly in minor units, so the
result equals the pandas result exactly. Runs on whatever scheduler is active: a
``distributed.Client`` when one is connected, the local threaded scheduler otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from features.builder import NAT, as_nanoseconds, build_partition, check_one_currency

if TYPE_CHECKING:
    from features.builder import BuildParams

__all__ = ["build_on_dask"]


def _build_present_sellers(orders: pd.DataFrame, sellers: pd.DataFrame, params: BuildParams,
                           wanted: tuple[str, ...]) -> pd.DataFrame:
    """Features of the sellers that have order rows in this partition."""
    present = sellers[sellers["seller_id"].isin(orders["seller_id"].unique())]
    return build_partition(orders, present, params, wanted)


def build_on_dask(orders: Any, sellers: pd.DataFrame, params: BuildParams,
                  wanted: tuple[str, ...]) -> pd.DataFrame:
    """The feature table from a dask DataFrame of orders (see the module docstring).

    Parameters
    ----------
    orders : dask DataFrame of validated orders.
    sellers : pandas DataFrame of validated sellers.
    params : builder parameters (``as_of`` and the contract's thresholds).
    wanted : feature names to compute, in column order.

    Returns
    -------
    pandas.DataFrame
        Exactly what :func:`features.builder.build_partition` returns on the whole data.
    """
    import dask

    meta_orders = orders._meta
    if "currency" in meta_orders.columns:
        # a check across partitions: each partition alone may hold a single currency
        check_one_currency(orders["currency"].drop_duplicates().compute())
    empty_sellers = sellers.iloc[:0]
    meta = build_partition(meta_orders, empty_sellers, params, wanted)
    shuffled = orders.shuffle(on="seller_id")
    per_seller = shuffled.map_partitions(
        _build_present_sellers, dask.delayed(sellers), params, wanted, meta=meta,
        enforce_metadata=False,
    )
    computed: pd.DataFrame = per_seller.compute()

    registered = as_nanoseconds(sellers["registered_at"])
    kept = sellers[(registered < params.as_of_ns) & (registered != NAT)]
    without_orders = kept[~kept["seller_id"].isin(computed.index)]
    rest = build_partition(meta_orders, without_orders, params, wanted)
    parts = [part for part in (computed, rest) if len(part)]
    if not parts:
        return build_partition(meta_orders, sellers, params, wanted)
    combined = pd.concat(parts) if len(parts) > 1 else parts[0]
    expected = pd.Index(kept["seller_id"], name="seller_id")
    result = combined.loc[expected.array]
    result.index = expected
    for name, dtype in meta.dtypes.items():
        if result[name].dtype != dtype:
            result[name] = result[name].astype(dtype)
    return result
