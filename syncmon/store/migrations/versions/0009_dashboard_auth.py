"""Dashboard access: second factor and password bookkeeping on users, sessions, login throttle.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

USER_COLUMNS = ("totp_secret", "totp_enabled_ms", "totp_last_step", "password_changed_ms", "last_login_ms")


def upgrade() -> None:
    op.add_column("users", sa.Column("totp_secret", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("totp_enabled_ms", sa.BigInteger, nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger, nullable=True))
    op.add_column("users", sa.Column("password_changed_ms", sa.BigInteger, nullable=True))
    op.add_column("users", sa.Column("last_login_ms", sa.BigInteger, nullable=True))
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("mfa_pending", sa.Boolean, nullable=False),
        sa.Column("client_ip", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
    )
    op.create_index("ix_sessions_user", "sessions", ["user_id"])
    op.create_index("ix_sessions_expires", "sessions", ["expires_ms"])
    op.create_table(
        "login_throttle",
        sa.Column("subject", sa.String(400), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start_ms", sa.BigInteger, nullable=False),
        sa.Column("locked_until_ms", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.drop_table("sessions")
    with op.batch_alter_table("users") as batch:
        for column in USER_COLUMNS:
            batch.drop_column(column)
