"""Real alerting data for the dashboard's alert pages: a webhook channel to a loopback receiver,
an escalation policy paging it, a rule with a low threshold, and events that make it fire."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from tests.support.live import LiveServer

T = TypeVar("T")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def poll(fetch: Callable[[], T], until: Callable[[T], bool], seconds: float = 10.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = fetch()
        if until(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; last: {found!r}")
        time.sleep(0.02)


@dataclass(frozen=True)
class Fired:
    rule_id: int
    channel_id: int
    incident_id: int
    fingerprint: str


def make_channel(client: httpx.Client, token: str, project: str, url: str, name: str = "ops hook") -> int:
    body = {"name": name, "kind": "webhook", "config": {"url": url}, "project": project}
    created = client.post("/api/v1/channels", json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def fire(
    live: LiveServer,
    token: str,
    project: str,
    public_key: str,
    receiver_url: str,
    *,
    labels: dict[str, str] | None = None,
    summary: str = "{{ value | number }} failed checkouts",
) -> Fired:
    """Create channel, policy and rule through the API, send three events, wait for the incident."""
    with live.client() as client:
        channel_id = make_channel(client, token, project, receiver_url)
        policy = {
            "name": "on-call",
            "project": project,
            "default": True,
            "levels": [{"timeout_seconds": 600, "targets": [{"channel_id": channel_id}]}],
        }
        made = client.post("/api/v1/escalation-policies", json=policy, headers=bearer(token))
        assert made.status_code == 201, made.text
        rule = {
            "project": project,
            "name": "checkout_failures",
            "kind": "count",
            "select": {"kind": "custom", "names": ["checkout_failed"]},
            "window": "5m",
            "threshold": 2,
            "severity": "critical",
            "labels": labels or {"team": "payments"},
            "summary": summary,
        }
        created = client.post("/api/v1/alerts/rules", json=rule, headers=bearer(token))
        assert created.status_code == 201, created.text
        rule_id = int(created.json()["id"])
        events = [{"kind": "custom", "name": "checkout_failed", "order": i} for i in range(3)]
        sent = client.post(
            "/api/monitoring/events", json={"events": events}, headers={"X-Syncmon-Key": public_key}
        )
        assert sent.status_code == 200, sent.text

        def incidents() -> list[dict[str, Any]]:
            reply = client.get("/api/v1/incidents", params={"status": "open"}, headers=bearer(token))
            return list(reply.json()["incidents"])

        (incident,) = poll(incidents, lambda found: len(found) == 1)
        alerts = client.get("/api/v1/alerts", headers=bearer(token)).json()["alerts"]
        (alert,) = [a for a in alerts if a["labels"]["alertname"] == "checkout_failures"]
    return Fired(rule_id, channel_id, int(incident["id"]), str(alert["fingerprint"]))
