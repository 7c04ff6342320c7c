"""The alert rule pages against the real server on both engines: create, edit and delete a
rule as a YAML document, refusals that keep the typed text and store nothing, rules from the
rules file read-only, where a rule's alerts go and a test sent there, viewers read-only."""

from __future__ import annotations

import pytest
import yaml

from syncmon.alerting import rule_store
from syncmon.alerting.spec import parse_rule
from syncmon.clock import SystemClock
from syncmon.web.dashboard.rule_pages import STARTER
from tests.channels.support import Receiver
from tests.conftest import Store
from tests.support.alert_fixtures import bearer, make_channel, poll
from tests.support.config_pages import ADMIN, form_error, textarea
from tests.support.dashboard import Dashboard, audit_actions
from tests.support.live import LiveServer

RULE = """name: signup_burst
kind: count
select: {kind: custom, names: [signup]}
window: 5m
threshold: 10
severity: critical
labels: {team: growth}
"""


def api_rules(store: Store) -> dict[str, rule_store.StoredRule]:
    with store.engine.connect() as conn:
        return {r.name: r for r in rule_store.list_rules(conn) if r.source != "default"}


def create(admin: Dashboard, store: Store, definition: str = RULE) -> int:
    made = admin.post("/alerts/rules", {"project": store.project.slug, "definition": definition})
    assert made.status_code == 303, made.text
    location = made.headers["location"]
    assert location.startswith("/alerts/rules/") and location.endswith("?done=created")
    return int(location.split("/")[-1].split("?")[0])


def test_the_starter_document_is_a_valid_rule() -> None:
    parse_rule(yaml.safe_load(STARTER))


def test_create_edit_and_delete_a_rule(admin: Dashboard, store: Store) -> None:
    new = admin.client.get("/alerts/rules/new", params={"project": store.project.slug})
    assert new.status_code == 200 and 'id="rule-form"' in new.text
    assert textarea(new.text, "definition") == STARTER
    assert f'<option value="{store.project.slug}" selected>' in new.text

    rule_id = create(admin, store)
    stored = api_rules(store)["signup_burst"]
    assert stored.id == rule_id and stored.source == "api" and stored.project == store.project.slug
    assert stored.spec.threshold == 10 and stored.spec.labels == {"team": "growth"}
    page = admin.client.get(f"/alerts/rules/{rule_id}?done=created")
    assert page.status_code == 200 and "Rule created" in page.text
    shown = textarea(page.text, "definition")
    assert shown.startswith("name: signup_burst\nkind: count\n")
    assert yaml.safe_load(shown)["threshold"] == 10
    listed = admin.client.get("/alerts/rules").text
    assert f'<a href="/alerts/rules/{rule_id}">signup_burst</a>' in listed and 'id="new-rule"' in listed

    edited = shown.replace("threshold: 10", "threshold: 25").replace("severity: critical", "severity: info")
    saved = admin.post(f"/alerts/rules/{rule_id}", {"definition": edited})
    assert saved.status_code == 303 and saved.headers["location"] == f"/alerts/rules/{rule_id}?done=saved"
    after = api_rules(store)["signup_burst"]
    assert after.spec.threshold == 25 and after.spec.severity.value == "info" and after.id == rule_id
    # a field left out of the document takes its default: the document replaces the definition
    without_labels = "\n".join(
        line for line in edited.splitlines() if not line.startswith(("labels", "  team"))
    )
    assert admin.post(f"/alerts/rules/{rule_id}", {"definition": without_labels}).status_code == 303
    assert api_rules(store)["signup_burst"].spec.labels == {}
    unchanged = admin.post(f"/alerts/rules/{rule_id}", {"definition": without_labels})
    assert unchanged.status_code == 303

    as_json = '{"name": "json_rule", "kind": "heartbeat", "select": {"kind": "custom"}, "absent_for": "1h"}'
    create(admin, store, as_json)
    assert api_rules(store)["json_rule"].spec.absent_for == 3_600_000

    deleted = admin.post(f"/alerts/rules/{rule_id}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/alerts/rules?done=deleted"
    assert "signup_burst" not in api_rules(store)
    assert admin.client.get(f"/alerts/rules/{rule_id}").status_code == 404
    assert admin.post(f"/alerts/rules/{rule_id}/delete").status_code == 404
    actions = [a for a in audit_actions(store.engine) if a[1].startswith("alert_rule.")]
    assert actions[:2] == [
        (ADMIN, "alert_rule.create", str(rule_id)),
        (ADMIN, "alert_rule.update", str(rule_id)),
    ]
    assert actions[2] == (
        ADMIN,
        "alert_rule.update",
        str(rule_id),
    )  # the labels; the unchanged save wrote nothing
    assert [a[1] for a in actions[3:]] == ["alert_rule.create", "alert_rule.delete"]


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ("name: [oops", "definition: not valid YAML (line 1, column"),
        ("- just\n- a list", "definition: expected a mapping of rule fields"),
        ("", "definition: empty"),
        ("name: x\nkind: gauge", "kind: 'gauge' is not one of count, ratio"),
        (RULE.replace("window: 5m", "window: 5 minutes"), "window: '5 minutes' is not a duration like 30s"),
        (RULE + "colour: red\n", "colour: not a field of this rule kind"),
        (RULE + "project: other\n", "project: choose the project above the definition"),
        ("a: &x [1]\nb: *x", "aliases (*name) are not allowed here"),
    ],
)
def test_a_bad_new_rule_is_refused_with_the_text_kept(
    admin: Dashboard, store: Store, definition: str, message: str
) -> None:
    before = api_rules(store)
    refused = admin.post("/alerts/rules", {"project": store.project.slug, "definition": definition})
    assert refused.status_code == 400, refused.text[:500]
    assert message in form_error(refused.text)
    assert textarea(refused.text, "definition") == definition
    assert api_rules(store) == before


def test_a_bad_edit_and_a_missing_project_store_nothing(admin: Dashboard, store: Store) -> None:
    no_project = admin.post("/alerts/rules", {"project": "", "definition": RULE})
    assert no_project.status_code == 400 and "project: required" in form_error(no_project.text)
    unknown = admin.post("/alerts/rules", {"project": "nope", "definition": RULE})
    assert unknown.status_code == 404 and "project 'nope' not found" in form_error(unknown.text)
    assert textarea(unknown.text, "definition") == RULE
    rule_id = create(admin, store)
    before = api_rules(store)["signup_burst"]
    for definition, status, message in (
        (RULE.replace("threshold: 10", "threshold: lots"), 400, "threshold: Input should be a valid number"),
        (RULE + "id: 7\n", 400, "id: cannot be changed"),
        (RULE + "project: x\n", 400, "project: cannot be changed"),
        (RULE + "summary: '{{ value'\n", 400, "summary:"),
    ):
        refused = admin.post(f"/alerts/rules/{rule_id}", {"definition": definition})
        assert refused.status_code == status and message in form_error(refused.text), refused.text[:800]
        assert textarea(refused.text, "definition") == definition
    assert api_rules(store)["signup_burst"] == before
    assert admin.post("/alerts/rules/99999/test").status_code == 404
    assert admin.post("/alerts/rules/abc", {"definition": RULE}).status_code == 404


def test_rules_from_the_rules_file_are_read_only(admin: Dashboard, store: Store) -> None:
    spec = parse_rule(yaml.safe_load(RULE))
    with store.engine.begin() as conn:
        rule = rule_store.create_rule(
            conn, store.project.id, spec, SystemClock().now_ms(), source="file", key="file:signup_burst"
        )
    page = admin.client.get(f"/alerts/rules/{rule.id}")
    assert page.status_code == 200 and 'id="file-rule-note"' in page.text and "rules file" in page.text
    assert 'id="rule-form"' not in page.text and 'id="rule-delete-form"' not in page.text
    assert 'id="rule-definition"' in page.text and 'id="rule-test-form"' in page.text
    refused = admin.post(f"/alerts/rules/{rule.id}", {"definition": RULE.replace("10", "11")})
    assert refused.status_code == 409 and "comes from the rules file" in refused.text
    assert admin.post(f"/alerts/rules/{rule.id}/delete").status_code == 409
    with store.engine.connect() as conn:
        assert rule_store.get_rule(conn, rule.id) == rule


def test_where_alerts_go_and_a_test_sent_there(
    admin: Dashboard, store: Store, live: LiveServer, admin_token: str
) -> None:
    rule_id = create(admin, store)
    page = admin.client.get(f"/alerts/rules/{rule_id}")
    routing = page.text[page.text.index('id="rule-routing"') :]
    assert "<strong>No escalation policy</strong>" in routing
    assert '<span class="key">alertname</span>=<span class="value">signup_burst</span>' in routing
    assert '<span class="key">team</span>=<span class="value">growth</span>' in routing
    nobody = admin.post(f"/alerts/rules/{rule_id}/test")
    assert nobody.status_code == 409 and "reach no channel" in form_error_or_text(nobody.text)
    assert not [a for a in audit_actions(store.engine) if a[1] == "alert_rule.test"]

    with Receiver() as receiver, live.client() as client:
        channel_id = make_channel(
            client, admin_token, store.project.slug, receiver.url + "/hook", "growth hook"
        )
        policy = {
            "name": "growth on-call",
            "project": store.project.slug,
            "default": True,
            "levels": [
                {"timeout_seconds": 300, "targets": [{"channel_id": channel_id}]},
                {
                    "timeout_seconds": 600,
                    "targets": [{"channel_id": channel_id, "user_id": 1, "contact": "phone"}],
                },
            ],
        }
        made = client.post("/api/v1/escalation-policies", json=policy, headers=bearer(admin_token))
        assert made.status_code == 201, made.text
        page = admin.client.get(f"/alerts/rules/{rule_id}")
        routing = page.text[page.text.index('id="rule-routing"') :]
        assert "growth on-call" in routing and "growth hook" in routing
        assert "has no phone number" in routing  # the second level's target cannot be reached

        sent = admin.post(f"/alerts/rules/{rule_id}/test")
        assert sent.status_code == 200 and 'id="test-sent"' in sent.text
        assert f'data-sent-channel="{channel_id}"' in sent.text and "queued (outbox" in sent.text
        (request,) = poll(lambda: list(receiver.requests), lambda found: len(found) == 1)
        body = request.json()
        assert body["groupKey"].startswith(f"syncmon-test:{channel_id}:")
        assert body["syncmon"]["title"] == "Test notification for alert rule signup_burst"
        assert "signup_burst" in body["syncmon"]["text"] and ADMIN in body["syncmon"]["text"]
    actions = audit_actions(store.engine)
    assert (ADMIN, "alert_rule.test", str(rule_id)) in actions
    assert (ADMIN, "channel.test", f"channel:{channel_id}") in actions


def form_error_or_text(page: str) -> str:
    return form_error(page) if 'id="form-error"' in page else page


def test_viewers_see_rules_without_forms_and_are_refused(
    admin: Dashboard, viewer: Dashboard, store: Store
) -> None:
    rule_id = create(admin, store)
    before = api_rules(store)
    listed = viewer.client.get("/alerts/rules")
    assert listed.status_code == 200 and "signup_burst" in listed.text and 'id="new-rule"' not in listed.text
    page = viewer.client.get(f"/alerts/rules/{rule_id}")
    assert page.status_code == 200 and 'id="rule-definition"' in page.text and "threshold: 10" in page.text
    assert '<form method="post" action="/alerts/rules' not in page.text
    assert 'id="rule-test-form"' not in page.text and 'id="rule-delete-form"' not in page.text
    new = viewer.client.get("/alerts/rules/new")
    assert new.status_code == 200 and 'id="rule-form"' not in new.text and "rule-definition" not in new.text
    for path, data in (
        ("/alerts/rules", {"project": store.project.slug, "definition": RULE.replace("signup_burst", "x")}),
        (f"/alerts/rules/{rule_id}", {"definition": RULE.replace("10", "99")}),
        (f"/alerts/rules/{rule_id}/delete", {}),
        (f"/alerts/rules/{rule_id}/test", {}),
        (f"/alerts/rules/{rule_id}/enabled", {"enabled": "false"}),
    ):
        assert viewer.post(path, data).status_code == 403, path
    assert api_rules(store) == before
    assert not [a for a in audit_actions(store.engine) if a[0] != ADMIN and a[1].startswith("alert_rule.")]
