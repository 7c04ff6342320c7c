"""Count rollups in tiers on both engines: what is written, how windows are planned, and that a
tiered read equals summing the minute rows (the old query, kept here as the reference)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection

from syncmon.events import Event
from syncmon.metrics import rollups
from syncmon.metrics import sketch_rollups as sr
from syncmon.store import projects
from syncmon.store.retention import delete_expired_rollups
from syncmon.store.schema import rollup_counts
from tests.conftest import Store

MINUTE_MS = 60_000
DAY = 1440
DAY0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
# 2026-01-11 13:27:15: neither on the hour nor at midnight.
NOW = DAY0 + 10 * 86_400_000 + 13 * 3_600_000 + 27 * MINUTE_MS + 15_000
NOW_MINUTE = NOW // MINUTE_MS
KINDS = ("custom", "error", "security")
NAMES = ("a", "b", "c")
STEPS = (1, 2, 5, 7, 13, 30, 45, 60, 90, 120, 360, 720, 1440, 2880, 10**9)


def event(project_id: int, kind: str, name: str, at_ms: int) -> Event:
    return Event(project_id=project_id, kind=kind, name=name, timestamp_ms=at_ms, received_ms=NOW)


def store_events(store: Store, events: Sequence[Event], batch: int = 400) -> None:
    for start in range(0, len(events), batch):
        with store.engine.begin() as conn:
            rollups.apply_count_rollups(conn, events[start : start + batch])


def minute_series(
    conn: Connection, project_id: int, since: int, until: int, step: int, kind: str | None
) -> list[dict[str, Any]]:
    """The per-minute query count_series ran before the tiers: the reference."""
    r = rollup_counts
    bucket = (r.c.bucket - (r.c.bucket % step)).label("b")
    conditions = [r.c.tier == 1, r.c.project_id == project_id, r.c.bucket >= since, r.c.bucket < until]
    if kind is not None:
        conditions.append(r.c.kind == kind)
    statement = (
        sa.select(bucket, r.c.kind, r.c.name, sa.func.sum(r.c["count"]).label("total"))
        .where(*conditions)
        .group_by(bucket, r.c.kind, r.c.name)
        .order_by(bucket, r.c.kind, r.c.name)
    )
    return [
        {"minute": int(row.b), "kind": row.kind, "name": row.name, "count": int(row.total)}
        for row in conn.execute(statement)
    ]


def all_rows(conn: Connection) -> list[tuple[int, int, int, str, str, int]]:
    r = rollup_counts
    statement = sa.select(r.c.project_id, r.c.tier, r.c.bucket, r.c.kind, r.c.name, r.c["count"])
    return sorted((int(p), int(t), int(b), k, n, int(c)) for p, t, b, k, n, c in conn.execute(statement))


# --- writing ---------------------------------------------------------------------------------


def test_an_event_counts_in_its_minute_hour_and_day() -> None:
    at = DAY0 + 25 * 3_600_000 + 30 * MINUTE_MS + 5_000  # day 1, 01:30:05
    rows = rollups.count_rows(
        [event(2, "error", "x", at), event(1, "custom", "y", at), event(2, "error", "x", at)]
    )
    minute = at // MINUTE_MS
    assert [tuple(row.values()) for row in rows] == [
        (1, 1, minute, "custom", "y", 1),
        (1, 60, minute - 30, "custom", "y", 1),
        (1, 1440, minute - 90, "custom", "y", 1),
        (2, 1, minute, "error", "x", 2),
        (2, 60, minute - 30, "error", "x", 2),
        (2, 1440, minute - 90, "error", "x", 2),
    ]  # in key order: concurrent writers lock rows in the same order


def test_batches_add_up_in_every_tier(store: Store) -> None:
    pid = store.project.id
    first = [event(pid, "custom", "a", DAY0 + i * 20 * MINUTE_MS) for i in range(6)]  # 00:00 … 01:40
    second = [event(pid, "custom", "a", DAY0 + 59 * MINUTE_MS), event(pid, "custom", "a", DAY0 - 1)]
    store_events(store, first)
    store_events(store, second)
    day0 = DAY0 // MINUTE_MS
    with store.engine.connect() as conn:
        rows = {(tier, bucket - day0): count for _, tier, bucket, _, _, count in all_rows(conn)}
    assert rows == {
        (1, -1): 1,
        (1, 0): 1,
        (1, 20): 1,
        (1, 40): 1,
        (1, 59): 1,
        (1, 60): 1,
        (1, 80): 1,
        (1, 100): 1,
        (60, -60): 1,
        (60, 0): 4,
        (60, 60): 3,
        (1440, -1440): 1,
        (1440, 0): 7,
    }


# --- planning (pure) ---------------------------------------------------------------------------


def net_weights(counted: rollups.CountPlan, minutes: range) -> dict[int, Counter[int]]:
    """For each minute: with which weight its count reaches each step, through the rows of
    every tier the plan reads (added +1, subtracted -1)."""
    read: Counter[tuple[int, int]] = Counter()
    for spans, weight in ((counted.add, 1), (counted.subtract, -1)):
        for span in spans:
            assert span.first % span.tier == 0 and span.end % span.tier == 0, span
            for bucket in range(span.first, span.end, span.tier):
                read[(span.tier, bucket)] += weight
                assert counted.sign(span.tier, bucket) == weight
    weights: dict[int, Counter[int]] = {}
    for minute in minutes:
        found: Counter[int] = Counter()
        for tier in sr.TIERS:
            bucket = minute - minute % tier
            if read[(tier, bucket)]:
                found[counted.step_of(bucket)] += read[(tier, bucket)]
        weights[minute] = +found
    return weights


@settings(max_examples=250, deadline=None)
@given(
    st.integers(NOW_MINUTE - 3 * DAY, NOW_MINUTE + 60),
    st.integers(1, 3 * DAY),
    st.sampled_from(STEPS),
    st.booleans(),
)
def test_a_plan_counts_every_minute_of_the_window_once_in_its_step(
    first: int, length: int, step: int, with_now: bool
) -> None:
    end = first + length
    counted = rollups.count_plan(first, end, step, NOW if with_now else None)
    starts = counted.starts
    weights = net_weights(counted, range(first - DAY - 1, end + DAY + 1))
    for minute, found in weights.items():
        if first <= minute < end:
            assert found == Counter({starts.index(minute - minute % step): 1}), minute
        else:
            assert not found, minute


@settings(max_examples=120, deadline=None)
@given(st.integers(NOW_MINUTE - 120 * DAY, NOW_MINUTE), st.integers(1, 12 * DAY), st.sampled_from(STEPS))
def test_old_windows_read_kept_rows_and_count_the_rounded_window_once(
    first: int, length: int, step: int
) -> None:
    end = first + length
    counted = rollups.count_plan(first, end, step, NOW)
    cutoffs = sr.tier_cutoffs(NOW, 400)
    assert all(span.first >= cutoffs[span.tier] for span in counted.spans)  # never a deleted row
    kept_first, kept_end = sr.kept_window(first, end, NOW)
    weights = net_weights(counted, range(kept_first - DAY, kept_end + DAY))
    for minute, found in weights.items():
        expected = 1 if kept_first <= minute < kept_end else 0
        assert sum(found.values()) == expected and len(found) == expected, minute


def test_thirty_days_in_day_steps_read_day_rows_only() -> None:
    end = NOW_MINUTE + 1
    first = end - 30 * DAY
    first -= first % DAY
    counted = rollups.count_plan(first, end, DAY, NOW)
    midnight = end - end % DAY + DAY
    assert counted.add == (sr.Span(DAY, first, midnight),)  # 31 rows per key, today's included
    # minus what lies after the window in today's row: buckets no event has reached yet
    assert counted.subtract == (
        sr.Span(1, end, end - end % 60 + 60),
        sr.Span(60, end - end % 60 + 60, midnight),
    )
    assert len(counted.starts) == 31


def test_without_now_the_last_day_is_read_from_hours_and_minutes() -> None:
    end = NOW_MINUTE + 1
    counted = rollups.count_plan(end - end % DAY, end, DAY)
    assert counted.subtract == ()
    assert {span.tier for span in counted.add} == {1, 60}


def test_old_edges_round_outward_to_the_rows_retention_keeps() -> None:
    first = NOW_MINUTE - 20 * DAY + 17  # xx:44, older than the minute tier's 7 days
    counted = rollups.count_plan(first, first + 120, 5, NOW)
    assert counted.add == (sr.Span(60, first - 44, first + 120 + 16),)
    assert counted.subtract == ()
    assert counted.step_of(first - 44) == 0  # a row starting before the first step counts in it


def test_a_step_below_one_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="step"):
        rollups.count_plan(0, 10, 0)


# --- reading (both engines) --------------------------------------------------------------------


@pytest.fixture
def two_projects(store: Store) -> tuple[int, int]:
    with store.engine.begin() as conn:
        other = projects.create_project(conn, "Other", NOW, ["*"])
    return store.project.id, other.id


def random_events(rng: random.Random, project_ids: Sequence[int], count: int) -> list[Event]:
    """Over the 6 days before NOW, some on hour and day edges, a few stamped up to 5 minutes
    ahead of the clock (as the receivers allow)."""
    low = NOW - 6 * 86_400_000
    found = []
    for _ in range(count):
        shape = rng.random()
        if shape < 0.1:
            at = NOW + rng.randrange(0, 300_000)
        elif shape < 0.3:
            at = low + rng.randrange(0, 6 * 24) * 3_600_000 + rng.choice((-1, 0, 59_999, 60_000))
        else:
            at = rng.randrange(low, NOW)
        found.append(event(rng.choice(project_ids), rng.choice(KINDS), rng.choice(NAMES), at))
    return found


def random_window(rng: random.Random) -> tuple[int, int, int]:
    step = rng.choice(STEPS) if rng.random() < 0.8 else rng.randrange(1, 3000)
    first = rng.randrange(NOW_MINUTE - 6 * DAY - 60, NOW_MINUTE + 30)
    if rng.random() < 0.4:
        first -= first % rng.choice((60, DAY))
    length = rng.choice((rng.randrange(1, 180), rng.randrange(1, 3 * DAY), rng.randrange(1, 7 * DAY)))
    if rng.random() < 0.4:  # reaching now, as the pages and the summary API ask
        length = max(1, NOW_MINUTE + 1 - first)
    while length // step > 2000:
        step *= 2
    return first, first + length, step


def test_tiered_reads_equal_the_sum_of_the_minute_rows(store: Store, two_projects: tuple[int, int]) -> None:
    rng = random.Random(20261208)
    store_events(store, random_events(rng, two_projects, 3000))
    with store.engine.connect() as conn:
        for trial in range(150):
            first, end, step = random_window(rng)
            now = NOW if trial % 3 else None
            kind = rng.choice((None, *KINDS))
            for project_id in two_projects:
                expected = minute_series(conn, project_id, first, end, step, kind)
                found = rollups.count_series(conn, project_id, first, end, step, kind, now_ms=now)
                assert found == expected, (first, end, step, now, kind)
            both = rollups.count_buckets(conn, first, end, step, now, project_ids=two_projects)
            summed: Counter[tuple[int, int, str, str]] = Counter()
            for project_id in two_projects:
                for row in minute_series(conn, project_id, first, end, step, None):
                    summed[(project_id, row["minute"], row["kind"], row["name"])] += row["count"]
            assert [(r.project_id, r.bucket, r.kind, r.name, r.count) for r in both] == [
                (*key, count) for key, count in sorted(summed.items())
            ], (first, end, step, now)
            by_kind: Counter[tuple[int, int, str, str]] = Counter()
            for (project_id, bucket, kind, _), count in summed.items():
                by_kind[(project_id, bucket, kind, "")] += count
            kinds_only = rollups.count_buckets(conn, first, end, step, now, per_name=False)
            assert [(r.project_id, r.bucket, r.kind, r.name, r.count) for r in kinds_only] == [
                (*key, count) for key, count in sorted(by_kind.items())
            ], (first, end, step, now)


def test_reads_filter_projects_and_kinds(store: Store, two_projects: tuple[int, int]) -> None:
    shop, other = two_projects
    at = NOW - 3 * 86_400_000
    store_events(
        store,
        [event(shop, "error", "x", at), event(other, "security", "y", at), event(other, "custom", "z", at)],
    )
    first, end = NOW_MINUTE - 7 * DAY + 120, NOW_MINUTE + 1
    with store.engine.connect() as conn:
        every = rollups.count_buckets(conn, first, end, DAY, NOW)
        others = rollups.count_buckets(conn, first, end, DAY, NOW, project_ids=[other], kinds=["security"])
        none = rollups.count_buckets(conn, first, end, DAY, NOW, project_ids=[])
        assert rollups.ever_counted(conn, [other], "security")
        assert not rollups.ever_counted(conn, [shop], "security")
        assert not rollups.ever_counted(conn, [], "security")
    assert sorted((r.project_id, r.kind, r.count) for r in every) == [
        (shop, "error", 1),
        (other, "custom", 1),
        (other, "security", 1),
    ]
    assert [(r.project_id, r.kind, r.bucket) for r in others] == [
        (other, "security", (at // MINUTE_MS) // DAY * DAY)
    ]
    assert none == []


def test_after_retention_old_windows_are_read_from_hours_and_days(store: Store) -> None:
    """Minute rows older than 7 days are gone: a window there is answered from the hour and
    day rows, its edges rounded outward to them, and still counts every event once."""
    pid = store.project.id
    rng = random.Random(5)
    low = NOW - 40 * 86_400_000
    events = [event(pid, "custom", "a", rng.randrange(low, NOW)) for _ in range(2000)]
    store_events(store, events)
    while True:
        with store.engine.begin() as conn:
            if not delete_expired_rollups(conn, sr.tier_cutoffs(NOW, 400)):
                break
    minutes = sorted(e.timestamp_ms // MINUTE_MS for e in events)
    with store.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.min(rollup_counts.c.bucket)).where(rollup_counts.c.tier == 1)
            ).scalar_one()
            >= sr.tier_cutoffs(NOW, 400)[1]
        )
        for _ in range(60):
            first = rng.randrange(NOW_MINUTE - 40 * DAY, NOW_MINUTE - 8 * DAY)
            end = first + rng.randrange(1, 10 * DAY)
            step = rng.choice(STEPS)
            rows = rollups.count_buckets(conn, first, end, step, NOW, project_ids=[pid])
            kept_first, kept_end = sr.kept_window(first, end, NOW)
            expected = sum(1 for m in minutes if kept_first <= m < kept_end)
            assert sum(row.count for row in rows) == expected, (first, end, step)
            assert all(row.bucket % step == 0 for row in rows)
