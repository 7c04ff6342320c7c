"""Incidents and their timelines in the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting.escalation import EscalationState, Policy
from syncmon.alerting.incidents import Incident, IncidentStatus, TimelineKind
from syncmon.alerting.model import Severity
from syncmon.store.schema import incident_events, incidents, outbox


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone who was sent a TRIGGER for an incident, and so gets its ACKNOWLEDGE and RESOLVE."""

    channel_id: int
    user_id: int | None = None
    address: str | None = None  # email address or phone number for a user; None for a channel


def _incident(row: Any) -> Incident:
    status = IncidentStatus(row.status)
    return Incident(
        id=row.id,
        project_id=row.project_id,
        group_key=row.group_key,
        route_id=row.route_id,
        receiver=row.receiver,
        group_labels=dict(row.group_labels),
        title=row.title,
        severity=Severity(row.severity),
        status=status,
        policy=Policy.from_snapshot(row.policy),
        escalation=EscalationState(
            level=row.level,
            repeats_done=row.repeats_done,
            next_step_ms=row.next_step_ms,
            paused=row.escalation_paused,
            acknowledged=row.acknowledged_ms is not None,
            resolved=status is IncidentStatus.RESOLVED,
        ),
        opened_ms=row.opened_ms,
        acknowledged_ms=row.acknowledged_ms,
        acknowledged_by=row.acknowledged_by,
        resolved_ms=row.resolved_ms,
        resolved_by=row.resolved_by,
        alerts=list(row.alerts),
    )


def _values(incident: Incident) -> dict[str, Any]:
    esc = incident.escalation
    return {
        "project_id": incident.project_id,
        "group_key": incident.group_key,
        "open_key": incident.group_key if incident.is_open else None,
        "route_id": incident.route_id,
        "receiver": incident.receiver,
        "group_labels": incident.group_labels,
        "title": incident.title[:300],
        "severity": incident.severity.value,
        "status": incident.status.value,
        "policy": incident.policy.snapshot(),
        "level": esc.level,
        "repeats_done": esc.repeats_done,
        "next_step_ms": esc.next_step_ms,
        "escalation_paused": esc.paused,
        "opened_ms": incident.opened_ms,
        "acknowledged_ms": incident.acknowledged_ms,
        "acknowledged_by": incident.acknowledged_by,
        "resolved_ms": incident.resolved_ms,
        "resolved_by": incident.resolved_by,
        "alerts": incident.alerts,
    }


def insert_incident(conn: Connection, incident: Incident) -> int:
    result = conn.execute(incidents.insert().values(**_values(incident)))
    return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0


def update_incident(conn: Connection, incident: Incident) -> None:
    conn.execute(incidents.update().where(incidents.c.id == incident.id).values(**_values(incident)))


def get_incident(conn: Connection, incident_id: int) -> Incident | None:
    row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()
    return _incident(row) if row else None


def open_incidents(conn: Connection) -> dict[int, Incident]:
    rows = conn.execute(sa.select(incidents).where(incidents.c.open_key.is_not(None)))
    return {row.id: _incident(row) for row in rows}


def add_event(
    conn: Connection,
    incident_id: int,
    now_ms: int,
    kind: TimelineKind,
    *,
    actor: str | None = None,
    level: int | None = None,
    action: str | None = None,
    recipient: Recipient | None = None,
    outbox_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        incident_events.insert().values(
            incident_id=incident_id,
            ts_ms=now_ms,
            kind=kind.value,
            actor=actor,
            level=level,
            action=action,
            channel_id=recipient.channel_id if recipient else None,
            user_id=recipient.user_id if recipient else None,
            recipient=recipient.address if recipient else None,
            outbox_id=outbox_id,
            details=details or {},
        )
    )


def triggered(conn: Connection, incident_id: int) -> list[Recipient]:
    """Everyone sent a TRIGGER for this incident, each once, in the order first paged."""
    rows = conn.execute(
        sa.select(incident_events.c.channel_id, incident_events.c.user_id, incident_events.c.recipient)
        .where(
            incident_events.c.incident_id == incident_id,
            incident_events.c.kind == TimelineKind.NOTIFIED.value,
            incident_events.c.action == "trigger",
        )
        .order_by(incident_events.c.id)
    )
    seen: dict[Recipient, None] = {}
    for row in rows:
        seen.setdefault(Recipient(row.channel_id, row.user_id, row.recipient), None)
    return list(seen)


def trigger_outbox_ids(conn: Connection, incident_id: int) -> list[int]:
    """The outbox ids of every TRIGGER enqueued for this incident."""
    rows = conn.execute(
        sa.select(incident_events.c.outbox_id)
        .where(
            incident_events.c.incident_id == incident_id,
            incident_events.c.kind == TimelineKind.NOTIFIED.value,
            incident_events.c.action == "trigger",
            incident_events.c.outbox_id.is_not(None),
        )
        .order_by(incident_events.c.id)
    )
    return [int(i) for i in rows.scalars()]


def timeline(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's entries, oldest first. A `notified` entry carries its notification's
    delivery as the outbox has it now (status, attempts, delivered time, last error), or None
    once retention has deleted the outbox row."""
    e, o = incident_events.c, outbox.c
    rows = conn.execute(
        sa.select(
            incident_events,
            o.status.label("delivery_status"),
            o.attempts.label("delivery_attempts"),
            o.delivered_ms.label("delivered_ms"),
            o.last_error.label("delivery_error"),
        )
        .select_from(incident_events.outerjoin(outbox, o.id == e.outbox_id))
        .where(e.incident_id == incident_id)
        .order_by(e.id)
    )
    return [
        {
            "id": row.id,
            "ts_ms": row.ts_ms,
            "kind": row.kind,
            "actor": row.actor,
            "level": row.level,
            "action": row.action,
            "channel_id": row.channel_id,
            "user_id": row.user_id,
            "recipient": row.recipient,
            "outbox_id": row.outbox_id,
            "delivery": None
            if row.delivery_status is None
            else {
                "status": row.delivery_status,
                "attempts": row.delivery_attempts,
                "delivered_at": row.delivered_ms / 1000 if row.delivered_ms is not None else None,
                "last_error": row.delivery_error,
            },
            "details": row.details,
        }
        for row in rows
    ]


def list_incidents(
    conn: Connection, *, project_id: int | None, status: str | None, before_id: int | None, limit: int
) -> list[Incident]:
    query = sa.select(incidents).order_by(incidents.c.id.desc()).limit(limit)
    if project_id is not None:
        query = query.where(incidents.c.project_id == project_id)
    if status == "open":
        query = query.where(incidents.c.open_key.is_not(None))
    elif status is not None:
        query = query.where(incidents.c.status == status)
    if before_id is not None:
        query = query.where(incidents.c.id < before_id)
    return [_incident(row) for row in conn.execute(query)]
