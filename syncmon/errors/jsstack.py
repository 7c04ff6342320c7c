"""Parsing JavaScript `Error.stack` strings (V8, SpiderMonkey, JavaScriptCore) into frames.

The browser endpoint receives only `error.stack`, a string whose format depends on the
engine. Turning it into the same Frame objects Sentry SDKs send means one grouping path
for both sources, so the same bug groups together whichever way it was reported.

Parsing is done with string operations and anchored, bounded patterns on one line at a
time: the input is hostile, so it is cut to MAX_STACK characters and MAX_FRAMES frames
and nothing here can backtrack super-linearly.
"""

from __future__ import annotations

import re
from typing import Final

from .frames import MAX_FIELD, MAX_FRAMES, Frame, is_library_path
from .normalize import url_path

MAX_STACK: Final = 64 * 1024

_V8_LINE: Final = re.compile(r"\s*at\s")
# "TypeError: message", "Uncaught TypeError: message", or a bare "Error".
_HEADER: Final = re.compile(r"(?:Uncaught )?([A-Za-z_$][\w$.]{0,127})(?::\s?(.*)|)")
_BARE_ERROR_NAME: Final = re.compile(r"[\w$.]*(?:Error|Exception)")
_SPECIAL_LOCATIONS: Final = frozenset(
    {"<anonymous>", "native", "[native code]", "unknown location", "<unknown>"}
)
_PROMISE_INDEX: Final = re.compile(r"index \d{1,10}")


def _split_location(location: str) -> tuple[str, int | None, int | None]:
    """`url:line:col` → (url, line, col); either number may be missing."""
    head, sep, tail = location.rpartition(":")
    if not sep or not tail.isdigit() or len(tail) > 9:
        return location, None, None
    last = int(tail)
    head2, sep2, tail2 = head.rpartition(":")
    if sep2 and tail2.isdigit() and len(tail2) <= 9:
        return head2, int(tail2), last
    return head, last, None


def _looks_like_location(url: str, lineno: int | None) -> bool:
    return lineno is not None or url in _SPECIAL_LOCATIONS or "://" in url or url.startswith("/")


def _in_app(abs_path: str | None) -> bool:
    return bool(abs_path) and not is_library_path(abs_path)


def _frame(function: str | None, url: str | None, lineno: int | None, colno: int | None) -> Frame:
    if function is not None:
        function = function.strip()[:MAX_FIELD] or None
    if not url:
        return Frame(function, None, None, None, lineno, colno, in_app=False)
    url = url[:MAX_FIELD]
    filename = url if url in _SPECIAL_LOCATIONS else url_path(url)
    return Frame(function, None, filename or url, url, lineno, colno, in_app=_in_app(url))


def _parse_v8(line: str) -> Frame | None:
    """`at fn (url:1:2)`, `at url:1:2`, `at async fn (…)`, `at fn (eval at g (url:1:2), <anonymous>:3:4)`."""
    body = line.strip()[3:].strip()
    function: str | None = None
    location = body
    paren = body.find(" (")
    if body.endswith(")") and paren >= 0:
        function, location = body[:paren], body[paren + 2 : -1]
    elif body.startswith("(") and body.endswith(")"):
        location = body[1:-1]
    if function is not None and function.startswith("async "):
        function = function[6:]
    if location.startswith("async "):
        location = location[6:]
    if location.startswith("eval at "):
        # The eval'd code has no file of its own; use the innermost real location.
        close = location.find(")")
        opened = location.rfind("(", 0, close) if close >= 0 else -1
        location = location[opened + 1 : close] if opened >= 0 else "<anonymous>"
    if _PROMISE_INDEX.fullmatch(location):
        location = "native"
    url, lineno, colno = _split_location(location)
    if not _looks_like_location(url, lineno):
        return None
    return _frame(function, url, lineno, colno)


def _parse_gecko(line: str) -> Frame | None:
    """Firefox and Safari: `fn@url:1:2`, `@url:1:2`, `fn/<@…`, `x@url line 2 > eval:1:2`, `[native code]`."""
    text = line.strip()
    if text == "[native code]":
        return _frame(None, "[native code]", None, None)
    at = text.find("@")
    if at < 0:
        return None
    function, location = text[:at], text[at + 1 :]
    if function.startswith("async*"):
        function = function[6:]
    if not location:
        # Safari's "eval code@" / "global code@" with nothing to point at.
        return _frame(function, None, None, None) if function else None
    if " > eval" in location or " > Function" in location:
        # "https://x/a.js line 2 > eval:1:2": the eval'd code was created at line 2 of a.js.
        url, _, rest = location.partition(" line ")
        digits = rest.split(" ", 1)[0]
        lineno = int(digits) if digits.isdigit() and len(digits) <= 9 else None
        return _frame(function, url, lineno, None)
    url, lineno, colno = _split_location(location)
    if not _looks_like_location(url, lineno):
        return None
    return _frame(function, url, lineno, colno)


def _parse_line(line: str, v8: bool) -> Frame | None:
    if v8:
        return _parse_v8(line) if _V8_LINE.match(line) else None
    return _parse_gecko(line)


def parse_js_stack(stack: str) -> tuple[Frame, ...]:
    """Frames of a JavaScript stack string, oldest-first (crashing frame last, as Sentry orders them).

    V8 stacks are recognised by their `at` lines, and then only `at` lines are frames (the
    message above them may contain anything). Otherwise lines are read as
    SpiderMonkey/JavaScriptCore `function@location`. Lines that match neither are skipped.
    in_app is False for library, runtime, extension and native locations, True otherwise.
    """
    lines = stack[:MAX_STACK].splitlines()
    v8 = any(_V8_LINE.match(line) for line in lines)
    frames: list[Frame] = []
    for line in lines:
        frame = _parse_line(line, v8)
        if frame is not None:
            frames.append(frame)
            if len(frames) == MAX_FRAMES:
                break
    frames.reverse()
    return tuple(frames)


def parse_js_error_header(stack: str) -> tuple[str | None, str | None]:
    """(type, value) from a V8 stack's first line(s), e.g. "TypeError: x is undefined", else (None, None).

    The message may span several lines, up to the first `at` line. Firefox and Safari
    stacks have no header.
    """
    text = stack[:MAX_STACK].lstrip("\r\n")
    first, _, rest = text.partition("\n")
    first = first.rstrip("\r")
    if not first or _V8_LINE.match(first):
        return None, None
    found = _HEADER.fullmatch(first[:MAX_FIELD])
    if found is None:
        return None, None
    error_type, value = found.group(1), found.group(2)
    if value is None:
        return (error_type, None) if _BARE_ERROR_NAME.fullmatch(error_type) else (None, None)
    lines = rest.splitlines()
    first_frame = next((i for i, line in enumerate(lines) if _V8_LINE.match(line)), None)
    if first_frame:
        # A V8 message may span lines; without `at` lines below, only the first line is the message.
        value = "\n".join([value, *(line.rstrip("\r") for line in lines[:first_frame])])
    return error_type, value.strip()[:MAX_FIELD] or None
