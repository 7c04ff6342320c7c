"""SMS through Twilio's Messages API: one form-encoded POST per recipient, 201 means queued.

The text is short on purpose (the headline and the acknowledge link) and capped at
`max_length` characters: long SMS are split into paid segments. With several `to`
numbers a failure for one makes the whole delivery retry, so the others may receive
the message twice (at-least-once, like every channel).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from syncmon.channels.base import Delivery, Notification
from syncmon.channels.config import ChannelConfig, e164, http_url
from syncmon.channels.http import post
from syncmon.channels.render import headline, truncate

DEFAULT_BASE_URL = "https://api.twilio.com"


class SmsConfig(ChannelConfig):
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    from_number: str | None = None
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")
    to: list[str] = Field(default_factory=list, max_length=20)
    base_url: str = DEFAULT_BASE_URL
    status_callback: str | None = None
    max_length: int = Field(320, ge=40, le=1600)
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("from_number")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        return None if value is None else e164(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        return [e164(item) for item in value]

    @field_validator("base_url", "status_callback")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value).rstrip("/")

    @model_validator(mode="after")
    def _sender(self) -> SmsConfig:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        return self

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"


def body_text(notification: Notification, max_length: int) -> str:
    text = headline(notification)
    link = notification.links.get("acknowledge") or notification.links.get("incident")
    if link:
        room = max_length - len(link) - 1
        return f"{truncate(text, room)}\n{link}" if room >= 20 else truncate(text, max_length)
    return truncate(text, max_length)


def form(notification: Notification, config: SmsConfig, to: str) -> dict[str, str]:
    fields = {"To": to, "Body": body_text(notification, config.max_length)}
    if config.messaging_service_sid:
        fields["MessagingServiceSid"] = config.messaging_service_sid
    else:
        assert config.from_number is not None
        fields["From"] = config.from_number
    if config.status_callback:
        fields["StatusCallback"] = config.status_callback
    return fields


class SmsChannel:
    kind = "sms"

    def __init__(self, config: SmsConfig, http: httpx.AsyncClient, recipient: str | None = None) -> None:
        self.config = config
        self._http = http
        self._to = [recipient] if recipient else list(config.to)

    async def send(self, notification: Notification) -> Delivery:
        if not self._to:
            return Delivery(ok=False, detail="no recipient: the channel has no `to` numbers", retry=False)
        auth = (self.config.account_sid, self.config.auth_token.get_secret_value())
        sent: list[dict[str, Any]] = []
        for number in self._to:
            outcome = await post(
                self._http,
                self.config.messages_url,
                data=form(notification, self.config, number),
                auth=auth,
                timeout=self.config.timeout_seconds,
            )
            if not outcome.ok:
                return Delivery(
                    ok=False,
                    detail=f"to {number}: {outcome.detail}",
                    retry=outcome.retry,
                    retry_after_s=outcome.retry_after_s,
                    response=outcome.response,
                )
            sent.append({"to": number, **outcome.response})
        detail = f"queued for {len(sent)} number{'s' if len(sent) != 1 else ''}"
        return Delivery(
            ok=True,
            detail=detail,
            retry=False,
            response={"status_code": sent[-1]["status_code"], "messages": sent},
        )
