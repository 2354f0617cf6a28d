"""Integer codes for string identifiers, exact and fast: the builder's hashing work.

Two jobs dominate the cost of the feature builder: finding each order's seller among the
sellers, and grouping orders by (seller, buyer) pair. Both are exact here, with two paths:

- a fast path for *fixed-width numeric identifiers* (every id is the same non-digit
  prefix followed by the same number of digits, like ``S000123`` or ``B00004711``, the
  common shape of marketplace ids): the digits are read straight from the Arrow string
  buffer as integers, with no hashing at all;
- a general path for any other strings: sellers are looked up with Arrow's ``index_in``;
  buyers are hashed to 64 bits straight from the Arrow buffers, 8 bytes at a time and in
  row order (no string is copied), pairs are grouped on those hashes, and every row is
  then checked against the first row of its pair by comparing the words of their ids,
  so that a hash collision can never merge two buyers (on a collision, or with nulls, the
  pairs are grouped by Arrow's ``dictionary_encode`` instead).

Pairs are grouped *by seller range*: rows are first bucketed by a range of seller codes
(a radix sort on a 16-bit bucket number), then each bucket is factorised on its own. Each
bucket's hash table stays small enough for the CPU cache, which makes grouping millions of
distinct pairs several times faster than one big hash table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["arrow_strings", "arrow_string_chunks", "positions", "fixed_width_numbers",
           "pair_codes", "PairCodes"]

#: Target number of rows per bucket when grouping pairs (hash tables fit in the cache).
_BUCKET_ROWS = 1 << 16
_MAX_DIGITS = 16  # read as two words of 8 digits
#: Rows per block when hashing strings (temporaries of a few MB, reused block after block).
_BLOCK_ROWS = 1 << 18
#: Words of each string kept from hashing, to check groups without reading strings again.
_KEPT_WORDS = 5  # 40 bytes: a UUID in text (36) is kept whole


def arrow_strings(series: pd.Series) -> pa.Array:
    """The values of a string column as one Arrow string array (zero-copy when possible)."""
    if isinstance(series.array, np.ndarray) or series.dtype == object:
        values = pa.array(series.to_numpy(dtype=object), type=pa.large_string(),
                          from_pandas=True)
    else:
        values = pa.array(series.array)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_string(values.type) or pa.types.is_string_view(values.type):
        values = values.cast(pa.large_string())  # one type, so that lookups can compare
    return values


def arrow_string_chunks(series: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The values of a string column as Arrow strings, chunked as the column holds them
    (no copy for Arrow-backed columns); other columns as in :func:`arrow_strings`."""
    if not isinstance(series.array, np.ndarray) and series.dtype != object:
        values = pa.array(series.array)
        if isinstance(values, pa.ChunkedArray) and all(
                pa.types.is_large_string(chunk.type) or pa.types.is_string(chunk.type)
                for chunk in values.chunks):
            return values
    return arrow_strings(series)


@dataclass(frozen=True)
class _Numbers:
    prefix: bytes
    width: int
    values: np.ndarray


def fixed_width_numbers(strings: pa.Array, rows: np.ndarray | None = None) -> _Numbers | None:
    """Numbers of ids shaped ``<prefix><digits>`` with one prefix and one width, else None.

    Two ids of this shape are equal exactly when their numbers are equal, so the numbers
    can stand in for the strings. With ``rows``, only those rows are read (and returned).
    """
    if not (pa.types.is_string(strings.type) or pa.types.is_large_string(strings.type)):
        return None
    n = len(strings)
    if n == 0 or strings.null_count:
        return None
    offset_type = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[strings.offset:strings.offset + n + 1]
    width = int(offsets[1] - offsets[0])
    if width == 0 or int(offsets[-1] - offsets[0]) != width * n:
        return None
    data = np.frombuffer(buffers[2], dtype=np.uint8)[int(offsets[0]):int(offsets[-1])]
    first = data[:width]
    is_digit = (first >= 48) & (first <= 57)
    prefix_length = int(np.argmax(is_digit)) if is_digit.any() else width
    digits = width - prefix_length
    # the first id's shape is checked first: other ids are turned down without a pass
    if digits == 0 or digits > _MAX_DIGITS or not is_digit[prefix_length:].all() \
            or not np.all(np.diff(offsets) == width):
        return None
    matrix = data.reshape(n, width)
    if rows is not None:
        matrix = matrix[rows]
    if prefix_length and not np.array_equal(
            matrix[:, :prefix_length], np.broadcast_to(first[:prefix_length],
                                                       (len(matrix), prefix_length))):
        return None
    # right-align the digits in 8 or 16 bytes, '0'-padded, and read them 8 at a time
    size = 8 if digits <= 8 else 16
    padded = np.full((len(matrix), size), 48, dtype=np.uint8)
    padded[:, size - digits:] = matrix[:, prefix_length:]
    padded -= np.uint8(48)
    if (padded > 9).any():
        return None
    words = padded.view("<u8")
    values = _eight_digits(words[:, -1]).astype(np.int64)
    if size == 16:
        values += _eight_digits(words[:, 0]).astype(np.int64) * 10**8
    return _Numbers(bytes(first[:prefix_length]), digits, values)


def _eight_digits(word: np.ndarray) -> np.ndarray:
    """The number written by 8 decimal digits (one per byte, most significant first).

    Combines neighbouring digits, then pairs, then quadruples with one multiplication each
    (the usual SIMD-within-a-register parse); wrap-around of uint64 is intended.
    """
    word = (word * np.uint64(10 * 256 + 1)) >> np.uint64(8)
    word &= np.uint64(0x00FF00FF00FF00FF)
    word = (word * np.uint64(100 * 65536 + 1)) >> np.uint64(16)
    word &= np.uint64(0x0000FFFF0000FFFF)
    word = (word * np.uint64(10000 * 4294967296 + 1)) >> np.uint64(32)
    return word


def positions(values: pd.Series, universe: pd.Series) -> np.ndarray:
    """Position of each value in ``universe`` (whose values are unique), -1 where absent."""
    needles = arrow_strings(values)
    haystack = arrow_strings(universe)
    fast = _positions_of_numbers(needles, haystack)
    if fast is not None:
        return fast

    found = pc.index_in(needles, value_set=haystack)
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _positions_of_numbers(needles: pa.Array, haystack: pa.Array) -> np.ndarray | None:
    if len(needles) == 0:
        return np.zeros(0, dtype=np.int64)
    wanted = fixed_width_numbers(needles)
    if wanted is None:
        return None
    known = fixed_width_numbers(haystack)
    if known is None or (known.prefix, known.width) != (wanted.prefix, wanted.width):
        return None
    if len(np.unique(known.values)) != len(known.values):
        return None
    largest = int(known.values.max())
    if largest <= 8 * len(known.values) + 4096:  # a dense table is small: direct lookup
        table = np.full(largest + 2, -1, dtype=np.int64)
        table[known.values] = np.arange(len(known.values))
        return table[np.minimum(wanted.values, largest + 1)]
    order = np.argsort(known.values, kind="stable")
    ordered = known.values[order]
    slot = np.minimum(np.searchsorted(ordered, wanted.values), len(ordered) - 1)
    return np.where(ordered[slot] == wanted.values, order[slot], -1)


@dataclass(frozen=True)
class PairCodes:
    """The (seller, buyer) pairs of some orders.

    Attributes
    ----------
    order : permutation of the input rows, grouped by seller range; ``pair`` is aligned
        with the rows taken in this order.
    pair : the pair index of each row (in ``order``), from 0 to ``n_pairs - 1``.
    seller : the seller code of each pair.
    """

    order: np.ndarray
    pair: np.ndarray
    seller: np.ndarray

    @property
    def n_pairs(self) -> int:
        return len(self.seller)


def pair_codes(seller: np.ndarray, buyers: pa.Array, rows: np.ndarray,
               n_sellers: int) -> PairCodes:
    """Group rows by (seller code, buyer id).

    Parameters
    ----------
    seller : seller code of each row, in ``[0, n_sellers)``.
    buyers : buyer ids (Arrow strings); row ``i`` has buyer ``buyers[rows[i]]``.
    rows : position in ``buyers`` of each row.
    n_sellers : number of seller codes.
    """
    n = len(seller)
    wanted_buckets = max(1, min(n // _BUCKET_ROWS, 1 << 15))
    # buckets are ranges of 2**shift seller codes
    shift = max(0, (max(n_sellers, 1) - 1).bit_length() - (wanted_buckets - 1).bit_length())
    bucket = (seller >> shift).astype(np.uint16)
    order = np.argsort(bucket, kind="stable")  # radix sort for 16-bit keys
    bounds = np.concatenate([[0], np.cumsum(np.bincount(bucket))])
    spans = [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
             if hi > lo]
    seller_sorted = seller[order]

    numbers = fixed_width_numbers(buyers, rows)
    bits = int(numbers.values.max()).bit_length() if numbers is not None and n else 0
    if numbers is not None and max(n_sellers, 1).bit_length() + bits <= 62:
        # the key holds the seller code in its high bits and the buyer number in the low
        keys = (seller_sorted << bits) | numbers.values[order]

        def numeric_bucket(span: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
            codes, uniques = pd.factorize(keys[span[0]:span[1]])
            return codes, np.asarray(uniques) >> bits

        return _assemble(order, spans, [numeric_bucket(span) for span in spans])

    if _plain_strings(buyers) and shift <= 32:  # keys keep 32 bits of hash at least
        hashed = _hashed_pairs(order, spans, seller_sorted, shift, buyers, rows)
        if hashed is not None:
            return hashed
    rows_sorted = rows[order]

    # otherwise (nulls, a hash collision): a small dictionary per bucket, then
    # (seller, local buyer) keys
    def string_bucket(span: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = span
        encoded = pc.dictionary_encode(buyers.take(pa.array(rows_sorted[lo:hi])))
        width = max(len(encoded.dictionary), 1)
        local = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        codes, uniques = pd.factorize(seller_sorted[lo:hi] * width + local)
        return codes, np.asarray(uniques) // width

    return _assemble(order, spans, [string_bucket(span) for span in spans])


def _hashed_pairs(order: np.ndarray, spans: list[tuple[int, int]], seller_sorted: np.ndarray,
                  shift: int, buyers: pa.Array, rows: np.ndarray) -> PairCodes | None:
    """Pairs grouped on (seller, hash of the buyer), checked exactly; None on a collision.

    A bucket holds a range of ``2**shift`` seller codes, so the key keeps the seller code's
    low ``shift`` bits exactly, beside ``64 - shift`` bits of the buyer's hash. Each row is
    then checked against the first row of its pair by comparing the words of their buyer
    ids, which were read in row order (sequentially) while hashing; all of it bucket by
    bucket, so that the work stays in the cache.
    """
    read = _read_strings(buyers, rows)
    text = _StringBytes(buyers)
    lengths = read.lengths
    varying = bool(len(lengths)) and lengths.min() != lengths.max()
    n_words = (int(lengths.max()) + 7) // 8 if len(lengths) else 0
    low_bits = (1 << shift) - 1
    buckets = []
    for lo, hi in spans:
        here = order[lo:hi]  # positions in ``rows`` of the bucket's rows
        keys = read.hashes[here]
        keys <<= shift
        keys |= seller_sorted[lo:hi] & low_bits
        codes, _ = pd.factorize(keys)
        # codes are numbered in order of first appearance: a row opens a pair when its
        # code exceeds every code before it
        seen = np.maximum.accumulate(codes)
        opens = np.empty(len(codes), dtype=bool)
        opens[0] = True
        np.greater(seen[1:], seen[:-1], out=opens[1:])
        first = np.flatnonzero(opens)
        others = np.flatnonzero(~opens)
        row, opener_row = here[others], here[first[codes[others]]]
        if varying and not np.array_equal(lengths[row], lengths[opener_row]):
            return None
        for index in range(n_words):
            if index < len(read.words):
                same = np.array_equal(read.words[index][row], read.words[index][opener_row])
            else:  # long strings: the words not kept are read again
                same = np.array_equal(_word_or_zero(text, rows[row], index),
                                      _word_or_zero(text, rows[opener_row], index))
            if not same:
                return None
        buckets.append((codes, seller_sorted[lo:hi][first]))
    return _assemble(order, spans, buckets)


def _word_or_zero(text: _StringBytes, rows: np.ndarray, index: int) -> np.ndarray:
    """Word ``index`` of each string of ``rows``, 0 for strings that end before it."""
    starts, lengths = text.spans(rows)
    words = np.zeros(len(rows), dtype=np.uint64)
    longer = np.flatnonzero(lengths > 8 * index)
    words[longer] = text.word(starts[longer], lengths[longer], index)
    return words


def _assemble(order: np.ndarray, spans: list[tuple[int, int]],
              buckets: list[tuple[np.ndarray, np.ndarray]]) -> PairCodes:
    """Number the pairs bucket after bucket (so the numbering never depends on threads)."""
    pair = np.empty(len(order), dtype=np.int64)
    start = 0
    for (lo, hi), (codes, sellers) in zip(spans, buckets, strict=True):
        np.add(codes, start, out=pair[lo:hi])
        start += len(sellers)  # codes run from 0 to the bucket's number of pairs - 1
    seller = np.concatenate([sellers for _, sellers in buckets]) if buckets \
        else np.zeros(0, dtype=np.int64)
    return PairCodes(order, pair, seller.astype(np.int64, copy=False))


# --------------------------------------------------------------------------------------------
# Hashing any strings straight from the Arrow buffers
# --------------------------------------------------------------------------------------------

#: ``_TAIL_MASKS[k]`` keeps the first k bytes of a little-endian word (k = 8: all of it).
_TAIL_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1],
                       dtype=np.uint64)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd constants of the usual 64-bit mixers
_MIX_LENGTH = np.uint64(0xC2B2AE3D27D4EB4F)
_FINAL_1 = np.uint64(0xFF51AFD7ED558CCD)
_FINAL_2 = np.uint64(0xC4CEB9FE1A85EC53)


class _StringBytes:
    """The bytes of an Arrow string array, read 8 at a time at any position, without copy."""

    def __init__(self, strings: pa.Array) -> None:
        n = len(strings)
        offset_type = np.int64 if pa.types.is_large_string(strings.type) else np.int32
        buffers = strings.buffers()
        self.offsets = np.frombuffer(buffers[1], dtype=offset_type)[
            strings.offset:strings.offset + n + 1]
        data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None \
            else np.zeros(0, dtype=np.uint8)
        # one unaligned little-endian word starting at each byte that has 8 bytes after it
        self.n_words = max(len(data) - 7, 0)
        self.words = np.ndarray((self.n_words,), dtype="<u8", buffer=data, strides=(1,)) \
            if self.n_words else np.zeros(0, dtype=np.uint64)
        # words starting in the last 8 bytes are read from a zero-padded copy of them
        self.tail_start = max(len(data) - 8, 0)
        tail = np.zeros(16, dtype=np.uint8)
        tail[:len(data) - self.tail_start] = data[self.tail_start:]
        self.tail_words = np.ndarray((9,), dtype="<u8", buffer=tail, strides=(1,))

    def spans(self, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Start (in the data buffer) and length in bytes of each string (of ``rows``)."""
        if rows is None:
            starts = self.offsets[:-1].astype(np.int64)
            lengths = np.diff(self.offsets).astype(np.int64, copy=False)
        else:
            starts = self.offsets[rows].astype(np.int64, copy=False)
            lengths = self.offsets[rows + 1] - starts
        return starts, lengths

    def word(self, starts: np.ndarray, lengths: np.ndarray, index: int) -> np.ndarray:
        """Word ``index`` (bytes 8*index to 8*index + 7) of strings longer than 8*index
        bytes; bytes past the end of a string are zero."""
        at = starts + 8 * index
        late = at >= self.n_words
        if late.any():
            words = self.words[np.minimum(at, self.n_words - 1)] if self.n_words \
                else np.zeros(len(at), dtype=np.uint64)
            words[late] = self.tail_words[at[late] - self.tail_start]
        else:
            words = self.words[at]
        remaining = lengths - 8 * index
        if len(remaining) and remaining.min() < 8:
            words &= _TAIL_MASKS[np.minimum(remaining, 8)]
        return words


def _plain_strings(strings: pa.Array) -> bool:
    return (pa.types.is_string(strings.type) or pa.types.is_large_string(strings.type)) \
        and strings.null_count == 0


@dataclass
class _StringKeys:
    """What one sequential read of some strings gives: a hash, the length and the first
    :data:`_KEPT_WORDS` 8-byte words (zero past the end) of each."""

    hashes: np.ndarray
    lengths: np.ndarray
    words: list[np.ndarray]


def _read_strings(strings: pa.Array, rows: np.ndarray | None) -> _StringKeys:
    """Hash, length and first words of each string (of ``rows``), in one sequential read.

    Equal strings have equal hashes; unequal ones almost never do, so callers that must
    be exact compare the words (and lengths) of the strings they group together.
    """
    text = _StringBytes(strings)
    n = len(strings) if rows is None else len(rows)
    hashes = np.empty(n, dtype=np.uint64)
    lengths = np.empty(n, dtype=np.int64)
    words: list[np.ndarray] = []
    for lo in range(0, n, _BLOCK_ROWS):  # blocks keep the temporaries small and reused
        hi = min(lo + _BLOCK_ROWS, n)
        starts, block_lengths = text.spans(np.arange(lo, hi) if rows is None else rows[lo:hi])
        lengths[lo:hi] = block_lengths
        block = block_lengths.astype(np.uint64) * _MIX_LENGTH
        longest = int(block_lengths.max()) if hi > lo else 0
        for index in range((longest + 7) // 8):
            longer = block_lengths > 8 * index
            every = bool(longer.all())
            chosen = slice(None) if every else np.flatnonzero(longer)
            word = text.word(starts[chosen], block_lengths[chosen], index)
            if index < _KEPT_WORDS:
                if index == len(words):
                    words.append(np.zeros(n, dtype=np.uint64))
                words[index][lo:hi][chosen] = word
            mixed = block[chosen]  # a view of the block when every string has the word
            mixed ^= word
            mixed *= _MIX
            mixed ^= mixed >> np.uint64(32)
            if not every:
                block[chosen] = mixed
        # the finaliser of MurmurHash3, so that every input bit moves every output bit
        block ^= block >> np.uint64(33)
        block *= _FINAL_1
        block ^= block >> np.uint64(33)
        block *= _FINAL_2
        block ^= block >> np.uint64(33)
        hashes[lo:hi] = block
    return _StringKeys(hashes.view(np.int64), lengths, words)
