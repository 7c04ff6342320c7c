"""The Overview and the sections whose pages are not built yet (an honest empty state each)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.web.dashboard import alert_data, overview_data
from syncmon.web.dashboard.context import Dashboard


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    summary: str
    coming: tuple[str, ...]
    api: tuple[str, ...] = ()


# Every section has its page now; a new one starts here with an honest empty state.
SECTIONS: tuple[Section, ...] = ()


def routes(dash: Dashboard) -> list[Route]:
    settings = dash.services.settings

    async def home(request: Request) -> Response:
        query = urlencode(dict(request.query_params))
        return RedirectResponse("/overview" + (f"?{query}" if query else ""), status_code=303)

    async def overview(request: Request) -> Response:
        shell = await dash.renderer.shell(request)
        now = dash.now()
        shown = [shell.project] if shell.project else list(shell.projects)
        glances = await dash.services.read(
            lambda conn: overview_data.glances(
                conn,
                shown,
                now,
                shell.range_minutes,
                settings.threat_window_seconds * 1000,
                settings.monitor_project,
            )
        )
        project_id = shell.project.id if shell.project else None
        events = await dash.services.read(
            lambda conn: overview_data.latest_events(conn, shell.projects, project_id)
        )
        alerts = await dash.services.read(lambda conn: alert_data.active_alerts(conn, shown))
        live_query = urlencode({"project": shell.project.slug}) if shell.project else ""
        context = {
            "glances": glances,
            "events": events,
            "alerts": alerts,
            "alert_counts": alert_data.counts_by_project(alerts),
            "spark_width": overview_data.SPARK_WIDTH,
            "spark_height": overview_data.SPARK_HEIGHT,
            "threat_window_minutes": settings.threat_window_seconds // 60,
            "live_url": "/live" + (f"?{live_query}" if live_query else ""),
            "live_on_heartbeat": True,  # alerts change without new events, too
        }
        return await dash.renderer.page(request, "overview.html", context, active="overview")

    def section_page(section: Section) -> Route:
        async def endpoint(request: Request) -> Response:
            return await dash.renderer.page(request, "section.html", {"section": section}, active=section.key)

        return Route(f"/{section.key}", endpoint, methods=["GET"])

    return [
        Route("/", home, methods=["GET"]),
        Route("/overview", overview, methods=["GET"]),
        *(section_page(section) for section in SECTIONS),
    ]
