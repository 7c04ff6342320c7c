"""Detections in the store: recorded once per occurrence, read back by window and subject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from syncmon.security.detection import Detection, Severity
from syncmon.store.schema import detections


def record(conn: Connection, found: Sequence[Detection], now_ms: int) -> int:
    """Insert detections; one already recorded (same rule, subject and end) is skipped, so a
    replay after a restart does not record an attack twice. Returns how many were new."""
    return len(record_new(conn, found, now_ms))


def record_new(conn: Connection, found: Sequence[Detection], now_ms: int) -> list[Detection]:
    """`record`, returning the detections that were new (for listeners: one alert per attack)."""
    if not found:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # RETURNING tells which rows went in: rowcount is -1 under psycopg for this statement.
    statement = dialect.insert(detections).on_conflict_do_nothing().returning(detections.c.id)
    new: list[Detection] = []
    for d in found:
        row = {
            "project_id": d.project_id,
            "rule": d.rule,
            "subject_type": d.subject_type,
            "subject": d.subject[:200],
            "severity": d.severity.value,
            "confidence": d.confidence,
            "count": d.count,
            "first_ms": d.first_ms,
            "last_ms": d.last_ms,
            "title": d.title[:300],
            "evidence": list(d.evidence),
            "details": d.details,
            "created_ms": now_ms,
        }
        if conn.execute(statement, row).first() is not None:
            new.append(d)
    return new


def from_row(row: Any) -> Detection:
    return Detection(
        rule=row.rule,
        project_id=row.project_id,
        subject_type=row.subject_type,
        subject=row.subject,
        severity=Severity(row.severity),
        confidence=row.confidence,
        count=row.count,
        first_ms=row.first_ms,
        last_ms=row.last_ms,
        title=row.title,
        evidence=tuple(row.evidence),
        details=dict(row.details),
    )


@dataclass(frozen=True)
class DetectionQuery:
    project_id: int
    since_ms: int | None = None
    until_ms: int | None = None
    rule: str | None = None
    subject_type: str | None = None
    subject: str | None = None
    severity: str | None = None
    before_id: int | None = None
    limit: int = 1000


def find(conn: Connection, query: DetectionQuery) -> list[tuple[int, Detection]]:
    """(id, detection) pairs, newest first."""
    t = detections
    conditions: list[Any] = [t.c.project_id == query.project_id]
    if query.since_ms is not None:
        conditions.append(t.c.last_ms >= query.since_ms)
    if query.until_ms is not None:
        conditions.append(t.c.last_ms < query.until_ms)
    for field in ("rule", "subject_type", "subject", "severity"):
        value = getattr(query, field)
        if value is not None:
            conditions.append(t.c[field] == value)
    if query.before_id is not None:
        # The cursor is the last detection of the previous page; pages follow the listing's
        # order (last_ms, id), which is not the order of ids: a replay records old attacks late.
        cursor_last = sa.select(t.c.last_ms).where(t.c.id == query.before_id).scalar_subquery()
        conditions.append(
            sa.or_(t.c.last_ms < cursor_last, sa.and_(t.c.last_ms == cursor_last, t.c.id < query.before_id))
        )
    statement = sa.select(t).where(*conditions).order_by(t.c.last_ms.desc(), t.c.id.desc()).limit(query.limit)
    return [(int(row.id), from_row(row)) for row in conn.execute(statement)]
