"""Runs the detectors over committed events and records what they find.

The engine is a feed subscriber: every committed batch becomes Signals, each project's
detectors see its Signals in log order, and detections are recorded through the writer.
After a restart it first replays the recent past from the store so in-flight attacks are
still seen (recording is idempotent per occurrence).

Each project runs its own configuration (`detector_config`: rules on or off, parameters
overridden). A change applies at once when made through the API (`configure`); changes
made elsewhere (the CLI, another instance) are read from the store at most every
`config_poll_ms`, before a batch is processed. Only the rules whose configuration changed
are rebuilt, with empty windows; every other rule, and every other project, keeps its state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from syncmon.clock import Clock
from syncmon.events import Event
from syncmon.pipeline.feed import Feed
from syncmon.pipeline.writer import Writer
from syncmon.security import detection_store
from syncmon.security.detection import Detection
from syncmon.security.detector_config import DEFAULT, ProjectConfig, build, build_set
from syncmon.security.detector_set import DetectorSet
from syncmon.security.registry import RULES
from syncmon.security.signals import signal_from_event

log = logging.getLogger(__name__)

RecentReader = Callable[[int], Awaitable[list[Event]]]
ConfigReader = Callable[[], Awaitable[Mapping[int, ProjectConfig]]]
Listener = Callable[[list[Detection]], None]
EVICT_EVERY_MS = 60_000


class SecurityEngine:
    def __init__(
        self,
        writer: Writer,
        clock: Clock,
        *,
        read_recent: RecentReader | None = None,
        read_config: ConfigReader | None = None,
        config_poll_ms: int = 10_000,
        replay_ms: int = 3_600_000,
    ) -> None:
        self._writer = writer
        self._clock = clock
        self._read_recent = read_recent
        self._read_config = read_config
        self._config_poll_ms = config_poll_ms
        self._replay_ms = replay_ms
        self._sets: dict[int, DetectorSet] = {}
        self._configs: dict[int, ProjectConfig] = {}  # applied configuration per project
        self._config_changes = 0  # bumped by configure(), so a slower poll cannot undo a change
        self._polled_ms: int | None = None
        self._listeners: list[Listener] = []
        self._last_evict_ms = 0
        self._latest_ms = 0  # newest signal time seen: detector time, also during a replay
        self.detections_recorded = 0

    def add_listener(self, listener: Listener) -> None:
        """Called with newly recorded detections (the alerting engine subscribes here)."""
        self._listeners.append(listener)

    def detectors_for(self, project_id: int) -> DetectorSet:
        found = self._sets.get(project_id)
        if found is None:
            found = self._sets[project_id] = build_set(self._configs.get(project_id, {}))
        return found

    def configuration(self, project_id: int) -> ProjectConfig:
        return self._configs.get(project_id, {})

    def configure(self, project_id: int, config: ProjectConfig) -> list[str]:
        """Apply a project's configuration (every rule; a missing one runs its defaults);
        rebuilds the rules whose configuration changed and returns their names."""
        self._config_changes += 1
        return self._apply(project_id, config)

    def _apply(self, project_id: int, config: ProjectConfig) -> list[str]:
        before = self._configs.get(project_id, {})
        changed = [rule for rule in RULES if before.get(rule, DEFAULT) != config.get(rule, DEFAULT)]
        self._configs[project_id] = {rule: c for rule, c in config.items() if not c.is_default}
        running = self._sets.get(project_id)
        if running is not None:
            for rule in changed:
                running.replace(rule, build(rule, config.get(rule, DEFAULT)), RULES)
        if changed:
            log.info("project %d: detector configuration applied to %s", project_id, ", ".join(changed))
        return changed

    async def refresh_config(self, *, force: bool = False) -> None:
        """Read every project's configuration from the store when the poll interval has
        passed (or `force`), and apply what changed."""
        if self._read_config is None:
            return
        now = self._clock.now_ms()
        if not force and self._polled_ms is not None and now - self._polled_ms < self._config_poll_ms:
            return
        self._polled_ms = now
        changes = self._config_changes
        try:
            stored = await self._read_config()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reading detector configurations failed; the ones applied stay")
            return
        if changes != self._config_changes:
            return  # configure() ran while we read: what we read may be older; next poll
        for project_id in set(stored) | set(self._configs):
            self._apply(project_id, stored.get(project_id, {}))

    def observe(self, events: Sequence[Event]) -> list[Detection]:
        """Run every project's detectors over a batch (pure apart from detector state)."""
        found: list[Detection] = []
        for event in events:
            signal = signal_from_event(event)
            if signal is None:
                continue
            if signal.at_ms > self._latest_ms:
                self._latest_ms = signal.at_ms
            detections = self.detectors_for(signal.project_id).observe(signal)
            if detections:
                found.extend(detections)
        return found

    def evict(self, now_ms: int) -> int:
        return sum(detectors.evict(now_ms) for detectors in self._sets.values())

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
        await self.refresh_config(force=True)
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
                    await self.refresh_config()
                    await self.process(fresh)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("security engine failed on a batch of %d events", len(batch))
        finally:
            feed.unsubscribe(subscription)
