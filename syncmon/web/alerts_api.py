"""The alerting API: rules (admins change them), current alerts and their history.

- `GET /api/v1/alerts/rules?project=&kind=&source=` — rules, any token;
- `POST /api/v1/alerts/rules` — create (admin): `{"project": "<slug>", "name": …, "kind": …}`;
- `GET /api/v1/alerts/rules/<id>`; `PATCH` (admin) merges the given fields into the rule
  and validates the result; `DELETE` (admin). Rules from a rules file are changed in the
  file (409 here); deleting a default rule keeps it from being seeded again;
- `GET /api/v1/alerts?project=&state=` — pending and firing alerts (`state=resolved` for
  those resolved in the last 15 minutes) with labels, annotations, value and since;
- `GET /api/v1/alerts/history?project=&rule=&state=&since=&until=&cursor=&limit=` — state
  changes, newest first.

Every change is written to the audit log and picked up by the engine at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.alerting import rule_store, state_store
from syncmon.alerting.model import AlertState
from syncmon.alerting.spec import RULE_KINDS, rule_document
from syncmon.http_errors import ClientError
from syncmon.web import rule_changes
from syncmon.web.api import Caller, error_response, project_param, require_token
from syncmon.web.params import parse_cursor, parse_limit, parse_time
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

log = logging.getLogger(__name__)
MAX_RULE_BYTES = 65_536
ALERT_STATES = ("pending", "firing", "resolved")
HISTORY_STATES = tuple(s.value for s in AlertState)


def _rule_id(request: Request) -> int:
    raw = str(request.path_params["rule_id"])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ClientError(404, f"rule {raw[:32]!r} not found")
    return int(raw)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_RULE_BYTES:
        raise ClientError(413, f"body: larger than {MAX_RULE_BYTES} bytes")
    try:
        body = orjson.loads(raw or b"null")
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ClientError(400, "body: expected a JSON object with the rule's fields")
    return body


def _rule_param(raw: str | None) -> int | None:
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ClientError(400, "rule: a rule id (a whole number)", field="rule")
    return int(raw)


def _choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise ClientError(400, f"{name}: must be one of {', '.join(choices)}", field=name)
    return value


def routes(services: Services) -> list[Route]:
    async def admin(request: Request) -> Caller:
        caller = await require_token(services, request)
        caller.require_admin()
        return caller

    async def list_rules(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=False)
            kind = _choice(request, "kind", RULE_KINDS)
            source = _choice(request, "source", rule_store.SOURCES)
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(lambda conn: rule_store.list_rules(conn, project.id if project else None))
        shown = [
            r.describe()
            for r in found
            if (kind is None or r.spec.kind == kind) and source in (None, r.source)
        ]
        return JSONResponse({"rules": shown})

    async def create_rule(request: Request) -> Response:
        try:
            caller = await admin(request)
            body = await _json_object(request)
            ref = body.pop("project", None)
            project = await services.read(lambda conn: rule_changes.project_of(conn, ref))
            spec = rule_changes.validated(body)
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()
        created = await services.writer.run(
            lambda conn: rule_changes.create(conn, project, spec, caller.actor, now)
        )
        await rule_changes.reload(services)
        return JSONResponse(created.describe(), status_code=201)

    async def get_rule(request: Request) -> Response:
        try:
            await require_token(services, request)
            rule_id = _rule_id(request)
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(lambda conn: rule_store.get_rule(conn, rule_id))
        if found is None:
            return JSONResponse({"error": f"rule {rule_id} not found"}, status_code=404)
        return JSONResponse(found.describe())

    async def _editable(rule_id: int) -> rule_store.StoredRule:
        found = await services.read(lambda conn: rule_store.get_rule(conn, rule_id))
        return rule_changes.editable(found, rule_id)

    async def patch_rule(request: Request) -> Response:
        try:
            caller = await admin(request)
            rule_id = _rule_id(request)
            body = await _json_object(request)
            rule_changes.refuse_fixed(body)
            found = await _editable(rule_id)
            spec = rule_changes.validated({**rule_document(found.spec), **body})
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()
        updated = await services.writer.run(
            lambda conn: rule_changes.update(conn, rule_id, spec, sorted(body), caller.actor, now)
        )
        await rule_changes.reload(services)
        if updated is None:
            return JSONResponse({"error": f"rule {rule_id} not found"}, status_code=404)
        return JSONResponse(updated.describe())

    async def delete_rule(request: Request) -> Response:
        try:
            caller = await admin(request)
            rule_id = _rule_id(request)
            found = await _editable(rule_id)
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()
        await services.writer.run(lambda conn: rule_changes.delete(conn, found, caller.actor, now))
        await rule_changes.reload(services)
        return JSONResponse({"deleted": rule_id})

    async def current(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=False)
            state = _choice(request, "state", ALERT_STATES)
        except ClientError as exc:
            return error_response(exc)
        states = (AlertState(state),) if state else ()
        alerts = services.alerts.current_alerts(project.slug if project else None, states)
        return JSONResponse({"alerts": alerts})

    async def history(request: Request) -> Response:
        params = request.query_params
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=False)
            now = services.clock.now_ms()
            rule = _rule_param(params.get("rule"))
            limit = parse_limit(params.get("limit"))
            query = state_store.HistoryQuery(
                project_id=project.id if project else None,
                rule_id=rule,
                state=_choice(request, "state", HISTORY_STATES),
                since_ms=parse_time(params.get("since"), "since", now),
                until_ms=parse_time(params.get("until"), "until", now),
                before_id=parse_cursor(params.get("cursor")),
                limit=limit,
            )
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(lambda conn: state_store.history(conn, query))
        next_cursor = str(found[-1]["id"]) if len(found) == limit else None
        return JSONResponse({"history": found, "next_cursor": next_cursor})

    return [
        Route("/api/v1/alerts", current, methods=["GET"]),
        Route("/api/v1/alerts/history", history, methods=["GET"]),
        Route("/api/v1/alerts/rules", list_rules, methods=["GET"]),
        Route("/api/v1/alerts/rules", create_rule, methods=["POST"]),
        Route("/api/v1/alerts/rules/{rule_id}", get_rule, methods=["GET"]),
        Route("/api/v1/alerts/rules/{rule_id}", patch_rule, methods=["PATCH"]),
        Route("/api/v1/alerts/rules/{rule_id}", delete_rule, methods=["DELETE"]),
    ]
