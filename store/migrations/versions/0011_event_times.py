"""Point in time for every event: cancellation and dispute times, the tier history.

Revision ID: 0011
Revises: 0010

``seller_order`` gets ``cancelled_at`` and ``disputed_at`` and ``seller`` gets
``membership_tier_at`` (when the marketplace showed the seller's tier), all nullable: an
order stored before this migration has no known cancellation or dispute time, so no
feature counts its cancellation or dispute (issue 15, ``docs/records.md``), and a seller
stored before it has no known tier until it is sent again or a tier history is loaded.
``seller_tier`` holds the sellers' membership-tier periods (:class:`records.tables.
SellerTierRecord`), one row per seller and ``valid_from``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("seller_order",
                  sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("seller_order",
                  sa.Column("disputed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("seller",
                  sa.Column("membership_tier_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "seller_tier",
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("membership_tier", sa.String(20), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seller_id", "valid_from"),
        sa.ForeignKeyConstraint(["seller_id"], ["seller.seller_id"]),
    )


def downgrade() -> None:
    op.drop_table("seller_tier")
    with op.batch_alter_table("seller") as table:
        table.drop_column("membership_tier_at")
    with op.batch_alter_table("seller_order") as table:
        table.drop_column("disputed_at")
        table.drop_column("cancelled_at")
