"""Event counts per (project, kind, name) in minute, hour and day tiers, written with the events.

Storage follows the sketch rollups (`sketch_rollups`): one table, `rollup_counts`, whose rows
carry a `tier` (the bucket's width: 1, 60 or 1440 minutes) and a `bucket` (the epoch minute it
starts). One table rather than one per tier because then an event's three rows are one upsert
in the commit that stores it (so no tier can disagree with the log or with another tier), a
window made of days, hours and minutes is one query (`sketch_rollups.spans_clause`), and
retention is one loop over the tiers. Its key leads with (project, tier, bucket), so a
project's window is one index range per span.

Reading (`count_buckets`): a window cut into steps (each starting at a multiple of the step,
as `minute - minute % step` buckets them) is covered step by step by `sketch_rollups.plan`
— whole days from day rows, whole hours from hour rows, minutes at the edges — so 30 days in
day steps read 31 rows per key instead of 43 200. Each row lies in exactly one step. The step
that holds the current minute is read as its whole UTC day minus what lies after the window's
end (future buckets, empty unless clients stamp events a few minutes ahead), so today is one
day row too, and the answer stays exactly the sum of the minute rows.

Retention (`syncmon.store.retention.delete_expired_rollups` with `sketch_rollups.tier_cutoffs`):
minute rows are kept as long as minute sketches (7 days), hour rows as long as hour sketches
(90 days), day rows `rollup_retention_days`. A window edge older than a tier's retention is
rounded outward to the coarser row still kept (`sketch_rollups.kept_window`), as for sketches.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.events import Event
from syncmon.metrics import sketch_rollups as sr
from syncmon.metrics.sketch_rollups import DAY, HOUR, MINUTE, Span
from syncmon.store.schema import rollup_counts
from syncmon.store.upsert import upsert_add

MINUTE_MS = 60_000
TIERS: tuple[int, ...] = (MINUTE, HOUR, DAY)  # read per batch (the dashboard benchmark narrows it)
KEY = ("project_id", "tier", "bucket", "kind", "name")


# --- writing ---------------------------------------------------------------------------------


def count_rows(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Collapse a batch into one row per (project, tier, bucket, kind, name), in key order (so
    concurrent writers on PostgreSQL take row locks in the same order)."""
    minutes = Counter((e.project_id, e.kind, e.name, e.timestamp_ms // MINUTE_MS) for e in events)
    counts: Counter[tuple[int, int, int, str, str]] = Counter()
    for (project_id, kind, name, minute), count in minutes.items():
        for tier in TIERS:
            counts[(project_id, tier, minute - minute % tier, kind, name)] += count
    return [
        {"project_id": p, "tier": t, "bucket": b, "kind": k, "name": n, "count": count}
        for (p, t, b, k, n), count in sorted(counts.items())
    ]


def apply_count_rollups(conn: Connection, events: Sequence[Event]) -> None:
    """Add the batch to its minute, hour and day rows (one statement, in the batch's commit)."""
    upsert_add(conn, rollup_counts, count_rows(events), KEY, ("count",))


# --- planning --------------------------------------------------------------------------------


def _union(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or adjacent spans of a tier joined: each row is then read at most once."""
    joined: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.tier, s.first)):
        last = joined[-1] if joined else None
        if last is not None and last.tier == span.tier and span.first <= last.end:
            joined[-1] = Span(span.tier, last.first, max(last.end, span.end))
        elif span.end > span.first:
            joined.append(span)
    return joined


def _minus(spans: Sequence[Span], taken: Sequence[Span]) -> list[Span]:
    """The parts of `spans` that no span of `taken` of the same tier covers."""
    left: list[Span] = []
    for span in spans:
        parts = [(span.first, span.end)]
        for cut in taken:
            if cut.tier != span.tier:
                continue
            parts = [
                piece
                for low, high in parts
                for piece in ((low, min(high, cut.first)), (max(low, cut.end), high))
                if piece[0] < piece[1]
            ]
        left += [Span(span.tier, low, high) for low, high in parts]
    return left


@dataclass(frozen=True, slots=True)
class CountPlan:
    """The rows that answer counts over minutes [first, end) in steps: rows of `add` are summed,
    rows of `subtract` (after the window's end, in the day of its last step) taken away; a
    row counts for the step its bucket starts in."""

    starts: tuple[int, ...]  # epoch minute each step starts (a multiple of the step)
    add: tuple[Span, ...]
    subtract: tuple[Span, ...]

    @property
    def spans(self) -> tuple[Span, ...]:
        return self.add + self.subtract

    def step_of(self, bucket: int) -> int:
        """The step a row belongs to (edges rounded outward for retention go to the first or
        last step)."""
        return max(0, bisect_right(self.starts, bucket) - 1)

    def sign(self, tier: int, bucket: int) -> int:
        """+1 for a row that is added, -1 for one that is subtracted."""
        subtracted = any(s.tier == tier and s.first <= bucket < s.end for s in self.subtract)
        return -1 if subtracted else 1


def _kept_edges(edges: Sequence[int], now_ms: int) -> list[int]:
    """Step edges moved onto rows that retention keeps: every edge but the last rounded down
    as `kept_window` rounds a window's start, the last rounded up as it rounds the end. The
    rounding is monotone, so the steps still tile the rounded window: no row is read twice."""
    moved = [sr.kept_window(edge, edge, now_ms)[0] for edge in edges[:-1]]
    return [*moved, sr.kept_window(edges[-1], edges[-1], now_ms)[1]]


def count_plan(first: int, end: int, step: int, now_ms: int | None = None) -> CountPlan:
    """Plan minutes [first, end) in `step`-minute steps. With `now_ms`: step edges past a
    tier's retention are moved onto the coarser rows still kept, and the last step, when it
    holds the current minute, is read as its day minus the rest of that day."""
    if step < 1:
        raise ValueError(f"step must be a positive number of minutes, not {step}")
    pieces = sr.series_pieces(first, end, step)
    edges = [low for _, low, _ in pieces] + [end] if pieces else []
    if now_ms is not None and edges:
        edges = _kept_edges(edges, now_ms)
    add: list[Span] = []
    subtract: list[Span] = []
    now_minute = None if now_ms is None else now_ms // MINUTE_MS
    last = len(edges) - 2
    for index, (low, high) in enumerate(itertools.pairwise(edges)):
        current = now_minute is not None and low <= now_minute < high
        if current and index == last and high % DAY:
            midnight = high + DAY - high % DAY
            add += sr.plan(low, midnight)
            subtract += sr.plan(high, midnight)
        else:
            add += sr.plan(low, high)
    added, subtracted = _union(add), _union(subtract)
    return CountPlan(
        starts=tuple(start for start, _, _ in pieces),
        add=tuple(_minus(added, subtracted)),
        subtract=tuple(_minus(subtracted, added)),
    )


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountRow:
    project_id: int
    bucket: int  # epoch minute its step starts
    kind: str
    name: str
    count: int


def count_buckets(
    conn: Connection,
    first: int,
    end: int,
    step: int,
    now_ms: int | None = None,
    *,
    project_ids: Sequence[int] | None = None,
    kinds: Sequence[str] | None = None,
    per_name: bool = True,
) -> list[CountRow]:
    """Events per (project, step, kind, name) over minutes [first, end), ordered so; projects
    and kinds None: all of them; `per_name` False: summed over names (name ""). Equal to
    summing the minute rows wherever those are kept."""
    if (project_ids is not None and not project_ids) or (kinds is not None and not kinds):
        return []
    counted = count_plan(first, end, step, now_ms)
    if not counted.spans:
        return []
    r = rollup_counts
    conditions = [sr.spans_clause(r, counted.spans)]
    if project_ids is not None:
        conditions.append(r.c.project_id.in_(sorted(set(project_ids))))
    if kinds is not None:
        conditions.append(r.c.kind.in_(sorted(set(kinds))))
    # Summed per step in the database: rows of a step arrive as one (a week in 6-hour steps
    # is 28 sums per key, not 168 hour rows). Subtracted rows are summed negated.
    count: sa.ColumnElement[Any] = r.c["count"]
    if counted.subtract:
        count = sa.case((sr.spans_clause(r, counted.subtract), -r.c["count"]), else_=r.c["count"])
    start = (r.c.bucket - r.c.bucket % step).label("start")
    name_column = r.c.name if per_name else sa.literal("").label("name")
    keys = (r.c.project_id, start, r.c.kind, *([r.c.name] if per_name else []))
    statement = (
        sa.select(r.c.project_id, start, r.c.kind, name_column, sa.func.sum(count).label("total"))
        .where(*conditions)
        .group_by(*keys)
    )
    totals: Counter[tuple[int, int, str, str]] = Counter()
    first_step, last_step = counted.starts[0], counted.starts[-1]
    for project_id, bucket, kind, name, total in conn.execute(statement).all():
        # rows of edges rounded outward for retention, and today's subtracted rest, go to
        # the first or last step (as `CountPlan.step_of`)
        step_start = min(max(int(bucket), first_step), last_step)
        totals[(project_id, step_start, kind, name)] += int(total)
    return [CountRow(p, b, k, n, total) for (p, b, k, n), total in sorted(totals.items()) if total]


def count_series(
    conn: Connection,
    project_id: int,
    since_minute: int,
    until_minute: int,
    step_minutes: int,
    kind: str | None = None,
    now_ms: int | None = None,
) -> list[dict[str, Any]]:
    """One project's counts per (bucket, kind, name), ordered so, as the counts API returns
    them ("minute": the epoch minute the bucket starts)."""
    rows = count_buckets(
        conn,
        since_minute,
        until_minute,
        step_minutes,
        now_ms,
        project_ids=[project_id],
        kinds=None if kind is None else [kind],
    )
    return [{"minute": row.bucket, "kind": row.kind, "name": row.name, "count": row.count} for row in rows]


def ever_counted(conn: Connection, project_ids: Sequence[int], kind: str) -> bool:
    """Whether any event of `kind` was counted for these projects, as far back as rollups go
    (day rows are kept longest)."""
    if not project_ids:
        return False
    r = rollup_counts
    statement = (
        sa.select(r.c.bucket)
        .where(r.c.project_id.in_(sorted(set(project_ids))), r.c.tier == DAY, r.c.kind == kind)
        .limit(1)
    )
    return conn.execute(statement).first() is not None
