"""The Errors pages: issues with filters and sparklines, an issue's detail, status changes.

- `GET /errors?project=&range=&status=&level=&query=&environment=&release=&sort=&page=` —
  issues seen in the range, each with its events per bucket of the range;
- `GET /errors/<id>?event=` — the issue, the stack trace of its latest (or the chosen)
  event with in-app frames and context lines, breadcrumbs, tags and the latest events;
- `POST /errors/<id>/status` — resolve, resolve in the next release, ignore (for good, for
  a while, or until N more events) or unresolve. Admins only: the access guard refuses
  viewers (403) and requests without the session's CSRF token before this view runs, and
  the page shows viewers no buttons. The change is written with its audit-log row.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.errors import issue_queries
from syncmon.http_errors import ClientError
from syncmon.web.auth.forms import form_of
from syncmon.web.dashboard import error_data as data
from syncmon.web.dashboard import error_trace as trace
from syncmon.web.dashboard.context import Dashboard, caller_of
from syncmon.web.dashboard.section_support import live_url, public_url, text_param
from syncmon.web.dashboard.shell import ShellState


def _issue_id(request: Request) -> int:
    raw = str(request.path_params["issue_id"])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ClientError(404, f"There is no issue {raw[:20]!r}.")
    return int(raw)


def query_string(shell: ShellState, values: dict[str, str | None]) -> str:
    """The shell's query (project, range) plus `values`, for links that keep every filter."""
    base = shell.query()
    kept = {key: value for key, value in values.items() if value}
    extra = urlencode(kept)
    if not extra:
        return base
    return f"{base}&{extra}" if base else f"?{extra}"


def routes(dash: Dashboard) -> list[Route]:
    services = dash.services

    async def issue_list(request: Request) -> Response:
        shell = await dash.renderer.shell(request)
        filters, problems = data.parse_filters(request.query_params)
        projects = [shell.project] if shell.project else list(shell.projects)
        ids = [project.id for project in projects]
        window = data.SparkWindow.ending(dash.now(), shell.range_minutes)

        def load(conn: Connection) -> dict[str, Any]:
            found = data.find_issues(conn, ids, filters, window.since_ms) if ids else []
            page = found[: data.PAGE_SIZE]
            series = data.event_series(conn, [issue["id"] for issue in page], window)
            by_id = {project.id: project for project in projects}
            return {
                "rows": [
                    data.IssueRow(issue, by_id[issue["project_id"]], series[issue["id"]]) for issue in page
                ],
                "has_next": len(found) > data.PAGE_SIZE,
                "choices": data.filter_choices(conn, ids) if ids else {"environment": [], "release": []},
                "ever": data.has_issues(conn, ids),
            }

        loaded = await services.read(load)
        context = {
            **loaded,
            "filters": filters,
            "link": lambda **changes: "/errors" + query_string(shell, filters.query(**changes)),
            "statuses": list(data.STATUS_FILTERS),
            "levels": data.LEVELS,
            "sorts": data.SORT_LABELS,
            "step_minutes": window.step,
            "since_ms": window.since_ms,
            "error": " ".join(problems) or None,
            "public_url": public_url(dash, request),
            "live_url": live_url(shell),
        }
        return await dash.renderer.page(request, "errors.html", context, active="errors")

    async def detail_page(
        request: Request, issue_id: int, *, error: str | None = None, status: int = 200
    ) -> Response:
        shell = await dash.renderer.shell(request)
        window = data.SparkWindow.ending(dash.now(), shell.range_minutes, data.DETAIL_POINTS)
        event_id = text_param(request.query_params, "event", 64)
        detail = await services.read(lambda conn: data.issue_detail(conn, issue_id, event_id, window))
        if detail is None:
            return await dash.renderer.error_page(request, 404, f"There is no issue {issue_id}.")
        event = detail.event
        payload = event.data if event else {}
        names = {project.id: project.name for project in shell.projects}
        context = {
            "detail": detail,
            "issue": detail.issue,
            "project_name": names.get(detail.issue["project_id"], str(detail.issue["project_id"])),
            "event": event,
            "event_missing": event_id is not None and event is None,
            "chain": trace.exceptions(payload),
            "raw_stack": trace.raw_stack(payload),
            "breadcrumbs": trace.breadcrumbs(payload),
            "event_tags": trace.event_tags(payload),
            "user_agent": payload.get("user_agent") if isinstance(payload.get("user_agent"), str) else None,
            "ignore_choices": list(data.IGNORE_CHOICES),
            "step_minutes": window.step,
            "since_ms": window.since_ms,
            "self_query": shell.query(),
            "notice": data.STATUS_NOTICES.get(request.query_params.get("done") or ""),
            "error": error,
            "live_url": live_url(shell),
        }
        return await dash.renderer.page(request, "errors_issue.html", context, status=status, active="errors")

    async def issue_page(request: Request) -> Response:
        try:
            issue_id = _issue_id(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        return await detail_page(request, issue_id)

    async def change_status(request: Request) -> Response:
        try:
            issue_id = _issue_id(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        actor = caller_of(request).actor
        now = dash.now()
        try:
            change = data.status_change(await form_of(request), now)
        except ClientError as exc:
            return await detail_page(request, issue_id, error=exc.message, status=exc.status)

        def apply(conn: Connection) -> dict[str, Any] | Exception:
            # A refused change is returned, not raised: nothing was written, and the writer
            # should not log a user's mistake as a failed write.
            try:
                return issue_queries.change_status(conn, issue_id, change, actor, now)
            except (issue_queries.IssueNotFound, ValueError) as exc:
                return exc

        outcome = await services.writer.run(apply)
        if isinstance(outcome, issue_queries.IssueNotFound):
            return await dash.renderer.error_page(request, 404, f"There is no issue {issue_id}.")
        if isinstance(outcome, Exception):
            return await detail_page(request, issue_id, error=str(outcome), status=400)
        shell = await dash.renderer.shell(request)
        target = f"/errors/{issue_id}" + query_string(shell, {"done": change.status.value})
        return RedirectResponse(target, status_code=303)

    return [
        Route("/errors", issue_list, methods=["GET"]),
        Route("/errors/{issue_id}", issue_page, methods=["GET"]),
        Route("/errors/{issue_id}/status", change_status, methods=["POST"]),
    ]
