"""The credit-history contract: earlier draws on this lender's credit, and their validation.

An optional third record type. One row is one *draw* (an amount taken on a seller's credit
line or a micro-loan) with its due time and, once fully repaid, the repayment time. It
feeds the ``repayment`` features (utilisation, on-time share, days past due). Validation
works like :mod:`features.records`: every problem with its row number, field and reason;
bad rows set aside, good rows kept, counts of each; strict mode rejects the whole input.

Partial repayments are not part of the contract: a draw counts as outstanding until
``repaid_at``, the time it was repaid in full.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from features.records import (
    DEFAULT_CURRENCIES,
    FieldSpec,
    LoadedRecords,
    Problems,
    check_columns,
    check_fields,
    check_known_sellers,
    check_unique,
    finish_validation,
    read_table,
)

__all__ = [
    "CREDIT_HISTORY_FIELDS",
    "validate_credit_history",
    "load_credit_history",
]

CREDIT_HISTORY_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("draw_id", "id", "Unique identifier of the draw."),
    FieldSpec("seller_id", "id", "The seller that drew (must be a known seller)."),
    FieldSpec("drawn_at", "timestamp", "When the money was drawn (timezone-aware)."),
    FieldSpec("amount", "money", "Amount drawn, in the currency's major unit; above 0 and not "
              "above `credit_limit`."),
    FieldSpec("credit_limit", "money", "Limit of the seller's credit line when the draw was "
              "made; above 0."),
    FieldSpec("due_at", "timestamp", "When the draw is due in full; not before `drawn_at`."),
    FieldSpec("repaid_at", "timestamp", "When the draw was repaid in full; empty while (partly) "
              "unpaid; not before `drawn_at`.", nullable=True),
)


def validate_credit_history(frame: pd.DataFrame,
                            seller_ids: Iterable[str] | pd.Series | None = None, *,
                            strict: bool = False) -> LoadedRecords:
    """Validate credit-history records and convert them to canonical dtypes.

    Parameters
    ----------
    frame : raw credit-history records (any dtypes; strings are parsed).
    seller_ids : the known sellers; draws of any other seller are problems. ``None`` skips
        that check.
    strict : reject the whole input on any problem.

    Returns
    -------
    LoadedRecords
        ``frame`` holds the good rows (ids as strings, timestamps UTC, amounts float64);
        ``rejected`` the bad ones with their reasons; ``report`` the counts and problems.

    Raises
    ------
    RecordValidationError
        In strict mode on any problem, or when a required column is missing.
    """
    problems = Problems()
    if not check_columns(frame, CREDIT_HISTORY_FIELDS, problems):
        return finish_validation("credit_history", frame, None, np.ones(len(frame), bool), problems,
                       strict)
    parsed, bad = check_fields(frame, CREDIT_HISTORY_FIELDS, problems, DEFAULT_CURRENCIES)

    amount = parsed["amount"].to_numpy()
    limit = parsed["credit_limit"].to_numpy()
    with np.errstate(invalid="ignore"):
        zero_amount = amount == 0
        zero_limit = limit == 0
        over = amount > limit + 1e-9
    problems.add(zero_amount, "amount", frame["amount"], "a draw must be above 0")
    problems.add(zero_limit, "credit_limit", frame["credit_limit"], "must be above 0")
    problems.add(over & ~zero_limit, "amount", frame["amount"], "amount above credit_limit")
    bad |= zero_amount | zero_limit | over

    drawn = parsed["drawn_at"]
    for name in ("due_at", "repaid_at"):
        before = (parsed[name] < drawn).to_numpy(dtype=bool, na_value=False)
        problems.add(before, name, frame[name], f"{name} before drawn_at")
        bad |= before

    bad |= check_unique(frame, parsed, "draw_id", problems)
    if seller_ids is not None:
        bad |= check_known_sellers(frame, parsed, seller_ids, problems,
                                    "draw of an unknown seller")
    return finish_validation("credit_history", frame, parsed, bad, problems, strict)


def load_credit_history(source: str | Path | pd.DataFrame,
                        sellers: pd.DataFrame | Iterable[str] | None = None, *,
                        strict: bool = False) -> LoadedRecords:
    """Read and validate a credit history from CSV, Parquet or a DataFrame.

    Parameters
    ----------
    source : path of a ``.csv``, ``.csv.gz`` or ``.parquet`` file, or a DataFrame.
    sellers : the known sellers (a frame with ``seller_id`` or the ids); enables the check
        that every draw belongs to a known seller.
    strict : reject the whole input on any problem.
    """
    seller_ids = sellers["seller_id"] if isinstance(sellers, pd.DataFrame) else sellers
    return validate_credit_history(read_table(source), seller_ids, strict=strict)
