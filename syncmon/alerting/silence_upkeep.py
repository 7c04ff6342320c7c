"""What a dispatcher pass does for silences: expire those whose alerts resolved, remember which
ones have silenced something, and announce expiries in the timelines of open incidents."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting.group_store import GroupRecord
from syncmon.alerting.incident_store import add_event
from syncmon.alerting.incidents import Incident, TimelineKind
from syncmon.alerting.model import Alert
from syncmon.alerting.silences import Silence, to_expire_on_resolve
from syncmon.store.schema import silences

RESOLVED_REASON = "the alerts it silenced resolved"


def expire_resolved(conn: Connection, live: list[Silence], firing: list[Alert], now_ms: int) -> set[int]:
    """Expire the `expire_on_resolve` silences with nothing left to silence; their ids."""
    due = to_expire_on_resolve(live, firing, now_ms)
    for silence in due:
        conn.execute(
            silences.update()
            .where(silences.c.id == silence.id)
            .values(ends_ms=now_ms, expired_reason=RESOLVED_REASON, updated_ms=now_ms)
        )
    return {s.id for s in due}


def mark_matched(conn: Connection, live: list[Silence], used: Iterable[int], now_ms: int) -> None:
    """Note the first time each silence muted an alert (expire_on_resolve waits for it)."""
    fresh = [s.id for s in live if s.id in set(used) and s.matched_ms is None]
    if fresh:
        conn.execute(
            silences.update()
            .where(silences.c.id.in_(fresh), silences.c.matched_ms.is_(None))
            .values(matched_ms=now_ms)
        )


def announce_expired(
    conn: Connection, groups: Iterable[GroupRecord], incidents: dict[int, Incident], now_ms: int
) -> int:
    """Write `silence_expired` into every open incident whose alerts an expired silence muted,
    once per silence; returns how many silences were announced."""
    rows = conn.execute(
        sa.select(silences.c.id, silences.c.comment, silences.c.created_by, silences.c.expired_reason).where(
            silences.c.ends_ms <= now_ms, sa.not_(silences.c.expiry_announced)
        )
    ).all()
    if not rows:
        return 0
    groups = list(groups)
    for row in rows:
        tag = f"silence:{row.id}"
        for record in groups:
            if record.incident_id not in incidents:
                continue
            muted = [m for m in record.state.members.values() if m.muted_by == tag]
            if not muted:
                continue
            add_event(
                conn,
                record.incident_id,
                now_ms,
                TimelineKind.SILENCE_EXPIRED,
                actor=row.created_by,
                details={
                    "silence_id": row.id,
                    "comment": row.comment,
                    "reason": row.expired_reason or "its end time passed",
                    "still_firing": sorted(m.alert.fingerprint for m in muted if m.firing),
                },
            )
    conn.execute(
        silences.update().where(silences.c.id.in_([r.id for r in rows])).values(expiry_announced=True)
    )
    return len(rows)
