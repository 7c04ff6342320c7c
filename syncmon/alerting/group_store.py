"""Notification groups in the store: the group rows, their alerts, and what was last sent.

Loaded whole at the start of a dispatcher transaction and written back as a diff at its
end, in the same transaction as the notifications they caused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting.groups import GroupState, Member
from syncmon.alerting.model import Alert, AlertState, Severity
from syncmon.alerting.routing import RouteMatch, Timers
from syncmon.store.schema import alert_group_alerts, alert_groups


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """A group with what the store knows around its state. id None: not stored yet."""

    id: int | None
    state: GroupState
    route_id: int
    receiver: str
    labels: dict[str, str]
    project_id: int | None
    policy_id: int | None
    incident_id: int | None = None


def new_group(
    key: str, match: RouteMatch, labels: dict[str, str], project_id: int | None, now_ms: int
) -> GroupRecord:
    return GroupRecord(
        id=None,
        state=GroupState(key=key, timers=match.timers, created_ms=now_ms, members={}),
        route_id=match.route_id,
        receiver=match.receiver,
        labels=labels,
        project_id=project_id,
        policy_id=match.policy_id,
    )


def _alert(row: Any) -> Alert:
    return Alert(
        labels=dict(row.labels),
        annotations=dict(row.annotations),
        state=AlertState(row.state),
        starts_ms=row.starts_ms,
        ends_ms=row.ends_ms,
        value=row.value,
        rule_id=row.rule_id,
        generator_url=row.generator_url,
    )


def load_groups(conn: Connection) -> dict[str, GroupRecord]:
    members: dict[int, dict[str, Member]] = {}
    rows = conn.execute(
        sa.select(alert_group_alerts).order_by(
            alert_group_alerts.c.group_id, alert_group_alerts.c.added_ms, alert_group_alerts.c.fingerprint
        )
    )
    for row in rows:
        members.setdefault(row.group_id, {})[row.fingerprint] = Member(
            _alert(row), row.added_ms, row.muted_by
        )
    found: dict[str, GroupRecord] = {}
    for row in conn.execute(sa.select(alert_groups).order_by(alert_groups.c.id)):
        state = GroupState(
            key=row.group_key,
            timers=Timers(row.group_wait_ms, row.group_interval_ms, row.repeat_interval_ms),
            created_ms=row.created_ms,
            members=members.get(row.id, {}),
            last_notify_ms=row.last_notify_ms,
            notified=frozenset(row.notified),
            notified_severity=Severity(row.notified_severity) if row.notified_severity else None,
        )
        found[row.group_key] = GroupRecord(
            row.id,
            state,
            row.route_id,
            row.receiver,
            dict(row.labels),
            row.project_id,
            row.policy_id,
            row.incident_id,
        )
    return found


def _member_row(group_id: int, fp: str, member: Member) -> dict[str, Any]:
    alert = member.alert
    return {
        "group_id": group_id,
        "fingerprint": fp,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "state": alert.state.value,
        "starts_ms": alert.starts_ms,
        "ends_ms": alert.ends_ms,
        "value": alert.value,
        "rule_id": alert.rule_id,
        "generator_url": alert.generator_url,
        "added_ms": member.added_ms,
        "muted_by": member.muted_by,
    }


def _group_values(record: GroupRecord) -> dict[str, Any]:
    state = record.state
    return {
        "group_key": state.key,
        "route_id": record.route_id,
        "receiver": record.receiver,
        "labels": record.labels,
        "project_id": record.project_id,
        "policy_id": record.policy_id,
        "group_wait_ms": state.timers.group_wait_ms,
        "group_interval_ms": state.timers.group_interval_ms,
        "repeat_interval_ms": state.timers.repeat_interval_ms,
        "created_ms": state.created_ms,
        "last_notify_ms": state.last_notify_ms,
        "notified": sorted(state.notified),
        "notified_severity": state.notified_severity.value if state.notified_severity else None,
        "incident_id": record.incident_id,
    }


def save_group(conn: Connection, before: GroupRecord | None, after: GroupRecord | None) -> GroupRecord | None:
    """Write what changed between `before` (as loaded) and `after` (None: delete the group)."""
    if after is None:
        if before is not None and before.id is not None:
            conn.execute(alert_group_alerts.delete().where(alert_group_alerts.c.group_id == before.id))
            conn.execute(alert_groups.delete().where(alert_groups.c.id == before.id))
        return None
    if before == after and after.id is not None:
        return after
    if after.id is None:
        result = conn.execute(alert_groups.insert().values(**_group_values(after)))
        after = replace(after, id=int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0)
    else:
        conn.execute(
            alert_groups.update().where(alert_groups.c.id == after.id).values(**_group_values(after))
        )
    assert after.id is not None
    old = before.state.members if before is not None and before.id is not None else {}
    new = after.state.members
    gone = [fp for fp in old if fp not in new]
    if gone:
        conn.execute(
            alert_group_alerts.delete().where(
                alert_group_alerts.c.group_id == after.id, alert_group_alerts.c.fingerprint.in_(gone)
            )
        )
    added = [_member_row(after.id, fp, m) for fp, m in new.items() if fp not in old]
    if added:
        conn.execute(alert_group_alerts.insert(), added)
    for fp, member in new.items():
        if fp in old and old[fp] != member:
            row = _member_row(after.id, fp, member)
            conn.execute(
                alert_group_alerts.update()
                .where(alert_group_alerts.c.group_id == after.id, alert_group_alerts.c.fingerprint == fp)
                .values({k: v for k, v in row.items() if k not in ("group_id", "fingerprint")})
            )
    return after
