"""Issues in the store: assigning each error event to its issue inside the commit.

`assign_issues` is a writer hook that runs in the same transaction as the insert of the
events, so an issue's counters, users, tag counts and events per bucket (`issue_counts`)
always agree with the event log, and a regression is decided exactly once, by the writer
that stores the event.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.errors import issue_counts
from syncmon.errors.lifecycle import IssueStatus, Status, on_event
from syncmon.events import Event, Kind
from syncmon.store.schema import issue_tags, issue_users, issues
from syncmon.store.upsert import upsert_add

LEVEL_RANK = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
MAX_LISTED = 100  # releases / environments kept per issue
MAX_TAGS_PER_EVENT = 50
BUILTIN_TAGS = ("level", "environment", "release", "browser", "os", "device")


@dataclass
class _Issue:
    """An issue row being updated by the events of one batch."""

    id: int
    status: IssueStatus
    values: dict[str, Any]
    new: bool = False
    new_users: int = 0
    touched: bool = field(default=False)


def event_tags(event: Event) -> list[tuple[str, str]]:
    """Tags counted per issue: the event's own (Sentry `tags`) and a few built-in ones."""
    pairs: list[tuple[str, str]] = []
    for key in BUILTIN_TAGS:
        value = getattr(event, key)
        if value:
            pairs.append((key, str(value)))
    if event.client_ip is not None or event.user_id is not None:
        pairs.append(("user", event.user_id or f"ip:{event.client_ip}"))
    raw = event.data.get("tags")
    items: list[Any] = list(raw.items()) if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    for item in items:
        if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str):
            key, value = item
            if key not in BUILTIN_TAGS and isinstance(value, str | int | float | bool):
                pairs.append((key[:64], str(value)[:200]))
    return pairs[:MAX_TAGS_PER_EVENT]


def user_key(event: Event) -> str | None:
    """Who was affected: the receiver's verdict when it gave one (Sentry events count only
    their `user` interface), else the user id, else the client's IP."""
    if "_user_key" in event.data:
        given = event.data["_user_key"]
        return str(given)[:200] if given else None
    if event.user_id:
        return event.user_id[:200]
    return f"ip:{event.client_ip}" if event.client_ip else None


def _load(conn: Connection, project_id: int, fingerprints: list[str]) -> dict[str, _Issue]:
    rows = conn.execute(
        sa.select(issues).where(issues.c.project_id == project_id, issues.c.fingerprint.in_(fingerprints))
    )
    loaded: dict[str, _Issue] = {}
    for row in rows:
        state = IssueStatus(
            status=Status(row.status),
            is_regression=row.is_regression,
            event_count=row.event_count,
            resolved_in_release=row.resolved_in_release,
            ignore_until_ms=row.ignore_until_ms,
            ignore_until_count=row.ignore_until_count,
        )
        values = {
            "first_seen_ms": row.first_seen_ms,
            "last_seen_ms": row.last_seen_ms,
            "level": row.level,
            "releases": list(row.releases),
            "environments": list(row.environments),
            "last_release": row.last_release,
            "user_count": row.user_count,
        }
        loaded[row.fingerprint] = _Issue(row.id, state, values)
    return loaded


def _create(conn: Connection, event: Event) -> _Issue:
    grouping = event.data.get("_grouping") or {}
    result = conn.execute(
        issues.insert()
        .values(
            project_id=event.project_id,
            fingerprint=event.fingerprint,
            grouping_method=str(grouping.get("method", "unknown"))[:16],
            title=(event.message or event.name)[:200],
            culprit=(str(event.data["culprit"])[:300] if event.data.get("culprit") else None),
            level=event.level,
            platform=(str(event.data["platform"])[:32] if event.data.get("platform") else None),
            status=Status.UNRESOLVED.value,
            is_regression=False,
            first_seen_ms=event.timestamp_ms,
            last_seen_ms=event.timestamp_ms,
            event_count=0,
            user_count=0,
            first_release=event.release,
            last_release=event.release,
            releases=[],
            environments=[],
            last_event_id=event.id,
        )
        .returning(issues.c.id)
    )
    issue_id = int(result.scalar_one())
    values = {
        "first_seen_ms": event.timestamp_ms,
        "last_seen_ms": event.timestamp_ms,
        "level": event.level,
        "releases": [],
        "environments": [],
        "last_release": event.release,
        "user_count": 0,
    }
    return _Issue(issue_id, IssueStatus(Status.UNRESOLVED), values, new=True)


def _count_new_users(conn: Connection, pairs: set[tuple[int, str]], by_id: dict[int, _Issue]) -> None:
    if not pairs:
        return
    listed = sorted(pairs)
    known: set[tuple[int, str]] = set()
    for start in range(0, len(listed), 300):
        chunk = listed[start : start + 300]
        rows = conn.execute(
            sa.select(issue_users.c.issue_id, issue_users.c.user_key).where(
                sa.tuple_(issue_users.c.issue_id, issue_users.c.user_key).in_(chunk)
            )
        )
        known.update((row.issue_id, row.user_key) for row in rows)
    fresh = [pair for pair in listed if pair not in known]
    if fresh:
        conn.execute(issue_users.insert(), [{"issue_id": i, "user_key": k} for i, k in fresh])
    for issue_id, _ in fresh:
        by_id[issue_id].new_users += 1


def assign_issues(conn: Connection, events: Sequence[Event]) -> None:
    """Writer hook (before insert): give every grouped error event its issue."""
    errors = [e for e in events if e.kind == Kind.ERROR and e.fingerprint]
    if not errors:
        return
    by_project: dict[int, list[Event]] = defaultdict(list)
    for event in errors:
        by_project[event.project_id].append(event)
    touched: dict[int, _Issue] = {}
    users: set[tuple[int, str]] = set()
    tags: Counter[tuple[int, str, str]] = Counter()
    for project_id, project_events in by_project.items():
        fingerprints = sorted({e.fingerprint for e in project_events if e.fingerprint})
        known = _load(conn, project_id, fingerprints)
        for event in project_events:
            assert event.fingerprint is not None
            issue = known.get(event.fingerprint)
            if issue is None:
                issue = known[event.fingerprint] = _create(conn, event)
            _apply(issue, event)
            touched[issue.id] = issue
            key = user_key(event)
            if key is not None:
                users.add((issue.id, key))
            for tag_key, tag_value in event_tags(event):
                tags[(issue.id, tag_key, tag_value)] += 1
    _count_new_users(conn, users, touched)
    upsert_add(
        conn,
        issue_tags,
        [{"issue_id": i, "key": k, "value": v, "count": n} for (i, k, v), n in sorted(tags.items())],
        ("issue_id", "key", "value"),
        ("count",),
    )
    _save_all(conn, sorted(touched.values(), key=lambda item: item.id))
    issue_counts.add_events(conn, errors)


def _apply(issue: _Issue, event: Event) -> None:
    before = issue.status.status
    issue.status, transition = on_event(issue.status, event.release, event.timestamp_ms)
    values = issue.values
    # Events arrive out of order (SDK retries, offline caches): first seen is the earliest.
    values["first_seen_ms"] = min(values["first_seen_ms"], event.timestamp_ms)
    values["last_seen_ms"] = max(values["last_seen_ms"], event.timestamp_ms)
    values["last_event_id"] = event.id
    if LEVEL_RANK.get(event.level, 0) > LEVEL_RANK.get(values["level"], 0):
        values["level"] = event.level
    if event.release:
        values["last_release"] = event.release
        if event.release not in values["releases"] and len(values["releases"]) < MAX_LISTED:
            values["releases"].append(event.release)
    environments = values["environments"]
    if event.environment and event.environment not in environments and len(environments) < MAX_LISTED:
        environments.append(event.environment)
    if issue.status.status != before:
        values["status_changed_ms"] = event.received_ms
    event.issue_id = issue.id
    event.data["_issue"] = {
        "id": issue.id,
        "new": issue.new and issue.status.event_count == 1,
        "transition": transition.value if transition else None,
    }


def _row(issue: _Issue) -> dict[str, Any]:
    state = issue.status
    values = dict(issue.values)
    values["user_count"] = values["user_count"] + issue.new_users
    values.update(
        status=state.status.value,
        is_regression=state.is_regression,
        event_count=state.event_count,
        resolved_in_release=state.resolved_in_release,
        ignore_until_ms=state.ignore_until_ms,
        ignore_until_count=state.ignore_until_count,
        issue_key=issue.id,
    )
    return values


@functools.lru_cache(maxsize=8)
def _update_statement(columns: tuple[str, ...]) -> Any:
    """One UPDATE per set of changed columns, built once and run for many issues."""
    return (
        issues.update()
        .where(issues.c.id == sa.bindparam("issue_key"))
        .values({column: sa.bindparam(column) for column in columns})
    )


def _save_all(conn: Connection, touched: list[_Issue]) -> None:
    """Write back every issue of the batch: one executemany per set of columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for issue in touched:
        row = _row(issue)
        groups[tuple(sorted(key for key in row if key != "issue_key"))].append(row)
    for columns, rows in groups.items():
        conn.execute(_update_statement(columns), rows)
