"""Who gets told: escalation policies, the routing tree and user contacts.

- `/api/v1/escalation-policies` (GET, POST), `/<id>` (GET, PUT, DELETE; 409 while a route uses it);
- `/api/v1/routes` (GET: the tree under the built-in root; POST), `/<id>` (GET, PUT, DELETE; 409
  while it has child routes); `POST /api/v1/routes/test` with `{"labels": {…}}` answers which
  routes, groups, timers and policies those labels would take;
- `/api/v1/user-contacts` (GET ?user_id=, POST sets a user's phone number), `/<id>` (DELETE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.alerting import config_store, policy_admin
from syncmon.alerting.escalation import Policy
from syncmon.alerting.groups import group_key
from syncmon.alerting.routing import RouteMatch, route
from syncmon.http_errors import ClientError
from syncmon.web.alerting_payloads import ContactIn, PolicyIn, RouteIn, RouteTestIn, parse_body
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
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services


def policy_values(conn: Connection, body: PolicyIn, caller: Caller, now: int) -> Values:
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
        "project_id": project_id(conn, body.project),
        "name": body.name,
        "is_default": body.default,
        "repeat": body.repeat,
        "levels": levels,
    }


def _ms(seconds: int | None) -> int | None:
    return seconds * 1000 if seconds is not None else None


def route_values(conn: Connection, body: RouteIn, caller: Caller, now: int) -> Values:
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


def _describe_route(conn: Connection, route_id: int, now: int) -> dict[str, Any] | None:
    row = policy_admin.get_route(conn, route_id)
    return policy_admin.describe_route(row) if row else None


POLICIES: Resource[PolicyIn] = Resource(
    path="/api/v1/escalation-policies",
    noun="escalation policy",
    kind="escalation_policy",
    model=PolicyIn,
    values=policy_values,
    save=policy_admin.save_policy,
    describe=lambda conn, policy_id, now: policy_admin.get_policy(conn, policy_id),
    delete=policy_admin.delete_policy,
    check=lambda conn, values: {"warnings": policy_admin.check_users(conn, values["levels"])},
)
ROUTES: Resource[RouteIn] = Resource(
    path="/api/v1/routes",
    noun="route",
    kind="route",
    model=RouteIn,
    values=route_values,
    save=policy_admin.save_route,
    describe=_describe_route,
    delete=policy_admin.delete_route,
)


def routes_taken(
    conn: Connection, labels: dict[str, str], now: int
) -> list[tuple[RouteMatch, Policy | None]]:
    """Every route the labels take, with the policy an incident opened there would get."""
    config = config_store.load_config(conn, now)
    project = config.project_id(labels)
    return [
        (match, config_store.policy_for(conn, match.policy_id, project))
        for match in route(config.routes, labels)
    ]


def trace_labels(conn: Connection, labels: dict[str, str], now: int) -> list[dict[str, Any]]:
    """Every route the labels take, with its group and the policy an incident would get."""
    found = []
    for match, policy in routes_taken(conn, labels, now):
        group_labels = match.group_labels(labels)
        timers = match.timers
        found.append(
            {
                "route_id": match.route_id,
                "receiver": match.receiver,
                "group_by": list(match.group_by),
                "group_labels": group_labels,
                "group_key": group_key(match.route_id, group_labels),
                "group_wait_seconds": timers.group_wait_ms / 1000
                if timers.group_wait_ms is not None
                else None,
                "group_interval_seconds": timers.group_interval_ms / 1000,
                "repeat_interval_seconds": timers.repeat_interval_ms / 1000,
                "policy": {"id": policy.id, "name": policy.name} if policy else None,
            }
        )
    return found


def routes(services: Services) -> list[Route]:
    async def list_policies(request: Request) -> Response:
        await require_token(services, request)
        return JSONResponse({"policies": await services.read(policy_admin.list_policies)})

    async def route_tree(request: Request) -> Response:
        await require_token(services, request)
        return JSONResponse(await services.read(policy_admin.route_tree))

    async def test_route(request: Request) -> Response:
        await require_token(services, request)
        labels = parse_body(await request.body(), RouteTestIn).labels
        now = services.clock.now_ms()
        return JSONResponse({"routes": await services.read(lambda conn: trace_labels(conn, labels, now))})

    async def list_contacts(request: Request) -> Response:
        await require_token(services, request)
        raw = request.query_params.get("user_id") or None
        if raw is not None and not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
            raise ClientError(400, "user_id: must be a user id (a whole number)", field="user_id")
        user_id = int(raw) if raw is not None else None
        found = await services.read(lambda conn: policy_admin.list_contacts(conn, user_id))
        return JSONResponse({"contacts": found})

    async def set_contact(request: Request) -> Response:
        caller = await admin_caller(services, request)
        body = parse_body(await request.body(), ContactIn)
        now = services.clock.now_ms()

        def write(conn: Connection) -> dict[str, Any]:
            found = policy_admin.set_contact(conn, body.user_id, body.kind, body.value, now)
            audit(services, conn, caller, "user_contact.set", f"user:{body.user_id}")
            return found

        return JSONResponse(await services.writer.run(write), status_code=201)

    async def delete_contact(request: Request) -> Response:
        caller = await admin_caller(services, request)
        contact_id = path_id(request, "contact_id", "contact")

        def write(conn: Connection) -> bool:
            deleted = policy_admin.delete_contact(conn, contact_id)
            if deleted:
                audit(services, conn, caller, "user_contact.delete", f"user_contact:{contact_id}")
            return deleted

        if not await services.writer.run(write):
            raise ClientError(404, f"contact {contact_id} not found")
        return Response(status_code=204)

    return [
        Route(POLICIES.path, guarded(list_policies), methods=["GET"]),
        *crud_routes(services, POLICIES),
        Route(ROUTES.path, guarded(route_tree), methods=["GET"]),
        Route(ROUTES.path + "/test", guarded(test_route), methods=["POST"]),
        *crud_routes(services, ROUTES),
        Route("/api/v1/user-contacts", guarded(list_contacts), methods=["GET"]),
        Route("/api/v1/user-contacts", guarded(set_contact), methods=["POST"]),
        Route("/api/v1/user-contacts/{contact_id}", guarded(delete_contact), methods=["DELETE"]),
    ]
