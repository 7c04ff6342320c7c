"""Alerting: routing tree, escalation policies, user contacts, silences, inhibition rules,
maintenance windows, notification groups, incidents and their timeline, server secrets.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

TABLES = (
    "escalation_policies",
    "alert_routes",
    "user_contacts",
    "silences",
    "inhibit_rules",
    "maintenance_windows",
    "alert_groups",
    "alert_group_alerts",
    "incidents",
    "incident_events",
    "server_secrets",
)


def upgrade() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("levels", Json, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alert_routes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("alert_routes.id"), nullable=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("matchers", Json, nullable=False),
        sa.Column("continue_matching", sa.Boolean, nullable=False),
        sa.Column("group_by", Json, nullable=True),
        sa.Column("group_wait_ms", sa.BigInteger, nullable=True),
        sa.Column("group_interval_ms", sa.BigInteger, nullable=True),
        sa.Column("repeat_interval_ms", sa.BigInteger, nullable=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("escalation_policies.id"), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "user_contacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("user_id", "kind", name="ux_user_contacts_user_kind"),
    )
    op.create_table(
        "silences",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("matchers", Json, nullable=False),
        sa.Column("starts_ms", sa.BigInteger, nullable=False),
        sa.Column("ends_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("expire_on_resolve", sa.Boolean, nullable=False),
        sa.Column("matched_ms", sa.BigInteger, nullable=True),
        sa.Column("expired_reason", sa.String(200), nullable=True),
        sa.Column("expiry_announced", sa.Boolean, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_silences_ends", "silences", ["ends_ms"])
    op.create_table(
        "inhibit_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_matchers", Json, nullable=False),
        sa.Column("target_matchers", Json, nullable=False),
        sa.Column("equal", Json, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("matchers", Json, nullable=False),
        sa.Column("starts_ms", sa.BigInteger, nullable=False),
        sa.Column("ends_ms", sa.BigInteger, nullable=False),
        sa.Column("weekly", sa.Boolean, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("until_ms", sa.BigInteger, nullable=True),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alert_groups",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(64), nullable=False, unique=True),
        sa.Column("route_id", sa.Integer, nullable=False),
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("project_id", sa.Integer, nullable=True),
        sa.Column("policy_id", sa.Integer, nullable=True),
        sa.Column("group_wait_ms", sa.BigInteger, nullable=True),
        sa.Column("group_interval_ms", sa.BigInteger, nullable=False),
        sa.Column("repeat_interval_ms", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("last_notify_ms", sa.BigInteger, nullable=True),
        sa.Column("notified", Json, nullable=False),
        sa.Column("notified_severity", sa.String(16), nullable=True),
        sa.Column("incident_id", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "alert_group_alerts",
        sa.Column("group_id", sa.BigInteger, sa.ForeignKey("alert_groups.id"), primary_key=True),
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("starts_ms", sa.BigInteger, nullable=False),
        sa.Column("ends_ms", sa.BigInteger, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("rule_id", sa.Integer, nullable=True),
        sa.Column("generator_url", sa.Text, nullable=False),
        sa.Column("added_ms", sa.BigInteger, nullable=False),
        sa.Column("muted_by", sa.String(64), nullable=True),
    )
    op.create_table(
        "incidents",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=True),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("open_key", sa.String(64), nullable=True, unique=True),
        sa.Column("route_id", sa.Integer, nullable=False),
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("group_labels", Json, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("policy", Json, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("repeats_done", sa.Integer, nullable=False),
        sa.Column("next_step_ms", sa.BigInteger, nullable=True),
        sa.Column("escalation_paused", sa.Boolean, nullable=False),
        sa.Column("opened_ms", sa.BigInteger, nullable=False),
        sa.Column("acknowledged_ms", sa.BigInteger, nullable=True),
        sa.Column("acknowledged_by", sa.String(320), nullable=True),
        sa.Column("resolved_ms", sa.BigInteger, nullable=True),
        sa.Column("resolved_by", sa.String(320), nullable=True),
        sa.Column("alerts", Json, nullable=False),
    )
    op.create_index("ix_incidents_status_opened", "incidents", ["status", "opened_ms"])
    op.create_index("ix_incidents_project_opened", "incidents", ["project_id", "opened_ms"])
    op.create_index("ix_incidents_group_key", "incidents", ["group_key"])
    op.create_table(
        "incident_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(320), nullable=True),
        sa.Column("level", sa.Integer, nullable=True),
        sa.Column("action", sa.String(16), nullable=True),
        sa.Column("channel_id", sa.Integer, nullable=True),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("outbox_id", sa.BigInteger, nullable=True),
        sa.Column("details", Json, nullable=False),
    )
    op.create_index("ix_incident_events_incident", "incident_events", ["incident_id", "id"])
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
