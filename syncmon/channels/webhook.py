"""Generic webhook: Alertmanager's v4 payload, so receivers written for Alertmanager work.

Our additions live under one extra key, `syncmon` (action, severity, title, text,
incident id and the acknowledge / resolve / incident links); Alertmanager receivers
ignore it. With a secret configured, each request is signed:

    X-Syncmon-Timestamp: <unix seconds>
    X-Syncmon-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is inside the signed bytes, so a receiver that refuses old timestamps
(see `verify_signature`) cannot be replayed against.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import orjson
from pydantic import Field, SecretStr, field_validator

from syncmon.channels.base import Delivery, Notification
from syncmon.channels.config import ChannelConfig, http_url
from syncmon.channels.http import post
from syncmon.clock import Clock

SIGNATURE_HEADER = "X-Syncmon-Signature"
TIMESTAMP_HEADER = "X-Syncmon-Timestamp"
RESERVED_HEADERS = {
    "content-type",
    "content-length",
    "host",
    SIGNATURE_HEADER.lower(),
    TIMESTAMP_HEADER.lower(),
}


class WebhookConfig(ChannelConfig):
    url: SecretStr
    secret: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    max_alerts: int = Field(0, ge=0, le=10_000)
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        http_url(value.get_secret_value())
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name in value:
            if not name or not all(c.isalnum() or c in "-_" for c in name) or not name.isascii():
                raise ValueError(f"header name {name[:40]!r} is not a valid HTTP header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by the server and cannot be configured")
        return value


def render(notification: Notification, max_alerts: int = 0) -> dict[str, Any]:
    """Alertmanager webhook v4, plus the `syncmon` object."""
    alerts = notification.alerts
    truncated = 0
    if max_alerts and len(alerts) > max_alerts:
        truncated = len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": truncated,
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": notification.group_labels,
        "commonLabels": notification.common_labels,
        "commonAnnotations": notification.common_annotations,
        "externalURL": notification.external_url,
        "alerts": [alert.as_dict() for alert in alerts],
        "syncmon": {
            "action": notification.action.value,
            "severity": notification.severity.value,
            "title": notification.title,
            "text": notification.text,
            "incidentId": notification.incident_id,
            "links": notification.links,
        },
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str, timestamp: str, body: bytes, header: str, now_s: float, tolerance_s: float = 300
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        age = abs(now_s - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(signature(secret, timestamp, body), header)


class WebhookChannel:
    kind = "webhook"

    def __init__(self, config: WebhookConfig, http: httpx.AsyncClient, clock: Clock) -> None:
        self.config = config
        self._http = http
        self._clock = clock

    async def send(self, notification: Notification) -> Delivery:
        body = orjson.dumps(render(notification, self.config.max_alerts))
        headers = {name: value.get_secret_value() for name, value in self.config.headers.items()}
        headers["Content-Type"] = "application/json"
        if self.config.secret is not None:
            timestamp = str(self._clock.now_ms() // 1000)
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self.config.secret.get_secret_value(), timestamp, body)
        return await post(
            self._http,
            self.config.url.get_secret_value(),
            content=body,
            headers=headers,
            timeout=self.config.timeout_seconds,
        )
