"""Signed acknowledge/resolve links: valid, expired, tampered, malformed; GET only shows a page,
POST acts; the secret is generated once and kept, or taken from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from syncmon.alerting import links
from syncmon.alerting.dispatcher import Dispatcher
from syncmon.clock import ManualClock
from syncmon.store.schema import server_secrets
from tests.alerting.incident_support import (
    PUBLIC_URL,
    T0,
    EngineTransactor,
    LiveAlerting,
    add_policy,
    add_user,
    alert,
    firing,
    live_alerting,
)
from tests.conftest import Store

SECRET = b"s" * 32
CLAIM = links.LinkClaim(12, links.LinkAction.ACKNOWLEDGE, T0 // 1000 + 3600, "user:3")


def test_sign_and_verify() -> None:
    token = links.sign(SECRET, CLAIM)
    assert token.startswith("12.acknowledge.")
    assert links.verify(SECRET, token, T0) == CLAIM
    assert links.link_url("https://m.example/", token) == f"https://m.example/alerting/act/{token}"


def _tampered(token: str) -> list[str]:
    body, signature = token.rsplit(".", 1)
    parts = body.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return [
        ".".join(["13", *parts[1:]]) + "." + signature,  # another incident
        ".".join([parts[0], "resolve", *parts[2:]]) + "." + signature,  # another action
        ".".join([*parts[:2], str(int(parts[2]) + 86_400), parts[3]]) + "." + signature,  # longer life
        ".".join([*parts[:3], "user:4"]) + "." + signature,  # someone else
        body + "." + flipped,
    ]


@pytest.mark.parametrize("index", range(5))
def test_tampered_links_are_refused(index: int) -> None:
    token = _tampered(links.sign(SECRET, CLAIM))[index]
    with pytest.raises(links.LinkError) as refused:
        links.verify(SECRET, token, T0)
    assert refused.value.status == 403


@pytest.mark.parametrize(
    "token", ["", "12", "12.ack.1.user:3.x", "x" * 300, "12.acknowledge.1.user:3." + "a" * 42]
)
def test_malformed_links_are_refused(token: str) -> None:
    with pytest.raises(links.LinkError) as refused:
        links.verify(SECRET, token, T0)
    assert refused.value.status == 400


def test_expired_links_are_refused() -> None:
    token = links.sign(SECRET, CLAIM)
    assert links.verify(SECRET, token, CLAIM.expires_s * 1000 - 1) == CLAIM
    with pytest.raises(links.LinkError) as refused:
        links.verify(SECRET, token, CLAIM.expires_s * 1000)
    assert refused.value.status == 410
    with pytest.raises(links.LinkError):
        links.verify(b"another secret", token, T0)


@pytest.fixture
def env(store: Store) -> Iterator[LiveAlerting]:
    with live_alerting(store) as found:
        yield found


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC_URL)
    return urlsplit(url).path


async def test_get_shows_post_acts(env: LiveAlerting, store: Store) -> None:
    alice = add_user(store.engine, "alice@example.com")
    add_policy(store.engine, [{"timeout_ms": 300_000, "targets": [{"user_id": alice, "channel_id": 2}]}])
    await env.harness.handle(firing(alert("HighErrorRate", "critical")))
    [page_sent] = env.harness.sent()
    assert page_sent.recipient == "alice@example.com"
    ack = path_of(page_sent.links["acknowledge"])
    with env.client() as client:
        for _ in range(3):  # a mail scanner fetching the link, a preview, the person
            shown = client.get(ack)
            assert shown.status_code == 200
            assert "Acknowledge incident #1?" in shown.text and '<form method="post">' in shown.text
            assert client.head(ack).status_code == 200
        assert shown.headers["referrer-policy"] == "no-referrer"
        assert shown.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
        assert [s.action for s in env.harness.sent()] == ["trigger"]  # GET and HEAD did nothing
        assert client.get("/api/v1/incidents/1").status_code == 401

        done = client.post(ack)
        assert done.status_code == 200 and "Incident #1 acknowledged" in done.text
        assert "acknowledged by alice@example.com (link)" in done.text
        assert [s.action for s in env.harness.sent()] == ["trigger", "acknowledge"]
        assert "already acknowledged" in client.get(ack).text
        assert client.post(ack).status_code == 200  # twice: still acknowledged, nothing sent
        assert len(env.harness.sent()) == 2

        resolve = path_of(page_sent.links["resolve"])
        assert client.post(resolve).status_code == 200
        assert [s.action for s in env.harness.sent()] == ["trigger", "acknowledge", "resolve"]
        late_ack = client.post(ack)
        assert late_ack.status_code == 409 and "already resolved" in late_ack.text


async def test_expired_tampered_and_unknown_links(env: LiveAlerting, store: Store) -> None:
    add_policy(store.engine, [{"timeout_ms": 300_000, "targets": [{"channel_id": 1}]}])
    await env.harness.handle(firing(alert("HighErrorRate", "critical")))
    ack = path_of(env.harness.sent()[0].links["acknowledge"])
    token = ack.rsplit("/", 1)[1]
    with env.client() as client:
        for bad in _tampered(token):
            answer = client.post(links.LINK_PATH + bad)
            assert answer.status_code == 403 and "signature does not match" in answer.text
        assert client.get(links.LINK_PATH + "nonsense").status_code == 400
        secret = await env.server.services.dispatcher.load_secret()
        gone = links.sign(
            secret, links.LinkClaim(99, links.LinkAction.ACKNOWLEDGE, T0 // 1000 + 60, "channel:1")
        )
        assert client.get(links.LINK_PATH + gone).status_code == 404

        env.clock.advance(86_400)  # the links' lifetime (alert_link_ttl_seconds)
        expired = client.post(ack)
        assert expired.status_code == 410 and "expired" in expired.text
        assert client.get(ack).status_code == 410
    assert [s.action for s in env.harness.sent()] == ["trigger"]


async def test_secret_is_generated_once_and_kept(store: Store) -> None:
    clock = ManualClock(T0)
    first = Dispatcher(EngineTransactor(store.engine), clock, sink=None, public_url=PUBLIC_URL)
    secret = await first.load_secret()
    assert len(secret) >= 48
    restarted = Dispatcher(EngineTransactor(store.engine), clock, sink=None, public_url=PUBLIC_URL)
    assert await restarted.load_secret() == secret  # links sent before a restart still work
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(server_secrets)).scalar_one() == 1
    configured = Dispatcher(
        EngineTransactor(store.engine), clock, sink=None, public_url=PUBLIC_URL, link_secret="from-settings"
    )
    assert await configured.load_secret() == b"from-settings"
