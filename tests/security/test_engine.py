"""The SecurityEngine over a real store and writer, on both engines: recording, idempotence,
listeners, replay after a restart, and eviction by signal time.

Times come from a ManualClock and from the events' receive times; nothing sleeps except
the bounded polls while the engine's feed task catches up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest

from syncmon.clock import ManualClock, SystemClock
from syncmon.events import Event, Kind
from syncmon.metrics.rollups import apply_count_rollups
from syncmon.pipeline.feed import Feed
from syncmon.pipeline.writer import Writer
from syncmon.security import detection_store
from syncmon.security.detection import Detection, Severity
from syncmon.security.detectors.auth import BruteForce
from syncmon.security.engine import SecurityEngine
from syncmon.security.registry import default_detectors
from syncmon.store import eventlog, projects
from tests.conftest import Store

T0 = 1_767_225_600_000
SEC = 1_000
MIN = 60 * SEC
ATTACKER = "203.0.113.66"
KINDS = (Kind.SECURITY.value, Kind.REQUEST.value, Kind.ERROR.value)


def failure(project_id: int, at_ms: int, account: str = "alice", ip: str = ATTACKER) -> Event:
    return Event(
        project_id=project_id,
        kind=Kind.SECURITY.value,
        name="authn_login_fail",
        timestamp_ms=at_ms,
        received_ms=at_ms,
        user_id=account,
        client_ip=ip,
        trusted=True,
        data={"category": "authentication"},
    )


def page(project_id: int, at_ms: int, ip: str) -> Event:
    return Event(
        project_id=project_id,
        kind=Kind.REQUEST.value,
        name="GET /",
        timestamp_ms=at_ms,
        received_ms=at_ms,
        url="https://app.example/",
        client_ip=ip,
        trusted=True,
        data={"status": 200, "method": "GET"},
    )


@dataclass
class Harness:
    store: Store
    writer: Writer
    clock: ManualClock
    heard: list[list[Detection]] = field(default_factory=list)

    def engine(self, *, replay: bool = True) -> SecurityEngine:
        """A fresh engine (as after a restart) over the same store."""
        engine = SecurityEngine(
            default_detectors,
            self.writer,
            self.clock,
            read_recent=self.read_recent if replay else None,
            replay_ms=3_600_000,
        )
        engine.add_listener(self.heard.append)
        return engine

    async def read_recent(self, since_ms: int) -> list[Event]:
        def read() -> list[Event]:
            with self.store.engine.connect() as conn:
                return eventlog.events_received_since(conn, since_ms, KINDS)

        return await asyncio.to_thread(read)

    async def commit(self, events: list[Event]) -> list[Event]:
        await self.writer.write(events)
        return events

    def detections(self, project_id: int | None = None) -> list[Detection]:
        query = detection_store.DetectionQuery(project_id=project_id or self.store.project.id)
        with self.store.engine.connect() as conn:
            return [d for _, d in reversed(detection_store.find(conn, query))]

    def stored_ids(self, ids: Sequence[str]) -> set[str]:
        with self.store.engine.connect() as conn:
            return eventlog.existing_ids(conn, list(ids))


@pytest.fixture
async def harness(store: Store) -> AsyncIterator[Harness]:
    feed_log: list[list[Event]] = []
    writer = Writer(store.engine, hooks=[apply_count_rollups], on_commit=feed_log.append)
    writer.start()
    try:
        yield Harness(store, writer, ManualClock(T0))
    finally:
        await asyncio.to_thread(writer.stop)


def failures(pid: int, start_ms: int, count: int, step_ms: int = SEC, **kw: str) -> list[Event]:
    return [failure(pid, start_ms + i * step_ms, **kw) for i in range(count)]


async def test_processing_records_a_detection_and_tells_listeners(harness: Harness) -> None:
    pid = harness.store.project.id
    # Six failures a second apart: the fast brute-force bucket (capacity 5, leak 1 per 10 s)
    # is at 1, 1.9, 2.8, 3.7, 4.6, 5.5: the sixth fires.
    events = await harness.commit(failures(pid, T0, 6))
    engine = harness.engine()
    found = await engine.process(events)

    assert [(d.rule, d.subject_type, d.subject, d.severity, d.count) for d in found] == [
        ("brute_force", "account", "alice", Severity.HIGH, 6)
    ]
    assert found[0].evidence == tuple(e.id for e in events)
    assert (found[0].first_ms, found[0].last_ms, found[0].confidence) == (T0, T0 + 5 * SEC, 1.0)
    assert engine.detections_recorded == 1
    assert harness.heard == [found]
    assert harness.detections() == found
    assert harness.stored_ids(found[0].evidence) == set(found[0].evidence)


async def test_processing_the_same_events_again_records_nothing_new(harness: Harness) -> None:
    pid = harness.store.project.id
    events = await harness.commit(failures(pid, T0, 6))
    first = harness.engine()
    recorded = await first.process(events)
    assert len(recorded) == 1

    # The same engine: the account is in its quiet period.
    assert await first.process(events) == []
    # A fresh engine (a restart) finds the same occurrence again; the store keeps one.
    second = harness.engine()
    again = await second.process(events)
    assert again == recorded
    assert second.detections_recorded == 0
    assert harness.detections() == recorded
    # Listeners hear of newly recorded detections only: no second alert for one attack.
    assert harness.heard == [recorded]


async def test_a_failing_listener_does_not_stop_the_others(harness: Harness) -> None:
    pid = harness.store.project.id
    engine = harness.engine()

    def broken(_: list[Detection]) -> None:
        raise RuntimeError("listener bug")

    engine._listeners.insert(0, broken)
    found = await engine.process(await harness.commit(failures(pid, T0, 6)))
    assert len(found) == 1
    assert harness.heard == [found]
    assert harness.detections() == found


async def test_an_attack_across_a_restart_is_detected(harness: Harness) -> None:
    pid = harness.store.project.id
    before = await harness.commit(failures(pid, T0, 3))
    old = harness.engine()
    assert await old.process(before) == []

    # Restart: a new engine rebuilds its windows from the store, then the attack goes on.
    harness.clock.advance(3)
    new = harness.engine()
    replayed = await new.replay()
    assert replayed == max(e.seq or 0 for e in before)
    after = await harness.commit(failures(pid, T0 + 3 * SEC, 3))
    found = await new.process(after)

    assert [(d.rule, d.subject, d.count, d.first_ms, d.last_ms) for d in found] == [
        ("brute_force", "alice", 6, T0, T0 + 5 * SEC)
    ]
    assert found[0].evidence == tuple(e.id for e in before + after)
    assert harness.detections() == found

    # Without the replay, the three failures after the restart are not enough.
    forgetful = harness.engine(replay=False)
    assert await forgetful.replay() == 0
    assert await forgetful.process(after) == []


async def test_replay_of_a_recorded_attack_records_and_announces_nothing(harness: Harness) -> None:
    pid = harness.store.project.id
    events = await harness.commit(failures(pid, T0, 8))
    old = harness.engine()
    recorded = await old.process(events)
    assert len(recorded) == 1

    harness.clock.advance(60)
    new = harness.engine()
    await new.replay()
    assert new.detections_recorded == 0
    assert harness.detections() == recorded
    assert harness.heard == [recorded]


async def test_replay_keeps_windows_across_its_batches(harness: Harness) -> None:
    """Replay feeds the store back 1,000 events at a time and evicts between batches by the
    detectors' own time (the signals'), not the clock's: a window open at the end of one
    batch must still be there for the next, however long ago it was filled."""
    pid = harness.store.project.id
    start = T0 - 50 * MIN
    attack = T0 - 40 * MIN
    background = [page(pid, start + i * 100, f"10.0.{i // 250}.{i % 250}") for i in range(995)]
    first_half = failures(pid, attack, 3)  # seq 996-998
    filler = [page(pid, attack + 2500, "10.9.0.1"), page(pid, attack + 2600, "10.9.0.2")]  # 999-1000
    second_half = failures(pid, attack + 3 * SEC, 3)  # seq 1001-1003, the next replay batch
    later = [page(pid, attack + 10 * MIN + i * SEC, "10.9.0.3") for i in range(50)]
    for chunk in (background, first_half, filler, second_half, later):
        await harness.commit(chunk)
    assert [e.seq for e in first_half + second_half] == [996, 997, 998, 1001, 1002, 1003]

    engine = harness.engine()
    assert await engine.replay() == 1053
    found = harness.detections()
    assert [(d.rule, d.subject, d.count, d.first_ms, d.last_ms) for d in found] == [
        ("brute_force", "alice", 6, attack, attack + 5 * SEC)
    ]
    assert found[0].evidence == tuple(e.id for e in first_half + second_half)
    assert engine.detections_recorded == 1


async def test_eviction_by_signal_time_bounds_memory(harness: Harness) -> None:
    pid = harness.store.project.id
    engine = harness.engine()
    await engine.process(
        [failure(pid, T0, account=f"user{i}", ip=f"10.1.{i // 250}.{i % 250}") for i in range(500)]
    )
    brute = next(d for d in engine.detectors_for(pid) if isinstance(d, BruteForce))
    assert brute.tracked() == 1000  # a fast and a slow bucket per account

    # The clock does not move: time is the signals'. An hour later, one signal; the idle
    # accounts have drained and are evicted.
    await engine.process([failure(pid, T0 + 60 * MIN, account="late")])
    assert brute.tracked() == 2
    assert harness.clock.now_ms() == T0


async def test_detectors_are_kept_per_project(harness: Harness) -> None:
    main = harness.store.project.id
    with harness.store.engine.begin() as conn:
        other = projects.create_project(conn, "other", SystemClock().now_ms()).id
    engine = harness.engine()
    # Three failures for alice in each project: neither reaches six.
    mixed = [failure(p, T0 + i * SEC) for i in range(3) for p in (main, other)]
    assert await engine.process(await harness.commit(mixed)) == []
    found = await engine.process(await harness.commit(failures(main, T0 + 3 * SEC, 3)))
    assert [(d.project_id, d.rule, d.count) for d in found] == [(main, "brute_force", 6)]
    assert harness.detections(other) == []


async def test_the_feed_subscriber_replays_then_follows(store: Store) -> None:
    """As in the app: events committed before the engine starts are replayed, later ones
    arrive through the feed, and none is seen twice."""
    loop = asyncio.get_running_loop()

    async def read_range(first: int, last: int) -> list[Event]:
        def read() -> list[Event]:
            with store.engine.connect() as conn:
                return eventlog.events_in_seq_range(conn, first, last)

        return await asyncio.to_thread(read)

    feed = Feed(read_range)
    feed.bind(loop)
    writer = Writer(store.engine, hooks=[apply_count_rollups], on_commit=feed.publish)
    writer.start()
    harness = Harness(store, writer, ManualClock(T0 + 10 * SEC))
    engine = harness.engine()
    task: asyncio.Task[None] | None = None
    try:
        pid = store.project.id
        before = await harness.commit(failures(pid, T0, 3))
        task = asyncio.create_task(engine.run(feed))
        after: list[Event] = []
        for i in range(3):
            after += await harness.commit(failures(pid, T0 + (3 + i) * SEC, 1))
        for _ in range(500):
            if harness.detections() and harness.heard:  # listeners are told just after the commit
                break
            await asyncio.sleep(0.01)
        found = harness.detections()
        assert [(d.rule, d.subject, d.count) for d in found] == [("brute_force", "alice", 6)]
        assert found[0].evidence == tuple(e.id for e in before + after)
        assert harness.heard == [found]
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        feed.close()
        await asyncio.to_thread(writer.stop)
