"""Generic webhook: Alertmanager v4 body exactly, our extension object, the HMAC signature."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from syncmon.alerting.model import AlertState
from syncmon.channels.base import Action
from syncmon.channels.webhook import WebhookChannel, WebhookConfig, render, signature, verify_signature
from syncmon.clock import ManualClock
from tests.channels.support import T0, Receiver, Reply, alert, notification

AM_V4_KEYS = {
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
}


async def test_alertmanager_v4_body_signed() -> None:
    clock = ManualClock(T0)
    with Receiver() as receiver:
        cfg = WebhookConfig.model_validate(
            {"url": receiver.url + "/hook", "secret": "s3cret", "headers": {"Authorization": "Bearer abc"}}
        )
        async with httpx.AsyncClient() as http:
            delivery = await WebhookChannel(cfg, http, clock).send(notification())
    assert delivery.ok
    [request] = receiver.requests
    body = request.json()
    assert set(body) == AM_V4_KEYS | {"syncmon"}
    first = alert(route="/api/cart")
    assert body == {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "ops",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "severity": "critical", "project": "shop"},
        "commonAnnotations": {},
        "externalURL": "http://monitor.example",
        "alerts": [first.as_dict(), alert(route="/api/pay").as_dict()],
        "syncmon": {
            "action": "trigger",
            "severity": "critical",
            "title": "High error rate",
            "text": "Error rate above 5% for 5 minutes",
            "incidentId": 42,
            "links": {
                "acknowledge": "http://monitor.example/ack/abc",
                "resolve": "http://monitor.example/resolve/abc",
                "incident": "http://monitor.example/incidents/42",
            },
        },
    }
    assert body["alerts"][0] == {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "severity": "critical",
            "project": "shop",
            "route": "/api/cart",
        },
        "annotations": {"summary": "HighErrorRate on /api/cart"},
        "startsAt": "2026-01-01T00:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://monitor.example/rules/7",
        "fingerprint": first.fingerprint,
    }
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["content-type"] == "application/json"
    timestamp = request.headers["x-syncmon-timestamp"]
    assert timestamp == str(T0 // 1000)
    header = request.headers["x-syncmon-signature"]
    assert header == signature("s3cret", timestamp, request.body)
    assert verify_signature("s3cret", timestamp, request.body, header, now_s=T0 / 1000 + 60)
    assert not verify_signature("s3cret", timestamp, request.body, header, now_s=T0 / 1000 + 3600)  # replayed
    assert not verify_signature("other", timestamp, request.body, header, now_s=T0 / 1000)
    assert not verify_signature("s3cret", timestamp, request.body + b" ", header, now_s=T0 / 1000)
    assert not verify_signature("s3cret", str(T0 // 1000 + 1), request.body, header, now_s=T0 / 1000)


async def test_unsigned_when_no_secret_and_resolved_status() -> None:
    with Receiver() as receiver:
        cfg = WebhookConfig.model_validate({"url": receiver.url})
        async with httpx.AsyncClient() as http:
            assert (await WebhookChannel(cfg, http, ManualClock()).send(notification(Action.RESOLVE))).ok
    [request] = receiver.requests
    assert "x-syncmon-signature" not in request.headers and "x-syncmon-timestamp" not in request.headers
    body = request.json()
    assert body["status"] == "resolved"
    assert {a["status"] for a in body["alerts"]} == {"resolved"}
    assert body["alerts"][0]["endsAt"] == "2026-01-01T00:01:00.000Z"


def test_max_alerts_truncates_and_counts() -> None:
    many = tuple(alert(route=f"/r/{i}", state=AlertState.FIRING) for i in range(5))
    body = render(notification(alerts=many), max_alerts=2)
    assert body["truncatedAlerts"] == 3 and len(body["alerts"]) == 2


async def test_non_2xx_is_a_failure() -> None:
    with Receiver(Reply(422, b"bad")) as receiver:
        cfg = WebhookConfig.model_validate({"url": receiver.url})
        async with httpx.AsyncClient() as http:
            delivery = await WebhookChannel(cfg, http, ManualClock()).send(notification())
    assert (delivery.ok, delivery.retry, delivery.detail) == (False, False, "HTTP 422: bad")


@pytest.mark.parametrize(
    ("headers", "message"),
    [({"X-Syncmon-Signature": "x"}, "set by the server"), ({"Bad Header": "x"}, "not a valid HTTP header")],
)
def test_header_validation(headers: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WebhookConfig.model_validate({"url": "https://example.com/hook", "headers": headers})
