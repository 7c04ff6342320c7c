"""The Overview's numbers, from stored data only: count rollups, issues, detections, events.

Events per minute and the error rate come from the count rollups of the range, its start
rounded down to a whole sparkline step, read in whole days, hours and minutes (so the cost
does not grow with the event volume: 30 days are 31 day rows per kind and name); open
issues from the issues table; the threat level from the detections of the threat window,
scored as the security API scores them; the latest events from the event log. Nothing is
estimated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.errors.lifecycle import Status
from syncmon.events import Event, Kind
from syncmon.metrics import rollups
from syncmon.security import detection_store
from syncmon.security.threat import assess
from syncmon.store import eventlog
from syncmon.store.projects import Project
from syncmon.store.schema import issues

SPARK_POINTS = 30
SPARK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)  # minutes
MINUTE_MS = 60_000
SPARK_WIDTH = 300
SPARK_HEIGHT = 40
MAX_PROPERTIES = 6
MAX_VALUE = 160
# Payload keys that are columns of their own (or bulky), not properties worth a glance.
NOT_PROPERTIES = frozenset(
    {
        "category", "user_agent", "url", "message", "stack", "exception", "timestamp", "user_id",
        "session_id", "release", "environment", "level", "type", "filename", "lineno", "colno",
        "fingerprint", "name", "event_type", "culprit",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Glance:
    project: Project
    own: bool
    total: int
    errors: int
    per_minute: float
    error_rate: float | None
    open_issues: int
    threat: str
    step_minutes: int
    series: tuple[int, ...]

    @property
    def points(self) -> str:
        return spark_points(self.series)


@dataclass(frozen=True, slots=True)
class EventRow:
    event: Event
    project: str
    user_agent: str
    properties: tuple[tuple[str, str], ...]


def spark_points(series: Sequence[int], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> str:
    """SVG polyline points for a series, scaled to the box (numbers only)."""
    if not series:
        return ""
    top = max(series) or 1
    step = width / max(1, len(series) - 1)
    return " ".join(
        f"{index * step:.1f},{height - 2 - (value / top) * (height - 4):.1f}"
        for index, value in enumerate(series)
    )


def step_for(range_minutes: int, points: int = SPARK_POINTS) -> int:
    """The smallest round step giving at most `points` points: steps divide an hour or a day,
    so that they start on whole hours and days and are read from hour and day rows."""
    return next((step for step in SPARK_STEPS if -(-range_minutes // step) <= points), SPARK_STEPS[-1])


@dataclass(frozen=True, slots=True)
class Window:
    """The range ending now, its start rounded down to a whole step (30 days start at a UTC
    midnight): every point of the sparkline covers a whole step, and the range is read from
    whole-step rollup rows (31 day rows per key for 30 days)."""

    first: int  # epoch minutes [first, end)
    end: int
    step: int

    @classmethod
    def ending(cls, now_ms: int, range_minutes: int) -> Window:
        step = step_for(range_minutes)
        end = now_ms // MINUTE_MS + 1
        first = end - range_minutes
        return cls(first - first % step, end, step)

    @property
    def minutes(self) -> int:
        return self.end - self.first

    @property
    def points(self) -> int:
        return -(-self.minutes // self.step)

    def index(self, bucket: int) -> int:
        return (bucket - self.first) // self.step


def project_counts(
    conn: Connection, project_ids: Sequence[int], window: Window, now_ms: int
) -> dict[int, dict[str, Any]]:
    """Per project: total, errors and counts per step (index from the window's start)."""
    found: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"total": 0, "errors": 0, "buckets": defaultdict(int)}
    )
    rows = rollups.count_buckets(
        conn, window.first, window.end, window.step, now_ms, project_ids=project_ids, per_name=False
    )
    for row in rows:
        entry = found[row.project_id]
        entry["total"] += row.count
        if row.kind == Kind.ERROR.value:
            entry["errors"] += row.count
        entry["buckets"][window.index(row.bucket)] += row.count
    return found


def open_issue_counts(conn: Connection) -> dict[int, int]:
    query = (
        sa.select(issues.c.project_id, sa.func.count().label("open"))
        .where(issues.c.status == Status.UNRESOLVED.value)
        .group_by(issues.c.project_id)
    )
    return {int(row.project_id): int(row.open) for row in conn.execute(query)}


def threat_level(conn: Connection, project_id: int, since_ms: int) -> str:
    found = detection_store.find(
        conn, detection_store.DetectionQuery(project_id=project_id, since_ms=since_ms)
    )
    return assess(detection for _, detection in found).level.value


def glances(
    conn: Connection,
    projects: Sequence[Project],
    now_ms: int,
    range_minutes: int,
    threat_window_ms: int,
    own_slug: str,
) -> list[Glance]:
    window = Window.ending(now_ms, range_minutes)
    counts = project_counts(conn, [project.id for project in projects], window, now_ms)
    open_issues = open_issue_counts(conn)
    result = []
    for project in projects:
        entry = counts.get(project.id, {"total": 0, "errors": 0, "buckets": {}})
        total, errors = entry["total"], entry["errors"]
        result.append(
            Glance(
                project=project,
                own=project.slug == own_slug,
                total=total,
                errors=errors,
                per_minute=total / window.minutes,
                error_rate=errors / total if total else None,
                open_issues=open_issues.get(project.id, 0),
                threat=threat_level(conn, project.id, now_ms - threat_window_ms),
                step_minutes=window.step,
                series=tuple(entry["buckets"].get(index, 0) for index in range(window.points)),
            )
        )
    return result


def _text(value: Any) -> str:
    """A value as the client sent it: strings as they are, anything else as JSON."""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def event_properties(event: Event) -> tuple[tuple[str, str], ...]:
    """A few of the event's own properties as (key, text): `properties` if the client sent
    such an object, else the payload's other top-level fields."""
    data = event.data
    nested = data.get("properties")
    source: dict[str, Any] = nested if isinstance(nested, dict) else data
    shown = [
        (str(key)[:60], _text(value))
        for key, value in source.items()
        if key not in NOT_PROPERTIES and not str(key).startswith("_")  # "_issue": the server's own notes
    ]
    return tuple(shown[:MAX_PROPERTIES])


def latest_events(
    conn: Connection, projects: Sequence[Project], project_id: int | None, limit: int = 15
) -> list[EventRow]:
    names = {project.id: project.name for project in projects}
    found = eventlog.list_events(conn, eventlog.EventQuery(project_id=project_id, limit=limit))
    return [
        EventRow(
            event=event,
            project=names.get(event.project_id, str(event.project_id)),
            user_agent=_text(
                event.data.get("user_agent") or " ".join(filter(None, [event.browser, event.os]))
            ),
            properties=event_properties(event),
        )
        for event in found
    ]
