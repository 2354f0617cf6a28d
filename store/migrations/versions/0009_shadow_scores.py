"""Shadow scores: what the challenger model said of each decision, never acted on.

Revision ID: 0009
Revises: 0008

``shadow_score`` holds one row per decision and challenger model version that scored it
beside the champion (see :class:`decisions.tables.ShadowScore`): the challenger's PD,
points and grade and when it scored. The decision itself is the champion's; these rows
only let a backtest compare champion and challenger on the same live applicants. Like
the decision's audit columns, a shadow score never changes: triggers refuse an UPDATE or
a DELETE of a row, also for hand-written SQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_score",
        sa.Column("decision_id", sa.String(40), nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(60), nullable=False),
        sa.Column("pd", sa.Float(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(10), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["credit_decision.id"]),
        sa.PrimaryKeyConstraint("decision_id", "model_version"),
    )
    if op.get_context().dialect.name == "postgresql":
        # decisions_refuse_change() is the audit trail's trigger function (0004).
        op.execute("CREATE TRIGGER shadow_score_append_only BEFORE UPDATE OR DELETE ON "
                   "shadow_score FOR EACH ROW EXECUTE FUNCTION decisions_refuse_change()")
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER shadow_score_no_{action.lower()} BEFORE {action} ON "
                   f"shadow_score BEGIN SELECT RAISE(ABORT, '{action} of table "
                   f"shadow_score is refused: the audit trail is append-only'); END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS shadow_score_append_only ON shadow_score")
    op.drop_table("shadow_score")
