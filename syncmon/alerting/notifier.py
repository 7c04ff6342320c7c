"""Hands notifications to the outbox, inside the dispatcher's transaction, and writes who was told.

The outbox is a `NotificationSink`: a function that stores one notification for one
channel (and recipient) in the same transaction and returns its outbox id. Because the
notification and the state change that caused it commit together, a crash or restart
can neither lose one nor send one twice; the outbox's worker delivers and retries.
Each enqueue runs in a savepoint, so a channel the outbox refuses is written into the
timeline as not notified instead of stalling every other incident.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting import links, messages
from syncmon.alerting.escalation import Contact, Target
from syncmon.alerting.incident_store import Recipient, add_event, trigger_outbox_ids
from syncmon.alerting.incidents import Incident, TimelineKind
from syncmon.alerting.model import Alert
from syncmon.channels.base import Action, Notification
from syncmon.store.schema import user_contacts, users

log = logging.getLogger(__name__)


class NotificationSink(Protocol):
    """The outbox's enqueue: store one notification for one channel, return its outbox id."""

    def __call__(
        self,
        conn: Connection,
        *,
        channel_id: int,
        notification: Notification,
        now_ms: int,
        recipient: str | None = None,
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class Unreachable:
    target: Target
    reason: str


def resolve_targets(conn: Connection, targets: Sequence[Target]) -> list[Recipient | Unreachable]:
    """Channel targets as they are; user targets with the address their contact asks for."""
    user_ids = {t.user_id for t in targets if t.user_id is not None}
    emails: dict[int, tuple[str, bool]] = {}
    phones: dict[int, str] = {}
    if user_ids:
        for row in conn.execute(
            sa.select(users.c.id, users.c.email, users.c.disabled).where(users.c.id.in_(user_ids))
        ):
            emails[row.id] = (row.email, row.disabled)
        for contact in conn.execute(
            sa.select(user_contacts.c.user_id, user_contacts.c.value).where(
                user_contacts.c.user_id.in_(user_ids), user_contacts.c.kind == Contact.PHONE.value
            )
        ):
            phones[contact.user_id] = contact.value
    found: list[Recipient | Unreachable] = []
    for target in targets:
        uid = target.user_id
        if uid is None:
            found.append(Recipient(target.channel_id))
        elif uid not in emails:
            found.append(Unreachable(target, f"user {uid} no longer exists"))
        elif emails[uid][1]:
            found.append(Unreachable(target, f"user {emails[uid][0]} is disabled"))
        elif target.contact is Contact.PHONE:
            if uid in phones:
                found.append(Recipient(target.channel_id, uid, phones[uid]))
            else:
                found.append(Unreachable(target, f"user {emails[uid][0]} has no phone number"))
        else:
            found.append(Recipient(target.channel_id, uid, emails[uid][0]))
    return found


class PendingCanceller(Protocol):
    """The outbox's cancel: drop those of these outbox ids not delivered yet (returns how many)."""

    def __call__(self, conn: Connection, outbox_ids: Sequence[int]) -> int: ...


class Notifier:
    def __init__(
        self,
        sink: NotificationSink | None,
        public_url: str,
        link_ttl_ms: int,
        cancel_pending: PendingCanceller | None = None,
    ) -> None:
        self.sink = sink
        self.public_url = public_url
        self.link_ttl_ms = link_ttl_ms
        self.cancel_pending = cancel_pending

    def withdraw_pages(self, conn: Connection, incident_id: int) -> int:
        """Cancel the incident's TRIGGERs still waiting in the outbox (retrying a failing
        channel, say): once acknowledged or resolved, a late page would be exactly the page
        after an acknowledgement that must never happen. Returns how many were cancelled."""
        if self.cancel_pending is None:
            return 0
        ids = trigger_outbox_ids(conn, incident_id)
        if not ids:
            return 0
        try:
            with conn.begin_nested():
                return self.cancel_pending(conn, ids)
        except Exception as exc:
            log.warning("outbox could not cancel pending pages of incident %s: %s", incident_id, exc)
            return 0

    def _links(
        self, secret: bytes, incident_id: int, via: str, action: Action, now_ms: int
    ) -> dict[str, str]:
        if action is Action.RESOLVE:
            return {}
        expires_s = (now_ms + self.link_ttl_ms) // 1000
        wanted = [links.LinkAction.RESOLVE] if action is Action.ACKNOWLEDGE else list(links.LinkAction)
        return {
            kind.value: links.link_url(
                self.public_url, links.sign(secret, links.LinkClaim(incident_id, kind, expires_s, via))
            )
            for kind in wanted
        }

    def send(
        self,
        conn: Connection,
        incident: Incident,
        recipients: Sequence[Recipient | Unreachable],
        *,
        action: Action,
        firing: Sequence[Alert],
        resolved: Sequence[Alert],
        secret: bytes,
        now_ms: int,
        level: int | None = None,
        actor: str | None = None,
        reason: str = "",
    ) -> int:
        """Enqueue one notification per recipient and write each into the timeline; returns how
        many were enqueued."""
        sent = 0
        for recipient in recipients:
            details = {"reason": reason} if reason else {}
            if isinstance(recipient, Unreachable):
                target = recipient.target
                add_event(
                    conn, incident.id, now_ms, TimelineKind.NOT_NOTIFIED,
                    level=level, action=action.value,
                    recipient=Recipient(target.channel_id, target.user_id),
                    details={**details, "error": recipient.reason},
                )  # fmt: skip
                continue
            via = (
                f"user:{recipient.user_id}"
                if recipient.user_id is not None
                else f"channel:{recipient.channel_id}"
            )
            notification = messages.build(
                group_key=incident.group_key,
                action=action,
                firing=firing,
                resolved=resolved,
                group_labels=incident.group_labels,
                receiver=incident.receiver,
                incident_id=incident.id,
                actor=actor,
                links=self._links(secret, incident.id, via, action, now_ms),
                external_url=self.public_url,
            )
            outbox_id, error = self._enqueue(conn, recipient, notification, now_ms)
            if error is not None:
                details["error"] = error
                add_event(
                    conn, incident.id, now_ms, TimelineKind.NOT_NOTIFIED,
                    level=level, action=action.value, recipient=recipient, details=details,
                )  # fmt: skip
                continue
            sent += 1
            add_event(
                conn, incident.id, now_ms, TimelineKind.NOTIFIED,
                level=level, action=action.value, recipient=recipient, outbox_id=outbox_id, details=details,
            )  # fmt: skip
        return sent

    def _enqueue(
        self, conn: Connection, recipient: Recipient, notification: Notification, now_ms: int
    ) -> tuple[int | None, str | None]:
        if self.sink is None:
            return None, "no notification outbox is configured on this server"
        try:
            with conn.begin_nested():
                outbox_id = self.sink(
                    conn,
                    channel_id=recipient.channel_id,
                    notification=notification,
                    now_ms=now_ms,
                    recipient=recipient.address,
                )
        except Exception as exc:
            log.warning("outbox refused a notification for channel %s: %s", recipient.channel_id, exc)
            return None, f"the outbox refused it: {exc}"[:500]
        return outbox_id, None
