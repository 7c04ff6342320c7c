"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per alert group.

The `dedup_key` is the SHA-256 of the notification's group key, so every message about
one group lands on one PagerDuty alert (and a trigger after a resolve opens a new one).
202 is accepted; 400 means the event is malformed and is not retried; 429 and 5xx are.
A test notification triggers and then resolves its own alert, leaving nothing open.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import httpx
import orjson
from pydantic import Field, SecretStr, field_validator

from syncmon.alerting.model import Severity, rfc3339
from syncmon.channels.base import Action, Delivery, Notification
from syncmon.channels.config import ChannelConfig, http_url
from syncmon.channels.http import post
from syncmon.channels.render import links, truncate

ENDPOINTS = {
    "us": "https://events.pagerduty.com/v2/enqueue",
    "eu": "https://events.eu.pagerduty.com/v2/enqueue",
}
SEVERITIES = {Severity.CRITICAL: "critical", Severity.WARNING: "warning", Severity.INFO: "info"}
SUMMARY_CHARS = 1024
MAX_BODY_BYTES = 500_000  # PagerDuty refuses bodies over 512 KB


class PagerDutyConfig(ChannelConfig):
    routing_key: SecretStr
    region: Literal["us", "eu"] = "us"
    url: str | None = None
    source: str = Field("syncmon", min_length=1, max_length=255)
    component: str | None = Field(None, max_length=255)
    group: str | None = Field(None, max_length=255)
    event_class: str | None = Field(None, max_length=255)
    client: str = Field("SyncScript Monitor", max_length=255)
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("routing_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if len(key) != 32 or not key.isascii() or not key.isalnum():
            raise ValueError(
                "routing_key must be the 32-character integration key of an Events API v2 service"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @property
    def endpoint(self) -> str:
        return self.url or ENDPOINTS[self.region]


def dedup_key(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


def _alert_details(notification: Notification) -> list[dict[str, Any]]:
    return [
        {
            "status": item["status"],
            "labels": item["labels"],
            "annotations": item["annotations"],
            "startsAt": item["startsAt"],
            "endsAt": item["endsAt"],
            "fingerprint": item["fingerprint"],
        }
        for item in (alert.as_dict() for alert in notification.alerts)
    ]


def trigger_payload(notification: Notification, config: PagerDutyConfig) -> dict[str, Any]:
    """The `payload` object of a trigger event."""
    labels = notification.common_labels
    summary = notification.title or notification.text or "Alert"
    payload: dict[str, Any] = {
        "summary": truncate(summary, SUMMARY_CHARS),
        "source": config.source,
        "severity": SEVERITIES[notification.severity],
        "component": config.component or labels.get("component") or labels.get("project", ""),
        "group": config.group or labels.get("project", ""),
        "class": config.event_class or labels.get("alertname", ""),
        "custom_details": {
            "text": notification.text,
            "group_key": notification.group_key,
            "group_labels": notification.group_labels,
            "common_labels": notification.common_labels,
            "common_annotations": notification.common_annotations,
            "incident_id": notification.incident_id,
            "alerts": _alert_details(notification),
        },
    }
    if notification.alerts:
        payload["timestamp"] = rfc3339(min(alert.starts_ms for alert in notification.alerts))
    return {key: value for key, value in payload.items() if value != ""}


def render(notification: Notification, config: PagerDutyConfig, action: Action) -> dict[str, Any]:
    """The Events API v2 body for `action` (trigger, acknowledge or resolve)."""
    event: dict[str, Any] = {
        "routing_key": config.routing_key.get_secret_value(),
        "event_action": action.value,
        "dedup_key": dedup_key(notification.group_key),
    }
    if action is not Action.TRIGGER:
        return event
    event["payload"] = trigger_payload(notification, config)
    event["client"] = config.client
    client_url = notification.links.get("incident") or notification.external_url
    if client_url:
        event["client_url"] = client_url
    event_links = [{"href": url, "text": title} for title, url in links(notification)]
    if event_links:
        event["links"] = event_links
    _fit(event)
    return event


def _fit(event: dict[str, Any]) -> None:
    """Drop alerts from custom_details until the body fits PagerDuty's size limit."""
    details = event["payload"]["custom_details"]
    alerts = details["alerts"]
    dropped = 0
    while alerts and len(orjson.dumps(event)) > MAX_BODY_BYTES:
        cut = max(1, len(alerts) // 2)
        dropped += cut
        del alerts[-cut:]
        details["alerts_truncated"] = dropped


class PagerDutyChannel:
    kind = "pagerduty"

    def __init__(self, config: PagerDutyConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self._http = http

    async def _post(self, notification: Notification, action: Action) -> Delivery:
        return await post(
            self._http,
            self.config.endpoint,
            json=render(notification, self.config, action),
            timeout=self.config.timeout_seconds,
        )

    async def send(self, notification: Notification) -> Delivery:
        if notification.action is not Action.TEST:
            return await self._post(notification, notification.action)
        triggered = await self._post(notification, Action.TRIGGER)
        if not triggered.ok:
            return triggered
        resolved = await self._post(notification, Action.RESOLVE)
        if not resolved.ok:
            return resolved
        return Delivery(
            ok=True, detail="test alert triggered and resolved", retry=False, response=resolved.response
        )
