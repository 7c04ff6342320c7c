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
from typing import Protocol, TypeVar

from sqlalchemy.engine import Connection

from syncmon.alerting import config_store, group_store, incident_store, links, silence_upkeep
from syncmon.alerting.dispatch_pass import Pass, lock
from syncmon.alerting.group_store import GroupRecord
from syncmon.alerting.groups import add_alert, apply_mutes, decide, group_key
from syncmon.alerting.incident_flow import IncidentFlow
from syncmon.alerting.incidents import Incident, IncidentError, IncidentStatus, TimelineKind
from syncmon.alerting.incidents import acknowledge as ack_incident
from syncmon.alerting.model import Alert, AlertState, Severity, Transition
from syncmon.alerting.muting import mute_reason, silence_id
from syncmon.alerting.notifier import NotificationSink, Notifier, PendingCanceller
from syncmon.alerting.routing import route
from syncmon.channels.base import Action
from syncmon.clock import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")
DAY_MS = 86_400_000
SEVERITIES = {s.value for s in Severity}


class Transactor(Protocol):
    """Runs `fn(conn)` in one transaction (the server's Writer)."""

    def run(self, fn: Callable[[Connection], T]) -> Awaitable[T]: ...


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
        cancel_pending: PendingCanceller | None = None,
    ) -> None:
        self._transactor = transactor
        self.clock = clock
        self.notifier = Notifier(sink, public_url, link_ttl_ms, cancel_pending)
        self.flow = IncidentFlow(self.notifier)
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
        for transition in [
            t for t in relevant if t.alert.labels.get("severity", "warning") not in SEVERITIES
        ]:
            # Stored, it would fail every later pass; refused here, it fails nothing else.
            log.error("alert %s has an unknown severity; not routed", transition.alert.labels)
            relevant.remove(transition)
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
        lock(conn)
        p = Pass(conn, now, self.secret(conn), config_store.load_config(conn, now))
        holders: dict[str, set[str]] = {}
        for key, record in p.groups.items():
            for fp in record.state.members:
                holders.setdefault(fp, set()).add(key)
        for transition in transitions:
            self._record(p, transition.alert, holders)
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
                updated = self.flow.flush(p, record, flush)
                if updated is None:
                    del p.groups[key]
                else:
                    p.groups[key] = updated
        self.flow.escalate(p)
        p.save()
        return p.sent

    def _record(self, p: Pass, alert: Alert, holders: dict[str, set[str]]) -> None:
        """The alert's new state in every group that holds it, even one whose route has since
        changed (its resolve must reach the incident it opened); an alert no group holds yet
        is routed with the routes as they are now. `holders` maps fingerprints to the keys of
        the groups holding them."""
        fp = alert.fingerprint
        keys = set(holders.get(fp, ()))
        if alert.state is AlertState.FIRING and not keys:
            project_id = p.config.project_id(alert.labels)
            for match in route(p.config.routes, alert.labels):
                labels = match.group_labels(alert.labels)
                key = group_key(match.route_id, labels)
                if key not in p.groups:
                    p.groups[key] = group_store.new_group(key, match, labels, project_id, p.now)
                keys.add(key)
        for key in sorted(keys):
            record = p.groups[key]
            p.groups[key] = replace(record, state=add_alert(record.state, alert, p.now))
            holders.setdefault(fp, set()).add(key)

    def _apply_mutes(self, p: Pass, firing: list[Alert]) -> None:
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
            self.flow.note_mutes(p, record.incident_id, changes, silences)

    # -- people -------------------------------------------------------------------------

    def _group_of(self, p: Pass, incident_id: int) -> GroupRecord | None:
        return next((r for r in p.groups.values() if r.incident_id == incident_id), None)

    def _acknowledge(self, conn: Connection, incident_id: int, actor: str, now: int) -> tuple[Incident, int]:
        lock(conn)
        incident = incident_store.get_incident(conn, incident_id)
        if incident is None:
            raise IncidentError(404, f"incident {incident_id} not found")
        if incident.status is not IncidentStatus.TRIGGERED:
            return ack_incident(incident, actor, now), 0
        p = Pass(conn, now, self.secret(conn), config_store.load_config(conn, now))
        incident = ack_incident(incident, actor, now)
        withdrawn = self.notifier.withdraw_pages(conn, incident.id)
        p.event(incident.id, TimelineKind.ACKNOWLEDGED, actor=actor, details={"pages_withdrawn": withdrawn})
        record = self._group_of(p, incident_id)
        firing = [m.alert for m in record.state.active] if record is not None else []
        p.sent += self.notifier.send(
            conn, incident, incident_store.triggered(conn, incident.id),
            action=Action.ACKNOWLEDGE, firing=firing, resolved=(), secret=p.secret, now_ms=now, actor=actor,
        )  # fmt: skip
        incident_store.update_incident(conn, incident)
        return incident, p.sent

    def _resolve(self, conn: Connection, incident_id: int, actor: str, now: int) -> tuple[Incident, int]:
        lock(conn)
        incident = incident_store.get_incident(conn, incident_id)
        if incident is None:
            raise IncidentError(404, f"incident {incident_id} not found")
        if incident.status is IncidentStatus.RESOLVED:
            return incident, 0
        p = Pass(conn, now, self.secret(conn), config_store.load_config(conn, now))
        record = self._group_of(p, incident_id)
        alerts = [m.alert for m in record.state.members.values()] if record is not None else []
        incident = self.flow.close(p, incident, actor, alerts, f"resolved by {actor}")
        if record is not None:
            # The group stays (its alerts may still fire) but no longer has an open incident:
            # it opens a new one when it next notifies (a change, or a full repeat_interval).
            state = replace(record.state, last_notify_ms=now)
            p.groups[record.state.key] = replace(record, state=state, incident_id=None)
            p.save()
        return incident, p.sent
