"""Who the Security page is about: top offending IPs and accounts, one subject's timeline,
and a detection with its evidence events.

Offenders are ranked by what the detectors concluded about them (the threat score of their
detections in the range), then by how many of their security events report a failure or an
attack, then by all their security events. Accounts are matched case-folded, as the
detectors name them. Timelines read what GET /api/v1/security/subjects/... reads: the
subject's security, request and error events and its detections, newest first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.events import Event, Kind
from syncmon.security import detection_store
from syncmon.security.detection import Detection
from syncmon.security.threat import Threat, assess
from syncmon.security.vocabulary import Category, category_of
from syncmon.store import eventlog
from syncmon.store.projects import Project
from syncmon.store.schema import detections, events
from syncmon.web.dashboard.overview_data import EventRow
from syncmon.web.dashboard.security_data import DetectionRow, Span, detections_since, event_row

SUBJECT_TYPES = ("ip", "account")
TIMELINE_KINDS = (Kind.SECURITY.value, Kind.REQUEST.value, Kind.ERROR.value)
# Words of a canonical name that report something refused, failed or hostile.
FAILURE_WORDS = frozenset(
    {
        "fail",
        "failed",
        "failure",
        "lock",
        "locked",
        "denied",
        "exceeded",
        "reuse",
        "breach",
        "expire",
        "blocked",
    }
)
HOSTILE_CATEGORIES = frozenset({Category.MALICIOUS, Category.INPUT_VALIDATION})
MAX_OFFENDERS = 10


def is_failure(name: str) -> bool:
    """Whether a security event's canonical name reports a failure, a refusal or an attack."""
    return category_of(name) in HOSTILE_CATEGORIES or not FAILURE_WORDS.isdisjoint(name.split("_"))


def subject_type_of(subject: str) -> str:
    """'ip' when the subject is an IP address, else 'account'."""
    try:
        ipaddress.ip_address(subject.strip())
    except ValueError:
        return "account"
    return "ip"


def subject_key(subject_type: str, subject: str) -> str:
    """How detectors name a subject: accounts stripped and case-folded, IPs as they are."""
    return subject.strip().casefold() if subject_type == "account" else subject


@dataclass
class Offender:
    subject_type: str
    subject: str
    events: int = 0
    failures: int = 0
    last_ms: int = 0
    found: list[Detection] = field(default_factory=list)

    @property
    def threat(self) -> Threat:
        return assess(self.found)

    @property
    def rules(self) -> list[str]:
        return sorted({detection.rule for detection in self.found})


def _event_counts(
    conn: Connection, column: sa.ColumnElement[str], project_ids: Sequence[int], since_ms: int
) -> list[tuple[str, str, int, int]]:
    """(subject, name, count, last time) of the range's security events, per subject and name."""
    statement = (
        sa.select(
            column, events.c.name, sa.func.count().label("n"), sa.func.max(events.c.ts_ms).label("last")
        )
        .where(
            events.c.project_id.in_(list(project_ids)),
            events.c.kind == Kind.SECURITY.value,
            events.c.ts_ms >= since_ms,
            column.is_not(None),
        )
        .group_by(column, events.c.name)
    )
    return [(str(row[0]), str(row[1]), int(row[2]), int(row[3])) for row in conn.execute(statement)]


def offenders(
    conn: Connection, project_ids: Sequence[int], since_ms: int, found: Sequence[DetectionRow]
) -> dict[str, list[Offender]]:
    """The top offending IPs and accounts of the range: flagged by a detector or by failures."""
    columns: dict[str, sa.ColumnElement[str]] = {"ip": events.c.client_ip, "account": events.c.user_id}
    ranked: dict[str, list[Offender]] = {}
    for subject_type, column in columns.items():
        by_key: dict[str, Offender] = {}
        for subject, name, count, last in _event_counts(conn, column, project_ids, since_ms):
            entry = by_key.setdefault(subject_key(subject_type, subject), Offender(subject_type, subject))
            entry.events += count
            entry.failures += count if is_failure(name) else 0
            entry.last_ms = max(entry.last_ms, last)
        for row in found:
            detection = row.detection
            if detection.subject_type != subject_type:
                continue
            key = subject_key(subject_type, detection.subject)
            entry = by_key.setdefault(key, Offender(subject_type, detection.subject))
            entry.found.append(detection)
            entry.last_ms = max(entry.last_ms, detection.last_ms)
        flagged = [entry for entry in by_key.values() if entry.found or entry.failures]
        flagged.sort(key=lambda o: (o.threat.score, o.failures, o.events, o.last_ms), reverse=True)
        ranked[subject_type] = flagged[:MAX_OFFENDERS]
    return ranked


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at_ms: int
    event: EventRow | None = None
    detection: DetectionRow | None = None


@dataclass(frozen=True, slots=True)
class SubjectView:
    subject_type: str
    subject: str
    threat: Threat
    items: list[TimelineItem]
    events: int
    detections: int
    limited: bool


def subject_view(
    conn: Connection,
    projects: Sequence[Project],
    project_id: int | None,
    subject_type: str,
    subject: str,
    span: Span,
    limit: int = 200,
) -> SubjectView:
    """One IP's or account's events and detections in the range, and its own threat level."""
    query = eventlog.EventQuery(
        project_id=project_id, kinds=TIMELINE_KINDS, subject=subject, since_ms=span.since_ms, limit=limit
    )
    found_events = eventlog.list_events(conn, query)
    names = {project.id: project.name for project in projects}
    reach = min(span.since_ms, span.threat_since_ms)
    found = detections_since(conn, projects, reach, span, (subject_type, subject_key(subject_type, subject)))
    shown = [row for row in found if row.detection.last_ms >= span.since_ms]
    items = [TimelineItem(event.received_ms, event=event_row(event, names)) for event in found_events]
    items += [TimelineItem(row.detection.last_ms, detection=row) for row in shown]
    items.sort(key=lambda item: item.at_ms, reverse=True)  # stable: an event before its detection
    return SubjectView(
        subject_type=subject_type,
        subject=subject,
        threat=assess(row.detection for row in found if row.open),
        items=items,
        events=len(found_events),
        detections=len(shown),
        limited=len(found_events) == limit,
    )


def detection_by_id(conn: Connection, detection_id: int) -> tuple[Detection, int] | None:
    """A recorded detection and its project id, or None."""
    row = conn.execute(sa.select(detections).where(detections.c.id == detection_id)).first()
    return (detection_store.from_row(row), int(row.project_id)) if row else None


def evidence_events(conn: Connection, ids: Sequence[str]) -> list[Event]:
    """The evidence events of a detection that are still stored, in the detection's order."""
    if not ids:
        return []
    rows = conn.execute(sa.select(events).where(events.c.id.in_(list(ids))))
    stored = {row.id: eventlog.event_from_row(row) for row in rows}
    return [stored[event_id] for event_id in ids if event_id in stored]
