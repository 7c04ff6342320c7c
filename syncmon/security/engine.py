"""Runs the detectors over committed events and records what they find.

The engine is a feed subscriber: every committed batch becomes Signals, every detector
sees every Signal in log order, and detections are recorded through the writer. After a
restart it first replays the recent past from the store so in-flight attacks are still
seen (recording is idempotent per occurrence). Detectors are kept per project, built by
a factory, so a project's own thresholds can differ.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from syncmon.clock import Clock
from syncmon.events import Event
from syncmon.pipeline.feed import Feed
from syncmon.pipeline.writer import Writer
from syncmon.security import detection_store
from syncmon.security.detection import Detection, Detector
from syncmon.security.signals import signal_from_event

log = logging.getLogger(__name__)

DetectorFactory = Callable[[int], list[Detector]]
RecentReader = Callable[[int], Awaitable[list[Event]]]
Listener = Callable[[list[Detection]], None]
EVICT_EVERY_MS = 60_000


class SecurityEngine:
    def __init__(
        self,
        factory: DetectorFactory,
        writer: Writer,
        clock: Clock,
        *,
        read_recent: RecentReader | None = None,
        replay_ms: int = 3_600_000,
    ) -> None:
        self._factory = factory
        self._writer = writer
        self._clock = clock
        self._read_recent = read_recent
        self._replay_ms = replay_ms
        self._detectors: dict[int, list[Detector]] = {}
        self._listeners: list[Listener] = []
        self._last_evict_ms = 0
        self._latest_ms = 0  # newest signal time seen: detector time, also during a replay
        self.detections_recorded = 0

    def add_listener(self, listener: Listener) -> None:
        """Called with newly recorded detections (the alerting engine subscribes here)."""
        self._listeners.append(listener)

    def detectors_for(self, project_id: int) -> list[Detector]:
        found = self._detectors.get(project_id)
        if found is None:
            found = self._detectors[project_id] = self._factory(project_id)
        return found

    def observe(self, events: Sequence[Event]) -> list[Detection]:
        """Run every detector over a batch (pure apart from detector state)."""
        found: list[Detection] = []
        for event in events:
            signal = signal_from_event(event)
            if signal is None:
                continue
            self._latest_ms = max(self._latest_ms, signal.at_ms)
            for detector in self.detectors_for(signal.project_id):
                found.extend(detector.observe(signal))
        return found

    def evict(self, now_ms: int) -> int:
        return sum(d.evict(now_ms) for ds in self._detectors.values() for d in ds)

    async def process(self, events: Sequence[Event]) -> list[Detection]:
        found = self.observe(events)
        if found:
            now = self._clock.now_ms()
            new = await self._writer.run(lambda conn: detection_store.record_new(conn, found, now))
            self.detections_recorded += len(new)
            # Only what is new: a replay finds recorded attacks again and must not re-announce them.
            for listener in self._listeners if new else []:
                try:
                    listener(new)
                except Exception:
                    log.exception("detection listener failed")
        # Evict by the detectors' own time (signal times), so a replay of the past does not
        # drain windows it is still filling.
        if self._latest_ms - self._last_evict_ms >= EVICT_EVERY_MS:
            self._last_evict_ms = self._latest_ms
            self.evict(self._latest_ms)
        return found

    async def replay(self) -> int:
        """Feed the recent past through the detectors (after a restart); returns the highest
        sequence number replayed (0 when nothing was)."""
        if self._read_recent is None:
            return 0
        events = await self._read_recent(self._clock.now_ms() - self._replay_ms)
        for start in range(0, len(events), 1000):
            await self.process(events[start : start + 1000])
        return max((e.seq or 0 for e in events), default=0)

    async def run(self, feed: Feed) -> None:
        """Consume the feed until cancelled."""
        subscription = feed.subscribe("security")
        try:
            replayed = await self.replay()
            async for batch in subscription:
                # Batches committed while the replay read the store may hold events it saw.
                fresh = [e for e in batch if e.seq is None or e.seq > replayed]
                try:
                    await self.process(fresh)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("security engine failed on a batch of %d events", len(batch))
        finally:
            feed.unsubscribe(subscription)
