"""Deciding which errors are the same issue: a hash over normalized, explainable components.

Precedence follows Sentry: a custom fingerprint, else the stack (in-app frames, or all
frames when none are in-app, plus each exception's type), else the exceptions' types
and normalized values, else the normalized message, else a constant. GlitchTip's
md5(title + culprit) splits one bug into many issues whenever a number in the message
changes; here the message is only used when there is no usable stack, and then only
after normalize_message has replaced the data in it.

Line and column numbers and context lines never enter the hash: they move with every
unrelated edit of the file. Minified function names and bundle content hashes change
with every build, so minified names are dropped and hashes replaced; when a stack has
nothing but minified frames in bundled files it says nothing stable about the code path,
and the exception type and message decide instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from .frames import MAX_FIELD, MAX_FRAMES, ExceptionInfo, Frame, is_library_path
from .normalize import clean_function, is_minified_name, normalize_filename, normalize_message, url_path

MAX_GROUPING_FRAMES: Final = 50  # per exception, from the crash end
MAX_FINGERPRINT: Final = 32
MAX_CHAIN: Final = 10  # exceptions per chain grouping reads (the outermost); SDKs send ≤ 5-10
MAX_TITLE: Final = 200
MAX_CULPRIT: Final = 200
UNLABELED: Final = "<unlabeled event>"

_DEFAULT_ENTRY: Final = re.compile(r"\{\{\s*default\s*\}\}")
_JS_PLATFORMS: Final = frozenset({"javascript", "node", "typescript", "react-native"})
_JS_SUFFIXES: Final = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts", ".vue", ".svelte")
_NATIVE_LOCATIONS: Final = frozenset(
    {"<anonymous>", "native", "[native code]", "unknown location", "<unknown>"}
)
# Where a browser's code is a build output rather than a source file.
_BUNDLE_MARKERS: Final = (
    ".min.",
    ".chunk.",
    ".bundle.",
    "bundle.js",
    "vendors~",
    "/_next/static/",
    "/static/js/",
    "/assets/",
    "/dist/",
    "/build/",
    "/bundles/",
)


@dataclass(frozen=True, slots=True)
class GroupingInput:
    """What grouping reads from an event. `exceptions` in Sentry's order: the last is the one raised."""

    exceptions: tuple[ExceptionInfo, ...] = ()
    message: str | None = None
    fingerprint: tuple[str, ...] | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class Grouping:
    """The issue hash (32 hex chars), how it was decided, and the normalized strings that were hashed."""

    hash: str
    method: str  # "fingerprint" | "stacktrace" | "exception" | "message" | "fallback"
    components: tuple[str, ...]


def hash_components(components: Iterable[str]) -> str:
    """32 hex chars of SHA-256 over length-prefixed components, so ("ab", "c") differs from ("a", "bc")."""
    digest = hashlib.sha256()
    for component in components:
        data = component.encode("utf-8", "surrogatepass")
        digest.update(b"%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()[:32]


def _is_app(frame: Frame) -> bool:
    if frame.in_app is not None:
        return frame.in_app
    return not (is_library_path(frame.abs_path) or is_library_path(frame.filename))


def _is_js(frame: Frame, platform: str | None) -> bool:
    if platform is not None:
        lowered = platform.lower()
        if lowered in _JS_PLATFORMS:
            return True
        if lowered not in ("", "other"):
            return False
    path = frame.abs_path or frame.filename or ""
    return "://" in path or path.lower().endswith(_JS_SUFFIXES) or path in _NATIVE_LOCATIONS


@lru_cache(maxsize=8192)
def _function_name(function: str, js: bool) -> tuple[str, bool]:
    """(the name grouping uses, whether it is minified). Cached: real traffic repeats a few names."""
    if not js:
        name = function.strip()
    else:
        # V8 prefixes the receiver ("Object.foo", "HTMLButtonElement.onClick"), which varies by call site.
        name = clean_function(function)
        name = name.rsplit(".", 1)[1] if "." in name else name
    return name, is_minified_name(name)


def _looks_bundled(frame: Frame, path: str) -> bool:
    """Whether the frame's file is build output (hashed, minified, chunked) or missing: it names no source."""
    if frame.module:
        return False
    raw = frame.abs_path or frame.filename or ""
    if not raw or raw in _NATIVE_LOCATIONS or "<hash>" in path or "?" in raw:
        return True
    lowered = raw.lower()
    return any(marker in lowered for marker in _BUNDLE_MARKERS)


def _frame_component(frame: Frame, js: bool) -> tuple[str | None, bool]:
    """("frame:<module or file> in <function>" or "frame:<file>" for minified names, minified-and-bundled)."""
    raw_path = frame.filename or frame.abs_path
    path = normalize_filename(raw_path) if raw_path else ""
    where = frame.module[:MAX_FIELD] if frame.module else path
    name, minified = _function_name(frame.function[:MAX_FIELD], js) if frame.function else ("", True)
    if minified:
        if not where:
            return None, True
        return f"frame:{where}", _looks_bundled(frame, path)
    return f"frame:{where or '?'} in {name}", False


def _type_component(exc: ExceptionInfo) -> str:
    return "type:" + (exc.type or "")[:MAX_FIELD].strip()


def _chain(data: GroupingInput) -> tuple[ExceptionInfo, ...]:
    return data.exceptions[-MAX_CHAIN:]


def _stacktrace_components(data: GroupingInput) -> tuple[str, ...] | None:
    chain = _chain(data)
    selected = [(exc, [(f, _is_app(f)) for f in exc.frames[-MAX_GROUPING_FRAMES:]]) for exc in chain]
    any_app = any(app for _, frames in selected for _, app in frames)
    components: list[str] = []
    usable = 0
    only_minified_bundles = True
    for exc, frames in selected:
        components.append(_type_component(exc))
        previous: str | None = None
        for frame, app in frames:
            if any_app and not app:
                continue
            component, minified_bundled = _frame_component(frame, _is_js(frame, data.platform))
            if component is None:
                continue
            usable += 1
            only_minified_bundles = only_minified_bundles and minified_bundled
            if component != previous:  # recursion: a frame repeated N times counts once
                components.append(component)
            previous = component
    if usable == 0 or only_minified_bundles:
        return None
    return tuple(components)


def _exception_components(data: GroupingInput) -> tuple[str, ...] | None:
    components: list[str] = []
    for exc in _chain(data):
        if not exc.type and not exc.value:
            continue
        components.append(_type_component(exc))
        if exc.value:
            components.append("value:" + normalize_message(exc.value))
    return tuple(components) or None


def _default(data: GroupingInput) -> Grouping:
    components = _stacktrace_components(data)
    if components is not None:
        return Grouping(hash_components(components), "stacktrace", components)
    components = _exception_components(data)
    if components is not None:
        return Grouping(hash_components(components), "exception", components)
    if data.message and data.message.strip():
        components = ("message:" + normalize_message(data.message),)
        return Grouping(hash_components(components), "message", components)
    components = ("fallback:" + UNLABELED,)
    return Grouping(hash_components(components), "fallback", components)


def _is_default_entry(entry: str) -> bool:
    return _DEFAULT_ENTRY.fullmatch(entry.strip()) is not None


def group(data: GroupingInput) -> Grouping:
    """The issue an event belongs to.

    A custom fingerprint wins: its entries are hashed literally, except `{{ default }}`,
    which stands for the default grouping's components (so `["{{ default }}", "tenant-a"]`
    splits each default group by tenant; `["{{ default }}"]` alone is the default).
    """
    entries = [e if isinstance(e, str) else str(e) for e in (data.fingerprint or ())[:MAX_FINGERPRINT]]
    if not entries:
        return _default(data)
    defaults = [_is_default_entry(entry) for entry in entries]
    if all(defaults):
        return _default(data)
    default_components = _default(data).components if any(defaults) else ()
    components: list[str] = []
    for entry, is_default in zip(entries, defaults, strict=True):
        if is_default:
            components.extend(default_components)
        else:
            components.append(entry[:MAX_FIELD])
    return Grouping(hash_components(components), "fingerprint", tuple(components))


def _first_line(text: str) -> str:
    for line in text[: MAX_FIELD * 4].splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def title_for(data: GroupingInput) -> str:
    """`Type: first line of value` of the outermost exception, else the message's first line (≤ 200 chars)."""
    for exc in reversed(_chain(data)):
        error_type = (exc.type or "").strip()
        value = _first_line(exc.value or "")
        if error_type or value:
            title = f"{error_type}: {value}" if error_type and value else error_type or value
            return _clip(title, MAX_TITLE)
    message = _first_line(data.message or "")
    return _clip(message, MAX_TITLE) if message else UNLABELED


def _culprit(frame: Frame) -> str | None:
    where = frame.module or (
        url_path(frame.filename or frame.abs_path or "") or frame.filename or frame.abs_path
    )
    if not where:
        return None
    function = (frame.function or "").strip() or "?"
    return _clip(f"{where} in {function}", MAX_CULPRIT)


def culprit_for(data: GroupingInput) -> str | None:
    """Where it broke, like Sentry's culprit: "module in function" (or "path in function").

    The crash-end in-app frame of the outermost exception that has one; without in-app
    frames, the crash-end frame of the outermost exception that has a location.
    """
    chain = _chain(data)
    for exc in reversed(chain):
        for frame in reversed(exc.frames[-MAX_FRAMES:]):
            if _is_app(frame):
                culprit = _culprit(frame)
                if culprit is not None:
                    return culprit
    for exc in reversed(chain):
        for frame in reversed(exc.frames[-MAX_FRAMES:]):
            culprit = _culprit(frame)
            if culprit is not None:
                return culprit
    return None
