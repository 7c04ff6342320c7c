"""Channel configs: validation messages name the field, secrets are masked when shown, and a
masked value sent back in an update keeps the stored secret."""

from __future__ import annotations

import pytest

from syncmon.channels.config import mask
from syncmon.channels.registry import (
    KINDS,
    ChannelConfigError,
    check_recipient,
    parse_config,
    patch_config,
    show_config,
    store_config,
)

KEY = "R0123456789abcdef0123456789ABCDE"
EXAMPLES = {
    "slack": {"webhook_url": "https://hooks.slack.com/services/T0/B0/XyZtoken"},
    "pagerduty": {"routing_key": KEY, "region": "eu"},
    "email": {"host": "smtp.example.com", "from_address": "a@example.com", "username": "u", "password": "pw"},
    "webhook": {"url": "https://example.com/hook", "secret": "abcdefghijklmnopqrstuvwxyz"},
    "sms": {
        "account_sid": "AC" + "0" * 32,
        "auth_token": "tok-1234567890abcdef",
        "from_number": "+14155550100",
    },
    "apprise": {"urls": ["tgram://123456789:ABCdefGhIJKlmnOPqrsTUVwxyz/12345", "json://example.com/x"]},
}
SECRETS = ["XyZtoken", KEY, "pw", "abcdefghijklmnopqrstuvwxyz", "tok-1234567890abcdef", "ABCdefGhIJK"]


def test_every_kind_has_an_example() -> None:
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_secrets_masked_and_kept_on_round_trip(kind: str) -> None:
    stored = store_config(kind, EXAMPLES[kind])
    shown = show_config(kind, stored)
    assert not any(secret in str(shown) for secret in SECRETS), shown
    assert patch_config(kind, stored, shown) == stored  # everything sent back as shown: nothing changes


def test_masks() -> None:
    assert mask("https://hooks.slack.com/services/T0/B0/X") == "https://hooks.slack.com/********"
    assert mask(KEY) == "********BCDE"
    assert mask("short") == "********"


def test_patch_changes_what_is_sent_and_merges_nested_objects() -> None:
    stored = store_config("webhook", {"url": "https://a.example/h", "headers": {"A": "1", "B": "2"}})
    shown = show_config("webhook", stored)
    changed = patch_config(
        "webhook", stored, {"headers": {"A": shown["headers"]["A"], "B": "3"}, "secret": "s"}
    )
    assert changed["headers"] == {"A": "1", "B": "3"} and changed["secret"] == "s"
    assert patch_config("webhook", changed, {"secret": None})["secret"] is None


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("slack", {}, "config.webhook_url: Field required"),
        ("pagerduty", {"routing_key": KEY, "url": "x"}, "config.url: url must be an absolute"),
        (
            "email",
            {"host": "h", "from_address": "a@b.example", "to": ["x"]},
            "config.to: 'x' is not an email",
        ),
        (
            "email",
            {"host": "h", "from_address": "a@b.example", "port": 0},
            "config.port: Input should be greater",
        ),
        ("sms", {}, "config.account_sid: Field required; config.auth_token: Field required"),
        ("apprise", {"urls": ["json://example.com/x", "zz://"]}, "urls[1] is not a URL apprise supports"),
        ("fax", {}, "kind: must be one of apprise, email, pagerduty, slack, sms, webhook"),
    ],
)
def test_validation_messages_name_the_field(kind: str, raw: dict[str, object], message: str) -> None:
    with pytest.raises(ChannelConfigError) as caught:
        parse_config(kind, raw)
    assert message in str(caught.value)


def test_recipients() -> None:
    assert check_recipient("email", "ann@shop.example") == "ann@shop.example"
    assert check_recipient("sms", "+447700900123") == "+447700900123"
    with pytest.raises(ChannelConfigError, match=r"recipient: '0044' is not an E\.164"):
        check_recipient("sms", "0044")
    with pytest.raises(ChannelConfigError, match="a slack channel has a fixed destination"):
        check_recipient("slack", "#ops")
