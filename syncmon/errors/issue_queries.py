"""Reading issues back (list, detail, tag breakdown, events) and changing their status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.errors.lifecycle import IssueStatus, Status, StatusChange, apply_change
from syncmon.events import Event
from syncmon.store.accounts import record_audit
from syncmon.store.eventlog import event_from_row
from syncmon.store.schema import events, issue_tags, issues

SORTS = {
    "last_seen": issues.c.last_seen_ms,
    "first_seen": issues.c.first_seen_ms,
    "count": issues.c.event_count,
    "users": issues.c.user_count,
}


@dataclass(frozen=True)
class IssueQuery:
    project_id: int
    status: str | None = None
    environment: str | None = None
    release: str | None = None
    text: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    sort: str = "last_seen"
    limit: int = 50
    offset: int = 0


def issue_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "project_id": row.project_id,
        "title": row.title,
        "culprit": row.culprit,
        "level": row.level,
        "platform": row.platform,
        "status": row.status,
        "is_regression": row.is_regression,
        "first_seen": row.first_seen_ms / 1000.0,
        "last_seen": row.last_seen_ms / 1000.0,
        "count": row.event_count,
        "user_count": row.user_count,
        "first_release": row.first_release,
        "last_release": row.last_release,
        "releases": list(row.releases),
        "environments": list(row.environments),
        "grouping": {"method": row.grouping_method, "fingerprint": row.fingerprint},
        "resolved_in_release": row.resolved_in_release,
        "ignore_until": row.ignore_until_ms / 1000.0 if row.ignore_until_ms is not None else None,
        "ignore_until_count": row.ignore_until_count,
    }


def _tagged(key: str, value: str) -> Any:
    return issues.c.id.in_(
        sa.select(issue_tags.c.issue_id).where(issue_tags.c.key == key, issue_tags.c.value == value)
    )


def list_issues(conn: Connection, query: IssueQuery) -> list[dict[str, Any]]:
    conditions: list[Any] = [issues.c.project_id == query.project_id]
    if query.status:
        conditions.append(issues.c.status == query.status)
    if query.environment:
        conditions.append(_tagged("environment", query.environment))
    if query.release:
        conditions.append(_tagged("release", query.release))
    for key, value in query.tags:
        conditions.append(_tagged(key, value))
    if query.text:
        needle = query.text.lower()
        conditions.append(
            sa.or_(
                sa.func.lower(issues.c.title).contains(needle, autoescape=True),
                sa.func.lower(issues.c.culprit).contains(needle, autoescape=True),
            )
        )
    order = SORTS[query.sort]
    statement = (
        sa.select(issues)
        .where(*conditions)
        .order_by(order.desc(), issues.c.id.desc())
        .limit(query.limit)
        .offset(query.offset)
    )
    return [issue_dict(row) for row in conn.execute(statement)]


def get_issue(conn: Connection, issue_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(issues).where(issues.c.id == issue_id)).first()
    return issue_dict(row) if row else None


def tag_breakdown(conn: Connection, issue_id: int, top: int = 10) -> dict[str, list[dict[str, Any]]]:
    """For each tag key of an issue, its most frequent values with counts (ties by value).

    Bounded whatever the number of values (an issue's `user` tag has one per user): the
    keys, then each key's `top` values read from the (issue, key, count, value) index."""
    t = issue_tags
    breakdown: dict[str, list[dict[str, Any]]] = {}
    for key in _tag_keys(conn, issue_id):
        statement = (
            sa.select(t.c.value, t.c["count"])
            .where(t.c.issue_id == issue_id, t.c.key == key)
            .order_by(t.c["count"].desc())
            .limit(top)
        )
        rows = conn.execute(statement).all()
        if len(rows) == top:
            # Every value counted more than the last one read is in; of those counted as
            # much, the first by name (an index range too).
            least = int(rows[-1][1])
            rows = [row for row in rows if int(row[1]) > least]
            tied = (
                sa.select(t.c.value, t.c["count"])
                .where(t.c.issue_id == issue_id, t.c.key == key, t.c["count"] == least)
                .order_by(t.c.value)
                .limit(top - len(rows))
            )
            rows += conn.execute(tied).all()
        ordered = sorted(((str(value), int(count)) for value, count in rows), key=lambda vc: (-vc[1], vc[0]))
        breakdown[key] = [{"value": value, "count": count} for value, count in ordered[:top]]
    return breakdown


def _tag_keys(conn: Connection, issue_id: int) -> list[str]:
    """An issue's tag keys in order, one index seek each (not a walk over every value)."""
    t = issue_tags
    keys: list[str] = []
    while True:
        conditions = [t.c.issue_id == issue_id] + ([t.c.key > keys[-1]] if keys else [])
        found = conn.execute(sa.select(sa.func.min(t.c.key)).where(*conditions)).scalar()
        if found is None:
            return keys
        keys.append(str(found))


def issue_events(conn: Connection, issue_id: int, before_seq: int | None, limit: int) -> list[Event]:
    conditions: list[Any] = [events.c.issue_id == issue_id]
    if before_seq is not None:
        conditions.append(events.c.seq < before_seq)
    statement = sa.select(events).where(*conditions).order_by(events.c.seq.desc()).limit(limit)
    return [event_from_row(row) for row in conn.execute(statement)]


class IssueNotFound(LookupError):
    pass


def change_status(
    conn: Connection, issue_id: int, change: StatusChange, actor: str, now_ms: int
) -> dict[str, Any]:
    """Apply a user's status change and write it to the audit log; ValueError if not allowed."""
    row = conn.execute(sa.select(issues).where(issues.c.id == issue_id)).first()
    if row is None:
        raise IssueNotFound(issue_id)
    state = IssueStatus(
        status=Status(row.status),
        is_regression=row.is_regression,
        event_count=row.event_count,
        resolved_in_release=row.resolved_in_release,
        ignore_until_ms=row.ignore_until_ms,
        ignore_until_count=row.ignore_until_count,
    )
    updated = apply_change(state, change, row.last_release)
    conn.execute(
        issues.update()
        .where(issues.c.id == issue_id)
        .values(
            status=updated.status.value,
            is_regression=updated.is_regression,
            resolved_in_release=updated.resolved_in_release,
            ignore_until_ms=updated.ignore_until_ms,
            ignore_until_count=updated.ignore_until_count,
            resolved_ms=now_ms if updated.status is not Status.UNRESOLVED else None,
            status_changed_ms=now_ms,
        )
    )
    record_audit(
        conn,
        now_ms,
        actor,
        "issue.status",
        f"issue:{issue_id}",
        {
            "from": row.status,
            "to": updated.status.value,
            "resolved_in_release": updated.resolved_in_release,
            "ignore_until_ms": updated.ignore_until_ms,
            "ignore_until_count": updated.ignore_until_count,
        },
    )
    found = get_issue(conn, issue_id)
    assert found is not None
    return found
