"""End of day keeps each line's fold, resumed the next day instead of refolded.

Revision ID: 0008
Revises: 0007

``line_checkpoint`` holds one row per line end of day has advanced: the fold's state as
of a day (JSON), the number of events it was folded from, the next day the fold visits
and the last day through which it is quiet (see
:class:`lending.persistence.tables.LineCheckpointRecord`). A cache: deleting its rows
only makes the next end of day fold those lines from their events.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "line_checkpoint",
        sa.Column("line_id", sa.String(100), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("next_visit", sa.Date(), nullable=True),
        sa.Column("quiet_through", sa.Date(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["line_id"], ["credit_line.id"]),
        sa.PrimaryKeyConstraint("line_id"),
    )


def downgrade() -> None:
    op.drop_table("line_checkpoint")
