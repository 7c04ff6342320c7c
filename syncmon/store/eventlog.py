"""The event log: appending committed events and reading them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.events import Event
from syncmon.store.schema import events as events_table

_COLUMNS = (
    "seq", "id", "project_id", "kind", "name", "ts_ms", "received_ms", "level", "message", "url",
    "client_ip", "user_id", "session_id", "release", "environment", "browser", "os", "device",
    "is_bot", "value", "trusted", "data", "fingerprint", "issue_id",
)  # fmt: skip


def _insert_sql(placeholder: str, json_placeholder: str) -> str:
    marks = [json_placeholder if column == "data" else placeholder for column in _COLUMNS]
    return f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join(marks)})"


# The hot path speaks to the driver directly: building SQLAlchemy parameters per row cost
# a third of the writer's time. Sequence numbers are taken before the insert (PostgreSQL:
# from the column's sequence; SQLite: after the largest, as SQLite itself would choose).
_SQLITE_INSERT = _insert_sql("?", "?")
_POSTGRES_INSERT = _insert_sql("%s", "%s::jsonb")
_POSTGRES_SEQS = "SELECT nextval(pg_get_serial_sequence('events', 'seq')) FROM generate_series(1, %s)"


def _values(seq: int, e: Event) -> tuple[Any, ...]:
    return (
        seq, e.id, e.project_id, e.kind, e.name, e.timestamp_ms, e.received_ms, e.level, e.message, e.url,
        e.client_ip, e.user_id, e.session_id, e.release, e.environment, e.browser, e.os, e.device,
        e.is_bot, e.value, e.trusted, orjson.dumps(e.data).decode(), e.fingerprint, e.issue_id,
    )  # fmt: skip


def new_events(conn: Connection, events: Sequence[Event]) -> list[Event]:
    """The events whose id is not stored yet, each id once: SDKs resend events they think
    were lost, and a resent event must be acknowledged without being stored twice."""
    stored = existing_ids(conn, [event.id for event in events if event.id_from_client])
    fresh: list[Event] = []
    for event in events:
        if event.id not in stored:
            stored.add(event.id)
            fresh.append(event)
    return fresh


def insert_events(conn: Connection, events: Sequence[Event]) -> None:
    """Append events and give each its log sequence number."""
    if not events:
        return
    if conn.dialect.name == "postgresql":
        seqs = [int(row[0]) for row in conn.exec_driver_sql(_POSTGRES_SEQS, (len(events),))]
        statement = _POSTGRES_INSERT
    else:
        last = conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM events").scalar()
        seqs = list(range(int(last or 0) + 1, int(last or 0) + 1 + len(events)))
        statement = _SQLITE_INSERT
    conn.exec_driver_sql(statement, [_values(seq, event) for seq, event in zip(seqs, events, strict=True)])
    for event, seq in zip(events, seqs, strict=True):
        event.seq = seq


def event_from_row(row: Any) -> Event:
    return Event(
        seq=row.seq,
        id=row.id,
        project_id=row.project_id,
        kind=row.kind,
        name=row.name,
        timestamp_ms=row.ts_ms,
        received_ms=row.received_ms,
        level=row.level,
        message=row.message,
        url=row.url,
        client_ip=row.client_ip,
        user_id=row.user_id,
        session_id=row.session_id,
        release=row.release,
        environment=row.environment,
        browser=row.browser,
        os=row.os,
        device=row.device,
        is_bot=bool(row.is_bot),
        value=row.value,
        trusted=bool(row.trusted),
        data=row.data,
        fingerprint=row.fingerprint,
        issue_id=row.issue_id,
    )


@dataclass(frozen=True)
class EventQuery:
    """Filters of the events listing; `before_seq` is the pagination cursor."""

    project_id: int | None = None
    kind: str | None = None
    name: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    before_seq: int | None = None
    limit: int = 100
    release: str | None = None
    environment: str | None = None
    user_id: str | None = None
    level: str | None = None
    issue_id: int | None = None
    kinds: tuple[str, ...] = ()
    name_prefixes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    subject: str | None = None  # a client IP or an account


# Equality filters: query field → column.
_EQUALS = ("kind", "name", "release", "environment", "user_id", "level", "issue_id")


def list_events(conn: Connection, query: EventQuery) -> list[Event]:
    """Newest first by log sequence; stable under concurrent inserts.

    A subject (an IP or an account) is read from the IP index and from the account index,
    newest first in each, and the two merged: one `client_ip = s OR user_id = s` query
    would scan the log."""
    t = events_table
    conditions: list[Any] = []
    if query.project_id is not None:
        conditions.append(t.c.project_id == query.project_id)
    for field in _EQUALS:
        value = getattr(query, field)
        if value is not None:
            conditions.append(t.c[field] == value)
    if query.kinds:
        conditions.append(t.c.kind.in_(query.kinds))
    if query.name_prefixes or query.names:
        conditions.append(
            sa.or_(
                *(t.c.name.startswith(prefix, autoescape=True) for prefix in query.name_prefixes),
                *([t.c.name.in_(query.names)] if query.names else []),
            )
        )
    if query.since_ms is not None:
        conditions.append(t.c.ts_ms >= query.since_ms)
    if query.until_ms is not None:
        conditions.append(t.c.ts_ms < query.until_ms)
    if query.before_seq is not None:
        conditions.append(t.c.seq < query.before_seq)
    if query.subject is None:
        statement = sa.select(t).where(*conditions).order_by(t.c.seq.desc()).limit(query.limit)
        return [event_from_row(row) for row in conn.execute(statement)]
    found: dict[int, Event] = {}
    for column, index in ((t.c.client_ip, "ix_events_client_ip"), (t.c.user_id, "ix_events_user")):
        statement = (
            sa.select(t)
            .with_hint(t, f"INDEXED BY {index}", "sqlite")
            .where(column == query.subject, *conditions)
            .order_by(t.c.seq.desc())
            .limit(query.limit)
        )
        for row in conn.execute(statement):
            found.setdefault(int(row.seq), event_from_row(row))
    return [found[seq] for seq in sorted(found, reverse=True)[: query.limit]]


def events_received_since(
    conn: Connection, since_ms: int, kinds: Sequence[str], limit: int = 200_000
) -> list[Event]:
    """Recent events of some kinds in log order (for rebuilding in-memory windows)."""
    t = events_table
    statement = (
        sa.select(t)
        .where(t.c.received_ms >= since_ms, t.c.kind.in_(list(kinds)))
        .order_by(t.c.seq)
        .limit(limit)
    )
    return [event_from_row(row) for row in conn.execute(statement)]


def get_event(conn: Connection, event_id: str) -> Event | None:
    row = conn.execute(sa.select(events_table).where(events_table.c.id == event_id)).first()
    return event_from_row(row) if row else None


def events_in_seq_range(conn: Connection, first_seq: int, last_seq: int) -> list[Event]:
    """Events with first_seq <= seq <= last_seq, in log order (for subscribers catching up)."""
    t = events_table
    statement = sa.select(t).where(t.c.seq >= first_seq, t.c.seq <= last_seq).order_by(t.c.seq)
    return [event_from_row(row) for row in conn.execute(statement)]


def existing_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        rows = conn.execute(sa.select(events_table.c.id).where(events_table.c.id.in_(chunk)))
        found.update(row.id for row in rows)
    return found
