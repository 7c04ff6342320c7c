"""Curated pattern lists for the HTTP detectors, and the normal forms they are matched on.

A list is a text file next to this module (README.md records where each comes from): one
entry a line, lines starting with `#` are comments, `[name]` starts a section, entries are
stripped and lower-cased. Matching is plain substring / suffix tests on at most
`MAX_SCAN` characters, so its cost is linear in the input whatever an attacker sends.

The one exception is the `[certain]` section of the injection lists: payload *shapes*,
`name | anchor, anchor | regular expression`, that one request proves (`' OR 1=1--`,
`UNION SELECT … FROM`). Each is tried only on text that holds one of its anchors (literals
every match contains), and every repetition in them is bounded and never nested in another
(tests/security/test_injection_detectors.py checks both), so their cost stays linear too.
`{{name}}` in a shape stands for the `[fragments]` entry `name | expression`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import unquote_plus

# Ingest clips URLs at 2,048 characters; this leaves room for details and bounds the work.
MAX_SCAN = 8192


@cache
def load(name: str) -> dict[str, tuple[str, ...]]:
    """The sections of a pattern file, {section: entries}; entries before any header are in ""."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("[") and entry.endswith("]"):
            current = entry[1:-1].strip().lower()
            sections.setdefault(current, [])
            continue
        sections[current].append(entry.lower())
    return {key: tuple(dict.fromkeys(values)) for key, values in sections.items()}


def section(name: str, part: str) -> tuple[str, ...]:
    """One section of a pattern file; KeyError when the file has no such section."""
    return load(name)[part]


@dataclass(frozen=True, slots=True)
class Shape:
    """A payload shape one request proves: tried only where one of its anchors occurs."""

    name: str
    anchors: tuple[str, ...]
    regex: re.Pattern[str]
    source: str  # the expression as written, fragments expanded


_FRAGMENT = re.compile(r"\{\{([\w-]+)\}\}")


@cache
def shapes(name: str) -> tuple[Shape, ...]:
    """The `[certain]` shapes of a pattern file, `[fragments]` expanded; kept as written
    (not lower-cased: `\\D` and `\\d` differ)."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    fragments: dict[str, str] = {}
    found: list[Shape] = []
    current = ""

    def expand(expression: str) -> str:
        return _FRAGMENT.sub(lambda m: f"(?:{fragments[m[1]]})", expression)

    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("[") and entry.endswith("]"):
            current = entry[1:-1].strip().lower()
            continue
        if current == "fragments":
            key, _, expression = entry.partition(" | ")
            fragments[key.strip()] = expand(expression.strip())
        elif current == "certain":
            shape, anchors, expression = (part.strip() for part in entry.split(" | ", 2))
            source = expand(expression)
            found.append(
                Shape(shape, tuple(a.strip().lower() for a in anchors.split(",")), re.compile(source), source)
            )
    return tuple(found)


@functools.lru_cache(maxsize=2048)
def decodings(text: str) -> tuple[str, ...]:
    """`text` lower-cased as sent, URL-decoded once and twice (double encoding), distinct.

    Decoding twice catches `%252e%252e%252f` (AppSensor EE1, double encoded character);
    `+` decodes to a space, invalid escapes are left as they are.
    """
    raw = text[:MAX_SCAN]
    if "%" not in raw:  # most text: only `+` to decode, and the second decoding changes nothing
        lower = raw.lower()
        return (lower, lower.replace("+", " ")) if "+" in raw else (lower,)
    once = unquote_plus(raw)
    twice = unquote_plus(once)
    return tuple(dict.fromkeys((raw.lower(), once.lower(), twice.lower())))


@functools.lru_cache(maxsize=256)
def squeezed(text: str) -> tuple[str, bool]:
    """The decoded forms of `text` without any whitespace, joined by newlines, and whether a
    form holds a backslash or an SQL comment mark.

    Without those two, every form a rule normalises to differs from its decoded form only in
    whitespace, so a literal absent here (whitespace removed) is absent from every rule's
    normal form too: one cheap test, shared by the injection rules, clears most URLs.
    """
    forms = decodings(text)
    special = any("\\" in form or "/*" in form or "*/" in form for form in forms)
    return "\n".join(map(compact, forms)), special


@functools.lru_cache(maxsize=2048)
def request_part(url: str) -> str:
    """What follows the host in an absolute URL (path, query, fragment); other text as is."""
    scheme_end = url.find("://", 0, 16)
    if scheme_end <= 0:
        return url
    start = scheme_end + 3
    end = len(url)
    for mark in "/?#":
        cut = url.find(mark, start, end)
        if cut >= 0:
            end = cut
    return url[end:]


@functools.lru_cache(maxsize=256)
def path_of(url: str) -> str:
    """The path of a URL or of a request target: no scheme, host, query or fragment."""
    part = request_part(url)
    for mark in ("?", "#"):
        cut = part.find(mark)
        if cut >= 0:
            part = part[:cut]
    return part


def compact(text: str) -> str:
    """`text` without any whitespace: `onerror = alert(1)` and `' or 1 = 1` match one way."""
    return "".join(text.split())
