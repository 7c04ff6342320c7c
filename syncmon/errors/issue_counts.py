"""Events per issue in minute, hour and day buckets: the Errors pages' sparklines without raw events.

Writing: the grouping hook (`issue_store.assign_issues`) adds each batch's error events to
their issue's minute, hour and UTC-day rows (the sketch rollups' tiers, `sketch_rollups.TIERS`)
in the transaction that stores the events. Retention subtracts the events it deletes
(`subtract_deleted`, called with the delete) and drops rows that reach zero, so a bucket
always holds exactly the stored events of its issue in it; minute rows are dropped after
MINUTE_TIER_DAYS days like the sketches' (`delete_expired_minutes`), and reads never need
them that old (`sketch_rollups.plan`).

Reading (`series`): a window cut into whole steps is covered step by step with day, hour and
minute rows, so a 30-day sparkline of day steps reads at most 31 rows per issue, 24 hours of
hour steps 25, whatever the number of events.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.events import Event
from syncmon.metrics import sketch_rollups as sr
from syncmon.store.schema import events, issue_counts
from syncmon.store.upsert import upsert_add

MINUTE_MS = 60_000
EVERY_TIER = (sr.MINUTE, sr.HOUR, sr.DAY)
_KEY = ("issue_id", "tier", "bucket")


def tier_counts(
    minutes: Iterable[tuple[int, int, int]], tiers: Sequence[int]
) -> Counter[tuple[int, int, int]]:
    """(issue, epoch minute, n) → n added to (issue, tier, bucket) of each tier."""
    counts: Counter[tuple[int, int, int]] = Counter()
    for issue_id, minute, n in minutes:
        for tier in tiers:
            counts[(issue_id, tier, minute - minute % tier)] += n
    return counts


def count_rows(events: Iterable[Event]) -> list[dict[str, int]]:
    """The rows a batch adds to: one per (issue, tier, bucket), in key order."""
    minutes = ((e.issue_id, e.timestamp_ms // MINUTE_MS, 1) for e in events if e.issue_id is not None)
    counts = tier_counts(minutes, sr.TIERS)  # read per call: the benchmark loader narrows it
    return [
        {"issue_id": issue_id, "tier": tier, "bucket": bucket, "count": n}
        for (issue_id, tier, bucket), n in sorted(counts.items())
    ]


def add_events(conn: Connection, events: Sequence[Event]) -> None:
    """Count the batch's issue events (inside the commit that stores them)."""
    upsert_add(conn, issue_counts, count_rows(events), _KEY, ("count",))


_SUBTRACT = (
    issue_counts.update()
    .where(
        issue_counts.c.issue_id == sa.bindparam("k_issue"),
        issue_counts.c.tier == sa.bindparam("k_tier"),
        issue_counts.c.bucket == sa.bindparam("k_bucket"),
    )
    .values(count=issue_counts.c.count - sa.bindparam("k_n"))
)


def subtract_deleted(conn: Connection, deleted: sa.ColumnElement[bool]) -> int:
    """Before events matching `deleted` are deleted: take them off their issues' buckets and
    drop the rows that reach zero. Returns how many of them had an issue."""
    statement = sa.select(events.c.issue_id, events.c.ts_ms).where(deleted, events.c.issue_id.is_not(None))
    minutes: Counter[tuple[int, int]] = Counter(
        (int(issue_id), int(ts_ms) // MINUTE_MS) for issue_id, ts_ms in conn.execute(statement)
    )
    if not minutes:
        return 0
    found = [(issue_id, minute, n) for (issue_id, minute), n in minutes.items()]
    counts = tier_counts(found, EVERY_TIER)
    rows: list[dict[str, Any]] = [
        {"k_issue": issue_id, "k_tier": tier, "k_bucket": bucket, "k_n": n}
        for (issue_id, tier, bucket), n in sorted(counts.items())
    ]
    conn.execute(_SUBTRACT, rows)
    touched = sorted({issue_id for issue_id, _, _ in found})
    for start in range(0, len(touched), 500):
        conn.execute(
            issue_counts.delete().where(
                issue_counts.c.issue_id.in_(touched[start : start + 500]), issue_counts.c.count <= 0
            )
        )
    return sum(n for _, _, n in found)


def delete_expired_minutes(conn: Connection, now_ms: int, max_buckets: int = 60) -> int:
    """One retention step: drop up to `max_buckets` minutes of minute rows older than the
    minute tier keeps them. Returns rows deleted; call until 0."""
    cutoff = sr.tier_cutoffs(now_ms, sr.MINUTE_TIER_DAYS)[sr.MINUTE]
    t = issue_counts
    first = conn.execute(sa.select(sa.func.min(t.c.bucket)).where(t.c.tier == sr.MINUTE)).scalar()
    if first is None or first >= cutoff:
        return 0
    upper = min(int(first) + max_buckets, cutoff)
    return int(conn.execute(t.delete().where(t.c.tier == sr.MINUTE, t.c.bucket < upper)).rowcount or 0)


def step_spans(first: int, end: int, step: int, now_ms: int | None) -> tuple[list[int], list[sr.Span]]:
    """(each step's start, the spans covering the steps of minutes [first, end)): a step of a
    day or more is day rows, of an hour or more hour rows, except where `plan` must round."""
    pieces = sr.series_pieces(first, end, step)
    spans = [span for _, low, high in pieces for span in sr.plan(low, high, now_ms)]
    return [start for start, _, _ in pieces], spans


def series(
    conn: Connection, issue_ids: Sequence[int], first: int, end: int, step: int, now_ms: int | None
) -> dict[int, tuple[int, ...]]:
    """Events per step of minutes [first, end) for each issue (zeros included). Steps start
    at `first` (align it to the step to get whole steps)."""
    if not issue_ids:
        return {}
    starts, spans = step_spans(first, end, step, now_ms)
    counts = {issue_id: [0] * len(starts) for issue_id in issue_ids}
    if spans:
        t = issue_counts
        statement = sa.select(t.c.issue_id, t.c.bucket, t.c["count"]).where(
            t.c.issue_id.in_(list(issue_ids)), sr.spans_clause(t, spans)
        )
        for issue_id, bucket, n in conn.execute(statement):
            counts[int(issue_id)][max(0, bisect_right(starts, bucket) - 1)] += int(n)
    return {issue_id: tuple(values) for issue_id, values in counts.items()}
