"""What pages merged from closed days' rollup rows, kept in memory while those days stay unchanged.

A 30-day page merges thirty closed days and today. The closed days' rows change only when
a late event lands in them (or retention deletes them), and every such write raises the
day's version (`syncmon.metrics.rollup_versions`). So a page splits its spans at today's
UTC midnight, merges the closed part once, keeps the result here under the query and the
spans, together with the versions of the days it covers, and on the next request reads
the versions (one small query) before using it: a changed version means a late write, and
the closed part is merged again. Today's rows are read on every request.

Entries are bounded (least recently used first out); the values must not be changed by
callers, since other requests share them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from sqlalchemy.engine import Connection

from syncmon.metrics import rollup_versions
from syncmon.metrics.rollup_versions import DAY, Versions
from syncmon.metrics.sketch_rollups import MINUTE_MS, Span

T = TypeVar("T")
MAX_ENTRIES = 256


class ClosedCache:
    """A bounded, thread-safe map from a query to (versions, merged value)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[Hashable, tuple[Versions, object]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, versions: Versions) -> object | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] != versions:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, key: Hashable, versions: Versions, value: object) -> None:
        with self._lock:
            self._entries[key] = (versions, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def today_start(now_ms: int) -> int:
    """The epoch minute today's UTC day starts: rows before it belong to closed days."""
    minute = now_ms // MINUTE_MS
    return minute - minute % DAY


def split_spans(spans: Sequence[Span], boundary: int) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    """(the spans' parts before `boundary`, their parts from it on). `boundary` is a UTC
    midnight, a multiple of every tier, so both parts stay whole buckets."""
    closed: list[Span] = []
    opened: list[Span] = []
    for span in spans:
        if span.first < boundary:
            closed.append(Span(span.tier, span.first, min(span.end, boundary)))
        if span.end > boundary:
            opened.append(Span(span.tier, max(span.first, boundary), span.end))
    return tuple(closed), tuple(opened)


@dataclass(frozen=True, slots=True)
class ClosedPart(Generic[T]):
    value: T
    cached: bool


def closed_part(
    conn: Connection,
    cache: ClosedCache | None,
    rollup: str,
    project_ids: Sequence[int],
    key: Hashable,
    spans: Sequence[Span],
    compute: Callable[[Sequence[Span]], T],
) -> ClosedPart[T]:
    """`compute(spans)` for spans of closed days: from the cache when the days' versions
    are those it was computed with, else computed (and kept when there is a cache)."""
    if cache is None or not spans:
        return ClosedPart(compute(spans), False)
    first = rollup_versions.day_of(min(span.first for span in spans))
    end = max(span.end for span in spans)
    versions = rollup_versions.versions(conn, rollup, project_ids, first, end)
    full_key = (rollup, tuple(sorted(project_ids)), key, tuple(spans))
    found = cache.get(full_key, versions)
    if found is not None:
        return ClosedPart(cast(T, found), True)
    value = compute(spans)
    cache.put(full_key, versions, value)
    return ClosedPart(value, False)
