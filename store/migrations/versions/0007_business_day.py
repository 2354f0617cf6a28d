"""The lender's business day and the end-of-day runs.

Revision ID: 0007
Revises: 0006

``business_day`` holds the store's one row: the last day end of day closed (the business
date is the day after it) and, on SQLite, the end-of-day runner's claim. ``end_of_day_run``
holds one row per day end of day started to close, with its resume cursor (the last line
id whose batch committed), progress, outcome and trial balance.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "business_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_closed", sa.Date(), nullable=False),
        sa.Column("runner", sa.String(200), nullable=True),
        sa.Column("runner_until", _timestamp(), nullable=True),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "end_of_day_run",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", _timestamp(), nullable=False),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("lines_processed", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.String(100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("trial_balance", sa.Text(), nullable=True),
        sa.Column("sellers_changed", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day", name="uq_end_of_day_run_day"),
    )


def downgrade() -> None:
    op.drop_table("end_of_day_run")
    op.drop_table("business_day")
