"""The alerting configuration API: silences, escalation policies, routes, maintenance windows,
inhibition rules and user contacts. Any token reads; admin tokens write (viewers get 403),
and every write is in the audit log.

- `/api/v1/silences` (GET ?state=pending|active|expired, POST), `/api/v1/silences/<id>` (GET,
  DELETE = expire), `/api/v1/silences/<id>/expire` (POST);
- `/api/v1/escalation-policies`, `/api/v1/routes`, `/api/v1/maintenance-windows`,
  `/api/v1/inhibit-rules` (GET, POST) and `/<id>` (GET, PUT, DELETE);
- `/api/v1/routes/test` (POST `{"labels": {…}}`): which routes, groups and policies those
  labels would take;
- `/api/v1/user-contacts` (GET ?user_id=, POST sets a user's phone), `/<id>` (DELETE).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.alerting import config_store, mute_admin, policy_admin
from syncmon.alerting.groups import group_key
from syncmon.alerting.routing import route
from syncmon.http_errors import ClientError
from syncmon.pipeline.normalize import parse_timestamp
from syncmon.store import accounts, projects
from syncmon.web.alerting_payloads import (
    WEEK_S,
    ContactIn,
    InhibitRuleIn,
    MaintenanceIn,
    PolicyIn,
    RouteIn,
    RouteTestIn,
    SilenceIn,
    parse_body,
)
from syncmon.web.api import Caller, error_response, require_token
from syncmon.web.params import parse_limit
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

Handler = Callable[[Request], Awaitable[Response]]


def path_id(request: Request, name: str, what: str) -> int:
    raw = str(request.path_params[name])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ClientError(404, f"{what} {raw[:32]!r} not found")
    return int(raw)


def _project_id(conn: Connection, ref: str | None, field: str = "project") -> int | None:
    if ref is None:
        return None
    found = projects.find_project(conn, ref)
    if found is None:
        raise ClientError(400, f"{field}: there is no project {ref[:64]!r}", field=field)
    return found.id


def _time(raw: Any, field: str) -> int | None:
    return parse_timestamp(raw, field)


def _silence_values(body: SilenceIn, caller: Caller, now: int) -> dict[str, Any]:
    starts = _time(body.starts_at, "starts_at") or now
    if body.duration_seconds is not None:
        ends = starts + body.duration_seconds * 1000
    else:
        ends = _time(body.ends_at, "ends_at") or 0
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


def _policy_values(conn: Connection, body: PolicyIn) -> dict[str, Any]:
    levels = [
        {
            "timeout_ms": level.timeout_seconds * 1000,
            "targets": [
                {"channel_id": t.channel_id}
                if t.user_id is None
                else {"user_id": t.user_id, "channel_id": t.channel_id, "contact": t.contact or "email"}
                for t in level.targets
            ],
        }
        for level in body.levels
    ]
    return {
        "project_id": _project_id(conn, body.project),
        "name": body.name,
        "is_default": body.default,
        "repeat": body.repeat,
        "levels": levels,
    }


def _ms(seconds: int | None) -> int | None:
    return seconds * 1000 if seconds is not None else None


def _route_values(body: RouteIn) -> dict[str, Any]:
    return {
        "parent_id": body.parent_id,
        "position": body.position,
        "name": body.name,
        "matchers": body.matchers,
        "continue_matching": body.continue_matching,
        "group_by": body.group_by,
        "group_wait_ms": _ms(body.group_wait_seconds),
        "group_interval_ms": _ms(body.group_interval_seconds),
        "repeat_interval_ms": _ms(body.repeat_interval_seconds),
        "policy_id": body.policy_id,
    }


def _window_values(conn: Connection, body: MaintenanceIn, caller: Caller) -> dict[str, Any]:
    starts = _time(body.starts_at, "starts_at") or 0
    ends = _time(body.ends_at, "ends_at") or 0
    if ends <= starts:
        raise ClientError(400, "ends_at: must be later than starts_at", field="ends_at")
    if body.weekly and ends - starts >= WEEK_S * 1000:
        raise ClientError(400, "ends_at: a weekly window must be shorter than a week", field="ends_at")
    until = _time(body.until, "until")
    if until is not None and not body.weekly:
        raise ClientError(400, "until: only a weekly window has an until", field="until")
    return {
        "project_id": _project_id(conn, body.project),
        "name": body.name,
        "matchers": body.matchers,
        "starts_ms": starts,
        "ends_ms": ends,
        "weekly": body.weekly,
        "timezone": body.timezone,
        "until_ms": until,
        "created_by": caller.actor,
    }


def _rule_values(body: InhibitRuleIn, caller: Caller) -> dict[str, Any]:
    return {
        "source_matchers": body.source_matchers,
        "target_matchers": body.target_matchers,
        "equal": body.equal,
        "comment": body.comment,
        "created_by": caller.actor,
    }


def routes(services: Services) -> list[Route]:
    def guarded(fn: Callable[[Request], Awaitable[Response]]) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                return await fn(request)
            except ClientError as exc:
                return error_response(exc)

        return handler

    async def admin(request: Request) -> Caller:
        caller = await require_token(services, request)
        caller.require_admin()
        return caller

    def audit(conn: Connection, caller: Caller, action: str, target: str, details: dict[str, Any]) -> None:
        accounts.record_audit(conn, services.clock.now_ms(), caller.actor, action, target, details)

    # -- silences ---------------------------------------------------------------------

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
        caller = await admin(request)
        body = parse_body(await request.body(), SilenceIn)
        now = services.clock.now_ms()
        values = _silence_values(body, caller, now)

        def write(conn: Connection) -> dict[str, Any]:
            silence_id = mute_admin.create_silence(conn, values, now)
            audit(conn, caller, "silence.create", f"silence:{silence_id}", {"comment": body.comment})
            return mute_admin.describe_silence(mute_admin.get_silence(conn, silence_id), now)

        return JSONResponse(await services.writer.run(write), status_code=201)

    async def get_silence(request: Request) -> Response:
        await require_token(services, request)
        silence_id = path_id(request, "silence_id", "silence")
        now = services.clock.now_ms()
        row = await services.read(lambda conn: mute_admin.get_silence(conn, silence_id))
        if row is None:
            raise ClientError(404, f"silence {silence_id} not found")
        return JSONResponse(mute_admin.describe_silence(row, now))

    async def expire_silence(request: Request) -> Response:
        caller = await admin(request)
        silence_id = path_id(request, "silence_id", "silence")
        now = services.clock.now_ms()

        def write(conn: Connection) -> dict[str, Any] | None:
            found = mute_admin.expire_silence(conn, silence_id, caller.actor, now)
            if found is not None:
                audit(conn, caller, "silence.expire", f"silence:{silence_id}", {})
            return found

        found = await services.writer.run(write)
        if found is None:
            raise ClientError(404, f"silence {silence_id} not found")
        await services.dispatcher.tick()  # unmute and announce now, not at the next tick
        return JSONResponse(found)

    # -- escalation policies ----------------------------------------------------------

    async def list_policies(request: Request) -> Response:
        await require_token(services, request)
        return JSONResponse({"policies": await services.read(policy_admin.list_policies)})

    def policy_writer(policy_id: int | None, body: PolicyIn, caller: Caller) -> Callable[[Connection], Any]:
        now = services.clock.now_ms()

        def write(conn: Connection) -> dict[str, Any] | None:
            values = _policy_values(conn, body)
            warnings = policy_admin.check_users(conn, values["levels"])
            saved = policy_admin.save_policy(conn, policy_id, values, now)
            if saved is None:
                return None
            action = "escalation_policy.create" if policy_id is None else "escalation_policy.update"
            audit(conn, caller, action, f"escalation_policy:{saved}", {"name": body.name})
            return {**(policy_admin.get_policy(conn, saved) or {}), "warnings": warnings}

        return write

    async def create_policy(request: Request) -> Response:
        caller = await admin(request)
        body = parse_body(await request.body(), PolicyIn)
        return JSONResponse(await services.writer.run(policy_writer(None, body, caller)), status_code=201)

    async def get_policy(request: Request) -> Response:
        await require_token(services, request)
        policy_id = path_id(request, "policy_id", "escalation policy")
        found = await services.read(lambda conn: policy_admin.get_policy(conn, policy_id))
        if found is None:
            raise ClientError(404, f"escalation policy {policy_id} not found")
        return JSONResponse(found)

    async def update_policy(request: Request) -> Response:
        caller = await admin(request)
        policy_id = path_id(request, "policy_id", "escalation policy")
        body = parse_body(await request.body(), PolicyIn)
        found = await services.writer.run(policy_writer(policy_id, body, caller))
        if found is None:
            raise ClientError(404, f"escalation policy {policy_id} not found")
        return JSONResponse(found)

    async def delete_policy(request: Request) -> Response:
        caller = await admin(request)
        policy_id = path_id(request, "policy_id", "escalation policy")

        def write(conn: Connection) -> bool:
            deleted = policy_admin.delete_policy(conn, policy_id)
            if deleted:
                audit(conn, caller, "escalation_policy.delete", f"escalation_policy:{policy_id}", {})
            return deleted

        if not await services.writer.run(write):
            raise ClientError(404, f"escalation policy {policy_id} not found")
        return Response(status_code=204)

    # -- routes -----------------------------------------------------------------------

    async def route_tree(request: Request) -> Response:
        await require_token(services, request)
        return JSONResponse(await services.read(policy_admin.route_tree))

    def route_writer(route_id: int | None, body: RouteIn, caller: Caller) -> Callable[[Connection], Any]:
        now = services.clock.now_ms()

        def write(conn: Connection) -> dict[str, Any] | None:
            saved = policy_admin.save_route(conn, route_id, _route_values(body), now)
            if saved is None:
                return None
            action = "route.create" if route_id is None else "route.update"
            audit(conn, caller, action, f"route:{saved}", {"name": body.name})
            return policy_admin.describe_route(policy_admin.get_route(conn, saved))

        return write

    async def create_route(request: Request) -> Response:
        caller = await admin(request)
        body = parse_body(await request.body(), RouteIn)
        return JSONResponse(await services.writer.run(route_writer(None, body, caller)), status_code=201)

    async def get_route(request: Request) -> Response:
        await require_token(services, request)
        route_id = path_id(request, "route_id", "route")
        row = await services.read(lambda conn: policy_admin.get_route(conn, route_id))
        if row is None:
            raise ClientError(404, f"route {route_id} not found")
        return JSONResponse(policy_admin.describe_route(row))

    async def update_route(request: Request) -> Response:
        caller = await admin(request)
        route_id = path_id(request, "route_id", "route")
        body = parse_body(await request.body(), RouteIn)
        found = await services.writer.run(route_writer(route_id, body, caller))
        if found is None:
            raise ClientError(404, f"route {route_id} not found")
        return JSONResponse(found)

    async def delete_route(request: Request) -> Response:
        caller = await admin(request)
        route_id = path_id(request, "route_id", "route")

        def write(conn: Connection) -> bool:
            deleted = policy_admin.delete_route(conn, route_id)
            if deleted:
                audit(conn, caller, "route.delete", f"route:{route_id}", {})
            return deleted

        if not await services.writer.run(write):
            raise ClientError(404, f"route {route_id} not found")
        return Response(status_code=204)

    async def test_route(request: Request) -> Response:
        await require_token(services, request)
        labels = parse_body(await request.body(), RouteTestIn).labels

        def answer(conn: Connection) -> list[dict[str, Any]]:
            config = config_store.load_config(conn, services.clock.now_ms())
            out = []
            for match in route(config.routes, labels):
                group_labels = match.group_labels(labels)
                policy = config_store.policy_for(conn, match.policy_id, config.project_id(labels))
                out.append(
                    {
                        "route_id": match.route_id,
                        "receiver": match.receiver,
                        "group_by": list(match.group_by),
                        "group_labels": group_labels,
                        "group_key": group_key(match.route_id, group_labels),
                        "group_wait_seconds": match.timers.group_wait_ms / 1000
                        if match.timers.group_wait_ms is not None
                        else None,
                        "group_interval_seconds": match.timers.group_interval_ms / 1000,
                        "repeat_interval_seconds": match.timers.repeat_interval_ms / 1000,
                        "policy": {"id": policy.id, "name": policy.name} if policy else None,
                    }
                )
            return out

        return JSONResponse({"routes": await services.read(answer)})

    # -- maintenance windows ----------------------------------------------------------

    async def list_windows(request: Request) -> Response:
        await require_token(services, request)
        ref = request.query_params.get("project") or None
        now = services.clock.now_ms()

        def read(conn: Connection) -> list[dict[str, Any]]:
            return mute_admin.list_windows(conn, _project_id(conn, ref), now)

        return JSONResponse({"maintenance_windows": await services.read(read)})

    def window_writer(
        window_id: int | None, body: MaintenanceIn, caller: Caller
    ) -> Callable[[Connection], Any]:
        now = services.clock.now_ms()

        def write(conn: Connection) -> dict[str, Any] | None:
            saved = mute_admin.save_window(conn, window_id, _window_values(conn, body, caller), now)
            if saved is None:
                return None
            action = "maintenance.create" if window_id is None else "maintenance.update"
            audit(conn, caller, action, f"maintenance:{saved}", {"name": body.name})
            return mute_admin.get_window(conn, saved, now)

        return write

    async def create_window(request: Request) -> Response:
        caller = await admin(request)
        body = parse_body(await request.body(), MaintenanceIn)
        return JSONResponse(await services.writer.run(window_writer(None, body, caller)), status_code=201)

    async def get_window(request: Request) -> Response:
        await require_token(services, request)
        window_id = path_id(request, "window_id", "maintenance window")
        now = services.clock.now_ms()
        found = await services.read(lambda conn: mute_admin.get_window(conn, window_id, now))
        if found is None:
            raise ClientError(404, f"maintenance window {window_id} not found")
        return JSONResponse(found)

    async def update_window(request: Request) -> Response:
        caller = await admin(request)
        window_id = path_id(request, "window_id", "maintenance window")
        body = parse_body(await request.body(), MaintenanceIn)
        found = await services.writer.run(window_writer(window_id, body, caller))
        if found is None:
            raise ClientError(404, f"maintenance window {window_id} not found")
        return JSONResponse(found)

    async def delete_window(request: Request) -> Response:
        caller = await admin(request)
        window_id = path_id(request, "window_id", "maintenance window")

        def write(conn: Connection) -> bool:
            deleted = mute_admin.delete_window(conn, window_id)
            if deleted:
                audit(conn, caller, "maintenance.delete", f"maintenance:{window_id}", {})
            return deleted

        if not await services.writer.run(write):
            raise ClientError(404, f"maintenance window {window_id} not found")
        return Response(status_code=204)

    # -- inhibition rules -------------------------------------------------------------

    async def list_rules(request: Request) -> Response:
        await require_token(services, request)
        return JSONResponse({"inhibit_rules": await services.read(mute_admin.list_rules)})

    def rule_writer(rule_id: int | None, body: InhibitRuleIn, caller: Caller) -> Callable[[Connection], Any]:
        now = services.clock.now_ms()

        def write(conn: Connection) -> dict[str, Any] | None:
            saved = mute_admin.save_rule(conn, rule_id, _rule_values(body, caller), now)
            if saved is None:
                return None
            action = "inhibit_rule.create" if rule_id is None else "inhibit_rule.update"
            audit(conn, caller, action, f"inhibit_rule:{saved}", {})
            return mute_admin.get_rule(conn, saved)

        return write

    async def create_rule(request: Request) -> Response:
        caller = await admin(request)
        body = parse_body(await request.body(), InhibitRuleIn)
        return JSONResponse(await services.writer.run(rule_writer(None, body, caller)), status_code=201)

    async def get_rule(request: Request) -> Response:
        await require_token(services, request)
        rule_id = path_id(request, "rule_id", "inhibition rule")
        found = await services.read(lambda conn: mute_admin.get_rule(conn, rule_id))
        if found is None:
            raise ClientError(404, f"inhibition rule {rule_id} not found")
        return JSONResponse(found)

    async def update_rule(request: Request) -> Response:
        caller = await admin(request)
        rule_id = path_id(request, "rule_id", "inhibition rule")
        body = parse_body(await request.body(), InhibitRuleIn)
        found = await services.writer.run(rule_writer(rule_id, body, caller))
        if found is None:
            raise ClientError(
                404, f"inhibition rule {rule_id} not found (the built-in rule 0 cannot be changed)"
            )
        return JSONResponse(found)

    async def delete_rule(request: Request) -> Response:
        caller = await admin(request)
        rule_id = path_id(request, "rule_id", "inhibition rule")

        def write(conn: Connection) -> bool:
            deleted = mute_admin.delete_rule(conn, rule_id)
            if deleted:
                audit(conn, caller, "inhibit_rule.delete", f"inhibit_rule:{rule_id}", {})
            return deleted

        if not await services.writer.run(write):
            raise ClientError(
                404, f"inhibition rule {rule_id} not found (the built-in rule 0 cannot be deleted)"
            )
        return Response(status_code=204)

    # -- user contacts ----------------------------------------------------------------

    async def list_contacts(request: Request) -> Response:
        await require_token(services, request)
        raw = request.query_params.get("user_id") or None
        if raw is not None and not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
            raise ClientError(400, "user_id: must be a user id (a whole number)", field="user_id")
        user_id = int(raw) if raw is not None else None
        found = await services.read(lambda conn: policy_admin.list_contacts(conn, user_id))
        return JSONResponse({"contacts": found})

    async def set_contact(request: Request) -> Response:
        caller = await admin(request)
        body = parse_body(await request.body(), ContactIn)
        now = services.clock.now_ms()

        def write(conn: Connection) -> dict[str, Any]:
            found = policy_admin.set_contact(conn, body.user_id, body.kind, body.value, now)
            audit(conn, caller, "user_contact.set", f"user:{body.user_id}", {"kind": body.kind})
            return found

        return JSONResponse(await services.writer.run(write), status_code=201)

    async def delete_contact(request: Request) -> Response:
        caller = await admin(request)
        contact_id = path_id(request, "contact_id", "contact")

        def write(conn: Connection) -> bool:
            deleted = policy_admin.delete_contact(conn, contact_id)
            if deleted:
                audit(conn, caller, "user_contact.delete", f"user_contact:{contact_id}", {})
            return deleted

        if not await services.writer.run(write):
            raise ClientError(404, f"contact {contact_id} not found")
        return Response(status_code=204)

    g = guarded
    return [
        Route("/api/v1/silences", g(list_silences), methods=["GET"]),
        Route("/api/v1/silences", g(create_silence), methods=["POST"]),
        Route("/api/v1/silences/{silence_id}", g(get_silence), methods=["GET"]),
        Route("/api/v1/silences/{silence_id}", g(expire_silence), methods=["DELETE"]),
        Route("/api/v1/silences/{silence_id}/expire", g(expire_silence), methods=["POST"]),
        Route("/api/v1/escalation-policies", g(list_policies), methods=["GET"]),
        Route("/api/v1/escalation-policies", g(create_policy), methods=["POST"]),
        Route("/api/v1/escalation-policies/{policy_id}", g(get_policy), methods=["GET"]),
        Route("/api/v1/escalation-policies/{policy_id}", g(update_policy), methods=["PUT"]),
        Route("/api/v1/escalation-policies/{policy_id}", g(delete_policy), methods=["DELETE"]),
        Route("/api/v1/routes", g(route_tree), methods=["GET"]),
        Route("/api/v1/routes", g(create_route), methods=["POST"]),
        Route("/api/v1/routes/test", g(test_route), methods=["POST"]),
        Route("/api/v1/routes/{route_id}", g(get_route), methods=["GET"]),
        Route("/api/v1/routes/{route_id}", g(update_route), methods=["PUT"]),
        Route("/api/v1/routes/{route_id}", g(delete_route), methods=["DELETE"]),
        Route("/api/v1/maintenance-windows", g(list_windows), methods=["GET"]),
        Route("/api/v1/maintenance-windows", g(create_window), methods=["POST"]),
        Route("/api/v1/maintenance-windows/{window_id}", g(get_window), methods=["GET"]),
        Route("/api/v1/maintenance-windows/{window_id}", g(update_window), methods=["PUT"]),
        Route("/api/v1/maintenance-windows/{window_id}", g(delete_window), methods=["DELETE"]),
        Route("/api/v1/inhibit-rules", g(list_rules), methods=["GET"]),
        Route("/api/v1/inhibit-rules", g(create_rule), methods=["POST"]),
        Route("/api/v1/inhibit-rules/{rule_id}", g(get_rule), methods=["GET"]),
        Route("/api/v1/inhibit-rules/{rule_id}", g(update_rule), methods=["PUT"]),
        Route("/api/v1/inhibit-rules/{rule_id}", g(delete_rule), methods=["DELETE"]),
        Route("/api/v1/user-contacts", g(list_contacts), methods=["GET"]),
        Route("/api/v1/user-contacts", g(set_contact), methods=["POST"]),
        Route("/api/v1/user-contacts/{contact_id}", g(delete_contact), methods=["DELETE"]),
    ]
