"""An index on the credit lines' opening date.

Revision ID: 0012
Revises: 0011

A store that never ran end of day takes its business date from its earliest line
(``lending.persistence.business_day``), and every approval reads it: without an index
that read scanned every line (0.4 ms on PostgreSQL at 1,000 lines, growing with the book).
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_credit_line_opened_on", "credit_line", ["opened_on"])


def downgrade() -> None:
    op.drop_index("ix_credit_line_opened_on", table_name="credit_line")
