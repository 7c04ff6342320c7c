"""Twilio SMS against a loopback receiver: form fields, Basic auth, 201, errors, recipients."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import ValidationError

from syncmon.channels.sms import SmsChannel, SmsConfig, body_text
from tests.channels.support import Receiver, Reply, notification

SID = "AC" + "0123456789abcdef" * 2
CREATED = Reply(201, b'{"sid":"SM123","status":"queued"}', {"Content-Type": "application/json"})


def config(base_url: str, **extra: object) -> SmsConfig:
    values = {"account_sid": SID, "auth_token": "tok", "from_number": "+14155550100", "to": ["+14155550111"]}
    return SmsConfig.model_validate({**values, "base_url": base_url, **extra})


def form(body: bytes) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(body.decode(), strict_parsing=True).items()}


async def test_messages_api_request() -> None:
    with Receiver(CREATED) as receiver:
        cfg = config(receiver.url, status_callback="https://monitor.example/twilio/status")
        async with httpx.AsyncClient() as http:
            delivery = await SmsChannel(cfg, http).send(notification())
    assert delivery.ok and delivery.response["status_code"] == 201
    [request] = receiver.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:tok".encode()).decode()
    assert form(request.body) == {
        "To": "+14155550111",
        "From": "+14155550100",
        "Body": "[FIRING:2] High error rate (critical)\nhttp://monitor.example/ack/abc",
        "StatusCallback": "https://monitor.example/twilio/status",
    }


async def test_messaging_service_and_recipient_override() -> None:
    with Receiver(CREATED) as receiver:
        cfg = config(receiver.url, from_number=None, messaging_service_sid="MG" + "ab" * 16)
        async with httpx.AsyncClient() as http:
            assert (await SmsChannel(cfg, http, recipient="+447700900123").send(notification())).ok
    fields = form(receiver.requests[0].body)
    assert fields["To"] == "+447700900123"
    assert fields["MessagingServiceSid"] == "MG" + "ab" * 16 and "From" not in fields


async def test_one_post_per_number_and_failure_names_the_number() -> None:
    with Receiver(CREATED) as receiver:
        receiver.then(CREATED, Reply(400, b'{"code":21211,"message":"Invalid To"}'))
        cfg = config(receiver.url, to=["+14155550111", "+14155550112"])
        async with httpx.AsyncClient() as http:
            delivery = await SmsChannel(cfg, http).send(notification())
    assert [form(r.body)["To"] for r in receiver.requests] == ["+14155550111", "+14155550112"]
    assert (delivery.ok, delivery.retry) == (False, False)
    assert delivery.detail.startswith("to +14155550112: HTTP 400")


def test_body_is_short() -> None:
    text = body_text(notification(title="t" * 1000), 160)
    assert len(text) <= 160 and text.endswith("http://monitor.example/ack/abc")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"to": ["0044 7700"]}, "not an E.164"),
        ({"messaging_service_sid": "MG" + "ab" * 16}, "exactly one of from_number and messaging_service_sid"),
        ({"account_sid": "AB123"}, "account_sid"),
    ],
)
def test_validation(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config("https://api.twilio.com", **change)
