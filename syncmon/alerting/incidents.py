"""Incidents: one per notified alert group while it is open, acknowledged and resolved by people.

An incident opens when a group sends its first notification and stays the group's
incident until it resolves: by itself when every alert of the group resolved, or by hand.
A group that fires again after its incident resolved opens a new one. Acknowledging stops
escalation and every further page for the incident (a resolve is still sent, PagerDuty
needs it to close its side).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from syncmon.alerting.escalation import EscalationState, Policy
from syncmon.alerting.model import Severity


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class TimelineKind(StrEnum):
    FIRED = "fired"
    NOTIFIED = "notified"
    NOT_NOTIFIED = "not_notified"  # a target could not be reached (no phone number, no outbox …)
    ESCALATED = "escalated"
    ESCALATION_FINISHED = "escalation_finished"
    ESCALATION_PAUSED = "escalation_paused"
    ESCALATION_RESUMED = "escalation_resumed"
    NO_POLICY = "no_policy"
    ALERTS_CHANGED = "alerts_changed"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SILENCED = "silenced"
    SILENCE_EXPIRED = "silence_expired"
    INHIBITED = "inhibited"
    MAINTENANCE = "maintenance"
    UNMUTED = "unmuted"


class IncidentError(Exception):
    """An incident action that cannot be done; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    project_id: int | None
    group_key: str
    route_id: int
    receiver: str
    group_labels: dict[str, str]
    title: str
    severity: Severity
    status: IncidentStatus
    policy: Policy
    escalation: EscalationState
    opened_ms: int
    acknowledged_ms: int | None = None
    acknowledged_by: str | None = None
    resolved_ms: int | None = None
    resolved_by: str | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED


def acknowledge(incident: Incident, actor: str, now_ms: int) -> Incident:
    """The incident acknowledged by `actor`; escalation stops. Acknowledging twice keeps the first."""
    if incident.status is IncidentStatus.RESOLVED:
        raise IncidentError(409, f"incident {incident.id} is already resolved")
    if incident.status is IncidentStatus.ACKNOWLEDGED:
        return incident
    return replace(
        incident,
        status=IncidentStatus.ACKNOWLEDGED,
        acknowledged_ms=now_ms,
        acknowledged_by=actor,
        escalation=replace(incident.escalation, acknowledged=True, next_step_ms=None),
    )


def resolve(incident: Incident, actor: str, now_ms: int) -> Incident:
    """The incident resolved by `actor` ("system" when its alerts resolved). Idempotent."""
    if incident.status is IncidentStatus.RESOLVED:
        return incident
    return replace(
        incident,
        status=IncidentStatus.RESOLVED,
        resolved_ms=now_ms,
        resolved_by=actor,
        escalation=replace(incident.escalation, resolved=True, next_step_ms=None),
    )
