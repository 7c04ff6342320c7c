"""The persistent delivery outbox: rows written in the caller's transaction, read by the worker.

`enqueue` is how alerting hands a notification to a channel. Because the row is part of
the caller's transaction, a notification exists exactly when the state change that
caused it was committed; the caller then calls `DeliveryWorker.wake()`.

A row is `pending` until the worker claims it (`sending`, with a lease in
`next_attempt_ms`), then `delivered` or `failed`, or `pending` again for a retry. A
claimed row whose outcome was never recorded (the process was killed mid-send) is
claimed again — at-least-once — while a `delivered` row is never selected again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.channels import codec
from syncmon.channels.base import Notification
from syncmon.channels.http import clean
from syncmon.channels.registry import check_recipient
from syncmon.store.schema import channels, deliveries, outbox

MAX_FALLBACK_CHAIN = 10


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"  # withdrawn before it was sent (its incident was acknowledged)


class Outcome(StrEnum):
    """What one delivery-log row records."""

    DELIVERED = "delivered"
    RETRY = "retry"  # the attempt failed; another follows
    FAILED = "failed"  # the attempt failed; no more attempts
    FALLBACK = "fallback"  # handed over to the fallback channel
    INTERRUPTED = "interrupted"  # no outcome was recorded for the attempt


ATTEMPT_OUTCOMES = (Outcome.DELIVERED.value, Outcome.RETRY.value, Outcome.FAILED.value)


class OutboxError(ValueError):
    """enqueue was given something that cannot be delivered (unknown channel)."""


def enqueue(
    conn: Connection,
    *,
    channel_id: int,
    notification: Notification,
    now_ms: int,
    recipient: str | None = None,
) -> int:
    """Insert a pending row for `channel_id` in the caller's transaction; returns its id.

    `recipient` replaces the channel's own destination (an email address for email, an
    E.164 number for SMS); a kind with a fixed destination refuses one (ValueError).
    """
    kind = conn.execute(sa.select(channels.c.kind).where(channels.c.id == channel_id)).scalar_one_or_none()
    if kind is None:
        raise OutboxError(f"channel {channel_id} does not exist")
    if recipient is not None:
        recipient = check_recipient(kind, recipient)
    return insert_row(conn, channel_id, notification, now_ms, recipient=recipient)


def insert_row(
    conn: Connection,
    channel_id: int,
    notification: Notification,
    now_ms: int,
    *,
    recipient: str | None = None,
    fallback_of: int | None = None,
) -> int:
    result = conn.execute(
        outbox.insert().values(
            channel_id=channel_id,
            recipient=recipient,
            group_key=notification.group_key.replace("\x00", "\ufffd"),  # the JSON keeps it exactly
            notification=codec.dumps(notification),
            status=Status.PENDING.value,
            attempts=0,
            next_attempt_ms=now_ms,
            last_error=None,
            created_ms=now_ms,
            delivered_ms=None,
            fallback_of=fallback_of,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


@dataclass(frozen=True, slots=True)
class DueRow:
    """A row ready to be sent (or whose lease ran out), with its channel's settings."""

    id: int
    channel_id: int
    recipient: str | None
    notification_json: str
    status: str
    attempts: int
    next_attempt_ms: int
    fallback_of: int | None
    kind: str
    channel_name: str
    config: dict[str, Any]
    enabled: bool
    fallback_channel_id: int | None
    rate_limit_per_minute: int | None
    channel_updated_ms: int


def due_rows(conn: Connection, now_ms: int, limit: int) -> list[DueRow]:
    query = (
        sa.select(
            outbox.c.id,
            outbox.c.channel_id,
            outbox.c.recipient,
            outbox.c.notification,
            outbox.c.status,
            outbox.c.attempts,
            outbox.c.next_attempt_ms,
            outbox.c.fallback_of,
            channels.c.kind,
            channels.c.name,
            channels.c.config,
            channels.c.enabled,
            channels.c.fallback_channel_id,
            channels.c.rate_limit_per_minute,
            channels.c.updated_ms,
        )
        .join(channels, channels.c.id == outbox.c.channel_id)
        .where(
            outbox.c.status.in_((Status.PENDING.value, Status.SENDING.value)),
            outbox.c.next_attempt_ms <= now_ms,
        )
        .order_by(outbox.c.next_attempt_ms, outbox.c.id)
        .limit(limit)
    )
    return [
        DueRow(
            id=int(row.id),
            channel_id=int(row.channel_id),
            recipient=row.recipient,
            notification_json=row.notification,
            status=row.status,
            attempts=int(row.attempts),
            next_attempt_ms=int(row.next_attempt_ms),
            fallback_of=row.fallback_of,
            kind=row.kind,
            channel_name=row.name,
            config=dict(row.config),
            enabled=bool(row.enabled),
            fallback_channel_id=row.fallback_channel_id,
            rate_limit_per_minute=row.rate_limit_per_minute,
            channel_updated_ms=int(row.updated_ms),
        )
        for row in conn.execute(query)
    ]


def claim(conn: Connection, row: DueRow, lease_until_ms: int) -> bool:
    """Mark `row` as being sent, if nobody changed it since it was read; counts the attempt."""
    result = conn.execute(
        outbox.update()
        .where(
            outbox.c.id == row.id,
            outbox.c.status == row.status,
            outbox.c.next_attempt_ms == row.next_attempt_ms,
        )
        .values(status=Status.SENDING.value, attempts=row.attempts + 1, next_attempt_ms=lease_until_ms)
    )
    return result.rowcount == 1


def release(conn: Connection, row: DueRow) -> bool:
    """A `sending` row whose lease ran out (its outcome was never recorded) is pending again."""
    result = conn.execute(
        outbox.update()
        .where(
            outbox.c.id == row.id,
            outbox.c.status == Status.SENDING.value,
            outbox.c.next_attempt_ms == row.next_attempt_ms,
        )
        .values(status=Status.PENDING.value)
    )
    return result.rowcount == 1


def defer(conn: Connection, row_id: int, until_ms: int) -> None:
    """Not now (rate limit or pacing): due again at `until_ms`, no attempt counted."""
    conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id, outbox.c.status == Status.PENDING.value)
        .values(next_attempt_ms=until_ms)
    )


def finish(
    conn: Connection,
    row_id: int,
    status: Status,
    *,
    next_attempt_ms: int | None = None,
    last_error: str | None = None,
    delivered_ms: int | None = None,
) -> None:
    values: dict[str, Any] = {"status": status.value, "last_error": clean(last_error) if last_error else None}
    if next_attempt_ms is not None:
        values["next_attempt_ms"] = next_attempt_ms
    if delivered_ms is not None:
        values["delivered_ms"] = delivered_ms
    conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id, outbox.c.status.in_((Status.SENDING.value, Status.PENDING.value)))
        .values(**values)
    )


def log_delivery(
    conn: Connection,
    *,
    outbox_id: int,
    channel_id: int,
    attempt: int,
    ts_ms: int,
    ok: bool,
    outcome: Outcome,
    detail: str,
    status_code: int | None = None,
    duration_ms: int | None = None,
) -> None:
    conn.execute(
        deliveries.insert().values(
            outbox_id=outbox_id,
            channel_id=channel_id,
            attempt=attempt,
            ts_ms=ts_ms,
            ok=ok,
            outcome=outcome.value,
            status_code=status_code,
            duration_ms=duration_ms,
            detail=clean(detail, 2000),
        )
    )


def make_sending_due(conn: Connection, now_ms: int) -> int:
    """After a restart: rows left `sending` by the previous process are due at once."""
    result = conn.execute(
        outbox.update()
        .where(outbox.c.status == Status.SENDING.value, outbox.c.next_attempt_ms > now_ms)
        .values(next_attempt_ms=now_ms)
    )
    return int(result.rowcount)


def send_times(conn: Connection, channel_id: int, since_ms: int) -> list[int]:
    """When this channel's sends (attempts, one per post) happened since `since_ms`, oldest first."""
    query = (
        sa.select(deliveries.c.ts_ms)
        .where(
            deliveries.c.channel_id == channel_id,
            deliveries.c.ts_ms >= since_ms,
            deliveries.c.outcome.in_(ATTEMPT_OUTCOMES),
        )
        .distinct()
        .order_by(deliveries.c.ts_ms)
    )
    return [int(ts) for ts in conn.execute(query).scalars()]


def channels_tried(conn: Connection, row_id: int, channel_id: int, fallback_of: int | None) -> set[int]:
    """The channels this notification already went through along its fallback chain."""
    tried = {channel_id}
    parent = fallback_of
    for _ in range(MAX_FALLBACK_CHAIN):
        if parent is None:
            break
        row = conn.execute(
            sa.select(outbox.c.channel_id, outbox.c.fallback_of).where(outbox.c.id == parent)
        ).first()
        if row is None:
            break
        tried.add(int(row.channel_id))
        parent = row.fallback_of
    return tried


def next_due_ms(conn: Connection) -> int | None:
    query = sa.select(sa.func.min(outbox.c.next_attempt_ms)).where(
        outbox.c.status.in_((Status.PENDING.value, Status.SENDING.value))
    )
    found = conn.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


def get_row(conn: Connection, row_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(outbox).where(outbox.c.id == row_id)).mappings().first()
    return None if row is None else describe_row(dict(row))


def describe_row(row: dict[str, Any]) -> dict[str, Any]:
    """An outbox row as the API shows it (the notification decoded)."""
    shown = {key: value for key, value in row.items() if key != "notification"}
    shown["notification"] = codec.notification_to_dict(codec.loads(row["notification"]))
    return shown


def cancel_pending(conn: Connection, outbox_ids: Sequence[int]) -> int:
    """Withdraw those of these rows (and their fallback hand-overs) not sent yet; returns how many.

    A row being sent right now cannot be called back; it finishes as it will.
    """
    if not outbox_ids:
        return 0
    ids = list(outbox_ids)
    result = conn.execute(
        outbox.update()
        .where(
            sa.or_(outbox.c.id.in_(ids), outbox.c.fallback_of.in_(ids)),
            outbox.c.status == Status.PENDING.value,
        )
        .values(
            status=Status.CANCELLED.value, last_error="withdrawn: the incident was acknowledged or resolved"
        )
    )
    return int(result.rowcount or 0)


def delete_finished(conn: Connection, before_ms: int, limit: int) -> int:
    """Retention: delete up to `limit` delivered or failed rows created before `before_ms`, with their log."""
    ids = list(
        conn.execute(
            sa.select(outbox.c.id)
            .where(
                outbox.c.status.in_((Status.DELIVERED.value, Status.FAILED.value, Status.CANCELLED.value)),
                outbox.c.created_ms < before_ms,
            )
            .order_by(outbox.c.id)
            .limit(limit)
        ).scalars()
    )
    if not ids:
        return 0
    conn.execute(deliveries.delete().where(deliveries.c.outbox_id.in_(ids)))
    conn.execute(outbox.update().where(outbox.c.fallback_of.in_(ids)).values(fallback_of=None))
    conn.execute(outbox.delete().where(outbox.c.id.in_(ids)))
    return len(ids)
