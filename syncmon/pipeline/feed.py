"""Fan-out of committed batches to in-process subscribers (detectors, rules, live pages).

Publishing never waits on a subscriber. Each subscription buffers a bounded number of
batches; when a slow subscriber's buffer is full, the batches it misses are not lost:
the subscription remembers the range of sequence numbers it skipped and, once the
subscriber has drained its buffer, reads that range back from the store. Ingest speed
is independent of subscriber speed, and every subscriber still sees every event in
log order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from syncmon.events import Event
from syncmon.telemetry import Telemetry

log = logging.getLogger(__name__)

RangeReader = Callable[[int, int], Awaitable[list[Event]]]


class Subscription:
    def __init__(self, name: str, max_batches: int, reader: RangeReader, telemetry: Telemetry) -> None:
        self.name = name
        self._max = max_batches
        self._reader = reader
        self._telemetry = telemetry
        self._buffer: deque[list[Event]] = deque()
        self._gap: tuple[int, int] | None = None
        self._gap_batches = 0
        self._ready = asyncio.Event()
        self.closed = False

    def offer(self, batch: list[Event]) -> None:
        """Called on the event loop for each committed batch."""
        if self.closed:
            return
        if self._gap is not None or len(self._buffer) >= self._max:
            seqs = [e.seq for e in batch if e.seq is not None]
            if seqs:
                first, last = min(seqs), max(seqs)
                if self._gap is None:
                    self._gap = (first, last)
                else:
                    self._gap = (min(self._gap[0], first), max(self._gap[1], last))
                self._gap_batches += 1
        else:
            self._buffer.append(batch)
        self._ready.set()

    async def next_batch(self) -> list[Event]:
        """The next committed batch in log order; waits until there is one."""
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._gap is not None:
                first, last = self._gap
                self._gap = None
                self._telemetry.feed_lagged.labels(self.name).inc(self._gap_batches)
                self._gap_batches = 0
                log.warning("subscriber %s fell behind; re-reading seq %d..%d", self.name, first, last)
                return await self._reader(first, last)
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> list[Event]:
        return await self.next_batch()

    def close(self) -> None:
        self.closed = True
        self._ready.set()


class Feed:
    def __init__(self, reader: RangeReader, *, max_batches: int = 256, telemetry: Telemetry | None = None):
        self._reader = reader
        self._max = max_batches
        self._telemetry = telemetry or Telemetry()
        self._subscriptions: list[Subscription] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, name: str) -> Subscription:
        subscription = Subscription(name, self._max, self._reader, self._telemetry)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish(self, batch: list[Event]) -> None:
        """Deliver on the loop; safe to call from the writer thread."""
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._fan_out, batch)

    def _fan_out(self, batch: list[Event]) -> None:
        for subscription in list(self._subscriptions):
            subscription.offer(batch)

    def close(self) -> None:
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
