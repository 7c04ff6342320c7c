"""Email over SMTP (aiosmtplib): STARTTLS, implicit TLS or plain, HTML and text parts.

Every message about one alert group names the same thread root in `In-Reply-To` and
`References` (derived from the group key), so mail clients file a group's firing,
acknowledged and resolved messages in one conversation; each message still gets its
own `Message-ID`. 4xx SMTP replies and connection trouble are retried, 5xx are not.
"""

from __future__ import annotations

import hashlib
import html
import ssl
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

import aiosmtplib
from pydantic import Field, SecretStr, field_validator, model_validator

from syncmon.channels.base import Delivery, Notification
from syncmon.channels.config import ChannelConfig, email_address
from syncmon.channels.http import clean, delivery_for_error
from syncmon.channels.render import alert_line, headline, links, plain_text
from syncmon.clock import Clock

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
MAX_ALERTS = 50


class EmailConfig(ChannelConfig):
    host: str = Field(min_length=1, max_length=255)
    port: int | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = Field(None, max_length=255)
    password: SecretStr | None = None
    from_address: str
    to: list[str] = Field(default_factory=list, max_length=50)
    subject_prefix: str = Field("[syncmon]", max_length=100)
    ca_file: str | None = None
    timeout_seconds: float = Field(30.0, gt=0, le=300)

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        return email_address(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        return [email_address(item) for item in value]

    @model_validator(mode="after")
    def _auth(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: give both or neither")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    @property
    def domain(self) -> str:
        return self.from_address.rpartition("@")[2]


def thread_id(group_key: str, domain: str) -> str:
    """The Message-ID every message of one alert group replies to."""
    return f"<group.{hashlib.sha256(group_key.encode()).hexdigest()[:32]}@{domain}>"


def html_body(notification: Notification) -> str:
    parts = [f"<h2>{html.escape(headline(notification))}</h2>"]
    if notification.text:
        parts.append(f"<p>{html.escape(notification.text).replace(chr(10), '<br>')}</p>")
    if notification.alerts:
        shown = notification.alerts[:MAX_ALERTS]
        items = "".join(f"<li>{html.escape(alert_line(alert))}</li>" for alert in shown)
        if len(notification.alerts) > len(shown):
            items += f"<li>…and {len(notification.alerts) - len(shown)} more</li>"
        parts.append(f"<ul>{items}</ul>")
    anchors = " · ".join(
        f'<a href="{html.escape(url, quote=True)}">{html.escape(title)}</a>'
        for title, url in links(notification)
    )
    if anchors:
        parts.append(f"<p>{anchors}</p>")
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"


def build_message(
    notification: Notification, config: EmailConfig, to: list[str], now_ms: int
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"{config.subject_prefix} {headline(notification)}".strip()
    message["From"] = config.from_address
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(datetime.fromtimestamp(now_ms / 1000, tz=UTC))
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{config.domain}>"
    root = thread_id(notification.group_key, config.domain)
    message["In-Reply-To"] = root
    message["References"] = root
    message["X-Syncmon-Status"] = notification.action.value
    message.set_content(plain_text(notification, max_alerts=MAX_ALERTS))
    message.add_alternative(html_body(notification), subtype="html")
    return message


def _tls_context(config: EmailConfig) -> ssl.SSLContext | None:
    if config.security == "none":
        return None
    return ssl.create_default_context(cafile=config.ca_file)


def delivery_for_smtp_error(exc: Exception) -> Delivery:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [error.code for error in exc.recipients]
        retry = all(400 <= code < 500 for code in codes)
        return Delivery(ok=False, detail=clean(f"recipients refused: {exc}"), retry=retry)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        retry = 400 <= exc.code < 500
        return Delivery(
            ok=False,
            detail=clean(f"SMTP {exc.code}: {exc.message}"),
            retry=retry,
            response={"status_code": exc.code},
        )
    return delivery_for_error(exc)


class EmailChannel:
    kind = "email"

    def __init__(self, config: EmailConfig, clock: Clock, recipient: str | None = None) -> None:
        self.config = config
        self._clock = clock
        self._to = [recipient] if recipient else list(config.to)

    async def send(self, notification: Notification) -> Delivery:
        if not self._to:
            return Delivery(ok=False, detail="no recipient: the channel has no `to` addresses", retry=False)
        config = self.config
        message = build_message(notification, config, self._to, self._clock.now_ms())
        try:
            refused, reply = await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.effective_port,
                username=config.username,
                password=config.password.get_secret_value() if config.password else None,
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                tls_context=_tls_context(config),
                local_hostname=config.domain,
                timeout=config.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            return delivery_for_smtp_error(exc)
        detail = clean(f"accepted: {reply}")
        if refused:
            detail = clean(f"{detail}; refused: {', '.join(sorted(refused))}")
        return Delivery(ok=True, detail=detail, retry=False, response={"message_id": message["Message-ID"]})
