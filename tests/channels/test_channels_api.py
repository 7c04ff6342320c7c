"""The channels API through the real server on both engines: create, show (secrets masked),
change, delete, test sends that reach real loopback receivers, the delivery log, and every
kind of bad input answered with a 4xx naming what is wrong."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from syncmon.channels.webhook import verify_signature
from syncmon.store.schema import audit_log
from tests.channels.support import Receiver, SmtpServer
from tests.conftest import Store
from tests.support.live import LiveServer

KEY = "R0123456789abcdef0123456789ABCDE"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for_log(client: httpx.Client, channel_id: int, token: str, count: int = 1) -> list[dict[str, Any]]:
    """The delivery worker runs on its own; poll its log a bounded number of times."""
    for _ in range(400):
        found = client.get(f"/api/v1/channels/{channel_id}/deliveries", headers=auth(token)).json()[
            "deliveries"
        ]
        if len(found) >= count:
            return list(found)
        time.sleep(0.025)
    raise AssertionError(f"no delivery logged for channel {channel_id}")


def test_webhook_channel_lifecycle(
    live: LiveServer, admin_token: str, viewer_token: str, store: Store
) -> None:
    with Receiver() as receiver, live.client() as client:
        url = receiver.url + "/hook?token=abc"
        body = {
            "name": "ops webhook",
            "kind": "webhook",
            "config": {
                "url": url,
                "secret": "s3cret-signing-key",
                "headers": {"Authorization": "Bearer xyz"},
            },
            "project": store.project.slug,
            "rate_limit_per_minute": 30,
        }
        created = client.post("/api/v1/channels", json=body, headers=auth(admin_token))
        assert created.status_code == 201, created.text
        shown = created.json()
        channel_id = shown["id"]
        assert shown["config"] == {
            "url": "http://127.0.0.1/********",
            "secret": "********-key",
            "headers": {"Authorization": "********"},
            "max_alerts": 0,
            "timeout_seconds": 10.0,
        }
        assert (shown["project_id"], shown["rate_limit_per_minute"], shown["enabled"]) == (
            store.project.id,
            30,
            True,
        )
        assert "s3cret" not in created.text and "token=abc" not in created.text and "xyz" not in created.text

        for token in (admin_token, viewer_token):
            listing = client.get("/api/v1/channels", headers=auth(token))
            assert listing.status_code == 200 and [c["id"] for c in listing.json()["channels"]] == [
                channel_id
            ]
            one = client.get(f"/api/v1/channels/{channel_id}", headers=auth(token))
            assert one.json() == shown
            assert "s3cret" not in one.text and "token=abc" not in one.text

        # Sending the masked values back changes nothing; other fields change.
        patched = client.patch(
            f"/api/v1/channels/{channel_id}",
            json={"config": {**shown["config"], "max_alerts": 5}, "name": "ops hook"},
            headers=auth(admin_token),
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["config"]["max_alerts"] == 5 and patched.json()["name"] == "ops hook"

        sent = client.post(f"/api/v1/channels/{channel_id}/test", headers=auth(admin_token))
        assert sent.status_code == 202, sent.text
        outbox_id = sent.json()["outbox_id"]
        [entry] = wait_for_log(client, channel_id, admin_token)
        assert (entry["outbox_id"], entry["ok"], entry["outcome"], entry["status_code"]) == (
            outbox_id,
            True,
            "delivered",
            200,
        )
        assert entry["outbox_status"] == "delivered" and entry["attempt"] == 1
        [request] = receiver.requests
        assert request.path == "/hook?token=abc"
        assert request.headers["authorization"] == "Bearer xyz"
        assert verify_signature(
            "s3cret-signing-key",
            request.headers["x-syncmon-timestamp"],
            request.body,
            request.headers["x-syncmon-signature"],
            now_s=time.time(),
        )
        payload = request.json()
        assert payload["version"] == "4" and payload["syncmon"]["action"] == "test"
        assert payload["syncmon"]["title"] == "Test notification from SyncScript Monitor"
        assert payload["receiver"] == "ops hook" and payload["alerts"] == []

        deleted = client.delete(f"/api/v1/channels/{channel_id}", headers=auth(admin_token))
        assert deleted.status_code == 200 and deleted.json() == {"deleted": channel_id}
        assert client.get(f"/api/v1/channels/{channel_id}", headers=auth(admin_token)).status_code == 404

    with store.engine.connect() as conn:
        actions = conn.execute(sa.select(audit_log.c.action).order_by(audit_log.c.id)).scalars().all()
        details = conn.execute(sa.select(audit_log.c.details)).scalars().all()
    assert [a for a in actions if a.startswith("channel.")] == [
        "channel.create",
        "channel.update",
        "channel.test",
        "channel.delete",
    ]
    assert "s3cret" not in str(details)


def test_email_test_to_a_recipient_and_failures_in_the_log(
    live: LiveServer, admin_token: str, tmp_path: Path
) -> None:
    with SmtpServer(tmp_path, "starttls", credentials=("mailer", "pw")) as smtp, live.client() as client:
        config = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "starttls",
            "username": "mailer",
            "password": "pw",
            "from_address": "alerts@monitor.example",
            "ca_file": smtp.ca_file,
        }
        created = client.post(
            "/api/v1/channels",
            json={"name": "mail", "kind": "email", "config": config},
            headers=auth(admin_token),
        )
        assert created.status_code == 201, created.text
        assert created.json()["config"]["password"] == "********"
        channel_id = created.json()["id"]
        refused = client.post(f"/api/v1/channels/{channel_id}/test", headers=auth(admin_token))
        assert refused.status_code == 202  # no recipient anywhere: queued, and the log says why
        [failed] = wait_for_log(client, channel_id, admin_token)
        assert (failed["ok"], failed["outcome"]) == (False, "failed")
        assert "no recipient" in failed["detail"]
        sent = client.post(
            f"/api/v1/channels/{channel_id}/test",
            json={"recipient": "ann@shop.example"},
            headers=auth(admin_token),
        )
        assert sent.status_code == 202
        newest = wait_for_log(client, channel_id, admin_token, 2)[0]
        assert (newest["ok"], newest["recipient"]) == (True, "ann@shop.example")
        assert smtp.messages[0].rcpt_tos == ["ann@shop.example"]
        page = client.get(
            f"/api/v1/channels/{channel_id}/deliveries?limit=1", headers=auth(admin_token)
        ).json()
        assert len(page["deliveries"]) == 1 and page["next_cursor"] == str(newest["id"])
        older = client.get(
            f"/api/v1/channels/{channel_id}/deliveries?limit=1&cursor={page['next_cursor']}",
            headers=auth(admin_token),
        ).json()
        assert older["deliveries"][0]["id"] == failed["id"]


def test_viewer_and_anonymous_are_refused(live: LiveServer, admin_token: str, viewer_token: str) -> None:
    with live.client() as client:
        hook = {"name": "h", "kind": "webhook", "config": {"url": "https://example.com/h"}}
        channel_id = client.post("/api/v1/channels", json=hook, headers=auth(admin_token)).json()["id"]
        for method, path, body in [
            ("POST", "/api/v1/channels", hook),
            ("PATCH", f"/api/v1/channels/{channel_id}", {"name": "x"}),
            ("DELETE", f"/api/v1/channels/{channel_id}", None),
            ("POST", f"/api/v1/channels/{channel_id}/test", None),
        ]:
            response = client.request(method, path, json=body, headers=auth(viewer_token))
            assert response.status_code == 403, (method, path)
            assert response.json() == {"error": "this needs an admin; your role is viewer (read-only)"}
        assert client.get("/api/v1/channels").status_code == 401
        assert (
            client.get(f"/api/v1/channels/{channel_id}/deliveries", headers=auth(viewer_token)).status_code
            == 200
        )


BAD_CREATES: list[tuple[dict[str, Any], int, str]] = [
    ({"kind": "webhook", "config": {}}, 400, "name: required"),
    ({"name": "x", "kind": "fax", "config": {}}, 400, "kind: must be one of apprise, email, pagerduty"),
    ({"name": "x", "kind": "slack", "config": {}}, 400, "config.webhook_url: Field required"),
    (
        {"name": "x", "kind": "slack", "config": {"webhook_url": "nope"}},
        400,
        "webhook_url must be an absolute",
    ),
    (
        {"name": "x", "kind": "slack", "config": {"webhook_url": "https://h/x", "colour": 1}},
        400,
        "config.colour",
    ),
    (
        {"name": "x", "kind": "pagerduty", "config": {"routing_key": KEY, "region": "mars"}},
        400,
        "config.region",
    ),
    ({"name": "x", "kind": "sms", "config": {"account_sid": "x"}}, 400, "config.account_sid"),
    ({"name": "x", "kind": "webhook", "config": []}, 400, "config: expected a JSON object"),
    ({"name": "", "kind": "webhook", "config": {"url": "https://h/x"}}, 400, "name: a non-empty string"),
    ({"name": "x\u0000", "kind": "webhook", "config": {"url": "https://h/x"}}, 400, "NUL"),
    (
        {"name": "x", "kind": "webhook", "config": {"url": "https://h/x"}, "extra": 1},
        400,
        "extra: unknown field",
    ),
    (
        {"name": "x", "kind": "webhook", "config": {"url": "https://h/x"}, "rate_limit_per_minute": 0},
        400,
        "rate_limit_per_minute: a whole number from 1",
    ),
    (
        {"name": "x", "kind": "webhook", "config": {"url": "https://h/x"}, "fallback_channel_id": 999},
        400,
        "fallback_channel_id: channel 999 does not exist",
    ),
    (
        {"name": "x", "kind": "webhook", "config": {"url": "https://h/x"}, "project": "nope"},
        400,
        "project: 'nope' not found",
    ),
    (
        {"name": "x", "kind": "webhook", "config": {"url": "https://h/x"}, "enabled": "yes"},
        400,
        "enabled",
    ),
]


def test_create_refuses_bad_input(live: LiveServer, admin_token: str) -> None:
    with live.client() as client:
        for body, status, message in BAD_CREATES:
            response = client.post("/api/v1/channels", json=body, headers=auth(admin_token))
            assert response.status_code == status, (body, response.text)
            assert message in response.json()["error"], (body, response.text)
        assert client.get("/api/v1/channels", headers=auth(admin_token)).json() == {"channels": []}


def test_more_bad_input(live: LiveServer, admin_token: str) -> None:
    with live.client() as client:
        headers = auth(admin_token)

        def create(name: str, **extra: Any) -> int:
            body = {"name": name, "kind": "webhook", "config": {"url": "https://example.com/h"}, **extra}
            response = client.post("/api/v1/channels", json=body, headers=headers)
            assert response.status_code == 201, response.text
            return int(response.json()["id"])

        first = create("first")
        second = create("second", fallback_channel_id=first)
        cases = [
            ("POST", "/api/v1/channels", b"{not json", 400, "body is not valid JSON"),
            ("POST", "/api/v1/channels", b"[1]", 400, "body: expected a JSON object"),
            (
                "PATCH",
                f"/api/v1/channels/{first}",
                b'{"fallback_channel_id": %d}' % second,
                409,
                "falls back",
            ),
            (
                "PATCH",
                f"/api/v1/channels/{first}",
                b'{"fallback_channel_id": %d}' % first,
                409,
                "its own fallback",
            ),
            ("PATCH", f"/api/v1/channels/{first}", b'{"kind": "slack"}', 400, "kind: cannot be changed"),
            ("PATCH", f"/api/v1/channels/{first}", b'{"config": {"url": "ftp://x"}}', 400, "config.url"),
            ("PATCH", "/api/v1/channels/424242", b'{"name": "x"}', 404, "channel 424242 not found"),
            ("DELETE", f"/api/v1/channels/{first}", b"", 409, f"fallback of channel(s) {second}"),
            ("GET", "/api/v1/channels/abc", b"", 404, "not found"),
            ("GET", "/api/v1/channels/99999999999999999999", b"", 404, "not found"),
            ("GET", f"/api/v1/channels/{first}/deliveries?limit=0", b"", 400, "limit"),
            ("GET", f"/api/v1/channels/{first}/deliveries?cursor=x", b"", 400, "cursor"),
            ("GET", "/api/v1/channels/424242/deliveries", b"", 404, "channel 424242 not found"),
            (
                "POST",
                f"/api/v1/channels/{first}/test",
                b'{"recipient": "a@b.example"}',
                400,
                "fixed destination",
            ),
            ("POST", f"/api/v1/channels/{first}/test", b'{"to": 1}', 400, "to: unknown field"),
            ("POST", "/api/v1/channels/424242/test", b"", 404, "channel 424242 not found"),
            ("POST", "/api/v1/channels", b"x" * 70_000, 413, "larger than"),
        ]
        for method, path, content, status, message in cases:
            response = client.request(method, path, content=content, headers=headers)
            assert response.status_code == status, (method, path, response.text)
            assert message in response.json()["error"], (method, path, response.text)
        cleared = client.patch(
            f"/api/v1/channels/{second}", json={"fallback_channel_id": None}, headers=headers
        )
        assert cleared.status_code == 200 and cleared.json()["fallback_channel_id"] is None
        assert client.delete(f"/api/v1/channels/{first}", headers=headers).status_code == 200
