"""The Analytics page: page views and unique visitors over time, top pages, referrers,
browsers, operating systems and devices, from the page-view rollups (analytics_data).

The content is one live region: an open page re-reads it after each committed batch of
its project (app.js, /live).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.web.dashboard import analytics_data
from syncmon.web.dashboard.analytics_data import DIMENSION_TITLES, AnalyticsView
from syncmon.web.dashboard.context import Dashboard
from syncmon.web.dashboard.performance_pages import chart_json, live_url, step_label, time_labels


def traffic_chart(view: AnalyticsView) -> str:
    """The uPlot spec (charts.js) of page views and unique visitors per step."""
    return chart_json(
        {
            "x": view.window.x,
            "series": [
                {"label": "page views", "values": list(view.series_views), "color": "default"},
                {"label": "unique visitors", "values": list(view.series_visitors), "color": "accent"},
            ],
            "kind": "line",
            "height": 220,
            "y_min": 0,
        }
    )


def routes(dash: Dashboard) -> list[Route]:
    settings = dash.services.settings

    async def analytics(request: Request) -> Response:
        shell = await dash.renderer.shell(request)
        project_ids = [shell.project.id] if shell.project else [p.id for p in shell.projects]
        now = dash.now()
        view = await dash.services.read(
            lambda conn: analytics_data.load(conn, project_ids, now, shell.range_minutes)
        )
        context = {
            "view": view,
            "chart": traffic_chart(view),
            "labels": time_labels(view.window),
            "step_label": step_label(view.window.step),
            "dimension_titles": DIMENSION_TITLES,
            "public_url": settings.effective_public_url,
            "live_url": live_url(shell),
        }
        return await dash.renderer.page(request, "analytics.html", context, active="analytics")

    return [Route("/analytics", analytics, methods=["GET"])]
