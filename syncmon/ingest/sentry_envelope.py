"""Sentry envelopes (https://develop.sentry.dev/sdk/data-model/envelopes/), parsed without I/O.

An envelope is a header line of JSON followed by items, each an item-header line of JSON and
a payload::

    {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2024-01-01T00:00:00Z"}\\n
    {"type":"event","length":35}\\n
    {"message":"hello","level":"error"}\\n
    {"type":"attachment","length":5,"filename":"a.bin"}\\n
    a\\nb\\x00\\xff\\n
    \\n
    {"type":"client_report"}\\n
    {"discarded_events":[]}

With a `length` the payload is exactly that many bytes (binary, newlines included) and must
be followed by a newline or the end of the body; without one it runs to the next newline.
sentry-python always writes `length` and ends every item with a newline; the browser SDK
writes `length` only for binary payloads and ends the body without one.

Line endings, decided as Relay does: only `\\n` separates. A `\\r` before it is JSON
whitespace on a header line (so CRLF header lines parse), stays part of a payload that has no
`length`, and after a length-delimited payload is a "missing newline" error: there the length
is authoritative and a stray byte means it is wrong. Lines that are empty or blank where an
item header is expected are skipped, so trailing newlines in any number are fine.

The parser checks framing only. Unknown item types are returned like any other (the consumer
skips them) and payloads are not decoded: `EnvelopeItem.json()` does that on demand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from syncmon.http_errors import ClientError

DEFAULT_MAX_ITEMS = 1000
DEFAULT_MAX_ITEM_BYTES = 1_048_576

_UUID = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_BLANK = b" \t\r"

# The rate-limit category an item counts against, as sentry-python and sentry-javascript map
# them when they read X-Sentry-Rate-Limits; a type not listed counts as "default".
DATA_CATEGORIES: Mapping[str, str] = {
    "event": "error",
    "transaction": "transaction",
    "attachment": "attachment",
    "session": "session",
    "sessions": "session",
    "client_report": "internal",
    "user_report": "default",
    "feedback": "feedback",
    "profile": "profile",
    "profile_chunk": "profile_chunk",
    "replay_event": "replay",
    "replay_recording": "replay",
    "replay_video": "replay",
    "check_in": "monitor",
    "span": "span",
    "log": "log_item",
    "trace_metric": "trace_metric",
    "statsd": "metric_bucket",
    "metric_buckets": "metric_bucket",
    "security": "security",
    "raw_security": "security",
}


@dataclass(frozen=True, slots=True)
class EnvelopeItem:
    """One item: its `type`, all of its header (`length` included when it was sent) and the
    raw payload bytes."""

    type: str
    headers: dict[str, Any]
    payload: bytes

    def json(self) -> Any:
        """The payload decoded as JSON; ValueError saying so when it is not JSON."""
        try:
            return orjson.loads(self.payload)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{self.type} item payload is not valid JSON: {exc}") from None

    @property
    def data_category(self) -> str:
        """The category this item counts against for rate limits (X-Sentry-Rate-Limits)."""
        return DATA_CATEGORIES.get(self.type, "default")


@dataclass(frozen=True, slots=True)
class Envelope:
    headers: dict[str, Any]
    items: tuple[EnvelopeItem, ...]

    @property
    def event_id(self) -> str | None:
        """The header's event_id as 32 lowercase hex digits (dashes removed), or None."""
        value = self.headers.get("event_id")
        if not isinstance(value, str):
            return None
        return value.replace("-", "").lower()

    @property
    def dsn(self) -> str | None:
        """The header's dsn (browser SDKs send it when they report through a tunnel), or None."""
        value = self.headers.get("dsn")
        return value if isinstance(value, str) else None


def parse_envelope(
    body: bytes, *, max_items: int = DEFAULT_MAX_ITEMS, max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES
) -> Envelope:
    """Split an (already decompressed) envelope body into its header and items.

    Raises ClientError: 400 reason="bad_envelope" for broken framing, 413 reason="too_large"
    for an item payload over `max_item_bytes` or more than `max_items` items.
    """
    size = len(body)
    end = _line_end(body, 0)
    headers = _load_object(body[:end])
    if headers is None:
        what = "missing" if not body[:end].strip(_BLANK) else "not a JSON object"
        raise _bad(f"envelope header is {what}; the first line must be a JSON object")
    _check_envelope_header(headers)

    items: list[EnvelopeItem] = []
    pos = end + 1
    while pos < size:
        end = _line_end(body, pos)
        line = body[pos:end]
        if not line.strip(_BLANK):  # a blank line where an item header is expected
            pos = end + 1
            continue
        number = len(items) + 1
        if number > max_items:
            raise ClientError(413, f"envelope has more than {max_items} items", reason="too_large")
        item_headers, item_type, length = _item_header(line, number)

        start = min(end + 1, size)
        if length is None:
            stop = _line_end(body, start)
            _check_item_size(stop - start, max_item_bytes, number)
            pos = stop + 1
        else:
            remain = size - start
            if length > remain:
                raise _bad(f"envelope item {number}: truncated: length says {length} bytes, {remain} remain")
            _check_item_size(length, max_item_bytes, number)
            stop = start + length
            if stop < size and body[stop] != 0x0A:
                raise _bad(
                    f"envelope item {number}: no newline after its {length}-byte payload "
                    f"(found byte 0x{body[stop]:02x}); is length wrong?"
                )
            pos = stop + 1
        items.append(EnvelopeItem(type=item_type, headers=item_headers, payload=body[start:stop]))
    return Envelope(headers=headers, items=tuple(items))


def rate_limits_header(
    categories: Iterable[str], retry_after: int, reason: str | None = None, *, scope: str = "organization"
) -> str:
    """One `X-Sentry-Rate-Limits` entry: `<retry_after>:<cat;cat>:<scope>[:<reason_code>]`.

    No categories means all of them (`60::organization`). SDKs read only the first two fields;
    join several entries with ", " for different retry times.
    """
    if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0:
        raise ValueError(f"retry_after must be a non-negative number of seconds, not {retry_after!r}")
    names = list(dict.fromkeys(categories))
    for name in [*names, scope, *([reason] if reason is not None else [])]:
        if not name or any(ch in name for ch in ":;, \t\r\n"):
            raise ValueError(f"{name!r} cannot be used in X-Sentry-Rate-Limits")
    value = f"{retry_after}:{';'.join(names)}:{scope}"
    return value if reason is None else f"{value}:{reason}"


def _line_end(body: bytes, start: int) -> int:
    """Index of the newline ending the line that starts at `start`, or len(body)."""
    end = body.find(b"\n", start)
    return len(body) if end < 0 else end


def _load_object(line: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _check_envelope_header(headers: dict[str, Any]) -> None:
    event_id = headers.get("event_id")
    if event_id is not None and not (isinstance(event_id, str) and _UUID.fullmatch(event_id)):
        raise _bad("envelope header: event_id is not a UUID", field="event_id")
    dsn = headers.get("dsn")
    if dsn is not None and not isinstance(dsn, str):
        raise _bad("envelope header: dsn is not a string", field="dsn")


def _item_header(line: bytes, number: int) -> tuple[dict[str, Any], str, int | None]:
    try:
        headers = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise _bad(f"envelope item {number}: header is not valid JSON") from None
    if not isinstance(headers, dict):
        raise _bad(f"envelope item {number}: header is not a JSON object")
    item_type = headers.get("type")
    if not isinstance(item_type, str) or not item_type:
        what = "has no type" if item_type is None else "type is not a non-empty string"
        raise _bad(f"envelope item {number}: header {what}")
    length = headers.get("length")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
        raise _bad(f"envelope item {number}: length is not a non-negative integer: {repr(length)[:40]}")
    return headers, item_type, length


def _check_item_size(size: int, limit: int, number: int) -> None:
    if size > limit:
        raise ClientError(
            413,
            f"envelope item {number}: payload is {size} bytes, over the limit of {limit}",
            reason="too_large",
        )


def _bad(message: str, *, field: str | None = None) -> ClientError:
    return ClientError(400, message, field=field, reason="bad_envelope")
