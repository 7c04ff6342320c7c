"""The dashboard's lists read indexes, never the whole log: a subject's timeline, the recent
security events, an issue's tag breakdown. Results on both engines; SQLite's query plans."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.errors import issue_queries
from syncmon.events import Event, Kind
from syncmon.store import eventlog
from syncmon.store.schema import events, issue_tags
from syncmon.web.dashboard import security_data
from syncmon.web.dashboard.security_subjects import TIMELINE_KINDS
from tests.conftest import Store

NOW = 1_795_845_432_100
MIN = 60_000


@contextmanager
def statements(conn: Connection) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements run on `conn` meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(conn, "before_cursor_execute", record)


def plans(conn: Connection, run: Callable[[], object]) -> list[str]:
    """SQLite's query plan of each statement `run` executes."""
    with statements(conn) as seen:
        run()
    found = []
    for statement, parameters in seen:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        found.append(" | ".join(str(row[-1]) for row in rows))
    return found


def stored(store: Store, events: list[Event]) -> None:
    with store.engine.begin() as conn:
        eventlog.insert_events(conn, events)


def some_events(store: Store, count: int) -> list[Event]:
    rng = random.Random(4)
    found = []
    for index in range(count):
        ts = NOW - rng.randrange(3 * 86_400_000)
        found.append(
            Event(
                project_id=store.project.id,
                kind=rng.choice([Kind.SECURITY.value, Kind.REQUEST.value, Kind.PAGE_VIEW.value]),
                name=rng.choice(["authn_login_fail", "authz_fail", "GET /"]),
                timestamp_ms=ts,
                received_ms=ts + index,
                client_ip=rng.choice(["192.0.2.1", "192.0.2.2", None]),
                user_id=rng.choice(["192.0.2.1", "ann", None, None]),
            )
        )
    return found


def test_a_subject_timeline_is_both_indexes_merged(store: Store) -> None:
    stored(store, some_events(store, 400))
    with store.engine.connect() as conn:
        for subject, since in itertools.product(["192.0.2.1", "ann", "nobody"], [None, NOW - 86_400_000]):
            query = eventlog.EventQuery(kinds=TIMELINE_KINDS, subject=subject, since_ms=since, limit=30)
            got = [event.seq for event in eventlog.list_events(conn, query)]
            t = events
            conditions = [
                t.c.kind.in_(TIMELINE_KINDS),
                sa.or_(t.c.client_ip == subject, t.c.user_id == subject),
            ]
            if since is not None:
                conditions.append(t.c.ts_ms >= since)
            expected = conn.execute(sa.select(t.c.seq).where(*conditions).order_by(t.c.seq.desc()).limit(30))
            assert got == list(expected.scalars()), (subject, since)
        if store.backend == "sqlite":
            query = eventlog.EventQuery(project_id=store.project.id, kinds=TIMELINE_KINDS, subject="ann")
            found = plans(conn, lambda: eventlog.list_events(conn, query))
            assert len(found) == 2
            assert "ix_events_client_ip" in found[0] and "ix_events_user" in found[1]
            assert not any("SCAN events" in plan or "TEMP B-TREE" in plan for plan in found), found


def test_recent_security_events_stop_after_the_newest(store: Store) -> None:
    stored(store, some_events(store, 300))
    projects = [store.project]
    with store.engine.connect() as conn:
        rows = security_data.recent_events(conn, projects, None, NOW - 86_400_000, None, limit=10)
        t = events
        expected = conn.execute(
            sa.select(t.c.seq)
            .where(t.c.kind == Kind.SECURITY.value, t.c.ts_ms >= NOW - 86_400_000)
            .order_by(t.c.ts_ms.desc(), t.c.seq.desc())
            .limit(10)
        )
        assert [row.event.seq for row in rows] == list(expected.scalars())
        if store.backend == "sqlite":
            found = plans(
                conn, lambda: security_data.recent_events(conn, projects, store.project.id, 0, None, limit=10)
            )
            assert len(found) == 1 and "ix_events_project_kind_ts" in found[0], found
            assert "SCAN events" not in found[0] and "TEMP B-TREE FOR ORDER BY" not in found[0], found


def test_tag_breakdown_reads_the_top_values_from_the_index(store: Store) -> None:
    rows = [
        {"issue_id": 1, "key": "user", "value": f"u{n:04d}", "count": 1 if n > 6 else 9 - n}
        for n in range(500)
    ]
    rows += [
        {"issue_id": 1, "key": "browser", "value": name, "count": 3} for name in ("Firefox", "Chrome", "Edge")
    ]
    rows += [{"issue_id": 2, "key": "user", "value": "other", "count": 99}]
    with store.engine.begin() as conn:
        conn.execute(issue_tags.insert(), rows)
    with store.engine.connect() as conn:
        found = issue_queries.tag_breakdown(conn, 1)
        assert list(found) == ["browser", "user"]
        assert [v["value"] for v in found["browser"]] == ["Chrome", "Edge", "Firefox"]
        users = [(v["value"], v["count"]) for v in found["user"]]
        assert users == [("u0000", 9), ("u0001", 8), ("u0002", 7), ("u0003", 6), ("u0004", 5), ("u0005", 4),
                         ("u0006", 3), ("u0007", 1), ("u0008", 1), ("u0009", 1)]  # fmt: skip
        assert issue_queries.tag_breakdown(conn, 3) == {}
        if store.backend == "sqlite":
            found_plans = plans(conn, lambda: issue_queries.tag_breakdown(conn, 1))
            assert all("TEMP B-TREE" not in plan and "SCAN" not in plan for plan in found_plans), found_plans
