"""The credit-history contract: earlier draws on this lender's credit, and their validation.

An optional third record type. One row is one *draw* (an amount taken on a seller's credit
line or a micro-loan) with its due time and, once fully repaid, the repayment time. It
feeds the ``repayment`` features (utilisation, on-time share, days past due). Validation
works like :mod:`features.records`: every problem with its row number, field and reason;
bad rows set aside, good rows kept, counts of each; strict mode rejects the whole input.

Partial repayments are not part of the contract: a draw counts as outstanding until
``repaid_at``, the time it was repaid in full.

The ledger's extension
----------------------
A lender's own ledger knows more than a draw's due and repaid times: the instalments each
draw is repaid in, when each was paid in full, when a line was opened and when a draw was
written off. A history exported from the lending store
(``lending.persistence.history.credit_history_frame``) has one row per *instalment* and the
optional columns of :data:`CREDIT_HISTORY_LEDGER_FIELDS`; the draw's own fields repeat on
each of its rows. A file with ``instalment_id`` is instalment-level (``instalment_id`` is
then the unique key and ``draw_id`` may repeat); without it each row is one draw, which is
its own single instalment (due at ``due_at``, paid at ``repaid_at``). The days past due of
a seller at any moment are reconstructed from the instalments (:func:`instalment_frame`):
an instalment is past due from its due time until it is paid in full, by whole days, and a
written-off draw stops counting days at its write-off.
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
    "CREDIT_HISTORY_LEDGER_FIELDS",
    "instalment_frame",
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


#: Optional columns of a history exported from the lending store (see the module notes).
CREDIT_HISTORY_LEDGER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("line_id", "id", "The credit line the draw was made on.", nullable=True),
    FieldSpec("line_opened_at", "timestamp", "When that line was opened.", nullable=True),
    FieldSpec("instalment_id", "id", "Unique identifier of the instalment (``draw_id.n``); "
              "present in an instalment-level file."),
    FieldSpec("instalment_due_at", "timestamp", "When the instalment falls due; not before "
              "`drawn_at`."),
    FieldSpec("instalment_paid_at", "timestamp", "When the instalment was paid in full "
              "(principal, interest and fee); empty while not.", nullable=True),
    FieldSpec("instalment_principal", "money", "Principal of the instalment."),
    FieldSpec("written_off_at", "timestamp", "When the draw was written off; empty if not.",
              nullable=True),
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
    instalments = "instalment_id" in frame.columns
    specs = CREDIT_HISTORY_FIELDS + tuple(
        spec for spec in CREDIT_HISTORY_LEDGER_FIELDS
        if spec.name in frame.columns or (instalments and spec.name.startswith("instalment_")))
    if not check_columns(frame, specs, problems):
        return finish_validation("credit_history", frame, None, np.ones(len(frame), bool), problems,
                       strict)
    parsed, bad = check_fields(frame, specs, problems, DEFAULT_CURRENCIES)

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
    for name in ("due_at", "repaid_at", "instalment_due_at"):
        if name not in parsed.columns:
            continue
        before = (parsed[name] < drawn).to_numpy(dtype=bool, na_value=False)
        problems.add(before, name, frame[name], f"{name} before drawn_at")
        bad |= before

    key = "instalment_id" if "instalment_id" in parsed.columns else "draw_id"
    bad |= check_unique(frame, parsed, key, problems)
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


def instalment_frame(credit: pd.DataFrame) -> pd.DataFrame:
    """The instalments of a validated credit history, one row each.

    An instalment-level file (with ``instalment_id``) gives its rows; a draw-level file
    gives each draw as its own single instalment: due at ``due_at``, paid at
    ``repaid_at``, its principal the draw's ``amount``, never written off.

    Returns
    -------
    pandas.DataFrame
        ``seller_id``, ``line_id`` (``draw_id`` when the file has no line), ``draw_id``,
        ``drawn_at``, ``opened_at`` (the line's opening, else ``drawn_at``), ``due_at``,
        ``paid_at``, ``written_off_at`` (UTC timestamps, NaT where empty) and
        ``principal`` (float64), in the rows' order.
    """
    def column(name: str, fallback: str | None) -> pd.Series:
        if name in credit.columns:
            values = credit[name]
            return values if fallback is None else values.fillna(credit[fallback])
        if fallback is not None:
            return credit[fallback]
        return pd.Series(pd.NaT, index=credit.index, dtype="datetime64[ns, UTC]")

    return pd.DataFrame({
        "seller_id": credit["seller_id"].astype("string"),
        "line_id": column("line_id", "draw_id").astype("string"),
        "draw_id": credit["draw_id"].astype("string"),
        "drawn_at": credit["drawn_at"],
        "opened_at": column("line_opened_at", "drawn_at"),
        "due_at": column("instalment_due_at", "due_at") if "instalment_id" in credit.columns
        else credit["due_at"],
        "paid_at": credit["instalment_paid_at"] if "instalment_id" in credit.columns
        else credit["repaid_at"],
        "written_off_at": column("written_off_at", None),
        "principal": (credit["instalment_principal"] if "instalment_id" in credit.columns
                      else credit["amount"]).astype("float64"),
    }).reset_index(drop=True)
