"""The Performance page: web vitals over time, worst pages, API latency by route and SLOs.

Everything comes from one read of the stored rollups for the chosen projects and range
(performance_data, slo_data). The page's content is one live region, so an open page
re-reads it after each committed batch of its project (app.js, /live).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.events import Kind
from syncmon.metrics import vitals
from syncmon.web.dashboard import slo_data
from syncmon.web.dashboard.closed_cache import ClosedCache
from syncmon.web.dashboard.context import Dashboard
from syncmon.web.dashboard.performance_data import (
    PAGES_SHOWN,
    ROUTES_SHOWN,
    VITALS,
    ChartWindow,
    PageRow,
    RouteRow,
    SketchReader,
    VitalPanel,
    format_value,
    route_latency,
    route_summaries,
    threshold_text,
    vital_panels,
    worst_pages,
)
from syncmon.web.dashboard.performance_data import has_rollups as has_rollups_of
from syncmon.web.dashboard.shell import ShellState

DEFAULT_METRIC = "LCP"


@dataclass(frozen=True, slots=True)
class PerformanceView:
    window: ChartWindow
    panels: list[VitalPanel]
    metric: str
    pages: list[PageRow]
    total_pages: int
    all_routes: RouteRow | None
    routes: list[RouteRow]
    total_routes: int
    slos: list[slo_data.Attainment]
    vitals_ever: bool
    requests_ever: bool

    @property
    def has_vitals(self) -> bool:
        return any(panel.count for panel in self.panels)


def load(
    conn: Connection,
    project_ids: Sequence[int],
    now_ms: int,
    range_minutes: int,
    metric: str,
    cache: ClosedCache | None = None,
) -> PerformanceView:
    """Everything the page shows; `cache` keeps what was merged from closed days."""
    window = ChartWindow.ending(now_ms, range_minutes)
    reader = SketchReader(conn, tuple(project_ids), now_ms, cache)
    panels = vital_panels(reader, window)
    pages = worst_pages(reader, metric, window.spans)
    by_route = route_summaries(reader, window.spans)
    overall, routes = route_latency(by_route)
    objectives = slo_data.objectives_for(conn, project_ids)
    known = {(Kind.REQUEST.value, ""): by_route.get("")}
    slos = slo_data.evaluate(reader, objectives, window.spans, known)
    has_vitals = any(panel.count for panel in panels)
    return PerformanceView(
        window=window,
        panels=panels,
        metric=metric,
        pages=pages[:PAGES_SHOWN],
        total_pages=len(pages),
        all_routes=overall,
        routes=routes[:ROUTES_SHOWN],
        total_routes=len(routes),
        slos=slos,
        vitals_ever=has_vitals or has_rollups_of(conn, project_ids, Kind.PERFORMANCE.value),
        requests_ever=overall is not None or has_rollups_of(conn, project_ids, Kind.REQUEST.value),
    )


def metric_choice(raw: str | None) -> tuple[str, str | None]:
    """(the vital to rank pages by, the refused value when it is not a web vital)."""
    if not raw:
        return DEFAULT_METRIC, None
    name = vitals.normalize_name(raw[:60])
    return (name, None) if name in VITALS else (DEFAULT_METRIC, raw[:60])


def step_label(step: int) -> str:
    if step % 1440 == 0:
        return f"{step // 1440} day"
    return f"{step // 60} h" if step % 60 == 0 else f"{step} min"


def time_labels(window: ChartWindow) -> list[str]:
    pattern = "%m-%d" if window.step >= 1440 else "%m-%d %H:%M"
    return [datetime.fromtimestamp(x, UTC).strftime(pattern) for x in window.x]


def chart_json(spec: dict[str, Any]) -> str:
    """A chart spec for `data-chart` (the template escapes it for the attribute)."""
    return orjson.dumps(spec).decode()


def chart_fallback(panel: VitalPanel, labels: list[str], step: str) -> str:
    """What a page without the chart script shows instead of a vital's p75 chart."""
    points = [
        f"{label} {format_value(panel.metric, p75)}"
        for label, p75 in zip(labels, panel.series_p75, strict=True)
        if p75 is not None
    ]
    return f"{panel.metric} p75 per {step} (from, UTC): " + "; ".join(points)


def vital_charts(panel: VitalPanel, window: ChartWindow) -> dict[str, str]:
    """The uPlot specs (charts.js) of one vital: p75 against its 'good' limit, rating shares."""
    unit = "ms" if panel.unit == vitals.MILLISECONDS else ""
    limits = vitals.thresholds(panel.metric)
    series: list[dict[str, Any]] = [
        {"label": f"{panel.metric} p75", "values": list(panel.series_p75), "unit": unit, "color": "default"}
    ]
    if limits is not None:
        series.append(
            {"label": "good limit", "values": [limits.good] * len(window.x), "unit": unit, "color": "good"}
        )
    shares = [
        {"label": label, "values": [step[i] for step in panel.series_shares], "unit": "%", "color": colour}
        for i, (label, colour) in enumerate((("good", "good"), ("needs improvement", "ni"), ("poor", "poor")))
    ]
    p75: dict[str, Any] = {"x": window.x, "series": series, "kind": "line", "height": 150}
    if unit:  # durations from zero; CLS (a small score) keeps uPlot's own range
        p75["y_min"] = 0
    return {
        "p75": chart_json(p75),
        "shares": chart_json({"x": window.x, "series": shares, "kind": "stacked", "height": 110, "y_min": 0}),
    }


def live_url(shell: ShellState) -> str:
    return "/live" + (f"?{urlencode({'project': shell.project.slug})}" if shell.project else "")


def routes(dash: Dashboard) -> list[Route]:
    settings = dash.services.settings

    async def performance(request: Request) -> Response:
        shell = await dash.renderer.shell(request)
        metric, refused = metric_choice(request.query_params.get("metric"))
        project_ids = [shell.project.id] if shell.project else [p.id for p in shell.projects]
        now = dash.now()
        view = await dash.services.read(
            lambda conn: load(conn, project_ids, now, shell.range_minutes, metric, dash.closed)
        )
        labels, step = time_labels(view.window), step_label(view.window.step)
        context = {
            "view": view,
            "charts": {panel.metric: vital_charts(panel, view.window) for panel in view.panels},
            "fallbacks": {panel.metric: chart_fallback(panel, labels, step) for panel in view.panels},
            "step_label": step,
            "vitals_names": VITALS,
            "metric_thresholds": threshold_text(metric),
            "public_url": settings.effective_public_url,
            "live_url": live_url(shell),
            "error": f"“{refused}” is not a web vital; showing {DEFAULT_METRIC}." if refused else None,
        }
        return await dash.renderer.page(request, "performance.html", context, active="performance")

    return [Route("/performance", performance, methods=["GET"])]
