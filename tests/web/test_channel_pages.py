"""The channel pages against the real server on both engines: create a channel of each kind
from the registry, edit it with its secrets kept when left blank, delete it; refusals with
the API's messages and nothing stored; secrets never in any page after they were sent;
viewers read-only."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from syncmon.channels import channel_store
from syncmon.channels.registry import KINDS
from syncmon.store.schema import audit_log
from tests.conftest import Store
from tests.support.config_pages import ADMIN, form_error
from tests.support.dashboard import Dashboard, audit_actions

HOOK_URL = "http://127.0.0.1:9/hook?token=url-token-Q7X2"
HMAC = "hmac-secret-K9P4"
BEARER = "Bearer header-token-Z3M8"
SECRETS = ("url-token-Q7X2", "hmac-secret-K9P4", "header-token-Z3M8")


def stored(store: Store) -> dict[str, channel_store.ChannelRow]:
    with store.engine.connect() as conn:
        return {c.name: c for c in channel_store.list_channels(conn)}


def webhook_form(**changes: str) -> dict[str, str]:
    form = {
        "kind": "webhook",
        "name": "ops hook",
        "project": "",
        "enabled": "on",
        "config.url": HOOK_URL,
        "config.secret": HMAC,
        "config.headers": f"Authorization: {BEARER}",
        "config.timeout_seconds": "5",
    }
    form.update(changes)
    return form


def create(admin: Dashboard, form: dict[str, str]) -> int:
    made = admin.post("/alerts/channels", form)
    assert made.status_code == 303, made.text[made.text.find("<main") :][:1500]
    return int(made.headers["location"].split("/")[-1].split("?")[0])


def no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def test_create_edit_and_delete_a_webhook_channel(admin: Dashboard, store: Store) -> None:
    chooser = admin.client.get("/alerts/channels/new")
    assert chooser.status_code == 200 and 'id="channel-kind-form"' in chooser.text
    for kind in KINDS:
        assert f'<option value="{kind}">{kind}</option>' in chooser.text
    form_page = admin.client.get("/alerts/channels/new", params={"kind": "webhook"})
    assert form_page.status_code == 200
    for name in (
        "config.url",
        "config.secret",
        "config.headers",
        "config.max_alerts",
        "config.timeout_seconds",
    ):
        assert f'name="{name}"' in form_page.text

    channel_id = create(admin, webhook_form(rate_limit_per_minute="30", project=store.project.slug))
    channel = stored(store)["ops hook"]
    assert channel.id == channel_id and channel.kind == "webhook" and channel.enabled
    assert channel.config["url"] == HOOK_URL and channel.config["secret"] == HMAC
    assert channel.config["headers"] == {"Authorization": BEARER} and channel.config["timeout_seconds"] == 5.0
    assert channel.project_id == store.project.id and channel.rate_limit_per_minute == 30

    page = admin.client.get(f"/alerts/channels/{channel_id}?done=created")
    assert page.status_code == 200 and "Channel created." in page.text
    no_secret_in(page.text)
    no_secret_in(admin.client.get("/alerts/channels").text)
    assert (
        'name="config.url" autocomplete="new-password" value="" placeholder="leave blank to keep"'
        in page.text
    )
    assert 'data-secret="secret">A value is stored; leave blank to keep it.' in page.text
    assert (
        'name="config.timeout_seconds" value="5.0"' in page.text
        and 'name="name" maxlength="200" required value="ops hook"' in page.text
    )

    # blank secrets keep the stored ones; other fields change
    saved = admin.post(
        f"/alerts/channels/{channel_id}",
        {
            "name": "ops webhook",
            "project": "",
            "enabled": "on",
            "config.timeout_seconds": "7",
            "config.max_alerts": "3",
        },
    )
    assert (
        saved.status_code == 303 and saved.headers["location"] == f"/alerts/channels/{channel_id}?done=saved"
    )
    channel = stored(store)["ops webhook"]
    assert channel.config == {
        "url": HOOK_URL,
        "secret": HMAC,
        "headers": {"Authorization": BEARER},
        "max_alerts": 3,
        "timeout_seconds": 7.0,
    }
    assert channel.project_id is None and channel.rate_limit_per_minute is None
    # nothing changed: no write, no audit row
    same = admin.post(
        f"/alerts/channels/{channel_id}",
        {"name": "ops webhook", "enabled": "on", "config.timeout_seconds": "7", "config.max_alerts": "3"},
    )
    assert same.headers["location"] == f"/alerts/channels/{channel_id}?done=unchanged"
    # a typed secret replaces the stored one; the clear box removes an optional one
    replaced = admin.post(
        f"/alerts/channels/{channel_id}",
        {
            "name": "ops webhook",
            "config.url": "http://127.0.0.1:9/other",
            "clear.secret": "on",
            "clear.headers": "on",
        },
    )
    assert replaced.status_code == 303
    channel = stored(store)["ops webhook"]
    assert channel.config["url"] == "http://127.0.0.1:9/other" and channel.config["secret"] is None
    assert channel.config["headers"] == {} and not channel.enabled

    deleted = admin.post(f"/alerts/channels/{channel_id}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/alerts/channels?done=deleted"
    assert stored(store) == {}
    assert admin.client.get(f"/alerts/channels/{channel_id}").status_code == 404
    assert admin.post(f"/alerts/channels/{channel_id}/delete").status_code == 404
    actions = [(a[0], a[1], a[2]) for a in audit_actions(store.engine) if a[1].startswith("channel.")]
    target = f"channel:{channel_id}"
    assert actions == [
        (ADMIN, "channel.create", target),
        (ADMIN, "channel.update", target),
        (ADMIN, "channel.update", target),
        (ADMIN, "channel.delete", target),
    ]
    for row in audit_details(store):
        no_secret_in(str(row))


def audit_details(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return [row.details for row in conn.execute(sa.select(audit_log))]


FORMS: dict[str, dict[str, str]] = {
    "slack": {
        "config.webhook_url": "https://hooks.slack.com/services/T0/B0/slack-secret",
        "config.channel": "#ops",
    },
    "pagerduty": {"config.routing_key": "0123456789abcdef0123456789abcdef", "config.region": "eu"},
    "email": {
        "config.host": "127.0.0.1",
        "config.port": "2525",
        "config.security": "none",
        "config.from_address": "alerts@example.com",
        "config.to": "a@example.com\n\nb@example.com\n",
        "config.username": "alerts",
        "config.password": "smtp-password-secret",
    },
    "webhook": {"config.url": "https://hooks.example.com/x"},
    "sms": {
        "config.account_sid": "AC" + "0" * 32,
        "config.auth_token": "twilio-token-secret",
        "config.from_number": "+14155550100",
        "config.to": "+14155550101",
    },
    "apprise": {"config.urls": "json://127.0.0.1:9/apprise-secret\n"},
}


SECRET_FIELDS = {
    "config.webhook_url",
    "config.routing_key",
    "config.password",
    "config.url",
    "config.auth_token",
    "config.urls",
}


def test_every_kind_of_the_registry_can_be_created(admin: Dashboard, store: Store) -> None:
    assert set(FORMS) == set(KINDS)
    for kind, fields in FORMS.items():
        page = admin.client.get("/alerts/channels/new", params={"kind": kind})
        assert page.status_code == 200 and f'<input type="hidden" name="kind" value="{kind}">' in page.text
        channel_id = create(admin, {"kind": kind, "name": f"{kind} channel", "enabled": "on", **fields})
        edit = admin.client.get(f"/alerts/channels/{channel_id}")
        for name, value in fields.items():
            if name in SECRET_FIELDS:
                assert value.strip() not in edit.text, (kind, value)
                assert "A value is stored; leave blank to keep it." in edit.text
    channels = stored(store)
    assert channels["email channel"].config["to"] == ["a@example.com", "b@example.com"]
    assert channels["email channel"].config["port"] == 2525
    assert channels["pagerduty channel"].config["region"] == "eu"
    assert channels["apprise channel"].config["urls"] == ["json://127.0.0.1:9/apprise-secret"]


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"config.url": ""}, 400, "config.url: Field required"),
        (
            {"config.url": "ftp://example.com/x"},
            400,
            "config.url: url must be an absolute http:// or https:// URL",
        ),
        ({"config.timeout_seconds": "soon"}, 400, "config.timeout_seconds: Input should be a valid number"),
        ({"config.headers": "no colon here"}, 400, "config.headers: write one header a line, as Name: value"),
        ({"config.headers": "Host: example.com"}, 400, "header 'Host' is set by the server"),
        ({"rate_limit_per_minute": "lots"}, 400, "rate_limit_per_minute: a whole number from 1 to"),
        ({"rate_limit_per_minute": "0"}, 400, "rate_limit_per_minute: a whole number from 1 to"),
        ({"name": "  "}, 400, "name: a non-empty string"),
        ({"kind": "carrier-pigeon"}, 400, "kind: must be one of"),
        ({"project": "nope"}, 400, "project: 'nope' not found"),
        ({"fallback_channel_id": "4242"}, 400, "fallback_channel_id: channel 4242 does not exist"),
    ],
)
def test_bad_channel_input_is_refused_and_nothing_stored(
    admin: Dashboard, store: Store, changes: dict[str, str], status: int, message: str
) -> None:
    refused = admin.post("/alerts/channels", webhook_form(**changes))
    assert refused.status_code == status, refused.text[:1000]
    assert message in form_error(refused.text)
    no_secret_in(refused.text)  # typed secrets are not sent back either
    if changes.get("name") is None and "kind" not in changes:
        assert 'value="ops hook"' in refused.text  # the typed name is kept
    assert stored(store) == {}
    assert not [a for a in audit_actions(store.engine) if a[1].startswith("channel.")]


def test_bad_edits_and_conflicts_change_nothing(admin: Dashboard, store: Store) -> None:
    first = create(admin, webhook_form())
    second = create(admin, webhook_form(name="backup hook", fallback_channel_id=str(first)))
    before = stored(store)
    for changes, status, message in (
        (
            {"config.timeout_seconds": "500"},
            400,
            "config.timeout_seconds: Input should be less than or equal to 120",
        ),
        (
            {"fallback_channel_id": str(first)},
            409,
            "fallback_channel_id: a channel cannot be its own fallback",
        ),
        ({"name": ""}, 400, "name: a non-empty string"),
    ):
        form = {"name": "ops hook", "enabled": "on", **changes}
        refused = admin.post(f"/alerts/channels/{first}", form)
        assert refused.status_code == status and message in form_error(refused.text), refused.text[:800]
        no_secret_in(refused.text)
    loop = admin.post(
        f"/alerts/channels/{first}", {"name": "ops hook", "enabled": "on", "fallback_channel_id": str(second)}
    )
    assert loop.status_code == 409 and "falls back to this channel" in form_error(loop.text)
    in_use = admin.post(f"/alerts/channels/{first}/delete")
    assert (
        in_use.status_code == 409 and f"channel {first} is the fallback of channel(s) {second}" in in_use.text
    )
    assert stored(store) == before
    assert admin.client.get("/alerts/channels/new", params={"kind": "pigeon"}).status_code == 400
    assert admin.client.get("/alerts/channels/abc").status_code == 404


def test_viewers_see_channels_without_forms_and_are_refused(
    admin: Dashboard, viewer: Dashboard, store: Store
) -> None:
    channel_id = create(admin, webhook_form())
    before = stored(store)
    listed = viewer.client.get("/alerts/channels")
    assert listed.status_code == 200 and "ops hook" in listed.text
    assert 'id="new-channel"' not in listed.text and "Send test" not in listed.text
    page = viewer.client.get(f"/alerts/channels/{channel_id}")
    assert page.status_code == 200 and 'id="channel-facts"' in page.text and "set (hidden)" in page.text
    assert 'method="post"' not in page.text.split("<main", 1)[1]
    no_secret_in(page.text)
    no_secret_in(listed.text)
    assert 'id="channel-kind-form"' not in viewer.client.get("/alerts/channels/new").text
    for path, data in (
        ("/alerts/channels", webhook_form(name="viewer hook")),
        (f"/alerts/channels/{channel_id}", {"name": "renamed", "enabled": "on"}),
        (f"/alerts/channels/{channel_id}/delete", {}),
        (f"/alerts/channels/{channel_id}/test", {}),
    ):
        assert viewer.post(path, data).status_code == 403, path
    assert stored(store) == before
