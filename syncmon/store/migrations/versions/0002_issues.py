"""Error tracking: issues, their users and tag counts; events point at their issue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(32), nullable=True))
        batch.add_column(sa.Column("issue_id", sa.BigInteger, nullable=True))
    op.create_index("ix_events_issue", "events", ["issue_id", "seq"])
    op.create_table(
        "issues",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("grouping_method", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("culprit", sa.String(300), nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(32), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("is_regression", sa.Boolean, nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger, nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger, nullable=False),
        sa.Column("event_count", sa.BigInteger, nullable=False),
        sa.Column("user_count", sa.BigInteger, nullable=False),
        sa.Column("first_release", sa.String(200), nullable=True),
        sa.Column("last_release", sa.String(200), nullable=True),
        sa.Column("releases", Json, nullable=False),
        sa.Column("environments", Json, nullable=False),
        sa.Column("last_event_id", sa.String(36), nullable=False),
        sa.Column("resolved_ms", sa.BigInteger, nullable=True),
        sa.Column("resolved_in_release", sa.String(200), nullable=True),
        sa.Column("ignore_until_ms", sa.BigInteger, nullable=True),
        sa.Column("ignore_until_count", sa.BigInteger, nullable=True),
        sa.Column("status_changed_ms", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("project_id", "fingerprint", name="ux_issues_project_fingerprint"),
    )
    op.create_index("ix_issues_project_last_seen", "issues", ["project_id", "last_seen_ms"])
    op.create_table(
        "issue_users",
        sa.Column("issue_id", sa.BigInteger, primary_key=True),
        sa.Column("user_key", sa.String(200), primary_key=True),
    )
    op.create_table(
        "issue_tags",
        sa.Column("issue_id", sa.BigInteger, primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("issue_tags")
    op.drop_table("issue_users")
    op.drop_table("issues")
    op.drop_index("ix_events_issue", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("issue_id")
        batch.drop_column("fingerprint")
