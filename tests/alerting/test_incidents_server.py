"""The layer as the server runs it: passes on the single Writer, and the tick loop the app starts."""

from __future__ import annotations

import asyncio
import time

from syncmon.alerting.dispatcher import Dispatcher
from syncmon.pipeline.writer import Writer
from tests.alerting.incident_support import (
    PUBLIC_URL,
    Harness,
    add_policy,
    alert,
    firing,
    live_alerting,
    resolved,
)
from tests.conftest import Store


async def test_passes_run_on_the_writer(store: Store) -> None:
    harness = Harness(store.engine)
    writer = Writer(store.engine)
    writer.start()
    try:
        add_policy(store.engine, [{"timeout_ms": 60_000, "targets": [{"channel_id": 1}]}])
        wakes: list[int] = []
        dispatcher = Dispatcher(
            writer, harness.clock, sink=harness.outbox, wake=lambda: wakes.append(1), public_url=PUBLIC_URL
        )
        a = alert("HighErrorRate", "critical")
        # a pass per alert change, concurrently, as the rules engine and the tick loop may do
        await asyncio.gather(dispatcher.handle([firing(a)]), dispatcher.tick(), dispatcher.tick())
        assert [s.action for s in harness.sent()] == ["trigger"]
        harness.clock.advance(10)
        await dispatcher.handle([resolved(a, harness.clock.ms)])
        harness.clock.advance(300)
        await dispatcher.tick()
        assert [s.action for s in harness.sent()] == ["trigger", "resolve"]
        assert len(wakes) == 2
    finally:
        writer.stop()
        harness.close()


async def test_the_app_ticks_by_itself(store: Store) -> None:
    """The lifespan starts the tick loop: a warning's group_wait ends on the server's own tick."""
    with live_alerting(store, tick_seconds=0.05) as env:
        add_policy(store.engine, [{"timeout_ms": 60_000, "targets": [{"channel_id": 1}]}])
        await env.harness.handle(firing(alert("SlowPages", "warning")))
        assert env.harness.sent() == []
        env.clock.advance(30)
        deadline = time.monotonic() + 20
        while not env.harness.sent() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [(s.channel_id, s.action, s.at_s) for s in env.harness.sent()] == [(1, "trigger", 30.0)]
