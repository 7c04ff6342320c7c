"""How the SDK's events reach the server: a bounded queue, a sender thread, HTTP POSTs.

`BatchSender` batches events, retries what the server could not take and gives up on
what it refused; a transport makes the HTTP requests. A transport is anything with
``send(body, headers) -> Response``. The default, `UrllibTransport`, uses only the
standard library. Tests, or applications that prefer another HTTP client, pass their own::

    >>> class Recorder:
    ...     def __init__(self):
    ...         self.bodies = []
    ...     def send(self, body, headers):
    ...         self.bodies.append(body)
    ...         return Response(200)
    >>> Recorder().send(b"[]", {}).status
    200
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, Final, NamedTuple, Protocol

log = logging.getLogger("syncmon.sdk")

# Why events were dropped; `Client.dropped_by_reason` is keyed by these.
QUEUE_FULL: Final = "queue_full"
INVALID: Final = "invalid"
REFUSED: Final = "refused"
TOO_LARGE: Final = "too_large"
RETRIES_EXHAUSTED: Final = "retries_exhausted"
CLOSED: Final = "closed"
SHUTDOWN: Final = "shutdown"
INTERNAL_ERROR: Final = "internal_error"

_BASE_BACKOFF: Final = 0.5
_MAX_BACKOFF: Final = 30.0
_MAX_RETRY_AFTER: Final = 3_600.0
_MAX_LOGGED: Final = 256
_ITEM_FIELD: Final = re.compile(r"events\[(\d+)\]")


class Response(NamedTuple):
    """What the SDK needs of an HTTP reply: its status, headers (names in any case) and body."""

    status: int
    headers: Mapping[str, str] = {}
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header's value, looked up case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


class Transport(Protocol):
    """Sends one request body (already gzip-compressed) with the given headers.

    Raising an exception (a network error, a timeout) makes the client retry the batch
    later, as a 5xx reply does. Besides a `Response`, the reply may be a
    ``(status, headers)`` tuple or any object with ``status`` or ``status_code``, and
    optionally ``headers`` and ``body`` or ``content`` (an httpx or requests response).
    """

    def send(self, body: bytes, headers: dict[str, str]) -> Response: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be resent as a GET without its body: report the 3xx instead."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class UrllibTransport:
    """POSTs to ``url`` with `urllib.request`, honouring the usual proxy variables.

    Redirects are not followed: the reply's 3xx status is returned, and the client logs
    where the server wanted it to go.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def send(self, body: bytes, headers: dict[str, str]) -> Response:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as reply:
                return Response(reply.status, _headers(reply.headers), reply.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return Response(exc.code, _headers(exc.headers), _read(exc))

    def __repr__(self) -> str:
        return f"UrllibTransport({self.url!r}, timeout={self.timeout})"


def _headers(message: Message | None) -> dict[str, str]:
    return {key: value for key, value in message.items()} if message is not None else {}


def _read(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(65_536)
    except OSError:
        return b""


class BatchSender:
    """A bounded queue of events and the daemon thread that posts them in batches.

    `Client` owns one; it is separate so that what is sent (the client's helpers) and how
    (batching, retries, shutdown) can be read and tested apart. The thread starts with the
    first event, so a client made before a fork (a pre-loading web server) sends from the
    worker that uses it; a forked child starts with an empty queue.
    """

    def __init__(
        self,
        transport: Transport,
        headers: dict[str, str],
        *,
        max_queue: int,
        batch_size: int,
        flush_interval: float,
        max_retries: int,
        clock: Callable[[], float],
        sleep: Callable[[float], object] | None,
    ) -> None:
        self._transport = transport
        self._headers = headers
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_retries = max_retries
        self._clock = clock
        self._custom_sleep = sleep
        self._random = random.Random()
        self._logged: set[tuple[str, ...]] = set()
        self.sent = 0
        self._dropped: dict[str, int] = {}
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        """Locks, queue and thread: new at start and in a forked child."""
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the thread waits for events
        self._settled_cond = threading.Condition(self._lock)  # flush() waits for outcomes
        self._buffer: deque[dict[str, Any]] = deque()
        self._accepted = 0  # events put in the queue
        self._settled = 0  # of those, sent or dropped
        self._flush_waiters = 0
        self._abandon = threading.Event()
        self._thread: threading.Thread | None = None

    def after_fork_in_child(self) -> None:
        """The child starts empty: what was queued is the parent's to send."""
        self._reset()

    # -- the caller's side -------------------------------------------------------------

    def put(self, item: dict[str, Any]) -> None:
        """Queue one event (plain JSON data), or count it as dropped. Never blocks."""
        with self._lock:
            if self._closed:
                reason = CLOSED
            elif len(self._buffer) >= self._max_queue:
                reason = QUEUE_FULL
            else:
                self._buffer.append(item)
                self._accepted += 1
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="syncmon-sdk-sender", daemon=True)
                    self._thread.start()
                if len(self._buffer) >= self._batch_size:
                    self._work.notify()
                return
            self._dropped[reason] = self._dropped.get(reason, 0) + 1
        if reason == QUEUE_FULL:
            self.log_once(
                ("queue_full",),
                "syncmon: the event queue is full (%d events); dropping events until the server catches up",
                self._max_queue,
            )

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is sent or dropped; False on timeout."""
        with self._lock:
            target = self._accepted
            if self._settled >= target:
                return True
            if self._thread is None or not self._thread.is_alive():
                return False
            self._flush_waiters += 1
            self._work.notify()
            try:
                deadline = time.monotonic() + timeout
                while self._settled < target:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._settled_cond.wait(remaining)
                return True
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float) -> None:
        """Refuse new events, flush for up to ``timeout`` seconds, drop the rest, stop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._work.notify()
            thread = self._thread
        self.flush(timeout)
        self._abandon.set()
        with self._lock:
            self._work.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(0.1)

    def count_drop(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count

    def dropped_by_reason(self) -> dict[str, int]:
        with self._lock:
            return dict(self._dropped)

    def log_once(self, key: tuple[str, ...], message: str, *args: object) -> None:
        """Log a warning the first time ``key`` comes up: a problem is said once, not per event."""
        if key in self._logged or len(self._logged) >= _MAX_LOGGED:
            return
        self._logged.add(key)
        log.warning(message, *args)

    # -- the sender thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._deliver(batch)
            except Exception:
                log.exception("syncmon: sending a batch failed")
                self._settle(len(batch), INTERNAL_ERROR)

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """The next batch, once one is due; None when closed and done."""
        with self._lock:
            first_seen: float | None = None
            while True:
                if self._abandon.is_set() or (self._closed and not self._buffer):
                    if self._buffer:
                        self._settle_locked(len(self._buffer), SHUTDOWN)
                        self._buffer.clear()
                    return None
                if not self._buffer:
                    first_seen = None
                    self._work.wait()
                    continue
                now = self._clock()
                if first_seen is None:
                    first_seen = now
                waited = now - first_seen
                if (
                    len(self._buffer) >= self._batch_size
                    or self._flush_waiters
                    or self._closed
                    or waited >= self._flush_interval
                ):
                    count = min(self._batch_size, len(self._buffer))
                    return [self._buffer.popleft() for _ in range(count)]
                self._work.wait(self._flush_interval - waited)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        attempt = 0
        while batch:
            if self._abandon.is_set():
                self._settle(len(batch), SHUTDOWN)
                return
            body, batch = self._encode(batch)
            if not batch:
                return
            reply: Response | None
            try:
                reply = as_response(self._transport.send(body, dict(self._headers)))
                problem = f"HTTP {reply.status}"
            except Exception as exc:
                reply, problem = None, f"{type(exc).__name__}: {exc}"
            if reply is not None and 200 <= reply.status < 300:
                self._settle(len(batch))
                return
            if reply is not None and not _retryable(reply.status):
                batch = self._refused(batch, reply)
                continue
            if attempt >= self._max_retries:
                self._settle(len(batch), RETRIES_EXHAUSTED)
                self.log_once(
                    ("retries_exhausted", problem[:80]),
                    "syncmon: dropped %d events after %d retries (%s)",
                    len(batch),
                    attempt,
                    problem,
                )
                return
            delay = self._retry_delay(attempt, reply)
            attempt += 1
            if self._custom_sleep is not None:
                self._custom_sleep(delay)
            else:
                self._abandon.wait(delay)  # close() cuts the wait short

    def _encode(self, batch: list[dict[str, Any]]) -> tuple[bytes, list[dict[str, Any]]]:
        """The gzip-compressed JSON body and the items in it. Items that cannot be encoded
        are dropped, though none should arrive: the client makes properties plain JSON."""
        try:
            text = _dumps(batch)
        except (TypeError, ValueError, RecursionError):
            kept: list[dict[str, Any]] = []
            parts: list[str] = []
            for item in batch:
                try:
                    parts.append(_dumps(item))
                    kept.append(item)
                except (TypeError, ValueError, RecursionError):
                    self._settle(1, INVALID)
            batch, text = kept, "[" + ",".join(parts) + "]"
        # "replace" turns lone surrogates, which the server's JSON parser refuses, into "?".
        return gzip.compress(text.encode("utf-8", "replace"), compresslevel=6, mtime=0), batch

    def _refused(self, batch: list[dict[str, Any]], reply: Response) -> list[dict[str, Any]]:
        """A reply retrying cannot fix (3xx, 4xx but 408/429); returns what to send again."""
        message, field = _error_of(reply)
        found = _ITEM_FIELD.match(field or "")
        if reply.status == 400 and found and int(found.group(1)) < len(batch):
            # The server stores none of a batch with an invalid item, and names the item.
            index = int(found.group(1))
            self._settle(1, INVALID)
            general = _ITEM_FIELD.sub("events[*]", message)
            self.log_once(("item", general), "syncmon: the server refused an event: %s", message)
            return batch[:index] + batch[index + 1 :]
        if reply.status == 413 and len(batch) > 1:
            half = len(batch) // 2
            self._deliver(batch[:half])
            return batch[half:]
        if reply.status == 413:
            self._settle(1, TOO_LARGE)
            self.log_once(("too_large",), "syncmon: the server refused an event as too large: %s", message)
            return []
        self._settle(len(batch), REFUSED)
        if 300 <= reply.status < 400:
            message = f"redirected to {reply.header('Location')}; set host to the final URL"
        self.log_once(
            ("refused", str(reply.status), message[:200]),
            "syncmon: the server refused %d events with HTTP %d: %s",
            len(batch),
            reply.status,
            message,
        )
        return []

    def _retry_delay(self, attempt: int, reply: Response | None) -> float:
        """Exponential backoff with jitter; never shorter than the reply's Retry-After."""
        backoff = min(_MAX_BACKOFF, _BASE_BACKOFF * 2.0**attempt) * self._random.uniform(0.5, 1.0)
        retry_after = retry_after_seconds(reply.header("Retry-After")) if reply is not None else None
        return backoff if retry_after is None else max(backoff, retry_after)

    def _settle(self, count: int, dropped: str | None = None) -> None:
        with self._lock:
            self._settle_locked(count, dropped)

    def _settle_locked(self, count: int, dropped: str | None = None) -> None:
        self._settled += count
        if dropped is None:
            self.sent += count
        else:
            self._dropped[dropped] = self._dropped.get(dropped, 0) + count
        self._settled_cond.notify_all()


def as_response(reply: object) -> Response:
    """A transport's reply as a `Response`; anything unreadable counts as a failed send.

    >>> as_response((429, {"Retry-After": "3"})).header("retry-after")
    '3'
    """
    if isinstance(reply, Response):
        return reply
    if isinstance(reply, tuple):
        return Response(*reply)
    status = getattr(reply, "status", None)
    if status is None:
        status = getattr(reply, "status_code", None)
    if not isinstance(status, int):
        raise TypeError(f"the transport returned {type(reply).__name__}, which has no status")
    headers = getattr(reply, "headers", None) or {}
    body = getattr(reply, "body", None)
    if not isinstance(body, bytes):
        body = getattr(reply, "content", None)
    return Response(status, dict(headers), body if isinstance(body, bytes) else b"")


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), at most an hour.

    >>> retry_after_seconds("7")
    7.0
    >>> retry_after_seconds("soon") is None
    True
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _error_of(reply: Response) -> tuple[str, str | None]:
    """The server's ``{"error": ..., "field": ...}`` reply, or the status alone."""
    try:
        body = json.loads(reply.body.decode("utf-8", "replace")) if reply.body else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        field = body.get("field")
        return body["error"][:500], field if isinstance(field, str) else None
    return f"HTTP {reply.status}", None
