"""The delivery worker: claims due outbox rows, sends them, records every attempt.

A cycle plans in one transaction: it reads the due rows and decides, per row, to send
now, to wait (the channel's per-minute rate limit, or a webhook's pacing), or — for a
disabled or broken channel — to hand over to the fallback at once; rows to send are
claimed. Then it sends, concurrently, each send bounded by a timeout; rows for a channel
that coalesces (Slack) go out as one post. Each send's outcome is recorded, in a
transaction of its own, as soon as that send ends: the attempt goes into the delivery
log and the retry decision (`retry.decide`) is applied. So a receiver that hangs until
its timeout delays nobody else's outcome, and a crash meanwhile re-sends only what was
really still in flight.

`run` keeps up to `concurrency` sends in flight and plans again whenever a send ends,
a row falls due or `wake()` is called, without waiting for slow sends: a new page goes
out while an old one is still being retried against a hanging receiver. `run_once` is
one cycle that waits for its sends (tests, tools). Time comes from the injected clock,
so tests drive the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx
from sqlalchemy.engine import Connection, Engine

from syncmon.alerting.model import rfc3339
from syncmon.channels import codec, outbox
from syncmon.channels.base import Channel, Delivery, Notification
from syncmon.channels.http import clean
from syncmon.channels.outbox import DueRow, Outcome, Status
from syncmon.channels.registry import BuildContext, build_channel
from syncmon.channels.retry import RetryPolicy, Verdict, decide
from syncmon.clock import Clock
from syncmon.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
MINUTE_MS = 60_000
HOUR_MS = 3_600_000


class RunInTransaction(Protocol):
    """Runs `fn(conn)` in one transaction (the writer's `run`, or `transactor(engine)`)."""

    def __call__(self, fn: Callable[[Connection], T], /) -> Awaitable[T]: ...


def transactor(engine: Engine) -> RunInTransaction:
    """A RunInTransaction straight on an engine, off the event loop (tests, tools)."""

    async def run(fn: Callable[[Connection], T]) -> T:
        def call() -> T:
            with engine.begin() as conn:
                return fn(conn)

        return await asyncio.to_thread(call)

    return run


@runtime_checkable
class BatchChannel(Protocol):
    """A channel paced per destination that can send several notifications as one post."""

    pace_key: str
    min_interval_ms: int
    max_batch: int

    async def send(self, notification: Notification) -> Delivery: ...

    async def send_many(self, notifications: Sequence[Notification]) -> Delivery: ...


@dataclass(slots=True)
class _Send:
    channel: Channel
    rows: list[DueRow] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)


@dataclass(slots=True)
class _Result:
    send: _Send
    delivery: Delivery
    started_ms: int
    duration_ms: int


class DeliveryWorker:
    def __init__(
        self,
        run_in_transaction: RunInTransaction,
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
        batch_size: int = 100,
        concurrency: int = 8,
        send_timeout_s: float = 30.0,
        poll_interval_s: float = 5.0,
        retention_ms: int = 30 * 86_400_000,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._run = run_in_transaction
        self._clock = clock
        self.policy = policy or RetryPolicy()
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._send_timeout_s = send_timeout_s
        self._lease_ms = int(send_timeout_s * 1000) + MINUTE_MS
        self._poll_interval_s = poll_interval_s
        self._retention_ms = retention_ms
        self._http = http
        self._own_http = http is None
        self._channels: dict[tuple[int, int, str | None], Channel] = {}
        self._paced_until: dict[str, int] = {}
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._next_prune_ms = 0
        self._in_flight: set[asyncio.Task[None]] = set()

    # -- waking ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the outbox now (call after committing an enqueue); safe from any thread."""
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Deliver until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._event = asyncio.Event()
        await self.recover()
        try:
            while True:
                self._event.clear()
                delay = self._poll_interval_s
                free = self._concurrency - len(self._in_flight)
                if free > 0:
                    try:
                        delay = min(delay, await self._start_cycle(free))
                        await self._prune()
                    except Exception:
                        log.exception("delivery cycle failed; trying again shortly")
                        delay = min(delay, 1.0)
                if delay > 0 or len(self._in_flight) >= self._concurrency:
                    # A send that ends wakes the loop, so a full house waits for a free slot.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._event.wait(), max(delay, 0.0) or None)
        finally:
            for task in list(self._in_flight):
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _start_cycle(self, free: int) -> float:
        """Plan and claim up to `free` sends and start them; returns how long to wait (seconds)
        before the next cycle: 0 when more rows are due now."""
        self._open_http()
        now = self._clock.now_ms()
        sends, next_due, more = await self._run(lambda conn: self._plan(conn, now, max_sends=free))
        for send in sends:
            task = asyncio.create_task(self._send_and_record(send))
            self._in_flight.add(task)
            task.add_done_callback(self._sent)
        if more and len(sends) < free:
            return 0.0
        if next_due is None:
            return self._poll_interval_s
        return max(0.0, (next_due - self._clock.now_ms()) / 1000)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if self._event is not None:
            self._event.set()  # plan again: a slot is free, and a retry may be due

    async def aclose(self) -> None:
        if self._http is not None and self._own_http:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> DeliveryWorker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- one cycle ------------------------------------------------------------------------

    async def recover(self) -> int:
        """Rows a killed process left `sending` become due now (they will be sent again)."""
        now = self._clock.now_ms()
        return await self._run(lambda conn: outbox.make_sending_due(conn, now))

    async def run_once(self) -> int | None:
        """One cycle; returns when the next row is due (epoch ms), or None if nothing waits."""
        self._open_http()
        now = self._clock.now_ms()
        sends, next_due, more = await self._run(lambda conn: self._plan(conn, now, max_sends=None))
        if not sends:
            return now if more else next_due
        semaphore = asyncio.Semaphore(self._concurrency)

        async def bounded(send: _Send) -> None:
            async with semaphore:
                await self._send_and_record(send)

        await asyncio.gather(*(bounded(send) for send in sends))
        if more:
            return self._clock.now_ms()
        return await self._run(outbox.next_due_ms)

    def _open_http(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)

    async def _send_and_record(self, send: _Send) -> None:
        """One send, then its outcome in a transaction of its own."""
        result = await self._deliver(send)
        done = self._clock.now_ms()
        await self._run(lambda conn: self._record(conn, [result], done))

    def _channel(self, row: DueRow) -> Channel:
        key = (row.channel_id, row.channel_updated_ms, row.recipient)
        channel = self._channels.get(key)
        if channel is None:
            assert self._http is not None
            context = BuildContext(http=self._http, clock=self._clock, recipient=row.recipient)
            channel = build_channel(row.kind, row.config, context)
            self._channels = {k: v for k, v in self._channels.items() if k[0] != row.channel_id}
            self._channels[key] = channel
        return channel

    def _plan(
        self, conn: Connection, now: int, *, max_sends: int | None
    ) -> tuple[list[_Send], int | None, bool]:
        """The sends to start now (at most `max_sends`), when the next row is due, and whether
        more rows may be due now (the batch was full, or sends were capped)."""
        rows = outbox.due_rows(conn, now, self._batch_size)
        capped = False
        sends: list[_Send] = []
        open_posts: dict[tuple[int, str | None], _Send] = {}
        windows: dict[int, list[int]] = {}
        for row in rows:
            if row.status == Status.SENDING:
                outbox.log_delivery(
                    conn,
                    outbox_id=row.id,
                    channel_id=row.channel_id,
                    attempt=row.attempts,
                    ts_ms=now,
                    ok=False,
                    outcome=Outcome.INTERRUPTED,
                    detail="no outcome was recorded for this attempt (the server stopped); sending again",
                )
                if not outbox.release(conn, row):
                    continue
                row = replace(row, status=Status.PENDING.value)
            try:
                notification = codec.loads(row.notification_json)
            except codec.CodecError as exc:
                outbox.finish(conn, row.id, Status.FAILED, last_error=str(exc))
                self._log(conn, row, now, False, Outcome.FAILED, str(exc))
                continue
            if not row.enabled:
                self._hand_over_or_fail(conn, row, notification, "the channel is disabled", now)
                continue
            try:
                channel = self._channel(row)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                self._hand_over_or_fail(
                    conn, row, notification, f"the channel's config is not valid: {exc}", now
                )
                continue
            allowed = now
            if row.rate_limit_per_minute:
                window = windows.get(row.channel_id)
                if window is None:
                    window = windows[row.channel_id] = outbox.send_times(
                        conn, row.channel_id, now - MINUTE_MS
                    )
                if len(window) >= row.rate_limit_per_minute:
                    allowed = window[len(window) - row.rate_limit_per_minute] + MINUTE_MS
            post_key = (row.channel_id, row.recipient)
            post = open_posts.get(post_key)
            batch = channel if isinstance(channel, BatchChannel) else None
            joins = batch is not None and post is not None and len(post.rows) < batch.max_batch
            if not joins and max_sends is not None and len(sends) >= max_sends:
                capped = True  # left pending, unclaimed: a later cycle takes it
                continue
            if batch is not None and not joins:
                allowed = max(allowed, self._paced_until.get(batch.pace_key, 0))
            if allowed > now:
                outbox.defer(conn, row.id, allowed)
                continue
            if not outbox.claim(conn, row, now + self._lease_ms):
                continue
            row = replace(row, status=Status.SENDING.value, attempts=row.attempts + 1)
            if row.rate_limit_per_minute:
                windows[row.channel_id].append(now)
            if post is None or not joins:
                post = _Send(channel)
                sends.append(post)
                if batch is not None:
                    open_posts[post_key] = post
                    self._paced_until[batch.pace_key] = now + batch.min_interval_ms
            post.rows.append(row)
            post.notifications.append(notification)
        more = capped or len(rows) >= self._batch_size
        return sends, outbox.next_due_ms(conn), more

    async def _deliver(self, send: _Send) -> _Result:
        started = self._clock.now_ms()
        t0 = time.perf_counter()
        try:
            if len(send.notifications) > 1:
                assert isinstance(send.channel, BatchChannel)
                pending = send.channel.send_many(send.notifications)
            else:
                pending = send.channel.send(send.notifications[0])
            delivery = await asyncio.wait_for(pending, self._send_timeout_s)
        except TimeoutError:
            delivery = Delivery(ok=False, detail=f"no answer within {self._send_timeout_s:g}s", retry=True)
        except Exception as exc:  # a channel must not raise; if one does, it is a failed attempt
            log.exception("%s channel raised", send.channel.kind)
            delivery = Delivery(ok=False, detail=clean(f"{type(exc).__name__}: {exc}"), retry=True)
        return _Result(send, delivery, started, int((time.perf_counter() - t0) * 1000))

    def _record(self, conn: Connection, results: list[_Result], now: int) -> int | None:
        for result in results:
            delivery = result.delivery
            count = len(result.send.rows)
            detail = delivery.detail or ("delivered" if delivery.ok else "failed")
            if count > 1:
                detail += f" (one post for {count} notifications)"
            code = delivery.response.get("status_code")
            status_code = code if isinstance(code, int) else None
            for row, notification in zip(result.send.rows, result.send.notifications, strict=True):
                self._apply(conn, row, notification, delivery, detail, status_code, result, now)
            pace_key = getattr(result.send.channel, "pace_key", None)
            if isinstance(pace_key, str) and delivery.retry_after_s is not None:
                blocked = now + int(delivery.retry_after_s * 1000)
                self._paced_until[pace_key] = max(self._paced_until.get(pace_key, 0), blocked)
        return outbox.next_due_ms(conn)

    def _apply(
        self,
        conn: Connection,
        row: DueRow,
        notification: Notification,
        delivery: Delivery,
        detail: str,
        status_code: int | None,
        result: _Result,
        now: int,
    ) -> None:
        fallback = self._fallback_for(conn, row)
        decision = decide(self.policy, delivery, row.attempts, now, can_fall_back=fallback is not None)
        logged = {"status_code": status_code, "duration_ms": result.duration_ms, "ts_ms": result.started_ms}
        if decision.verdict is Verdict.DELIVERED:
            outbox.finish(conn, row.id, Status.DELIVERED, delivered_ms=now)
            self._log(conn, row, now, True, Outcome.DELIVERED, detail, **logged)
        elif decision.verdict is Verdict.RETRY:
            assert decision.next_attempt_ms is not None
            note = f"; next attempt at {rfc3339(decision.next_attempt_ms)}"
            if decision.reason:
                note += f" ({decision.reason})"
            outbox.finish(
                conn, row.id, Status.PENDING, next_attempt_ms=decision.next_attempt_ms, last_error=detail
            )
            self._log(conn, row, now, False, Outcome.RETRY, detail + note, **logged)
        else:
            self._log(conn, row, now, False, Outcome.FAILED, f"{detail}; {decision.reason}", **logged)
            if decision.verdict is Verdict.FALLBACK:
                self._hand_over_or_fail(conn, row, notification, decision.reason, now, last_error=detail)
            else:
                outbox.finish(conn, row.id, Status.FAILED, last_error=f"{detail}; {decision.reason}")

    def _fallback_for(self, conn: Connection, row: DueRow) -> int | None:
        """The fallback channel to hand over to, unless this notification was already there."""
        if row.fallback_channel_id is None:
            return None
        tried = outbox.channels_tried(conn, row.id, row.channel_id, row.fallback_of)
        return None if row.fallback_channel_id in tried else row.fallback_channel_id

    def _hand_over_or_fail(
        self,
        conn: Connection,
        row: DueRow,
        notification: Notification,
        reason: str,
        now: int,
        *,
        last_error: str | None = None,
    ) -> None:
        fallback = self._fallback_for(conn, row)
        error = f"{last_error}; {reason}" if last_error else reason
        if fallback is None:
            outbox.finish(conn, row.id, Status.FAILED, last_error=error)
            if last_error is None:
                self._log(conn, row, now, False, Outcome.FAILED, f"not sent: {reason}")
            return
        new_id = outbox.insert_row(conn, fallback, notification, now, fallback_of=row.id)
        handed = f"handed over to fallback channel #{fallback} as outbox #{new_id} ({reason})"
        outbox.finish(conn, row.id, Status.FAILED, last_error=f"{error}; {handed}")
        self._log(conn, row, now, False, Outcome.FALLBACK, handed)

    @staticmethod
    def _log(
        conn: Connection,
        row: DueRow,
        now: int,
        ok: bool,
        outcome: Outcome,
        detail: str,
        *,
        ts_ms: int | None = None,
        **extra: Any,
    ) -> None:
        outbox.log_delivery(
            conn,
            outbox_id=row.id,
            channel_id=row.channel_id,
            attempt=row.attempts,
            ts_ms=now if ts_ms is None else ts_ms,
            ok=ok,
            outcome=outcome,
            detail=detail,
            **extra,
        )

    async def _prune(self) -> None:
        now = self._clock.now_ms()
        if now < self._next_prune_ms:
            return
        self._next_prune_ms = now + HOUR_MS
        cutoff = now - self._retention_ms
        while await self._run(lambda conn: outbox.delete_finished(conn, cutoff, 1000)) == 1000:
            await asyncio.sleep(0)


def worker_from_settings(
    settings: Settings, run_in_transaction: RunInTransaction, clock: Clock
) -> DeliveryWorker:
    policy = RetryPolicy(
        max_attempts=settings.outbox_max_attempts,
        initial_backoff_ms=int(settings.outbox_backoff_initial_seconds * 1000),
        max_backoff_ms=int(settings.outbox_backoff_max_seconds * 1000),
        fallback_after=settings.outbox_fallback_after_attempts,
    )
    return DeliveryWorker(
        run_in_transaction,
        clock,
        policy=policy,
        send_timeout_s=settings.outbox_send_timeout_seconds,
        poll_interval_s=settings.outbox_poll_seconds,
        retention_ms=settings.outbox_retention_days * 86_400_000,
    )
