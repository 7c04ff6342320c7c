"""Restarts and crashes on both engines: the state is in the store, committed with the notifications
it causes, so a new dispatcher neither repeats nor loses one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from sqlalchemy.engine import Connection

from syncmon.alerting.dispatcher import Dispatcher
from tests.alerting.incident_support import (
    PUBLIC_URL,
    T0,
    EngineTransactor,
    Harness,
    add_policy,
    alert,
    firing,
    resolved,
)
from tests.conftest import Store

T = TypeVar("T")
MIN = 60_000


@pytest.fixture
def harness(store: Store) -> Iterator[Harness]:
    h = Harness(store.engine)
    add_policy(
        store.engine,
        [
            {"timeout_ms": 5 * MIN, "targets": [{"channel_id": 1}]},
            {"timeout_ms": 5 * MIN, "targets": [{"channel_id": 2}]},
        ],
    )
    yield h
    h.close()


async def test_group_wait_survives_a_restart(harness: Harness) -> None:
    a = alert("SlowPages", "warning")
    await harness.handle(firing(a))
    await harness.at(10)
    harness.restart()
    await harness.run_until(40, step=5)  # group_wait ends at 30, in the new process
    harness.restart()
    await harness.run_until(200, step=20)
    assert [(s.channel_id, s.action, s.at_s) for s in harness.sent()] == [(1, "trigger", 30.0)]


async def test_escalation_and_resolve_across_restarts(harness: Harness) -> None:
    a = alert("HighErrorRate", "critical")
    await harness.handle(firing(a))
    harness.restart()
    await harness.run_until(290, step=10)
    harness.restart()
    await harness.run_until(310, step=10)  # level 2 at 300, once
    harness.restart()
    harness.clock.ms = T0 + 320_000
    await harness.dispatcher.handle([resolved(a, T0 + 320_000)])
    harness.restart()
    await harness.run_until(600, step=10)
    harness.restart()
    await harness.run_until(5 * 3600, step=900)
    assert [(s.channel_id, s.action, s.at_s) for s in harness.sent()] == [
        (1, "trigger", 0.0),
        (2, "trigger", 300.0),
        (1, "resolve", 320.0),
        (2, "resolve", 320.0),
    ]


async def test_repeat_interval_counts_from_the_stored_notification(store: Store) -> None:
    """Alertmanager #2339: the repeat timer survives a restart: no early repeat, none lost."""
    harness = Harness(store.engine)
    try:
        add_policy(store.engine, [{"timeout_ms": 86_400_000, "targets": [{"channel_id": 5}]}])
        await harness.handle(firing(alert("HighErrorRate", "critical")))
        for second in (3600, 2 * 3600, 4 * 3600 - 1):
            harness.restart()
            await harness.at(second)
        harness.restart()
        await harness.at(4 * 3600)
        harness.restart()
        await harness.run_until(8 * 3600 - 1, step=1800)
        harness.restart()
        await harness.at(8 * 3600)
        assert [(s.channel_id, s.at_s) for s in harness.sent()] == [
            (5, 0.0),
            (5, 4 * 3600.0),
            (5, 8 * 3600.0),
        ]
    finally:
        harness.close()


class CrashBeforeCommit:
    """A transactor whose next `crashes` transactions do all their work and then fail before
    committing, as a process killed between the work and the commit."""

    def __init__(self, inner: EngineTransactor, crashes: int) -> None:
        self.inner = inner
        self.crashes = crashes

    async def run(self, fn: Callable[[Connection], T]) -> T:
        if self.crashes == 0:
            return await self.inner.run(fn)
        self.crashes -= 1

        def then_crash(conn: Connection) -> T:
            fn(conn)
            raise RuntimeError("killed before commit")

        return await self.inner.run(then_crash)


async def test_a_pass_that_dies_before_commit_sends_nothing_and_loses_nothing(
    store: Store, harness: Harness
) -> None:
    a = alert("HighErrorRate", "critical")
    crashing = Dispatcher(
        CrashBeforeCommit(EngineTransactor(store.engine), crashes=1),
        harness.clock,
        sink=harness.outbox,
        public_url=PUBLIC_URL,
    )
    with pytest.raises(RuntimeError):
        await crashing.handle([firing(a)])
    assert harness.sent() == []  # the outbox rows rolled back with the state
    # the rules engine hands the transition over again after its own restart …
    await harness.handle(firing(a))
    await harness.handle(firing(a))  # … even twice: the second is no change
    await harness.run_until(60, step=10)
    assert [(s.channel_id, s.action, s.at_s) for s in harness.sent()] == [(1, "trigger", 0.0)]

    # a tick that dies before its commit: the level-2 page is sent by the next tick, once
    crashing = Dispatcher(
        CrashBeforeCommit(EngineTransactor(store.engine), crashes=1),
        harness.clock,
        sink=harness.outbox,
        public_url=PUBLIC_URL,
    )
    harness.clock.ms = T0 + 300_000
    with pytest.raises(RuntimeError):
        await crashing.tick()
    assert len(harness.sent()) == 1
    await harness.at(301)
    await harness.at(302)
    assert [(s.channel_id, s.at_s) for s in harness.sent()[1:]] == [(2, 301.0)]
