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

from syncmon.alerting.model import Severity
from syncmon.channels import channel_store, outbox
from syncmon.channels.base import Action, Notification
from syncmon.channels.registry import ChannelConfigError, patch_config, store_config
from syncmon.http_errors import ClientError
from syncmon.store import accounts, projects
from syncmon.web.api import Caller, error_response, project_param, require_token
from syncmon.web.params import parse_cursor, parse_limit
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

MAX_BODY_BYTES = 65_536
MAX_ID = 2**31 - 1
CREATE_FIELDS = {
    "name",
    "kind",
    "config",
    "project",
    "fallback_channel_id",
    "rate_limit_per_minute",
    "enabled",
}
PATCH_FIELDS = CREATE_FIELDS
MAX_RATE_LIMIT = 100_000


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


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ClientError(400, "name: a non-empty string of at most 200 characters", field="name")
    if any(ord(c) < 32 for c in value):
        raise ClientError(400, "name: must not contain control characters", field="name")
    return value.strip()


def _optional_id(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ClientError(400, f"{name}: a channel id (a positive whole number) or null", field=name)
    return value


def _rate_limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE_LIMIT:
        raise ClientError(
            400,
            f"rate_limit_per_minute: a whole number from 1 to {MAX_RATE_LIMIT}, or null for no limit",
            field="rate_limit_per_minute",
        )
    return value


def _enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ClientError(400, "enabled: true or false", field="enabled")
    return value


def _unknown(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ClientError(
            400, f"{unknown[0]}: unknown field; allowed are {', '.join(sorted(allowed))}", field=unknown[0]
        )


def _config_error(exc: ChannelConfigError) -> ClientError:
    return ClientError(400, str(exc), field=exc.field)


def _store_error(exc: Exception) -> ClientError:
    status = 404 if isinstance(exc, channel_store.ChannelNotFound) else 409
    if isinstance(exc, channel_store.ChannelNotFound) and str(exc).startswith("fallback_channel_id"):
        status = 400
    return ClientError(status, str(exc))


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


def enqueue_test(
    conn: Connection, channel_id: int, actor: str, now: int, public_url: str, recipient: str | None = None
) -> int:
    """Queue a test notification to the channel with its audit row; returns the outbox id."""
    channel = channel_store.get_channel(conn, channel_id)
    if channel is None:
        raise channel_store.ChannelNotFound(f"channel {channel_id} not found")
    notification = Notification(
        group_key=f"syncmon-test:{channel_id}:{now}",
        action=Action.TEST,
        severity=Severity.INFO,
        title="Test notification from SyncScript Monitor",
        text=f"Sent by {actor} to check the channel {channel.name!r}.",
        receiver=channel.name,
        external_url=public_url,
    )
    outbox_id = outbox.enqueue(
        conn, channel_id=channel_id, notification=notification, now_ms=now, recipient=recipient
    )
    accounts.record_audit(conn, now, actor, "channel.test", f"channel:{channel_id}", {"outbox_id": outbox_id})
    return outbox_id


def routes(services: Services) -> list[Route]:
    async def admin(request: Request) -> Caller:
        caller = await require_token(services, request)
        caller.require_admin()
        return caller

    async def project_id_of(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ClientError(
                400, "project: a project slug or id, or null for every project", field="project"
            )
        ref = str(value)
        found = await services.read(lambda conn: projects.find_project(conn, ref))
        if found is None:
            raise ClientError(400, f"project: {ref[:64]!r} not found", field="project")
        return found.id

    async def write(fn: Any) -> Any:
        """Run `fn(conn)` on the writer; a refusal comes back as a value, not a failed write."""

        def guarded(conn: Connection) -> Any:
            try:
                return fn(conn)
            except (channel_store.ChannelNotFound, channel_store.ChannelConflict, ChannelConfigError) as exc:
                return exc

        result = await services.writer.run(guarded)
        if isinstance(result, ChannelConfigError):
            raise _config_error(result)
        if isinstance(result, Exception):
            raise _store_error(result)
        return result

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
            _unknown(body, CREATE_FIELDS)
            for required in ("name", "kind", "config"):
                if required not in body:
                    raise ClientError(400, f"{required}: required", field=required)
            name = _name(body["name"])
            kind = body["kind"]
            if not isinstance(kind, str):
                raise ClientError(400, "kind: a string", field="kind")
            config = store_config(kind, body["config"])
            values: dict[str, Any] = {
                "name": name,
                "kind": kind,
                "config": config,
                "project_id": await project_id_of(body.get("project")),
                "fallback_channel_id": _optional_id(body.get("fallback_channel_id"), "fallback_channel_id"),
                "rate_limit_per_minute": _rate_limit(body.get("rate_limit_per_minute")),
                "enabled": _enabled(body.get("enabled", True)),
            }
            now = services.clock.now_ms()

            def insert(conn: Connection) -> channel_store.ChannelRow:
                created = channel_store.create_channel(conn, now_ms=now, **values)
                accounts.record_audit(
                    conn,
                    now,
                    caller.actor,
                    "channel.create",
                    f"channel:{created.id}",
                    {"name": name, "kind": kind},
                )
                return created

            created = await write(insert)
        except ChannelConfigError as exc:
            return error_response(_config_error(exc))
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
            _unknown(body, PATCH_FIELDS)
            current = await services.read(lambda conn: channel_store.get_channel(conn, channel_id))
            if current is None:
                raise ClientError(404, f"channel {channel_id} not found")
            if "kind" in body and body["kind"] != current.kind:
                raise ClientError(400, "kind: cannot be changed; create a new channel instead", field="kind")
            changes: dict[str, Any] = {}
            if "name" in body:
                changes["name"] = _name(body["name"])
            if "config" in body:
                changes["config"] = patch_config(current.kind, current.config, body["config"])
            if "project" in body:
                changes["project_id"] = await project_id_of(body["project"])
            if "fallback_channel_id" in body:
                changes["fallback_channel_id"] = _optional_id(
                    body["fallback_channel_id"], "fallback_channel_id"
                )
            if "rate_limit_per_minute" in body:
                changes["rate_limit_per_minute"] = _rate_limit(body["rate_limit_per_minute"])
            if "enabled" in body:
                changes["enabled"] = _enabled(body["enabled"])
            now = services.clock.now_ms()
            changed = sorted(changes)

            def update(conn: Connection) -> channel_store.ChannelRow:
                updated = channel_store.update_channel(conn, channel_id, changes, now)
                accounts.record_audit(
                    conn, now, caller.actor, "channel.update", f"channel:{channel_id}", {"changed": changed}
                )
                return updated

            updated = await write(update)
        except ChannelConfigError as exc:
            return error_response(_config_error(exc))
        except ClientError as exc:
            return error_response(exc)
        return JSONResponse(updated.describe())

    async def delete(request: Request) -> Response:
        try:
            caller = await admin(request)
            channel_id = _channel_id(request)
            now = services.clock.now_ms()

            def remove(conn: Connection) -> None:
                channel_store.delete_channel(conn, channel_id)
                accounts.record_audit(conn, now, caller.actor, "channel.delete", f"channel:{channel_id}")

            await write(remove)
        except ClientError as exc:
            return error_response(exc)
        return JSONResponse({"deleted": channel_id})

    async def send_test(request: Request) -> Response:
        try:
            caller = await admin(request)
            channel_id = _channel_id(request)
            body = await _json_object(request, optional=True)
            _unknown(body, {"recipient"})
            recipient = body.get("recipient")
            if recipient is not None and not isinstance(recipient, str):
                raise ClientError(400, "recipient: a string", field="recipient")
            now = services.clock.now_ms()

            def enqueue(conn: Connection) -> int:
                return enqueue_test(
                    conn, channel_id, caller.actor, now, services.settings.effective_public_url, recipient
                )

            result = await write(enqueue)
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
