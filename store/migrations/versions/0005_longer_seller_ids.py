"""Credit lines hold seller ids of up to 128 characters, as the record contract allows.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _resize(length: int) -> None:
    if op.get_context().dialect.name == "sqlite":
        # SQLite stores text whatever the declared length, so only the declaration
        # changes: the documented way for changes that leave the stored content as it is
        # (https://sqlite.org/lang_altertable.html, "making other kinds of table schema
        # changes") instead of rebuilding a table that events and entries point at.
        old, new = (100, 128) if length == 128 else (128, 100)
        connection = op.get_bind()
        version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
        connection.exec_driver_sql("PRAGMA writable_schema = ON")
        connection.exec_driver_sql(
            f"UPDATE sqlite_master SET sql = replace(sql, 'seller_id VARCHAR({old})', "
            f"'seller_id VARCHAR({new})') WHERE type = 'table' AND name = 'credit_line'")
        connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")
    else:
        op.alter_column("credit_line", "seller_id", type_=sa.String(length),
                        existing_nullable=False)


def upgrade() -> None:
    _resize(128)


def downgrade() -> None:
    _resize(100)
