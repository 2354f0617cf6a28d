"""Named refusals of the records services.

Each is a :class:`RecordsError` with a stable ``code`` class attribute, a message saying
what was refused and why, and optional structured ``details``. They know nothing of
HTTP: ``api/errors.py`` maps each class to its status in the same single table as the
lending and access errors.

A row that breaks the record contract is not an error here: batches list such rows as
rejected, and a whole file refused by :func:`records.ingest.load_records` raises the
contract's own :class:`features.records.RecordValidationError` with its report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from features.records import shown_id

__all__ = ["RecordsError", "UnknownSeller", "SellerNotYetRegistered", "BatchTooLarge"]


def _named(seller_id: str) -> str:
    """How a message names a seller: its id quoted when the id is well formed
    (:func:`features.records.shown_id`), else "the given id", so that a secret or a
    look-alike pasted into an id is never sent back."""
    shown = shown_id(seller_id)
    return f"seller {shown!r}" if shown is not None else "the given seller id"


class RecordsError(Exception):
    """Base class of every refusal by the records services.

    Parameters
    ----------
    message : a sentence naming what was refused.
    details : optional structured data (JSON-serialisable).
    """

    code: str = "records_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.details = details


class UnknownSeller(RecordsError):
    """No seller with this id is registered."""

    code = "unknown_seller"

    def __init__(self, seller_id: str) -> None:
        super().__init__(f"no {_named(seller_id)} is registered",
                         {"seller_id": shown_id(seller_id)})
        self.seller_id = seller_id


class SellerNotYetRegistered(RecordsError):
    """The seller registered at or after the moment asked for: it has no features then."""

    code = "seller_not_yet_registered"

    def __init__(self, seller_id: str, registered_at: datetime, as_of: datetime) -> None:
        super().__init__(f"{_named(seller_id)} registered at {registered_at.isoformat()}, "
                         f"not before {as_of.isoformat()}: it has no features yet",
                         {"seller_id": shown_id(seller_id),
                          "registered_at": registered_at.isoformat(),
                          "as_of": as_of.isoformat()})
        self.seller_id = seller_id


class BatchTooLarge(RecordsError):
    """A batch has more rows than one call takes."""

    code = "batch_too_large"

    def __init__(self, rows: int, max_rows: int) -> None:
        super().__init__(f"a batch takes at most {max_rows:,} rows; got {rows:,}: split it "
                         "into several requests", {"rows": rows, "max_rows": max_rows})
        self.rows = rows
        self.max_rows = max_rows
