"""A linear base under the booster: an L2 logistic regression whose log-odds the trees boost on.

A candidate whose parameters hold ``{"linear_base": 1}`` (:data:`LINEAR_BASE_KEY`, removed
before LightGBM sees them) is fitted in two steps on the same fitting rows:

1. :meth:`LinearBase.fit`: an L2-regularised logistic regression on the encoded matrix the
   booster sees. A numeric column is winsorised at the 0.5 % and 99.5 % quantiles of the
   fitting rows (trees are indifferent to outliers, a linear term is not), standardised by
   the mean and standard deviation of those rows, a missing value imputed by that mean,
   plus a missing indicator when the fitting rows hold missing values. A categorical
   column is one-hot over the levels the model keeps, plus one indicator for a missing
   value, which is also what a level never seen in training reads as (exactly as for the
   booster). The regularisation strength is chosen among :data:`LINEAR_CS` by
   :data:`LINEAR_INNER_FOLDS`-fold cross-validated log loss on the fitting rows only (at
   most :data:`LINEAR_SELECTION_ROWS` of them, seeded, to keep a large table cheap), then
   the model is refitted on all fitting rows with their weights.
2. The booster is trained with those log-odds as LightGBM's ``init_score`` (its validation
   rows too, so early stopping judges the sum).

The model's raw score is then ``linear(x) + booster(x)``. The linear part is additive,
``intercept + sum_j w_j(x_j)``, so the exact Shapley value of feature ``j`` in it is
``w_j(x_j) - E[w_j(X_j)]`` (the expectation over the fitting rows of the table, stored as
``expected``); its bias is ``intercept + sum_j E[w_j(X_j)]``. Added to the booster's exact
TreeSHAP values feature by feature (and bias to bias), the contributions still add up to
the raw score exactly.

Monotone constraints: a numeric column with a risk direction (registry or override) whose
coefficient comes out with the opposite sign is left out of the linear part (coefficient
0) and the regression refitted with the same strength, until every kept coefficient agrees
with its direction; the trees keep their constraints, so the sum stays monotone. The
missing indicator is not constrained (a missing value has no order).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["LINEAR_BASE_KEY", "LINEAR_CS", "LINEAR_INNER_FOLDS", "LINEAR_SELECTION_ROWS",
           "LinearBase", "LinearTerm", "uses_linear_base", "without_linear_key"]

#: Candidate parameter that asks for a linear base (stripped before LightGBM).
LINEAR_BASE_KEY = "linear_base"
#: Inverse L2 strengths tried by the inner cross-validation (on standardised inputs).
LINEAR_CS: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)
#: Inner folds choosing the strength.
LINEAR_INNER_FOLDS = 3
#: The strength is chosen on at most this many fitting rows (seeded sample).
LINEAR_SELECTION_ROWS = 20_000
#: Winsorising quantiles of the numeric columns.
CLIP_QUANTILES = (0.005, 0.995)


def uses_linear_base(params: Mapping[str, Any]) -> bool:
    """Whether a candidate's parameters ask for a linear base."""
    return bool(params.get(LINEAR_BASE_KEY, 0))


def without_linear_key(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters LightGBM sees: without :data:`LINEAR_BASE_KEY`."""
    return {k: v for k, v in params.items() if k != LINEAR_BASE_KEY}


@dataclass(frozen=True)
class LinearTerm:
    """One feature's term ``w_j(x_j)`` of the linear base.

    Numeric: ``coef * (clip(x, low, high) - center) / scale``, or ``missing`` when ``x`` is
    missing. Categorical: ``levels[code]``, or ``missing`` for a missing or unseen level.
    ``expected`` is the term's mean over the fitting rows.
    """

    name: str
    kind: str
    coef: float = 0.0
    center: float = 0.0
    scale: float = 1.0
    low: float = -np.inf
    high: float = np.inf
    missing: float = 0.0
    levels: tuple[float, ...] = ()
    expected: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "missing": self.missing,
                                "expected": self.expected}
        if self.kind == "numeric":
            data.update({"coef": self.coef, "center": self.center, "scale": self.scale,
                         "low": self.low, "high": self.high})
        else:
            data["levels"] = list(self.levels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearTerm:
        return cls(str(data["name"]), str(data["kind"]), float(data.get("coef", 0.0)),
                   float(data.get("center", 0.0)), float(data.get("scale", 1.0)),
                   float(data.get("low", -np.inf)), float(data.get("high", np.inf)),
                   float(data["missing"]), tuple(float(v) for v in data.get("levels", ())),
                   float(data["expected"]))


@dataclass(frozen=True)
class LinearBase:
    """The fitted linear part of a model (see the module notes).

    Attributes
    ----------
    intercept : the regression's intercept.
    terms : one :class:`LinearTerm` per model column, in column order.
    strength : the chosen ``C`` (inverse L2 strength).
    left_out : numeric columns left out for a coefficient against their monotone direction.
    """

    intercept: float
    terms: tuple[LinearTerm, ...]
    strength: float = 1.0
    left_out: tuple[str, ...] = ()
    _arrays: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                    compare=False)

    def __post_init__(self) -> None:
        numeric = [j for j, t in enumerate(self.terms) if t.kind == "numeric"]
        categorical = [j for j, t in enumerate(self.terms) if t.kind != "numeric"]
        tables, offsets, sizes = [], [], []
        start = 0
        for j in categorical:
            term = self.terms[j]
            tables.append(np.append(np.asarray(term.levels, dtype=np.float64), term.missing))
            offsets.append(start)
            sizes.append(len(term.levels))
            start += len(term.levels) + 1
        # One value per column for the numeric arithmetic, which then runs on whole rows
        # (no gather and scatter of the numeric columns): a categorical column gets bounds,
        # centre and slope 0 (its finite result is overwritten from its table).
        width = len(self.terms)
        low, high = np.zeros(width), np.zeros(width)
        center, slope, missing = np.zeros(width), np.zeros(width), np.zeros(width)
        for j in numeric:
            t = self.terms[j]
            low[j], high[j], center[j], missing[j] = t.low, t.high, t.center, t.missing
            # coefficient per unit of the clipped value: the one product both paths use
            slope[j] = np.float64(t.coef) / np.float64(t.scale)
        self._arrays.update(
            low=low, high=high, center=center, slope=slope, missing=missing,
            categorical=np.asarray(categorical, dtype=np.int64),
            table=(np.concatenate(tables) if tables else np.zeros(0)),
            offsets=np.asarray(offsets, dtype=np.int64),
            sizes=np.asarray(sizes, dtype=np.float64),
            expected=np.array([x.expected for x in self.terms], dtype=np.float64),
            # the single-row path walks the few categorical columns in Python
            row_categorical=[(j, int(o), len(self.terms[j].levels))
                             for j, o in zip(categorical, offsets, strict=True)],
        )
        self._arrays["bias"] = float(self.intercept + float(self._arrays["expected"].sum()))

    @property
    def bias(self) -> float:
        """Expected raw score of the linear part: ``intercept + sum_j E[w_j]``."""
        return float(self._arrays["bias"])

    @property
    def n_features(self) -> int:
        return len(self.terms)

    # ---------------------------------------------------------------- evaluation
    def _numeric_terms(self, x: np.ndarray) -> np.ndarray:
        """``coef * (clip(x, low, high) - center) / scale`` of every column (``missing``
        where ``x`` is missing), rows or one row; categorical columns to be overwritten."""
        a = self._arrays
        out = np.maximum(x, a["low"])
        np.minimum(out, a["high"], out=out)
        np.subtract(out, a["center"], out=out)
        np.multiply(out, a["slope"], out=out)
        np.copyto(out, a["missing"], where=np.isnan(x))
        return out

    def term_values(self, matrix: np.ndarray) -> np.ndarray:
        """``w_j(x_j)`` of every row and column: shape ``(n_rows, n_features)``."""
        a = self._arrays
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.terms):
            raise ValueError(f"expected a matrix with {len(self.terms)} columns; got shape "
                             f"{matrix.shape}")
        out = self._numeric_terms(matrix)
        if len(a["categorical"]):
            codes = matrix[:, a["categorical"]]
            inside = ~np.isnan(codes) & (codes > -1.0) & (codes < a["sizes"])
            index = np.where(inside, codes, a["sizes"]).astype(np.int64) + a["offsets"]
            out[:, a["categorical"]] = a["table"][index]
        return out

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """The linear part's log-odds of every row: ``intercept + sum_j w_j(x_j)``."""
        return self.intercept + self.term_values(matrix).sum(axis=1)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Exact Shapley values of the linear part, features then the bias last; a row adds
        up to :meth:`raw`."""
        terms = self.term_values(matrix)
        out = np.empty((len(terms), terms.shape[1] + 1), dtype=np.float64)
        out[:, :-1] = terms - self._arrays["expected"]
        out[:, -1] = self.bias
        return out

    def add_to(self, contributions: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """Add :meth:`contributions` to ``contributions`` (``(n_rows, n_features + 1)``, bias
        last) in place and return :meth:`raw`: the same values as the two calls (the same
        operations on the same floats), with one evaluation of the terms and no copies."""
        terms = self.term_values(matrix)
        raw = self.intercept + terms.sum(axis=1)
        np.subtract(terms, self._arrays["expected"], out=terms)
        contributions[:, :-1] += terms
        contributions[:, -1] += self.bias
        return raw

    def row(self, row: np.ndarray) -> tuple[np.ndarray, float]:
        """:meth:`contributions` and :meth:`raw` of one encoded row (the same arithmetic as
        the batch, with fewer calls: the path of a single decision)."""
        terms = self._row_terms(row)
        contributions = np.empty(len(terms) + 1, dtype=np.float64)
        np.subtract(terms, self._arrays["expected"], out=contributions[:-1])
        contributions[-1] = self._arrays["bias"]
        return contributions, float(self.intercept + terms.sum())

    def add_row(self, row: np.ndarray, contributions: np.ndarray) -> float:
        """:meth:`row` added to one row's ``contributions`` (bias last) in place; returns
        the linear part's raw score (as :meth:`add_to`, for one row)."""
        a = self._arrays
        terms = self._row_terms(row)
        raw = float(self.intercept + np.add.reduce(terms))  # terms.sum(), without its wrapper
        np.subtract(terms, a["expected"], out=terms)
        head = contributions[:-1]
        np.add(head, terms, out=head)
        contributions[-1] += a["bias"]
        return raw

    def _row_terms(self, row: np.ndarray) -> np.ndarray:
        """:meth:`term_values` of one row."""
        a = self._arrays
        terms = self._numeric_terms(row)
        table = a["table"]
        for j, offset, size in a["row_categorical"]:
            code = float(row[j])
            inside = code == code and -1.0 < code < size
            terms[j] = table[offset + (int(code) if inside else size)]
        return terms

    # ---------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly values (Python floats round-trip exactly through JSON)."""
        return {"intercept": self.intercept, "strength": self.strength,
                "left_out": list(self.left_out), "terms": [t.to_dict() for t in self.terms]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearBase:
        return cls(float(data["intercept"]),
                   tuple(LinearTerm.from_dict(t) for t in data["terms"]),
                   float(data.get("strength", 1.0)),
                   tuple(str(v) for v in data.get("left_out", ())))

    # ---------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, matrix: np.ndarray, y: np.ndarray, specs: Sequence[Any], *,
            weight: np.ndarray | None = None, own_rows: int | None = None,
            groups: np.ndarray | None = None, seed: int = 0) -> LinearBase:
        """Fit on encoded rows (see the module notes).

        Parameters
        ----------
        matrix, y : the fitting rows (encoded as the booster sees them) and their labels.
        specs : the model's :class:`models.credit_model.ColumnSpec` per column.
        weight : instance weight per row (``None``: 1).
        own_rows : the first ``own_rows`` rows are the table's own (the rest are
            augmentation rows): the expectations of the terms are taken over them.
            ``None``: all rows.
        groups : group per row for the inner folds (``None``: rows are independent).
        seed : seed of the inner folds and of the selection sample.
        """
        from sklearn.exceptions import ConvergenceWarning

        matrix = np.asarray(matrix, dtype=np.float64)
        y = np.asarray(y, dtype=float)
        own = len(matrix) if own_rows is None else int(own_rows)
        terms = _design_terms(matrix[:own], specs)
        design, blocks = _design(matrix, terms)
        direction = [int(getattr(s, "monotone", 0)) for s in specs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            strength = _choose_strength(design, y, weight, groups, seed)
            keep = np.ones(design.shape[1], dtype=bool)
            left_out: list[str] = []
            while True:
                coef, intercept = _fit_lr(design[:, np.flatnonzero(keep)], y, weight, strength)
                full = np.zeros(design.shape[1])
                full[keep] = coef
                against = [j for j, t in enumerate(terms) if t.kind == "numeric"
                           and direction[j] != 0 and full[blocks[j][0]] * direction[j] < 0]
                if not against:
                    break
                for j in against:  # the value column (first of the block) only
                    keep[blocks[j][0]] = False
                    left_out.append(terms[j].name)
        fitted = []
        for j, term in enumerate(terms):
            first, width = blocks[j]
            values = full[first:first + width]
            if term.kind == "numeric":
                fitted.append(LinearTerm(term.name, "numeric", coef=float(values[0]),
                                         center=term.center, scale=term.scale, low=term.low,
                                         high=term.high,
                                         missing=float(values[1]) if width > 1 else 0.0))
            else:
                n_levels = len(term.levels)
                fitted.append(LinearTerm(term.name, "categorical",
                                         levels=tuple(float(v) for v in values[:n_levels]),
                                         missing=float(values[n_levels])
                                         if width > n_levels else 0.0))
        base = cls(float(intercept), tuple(fitted), float(strength), tuple(sorted(left_out)))
        expected = base.term_values(matrix[:own]).mean(axis=0)
        final = tuple(LinearTerm(**{**vars(t), "expected": float(e)})
                      for t, e in zip(base.terms, expected, strict=True))
        return cls(base.intercept, final, base.strength, base.left_out)


def _design_terms(matrix: np.ndarray, specs: Sequence[Any]) -> list[LinearTerm]:
    """Unfitted terms: the clip bounds, centre and scale of each numeric column (from the
    table's own fitting rows), the levels of each categorical one (``levels`` holds one
    placeholder per level; ``missing`` is 1 when an indicator is needed)."""
    terms = []
    for j, spec in enumerate(specs):
        column = matrix[:, j]
        missing = np.isnan(column)
        if spec.kind == "numeric":
            seen = column[~missing & np.isfinite(column)]
            if len(seen) == 0:
                terms.append(LinearTerm(spec.name, "numeric", low=0.0, high=0.0,
                                        missing=float(missing.any())))
                continue
            low, high = (float(v) for v in np.quantile(seen, CLIP_QUANTILES))
            clipped = np.clip(column[~missing], low, high)
            center = float(clipped.mean())
            scale = float(clipped.std())
            terms.append(LinearTerm(spec.name, "numeric", center=center,
                                    scale=scale if scale > 0 and np.isfinite(scale) else 1.0,
                                    low=low, high=high, missing=float(missing.any())))
        else:
            terms.append(LinearTerm(spec.name, "categorical",
                                    levels=tuple(0.0 for _ in spec.levels),
                                    missing=float(missing.any())))
    return terms


def _design(matrix: np.ndarray, terms: list[LinearTerm]
            ) -> tuple[sparse.csr_matrix, list[tuple[int, int]]]:
    """The regression's design matrix (sparse) and each term's (first column, width)."""
    parts: list[sparse.spmatrix] = []
    blocks: list[tuple[int, int]] = []
    start = 0
    n = len(matrix)
    for j, term in enumerate(terms):
        column = matrix[:, j]
        missing = np.isnan(column)
        if term.kind == "numeric":
            values = np.where(missing, 0.0,
                              (np.clip(np.where(missing, term.center, column), term.low,
                                       term.high) - term.center) / term.scale)
            cols = [values]
            if term.missing:
                cols.append(missing.astype(np.float64))
            parts.append(sparse.csr_matrix(np.column_stack(cols)))
            width = len(cols)
        else:
            n_levels = len(term.levels)
            inside = ~missing & (column > -1.0) & (column < n_levels)
            width = n_levels + (1 if term.missing else 0)
            codes = np.where(inside, column, n_levels).astype(np.int64)
            rows = np.arange(n)
            keep = codes < width
            parts.append(sparse.csr_matrix(
                (np.ones(int(keep.sum())), (rows[keep], codes[keep])), shape=(n, width)))
        blocks.append((start, width))
        start += width
    return sparse.hstack(parts, format="csr"), blocks


def _choose_strength(design: sparse.csr_matrix, y: np.ndarray, weight: np.ndarray | None,
                     groups: np.ndarray | None, seed: int) -> float:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    rows = np.arange(len(y))
    if len(rows) > LINEAR_SELECTION_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, LINEAR_SELECTION_ROWS,
                                                         replace=False))
    ys = y[rows]
    n_minority = int(min(ys.sum(), len(ys) - ys.sum()))
    n_folds = min(LINEAR_INNER_FOLDS, n_minority)
    if n_folds < 2:
        return 1.0
    positions = np.arange(len(rows))
    folds: list[tuple[np.ndarray, np.ndarray]]
    if groups is not None and pd.Index(groups[rows]).nunique() >= n_folds:
        folds = list(StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed).split(
            positions, ys, groups[rows]))
    else:
        folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(
            positions, ys))
    if any(ys[fit].min() == ys[fit].max() for fit, _ in folds):
        return 1.0
    options: dict[str, Any] = {}
    accepted = inspect.signature(LogisticRegressionCV).parameters
    if "l1_ratios" in accepted:  # scikit-learn >= 1.8: a pure L2 path, said explicitly
        options["l1_ratios"] = (0.0,)
    if "use_legacy_attributes" in accepted:
        options["use_legacy_attributes"] = False
    search = LogisticRegressionCV(Cs=list(LINEAR_CS), cv=folds, scoring="neg_log_loss",
                                  solver="lbfgs", max_iter=500, refit=True, **options)
    search.fit(design[rows], ys, sample_weight=None if weight is None else weight[rows])
    return float(np.ravel(search.C_)[0])


def _fit_lr(design: sparse.csr_matrix, y: np.ndarray, weight: np.ndarray | None,
            strength: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    if design.shape[1] == 0:
        w = np.ones(len(y)) if weight is None else weight
        rate = float(np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6))
        return np.zeros(0), float(np.log(rate / (1 - rate)))
    lr = LogisticRegression(C=strength, solver="lbfgs", max_iter=1000)
    lr.fit(design, y, sample_weight=weight)
    return np.asarray(lr.coef_[0], dtype=np.float64), float(lr.intercept_[0])
