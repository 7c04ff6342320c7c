"""An error event's stack trace, breadcrumbs and tags, read leniently for display.

Events keep their payload as the client sent it (scrubbed): Sentry's `exception` interface
(the seed's stack strings are stored in that shape too), `breadcrumbs` and `tags`. Every
field comes from a client, so wrong types are skipped, strings are clipped and lists are
capped; the templates print all of it as text. A frame whose SDK did not say whether it
is the application's own is judged by its path, as grouping judges it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from syncmon.errors.frames import MAX_EXCEPTIONS, MAX_FRAMES, is_library_path

MAX_TEXT = 1024
MAX_CONTEXT_LINES = 12
MAX_BREADCRUMBS = 100
MAX_PAIRS = 40


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if isinstance(value, bool) or value is None:
        return None if value is None else str(value).lower()
    if isinstance(value, str | int | float):
        text = str(value)
        return text if len(text) <= limit else text[: limit - 1] + "…"
    return None


def _line(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, float) and value.is_integer() else None


def _pairs(value: Any) -> list[tuple[str, str]]:
    """Key/value pairs of a dict or a list of [key, value], as text."""
    items = value.items() if isinstance(value, dict) else value if isinstance(value, list) else []
    found: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, list | tuple) and len(item) == 2:
            key = _text(item[0], 64)
            shown = _text(item[1], 300) if not isinstance(item[1], dict | list) else _text(repr(item[1]), 300)
            if key is not None and shown is not None:
                found.append((key, shown))
        if len(found) == MAX_PAIRS:
            break
    return found


@dataclass(frozen=True, slots=True)
class ContextLine:
    lineno: int | None
    text: str
    current: bool


@dataclass(frozen=True, slots=True)
class TraceFrame:
    function: str | None
    module: str | None
    filename: str | None
    lineno: int | None
    colno: int | None
    in_app: bool
    context: tuple[ContextLine, ...]
    variables: tuple[tuple[str, str], ...]

    @property
    def location(self) -> str:
        where = self.filename or self.module or "?"
        if self.lineno is not None:
            where += f":{self.lineno}"
            if self.colno is not None:
                where += f":{self.colno}"
        return where


@dataclass(frozen=True, slots=True)
class TraceException:
    type: str | None
    value: str | None
    mechanism: str | None
    handled: bool | None
    frames: tuple[TraceFrame, ...]  # the crashing frame first

    @property
    def app_frames(self) -> int:
        return sum(1 for frame in self.frames if frame.in_app)


def _context(raw: dict[str, Any], lineno: int | None) -> tuple[ContextLine, ...]:
    current = _text(raw.get("context_line"))
    if current is None:
        return ()
    pre = [t for t in raw.get("pre_context") or [] if isinstance(t, str)][-MAX_CONTEXT_LINES:]
    post = [t for t in raw.get("post_context") or [] if isinstance(t, str)][:MAX_CONTEXT_LINES]

    def number(offset: int) -> int | None:
        return lineno + offset if lineno is not None else None

    lines = [ContextLine(number(i - len(pre)), _text(t) or "", False) for i, t in enumerate(pre)]
    lines.append(ContextLine(lineno, current, True))
    lines += [ContextLine(number(i + 1), _text(t) or "", False) for i, t in enumerate(post)]
    return tuple(lines)


def frame(raw: dict[str, Any]) -> TraceFrame:
    filename = _text(raw.get("filename"))
    abs_path = _text(raw.get("abs_path"))
    given = raw.get("in_app")
    in_app = given if isinstance(given, bool) else not is_library_path(abs_path or filename)
    lineno = _line(raw.get("lineno"))
    variables = raw.get("vars")
    return TraceFrame(
        function=_text(raw.get("function")),
        module=_text(raw.get("module")),
        filename=filename or abs_path,
        lineno=lineno,
        colno=_line(raw.get("colno")),
        in_app=in_app,
        context=_context(raw, lineno),
        variables=tuple(_pairs(variables)) if isinstance(variables, dict) else (),
    )


def exceptions(data: dict[str, Any]) -> list[TraceException]:
    """The exception chain, the one that was raised last first; frames newest first."""
    raw = data.get("exception")
    values = raw.get("values") if isinstance(raw, dict) else raw
    if not isinstance(values, list):
        return []
    chain: list[TraceException] = []
    for item in reversed(values[-MAX_EXCEPTIONS:]):
        if not isinstance(item, dict):
            continue
        stacktrace = item.get("stacktrace") if isinstance(item.get("stacktrace"), dict) else {}
        raw_frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
        frames = [frame(f) for f in (raw_frames or [])[-MAX_FRAMES:] if isinstance(f, dict)]
        mechanism = item.get("mechanism") if isinstance(item.get("mechanism"), dict) else {}
        handled = mechanism.get("handled") if isinstance(mechanism, dict) else None
        chain.append(
            TraceException(
                type=_text(item.get("type")),
                value=_text(item.get("value"), 4096),
                mechanism=_text(mechanism.get("type")) if isinstance(mechanism, dict) else None,
                handled=handled if isinstance(handled, bool) else None,
                frames=tuple(reversed(frames)),
            )
        )
    return chain


@dataclass(frozen=True, slots=True)
class Breadcrumb:
    time: str | None
    category: str | None
    type: str | None
    level: str | None
    message: str | None
    data: tuple[tuple[str, str], ...]


def _crumb_time(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e11:
        return datetime.fromtimestamp(value, UTC).strftime("%H:%M:%S.%f")[:-3]
    return _text(value, 40)


def breadcrumbs(data: dict[str, Any]) -> list[Breadcrumb]:
    """The breadcrumbs before the error, oldest first (the last ones when there are many)."""
    raw = data.get("breadcrumbs")
    values = raw.get("values") if isinstance(raw, dict) else raw
    if not isinstance(values, list):
        return []
    return [
        Breadcrumb(
            time=_crumb_time(item.get("timestamp")),
            category=_text(item.get("category"), 100),
            type=_text(item.get("type"), 40),
            level=_text(item.get("level"), 20),
            message=_text(item.get("message"), 2048),
            data=tuple(_pairs(item.get("data"))),
        )
        for item in values[-MAX_BREADCRUMBS:]
        if isinstance(item, dict)
    ]


def event_tags(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The event's own tags (Sentry `tags`, a dict or a list of pairs)."""
    return _pairs(data.get("tags"))


def raw_stack(data: dict[str, Any]) -> str | None:
    """A stack string no frame could be read from (shown as it came)."""
    stack = data.get("stack")
    return _text(stack, 16_384) if isinstance(stack, str) and stack.strip() else None
