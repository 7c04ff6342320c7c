"""The single writer: group commit of events, rollups and any other write, in one thread.

Request handlers hand their events to `Writer.write` and await it. The writer thread
takes everything waiting (up to `max_batch` events), writes it in one transaction
together with the in-transaction hooks (rollups), commits, and only then resolves the
waiting handlers — so a 2xx always means committed. Many concurrent requests share one
commit, which is how throughput and durability hold together. Every other write of the
server (retention, admin changes) goes through the same thread via `Writer.run`, so
SQLite never sees two writers.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Connection, Engine

from syncmon.events import Event
from syncmon.store.eventlog import insert_events, new_events
from syncmon.telemetry import Telemetry

log = logging.getLogger(__name__)
T = TypeVar("T")


class BatchHook(Protocol):
    """Runs inside the commit transaction with the batch's new events (duplicates dropped).

    `before` hooks run ahead of the insert and may fill in event fields (an issue id);
    `after` hooks see the events with their sequence numbers (rollups).
    """

    def __call__(self, conn: Connection, events: Sequence[Event]) -> None: ...


class StoreUnavailable(RuntimeError):
    """The store refused a write; the request should be retried later (503)."""


@dataclass(slots=True)
class _Pending:
    events: list[Event]
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class _Job:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_STOP = object()


class Writer:
    def __init__(
        self,
        engine: Engine,
        *,
        hooks: Sequence[BatchHook] = (),
        before: Sequence[BatchHook] = (),
        on_commit: Callable[[list[Event]], None] | None = None,
        max_batch: int = 2000,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._engine = engine
        self._hooks = list(hooks)
        self._before = list(before)
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._telemetry = telemetry or Telemetry()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="syncmon-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    async def write(self, events: list[Event]) -> None:
        """Return once `events` are committed; raise StoreUnavailable if they could not be."""
        if not events:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Pending(events, future, loop))
        self._telemetry.queue_depth.inc()
        await future

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` in one transaction on the writer thread and return its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop))
        return await future

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, _Job):
                self._run_job(item)
                continue
            batch: list[_Pending] = [item]
            count = len(item.events)
            stop_after = False
            while count < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop_after = True
                    break
                if isinstance(more, _Job):
                    if batch:  # two jobs in a row: no empty commit in between
                        self._commit(batch)
                    batch, count = [], 0
                    self._run_job(more)
                    continue
                batch.append(more)
                count += len(more.events)
            if batch:
                self._commit(batch)
            if stop_after:
                return

    def _run_job(self, job: _Job) -> None:
        try:
            with self._engine.begin() as conn:
                result = job.fn(conn)
        except Exception as exc:
            log.exception("write job failed")
            job.loop.call_soon_threadsafe(_fail, job.future, exc)
        else:
            job.loop.call_soon_threadsafe(_succeed, job.future, result)

    def _commit(self, batch: list[_Pending]) -> None:
        self._telemetry.queue_depth.dec(len(batch))
        events = [event for pending in batch for event in pending.events]
        started = time.perf_counter()
        try:
            events = self._write(events)
        except Exception:
            log.exception("group commit of %d events failed; retrying request by request", len(events))
            if len(batch) > 1:
                for pending in batch:
                    self._telemetry.queue_depth.inc()
                    self._commit([pending])
                return
            _resolve(batch, StoreUnavailable("the store did not accept the events; retry later"))
            return
        self._telemetry.commit_latency.observe(time.perf_counter() - started)
        self._telemetry.commit_batch_size.observe(len(events))
        for kind, count in Counter(event.kind for event in events).items():
            self._telemetry.events_accepted.labels(kind).inc(count)
        _resolve(batch, None)
        if self._on_commit is not None and events:
            try:
                self._on_commit(events)
            except Exception:
                log.exception("publishing a committed batch failed")

    def _write(self, events: list[Event]) -> list[Event]:
        """Write the batch in one transaction; returns the events that were new."""
        with self._engine.begin() as conn:
            events = new_events(conn, events)
            for hook in self._before:
                hook(conn, events)
            insert_events(conn, events)
            for hook in self._hooks:
                hook(conn, events)
        return events


def _resolve(batch: list[_Pending], error: BaseException | None) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for pending in batch:
        by_loop.setdefault(pending.loop, []).append(pending.future)
    for loop, futures in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, futures, error)
        except RuntimeError:
            log.warning("event loop closed before %d requests could be answered", len(futures))


def _settle_all(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if error is None:
            _succeed(future, None)
        else:
            _fail(future, error)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
