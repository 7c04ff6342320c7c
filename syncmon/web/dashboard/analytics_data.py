"""The Analytics page's numbers, from the page-view rollups only (never raw events).

Page views are counted per dimension (total, page, referrer, browser, OS, device) in
minute, hour and day rows; unique visitors are HyperLogLogs per bucket, merged (by
register maximum) over a step or the whole range, so a visitor seen in several buckets
counts once (about 1.6 % standard error; all but exact for small numbers). The range and
its chart steps are read as the Performance page reads them (`ChartWindow`).

"All projects" adds the projects' counts and merges their HyperLogLogs; a visitor of two
projects counts twice, since visitors are hashed per project.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.metrics import sketch_rollups as sr
from syncmon.metrics.sketch_rollups import Span
from syncmon.metrics.sketches import HyperLogLog
from syncmon.store.schema import rollup_dimensions, rollup_visitors
from syncmon.web.dashboard.performance_data import ChartWindow

TOP_LIMIT = 10
# dimension → (panel title, column heading)
DIMENSION_TITLES = {
    "page": ("Top pages", "Page"),
    "referrer": ("Referrers", "Referring site"),
    "browser": ("Browsers", "Browser"),
    "os": ("Operating systems", "System"),
    "device": ("Devices", "Device"),
}


@dataclass(frozen=True, slots=True)
class TopRow:
    value: str
    count: int
    share: float | None  # of all page views in the range, 0..1


@dataclass(frozen=True, slots=True)
class AnalyticsView:
    window: ChartWindow
    views: int
    visitors: int
    series_views: tuple[int, ...]
    series_visitors: tuple[int, ...]
    top: dict[str, list[TopRow]] = field(default_factory=dict)
    ever: bool = False

    @property
    def views_per_visitor(self) -> float | None:
        return self.views / self.visitors if self.visitors else None


def top_values(
    conn: Connection, project_ids: Sequence[int], dimension: str, spans: Sequence[Span], limit: int
) -> list[tuple[str, int]]:
    """The dimension's most counted values over the spans, most first (ties by value)."""
    d = rollup_dimensions
    total = sa.func.sum(d.c.count).label("total")
    statement = (
        sa.select(d.c.value, total)
        .where(d.c.project_id.in_(list(project_ids)), d.c.dimension == dimension, sr.spans_clause(d, spans))
        .group_by(d.c.value)
        .order_by(total.desc(), d.c.value)
        .limit(limit)
    )
    return [(row.value, int(row.total)) for row in conn.execute(statement)]


def has_page_views(conn: Connection, project_ids: Sequence[int]) -> bool:
    d = rollup_dimensions
    statement = sa.select(d.c.tier).where(d.c.project_id.in_(list(project_ids)), d.c.dimension == "total")
    return conn.execute(statement.limit(1)).first() is not None


def load(
    conn: Connection, project_ids: Sequence[int], now_ms: int, range_minutes: int, limit: int = TOP_LIMIT
) -> AnalyticsView:
    window = ChartWindow.ending(now_ms, range_minutes)
    ids = list(project_ids)
    steps = len(window.starts)
    views = [0] * steps
    visitors = [HyperLogLog() for _ in range(steps)]
    d, v = rollup_dimensions, rollup_visitors
    counted = sa.select(d.c.bucket, d.c.count.label("n")).where(
        d.c.project_id.in_(ids),
        d.c.dimension == "total",
        d.c.value == "",
        sr.spans_clause(d, window.step_spans),
    )
    for row in conn.execute(counted):
        views[window.step_of(row.bucket)] += int(row.n)
    sketches = sa.select(v.c.bucket, v.c.hll).where(
        v.c.project_id.in_(ids), sr.spans_clause(v, window.step_spans)
    )
    for row in conn.execute(sketches):
        visitors[window.step_of(row.bucket)].merge_bytes(row.hll)
    everyone = HyperLogLog()
    for hll in visitors:
        everyone.merge(hll)
    total_views = sum(views)
    top: dict[str, list[TopRow]] = {}
    if total_views:
        for dimension in DIMENSION_TITLES:
            top[dimension] = [
                TopRow(value, count, count / total_views)
                for value, count in top_values(conn, ids, dimension, window.spans, limit)
            ]
    return AnalyticsView(
        window=window,
        views=total_views,
        visitors=everyone.estimate(),
        series_views=tuple(views),
        series_visitors=tuple(hll.estimate() for hll in visitors),
        top=top,
        ever=bool(total_views) or has_page_views(conn, ids),
    )
