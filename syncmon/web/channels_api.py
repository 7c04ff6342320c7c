"""The channels API: configure notification channels, send a test, read the delivery log.

- `GET /api/v1/channels?project=` — every channel (server-wide ones and the project's);
- `POST /api/v1/channels` — create: {name, kind, config, project?, fallback_channel_id?,
  rate_limit_per_minute?, enabled?} (admin);
- `GET|PATCH|DELETE /api/v1/channels/{id}` — PATCH merges `config` into the stored one,
  and a masked secret sent back unchanged keeps its value (admin for PATCH and DELETE);
- `POST /api/v1/channels/{id}/test` — queues a test notification, returns its outbox id
  (admin); its outcome appears in the delivery log;
- `GET /api/v1/channels/{id}/deliveries?limit=&cursor=` — the delivery log, newest first.

Secrets are never shown in the clear, not even in the reply to the request that set them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.channels import channel_store
from syncmon.http_errors import ClientError
from syncmon.web import channel_changes as changes
from syncmon.web.api import Caller, error_response, project_param, require_token
from syncmon.web.params import parse_cursor, parse_limit
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

MAX_BODY_BYTES = 65_536
MAX_ID = changes.MAX_ID


async def _json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ClientError(413, f"body: larger than {MAX_BODY_BYTES} bytes")
    if optional and not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ClientError(400, "body: expected a JSON object")
    if b"\\u0000" in raw:
        raise ClientError(400, "body: text must not contain NUL characters")
    return body


def _channel_id(request: Request) -> int:
    raw = str(request.path_params["channel_id"])
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_ID:
        raise ClientError(404, f"channel {raw[:20]!r} not found")
    return int(raw)


def _deliveries_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "outbox_id": row["outbox_id"],
        "channel_id": row["channel_id"],
        "attempt": row["attempt"],
        "time": row["ts_ms"] / 1000.0,
        "ok": bool(row["ok"]),
        "outcome": row["outcome"],
        "status_code": row["status_code"],
        "duration_ms": row["duration_ms"],
        "detail": row["detail"],
        "outbox_status": row["outbox_status"],
        "group_key": row["group_key"],
        "recipient": row["recipient"],
    }


def routes(services: Services) -> list[Route]:
    async def admin(request: Request) -> Caller:
        caller = await require_token(services, request)
        caller.require_admin()
        return caller

    async def list_channels(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=False)
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(
            lambda conn: channel_store.list_channels(conn, project.id if project else None)
        )
        return JSONResponse({"channels": [channel.describe() for channel in found]})

    async def create(request: Request) -> Response:
        try:
            caller = await admin(request)
            body = await _json_object(request)
            now = services.clock.now_ms()
            created = await changes.write(
                services,
                lambda conn: changes.create(conn, changes.create_values(conn, body), caller.actor, now),
            )
        except ClientError as exc:
            return error_response(exc)
        return JSONResponse(created.describe(), status_code=201)

    async def get_one(request: Request) -> Response:
        try:
            await require_token(services, request)
            channel_id = _channel_id(request)
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(lambda conn: channel_store.get_channel(conn, channel_id))
        if found is None:
            return JSONResponse({"error": f"channel {channel_id} not found"}, status_code=404)
        return JSONResponse(found.describe())

    async def patch(request: Request) -> Response:
        try:
            caller = await admin(request)
            channel_id = _channel_id(request)
            body = await _json_object(request)
            now = services.clock.now_ms()

            def update(conn: Connection) -> channel_store.ChannelRow:
                current = changes.current_channel(conn, channel_id)
                wanted = changes.patch_changes(conn, current, body)
                return changes.update(conn, channel_id, wanted, caller.actor, now)

            updated = await changes.write(services, update)
        except ClientError as exc:
            return error_response(exc)
        return JSONResponse(updated.describe())

    async def delete(request: Request) -> Response:
        try:
            caller = await admin(request)
            channel_id = _channel_id(request)
            now = services.clock.now_ms()
            await changes.write(services, lambda conn: changes.delete(conn, channel_id, caller.actor, now))
        except ClientError as exc:
            return error_response(exc)
        return JSONResponse({"deleted": channel_id})

    async def send_test(request: Request) -> Response:
        try:
            caller = await admin(request)
            channel_id = _channel_id(request)
            body = await _json_object(request, optional=True)
            changes.refuse_unknown(body, {"recipient"})
            recipient = body.get("recipient")
            if recipient is not None and not isinstance(recipient, str):
                raise ClientError(400, "recipient: a string", field="recipient")
            now = services.clock.now_ms()

            def enqueue(conn: Connection) -> int:
                return changes.enqueue_test(
                    conn, channel_id, caller.actor, now, services.settings.effective_public_url, recipient
                )

            result = await changes.write(services, enqueue)
        except ClientError as exc:
            return error_response(exc)
        services.delivery.wake()
        return JSONResponse({"outbox_id": result, "channel_id": channel_id}, status_code=202)

    async def delivery_log(request: Request) -> Response:
        try:
            await require_token(services, request)
            channel_id = _channel_id(request)
            limit = parse_limit(request.query_params.get("limit"))
            before = parse_cursor(request.query_params.get("cursor"))
        except ClientError as exc:
            return error_response(exc)

        def load(conn: Connection) -> list[dict[str, Any]] | None:
            if channel_store.get_channel(conn, channel_id) is None:
                return None
            return channel_store.list_deliveries(conn, channel_id, before_id=before, limit=limit)

        found = await services.read(load)
        if found is None:
            return JSONResponse({"error": f"channel {channel_id} not found"}, status_code=404)
        next_cursor = str(found[-1]["id"]) if len(found) == limit else None
        return JSONResponse(
            {"deliveries": [_deliveries_item(row) for row in found], "next_cursor": next_cursor}
        )

    return [
        Route("/api/v1/channels", list_channels, methods=["GET"]),
        Route("/api/v1/channels", create, methods=["POST"]),
        Route("/api/v1/channels/{channel_id}", get_one, methods=["GET"]),
        Route("/api/v1/channels/{channel_id}", patch, methods=["PATCH"]),
        Route("/api/v1/channels/{channel_id}", delete, methods=["DELETE"]),
        Route("/api/v1/channels/{channel_id}/test", send_test, methods=["POST"]),
        Route("/api/v1/channels/{channel_id}/deliveries", delivery_log, methods=["GET"]),
    ]
