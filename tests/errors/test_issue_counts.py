"""Events per issue (`issue_counts`), on SQLite and PostgreSQL: written with the events by the
grouping hook, equal to counting the stored events at every step the pages use, kept equal
by retention, and minute rows trimmed like the sketches'."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest
import sqlalchemy as sa

from syncmon.errors import issue_counts
from syncmon.errors.issue_store import assign_issues
from syncmon.events import Event
from syncmon.pipeline.writer import Writer
from syncmon.store import retention
from syncmon.store.schema import events as events_table
from syncmon.store.schema import issue_counts as counts_table
from syncmon.web.dashboard.error_data import DETAIL_POINTS, SPARK_POINTS, SparkWindow, event_series
from syncmon.web.dashboard.shell import RANGES
from tests.conftest import Store
from tests.errors.test_issue_store import error

MIN = 60_000
DAY = 86_400_000
NOW = 1_795_845_432_100  # 2026-11-28T03:57:12.1Z: neither on a day, an hour nor a minute


@pytest.fixture
def writer(store: Store) -> Iterator[Writer]:
    writer = Writer(store.engine, before=[assign_issues])
    writer.start()
    yield writer
    writer.stop()


def spread(store: Store, count: int, seed: int) -> list[Event]:
    """Errors of three issues at random times over the last 35 days, a few in the future."""
    rng = random.Random(seed)
    found = []
    for index in range(count):
        ts = NOW - rng.randrange(35 * DAY) if index % 50 else NOW + rng.randrange(4 * MIN)
        found.append(error(store, rng.choice(["a" * 32, "b" * 32, "c" * 32]), ts=ts))
    return found


def raw_series(store: Store, issue_ids: Sequence[int], window: SparkWindow) -> dict[int, tuple[int, ...]]:
    """The stored events counted per step, as the page counted them before the rollup: steps
    from window.first, the last one open-ended (the rollup's last row covers the day)."""
    steps = -(-(window.end - window.first) // window.step)
    found = {issue_id: [0] * steps for issue_id in issue_ids}
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(events_table.c.issue_id, events_table.c.ts_ms).where(
                events_table.c.issue_id.in_(list(issue_ids)), events_table.c.ts_ms >= window.since_ms
            )
        )
        for issue_id, ts_ms in rows:
            index = min(steps - 1, (ts_ms // MIN - window.first) // window.step)
            found[int(issue_id)][index] += 1
    return {issue_id: tuple(values) for issue_id, values in found.items()}


def issue_ids(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        query = sa.select(events_table.c.issue_id).where(events_table.c.issue_id.is_not(None)).distinct()
        return sorted(int(found) for found in conn.execute(query).scalars())


def rollup_series(store: Store, ids: Sequence[int], window: SparkWindow) -> dict[int, tuple[int, ...]]:
    with store.engine.connect() as conn:
        return event_series(conn, ids, window)


def test_tier_counts_and_rows_are_pure() -> None:
    counts = issue_counts.tier_counts([(7, 1441, 2), (7, 1442, 1)], (1, 60, 1440))
    assert counts == {(7, 1, 1441): 2, (7, 1, 1442): 1, (7, 60, 1440): 3, (7, 1440, 1440): 3}


@pytest.mark.parametrize("points", [SPARK_POINTS, DETAIL_POINTS])
async def test_the_rollup_counts_what_the_log_holds_at_every_range(
    store: Store, writer: Writer, points: int
) -> None:
    batch = spread(store, 600, seed=points)
    for start in range(0, len(batch), 100):
        await writer.write(batch[start : start + 100])
    ids = issue_ids(store)
    assert len(ids) == 3
    for minutes in RANGES.values():
        window = SparkWindow.ending(NOW, minutes, points)
        assert window.first % window.step == 0 and window.first <= NOW // MIN - minutes
        assert rollup_series(store, ids, window) == raw_series(store, ids, window), minutes
    with store.engine.connect() as conn:
        minute_rows = conn.execute(sa.select(sa.func.count()).where(counts_table.c.tier == 1)).scalar_one()
        total = conn.execute(sa.select(sa.func.sum(counts_table.c["count"])).where(counts_table.c.tier == 1))
        assert minute_rows > 0 and int(total.scalar_one()) == 600  # every event in every tier


@pytest.mark.parametrize("points", [SPARK_POINTS, DETAIL_POINTS])
@pytest.mark.parametrize("minutes", RANGES.values())
def test_sparklines_read_a_few_rows_a_step(minutes: int, points: int) -> None:
    window = SparkWindow.ending(NOW, minutes, points)
    starts, spans = issue_counts.step_spans(window.first, window.end, window.step, NOW)
    assert len(starts) <= points + 1
    if window.step >= 60:  # hour and day rows only: at most a step's hours per step
        assert min(span.tier for span in spans) >= 60
        assert sum(span.buckets for span in spans) <= len(starts) * max(1, window.step // 60) + 24
    else:
        assert sum(span.buckets for span in spans) <= minutes + window.step + 1440
    if (minutes, points) == (43_200, SPARK_POINTS):
        assert len(starts) == len(spans) == 31  # day rows: 30 days from a midnight, and today
        assert {span.tier for span in spans} == {1440}


async def test_retention_takes_deleted_events_off_their_buckets(store: Store, writer: Writer) -> None:
    batch = spread(store, 400, seed=9)
    for event in batch:  # received in timestamp order, a minute after their time
        event.received_ms = event.timestamp_ms + MIN
    await writer.write(batch)
    ids = issue_ids(store)
    cutoff = NOW - 20 * DAY
    with store.engine.begin() as conn:
        while retention.delete_expired_events(conn, cutoff, 37) == 37:
            pass
    with store.engine.connect() as conn:
        remaining = conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one()
        zero = conn.execute(sa.select(sa.func.count()).where(counts_table.c["count"] <= 0)).scalar_one()
    assert 0 < remaining < 400 and zero == 0
    for minutes in RANGES.values():
        window = SparkWindow.ending(NOW, minutes)
        assert rollup_series(store, ids, window) == raw_series(store, ids, window), minutes
    with store.engine.begin() as conn:
        retention.delete_expired_events(conn, NOW + DAY, 10_000)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(counts_table)).scalar_one() == 0


async def test_minute_rows_go_after_seven_days_and_hour_rows_stay(store: Store, writer: Writer) -> None:
    await writer.write([error(store, ts=NOW - 9 * DAY), error(store, ts=NOW - 2 * DAY)])
    with store.engine.begin() as conn:
        deleted = 0
        while step := issue_counts.delete_expired_minutes(conn, NOW, max_buckets=60):
            deleted += step
    assert deleted == 1
    with store.engine.connect() as conn:
        tiers = conn.execute(sa.select(counts_table.c.tier, counts_table.c.bucket)).all()
    assert sorted(tier for tier, _ in tiers) == [1, 60, 60, 1440, 1440]
    ids = issue_ids(store)
    week = SparkWindow.ending(NOW, 10_080)
    assert rollup_series(store, ids, week) == raw_series(store, ids, week)


async def test_a_resent_event_is_counted_once(store: Store, writer: Writer) -> None:
    first = error(store, ts=NOW - MIN, event_id="e-1")
    first.id_from_client = True
    again = error(store, ts=NOW - MIN, event_id="e-1")
    again.id_from_client = True
    await writer.write([first])
    await writer.write([again])
    window = SparkWindow.ending(NOW, 60)
    assert sum(rollup_series(store, issue_ids(store), window)[issue_ids(store)[0]]) == 1
