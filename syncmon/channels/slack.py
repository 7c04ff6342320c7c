"""Slack incoming webhooks: Block Kit with a `text` fallback, paced to one post a second.

Slack allows about one message a second per webhook and answers 429 with `Retry-After`
beyond that. The outbox paces posts per webhook URL (`pace_key`, `min_interval_ms`) and
hands everything that queued meanwhile to `send_many`, which coalesces up to
`max_batch` notifications into one post (4 blocks each, under Slack's 50-block limit).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import Field, SecretStr, field_validator

from syncmon.channels.base import Delivery, Notification
from syncmon.channels.config import ChannelConfig, http_url
from syncmon.channels.http import post
from syncmon.channels.render import alert_line, headline, links, truncate

SECTION_CHARS = 3000  # Slack's limit for a section's text
BUTTON_CHARS = 75
MAX_ALERT_LINES = 10


class SlackConfig(ChannelConfig):
    webhook_url: SecretStr
    username: str | None = Field(None, max_length=80)
    icon_emoji: str | None = Field(None, pattern=r"^:[\w+-]+:$")
    channel: str | None = Field(None, max_length=80)
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        http_url(value.get_secret_value(), name="webhook_url")
        return value


def escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit_lines(lines: list[str], limit: int, *, line_chars: int = 500, most: int = MAX_ALERT_LINES) -> str:
    """As many whole lines as fit in `limit` characters, then "…and N more"."""
    kept: list[str] = []
    used = 0
    reserve = 20  # room for the "…and N more" line
    for line in lines[:most]:
        line = truncate(line, line_chars)
        if used + len(line) + 1 > limit - reserve:
            break
        kept.append(line)
        used += len(line) + 1
    if len(kept) < len(lines):
        kept.append(f"…and {len(lines) - len(kept)} more")
    return "\n".join(kept)


def notification_blocks(notification: Notification, index: int = 0) -> list[dict[str, Any]]:
    """At most three blocks: headline and text, the alerts, link buttons."""
    head = f"*{escape(headline(notification))}*"
    if notification.text:
        head += "\n" + escape(notification.text)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(head, SECTION_CHARS)}}
    ]
    if notification.alerts:
        lines = [
            f"• {escape(alert_line(alert, skip_labels=notification.common_labels))}"
            for alert in notification.alerts
        ]
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": fit_lines(lines, SECTION_CHARS)}}
        )
    buttons = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": truncate(title, BUTTON_CHARS)},
            "url": url,
            "action_id": f"link-{index}-{number}",
        }
        for number, (title, url) in enumerate(links(notification))
        if len(url) <= 3000
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons[:25]})
    return blocks


def render(notifications: Sequence[Notification], config: SlackConfig) -> dict[str, Any]:
    """One webhook body for one or several notifications (separated by dividers)."""
    blocks: list[dict[str, Any]] = []
    for index, notification in enumerate(notifications):
        if blocks:
            blocks.append({"type": "divider"})
        blocks.extend(notification_blocks(notification, index))
    if len(notifications) == 1:
        text = headline(notifications[0])
    else:
        text = f"{len(notifications)} notifications: " + "; ".join(headline(n) for n in notifications)
    payload: dict[str, Any] = {"text": truncate(text, SECTION_CHARS), "blocks": blocks}
    for key in ("username", "icon_emoji", "channel"):
        value = getattr(config, key)
        if value:
            payload[key] = value
    return payload


class SlackChannel:
    kind = "slack"
    min_interval_ms = 1000
    max_batch = 10

    def __init__(self, config: SlackConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self._http = http
        url = config.webhook_url.get_secret_value()
        self.pace_key = "slack:" + hashlib.sha256(url.encode()).hexdigest()[:32]

    async def send(self, notification: Notification) -> Delivery:
        return await self.send_many([notification])

    async def send_many(self, notifications: Sequence[Notification]) -> Delivery:
        return await post(
            self._http,
            self.config.webhook_url.get_secret_value(),
            json=render(notifications, self.config),
            timeout=self.config.timeout_seconds,
        )
