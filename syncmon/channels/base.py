"""What a channel is given and what it answers: one Notification in, one Delivery out.

Channels do I/O only. Grouping, silencing, escalation and retries are decided before
(alerting/) and after (channels/outbox.py) them, so each channel module stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from syncmon.alerting.model import Alert, Severity


class Action(StrEnum):
    """What the notification asks of the receiver (PagerDuty's event_action vocabulary)."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message about one alert group (or incident) to one channel.

    `group_key` is stable for the life of the group: PagerDuty's dedup_key and the
    email thread id derive from it. `links` carry the signed acknowledge / resolve URLs.
    """

    group_key: str
    action: Action
    severity: Severity
    title: str
    text: str
    alerts: tuple[Alert, ...] = ()
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    receiver: str = ""
    incident_id: int | None = None
    links: dict[str, str] = field(default_factory=dict)  # "acknowledge", "resolve", "incident"
    external_url: str = ""

    @property
    def status(self) -> str:
        return "resolved" if self.action is Action.RESOLVE else "firing"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one send attempt. `retry` false means retrying cannot help (4xx)."""

    ok: bool
    detail: str = ""
    retry: bool = True
    retry_after_s: float | None = None
    response: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    """A configured destination. `send` must not raise: failures come back as a Delivery."""

    kind: str

    async def send(self, notification: Notification) -> Delivery: ...
