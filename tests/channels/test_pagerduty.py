"""PagerDuty Events API v2 against a loopback receiver: exact trigger / acknowledge / resolve
bodies, the stable dedup_key, endpoint selection and the status rules."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from pydantic import ValidationError

from syncmon.alerting.model import Severity
from syncmon.channels.base import Action
from syncmon.channels.pagerduty import ENDPOINTS, PagerDutyChannel, PagerDutyConfig, dedup_key, render
from tests.channels.support import Receiver, Reply, notification

KEY = "R0123456789abcdef0123456789ABCDE"
ACCEPTED = Reply(202, b'{"status":"success","message":"Event processed","dedup_key":"x"}')


def config(url: str, **extra: object) -> PagerDutyConfig:
    return PagerDutyConfig.model_validate({"routing_key": KEY, "url": url + "/v2/enqueue", **extra})


async def test_trigger_body() -> None:
    with Receiver(ACCEPTED) as receiver:
        async with httpx.AsyncClient() as http:
            delivery = await PagerDutyChannel(config(receiver.url), http).send(notification())
    assert delivery.ok and delivery.response["status_code"] == 202
    [request] = receiver.requests
    assert request.path == "/v2/enqueue"
    group_key = '{}:{alertname="HighErrorRate"}'
    body = request.json()
    alerts = body["payload"]["custom_details"].pop("alerts")
    assert body == {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": hashlib.sha256(group_key.encode()).hexdigest(),
        "payload": {
            "summary": "High error rate",
            "source": "syncmon",
            "severity": "critical",
            "component": "shop",
            "group": "shop",
            "class": "HighErrorRate",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "custom_details": {
                "text": "Error rate above 5% for 5 minutes",
                "group_key": group_key,
                "group_labels": {"alertname": "HighErrorRate"},
                "common_labels": {"alertname": "HighErrorRate", "severity": "critical", "project": "shop"},
                "common_annotations": {},
                "incident_id": 42,
            },
        },
        "client": "SyncScript Monitor",
        "client_url": "http://monitor.example/incidents/42",
        "links": [
            {"href": "http://monitor.example/ack/abc", "text": "Acknowledge"},
            {"href": "http://monitor.example/resolve/abc", "text": "Resolve"},
            {"href": "http://monitor.example/incidents/42", "text": "Open incident"},
        ],
    }
    assert [a["labels"]["route"] for a in alerts] == ["/api/cart", "/api/pay"]
    assert set(alerts[0]) == {"status", "labels", "annotations", "startsAt", "endsAt", "fingerprint"}


@pytest.mark.parametrize("action", [Action.ACKNOWLEDGE, Action.RESOLVE])
async def test_acknowledge_and_resolve_carry_only_the_key(action: Action) -> None:
    with Receiver(ACCEPTED) as receiver:
        async with httpx.AsyncClient() as http:
            channel = PagerDutyChannel(config(receiver.url), http)
            assert (await channel.send(notification(Action.TRIGGER))).ok
            assert (await channel.send(notification(action))).ok
    trigger, follow_up = (request.json() for request in receiver.requests)
    assert follow_up == {"routing_key": KEY, "event_action": action.value, "dedup_key": trigger["dedup_key"]}


async def test_test_notification_triggers_then_resolves() -> None:
    with Receiver(ACCEPTED) as receiver:
        async with httpx.AsyncClient() as http:
            delivery = await PagerDutyChannel(config(receiver.url), http).send(
                notification(Action.TEST, group_key="test:1", alerts=(), severity=Severity.INFO)
            )
    assert delivery.ok and delivery.detail == "test alert triggered and resolved"
    actions = [request.json()["event_action"] for request in receiver.requests]
    assert actions == ["trigger", "resolve"]
    assert receiver.requests[0].json()["payload"]["severity"] == "info"
    assert "timestamp" not in receiver.requests[0].json()["payload"]


@pytest.mark.parametrize(
    ("reply", "retry", "after"),
    [
        (Reply(400, b'{"status":"invalid event","errors":["Event object is invalid"]}'), False, None),
        (Reply(429, b"", {"Retry-After": "30"}), True, 30.0),
        (Reply(500, b"oops"), True, None),
        (Reply(503, b""), True, None),
    ],
)
async def test_status_rules(reply: Reply, retry: bool, after: float | None) -> None:
    with Receiver(reply) as receiver:
        async with httpx.AsyncClient() as http:
            delivery = await PagerDutyChannel(config(receiver.url), http).send(notification())
    assert (delivery.ok, delivery.retry, delivery.retry_after_s) == (False, retry, after)
    assert delivery.response["status_code"] == reply.status


def test_severity_mapping_summary_limit_and_dedup_key() -> None:
    long = notification(title="x" * 2000, severity=Severity.WARNING)
    event = render(long, config("http://127.0.0.1:1"), Action.TRIGGER)
    assert event["payload"]["severity"] == "warning"
    assert len(event["payload"]["summary"]) == 1024
    assert dedup_key("a") == dedup_key("a") != dedup_key("b")
    assert len(dedup_key("g" * 10_000)) == 64


def test_body_stays_under_512_kb() -> None:
    from tests.channels.support import alert

    huge = notification(alerts=tuple(alert(route=f"/r/{i}", blob="y" * 2000) for i in range(600)))
    event = render(huge, config("http://127.0.0.1:1"), Action.TRIGGER)
    import orjson

    assert len(orjson.dumps(event)) <= 500_000
    assert event["payload"]["custom_details"]["alerts_truncated"] > 0


def test_endpoint_region_and_explicit_url() -> None:
    assert PagerDutyConfig.model_validate({"routing_key": KEY}).endpoint == ENDPOINTS["us"]
    eu = PagerDutyConfig.model_validate({"routing_key": KEY, "region": "eu"})
    assert eu.endpoint == "https://events.eu.pagerduty.com/v2/enqueue"
    assert config("http://127.0.0.1:9").endpoint == "http://127.0.0.1:9/v2/enqueue"
    with pytest.raises(ValidationError, match="routing_key must be the 32-character"):
        PagerDutyConfig.model_validate({"routing_key": "short"})
    with pytest.raises(ValidationError, match="region"):
        PagerDutyConfig.model_validate({"routing_key": KEY, "region": "apac"})
