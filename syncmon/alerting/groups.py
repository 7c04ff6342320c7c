"""Notification groups and their timers: when a group is notified, and about what.

A group is the set of alerts that took the same route and share the route's group_by
labels. The timers mean what they mean in Alertmanager:

- group_wait: how long a new group waits for more alerts before its first notification
  (by severity unless the route sets it: 0 s for critical);
- group_interval: how long after a notification the group waits before notifying about
  changes (alerts that joined, alerts that resolved);
- repeat_interval: how long after a notification an unchanged, still firing group is
  notified again.

One difference, on purpose: an alert more severe than anything the group has notified
does not wait for group_interval but for its own severity's group_wait, so a CRITICAL
joining a group of warnings is not held back for minutes.

An alert resolved before its group was first notified is never notified (as in
Alertmanager). Muted alerts (silenced, inhibited, in maintenance) stay in the group but
are left out of notifications; when one is muted after it was notified it is forgotten
from the "notified" set, so if it is still firing when the mute ends it is notified again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from enum import StrEnum

import orjson

from syncmon.alerting.model import Alert, AlertState, Severity
from syncmon.alerting.routing import Timers


def group_key(route_id: int, group_labels: dict[str, str]) -> str:
    """Stable identity of a group: route and group labels (PagerDuty's dedup_key derives from it)."""
    canonical = f"{route_id}:".encode() + orjson.dumps(group_labels, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Member:
    """An alert in a group: when it joined and what mutes it (None: nothing)."""

    alert: Alert
    added_ms: int
    muted_by: str | None = None

    @property
    def firing(self) -> bool:
        return self.alert.state is AlertState.FIRING

    @property
    def active(self) -> bool:
        """Firing and not muted: what notifications are about."""
        return self.firing and self.muted_by is None


@dataclass(frozen=True, slots=True)
class GroupState:
    key: str
    timers: Timers
    created_ms: int
    members: dict[str, Member]
    last_notify_ms: int | None = None
    notified: frozenset[str] = frozenset()
    notified_severity: Severity | None = None

    @property
    def active(self) -> list[Member]:
        return [m for m in self.members.values() if m.active]

    @property
    def any_firing(self) -> bool:
        return any(m.firing for m in self.members.values())


class FlushKind(StrEnum):
    FIRST = "first"  # the group's first notification
    UPDATE = "update"  # alerts joined or resolved since the last one
    REPEAT = "repeat"  # nothing changed for repeat_interval and it still fires
    RESOLVE = "resolve"  # every alert resolved: the last notification
    DROP = "drop"  # resolved before anyone was told: forget it silently


@dataclass(frozen=True, slots=True)
class Flush:
    kind: FlushKind
    firing: tuple[Alert, ...]
    resolved: tuple[Alert, ...]

    @property
    def severity(self) -> Severity:
        alerts = self.firing or self.resolved
        return max((a.severity for a in alerts), key=lambda s: s.rank, default=Severity.WARNING)


def _newly_resolved(group: GroupState) -> list[str]:
    return [fp for fp in sorted(group.notified) if fp not in group.members or not group.members[fp].firing]


def due_ms(group: GroupState) -> int | None:
    """When the group next needs a flush, or None while nothing can happen without a change."""
    timers = group.timers
    active = group.active
    if group.last_notify_ms is None:
        if not active:
            return None if group.any_firing else group.created_ms
        return min(m.added_ms + timers.wait_for(m.alert.severity) for m in active)
    last = group.last_notify_ms
    if not group.any_firing:
        return last + timers.group_interval_ms
    new = [m for m in active if m.alert.fingerprint not in group.notified]
    candidates: list[int] = []
    if new or _newly_resolved(group):
        candidates.append(last + timers.group_interval_ms)
    notified_rank = group.notified_severity.rank if group.notified_severity else -1
    candidates.extend(
        m.added_ms + timers.wait_for(m.alert.severity) for m in new if m.alert.severity.rank > notified_rank
    )
    if active and not candidates:
        candidates.append(last + timers.repeat_interval_ms)
    return min(candidates) if candidates else None


def _order(alert: Alert) -> tuple[int, int, str]:
    """Most severe first, then oldest, then by fingerprint: the same order on every engine."""
    return (-alert.severity.rank, alert.starts_ms, alert.fingerprint)


def decide(group: GroupState, now_ms: int) -> Flush | None:
    """The flush due at `now_ms`, if any."""
    due = due_ms(group)
    if due is None or now_ms < due:
        return None
    firing = tuple(sorted((m.alert for m in group.active), key=_order))
    if group.last_notify_ms is None:
        if not firing:
            return Flush(FlushKind.DROP, (), ())
        return Flush(FlushKind.FIRST, firing, ())
    if not group.any_firing:
        everything = tuple(sorted((m.alert for m in group.members.values()), key=_order))
        return Flush(FlushKind.RESOLVE, (), everything)
    resolved = tuple(
        sorted((group.members[fp].alert for fp in _newly_resolved(group) if fp in group.members), key=_order)
    )
    if any(a.fingerprint not in group.notified for a in firing) or _newly_resolved(group):
        return Flush(FlushKind.UPDATE, firing, resolved)
    return Flush(FlushKind.REPEAT, firing, ())


def after_flush(group: GroupState, flush: Flush, now_ms: int) -> GroupState | None:
    """The group once `flush` went out; None when the group is over (resolved or dropped)."""
    if flush.kind in (FlushKind.RESOLVE, FlushKind.DROP):
        return None
    members = {fp: m for fp, m in group.members.items() if m.firing}
    return replace(
        group,
        members=members,
        last_notify_ms=now_ms,
        notified=frozenset(a.fingerprint for a in flush.firing),
        notified_severity=flush.severity if flush.firing else None,
    )


def apply_mutes(
    group: GroupState, mutes: dict[str, str | None]
) -> tuple[GroupState, list[tuple[Member, str | None]]]:
    """Set each firing member's mute reason; returns the new group and the members whose reason
    changed (with their previous reason). A notified alert that becomes muted leaves the notified
    set, so when its mute ends while it still fires it is news again (at its severity's wait)."""
    changed: list[tuple[Member, str | None]] = []
    members = dict(group.members)
    notified = set(group.notified)
    for fp, member in group.members.items():
        # A resolved alert keeps its last reason: a silence's expiry is still announced for it.
        reason = mutes.get(fp) if member.firing else member.muted_by
        if reason == member.muted_by:
            continue
        members[fp] = replace(member, muted_by=reason)
        changed.append((members[fp], member.muted_by))
        if reason is not None:
            notified.discard(fp)
    if not changed:
        return group, []
    severity = group.notified_severity
    if notified != group.notified:
        ranked = [members[fp].alert.severity for fp in notified if fp in members]
        severity = max(ranked, key=lambda s: s.rank) if ranked else None
    return replace(group, members=members, notified=frozenset(notified), notified_severity=severity), changed


def add_alert(group: GroupState, alert: Alert, now_ms: int) -> GroupState:
    """Record an alert's new state in the group (an alert joins when it first fires)."""
    fp = alert.fingerprint
    existing = group.members.get(fp)
    if existing is None:
        if alert.state is not AlertState.FIRING:
            return group
        member = Member(alert, now_ms)
    else:
        member = replace(existing, alert=alert)
    return replace(group, members={**group.members, fp: member})
