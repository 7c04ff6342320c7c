"""The rules every project starts with: the seed's AlertingSystem thresholds and the SLOs of
its validation checklist, as real rules.

The seed configures (and only logs) security alerts for five event classes, performance
thresholds (page_load_time 5000 ms, api_response_time 2000 ms, error_rate 5 %,
availability 99 %), error thresholds per minute (javascript_errors 10, api_errors 20,
security_errors 5), and its checklist asks for page loads under 2 s, API responses under
500 ms, error rates under 1 % and uptime above 99.9 %. Each becomes one rule below; where
the seed names no window, severity or damping, the choice is ours and docs/alerting.md
gives the reason. Seeding is idempotent: a project gets the default rules it has no row
for (by key), so a rule an admin deleted stays deleted (its tombstone keeps the key) and a
default added in a later version reaches existing projects at the next start.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting import rule_store
from syncmon.alerting.spec import SEED_SECURITY_ALERTS, parse_rule
from syncmon.store.schema import projects

SECURITY_SUMMARY = (
    "{{ rule.name }} in {{ project }}: {{ sample.title or labels.detection_rule }}"
    "{% if sample.subject %} ({{ sample.subject_type or 'subject' }} {{ sample.subject }}){% endif %}"
)

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    *(
        {
            "kind": "security",
            "name": alert,
            "security_alert": alert,
            "severity": "critical",
            "min_severity": "high",
            "window": "15m",
            "threshold": 0,
            "summary": SECURITY_SUMMARY,
        }
        for alert in SEED_SECURITY_ALERTS
    ),
    {
        "kind": "percentile",
        "name": "page_load_time",
        "source": "metric",
        "metric": "page_load_time",
        "percentile": 75,
        "window": "10m",
        "threshold": 5000,
        "min_count": 5,
        "for": "5m",
        "severity": "warning",
    },
    {
        "kind": "percentile",
        "name": "api_response_time",
        "source": "request",
        "percentile": 95,
        "window": "5m",
        "threshold": 2000,
        "min_count": 10,
        "for": "5m",
        "severity": "warning",
    },
    {
        "kind": "ratio",
        "name": "error_rate",
        "numerator": {"kind": "request", "min_status": 500},
        "denominator": {"kind": "request"},
        "window": "5m",
        "threshold": 0.05,
        "resolve_threshold": 0.04,
        "min_count": 20,
        "for": "2m",
        "keep_firing_for": "5m",
        "severity": "critical",
    },
    {
        "kind": "availability",
        "name": "availability",
        "source": "requests",
        "window": "1h",
        "threshold": 0.99,
        "resolve_threshold": 0.995,
        "min_count": 20,
        "for": "5m",
        "severity": "critical",
    },
    {
        "kind": "count",
        "name": "javascript_errors",
        "select": {"kind": "error", "platform": "javascript"},
        "window": "1m",
        "threshold": 10,
        "keep_firing_for": "5m",
        "severity": "warning",
    },
    {
        "kind": "count",
        "name": "api_errors",
        "select": {"kind": "request", "min_status": 500},
        "window": "1m",
        "threshold": 20,
        "keep_firing_for": "5m",
        "severity": "critical",
    },
    {
        "kind": "count",
        "name": "security_errors",
        "select": {"kind": "security", "min_level": "error"},
        "window": "1m",
        "threshold": 5,
        "keep_firing_for": "5m",
        "severity": "critical",
    },
    {
        "kind": "burn_rate",
        "name": "slo_page_load",
        "sli": "metric",
        "metric": "page_load_time",
        "threshold_ms": 2000,
        "objective": "95",
        "description": "95 % of page loads finish within 2 s (30-day SLO).",
    },
    {
        "kind": "burn_rate",
        "name": "slo_api_latency",
        "sli": "latency",
        "threshold_ms": 500,
        "objective": "99",
        "description": "99 % of API requests are answered within 500 ms (30-day SLO).",
    },
    {
        "kind": "burn_rate",
        "name": "slo_error_rate",
        "sli": "requests",
        "objective": "99",
        "description": "Fewer than 1 % of requests fail with a 5xx status (30-day SLO).",
    },
    {
        "kind": "burn_rate",
        "name": "slo_uptime",
        "sli": "requests",
        "objective": "99.9",
        "description": "99.9 % of requests are answered without a 5xx status (30-day SLO).",
    },
)


def default_rules() -> list[tuple[str, Any]]:
    """(key, validated rule) for each default rule."""
    return [(f"default:{raw['name']}", parse_rule(dict(raw))) for raw in DEFAULT_RULES]


def seed_default_rules(conn: Connection, project_id: int, now_ms: int) -> int:
    """Create the default rules the project has no row for; returns how many were created."""
    have = rule_store.keys_of_project(conn, project_id)
    created = 0
    for key, spec in default_rules():
        if key not in have:
            rule_store.create_rule(conn, project_id, spec, now_ms, source="default", key=key)
            created += 1
    return created


def seed_all_projects(conn: Connection, now_ms: int) -> int:
    ids = [int(i) for i in conn.execute(sa.select(projects.c.id).order_by(projects.c.id)).scalars()]
    return sum(seed_default_rules(conn, project_id, now_ms) for project_id in ids)
