"""Lending tables: credit lines, line events, journal, idempotency records.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("line_event", "journal_entry", "journal_posting")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "credit_line",
        sa.Column("seller_id", sa.String(100), nullable=False),
        sa.Column("product", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=True),
        sa.Column("revolving", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("penalty_daily_rate", sa.String(20), nullable=False),
        sa.Column("freeze_after_days", sa.Integer(), nullable=False),
        sa.Column("write_off_after_days", sa.Integer(), nullable=False),
        sa.Column("allocation_order", sa.String(60), nullable=False),
        sa.Column("allocation_by", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("last_operation_on", sa.Date(), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("outstanding_minor", sa.BigInteger(), nullable=False),
        sa.Column("available_minor", sa.BigInteger(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(10), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_credit_line_seller_id", "credit_line", ["seller_id"])
    op.create_table(
        "line_event",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("line_id", sa.String(100), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("operation_id", sa.String(100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("recorded_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["line_id"], ["credit_line.id"]),
        sa.UniqueConstraint("line_id", "sequence", name="uq_line_event_sequence"),
        sa.UniqueConstraint("line_id", "kind", "operation_id", name="uq_line_event_operation"),
    )
    op.create_table(
        "journal_entry",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("line_id", sa.String(100), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("posted_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("adjustment", sa.Boolean(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["line_id"], ["credit_line.id"]),
    )
    op.create_index("ix_journal_entry_line_id", "journal_entry", ["line_id"])
    op.create_table(
        "journal_posting",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("entry_id", BIG_ID, nullable=False),
        sa.Column("account", sa.String(30), nullable=False),
        sa.Column("side", sa.String(6), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entry.id"]),
    )
    op.create_index("ix_journal_posting_entry_id", "journal_posting", ["entry_id"])
    op.create_table(
        "idempotency_record",
        sa.Column("scope", sa.String(60), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("line_id", sa.String(100), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    _refuse_updates_and_deletes()


def _refuse_updates_and_deletes() -> None:
    """The event log and the journal are append-only, also for hand-written SQL."""
    if op.get_context().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION lending_refuse_change() RETURNS trigger LANGUAGE plpgsql "
                   "AS $$ BEGIN RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME; "
                   "END $$")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION lending_refuse_change()")
        return
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS lending_refuse_change()")
    op.drop_table("idempotency_record")
    op.drop_index("ix_journal_posting_entry_id", table_name="journal_posting")
    op.drop_table("journal_posting")
    op.drop_index("ix_journal_entry_line_id", table_name="journal_entry")
    op.drop_table("journal_entry")
    op.drop_table("line_event")
    op.drop_index("ix_credit_line_seller_id", table_name="credit_line")
    op.drop_table("credit_line")
