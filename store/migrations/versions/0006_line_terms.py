"""Credit lines keep the terms granted by the decision that opened them.

Revision ID: 0006
Revises: 0005

``credit_line.terms`` is the decision's :class:`lending.policy.Terms` as JSON text
(product, interest-free days or instalment months with their monthly fee rate, or a term
loan's methods, months and annual rate); every draw is checked against it. It is empty
for lines opened with an explicit limit and no decision, which keep drawing any plan.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("credit_line", sa.Column("terms", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_line") as batch:
        batch.drop_column("terms")
