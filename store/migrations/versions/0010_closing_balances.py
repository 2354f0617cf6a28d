"""End of day carries the trial balance forward from one close to the next.

Revision ID: 0010
Revises: 0009

``closing_balance`` holds, for each day end of day closed, the posted amounts of the book
at that close per (date posted, currency, account, side), and ``end_of_day_run`` gets
``journal_through``, the largest journal entry id the close counted (see
:class:`lending.persistence.business_day.ClosingBalanceRecord`). The next close adds only
the entries booked since to them instead of summing every posting of the book. Days
closed before this migration have no closing balances: the first close after it sums the
whole book once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closing_balance",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("posted_on", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("account", sa.String(30), nullable=False),
        sa.Column("side", sa.String(6), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "posted_on", "currency", "account", "side"),
    )
    op.add_column("end_of_day_run",
                  sa.Column("journal_through", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("end_of_day_run") as table:
        table.drop_column("journal_through")
    op.drop_table("closing_balance")
