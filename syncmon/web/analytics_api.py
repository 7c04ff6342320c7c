"""The analytics API (`/api/v1/analytics/pageviews`): page views from the page-view rollups.

`pageviews?project=&window=7d&step=1h&limit=10` answers totals (page views, unique
visitors), the top pages, referrers, browsers, operating systems and devices, and a time
series of page views and visitors per step. Only rollup rows are read, never raw events;
unique visitors come from merged HyperLogLogs (about 1.6 % standard error, all but exact
for small numbers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.http_errors import ClientError
from syncmon.metrics import sketch_rollups
from syncmon.web.api import error_response, project_param, require_token
from syncmon.web.params import parse_limit, parse_step_minutes
from syncmon.web.performance_api import window_body, window_param
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

MAX_POINTS = 2000
MINUTE_MS = 60_000
TOP_NAMES = {"page": "pages", "referrer": "referrers", "browser": "browsers", "os": "os", "device": "devices"}


def default_step_minutes(window_ms: int) -> int:
    """About 24-60 points for the usual windows."""
    hours = window_ms / 3_600_000
    if hours <= 3:
        return 5
    if hours <= 48:
        return 60
    if hours <= 14 * 24:
        return 360
    return 1440


def step_param(request: Request, window_ms: int) -> int:
    raw = request.query_params.get("step")
    step = parse_step_minutes(raw) if raw else default_step_minutes(window_ms)
    if window_ms // MINUTE_MS // step + 1 > MAX_POINTS:
        raise ClientError(400, f"step: more than {MAX_POINTS} points; use a larger step", field="step")
    return step


def routes(services: Services) -> list[Route]:
    async def pageviews(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=True)
            assert project is not None
            window = window_param(request)
            step = step_param(request, window)
            limit = parse_limit(request.query_params.get("limit"), default=10, maximum=100)
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()
        since = now - window
        report = await services.read(
            lambda conn: sketch_rollups.pageview_report(conn, project.id, since, now, now, step, limit)
        )
        top: dict[str, list[dict[str, Any]]] = {
            TOP_NAMES[dimension]: [{"value": value, "count": count} for value, count in rows]
            for dimension, rows in report.top.items()
        }
        return JSONResponse(
            {
                "project": project.slug,
                "window": window_body(since, now),
                "step_seconds": step * 60,
                "totals": {"pageviews": report.views, "visitors": report.visitors},
                "top": top,
                "series": [
                    {"time": minute * 60, "pageviews": views, "visitors": visitors}
                    for minute, views, visitors in report.series
                ],
            }
        )

    return [Route("/api/v1/analytics/pageviews", pageviews, methods=["GET"])]
