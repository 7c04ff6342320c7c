"""The Security page's numbers, from stored data only: count rollups, detections, the event log.

The cards are the seed's SecurityMetrics computed by `security_metrics` from the count
rollups of security events over the page's range, exactly as GET /api/v1/security/summary
computes them for `window=<range>`; the same rollup rows, bucketed, draw the chart of events
by category. The threat level of each project is `assess` over its detections whose last
event lies in the threat window. Nothing is estimated; an empty store shows zeros.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.events import Event, Kind
from syncmon.metrics import rollups
from syncmon.security import detection_store
from syncmon.security.detection import Detection
from syncmon.security.summary import SEED_COUNTERS, security_metrics
from syncmon.security.threat import Threat, assess
from syncmon.security.vocabulary import Category, category_of, names_of
from syncmon.store import eventlog
from syncmon.store.projects import Project
from syncmon.store.schema import events
from syncmon.web.dashboard.overview_data import EventRow, event_properties

MINUTE_MS = 60_000
CHART_STEPS = (1, 5, 10, 15, 30, 60, 180, 360, 720, 1440)
CHART_POINTS = 60
MAX_TEXT = 160
DETECTIONS_READ = 1000
# Chart colours by palette name (charts.js), so a category keeps its colour across charts.
CATEGORY_COLOURS = {
    Category.AUTHENTICATION: "default",
    Category.AUTHORIZATION: "ni",
    Category.SESSION: "muted",
    Category.DATA_ACCESS: "accent",
    Category.API_ACCESS: "good",
    Category.INPUT_VALIDATION: "ni",
    Category.MALICIOUS: "poor",
    Category.SYSTEM: "muted",
}
CATEGORY_LABELS = {
    Category.AUTHENTICATION: "Authentication",
    Category.AUTHORIZATION: "Authorization",
    Category.SESSION: "Session",
    Category.DATA_ACCESS: "Data access",
    Category.API_ACCESS: "API access",
    Category.INPUT_VALIDATION: "Input validation",
    Category.MALICIOUS: "Malicious",
    Category.SYSTEM: "System",
}
CARD_LABELS = {
    "totalEvents": "Total events",
    "authEvents": "Auth events",
    "authzEvents": "AuthZ events",
    "dataEvents": "Data events",
    "apiEvents": "API events",
}


@dataclass(frozen=True, slots=True)
class Span:
    """The page's time range and threat window, in server time."""

    now_ms: int
    range_minutes: int
    threat_window_ms: int

    @property
    def since_ms(self) -> int:
        return self.now_ms - self.range_minutes * MINUTE_MS

    @property
    def threat_since_ms(self) -> int:
        return self.now_ms - self.threat_window_ms

    @property
    def minutes(self) -> tuple[int, int]:
        """[since, until) in epoch minutes, as the summary API bounds its window."""
        return self.since_ms // MINUTE_MS, self.now_ms // MINUTE_MS + 1


@dataclass(frozen=True, slots=True)
class ProjectThreat:
    project: Project
    threat: Threat
    open_detections: int


@dataclass(frozen=True, slots=True)
class DetectionRow:
    id: int
    detection: Detection
    project: Project
    open: bool


@dataclass(frozen=True, slots=True)
class Summary:
    metrics: dict[str, Any]
    cards: list[tuple[str, str, int]]  # (seed key, label, count)
    other_categories: list[tuple[str, int]]
    chart: dict[str, Any]
    chart_table: list[tuple[str, int]]
    step_minutes: int


def chart_step(range_minutes: int, points: int = CHART_POINTS) -> int:
    """The smallest round bucket width that draws the range in at most `points` buckets."""
    return next((step for step in CHART_STEPS if -(-range_minutes // step) <= points), CHART_STEPS[-1])


def format_duration(ms: int) -> str:
    """A span of time for people: '45 s', '3 min 20 s', '2 h 5 min', '3 d 4 h'."""
    seconds = max(0, ms) // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def format_ago(ms: int, now_ms: int) -> str:
    """How long before `now_ms` a time was: 'just now', '2 min ago' (the seed's list shows that)."""
    elapsed = now_ms - ms
    if elapsed < 1000:
        return "just now"
    largest_unit = format_duration(elapsed).split(" ")[:2]
    return " ".join(largest_unit) + " ago"


def detail_pairs(details: dict[str, Any]) -> list[tuple[str, str]]:
    """A detection's details as (key, text): lists joined, mappings as key=value."""
    pairs = []
    for key, value in sorted(details.items()):
        if isinstance(value, list | tuple):
            text = ", ".join(str(item) for item in value)
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            text = str(value)
        pairs.append((str(key), clip(text, 500)))
    return pairs


def clip(value: Any, limit: int = MAX_TEXT) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def security_rows(
    conn: Connection, project_ids: Sequence[int], span: Span, step: int
) -> list[dict[str, Any]]:
    """Rollup rows of security events per (bucket, name) over the range, summed over projects."""
    since, until = span.minutes
    found: Counter[tuple[int, str]] = Counter()
    rows = rollups.count_buckets(
        conn, since, until, step, span.now_ms, project_ids=project_ids, kinds=[Kind.SECURITY.value]
    )
    for row in rows:
        found[(row.bucket, row.name)] += row.count
    return [{"minute": m, "name": n, "count": c} for (m, n), c in sorted(found.items())]


def summarize(
    rows: Sequence[dict[str, Any]], open_found: Sequence[Detection], span: Span, step: int
) -> Summary:
    """The seed's cards, the other categories and the chart spec from bucketed rollup rows."""
    names: Counter[str] = Counter()
    per_bucket: Counter[tuple[int, str]] = Counter()
    for row in rows:
        names[row["name"]] += row["count"]
        per_bucket[(row["minute"], category_of(row["name"]).value)] += row["count"]
    metrics = security_metrics(names, open_found, span.now_ms)
    cards = [("totalEvents", CARD_LABELS["totalEvents"], metrics["totalEvents"])]
    cards += [(key, CARD_LABELS[key], metrics[key]) for key in SEED_COUNTERS]
    seed_categories = {category.value for category in SEED_COUNTERS.values()}
    by_category: dict[str, int] = metrics["categories"]
    others = [
        (CATEGORY_LABELS[Category(name)], count)
        for name, count in by_category.items()
        if name not in seed_categories
    ]
    since, until = span.minutes
    starts = list(range(since - since % step, until, step))
    shown = [category for category in Category if by_category[category.value]]
    chart = {
        "x": [start * 60 for start in starts],
        "kind": "stacked",
        "y_min": 0,
        "legend": True,
        "series": [
            {
                "label": CATEGORY_LABELS[category],
                "values": [per_bucket.get((start, category.value), 0) for start in starts],
                "color": CATEGORY_COLOURS[category],
            }
            for category in shown
        ],
    }
    table = [(CATEGORY_LABELS[category], by_category[category.value]) for category in shown]
    return Summary(metrics, cards, others, chart, table, step)


def project_threats(
    conn: Connection, projects: Sequence[Project], span: Span
) -> tuple[list[ProjectThreat], dict[int, list[Detection]]]:
    """Each project's threat from its open detections, and those detections by project."""
    threats: list[ProjectThreat] = []
    open_by_project: dict[int, list[Detection]] = {}
    for project in projects:
        query = detection_store.DetectionQuery(project_id=project.id, since_ms=span.threat_since_ms)
        found = [detection for _, detection in detection_store.find(conn, query)]
        open_by_project[project.id] = found
        threats.append(ProjectThreat(project, assess(found), len(found)))
    return threats, open_by_project


def detections_since(
    conn: Connection,
    projects: Sequence[Project],
    since_ms: int,
    span: Span,
    subject: tuple[str, str] | None = None,
) -> list[DetectionRow]:
    """Detections whose last event is at or after `since_ms` (of one subject, given as
    (type, name)), newest first, over projects."""
    rows: list[DetectionRow] = []
    for project in projects:
        query = detection_store.DetectionQuery(
            project_id=project.id,
            since_ms=since_ms,
            subject_type=subject[0] if subject else None,
            subject=subject[1] if subject else None,
            limit=DETECTIONS_READ,
        )
        rows += [
            DetectionRow(detection_id, found, project, found.last_ms >= span.threat_since_ms)
            for detection_id, found in detection_store.find(conn, query)
        ]
    rows.sort(key=lambda row: (row.detection.last_ms, row.id), reverse=True)
    return rows


def event_row(event: Event, names: dict[int, str]) -> EventRow:
    data = event.data
    agent = data.get("user_agent") or " ".join(filter(None, [event.browser, event.os]))
    return EventRow(
        event=event,
        project=names.get(event.project_id, str(event.project_id)),
        user_agent=clip(agent),
        properties=event_properties(event),
    )


def event_category(event: Event) -> str:
    stored = event.data.get("category")
    if isinstance(stored, str) and stored in CATEGORY_LABELS:
        return CATEGORY_LABELS[Category(stored)]
    return CATEGORY_LABELS[category_of(event.name)]


def recent_events(
    conn: Connection,
    projects: Sequence[Project],
    project_id: int | None,
    since_ms: int,
    category: Category | None,
    limit: int = 25,
) -> list[EventRow]:
    """The newest security events of the range (of one category when asked), newest first
    by timestamp. Each project's are read backwards along its (project, kind, time) index,
    so reading stops after `limit` rows instead of sorting every event of the range."""
    t = events
    prefixes, names = names_of(category) if category else ((), ())
    conditions: list[Any] = [t.c.kind == Kind.SECURITY.value, t.c.ts_ms >= since_ms]
    if prefixes or names:
        conditions.append(
            sa.or_(
                *(t.c.name.startswith(prefix, autoescape=True) for prefix in prefixes),
                *([t.c.name.in_(names)] if names else []),
            )
        )
    found: list[Event] = []
    for wanted in [project_id] if project_id is not None else [project.id for project in projects]:
        statement = (
            sa.select(t)
            .where(t.c.project_id == wanted, *conditions)
            .order_by(t.c.ts_ms.desc(), t.c.seq.desc())
            .limit(limit)
        )
        found += [eventlog.event_from_row(row) for row in conn.execute(statement)]
    found.sort(key=lambda event: (event.timestamp_ms, event.seq or 0), reverse=True)
    labels = {project.id: project.name for project in projects}
    return [event_row(event, labels) for event in found[:limit]]


def has_security_events(conn: Connection, project_ids: Sequence[int]) -> bool:
    """Whether any security event was ever counted for these projects (whatever the range)."""
    return rollups.ever_counted(conn, project_ids, Kind.SECURITY.value)
