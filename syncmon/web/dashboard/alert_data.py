"""What the Overview and the Alerts page read about alerts: the pending and firing alerts
from `alert_states` (with their rule's project and name), incidents with their timeline
and the delivery status of each notification, and silences.

Reads only; the views change things through the dispatcher and the silence store, as the
API does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting import incident_store, mute_admin
from syncmon.alerting.incidents import Incident
from syncmon.store.projects import Project
from syncmon.store.schema import alert_rules, alert_states, channels, outbox, users

ACTIVE_STATES = ("firing", "pending")
SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}
# Silence durations offered by the form (label, seconds).
SILENCE_DURATIONS: tuple[tuple[str, int], ...] = (
    ("30 minutes", 1800),
    ("1 hour", 3600),
    ("4 hours", 14_400),
    ("1 day", 86_400),
    ("1 week", 604_800),
)


@dataclass(frozen=True, slots=True)
class AlertRow:
    project: str
    project_id: int
    rule_id: int
    rule_name: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    value: float | None
    since_ms: int

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("description") or ""


@dataclass(frozen=True, slots=True)
class ProjectAlerts:
    """The alert count of one project for the Overview's cards."""

    firing: int
    pending: int


@dataclass(frozen=True, slots=True)
class TimelineRow:
    ts_ms: int
    kind: str
    actor: str | None
    level: int | None
    action: str | None
    channel: str | None
    recipient: str | None
    delivery: str | None  # the outbox row's status: pending, delivered, failed, cancelled …
    delivery_detail: str | None
    details: dict[str, Any]


def active_alerts(conn: Connection, shown: Sequence[Project]) -> list[AlertRow]:
    """Pending and firing alerts of the shown projects, firing first, most severe first."""
    if not shown:
        return []
    by_id = {p.id: p for p in shown}
    rows = conn.execute(
        sa.select(
            alert_states,
            alert_rules.c.project_id,
            alert_rules.c.name.label("rule_name"),
        )
        .join(alert_rules, alert_rules.c.id == alert_states.c.rule_id)
        .where(alert_states.c.state.in_(ACTIVE_STATES), alert_rules.c.project_id.in_(list(by_id)))
    )
    found = [
        AlertRow(
            project=by_id[row.project_id].slug,
            project_id=int(row.project_id),
            rule_id=int(row.rule_id),
            rule_name=row.rule_name,
            fingerprint=row.fingerprint,
            labels={str(k): str(v) for k, v in dict(row.labels).items()},
            annotations={str(k): str(v) for k, v in dict(row.annotations).items()},
            state=row.state,
            value=row.value,
            since_ms=int(row.fired_ms if row.state == "firing" and row.fired_ms else row.active_since_ms),
        )
        for row in rows
    ]
    found.sort(
        key=lambda a: (a.state != "firing", SEVERITY_ORDER.get(a.severity, 9), a.since_ms, a.fingerprint)
    )
    return found


def counts_by_project(alerts: Sequence[AlertRow]) -> dict[int, ProjectAlerts]:
    counts: dict[int, ProjectAlerts] = {}
    for alert in alerts:
        before = counts.get(alert.project_id, ProjectAlerts(0, 0))
        firing = before.firing + (alert.state == "firing")
        counts[alert.project_id] = ProjectAlerts(firing, before.pending + (alert.state == "pending"))
    return counts


def find_alert(conn: Connection, shown: Sequence[Project], fingerprint: str) -> AlertRow | None:
    return next((a for a in active_alerts(conn, shown) if a.fingerprint == fingerprint), None)


def incidents(conn: Connection, project_id: int | None, *, open_only: bool, limit: int) -> list[Incident]:
    return incident_store.list_incidents(
        conn, project_id=project_id, status="open" if open_only else None, before_id=None, limit=limit
    )


def timeline(conn: Connection, incident_id: int) -> list[TimelineRow]:
    """The incident's timeline, each notification with its channel's name and delivery status."""
    entries = incident_store.timeline(conn, incident_id)
    channel_ids = {e["channel_id"] for e in entries if e["channel_id"] is not None}
    outbox_ids = {e["outbox_id"] for e in entries if e["outbox_id"] is not None}
    user_ids = {e["user_id"] for e in entries if e["user_id"] is not None}
    names: dict[int, str] = {}
    if channel_ids:
        query = sa.select(channels.c.id, channels.c.name).where(channels.c.id.in_(channel_ids))
        names = {int(row.id): row.name for row in conn.execute(query)}
    emails: dict[int, str] = {}
    if user_ids:
        query = sa.select(users.c.id, users.c.email).where(users.c.id.in_(user_ids))
        emails = {int(row.id): row.email for row in conn.execute(query)}
    statuses: dict[int, tuple[str, str | None]] = {}
    if outbox_ids:
        for row in conn.execute(
            sa.select(outbox.c.id, outbox.c.status, outbox.c.last_error).where(outbox.c.id.in_(outbox_ids))
        ):
            statuses[int(row.id)] = (row.status, row.last_error)
    rows = []
    for e in entries:
        status = statuses.get(e["outbox_id"]) if e["outbox_id"] is not None else None
        channel = names.get(e["channel_id"]) if e["channel_id"] is not None else None
        if channel is None and e["channel_id"] is not None:
            channel = f"channel {e['channel_id']}"
        recipient = e["recipient"] or (emails.get(e["user_id"]) if e["user_id"] is not None else None)
        rows.append(
            TimelineRow(
                ts_ms=int(e["ts_ms"]),
                kind=e["kind"],
                actor=e["actor"],
                level=e["level"],
                action=e["action"],
                channel=channel,
                recipient=recipient,
                delivery=status[0] if status else None,
                delivery_detail=status[1] if status else None,
                details=dict(e["details"] or {}),
            )
        )
    return rows


def silences(
    conn: Connection, now_ms: int, *, include_expired: bool, limit: int = 100
) -> list[dict[str, Any]]:
    found = mute_admin.list_silences(conn, None, now_ms, limit)
    return [s for s in found if include_expired or s["state"] != "expired"]
