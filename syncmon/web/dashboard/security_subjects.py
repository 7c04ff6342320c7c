"""Who the Security page is about: top offending IPs and accounts, one subject's timeline,
and a detection with its evidence events.

Offenders are ranked by what the detectors concluded about them (the threat score of their
detections in the range), then by how many of their security events report a failure or an
attack, then by all their security events, counted from the security-subject rollup
(`subject_rollups`), never from raw events. Accounts are matched case-folded, as the
detectors name them. Timelines read what GET /api/v1/security/subjects/... reads: the
subject's security, request and error events and its detections, newest first.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.events import Event, Kind
from syncmon.metrics import sketch_rollups as sr
from syncmon.metrics.rollup_versions import DAY
from syncmon.security import detection_store, subject_rollups
from syncmon.security.detection import Detection
from syncmon.security.threat import Threat, assess
from syncmon.store import eventlog
from syncmon.store.projects import Project
from syncmon.store.schema import detections, events
from syncmon.web.dashboard.closed_cache import ClosedCache, closed_part, split_spans, today_start
from syncmon.web.dashboard.overview_data import EventRow
from syncmon.web.dashboard.security_data import DetectionRow, Span, detections_since, event_row

SUBJECT_TYPES = ("ip", "account")
TIMELINE_KINDS = (Kind.SECURITY.value, Kind.REQUEST.value, Kind.ERROR.value)
MAX_OFFENDERS = 10


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


class Tally(NamedTuple):
    """A subject's security events in part of the range: how many, how many failed, the
    latest, and the first of its spellings (accounts differing in case count as one)."""

    events: int
    failures: int
    last_ms: int
    shown: str

    def add(self, other: Tally) -> Tally:
        return Tally(
            self.events + other.events,
            self.failures + other.failures,
            max(self.last_ms, other.last_ms),
            min(self.shown, other.shown),
        )


def tally(subject_type: str, rows: Iterable[tuple[str, int, int, int]]) -> dict[str, Tally]:
    """Rollup rows (subject, events, failures, latest) summed per subject key."""
    found: dict[str, Tally] = {}
    for subject, n, failed, last in rows:
        key = subject_key(subject_type, subject)
        entry = found.get(key)
        row = Tally(n, failed, last, subject)
        found[key] = row if entry is None else entry.add(row)
    return found


def merge_tallies(first: dict[str, Tally], second: dict[str, Tally]) -> dict[str, Tally]:
    """Both parts' tallies summed per subject key (neither is changed: they may be cached)."""
    merged = dict(first)
    for key, entry in second.items():
        found = merged.get(key)
        merged[key] = entry if found is None else found.add(entry)
    return merged


@dataclass(frozen=True, slots=True)
class Ranked:
    """Tallies of a stretch of closed days, and the keys with failures, most first (the
    order offenders without detections are ranked in).

    The tallies are kept as plain tuples: the cyclic garbage collector stops tracking
    those (not tuple subclasses), and a cache holds tens of thousands of them, which as
    tracked objects every full collection walked (the 30-day page's p95 measured 112 ms
    with them tracked, 43 ms without)."""

    rows: dict[str, tuple[int, int, int, str]]
    by_failures: tuple[str, ...]

    @classmethod
    def of(cls, tallies: dict[str, Tally]) -> Ranked:
        rows = {key: (e.events, e.failures, e.last_ms, e.shown) for key, e in tallies.items()}
        failing = [key for key, row in rows.items() if row[1]]
        failing.sort(key=lambda key: (rows[key][1], rows[key][0], rows[key][2]), reverse=True)
        return cls(rows, tuple(failing))

    def get(self, key: str) -> Tally | None:
        row = self.rows.get(key)
        return None if row is None else Tally._make(row)

    def tallies(self) -> dict[str, Tally]:
        return {key: Tally._make(row) for key, row in self.rows.items()}


def _order(entry: Tally) -> tuple[int, int, int]:
    return entry.failures, entry.events, entry.last_ms


def rank_offenders(
    subject_type: str, days: Ranked, rest: dict[str, Tally], found: Sequence[Detection]
) -> list[Offender]:
    """The top offenders of one subject type: flagged by a detector or with failures, by
    threat score, failures, events and latest time. `days` are the range's whole closed
    days, `rest` the rest of the range.

    Exact without summing every subject: a subject neither in `rest` nor detected has just
    its closed days' numbers and a score of 0, so it cannot rank above the first
    MAX_OFFENDERS such subjects in `days.by_failures` (ties aside, which are unordered).
    Likewise only the MAX_OFFENDERS undetected subjects with the most failures can make the
    list, so the threat score is computed for detected subjects alone."""
    detected: dict[str, list[Detection]] = {}
    for detection in found:
        if detection.subject_type == subject_type:
            detected.setdefault(subject_key(subject_type, detection.subject), []).append(detection)

    def total(key: str) -> Tally | None:
        parts = [part for part in (days.get(key), rest.get(key)) if part is not None]
        return parts[0].add(parts[1]) if len(parts) == 2 else parts[0] if parts else None

    plain: dict[str, Tally] = {}
    for key in rest:
        summed = total(key)
        if summed is not None and key not in detected:
            plain[key] = summed
    extra = 0
    for key in days.by_failures:
        if extra == MAX_OFFENDERS:
            break
        if key not in plain and key not in detected and key not in rest:
            plain[key] = Tally._make(days.rows[key])
            extra += 1
    failing = [key for key, entry in plain.items() if entry.failures]
    best = heapq.nlargest(MAX_OFFENDERS, failing, key=lambda key: _order(plain[key]))
    flagged = [
        Offender(subject_type, entry.shown, entry.events, entry.failures, entry.last_ms)
        for entry in (plain[key] for key in best)
    ]
    for key, its_detections in detected.items():
        summed = total(key)
        if summed is None:
            entry = Offender(subject_type, its_detections[0].subject)
        else:
            entry = Offender(subject_type, summed.shown, summed.events, summed.failures, summed.last_ms)
        entry.found.extend(its_detections)
        entry.last_ms = max([entry.last_ms, *(detection.last_ms for detection in its_detections)])
        flagged.append(entry)
    flagged.sort(key=lambda o: (o.threat.score, o.failures, o.events, o.last_ms), reverse=True)
    return flagged[:MAX_OFFENDERS]


def offenders(
    conn: Connection,
    project_ids: Sequence[int],
    since_ms: int,
    now_ms: int,
    found: Sequence[DetectionRow],
    cache: ClosedCache | None = None,
) -> dict[str, list[Offender]]:
    """The top offending IPs and accounts from `since_ms` on (rounded down to the minute, or
    to the hour beyond the 7 days minute rows are kept): flagged by a detector or by
    failures, counted from the security-subject rollup.

    What lies before today is summed once and kept in `cache` while its rollup versions
    stay the same, in two parts: the range's whole days (the same all day), and those with
    the hours of the range's first day added (the same for an hour). Each request reads
    only today's rows and the range's first minutes: about one row per subject seen today,
    whatever the range."""
    first, end = sr.window_minutes(since_ms, now_ms)
    spans = sr.plan(first, max(end, now_ms // sr.MINUTE_MS + 1), now_ms)
    closed, opened = split_spans(spans, today_start(now_ms))
    whole_days_from = -(-first // DAY) * DAY
    head, days = split_spans(closed, whole_days_from)
    head_hours = [span for span in head if span.tier != sr.MINUTE]
    head_minutes = [span for span in head if span.tier == sr.MINUTE]
    detections = [row.detection for row in found]
    ranked: dict[str, list[Offender]] = {}
    for subject_type in SUBJECT_TYPES:

        def sum_days(spans_of_days: Sequence[sr.Span], kind: str = subject_type) -> Ranked:
            return Ranked.of(tally(kind, subject_rollups.read_rows(conn, project_ids, kind, spans_of_days)))

        closed_days = closed_part(
            conn, cache, subject_rollups.ROLLUP, project_ids, ("offenders", subject_type), days, sum_days
        ).value

        def add_hours(_: Sequence[sr.Span], kind: str = subject_type, whole: Ranked = closed_days) -> Ranked:
            hours = tally(kind, subject_rollups.read_rows(conn, project_ids, kind, head_hours))
            return Ranked.of(merge_tallies(whole.tallies(), hours))

        before_today = (
            closed_part(
                conn,
                cache,
                subject_rollups.ROLLUP,
                project_ids,
                ("offenders-hours", subject_type),
                (*head_hours, *days),
                add_hours,
            ).value
            if head_hours
            else closed_days
        )
        rest = tally(
            subject_type, subject_rollups.read_rows(conn, project_ids, subject_type, (*head_minutes, *opened))
        )
        ranked[subject_type] = rank_offenders(subject_type, before_today, rest, detections)
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
