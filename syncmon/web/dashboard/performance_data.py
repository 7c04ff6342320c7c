"""The Performance page's numbers, from the quantile rollups only (never raw events).

Web vitals come from the all-pages sketch rows (page ""), read once for the whole range
and cut into chart steps: each row lies in exactly one step, so the same rows give each
step's p75 and rating shares and, merged, the range's. Worst pages merge each page's rows
for one vital; API latency merges each route's request rows (name "" is every route
together). A range of any length reads at most days + 46 hour + 118 minute rows per key
(`sketch_rollups.plan`), so the cost does not grow with the number of stored events.

"All projects" merges the projects' rows: sketches and rating counts add exactly.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
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


def _rows(
    conn: Connection, group: Any, project_ids: Sequence[int], spans: Sequence[Span], *conditions: Any
) -> Iterable[Any]:
    """Rows of (key, bucket, count, good, needs improvement, poor, errors, sketch)."""
    r = rollup_sketches
    columns = (r.c.count.label("n"), r.c.good, r.c.needs_improvement, r.c.poor, r.c.errors, r.c.sketch)
    statement = sa.select(group.label("grp"), r.c.bucket, *columns).where(
        r.c.project_id.in_(list(project_ids)), *conditions, sr.spans_clause(r, spans)
    )
    return conn.execute(statement).all()


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


def _grouped(rows: Iterable[Any]) -> dict[str, Summary]:
    groups: dict[str, _Group] = defaultdict(_Group)
    for key, _, *values in rows:
        groups[key].add(*values)
    return {key: group.summary() for key, group in groups.items()}


def summaries_by_name(
    conn: Connection, project_ids: Sequence[int], spans: Sequence[Span], kind: str, names: Sequence[str]
) -> dict[str, Summary]:
    """The all-pages rows of some metrics (or routes; "" = every route) merged per name."""
    r = rollup_sketches
    return _grouped(
        _rows(conn, r.c.name, project_ids, spans, r.c.kind == kind, r.c.page == "", r.c.name.in_(names))
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


def vital_panels(conn: Connection, project_ids: Sequence[int], window: ChartWindow) -> list[VitalPanel]:
    """Each vital's p75 and rating shares over the range and per chart step."""
    r = rollup_sketches
    steps = len(window.starts)
    per_step: dict[str, list[_Group]] = {metric: [_Group() for _ in range(steps)] for metric in VITALS}
    wanted = (r.c.kind == Kind.PERFORMANCE.value, r.c.page == "", r.c.name.in_(VITALS))
    rows = _rows(conn, r.c.name, project_ids, window.step_spans, *wanted)
    for metric, bucket, *values in rows:
        per_step[metric][window.step_of(bucket)].add(*values)
    panels = []
    for metric in VITALS:
        whole = _Group()
        p75s: list[float | None] = []
        shares: list[tuple[float | None, float | None, float | None]] = []
        for group in per_step[metric]:
            if not group.blobs:
                p75s.append(None)
                shares.append((None, None, None))
                continue
            step = group.summary()
            # The range is the steps' union: merge each step's sketch once, not its rows again.
            count, good, needs, poor, errors = group.counts
            whole.add(
                count,
                good,
                needs,
                poor,
                errors,
                step.sketch.to_bytes() if len(group.blobs) > 1 else group.blobs[0],
            )
            _, good, needs, poor, _ = group.counts
            rated = good + needs + poor
            p75s.append(step.quantiles(("p75",))["p75"])
            shares.append((_percent(good, rated), _percent(needs, rated), _percent(poor, rated)))
        summary = whole.summary()
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
                series_p75=tuple(p75s),
                series_shares=tuple(shares),
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


def worst_pages(
    conn: Connection, project_ids: Sequence[int], metric: str, spans: Sequence[Span]
) -> list[PageRow]:
    """Every page's p75 of one vital over the range, worst first."""
    r = rollup_sketches
    wanted = (r.c.kind == Kind.PERFORMANCE.value, r.c.name == metric, r.c.page != "")
    found = _grouped(_rows(conn, r.c.page, project_ids, spans, *wanted))
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


def route_summaries(
    conn: Connection, project_ids: Sequence[int], spans: Sequence[Span]
) -> dict[str, Summary]:
    """Request durations per route over the range; "" is every route together."""
    r = rollup_sketches
    return _grouped(_rows(conn, r.c.name, project_ids, spans, r.c.kind == Kind.REQUEST.value, r.c.page == ""))


def route_latency(found: dict[str, Summary]) -> tuple[RouteRow | None, list[RouteRow]]:
    """(every route together, each route slowest first by p95)."""
    rows = {}
    for route, summary in found.items():
        q = summary.quantiles(("p50", "p95", "p99"))
        rows[route] = RouteRow(route, summary.count, summary.errors, q["p50"], q["p95"], q["p99"])
    overall = rows.pop("", None)
    return overall, sorted(rows.values(), key=lambda row: _worst_first(row.p95, row.count, row.route))
