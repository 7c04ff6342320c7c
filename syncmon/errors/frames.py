"""Stack frames and exceptions as grouping sees them, read leniently from Sentry payloads.

Grouping runs on every ingested error and its input comes from clients, so everything
here is capped (frame count, field length) and wrong types degrade to None instead of
failing: a malformed frame should cost an event its precision, not its ingestion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

MAX_FRAMES: Final = 250
MAX_FIELD: Final = 1024
MAX_EXCEPTIONS: Final = 32

# Path fragments of code the application did not write. Shared by the JS stack parser's
# in_app heuristic and by grouping when an SDK leaves in_app unset, so both agree.
_LIBRARY_MARKERS: Final = (
    "site-packages/",
    "dist-packages/",
    "site-packages\\",
    "dist-packages\\",
    "node_modules/",
    "/usr/lib/python",
    "/usr/local/lib/python",
    "<frozen ",
    "/vendor",
    "webpack/bootstrap",
    "webpack/runtime",
    "/webpack-runtime",
    "/runtime-main.",
    "/runtime~",
    "/_next/static/chunks/framework-",
    "/_next/static/chunks/webpack-",
    "/_next/static/chunks/main-",
    "/_next/static/chunks/polyfills-",
    "chrome-extension://",
    "moz-extension://",
    "safari-extension://",
    "safari-web-extension://",
)
_LIBRARY_PATTERN: Final = re.compile("|".join(map(re.escape, _LIBRARY_MARKERS)), re.IGNORECASE)
_LIBRARY_PREFIXES: Final = ("node:", "internal/")
_LIBRARY_EXACT: Final = frozenset({"<anonymous>", "native", "[native code]", "unknown location", "<unknown>"})


@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame. Line and column are kept for display but never used for grouping."""

    function: str | None
    module: str | None
    filename: str | None
    abs_path: str | None
    lineno: int | None
    colno: int | None
    in_app: bool | None
    context_line: str | None = None


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    """One exception of a chain; `frames` are oldest-first, the crashing frame last (Sentry's order)."""

    type: str | None
    value: str | None
    module: str | None
    frames: tuple[Frame, ...]


def is_library_path(path: str | None) -> bool:
    """Whether a file path or URL points at third-party or runtime code rather than the app's own."""
    if not path:
        return False
    return _is_library_path(path[:MAX_FIELD])


@lru_cache(maxsize=8192)
def _is_library_path(path: str) -> bool:
    if path in _LIBRARY_EXACT or path.startswith(_LIBRARY_PREFIXES):
        return True
    return _LIBRARY_PATTERN.search(path) is not None


def _text(value: Any) -> str | None:
    return value[:MAX_FIELD] if isinstance(value, str) else None


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def frame_from_sentry(raw: dict[str, Any]) -> Frame:
    """A Frame from one Sentry frame object; fields of the wrong type become None."""
    in_app = raw.get("in_app")
    return Frame(
        function=_text(raw.get("function")),
        module=_text(raw.get("module")),
        filename=_text(raw.get("filename")),
        abs_path=_text(raw.get("abs_path")),
        lineno=_number(raw.get("lineno")),
        colno=_number(raw.get("colno")),
        in_app=in_app if isinstance(in_app, bool) else None,
        context_line=_text(raw.get("context_line")),
    )


def frames_from_sentry(raw: Any) -> tuple[Frame, ...]:
    """Frames of a Sentry `stacktrace` object, oldest-first; keeps the crash end when over MAX_FRAMES.

    Walks from the crash end so that a payload with a huge frame list costs at most
    MAX_FRAMES conversions.
    """
    if not isinstance(raw, dict):
        return ()
    frames = raw.get("frames")
    if not isinstance(frames, list | tuple):
        return ()
    picked: list[Frame] = []
    for item in reversed(frames):
        if isinstance(item, dict):
            picked.append(frame_from_sentry(item))
            if len(picked) == MAX_FRAMES:
                break
    picked.reverse()
    return tuple(picked)


def exceptions_from_sentry(raw: Any) -> tuple[ExceptionInfo, ...]:
    """The chain of a Sentry `exception` object (`{"values": [...]}` or a bare list), in Sentry's order.

    Keeps the last MAX_EXCEPTIONS (the outermost ones). An exception's stacktrace is read
    from `stacktrace`, falling back to `raw_stacktrace`.
    """
    values = raw.get("values") if isinstance(raw, dict) else raw
    if not isinstance(values, list | tuple):
        return ()
    picked: list[ExceptionInfo] = []
    for item in reversed(values):
        if not isinstance(item, dict):
            continue
        stacktrace = item.get("stacktrace")
        if not isinstance(stacktrace, dict):
            stacktrace = item.get("raw_stacktrace")
        picked.append(
            ExceptionInfo(
                type=_text(item.get("type")),
                value=_text(item.get("value")),
                module=_text(item.get("module")),
                frames=frames_from_sentry(stacktrace),
            )
        )
        if len(picked) == MAX_EXCEPTIONS:
            break
    picked.reverse()
    return tuple(picked)
