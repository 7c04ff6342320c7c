"""The alert engine: rules evaluated on every committed batch and on a tick, states persisted.

It subscribes to the feed like the security engine. Each batch goes to the rules that read
its events (indexed by project and kind); only the rules that took something are
evaluated, at once, so a count rule crossing its threshold fires in the batch that carried
the crossing event (ratio, percentile and burn-rate rules at most once a second:
`Evaluator.evaluate_batch`). A tick (`alert_eval_interval_seconds`) evaluates every rule, for what
only time changes: windows sliding past, `for` elapsing, keep_firing_for running out,
heartbeats going quiet. New detections arrive from the security engine's listener.

Every transition is saved (state and history, one transaction through the writer) before
it is handed to `on_transitions`, and marked notified right after (a crash in between
hands it over again at the next start: at least once, never lost). On start the engine loads
the rules and the saved states, rebuilds the windows from the store (seeding.py), hands
over transitions a crash left un-notified, and evaluates: a firing alert whose condition
still holds stays firing without a new transition, and one whose condition ended while
the server was down resolves now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from syncmon.alerting import rule_store, seeding, state_store
from syncmon.alerting.evaluator import COALESCE_MS, Evaluator
from syncmon.alerting.model import AlertState, Transition
from syncmon.alerting.rules.burn_rate import BurnRateLogic
from syncmon.alerting.rules.heartbeat import HeartbeatLogic
from syncmon.alerting.state import AlertRecord
from syncmon.clock import Clock
from syncmon.events import Event
from syncmon.pipeline.feed import Feed
from syncmon.pipeline.writer import Writer
from syncmon.security.detection import Detection
from syncmon.store import projects

log = logging.getLogger(__name__)
T = TypeVar("T")
Reader = Callable[[Callable[[Connection], T]], Awaitable[T]]
OnTransitions = Callable[[list[Transition]], Awaitable[None]]
HISTORY_STEP_MS = 3_600_000
START_RETRY_S = 5.0
EARLY_DETECTIONS_MAX = 10_000  # detections kept for the rules while the engine starts


def store_reader(engine: Engine) -> Callable[[Callable[[Connection], Any]], Awaitable[Any]]:
    """Reads in the event loop's default executor. asyncio.run joins those threads when the
    loop ends, so a read still running when the server stops (the engine's start reads a
    lot) finishes before the store is closed, instead of returning its connection to a pool
    already disposed."""

    async def read(fn: Callable[[Connection], Any]) -> Any:
        def call() -> Any:
            with engine.connect() as conn:
                return fn(conn)

        return await asyncio.to_thread(call)

    return read


class AlertEngine:
    def __init__(
        self,
        *,
        read: Callable[[Callable[[Connection], Any]], Awaitable[Any]],
        writer: Writer,
        clock: Clock,
        on_transitions: OnTransitions,
        interval_ms: int = 5000,
        replay_ms: int = 3_600_000,
        history_retention_ms: int = 90 * 86_400_000,
        generator_url: str = "",
    ) -> None:
        self._read = read
        self._writer = writer
        self._clock = clock
        self._on_transitions = on_transitions
        self._interval_ms = interval_ms
        self._replay_ms = replay_ms
        self._history_retention_ms = history_retention_ms
        self._generator_url = generator_url
        self.evaluator = Evaluator(generator_url)
        self._lock = asyncio.Lock()
        self._version: tuple[int, int, int] | None = None
        self._slugs: dict[str, int] = {}
        self._to_mark: list[int] = []
        self._failed: list[tuple[list[int], list[Transition]]] = []
        self._early_detections: list[Detection] | None = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_history_step_ms = 0
        self._deferred_pending = False
        self.started = asyncio.Event()
        self.transitions_handed_over = 0

    # --- life cycle -------------------------------------------------------------------------

    async def run(self, feed: Feed) -> None:
        """Start, then consume the feed and tick until cancelled."""
        subscription = feed.subscribe("alerting")
        ticker: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    await self.start()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("alert engine could not start; trying again in %.0f s", START_RETRY_S)
                    await asyncio.sleep(START_RETRY_S)
            ticker = asyncio.create_task(self._tick_loop())
            async for batch in subscription:
                fresh = [e for e in batch if e.seq is None or e.seq > self.evaluator.last_seq]
                try:
                    await self.process(fresh)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("alert engine failed on a batch of %d events", len(batch))
        finally:
            if ticker is not None:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
            for task in list(self._tasks):
                task.cancel()
            feed.unsubscribe(subscription)

    async def start(self) -> None:
        async with self._lock:
            now = self._clock.now_ms()
            rules = await self._load_rules()
            _, transitions = self.evaluator.set_rules(rules, now)
            records: list[AlertRecord] = await self._read(state_store.load_states)
            transitions += self.evaluator.restore(records, now)
            await self._seed(set(self.evaluator.rules), up_to_seq=None)
            early, self._early_detections = self._early_detections or [], None
            self.evaluator.observe_detections(early)
            waiting = await self._read(lambda conn: state_store.unnotified(conn, self._generator_url))
            if waiting:
                log.info("handing over %d alert transitions recorded before a restart", len(waiting))
                await self._hand_over([i for i, _ in waiting], [t for _, t in waiting])
            transitions += self.evaluator.evaluate(self._clock.now_ms())
            await self._commit(transitions, with_values=True)
            await self._mark()
        self.started.set()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_ms / 1000)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert engine tick failed")

    # --- work ----------------------------------------------------------------------------------

    async def process(self, events: list[Event]) -> list[Transition]:
        """One committed batch: the rules it touches are evaluated now."""
        if not events:
            return []
        async with self._lock:
            touched = self.evaluator.observe(events)
            if not touched:
                return []
            transitions = self.evaluator.evaluate_batch(self._clock.now_ms(), touched)
            await self._commit(transitions, with_values=False)
            self._schedule_deferred()
            return transitions

    def _schedule_deferred(self) -> None:
        """Rules a batch deferred are evaluated a moment later, whether or not more batches
        come (the delay is wall-clock: it spaces CPU work, it is not part of any rule)."""
        if self.evaluator.deferred and not self._deferred_pending:
            self._deferred_pending = True
            self._spawn(self._evaluate_deferred())

    async def _evaluate_deferred(self) -> None:
        await asyncio.sleep(COALESCE_MS / 1000)
        async with self._lock:
            self._deferred_pending = False
            transitions = self.evaluator.evaluate_deferred(self._clock.now_ms())
            await self._commit(transitions, with_values=False)

    def observe_detections(self, found: list[Detection]) -> None:
        """The security engine's listener: new detections, evaluated in a task of their own."""
        if self._early_detections is not None:
            room = EARLY_DETECTIONS_MAX - len(self._early_detections)
            self._early_detections.extend(found[: max(0, room)])
            return
        self._spawn(self._detections(list(found)))

    async def _detections(self, found: list[Detection]) -> list[Transition]:
        async with self._lock:
            touched = self.evaluator.observe_detections(found)
            if not touched:
                return []
            transitions = self.evaluator.evaluate_batch(self._clock.now_ms(), touched)
            await self._commit(transitions, with_values=False)
            return transitions

    async def tick(self) -> list[Transition]:
        """Evaluate every rule now; persist what changed; pick up rule changes."""
        async with self._lock:
            now = self._clock.now_ms()
            version = await self._read(rule_store.rules_version)
            reloaded = await self._reload(now) if version != self._version else []  # committed there
            transitions = self.evaluator.evaluate(now)
            self.evaluator.refresh_annotations()
            self.evaluator.expire(now)
            await self._commit(transitions, with_values=True)
            await self._retry_failed()
            await self._mark()
            if now - self._last_history_step_ms >= HISTORY_STEP_MS:
                self._last_history_step_ms = now
                cutoff = now - self._history_retention_ms
                await self._writer.run(lambda conn: state_store.delete_history_before(conn, cutoff))
            return reloaded + transitions

    async def reload(self) -> list[Transition]:
        """Re-read the rules now (after the API changed one)."""
        async with self._lock:
            return await self._reload(self._clock.now_ms())

    async def _reload(self, now_ms: int) -> list[Transition]:
        rules = await self._load_rules()
        fresh, transitions = self.evaluator.set_rules(rules, now_ms)
        if fresh:
            await self._seed(set(fresh), up_to_seq=self.evaluator.last_seq)
            transitions += self.evaluator.evaluate(now_ms, fresh)
        await self._commit(transitions, with_values=False)
        return transitions

    async def _load_rules(self) -> list[rule_store.StoredRule]:
        rules, problems = await self._read(rule_store.load_rules)
        for problem in problems:
            log.warning("alert rule skipped: %s", problem)
        self._version = await self._read(rule_store.rules_version)
        found = await self._read(projects.list_projects)
        self._slugs = {p.slug: p.id for p in found}
        return list(rules)

    # --- seeding -------------------------------------------------------------------------------

    async def _seed(self, rule_ids: set[int], up_to_seq: int | None) -> None:
        """Fill the windows of `rule_ids` from the store (all rules at start: `up_to_seq`
        None, and the replayed events advance the feed position)."""
        if not rule_ids:
            return
        rules = self.evaluator.rules
        now = self._clock.now_ms()
        horizon = min(self.evaluator.horizon_ms(rule_ids), self._replay_ms)
        await self._replay(rule_ids, now - horizon, up_to_seq)
        security = {i for i in rule_ids if rules[i].logic.reads_detections}
        if security:
            reach = now - max(rules[i].logic.horizon_ms for i in security)
            pids = sorted({rules[i].rule.project_id for i in security})

            def detections(conn: Connection) -> list[Detection]:
                return seeding.detections_since(conn, pids, reach)

            self.evaluator.observe_detections(await self._read(detections), security)
        for rule_id in sorted(rule_ids):
            compiled = rules[rule_id]
            logic = compiled.logic
            if isinstance(logic, HeartbeatLogic):
                await self._seed_heartbeat(compiled.rule, logic)
            elif isinstance(logic, BurnRateLogic) and logic.horizon_ms > horizon:
                await self._seed_burn_rate(compiled.rule, logic, now - logic.horizon_ms, now - horizon)

    async def _replay(self, rule_ids: set[int], since_ms: int, up_to_seq: int | None) -> None:
        kinds = sorted(self.evaluator.kinds(rule_ids))
        if not kinds:
            return
        project_ids = sorted({self.evaluator.rules[i].rule.project_id for i in rule_ids})

        def floor(conn: Connection) -> int:
            return seeding.replay_floor(conn, since_ms, kinds, project_ids)

        after = await self._read(floor)
        if after:
            log.warning("alert replay limited to the newest %d events", seeding.REPLAY_MAX_EVENTS)
        while True:

            def page_after(conn: Connection, after: int = after) -> list[Event]:
                return seeding.replay_page(conn, since_ms, kinds, project_ids, after, up_to_seq)

            page = await self._read(page_after)
            if not page:
                return
            if up_to_seq is None:
                self.evaluator.observe(page)
            else:
                self.evaluator.observe_for(rule_ids, page)
            after = page[-1].seq or after
            if len(page) < seeding.REPLAY_PAGE:
                return

    async def _seed_heartbeat(self, rule: rule_store.StoredRule, logic: HeartbeatLogic) -> None:
        select = rule.spec.select
        names = [n for n in select.names if not any(ch in n for ch in "*?[")]

        def latest(conn: Connection) -> list[Event]:
            return seeding.latest_events(conn, rule.project_id, select.kind.value, names)

        for event in reversed(await self._read(latest)):
            logic.observe(event)

    async def _seed_burn_rate(
        self, rule: rule_store.StoredRule, logic: BurnRateLogic, first_ms: int, end_ms: int
    ) -> None:
        series = seeding.burn_rate_series(rule.spec)
        if series is None:
            return
        kind, name, page = series
        first, end = seeding.minute_of(first_ms), seeding.minute_of(end_ms)
        rows = await self._read(
            lambda conn: seeding.sketch_minutes(conn, rule.project_id, kind, name, page, first, end)
        )
        for minute, count, errors, blob in rows:
            if rule.spec.sli == "requests":
                bad, total = errors, count
            else:
                bad, total = logic.good_in_sketch(blob)
            logic.seed_minute(minute * 60_000, bad, total)

    # --- persistence and hand-over ---------------------------------------------------------

    async def _commit(self, transitions: list[Transition], *, with_values: bool) -> None:
        records, gone = self.evaluator.take_changes(with_values=with_values)
        if not transitions and not records and not gone:
            return
        project_ids = {t.alert.rule_id or 0: self._project_id(t) for t in transitions}

        def save(conn: Connection) -> list[int]:
            state_store.save_states(conn, records, gone)
            return state_store.record_history(conn, transitions, project_ids)

        ids = await self._writer.run(save)
        if transitions:
            await self._hand_over(ids, transitions)
            await self._mark()  # after the hand-over: its latency does not wait for this write

    def _project_id(self, transition: Transition) -> int:
        found = self.evaluator.project_of(transition.alert.rule_id or 0)
        return found if found is not None else self._slugs.get(transition.alert.project, 0)

    async def _hand_over(self, ids: list[int], transitions: list[Transition]) -> None:
        try:
            await self._on_transitions(transitions)
        except Exception:
            log.exception("handing %d alert transitions to routing failed; will retry", len(transitions))
            self._failed.append((ids, transitions))
            return
        self.transitions_handed_over += len(transitions)
        self._to_mark.extend(ids)

    async def _retry_failed(self) -> None:
        failed, self._failed = self._failed, []
        for ids, transitions in failed:
            await self._hand_over(ids, transitions)

    async def _mark(self) -> None:
        ids, self._to_mark = self._to_mark, []
        if ids:
            await self._writer.run(lambda conn: state_store.mark_notified(conn, ids))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- reading --------------------------------------------------------------------------------

    def current_alerts(
        self, project: str | None = None, states: tuple[AlertState, ...] = ()
    ) -> list[dict[str, Any]]:
        """Pending and firing alerts (or `states`) as the API shows them, oldest first."""
        wanted = states or (AlertState.PENDING, AlertState.FIRING)
        shown = []
        for compiled, record in self.evaluator.alerts():
            if record.state not in wanted or (project is not None and compiled.rule.project != project):
                continue
            since = record.fired_ms if record.state is AlertState.FIRING else record.active_since_ms
            shown.append(
                (
                    since or 0,
                    {
                        "rule_id": record.rule_id,
                        "fingerprint": record.fingerprint,
                        "state": record.state.value,
                        "labels": dict(record.labels),
                        "annotations": dict(record.annotations),
                        "value": record.value,
                        "since": (since or 0) / 1000,
                        "active_since": record.active_since_ms / 1000,
                        "last_true": record.last_true_ms / 1000 if record.last_true_ms else None,
                        "resolved_at": record.resolved_ms / 1000 if record.resolved_ms else None,
                        "generator_url": self._generator_url.format(rule_id=record.rule_id)
                        if self._generator_url
                        else "",
                    },
                )
            )
        shown.sort(key=lambda item: (item[0], item[1]["fingerprint"]))
        return [item for _, item in shown]
