"""Slack incoming webhook: the exact Block Kit body a loopback receiver gets, limits, errors."""

from __future__ import annotations

import httpx
import pytest

from syncmon.channels.base import Action
from syncmon.channels.slack import SlackChannel, SlackConfig, escape, render
from tests.channels.support import Receiver, Reply, alert, notification


def slack(url: str, **extra: object) -> SlackConfig:
    return SlackConfig.model_validate({"webhook_url": url + "/services/T0/B0/XYZ", **extra})


async def test_posts_blocks_with_text_fallback() -> None:
    with Receiver() as receiver:
        async with httpx.AsyncClient() as http:
            channel = SlackChannel(
                slack(receiver.url, username="syncmon", icon_emoji=":rotating_light:"), http
            )
            delivery = await channel.send(notification())
    assert delivery.ok and delivery.response["status_code"] == 200
    [request] = receiver.requests
    assert request.path == "/services/T0/B0/XYZ"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "text": "[FIRING:2] High error rate (critical)",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*[FIRING:2] High error rate (critical)*\nError rate above 5% for 5 minutes",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "• HighErrorRate [firing] route=/api/cart since 2026-01-01T00:00:00.000Z"
                    " — HighErrorRate on /api/cart\n"
                    "• HighErrorRate [firing] route=/api/pay since 2026-01-01T00:00:00.000Z"
                    " — HighErrorRate on /api/pay",
                },
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "url": "http://monitor.example/ack/abc",
                        "action_id": "link-0-0",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Resolve"},
                        "url": "http://monitor.example/resolve/abc",
                        "action_id": "link-0-1",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open incident"},
                        "url": "http://monitor.example/incidents/42",
                        "action_id": "link-0-2",
                    },
                ],
            },
        ],
        "username": "syncmon",
        "icon_emoji": ":rotating_light:",
    }


def test_sections_stay_within_3000_characters_and_mrkdwn_is_escaped() -> None:
    many = tuple(alert(route=f"/r/{i}" + "x" * 300) for i in range(40))
    long = notification(alerts=many)
    long = type(long)(**{**{f: getattr(long, f) for f in long.__dataclass_fields__}, "text": "<b>&" * 2000})
    body = render([long], slack("http://127.0.0.1:1"))
    sections = [block for block in body["blocks"] if block["type"] == "section"]
    assert all(len(block["text"]["text"]) <= 3000 for block in sections)
    assert sections[0]["text"]["text"].endswith("…")
    assert "&lt;b&gt;&amp;" in sections[0]["text"]["text"] and "<b>" not in sections[0]["text"]["text"]
    assert "…and 35 more" in sections[1]["text"]["text"]
    assert escape("<!channel> & co") == "&lt;!channel&gt; &amp; co"


def test_coalesced_post_separates_notifications_and_stays_under_50_blocks() -> None:
    items = [notification(group_key=f"g{i}", title=f"Alert {i}") for i in range(SlackChannel.max_batch)]
    body = render(items, slack("http://127.0.0.1:1"))
    assert body["text"].startswith("10 notifications: [FIRING:2] Alert 0 (critical); [FIRING:2] Alert 1")
    assert len(body["blocks"]) <= 50
    assert [block["type"] for block in body["blocks"]].count("divider") == 9
    action_ids = [e["action_id"] for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert len(action_ids) == len(set(action_ids)) == 30


async def test_429_is_retried_after_the_header_and_4xx_is_not() -> None:
    with Receiver() as receiver:
        receiver.then(Reply(429, b"rate_limited", {"Retry-After": "7"}), Reply(404, b"no_service"))
        async with httpx.AsyncClient() as http:
            channel = SlackChannel(slack(receiver.url), http)
            limited = await channel.send(notification(Action.RESOLVE))
            refused = await channel.send(notification(Action.RESOLVE))
    assert (limited.ok, limited.retry, limited.retry_after_s) == (False, True, 7.0)
    assert (refused.ok, refused.retry) == (False, False)
    assert refused.detail == "HTTP 404: no_service"
    assert receiver.requests[0].json()["text"] == "[RESOLVED] High error rate (critical)"


async def test_unreachable_webhook_is_a_retryable_failure() -> None:
    with Receiver() as receiver:
        url = receiver.url
    async with httpx.AsyncClient() as http:
        delivery = await SlackChannel(slack(url), http).send(notification())
    assert (delivery.ok, delivery.retry) == (False, True)
    assert delivery.detail.startswith("ConnectError")


@pytest.mark.parametrize("url", ["hooks.slack.com/services/x", "ftp://hooks.slack.com/x", "https://"])
def test_webhook_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="webhook_url must be an absolute http"):
        SlackConfig.model_validate({"webhook_url": url})
