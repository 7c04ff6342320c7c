"""What a group flush and the passing of time do to incidents: open one on a group's first
notification, tell those already paged about changes, escalate level by level, pause while
nothing fires unmuted, close and send RESOLVE to everyone a TRIGGER reached."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from syncmon.alerting import config_store, incident_store
from syncmon.alerting import escalation as esc
from syncmon.alerting.dispatch_pass import Pass
from syncmon.alerting.group_store import GroupRecord
from syncmon.alerting.groups import Flush, FlushKind, Member, after_flush
from syncmon.alerting.incidents import Incident, IncidentStatus, TimelineKind
from syncmon.alerting.incidents import resolve as resolve_incident
from syncmon.alerting.messages import highest_severity, subject
from syncmon.alerting.model import Alert
from syncmon.alerting.muting import silence_id
from syncmon.alerting.notifier import Notifier, resolve_targets
from syncmon.alerting.silences import Silence
from syncmon.channels.base import Action

log = logging.getLogger(__name__)


class IncidentFlow:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def flush(self, p: Pass, record: GroupRecord, flush: Flush) -> GroupRecord | None:
        incident = p.incidents.get(record.incident_id) if record.incident_id is not None else None
        if flush.kind is FlushKind.DROP:
            return None
        if flush.kind is FlushKind.RESOLVE:
            if incident is not None:
                self.close(p, incident, "system", list(flush.resolved), "every alert of the group resolved")
            return None
        alerts = [a.as_dict() for a in (*flush.firing, *flush.resolved)]
        if incident is None:
            incident = self.open(p, record, flush)
        else:
            severity = highest_severity(flush.firing) if flush.firing else incident.severity
            incident = replace(incident, alerts=alerts, severity=severity)
            if flush.kind is FlushKind.UPDATE:
                p.event(
                    incident.id,
                    TimelineKind.ALERTS_CHANGED,
                    details={
                        "firing": [a.fingerprint for a in flush.firing],
                        "resolved": [a.fingerprint for a in flush.resolved],
                    },
                )
            # Nothing firing unmuted (what is left is silenced): the change goes into the
            # timeline only; a TRIGGER about no alerts would page for nothing.
            if incident.status is IncidentStatus.TRIGGERED and flush.firing:
                p.sent += self.notifier.send(
                    p.conn, incident, incident_store.triggered(p.conn, incident.id),
                    action=Action.TRIGGER, firing=flush.firing, resolved=flush.resolved,
                    secret=p.secret, now_ms=p.now, reason=flush.kind.value,
                )  # fmt: skip
            incident_store.update_incident(p.conn, incident)
            p.incidents[incident.id] = incident
        state = after_flush(record.state, flush, p.now)
        assert state is not None  # only RESOLVE and DROP end a group
        return replace(record, state=state, incident_id=incident.id)

    def open(self, p: Pass, record: GroupRecord, flush: Flush) -> Incident:
        policy = config_store.policy_for(p.conn, record.policy_id, record.project_id)
        incident = Incident(
            id=0,
            project_id=record.project_id,
            group_key=record.state.key,
            route_id=record.route_id,
            receiver=record.receiver,
            group_labels=record.labels,
            title=subject(record.labels, flush.firing),
            severity=highest_severity(flush.firing),
            status=IncidentStatus.TRIGGERED,
            policy=policy or esc.NO_POLICY,
            escalation=esc.start(p.now),
            opened_ms=p.now,
            alerts=[a.as_dict() for a in flush.firing],
        )
        incident = replace(incident, id=incident_store.insert_incident(p.conn, incident))
        p.event(
            incident.id,
            TimelineKind.FIRED,
            details={
                "receiver": record.receiver,
                "route_id": record.route_id,
                "alerts": [
                    {
                        "fingerprint": a.fingerprint,
                        "alertname": a.labels.get("alertname", ""),
                        "severity": a.severity,
                    }
                    for a in flush.firing
                ],
            },
        )
        if policy is None:
            log.warning(
                "incident %s: no escalation policy for project %s; nobody was notified",
                incident.id,
                record.project_id,
            )
            p.event(
                incident.id,
                TimelineKind.NO_POLICY,
                details={
                    "error": "no escalation policy applies (no route policy, no project or global default)"
                },
            )
        elif record.policy_id is not None and policy.id != record.policy_id:
            p.event(
                incident.id,
                TimelineKind.NO_POLICY,
                details={
                    "error": f"the route's policy {record.policy_id} no longer exists",
                    "used": policy.id,
                },
            )
        incident = self.step(p, incident, list(flush.firing))
        p.incidents[incident.id] = incident
        return incident

    def close(self, p: Pass, incident: Incident, actor: str, alerts: list[Alert], reason: str) -> Incident:
        incident = resolve_incident(incident, actor, p.now)
        withdrawn = self.notifier.withdraw_pages(p.conn, incident.id)
        p.event(
            incident.id,
            TimelineKind.RESOLVED,
            actor=actor,
            details={"reason": reason, "pages_withdrawn": withdrawn},
        )
        p.sent += self.notifier.send(
            p.conn, incident, incident_store.triggered(p.conn, incident.id),
            action=Action.RESOLVE, firing=(), resolved=alerts, secret=p.secret, now_ms=p.now, actor=actor,
        )  # fmt: skip
        incident_store.update_incident(p.conn, incident)
        p.incidents.pop(incident.id, None)
        return incident

    def escalate(self, p: Pass) -> None:
        by_incident = {r.incident_id: r for r in p.groups.values() if r.incident_id is not None}
        for incident in list(p.incidents.values()):
            if incident.status is not IncidentStatus.TRIGGERED:
                continue
            record = by_incident.get(incident.id)
            active = [m.alert for m in record.state.active] if record is not None else []
            state = incident.escalation
            if not active and not state.paused and state.next_step_ms is not None:
                incident = replace(incident, escalation=esc.pause(state))
                p.event(
                    incident.id, TimelineKind.ESCALATION_PAUSED, details={"reason": "no alert fires unmuted"}
                )
                incident_store.update_incident(p.conn, incident)
            elif active and state.paused:
                incident = replace(incident, escalation=esc.resume(state, incident.policy, p.now))
                p.event(incident.id, TimelineKind.ESCALATION_RESUMED)
                incident_store.update_incident(p.conn, incident)
            p.incidents[incident.id] = self.step(p, incident, active)

    def step(self, p: Pass, incident: Incident, firing: list[Alert]) -> Incident:
        """One escalation step if due; acknowledgement and resolution are checked inside `esc.step`."""
        step = esc.step(incident.escalation, incident.policy, p.now)
        if step is None:
            return incident
        incident = replace(incident, escalation=step.state)
        if step.level is None:
            if incident.policy.levels:
                p.event(incident.id, TimelineKind.ESCALATION_FINISHED, details={"repeats": step.repeat})
        else:
            number = step.level + 1
            p.event(incident.id, TimelineKind.ESCALATED, level=number, details={"repeat": step.repeat})
            targets = incident.policy.levels[step.level].targets
            p.sent += self.notifier.send(
                p.conn, incident, resolve_targets(p.conn, targets),
                action=Action.TRIGGER, firing=firing, resolved=(), secret=p.secret, now_ms=p.now,
                level=number, reason="escalation",
            )  # fmt: skip
        incident_store.update_incident(p.conn, incident)
        return incident

    def note_mutes(
        self,
        p: Pass,
        incident_id: int,
        changes: list[tuple[Member, str | None]],
        silences: dict[int, Silence],
    ) -> None:
        """Write each alert's new mute state into the incident's timeline."""
        for member, previous in changes:
            reason = member.muted_by
            details: dict[str, Any] = {
                "fingerprint": member.alert.fingerprint,
                "alertname": member.alert.labels.get("alertname", ""),
            }
            if reason is None:
                kind = TimelineKind.UNMUTED
                details["previously"] = previous
            elif reason.startswith("silence:"):
                kind = TimelineKind.SILENCED
                found = silences.get(silence_id(reason) or 0)
                details.update(silence_id=silence_id(reason))
                if found is not None:
                    details.update(created_by=found.created_by, comment=found.comment)
            elif reason.startswith("maintenance:"):
                kind = TimelineKind.MAINTENANCE
                details["window_id"] = int(reason.removeprefix("maintenance:"))
            else:
                kind = TimelineKind.INHIBITED
                details["source"] = reason.removeprefix("inhibited:")
            p.event(incident_id, kind, details=details)
