"""Deleting raw events and rollups past their retention, a small step at a time.

Each step is one short transaction on the writer thread, so retention never holds the
write lock long enough to delay ingest acknowledgements. Events leave their issues' counts
(`issue_counts`) in the same step, so those counts always match the stored events.
"""

from __future__ import annotations

from collections.abc import Mapping

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


def delete_expired_rollups(conn: Connection, cutoffs: Mapping[int, int], max_buckets: int = 60) -> int:
    """One step over the count rollups: in each tier, delete the oldest `max_buckets` buckets
    below that tier's cutoff (an epoch minute; `sketch_rollups.tier_cutoffs` gives the
    sketches' own). Returns rows deleted; call until it returns 0."""
    r = rollup_counts
    deleted = 0
    for tier, cutoff in sorted(cutoffs.items()):
        first = conn.execute(sa.select(sa.func.min(r.c.bucket)).where(r.c.tier == tier)).scalar()
        if first is None or first >= cutoff:
            continue
        upper = min(int(first) + max_buckets * tier, cutoff)
        result = conn.execute(r.delete().where(r.c.tier == tier, r.c.bucket < upper))
        deleted += int(result.rowcount or 0)
    return deleted
