"""Exact TreeSHAP contributions of a LightGBM booster, fast for one row and for a batch.

With a linear base under the booster (``linear``: :class:`models.linear_base.LinearBase`,
the model's raw score being ``linear(x) + booster(x)``), every path adds the linear part's
exact Shapley values (``w_j(x_j) - E[w_j]`` per feature, its expected score to the bias)
and its log-odds to the raw score: one small vectorised step after the tree arithmetic.
Without one (``linear=None``) everything below holds bit for bit.

Both paths return exactly what LightGBM's own ``predict(..., pred_contrib=True)`` returns
(the values :meth:`models.CreditModel.explain` and ``shap.TreeExplainer`` give): one column
per feature plus the bias (expected raw score) last, in raw log-odds. Only the way of
calling LightGBM differs.

- **One row** (:meth:`ContributionEngine.row`): LightGBM's single-row C API
  (``LGBM_BoosterPredictForMatSingleRowFast``), whose configuration is parsed once per
  thread instead of on every call, for the contributions and for the raw score. This is
  the path of an HTTP decision; the Python ``Booster.predict`` wrapper costs more than the
  tree arithmetic for one row.
- **A batch** (:meth:`ContributionEngine.batch`): the path-dependent TreeSHAP values a tree
  gives a row depend only on the row's decision (left or right) at every split of that
  tree, not on the exact feature values. For each tree the rows are therefore grouped by
  that decision pattern (computed here with LightGBM's own decision rules: thresholds,
  missing-value types, default directions, categorical bitsets), LightGBM computes the
  tree's contributions once per distinct pattern (``start_iteration=t, num_iteration=1``),
  and the values are copied to every row of the group. Marketplace sellers fall into a few
  hundred patterns per tree, so most of the TreeSHAP work is skipped. Small batches
  (below :data:`GROUPING_MIN_ROWS` rows) call ``pred_contrib`` on the whole matrix.

The results agree with ``pred_contrib`` to floating-point rounding of the sum over trees
(about 1e-15); the tests and ``bench/explain.py`` check it.

The single-row path reaches LightGBM's C library through ``lightgbm.basic``'s private
``_LIB`` and the booster's private ``_handle`` (pyproject.toml keeps LightGBM below its next
major version for that reason). :meth:`ContributionEngine.verify_fast_path` compares it with
the public ``Booster.predict(..., pred_contrib=True)`` on a few rows (a
:class:`scoring.Scorer` does so when it loads a model); when they disagree, or the fast path
fails, the engine explains single rows with the public call from then on, so a LightGBM
release that changes those internals costs speed, never correctness.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.linear_base import LinearBase

__all__ = ["ContributionEngine", "FAST_PATH_TOLERANCE", "FastPathFallbackWarning",
           "GROUPING_MIN_ROWS"]

#: Batches with fewer rows are explained by one ``pred_contrib`` call on the whole matrix.
GROUPING_MIN_ROWS = 1000
#: Largest gap allowed between the fast single-row path and the public ``pred_contrib``
#: call, relative to ``max(1, largest |public value|)`` of the row (both run the same tree
#: arithmetic, so they normally agree to the last bit).
FAST_PATH_TOLERANCE = 1e-9
#: LightGBM treats values this close to zero as zero (``kZeroThreshold``).
_ZERO_THRESHOLD = 1e-35

_PREDICT_RAW_SCORE = 1
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1


@dataclass(frozen=True)
class _Tree:
    """The split rules of one tree, as LightGBM applies them at prediction time."""

    index: int
    feature: np.ndarray          # split feature per internal node
    threshold: np.ndarray        # numeric threshold, or index of the categorical bitset
    nan_left: np.ndarray         # where a missing value goes, per node
    zero_is_missing: np.ndarray  # missing type "zero": an exact 0 follows default_left
    default_left: np.ndarray
    categorical: np.ndarray      # node splits on a categorical bitset
    category_tables: dict[int, np.ndarray]  # node -> bool table over codes (True = left)
    used: np.ndarray             # features the tree splits on, plus the bias column


def _parse_trees(booster: lgb.Booster, num_iteration: int) -> list[_Tree | None]:
    """The trees of the model text (``None`` for a single-leaf tree)."""
    text = booster.model_to_string(num_iteration=num_iteration)
    blocks: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("Tree="):
            current = {}
            blocks.append(current)
        elif line.startswith("end of trees"):
            break
        elif current is not None and "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
    n_features = booster.num_feature()
    trees: list[_Tree | None] = []
    for index, block in enumerate(blocks):
        if int(block["num_leaves"]) <= 1:
            trees.append(None)
            continue
        feature = np.array(block["split_feature"].split(), dtype=np.int64)
        threshold = np.array(block["threshold"].split(), dtype=np.float64)
        decision = np.array(block["decision_type"].split(), dtype=np.int64)
        categorical = (decision & 1) > 0
        default_left = (decision & 2) > 0
        missing_type = (decision >> 2) & 3  # 0 none, 1 zero, 2 NaN
        # LightGBM: a NaN becomes 0 unless the missing type is NaN; then a "zero" or "NaN"
        # missing value follows default_left, anything else compares with the threshold.
        nan_left = np.where(missing_type == 2, default_left,
                            np.where(missing_type == 1, default_left, threshold >= 0.0))
        tables: dict[int, np.ndarray] = {}
        if categorical.any():
            boundaries = np.array(block["cat_boundaries"].split(), dtype=np.int64)
            words = np.array(block["cat_threshold"].split(), dtype=np.uint64)
            for node in np.flatnonzero(categorical):
                k = int(threshold[node])
                bitset = words[boundaries[k]:boundaries[k + 1]]
                codes = np.arange(len(bitset) * 32, dtype=np.uint64)
                tables[int(node)] = ((bitset[codes // 32] >> (codes % 32)) & 1) > 0
            nan_left = np.where(categorical, False, nan_left)  # NaN goes right
        used = np.unique(np.append(feature, n_features))
        trees.append(_Tree(index, feature, threshold, nan_left.astype(bool),
                           missing_type == 1, default_left, categorical, tables, used))
    return trees


def _pattern_codes(left: np.ndarray) -> tuple[np.ndarray, int]:
    """A code per row, equal for rows with the same decisions, and the number of codes.

    The decisions are packed into float64 keys (exact below 2**53): 52 nodes at a time,
    each further block of nodes added to the codes found so far.
    """
    codes = np.zeros(len(left), dtype=np.int64)
    n_codes, start = 1, 0
    while start < left.shape[1]:
        width = 53 - int(n_codes).bit_length()
        part = left[:, start:start + width]
        key = part.astype(np.float64) @ (2.0 ** np.arange(part.shape[1]))
        key += codes * 2.0 ** part.shape[1]
        found, uniques = pd.factorize(key)
        codes, n_codes = found.astype(np.int64), len(uniques)
        start += width
    return codes, n_codes


#: Trees with at most this many internal nodes index their decision patterns directly
#: (``2**nodes`` codes); larger ones factorise them.
_DIRECT_CODE_NODES = 12


def _tree_codes(left: np.ndarray) -> tuple[np.ndarray, int, bool]:
    """A code per row, equal for rows with the same decisions at every node of a tree
    (``left``: nodes x rows), the number of codes, and whether they were factorised (dense:
    every code is used) or are the decision bits themselves (``2**nodes`` codes, some
    unused)."""
    n_nodes = left.shape[0]
    if n_nodes > 63:
        codes, n_codes = _pattern_codes(np.ascontiguousarray(left.T))
        return codes, n_codes, True
    kind = (np.uint8 if n_nodes <= 8 else np.uint16 if n_nodes <= 16
            else np.uint32 if n_nodes <= 32 else np.int64)
    as_bytes = left.view(np.uint8)  # 0 or 1 per node and row
    bits = as_bytes[0].astype(kind)
    for node in range(1, n_nodes):  # disjoint bits: adding is or-ing
        bits += np.multiply(as_bytes[node], kind(1 << node), dtype=kind)
    if n_nodes <= _DIRECT_CODE_NODES:
        return bits.astype(np.intp), 1 << n_nodes, False
    found, uniques = pd.factorize(bits)
    return found.astype(np.intp), len(uniques), True


class _FastRow:
    """LightGBM single-row predictors of one thread (contributions and raw score)."""

    def __init__(self, booster: lgb.Booster, num_iteration: int, n_features: int) -> None:
        from lightgbm.basic import _LIB, _c_str, _safe_call

        self._lib = _LIB
        self._safe_call = _safe_call
        self.handles: list[ctypes.c_void_p] = []
        for kind in (_PREDICT_CONTRIB, _PREDICT_RAW_SCORE):
            handle = ctypes.c_void_p()
            _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle, ctypes.c_int(kind), ctypes.c_int(0),
                ctypes.c_int(num_iteration), ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features), _c_str("num_threads=1"), ctypes.byref(handle)))
            self.handles.append(handle)
        self.booster = booster  # the handles live as long as the booster
        self.out_len = ctypes.c_int64()
        self._out_len_ref = ctypes.byref(self.out_len)
        self.contrib = np.empty(n_features + 1, dtype=np.float64)
        self.raw = np.empty(1, dtype=np.float64)
        # the row is copied into this thread's own input buffer: one fixed pointer instead
        # of a ctypes view of every row
        self.input = np.empty(n_features, dtype=np.float64)
        double_p = ctypes.POINTER(ctypes.c_double)
        self._contrib_p = self.contrib.ctypes.data_as(double_p)
        self._raw_p = self.raw.ctypes.data_as(double_p)
        self._input_p = ctypes.c_void_p(self.input.ctypes.data)
        self._predict = _LIB.LGBM_BoosterPredictForMatSingleRowFast

    def predict(self, row: np.ndarray) -> tuple[np.ndarray, float]:
        self.input[:] = row
        data = self._input_p
        predict = self._predict
        if (predict(self.handles[0], data, self._out_len_ref, self._contrib_p)
                or predict(self.handles[1], data, self._out_len_ref, self._raw_p)):
            self._safe_call(-1)  # raises LightGBM's last error
        return self.contrib.copy(), float(self.raw[0])

    def __del__(self) -> None:
        for handle in getattr(self, "handles", []):
            self._lib.LGBM_FastConfigFree(handle)


class FastPathFallbackWarning(UserWarning):
    """LightGBM's fast single-row path disagreed with the public ``pred_contrib`` call (or
    failed); single rows are explained with the public call instead (slower, as exact)."""


class ContributionEngine:
    """Exact TreeSHAP contributions and raw scores of a binary LightGBM booster.

    Parameters
    ----------
    booster : the fitted booster (one tree per iteration, as for binary objectives).
    num_iteration : number of iterations (trees) that make up the model.
    n_threads : LightGBM threads of the batch calls (the single-row path uses one).
    linear : the model's linear base, added to every contribution and raw score (``None``:
        the booster alone).

    Attributes
    ----------
    uses_fast_path : whether :meth:`row` calls LightGBM's single-row C API (``True``) or the
        public ``Booster.predict`` (after :meth:`verify_fast_path` found a disagreement).

    Notes
    -----
    Safe to share between threads: the single-row predictors are per thread, everything
    else is read-only once :meth:`verify_fast_path` has run (call it before sharing).
    """

    def __init__(self, booster: lgb.Booster, num_iteration: int, *, n_threads: int = 1,
                 linear: LinearBase | None = None) -> None:
        if booster.num_model_per_iteration() != 1:
            raise ValueError("only single-output (binary) boosters are supported; got "
                             f"{booster.num_model_per_iteration()} trees per iteration")
        if n_threads < 1:
            raise ValueError(f"n_threads must be >= 1; got {n_threads}")
        self.booster = booster
        self.num_iteration = int(num_iteration)
        self.n_threads = int(n_threads)
        self.n_features = booster.num_feature()
        self._trees = _parse_trees(booster, self.num_iteration)
        self._local = threading.local()
        self.uses_fast_path = True
        if linear is not None and linear.n_features != self.n_features:
            raise ValueError(f"the linear base has {linear.n_features} features, the booster "
                             f"{self.n_features}")
        self.linear = linear

    # ----------------------------------------------------------------- one row
    def row(self, row: np.ndarray) -> tuple[np.ndarray, float]:
        """Contributions (features then bias) and the raw score of one encoded row."""
        if row.dtype != np.float64:
            row = np.asarray(row, dtype=np.float64)
        if not self.uses_fast_path:
            contributions, raw = self._public_row(row)
        else:
            contributions, raw = self._fast_row().predict(row)
        if self.linear is None:
            return contributions, raw
        # the contributions are this call's own array: the linear part is added in place
        return contributions, raw + self.linear.add_row(row, contributions)

    def _fast_row(self) -> _FastRow:
        fast: _FastRow | None = getattr(self._local, "fast", None)
        if fast is None:
            fast = _FastRow(self.booster, self.num_iteration, self.n_features)
            self._local.fast = fast
        return fast

    def _public_row(self, row: np.ndarray) -> tuple[np.ndarray, float]:
        """:meth:`row` through the public ``Booster.predict`` (two calls: slower, as exact)."""
        matrix = row.reshape(1, -1)
        contributions = np.asarray(self.booster.predict(
            matrix, pred_contrib=True, num_iteration=self.num_iteration, num_threads=1),
            dtype=np.float64)[0]
        raw = self.booster.predict(matrix, raw_score=True, num_iteration=self.num_iteration,
                                   num_threads=1)
        return contributions, float(np.asarray(raw, dtype=np.float64)[0])

    def verify_fast_path(self, rows: np.ndarray, *,
                         tolerance: float = FAST_PATH_TOLERANCE) -> str | None:
        """Check the fast single-row path against the public call; fall back when it differs.

        Every row is explained both ways: by LightGBM's single-row C API (reached through
        private LightGBM internals) and by the public ``Booster.predict(...,
        pred_contrib=True)`` and ``raw_score=True``. When a value differs by more than
        ``tolerance * max(1, largest |public value| of the row)``, or the fast path raises,
        :meth:`row` uses the public call from then on (``uses_fast_path`` becomes
        ``False``).

        Parameters
        ----------
        rows : encoded rows, shape ``(n_rows, n_features)`` (a few are enough; they should
            reach different leaves, e.g. values spread over the training range and a row of
            missing values).
        tolerance : relative tolerance of the comparison.

        Returns
        -------
        str or None
            Why the fast path was given up, or ``None`` when it agreed on every row.

        Raises
        ------
        ValueError
            ``rows`` is not a matrix with ``n_features`` columns.
        """
        matrix = np.ascontiguousarray(rows, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(f"expected rows with {self.n_features} columns; got shape "
                             f"{matrix.shape}")
        reason = self._fast_path_problem(matrix, tolerance)
        if reason is not None:
            self.uses_fast_path = False
            self._local = threading.local()  # drop this thread's fast predictor
        return reason

    def _fast_path_problem(self, matrix: np.ndarray, tolerance: float) -> str | None:
        public = np.asarray(self.booster.predict(matrix, pred_contrib=True,
                                                 num_iteration=self.num_iteration,
                                                 num_threads=1), dtype=np.float64)
        public_raw = np.asarray(self.booster.predict(matrix, raw_score=True,
                                                     num_iteration=self.num_iteration,
                                                     num_threads=1), dtype=np.float64)
        for position, row in enumerate(matrix):
            try:
                contributions, raw = self._fast_row().predict(row)
                contributions = np.asarray(contributions, dtype=np.float64)
            except Exception as exc:  # any failure of the private API means: do not use it
                return (f"LightGBM's fast single-row path failed ({type(exc).__name__}: "
                        f"{exc})")
            expected = np.append(public[position], public_raw[position])
            if contributions.shape != public[position].shape:
                return (f"the fast single-row path returned {contributions.shape[0]} values "
                        f"per row where pred_contrib returns {public.shape[1]}")
            found = np.append(contributions, raw)
            gap = np.abs(found - expected)
            bound = tolerance * max(1.0, float(np.abs(expected).max()))
            if not np.all(gap <= bound):  # NaN gaps fail too
                column = int(np.argmax(np.where(np.isnan(gap), np.inf, gap)))
                what = ("the raw score" if column == len(contributions)
                        else "the bias" if column == len(contributions) - 1
                        else f"feature column {column}")
                return (f"LightGBM's fast single-row path disagrees with "
                        f"predict(pred_contrib=True) on check row {position}, {what}: "
                        f"{found[column]!r} against {expected[column]!r}")
        return None

    # ------------------------------------------------------------------ batch
    def raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds of every row (LightGBM's own prediction, plus the linear base's)."""
        if len(matrix) == 0:
            return np.zeros(0, dtype=np.float64)
        raw = np.asarray(self.booster.predict(matrix, raw_score=True,
                                              num_iteration=self.num_iteration,
                                              num_threads=self.n_threads), dtype=np.float64)
        return raw if self.linear is None else raw + self.linear.raw(matrix)

    def batch(self, matrix: np.ndarray) -> np.ndarray:
        """Contributions of every row: shape ``(n_rows, n_features + 1)``, bias last."""
        return self._contributions(matrix)[0]

    def explain(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`batch` and :meth:`raw_scores` of every row, the same values as the two
        calls, with the linear base's terms evaluated once."""
        contributions, matrix, linear_raw = self._contributions(matrix, with_raw=True)
        if len(matrix) == 0:
            return contributions, np.zeros(0, dtype=np.float64)
        raw = np.asarray(self.booster.predict(matrix, raw_score=True,
                                              num_iteration=self.num_iteration,
                                              num_threads=self.n_threads), dtype=np.float64)
        return contributions, (raw if linear_raw is None else raw + linear_raw)

    def _contributions(self, matrix: np.ndarray, *, with_raw: bool = False
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The contributions, the checked matrix and (``with_raw``, with a linear base) the
        linear part's raw scores."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns; got shape "
                             f"{matrix.shape}")
        if len(matrix) == 0:
            return np.zeros((0, self.n_features + 1), dtype=np.float64), matrix, None
        if len(matrix) < GROUPING_MIN_ROWS:
            trees = np.asarray(self.booster.predict(matrix, pred_contrib=True,
                                                    num_iteration=self.num_iteration,
                                                    num_threads=self.n_threads),
                               dtype=np.float64)
        else:
            trees = self._grouped(matrix)
        if self.linear is None:
            return trees, matrix, None
        # in place: the same sums as trees + linear.contributions(matrix)
        linear_raw = self.linear.add_to(trees, matrix)
        return trees, matrix, (linear_raw if with_raw else None)

    def _grouped(self, matrix: np.ndarray) -> np.ndarray:
        n_rows = len(matrix)
        # One contiguous row of values per feature; as LightGBM reads a dense row, values
        # within 1e-35 of zero are zero.
        columns = np.ascontiguousarray(matrix.T)
        np.copyto(columns, 0.0, where=np.abs(columns) <= _ZERO_THRESHOLD)
        missing: dict[int, np.ndarray | None] = {}  # feature -> where it is NaN (None: nowhere)
        out_t = np.zeros((self.n_features + 1, n_rows), dtype=np.float64)
        backwards = np.arange(n_rows - 1, -1, -1)
        # A tree's bias (its expected value) is the same for every row: added as one number
        # while it is (the same sums, row by row), per pattern otherwise.
        bias: float | None = 0.0
        for tree in self._trees:
            if tree is None:
                continue
            left = self._tree_decisions(columns, tree, missing)
            codes, n_codes, factorized = _tree_codes(left)
            first = np.full(n_codes, -1, dtype=np.int64)
            first[codes[::-1].copy()] = backwards  # first row of each decision pattern
            present = np.flatnonzero(first >= 0) if not factorized else None
            rows = first if present is None else first[present]
            contrib = np.asarray(self.booster.predict(
                matrix[rows], start_iteration=tree.index, num_iteration=1,
                pred_contrib=True, num_threads=self.n_threads), dtype=np.float64)
            expected = contrib[:, -1]
            same = bias is not None and bool(np.all(expected == expected[0]))
            if bias is not None and same:
                bias += float(expected[0])
            elif bias is not None:
                out_t[-1] = bias
                bias = None
            for feature in tree.used[:len(tree.used) - same].tolist():  # tree order
                values = contrib[:, feature]
                if present is not None:  # a value per possible code
                    full = np.zeros(n_codes, dtype=np.float64)
                    full[present] = values
                    values = full
                out_t[feature] += np.take(values, codes)
        if bias is not None:
            out_t[-1] = bias
        single_leaf = [t for t, tree in enumerate(self._trees) if tree is None]
        for index in single_leaf:  # a constant tree only moves the bias
            leaf = np.asarray(self.booster.predict(matrix[:1], start_iteration=index,
                                                   num_iteration=1, pred_contrib=True))
            out_t[-1] += leaf[0, -1]
        return np.ascontiguousarray(out_t.T)

    @staticmethod
    def _tree_decisions(columns: np.ndarray, tree: _Tree,
                        missing: dict[int, np.ndarray | None]) -> np.ndarray:
        """``True`` where a row goes left at a node: (internal nodes x rows), from the
        feature-major values ``columns`` by LightGBM's rules (thresholds, missing-value
        types, default directions, categorical bitsets); ``missing`` caches where each
        feature is NaN."""
        left = np.empty((len(tree.feature), columns.shape[1]), dtype=bool)
        for node, feature in enumerate(tree.feature.tolist()):
            values = columns[feature]
            table = tree.category_tables.get(node)
            if table is not None:
                # LightGBM truncates to an integer; negative or missing goes right
                inside = ~np.isnan(values) & (values > -1.0) & (values < len(table))
                codes = np.where(inside, values, 0.0).astype(np.int64)
                np.logical_and(inside, table[codes], out=left[node])
                continue
            if feature not in missing:
                nan = np.isnan(values)
                missing[feature] = nan if nan.any() else None
            np.less_equal(values, tree.threshold[node], out=left[node])
            nan = missing[feature]
            if nan is not None:
                np.copyto(left[node], tree.nan_left[node], where=nan)
            if tree.zero_is_missing[node]:
                np.copyto(left[node], tree.default_left[node], where=values == 0.0)
        return left
