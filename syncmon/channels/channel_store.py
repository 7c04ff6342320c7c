"""Channels in the store: create, read, change and delete, and their delivery log.

Configs are validated before they get here (registry.store_config). What is checked
here needs the store: the fallback channel exists, is not the channel itself and does
not lead back to it, and a channel still named as someone's fallback is not deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.channels.registry import show_config
from syncmon.store.schema import channels, deliveries, outbox

MAX_CHAIN = 20


class ChannelNotFound(LookupError):
    pass


class ChannelConflict(ValueError):
    """The change would leave channels inconsistent (a fallback loop, a deleted fallback)."""


@dataclass(frozen=True, slots=True)
class ChannelRow:
    id: int
    project_id: int | None
    name: str
    kind: str
    config: dict[str, Any]
    fallback_channel_id: int | None
    rate_limit_per_minute: int | None
    enabled: bool
    created_ms: int
    updated_ms: int

    def describe(self) -> dict[str, Any]:
        """As the API shows it: secrets masked."""
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": self.name,
            "kind": self.kind,
            "config": show_config(self.kind, self.config),
            "fallback_channel_id": self.fallback_channel_id,
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "enabled": self.enabled,
            "created_at": self.created_ms / 1000.0,
            "updated_at": self.updated_ms / 1000.0,
        }


def _from_row(row: Any) -> ChannelRow:
    return ChannelRow(
        id=int(row.id),
        project_id=row.project_id,
        name=row.name,
        kind=row.kind,
        config=dict(row.config),
        fallback_channel_id=row.fallback_channel_id,
        rate_limit_per_minute=row.rate_limit_per_minute,
        enabled=bool(row.enabled),
        created_ms=int(row.created_ms),
        updated_ms=int(row.updated_ms),
    )


def get_channel(conn: Connection, channel_id: int) -> ChannelRow | None:
    row = conn.execute(sa.select(channels).where(channels.c.id == channel_id)).first()
    return None if row is None else _from_row(row)


def list_channels(conn: Connection, project_id: int | None = None) -> list[ChannelRow]:
    query = sa.select(channels).order_by(channels.c.id)
    if project_id is not None:
        query = query.where(sa.or_(channels.c.project_id == project_id, channels.c.project_id.is_(None)))
    return [_from_row(row) for row in conn.execute(query)]


def check_fallback(conn: Connection, channel_id: int | None, fallback_id: int | None) -> None:
    """The fallback exists, and following fallbacks from it never comes back to `channel_id`."""
    if fallback_id is None:
        return
    if fallback_id == channel_id:
        raise ChannelConflict("fallback_channel_id: a channel cannot be its own fallback")
    current: int | None = fallback_id
    for _ in range(MAX_CHAIN):
        if current is None:
            return
        found = conn.execute(
            sa.select(channels.c.fallback_channel_id).where(channels.c.id == current)
        ).first()
        if found is None:
            raise ChannelNotFound(f"fallback_channel_id: channel {current} does not exist")
        current = found.fallback_channel_id
        if current is not None and current == channel_id:
            raise ChannelConflict(f"fallback_channel_id: channel {fallback_id} falls back to this channel")
    raise ChannelConflict(f"fallback_channel_id: the fallback chain is longer than {MAX_CHAIN}")


def create_channel(
    conn: Connection,
    *,
    name: str,
    kind: str,
    config: dict[str, Any],
    now_ms: int,
    project_id: int | None = None,
    fallback_channel_id: int | None = None,
    rate_limit_per_minute: int | None = None,
    enabled: bool = True,
) -> ChannelRow:
    check_fallback(conn, None, fallback_channel_id)
    result = conn.execute(
        channels.insert().values(
            project_id=project_id,
            name=name,
            kind=kind,
            config=config,
            fallback_channel_id=fallback_channel_id,
            rate_limit_per_minute=rate_limit_per_minute,
            enabled=enabled,
            created_ms=now_ms,
            updated_ms=now_ms,
        )
    )
    assert result.inserted_primary_key is not None
    created = get_channel(conn, int(result.inserted_primary_key[0]))
    assert created is not None
    return created


UPDATABLE = {"name", "config", "project_id", "fallback_channel_id", "rate_limit_per_minute", "enabled"}


def update_channel(conn: Connection, channel_id: int, changes: dict[str, Any], now_ms: int) -> ChannelRow:
    """Apply `changes` (already validated values); `updated_ms` always moves forward."""
    current = get_channel(conn, channel_id)
    if current is None:
        raise ChannelNotFound(f"channel {channel_id} not found")
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    if "fallback_channel_id" in changes:
        check_fallback(conn, channel_id, changes["fallback_channel_id"])
    updated_ms = max(now_ms, current.updated_ms + 1)
    conn.execute(
        channels.update().where(channels.c.id == channel_id).values(**changes, updated_ms=updated_ms)
    )
    row = get_channel(conn, channel_id)
    assert row is not None
    return row


def delete_channel(conn: Connection, channel_id: int) -> None:
    """Delete a channel with its outbox rows and log; refused while it is another's fallback."""
    if get_channel(conn, channel_id) is None:
        raise ChannelNotFound(f"channel {channel_id} not found")
    users = list(
        conn.execute(
            sa.select(channels.c.id)
            .where(channels.c.fallback_channel_id == channel_id)
            .order_by(channels.c.id)
        ).scalars()
    )
    if users:
        named = ", ".join(str(user) for user in users)
        raise ChannelConflict(
            f"channel {channel_id} is the fallback of channel(s) {named}; change those first"
        )
    own_rows = sa.select(outbox.c.id).where(outbox.c.channel_id == channel_id)
    conn.execute(deliveries.delete().where(deliveries.c.outbox_id.in_(own_rows)))
    conn.execute(deliveries.delete().where(deliveries.c.channel_id == channel_id))
    conn.execute(outbox.update().where(outbox.c.fallback_of.in_(own_rows)).values(fallback_of=None))
    conn.execute(outbox.delete().where(outbox.c.channel_id == channel_id))
    conn.execute(channels.delete().where(channels.c.id == channel_id))


def list_deliveries(
    conn: Connection, channel_id: int, *, before_id: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The channel's delivery log, newest first, with each row's outbox status."""
    query = (
        sa.select(
            deliveries,
            outbox.c.status.label("outbox_status"),
            outbox.c.group_key,
            outbox.c.recipient,
        )
        .join(outbox, outbox.c.id == deliveries.c.outbox_id)
        .where(deliveries.c.channel_id == channel_id)
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(deliveries.c.id < before_id)
    return [dict(row) for row in conn.execute(query).mappings()]
