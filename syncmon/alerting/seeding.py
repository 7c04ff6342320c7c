"""Rebuilding rule windows from the store after a start or a rule change.

Windows live in memory, so a (re)started engine fills them before it evaluates anything:

- events received in the last `alert_replay_seconds` (or the rule's window, if shorter)
  are replayed through the rules, in log order, read in pages;
- SLO burn-rate windows longer than that are filled further back from the per-minute
  quantile rollups, where those represent the SLI (all routes or one exact route, 5xx
  errors, latency and metric thresholds within the sketches' 1 %);
- heartbeats learn when their event was last seen, however long ago;
- security rules get the detections recorded within their windows.

What none of these cover (a count over a day with a level filter, say) fills up again from
the replay horizon on; docs/alerting.md says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.events import Event, Kind
from syncmon.metrics.sketch_rollups import MINUTE, MINUTE_MS, metric_name, normalize_path, route_name
from syncmon.security import detection_store
from syncmon.security.detection import Detection
from syncmon.store.eventlog import event_from_row
from syncmon.store.schema import detections, rollup_sketches
from syncmon.store.schema import events as events_table

REPLAY_PAGE = 5000
REPLAY_MAX_EVENTS = 1_000_000  # a start replays at most the newest this many events


def replay_page(
    conn: Connection,
    since_ms: int,
    kinds: Sequence[str],
    project_ids: Sequence[int],
    after_seq: int,
    up_to_seq: int | None,
    limit: int = REPLAY_PAGE,
) -> list[Event]:
    """Events received since `since_ms`, of the kinds and projects, after `after_seq` (and
    at most `up_to_seq`), in log order; page on with the last seq."""
    t = events_table
    conditions: list[Any] = [
        t.c.received_ms >= since_ms,
        t.c.kind.in_(list(kinds)),
        t.c.project_id.in_(list(project_ids)),
        t.c.seq > after_seq,
    ]
    if up_to_seq is not None:
        conditions.append(t.c.seq <= up_to_seq)
    statement = sa.select(t).where(*conditions).order_by(t.c.seq).limit(limit)
    return [event_from_row(row) for row in conn.execute(statement)]


def replay_floor(
    conn: Connection,
    since_ms: int,
    kinds: Sequence[str],
    project_ids: Sequence[int],
    cap: int = REPLAY_MAX_EVENTS,
) -> int:
    """The seq after which at most `cap` events of the replay remain (0: all of them), so a
    start after an hour of heavy traffic replays the newest part instead of stalling."""
    t = events_table
    statement = (
        sa.select(t.c.seq)
        .where(t.c.received_ms >= since_ms, t.c.kind.in_(list(kinds)), t.c.project_id.in_(list(project_ids)))
        .order_by(t.c.seq.desc())
        .offset(cap)
        .limit(1)
    )
    found = conn.execute(statement).scalar()
    return int(found) if found is not None else 0


def detections_since(conn: Connection, project_ids: Sequence[int], since_ms: int) -> list[Detection]:
    d = detections
    statement = (
        sa.select(d)
        .where(d.c.project_id.in_(list(project_ids)), d.c.last_ms >= since_ms)
        .order_by(d.c.last_ms, d.c.id)
    )
    return [detection_store.from_row(row) for row in conn.execute(statement)]


def latest_events(
    conn: Connection, project_id: int, kind: str, names: Sequence[str], limit: int = 500
) -> list[Event]:
    """The newest events of a kind (and names), for heartbeats; the caller filters further."""
    t = events_table
    conditions: list[Any] = [t.c.project_id == project_id, t.c.kind == kind]
    if names:
        conditions.append(t.c.name.in_(list(names)))
    statement = sa.select(t).where(*conditions).order_by(t.c.ts_ms.desc()).limit(limit)
    return [event_from_row(row) for row in conn.execute(statement)]


def sketch_minutes(
    conn: Connection, project_id: int, kind: str, name: str, page: str, first_minute: int, end_minute: int
) -> list[tuple[int, int, int, bytes]]:
    """(minute, count, errors, sketch) of one series' minute rows in [first, end)."""
    r = rollup_sketches
    statement = (
        sa.select(r.c.bucket, r.c["count"], r.c.errors, r.c.sketch)
        .where(
            r.c.project_id == project_id,
            r.c.kind == kind,
            r.c.name == name,
            r.c.page == page,
            r.c.tier == MINUTE,
            r.c.bucket >= first_minute,
            r.c.bucket < end_minute,
        )
        .order_by(r.c.bucket)
    )
    return [(int(b), int(n), int(e), bytes(s)) for b, n, e, s in conn.execute(statement)]


def burn_rate_series(spec: Any) -> tuple[str, str, str] | None:
    """The rollup series (kind, name, page) that holds a burn-rate rule's SLI, or None when
    the rollups cannot represent it (filters on environment, release or labels, a route
    pattern, a status other than 5xx, checks)."""
    flt = spec.filter
    if flt.environment is not None or flt.release is not None or flt.labels:
        return None
    route = flt.route
    if route is not None and any(ch in route for ch in "*?["):
        return None
    if spec.sli == "requests" and spec.error_status != 500:
        return None
    if spec.sli in ("requests", "latency"):
        if route is not None and not route.startswith("/") and " " in route:
            return Kind.REQUEST.value, route_name(route), ""
        if route is not None:
            return None  # a path without its method spans several rows
        return Kind.REQUEST.value, "", ""
    if spec.sli == "metric":
        page = normalize_path(route) if route else ""
        return Kind.PERFORMANCE.value, metric_name(spec.metric), page
    return None


def minute_of(ms: int) -> int:
    return ms // MINUTE_MS
