"""The SDK client: the seed's SecurityAnalytics helpers, errors, custom events and requests.

Every helper returns at once and never raises: the event is checked and turned into
plain JSON in the caller's thread and handed to the client's `BatchSender`, which posts
batches to ``POST /api/monitoring/events`` from a background thread. When the queue is
full, when the server refuses an event, or when it stays unreachable after all retries,
the event is dropped and counted in `Client.dropped_by_reason`; the host application
never waits and never sees an exception.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import threading
import time
import traceback
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from enum import Enum
from itertools import islice
from pathlib import PurePath
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

from syncmon import __version__
from syncmon.events import normalize_level
from syncmon.sdk import context as _context
from syncmon.sdk.transport import INVALID, BatchSender, Transport, UrllibTransport

log = logging.getLogger("syncmon.sdk")

ENDPOINT: Final = "/api/monitoring/events"
USER_AGENT: Final = f"syncmon-python/{__version__}"

# Fields the server reads as strings: a number or other object there would make it
# refuse the item, so they are sent as their str().
_STRING_FIELDS: Final = frozenset(
    {
        "url",
        "user_id",
        "session_id",
        "client_ip",
        "user_agent",
        "release",
        "environment",
        "event_type",
        "severity",
        "auth_event",
        "authz_event",
        "data_event",
        "api_event",
        "target",
        "type",
        "message",
        "stack",
        "filename",
        "level",
        "name",
        "method",
        "route",
    }
)
# Arguments of track_security_event that the other security helpers take as properties.
_SECURITY_ARGS: Final = ("severity", "user_id", "client_ip", "target")
_MAX_NAME: Final = 200
_MAX_TEXT: Final = 16_384
_MAX_STACK: Final = 65_536
_MAX_DEPTH: Final = 8
_MAX_ITEMS: Final = 1_000
_MAX_NODES: Final = 10_000  # per event: bounds the work on self-referencing structures
_CAPTURED: Final = "__syncmon_captured__"


class _Invalid(ValueError):
    """An argument the server would refuse; the event is dropped, never raised."""


class Client:
    """Sends events to a SyncScript Monitor server in the background.

    ``key`` is the project's **secret** key (``syncmon project list`` shows it): with it
    the server stores the client IP, user id and user agent the SDK reports for the end
    user. ``host`` is the server's base URL.

    >>> from syncmon.sdk import Client, Response
    >>> class Accept:  # stands in for the network here; omit `transport` in real use
    ...     def send(self, body, headers):
    ...         return Response(200)
    >>> client = Client("sk_...", "https://monitor.example.com", transport=Accept())
    >>> client.track_authentication_event("authn_login_fail", user_id="u-42", client_ip="203.0.113.9")
    >>> client.track_data_access_event("sensitive_read", target="invoices", rows=1200)
    >>> client.track_event("signup", plan="pro")
    >>> try:
    ...     1 / 0
    ... except ZeroDivisionError as exc:
    ...     client.track_error(exc)
    >>> client.flush(timeout=5)
    True
    >>> client.sent, client.dropped
    (4, 0)
    >>> client.close()

    Settings: at most ``max_queue`` events wait in memory; a batch is sent when it holds
    ``batch_size`` events or its first event is ``flush_interval`` seconds old. A batch
    the server cannot take (429, 5xx, network errors) is retried up to ``max_retries``
    times with exponential backoff and jitter, never sooner than a ``Retry-After`` asks.
    ``environment`` and ``release`` are added to every event. ``clock`` (monotonic
    seconds) times batches and the middleware's request durations; ``sleep`` waits
    between retries (by default an interruptible wait that `close` cuts short).
    ``shutdown_timeout`` bounds the flush at interpreter exit. With ``enabled=False``, or
    an empty key, every helper does nothing.
    """

    def __init__(
        self,
        key: str | None,
        host: str,
        *,
        max_queue: int = 10_000,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        timeout: float = 5.0,
        max_retries: int = 5,
        transport: Transport | None = None,
        environment: str | None = None,
        release: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
        sleep: Callable[[float], object] | None = None,
        shutdown_timeout: float = 2.0,
    ) -> None:
        _check_positive(max_queue=max_queue, batch_size=batch_size)
        _check_positive(flush_interval=flush_interval, timeout=timeout)
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        self.host = host.rstrip("/")
        parts = urlsplit(self.host)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"host must be an http:// or https:// URL, got {host!r}")
        self.clock = clock
        self.environment = environment
        self.release = release
        self._key = (key or "").strip()
        self._enabled = bool(enabled and self._key)
        if enabled and not self._key:
            log.warning("syncmon: no project key given; the SDK is disabled and sends nothing")
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "X-Syncmon-Key": self._key,
            "User-Agent": USER_AGENT,
        }
        self._shutdown_timeout = shutdown_timeout
        self._sender = BatchSender(
            transport or UrllibTransport(self.host + ENDPOINT, timeout),
            headers,
            max_queue=max_queue,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_retries=max_retries,
            clock=clock,
            sleep=sleep,
        )
        if self._enabled:
            _register(self)

    # -- the seed's SecurityAnalytics -------------------------------------------------

    def track_security_event(
        self,
        event_type: str,
        *,
        severity: str | None = None,
        user_id: object = None,
        client_ip: str | None = None,
        target: str | None = None,
        **properties: Any,
    ) -> None:
        """A security event (seed: ``SecurityAnalytics.trackSecurityEvent``).

        ``event_type`` names it; OWASP Logging Vocabulary names (``authn_login_fail``,
        ``authz_fail``, ``input_validation_fail`` …) are what the server's detection and
        alerts read best. ``severity`` is one of info, low, medium, warning, high, error,
        critical (default info); ``target`` is what was acted on. Inside a request the
        middleware handles, ``user_id``, ``client_ip``, ``url`` and ``user_agent``
        default to that request's.
        """
        self._security(
            "track_security_event",
            event_type,
            None,
            None,
            {"severity": severity, "user_id": user_id, "client_ip": client_ip, "target": target},
            properties,
        )

    def track_authentication_event(self, event: str, **properties: Any) -> None:
        """``event_type="authentication"`` with ``auth_event=event``, e.g. ``authn_login_fail``."""
        self._security("track_authentication_event", "authentication", "auth_event", event, {}, properties)

    def track_authorization_event(self, event: str, **properties: Any) -> None:
        """``event_type="authorization"`` with ``authz_event=event``, e.g. ``authz_fail``."""
        self._security("track_authorization_event", "authorization", "authz_event", event, {}, properties)

    def track_data_access_event(self, event: str, **properties: Any) -> None:
        """``event_type="data_access"`` with ``data_event=event``, e.g. ``sensitive_read``."""
        self._security("track_data_access_event", "data_access", "data_event", event, {}, properties)

    def track_api_event(self, event: str, **properties: Any) -> None:
        """``event_type="api_access"`` with ``api_event=event``, e.g. ``excess_rate_limit_exceeded``."""
        self._security("track_api_event", "api_access", "api_event", event, {}, properties)

    def _security(
        self,
        helper: str,
        event_type: object,
        detail_field: str | None,
        detail: object,
        fields: dict[str, Any],
        properties: dict[str, Any],
    ) -> None:
        def build() -> dict[str, Any]:
            merged: dict[str, Any] = dict(fields)
            merged.update((k, properties.pop(k)) for k in _SECURITY_ARGS if k in properties)
            level = merged.get("severity")
            if level is not None:
                try:
                    normalize_level(_string(level, "severity", _MAX_NAME))
                except ValueError as exc:
                    raise _Invalid(str(exc)) from None
            merged["event_type"] = _name(event_type, "event_type")
            if detail_field is not None:
                merged[detail_field] = _name(detail, "event")
            return merged

        self._capture(helper, "security", build, properties)

    # -- errors, custom events, requests ----------------------------------------------

    def track_error(self, exc_or_message: BaseException | str, **properties: Any) -> None:
        """An error event: an exception (type, message and Python traceback) or a message.

        An exception is reported once, however many times it is passed here (by the
        middleware and by the logging handler, say). ``level`` defaults to error.
        """

        def build() -> dict[str, Any]:
            value = exc_or_message
            if isinstance(value, BaseException):
                if getattr(value, _CAPTURED, False):
                    return {}
                with contextlib.suppress(Exception):
                    setattr(value, _CAPTURED, True)
                return _exception_fields(value)
            if isinstance(value, str) and value.strip():
                # A `type` property names the error instead of the generic "error".
                return {"type": None if "type" in properties else "error", "message": value[:_MAX_TEXT]}
            raise _Invalid("expected an exception or a non-empty message")

        self._capture("track_error", "error", build, properties, defaults={"level": "error"})

    def track_event(self, name: str, **properties: Any) -> None:
        """A custom event (seed: ``VercelAnalytics.trackCustomEvent``) with any properties."""
        self._capture("track_event", "custom", lambda: {"name": _name(name, "name")}, properties)

    def track_request(
        self,
        method: str,
        route: str,
        status: int,
        duration_ms: float,
        *,
        url: str | None = None,
        client_ip: str | None = None,
        user_id: object = None,
        user_agent: str | None = None,
        **properties: Any,
    ) -> None:
        """One HTTP request the application handled; the middleware calls this for you.

        Stored as kind ``request`` named ``"<METHOD> <route>"`` with the duration as its
        value. ``route`` should be a template (``/users/{id}``), not a raw path.
        """

        def build() -> dict[str, Any]:
            if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
                raise _Invalid(f"status must be an HTTP status code, got {status!r}")
            if not isinstance(duration_ms, int | float) or isinstance(duration_ms, bool):
                raise _Invalid(f"duration_ms must be a number, got {type(duration_ms).__name__}")
            if not math.isfinite(duration_ms) or duration_ms < 0:
                raise _Invalid(f"duration_ms must be a finite number >= 0, got {duration_ms!r}")
            verb = _string(method, "method", 16).strip().upper()
            if not verb:
                raise _Invalid("method is empty")
            return {
                "method": verb,
                "route": _string(route, "route", 512) or "/",
                "status": status,
                "duration_ms": round(float(duration_ms), 3),
                "url": url,
                "client_ip": client_ip,
                "user_id": user_id,
                "user_agent": user_agent,
            }

        self._capture("track_request", "request", build, properties)

    # -- flushing, closing, counters ---------------------------------------------------

    def flush(self, timeout: float = 2.0) -> bool:
        """Send what is queued now. True once all of it was sent or dropped, False if
        ``timeout`` seconds passed first (a retry may be waiting). Never raises."""
        try:
            return self._sender.flush(timeout)
        except Exception:
            log.exception("syncmon: flush failed")
            return False

    def close(self, timeout: float | None = None) -> None:
        """Flush for up to ``timeout`` seconds (default ``shutdown_timeout``), then stop the
        sender: what is still unsent is dropped (reason ``shutdown``), and so are later
        events (``closed``). Runs for every open client at interpreter exit."""
        try:
            self._sender.close(self._shutdown_timeout if timeout is None else timeout)
        except Exception:
            log.exception("syncmon: close failed")

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def enabled(self) -> bool:
        """False when made with ``enabled=False`` or without a key: helpers do nothing."""
        return self._enabled

    @property
    def sent(self) -> int:
        """Events the server accepted."""
        return self._sender.sent

    @property
    def dropped(self) -> int:
        """Events given up on, for any reason (see `dropped_by_reason`)."""
        return sum(self._sender.dropped_by_reason().values())

    @property
    def dropped_by_reason(self) -> dict[str, int]:
        """Dropped events by reason: ``invalid`` (a bad argument, or an event the server
        refused), ``queue_full``, ``refused`` (the server refused the batch: a wrong key,
        say), ``too_large``, ``retries_exhausted``, ``closed``, ``shutdown``."""
        return self._sender.dropped_by_reason()

    def __repr__(self) -> str:
        state = "enabled" if self._enabled else "disabled"
        return f"<syncmon.sdk.Client {self.host} {state} sent={self.sent} dropped={self.dropped}>"

    # -- capture: the caller's thread ---------------------------------------------------

    def _capture(
        self,
        helper: str,
        kind: str,
        build: Callable[[], dict[str, Any]],
        properties: dict[str, Any],
        defaults: dict[str, Any] | None = None,
    ) -> None:
        if not self._enabled:
            return
        try:
            fields = build()
            if kind == "error" and not fields:
                return  # an exception reported before
            item = self._item(kind, fields, properties, defaults)
        except Exception as exc:
            self._sender.count_drop(INVALID)
            problem = str(exc) if isinstance(exc, _Invalid) else f"{type(exc).__name__}: {exc}"
            self._sender.log_once(
                ("invalid", helper, problem), "syncmon: %s dropped an event: %s", helper, problem
            )
            return
        self._sender.put(item)

    def _item(
        self,
        kind: str,
        fields: dict[str, Any],
        properties: dict[str, Any],
        defaults: dict[str, Any] | None,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {"timestamp": int(time.time() * 1000)}
        if self.environment:
            item["environment"] = self.environment
        if self.release:
            item["release"] = self.release
        request = _context.current_request()
        if request is not None:
            for name in ("url", "client_ip", "user_agent"):
                if getattr(request, name) is not None:
                    item[name] = getattr(request, name)
        user = _context.current_user()
        if user is not None:
            item["user_id"] = user
        if defaults:
            item.update(defaults)
        budget = [_MAX_NODES]
        for key, value in properties.items():
            item[_key(key)] = _jsonable(value, 0, budget)
        for key, value in fields.items():
            if value is not None:
                item[key] = value
        for key in _STRING_FIELDS.intersection(item):
            value = item[key]
            if value is not None and not isinstance(value, str):
                item[key] = _safe_text(value)[:_MAX_TEXT]
        item["kind"] = kind
        return item


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")


def _string(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"{what} must be a string, got {type(value).__name__}")
    return str.__str__(value)[:limit]


def _name(value: object, what: str) -> str:
    text = _string(value, what, 10 * _MAX_NAME).strip()[:_MAX_NAME]
    if not text:
        raise _Invalid(f"{what} is empty")
    return text


def _safe_text(value: object) -> str:
    try:
        return str(value)
    except Exception:
        try:
            return object.__repr__(value)
        except Exception:
            return "<unprintable>"


def _key(key: object) -> str:
    return str.__str__(key)[:_MAX_NAME] if isinstance(key, str) else _safe_text(key)[:_MAX_NAME]


def _jsonable(value: object, depth: int, budget: list[int]) -> Any:
    """``value`` as plain JSON data, whatever it is: never raises, bounded in size."""
    budget[0] -= 1
    if budget[0] < 0:
        return "<truncated>"
    try:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            whole = int(value)
            return whole if -(2**63) <= whole < 2**64 else str(whole)  # the server parses 64 bits
        if isinstance(value, float):
            number = float(value)
            return number if math.isfinite(number) else str(number)
        if isinstance(value, str):
            return str.__str__(value)[:_MAX_TEXT]
        if isinstance(value, Enum):
            return _jsonable(value.value, depth, budget)
        if isinstance(value, datetime | date | time_of_day):
            return value.isoformat()
        if isinstance(value, uuid.UUID | Decimal | PurePath):
            return str(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value[:_MAX_TEXT]).decode("utf-8", "replace")
        if isinstance(value, BaseException):
            return f"{type(value).__name__}: {_safe_text(value)}"[:_MAX_TEXT]
        if depth >= _MAX_DEPTH:
            return "<nested too deeply>"
        if isinstance(value, Mapping):
            return {_key(k): _jsonable(v, depth + 1, budget) for k, v in islice(value.items(), _MAX_ITEMS)}
        if isinstance(value, list | tuple | set | frozenset | deque):
            return [_jsonable(v, depth + 1, budget) for v in islice(value, _MAX_ITEMS)]
        return _safe_text(value)[:_MAX_TEXT]
    except Exception:
        return "<unserialisable>"


def _exception_fields(exc: BaseException) -> dict[str, Any]:
    cls = type(exc)
    name = (
        cls.__qualname__
        if cls.__module__ in ("builtins", "__main__")
        else f"{cls.__module__}.{cls.__qualname__}"
    )
    text = _safe_text(exc)
    try:
        stack = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    except Exception:
        stack = ""
    fields: dict[str, Any] = {
        "type": name[:_MAX_NAME],
        # "Type: message" is how the server tells the exception type from a message.
        "message": (f"{name}: {text}" if text else name)[:_MAX_TEXT],
        "stack": stack[-_MAX_STACK:] or None,
    }
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ is not None else []
    if frames:
        fields["filename"] = frames[-1].filename[:2048]
        fields["lineno"] = frames[-1].lineno
        # Structured frames (Sentry's shape, oldest first) so the server groups by code path.
        fields["exception"] = {
            "values": [
                {
                    "type": name[:_MAX_NAME],
                    "value": text[:_MAX_TEXT] if text else None,
                    "stacktrace": {
                        "frames": [
                            {"filename": f.filename[:1024], "function": f.name[:256], "lineno": f.lineno}
                            for f in frames[-50:]
                        ]
                    },
                }
            ]
        }
    return fields


# -- interpreter exit and fork -------------------------------------------------------------

_clients: weakref.WeakSet[Client] = weakref.WeakSet()
_hooks_installed = False
_hooks_lock = threading.Lock()


def _register(client: Client) -> None:
    global _hooks_installed
    with _hooks_lock:
        _clients.add(client)
        if not _hooks_installed:
            atexit.register(_close_all)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_reset_all_after_fork)
            _hooks_installed = True


def _close_all() -> None:
    for client in list(_clients):
        client.close()


def _reset_all_after_fork() -> None:
    for client in list(_clients):
        client._sender.after_fork_in_child()
