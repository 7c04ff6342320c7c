"""The Performance page's numbers, from the quantile rollups only (never raw events).

Web vitals come from the all-pages sketch rows (page ""), read once for the whole range
and cut into chart steps: each row lies in exactly one step, so the same rows give each
step's p75 and rating shares and, merged, the range's. Worst pages merge each page's rows
for one vital; API latency merges each route's request rows (name "" is every route
together). A range of any length reads at most days + 46 hour + 118 minute rows per key
(`sketch_rollups.plan`), so the cost does not grow with the number of stored events.

What is merged from closed days (before today's UTC midnight) is kept in memory per query
while those days' rollup versions do not change (`SketchReader`, `closed_cache`); a
request then reads and merges only today's rows into it: on 30 days, one row per key
instead of 31. Bins and counts add exactly, so the numbers are those of merging every row.

"All projects" merges the projects' rows: sketches and rating counts add exactly.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.events import Kind
from syncmon.metrics import sketch_rollups as sr
from syncmon.metrics import vitals
from syncmon.metrics.sketch_rollups import Span, Summary
from syncmon.metrics.sketches import merge_encoded
from syncmon.store.schema import rollup_sketches
from syncmon.web.dashboard.closed_cache import ClosedCache, closed_part, split_spans, today_start

VITALS = ("LCP", "INP", "CLS", "FCP", "TTFB")
# Chart steps (minutes): the smallest giving at most MAX_POINTS points over the range.
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
MAX_POINTS = 32
PAGES_SHOWN = 20
ROUTES_SHOWN = 25
MINUTE_MS = 60_000


def step_for(range_minutes: int) -> int:
    return next((step for step in STEPS if -(-range_minutes // step) <= MAX_POINTS), STEPS[-1])


@dataclass(frozen=True, slots=True)
class ChartWindow:
    """A time range cut into chart steps: the spans covering it, and the steps' starts."""

    since_ms: int
    until_ms: int
    step: int
    starts: tuple[int, ...]  # epoch minute each step starts (aligned to the step)
    spans: tuple[Span, ...]  # the whole range
    step_spans: tuple[Span, ...]  # every step's own spans: each row lies in exactly one step

    @classmethod
    def ending(cls, now_ms: int, range_minutes: int) -> ChartWindow:
        """The range ending now, its start rounded down to a whole step (30 days start at a UTC
        midnight, 24 hours on the hour): every chart point then covers a whole step, so the
        first is no smaller than the others, and a key's range is read from whole-step rows
        (31 day rows for 30 days, 12 rows for 24 hours) instead of day, hour and minute rows."""
        step = step_for(range_minutes)
        first, end = sr.window_minutes(now_ms - range_minutes * MINUTE_MS, now_ms)
        first -= first % step
        pieces = sr.series_pieces(first, end, step)
        return cls(
            since_ms=first * MINUTE_MS,
            until_ms=now_ms,
            step=step,
            starts=tuple(start for start, _, _ in pieces),
            spans=tuple(sr.plan(first, end, now_ms)),
            step_spans=tuple(span for _, low, high in pieces for span in sr.plan(low, high, now_ms)),
        )

    def step_of(self, bucket: int) -> int:
        return max(0, bisect_right(self.starts, bucket) - 1)

    @property
    def x(self) -> list[int]:
        """Chart x values: each step's start in epoch seconds."""
        return [start * 60 for start in self.starts]


# --- formatting ------------------------------------------------------------------------------


def format_ms(value: float | None) -> str:
    """'2.35 s', '180 ms', '—' for nothing."""
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def format_value(metric: str, value: float | None) -> str:
    """A metric's value in its unit: '2.35 s', '180 ms', '0.123' (CLS), '—' for nothing."""
    if value is None or vitals.unit(metric) == vitals.MILLISECONDS:
        return format_ms(value)
    return f"{value:.3f}" if value < 1 else f"{value:,.2f}"


def threshold_text(metric: str) -> str:
    limits = vitals.thresholds(metric)
    if limits is None:
        return ""
    return f"good ≤ {format_value(metric, limits.good)}, poor > {format_value(metric, limits.poor)}"


# --- reading -----------------------------------------------------------------------------


class _Group:
    """Rows of one key (a metric, page or route), merged when asked."""

    __slots__ = ("blobs", "counts")

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.counts = [0, 0, 0, 0, 0]  # count, good, needs improvement, poor, errors

    def add(self, count: int, good: int, needs: int, poor: int, errors: int, blob: bytes) -> None:
        self.blobs.append(blob)
        counts = self.counts
        counts[0] += count
        counts[1] += good
        counts[2] += needs
        counts[3] += poor
        counts[4] += errors

    def summary(self) -> Summary:
        count, good, needs, poor, errors = self.counts
        return Summary(merge_encoded(self.blobs), count, good, needs, poor, errors, len(self.blobs))

    def merged(self) -> Merged:
        summary = self.summary()
        return Merged(summary, self.blobs[0] if len(self.blobs) == 1 else summary.sketch.to_bytes())


@dataclass(frozen=True, slots=True)
class Merged:
    """A key's rows over closed days, merged: the summary and its sketch encoded, so today's
    rows can be merged into it (bins and counts add exactly, as if every row were merged)."""

    summary: Summary
    blob: bytes

    def plus(self, group: _Group | None) -> Summary:
        if group is None or not group.blobs:
            return self.summary
        old = self.summary
        count, good, needs, poor, errors = group.counts
        return Summary(
            merge_encoded([self.blob, *group.blobs]),
            old.count + count,
            old.good + good,
            old.needs_improvement + needs,
            old.poor + poor,
            old.errors + errors,
            old.rows + len(group.blobs),
        )


def _groups(rows: Iterable[Any], key_of: Callable[[Any, int], Hashable] | None = None) -> dict[Any, _Group]:
    """Rows of (key, bucket, count, good, needs improvement, poor, errors, sketch) by key
    (or by `key_of(key, bucket)`)."""
    groups: dict[Any, _Group] = defaultdict(_Group)
    for key, bucket, *values in rows:
        groups[key if key_of is None else key_of(key, bucket)].add(*values)
    return groups


@dataclass(frozen=True, slots=True)
class SketchReader:
    """Reads merged sketch rows of some projects for a page rendered at `now_ms`.

    Rows of closed days (before today's UTC midnight) are merged once per query and kept
    in `cache` while the days' rollup versions stay the same (`closed_cache`); today's
    rows are read on every call and merged into them."""

    conn: Connection
    project_ids: tuple[int, ...]
    now_ms: int
    cache: ClosedCache | None = None

    def rows(self, group: Any, spans: Sequence[Span], *conditions: Any) -> Iterable[Any]:
        """Rows of (key, bucket, count, good, needs improvement, poor, errors, sketch)."""
        if not spans:
            return []
        r = rollup_sketches
        columns = (r.c.count.label("n"), r.c.good, r.c.needs_improvement, r.c.poor, r.c.errors, r.c.sketch)
        statement = sa.select(group.label("grp"), r.c.bucket, *columns).where(
            r.c.project_id.in_(list(self.project_ids)), *conditions, sr.spans_clause(r, spans)
        )
        return self.conn.execute(statement).all()

    def closed_and_today(
        self,
        key: Hashable,
        spans: Sequence[Span],
        read: Callable[[Sequence[Span]], Iterable[Any]],
        key_of: Callable[[Any, int], Hashable] | None = None,
    ) -> tuple[dict[Any, Merged], dict[Any, _Group]]:
        """The spans' rows by key: closed days merged (maybe from the cache), today's rows."""
        closed, today = split_spans(spans, today_start(self.now_ms))

        def merge(part: Sequence[Span]) -> dict[Any, Merged]:
            return {k: group.merged() for k, group in _groups(read(part), key_of).items()}

        merged = closed_part(self.conn, self.cache, sr.SKETCHES, self.project_ids, key, closed, merge).value
        return merged, _groups(read(today), key_of)

    def summaries(
        self, key: Hashable, group: Any, spans: Sequence[Span], *conditions: Any
    ) -> dict[str, Summary]:
        """Rows of the spans merged per `group` value."""
        closed, today = self.closed_and_today(key, spans, lambda part: self.rows(group, part, *conditions))
        found: dict[str, Summary] = {}
        for name in sorted(closed.keys() | today.keys()):
            before = closed.get(name)
            found[name] = before.plus(today.get(name)) if before is not None else today[name].summary()
        return found


def summaries_by_name(
    reader: SketchReader, spans: Sequence[Span], kind: str, names: Sequence[str]
) -> dict[str, Summary]:
    """The all-pages rows of some metrics (or routes; "" = every route) merged per name."""
    r = rollup_sketches
    wanted = tuple(sorted(names))
    return reader.summaries(
        ("names", kind, wanted), r.c.name, spans, r.c.kind == kind, r.c.page == "", r.c.name.in_(wanted)
    )


def has_rollups(conn: Connection, project_ids: Sequence[int], kind: str) -> bool:
    """Whether the projects ever stored a value of this kind (for the empty state's wording)."""
    r = rollup_sketches
    statement = sa.select(r.c.tier).where(r.c.project_id.in_(list(project_ids)), r.c.kind == kind).limit(1)
    return conn.execute(statement).first() is not None


# --- web vitals over time ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VitalPanel:
    metric: str
    unit: str | None
    count: int
    p75: float | None
    good: float | None  # shares of rated measurements, 0..1
    needs_improvement: float | None
    poor: float | None
    series_p75: tuple[float | None, ...]
    series_shares: tuple[tuple[float | None, float | None, float | None], ...]  # percent per step

    @property
    def rating(self) -> str | None:
        return vitals.rate(self.metric, self.p75) if self.p75 is not None else None

    @property
    def p75_text(self) -> str:
        return format_value(self.metric, self.p75)

    @property
    def thresholds_text(self) -> str:
        return threshold_text(self.metric)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


@dataclass(frozen=True, slots=True)
class _Step:
    """One chart step of one vital: its rows merged, its p75 and rating shares (percent)."""

    merged: Merged
    p75: float | None
    shares: tuple[float | None, float | None, float | None]

    @classmethod
    def of(cls, merged: Merged) -> _Step:
        step = merged.summary
        rated = step.good + step.needs_improvement + step.poor
        shares = (
            _percent(step.good, rated),
            _percent(step.needs_improvement, rated),
            _percent(step.poor, rated),
        )
        return cls(merged, step.quantiles(("p75",))["p75"], shares)


def _whole(steps: Iterable[_Step]) -> _Group:
    """The steps' sketches as the rows of a group: the range is the steps' union, so each
    step's sketch is merged once, not its rows again."""
    whole = _Group()
    for step in steps:
        s = step.merged.summary
        whole.add(s.count, s.good, s.needs_improvement, s.poor, s.errors, step.merged.blob)
    return whole


def vital_panels(reader: SketchReader, window: ChartWindow) -> list[VitalPanel]:
    """Each vital's p75 and rating shares over the range and per chart step. A step lies
    wholly before or after today's midnight; the closed steps, with their p75s and their
    union, are computed once while the closed days are unchanged (`SketchReader`)."""
    r = rollup_sketches
    wanted = (r.c.kind == Kind.PERFORMANCE.value, r.c.page == "", r.c.name.in_(VITALS))

    def steps_of(part: Sequence[Span]) -> dict[tuple[str, int], _Step]:
        rows = reader.rows(r.c.name, part, *wanted)
        groups = _groups(rows, lambda metric, bucket: (metric, window.starts[window.step_of(bucket)]))
        return {key: _Step.of(group.merged()) for key, group in groups.items()}

    def closed_steps(part: Sequence[Span]) -> tuple[dict[tuple[str, int], _Step], dict[str, Merged]]:
        steps = steps_of(part)
        wholes = {}
        for metric in VITALS:
            whole = _whole(step for (name, _), step in sorted(steps.items()) if name == metric)
            if whole.blobs:
                wholes[metric] = whole.merged()
        return steps, wholes

    closed_spans, today_spans = split_spans(window.step_spans, today_start(reader.now_ms))
    before, wholes = closed_part(
        reader.conn,
        reader.cache,
        sr.SKETCHES,
        reader.project_ids,
        ("vitals", window.step),
        closed_spans,
        closed_steps,
    ).value
    today = steps_of(today_spans)
    panels = []
    for metric in VITALS:
        found = [before.get((metric, start)) or today.get((metric, start)) for start in window.starts]
        fresh = _whole(today[(metric, start)] for start in window.starts if (metric, start) in today)
        closed_whole = wholes.get(metric)
        summary = closed_whole.plus(fresh) if closed_whole is not None else fresh.summary()
        share = summary.shares()
        panels.append(
            VitalPanel(
                metric=metric,
                unit=vitals.unit(metric),
                count=summary.count,
                p75=summary.quantiles(("p75",))["p75"] if summary.count else None,
                good=share["good"],
                needs_improvement=share["needs_improvement"],
                poor=share["poor"],
                series_p75=tuple(step.p75 if step else None for step in found),
                series_shares=tuple(step.shares if step else (None, None, None) for step in found),
            )
        )
    return panels


# --- worst pages and API routes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRow:
    page: str
    metric: str
    p75: float | None
    count: int
    good: float | None
    needs_improvement: float | None
    poor: float | None

    @property
    def rating(self) -> str | None:
        return vitals.rate(self.metric, self.p75) if self.p75 is not None else None

    @property
    def p75_text(self) -> str:
        return format_value(self.metric, self.p75)


def _worst_first(value: float | None, count: int, name: str) -> tuple[float, int, str]:
    return (-(value if value is not None else float("-inf")), -count, name)


def worst_pages(reader: SketchReader, metric: str, spans: Sequence[Span]) -> list[PageRow]:
    """Every page's p75 of one vital over the range, worst first."""
    r = rollup_sketches
    wanted = (r.c.kind == Kind.PERFORMANCE.value, r.c.name == metric, r.c.page != "")
    found = reader.summaries(("pages", metric), r.c.page, spans, *wanted)
    pages = []
    for page, summary in found.items():
        share = summary.shares()
        pages.append(
            PageRow(
                page=page,
                metric=metric,
                p75=summary.quantiles(("p75",))["p75"],
                count=summary.count,
                good=share["good"],
                needs_improvement=share["needs_improvement"],
                poor=share["poor"],
            )
        )
    return sorted(pages, key=lambda row: _worst_first(row.p75, row.count, row.page))


@dataclass(frozen=True, slots=True)
class RouteRow:
    route: str  # "" is every route together
    count: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.count if self.count else None

    def text(self, quantile: str) -> str:
        value: float | None = getattr(self, quantile)
        return format_ms(value)


def route_summaries(reader: SketchReader, spans: Sequence[Span]) -> dict[str, Summary]:
    """Request durations per route over the range; "" is every route together."""
    r = rollup_sketches
    return reader.summaries(("routes",), r.c.name, spans, r.c.kind == Kind.REQUEST.value, r.c.page == "")


def route_latency(found: dict[str, Summary]) -> tuple[RouteRow | None, list[RouteRow]]:
    """(every route together, each route slowest first by p95)."""
    rows = {}
    for route, summary in found.items():
        q = summary.quantiles(("p50", "p95", "p99"))
        rows[route] = RouteRow(route, summary.count, summary.errors, q["p50"], q["p95"], q["p99"])
    overall = rows.pop("", None)
    return overall, sorted(rows.values(), key=lambda row: _worst_first(row.p95, row.count, row.route))
