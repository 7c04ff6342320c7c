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

rollup_counts = sa.Table(
    "rollup_counts",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("minute", sa.BigInteger, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Index("ix_rollup_counts_minute", "minute"),
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
