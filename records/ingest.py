"""The records service: register sellers, ingest orders, bulk-load a marketplace.

Every row is checked by the record contract (:mod:`features.records`: the same row numbers,
fields and reasons as the CLI and the batch builder); good rows are stored, bad ones are
listed and nothing of them is stored. On top of the contract the store refuses what it
cannot keep exactly: an amount finer than the currency's minor unit (money is stored in
integer minor units), an amount of 10^15 or more, an order that would move to another
seller, and (with several currencies configured) an order in another currency than its
seller's other orders.

Point in time (issue 15): orders carry ``cancelled_at`` and ``disputed_at``, optional
for older clients (a cancellation or dispute without its time is not known to any
feature). A seller's ``membership_tier`` counts from ``membership_tier_at``; a row that
leaves it out gets the moment the service received the tier (``now``) when the tier is
new or changed, and keeps the stored moment otherwise. When a seller's tier changes,
the tier it replaces is kept as a period of its tier history (``seller_tier``, from its
``membership_tier_at`` to the new one), so features as of an earlier moment still see
it. :func:`ingest_tier_history` stores tier periods sent as such.

Idempotency: sellers are keyed by ``seller_id`` and orders by ``order_id``. A row whose
content equals the stored one is *unchanged* and writes nothing; a row with changed
content (a refund or a dispute recorded later, a new status) replaces the stored row
(*updated*); a new id is *accepted*. Each call is one transaction; its last step rebuilds
the feature snapshots of the sellers whose records changed, with one
:func:`features.build_features` call (:mod:`records.snapshots`), so a decision reads a
current snapshot instead of the seller's whole history.

Timestamps are kept to the microsecond (what PostgreSQL and SQLAlchemy's SQLite type
keep); finer digits of an input are dropped.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from features import DEFAULT_TIMEZONE
from features.records import (
    DEFAULT_CURRENCIES,
    SELLER_FIELDS,
    TIER_HISTORY_FIELDS,
    LoadedRecords,
    RecordValidationError,
    ValidationReport,
    validate_orders,
    validate_sellers,
    validate_tier_history,
)
from lending.money import MAX_AMOUNT, MINOR_UNIT_DIGITS
from lending.persistence import SqlUnitOfWork
from records.errors import BatchTooLarge, UnknownSeller
from records.snapshots import (
    SnapshotMode,
    Source,
    check_snapshot_mode,
    encodable,
    lock_sellers,
    read_orders,
    read_sellers,
    read_tier_history,
    reading,
    rebuild_snapshots,
    renew_snapshots,
    storable_id,
    store_snapshots,
    stored_utc,
    writing,
)
from records.tables import FeatureSnapshotRecord, OrderRecord, SellerRecord
from store.clock import utc_now
from store.conflicts import retry_on_conflict

__all__ = [
    "MAX_BATCH_ROWS",
    "RejectedRow",
    "IngestResult",
    "LoadResult",
    "BatchTooLarge",
    "register_sellers",
    "ingest_orders",
    "ingest_tier_history",
    "load_records",
    "SellerView",
    "get_seller",
]

#: Most rows one ``register_sellers`` / ``ingest_orders`` call takes.
MAX_BATCH_ROWS = 10_000

Rows = Sequence[Mapping[str, Any]] | pd.DataFrame

_SELLER_COLUMNS = tuple(spec.name for spec in SELLER_FIELDS)
_SELLER_TIMES = ("registered_at", "membership_tier_at")
_TIER_COLUMNS = tuple(spec.name for spec in TIER_HISTORY_FIELDS)
_ORDER_DB_COLUMNS = ("order_id", "seller_id", "buyer_id", "created_at", "amount_minor",
                     "currency", "status", "refunded_amount_minor", "refunded_at", "disputed",
                     "channel", "buyer_country", "shipped_at", "paid_out_at", "cancelled_at",
                     "disputed_at")
_ORDER_TIMES = ("created_at", "refunded_at", "shipped_at", "paid_out_at", "cancelled_at",
                "disputed_at")
_LARGEST = float(MAX_AMOUNT)
_ORDER_INDEX = "ix_seller_order_seller_id_created_at"
#: From this many rows PostgreSQL gets them through COPY (smaller batches: executemany).
_COPY_FROM_ROWS = 2_000


@dataclass(frozen=True)
class RejectedRow:
    """One problem of one rejected input row.

    Attributes
    ----------
    row : 1-based position of the record in its input (``items[row - 1]``; for a CSV
        file, line ``row + 1``), as in :mod:`features.records`; 0 for a problem of a whole
        column (a missing column rejects every row).
    field : the field at fault.
    reason : what is wrong with it.
    """

    row: int
    field: str
    reason: str


@dataclass(frozen=True)
class IngestResult:
    """What one batch did.

    Attributes
    ----------
    received : rows in the batch.
    accepted : new records stored.
    unchanged : records equal to the stored ones (nothing written).
    updated : stored records replaced by a changed version.
    rejected : every problem of every rejected row (a row may have several).
    rejected_rows : how many rows were rejected
        (``accepted + unchanged + updated + rejected_rows == received``).
    snapshots : feature snapshots rebuilt.
    """

    received: int
    accepted: int
    unchanged: int
    updated: int
    rejected: tuple[RejectedRow, ...]
    rejected_rows: int
    snapshots: int = 0


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_records` did: both batches, the snapshots and the time taken."""

    sellers: IngestResult
    orders: IngestResult
    snapshots: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    #: what the tier history did (``None`` when none was given)
    tiers: IngestResult | None = None

    def __str__(self) -> str:
        batches = [("sellers", self.sellers), ("orders", self.orders)]
        if self.tiers is not None:
            batches.append(("tier periods", self.tiers))
        parts = [f"{name} {result.accepted:,} added, {result.updated:,} updated, "
                 f"{result.unchanged:,} unchanged, {result.rejected_rows:,} set aside"
                 for name, result in batches]
        steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.timings.items())
        return (f"{'; '.join(parts)}; {self.snapshots:,} snapshots built in "
                f"{self.seconds:.1f} s ({steps})")


# --------------------------------------------------------------------------------------------
# Validation: the contract, then what the store adds
# --------------------------------------------------------------------------------------------

#: Stands in for a text that cannot be stored; the contract rejects it in every field
#: (a control character), and the store then names the real reason.
_UNSTORABLE = "\x00"
_UNSTORABLE_REASON = "not valid Unicode text (it holds a lone surrogate)"


def _frame(rows: Rows) -> tuple[pd.DataFrame, list[RejectedRow]]:
    """The rows as a frame, with every text that no database can store set aside.

    JSON may carry lone surrogates (``"\\ud800"``): neither pandas' Arrow strings nor the
    database drivers accept them, so they are replaced before validation and their rows
    rejected with their own reason.
    """
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True), []
    records: list[dict[str, Any]] = []
    unstorable: list[RejectedRow] = []
    for number, row in enumerate(rows, start=1):
        record = dict(row)
        for name, value in record.items():
            if isinstance(value, str) and not encodable(value):
                record[name] = _UNSTORABLE
                unstorable.append(RejectedRow(number, str(name), _UNSTORABLE_REASON))
        records.append(record)
    return pd.DataFrame.from_records(records), unstorable


def _candidate_ids(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct trimmed ids of a raw column that could be stored (the contract
    rejects the others, so they need no database look-up)."""
    if column not in frame.columns:
        return []
    values = frame[column].astype("string").str.strip().dropna()
    return sorted({str(value) for value in values.unique() if storable_id(str(value))})


def _problems(report: ValidationReport) -> list[RejectedRow]:
    return [RejectedRow(int(row), str(name), str(reason)) for row, name, reason in
            zip(report.problems["row"], report.problems["field"], report.problems["reason"],
                strict=True)]


@dataclass
class _Checked:
    """Rows the contract kept (with their 1-based input rows) and every problem found."""

    received: int
    kept: pd.DataFrame
    rows: np.ndarray
    problems: list[RejectedRow]
    all_rejected: bool = False

    def drop(self, mask: np.ndarray, field_name: str, reasons: str | Sequence[str]) -> None:
        """Reject the kept rows of ``mask`` on ``field_name``."""
        positions = np.flatnonzero(mask)
        if len(positions) == 0:
            return
        texts = [reasons] * len(positions) if isinstance(reasons, str) else list(reasons)
        self.problems += [RejectedRow(int(self.rows[p]), field_name, text)
                          for p, text in zip(positions, texts, strict=True)]
        keep = ~np.asarray(mask, dtype=bool)
        self.kept = self.kept.loc[keep].reset_index(drop=True)
        self.rows = self.rows[keep]

    def result(self, accepted: int, unchanged: int, updated: int,
               snapshots: int) -> IngestResult:
        problems = tuple(sorted(self.problems, key=lambda p: (p.row, p.field)))
        rejected_rows = (self.received if self.all_rejected
                         else len({p.row for p in problems if p.row > 0}))
        return IngestResult(self.received, accepted, unchanged, updated, problems,
                            rejected_rows, snapshots)


def _check(loader: Any, frame: pd.DataFrame, *args: Any,
           unstorable: Sequence[RejectedRow] = (), **kwargs: Any) -> _Checked:
    """The contract's verdict on ``frame``, with the store's reason for unstorable texts."""
    replaced = {(p.row, p.field) for p in unstorable}

    def problems(report: ValidationReport) -> list[RejectedRow]:
        return [p for p in _problems(report) if (p.row, p.field) not in replaced] \
            + list(unstorable)

    try:
        loaded: LoadedRecords = loader(frame, *args, **kwargs)
    except RecordValidationError as error:  # a missing column: no row can be kept
        return _Checked(len(frame), pd.DataFrame(), np.empty(0, dtype=np.int64),
                        problems(error.report), all_rejected=True)
    rows = np.setdiff1d(np.arange(1, len(frame) + 1), loaded.report.bad_rows)
    return _Checked(len(frame), loaded.frame, rows, problems(loaded.report))


def _check_money(checked: _Checked) -> None:
    """Refuse amounts the store cannot keep exactly in integer minor units."""
    if checked.kept.empty:
        return
    currency = checked.kept["currency"].astype(str)
    unknown = currency.map(MINOR_UNIT_DIGITS).isna().to_numpy()
    checked.drop(unknown, "currency", [f"no minor unit is known for {code}"
                                       for code in currency[unknown]])
    for name in ("amount", "refunded_amount"):
        checked.drop(checked.kept[name].to_numpy(dtype=np.float64) >= _LARGEST, name,
                     "at least 10^15: larger than any amount the store keeps")
        codes = checked.kept["currency"].astype(str)
        digits = codes.map(MINOR_UNIT_DIGITS).astype("int64").to_numpy()
        scaled = checked.kept[name].to_numpy(dtype=np.float64) * np.power(10.0, digits)
        # a float cannot hold 0.01 exactly: allow its rounding error, not a real fraction
        finer = np.abs(scaled - np.rint(scaled)) > 1e-6 * np.maximum(1.0, np.abs(scaled))
        checked.drop(finer, name, [f"finer than the {code} minor unit "
                                   f"({10.0 ** -MINOR_UNIT_DIGITS[code]:g})"
                                   for code in codes.to_numpy()[finer]])


def _check_seller_currency(connection: sa.Connection, checked: _Checked) -> None:
    """Refuse an order in another currency than its seller's other orders.

    Features add a seller's amounts without conversion, so a seller trades in one currency:
    the one of its stored orders, or else of its first order in this batch. Only needed
    when several currencies are configured.
    """
    if checked.kept.empty:
        return
    table = OrderRecord.__table__  # type: ignore[attr-defined]
    sellers = sorted(set(checked.kept["seller_id"].astype(str)))
    established: dict[str, str] = {}
    for start in range(0, len(sellers), 2_000):
        chunk = sellers[start:start + 2_000]
        established.update((str(seller), str(currency)) for seller, currency in
                           connection.execute(sa.select(table.c.seller_id,
                                                        sa.func.min(table.c.currency))
                                              .where(table.c.seller_id.in_(chunk))
                                              .group_by(table.c.seller_id)))
    seller = checked.kept["seller_id"].astype(str)
    currency = checked.kept["currency"].astype(str)
    for seller_id, first in currency.groupby(seller, sort=False).first().items():
        established.setdefault(str(seller_id), str(first))
    expected = seller.map(established)
    wrong = (currency != expected).to_numpy()
    checked.drop(wrong, "currency", [
        f"seller {s!r} trades in {e}: features add up one currency per seller"
        for s, e in zip(seller[wrong], expected[wrong], strict=True)])


def _refuse(record_type: str, checked: _Checked) -> None:
    """Raise the contract's error with every problem found (nothing is stored)."""
    problems = pd.DataFrame([(p.row, p.field, "", p.reason) for p in
                             sorted(checked.problems, key=lambda p: (p.row, p.field))],
                            columns=["row", "field", "value", "reason"])
    bad = np.array(sorted({p.row for p in checked.problems if p.row > 0}), dtype=np.int64)
    raise RecordValidationError(ValidationReport(record_type, checked.received, problems,
                                                 bad))


# --------------------------------------------------------------------------------------------
# Encoding for the database (one encoding for writes and for comparing with what is stored)
# --------------------------------------------------------------------------------------------

def _db_times(series: pd.Series, dialect: str) -> np.ndarray:
    """UTC timestamps as the text SQLAlchemy stores on SQLite (``2025-01-02 03:04:05.123456``)
    or, with ``+00:00``, as timestamptz input on PostgreSQL; ``None`` when missing."""
    naive = series.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    # Arrow casts microsecond timestamps to exactly this text ("YYYY-MM-DD HH:MM:SS.ffffff"),
    # ten times faster than strftime
    text = pc.cast(pa.Array.from_pandas(naive), pa.string())
    if dialect != "sqlite":
        text = pc.binary_join_element_wise(text, "+00:00", "")
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def _encode_orders(frame: pd.DataFrame, dialect: str) -> pd.DataFrame:
    digits = frame["currency"].astype(str).map(MINOR_UNIT_DIGITS).fillna(2).astype("int64")
    scale = np.power(10.0, digits.to_numpy())
    columns: dict[str, Any] = {}
    for name in _ORDER_DB_COLUMNS:
        if name in _ORDER_TIMES:
            columns[name] = _db_times(frame[name], dialect)
        elif name in ("amount_minor", "refunded_amount_minor"):
            source = frame[name.removesuffix("_minor")].to_numpy(dtype=np.float64)
            columns[name] = np.rint(source * scale).astype(np.int64)
        elif name == "disputed":
            columns[name] = frame[name].to_numpy(dtype=bool)
        else:
            columns[name] = frame[name].astype(str).to_numpy(dtype=object)
    return pd.DataFrame(columns)


def _encode_sellers(frame: pd.DataFrame, dialect: str) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    for name in _SELLER_COLUMNS:
        columns[name] = (_db_times(frame[name], dialect) if name in _SELLER_TIMES
                         else frame[name].astype(str).to_numpy(dtype=object))
    return pd.DataFrame(columns)


def _encode_tiers(frame: pd.DataFrame, dialect: str) -> pd.DataFrame:
    return pd.DataFrame({
        "seller_id": frame["seller_id"].astype(str).to_numpy(dtype=object),
        "membership_tier": frame["membership_tier"].astype(str).to_numpy(dtype=object),
        "valid_from": _db_times(frame["valid_from"], dialect),
        "valid_to": _db_times(frame["valid_to"], dialect),
    })


def _tuples(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    # tolist() gives Python scalars, which every driver binds; pandas may have turned a
    # missing timestamp (None) into NaN on the way
    values = []
    for name in columns:
        column = frame[name]
        missing = column.isna()
        if missing.any():
            column = column.astype(object).where(~missing, None)
        values.append(column.tolist())
    return list(zip(*values, strict=True))


def _insert(connection: sa.Connection, table: str, columns: Sequence[str],
            frame: pd.DataFrame) -> None:
    """Insert the rows of ``frame`` at once: one executemany, or, for many rows on
    PostgreSQL, one ``COPY`` of CSV text written by pandas (in C, not row by row)."""
    if frame.empty:
        return
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql" and len(frame) >= _COPY_FROM_ROWS:
        text = io.StringIO()
        # an unquoted empty field is NULL; the contract never lets a text field be empty
        frame.to_csv(text, columns=list(columns), header=False, index=False)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(text.getvalue())
        return
    marks = ", ".join(("?" if connection.dialect.name == "sqlite" else "%s") for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                               _tuples(frame, columns))


def _update(connection: sa.Connection, table: str, key: str, columns: Sequence[str],
            rows: list[tuple[Any, ...]]) -> None:
    """Replace the rows whose ``key`` is the last value of each tuple."""
    if not rows:
        return
    mark = "?" if connection.dialect.name == "sqlite" else "%s"
    assignments = ", ".join(f"{name} = {mark}" for name in columns)
    connection.exec_driver_sql(f"UPDATE {table} SET {assignments} WHERE {key} = {mark}", rows)


def _classify(new: pd.DataFrame, stored: pd.DataFrame, key: str,
              content: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Masks over ``new``: already stored, and stored with other content."""
    if stored.empty:
        return np.zeros(len(new), dtype=bool), np.zeros(len(new), dtype=bool)
    merged = new[[key]].merge(stored, on=key, how="left", indicator=True)
    exists = (merged["_merge"] == "both").to_numpy()
    changed = np.zeros(len(new), dtype=bool)
    for name in content:
        mine = new[name].to_numpy(dtype=object)
        theirs = merged[name].to_numpy(dtype=object)
        mine_missing, theirs_missing = pd.isna(mine), pd.isna(theirs)
        both = ~mine_missing & ~theirs_missing
        differs = np.zeros(len(new), dtype=bool)
        differs[both] = mine[both] != theirs[both]
        changed |= (mine_missing != theirs_missing) | differs
    return exists, exists & changed


# --------------------------------------------------------------------------------------------
# Writing checked rows (shared by the batch services and the bulk load)
# --------------------------------------------------------------------------------------------

def _store_sellers(connection: sa.Connection, checked: _Checked, *, fresh: bool,
                   tier_seen: datetime) -> tuple[int, int, int, list[str]]:
    """Insert new sellers, replace changed ones; counts and the ids that changed.

    A row without ``membership_tier_at`` keeps the stored one when its tier is the stored
    tier, and gets ``tier_seen`` otherwise. A changed tier leaves the replaced one as a
    tier period (see the module notes).
    """
    dialect = connection.dialect.name
    encoded = _encode_sellers(checked.kept, dialect)
    ids = encoded["seller_id"].tolist()
    stored = (pd.DataFrame(columns=list(_SELLER_COLUMNS)) if fresh
              else _encode_sellers(read_sellers(connection, ids), dialect))
    before = encoded[["seller_id"]].merge(stored, on="seller_id", how="left")
    same_tier = (before["membership_tier"].to_numpy(dtype=object)
                 == encoded["membership_tier"].to_numpy(dtype=object))
    unstamped = pd.isna(encoded["membership_tier_at"].to_numpy(dtype=object))
    seen = _db_times(pd.Series([pd.Timestamp(tier_seen)]), dialect)[0]
    encoded["membership_tier_at"] = np.where(
        unstamped, np.where(same_tier & ~pd.isna(before["membership_tier_at"].to_numpy(
            dtype=object)), before["membership_tier_at"].to_numpy(dtype=object), seen),
        encoded["membership_tier_at"].to_numpy(dtype=object))
    content = _SELLER_COLUMNS[1:]
    exists, changed = _classify(encoded, stored, "seller_id", content)
    now = _db_times(pd.Series([pd.Timestamp(utc_now())]), dialect)[0]
    replaced = changed & ~same_tier & ~pd.isna(before["membership_tier_at"].to_numpy(
        dtype=object))
    if replaced.any():
        _keep_replaced_tiers(connection, before.loc[replaced], encoded.loc[replaced], now)
    new_rows = encoded.loc[~exists].assign(stored_at=now, updated_at=now)
    _insert(connection, "seller", (*_SELLER_COLUMNS, "stored_at", "updated_at"), new_rows)
    changed_rows = encoded.loc[changed].assign(updated_at=now)
    _update(connection, "seller", "seller_id", (*content, "updated_at"),
            _tuples(changed_rows, (*content, "updated_at", "seller_id")))
    touched = encoded.loc[~exists | changed, "seller_id"].tolist()
    return int((~exists).sum()), int((exists & ~changed).sum()), int(changed.sum()), touched


def _keep_replaced_tiers(connection: sa.Connection, old: pd.DataFrame, new: pd.DataFrame,
                        now: str) -> None:
    """Store each replaced tier as a period from its ``membership_tier_at`` to the new
    tier's (a period already stored from the same moment is left as it is)."""
    periods = pd.DataFrame({
        "seller_id": old["seller_id"].to_numpy(dtype=object),
        "membership_tier": old["membership_tier"].to_numpy(dtype=object),
        "valid_from": old["membership_tier_at"].to_numpy(dtype=object),
        "valid_to": new["membership_tier_at"].to_numpy(dtype=object)})
    # only a period that ends after it starts (a tier sent with an older moment than the
    # stored one is the marketplace's correction, not a period)
    later = pd.to_datetime(periods["valid_to"], utc=True, format="ISO8601") \
        > pd.to_datetime(periods["valid_from"], utc=True, format="ISO8601")
    periods = periods.loc[later.to_numpy()]
    if periods.empty:
        return
    dialect = connection.dialect.name
    known = _encode_tiers(read_tier_history(connection, sorted(set(periods["seller_id"]))),
                          dialect)
    exists = _period_keys(periods).isin(set(_period_keys(known))).to_numpy()
    _insert(connection, "seller_tier", (*_TIER_COLUMNS, "stored_at", "updated_at"),
            periods.loc[~exists].assign(stored_at=now, updated_at=now))


def _period_keys(frame: pd.DataFrame) -> pd.Series:
    """``seller_id`` and the UTC instant of ``valid_from``: the key of a tier period."""
    instants = pd.to_datetime(frame["valid_from"], utc=True, format="ISO8601")
    return frame["seller_id"].astype(str).reset_index(drop=True) + "\x00" \
        + instants.astype(str).reset_index(drop=True)


def _store_tiers(connection: sa.Connection, checked: _Checked,
                 ) -> tuple[int, int, int, list[str]]:
    """Insert new tier periods, replace changed ones (by seller and ``valid_from``);
    counts and the sellers whose periods changed."""
    dialect = connection.dialect.name
    encoded = _encode_tiers(checked.kept, dialect)
    encoded["_key"] = _period_keys(encoded).to_numpy()
    stored = _encode_tiers(read_tier_history(connection, sorted(set(encoded["seller_id"]))),
                           dialect)
    stored["_key"] = _period_keys(stored).to_numpy()
    exists, changed = _classify(encoded, stored.drop(columns=["seller_id", "valid_from"]),
                                "_key", ("membership_tier", "valid_to"))
    now = _db_times(pd.Series([pd.Timestamp(utc_now())]), dialect)[0]
    _insert(connection, "seller_tier", (*_TIER_COLUMNS, "stored_at", "updated_at"),
            encoded.loc[~exists].assign(stored_at=now, updated_at=now))
    mark = "?" if dialect == "sqlite" else "%s"
    rows = _tuples(encoded.loc[changed].assign(updated_at=now),
                   ("membership_tier", "valid_to", "updated_at", "seller_id", "valid_from"))
    if rows:
        connection.exec_driver_sql(
            f"UPDATE seller_tier SET membership_tier = {mark}, valid_to = {mark}, "
            f"updated_at = {mark} WHERE seller_id = {mark} AND valid_from = {mark}", rows)
    touched = sorted(set(encoded.loc[~exists | changed, "seller_id"]))
    return int((~exists).sum()), int((exists & ~changed).sum()), int(changed.sum()), touched


def _store_orders(connection: sa.Connection, checked: _Checked, *, fresh: bool,
                  ) -> tuple[int, int, int, list[str]]:
    """Insert new orders, replace changed ones; counts and the sellers whose orders changed.

    Orders stored for another seller are rejected on ``checked`` first.
    """
    dialect = connection.dialect.name
    encoded = _encode_orders(checked.kept, dialect)
    if not fresh and len(encoded):
        stored = _encode_orders(read_orders(connection, order_ids=encoded["order_id"].tolist()),
                                dialect)
        owner = encoded[["order_id"]].merge(stored[["order_id", "seller_id"]], on="order_id",
                                            how="left")["seller_id"].to_numpy(dtype=object)
        moved = np.array([o is not None and not pd.isna(o) and o != s for o, s in
                          zip(owner, encoded["seller_id"], strict=True)], dtype=bool)
        if moved.any():
            checked.drop(moved, "seller_id", [
                f"order is stored for seller {o!r}; an order cannot move to another seller"
                for o in owner[moved]])
            encoded = encoded.loc[~moved].reset_index(drop=True)
    else:
        stored = pd.DataFrame(columns=list(_ORDER_DB_COLUMNS))
    content = _ORDER_DB_COLUMNS[1:]
    exists, changed = _classify(encoded, stored, "order_id", content)
    now = _db_times(pd.Series([pd.Timestamp(utc_now())]), dialect)[0]
    new_rows = encoded.loc[~exists].assign(stored_at=now, updated_at=now)
    _insert(connection, "seller_order", (*_ORDER_DB_COLUMNS, "stored_at", "updated_at"),
            new_rows)
    changed_rows = encoded.loc[changed].assign(updated_at=now)
    _update(connection, "seller_order", "order_id", (*content, "updated_at"),
            _tuples(changed_rows, (*content, "updated_at", "order_id")))
    touched = sorted(set(encoded.loc[~exists | changed, "seller_id"].tolist()))
    return int((~exists).sum()), int((exists & ~changed).sum()), int(changed.sum()), touched


def _retry_once(source: Source, work: Callable[[], IngestResult]) -> IngestResult:
    """Run ``work``; run it once more if a concurrent batch inserted one of its new ids
    (:func:`store.conflicts.retry_on_conflict`).

    Batches naming the same sellers take turns on the sellers' locks, but two batches can
    still both see an id as new (a new seller, or one order id sent for two sellers); the
    loser's insert fails, and its second run finds the winner's row and compares with it.
    A unit of work entered by the caller cannot be retried: its transaction is lost, and
    the conflict (one of :data:`store.conflicts.INTEGRITY_ERRORS`) reaches the caller.
    """
    if isinstance(source, SqlUnitOfWork) and "session" in vars(source):
        return work()
    return retry_on_conflict(work)


def _cap(rows: Rows, max_rows: int) -> None:
    if len(rows) > max_rows:
        raise BatchTooLarge(len(rows), max_rows)


# --------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------

def register_sellers(source: Source, rows: Rows, *, now: datetime | None = None,
                     timezone: str = DEFAULT_TIMEZONE,
                     max_rows: int = MAX_BATCH_ROWS,
                     snapshots: SnapshotMode = "rebuild") -> IngestResult:
    """Register sellers (new ones stored, changed ones updated), one transaction.

    Parameters
    ----------
    source : an engine or a unit of work (:mod:`records.snapshots`).
    rows : seller records, one mapping per row with the contract's field names (values
        as text or native types), or a DataFrame.
    now : the moment the new and changed sellers' feature snapshots describe (default:
        the current time).
    timezone : the lender's time zone.
    max_rows : the batch cap.
    snapshots : ``"rebuild"`` the changed sellers' snapshots or ``"invalidate"`` them
        (:data:`records.snapshots.SnapshotMode`).

    Returns
    -------
    IngestResult

    Raises
    ------
    BatchTooLarge
        When ``rows`` has more than ``max_rows`` rows (HTTP 413).
    """
    check_snapshot_mode(snapshots)
    _cap(rows, max_rows)
    frame, unstorable = _frame(rows)
    if frame.empty:
        return IngestResult(0, 0, 0, 0, (), 0)
    checked = _check(validate_sellers, frame, unstorable=unstorable)
    if checked.kept.empty:
        return checked.result(0, 0, 0, 0)
    moment = now or utc_now()

    def work() -> IngestResult:
        with writing(source) as connection:
            lock_sellers(connection, checked.kept["seller_id"].astype(str).tolist())
            accepted, unchanged, updated, touched = _store_sellers(connection, checked,
                                                                   fresh=False,
                                                                   tier_seen=moment)
            built = renew_snapshots(connection, touched, now=moment, timezone=timezone,
                                    mode=snapshots)
        return checked.result(accepted, unchanged, updated, built)

    return _retry_once(source, work)


def ingest_tier_history(source: Source, rows: Rows, *, now: datetime | None = None,
                        timezone: str = DEFAULT_TIMEZONE,
                        max_rows: int = MAX_BATCH_ROWS,
                        snapshots: SnapshotMode = "rebuild") -> IngestResult:
    """Store membership-tier periods, idempotent by seller and ``valid_from``.

    Rows follow :data:`features.records.TIER_HISTORY_FIELDS`; a period of an unregistered
    seller is rejected. A new period is stored, a changed one (another tier or
    ``valid_to``) replaces the stored one; then the snapshots of the sellers whose periods
    changed are rebuilt as of ``now`` (or invalidated, with ``snapshots="invalidate"``),
    in the same transaction.

    Raises
    ------
    BatchTooLarge
        When ``rows`` has more than ``max_rows`` rows (HTTP 413).
    """
    check_snapshot_mode(snapshots)
    _cap(rows, max_rows)
    frame, unstorable = _frame(rows)
    if frame.empty:
        return IngestResult(0, 0, 0, 0, (), 0)

    def work() -> IngestResult:
        with writing(source) as connection:
            known = lock_sellers(connection, _candidate_ids(frame, "seller_id"))
            checked = _check(validate_tier_history, frame, sorted(known),
                             unstorable=unstorable)
            if checked.kept.empty:
                return checked.result(0, 0, 0, 0)
            accepted, unchanged, updated, touched = _store_tiers(connection, checked)
            built = renew_snapshots(connection, touched, now=now or utc_now(),
                                    timezone=timezone, mode=snapshots)
        return checked.result(accepted, unchanged, updated, built)

    return _retry_once(source, work)


def ingest_orders(source: Source, rows: Rows, *, now: datetime | None = None,
                  currencies: Iterable[str] = DEFAULT_CURRENCIES,
                  timezone: str = DEFAULT_TIMEZONE,
                  max_rows: int = MAX_BATCH_ROWS,
                  snapshots: SnapshotMode = "rebuild") -> IngestResult:
    """Ingest a batch of orders, idempotent by ``order_id``, in one transaction.

    New orders are stored, changed ones replace the stored version, repeated ones change
    nothing; then the feature snapshots of the sellers whose orders changed are rebuilt
    as of ``now`` with one builder call. An order of an unregistered seller is rejected
    (``seller_id``: "order for an unknown seller").

    Parameters
    ----------
    source : an engine or a unit of work (:mod:`records.snapshots`).
    rows : order records, one mapping per row with the contract's field names (values as
        text or native types: money as a decimal string or a number), or a DataFrame.
    now : the moment the rebuilt snapshots describe (default: the current time).
    currencies : the supported currencies (setting ``currencies``).
    timezone : the lender's time zone.
    max_rows : the batch cap.
    snapshots : ``"rebuild"`` the changed sellers' snapshots (the default) or
        ``"invalidate"`` them, for a bulk feed of which few sellers are decided soon
        (:data:`records.snapshots.SnapshotMode`).

    Returns
    -------
    IngestResult

    Raises
    ------
    BatchTooLarge
        When ``rows`` has more than ``max_rows`` rows (HTTP 413).
    """
    check_snapshot_mode(snapshots)
    _cap(rows, max_rows)
    supported = tuple(code.upper() for code in currencies)
    frame, unstorable = _frame(rows)
    if frame.empty:
        return IngestResult(0, 0, 0, 0, (), 0)

    def work() -> IngestResult:
        with writing(source) as connection:
            # locking the named sellers first also tells which of them exist
            known = lock_sellers(connection, _candidate_ids(frame, "seller_id"))
            checked = _check(validate_orders, frame, sorted(known), currencies=supported,
                             unstorable=unstorable)
            _check_money(checked)
            if len(supported) > 1:
                _check_seller_currency(connection, checked)
            if checked.kept.empty:
                return checked.result(0, 0, 0, 0)
            accepted, unchanged, updated, touched = _store_orders(connection, checked,
                                                                  fresh=False)
            built = renew_snapshots(connection, touched, now=now or utc_now(),
                                    timezone=timezone, mode=snapshots)
        return checked.result(accepted, unchanged, updated, built)

    return _retry_once(source, work)


def load_records(source: Source, sellers: pd.DataFrame, orders: pd.DataFrame, *,
                 now: datetime, currencies: Iterable[str] = DEFAULT_CURRENCIES,
                 timezone: str = DEFAULT_TIMEZONE, strict: bool = False,
                 progress: bool = False,
                 tier_history: pd.DataFrame | None = None) -> LoadResult:
    """Bulk-load a whole marketplace (sellers and orders) and build every snapshot.

    The same contract and idempotency as the batch services, without a batch cap, in one
    transaction: rows go in with one ``executemany`` (SQLite) or ``COPY`` (PostgreSQL),
    and the snapshots of every seller whose records changed are built with one
    :func:`features.build_features` call (from the frames themselves when the store held
    none of these sellers' orders before, so nothing is read back).

    Parameters
    ----------
    source : an engine or a unit of work.
    sellers, orders : raw or canonical record frames (``features.records.read_table``).
    now : the moment the snapshots describe.
    currencies : supported currencies.
    timezone : the lender's time zone.
    strict : reject everything (store nothing) when any row has a problem.
    progress : show a progress bar while the snapshots are written.
    tier_history : raw or canonical tier periods (optional; stored like
        :func:`ingest_tier_history` does, rows set aside the same way; their counts are
        ``LoadResult.tiers``).

    Raises
    ------
    RecordValidationError
        In strict mode when any row has a problem, or when a required column is missing
        (with the contract's report).
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    supported = tuple(code.upper() for code in currencies)
    seller_check = _check(validate_sellers, sellers.reset_index(drop=True))
    if seller_check.all_rejected or (strict and seller_check.problems):
        _refuse("sellers", seller_check)
    with writing(source) as connection:
        stored_ids = {str(row[0]) for row in connection.execute(
            sa.text("SELECT seller_id FROM seller"))}
        known = stored_ids | set(seller_check.kept["seller_id"].astype(str))
        order_check = _check(validate_orders, orders.reset_index(drop=True), sorted(known),
                             currencies=supported)
        _check_money(order_check)
        if len(supported) > 1:
            _check_seller_currency(connection, order_check)
        if order_check.all_rejected or (strict and order_check.problems):
            _refuse("orders", order_check)
        timings["validate"] = time.perf_counter() - started

        mark = time.perf_counter()
        tier_check = None
        if tier_history is not None:
            tier_check = _check(validate_tier_history, tier_history.reset_index(drop=True),
                                sorted(known))
            if tier_check.all_rejected or (strict and tier_check.problems):
                _refuse("tier history", tier_check)
        fresh = not stored_ids
        seller_counts = _store_sellers(connection, seller_check, fresh=fresh, tier_seen=now)
        lock_sellers(connection, seller_check.kept["seller_id"].astype(str))
        tier_counts: tuple[int, int, int, list[str]] = (0, 0, 0, [])
        if tier_check is not None and not tier_check.kept.empty:
            tier_counts = _store_tiers(connection, tier_check)
        had_orders = bool(connection.execute(sa.text(
            "SELECT 1 FROM seller_order LIMIT 1")).first())
        if not had_orders:
            # building the seller/time index once after the rows are in is several times
            # faster than updating it row by row (DDL is transactional on both databases)
            connection.execute(sa.text(f"DROP INDEX {_ORDER_INDEX}"))
        order_counts = _store_orders(connection, order_check, fresh=not had_orders)
        if not had_orders:
            connection.execute(sa.text(
                f"CREATE INDEX {_ORDER_INDEX} ON seller_order (seller_id, created_at)"))
        timings["insert"] = time.perf_counter() - mark

        mark = time.perf_counter()
        touched = sorted(set(seller_counts[3]) | set(order_counts[3]) | set(tier_counts[3]))
        if not had_orders and fresh:
            # nothing was stored before: the frames are the stored records (once their
            # times are cut to the microseconds the database keeps)
            stored_orders = order_check.kept.assign(**{
                name: order_check.kept[name].dt.floor("us") for name in _ORDER_TIMES})
            stored_sellers = read_sellers(connection)
            built = store_snapshots(connection, stored_orders, stored_sellers,
                                    now=now, timezone=timezone, progress=progress)
        else:
            built = rebuild_snapshots(connection, touched, now=now, timezone=timezone,
                                      progress=progress)
        timings["snapshots"] = time.perf_counter() - mark
        mark = time.perf_counter()
    timings["commit"] = time.perf_counter() - mark
    return LoadResult(seller_check.result(*seller_counts[:3], 0),
                      order_check.result(*order_counts[:3], 0), len(built),
                      time.perf_counter() - started, timings,
                      tiers=None if tier_check is None
                      else tier_check.result(*tier_counts[:3], 0))


@dataclass(frozen=True)
class SellerView:
    """A registered seller and the state of its feature snapshot.

    ``snapshot_as_of`` and ``snapshot_orders_seen`` are ``None`` while the seller has no
    snapshot (registered after the last build moment).
    """

    seller_id: str
    kind: str
    registered_at: datetime
    region: str
    industry: str
    membership_tier: str
    membership_tier_at: datetime | None
    stored_at: datetime
    updated_at: datetime
    snapshot_as_of: datetime | None
    snapshot_orders_seen: int | None


def get_seller(source: Source, seller_id: str) -> SellerView:
    """The seller with its snapshot's as-of time (two primary-key reads, read only).

    Raises
    ------
    UnknownSeller
        No such seller (HTTP 404 ``unknown_seller``).
    """
    if not storable_id(seller_id):
        raise UnknownSeller(seller_id)
    seller_table = SellerRecord.__table__  # type: ignore[attr-defined]
    snapshot_table = FeatureSnapshotRecord.__table__  # type: ignore[attr-defined]
    with reading(source) as connection:
        seller = connection.execute(sa.select(seller_table).where(
            seller_table.c.seller_id == seller_id)).mappings().first()
        if seller is None:
            raise UnknownSeller(seller_id)
        snapshot = connection.execute(
            sa.select(snapshot_table.c.as_of, snapshot_table.c.orders_seen)
            .where(snapshot_table.c.seller_id == seller_id)).first()
    return SellerView(
        seller_id=seller["seller_id"], kind=seller["kind"],
        registered_at=stored_utc(seller["registered_at"]), region=seller["region"],
        industry=seller["industry"], membership_tier=seller["membership_tier"],
        membership_tier_at=None if seller["membership_tier_at"] is None
        else stored_utc(seller["membership_tier_at"]),
        stored_at=stored_utc(seller["stored_at"]), updated_at=stored_utc(seller["updated_at"]),
        snapshot_as_of=None if snapshot is None else stored_utc(snapshot[0]),
        snapshot_orders_seen=None if snapshot is None else int(snapshot[1]))
