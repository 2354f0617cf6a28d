"""Tables of the records store: sellers, their orders and their feature snapshots.

Every field of the record contract (:mod:`features.records`, ``docs/records.md``) has a
column. Money is stored as exact integer minor units (``*_minor``, as in
:mod:`lending.persistence.tables`); times as timezone-aware UTC. ``stored_at`` and
``updated_at`` say when the store first saw a record and when it last changed it (the
contract's own ``created_at`` is when the order was placed).

``feature_snapshot`` holds one seller's features as of a moment (JSON text), written by
:mod:`records.ingest` and :mod:`records.snapshots` so that a decision reads one
row by primary key instead of rescanning the seller's orders.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = ["SellerRecord", "OrderRecord", "SellerTierRecord", "FeatureSnapshotRecord",
           "ID_LENGTH"]

#: Longest identifier the contract accepts (``features.records``: 128 characters).
ID_LENGTH = 128


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


class SellerRecord(SQLModel, table=True):
    """A seller as registered by the marketplace (one row per ``seller_id``)."""

    __tablename__ = "seller"

    seller_id: str = Field(primary_key=True, max_length=ID_LENGTH)
    kind: str = Field(max_length=20)
    registered_at: datetime = Field(sa_type=_timestamp())
    region: str = Field(max_length=ID_LENGTH)
    industry: str = Field(max_length=ID_LENGTH)
    membership_tier: str = Field(max_length=20)
    #: when the marketplace showed ``membership_tier``: sent with the record, or the
    #: moment the service received a new or changed tier without it
    membership_tier_at: datetime | None = Field(default=None, sa_type=_timestamp())
    stored_at: datetime = Field(sa_type=_timestamp())
    updated_at: datetime = Field(sa_type=_timestamp())


class SellerTierRecord(SQLModel, table=True):
    """One period a seller held a membership tier (``features.records.
    TIER_HISTORY_FIELDS``), keyed by seller and ``valid_from``; a later version replaces
    it."""

    __tablename__ = "seller_tier"

    seller_id: str = Field(primary_key=True, foreign_key="seller.seller_id",
                           max_length=ID_LENGTH)
    valid_from: datetime = Field(primary_key=True, sa_type=_timestamp())
    membership_tier: str = Field(max_length=20)
    valid_to: datetime | None = Field(default=None, sa_type=_timestamp())
    stored_at: datetime = Field(sa_type=_timestamp())
    updated_at: datetime = Field(sa_type=_timestamp())


class OrderRecord(SQLModel, table=True):
    """An order of a seller (one row per ``order_id``; a later version replaces it)."""

    __tablename__ = "seller_order"
    # A seller's orders in time order: the snapshot refresh and the officer's charts
    # read exactly this range.
    __table_args__ = (sa.Index("ix_seller_order_seller_id_created_at", "seller_id",
                               "created_at"),)

    order_id: str = Field(primary_key=True, max_length=ID_LENGTH)
    seller_id: str = Field(foreign_key="seller.seller_id", max_length=ID_LENGTH)
    buyer_id: str = Field(max_length=ID_LENGTH)
    created_at: datetime = Field(sa_type=_timestamp())
    amount_minor: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    status: str = Field(max_length=20)
    refunded_amount_minor: int = Field(sa_type=sa.BigInteger)
    refunded_at: datetime | None = Field(default=None, sa_type=_timestamp())
    disputed: bool
    channel: str = Field(max_length=20)
    buyer_country: str = Field(max_length=2)
    shipped_at: datetime | None = Field(default=None, sa_type=_timestamp())
    paid_out_at: datetime | None = Field(default=None, sa_type=_timestamp())
    cancelled_at: datetime | None = Field(default=None, sa_type=_timestamp())
    disputed_at: datetime | None = Field(default=None, sa_type=_timestamp())
    stored_at: datetime = Field(sa_type=_timestamp())
    updated_at: datetime = Field(sa_type=_timestamp())


class FeatureSnapshotRecord(SQLModel, table=True):
    """A seller's features as of ``as_of``, exactly the batch builder's row for it.

    ``features`` is the JSON object feature name -> value (``null`` for NaN);
    ``feature_version`` the registry fingerprint (:func:`features.registry_version`) it
    was built with, so a change of definitions makes every snapshot stale;
    ``orders_seen`` how many stored orders of the seller the build read.
    """

    __tablename__ = "feature_snapshot"

    seller_id: str = Field(primary_key=True, foreign_key="seller.seller_id",
                           max_length=ID_LENGTH)
    as_of: datetime = Field(sa_type=_timestamp())
    features: str = Field(sa_type=sa.Text)
    feature_version: str = Field(max_length=40)
    orders_seen: int
    updated_at: datetime = Field(sa_type=_timestamp())
