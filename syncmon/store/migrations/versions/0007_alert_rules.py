"""Alert rules, alert states and the history of their transitions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("key", sa.String(160), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("spec", Json, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("deleted_ms", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("project_id", "key", name="ux_alert_rules_project_key"),
    )
    op.create_index("ix_alert_rules_project", "alert_rules", ["project_id"])
    op.create_table(
        "alert_states",
        sa.Column("rule_id", sa.BigInteger, primary_key=True),
        sa.Column("fingerprint", sa.String(16), primary_key=True),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active_since_ms", sa.BigInteger, nullable=False),
        sa.Column("fired_ms", sa.BigInteger, nullable=True),
        sa.Column("last_true_ms", sa.BigInteger, nullable=True),
        sa.Column("resolved_ms", sa.BigInteger, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("last_eval_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alert_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.BigInteger, nullable=False),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("previous", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("starts_ms", sa.BigInteger, nullable=False),
        sa.Column("ends_ms", sa.BigInteger, nullable=True),
        sa.Column("notified", sa.Boolean, nullable=False),
    )
    op.create_index("ix_alert_history_project_at", "alert_history", ["project_id", "at_ms"])
    op.create_index("ix_alert_history_rule_at", "alert_history", ["rule_id", "at_ms"])
    op.create_index("ix_alert_history_at", "alert_history", ["at_ms"])
    op.create_index("ix_alert_history_notified", "alert_history", ["notified", "id"])


def downgrade() -> None:
    for table in ("alert_history", "alert_states", "alert_rules"):
        op.drop_table(table)
