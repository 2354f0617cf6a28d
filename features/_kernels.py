"""Compiled single-pass kernels for the order features most builds need (numba).

:func:`order_aggregates` turns the orders into per-seller sums in three passes over the
rows, each split across threads (the kernels release the GIL):

1. in row order: each order's seller id is hashed straight from the Arrow string buffer
   and looked up in a hash table of the sellers (exact: the bytes are compared); orders of
   kept sellers placed before as_of are added to their seller's sums by age band (order
   count, GMV in minor units, refunds) and by 30-day month (GMV, order count), and the
   orders of the last 365 days are counted per seller;
2. the orders of the last 365 days are laid out seller after seller (a counting sort),
   each with its buyer id's 64-bit hash, its amount in minor units and its row;
3. seller by seller, a small hash table (it stays in the cache) groups the seller's orders
   by buyer: a row joins a buyer when the hashes are equal *and* the id bytes are equal,
   so a hash collision can never merge two buyers. It gives distinct buyers (365 and 90
   days), the largest buyer's GMV, buyers with two or more orders, and buyers new in the
   last 90 days.

Every sum holds whole numbers (counts, minor units) in float64, exact below 2**53, so the
result does not depend on the order of the rows or on how they are split across threads:
it equals the numpy path's exactly. Compiled code is cached on disk (``cache=True``): the
first call on a machine compiles for a few seconds, later processes load it.

numba is optional: :func:`available` says whether it can be imported; the builder falls
back to its numpy path otherwise.
"""

from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["available", "order_aggregates", "OrderAggregates", "default_threads",
           "N_BANDS", "N_MONTH_COLUMNS"]

_NJIT: Any = None
try:  # numba is optional: without it the builder uses its numpy path
    from numba import njit as _numba_njit

    _NJIT = _numba_njit
except ImportError:  # pragma: no cover - exercised only without numba
    pass

N_BANDS = 7  # must equal features.builder._N_BANDS
N_MONTH_COLUMNS = 13  # 12 months and an overflow column, as in features.builder._monthly
# column layout of the per-seller sums: a band's order count and GMV side by side (one
# cache line), then GMV by month and refunds by band; rows padded to whole cache lines
_COUNT, _CENTS = 0, 1  # column of band b: 2 * b + _COUNT, 2 * b + _CENTS
_MONTH_CENTS = 2 * N_BANDS
_REFUNDS = _MONTH_CENTS + N_MONTH_COLUMNS
_N_COLUMNS = 40  # _REFUNDS + N_BANDS = 34, padded to 5 cache lines
# the extra columns, kept only when asked for
_REFUND_CENTS = _N_COLUMNS
_MONTH_COUNT = _REFUND_CENTS + N_BANDS
_N_COLUMNS_EXTRA = 64  # _MONTH_COUNT + N_MONTH_COLUMNS = 60, padded
_NAT = np.iinfo(np.int64).min
#: Below this many orders one thread is used (threads cost more than they save).
_PARALLEL_MIN_ROWS = 200_000
#: Pieces of work per thread in each pass (threads take them in turn).
_CHUNKS_PER_THREAD = 16


def available() -> bool:
    """Whether the compiled kernels can run (numba importable)."""
    return _NJIT is not None


def default_threads() -> int:
    """Threads used when the caller does not say: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class OrderAggregates:
    """Per-seller sums (rows: kept sellers, in code order), whole numbers held in float64.

    ``band_*`` have :data:`N_BANDS` columns (age bands of ``features.builder``), ``month_*``
    :data:`N_MONTH_COLUMNS` (month 0 = the 30 days before as_of, the last one: older).
    """

    band_counts: np.ndarray
    band_cents: np.ndarray
    band_refunds: np.ndarray
    band_refund_cents: np.ndarray | None  # None unless asked for (``with_extras``)
    month_cents: np.ndarray
    month_counts: np.ndarray | None  # None unless asked for (``with_extras``)
    buyers_365d: np.ndarray
    buyers_90d: np.ndarray
    repeat_buyers_365d: np.ndarray
    new_buyers_90d: np.ndarray
    top_buyer_cents_365d: np.ndarray
    window_cents: np.ndarray


@dataclass(frozen=True)
class _Strings:
    """The buffers of an Arrow (large_)string array without nulls, for the kernels."""

    offsets: np.ndarray  # int64, len + 1 entries, into ``data``
    data: np.ndarray  # uint8
    words: np.ndarray  # uint64 view starting at every byte with 8 bytes after it


def _strings(values: pa.Array) -> _Strings | None:
    if values.null_count or not (pa.types.is_large_string(values.type)
                                 or pa.types.is_string(values.type)):
        return None
    offset_type = np.int64 if pa.types.is_large_string(values.type) else np.int32
    buffers = values.buffers()
    n = len(values)
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[values.offset:values.offset + n + 1]
    offsets = offsets.astype(np.int64, copy=False)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None \
        else np.zeros(0, dtype=np.uint8)
    if len(data) < 8:  # too short for one word: a zero-padded copy
        padded = np.zeros(8, dtype=np.uint8)
        padded[:len(data)] = data
        data = padded
    words = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    return _Strings(offsets, data, words)


def _pieces(values: pa.Array | pa.ChunkedArray) -> tuple[list[_Strings], np.ndarray] | None:
    """The buffers of each chunk of a string column (no copy) and the row each starts at."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    pieces = []
    starts = [0]
    for chunk in chunks:
        piece = _strings(chunk)
        if piece is None:
            return None
        pieces.append(piece)
        starts.append(starts[-1] + len(chunk))
    return pieces, np.asarray(starts, dtype=np.int64)


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _run(threads: int, jobs: list[Any]) -> list[Any]:
    """Run zero-argument callables, on threads when there are several: each thread takes
    the next job when it is done with one, so a thread slowed down by other work on the
    machine takes fewer."""
    if threads <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(min(threads, len(jobs)), thread_name_prefix="features") as pool:
        return [future.result() for future in [pool.submit(job) for job in jobs]]


def order_aggregates(seller_ids: pa.Array | pa.ChunkedArray,
                     buyer_ids: pa.Array | pa.ChunkedArray, known_sellers: pa.Array,
                     code_of_position: np.ndarray, n_sellers: int, created: np.ndarray,
                     amount: np.ndarray, refunded_at: np.ndarray,
                     refunded_amount: np.ndarray, as_of_ns: int, band_edges: np.ndarray,
                     month_ns: int, window_ns: int, recent_ns: int, threads: int,
                     with_buyers: bool = True,
                     with_extras: bool = True) -> OrderAggregates | tuple[int, int] | None:
    """Per-seller sums of the orders (see the module docstring).

    Parameters
    ----------
    seller_ids, buyer_ids : each order's ids (Arrow strings, one row per order; chunked
        arrays are read chunk by chunk, without a copy).
    known_sellers : the sellers' ids (Arrow strings); ``code_of_position[i]`` is the code
        of the seller at position ``i`` (-1: not kept, its orders are skipped).
    n_sellers : number of seller codes.
    created, refunded_at : int64 nanoseconds (NaT = int64 minimum); amount and
        refunded_amount float64; one entry per order.
    band_edges : inclusive upper edges of the age bands, in ns.
    month_ns, window_ns, recent_ns : a month, the buyer window (365 days) and the recent
        window (90 days), in ns.
    threads : threads to split the passes across.
    with_buyers : whether to group the orders by buyer (else the buyer figures are 0).
    with_extras : whether to sum refunded minor units by band and orders by month.

    Returns
    -------
    OrderAggregates, or ``(count, first_row)`` of orders whose seller is not among
    ``known_sellers``, or None when an id column cannot be read by the kernels (nulls, not
    strings): the caller then uses its numpy path.
    """
    orders_p = _pieces(seller_ids)
    sellers_s = _strings(known_sellers)
    buyers_p = _pieces(buyer_ids) if with_buyers else orders_p
    if orders_p is None or sellers_s is None or buyers_p is None:
        return None
    n_rows = len(seller_ids)
    threads = max(1, threads if n_rows >= _PARALLEL_MIN_ROWS else 1)
    # many more chunks than threads, taken in turn (see _run), each inside one Arrow chunk
    # of either id column
    cut_rows = {0, n_rows, *orders_p[1].tolist(), *buyers_p[1].tolist()}
    for lo, _ in _split(n_rows, 1 if threads == 1 else threads * _CHUNKS_PER_THREAD):
        cut_rows.add(lo)
    ordered = sorted(cut_rows)
    chunks = [(lo, hi) for lo, hi in zip(ordered[:-1], ordered[1:], strict=True) if hi > lo]

    def piece(pieces: tuple[list[_Strings], np.ndarray], row: int) -> tuple[_Strings, int]:
        index = int(np.searchsorted(pieces[1], row, side="right")) - 1
        return pieces[0][index], int(pieces[1][index])
    code_of_position = np.ascontiguousarray(code_of_position, dtype=np.int64)

    size = 1 << max(4, (2 * len(known_sellers)).bit_length())
    table = np.zeros((size, 4), dtype=np.uint64)
    _build_table(sellers_s.offsets, sellers_s.data, sellers_s.words, table)

    # buckets are ranges of 2**shift seller codes holding some 2**_BUCKET_LOG2 orders of
    # the last 365 days: laying those out bucket by bucket writes to few places at once,
    # and a bucket's hash table of (seller, buyer) pairs stays in the cache
    wanted_buckets = max(1, min((n_rows >> _BUCKET_LOG2) // 2, 1 << 16))
    shift = max(0, (max(n_sellers, 1) - 1).bit_length() - (wanted_buckets - 1).bit_length())
    shift = min(shift, 16)  # a seller's place in its bucket fits in 16 bits of a record
    n_buckets = ((max(n_sellers, 1) - 1) >> shift) + 1

    # pass 1: seller lookup, per-seller sums (one table per chunk of rows, added up after)
    code = np.empty(n_rows if with_buyers else 0, dtype=np.int32)
    counts = np.zeros((len(chunks), n_buckets), dtype=np.int64)
    width = _N_COLUMNS_EXTRA if with_extras else _N_COLUMNS
    accs = [np.zeros((n_sellers, width), dtype=np.float64) for _ in range(threads)]
    free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()  # one per running job
    for each in accs:
        free.put(each)

    def rows_job(index: int) -> Any:
        lo, hi = chunks[index]
        orders_s, base = piece(orders_p, lo)

        def job() -> tuple[int, int, float]:
            acc = free.get()
            try:
                found: tuple[int, int, float] = _pass_rows(
                    lo, hi, base, orders_s.offsets, orders_s.data, orders_s.words,
                    sellers_s.offsets, sellers_s.data, sellers_s.words, table,
                    code_of_position, created, amount, refunded_at, refunded_amount,
                    as_of_ns, band_edges, month_ns, window_ns, with_buyers, with_extras,
                    shift, acc, code, counts[index])
            finally:
                free.put(acc)
            return found

        return job

    unknown = _run(threads, [rows_job(index) for index in range(len(chunks))])
    n_unknown = sum(int(count) for count, _, _ in unknown)
    if n_unknown:
        return n_unknown, min(int(first) for count, first, _ in unknown if count)
    acc = accs[0]
    for other in accs[1:]:
        acc += other
    accs.clear()

    buyers_365 = np.zeros(n_sellers, dtype=np.int64)
    buyers_90 = np.zeros(n_sellers, dtype=np.int64)
    repeat = np.zeros(n_sellers, dtype=np.int64)
    new_90 = np.zeros(n_sellers, dtype=np.int64)
    top = np.zeros(n_sellers, dtype=np.float64)
    window_cents = np.zeros(n_sellers, dtype=np.float64)
    if with_buyers:
        # pass 2: the orders of the last 365 days laid out bucket after bucket; each
        # chunk of rows writes its orders of a bucket after the previous chunks'
        starts = np.zeros(n_buckets + 1, dtype=np.int64)
        np.cumsum(counts.sum(axis=0), out=starts[1:])
        cursors = starts[:-1] + np.cumsum(counts, axis=0) - counts
        records = np.empty((int(starts[-1]), _RECORD), dtype=np.uint64)
        floats = records.view(np.float64)  # the minor units' column

        def scatter_job(index: int) -> Any:
            lo, hi = chunks[index]
            buyers_s, base = piece(buyers_p, lo)
            return lambda: _scatter(lo, hi, base, code, shift, cursors[index],
                                    buyers_s.offsets,
                                    buyers_s.data, buyers_s.words, created, amount, as_of_ns,
                                    recent_ns, records, floats)

        _run(threads, [scatter_job(index) for index in range(len(chunks))])
        code = code[:0]

        # pass 3: bucket by bucket, the (seller, buyer) pairs; threads take ranges of
        # buckets (so of sellers) holding about the same number of orders
        parts = 1 if threads == 1 else threads * _CHUNKS_PER_THREAD
        cuts = np.searchsorted(starts, np.linspace(0, starts[-1], parts + 1)[1:-1])
        bounds = sorted({0, *(int(cut) for cut in cuts), n_buckets})
        largest = int(np.diff(starts).max()) if n_buckets else 0
        # ids longer than 16 bytes are compared byte by byte, found by their row
        long_ids = any(len(each.offsets) > 1 and int(np.diff(each.offsets).max()) > _SHORT
                       for each in buyers_p[0])
        whole = _strings(buyer_ids.combine_chunks() if long_ids
                         and isinstance(buyer_ids, pa.ChunkedArray) else
                         buyer_ids if long_ids else pa.array([], pa.large_string()))
        assert whole is not None
        table_size = 1 << max(4, (2 * largest).bit_length())

        def pairs_job(lo: int, hi: int) -> Any:
            return lambda: _group_pairs(
                lo, hi, shift, starts, records, floats, whole.offsets, whole.data,
                whole.words, table_size, buyers_365, buyers_90, repeat, new_90, top,
                window_cents)

        _run(threads, [pairs_job(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:],
                                                            strict=True) if hi > lo])

    def columns(start: int, width: int, step: int = 1) -> np.ndarray:
        return np.ascontiguousarray(acc[:, start:start + step * width:step])

    return OrderAggregates(
        band_counts=columns(_COUNT, N_BANDS, 2).astype(np.int64),
        band_cents=columns(_CENTS, N_BANDS, 2),
        band_refunds=columns(_REFUNDS, N_BANDS),
        band_refund_cents=columns(_REFUND_CENTS, N_BANDS) if with_extras else None,
        month_cents=columns(_MONTH_CENTS, N_MONTH_COLUMNS),
        month_counts=columns(_MONTH_COUNT, N_MONTH_COLUMNS).astype(np.int64)
        if with_extras else None,
        buyers_365d=buyers_365, buyers_90d=buyers_90, repeat_buyers_365d=repeat,
        new_buyers_90d=new_90, top_buyer_cents_365d=top, window_cents=window_cents,
    )


# --------------------------------------------------------------------------------------------
# The kernels (plain Python when numba is missing: never called then)
# --------------------------------------------------------------------------------------------

def _jit(function: Any) -> Any:
    return function if _NJIT is None else _NJIT(cache=True, nogil=True)(function)


_U8 = np.uint64(8)
_M_LEN = np.uint64(0xC2B2AE3D27D4EB4F)
_M_WORD = np.uint64(0x9E3779B97F4A7C15)
_F1 = np.uint64(0xFF51AFD7ED558CCD)
_F2 = np.uint64(0xC4CEB9FE1A85EC53)


_SHORT = 16  # ids of at most this many bytes are held whole in two words
_BLOCK = 256  # rows per block: hash a block, then probe it (the probes overlap in memory)


@_jit
def _word(data: np.ndarray, words: np.ndarray, at: int, end: int) -> np.uint64:
    """The bytes ``at:min(at + 8, end)`` as a little-endian word, zero past ``end``."""
    if at + 8 <= end:
        return words[at]
    if at < len(words):  # a whole word can be read: keep the string's bytes of it
        return words[at] & ((np.uint64(1) << (np.uint64(end - at) * _U8)) - np.uint64(1))
    value = np.uint64(0)
    shift = np.uint64(0)
    while at < end:
        value |= np.uint64(data[at]) << shift
        shift += _U8
        at += 1
    return value


@_jit
def _mix(h: np.uint64, word: np.uint64) -> np.uint64:
    h = (h ^ word) * _M_WORD
    return h ^ (h >> np.uint64(32))


@_jit
def _finish(h: np.uint64) -> np.uint64:
    """The finaliser of MurmurHash3: every input bit moves every output bit."""
    h ^= h >> np.uint64(33)
    h *= _F1
    h ^= h >> np.uint64(33)
    h *= _F2
    h ^= h >> np.uint64(33)
    return h


@_jit
def _key(offsets: np.ndarray, data: np.ndarray, words: np.ndarray,
         row: int) -> tuple[np.uint64, np.uint64, np.uint64, int]:
    """Hash, first two words (zero-padded) and length of string ``row``.

    Two strings of at most :data:`_SHORT` bytes are equal exactly when their lengths and
    words are; longer ones must be compared byte by byte when the rest matches.
    """
    start = offsets[row]
    end = offsets[row + 1]
    length = end - start
    w0 = _word(data, words, start, end)
    w1 = _word(data, words, start + 8, end) if length > 8 else np.uint64(0)
    h = _mix(_mix(np.uint64(length) * _M_LEN, w0), w1)
    at = start + 16
    while at < end:
        h = _mix(h, _word(data, words, at, end))
        at += 8
    return _finish(h), w0, w1, length


@_jit
def _equal(offsets_a: np.ndarray, data_a: np.ndarray, words_a: np.ndarray, row_a: int,
           offsets_b: np.ndarray, data_b: np.ndarray, words_b: np.ndarray,
           row_b: int) -> bool:
    a = offsets_a[row_a]
    b = offsets_b[row_b]
    length = offsets_a[row_a + 1] - a
    if offsets_b[row_b + 1] - b != length:
        return False
    done = 0
    while done + 8 <= length:
        if words_a[a + done] != words_b[b + done]:
            return False
        done += 8
    while done < length:
        if data_a[a + done] != data_b[b + done]:
            return False
        done += 1
    return True


@_jit
def _build_table(offsets: np.ndarray, data: np.ndarray, words: np.ndarray,
                 table: np.ndarray) -> None:
    """Open addressing of the sellers' ids; a repeated id keeps its first position.

    Each slot holds hash, two words, and ``position << 8 | min(length, 17) << 1 | 1``
    (0: empty).
    """
    mask = len(table) - 1
    for row in range(len(offsets) - 1):
        h, w0, w1, length = _key(offsets, data, words, row)
        meta = np.uint64((row << 8) | (min(length, _SHORT + 1) << 1) | 1)
        slot = np.int64(h & np.uint64(mask))
        while True:
            other = table[slot, 3]
            if other == 0:
                table[slot, 0] = h
                table[slot, 1] = w0
                table[slot, 2] = w1
                table[slot, 3] = meta
                break
            if table[slot, 0] == h and table[slot, 1] == w0 and table[slot, 2] == w1 \
                    and (other & np.uint64(255)) == (meta & np.uint64(255)) \
                    and (length <= _SHORT or _equal(offsets, data, words,
                                                    np.int64(other >> np.uint64(8)),
                                                    offsets, data, words, row)):
                break
            slot = (slot + 1) & mask


#: A bucket holds about 2**_BUCKET_LOG2 orders of the last 365 days, taking half of all
#: orders to be that recent (see order_aggregates).
_BUCKET_LOG2 = 13
#: Words per order in the bucketed layout: the buyer id's first word, its second word
#: (ids of at most 16 bytes) or its hash (longer ids), ``row << 24 | (seller's place in
#: its bucket) << 8 | min(length, 17) << 1 | recent``, the minor units (float64).
_RECORD = 4
_PAIR_BITS = np.uint64(0xFFFFFE)  # the seller's place and the id's length in that word


@_jit
def _pass_rows(lo: int, hi: int, base: int, offsets: np.ndarray, data: np.ndarray,
               words: np.ndarray,
               s_offsets: np.ndarray, s_data: np.ndarray, s_words: np.ndarray,
               table: np.ndarray, code_of_position: np.ndarray, created: np.ndarray,
               amount: np.ndarray, refunded_at: np.ndarray, refunded_amount: np.ndarray,
               as_of: int, band_edges: np.ndarray, month_ns: int, window_ns: int,
               with_buyers: bool, with_extras: bool, shift: int, acc: np.ndarray,
               code: np.ndarray, counts: np.ndarray) -> tuple[int, int, float]:
    """Pass 1 over rows ``lo:hi``: each order's seller looked up, its sums added; with
    buyers, ``code`` gets the seller of each order of the last 365 days (else -1) and
    those orders are counted per bucket. Returns the number of orders of unknown sellers,
    the first of them, and a sum of no meaning (it keeps the loads that warm the cache)."""
    mask = len(table) - 1
    n_edges = len(band_edges)
    n_unknown = 0
    first_unknown = -1
    keys = np.empty((_BLOCK, 4), dtype=np.uint64)
    found = np.empty(_BLOCK, dtype=np.int64)
    sellers = np.empty(_BLOCK, dtype=np.int64)
    bands = np.empty(_BLOCK, dtype=np.int64)
    months = np.empty(_BLOCK, dtype=np.int64)
    ages = np.empty(_BLOCK, dtype=np.int64)
    sink = 0.0
    for block in range(lo, hi, _BLOCK):
        size = min(_BLOCK, hi - block)
        for k in range(size):  # the ids, read in order
            h, w0, w1, length = _key(offsets, data, words, block + k - base)
            keys[k, 0] = h
            keys[k, 1] = w0
            keys[k, 2] = w1
            keys[k, 3] = np.uint64((min(length, _SHORT + 1) << 1) | 1)
        for k in range(size):  # the lookups, independent of each other
            h = keys[k, 0]
            slot = np.int64(h & np.uint64(mask))
            position = np.int64(-1)
            while True:
                meta = table[slot, 3]
                if meta == 0:
                    break
                if table[slot, 0] == h and table[slot, 1] == keys[k, 1] \
                        and table[slot, 2] == keys[k, 2] \
                        and (meta & np.uint64(255)) == keys[k, 3]:
                    candidate = np.int64(meta >> np.uint64(8))
                    if keys[k, 3] <= np.uint64(2 * _SHORT + 1) or _equal(
                            offsets, data, words, block + k - base, s_offsets, s_data, s_words,
                            candidate):
                        position = candidate
                        break
                slot = (slot + 1) & mask
            found[k] = position
        # each order's seller, band and month; reading the seller's sums here, in loads
        # independent of each other, brings them into the cache for the loop after
        warm = 0.0
        for k in range(size):
            row = block + k
            position = found[k]
            seller = code_of_position[position] if position >= 0 else -1
            stamp = created[row]
            if seller < 0 or stamp >= as_of:
                sellers[k] = -1
                continue
            age = as_of - stamp
            band = 0
            while band < n_edges and band_edges[band] < age:
                band += 1
            month = 0 if age <= 0 else min(12, (age - 1) // month_ns)
            sellers[k] = seller
            bands[k] = band
            months[k] = month
            ages[k] = age
            warm += acc[seller, 2 * band] + acc[seller, _MONTH_CENTS + month]
        sink += warm
        for k in range(size):  # the sums
            row = block + k
            if with_buyers:
                code[row] = -1
            if found[k] < 0:
                if n_unknown == 0:
                    first_unknown = row
                n_unknown += 1
                continue
            seller = sellers[k]
            if seller < 0:
                continue
            band = bands[k]
            month = months[k]
            age = ages[k]
            cents = np.rint(amount[row] * 100.0)
            acc[seller, 2 * band + _COUNT] += 1.0
            acc[seller, 2 * band + _CENTS] += cents
            acc[seller, _MONTH_CENTS + month] += cents
            when = refunded_at[row]
            refund = refunded_amount[row]
            refunded = when != _NAT and when < as_of and refund > 0
            if refunded:
                acc[seller, _REFUNDS + band] += 1.0
            if with_extras:
                acc[seller, _MONTH_COUNT + month] += 1.0
                if refunded:
                    acc[seller, _REFUND_CENTS + band] += np.rint(refund * 100.0)
            if with_buyers and age <= window_ns:
                code[row] = seller
                counts[seller >> shift] += 1
    return n_unknown, first_unknown, sink  # the sink keeps the warming loads


@_jit
def _scatter(lo: int, hi: int, base: int, code: np.ndarray, shift: int, cursor: np.ndarray,
             offsets: np.ndarray, data: np.ndarray, words: np.ndarray, created: np.ndarray,
             amount: np.ndarray, as_of: int, recent_ns: int, records: np.ndarray,
             floats: np.ndarray) -> None:
    """Pass 2 over rows ``lo:hi``: lay the orders of the last 365 days out bucket after
    bucket (see :data:`_RECORD`)."""
    for row in range(lo, hi):
        seller = code[row]
        if seller < 0:
            continue
        bucket = seller >> shift
        at = cursor[bucket]
        cursor[bucket] = at + 1
        h, w0, w1, length = _key(offsets, data, words, row - base)
        records[at, 0] = w0
        records[at, 1] = w1 if length <= _SHORT else h
        records[at, 2] = np.uint64((row << 24) | ((seller - (bucket << shift)) << 8)
                                   | (min(length, _SHORT + 1) << 1)
                                   | (1 if as_of - created[row] <= recent_ns else 0))
        floats[at, 3] = np.rint(amount[row] * 100.0)


@_jit
def _group_pairs(lo: int, hi: int, shift: int, starts: np.ndarray, records: np.ndarray,
                 floats: np.ndarray, offsets: np.ndarray, data: np.ndarray,
                 words: np.ndarray, size: int, buyers_365: np.ndarray,
                 buyers_90: np.ndarray, repeat: np.ndarray, new_90: np.ndarray,
                 top: np.ndarray, window_cents: np.ndarray) -> None:
    """Pass 3 over buckets ``lo:hi``: each bucket's orders grouped by (seller, buyer),
    exactly (equal words and lengths; ids longer than 16 bytes compared byte by byte),
    then each pair added to its seller's buyer figures."""
    slot_key = np.zeros((size, 3), dtype=np.uint64)  # as in ``records``; [2] 0: empty
    slot_cents = np.zeros(size, dtype=np.float64)
    slot_orders = np.zeros(size, dtype=np.int64)
    slot_recent = np.zeros(size, dtype=np.int64)
    used = np.empty(size, dtype=np.int64)
    shape = np.uint64(254)  # the length bits of the meta word
    for bucket in range(lo, hi):
        first = starts[bucket]
        last = starts[bucket + 1]
        width = 16  # a table at least twice the bucket's orders, a power of two
        while width < 2 * (last - first):
            width *= 2
        mask = width - 1
        n_used = 0
        for at in range(first, last):
            w0 = records[at, 0]
            w1 = records[at, 1]
            meta = records[at, 2]
            pair = meta & _PAIR_BITS
            h = _finish(_mix(_mix(pair * _M_LEN, w0), w1))
            slot = np.int64(h & np.uint64(mask))
            while True:
                other = slot_key[slot, 2]
                if other == 0:
                    slot_key[slot, 0] = w0
                    slot_key[slot, 1] = w1
                    slot_key[slot, 2] = meta | np.uint64(1)  # never 0 once used
                    slot_cents[slot] = 0.0
                    slot_orders[slot] = 0
                    slot_recent[slot] = 0
                    used[n_used] = slot
                    n_used += 1
                    break
                if slot_key[slot, 0] == w0 and slot_key[slot, 1] == w1 \
                        and (other & _PAIR_BITS) == pair \
                        and ((meta & shape) <= np.uint64(2 * _SHORT) or _equal(
                            offsets, data, words, np.int64(other >> np.uint64(24)), offsets,
                            data, words, np.int64(meta >> np.uint64(24)))):
                    break
                slot = (slot + 1) & mask
            slot_cents[slot] += floats[at, 3]
            slot_orders[slot] += 1
            slot_recent[slot] += np.int64(meta & np.uint64(1))
        for index in range(n_used):
            slot = used[index]
            owner = (bucket << shift) + np.int64((slot_key[slot, 2] >> np.uint64(8))
                                                 & np.uint64(0xFFFF))
            value = slot_cents[slot]
            window_cents[owner] += value
            if value > top[owner]:
                top[owner] = value
            buyers_365[owner] += 1
            if slot_orders[slot] >= 2:
                repeat[owner] += 1
            if slot_recent[slot] > 0:
                buyers_90[owner] += 1
                if slot_recent[slot] == slot_orders[slot]:
                    new_90[owner] += 1
            slot_key[slot, 2] = 0
