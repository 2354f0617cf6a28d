"""Benchmark: the project's feature builder against an equivalent DuckDB query.

Both sides compute the *core* seller features (:data:`features.CORE_FEATURES`: order counts
and GMV over 30/90/180/365 days, refund rate, distinct buyers, top-buyer share, monthly
coefficient of variation of GMV) from the same in-memory orders and sellers, in the same
process, and the script checks that they agree before it prints anything.

- The builder side is :func:`features.build_features` (the public entry point) with
  ``features=CORE_FEATURES`` and its default ``threads`` (the CPUs this process may use,
  as DuckDB; ``--threads`` changes it). It is given the pandas DataFrames. With numba
  installed, these features go through the builder's compiled single-pass path
  (:mod:`features._kernels`); the kernels are compiled once per machine and cached on
  disk: the script reports the first call's time with an empty cache (compiling) and with
  the cache filled (loading), each in a fresh process, and makes one small untimed call
  before timing, so that the timed runs compare steady states.
- The DuckDB side runs one SQL query with DuckDB's default settings (all its threads). It
  is timed twice: scanning the same pandas DataFrames, and scanning Arrow tables made from
  them beforehand (not timed); the faster of the two is DuckDB's figure.

Each is run ``--repeat`` times, taking turns (builder, DuckDB on pandas, DuckDB on Arrow,
then again, the order rotating from round to round), so that all three see the same load
on a shared machine; the median wall time
is reported, and the ratio of the fastest runs too (the closest to an idle machine). Peak
memory of the
builder is measured during one extra, untimed call, in two ways: the high-water mark of
the process's resident set size above its level just before the call (sampled every 2 ms
from /proc), and tracemalloc's peak of traced allocations (numpy and Python objects; Arrow
buffers are not traced). Both are reported relative to the orders' in-memory size,
``orders.memory_usage(deep=True).sum()``.

The marketplace is generated with :mod:`synth.marketplace` on first use and cached as Parquet
under ``bench/out/`` (git-ignored).

The synthetic ids are fixed-width numbers (``S000123``); ``--free-form-ids`` appends a
letter to every id. The compiled path treats both alike (every id is hashed from the Arrow
buffers and compared exactly); the numpy path (without numba, or for other features)
reads fixed-width ids as integers and hashes the others.

Run: ``.venv/bin/python bench/features.py`` (100,000 sellers, 24 months: about 10 million
orders), or smaller with ``--sellers 2000 --months 12``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `features` package: put the project root first instead.
sys.path[:] = [str(ROOT)] + [p for p in sys.path
                             if Path(p or ".").resolve() not in (ROOT, ROOT / "bench")]

from features import CORE_FEATURES, build_features  # noqa: E402
from features.builder import DAY_NS, MONTH_DAYS, N_MONTHS  # noqa: E402
from features.coding import arrow_strings, fixed_width_numbers  # noqa: E402

OUT = ROOT / "bench" / "out"

#: DuckDB's version of the core features; ``{as_of_ns}`` is the as-of time in microseconds.
CORE_SQL = """
WITH o AS (
    SELECT seller_id, buyer_id, amount, refunded_amount,
           {as_of_ns} - epoch_ns(created_at) AS age,
           refunded_at IS NOT NULL AND epoch_ns(refunded_at) < {as_of_ns}
               AND refunded_amount > 0 AS refunded
    FROM orders
    WHERE epoch_ns(created_at) < {as_of_ns}
),
s AS (
    SELECT seller_id,
           least({months}, ({as_of_ns} - epoch_ns(registered_at)) // {month_ns}) AS observed
    FROM sellers
    WHERE epoch_ns(registered_at) < {as_of_ns}
),
windows AS (
    SELECT seller_id,
           count(*) FILTER (WHERE age <= 30 * {day_ns}) AS order_count_30d,
           count(*) FILTER (WHERE age <= 90 * {day_ns}) AS order_count_90d,
           count(*) FILTER (WHERE age <= 180 * {day_ns}) AS order_count_180d,
           count(*) FILTER (WHERE age <= 365 * {day_ns}) AS order_count_365d,
           sum(amount) FILTER (WHERE age <= 30 * {day_ns}) AS gmv_30d,
           sum(amount) FILTER (WHERE age <= 90 * {day_ns}) AS gmv_90d,
           sum(amount) FILTER (WHERE age <= 180 * {day_ns}) AS gmv_180d,
           sum(amount) FILTER (WHERE age <= 365 * {day_ns}) AS gmv_365d,
           -- matured orders only (placed more than 30 days before as_of, MATURITY_DAYS)
           count(*) FILTER (WHERE age > 30 * {day_ns} AND age <= 365 * {day_ns})
               AS matured_365d,
           count(*) FILTER (WHERE age > 30 * {day_ns} AND age <= 365 * {day_ns}
                            AND refunded) AS refunds_365d
    FROM o GROUP BY seller_id
),
pairs AS (
    SELECT seller_id, buyer_id, sum(amount) AS gmv
    FROM o WHERE age <= 365 * {day_ns} GROUP BY seller_id, buyer_id
),
buyers AS (
    SELECT seller_id, count(*) AS distinct_buyers_365d, max(gmv) AS top, sum(gmv) AS gmv
    FROM pairs GROUP BY seller_id
),
months AS (
    SELECT seller_id, (age - 1) // {month_ns} AS month, sum(amount) AS gmv
    FROM o WHERE age <= {months} * {month_ns} GROUP BY seller_id, month
),
monthly AS (
    SELECT months.seller_id, sum(gmv) AS total, sum(gmv * gmv) AS squares
    FROM months JOIN s ON months.seller_id = s.seller_id
    WHERE month < s.observed GROUP BY months.seller_id
)
SELECT s.seller_id,
       coalesce(order_count_30d, 0) AS order_count_30d,
       coalesce(order_count_90d, 0) AS order_count_90d,
       coalesce(order_count_180d, 0) AS order_count_180d,
       coalesce(order_count_365d, 0) AS order_count_365d,
       coalesce(gmv_30d, 0) AS gmv_30d, coalesce(gmv_90d, 0) AS gmv_90d,
       coalesce(gmv_180d, 0) AS gmv_180d, coalesce(gmv_365d, 0) AS gmv_365d,
       refunds_365d / nullif(matured_365d, 0) AS refund_rate_365d,
       coalesce(distinct_buyers_365d, 0) AS distinct_buyers_365d,
       top / nullif(buyers.gmv, 0) AS top_buyer_share_365d,
       CASE WHEN s.observed >= 2 AND total > 0
            THEN sqrt(greatest(squares / s.observed - (total / s.observed) ** 2, 0))
                 / (total / s.observed)
       END AS gmv_monthly_cv_12m
FROM s
LEFT JOIN windows ON windows.seller_id = s.seller_id
LEFT JOIN buyers ON buyers.seller_id = s.seller_id
LEFT JOIN monthly ON monthly.seller_id = s.seller_id
"""


def load_marketplace(n_sellers: int, months: int, seed: int) -> tuple[pd.DataFrame,
                                                                   pd.DataFrame, pd.Timestamp]:
    """Orders, sellers and as_of of a synthetic marketplace, cached as Parquet in bench/out."""
    from synth.marketplace import generate_marketplace

    stem = OUT / f"marketplace_{n_sellers}s_{months}m_seed{seed}"
    orders_path = stem.with_name(stem.name + "_orders.parquet")
    sellers_path = stem.with_name(stem.name + "_sellers.parquet")
    as_of_path = stem.with_name(stem.name + "_as_of.txt")
    if not (orders_path.exists() and sellers_path.exists() and as_of_path.exists()):
        OUT.mkdir(parents=True, exist_ok=True)
        print(f"generating {n_sellers:,} sellers over {months} months (cached in {OUT}) ...",
              flush=True)
        market = generate_marketplace(n_sellers, months, seed)
        market.orders.to_parquet(orders_path)
        market.sellers.to_parquet(sellers_path)
        as_of_path.write_text(pd.Timestamp(market.as_of).isoformat())
        del market
        gc.collect()
    orders = pd.read_parquet(orders_path)
    sellers = pd.read_parquet(sellers_path)
    return orders, sellers, pd.Timestamp(as_of_path.read_text().strip())


def free_form_ids(orders: pd.DataFrame, sellers: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                       pd.DataFrame]:
    """The same records with a letter appended to every seller and buyer id."""
    def suffixed(series: pd.Series) -> pd.Series:
        return (series + "x").astype(series.dtype)

    orders = orders.assign(seller_id=suffixed(orders["seller_id"]),
                           buyer_id=suffixed(orders["buyer_id"]))
    return orders, sellers.assign(seller_id=suffixed(sellers["seller_id"]))


def duckdb_core(orders: Any, sellers: Any, as_of: pd.Timestamp) -> pd.DataFrame:
    """The core features by DuckDB (default connection settings), indexed like the builder."""
    import duckdb

    con = duckdb.connect()
    con.register("orders", orders)
    con.register("sellers", sellers)
    sql = CORE_SQL.format(as_of_ns=as_of.value, day_ns=DAY_NS, month_ns=MONTH_DAYS * DAY_NS,
                          months=N_MONTHS)
    result = con.execute(sql).df()
    con.close()
    return result.set_index("seller_id")


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    times = []
    result = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def timed_in_turn(functions: list[Callable[[], Any]],
                  repeat: int) -> list[tuple[float, list[float], Any]]:
    """Like :func:`timed` for each function, but taking turns (run 1 of each, then run 2 of
    each, ...), so that all see the same load on a shared machine. The order rotates from
    round to round (A B C, B C A, C A B, ...), so that each follows each other equally
    often: a run can be slowed by what the one before it left (freed memory the kernel
    must hand out again, caches)."""
    times: list[list[float]] = [[] for _ in functions]
    results: list[Any] = [None] * len(functions)
    for round_ in range(repeat):
        for turn in range(len(functions)):
            index = (round_ + turn) % len(functions)
            function = functions[index]
            gc.collect()
            start = time.perf_counter()
            results[index] = function()
            times[index].append(time.perf_counter() - start)
    return [(statistics.median(runs), runs, result)
            for runs, result in zip(times, results, strict=True)]


_FIRST_CALL = """
import sys, time
sys.path.insert(0, {root!r})
from features import CORE_FEATURES, build_features
from synth.marketplace import generate_marketplace
market = generate_marketplace(20, 3, seed=1)
start = time.perf_counter()
build_features(market.orders, market.sellers, market.as_of, features=CORE_FEATURES)
print(time.perf_counter() - start)
"""


def first_call_seconds() -> tuple[float, float] | None:
    """Seconds of the builder's first call in a fresh process, with an empty compiled-code
    cache (compiling the kernels) and then with that cache filled (loading them); None
    without numba."""
    from features import _kernels

    if not _kernels.available():
        return None
    code = _FIRST_CALL.format(root=str(ROOT))
    times = []
    with tempfile.TemporaryDirectory() as cache:
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", code], check=True, text=True,
                                  capture_output=True,
                                  env={**os.environ, "NUMBA_CACHE_DIR": cache})
            times.append(float(done.stdout.strip().splitlines()[-1]))
    return times[0], times[1]


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_delta(function: Callable[[], Any]) -> int:
    """High-water mark of the resident set size above its level before the call."""
    gc.collect()
    baseline = _rss_bytes()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        function()
    finally:
        done.set()
        sampler.join()
    return max(peak, _rss_bytes()) - baseline


def traced_peak(function: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> float:
    """Largest relative difference over the core features; raises when they disagree."""
    theirs = theirs.loc[ours.index]
    worst = 0.0
    for name in CORE_FEATURES:
        a = ours[name].to_numpy(dtype=np.float64)
        b = theirs[name].to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            raise AssertionError(f"{name}: undefined (NaN) for different sellers")
        both = ~np.isnan(a)
        scale = np.maximum(np.abs(a[both]), 1.0)
        difference = float(np.max(np.abs(a[both] - b[both]) / scale, initial=0.0))
        if difference > 1e-6:
            raise AssertionError(f"{name}: builder and DuckDB differ by {difference:.3g}")
        worst = max(worst, difference)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sellers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--full", action="store_true",
                        help="also time the full build (every feature), for information")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of the builder (default: its own default, the CPUs "
                        "this process may use)")
    parser.add_argument("--free-form-ids", action="store_true",
                        help="append a letter to every seller and buyer id, so that the "
                        "builder cannot read them as numbers and takes its general path")
    args = parser.parse_args(argv)

    import duckdb

    orders, sellers, as_of = load_marketplace(args.sellers, args.months, args.seed)
    if args.free_form_ids:
        orders, sellers = free_form_ids(orders, sellers)
    n_orders = len(orders)
    orders_bytes = int(orders.memory_usage(deep=True).sum())
    print(f"data: {n_orders:,} orders of {len(sellers):,} sellers, as_of {as_of.isoformat()}, "
          f"orders in memory {orders_bytes / 1e9:.2f} GB (memory_usage(deep=True))")
    numeric = [name for name in ("seller_id", "buyer_id")
               if fixed_width_numbers(arrow_strings(orders[name])) is not None]
    print("ids: " + (f"{' and '.join(numeric)} are fixed-width numeric ids (the builder's "
                     "numpy path reads them as integers; its compiled path hashes every id "
                     "alike)" if numeric else
                     "free-form strings (ids hashed from the Arrow buffers, compared exactly)"))
    threads = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()
    from features import _kernels

    builder_threads = args.threads or _kernels.default_threads()
    path = (f"its compiled single-pass path (numba {_numba_version()}) in {builder_threads} "
            "thread(s)" if _kernels.available() else
            f"its numpy path (numba missing) in {args.threads or 1} thread(s)")
    print(f"machine: {os.cpu_count()} CPUs, load average {_load()} at start; DuckDB "
          f"{duckdb.__version__} with its default threads ({threads[0] if threads else '?'}); "
          f"the builder runs {path}")
    first = first_call_seconds()
    if first is not None:
        print(f"compiled kernels, first call in a fresh process (not in the timings): "
              f"{first[0]:.2f} s with an empty cache (compiling), {first[1]:.2f} s with the "
              "cache filled (loading)")

    def ours() -> pd.DataFrame:
        return build_features(orders, sellers, as_of, features=CORE_FEATURES,
                              threads=args.threads)

    build_features(orders.iloc[:1000], sellers, as_of, features=CORE_FEATURES)  # warm-up

    import pyarrow as pa

    orders_arrow = pa.Table.from_pandas(orders, preserve_index=False)  # not timed
    sellers_arrow = pa.Table.from_pandas(sellers, preserve_index=False)
    (ours_median, ours_times, ours_result), \
        (duck_pandas_median, duck_pandas_times, duck_result), \
        (duck_arrow_median, duck_arrow_times, duck_arrow_result) = timed_in_turn(
            [ours, lambda: duckdb_core(orders, sellers, as_of),
             lambda: duckdb_core(orders_arrow, sellers_arrow, as_of)], args.repeat)
    worst = max(compare(ours_result, duck_result), compare(ours_result, duck_arrow_result))

    full_line = ""
    if args.full:
        full_median, full_times, full_table = timed(
            lambda: build_features(orders, sellers, as_of, threads=args.threads), args.repeat)
        full_rss = peak_rss_delta(
            lambda: build_features(orders, sellers, as_of, threads=args.threads))
        full_line = (f"builder  (full build, all {full_table.shape[1]} features, for "
                     f"information): {n_orders / full_median / 1e6:6.2f} M orders/s (median "
                     f"{full_median:.3f} s)  runs {', '.join(f'{t:.2f}' for t in full_times)}; "
                     f"RSS high-water {full_rss / orders_bytes:.2f}x the orders")
    rss = peak_rss_delta(ours)
    traced = traced_peak(ours)
    duck_median = min(duck_pandas_median, duck_arrow_median)

    def rate(seconds: float) -> str:
        return f"{n_orders / seconds / 1e6:6.2f} M orders/s (median {seconds:.3f} s)"

    print(f"agreement: all {len(CORE_FEATURES)} core features agree "
          f"(largest relative difference {worst:.2e})")
    print(f"builder  (build_features, features=CORE_FEATURES, pandas frames): {rate(ours_median)}"
          f"  runs {', '.join(f'{t:.2f}' for t in ours_times)}")
    print(f"duckdb   (one SQL query, scanning the pandas frames):            "
          f"{rate(duck_pandas_median)}  runs {', '.join(f'{t:.2f}' for t in duck_pandas_times)}")
    print(f"duckdb   (one SQL query, scanning Arrow tables of the frames):   "
          f"{rate(duck_arrow_median)}  runs {', '.join(f'{t:.2f}' for t in duck_arrow_times)}")
    if full_line:
        print(full_line)
    duck_fastest = min(duck_pandas_times + duck_arrow_times)
    print(f"throughput ratio builder / best duckdb: {duck_median / ours_median:.2f}x "
          f"(target >= 1.5x); fastest runs: {min(ours_times):.3f} s against "
          f"{duck_fastest:.3f} s, {duck_fastest / min(ours_times):.2f}x")
    print(f"builder peak memory: RSS high-water above baseline {rss / 1e9:.2f} GB = "
          f"{rss / orders_bytes:.2f}x the orders; tracemalloc peak {traced / 1e9:.2f} GB = "
          f"{traced / orders_bytes:.2f}x (target <= 3x)")
    print(f"load average at the end: {_load()} (other processes share the CPUs; timings "
          "are wall-clock medians)")
    return 0


def _numba_version() -> str:
    import numba

    return str(numba.__version__)


if __name__ == "__main__":
    sys.exit(main())
