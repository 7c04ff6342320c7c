"""Deleting raw events and rollups past their retention, a small step at a time.

Each step is one short transaction on the writer thread, so retention never holds the
write lock long enough to delay ingest acknowledgements. Events leave their issues' counts
(`issue_counts`) in the same step, so those counts always match the stored events.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.errors import issue_counts
from syncmon.store.schema import events, rollup_counts


def delete_expired_events(conn: Connection, cutoff_ms: int, limit: int) -> int:
    """Delete up to `limit` events received before `cutoff_ms`; returns how many."""
    oldest = (
        sa.select(events.c.seq)
        .where(events.c.received_ms < cutoff_ms)
        .order_by(events.c.seq)
        .limit(limit)
        .scalar_subquery()
    )
    issue_counts.subtract_deleted(conn, events.c.seq.in_(oldest))
    return int(conn.execute(events.delete().where(events.c.seq.in_(oldest))).rowcount or 0)


def delete_expired_rollups(conn: Connection, cutoff_minute: int, max_minutes: int) -> int:
    """Delete rollup rows older than `cutoff_minute`, at most `max_minutes` minutes per step."""
    first = conn.execute(sa.select(sa.func.min(rollup_counts.c.minute))).scalar()
    if first is None or first >= cutoff_minute:
        return 0
    upper = min(int(first) + max_minutes, cutoff_minute)
    return int(conn.execute(rollup_counts.delete().where(rollup_counts.c.minute < upper)).rowcount or 0)
