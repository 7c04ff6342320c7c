"""The performance API (`/api/v1/performance/...`): web vitals and API latency from the
quantile rollups, for bearer tokens of any role.

- `vitals?project=&window=24h&page=`: per metric p50/p75/p90/p95/p99, count, average and
  the good / needs-improvement / poor shares of web vitals, for one page or all pages;
- `pages?project=&metric=LCP&window=&limit=`: the metric's p75 per page, worst first;
- `routes?project=&window=&limit=`: request duration per route (p50/p95/p99), count and
  the share of responses with status >= 500, slowest first.

Each answer merges at most (days + 46 + 118) rollup rows per metric, page or route,
however many events the window holds (see syncmon.metrics.sketch_rollups).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.http_errors import ClientError
from syncmon.metrics import sketch_rollups, vitals
from syncmon.metrics.sketch_rollups import Summary
from syncmon.web.api import error_response, project_param, require_token
from syncmon.web.params import parse_duration_ms, parse_limit
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

DAY_MS = 86_400_000
MAX_WINDOW_DAYS = 400
DEFAULT_WINDOW = "24h"


def window_param(request: Request, default: str = DEFAULT_WINDOW) -> int:
    """The window's length in milliseconds (`window=15m|24h|7d|2w`), at most 400 days."""
    raw = request.query_params.get("window") or default
    window = parse_duration_ms(raw, "window")
    if window > MAX_WINDOW_DAYS * DAY_MS:
        raise ClientError(400, f"window: at most {MAX_WINDOW_DAYS}d", field="window")
    return window


def window_body(since_ms: int, until_ms: int) -> dict[str, float]:
    return {"since": since_ms / 1000, "until": until_ms / 1000, "seconds": (until_ms - since_ms) / 1000}


def page_param(request: Request) -> str:
    """A page path or URL, normalised as pages are stored; "" (all pages) when absent."""
    raw = request.query_params.get("page")
    if not raw:
        return ""
    page = sketch_rollups.page_of(raw) if len(raw) <= 2048 else None
    if page is None:
        raise ClientError(400, "page: a path such as /pricing, or a URL", field="page")
    return page


def metric_param(request: Request) -> str:
    raw = (request.query_params.get("metric") or "LCP").strip()
    if not raw or len(raw) > sketch_rollups.PAGE_MAX:
        raise ClientError(400, "metric: a metric name such as LCP, INP or CLS", field="metric")
    return sketch_rollups.metric_name(raw)


def describe_metric(name: str, summary: Summary) -> dict[str, Any]:
    """Percentiles, count, average; for web vitals also the rating shares and p75's rating."""
    body: dict[str, Any] = {**summary.quantiles(), "count": summary.count, "avg": summary.average()}
    body["unit"] = vitals.unit(name)
    body.update(summary.shares())
    p75 = body["p75"]
    body["rating"] = vitals.rate(name, p75) if p75 is not None else None
    return body


def describe_page(name: str, page: str, summary: Summary) -> dict[str, Any]:
    p75 = summary.quantiles(("p75",))["p75"]
    return {
        "page": page,
        "p75": p75,
        "count": summary.count,
        "rating": vitals.rate(name, p75) if p75 is not None else None,
        **summary.shares(),
    }


def describe_route(summary: Summary) -> dict[str, Any]:
    return {
        **summary.quantiles(("p50", "p95", "p99")),
        "count": summary.count,
        "avg": summary.average(),
        "errors": summary.errors,
        "error_rate": round(summary.errors / summary.count, 4) if summary.count else None,
    }


def _worst_first(item: dict[str, Any], key: str) -> tuple[float, int, str]:
    value = item[key]
    return (-(value if value is not None else float("-inf")), -int(item["count"]), str(item.get("page", "")))


def routes(services: Services) -> list[Route]:
    async def vitals_summary(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=True)
            assert project is not None
            window = window_param(request)
            page = page_param(request)
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()
        since = now - window
        found = await services.read(
            lambda conn: sketch_rollups.metric_summaries(conn, project.id, since, now, now, page)
        )
        return JSONResponse(
            {
                "project": project.slug,
                "page": page or None,
                "window": window_body(since, now),
                "metrics": {name: describe_metric(name, summary) for name, summary in found.items()},
            }
        )

    async def pages(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=True)
            assert project is not None
            window = window_param(request)
            metric = metric_param(request)
            limit = parse_limit(request.query_params.get("limit"), default=50, maximum=1000)
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()
        since = now - window
        found = await services.read(
            lambda conn: sketch_rollups.page_summaries(conn, project.id, metric, since, now, now)
        )
        overall = found.pop("", None)
        listed = sorted(
            (describe_page(metric, page, summary) for page, summary in found.items()),
            key=lambda item: _worst_first(item, "p75"),
        )
        return JSONResponse(
            {
                "project": project.slug,
                "metric": metric,
                "unit": vitals.unit(metric),
                "window": window_body(since, now),
                "all_pages": describe_page(metric, "", overall) if overall else None,
                "pages": listed[:limit],
                "total_pages": len(listed),
            }
        )

    async def route_latency(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=True)
            assert project is not None
            window = window_param(request)
            limit = parse_limit(request.query_params.get("limit"), default=50, maximum=1000)
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()
        since = now - window
        found = await services.read(
            lambda conn: sketch_rollups.route_summaries(conn, project.id, since, now, now)
        )
        overall = found.pop("", None)
        listed = sorted(
            ({"route": route, **describe_route(summary)} for route, summary in found.items()),
            key=lambda item: _worst_first(item, "p95"),
        )
        return JSONResponse(
            {
                "project": project.slug,
                "window": window_body(since, now),
                "all_routes": describe_route(overall) if overall else None,
                "routes": listed[:limit],
                "total_routes": len(listed),
            }
        )

    return [
        Route("/api/v1/performance/vitals", vitals_summary, methods=["GET"]),
        Route("/api/v1/performance/pages", pages, methods=["GET"]),
        Route("/api/v1/performance/routes", route_latency, methods=["GET"]),
    ]
