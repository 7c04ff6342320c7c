"""The read API (`/api/v1/...`): events and rollup counts, for bearer tokens or sessions of any role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.events import Kind, Level
from syncmon.http_errors import ClientError
from syncmon.metrics import rollups
from syncmon.store import accounts, eventlog, projects
from syncmon.store.projects import Project
from syncmon.web.params import parse_cursor, parse_limit, parse_step_minutes, parse_time
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

MAX_COUNT_BUCKETS = 10_000


def error_response(exc: ClientError) -> Response:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a token's or a logged-in user's role, and how the audit log names it."""

    role: str
    actor: str
    user_id: int | None = None

    def require_admin(self) -> None:
        if self.role != "admin":
            raise ClientError(403, "this needs an admin; your role is viewer (read-only)", reason="forbidden")


async def require_token(services: Services, request: Request) -> Caller:
    """The caller the access guard admitted (a session or a token), else from the bearer token."""
    admitted = request.scope.get("state", {}).get("caller")
    if isinstance(admitted, Caller):
        return admitted
    return await bearer_caller(services, request)


async def bearer_caller(services: Services, request: Request) -> Caller:
    """The caller from `Authorization: Bearer <token>`, or a 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ClientError(
            401,
            "missing API token: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = await services.read(lambda conn: accounts.token_identity(conn, token.strip()))
    if found is None:
        raise ClientError(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    return Caller(role=found[1], actor=f"token:{found[0]}")


async def project_param(services: Services, request: Request, required: bool) -> Project | None:
    ref = request.query_params.get("project")
    if not ref:
        if required:
            raise ClientError(400, "project: required (a project slug or id)", field="project")
        return None
    found = await services.read(lambda conn: projects.find_project(conn, ref))
    if found is None:
        raise ClientError(404, f"project {ref[:64]!r} not found", field="project")
    return found


def kind_param(request: Request) -> str | None:
    kind = request.query_params.get("kind") or None
    if kind is not None and kind not in {k.value for k in Kind}:
        raise ClientError(400, f"kind: must be one of {', '.join(k.value for k in Kind)}", field="kind")
    return kind


def level_param(request: Request) -> str | None:
    level = request.query_params.get("level") or None
    if level is not None and level not in {lv.value for lv in Level}:
        raise ClientError(400, f"level: must be one of {', '.join(lv.value for lv in Level)}", field="level")
    return level


def routes(services: Services) -> list[Route]:
    async def list_events(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=False)
            now = services.clock.now_ms()
            limit = parse_limit(request.query_params.get("limit"))
            query = eventlog.EventQuery(
                project_id=project.id if project else None,
                kind=kind_param(request),
                name=request.query_params.get("name") or None,
                since_ms=parse_time(request.query_params.get("since"), "since", now),
                until_ms=parse_time(request.query_params.get("until"), "until", now),
                before_seq=parse_cursor(request.query_params.get("cursor")),
                limit=limit,
                release=request.query_params.get("release") or None,
                environment=request.query_params.get("environment") or None,
                user_id=request.query_params.get("user") or None,
                level=level_param(request),
            )
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(lambda conn: eventlog.list_events(conn, query))
        next_cursor = str(found[-1].seq) if len(found) == limit else None
        return JSONResponse({"events": [event.as_dict() for event in found], "next_cursor": next_cursor})

    async def get_event(request: Request) -> Response:
        try:
            await require_token(services, request)
        except ClientError as exc:
            return error_response(exc)
        event_id = request.path_params["event_id"].replace("-", "").lower()
        found = await services.read(lambda conn: eventlog.get_event(conn, event_id))
        if found is None:
            return JSONResponse({"error": f"event {event_id[:64]!r} not found"}, status_code=404)
        return JSONResponse(found.as_dict())

    async def counts(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=True)
            assert project is not None
            now = services.clock.now_ms()
            step = parse_step_minutes(request.query_params.get("step"))
            since = parse_time(request.query_params.get("since"), "since", now) or now - 86_400_000
            until = parse_time(request.query_params.get("until"), "until", now) or now + 60_000
            if until <= since:
                raise ClientError(400, "until: must be later than since", field="until")
            if (until - since) // 60_000 // step > MAX_COUNT_BUCKETS:
                raise ClientError(
                    400,
                    f"step: more than {MAX_COUNT_BUCKETS} buckets; use a larger step",
                    field="step",
                )
            kind = kind_param(request)
        except ClientError as exc:
            return error_response(exc)
        rows = await services.read(
            lambda conn: rollups.count_series(
                conn, project.id, since // 60_000, until // 60_000, step, kind, now_ms=now
            )
        )
        series = [
            {
                "time": row["minute"] * 60,
                "kind": row["kind"],
                "name": row["name"],
                "count": row["count"],
            }
            for row in rows
        ]
        return JSONResponse(
            {
                "project": project.slug,
                "step_seconds": step * 60,
                "total": sum(row["count"] for row in rows),
                "series": series,
            }
        )

    async def list_projects(request: Request) -> Response:
        try:
            caller = await require_token(services, request)
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(projects.list_projects)
        public_url = services.settings.effective_public_url
        shown = [project.describe(public_url) for project in found]
        if caller.role != "admin":
            for item in shown:
                item.pop("secret_key")
        return JSONResponse({"projects": shown})

    return [
        Route("/api/v1/events", list_events, methods=["GET"]),
        Route("/api/v1/events/{event_id}", get_event, methods=["GET"]),
        Route("/api/v1/stats/counts", counts, methods=["GET"]),
        Route("/api/v1/projects", list_projects, methods=["GET"]),
    ]
