"""The per-seller feature snapshot a decision reads, kept current by the records service.

A decision must not rescan a seller's whole history, so each seller's features are stored
as one ``feature_snapshot`` row (JSON) built with exactly the batch builder's definitions
and point-in-time rules (:func:`features.build_features`). The records service rebuilds the
snapshots of the sellers an ingest batch touched, with one builder call per batch;
:func:`current_snapshot` reads the stored row (one primary-key read and a JSON parse) and
rebuilds it from that one seller's stored orders only when it is missing, older than
``max_age`` (windows such as ``gmv_30d`` move with time even when no order arrives) or
built with other feature definitions.

Every snapshot includes the seller's credit history with us as of the snapshot time
(:func:`read_credit_history`: the seller's lines read from the lending store and folded
through the last business date ended by then), so the ``repayment`` features are the
builder's on the history ``sme-credit export credit-history`` writes; a seller without a
line gets their no-history values.

Every snapshot reads the sellers' stored membership-tier history too
(:func:`read_tier_history`), so ``membership_tier`` is the tier in effect at the snapshot
time, as in the batch builder; the orders' ``cancelled_at`` and ``disputed_at`` are read
back with them.

This module also reads the stored records back into the builder's canonical frames
(:func:`read_orders`, :func:`read_sellers`, :func:`read_tier_history`); the records and
history services use them.

Transactions
------------
Functions that take ``source`` accept an :class:`sqlalchemy.Engine` (they open their own
short transactions) or a :class:`~lending.persistence.SqlUnitOfWork`: a fresh one is
entered and committed here; one the caller already entered is used as it is (its session's
transaction), and what is written is stored when the caller commits.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar, cast, get_args

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from tqdm import tqdm

from features import DEFAULT_TIMEZONE, build_features, json_value, registry_version
from features.records import ORDER_CHANNELS, ORDER_STATUSES, TIER_HISTORY_FIELDS
from lending.money import MINOR_UNIT_DIGITS
from lending.persistence import SqlUnitOfWork
from lending.persistence.history import credit_history_frame
from records.errors import SellerNotYetRegistered, UnknownSeller
from records.tables import (
    ID_LENGTH,
    FeatureSnapshotRecord,
    OrderRecord,
    SellerRecord,
    SellerTierRecord,
)
from store.clock import as_utc, utc_now
from store.database import READ_ONLY_OPTION

__all__ = [
    "FeatureSnapshot",
    "UnknownSeller",
    "SellerNotYetRegistered",
    "Source",
    "current_snapshot",
    "current_snapshot_and",
    "ReadAlong",
    "refresh_snapshots",
    "refresh_changed_sellers",
    "rebuild_snapshots",
    "renew_snapshots",
    "check_snapshot_mode",
    "SnapshotMode",
    "SNAPSHOT_MODES",
    "store_snapshots",
    "lock_sellers",
    "reading",
    "writing",
    "read_orders",
    "read_sellers",
    "read_tier_history",
    "read_credit_history",
    "feature_version",
    "require_utc",
    "stored_utc",
    "encodable",
    "storable_id",
    "seller_exists",
]

#: An engine, or a unit of work (fresh or entered by the caller).
Source = sa.Engine | SqlUnitOfWork

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


@dataclass(frozen=True)
class ReadAlong(Generic[_T_co]):
    """What :func:`current_snapshot_and` reads in the snapshot's own ``SELECT``, as one
    more column: a scalar subquery on the seller (a decision reads the seller's credit
    lines so, in one statement and round trip instead of two).

    ``column(dialect)`` is the subquery's SQL for a dialect's name (``"postgresql"``,
    ``"sqlite"``), in which ``{seller}`` stands for the seller's id (the snapshot's
    column, or a parameter when there is no snapshot row to read it beside);
    ``parse(value)`` makes the result of what it returned (``None`` when it found nothing).
    """

    column: Callable[[str], str]
    parse: Callable[[Any], _T_co]

    def select(self, dialect: str, seller: str) -> str:
        """The column's SQL with ``{seller}`` filled in."""
        return self.column(dialect).replace("{seller}", seller)


_SNAPSHOT = FeatureSnapshotRecord.__table__  # type: ignore[attr-defined]
_ORDER = OrderRecord.__table__  # type: ignore[attr-defined]
_SELLER = SellerRecord.__table__  # type: ignore[attr-defined]
_TIER = SellerTierRecord.__table__  # type: ignore[attr-defined]
#: Sellers per ``IN (...)`` list (SQLite allows 32,766 parameters per statement).
_CHUNK = 2_000

_ORDER_COLUMNS = ("order_id", "seller_id", "buyer_id", "created_at", "amount_minor",
                  "currency", "status", "refunded_amount_minor", "refunded_at", "disputed",
                  "channel", "buyer_country", "shipped_at", "paid_out_at", "cancelled_at",
                  "disputed_at")
_SELLER_COLUMNS = ("seller_id", "kind", "registered_at", "region", "industry",
                   "membership_tier", "membership_tier_at")
_TIER_COLUMNS = tuple(spec.name for spec in TIER_HISTORY_FIELDS)
_ORDER_TIMES = ("created_at", "refunded_at", "shipped_at", "paid_out_at", "cancelled_at",
                "disputed_at")
#: Columns read back as text (SQLite keeps timestamps as text; parsed in bulk).
_TIMES = (*_ORDER_TIMES, "registered_at", "membership_tier_at", "valid_from", "valid_to")


@dataclass(frozen=True)
class FeatureSnapshot:
    """One seller's features as of a moment, built with the batch builder's definitions.

    Attributes
    ----------
    seller_id, seller_kind : the seller (``shop`` or ``factory``).
    as_of : the UTC moment the features describe (nothing at or after it was used).
    features : feature name -> value (float, ``None`` for missing, text for categoricals),
        exactly the row ``features.build_features`` gives for this seller at ``as_of``.
    """

    seller_id: str
    seller_kind: str
    as_of: datetime
    features: Mapping[str, Any]


def encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode (JSON may carry lone surrogates; no database,
    Arrow string or JSON answer takes them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_id(value: str) -> bool:
    """Whether an id could be stored at all: the contract's id rules (1 to 128 characters,
    no control character), in valid Unicode. Other ids name no record."""
    return (0 < len(value) <= ID_LENGTH and encodable(value)
            and not any(ord(ch) < 32 or ord(ch) == 127 for ch in value))


def feature_version() -> str:
    """The fingerprint of the feature definitions snapshots are built with."""
    return _FEATURE_VERSION


_FEATURE_VERSION = registry_version()


# --------------------------------------------------------------------------------------------
# Transactions over an engine or a unit of work
# --------------------------------------------------------------------------------------------

def require_utc(moment: datetime, name: str = "now") -> datetime:
    """A moment given by a caller, which must be timezone-aware, in UTC.

    Unlike a stored time (:func:`stored_utc`), a naive moment from a caller is refused:
    it could mean the lender's time as well as UTC.

    Raises
    ------
    TypeError
        ``moment`` is not a datetime.
    ValueError
        ``moment`` is naive (the message names ``name``).
    """
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime; got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware; got {moment.isoformat()}")
    return as_utc(moment)


def stored_utc(moment: datetime | str) -> datetime:
    """A stored timestamp as aware UTC (:func:`store.clock.as_utc`); SQLite read through
    the driver's own cursor gives it back as text in UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return as_utc(moment)


def _entered(uow: SqlUnitOfWork) -> bool:
    # SqlUnitOfWork creates its session when entered.
    return "session" in vars(uow)


def _forget(uow: SqlUnitOfWork) -> None:
    """After entering and leaving a fresh unit of work here, make it fresh again (its
    closed session would otherwise look like one the caller entered)."""
    vars(uow).pop("session", None)


@contextmanager
def writing(source: Source) -> Iterator[sa.Connection]:
    """One write transaction on ``source``, committed when the block ends without error.

    An entered unit of work is used as it is and left for its owner to commit.
    """
    if isinstance(source, sa.Engine):
        with source.begin() as connection:
            yield connection
    elif _entered(source):
        yield source.session.connection()
    else:
        try:
            with source:
                yield source.session.connection()
                source.commit()
        finally:
            _forget(source)


@contextmanager
def reading(source: Source) -> Iterator[sa.Connection]:
    """One read-only transaction on ``source`` (on SQLite it does not wait for writers)."""
    if isinstance(source, sa.Engine):
        with source.connect() as connection:
            connection.execution_options(**{READ_ONLY_OPTION: True})
            yield connection
    elif _entered(source):
        yield source.session.connection()
    else:
        try:
            with source.reading():
                yield source.session.connection()
        finally:
            _forget(source)


# --------------------------------------------------------------------------------------------
# Stored records back into the builder's canonical frames
# --------------------------------------------------------------------------------------------

def _chunks(values: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _select(connection: sa.Connection, table: sa.Table, columns: Sequence[str],
            key: str, ids: Sequence[str] | None, *, before: datetime | None = None,
            since: datetime | None = None) -> list[tuple[Any, ...]]:
    """Raw rows (no per-value type conversion: SQLite gives timestamps as text, fast to
    parse in bulk) of ``table`` whose ``key`` is in ``ids`` (all rows when ``None``)."""
    statement = sa.select(*(sa.type_coerce(table.c[name], sa.String) if name in _TIMES
                            else table.c[name] for name in columns))
    if before is not None:
        statement = statement.where(table.c.created_at < before)
    if since is not None:
        statement = statement.where(table.c.created_at >= since)
    if ids is None:
        return _fetch_raw(connection, statement)
    rows: list[tuple[Any, ...]] = []
    for chunk in _chunks(list(ids)):
        rows += _fetch_raw(connection, statement.where(table.c[key].in_(list(chunk))))
    return rows


def _fetch_raw(connection: sa.Connection, statement: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """Every row of ``statement`` as the driver gives it: one ``fetchall`` of the DBAPI
    cursor instead of a SQLAlchemy row object per row (the columns need no result
    processing: times are read as text, and the callers convert in bulk)."""
    result = connection.execute(statement)
    try:
        return cast(list[tuple[Any, ...]], result.cursor.fetchall())
    finally:
        result.close()


def _times(values: pd.Series) -> pd.Series:
    """Stored timestamps (SQLite text in UTC, PostgreSQL aware datetimes) as UTC ns."""
    if values.empty:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(values, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string")


def read_orders(connection: sa.Connection, seller_ids: Sequence[str] | None = None, *,
                order_ids: Sequence[str] | None = None,
                before: datetime | None = None, since: datetime | None = None,
                ) -> pd.DataFrame:
    """Stored orders as the contract's canonical frame (``validate_orders(...).frame``).

    Parameters
    ----------
    connection : an open connection (inside a transaction).
    seller_ids : only the orders of these sellers (all orders when ``None``).
    order_ids : only the orders with these ids (instead of ``seller_ids``).
    before : only orders placed before this moment.
    since : only orders placed at or after this moment.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`features.records.ORDER_FIELDS`: timestamps UTC, amounts ``float64``
        in the major unit, ``status`` and ``channel`` categorical, ``disputed`` bool.
    """
    if order_ids is not None:
        rows = _select(connection, _ORDER, _ORDER_COLUMNS, "order_id", order_ids,
                       before=before, since=since)
    else:
        rows = _select(connection, _ORDER, _ORDER_COLUMNS, "seller_id", seller_ids,
                       before=before, since=since)
    raw = pd.DataFrame.from_records(rows, columns=list(_ORDER_COLUMNS))
    digits = raw["currency"].map(MINOR_UNIT_DIGITS).fillna(2).astype("int64") \
        if len(raw) else pd.Series([], dtype="int64")
    scale = np.power(10.0, digits.to_numpy())
    frame = pd.DataFrame({
        "order_id": _text(raw["order_id"]),
        "seller_id": _text(raw["seller_id"]),
        "buyer_id": _text(raw["buyer_id"]),
        "created_at": _times(raw["created_at"]),
        "amount": raw["amount_minor"].to_numpy(dtype=np.float64) / scale,
        "currency": _text(raw["currency"]),
        "status": pd.Categorical(raw["status"].astype(object), categories=ORDER_STATUSES),
        "refunded_amount": raw["refunded_amount_minor"].to_numpy(dtype=np.float64) / scale,
        "refunded_at": _times(raw["refunded_at"]),
        "disputed": raw["disputed"].astype(bool),
        "channel": pd.Categorical(raw["channel"].astype(object), categories=ORDER_CHANNELS),
        "buyer_country": _text(raw["buyer_country"]),
        "shipped_at": _times(raw["shipped_at"]),
        "paid_out_at": _times(raw["paid_out_at"]),
        "cancelled_at": _times(raw["cancelled_at"]),
        "disputed_at": _times(raw["disputed_at"]),
    })
    return frame


def read_sellers(connection: sa.Connection, seller_ids: Sequence[str] | None = None,
                 ) -> pd.DataFrame:
    """Stored sellers as the contract's canonical frame (``validate_sellers(...).frame``)."""
    rows = _select(connection, _SELLER, _SELLER_COLUMNS, "seller_id", seller_ids)
    raw = pd.DataFrame.from_records(rows, columns=list(_SELLER_COLUMNS))
    frame = pd.DataFrame({name: _text(raw[name]) for name in _SELLER_COLUMNS})
    frame["registered_at"] = _times(raw["registered_at"])
    frame["membership_tier_at"] = _times(raw["membership_tier_at"])
    return frame


def read_tier_history(connection: sa.Connection, seller_ids: Sequence[str] | None = None,
                      ) -> pd.DataFrame:
    """Stored tier periods as the contract's canonical frame
    (``validate_tier_history(...).frame``), of ``seller_ids`` (all when ``None``)."""
    rows = _select(connection, _TIER, _TIER_COLUMNS, "seller_id", seller_ids)
    raw = pd.DataFrame.from_records(rows, columns=list(_TIER_COLUMNS))
    return pd.DataFrame({
        "seller_id": _text(raw["seller_id"]),
        "membership_tier": _text(raw["membership_tier"]),
        "valid_from": _times(raw["valid_from"]),
        "valid_to": _times(raw["valid_to"]),
    })


# --------------------------------------------------------------------------------------------
# Building and storing snapshots
# --------------------------------------------------------------------------------------------

def _feature_rows(table: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    names = [str(name) for name in table.columns]
    columns = [table[name].astype(object).to_numpy() for name in table.columns]
    for position, seller_id in enumerate(table.index):
        yield str(seller_id), {name: json_value(column[position])
                               for name, column in zip(names, columns, strict=True)}


def read_credit_history(connection: sa.Connection, seller_ids: Sequence[str], *,
                        as_of: datetime, timezone: str = DEFAULT_TIMEZONE) -> pd.DataFrame:
    """The sellers' credit history with us as known at ``as_of``, in the credit-history
    contract (:func:`lending.persistence.history.credit_history_frame`): every line of
    theirs folded through the last business date ended by then. Empty for sellers with
    no line, who then get the repayment features' no-history values."""
    return credit_history_frame(connection, seller_ids=seller_ids, as_of=as_of,
                                timezone=timezone)


def _build(orders: pd.DataFrame, sellers: pd.DataFrame, as_of: datetime,
           timezone: str, credit_history: pd.DataFrame,
           tier_history: pd.DataFrame) -> pd.DataFrame:
    """The batch builder on these records, their tier history and the sellers' credit
    history with us (currency left out: features add amounts per seller, and the
    contract asks for one settlement currency)."""
    return build_features(orders.drop(columns=["currency"], errors="ignore"), sellers,
                          pd.Timestamp(as_of), credit_history, tier_history=tier_history,
                          timezone=timezone)


def _upsert(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = connection.dialect.name
    insert = (postgresql.insert(_SNAPSHOT) if dialect == "postgresql"
              else sqlite.insert(_SNAPSHOT))
    statement = insert.on_conflict_do_update(
        index_elements=["seller_id"],
        set_={name: insert.excluded[name] for name in
              ("as_of", "features", "feature_version", "orders_seen", "updated_at")})
    connection.execute(statement, rows)


def store_snapshots(connection: sa.Connection, orders: pd.DataFrame, sellers: pd.DataFrame,
                    *, now: datetime, timezone: str = DEFAULT_TIMEZONE,
                    progress: bool = False, credit_history: pd.DataFrame | None = None,
                    tier_history: pd.DataFrame | None = None,
                    ) -> dict[str, FeatureSnapshot]:
    """Build the features of ``sellers`` from ``orders`` (one builder call) and store them.

    ``orders`` must hold every stored order of these sellers (the snapshot is the builder's
    row on them). Sellers registered at or after ``now`` get no row (the builder leaves
    them out) and lose any snapshot they had. The sellers' credit history with us as of
    ``now`` (:func:`read_credit_history`) and their stored tier history
    (:func:`read_tier_history`) are read in the same transaction unless given.

    Returns
    -------
    dict
        seller id -> the snapshot stored.
    """
    as_of = require_utc(now)
    if credit_history is None:
        credit_history = read_credit_history(
            connection, [str(s) for s in sellers["seller_id"]], as_of=as_of,
            timezone=timezone)
    if tier_history is None:
        tier_history = read_tier_history(connection, [str(s) for s in sellers["seller_id"]])
    table = _build(orders, sellers, as_of, timezone, credit_history, tier_history)
    seen = orders["seller_id"].value_counts() if len(orders) else pd.Series(dtype="int64")
    stamp = utc_now()
    rows: list[dict[str, Any]] = []
    stored: dict[str, FeatureSnapshot] = {}
    for seller_id, values in tqdm(_feature_rows(table), total=len(table), unit="seller",
                                  desc="snapshots", file=sys.stderr, leave=False,
                                  disable=not progress):
        rows.append({"seller_id": seller_id, "as_of": as_of,
                     "features": json.dumps(values, allow_nan=False, separators=(",", ":")),
                     "feature_version": _FEATURE_VERSION,
                     "orders_seen": int(seen.get(seller_id, 0)), "updated_at": stamp})
        stored[seller_id] = FeatureSnapshot(seller_id, str(values.get("seller_kind")),
                                            as_of, values)
    for chunk in range(0, len(rows), 5_000):
        _upsert(connection, rows[chunk:chunk + 5_000])
    _delete_snapshots(connection, [str(s) for s in sellers["seller_id"] if str(s) not in stored])
    return stored


def _delete_snapshots(connection: sa.Connection, seller_ids: Sequence[str]) -> None:
    for ids in _chunks(seller_ids):
        connection.execute(sa.delete(_SNAPSHOT).where(_SNAPSHOT.c.seller_id.in_(list(ids))))


def rebuild_snapshots(connection: sa.Connection, seller_ids: Iterable[str], *, now: datetime,
                      timezone: str = DEFAULT_TIMEZONE, progress: bool = False,
                      ) -> dict[str, FeatureSnapshot]:
    """Rebuild and store the snapshots of ``seller_ids`` from their stored orders.

    One read of those sellers' orders, one :func:`features.build_features` call. The
    caller holds the transaction (and, on PostgreSQL, the sellers' row locks).
    """
    ids = sorted({str(seller_id) for seller_id in seller_ids})
    if not ids:
        return {}
    sellers = read_sellers(connection, ids)
    orders = read_orders(connection, ids)
    return store_snapshots(connection, orders, sellers, now=now, timezone=timezone,
                           progress=progress)


#: What a batch of records does to the snapshots of the sellers it changes: ``"rebuild"``
#: them as of the batch's moment (the default: a decision right after reads a stored
#: snapshot), or ``"invalidate"`` them (delete the stored rows: the next decision on such
#: a seller builds its snapshot then, or :func:`refresh_snapshots` builds several in one
#: call). Invalidating suits a bulk feed of many sellers of whom few are decided soon.
SnapshotMode = Literal["rebuild", "invalidate"]
SNAPSHOT_MODES: tuple[str, ...] = get_args(SnapshotMode)


def check_snapshot_mode(mode: str) -> None:
    """Raise ``ValueError`` unless ``mode`` is one of :data:`SNAPSHOT_MODES` (the batch
    services check it before they store anything)."""
    if mode not in SNAPSHOT_MODES:
        raise ValueError(f"snapshot mode must be one of {', '.join(SNAPSHOT_MODES)}; "
                         f"got {mode!r}")


def renew_snapshots(connection: sa.Connection, seller_ids: Iterable[str], *, now: datetime,
                    timezone: str = DEFAULT_TIMEZONE, mode: SnapshotMode = "rebuild") -> int:
    """Rebuild or invalidate (``mode``, :data:`SnapshotMode`) the snapshots of
    ``seller_ids``; the number rebuilt (0 when invalidating). The caller holds the
    transaction and the sellers' locks, as for :func:`rebuild_snapshots`."""
    check_snapshot_mode(mode)
    if mode == "rebuild":
        return len(rebuild_snapshots(connection, seller_ids, now=now, timezone=timezone))
    _delete_snapshots(connection, sorted({str(seller_id) for seller_id in seller_ids}))
    return 0


def seller_exists(connection: sa.Connection, seller_id: str) -> bool:
    """Whether the seller is registered (one primary-key read)."""
    return connection.execute(sa.select(_SELLER.c.seller_id)
                              .where(_SELLER.c.seller_id == seller_id)).first() is not None


def lock_sellers(connection: sa.Connection, seller_ids: Iterable[str]) -> set[str]:
    """Lock the sellers' rows until the transaction ends; return the ids that exist.

    ``SELECT ... FOR UPDATE`` in id order (so two writers never wait on each other in a
    circle) on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers. Ingests
    and snapshot refreshes of one seller take turns, so a refresh never stores features
    computed from orders an ingest is replacing.
    """
    ids = sorted({str(seller_id) for seller_id in seller_ids})
    found: set[str] = set()
    for chunk in _chunks(ids):
        statement = sa.select(_SELLER.c.seller_id).where(_SELLER.c.seller_id.in_(list(chunk)))
        if connection.dialect.name == "postgresql":
            statement = statement.order_by(_SELLER.c.seller_id).with_for_update()
        found.update(str(row[0]) for row in connection.execute(statement))
    return found


# --------------------------------------------------------------------------------------------
# What a decision calls
# --------------------------------------------------------------------------------------------

_READ_SNAPSHOT = (sa.select(_SNAPSHOT.c.as_of, _SNAPSHOT.c.features,
                            _SNAPSHOT.c.feature_version)
                  .where(_SNAPSHOT.c.seller_id == sa.bindparam("seller_id")))


def _from_row(seller_id: str, as_of: datetime, features_json: str) -> FeatureSnapshot:
    values = json.loads(features_json)
    return FeatureSnapshot(seller_id, str(values.get("seller_kind")), as_of, values)


def _compute(connection: sa.Connection, seller_id: str, as_of: datetime, timezone: str,
             *, store: bool) -> FeatureSnapshot:
    """Build one seller's snapshot at ``as_of`` from its stored orders (stored if asked)."""
    sellers = read_sellers(connection, [seller_id])
    if sellers.empty:
        raise UnknownSeller(seller_id)
    orders = read_orders(connection, [seller_id])
    if store:
        built = store_snapshots(connection, orders, sellers, now=as_of, timezone=timezone)
    else:
        table = _build(orders, sellers, as_of, timezone,
                       read_credit_history(connection, [seller_id], as_of=as_of,
                                           timezone=timezone),
                       read_tier_history(connection, [seller_id]))
        built = {sid: FeatureSnapshot(sid, str(values.get("seller_kind")), as_of, values)
                 for sid, values in _feature_rows(table)}
    if seller_id not in built:
        registered = sellers["registered_at"].iloc[0].to_pydatetime()
        raise SellerNotYetRegistered(seller_id, registered, as_of)
    return built[seller_id]


def current_snapshot(source: Source, seller_id: str, *, now: datetime, max_age: timedelta,
                     timezone: str = DEFAULT_TIMEZONE) -> FeatureSnapshot:
    """The seller's stored feature snapshot, rebuilt first only when it is out of date.

    The common case is one primary-key read of ``feature_snapshot`` and a JSON parse. The
    snapshot is rebuilt from this one seller's stored orders (and stored) when it is
    missing, older than ``max_age`` at ``now``, or built with other feature definitions.
    When ``now`` is *before* the stored snapshot (a decision as of an earlier moment), the
    features at ``now`` are computed and returned without replacing the stored one.

    Parameters
    ----------
    source : an engine, or a unit of work (see the module notes on transactions).
    seller_id : the seller.
    now : the moment the decision is made as of (timezone-aware).
    max_age : how old a stored snapshot may be (setting ``snapshot_max_age_seconds``).
    timezone : the lender's time zone (only used by the builder for naive moments).

    Returns
    -------
    FeatureSnapshot
        ``as_of`` is the moment the features describe (at most ``max_age`` before ``now``,
        and never after it).

    Raises
    ------
    UnknownSeller
        No such seller is registered (HTTP 404 ``unknown_seller``).
    SellerNotYetRegistered
        The seller registered at or after ``now`` (HTTP 409).
    """
    return _current(source, seller_id, now, max_age, timezone, None)[0]


def current_snapshot_and(source: Source, seller_id: str, read: ReadAlong[_T], *,
                         now: datetime, max_age: timedelta,
                         timezone: str = DEFAULT_TIMEZONE) -> tuple[FeatureSnapshot, _T]:
    """:func:`current_snapshot`, and what ``read`` reads in the same ``SELECT`` as the
    snapshot's row (a decision reads the seller's credit lines so: one statement on one
    pooled connection, no transaction of its own, instead of a second of each).

    The two are read consistently, in one statement. Without a stored snapshot row,
    ``read`` is read alone first (a statement of its own), then the snapshot is built. It
    is read once, before a snapshot that is out of date is rebuilt.
    """
    snapshot, result = _current(source, seller_id, now, max_age, timezone, read)
    return snapshot, result  # type: ignore[return-value]


def _current(source: Source, seller_id: str, now: datetime, max_age: timedelta,
             timezone: str, read: ReadAlong[_T] | None
             ) -> tuple[FeatureSnapshot, _T | None]:
    moment = require_utc(now)
    if not storable_id(seller_id):
        raise UnknownSeller(seller_id)
    row, result = _read_stored(source, seller_id, read)
    if row is not None:
        as_of = stored_utc(row[0])
        if _usable(row, as_of, moment, max_age):
            return _from_row(seller_id, as_of, row[1]), result
        if as_of > moment:
            # asked about the past: computed, never stored over the newer snapshot
            with reading(source) as connection:
                return _compute(connection, seller_id, moment, timezone, store=False), result
    with writing(source) as connection:
        if not lock_sellers(connection, [seller_id]):
            raise UnknownSeller(seller_id)
        # a concurrent decision may have refreshed it while this one waited for the lock
        row = connection.execute(_READ_SNAPSHOT, {"seller_id": seller_id}).first()
        if row is not None and _usable(row, stored_utc(row[0]), moment, max_age):
            return _from_row(seller_id, stored_utc(row[0]), row[1]), result
        return _compute(connection, seller_id, moment, timezone, store=True), result


def _usable(row: Any, as_of: datetime, moment: datetime, max_age: timedelta) -> bool:
    """Built with today's definitions, not after ``moment`` and at most ``max_age`` old."""
    return bool(row[2] == _FEATURE_VERSION and as_of <= moment and moment - as_of <= max_age)


_RAW_READ = "SELECT as_of, features, feature_version{} FROM feature_snapshot WHERE seller_id = {}"


def _read_stored(source: Source, seller_id: str, read: ReadAlong[_T] | None = None
                 ) -> tuple[Any, _T | None]:
    """The stored snapshot row ``(as_of, features, feature_version, ...)`` or ``None``, and
    what ``read`` (if given) read in the same statement (alone when there is no row).

    On an engine this is one statement on a pooled DBAPI connection, without SQLAlchemy's
    transaction bookkeeping (a single SELECT is consistent on its own) and without a
    transaction to roll back afterwards: about a fifth of the cost of a Core query, and
    every decision pays it. In a unit of work the caller entered, it is its connection's.
    """
    if isinstance(source, SqlUnitOfWork):
        if _entered(source):
            connection = source.session.connection()

            def first_entered(sql: str, params: tuple[Any, ...]) -> Any:
                return connection.exec_driver_sql(sql, params).first()

            return _read_with(first_entered, connection.dialect, seller_id, read)
        source = source.engine
    raw = source.raw_connection()
    try:
        # psycopg would open a transaction for the SELECT, and the pool would then roll it
        # back when the connection returns: one more round trip. Read in autocommit (as
        # the pool's own ping does); SQLite's connections are in autocommit already.
        driver: Any = raw.driver_connection
        toggle = (source.dialect.name == "postgresql"
                  and getattr(driver, "autocommit", True) is False)
        if toggle:
            driver.autocommit = True
        cursor = raw.cursor()
        try:
            def first(sql: str, params: tuple[Any, ...]) -> Any:
                cursor.execute(sql, params)
                return cursor.fetchone()

            return _read_with(first, source.dialect, seller_id, read)
        finally:
            cursor.close()
            if toggle and not driver.closed:
                driver.autocommit = False
    finally:
        raw.close()


def _read_with(first: Callable[[str, tuple[Any, ...]], Any], dialect: sa.Dialect,
               seller_id: str, read: ReadAlong[_T] | None) -> tuple[Any, _T | None]:
    """:func:`_read_stored`'s statements, given ``first(sql, params)``: the first row of a
    statement (``None``: no row) on the connection it reads from."""
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    along = "" if read is None else ", " + read.select(dialect.name, "feature_snapshot.seller_id")
    row = first(_RAW_READ.format(along, mark), (seller_id,))
    if read is None:
        return row, None
    if row is not None:
        return row, read.parse(row[3])
    alone = first("SELECT " + read.select(dialect.name, mark), (seller_id,))
    return row, read.parse(None if alone is None else alone[0])


def refresh_snapshots(source: Source, *, now: datetime, seller_ids: Iterable[str] | None = None,
                      timezone: str = DEFAULT_TIMEZONE, progress: bool = True) -> int:
    """Rebuild the snapshots of every seller (or of ``seller_ids``) as of ``now``.

    One transaction, one read of the orders and one builder call; a tqdm bar on stderr
    while the rows are written. Returns how many snapshots were stored (sellers
    registered at or after ``now`` get none).

    Raises
    ------
    UnknownSeller
        When ``seller_ids`` names a seller that is not registered.
    """
    with writing(source) as connection:
        if seller_ids is None:
            ids = [str(row[0]) for row in connection.execute(sa.select(_SELLER.c.seller_id))]
            lock_sellers(connection, ids)
            return len(store_snapshots(connection, read_orders(connection),
                                       read_sellers(connection), now=now, timezone=timezone,
                                       progress=progress))
        ids = sorted({str(seller_id) for seller_id in seller_ids})
        missing = sorted(set(ids) - lock_sellers(connection, ids))
        if missing:
            raise UnknownSeller(missing[0])
        return len(rebuild_snapshots(connection, ids, now=now, timezone=timezone,
                                     progress=progress))


def refresh_changed_sellers(source: Source, seller_ids: Iterable[str], *, now: datetime,
                            timezone: str = DEFAULT_TIMEZONE) -> int:
    """Rebuild the snapshots of those of ``seller_ids`` that are registered, as of ``now``.

    End of day lists the sellers whose credit history with us changed (bucket, freeze,
    write-off); their snapshots are rebuilt here so that no decision reads one built
    before the change. A line may belong to a seller the records service does not know
    (a line opened by hand): such ids are skipped, not an error. One transaction, the
    sellers' rows locked as an ingest locks them. Returns how many snapshots were stored.
    """
    ids = sorted({str(seller_id) for seller_id in seller_ids})
    if not ids:
        return 0
    with writing(source) as connection:
        known = lock_sellers(connection, ids)
        return len(rebuild_snapshots(connection, known, now=now, timezone=timezone))
