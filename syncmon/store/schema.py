"""Table definitions shared by SQLite and PostgreSQL (SQLAlchemy Core).

Times are epoch milliseconds in BIGINT columns so both engines compare and index them
the same way; payloads are JSON (JSONB on PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

Json = sa.JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("public_key", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_key", sa.String(64), nullable=False, unique=True),
    sa.Column("allowed_origins", Json, nullable=False),
    sa.Column("scrub_fields", Json, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("revoked_ms", sa.BigInteger, nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(320), nullable=False),
    sa.Column("details", Json, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("url", sa.Text, nullable=True),
    sa.Column("client_ip", sa.String(45), nullable=True),
    sa.Column("user_id", sa.String(200), nullable=True),
    sa.Column("session_id", sa.String(200), nullable=True),
    sa.Column("release", sa.String(200), nullable=True),
    sa.Column("environment", sa.String(64), nullable=True),
    sa.Column("browser", sa.String(64), nullable=True),
    sa.Column("os", sa.String(64), nullable=True),
    sa.Column("device", sa.String(32), nullable=True),
    sa.Column("is_bot", sa.Boolean, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("trusted", sa.Boolean, nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("fingerprint", sa.String(32), nullable=True),
    sa.Column("issue_id", sa.BigInteger, nullable=True),
    sa.Index("ux_events_id", "id", unique=True),
    sa.Index("ix_events_issue", "issue_id", "seq"),
    sa.Index("ix_events_project_kind_ts", "project_id", "kind", "ts_ms"),
    sa.Index("ix_events_received", "received_ms"),
)

# Event counts (syncmon.metrics.rollups) per (project, kind, name) in the sketch rollups'
# tiers: `tier` is the bucket width in minutes (1, 60 or 1440) and `bucket` the epoch minute
# it starts. The key leads with (project, tier, bucket) so a project's window is an index
# range per tier; (tier, bucket) serves retention and reads over every project.
rollup_counts = sa.Table(
    "rollup_counts",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True),
    sa.Column("tier", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Index("ix_rollup_counts_tier_bucket", "tier", "bucket"),
)

issues = sa.Table(
    "issues",
    metadata,
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
    sa.Index("ix_issues_project_last_seen", "project_id", "last_seen_ms"),
)

issue_users = sa.Table(
    "issue_users",
    metadata,
    sa.Column("issue_id", sa.BigInteger, primary_key=True),
    sa.Column("user_key", sa.String(200), primary_key=True),
)

issue_tags = sa.Table(
    "issue_tags",
    metadata,
    sa.Column("issue_id", sa.BigInteger, primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

detections = sa.Table(
    "detections",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("subject_type", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first_ms", sa.BigInteger, nullable=False),
    sa.Column("last_ms", sa.BigInteger, nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("evidence", Json, nullable=False),
    sa.Column("details", Json, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint(
        "project_id", "rule", "subject_type", "subject", "last_ms", name="ux_detections_occurrence"
    ),
    sa.Index("ix_detections_project_last", "project_id", "last_ms"),
    sa.Index("ix_detections_subject", "project_id", "subject_type", "subject", "last_ms"),
)

# Quantile rollups (syncmon.metrics.sketch_rollups): one DDSketch per (project, kind, metric
# or route, page, tier, bucket). `tier` is the bucket width in minutes (1, 60 or 1440) and
# `bucket` the epoch minute it starts; page "" is the all-pages row, and for request events
# name "" is the all-routes row. The counts beside the sketch are summed by queries.
rollup_sketches = sa.Table(
    "rollup_sketches",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("tier", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("page", sa.String(200), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("value_sum", sa.Float, nullable=False),
    sa.Column("good", sa.BigInteger, nullable=False),
    sa.Column("needs_improvement", sa.BigInteger, nullable=False),
    sa.Column("poor", sa.BigInteger, nullable=False),
    sa.Column("errors", sa.BigInteger, nullable=False),
    sa.Column("sketch", sa.LargeBinary, nullable=False),
    sa.Index("ix_rollup_sketches_page", "project_id", "kind", "page", "tier", "bucket"),
    sa.Index("ix_rollup_sketches_tier_bucket", "tier", "bucket"),
)

# Page-view counts per (project, dimension, value, tier, bucket): dimension "total" (value
# ""), "page", "referrer", "browser", "os" and "device".
rollup_dimensions = sa.Table(
    "rollup_dimensions",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True),
    sa.Column("dimension", sa.String(16), primary_key=True),
    sa.Column("tier", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("value", sa.String(200), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Index("ix_rollup_dimensions_tier_bucket", "tier", "bucket"),
)

# Unique visitors: one HyperLogLog per (project, tier, bucket).
rollup_visitors = sa.Table(
    "rollup_visitors",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True),
    sa.Column("tier", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("hll", sa.LargeBinary, nullable=False),
    sa.Index("ix_rollup_visitors_tier_bucket", "tier", "bucket"),
)

# Notification channels (syncmon.channels): a kind, its config (secrets in the clear, shown
# masked), an optional fallback channel and rate limit. project_id NULL = server-wide.
channels = sa.Table(
    "channels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("config", Json, nullable=False),
    sa.Column("fallback_channel_id", sa.Integer, sa.ForeignKey("channels.id"), nullable=True),
    sa.Column("rate_limit_per_minute", sa.Integer, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_channels_project", "project_id"),
)

# The delivery outbox: one row per notification to one channel, written in the caller's
# transaction and sent by the delivery worker. `notification` is the JSON text of the
# Notification (text, so it reads back exactly on both engines); `fallback_of` points at
# the row whose channel kept failing and handed this one over.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id"), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=True),
    sa.Column("group_key", sa.Text, nullable=False),
    sa.Column("notification", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_ms", sa.BigInteger, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("delivered_ms", sa.BigInteger, nullable=True),
    sa.Column("fallback_of", sa.BigInteger, nullable=True),
    sa.Index("ix_outbox_due", "status", "next_attempt_ms"),
    sa.Index("ix_outbox_channel", "channel_id", "id"),
)

# The delivery log: every attempt (and every interruption or hand-over to a fallback).
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", sa.BigInteger, sa.ForeignKey("outbox.id"), nullable=False),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id"), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_deliveries_channel", "channel_id", "id"),
    sa.Index("ix_deliveries_channel_ts", "channel_id", "ts_ms"),
    sa.Index("ix_deliveries_outbox", "outbox_id", "id"),
)

# Alert rules (syncmon.alerting.rule_store): the validated definition as JSON, with what
# listings filter on beside it. `key` names seeded and provisioned rules ("default:<name>",
# "file:<name>") so they are found again; a deleted default rule keeps its row with
# `deleted_ms` set, so seeding does not bring it back.
alert_rules = sa.Table(
    "alert_rules",
    metadata,
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
    sa.Index("ix_alert_rules_project", "project_id"),
)

# One row per alert of a rule (syncmon.alerting.state_store): its labels, state and the
# times the state machine needs, so a restart neither re-notifies nor forgets an alert.
# `last_true_ms` is what keep_firing_for counts from.
alert_states = sa.Table(
    "alert_states",
    metadata,
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

# Every state change of every alert, in order. `notified` turns true once the change was
# handed to routing; changes still false at start are handed over again.
alert_history = sa.Table(
    "alert_history",
    metadata,
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
    sa.Index("ix_alert_history_project_at", "project_id", "at_ms"),
    sa.Index("ix_alert_history_rule_at", "rule_id", "at_ms"),
    sa.Index("ix_alert_history_at", "at_ms"),
    sa.Index("ix_alert_history_notified", "notified", "id"),
)

# Alerting: routing, silences, inhibition, maintenance, escalation and incidents
# (syncmon.alerting). Channel ids are plain integers: channels live in their own table.

# The routing tree below the built-in root: parent_id NULL hangs a route off the root; NULL
# settings are inherited from the parent; policy_id NULL inherits too (the root's is the
# project's default escalation policy).
alert_routes = sa.Table(
    "alert_routes",
    metadata,
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

# Escalation policies: `levels` is [{"timeout_ms", "targets": [{"channel_id"} | {"user_id",
# "channel_id", "contact"}]}]. A project's default policy (is_default) takes what the root
# route sends; one with project_id NULL and is_default is the fallback for every project.
escalation_policies = sa.Table(
    "escalation_policies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False),
    sa.Column("repeat", sa.Integer, nullable=False),
    sa.Column("levels", Json, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

# How to reach a user besides the account's email address (kind "phone": E.164).
user_contacts = sa.Table(
    "user_contacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(320), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("user_id", "kind", name="ux_user_contacts_user_kind"),
)

silences = sa.Table(
    "silences",
    metadata,
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
    sa.Index("ix_silences_ends", "ends_ms"),
)

inhibit_rules = sa.Table(
    "inhibit_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_matchers", Json, nullable=False),
    sa.Column("target_matchers", Json, nullable=False),
    sa.Column("equal", Json, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

maintenance_windows = sa.Table(
    "maintenance_windows",
    metadata,
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

# Notification groups: what was last sent (`notified`: fingerprints reported firing, and
# their highest severity) and when, so a restart neither repeats nor loses a notification.
alert_groups = sa.Table(
    "alert_groups",
    metadata,
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

alert_group_alerts = sa.Table(
    "alert_group_alerts",
    metadata,
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

# Incidents: `open_key` is the group key while the incident is open and NULL after, so the
# unique constraint allows one open incident per group and any number of closed ones.
incidents = sa.Table(
    "incidents",
    metadata,
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
    sa.Index("ix_incidents_status_opened", "status", "opened_ms"),
    sa.Index("ix_incidents_project_opened", "project_id", "opened_ms"),
    sa.Index("ix_incidents_group_key", "group_key"),
)

# The incident timeline: fired, notified (channel, user, recipient, outbox id), acknowledged,
# escalated, resolved, silenced, silence expired … `outbox_id` joins the delivery status.
incident_events = sa.Table(
    "incident_events",
    metadata,
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
    sa.Index("ix_incident_events_incident", "incident_id", "id"),
)

# Secrets the server generates on first start when none is configured (the link secret).
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

# Dashboard access (syncmon.web.auth). Users gain their second factor (a TOTP secret, set at
# enrolment and enabled once a code confirms it; the last accepted time step, so a code
# cannot be used twice) and password bookkeeping. Sessions live on the server: the cookie
# carries a random id, the table only its SHA-256 digest, next to the session's CSRF token.
users.append_column(sa.Column("totp_secret", sa.String(64), nullable=True))
users.append_column(sa.Column("totp_enabled_ms", sa.BigInteger, nullable=True))
users.append_column(sa.Column("totp_last_step", sa.BigInteger, nullable=True))
users.append_column(sa.Column("password_changed_ms", sa.BigInteger, nullable=True))
users.append_column(sa.Column("last_login_ms", sa.BigInteger, nullable=True))

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("last_seen_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("mfa_pending", sa.Boolean, nullable=False),
    sa.Column("client_ip", sa.String(45), nullable=True),
    sa.Column("user_agent", sa.String(512), nullable=True),
    sa.Index("ix_sessions_user", "user_id"),
    sa.Index("ix_sessions_expires", "expires_ms"),
)

# Failed logins per subject, "account:<email>" or "ip:<address>", in a fixed window that
# starts at the first failure; `locked_until_ms` is set when the count reaches its limit.
# Kept per attempted email whether or not the account exists, so a lockout says nothing
# about which accounts exist.
login_throttle = sa.Table(
    "login_throttle",
    metadata,
    sa.Column("subject", sa.String(400), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_start_ms", sa.BigInteger, nullable=False),
    sa.Column("locked_until_ms", sa.BigInteger, nullable=True),
)

# Per-project detector configuration (syncmon.security.config_store): one row per project
# and rule that differs from the defaults: whether the rule runs and the parameters it
# overrides ({"fast.capacity": 3, "severity": "high"}). No row: the rule runs its defaults.
detector_configs = sa.Table(
    "detector_configs",
    metadata,
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True),
    sa.Column("rule", sa.String(64), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("parameters", Json, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
)

# Dashboard reads without raw-event scans (migration 0011).
#
# Events per issue (syncmon.errors.issue_counts) in the sketch rollups' tiers: `tier` is the
# bucket width in minutes (1, 60 or 1440) and `bucket` the epoch minute it starts. Written in
# the commit that stores the events and decremented by retention as it deletes them, so a
# bucket holds exactly the stored events of the issue in it.
issue_counts = sa.Table(
    "issue_counts",
    metadata,
    sa.Column("issue_id", sa.BigInteger, primary_key=True),
    sa.Column("tier", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Index("ix_issue_counts_tier_bucket", "tier", "bucket"),
    sqlite_with_rowid=False,
)

# Security events per subject (syncmon.security.subject_rollups): per (project, "ip" or
# "account", tier, bucket, subject as sent) how many, how many report a failure, a refusal
# or an attack, and the latest event's time. Rows are clustered by window (WITHOUT ROWID on
# SQLite), since the Security page reads every subject of a window.
rollup_subjects = sa.Table(
    "rollup_subjects",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True),
    sa.Column("subject_type", sa.String(16), primary_key=True),
    sa.Column("tier", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("subject", sa.String(200), primary_key=True),
    sa.Column("events", sa.BigInteger, nullable=False),
    sa.Column("failures", sa.BigInteger, nullable=False),
    sa.Column("last_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_rollup_subjects_tier_bucket", "tier", "bucket"),
    sqlite_with_rowid=False,
)

# A version per (rollup, project, UTC day) that every write into that day's rows raises in
# the same transaction (syncmon.metrics.rollup_versions); project 0 stands for every
# project (retention). Pages cache what they merged from closed days and know from these
# versions, without reading the rows, whether a late event changed any of them.
rollup_versions = sa.Table(
    "rollup_versions",
    metadata,
    sa.Column("rollup", sa.String(16), primary_key=True),
    sa.Column("project_id", sa.Integer, primary_key=True),
    sa.Column("day", sa.BigInteger, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

# An issue's most frequent values of each tag, read from the index in order.
sa.Index("ix_issue_tags_top", issue_tags.c.issue_id, issue_tags.c.key, issue_tags.c.count, issue_tags.c.value)

# A subject's timeline (an IP's or an account's events, newest first) from an index instead
# of a scan of the log; partial, so events without an IP or an account cost nothing.
sa.Index(
    "ix_events_client_ip",
    events.c.client_ip,
    events.c.seq,
    sqlite_where=events.c.client_ip.is_not(None),
    postgresql_where=events.c.client_ip.is_not(None),
)
sa.Index(
    "ix_events_user",
    events.c.user_id,
    events.c.seq,
    sqlite_where=events.c.user_id.is_not(None),
    postgresql_where=events.c.user_id.is_not(None),
)
