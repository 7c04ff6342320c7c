"""Any service apprise knows (Telegram, Discord, Teams, Matrix, ntfy …), by apprise URL.

For the long tail only: apprise cannot acknowledge or resolve (its PagerDuty plugin only
triggers) and reports just success or failure, so failures are always retried. The URLs
carry credentials and are treated as secrets.
"""

from __future__ import annotations

import apprise
from pydantic import Field, SecretStr, field_validator

from syncmon.alerting.model import Severity
from syncmon.channels.base import Action, Delivery, Notification
from syncmon.channels.config import ChannelConfig
from syncmon.channels.http import clean
from syncmon.channels.render import headline, plain_text

NOTIFY_TYPES = {
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.INFO: apprise.NotifyType.INFO,
}


class AppriseConfig(ChannelConfig):
    urls: list[SecretStr] = Field(min_length=1, max_length=20)
    timeout_seconds: float = Field(30.0, gt=0, le=300)

    @field_validator("urls")
    @classmethod
    def _known(cls, value: list[SecretStr]) -> list[SecretStr]:
        for index, url in enumerate(value):
            if not apprise.Apprise().add(url.get_secret_value()):
                raise ValueError(f"urls[{index}] is not a URL apprise supports (see its wiki for the forms)")
        return value


def notify_type(notification: Notification) -> apprise.NotifyType:
    if notification.action is Action.RESOLVE:
        return apprise.NotifyType.SUCCESS
    if notification.action in (Action.ACKNOWLEDGE, Action.TEST):
        return apprise.NotifyType.INFO
    return NOTIFY_TYPES[notification.severity]


class AppriseChannel:
    kind = "apprise"

    def __init__(self, config: AppriseConfig) -> None:
        self.config = config

    async def send(self, notification: Notification) -> Delivery:
        sender = apprise.Apprise()
        for url in self.config.urls:
            sender.add(url.get_secret_value())
        _, _, rest = plain_text(notification).partition("\n")
        body = rest.strip() or headline(notification)
        try:
            result = await sender.async_notify(
                body=body,
                title=headline(notification),
                notify_type=notify_type(notification),
                timeout=self.config.timeout_seconds,
            )
        except Exception as exc:  # a plugin bug must not take the worker down
            return Delivery(
                ok=False, detail=clean(f"apprise failed: {type(exc).__name__}: {exc}"), retry=True
            )
        with result:
            if result:
                return Delivery(ok=True, detail=f"notified {result.success_count} service(s)", retry=False)
            problems = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
            detail = "; ".join(problems[-3:]) or f"apprise status {result.status.name.lower()}"
        return Delivery(ok=False, detail=clean(detail), retry=True)
