"""Changing notification channels, one way for the API and the dashboard: the same checks
of every field, the same writes with their audit rows, the same test notification.

Checks that need the store (the project, the fallback chain) run in the writer's
transaction; a refusal comes back from `write` as a ClientError naming the field, never as
a failed write job. Audit rows name what changed, never a config value: configs hold secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection

from syncmon.alerting.model import Severity
from syncmon.channels import channel_store, outbox
from syncmon.channels.base import Action, Notification
from syncmon.channels.registry import ChannelConfigError, patch_config, store_config
from syncmon.http_errors import ClientError
from syncmon.store import accounts, projects

if TYPE_CHECKING:
    from syncmon.app import Services

T = TypeVar("T")
MAX_ID = 2**31 - 1
MAX_RATE_LIMIT = 100_000
FIELDS = {"name", "kind", "config", "project", "fallback_channel_id", "rate_limit_per_minute", "enabled"}


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ClientError(400, "name: a non-empty string of at most 200 characters", field="name")
    if any(ord(c) < 32 for c in value):
        raise ClientError(400, "name: must not contain control characters", field="name")
    return value.strip()


def optional_channel(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ClientError(400, f"{name}: a channel id (a positive whole number) or null", field=name)
    return value


def rate_limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE_LIMIT:
        raise ClientError(
            400,
            f"rate_limit_per_minute: a whole number from 1 to {MAX_RATE_LIMIT}, or null for no limit",
            field="rate_limit_per_minute",
        )
    return value


def enabled_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ClientError(400, "enabled: true or false", field="enabled")
    return value


def refuse_unknown(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ClientError(
            400, f"{unknown[0]}: unknown field; allowed are {', '.join(sorted(allowed))}", field=unknown[0]
        )


def project_id_of(conn: Connection, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ClientError(400, "project: a project slug or id, or null for every project", field="project")
    ref = str(value)
    found = projects.find_project(conn, ref)
    if found is None:
        raise ClientError(400, f"project: {ref[:64]!r} not found", field="project")
    return found.id


def config_error(exc: ChannelConfigError) -> ClientError:
    return ClientError(400, str(exc), field=exc.field)


def store_error(exc: Exception) -> ClientError:
    status = 404 if isinstance(exc, channel_store.ChannelNotFound) else 409
    if isinstance(exc, channel_store.ChannelNotFound) and str(exc).startswith("fallback_channel_id"):
        status = 400
    return ClientError(status, str(exc))


def whole_config(kind: str, raw: Any) -> dict[str, Any]:
    """A complete config checked by the kind's model, as the store keeps it."""
    try:
        return store_config(kind, raw)
    except ChannelConfigError as exc:
        raise config_error(exc) from None


def create_values(conn: Connection, body: dict[str, Any]) -> dict[str, Any]:
    """A create request's fields as the store's values (name, kind and config are required)."""
    refuse_unknown(body, FIELDS)
    for required in ("name", "kind", "config"):
        if required not in body:
            raise ClientError(400, f"{required}: required", field=required)
    name = check_name(body["name"])
    kind = body["kind"]
    if not isinstance(kind, str):
        raise ClientError(400, "kind: a string", field="kind")
    return {
        "name": name,
        "kind": kind,
        "config": whole_config(kind, body["config"]),
        "project_id": project_id_of(conn, body.get("project")),
        "fallback_channel_id": optional_channel(body.get("fallback_channel_id"), "fallback_channel_id"),
        "rate_limit_per_minute": rate_limit(body.get("rate_limit_per_minute")),
        "enabled": enabled_flag(body.get("enabled", True)),
    }


def patch_changes(
    conn: Connection, current: channel_store.ChannelRow, body: dict[str, Any]
) -> dict[str, Any]:
    """The fields a change request names, checked; `config` is merged into the stored one."""
    refuse_unknown(body, FIELDS)
    if "kind" in body and body["kind"] != current.kind:
        raise ClientError(400, "kind: cannot be changed; create a new channel instead", field="kind")
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = check_name(body["name"])
    if "config" in body:
        try:
            changes["config"] = patch_config(current.kind, current.config, body["config"])
        except ChannelConfigError as exc:
            raise config_error(exc) from None
    if "project" in body:
        changes["project_id"] = project_id_of(conn, body["project"])
    if "fallback_channel_id" in body:
        changes["fallback_channel_id"] = optional_channel(body["fallback_channel_id"], "fallback_channel_id")
    if "rate_limit_per_minute" in body:
        changes["rate_limit_per_minute"] = rate_limit(body["rate_limit_per_minute"])
    if "enabled" in body:
        changes["enabled"] = enabled_flag(body["enabled"])
    return changes


def current_channel(conn: Connection, channel_id: int) -> channel_store.ChannelRow:
    found = channel_store.get_channel(conn, channel_id)
    if found is None:
        raise ClientError(404, f"channel {channel_id} not found")
    return found


def create(conn: Connection, values: dict[str, Any], actor: str, now: int) -> channel_store.ChannelRow:
    created = channel_store.create_channel(conn, now_ms=now, **values)
    accounts.record_audit(
        conn,
        now,
        actor,
        "channel.create",
        f"channel:{created.id}",
        {"name": values["name"], "kind": values["kind"]},
    )
    return created


def update(
    conn: Connection, channel_id: int, changes: dict[str, Any], actor: str, now: int
) -> channel_store.ChannelRow:
    updated = channel_store.update_channel(conn, channel_id, changes, now)
    accounts.record_audit(
        conn, now, actor, "channel.update", f"channel:{channel_id}", {"changed": sorted(changes)}
    )
    return updated


def delete(conn: Connection, channel_id: int, actor: str, now: int) -> None:
    channel_store.delete_channel(conn, channel_id)
    accounts.record_audit(conn, now, actor, "channel.delete", f"channel:{channel_id}")


def enqueue_test(
    conn: Connection,
    channel_id: int,
    actor: str,
    now: int,
    public_url: str,
    recipient: str | None = None,
    *,
    title: str = "Test notification from SyncScript Monitor",
    purpose: str | None = None,
) -> int:
    """Queue a test notification to the channel with its audit row; returns the outbox id."""
    channel = channel_store.get_channel(conn, channel_id)
    if channel is None:
        raise channel_store.ChannelNotFound(f"channel {channel_id} not found")
    notification = Notification(
        group_key=f"syncmon-test:{channel_id}:{now}",
        action=Action.TEST,
        severity=Severity.INFO,
        title=title,
        text=f"Sent by {actor} {purpose or f'to check the channel {channel.name!r}'}.",
        receiver=channel.name,
        external_url=public_url,
    )
    outbox_id = outbox.enqueue(
        conn, channel_id=channel_id, notification=notification, now_ms=now, recipient=recipient
    )
    accounts.record_audit(conn, now, actor, "channel.test", f"channel:{channel_id}", {"outbox_id": outbox_id})
    return outbox_id


async def write(services: Services, fn: Callable[[Connection], T]) -> T:
    """Run `fn(conn)` on the writer; a refusal rolls the transaction back and is raised here
    as a ClientError (not logged as a failed write)."""

    def guarded(conn: Connection) -> T | Exception:
        try:
            with conn.begin_nested():
                return fn(conn)
        except (
            ClientError,
            channel_store.ChannelNotFound,
            channel_store.ChannelConflict,
            ChannelConfigError,
        ) as exc:
            return exc

    result = await services.writer.run(guarded)
    if isinstance(result, ClientError):
        raise result
    if isinstance(result, ChannelConfigError):
        raise config_error(result)
    if isinstance(result, Exception):
        raise store_error(result)
    return result
