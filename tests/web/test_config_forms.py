"""The pure parts of the configuration forms: channel settings drawn from the registry's
models (and read back with secrets kept), policy rows read, grown and turned into the API's
body, and rule documents read as YAML or JSON."""

from __future__ import annotations

import pytest
import yaml

from syncmon.channels.registry import KINDS, store_config
from syncmon.http_errors import ClientError
from syncmon.web.alerting_payloads import PolicyIn, validate_model
from syncmon.web.dashboard import channel_forms, policy_forms
from syncmon.web.rule_changes import changed_fields, document_from_text, document_text, validated

STORED = store_config(
    "webhook",
    {"url": "https://hooks.example.com/t0k3n", "secret": "s3cret", "headers": {"Authorization": "Bearer x"}},
)


def test_every_kind_has_a_field_for_every_setting() -> None:
    for kind, entry in KINDS.items():
        fields = channel_forms.kind_fields(kind)
        assert [f.name for f in fields] == list(entry.config.model_fields), kind
    widgets = {f.name: f.widget for f in channel_forms.kind_fields("webhook")}
    assert widgets == {
        "url": "secret",
        "secret": "secret",
        "headers": "secret_map",
        "max_alerts": "number",
        "timeout_seconds": "number",
    }
    region = next(f for f in channel_forms.kind_fields("pagerduty") if f.name == "region")
    assert region.widget == "choice" and region.choices == ("us", "eu") and region.default == "us"
    assert next(f for f in channel_forms.kind_fields("apprise") if f.name == "urls").widget == "secret_lines"
    with pytest.raises(ClientError, match="kind: must be one of"):
        channel_forms.kind_fields("pigeon")


def test_shown_values_never_hold_secrets() -> None:
    shown = channel_forms.shown_values("webhook", STORED)
    assert shown == {"config.max_alerts": "0", "config.timeout_seconds": "10.0"}
    assert channel_forms.stored_secrets("webhook", STORED) == {"url", "secret", "headers"}
    email = store_config(
        "email", {"host": "h", "from_address": "a@example.com", "to": ["b@example.com", "c@example.com"]}
    )
    assert channel_forms.shown_values("email", email)["config.to"] == "b@example.com\nc@example.com"


def test_blank_secrets_keep_the_stored_values_unless_cleared() -> None:
    form = {"config.url": "", "config.secret": "  ", "config.headers": "", "config.timeout_seconds": "3"}
    config = channel_forms.config_from_form("webhook", form, STORED)
    assert config == {
        "url": STORED["url"],
        "secret": "s3cret",
        "headers": {"Authorization": "Bearer x"},
        "timeout_seconds": "3",
    }
    cleared = channel_forms.config_from_form("webhook", {**form, "clear.secret": "on"}, STORED)
    assert "secret" not in cleared
    typed = channel_forms.config_from_form(
        "webhook", {**form, "config.headers": "X-Team: web\n\nAuthorization: Bearer y"}, STORED
    )
    assert typed["headers"] == {"X-Team": "web", "Authorization": "Bearer y"}
    assert channel_forms.config_from_form("webhook", form) == {"timeout_seconds": "3"}  # a new channel
    with pytest.raises(ClientError, match="write one header a line"):
        channel_forms.config_from_form("webhook", {"config.headers": "X-Team web"})
    assert store_config("webhook", config)["timeout_seconds"] == 3.0  # the model does the checking


def test_policy_rows_from_a_form_in_order_and_grown() -> None:
    form = {
        "level-1-timeout": "600",
        "level-1-target-0-channel": "2",
        "level-0-timeout": "300",
        "level-0-target-1-channel": "3",
        "level-0-target-1-user": "7:phone",
        "level-0-target-0-channel": "1",
        "level-99-timeout": "1",  # beyond the limit: ignored
    }
    rows = policy_forms.rows_from_form(form)
    assert [r.timeout for r in rows] == ["300", "600"]
    assert [(t.channel, t.user) for t in rows[0].targets] == [("1", ""), ("3", "7:phone")]
    grown = policy_forms.grown(rows, "target-1")
    assert len(grown[1].targets) == 2 and grown[1].targets[1].empty
    assert len(rows[1].targets) == 1  # the rows given are left as they were
    three = policy_forms.grown(grown, "level")
    assert len(three) == 3 and three[2] == policy_forms.LevelRow()
    assert policy_forms.grown(three, "target-9") == three  # no such level: unchanged


def test_policy_payload_is_what_the_api_checks() -> None:
    rows = [
        policy_forms.LevelRow("300", [policy_forms.TargetRow("1"), policy_forms.TargetRow()]),
        policy_forms.LevelRow(),
        policy_forms.LevelRow("600", [policy_forms.TargetRow("2", "7:phone")]),
    ]
    payload = policy_forms.policy_payload({"name": " web ", "repeat": "2", "default": "on"}, rows)
    assert payload == {
        "name": "web",
        "project": None,
        "default": True,
        "repeat": 2,
        "levels": [
            {"timeout_seconds": 300, "targets": [{"channel_id": 1}]},
            {"timeout_seconds": 600, "targets": [{"channel_id": 2, "user_id": 7, "contact": "phone"}]},
        ],
    }
    body = validate_model(payload, PolicyIn)
    assert [level.timeout_seconds for level in body.levels] == [300, 600]
    rebuilt = policy_forms.rows_from_policy(
        {
            "levels": [
                {"timeout_seconds": 600, "targets": [{"channel_id": 2, "user_id": 7, "contact": "phone"}]}
            ]
        }
    )
    assert rebuilt == [policy_forms.LevelRow("600", [policy_forms.TargetRow("2", "7:phone")])]
    with pytest.raises(ClientError) as refused:
        validate_model(policy_forms.policy_payload({"name": "x"}, [policy_forms.LevelRow("0")]), PolicyIn)
    assert (
        policy_forms.readable(refused.value.message)
        == "level 1, timeout_seconds: Input should be greater than or equal to 1"
    )


def test_readable_numbers_levels_and_targets_from_one() -> None:
    assert policy_forms.readable("levels.0.targets.1.user_id: no") == "level 1, target 2, user_id: no"
    assert policy_forms.readable("levels.2.targets: too few") == "level 3, targets: too few"
    assert policy_forms.readable("name: required") == "name: required"


def test_rule_documents_round_trip_as_yaml() -> None:
    spec = validated(
        document_from_text("name: x\nkind: heartbeat\nselect: {kind: custom}\nabsent_for: 90m\n")
    )
    text = document_text(spec)
    assert text.startswith("name: x\nkind: heartbeat\n") and "absent_for: 90m" in text
    assert validated(yaml.safe_load(text)) == spec
    other = validated({**yaml.safe_load(text), "absent_for": "2h", "labels": {"team": "ops"}})
    assert changed_fields(spec, other) == ["absent_for", "labels"]
    with pytest.raises(ClientError, match="aliases"):
        document_from_text("a: &x 1\nb: *x")
