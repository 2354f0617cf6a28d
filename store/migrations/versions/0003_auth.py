"""Users, API keys, sessions and login attempts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("password_changed_at", _timestamp(), nullable=False),
        sa.Column("disabled_at", _timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("revoked_at", _timestamp(), nullable=True),
        sa.Column("last_used_at", _timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "user_session",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("last_seen_at", _timestamp(), nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["username"], ["app_user.username"]),
    )
    op.create_index("ix_user_session_username", "user_session", ["username"])
    op.create_table(
        "login_attempt",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("attempted_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_attempt_username", "login_attempt", ["username"])
    op.create_index("ix_login_attempt_client_ip", "login_attempt", ["client_ip"])
    op.create_index("ix_login_attempt_attempted_at", "login_attempt", ["attempted_at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempt_attempted_at", table_name="login_attempt")
    op.drop_index("ix_login_attempt_client_ip", table_name="login_attempt")
    op.drop_index("ix_login_attempt_username", table_name="login_attempt")
    op.drop_table("login_attempt")
    op.drop_index("ix_user_session_username", table_name="user_session")
    op.drop_table("user_session")
    op.drop_table("api_key")
    op.drop_table("app_user")
