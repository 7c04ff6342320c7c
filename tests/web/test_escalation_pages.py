"""The escalation policy pages against the real server on both engines: create a policy level
by level (the form grows without JavaScript), edit and delete it; refusals with the API's
messages and nothing stored; warnings for targets that cannot be paged; viewers read-only."""

from __future__ import annotations

from typing import Any

import pytest

from syncmon.alerting import policy_admin
from tests.conftest import Store
from tests.support.alert_fixtures import bearer, make_channel
from tests.support.config_pages import ADMIN, form_error
from tests.support.dashboard import Dashboard, audit_actions
from tests.support.live import LiveServer


@pytest.fixture
def channels(live: LiveServer, store: Store, admin_token: str) -> tuple[int, int]:
    with live.client() as client:
        first = make_channel(client, admin_token, store.project.slug, "http://127.0.0.1:9/a", "first hook")
        second = make_channel(client, admin_token, store.project.slug, "http://127.0.0.1:9/b", "second hook")
    return first, second


def policies(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return policy_admin.list_policies(conn)


def two_levels(first: int, second: int, **changes: str) -> dict[str, str]:
    form = {
        "name": "web on-call",
        "project": "",
        "repeat": "1",
        "default": "on",
        "level-0-timeout": "300",
        "level-0-target-0-channel": str(first),
        "level-0-target-0-user": "",
        "level-0-target-1-channel": str(second),
        "level-0-target-1-user": "",
        "level-1-timeout": "600",
        "level-1-target-0-channel": str(second),
        "level-1-target-0-user": "1:email",
    }
    form.update(changes)
    return form


def test_create_grow_edit_and_delete_a_policy(
    admin: Dashboard, store: Store, channels: tuple[int, int]
) -> None:
    first, second = channels
    new = admin.client.get("/alerts/escalation/new")
    assert new.status_code == 200 and 'id="policy-form"' in new.text
    assert (
        'name="level-0-timeout" min="1" step="1" value="300"' in new.text and 'data-level="1"' not in new.text
    )
    grown = admin.post(
        "/alerts/escalation", {"name": "web on-call", "level-0-timeout": "300", "add": "level"}
    )
    assert grown.status_code == 200 and 'data-level="1"' in grown.text and policies(store) == []
    assert 'value="web on-call"' in grown.text  # what was typed stays
    more = admin.post("/alerts/escalation", {"level-0-timeout": "300", "add": "target-0"})
    assert 'name="level-0-target-1-channel"' in more.text and policies(store) == []

    made = admin.post("/alerts/escalation", two_levels(first, second))
    assert made.status_code == 303 and made.headers["location"].startswith("/alerts/escalation?done=created")
    (policy,) = policies(store)
    assert policy["name"] == "web on-call" and policy["default"] and policy["repeat"] == 1
    assert policy["project"] is None
    assert policy["levels"] == [
        {"timeout_seconds": 300, "targets": [{"channel_id": first}, {"channel_id": second}]},
        {"timeout_seconds": 600, "targets": [{"user_id": 1, "channel_id": second, "contact": "email"}]},
    ]
    listed = admin.client.get("/alerts/escalation?done=created").text
    assert "Escalation policy created." in listed and f'id="policy-{policy["id"]}"' in listed
    assert "admin@localhost (email) via second hook" in listed

    page = admin.client.get(f"/alerts/escalation/{policy['id']}")
    assert page.status_code == 200 and 'value="web on-call"' in page.text
    assert f'<option value="{second}" selected>second hook (webhook)</option>' in page.text
    assert '<option value="1:email" selected>' in page.text

    # edit: drop the second level (its fields emptied), one project, no repeat
    edited = two_levels(
        first, second, project=store.project.slug, repeat="0", **{"level-0-target-1-channel": ""}
    )
    for key in ("level-1-timeout", "level-1-target-0-channel", "level-1-target-0-user"):
        edited[key] = ""
    del edited["default"]
    saved = admin.post(f"/alerts/escalation/{policy['id']}", edited)
    assert saved.status_code == 303, saved.text[:2000]
    (policy,) = policies(store)
    assert policy["project"] == store.project.slug and not policy["default"] and policy["repeat"] == 0
    assert policy["levels"] == [{"timeout_seconds": 300, "targets": [{"channel_id": first}]}]

    deleted = admin.post(f"/alerts/escalation/{policy['id']}/delete")
    assert deleted.status_code == 303 and policies(store) == []
    assert admin.post(f"/alerts/escalation/{policy['id']}/delete").status_code == 404
    assert admin.client.get(f"/alerts/escalation/{policy['id']}").status_code == 404
    target = f"escalation_policy:{policy['id']}"
    assert [a for a in audit_actions(store.engine) if a[1].startswith("escalation_policy.")] == [
        (ADMIN, "escalation_policy.create", target),
        (ADMIN, "escalation_policy.update", target),
        (ADMIN, "escalation_policy.delete", target),
    ]


def test_targets_that_cannot_be_paged_are_named_after_saving(
    admin: Dashboard, store: Store, channels: tuple[int, int]
) -> None:
    first, _ = channels
    form = {"name": "phones", "level-0-timeout": "60", "level-0-target-0-channel": str(first)}
    form["level-0-target-0-user"] = "1:phone"
    saved = admin.post("/alerts/escalation", form)
    assert saved.status_code == 200 and 'id="policy-warnings"' in saved.text
    assert "level 1, target 1: user admin@localhost has no phone number yet" in saved.text
    assert [p["name"] for p in policies(store)] == ["phones"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "name: String should have at least 1 character"),
        ({"level-0-timeout": "0"}, "level 1, timeout_seconds: Input should be greater than or equal to 1"),
        ({"level-0-timeout": "soon"}, "level 1, timeout_seconds: Input should be a valid integer"),
        ({"level-1-timeout": ""}, "level 2, timeout_seconds: Field required"),
        ({"level-0-target-0-channel": "", "level-0-target-1-channel": ""}, "level 1, targets: List should"),
        ({"level-1-target-0-channel": ""}, "level 2, target 1, channel_id: Input should be a valid integer"),
        ({"level-1-target-0-user": "999:email"}, "level 2, target 1, user_id: there is no user 999"),
        (
            {"level-1-target-0-user": "1:fax"},
            "level 2, target 1, contact: Input should be 'email' or 'phone'",
        ),
        ({"repeat": "12"}, "repeat: Input should be less than or equal to 9"),
        ({"project": "nope"}, "project: there is no project 'nope'"),
    ],
)
def test_bad_policies_are_refused_and_nothing_stored(
    admin: Dashboard, store: Store, channels: tuple[int, int], changes: dict[str, str], message: str
) -> None:
    first, second = channels
    refused = admin.post("/alerts/escalation", two_levels(first, second, **changes))
    assert refused.status_code == 400, refused.text[:1000]
    assert message in form_error(refused.text)
    assert policies(store) == []
    assert not [a for a in audit_actions(store.engine) if a[1].startswith("escalation_policy.")]


def test_no_levels_and_a_policy_in_use(
    admin: Dashboard, store: Store, channels: tuple[int, int], live: LiveServer, admin_token: str
) -> None:
    empty = admin.post("/alerts/escalation", {"name": "nobody", "level-0-timeout": ""})
    assert empty.status_code == 400 and "levels: List should have at least 1 item" in form_error(empty.text)
    assert admin.post("/alerts/escalation", two_levels(*channels)).status_code == 303
    (policy,) = policies(store)
    with live.client() as client:
        route = {"name": "web", "matchers": ["team=web"], "policy_id": policy["id"]}
        assert client.post("/api/v1/routes", json=route, headers=bearer(admin_token)).status_code == 201
    in_use = admin.post(f"/alerts/escalation/{policy['id']}/delete")
    assert in_use.status_code == 409 and "is used by route" in in_use.text
    bad_edit = admin.post(f"/alerts/escalation/{policy['id']}", two_levels(*channels, name=""))
    assert bad_edit.status_code == 400 and policies(store) == [policy]


def test_viewers_see_policies_without_forms_and_are_refused(
    admin: Dashboard, viewer: Dashboard, store: Store, channels: tuple[int, int]
) -> None:
    assert admin.post("/alerts/escalation", two_levels(*channels)).status_code == 303
    (policy,) = policies(store)
    listed = viewer.client.get("/alerts/escalation")
    assert listed.status_code == 200 and "web on-call" in listed.text
    assert 'method="post"' not in listed.text.split("<main", 1)[1] and 'id="new-policy"' not in listed.text
    for path in ("/alerts/escalation/new", f"/alerts/escalation/{policy['id']}"):
        page = viewer.client.get(path)
        assert page.status_code == 200 and 'id="policy-form"' not in page.text, path
    for path, data in (
        ("/alerts/escalation", two_levels(*channels, name="viewer's")),
        (f"/alerts/escalation/{policy['id']}", two_levels(*channels, name="renamed")),
        (f"/alerts/escalation/{policy['id']}/delete", {}),
    ):
        assert viewer.post(path, data).status_code == 403, path
    assert policies(store) == [policy]
