"""apprise channel: a json:// URL posting to a loopback receiver, failures, URL validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from syncmon.channels.apprise_channel import AppriseChannel, AppriseConfig
from syncmon.channels.base import Action
from tests.channels.support import Receiver, Reply, notification


def json_url(receiver: Receiver) -> str:
    return receiver.url.replace("http://", "json://") + "/notify"


async def test_json_service_receives_title_body_and_type() -> None:
    with Receiver() as receiver:
        channel = AppriseChannel(AppriseConfig.model_validate({"urls": [json_url(receiver)]}))
        delivery = await channel.send(notification())
        resolved = await channel.send(notification(Action.RESOLVE))
    assert delivery.ok and resolved.ok
    first, second = (request.json() for request in receiver.requests)
    assert receiver.requests[0].path == "/notify"
    assert first["title"] == "[FIRING:2] High error rate (critical)"
    assert first["message"].startswith(
        "Error rate above 5% for 5 minutes\n\nAlerts:\n- HighErrorRate [firing]"
    )
    assert "Acknowledge: http://monitor.example/ack/abc" in first["message"]
    assert (first["type"], second["type"]) == ("failure", "success")


async def test_failure_is_retryable_with_the_reason() -> None:
    with Receiver(Reply(500, b"down")) as receiver:
        channel = AppriseChannel(AppriseConfig.model_validate({"urls": [json_url(receiver)]}))
        delivery = await channel.send(notification())
    assert (delivery.ok, delivery.retry) == (False, True)
    assert "500" in delivery.detail


def test_unknown_urls_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"urls\[0\] is not a URL apprise supports"):
        AppriseConfig.model_validate({"urls": ["nosuchservice://x"]})
    with pytest.raises(ValidationError, match="at least 1"):
        AppriseConfig.model_validate({"urls": []})
