"""The alerting layer's entry points: alert state changes in, notifications to the outbox out.

`handle(transitions)` records firing and resolved alerts in their groups; `tick()` runs
the timers (group_wait, group_interval, repeat_interval, escalation timeouts, silence
and maintenance starts and ends). Both run one pass in one transaction on the writer:
load the state, decide with the pure functions, write the new state together with the
notifications it causes. Nothing is kept in memory between passes, so a restart resumes
exactly where the store says it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting import config_store, group_store, incident_store, links, silence_upkeep
from syncmon.alerting import escalation as esc
from syncmon.alerting.config_store import AlertingConfig
from syncmon.alerting.group_store import GroupRecord
from syncmon.alerting.groups import Flush, FlushKind, add_alert, after_flush, apply_mutes, decide, group_key
from syncmon.alerting.incidents import Incident, IncidentError, IncidentStatus, TimelineKind
from syncmon.alerting.incidents import acknowledge as ack_incident
from syncmon.alerting.incidents import resolve as resolve_incident
from syncmon.alerting.messages import highest_severity, subject
from syncmon.alerting.model import Alert, AlertState, Transition
from syncmon.alerting.muting import mute_reason, silence_id
from syncmon.alerting.notifier import NotificationSink, Notifier, resolve_targets
from syncmon.alerting.routing import route
from syncmon.channels.base import Action
from syncmon.clock import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")
DAY_MS = 86_400_000


class Transactor(Protocol):
    """Runs `fn(conn)` in one transaction (the server's Writer)."""

    def run(self, fn: Callable[[Connection], T]) -> Awaitable[T]: ...


class _Pass:
    """The state one transaction works on."""

    def __init__(self, conn: Connection, now_ms: int, secret: bytes, config: AlertingConfig) -> None:
        self.conn = conn
        self.now = now_ms
        self.secret = secret
        self.config = config
        self.groups = group_store.load_groups(conn)
        self.loaded = dict(self.groups)
        self.incidents = incident_store.open_incidents(conn)
        self.sent = 0

    def event(
        self,
        incident_id: int,
        kind: TimelineKind,
        *,
        actor: str | None = None,
        level: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        incident_store.add_event(
            self.conn, incident_id, self.now, kind, actor=actor, level=level, details=details
        )

    def save(self) -> None:
        for key in {*self.loaded, *self.groups}:
            group_store.save_group(self.conn, self.loaded.get(key), self.groups.get(key))


def _lock(conn: Connection) -> None:
    """One pass at a time across processes sharing a PostgreSQL store (SQLite has one writer)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('syncmon.alerting'))"))


class Dispatcher:
    def __init__(
        self,
        transactor: Transactor,
        clock: Clock,
        *,
        sink: NotificationSink | None,
        wake: Callable[[], None] | None = None,
        public_url: str,
        link_secret: str = "",
        link_ttl_ms: int = DAY_MS,
    ) -> None:
        self._transactor = transactor
        self.clock = clock
        self.notifier = Notifier(sink, public_url, link_ttl_ms)
        self.wake = wake
        self._configured_secret = link_secret
        self._secret: bytes | None = None

    def secret(self, conn: Connection) -> bytes:
        """The link secret: configured, or generated and stored on first use."""
        if self._secret is None:
            self._secret = links.load_secret(conn, self._configured_secret, self.clock.now_ms())
        return self._secret

    async def load_secret(self) -> bytes:
        """The link secret, generated and stored on first start when none is configured."""
        if self._secret is None:
            return await self._run(self.secret)
        return self._secret

    async def _run(self, fn: Callable[[Connection], T]) -> T:
        return await self._transactor.run(fn)

    def _woken(self, sent: int) -> None:
        if sent and self.wake is not None:
            self.wake()

    # -- entry points -------------------------------------------------------------------

    async def handle(self, transitions: list[Transition]) -> None:
        """Alert state changes from the rules engine (only FIRING and RESOLVED matter here)."""
        relevant = [t for t in transitions if t.alert.state in (AlertState.FIRING, AlertState.RESOLVED)]
        if not relevant:
            return
        now = self.clock.now_ms()
        self._woken(await self._run(lambda conn: self._pass(conn, now, relevant)))

    async def tick(self) -> None:
        """Timers: group flushes, escalation steps, silence and maintenance changes."""
        now = self.clock.now_ms()
        self._woken(await self._run(lambda conn: self._pass(conn, now, [])))

    async def acknowledge(self, incident_id: int, actor: str) -> Incident:
        now = self.clock.now_ms()
        incident, sent = await self._run(lambda conn: self._acknowledge(conn, incident_id, actor, now))
        self._woken(sent)
        return incident

    async def resolve(self, incident_id: int, actor: str) -> Incident:
        now = self.clock.now_ms()
        incident, sent = await self._run(lambda conn: self._resolve(conn, incident_id, actor, now))
        self._woken(sent)
        return incident

    async def run_forever(self, interval_s: float) -> None:
        """Tick every `interval_s` until cancelled; a failed tick is logged and retried."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alerting tick failed; will try again")

    # -- one pass -----------------------------------------------------------------------

    def _pass(self, conn: Connection, now: int, transitions: list[Transition]) -> int:
        _lock(conn)
        p = _Pass(conn, now, self.secret(conn), config_store.load_config(conn, now))
        for transition in transitions:
            self._record(p, transition.alert)
        firing = list(
            {
                m.alert.fingerprint: m.alert
                for g in p.groups.values()
                for m in g.state.members.values()
                if m.firing
            }.values()
        )
        live = p.config.mutes.silences
        silence_upkeep.expire_resolved(conn, live, firing, now)
        silence_upkeep.announce_expired(conn, p.groups.values(), p.incidents, now)
        self._apply_mutes(p, firing)
        for key, record in list(p.groups.items()):
            flush = decide(record.state, now)
            if flush is not None:
                updated = self._flush(p, record, flush)
                if updated is None:
                    del p.groups[key]
                else:
                    p.groups[key] = updated
        self._escalate(p)
        p.save()
        return p.sent

    def _record(self, p: _Pass, alert: Alert) -> None:
        project_id = p.config.project_id(alert.labels)
        for match in route(p.config.routes, alert.labels):
            labels = match.group_labels(alert.labels)
            key = group_key(match.route_id, labels)
            record = p.groups.get(key)
            if record is None:
                if alert.state is not AlertState.FIRING:
                    continue
                record = group_store.new_group(key, match, labels, project_id, p.now)
            p.groups[key] = replace(record, state=add_alert(record.state, alert, p.now))

    def _apply_mutes(self, p: _Pass, firing: list[Alert]) -> None:
        reasons = {
            alert.fingerprint: mute_reason(
                alert, p.config.project_id(alert.labels), firing, p.config.mutes, p.now
            )
            for alert in firing
        }
        used = {sid for reason in reasons.values() if (sid := silence_id(reason)) is not None}
        silence_upkeep.mark_matched(p.conn, p.config.mutes.silences, used, p.now)
        silences = {s.id: s for s in p.config.mutes.silences}
        for key, record in list(p.groups.items()):
            state, changes = apply_mutes(record.state, reasons)
            if not changes:
                continue
            p.groups[key] = replace(record, state=state)
            if record.incident_id not in p.incidents:
                continue
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
                p.event(record.incident_id, kind, details=details)

    # -- flushes ------------------------------------------------------------------------

    def _flush(self, p: _Pass, record: GroupRecord, flush: Flush) -> GroupRecord | None:
        incident = p.incidents.get(record.incident_id) if record.incident_id is not None else None
        if flush.kind is FlushKind.DROP:
            return None
        if flush.kind is FlushKind.RESOLVE:
            if incident is not None:
                self._close(p, incident, "system", list(flush.resolved), "every alert of the group resolved")
            return None
        alerts = [a.as_dict() for a in (*flush.firing, *flush.resolved)]
        if incident is None:
            incident = self._open(p, record, flush)
        else:
            incident = replace(incident, alerts=alerts, severity=highest_severity(flush.firing))
            if flush.kind is FlushKind.UPDATE:
                p.event(
                    incident.id,
                    TimelineKind.ALERTS_CHANGED,
                    details={
                        "firing": [a.fingerprint for a in flush.firing],
                        "resolved": [a.fingerprint for a in flush.resolved],
                    },
                )
            if incident.status is IncidentStatus.TRIGGERED:
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

    def _open(self, p: _Pass, record: GroupRecord, flush: Flush) -> Incident:
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
        incident = self._step(p, incident, list(flush.firing))
        p.incidents[incident.id] = incident
        return incident

    def _close(self, p: _Pass, incident: Incident, actor: str, alerts: list[Alert], reason: str) -> Incident:
        incident = resolve_incident(incident, actor, p.now)
        p.event(incident.id, TimelineKind.RESOLVED, actor=actor, details={"reason": reason})
        p.sent += self.notifier.send(
            p.conn, incident, incident_store.triggered(p.conn, incident.id),
            action=Action.RESOLVE, firing=(), resolved=alerts, secret=p.secret, now_ms=p.now, actor=actor,
        )  # fmt: skip
        incident_store.update_incident(p.conn, incident)
        p.incidents.pop(incident.id, None)
        return incident

    # -- escalation ---------------------------------------------------------------------

    def _escalate(self, p: _Pass) -> None:
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
            p.incidents[incident.id] = self._step(p, incident, active)

    def _step(self, p: _Pass, incident: Incident, firing: list[Alert]) -> Incident:
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

    # -- people -------------------------------------------------------------------------

    def _group_of(self, p: _Pass, incident_id: int) -> GroupRecord | None:
        return next((r for r in p.groups.values() if r.incident_id == incident_id), None)

    def _acknowledge(self, conn: Connection, incident_id: int, actor: str, now: int) -> tuple[Incident, int]:
        _lock(conn)
        incident = incident_store.get_incident(conn, incident_id)
        if incident is None:
            raise IncidentError(404, f"incident {incident_id} not found")
        if incident.status is not IncidentStatus.TRIGGERED:
            return ack_incident(incident, actor, now), 0
        p = _Pass(conn, now, self.secret(conn), config_store.load_config(conn, now))
        incident = ack_incident(incident, actor, now)
        p.event(incident.id, TimelineKind.ACKNOWLEDGED, actor=actor)
        record = self._group_of(p, incident_id)
        firing = [m.alert for m in record.state.active] if record is not None else []
        p.sent += self.notifier.send(
            conn, incident, incident_store.triggered(conn, incident.id),
            action=Action.ACKNOWLEDGE, firing=firing, resolved=(), secret=p.secret, now_ms=now, actor=actor,
        )  # fmt: skip
        incident_store.update_incident(conn, incident)
        return incident, p.sent

    def _resolve(self, conn: Connection, incident_id: int, actor: str, now: int) -> tuple[Incident, int]:
        _lock(conn)
        incident = incident_store.get_incident(conn, incident_id)
        if incident is None:
            raise IncidentError(404, f"incident {incident_id} not found")
        if incident.status is IncidentStatus.RESOLVED:
            return incident, 0
        p = _Pass(conn, now, self.secret(conn), config_store.load_config(conn, now))
        record = self._group_of(p, incident_id)
        alerts = [m.alert for m in record.state.members.values()] if record is not None else []
        incident = self._close(p, incident, actor, alerts, f"resolved by {actor}")
        if record is not None:
            # The group stays (its alerts may still fire) but no longer has an open incident:
            # it opens a new one when it next notifies (a change, or a full repeat_interval).
            state = replace(record.state, last_notify_ms=now)
            p.groups[record.state.key] = replace(record, state=state, incident_id=None)
            p.save()
        return incident, p.sent
