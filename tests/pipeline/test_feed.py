"""The committed-batch feed: fast subscribers live, slow ones catch up from the store."""

from __future__ import annotations

import asyncio

from syncmon.events import Event
from syncmon.pipeline.feed import Feed
from syncmon.telemetry import Telemetry


def batch(first_seq: int, size: int) -> list[Event]:
    return [
        Event(project_id=1, kind="custom", name="e", timestamp_ms=0, received_ms=0, seq=first_seq + i)
        for i in range(size)
    ]


class FakeLog:
    """Stands in for the store: every published event, readable by seq range."""

    def __init__(self) -> None:
        self.events: dict[int, Event] = {}
        self.reads: list[tuple[int, int]] = []

    def add(self, events: list[Event]) -> list[Event]:
        for event in events:
            assert event.seq is not None
            self.events[event.seq] = event
        return events

    async def read(self, first: int, last: int) -> list[Event]:
        self.reads.append((first, last))
        return [self.events[s] for s in sorted(self.events) if first <= s <= last]


async def test_subscribers_receive_batches_in_order() -> None:
    log = FakeLog()
    feed = Feed(log.read, max_batches=10)
    feed.bind(asyncio.get_running_loop())
    one, two = feed.subscribe("one"), feed.subscribe("two")
    feed.publish(log.add(batch(1, 3)))
    feed.publish(log.add(batch(4, 2)))
    await asyncio.sleep(0)
    for subscription in (one, two):
        first = await subscription.next_batch()
        second = await subscription.next_batch()
        assert [e.seq for e in first + second] == [1, 2, 3, 4, 5]
    assert log.reads == []


async def test_a_slow_subscriber_loses_nothing_and_keeps_log_order() -> None:
    log = FakeLog()
    telemetry = Telemetry()
    feed = Feed(log.read, max_batches=2, telemetry=telemetry)
    feed.bind(asyncio.get_running_loop())
    slow = feed.subscribe("slow")
    for n in range(10):
        feed.publish(log.add(batch(1 + n * 3, 3)))
    await asyncio.sleep(0)
    seen: list[int] = []
    while len(seen) < 30:
        seen.extend(e.seq or 0 for e in await slow.next_batch())
    assert seen == list(range(1, 31))
    assert log.reads == [(7, 30)]
    assert (
        telemetry.registry.get_sample_value("syncmon_feed_batches_replayed_total", {"subscriber": "slow"})
        == 8
    )

    # Once caught up it is live again.
    feed.publish(log.add(batch(31, 1)))
    await asyncio.sleep(0)
    assert [e.seq for e in await slow.next_batch()] == [31]


async def test_publishing_does_not_wait_for_subscribers() -> None:
    log = FakeLog()
    feed = Feed(log.read, max_batches=1)
    feed.bind(asyncio.get_running_loop())
    feed.subscribe("never-reads")
    for n in range(1000):
        feed.publish(log.add(batch(1 + n, 1)))
    await asyncio.sleep(0)  # all 1000 fan-outs ran without any subscriber reading


async def test_closing_ends_iteration() -> None:
    log = FakeLog()
    feed = Feed(log.read)
    feed.bind(asyncio.get_running_loop())
    subscription = feed.subscribe("s")

    async def consume() -> int:
        count = 0
        async for events in subscription:
            count += len(events)
        return count

    task = asyncio.create_task(consume())
    feed.publish(log.add(batch(1, 2)))
    await asyncio.sleep(0.01)
    feed.close()
    assert await asyncio.wait_for(task, 5) == 2
