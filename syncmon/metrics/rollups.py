"""Per-minute count rollups, written in the same transaction as the events they count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from syncmon.events import Event
from syncmon.store.schema import rollup_counts
from syncmon.store.upsert import upsert_add

MINUTE_MS = 60_000


def count_rows(events: Sequence[Event]) -> list[dict[str, int | str]]:
    """Collapse a batch into one row per (project, kind, name, minute)."""
    counts = Counter((e.project_id, e.kind, e.name, e.timestamp_ms // MINUTE_MS) for e in events)
    return [
        {"project_id": project_id, "kind": kind, "name": name, "minute": minute, "count": count}
        for (project_id, kind, name, minute), count in sorted(counts.items())
    ]


def apply_count_rollups(conn: Connection, events: Sequence[Event]) -> None:
    upsert_add(
        conn,
        rollup_counts,
        count_rows(events),
        ("project_id", "kind", "name", "minute"),
        ("count",),
    )
