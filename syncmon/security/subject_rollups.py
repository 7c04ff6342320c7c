"""Security events per subject (an IP, an account) in minute, hour and day buckets.

The Security page ranks the IPs and accounts of a range by their security events and by
those that report a failure, a refusal or an attack (`is_failure`). Counting them from raw
events reads every security event of the range; this rollup holds, per (project, subject
type, tier, bucket, subject as sent), how many there were, how many failed and the latest
one's time, written by a writer hook in the commit that stores the events (tiers as the
sketch rollups': `sketch_rollups.TIERS`). Each write raises the version of the days it
wrote into (`rollup_versions`, rollup "subjects"), so a page may keep what it merged
from closed days. Retention keeps tiers as long as the sketches' (`delete_expired`).

Subjects are stored as sent; the page folds accounts (case, spaces) as the detectors do.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from syncmon.events import Event, Kind
from syncmon.metrics import rollup_versions
from syncmon.metrics import sketch_rollups as sr
from syncmon.security.vocabulary import Category, category_of
from syncmon.store.schema import rollup_subjects

ROLLUP = "subjects"
SUBJECT_MAX = 200
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
_KEY = ("project_id", "subject_type", "tier", "bucket", "subject")

SubjectKey = tuple[int, str, int, int, str]  # project, subject type, tier, bucket, subject


@functools.lru_cache(maxsize=4096)
def is_failure(name: str) -> bool:
    """Whether a security event's canonical name reports a failure, a refusal or an attack."""
    return category_of(name) in HOSTILE_CATEGORIES or not FAILURE_WORDS.isdisjoint(name.split("_"))


def subjects_of(event: Event) -> list[tuple[str, str]]:
    """(subject type, subject) an event counts for: its client IP and its account."""
    found = []
    if event.client_ip is not None:
        found.append(("ip", event.client_ip[:SUBJECT_MAX]))
    if event.user_id is not None:
        found.append(("account", event.user_id[:SUBJECT_MAX]))
    return found


def subject_cells(events: Iterable[Event]) -> dict[SubjectKey, list[int]]:
    """The batch's security events per row: [events, failures, latest timestamp]."""
    cells: dict[SubjectKey, list[int]] = {}
    tiers = sr.TIERS  # read per call: the benchmark loader narrows it
    for event in events:
        if event.kind != Kind.SECURITY:
            continue
        subjects = subjects_of(event)
        if not subjects:
            continue
        minute = event.timestamp_ms // sr.MINUTE_MS
        failed = 1 if is_failure(event.name) else 0
        for tier in tiers:
            bucket = minute - minute % tier
            for subject_type, subject in subjects:
                key = (event.project_id, subject_type, tier, bucket, subject)
                cell = cells.get(key)
                if cell is None:
                    cells[key] = [1, failed, event.timestamp_ms]
                else:
                    cell[0] += 1
                    cell[1] += failed
                    cell[2] = max(cell[2], event.timestamp_ms)
    return cells


@functools.lru_cache(maxsize=4)
def _upsert(dialect_name: str) -> Any:
    """INSERT; on a key conflict add the counts and keep the later time (built once)."""
    table = rollup_subjects
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={
            "events": table.c.events + excluded.events,
            "failures": table.c.failures + excluded.failures,
            "last_ms": sa.case((excluded.last_ms > table.c.last_ms, excluded.last_ms), else_=table.c.last_ms),
        },
    )


def hook(conn: Connection, events: Sequence[Event]) -> None:
    """The writer hook: add the batch's security events to their subjects' rows."""
    cells = subject_cells(events)
    if not cells:
        return
    rows = [
        {**dict(zip(_KEY, key, strict=True)), "events": n, "failures": failed, "last_ms": last}
        for key, (n, failed, last) in sorted(cells.items())
    ]
    conn.execute(_upsert(conn.dialect.name), rows)
    rollup_versions.bump(conn, ROLLUP, {(key[0], rollup_versions.day_of(key[3])) for key in cells})


def read_rows(
    conn: Connection, project_ids: Sequence[int], subject_type: str, spans: Sequence[sr.Span]
) -> Iterator[tuple[str, int, int, int]]:
    """(subject, events, failures, latest time) of every row of the spans, over projects.

    One statement per span: SQLite answers an OR of spans by reading every tier of the
    (project, subject type) prefix, while a single span is a range of the primary key
    (summing in SQL instead, over a UNION ALL of the spans, measured slower)."""
    if not spans or not project_ids:
        return
    t = rollup_subjects
    for span in spans:
        statement = sa.select(t.c.subject, t.c.events, t.c.failures, t.c.last_ms).where(
            t.c.project_id.in_(list(project_ids)),
            t.c.subject_type == subject_type,
            sr.spans_clause(t, [span]),
        )
        for subject, n, failed, last in conn.execute(statement):
            yield str(subject), int(n), int(failed), int(last)


def delete_expired(conn: Connection, now_ms: int, retention_days: int, max_buckets: int = 60) -> int:
    """One retention step (tiers kept as the sketches'): in each tier, delete the oldest
    `max_buckets` buckets past the cutoff. Returns rows deleted; call until 0. Deleting hour
    or day rows raises the versions of their days (minute rows are never read that old)."""
    t = rollup_subjects
    deleted = 0
    for tier, cutoff in sr.tier_cutoffs(now_ms, retention_days).items():
        first = conn.execute(sa.select(sa.func.min(t.c.bucket)).where(t.c.tier == tier)).scalar()
        if first is None or first >= cutoff:
            continue
        upper = min(int(first) + max_buckets * tier, cutoff)
        result = conn.execute(t.delete().where(t.c.tier == tier, t.c.bucket < upper))
        deleted += int(result.rowcount or 0)
        if tier != sr.MINUTE:
            rollup_versions.bump_every_project(conn, ROLLUP, int(first), upper)
    return deleted
