"""Credit decisions and officer actions.

Revision ID: 0004
Revises: 0003

``officer_action`` is append-only and the audit columns of ``credit_decision`` never
change, also for hand-written SQL: triggers refuse an UPDATE or DELETE of an officer
action, a DELETE of a decision and an UPDATE of any audit column of a decision (the
current status, limit, line, ``decided_by``/``decided_at`` and ``version`` stay writable,
and every change of them is an officer action).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: As ``decisions.tables.AUDIT_COLUMNS`` (a migration does not import application code,
#: so that it stays what it was when it ran).
AUDIT_COLUMNS = (
    "id", "seller_id", "seller_kind", "outcome", "pd", "points", "raw_score",
    "baseline_points", "grade", "currency", "proposed_limit_minor", "product", "terms",
    "reasons", "positive_factors", "policy_reasons", "features", "contributions",
    "family_points", "model_name", "model_version", "policy_version", "snapshot_as_of",
    "created_at", "actor")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "credit_decision",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("seller_kind", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("pd", sa.Float(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("raw_score", sa.Float(), nullable=False),
        sa.Column("baseline_points", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("proposed_limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("product", sa.String(40), nullable=True),
        sa.Column("terms", sa.Text(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("positive_factors", sa.Text(), nullable=False),
        sa.Column("policy_reasons", sa.Text(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("contributions", sa.Text(), nullable=False),
        sa.Column("family_points", sa.Text(), nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(60), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("snapshot_as_of", _timestamp(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("line_id", sa.String(100), nullable=True),
        sa.Column("decided_by", sa.String(160), nullable=True),
        sa.Column("decided_at", _timestamp(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["line_id"], ["credit_line.id"]),
    )
    op.create_index("ix_credit_decision_seller_id", "credit_decision", ["seller_id"])
    op.create_index("ix_credit_decision_created_at", "credit_decision", ["created_at"])
    op.create_index("ix_credit_decision_status_created_at", "credit_decision",
                    ["status", "created_at"])
    op.create_table(
        "officer_action",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.String(40), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("acted_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["decision_id"], ["credit_decision.id"]),
    )
    op.create_index("ix_officer_action_decision_id", "officer_action", ["decision_id"])
    _protect_the_audit()


def _protect_the_audit() -> None:
    """Refuse changes of the audit trail, also for hand-written SQL."""
    columns = ", ".join(AUDIT_COLUMNS)
    if op.get_context().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION decisions_refuse_change() RETURNS trigger "
                   "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                   "'% of table % is refused: the audit trail is append-only', "
                   "TG_OP, TG_TABLE_NAME; END $$")
        op.execute("CREATE TRIGGER officer_action_append_only BEFORE UPDATE OR DELETE ON "
                   "officer_action FOR EACH ROW EXECUTE FUNCTION decisions_refuse_change()")
        op.execute("CREATE TRIGGER credit_decision_no_delete BEFORE DELETE ON "
                   "credit_decision FOR EACH ROW EXECUTE FUNCTION decisions_refuse_change()")
        op.execute(f"CREATE TRIGGER credit_decision_audit_columns BEFORE UPDATE OF {columns} "
                   f"ON credit_decision FOR EACH ROW "
                   f"EXECUTE FUNCTION decisions_refuse_change()")
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER officer_action_no_{action.lower()} BEFORE {action} ON "
                   f"officer_action BEGIN SELECT RAISE(ABORT, '{action} of table "
                   f"officer_action is refused: the audit trail is append-only'); END")
    op.execute("CREATE TRIGGER credit_decision_no_delete BEFORE DELETE ON credit_decision "
               "BEGIN SELECT RAISE(ABORT, 'DELETE of table credit_decision is refused: "
               "the audit trail is append-only'); END")
    op.execute(f"CREATE TRIGGER credit_decision_audit_columns BEFORE UPDATE OF {columns} ON "
               f"credit_decision BEGIN SELECT RAISE(ABORT, 'UPDATE of table credit_decision "
               f"is refused: the audit trail is append-only'); END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS officer_action_append_only ON officer_action")
        op.execute("DROP TRIGGER IF EXISTS credit_decision_no_delete ON credit_decision")
        op.execute("DROP TRIGGER IF EXISTS credit_decision_audit_columns ON credit_decision")
        op.execute("DROP FUNCTION IF EXISTS decisions_refuse_change()")
    op.drop_index("ix_officer_action_decision_id", table_name="officer_action")
    op.drop_table("officer_action")
    op.drop_index("ix_credit_decision_status_created_at", table_name="credit_decision")
    op.drop_index("ix_credit_decision_created_at", table_name="credit_decision")
    op.drop_index("ix_credit_decision_seller_id", table_name="credit_decision")
    op.drop_table("credit_decision")
