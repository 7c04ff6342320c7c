"""Forgetting old alerting history: resolved incidents with their timelines, expired silences
and maintenance windows that will not come back, a small step at a time."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting.dispatcher import Transactor
from syncmon.store.schema import incident_events, incidents, maintenance_windows, silences

DAY_MS = 86_400_000
STEP = 100


def delete_old_incidents(conn: Connection, cutoff_ms: int, limit: int) -> int:
    """Delete up to `limit` incidents resolved before `cutoff_ms`, timelines first; returns how many."""
    ids = (
        conn.execute(
            sa.select(incidents.c.id)
            .where(incidents.c.resolved_ms < cutoff_ms)
            .order_by(incidents.c.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0
    conn.execute(incident_events.delete().where(incident_events.c.incident_id.in_(ids)))
    return int(conn.execute(incidents.delete().where(incidents.c.id.in_(ids))).rowcount or 0)


def delete_old_mutes(conn: Connection, cutoff_ms: int) -> int:
    """Delete silences that ended before `cutoff_ms` (their expiry announced) and one-off or
    finished weekly maintenance windows that ended before it."""
    gone = conn.execute(
        silences.delete().where(silences.c.ends_ms < cutoff_ms, silences.c.expiry_announced)
    ).rowcount
    finished = sa.or_(
        sa.not_(maintenance_windows.c.weekly),
        sa.and_(maintenance_windows.c.until_ms.is_not(None), maintenance_windows.c.until_ms < cutoff_ms),
    )
    gone += conn.execute(
        maintenance_windows.delete().where(maintenance_windows.c.ends_ms < cutoff_ms, finished)
    ).rowcount
    return int(gone or 0)


async def run(transactor: Transactor, now_ms: int, retention_days: int) -> dict[str, int]:
    """One retention pass over alerting history, each step its own short transaction."""
    cutoff = now_ms - retention_days * DAY_MS
    deleted = {"incidents": 0}
    while True:
        count = await transactor.run(lambda conn: delete_old_incidents(conn, cutoff, STEP))
        deleted["incidents"] += count
        if count < STEP:
            break
    deleted["silences_and_windows"] = await transactor.run(lambda conn: delete_old_mutes(conn, cutoff))
    return deleted
