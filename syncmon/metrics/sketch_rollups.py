"""Quantile and page-view rollups: written in the commit, read over any window from few rows.

Writing (`hook`, one of the writer's in-transaction hooks): each batch's events update

- `rollup_sketches`: for `performance_metric` events (web vitals and other named
  measurements) one DDSketch per (project, metric, page) and per (project, metric, all
  pages: page ""); for `request` events one per (project, route) and per (project, all
  routes: name ""). Beside each sketch: count, sum, good / needs-improvement / poor counts
  (web vitals) and errors (requests answered with status >= 500).
- `rollup_dimensions`: page-view counts per total, page, referrer, browser, OS and device.
- `rollup_visitors`: one HyperLogLog of visitors.

Every row exists in three tiers written together: the minute, the hour and the UTC day it
falls in (`tier` = 1, 60, 1440 minutes; `bucket` = the epoch minute the bucket starts).
Writing sketch rows raises the version of each (project, day) written into
(`rollup_versions`, rollup "sketches"), so pages may keep what they merged from closed days.
Sketch and HyperLogLog rows are merged with what is stored: one read of the batch's rows
(`FOR UPDATE`, in key order, on PostgreSQL), a merge in Python, one upsert in key order.
This assumes one writer per store, which the single writer thread guarantees.

Reading: `plan` covers a window with whole days, then whole hours at its edges, then
minutes, so a query reads at most days + 46 hour rows + 118 minute rows per key, whatever
the number of raw events; those rows' sketches are merged (`merge_encoded`). Window edges
are rounded outward to whole minutes. Minute rows are kept MINUTE_TIER_DAYS days and hour
rows HOUR_TIER_DAYS days (`delete_expired_sketch_rollups`); an edge older than that is
rounded outward to the hour or day whose row is still there.

Pages are URL paths without query or fragment, ids collapsed (`/users/42` ->
`/users/{id}`) so that the number of rows stays bounded; request routes get the same
treatment ("GET /users/42" -> "GET /users/{id}"). Events from bots are left out of web
vitals and page views (not out of server request timings).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from syncmon.events import Event, Kind
from syncmon.metrics import rollup_versions, vitals
from syncmon.metrics.sketches import Accumulator, HyperLogLog, Sketch, bin_of, merge_encoded
from syncmon.store.schema import rollup_dimensions, rollup_sketches, rollup_visitors
from syncmon.store.upsert import upsert_add

SKETCHES = "sketches"  # the name of rollup_sketches' versions
MINUTE, HOUR, DAY = 1, 60, 1440  # tiers: bucket widths in minutes
TIERS: tuple[int, ...] = (MINUTE, HOUR, DAY)  # read per batch (the dashboard benchmark narrows it)
MINUTE_MS = 60_000
MINUTE_TIER_DAYS = 7
HOUR_TIER_DAYS = 90
QUANTILES = {"p50": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99}
DIMENSIONS = ("page", "referrer", "browser", "os", "device")
UNKNOWN = "Unknown"
DIRECT = "(direct)"
_READ_CHUNK = 400
PAGE_MAX = 200  # the width of the name and page columns
_MERGE_PIECES = 64  # series pieces up to which the window's visitors are merged from the pieces

RATINGS = ("good", "needs_improvement", "poor")


@lru_cache(maxsize=4096)
def metric_name(name: str) -> str:
    """The metric's canonical name ("lcp", "largest_contentful_paint" -> "LCP")."""
    return vitals.normalize_name(name)[:PAGE_MAX]


def is_vital(metric: str) -> bool:
    return vitals.thresholds(metric) is not None


# --- pages and routes ----------------------------------------------------------------------

_ID_SEGMENT = re.compile(
    r"^(?:\d+"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{16,}"
    r"|(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{24,})$"
)


def normalize_path(path: str) -> str:
    """'/users/42/' -> '/users/{id}': one row per page template, not per id."""
    segments = [s for s in path.split("/") if s]
    collapsed = "/" + "/".join("{id}" if _ID_SEGMENT.match(s) else s for s in segments)
    return collapsed[:PAGE_MAX]


@lru_cache(maxsize=8192)
def page_of(url: str | None) -> str | None:
    """The normalised path of a URL or path; None when there is none."""
    if not url:
        return None
    text = url.strip()
    if not text:
        return None
    if "://" in text or text.startswith("//"):
        try:
            path = urlsplit(text).path
        except ValueError:
            return None
    else:
        path = text.split("#", 1)[0].split("?", 1)[0]
        if not path.startswith("/"):
            return None
    return normalize_path(path)


@lru_cache(maxsize=8192)
def route_name(name: str) -> str:
    """A request's route with its path normalised like a page ('GET /users/7' -> 'GET /users/{id}')."""
    method, _, path = name.partition(" ")
    if path.startswith("/"):
        return f"{method} {normalize_path(path.split('?', 1)[0])}"[:PAGE_MAX]
    return name[:PAGE_MAX]


def event_page(event: Event) -> str | None:
    """A vital's page: the framework route when the client sent one (Vercel's `route`,
    '/blog/[slug]'), else the path of its URL."""
    route = event.data.get("route") if isinstance(event.data, dict) else None
    if isinstance(route, str) and route.startswith("/"):
        return normalize_path(route.split("?", 1)[0])
    return page_of(event.url)


# --- writing ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _SketchCell:
    values: Accumulator = field(default_factory=Accumulator)
    good: int = 0
    needs_improvement: int = 0
    poor: int = 0
    errors: int = 0


SketchKey = tuple[int, str, str, int, int, str]  # project, kind, name, tier, bucket, page
_SKETCH_KEY = ("project_id", "kind", "name", "tier", "bucket", "page")
_SKETCH_VALUES = ("count", "value_sum", "good", "needs_improvement", "poor", "errors", "sketch")


def _targets(event: Event) -> tuple[str, float, list[tuple[str, str]]] | None:
    """(kind, value, [(name, page)...]): the rows an event's value goes to, or None."""
    value = event.value
    if value is None or not math.isfinite(value):
        return None
    if event.kind == Kind.PERFORMANCE:
        if event.is_bot:
            return None
        name = metric_name(event.name)
        page = event_page(event)
        return Kind.PERFORMANCE.value, value, [(name, ""), (name, page)] if page else [(name, "")]
    if event.kind == Kind.REQUEST:
        return Kind.REQUEST.value, value, [(route_name(event.name), ""), ("", "")]
    return None


def _status_error(event: Event) -> bool:
    status = event.data.get("status") if isinstance(event.data, dict) else None
    return isinstance(status, int) and not isinstance(status, bool) and status >= 500


def sketch_cells(events: Iterable[Event]) -> dict[SketchKey, _SketchCell]:
    """The batch's values grouped into every row they update."""
    cells: dict[SketchKey, _SketchCell] = {}
    for event in events:
        found = _targets(event)
        if found is None:
            continue
        kind, value, targets = found
        minute = event.timestamp_ms // MINUTE_MS
        rating = vitals.rate(targets[0][0], value) if kind == Kind.PERFORMANCE.value else None
        error = kind == Kind.REQUEST.value and _status_error(event)
        binned = bin_of(value)
        for tier in TIERS:
            bucket = minute - minute % tier
            for name, page in targets:
                key = (event.project_id, kind, name, tier, bucket, page)
                cell = cells.get(key)
                if cell is None:
                    cell = cells[key] = _SketchCell()
                cell.values.add(value, binned)
                if rating == "good":
                    cell.good += 1
                elif rating == "needs-improvement":
                    cell.needs_improvement += 1
                elif rating == "poor":
                    cell.poor += 1
                if error:
                    cell.errors += 1
    return cells


def apply_sketch_rollups(conn: Connection, events: Sequence[Event]) -> None:
    """Merge the batch's values into the stored minute, hour and day sketches."""
    cells = sketch_cells(events)
    if not cells:
        return
    keys = sorted(cells)
    stored = _read_rows(conn, rollup_sketches, _SKETCH_KEY, keys, ("project_id", "kind", "tier"))
    rows = []
    for key in keys:
        cell = cells[key]
        old = stored.get(key)
        blob, count, total = cell.values.merge_into(old.sketch if old is not None else None)
        good, needs, poor, errors = cell.good, cell.needs_improvement, cell.poor, cell.errors
        if old is not None:
            good += old.good
            needs += old.needs_improvement
            poor += old.poor
            errors += old.errors
        rows.append(
            {
                **dict(zip(_SKETCH_KEY, key, strict=True)),
                "count": count,
                "value_sum": total,
                "good": good,
                "needs_improvement": needs,
                "poor": poor,
                "errors": errors,
                "sketch": blob,
            }
        )
    _upsert_replace(conn, rollup_sketches, rows, _SKETCH_KEY, _SKETCH_VALUES)
    rollup_versions.bump(conn, SKETCHES, {(key[0], rollup_versions.day_of(key[4])) for key in keys})


def visitor_of(event: Event) -> str:
    """Who a page view counts as: PostHog's distinct_id, the user, the session, else the
    client's IP and user agent (hashed into the HyperLogLog, never stored)."""
    data = event.data if isinstance(event.data, dict) else {}
    props = data.get("properties")
    for source in (data, props if isinstance(props, dict) else {}):
        for key in ("distinct_id", "$distinct_id"):
            value = source.get(key)
            if isinstance(value, str | int) and str(value):
                return f"d:{value}"
    if event.user_id:
        return f"u:{event.user_id}"
    if event.session_id:
        return f"s:{event.session_id}"
    if event.client_ip:
        agent = data.get("user_agent")
        agent = agent if isinstance(agent, str) else f"{event.browser}|{event.os}|{event.device}"
        return f"ip:{event.client_ip}|{agent}"
    return f"e:{event.id}"


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url if "://" in url or url.startswith("//") else f"//{url}").hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.removeprefix("www.")[:PAGE_MAX]


def referrer_of(event: Event) -> str | None:
    """The referring site's host; '(direct)' without one; None for a link within the site."""
    data = event.data if isinstance(event.data, dict) else {}
    props = data.get("properties")
    raw = ""
    for source in (data, props if isinstance(props, dict) else {}):
        for key in ("referrer", "$referrer", "r"):
            found = source.get(key)
            if isinstance(found, str) and found.strip():
                raw = found.strip()
                break
        if raw:
            break
    return referrer_of_url(raw, event.url)


def referrer_of_url(raw: str | None, page_url: str | None = None) -> str | None:
    """A referrer URL as counted: its host without www.; '(direct)' for none; None when it is
    the page's own site (a link within the site is no referral)."""
    raw = (raw or "").strip()
    if not raw or raw == "$direct":
        return DIRECT
    host = _host(raw)
    if host is None:
        return raw[:PAGE_MAX]
    own = _host(page_url) if page_url and "://" in page_url else None
    return None if own is not None and own == host else host


def dimension_values(event: Event) -> dict[str, str]:
    values = {"total": "", "page": page_of(event.url) or UNKNOWN}
    referrer = referrer_of(event)
    if referrer is not None:
        values["referrer"] = referrer
    values["browser"] = event.browser or UNKNOWN
    values["os"] = event.os or UNKNOWN
    values["device"] = event.device or UNKNOWN
    return values


_VISITOR_KEY = ("project_id", "tier", "bucket")


def apply_pageview_rollups(conn: Connection, events: Sequence[Event]) -> None:
    """Count the batch's page views per dimension and add their visitors to the HyperLogLogs."""
    counts: Counter[tuple[int, str, int, int, str]] = Counter()
    visitors: dict[tuple[int, int, int], HyperLogLog] = {}
    for event in events:
        if event.kind != Kind.PAGE_VIEW or event.is_bot:
            continue
        minute = event.timestamp_ms // MINUTE_MS
        values = dimension_values(event)
        position = HyperLogLog.position(f"{event.project_id}:{visitor_of(event)}")
        for tier in TIERS:
            bucket = minute - minute % tier
            for dimension, value in values.items():
                counts[(event.project_id, dimension, tier, bucket, value)] += 1
            hll = visitors.get((event.project_id, tier, bucket))
            if hll is None:
                hll = visitors[(event.project_id, tier, bucket)] = HyperLogLog()
            hll.add_position(position)
    if not counts:
        return
    upsert_add(
        conn,
        rollup_dimensions,
        [
            {"project_id": p, "dimension": d, "tier": t, "bucket": b, "value": v, "count": n}
            for (p, d, t, b, v), n in sorted(counts.items())
        ],
        ("project_id", "dimension", "tier", "bucket", "value"),
        ("count",),
    )
    keys = sorted(visitors)
    stored = _read_rows(conn, rollup_visitors, _VISITOR_KEY, keys, ("project_id", "tier"))
    rows = []
    for key in keys:
        hll = visitors[key]
        old = stored.get(key)
        if old is not None:
            hll.merge_bytes(old.hll)
        rows.append({"project_id": key[0], "tier": key[1], "bucket": key[2], "hll": hll.to_bytes()})
    _upsert_replace(conn, rollup_visitors, rows, _VISITOR_KEY, ("hll",))


def hook(conn: Connection, events: Sequence[Event]) -> None:
    """The writer hook: quantile and page-view rollups of a committed batch."""
    apply_sketch_rollups(conn, events)
    apply_pageview_rollups(conn, events)


def _read_rows(
    conn: Connection,
    table: sa.Table,
    key_columns: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
    group_columns: Sequence[str],
) -> dict[tuple[Any, ...], Any]:
    """The stored rows of `keys`, read per group of equal `group_columns` with an IN list per
    other key column (index lookups on both engines, unlike a row-value IN on SQLite), and
    locked in key order on PostgreSQL."""
    positions = [key_columns.index(c) for c in group_columns]
    others = [i for i in range(len(key_columns)) if i not in positions]
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for key in keys:
        groups[tuple(key[i] for i in positions)].append(key)
    wanted = set(keys)
    found: dict[tuple[Any, ...], Any] = {}
    lock = conn.dialect.name == "postgresql"
    order = [table.c[c] for c in key_columns]
    for group, members in sorted(groups.items()):
        for start in range(0, len(members), _READ_CHUNK):
            chunk = members[start : start + _READ_CHUNK]
            conditions = [table.c[c] == v for c, v in zip(group_columns, group, strict=True)]
            for i in others:
                conditions.append(table.c[key_columns[i]].in_(sorted({k[i] for k in chunk})))
            statement = sa.select(table).where(*conditions).order_by(*order)
            if lock:
                statement = statement.with_for_update()
            for row in conn.execute(statement):
                key = tuple(row._mapping[c] for c in key_columns)
                if key in wanted:
                    found[key] = row
    return found


def _upsert_replace(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key_columns: Sequence[str],
    value_columns: Sequence[str],
) -> None:
    """INSERT rows; on a key conflict overwrite the value columns (the caller merged them)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key_columns),
        set_={name: statement.excluded[name] for name in value_columns},
    )
    conn.execute(statement, list(rows))


# --- windows -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """The buckets of one tier with first <= bucket < end (epoch minutes)."""

    tier: int
    first: int
    end: int

    @property
    def buckets(self) -> int:
        return (self.end - self.first) // self.tier


def window_minutes(since_ms: int, until_ms: int) -> tuple[int, int]:
    """[since, until) in whole minutes, rounded outward."""
    return since_ms // MINUTE_MS, -(-until_ms // MINUTE_MS)


def tier_floors(now_ms: int) -> tuple[int, int]:
    """The oldest minute from which minute rows, and hour rows, are sure to be kept."""
    now_minute = now_ms // MINUTE_MS
    return now_minute - MINUTE_TIER_DAYS * DAY + HOUR, now_minute - HOUR_TIER_DAYS * DAY + DAY


def kept_window(first: int, end: int, now_ms: int) -> tuple[int, int]:
    """Minutes [first, end) with each edge older than the minute (hour) tier's retention
    rounded outward to the hour (day), whose row is still kept."""
    minute_floor, hour_floor = tier_floors(now_ms)
    for floor, unit in ((minute_floor, HOUR), (hour_floor, DAY)):
        if first < floor:
            first -= first % unit
        if end < floor and end % unit:
            end += unit - end % unit
    return first, end


def plan(first: int, end: int, now_ms: int | None = None) -> list[Span]:
    """Spans covering minutes [first, end): whole days, whole hours at the edges, minutes.

    With `now_ms`: edges older than the retention of the minute (hour) tier are rounded
    outward to the hour (day); and a window that reaches the current minute ends at the next
    midnight instead, since no bucket after now holds anything (events are at most minutes
    in the future), so today is one day row rather than up to 23 hour and 59 minute rows."""
    if now_ms is not None:
        first, end = kept_window(first, end, now_ms)
        if end > now_ms // MINUTE_MS and end % DAY:
            end += DAY - end % DAY
    if end <= first:
        return []
    spans: list[Span] = []

    def cover(low: int, high: int, tiers: tuple[int, ...]) -> None:
        if low >= high:
            return
        tier, finer = tiers[0], tiers[1:]
        whole_first = -(-low // tier) * tier
        whole_end = high - high % tier
        if not finer:
            spans.append(Span(tier, low, high))
            return
        if whole_first >= whole_end:
            cover(low, high, finer)
            return
        cover(low, whole_first, finer)
        spans.append(Span(tier, whole_first, whole_end))
        cover(whole_end, high, finer)

    cover(first, end, (DAY, HOUR, MINUTE))
    return sorted(spans, key=lambda s: (s.first, s.tier))


def _coalesce(spans: Iterable[Span]) -> list[Span]:
    """Adjacent or overlapping spans of one tier joined (fewer OR terms)."""
    joined: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.tier, s.first)):
        last = joined[-1] if joined else None
        if last is not None and last.tier == span.tier and span.first <= last.end:
            joined[-1] = Span(span.tier, last.first, max(last.end, span.end))
        else:
            joined.append(span)
    return joined


def spans_clause(table: sa.Table, spans: Sequence[Span]) -> sa.ColumnElement[bool]:
    """WHERE term selecting the spans' rows (each an index range on both engines)."""
    if not spans:
        return sa.false()
    return sa.or_(
        *(
            sa.and_(table.c.tier == s.tier, table.c.bucket >= s.first, table.c.bucket < s.end)
            for s in _coalesce(spans)
        )
    )


# --- quantile queries --------------------------------------------------------------------------


@dataclass(slots=True)
class Summary:
    """A merged group of sketch rows."""

    sketch: Sketch
    count: int = 0
    good: int = 0
    needs_improvement: int = 0
    poor: int = 0
    errors: int = 0
    rows: int = 0

    def quantiles(self, names: Iterable[str] = QUANTILES) -> dict[str, float | None]:
        return {name: _round(self.sketch.quantile(QUANTILES[name])) for name in names}

    def shares(self) -> dict[str, float | None]:
        rated = self.good + self.needs_improvement + self.poor
        return {
            "good": round(self.good / rated, 4) if rated else None,
            "needs_improvement": round(self.needs_improvement / rated, 4) if rated else None,
            "poor": round(self.poor / rated, 4) if rated else None,
        }

    def average(self) -> float | None:
        return _round(self.sketch.total / self.count) if self.count else None


def _round(value: float | None) -> float | None:
    """Four significant digits beyond what 1 % accuracy can promise is noise."""
    if value is None:
        return None
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, max(0, 5 - math.floor(math.log10(abs(value)))))


def _merge_groups(rows: Iterable[Any]) -> dict[str, Summary]:
    """Rows of (group, count, good, needs improvement, poor, errors, sketch) merged per group."""
    blobs: dict[str, list[bytes]] = {}
    totals: dict[str, list[int]] = {}
    for key, count, good, needs, poor, errors, blob in rows:
        found = blobs.get(key)
        if found is None:
            blobs[key] = found = []
            totals[key] = [0, 0, 0, 0, 0]
        found.append(blob)
        acc = totals[key]
        acc[0] += count
        acc[1] += good
        acc[2] += needs
        acc[3] += poor
        acc[4] += errors
    merged = {}
    for key in sorted(blobs):
        count, good, needs, poor, errors = totals[key]
        merged[key] = Summary(merge_encoded(blobs[key]), count, good, needs, poor, errors, len(blobs[key]))
    return merged


def _sketch_rows(conn: Connection, group: str, spans: Sequence[Span], *conditions: Any) -> Iterator[Any]:
    r = rollup_sketches
    counts = (r.c.count, r.c.good, r.c.needs_improvement, r.c.poor, r.c.errors)
    statement = sa.select(r.c[group], *counts, r.c.sketch).where(*conditions, spans_clause(r, spans))
    yield from conn.execute(statement)


def metric_summaries(
    conn: Connection, project_id: int, since_ms: int, until_ms: int, now_ms: int | None, page: str = ""
) -> dict[str, Summary]:
    """Every performance metric of one page ("" = all pages) over the window, by metric."""
    r = rollup_sketches
    spans = plan(*window_minutes(since_ms, until_ms), now_ms)
    kind = Kind.PERFORMANCE.value
    rows = _sketch_rows(conn, "name", spans, r.c.project_id == project_id, r.c.kind == kind, r.c.page == page)
    return _merge_groups(rows)


def page_summaries(
    conn: Connection, project_id: int, metric: str, since_ms: int, until_ms: int, now_ms: int | None
) -> dict[str, Summary]:
    """One metric per page over the window; key "" is all pages together."""
    r = rollup_sketches
    spans = plan(*window_minutes(since_ms, until_ms), now_ms)
    rows = _sketch_rows(
        conn,
        "page",
        spans,
        r.c.project_id == project_id,
        r.c.kind == Kind.PERFORMANCE.value,
        r.c.name == metric_name(metric),
    )
    return _merge_groups(rows)


def route_summaries(
    conn: Connection, project_id: int, since_ms: int, until_ms: int, now_ms: int | None
) -> dict[str, Summary]:
    """Request durations per route over the window; key "" is all routes together."""
    r = rollup_sketches
    spans = plan(*window_minutes(since_ms, until_ms), now_ms)
    rows = _sketch_rows(
        conn, "name", spans, r.c.project_id == project_id, r.c.kind == Kind.REQUEST.value, r.c.page == ""
    )
    return _merge_groups(rows)


# --- page-view queries -------------------------------------------------------------------------


def dimension_top(
    conn: Connection, project_id: int, dimension: str, spans: Sequence[Span], limit: int
) -> list[tuple[str, int]]:
    d = rollup_dimensions
    total = sa.func.sum(d.c.count).label("total")
    statement = (
        sa.select(d.c.value, total)
        .where(d.c.project_id == project_id, d.c.dimension == dimension, spans_clause(d, spans))
        .group_by(d.c.value)
        .order_by(total.desc(), d.c.value)
        .limit(limit)
    )
    return [(row.value, int(row.total)) for row in conn.execute(statement)]


def series_pieces(first: int, end: int, step: int) -> list[tuple[int, int, int]]:
    """(aligned start, first, end) of each step-wide piece of minutes [first, end)."""
    pieces = []
    start = first - first % step
    while start < end:
        pieces.append((start, max(start, first), min(start + step, end)))
        start += step
    return pieces


@dataclass(slots=True)
class PageviewReport:
    views: int
    visitors: int
    top: dict[str, list[tuple[str, int]]]
    series: list[tuple[int, int, int]]  # (aligned start minute, views, visitors)
    rows: int


def pageview_report(
    conn: Connection,
    project_id: int,
    since_ms: int,
    until_ms: int,
    now_ms: int | None,
    step_minutes: int,
    limit: int,
) -> PageviewReport:
    first, end = window_minutes(since_ms, until_ms)
    spans = plan(first, end, now_ms)
    top = {dimension: dimension_top(conn, project_id, dimension, spans, limit) for dimension in DIMENSIONS}
    pieces = series_pieces(first, end, step_minutes)
    piece_spans = [plan(low, high, now_ms) for _, low, high in pieces]
    starts = [start for start, _, _ in pieces]
    views = [0] * len(pieces)
    hlls = [HyperLogLog() for _ in pieces]
    every = [span for spans_of_piece in piece_spans for span in spans_of_piece]
    rows = 0
    d, v = rollup_dimensions, rollup_visitors
    if every:
        # Each row of the pieces' spans lies in exactly one piece: its bucket says which.
        statement = sa.select(d.c.bucket, d.c.count.label("n")).where(
            d.c.project_id == project_id, d.c.dimension == "total", d.c.value == "", spans_clause(d, every)
        )
        for row in conn.execute(statement):
            views[bisect_right(starts, row.bucket) - 1] += int(row.n)
            rows += 1
        statement = sa.select(v.c.bucket, v.c.hll).where(v.c.project_id == project_id, spans_clause(v, every))
        for row in conn.execute(statement):
            hlls[bisect_right(starts, row.bucket) - 1].merge_bytes(row.hll)
            rows += 1
    total_hll = HyperLogLog()
    if len(hlls) <= _MERGE_PIECES:
        for hll in hlls:
            total_hll.merge(hll)
    else:
        statement = sa.select(v.c.hll).where(v.c.project_id == project_id, spans_clause(v, spans))
        for blob in conn.execute(statement).scalars():
            total_hll.merge_bytes(blob)
            rows += 1
    return PageviewReport(
        views=sum(views),
        visitors=total_hll.estimate(),
        top=top,
        series=[(start, n, hll.estimate()) for start, n, hll in zip(starts, views, hlls, strict=True)],
        rows=rows,
    )


# --- retention ---------------------------------------------------------------------------------

_TABLES = (rollup_sketches, rollup_dimensions, rollup_visitors)


def tier_cutoffs(now_ms: int, retention_days: int) -> dict[int, int]:
    """Per tier, the bucket (epoch minute) below which rows are deleted."""
    now_minute = now_ms // MINUTE_MS
    keep = {
        MINUTE: min(MINUTE_TIER_DAYS, retention_days),
        HOUR: min(HOUR_TIER_DAYS, retention_days),
        DAY: retention_days,
    }
    return {tier: now_minute - days * DAY for tier, days in keep.items()}


def delete_expired_sketch_rollups(
    conn: Connection, now_ms: int, retention_days: int, max_buckets: int = 60
) -> int:
    """One small retention step over the quantile and page-view rollups: in each table and
    tier, delete the oldest `max_buckets` buckets that are past their cutoff. Returns rows
    deleted; call until it returns 0 (each call is one short transaction). Deleting hour or
    day sketch rows raises the versions of their days (minute rows are never read that old)."""
    deleted = 0
    for tier, cutoff in tier_cutoffs(now_ms, retention_days).items():
        for table in _TABLES:
            first = conn.execute(sa.select(sa.func.min(table.c.bucket)).where(table.c.tier == tier)).scalar()
            if first is None or first >= cutoff:
                continue
            upper = min(int(first) + max_buckets * tier, cutoff)
            result = conn.execute(table.delete().where(table.c.tier == tier, table.c.bucket < upper))
            deleted += int(result.rowcount or 0)
            if table is rollup_sketches and tier != MINUTE:
                rollup_versions.bump_every_project(conn, SKETCHES, int(first), upper)
    return deleted
