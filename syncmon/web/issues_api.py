"""The issues API: list and inspect grouped errors, and change their status (admins).

`GET /api/v1/issues?project=` lists issues (sort by last seen, first seen, count or
users; filter by status, environment, release, `tag=key:value`, free text); `GET /api/v1/issues/<id>`
is the detail with the latest event, its stack trace and a tag breakdown;
`GET /api/v1/issues/<id>/events` pages through its events; `PUT /api/v1/issues/<id>`
changes the status and is written to the audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.errors import issue_queries
from syncmon.errors.lifecycle import Status, StatusChange
from syncmon.events import Event
from syncmon.http_errors import ClientError
from syncmon.pipeline.normalize import parse_timestamp
from syncmon.web.api import error_response, project_param, require_token
from syncmon.web.params import parse_cursor, parse_limit
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

MAX_CHANGE_BYTES = 4096


def _issue_id(request: Request) -> int:
    raw = str(request.path_params["issue_id"])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ClientError(404, f"issue {raw[:32]!r} not found")
    return int(raw)


def _tag(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition(":")
    if not sep or not key or not value:
        raise ClientError(400, "tag: expected key:value, e.g. tag=browser:Firefox", field="tag")
    return key[:64], value[:200]


def _status_change(body: Any) -> StatusChange:
    if not isinstance(body, dict):
        raise ClientError(400, "body: expected a JSON object with a status")
    unknown = set(body) - {"status", "ignore_until", "ignore_count"}
    if unknown:
        raise ClientError(400, f"{sorted(unknown)[0]}: unknown field", field=sorted(unknown)[0])
    try:
        status = Status(str(body.get("status")))
    except ValueError:
        choices = ", ".join(s.value for s in Status)
        raise ClientError(400, f"status: must be one of {choices}", field="status") from None
    until = parse_timestamp(body.get("ignore_until"), "ignore_until")
    count = body.get("ignore_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ClientError(400, "ignore_count: must be a whole number of at least 1", field="ignore_count")
    return StatusChange(status=status, ignore_until_ms=until, ignore_for_events=count)


def routes(services: Services) -> list[Route]:
    async def list_issues(request: Request) -> Response:
        params = request.query_params
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=True)
            assert project is not None
            sort = params.get("sort") or "last_seen"
            if sort not in issue_queries.SORTS:
                raise ClientError(400, f"sort: must be one of {', '.join(issue_queries.SORTS)}", field="sort")
            status = params.get("status") or None
            if status is not None and status not in {s.value for s in Status}:
                raise ClientError(
                    400, f"status: must be one of {', '.join(s.value for s in Status)}", field="status"
                )
            limit = parse_limit(params.get("limit"), default=50, maximum=500)
            tags = tuple(_tag(raw) for raw in params.getlist("tag")[:10])
            offset = parse_cursor(params.get("cursor")) or 0
        except ClientError as exc:
            return error_response(exc)
        query = issue_queries.IssueQuery(
            project_id=project.id,
            status=status,
            environment=params.get("environment") or None,
            release=params.get("release") or None,
            text=(params.get("query") or "")[:200] or None,
            tags=tags,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        found = await services.read(lambda conn: issue_queries.list_issues(conn, query))
        next_cursor = str(offset + limit) if len(found) == limit else None
        return JSONResponse({"issues": found, "next_cursor": next_cursor})

    async def issue_detail(request: Request) -> Response:
        try:
            await require_token(services, request)
            issue_id = _issue_id(request)
        except ClientError as exc:
            return error_response(exc)

        def load(conn: Any) -> dict[str, Any] | None:
            issue = issue_queries.get_issue(conn, issue_id)
            if issue is None:
                return None
            latest = issue_queries.issue_events(conn, issue_id, None, 1)
            issue["latest_event"] = latest[0].as_dict() if latest else None
            issue["tags"] = issue_queries.tag_breakdown(conn, issue_id)
            return issue

        found = await services.read(load)
        if found is None:
            return JSONResponse({"error": f"issue {issue_id} not found"}, status_code=404)
        return JSONResponse(found)

    async def issue_events(request: Request) -> Response:
        try:
            await require_token(services, request)
            issue_id = _issue_id(request)
            limit = parse_limit(request.query_params.get("limit"))
            before = parse_cursor(request.query_params.get("cursor"))
        except ClientError as exc:
            return error_response(exc)

        def load(conn: Any) -> list[Event] | None:
            if issue_queries.get_issue(conn, issue_id) is None:
                return None
            return issue_queries.issue_events(conn, issue_id, before, limit)

        found = await services.read(load)
        if found is None:
            return JSONResponse({"error": f"issue {issue_id} not found"}, status_code=404)
        next_cursor = str(found[-1].seq) if len(found) == limit else None
        return JSONResponse({"events": [e.as_dict() for e in found], "next_cursor": next_cursor})

    async def update_issue(request: Request) -> Response:
        try:
            caller = await require_token(services, request)
            caller.require_admin()
            issue_id = _issue_id(request)
            raw = await request.body()
            if len(raw) > MAX_CHANGE_BYTES:
                raise ClientError(413, f"body: larger than {MAX_CHANGE_BYTES} bytes")
            try:
                change = _status_change(orjson.loads(raw or b"null"))
            except orjson.JSONDecodeError as exc:
                raise ClientError(400, f"body is not valid JSON: {exc}") from None
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()

        def apply(conn: Any) -> dict[str, Any] | Exception:
            # A refused change is the caller's mistake, not a failed write: returned rather
            # than raised, so the writer does not log it as an error. Nothing was written yet.
            try:
                return issue_queries.change_status(conn, issue_id, change, caller.actor, now)
            except (issue_queries.IssueNotFound, ValueError) as exc:
                return exc

        updated = await services.writer.run(apply)
        if isinstance(updated, issue_queries.IssueNotFound):
            return JSONResponse({"error": f"issue {issue_id} not found"}, status_code=404)
        if isinstance(updated, Exception):
            return JSONResponse({"error": str(updated)}, status_code=400)
        return JSONResponse(updated)

    return [
        Route("/api/v1/issues", list_issues, methods=["GET"]),
        Route("/api/v1/issues/{issue_id}", issue_detail, methods=["GET"]),
        Route("/api/v1/issues/{issue_id}", update_issue, methods=["PUT", "PATCH"]),
        Route("/api/v1/issues/{issue_id}/events", issue_events, methods=["GET"]),
    ]
