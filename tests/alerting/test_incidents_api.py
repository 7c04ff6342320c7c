"""The incidents and alerting configuration API through the live server: reads for any token,
writes for admins (viewers 403), bad input refused with a 4xx naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from syncmon.store.schema import audit_log
from tests.alerting.incident_support import (
    T0,
    LiveAlerting,
    add_policy,
    add_user,
    alert,
    bearer,
    firing,
    live_alerting,
)
from tests.conftest import Store


@pytest.fixture
def env(store: Store) -> Iterator[LiveAlerting]:
    with live_alerting(store) as found:
        yield found


async def open_incident(env: LiveAlerting) -> int:
    add_policy(env.harness.engine, [{"timeout_ms": 300_000, "targets": [{"channel_id": 1}]}])
    await env.harness.handle(firing(alert("HighErrorRate", "critical")))
    return 1


async def test_incidents_read_ack_and_resolve(
    env: LiveAlerting, store: Store, admin_token: str, viewer_token: str
) -> None:
    incident_id = await open_incident(env)
    with env.client() as client:
        listed = client.get("/api/v1/incidents", params={"status": "open"}, headers=bearer(viewer_token))
        assert listed.status_code == 200
        [item] = listed.json()["incidents"]
        assert (item["id"], item["status"], item["severity"]) == (incident_id, "triggered", "critical")
        assert item["escalation"]["level"] == 1 and item["policy"]["name"] == "on-call"

        detail = client.get(f"/api/v1/incidents/{incident_id}", headers=bearer(viewer_token)).json()
        notified = [e for e in detail["timeline"] if e["kind"] == "notified"]
        assert [(e["channel_id"], e["action"], e["level"]) for e in notified] == [(1, "trigger", 1)]
        assert notified[0]["outbox_id"] == 1
        assert [a["labels"]["alertname"] for a in detail["group_alerts"]] == ["HighErrorRate"]

        refused = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", headers=bearer(viewer_token))
        assert refused.status_code == 403 and "admin" in refused.json()["error"]
        assert client.post(f"/api/v1/incidents/{incident_id}/acknowledge").status_code == 401

        acked = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", headers=bearer(admin_token))
        assert acked.status_code == 200
        assert acked.json()["status"] == "acknowledged"
        assert acked.json()["acknowledged_by"].startswith("token:")
        again = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", headers=bearer(admin_token))
        assert again.status_code == 200

        done = client.post(f"/api/v1/incidents/{incident_id}/resolve", headers=bearer(admin_token))
        assert done.status_code == 200 and done.json()["status"] == "resolved"
        late = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", headers=bearer(admin_token))
        assert late.status_code == 409 and "already resolved" in late.json()["error"]

        assert client.get("/api/v1/incidents/999", headers=bearer(viewer_token)).status_code == 404
        assert client.get("/api/v1/incidents/abc", headers=bearer(viewer_token)).status_code == 404
        assert client.post("/api/v1/incidents/999/resolve", headers=bearer(admin_token)).status_code == 404
        bad = client.get("/api/v1/incidents", params={"status": "closed"}, headers=bearer(viewer_token))
        assert bad.status_code == 400 and bad.json()["field"] == "status"
    assert [(s.action, s.channel_id) for s in env.harness.sent()] == [
        ("trigger", 1),
        ("acknowledge", 1),
        ("resolve", 1),
    ]
    with store.engine.connect() as conn:
        actions = conn.execute(
            sa.select(audit_log.c.action).where(audit_log.c.action.like("incident.%"))
        ).scalars()
        assert sorted(actions) == ["incident.acknowledge", "incident.acknowledge", "incident.resolve"]


def post(client: httpx.Client, path: str, token: str, body: Any) -> httpx.Response:
    return client.post(path, json=body, headers=bearer(token))


SILENCE = {
    "matchers": ["alertname=HighErrorRate", 'instance=~"web-.*"'],
    "duration_seconds": 3600,
    "comment": "deploy",
}


BAD_SILENCES: list[tuple[dict[str, Any], str]] = [
    ({**SILENCE, "matchers": []}, "matchers"),
    ({**SILENCE, "matchers": ["alertname"]}, "matchers"),
    ({**SILENCE, "matchers": ["instance=~(web"]}, "matchers"),
    ({**SILENCE, "matchers": [{"name": "1x", "value": "a"}]}, "matchers"),
    ({**SILENCE, "comment": ""}, "comment"),
    ({**SILENCE, "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),  # both an end and a duration
    ({**SILENCE, "duration_seconds": 0}, "duration_seconds"),
    ({**SILENCE, "colour": "red"}, "colour"),
    (
        {k: v for k, v in SILENCE.items() if k != "duration_seconds"} | {"ends_at": "2020-01-01T00:00:00Z"},
        "ends_at",
    ),
    (
        {k: v for k, v in SILENCE.items() if k != "duration_seconds"}
        | {"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
        "ends_at",
    ),
    ({**SILENCE, "starts_at": "yesterday"}, "starts_at"),
]


def test_silence_validation(env: LiveAlerting, admin_token: str) -> None:
    with env.client() as client:
        for body, field in BAD_SILENCES:
            answer = post(client, "/api/v1/silences", admin_token, body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["field"].split(".")[0] == field, (body, answer.text)
            assert answer.json()["error"].startswith(field)


def test_silences_create_list_expire(env: LiveAlerting, admin_token: str, viewer_token: str) -> None:
    with env.client() as client:
        assert post(client, "/api/v1/silences", viewer_token, SILENCE).status_code == 403
        created = post(client, "/api/v1/silences", admin_token, {**SILENCE, "expire_on_resolve": True})
        assert created.status_code == 201, created.text
        silence = created.json()
        assert silence["state"] == "active" and silence["expire_on_resolve"]
        assert silence["matchers_text"] == ['alertname="HighErrorRate"', 'instance=~"web-.*"']
        assert silence["starts_at"] == T0 / 1000 and silence["ends_at"] == T0 / 1000 + 3600
        later = post(
            client,
            "/api/v1/silences",
            admin_token,
            {**SILENCE, "starts_at": (T0 + 86_400_000) / 1000},
        ).json()
        assert later["state"] == "pending"

        states = client.get(
            "/api/v1/silences", params={"state": "pending"}, headers=bearer(viewer_token)
        ).json()
        assert [s["id"] for s in states["silences"]] == [later["id"]]
        assert (
            client.get("/api/v1/silences", params={"state": "x"}, headers=bearer(viewer_token)).status_code
            == 400
        )

        expired = client.delete(f"/api/v1/silences/{silence['id']}", headers=bearer(admin_token))
        assert expired.status_code == 200 and expired.json()["state"] == "expired"
        assert expired.json()["expired_reason"].startswith("expired by token:")
        pending_gone = client.post(
            f"/api/v1/silences/{later['id']}/expire", headers=bearer(admin_token)
        ).json()
        assert pending_gone["state"] == "expired" and pending_gone["starts_at"] == pending_gone["ends_at"]
        assert client.get("/api/v1/silences/77", headers=bearer(viewer_token)).status_code == 404
        assert client.delete("/api/v1/silences/77", headers=bearer(admin_token)).status_code == 404


def test_bad_bodies(env: LiveAlerting, admin_token: str) -> None:
    with env.client() as client:
        broken = client.post("/api/v1/silences", content=b"{not json", headers=bearer(admin_token))
        assert broken.status_code == 400 and broken.json()["error"] == "body: not valid JSON"
        listed = client.post("/api/v1/routes", content=b"[1]", headers=bearer(admin_token))
        assert listed.status_code == 400 and "JSON object" in listed.json()["error"]
        huge = client.post("/api/v1/escalation-policies", content=b" " * 70_000, headers=bearer(admin_token))
        assert huge.status_code == 413


LEVELS = [{"timeout_seconds": 300, "targets": [{"channel_id": 1}]}]


def test_escalation_policies(env: LiveAlerting, store: Store, admin_token: str, viewer_token: str) -> None:
    alice = add_user(store.engine, "alice@example.com")
    with env.client() as client:
        assert (
            post(
                client, "/api/v1/escalation-policies", viewer_token, {"name": "x", "levels": LEVELS}
            ).status_code
            == 403
        )
        body = {
            "name": "web on-call",
            "project": store.project.slug,
            "default": True,
            "repeat": 2,
            "levels": [
                *LEVELS,
                {
                    "timeout_seconds": 600,
                    "targets": [{"user_id": alice, "channel_id": 2, "contact": "phone"}],
                },
            ],
        }
        created = post(client, "/api/v1/escalation-policies", admin_token, body)
        assert created.status_code == 201, created.text
        policy = created.json()
        assert policy["project"] == store.project.slug and policy["default"] and policy["repeat"] == 2
        assert policy["levels"][1]["targets"] == [{"user_id": alice, "channel_id": 2, "contact": "phone"}]
        [warning] = policy["warnings"]
        assert warning.startswith("levels.1.targets.0: user alice@example.com has no phone number yet")
        # a second default for the project replaces the first
        second = post(client, "/api/v1/escalation-policies", admin_token, {**body, "name": "night"}).json()
        policies = {
            p["id"]: p
            for p in client.get("/api/v1/escalation-policies", headers=bearer(viewer_token)).json()[
                "policies"
            ]
        }
        assert (policies[policy["id"]]["default"], policies[second["id"]]["default"]) == (False, True)

        updated = client.put(
            f"/api/v1/escalation-policies/{policy['id']}",
            json={"name": "renamed", "levels": LEVELS},
            headers=bearer(admin_token),
        )
        assert (
            updated.status_code == 200
            and updated.json()["name"] == "renamed"
            and updated.json()["project"] is None
        )
        assert (
            client.put("/api/v1/escalation-policies/99", json=body, headers=bearer(admin_token)).status_code
            == 404
        )

        route = post(client, "/api/v1/routes", admin_token, {"name": "db", "policy_id": policy["id"]}).json()
        in_use = client.delete(f"/api/v1/escalation-policies/{policy['id']}", headers=bearer(admin_token))
        assert in_use.status_code == 409 and f"route {route['id']}" in in_use.json()["error"]
        assert (
            client.delete(
                f"/api/v1/escalation-policies/{second['id']}", headers=bearer(admin_token)
            ).status_code
            == 204
        )
        assert (
            client.get(
                f"/api/v1/escalation-policies/{second['id']}", headers=bearer(viewer_token)
            ).status_code
            == 404
        )


def level(*targets: dict[str, Any], timeout: int = 60) -> list[dict[str, Any]]:
    return [{"timeout_seconds": timeout, "targets": list(targets)}]


BAD_POLICIES: list[tuple[dict[str, Any], str]] = [
    ({"name": "x", "levels": []}, "levels"),
    ({"name": "x", "levels": level({"channel_id": 1}, timeout=0)}, "levels.0.timeout_seconds"),
    ({"name": "x", "levels": level()}, "levels.0.targets"),
    ({"name": "x", "levels": level({"channel_id": "one"})}, "levels.0.targets.0.channel_id"),
    ({"name": "x", "levels": level({"channel_id": 1, "contact": "phone"})}, "levels.0.targets.0"),
    ({"name": "x", "levels": level({"user_id": 999, "channel_id": 1})}, "levels.0.targets.0.user_id"),
    ({"name": "x", "repeat": 10, "levels": LEVELS}, "repeat"),
    ({"name": "x", "project": "nope", "levels": LEVELS}, "project"),
    ({"levels": LEVELS}, "name"),
]


def test_policy_validation(env: LiveAlerting, admin_token: str) -> None:
    with env.client() as client:
        for body, field in BAD_POLICIES:
            answer = post(client, "/api/v1/escalation-policies", admin_token, body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["field"] == field, (body, answer.text)


def test_routes_tree_and_test(env: LiveAlerting, store: Store, admin_token: str, viewer_token: str) -> None:
    policy = add_policy(store.engine, [{"timeout_ms": 60_000, "targets": [{"channel_id": 3}]}], default=False)
    with env.client() as client:
        db = post(
            client,
            "/api/v1/routes",
            admin_token,
            {"name": "db", "matchers": ["team=db"], "policy_id": policy},
        )
        assert db.status_code == 201, db.text
        db_id = db.json()["id"]
        crit = post(
            client,
            "/api/v1/routes",
            admin_token,
            {
                "name": "db-critical",
                "parent_id": db_id,
                "matchers": ["severity=critical"],
                "group_wait_seconds": 0,
                "group_by": ["alertname", "instance"],
                "continue": True,
            },
        )
        assert crit.status_code == 201 and crit.json()["continue"] is True
        tree = client.get("/api/v1/routes", headers=bearer(viewer_token)).json()
        assert tree["builtin"] and tree["group_wait_by_severity"]["critical"] == 0
        assert [r["name"] for r in tree["routes"]] == ["db"]
        assert [r["name"] for r in tree["routes"][0]["routes"]] == ["db-critical"]

        tested = post(
            client,
            "/api/v1/routes/test",
            viewer_token,
            {"labels": {"alertname": "ReplicaLag", "team": "db", "severity": "critical", "instance": "db-1"}},
        ).json()["routes"]
        assert [(r["receiver"], r["group_labels"], r["policy"]["id"]) for r in tested] == [
            ("db-critical", {"alertname": "ReplicaLag", "instance": "db-1"}, policy)
        ]
        assert post(client, "/api/v1/routes/test", viewer_token, {"labels": {"a": 1}}).status_code == 400

        self_parent = client.put(
            f"/api/v1/routes/{db_id}",
            json={"name": "db", "parent_id": crit.json()["id"]},
            headers=bearer(admin_token),
        )
        assert self_parent.status_code == 400 and self_parent.json()["field"] == "parent_id"
        has_children = client.delete(f"/api/v1/routes/{db_id}", headers=bearer(admin_token))
        assert has_children.status_code == 409
        assert (
            client.delete(f"/api/v1/routes/{crit.json()['id']}", headers=bearer(admin_token)).status_code
            == 204
        )
        assert client.delete(f"/api/v1/routes/{db_id}", headers=bearer(admin_token)).status_code == 204
        assert client.get(f"/api/v1/routes/{db_id}", headers=bearer(viewer_token)).status_code == 404


BAD_ROUTES: list[tuple[dict[str, Any], str]] = [
    ({"name": "x", "parent_id": 42}, "parent_id"),
    ({"name": "x", "policy_id": 42}, "policy_id"),
    ({"name": "x", "group_interval_seconds": 600, "repeat_interval_seconds": 300}, "repeat_interval_seconds"),
    ({"name": "x", "repeat_interval_seconds": 60}, "repeat_interval_seconds"),  # root's interval is 300
    ({"name": "x", "group_by": ["alert-name"]}, "group_by"),
    ({"name": "x", "group_by": ["a", "a"]}, "group_by"),
    ({"name": "x", "group_wait_seconds": -1}, "group_wait_seconds"),
    ({"name": "x", "matchers": "team=db"}, "matchers"),
    ({"name": "x", "continue": "yes"}, "continue"),
]


def test_route_validation(env: LiveAlerting, admin_token: str) -> None:
    with env.client() as client:
        for body, field in BAD_ROUTES:
            answer = post(client, "/api/v1/routes", admin_token, body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["field"] == field, (body, answer.text)


def test_maintenance_windows(env: LiveAlerting, store: Store, admin_token: str, viewer_token: str) -> None:
    body = {
        "project": store.project.slug,
        "name": "patch night",
        "matchers": ["team=db"],
        "starts_at": "2026-03-22T02:00:00",
        "ends_at": "2026-03-22T04:00:00",
        "weekly": True,
        "timezone": "Europe/Berlin",
    }
    with env.client() as client:
        assert post(client, "/api/v1/maintenance-windows", viewer_token, body).status_code == 403
        created = post(client, "/api/v1/maintenance-windows", admin_token, body)
        assert created.status_code == 201, created.text
        assert created.json()["project"] == store.project.slug and created.json()["weekly"]
        for bad, field in [
            ({**body, "timezone": "Mars/Olympus"}, "timezone"),
            ({**body, "ends_at": "2026-03-30T04:00:00"}, "ends_at"),
            ({**body, "ends_at": "2026-03-22T01:00:00"}, "ends_at"),
            ({**body, "weekly": False, "until": "2026-06-01T00:00:00"}, "until"),
            ({**body, "project": "nope"}, "project"),
            ({k: v for k, v in body.items() if k != "starts_at"}, "starts_at"),
        ]:
            answer = post(client, "/api/v1/maintenance-windows", admin_token, bad)
            assert (answer.status_code, answer.json()["field"]) == (400, field), answer.text
        listed = client.get(
            "/api/v1/maintenance-windows",
            params={"project": store.project.slug},
            headers=bearer(viewer_token),
        )
        assert [w["name"] for w in listed.json()["maintenance_windows"]] == ["patch night"]
        window_id = created.json()["id"]
        renamed = client.put(
            f"/api/v1/maintenance-windows/{window_id}",
            json={**body, "name": "n"},
            headers=bearer(admin_token),
        )
        assert renamed.status_code == 200 and renamed.json()["name"] == "n"
        assert (
            client.delete(f"/api/v1/maintenance-windows/{window_id}", headers=bearer(admin_token)).status_code
            == 204
        )
        assert (
            client.get(f"/api/v1/maintenance-windows/{window_id}", headers=bearer(viewer_token)).status_code
            == 404
        )


def test_inhibit_rules_and_contacts(
    env: LiveAlerting, store: Store, admin_token: str, viewer_token: str
) -> None:
    bob = add_user(store.engine, "bob@example.com")
    with env.client() as client:
        rules = client.get("/api/v1/inhibit-rules", headers=bearer(viewer_token)).json()["inhibit_rules"]
        assert [(r["id"], r["builtin"], r["equal"]) for r in rules] == [(0, True, ["alertname", "project"])]
        body = {
            "source_matchers": ["alertname=NodeDown"],
            "target_matchers": ["alertname!=NodeDown"],
            "equal": ["instance"],
        }
        created = post(client, "/api/v1/inhibit-rules", admin_token, body)
        assert created.status_code == 201, created.text
        assert (
            post(client, "/api/v1/inhibit-rules", admin_token, {**body, "equal": ["in stance"]}).status_code
            == 400
        )
        assert (
            post(client, "/api/v1/inhibit-rules", admin_token, {**body, "source_matchers": []}).status_code
            == 400
        )
        assert client.delete("/api/v1/inhibit-rules/0", headers=bearer(admin_token)).status_code == 404
        assert (
            client.delete(
                f"/api/v1/inhibit-rules/{created.json()['id']}", headers=bearer(admin_token)
            ).status_code
            == 204
        )

        bad = post(client, "/api/v1/user-contacts", admin_token, {"user_id": bob, "value": "0151 123"})
        assert bad.status_code == 400 and bad.json()["field"] == "value"
        nobody = post(
            client, "/api/v1/user-contacts", admin_token, {"user_id": 999, "value": "+4915112345678"}
        )
        assert nobody.status_code == 400 and nobody.json()["field"] == "user_id"
        assert (
            post(
                client, "/api/v1/user-contacts", viewer_token, {"user_id": bob, "value": "+4915112345678"}
            ).status_code
            == 403
        )
        first = post(
            client, "/api/v1/user-contacts", admin_token, {"user_id": bob, "value": "+49 151 1234 5678"}
        )
        assert first.status_code == 201 and first.json()["value"] == "+4915112345678"
        replaced = post(
            client, "/api/v1/user-contacts", admin_token, {"user_id": bob, "value": "+4915199999999"}
        )
        assert replaced.json()["id"] == first.json()["id"]
        listed = client.get(
            "/api/v1/user-contacts", params={"user_id": bob}, headers=bearer(viewer_token)
        ).json()
        assert [c["value"] for c in listed["contacts"]] == ["+4915199999999"]
