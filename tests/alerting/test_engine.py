"""The AlertEngine over a real store and writer, on both engines: transitions in the batch that
carries the crossing event, persistence across restarts (no duplicate FIRING, a resolve
during downtime emitted, un-notified transitions handed over), rule changes, seeding from
the store (replay, rollups, heartbeats) and detections.

Time is a ManualClock; events carry receive times from it. Each "restart" is a new engine
over the same store, as after a process restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from syncmon.alerting import engine as engine_module
from syncmon.alerting import rule_store, seeding, state_store
from syncmon.alerting.engine import AlertEngine
from syncmon.alerting.model import AlertState, Transition
from syncmon.alerting.spec import parse_rule
from syncmon.clock import ManualClock
from syncmon.errors.issue_store import assign_issues
from syncmon.events import Event, Kind
from syncmon.metrics import sketch_rollups
from syncmon.metrics.rollups import apply_count_rollups
from syncmon.pipeline.feed import Feed
from syncmon.pipeline.writer import Writer
from syncmon.security.detection import Detection, Severity
from syncmon.store.schema import alert_history, alert_states
from tests.conftest import Store

T0 = 1_767_225_600_000  # a whole minute
SEC = 1000
MIN = 60 * SEC

FAILED_CHECKOUTS = {
    "kind": "count",
    "name": "failed_checkouts",
    "select": {"kind": "custom", "names": ["checkout_failed"]},
    "window": "1m",
    "threshold": 3,
    "severity": "critical",
}


@dataclass
class Harness:
    store: Store
    writer: Writer
    clock: ManualClock
    heard: list[Transition] = field(default_factory=list)
    fail_hand_over: bool = False

    async def read(self, fn: Any) -> Any:
        def call() -> Any:
            with self.store.engine.connect() as conn:
                return fn(conn)

        return await asyncio.to_thread(call)

    async def on_transitions(self, transitions: list[Transition]) -> None:
        if self.fail_hand_over:
            raise RuntimeError("routing is down")
        self.heard.extend(transitions)

    async def engine(self, *, start: bool = True, replay_ms: int = 3_600_000) -> AlertEngine:
        """A fresh engine over the same store: a restart."""
        engine = AlertEngine(
            read=self.read,
            writer=self.writer,
            clock=self.clock,
            on_transitions=self.on_transitions,
            replay_ms=replay_ms,
            generator_url="http://monitor.test/api/v1/alerts/rules/{rule_id}",
        )
        if start:
            await engine.start()
        return engine

    def rule(self, raw: dict[str, Any], project_id: int | None = None) -> int:
        with self.store.engine.begin() as conn:
            created = rule_store.create_rule(
                conn, project_id or self.store.project.id, parse_rule(raw), self.clock.now_ms()
            )
        return created.id

    def event(self, name: str, kind: str = Kind.CUSTOM.value, **fields: Any) -> Event:
        now = self.clock.now_ms()
        return Event(self.store.project.id, kind, name, now, now, **fields)

    async def commit(self, events: list[Event]) -> list[Event]:
        await self.writer.write(events)
        return events

    def states(self) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(alert_states)))

    def history(self) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(alert_history).order_by(alert_history.c.id)))


@pytest.fixture
async def harness(store: Store) -> AsyncIterator[Harness]:
    writer = Writer(store.engine, before=[assign_issues], hooks=[apply_count_rollups, sketch_rollups.hook])
    writer.start()
    try:
        yield Harness(store, writer, ManualClock(T0))
    finally:
        await asyncio.to_thread(writer.stop)


def firing(transitions: list[Transition], name: str) -> list[Transition]:
    return [
        t for t in transitions if t.alert.labels["alertname"] == name and t.alert.state is AlertState.FIRING
    ]


async def test_the_crossing_event_fires_in_its_own_batch(harness: Harness) -> None:
    rule_id = harness.rule(FAILED_CHECKOUTS)
    engine = await harness.engine()
    below = await harness.commit([harness.event("checkout_failed") for _ in range(3)])
    assert await engine.process(below) == []
    harness.clock.advance(5)
    crossing = await harness.commit([harness.event("checkout_failed")])
    transitions = await engine.process(crossing)
    (fired,) = transitions
    assert fired.previous is AlertState.INACTIVE and fired.alert.state is AlertState.FIRING
    assert fired.at_ms == T0 + 5 * SEC and fired.alert.starts_ms == T0 + 5 * SEC
    assert fired.alert.labels == {
        "alertname": "failed_checkouts",
        "severity": "critical",
        "project": harness.store.project.slug,
        "rule_id": str(rule_id),
    }
    assert fired.alert.value == 4
    assert fired.alert.generator_url == f"http://monitor.test/api/v1/alerts/rules/{rule_id}"
    assert harness.heard == transitions  # handed over before process() returned
    (state,) = harness.states()
    assert (state.state, state.fired_ms, state.value) == ("firing", T0 + 5 * SEC, 4)
    (row,) = harness.history()
    assert (row.previous, row.state, row.project_id, row.notified) == (
        "inactive",
        "firing",
        harness.store.project.id,
        True,
    )


async def test_a_restart_does_not_fire_again_and_forgets_nothing(harness: Harness) -> None:
    harness.rule(FAILED_CHECKOUTS)
    first = await harness.engine()
    await first.process(await harness.commit([harness.event("checkout_failed") for _ in range(5)]))
    assert len(firing(harness.heard, "failed_checkouts")) == 1
    since = first.current_alerts()[0]["since"]

    harness.clock.advance(20)  # down for 20 s; the events are still in the window
    harness.heard.clear()
    second = await harness.engine()
    await second.tick()
    assert harness.heard == []
    (alert,) = [a for a in second.current_alerts() if a["labels"]["alertname"] == "failed_checkouts"]
    assert (alert["state"], alert["since"], alert["value"]) == ("firing", since, 5)
    assert len(harness.history()) == 1


async def test_a_resolve_during_downtime_is_emitted_after_the_restart(harness: Harness) -> None:
    harness.rule(FAILED_CHECKOUTS)
    first = await harness.engine()
    await first.process(await harness.commit([harness.event("checkout_failed") for _ in range(5)]))
    harness.clock.advance(120)  # down for two minutes: the window emptied meanwhile
    harness.heard.clear()
    await harness.engine()
    (resolved,) = harness.heard
    assert resolved.previous is AlertState.FIRING and resolved.alert.state is AlertState.RESOLVED
    assert resolved.alert.ends_ms == T0 + 120 * SEC and resolved.alert.starts_ms == T0
    assert [(h.previous, h.state) for h in harness.history()] == [
        ("inactive", "firing"),
        ("firing", "resolved"),
    ]
    (state,) = harness.states()
    assert state.state == "resolved"


async def test_transitions_not_handed_over_before_a_crash_are_handed_over_at_start(harness: Harness) -> None:
    harness.rule(FAILED_CHECKOUTS)
    first = await harness.engine()
    harness.fail_hand_over = True
    await first.process(await harness.commit([harness.event("checkout_failed") for _ in range(4)]))
    assert harness.heard == [] and not harness.history()[0].notified
    # the process dies here; routing is back at the restart
    harness.fail_hand_over = False
    await harness.engine()
    (again,) = harness.heard
    assert again.alert.state is AlertState.FIRING and again.at_ms == T0
    assert again.alert.labels["alertname"] == "failed_checkouts"
    assert harness.history()[0].notified
    harness.heard.clear()
    await harness.engine()
    assert harness.heard == []  # handed over once


async def test_a_failed_hand_over_is_retried_on_the_tick(harness: Harness) -> None:
    harness.rule(FAILED_CHECKOUTS)
    engine = await harness.engine()
    harness.fail_hand_over = True
    await engine.process(await harness.commit([harness.event("checkout_failed") for _ in range(4)]))
    harness.fail_hand_over = False
    await engine.tick()
    assert len(firing(harness.heard, "failed_checkouts")) == 1
    await engine.tick()
    assert len(firing(harness.heard, "failed_checkouts")) == 1


async def test_a_pending_alert_keeps_counting_its_for_across_a_restart(harness: Harness) -> None:
    harness.rule({**FAILED_CHECKOUTS, "window": "10m", "for": "2m"})
    first = await harness.engine()
    await first.process(await harness.commit([harness.event("checkout_failed") for _ in range(4)]))
    assert [t.alert.state for t in harness.heard] == [AlertState.PENDING]
    harness.clock.advance(60)
    second = await harness.engine()
    assert [a["state"] for a in second.current_alerts()] == ["pending"]
    harness.clock.advance(60)
    await second.tick()
    assert firing(harness.heard, "failed_checkouts")[0].alert.starts_ms == T0 + 2 * MIN
    assert second.current_alerts()[0]["active_since"] == T0 / 1000


async def test_rule_changes_reseed_resolve_and_delete(harness: Harness) -> None:
    rule_id = harness.rule({**FAILED_CHECKOUTS, "threshold": 10})
    engine = await harness.engine()
    await engine.process(await harness.commit([harness.event("checkout_failed") for _ in range(5)]))
    assert harness.heard == []
    with harness.store.engine.begin() as conn:
        rule_store.update_rule(conn, rule_id, parse_rule({**FAILED_CHECKOUTS, "threshold": 4}), T0)
    await engine.tick()  # picks the change up by itself; the new windows are filled from the store
    (fired,) = firing(harness.heard, "failed_checkouts")
    assert fired.alert.value == 5
    with harness.store.engine.begin() as conn:
        rule_store.delete_rule(conn, rule_id, T0)
    transitions = await engine.reload()
    assert [(t.previous, t.alert.state) for t in transitions] == [(AlertState.FIRING, AlertState.RESOLVED)]
    assert harness.states() == []


async def test_an_alert_of_a_rule_deleted_while_down_resolves_at_start(harness: Harness) -> None:
    rule_id = harness.rule(FAILED_CHECKOUTS)
    first = await harness.engine()
    await first.process(await harness.commit([harness.event("checkout_failed") for _ in range(4)]))
    with harness.store.engine.begin() as conn:
        rule_store.delete_rule(conn, rule_id, T0)
    harness.heard.clear()
    await harness.engine()
    (resolved,) = harness.heard
    assert resolved.alert.state is AlertState.RESOLVED and resolved.alert.rule_id == rule_id
    assert harness.history()[-1].project_id == harness.store.project.id
    assert harness.states() == []


async def test_a_heartbeat_remembers_the_last_event_in_the_store(harness: Harness) -> None:
    await harness.commit([harness.event("nightly-backup", Kind.CHECK_IN.value, data={"status": "ok"})])
    harness.clock.advance(20 * 60)
    harness.rule(
        {"kind": "heartbeat", "name": "backup_missing", "absent_for": "30m",
         "select": {"kind": "check_in", "names": ["nightly-backup"]}}
    )  # fmt: skip
    engine = await harness.engine(replay_ms=60_000)  # the event is older than the replay
    harness.clock.advance(9 * 60)
    await engine.tick()
    assert firing(harness.heard, "backup_missing") == []
    harness.clock.advance(60)
    await engine.tick()
    (fired,) = firing(harness.heard, "backup_missing")
    assert fired.alert.value == 30 * 60


async def test_burn_rate_windows_beyond_the_replay_come_from_rollups(harness: Harness) -> None:
    rule_id = harness.rule(
        {"kind": "burn_rate", "name": "slo", "sli": "requests", "objective": "99",
         "windows": [{"long": "6h", "short": "30m", "factor": "6"}]}
    )  # fmt: skip
    events = []
    for minute in range(180):  # three hours, one request a minute at :30, one in ten failing
        at = T0 + minute * MIN + 30 * SEC
        status = 500 if minute % 10 == 0 else 200
        events.append(
            Event(
                harness.store.project.id,
                Kind.REQUEST.value,
                "GET /api",
                at,
                at,
                value=20.0,
                data={"status": status},
            )
        )
    await harness.commit(events)
    harness.clock.ms = T0 + 180 * MIN
    engine = await harness.engine(replay_ms=3_600_000)
    (sample,) = engine.evaluator.rules[rule_id].logic.samples(harness.clock.now_ms())
    assert callable(sample.context)
    figures = sample.context()
    assert (figures["bad_long"], figures["total_long"]) == (18, 180)
    assert (figures["bad_short"], figures["total_short"]) == (3, 30)
    assert sample.firing  # 10 % bad is 10x a 1 % budget in both windows


async def test_detections_from_the_security_engine_fire_the_seed_security_alerts(harness: Harness) -> None:
    engine = await harness.engine()
    detection = Detection(
        rule="brute_force",
        project_id=harness.store.project.id,
        subject_type="account",
        subject="alice",
        severity=Severity.HIGH,
        confidence=1.0,
        count=12,
        first_ms=T0 - MIN,
        last_ms=T0,
        title="12 failed logins for alice from 203.0.113.66",
    )
    engine.observe_detections([detection])
    for _ in range(100):
        if harness.heard:
            break
        await asyncio.sleep(0.01)
    (fired,) = firing(harness.heard, "authentication_failure")
    assert fired.alert.labels["detection_rule"] == "brute_force"
    assert fired.alert.labels["severity"] == "critical"
    assert fired.alert.annotations["summary"] == (
        f"authentication_failure in {harness.store.project.slug}: "
        "12 failed logins for alice from 203.0.113.66 (account alice)"
    )


async def test_issue_alerts_read_the_writers_decisions(harness: Harness) -> None:
    harness.rule({"kind": "new_issue", "name": "new_issue", "severity": "warning"})
    engine = await harness.engine()
    error = harness.event(
        "TypeError",
        Kind.ERROR.value,
        message="TypeError: x is undefined",
        fingerprint="f" * 32,
        level="error",
    )
    await engine.process(await harness.commit([error]))
    (fired,) = firing(harness.heard, "new_issue")
    assert fired.alert.labels["issue_id"] == str(error.issue_id)
    harness.heard.clear()
    again = harness.event(
        "TypeError", Kind.ERROR.value, message="TypeError: x is undefined", fingerprint="f" * 32
    )
    await engine.process(await harness.commit([again]))
    assert firing(harness.heard, "new_issue") == []
    harness.heard.clear()
    await harness.engine()  # a restart replays the stored events: the same alert, no new one
    assert firing(harness.heard, "new_issue") == []


async def test_state_and_history_survive_in_the_store(harness: Harness) -> None:
    harness.rule(FAILED_CHECKOUTS)
    engine = await harness.engine()
    await engine.process(await harness.commit([harness.event("checkout_failed") for _ in range(4)]))
    harness.clock.advance(90)
    await engine.tick()
    with harness.store.engine.connect() as conn:
        rows = state_store.history(conn, state_store.HistoryQuery(project_id=harness.store.project.id))
    assert [(r["previous"], r["state"]) for r in rows] == [("firing", "resolved"), ("inactive", "firing")]
    assert (
        rows[0]["ends_at"] == (T0 + 90 * SEC) / 1000 and rows[0]["labels"]["alertname"] == "failed_checkouts"
    )


async def test_a_start_replays_at_most_the_newest_events(harness: Harness) -> None:
    await harness.commit([harness.event("checkout_failed") for _ in range(10)])
    kinds, pids = [Kind.CUSTOM.value], [harness.store.project.id]
    with harness.store.engine.connect() as conn:
        floor = seeding.replay_floor(conn, T0, kinds, pids, cap=3)
        assert len(seeding.replay_page(conn, T0, kinds, pids, floor, None)) == 3
        assert seeding.replay_floor(conn, T0, kinds, pids, cap=10) == 0


async def test_an_engine_that_cannot_start_tries_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "START_RETRY_S", 0.01)
    engine = await harness.engine(start=False)
    failures = [RuntimeError("the store is not reachable yet")]
    read = harness.read

    async def flaky_read(fn: Any) -> Any:
        if failures:
            raise failures.pop()
        return await read(fn)

    engine._read = flaky_read

    async def no_events(first: int, last: int) -> list[Event]:
        return []

    feed = Feed(no_events)
    feed.bind(asyncio.get_running_loop())
    task = asyncio.create_task(engine.run(feed))
    try:
        await asyncio.wait_for(engine.started.wait(), timeout=30)
        assert failures == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
