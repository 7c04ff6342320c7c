"""Versions of rollup days: how a page knows a closed day's rows are what it merged before.

Pages merge the same closed days' rollup rows on every request (thirty day rows per key for
30 days). What they merged can be kept in memory, but an event may arrive late, into a day
that is over, and change its rows. So every rollup write raises the version of each
(rollup, project, UTC day) it wrote into, in the same transaction as the rows; retention
raises the version of the days whose rows it deletes under project 0, "every project".

A reader takes the versions of the days it is about to read, then the rows. A cached merge
is valid while the versions are unchanged. Versions are read first: on PostgreSQL each
statement sees its own snapshot, so rows read afterwards are at least as new as the
versions, and a merge is never kept under versions newer than its rows (on SQLite the
reads share one snapshot anyway).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.store.schema import rollup_versions
from syncmon.store.upsert import upsert_add

DAY = 1440  # minutes
EVERY_PROJECT = 0

Versions = tuple[tuple[int, int, int], ...]  # (project, day, version), sorted


def day_of(minute: int) -> int:
    """The epoch minute the UTC day of `minute` starts."""
    return minute - minute % DAY


def bump(conn: Connection, rollup: str, days: Iterable[tuple[int, int]]) -> None:
    """Raise the version of each (project, day start minute) written in this transaction."""
    rows = [
        {"rollup": rollup, "project_id": project, "day": day, "version": 1}
        for project, day in sorted(set(days))
    ]
    upsert_add(conn, rollup_versions, rows, ("rollup", "project_id", "day"), ("version",))


def bump_every_project(conn: Connection, rollup: str, first_minute: int, end_minute: int) -> None:
    """Raise the version of every day touching minutes [first, end) for every project (retention)."""
    if end_minute <= first_minute:
        return
    days = range(day_of(first_minute), end_minute, DAY)
    bump(conn, rollup, ((EVERY_PROJECT, day) for day in days))


def versions(
    conn: Connection, rollup: str, project_ids: Sequence[int], first_day: int, end_day: int
) -> Versions:
    """The versions of the days in [first_day, end_day) of these projects (and of project 0)."""
    v = rollup_versions
    statement = (
        sa.select(v.c.project_id, v.c.day, v.c.version)
        .where(
            v.c.rollup == rollup,
            v.c.project_id.in_([EVERY_PROJECT, *project_ids]),
            v.c.day >= first_day,
            v.c.day < end_day,
        )
        .order_by(v.c.project_id, v.c.day)
    )
    return tuple((int(row[0]), int(row[1]), int(row[2])) for row in conn.execute(statement))


def delete_expired(conn: Connection, now_ms: int, retention_days: int) -> int:
    """Drop versions of days older than the rollups kept (one statement: a row per day)."""
    cutoff = day_of(now_ms // 60_000) - (retention_days + 1) * DAY
    v = rollup_versions
    return int(conn.execute(v.delete().where(v.c.day < cutoff)).rowcount or 0)
