"""Sellers, orders and per-seller feature snapshots.

Revision ID: 0002
Revises: 0001

The tables of :mod:`records.tables` (keep the two in step:
``tests/store/test_migrations.py`` compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID_LENGTH = 128


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "seller",
        sa.Column("seller_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("registered_at", _timestamp(), nullable=False),
        sa.Column("region", sa.String(ID_LENGTH), nullable=False),
        sa.Column("industry", sa.String(ID_LENGTH), nullable=False),
        sa.Column("membership_tier", sa.String(20), nullable=False),
        sa.Column("stored_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("seller_id"),
    )
    op.create_table(
        "seller_order",
        sa.Column("order_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("seller_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("buyer_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("refunded_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_at", _timestamp(), nullable=True),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("buyer_country", sa.String(2), nullable=False),
        sa.Column("shipped_at", _timestamp(), nullable=True),
        sa.Column("paid_out_at", _timestamp(), nullable=True),
        sa.Column("stored_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
        sa.ForeignKeyConstraint(["seller_id"], ["seller.seller_id"]),
    )
    op.create_index("ix_seller_order_seller_id_created_at", "seller_order",
                    ["seller_id", "created_at"])
    op.create_table(
        "feature_snapshot",
        sa.Column("seller_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("as_of", _timestamp(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("feature_version", sa.String(40), nullable=False),
        sa.Column("orders_seen", sa.Integer(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("seller_id"),
        sa.ForeignKeyConstraint(["seller_id"], ["seller.seller_id"]),
    )


def downgrade() -> None:
    op.drop_table("feature_snapshot")
    op.drop_index("ix_seller_order_seller_id_created_at", table_name="seller_order")
    op.drop_table("seller_order")
    op.drop_table("seller")
