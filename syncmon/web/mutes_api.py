"""What keeps alerts quiet: silences, maintenance windows and inhibition rules.

- `/api/v1/silences` (GET ?state=pending|active|expired, POST), `/<id>` (GET; DELETE expires
  it), `/<id>/expire` (POST, the same);
- `/api/v1/maintenance-windows` (GET ?project=, POST), `/<id>` (GET, PUT, DELETE);
- `/api/v1/inhibit-rules` (GET, with the built-in rule 0; POST), `/<id>` (GET, PUT, DELETE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.alerting import mute_admin
from syncmon.http_errors import ClientError
from syncmon.pipeline.normalize import parse_timestamp
from syncmon.web.alerting_payloads import WEEK_S, InhibitRuleIn, MaintenanceIn, SilenceIn, parse_body
from syncmon.web.alerting_resources import (
    Resource,
    Values,
    admin_caller,
    audit,
    crud_routes,
    guarded,
    path_id,
    project_id,
)
from syncmon.web.api import Caller, require_token
from syncmon.web.params import parse_limit
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services


def silence_values(body: SilenceIn, caller: Caller, now: int) -> Values:
    starts = parse_timestamp(body.starts_at, "starts_at") or now
    if body.duration_seconds is not None:
        ends = starts + body.duration_seconds * 1000
    else:
        ends = parse_timestamp(body.ends_at, "ends_at") or 0
    if ends <= starts:
        raise ClientError(400, "ends_at: must be later than starts_at", field="ends_at")
    if ends <= now:
        raise ClientError(400, "ends_at: is in the past; a silence must end in the future", field="ends_at")
    return {
        "matchers": body.matchers,
        "starts_ms": starts,
        "ends_ms": ends,
        "created_by": body.created_by or caller.actor,
        "comment": body.comment,
        "expire_on_resolve": body.expire_on_resolve,
    }


def window_values(conn: Connection, body: MaintenanceIn, caller: Caller, now: int) -> Values:
    starts = parse_timestamp(body.starts_at, "starts_at") or 0
    ends = parse_timestamp(body.ends_at, "ends_at") or 0
    if ends <= starts:
        raise ClientError(400, "ends_at: must be later than starts_at", field="ends_at")
    if body.weekly and ends - starts >= WEEK_S * 1000:
        raise ClientError(400, "ends_at: a weekly window must be shorter than a week", field="ends_at")
    until = parse_timestamp(body.until, "until")
    if until is not None and not body.weekly:
        raise ClientError(400, "until: only a weekly window has an until", field="until")
    return {
        "project_id": project_id(conn, body.project),
        "name": body.name,
        "matchers": body.matchers,
        "starts_ms": starts,
        "ends_ms": ends,
        "weekly": body.weekly,
        "timezone": body.timezone,
        "until_ms": until,
        "created_by": caller.actor,
    }


def rule_values(conn: Connection, body: InhibitRuleIn, caller: Caller, now: int) -> Values:
    return {
        "source_matchers": body.source_matchers,
        "target_matchers": body.target_matchers,
        "equal": body.equal,
        "comment": body.comment,
        "created_by": caller.actor,
    }


WINDOWS: Resource[MaintenanceIn] = Resource(
    path="/api/v1/maintenance-windows",
    noun="maintenance window",
    kind="maintenance",
    model=MaintenanceIn,
    values=window_values,
    save=mute_admin.save_window,
    describe=mute_admin.get_window,
    delete=mute_admin.delete_window,
)
RULES: Resource[InhibitRuleIn] = Resource(
    path="/api/v1/inhibit-rules",
    noun="inhibition rule (the built-in rule 0 cannot be changed)",
    kind="inhibit_rule",
    model=InhibitRuleIn,
    values=rule_values,
    save=mute_admin.save_rule,
    describe=lambda conn, rule_id, now: mute_admin.get_rule(conn, rule_id),
    delete=mute_admin.delete_rule,
)


def routes(services: Services) -> list[Route]:
    async def list_silences(request: Request) -> Response:
        await require_token(services, request)
        state = request.query_params.get("state") or None
        if state is not None and state not in mute_admin.SILENCE_STATES:
            raise ClientError(
                400, f"state: must be one of {', '.join(mute_admin.SILENCE_STATES)}", field="state"
            )
        limit = parse_limit(request.query_params.get("limit"))
        now = services.clock.now_ms()
        found = await services.read(lambda conn: mute_admin.list_silences(conn, state, now, limit))
        return JSONResponse({"silences": found})

    async def create_silence(request: Request) -> Response:
        caller = await admin_caller(services, request)
        body = parse_body(await request.body(), SilenceIn)
        now = services.clock.now_ms()
        values = silence_values(body, caller, now)

        def write(conn: Connection) -> dict[str, Any]:
            silence_id = mute_admin.create_silence(conn, values, now)
            audit(services, conn, caller, "silence.create", f"silence:{silence_id}")
            return mute_admin.describe_silence(mute_admin.get_silence(conn, silence_id), now)

        created = await services.writer.run(write)
        await services.dispatcher.tick()  # mute now, not at the next tick
        return JSONResponse(created, status_code=201)

    async def get_silence(request: Request) -> Response:
        await require_token(services, request)
        silence_id = path_id(request, "silence_id", "silence")
        now = services.clock.now_ms()
        row = await services.read(lambda conn: mute_admin.get_silence(conn, silence_id))
        if row is None:
            raise ClientError(404, f"silence {silence_id} not found")
        return JSONResponse(mute_admin.describe_silence(row, now))

    async def expire_silence(request: Request) -> Response:
        caller = await admin_caller(services, request)
        silence_id = path_id(request, "silence_id", "silence")
        now = services.clock.now_ms()

        def write(conn: Connection) -> dict[str, Any] | None:
            found = mute_admin.expire_silence(conn, silence_id, caller.actor, now)
            if found is not None:
                audit(services, conn, caller, "silence.expire", f"silence:{silence_id}")
            return found

        found = await services.writer.run(write)
        if found is None:
            raise ClientError(404, f"silence {silence_id} not found")
        await services.dispatcher.tick()  # unmute and announce now, not at the next tick
        return JSONResponse(found)

    async def list_windows(request: Request) -> Response:
        await require_token(services, request)
        ref = request.query_params.get("project") or None
        now = services.clock.now_ms()

        def read(conn: Connection) -> list[dict[str, Any]]:
            return mute_admin.list_windows(conn, project_id(conn, ref), now)

        return JSONResponse({"maintenance_windows": await services.read(read)})

    async def list_rules(request: Request) -> Response:
        await require_token(services, request)
        return JSONResponse({"inhibit_rules": await services.read(mute_admin.list_rules)})

    return [
        Route("/api/v1/silences", guarded(list_silences), methods=["GET"]),
        Route("/api/v1/silences", guarded(create_silence), methods=["POST"]),
        Route("/api/v1/silences/{silence_id}", guarded(get_silence), methods=["GET"]),
        Route("/api/v1/silences/{silence_id}", guarded(expire_silence), methods=["DELETE"]),
        Route("/api/v1/silences/{silence_id}/expire", guarded(expire_silence), methods=["POST"]),
        Route(WINDOWS.path, guarded(list_windows), methods=["GET"]),
        *crud_routes(services, WINDOWS),
        Route(RULES.path, guarded(list_rules), methods=["GET"]),
        *crud_routes(services, RULES),
    ]
