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
import sqlalchemy as sa

from syncmon.clock import ManualClock, SystemClock
from syncmon.events import Event, Kind
from syncmon.metrics.rollups import apply_count_rollups
from syncmon.pipeline.feed import Feed
from syncmon.pipeline.writer import Writer
from syncmon.security import config_store, detection_store
from syncmon.security.detection import Detection, Severity
from syncmon.security.detector_config import ProjectConfig, RuleConfig, validate
from syncmon.security.detectors.auth import BruteForce
from syncmon.security.engine import SecurityEngine
from syncmon.store import eventlog, projects
from syncmon.store.schema import audit_log
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
            self.writer,
            self.clock,
            read_recent=self.read_recent if replay else None,
            read_config=self.read_config,
            config_poll_ms=10 * SEC,
            replay_ms=3_600_000,
        )
        engine.add_listener(self.heard.append)
        return engine

    async def read_recent(self, since_ms: int) -> list[Event]:
        def read() -> list[Event]:
            with self.store.engine.connect() as conn:
                return eventlog.events_received_since(conn, since_ms, KINDS)

        return await asyncio.to_thread(read)

    async def read_config(self) -> dict[int, ProjectConfig]:
        def read() -> dict[int, ProjectConfig]:
            with self.store.engine.connect() as conn:
                return dict(config_store.load_all(conn))

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
            # Listeners hear of a detection once its write has returned to the engine.
            if harness.heard:
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


# Per-project configuration.


def save_config(store: Store, project_id: int, rule: str, config: RuleConfig) -> None:
    with store.engine.begin() as conn:
        config_store.save(conn, project_id, f"p{project_id}", rule, config, "test", T0)


async def test_an_override_changes_what_fires(harness: Harness) -> None:
    pid = harness.store.project.id
    save_config(harness.store, pid, "brute_force", validate("brute_force", True, {"fast.capacity": 2}))
    engine = harness.engine()
    await engine.refresh_config(force=True)
    # Capacity 2 instead of 5: the third failure a second apart fires, not the sixth.
    found = await engine.process(await harness.commit(failures(pid, T0, 3)))
    assert [(d.rule, d.count) for d in found] == [("brute_force", 3)]
    assert [(d.rule, d.count) for d in harness.detections()] == [("brute_force", 3)]


async def test_a_disabled_rule_stops_firing(harness: Harness) -> None:
    pid = harness.store.project.id
    save_config(harness.store, pid, "brute_force", RuleConfig(enabled=False))
    engine = harness.engine()
    await engine.refresh_config(force=True)
    assert await engine.process(await harness.commit(failures(pid, T0, 12))) == []
    assert "brute_force" not in [d.rule for d in engine.detectors_for(pid)]
    # Back on (through the API's path): it runs again, from an empty window.
    engine.configure(pid, {})
    found = await engine.process(await harness.commit(failures(pid, T0 + 20 * SEC, 6)))
    assert [(d.rule, d.count) for d in found] == [("brute_force", 6)]


async def test_a_change_rebuilds_only_that_rule_of_that_project(harness: Harness) -> None:
    main = harness.store.project.id
    with harness.store.engine.begin() as conn:
        other = projects.create_project(conn, "other", SystemClock().now_ms()).id
    engine = harness.engine()
    await engine.process(
        await harness.commit([failure(p, T0 + i * SEC) for i in range(3) for p in (main, other)])
    )
    before = {d.rule: d for d in engine.detectors_for(main)}

    # Another rule of the same project changes: brute force keeps its three failures.
    assert engine.configure(main, {"http_probing": RuleConfig(True, {"bucket.capacity": 3})}) == [
        "http_probing"
    ]
    after = {d.rule: d for d in engine.detectors_for(main)}
    assert after["brute_force"] is before["brute_force"]
    assert after["http_probing"] is not before["http_probing"]
    found = await engine.process(await harness.commit(failures(main, T0 + 3 * SEC, 3)))
    assert [(d.project_id, d.rule, d.count) for d in found] == [(main, "brute_force", 6)]

    # Brute force itself changes in `main`: its windows start empty there, not in `other`.
    mixed = [failure(p, T0 + (6 + i) * SEC, account="bob") for i in range(3) for p in (main, other)]
    assert await engine.process(await harness.commit(mixed)) == []
    engine.configure(
        main,
        {
            "http_probing": RuleConfig(True, {"bucket.capacity": 3}),
            "brute_force": RuleConfig(True, {"fast.quiet_ms": 1_000}),
        },
    )
    mixed = [failure(p, T0 + (9 + i) * SEC, account="bob") for i in range(3) for p in (main, other)]
    found = await engine.process(await harness.commit(mixed))
    assert [(d.project_id, d.subject, d.count) for d in found] == [(other, "bob", 6)]


async def test_store_changes_apply_after_the_poll_interval(harness: Harness) -> None:
    pid = harness.store.project.id
    engine = harness.engine()
    await engine.refresh_config(force=True)
    assert engine.configuration(pid) == {}
    disabled = {"brute_force": RuleConfig(enabled=False)}
    save_config(harness.store, pid, "brute_force", disabled["brute_force"])
    await engine.refresh_config()
    assert engine.configuration(pid) == {}  # polled less than 10 s ago
    harness.clock.advance(10)
    await engine.refresh_config()
    assert engine.configuration(pid) == disabled
    # A reset in the store (the row deleted) is seen too.
    with harness.store.engine.begin() as conn:
        assert config_store.reset(conn, pid, "p", "brute_force", "test", T0)
    harness.clock.advance(10)
    await engine.refresh_config()
    assert engine.configuration(pid) == {}


async def test_a_poll_does_not_undo_a_change_made_while_it_read(harness: Harness) -> None:
    pid = harness.store.project.id
    engine: SecurityEngine | None = None
    changed = {"xss_probe": RuleConfig(enabled=False)}

    async def slow_read() -> dict[int, ProjectConfig]:
        stale = await harness.read_config()
        assert engine is not None
        engine.configure(pid, changed)  # an API change lands while the poll reads
        return stale

    engine = SecurityEngine(harness.writer, harness.clock, read_config=slow_read)
    await engine.refresh_config(force=True)
    assert engine.configuration(pid) == changed


async def test_configuration_is_stored_and_audited(harness: Harness) -> None:
    pid = harness.store.project.id
    config = validate("sql_injection", True, {"certain_severity": "critical", "bucket.capacity": 20})
    save_config(harness.store, pid, "sql_injection", config)
    save_config(harness.store, pid, "xss_probe", RuleConfig(enabled=False))
    with harness.store.engine.begin() as conn:
        assert config_store.load_all(conn) == {pid: {"sql_injection": config, "xss_probe": RuleConfig(False)}}
        stored = config_store.load_project(conn, pid)["sql_injection"]
        assert (stored.updated_ms, stored.updated_by) == (T0, "test")
        assert config_store.reset(conn, pid, "p", "xss_probe", "test", T0 + 1)
        assert not config_store.reset(conn, pid, "p", "xss_probe", "test", T0 + 2)
        assert config_store.load_all(conn) == {pid: {"sql_injection": config}}
        audit = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.target, audit_log.c.details)
            .where(audit_log.c.action.like("detector.%"))
            .order_by(audit_log.c.id)
        ).all()
    assert [(a, t) for a, t, _ in audit] == [
        ("detector.configure", f"p{pid}:sql_injection"),
        ("detector.configure", f"p{pid}:xss_probe"),
        ("detector.reset", "p:xss_probe"),
    ]
    assert audit[0][2] == {
        "before": None,
        "after": {"enabled": True, "parameters": {"bucket.capacity": 20, "certain_severity": "critical"}},
    }
