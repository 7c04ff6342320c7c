"""Email against a real SMTP server (aiosmtpd on loopback): plain, STARTTLS and implicit TLS
with a certificate made for the test, AUTH, both parts, headers and per-group threading."""

from __future__ import annotations

import email
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from syncmon.channels.base import Action
from syncmon.channels.email import EmailChannel, EmailConfig, thread_id
from syncmon.clock import ManualClock
from tests.channels.support import T0, SmtpServer, notification


def config(server: SmtpServer, mode: str, **extra: Any) -> EmailConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": mode,
        "from_address": "alerts@monitor.example",
        "to": ["oncall@shop.example", "team@shop.example"],
        "ca_file": server.ca_file,
        "timeout_seconds": 10,
    }
    return EmailConfig.model_validate({**values, **extra})


def parse(raw: bytes | str) -> Message:
    data = raw if isinstance(raw, bytes) else raw.encode()
    return email.message_from_bytes(data, policy=default)


@pytest.mark.parametrize("mode", ["none", "starttls", "tls"])
async def test_delivers_text_and_html_with_auth(tmp_path: Path, mode: str) -> None:
    with SmtpServer(tmp_path, mode, credentials=("mailer", "pw")) as server:
        channel = EmailChannel(config(server, mode, username="mailer", password="pw"), ManualClock(T0))
        delivery = await channel.send(notification())
        assert delivery.ok, delivery.detail
        assert server.logins == ["mailer"]
        [envelope] = server.messages
    assert envelope.mail_from == "alerts@monitor.example"
    assert envelope.rcpt_tos == ["oncall@shop.example", "team@shop.example"]
    message = parse(envelope.original_content or b"")
    assert message["Subject"] == "[syncmon] [FIRING:2] High error rate (critical)"
    assert message["From"] == "alerts@monitor.example"
    assert message["To"] == "oncall@shop.example, team@shop.example"
    assert message["Date"] == "Thu, 01 Jan 2026 00:00:00 +0000"
    assert message["Message-ID"].endswith("@monitor.example>")
    assert message["Message-ID"] == delivery.response["message_id"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "HighErrorRate [firing] alertname=HighErrorRate" not in text.get_content()
    assert "- HighErrorRate [firing] project=shop, route=/api/cart, severity=critical" in text.get_content()
    assert "Acknowledge: http://monitor.example/ack/abc" in text.get_content()
    assert '<a href="http://monitor.example/ack/abc">Acknowledge</a>' in html.get_content()


async def test_messages_of_one_group_share_a_thread(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        channel = EmailChannel(config(server, "none"), ManualClock(T0))
        for action in (Action.TRIGGER, Action.ACKNOWLEDGE, Action.RESOLVE):
            assert (await channel.send(notification(action))).ok
        assert (await channel.send(notification(group_key="another group"))).ok
        messages = [parse(envelope.original_content or b"") for envelope in server.messages]
    root = thread_id('{}:{alertname="HighErrorRate"}', "monitor.example")
    assert [m["In-Reply-To"] for m in messages[:3]] == [root] * 3
    assert [m["References"] for m in messages[:3]] == [root] * 3
    assert messages[3]["In-Reply-To"] != root
    assert len({m["Message-ID"] for m in messages}) == 4
    assert [m["Subject"] for m in messages[:3]] == [
        "[syncmon] [FIRING:2] High error rate (critical)",
        "[syncmon] [ACKNOWLEDGED] High error rate (critical)",
        "[syncmon] [RESOLVED] High error rate (critical)",
    ]


async def test_recipient_override(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        channel = EmailChannel(config(server, "none"), ManualClock(T0), recipient="ann@shop.example")
        assert (await channel.send(notification())).ok
        assert server.messages[0].rcpt_tos == ["ann@shop.example"]


async def test_wrong_password_is_not_retried(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, "starttls", credentials=("mailer", "pw")) as server:
        channel = EmailChannel(
            config(server, "starttls", username="mailer", password="nope"), ManualClock(T0)
        )
        delivery = await channel.send(notification())
    assert (delivery.ok, delivery.retry) == (False, False)
    assert delivery.detail.startswith("SMTP 535")


async def test_refused_recipients_are_not_retried(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, refuse=lambda address: True) as server:
        delivery = await EmailChannel(config(server, "none"), ManualClock(T0)).send(notification())
    assert (delivery.ok, delivery.retry) == (False, False)
    assert "recipients refused" in delivery.detail


async def test_untrusted_certificate_and_closed_port_are_retried(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, "tls") as server:
        untrusted = EmailChannel(config(server, "tls", ca_file=None), ManualClock(T0))
        delivery = await untrusted.send(notification())
        assert (delivery.ok, delivery.retry) == (False, True)
        assert "certificate" in delivery.detail.lower()
        port = server.port
    closed = EmailChannel(config(server, "none", port=port), ManualClock(T0))
    delivery = await closed.send(notification())
    assert (delivery.ok, delivery.retry) == (False, True)


def test_validation_messages() -> None:
    with pytest.raises(ValidationError, match="not an email address"):
        EmailConfig.model_validate({"host": "smtp", "from_address": "nobody", "to": []})
    with pytest.raises(ValidationError, match="username and password go together"):
        EmailConfig.model_validate({"host": "smtp", "from_address": "a@b.example", "username": "u"})
    assert EmailConfig.model_validate({"host": "smtp", "from_address": "a@b.example"}).effective_port == 587
    implicit = EmailConfig.model_validate({"host": "smtp", "from_address": "a@b.example", "security": "tls"})
    assert implicit.effective_port == 465
