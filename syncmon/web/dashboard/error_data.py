"""The Errors pages' data: the issues seen in the range, their event counts, and one issue.

Issues, their counters and tag breakdowns are read as the issues API reads them
(`issue_queries`); the list adds what a page needs and the API has no parameter for: only
issues seen in the page's time range, a level filter, and the issues of every project at
once. Sparklines and the events of the range come from the per-issue count rollup
(`issue_counts`), never from raw events: the range starts at the beginning of the step it
falls in, so every point covers a whole step, read from whole-step rows (a day row per
point over 30 days, an hour row over 24 hours).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.errors import issue_counts, issue_queries
from syncmon.errors.lifecycle import Status, StatusChange
from syncmon.events import Event, Level
from syncmon.http_errors import ClientError
from syncmon.store import eventlog
from syncmon.store.projects import Project
from syncmon.store.schema import issue_tags, issues
from syncmon.web.dashboard.overview_data import spark_points
from syncmon.web.dashboard.section_support import text_param

MINUTE_MS = 60_000
PAGE_SIZE = 50
SPARK_POINTS = 30
DETAIL_POINTS = 60
# Sparkline steps (minutes): the smallest giving at most the wanted points over the range;
# steps of an hour and more read hour and day rows only.
SPARK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
MAX_SEARCH = 200
MAX_CHOICES = 50
LATEST_EVENTS = 20
# Status filter → the statuses it shows ("resolved" includes "resolved in next release").
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "unresolved": (Status.UNRESOLVED.value,),
    "resolved": (Status.RESOLVED.value, Status.RESOLVED_NEXT_RELEASE.value),
    "ignored": (Status.IGNORED.value,),
    "all": (),
}
SORT_LABELS = {"last_seen": "Last seen", "first_seen": "First seen", "count": "Events", "users": "Users"}
LEVELS = tuple(level.value for level in Level)
# The form's "ignore" choices: for a while (ms) or until N more events.
IGNORE_CHOICES: dict[str, tuple[str, int] | None] = {
    "forever": None,
    "1h": ("ms", 3_600_000),
    "24h": ("ms", 86_400_000),
    "7d": ("ms", 7 * 86_400_000),
    "10": ("events", 10),
    "100": ("events", 100),
    "1000": ("events", 1000),
}
STATUS_NOTICES = {
    Status.RESOLVED.value: "Issue resolved: a new event reopens it as a regression.",
    Status.RESOLVED_NEXT_RELEASE.value: (
        "Issue resolved in the next release: events of a later release reopen it."
    ),
    Status.IGNORED.value: "Issue ignored.",
    Status.UNRESOLVED.value: "Issue unresolved.",
}


@dataclass(frozen=True, slots=True)
class IssueFilters:
    status: str = "unresolved"
    level: str | None = None
    text: str | None = None
    environment: str | None = None
    release: str | None = None
    sort: str = "last_seen"
    page: int = 1

    def query(self, **changes: str | None) -> dict[str, str | None]:
        """The filters as query parameters (defaults left out), with `changes` applied."""
        values: dict[str, str | None] = {
            "status": self.status if self.status != "unresolved" else None,
            "level": self.level,
            "query": self.text,
            "environment": self.environment,
            "release": self.release,
            "sort": self.sort if self.sort != "last_seen" else None,
            "page": str(self.page) if self.page > 1 else None,
        }
        values.update(changes)
        return values


def parse_filters(params: Mapping[str, str]) -> tuple[IssueFilters, list[str]]:
    """Filters from a query string; an unknown value falls back to the default and is named."""
    problems: list[str] = []

    def choice(name: str, allowed: Sequence[str], default: str | None) -> str | None:
        raw = text_param(params, name, 100) or ""
        if not raw:
            return default
        if raw not in allowed:
            problems.append(f"{name}: “{raw[:40]}” is not one of {', '.join(allowed)}.")
            return default
        return raw

    raw_page = text_param(params, "page", 20) or "1"
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and 0 < len(raw_page) < 7 else 0
    if page < 1:
        problems.append(f"page: “{raw_page[:20]}” is not a page number.")
        page = 1
    filters = IssueFilters(
        status=choice("status", tuple(STATUS_FILTERS), "unresolved") or "unresolved",
        level=choice("level", LEVELS, None),
        text=text_param(params, "query", MAX_SEARCH),
        environment=text_param(params, "environment", 64),
        release=text_param(params, "release", 200),
        sort=choice("sort", tuple(SORT_LABELS), "last_seen") or "last_seen",
        page=page,
    )
    return filters, problems


@dataclass(frozen=True, slots=True)
class IssueRow:
    issue: dict[str, Any]
    project: Project
    series: tuple[int, ...] = field(default=())

    @property
    def in_range(self) -> int:
        return sum(self.series)

    @property
    def points(self) -> str:
        return spark_points(self.series)


def _tagged(key: str, value: str) -> Any:
    return issues.c.id.in_(
        sa.select(issue_tags.c.issue_id).where(issue_tags.c.key == key, issue_tags.c.value == value)
    )


def find_issues(
    conn: Connection, project_ids: Sequence[int], filters: IssueFilters, since_ms: int
) -> list[dict[str, Any]]:
    """One page (plus one row, to tell whether there is a next) of issues seen since `since_ms`."""
    conditions: list[Any] = [issues.c.project_id.in_(list(project_ids)), issues.c.last_seen_ms >= since_ms]
    if STATUS_FILTERS[filters.status]:
        conditions.append(issues.c.status.in_(STATUS_FILTERS[filters.status]))
    if filters.level:
        conditions.append(issues.c.level == filters.level)
    if filters.environment:
        conditions.append(_tagged("environment", filters.environment))
    if filters.release:
        conditions.append(_tagged("release", filters.release))
    if filters.text:
        needle = filters.text.lower()
        conditions.append(
            sa.or_(
                sa.func.lower(issues.c.title).contains(needle, autoescape=True),
                sa.func.lower(issues.c.culprit).contains(needle, autoescape=True),
            )
        )
    order = issue_queries.SORTS[filters.sort]
    statement = (
        sa.select(issues)
        .where(*conditions)
        .order_by(order.desc(), issues.c.id.desc())
        .limit(PAGE_SIZE + 1)
        .offset((filters.page - 1) * PAGE_SIZE)
    )
    return [issue_queries.issue_dict(row) for row in conn.execute(statement)]


def spark_step(range_minutes: int, points: int = SPARK_POINTS) -> int:
    """The smallest step (minutes) that draws the range in at most `points` steps."""
    return next((step for step in SPARK_STEPS if -(-range_minutes // step) <= points), SPARK_STEPS[-1])


@dataclass(frozen=True, slots=True)
class SparkWindow:
    """The range ending now in whole steps: from the start of the step `range` ago to the
    minute after now (epoch minutes)."""

    first: int
    end: int
    step: int
    now_ms: int

    @classmethod
    def ending(cls, now_ms: int, range_minutes: int, points: int = SPARK_POINTS) -> SparkWindow:
        step = spark_step(range_minutes, points)
        now_minute = now_ms // MINUTE_MS
        first = now_minute - range_minutes
        return cls(first - first % step, now_minute + 1, step, now_ms)

    @property
    def since_ms(self) -> int:
        return self.first * MINUTE_MS


def event_series(
    conn: Connection, issue_ids: Sequence[int], window: SparkWindow
) -> dict[int, tuple[int, ...]]:
    """Events per step of the window for each issue (zeros included), from the count rollup."""
    return issue_counts.series(conn, issue_ids, window.first, window.end, window.step, window.now_ms)


def filter_choices(conn: Connection, project_ids: Sequence[int]) -> dict[str, list[str]]:
    """The environments and releases stored for these projects' issues, for the filter menus."""
    choices: dict[str, list[str]] = {}
    for key in ("environment", "release"):
        statement = (
            sa.select(issue_tags.c.value)
            .join(issues, issues.c.id == issue_tags.c.issue_id)
            .where(issue_tags.c.key == key, issues.c.project_id.in_(list(project_ids)))
            .group_by(issue_tags.c.value)
            .order_by(sa.func.sum(issue_tags.c.count).desc(), issue_tags.c.value)
            .limit(MAX_CHOICES)
        )
        choices[key] = [str(row.value) for row in conn.execute(statement)]
    return choices


def has_issues(conn: Connection, project_ids: Sequence[int]) -> bool:
    if not project_ids:
        return False
    statement = sa.select(issues.c.id).where(issues.c.project_id.in_(list(project_ids))).limit(1)
    return conn.execute(statement).first() is not None


@dataclass(frozen=True, slots=True)
class IssueDetail:
    issue: dict[str, Any]
    tags: dict[str, list[dict[str, Any]]]
    latest: list[Event]
    event: Event | None
    series: tuple[int, ...]

    @property
    def points(self) -> str:
        return spark_points(self.series)


def issue_detail(
    conn: Connection, issue_id: int, event_id: str | None, window: SparkWindow
) -> IssueDetail | None:
    """An issue with its tags, latest events, the event to show (asked for, else the latest)."""
    issue = issue_queries.get_issue(conn, issue_id)
    if issue is None:
        return None
    latest = issue_queries.issue_events(conn, issue_id, None, LATEST_EVENTS)
    shown = latest[0] if latest else None
    if event_id:
        asked = eventlog.get_event(conn, event_id[:64])
        shown = asked if asked is not None and asked.issue_id == issue_id else None
    return IssueDetail(
        issue=issue,
        tags=issue_queries.tag_breakdown(conn, issue_id),
        latest=latest,
        event=shown,
        series=event_series(conn, [issue_id], window).get(issue_id, ()),
    )


def status_change(form: Mapping[str, str], now_ms: int) -> StatusChange:
    """The status change an admin's form asks for, or a 400 naming the field."""
    raw = (form.get("status") or "").strip()
    try:
        status = Status(raw)
    except ValueError:
        choices = ", ".join(s.value for s in Status)
        raise ClientError(400, f"status: “{raw[:40]}” is not one of {choices}", field="status") from None
    ignore = (form.get("ignore") or "forever").strip()
    if status is not Status.IGNORED:
        return StatusChange(status=status)
    if ignore not in IGNORE_CHOICES:
        choices = ", ".join(IGNORE_CHOICES)
        raise ClientError(400, f"ignore: “{ignore[:40]}” is not one of {choices}", field="ignore")
    chosen = IGNORE_CHOICES[ignore]
    if chosen is None:
        return StatusChange(status=status)
    unit, amount = chosen
    if unit == "ms":
        return StatusChange(status=status, ignore_until_ms=now_ms + amount)
    return StatusChange(status=status, ignore_for_events=amount)
