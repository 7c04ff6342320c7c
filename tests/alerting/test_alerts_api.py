"""The alerting API against the real server on both engines: rules (create, list, get, patch,
delete), bad input, roles, and alerts fired by events sent to the ingest endpoints.

The engine evaluates each committed batch as it arrives, so after an ingest request the
alert appears within the bounded polls below (no tick is waited for).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from syncmon.alerting.defaults import DEFAULT_RULES
from syncmon.alerting.provisioning import apply_document
from tests.conftest import Store
from tests.support.live import LiveServer

CHECKOUT = {
    "project": "syncscript",
    "name": "checkout_failures",
    "kind": "count",
    "select": {"kind": "custom", "names": ["checkout_failed"]},
    "window": "1m",
    "threshold": 2,
    "severity": "critical",
    "labels": {"team": "payments"},
    "summary": "{{ value | number }} failed checkouts in {{ rule.window }}",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def poll(fetch: Any, until: Any, attempts: int = 200) -> Any:
    for _ in range(attempts):
        found = fetch()
        if until(found):
            return found
        time.sleep(0.02)
    raise AssertionError(f"condition not met; last: {found}")


def test_rules_crud(live: LiveServer, admin_token: str, viewer_token: str) -> None:
    with live.client(headers=bearer(admin_token)) as client:
        created = client.post("/api/v1/alerts/rules", json=CHECKOUT)
        assert created.status_code == 201, created.text
        rule = created.json()
        assert (rule["project"], rule["name"], rule["source"], rule["enabled"]) == (
            "syncscript",
            "checkout_failures",
            "api",
            True,
        )
        definition = rule["definition"]
        assert (definition["window"], definition["for"], definition["threshold"]) == ("1m", "0s", 2)
        rule_id = rule["id"]

        listed = client.get("/api/v1/alerts/rules", params={"project": "syncscript"}).json()["rules"]
        assert {r["name"] for r in listed} == {raw["name"] for raw in DEFAULT_RULES} | {"checkout_failures"}
        only = client.get("/api/v1/alerts/rules", params={"kind": "count", "source": "api"}).json()["rules"]
        assert [r["id"] for r in only] == [rule_id]

        patched = client.patch(f"/api/v1/alerts/rules/{rule_id}", json={"threshold": 5, "for": "2m"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["definition"]["threshold"] == 5
        assert patched.json()["definition"]["for"] == "2m"
        assert patched.json()["definition"]["labels"] == {"team": "payments"}  # untouched fields stay

        with live.client(headers=bearer(viewer_token)) as viewer:
            assert viewer.get(f"/api/v1/alerts/rules/{rule_id}").json()["definition"]["threshold"] == 5
            for method, path, body in (
                ("POST", "/api/v1/alerts/rules", CHECKOUT),
                ("PATCH", f"/api/v1/alerts/rules/{rule_id}", {"threshold": 1}),
                ("DELETE", f"/api/v1/alerts/rules/{rule_id}", None),
            ):
                refused = viewer.request(method, path, json=body)
                assert refused.status_code == 403, (method, refused.text)
                assert "needs an admin" in refused.json()["error"]

        assert client.delete(f"/api/v1/alerts/rules/{rule_id}").json() == {"deleted": rule_id}
        assert client.get(f"/api/v1/alerts/rules/{rule_id}").status_code == 404
        assert client.delete(f"/api/v1/alerts/rules/{rule_id}").status_code == 404

        default = next(r for r in listed if r["name"] == "page_load_time")
        assert (
            client.patch(f"/api/v1/alerts/rules/{default['id']}", json={"enabled": False}).status_code == 200
        )
        assert client.delete(f"/api/v1/alerts/rules/{default['id']}").status_code == 200
        rules = client.get("/api/v1/alerts/rules").json()["rules"]
        names = {r["name"] for r in rules if r["project"] == default["project"]}
        assert "page_load_time" not in names  # (the monitor's own project keeps its own)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({**CHECKOUT, "window": "a while"}, 400, "window: 'a while' is not a duration"),
        ({**CHECKOUT, "kind": "gauge"}, 400, "kind: 'gauge' is not one of count"),
        ({**CHECKOUT, "threshold": None}, 400, "threshold: Input should be a valid number"),
        (
            {**CHECKOUT, "select": {"kind": "error", "min_status": 500}},
            400,
            "select: min_status / max_status",
        ),
        ({**CHECKOUT, "summary": "{% if %}"}, 400, "summary: template error"),
        (
            {**CHECKOUT, "labels": {"project": "other"}},
            400,
            "labels: label 'project' is set by the rule itself",
        ),
        ({**CHECKOUT, "surprise": 1}, 400, "surprise: not a field of this rule kind"),
        ({k: v for k, v in CHECKOUT.items() if k != "project"}, 400, "project: required"),
        ({**CHECKOUT, "project": "elsewhere"}, 404, "project 'elsewhere' not found"),
        ([CHECKOUT], 400, "expected a JSON object"),
    ],
)
def test_bad_rules_are_refused_with_the_field_named(
    live: LiveServer, admin_token: str, body: Any, status: int, message: str
) -> None:
    with live.client(headers=bearer(admin_token)) as client:
        response = client.post("/api/v1/alerts/rules", json=body)
        assert response.status_code == status, response.text
        assert message in response.json()["error"]
        assert client.get("/api/v1/alerts/rules", params={"source": "api"}).json()["rules"] == []


def test_other_bad_requests(live: LiveServer, admin_token: str, store: Store) -> None:
    with store.engine.begin() as conn:
        apply_document(
            conn, {"project": "syncscript", "rules": [{"name": "from_git", "kind": "new_issue"}]}, 0
        )
    with live.client(headers=bearer(admin_token)) as client:
        filed = next(r for r in client.get("/api/v1/alerts/rules").json()["rules"] if r["source"] == "file")
        conflict = client.patch(f"/api/v1/alerts/rules/{filed['id']}", json={"window": "2h"})
        assert conflict.status_code == 409 and "rules file" in conflict.json()["error"]
        assert client.delete(f"/api/v1/alerts/rules/{filed['id']}").status_code == 409
        created = client.post("/api/v1/alerts/rules", json=CHECKOUT).json()
        cases = [
            (
                "PATCH",
                f"/api/v1/alerts/rules/{created['id']}",
                {"window": "0s"},
                400,
                "window: window must be at least 1s",
            ),
            (
                "PATCH",
                f"/api/v1/alerts/rules/{created['id']}",
                {"project": "x"},
                400,
                "project: cannot be changed",
            ),
            (
                "PATCH",
                f"/api/v1/alerts/rules/{created['id']}",
                {"kind": "ratio"},
                400,
                "numerator: Field required",
            ),
            ("PATCH", "/api/v1/alerts/rules/99999999", {"threshold": 1}, 404, "rule 99999999 not found"),
            ("GET", "/api/v1/alerts/rules/abc", None, 404, "rule 'abc' not found"),
            ("GET", "/api/v1/alerts/rules?kind=gauge", None, 400, "kind: must be one of"),
            ("GET", "/api/v1/alerts/rules?project=nope", None, 404, "project 'nope' not found"),
            (
                "GET",
                "/api/v1/alerts?state=sleeping",
                None,
                400,
                "state: must be one of pending, firing, resolved",
            ),
            ("GET", "/api/v1/alerts/history?rule=x", None, 400, "rule: a rule id"),
            ("GET", "/api/v1/alerts/history?since=yesterday", None, 400, "since:"),
            ("GET", "/api/v1/alerts/history?limit=0", None, 400, "limit:"),
        ]
        for method, path, body, status, message in cases:
            response = client.request(method, path, json=body)
            assert response.status_code == status, (path, response.text)
            assert message in response.json()["error"], (path, response.text)
        raw = client.post(
            "/api/v1/alerts/rules", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert raw.status_code == 400 and "not valid JSON" in raw.json()["error"]
    with httpx.Client(base_url=live.url) as anonymous:
        for path in ("/api/v1/alerts", "/api/v1/alerts/rules", "/api/v1/alerts/history"):
            assert anonymous.get(path).status_code == 401


def test_events_fire_an_alert_shown_with_its_history(
    live: LiveServer, admin_token: str, viewer_token: str, store: Store
) -> None:
    with live.client(headers=bearer(admin_token)) as client:
        rule_id = client.post("/api/v1/alerts/rules", json=CHECKOUT).json()["id"]
    events = [{"kind": "custom", "name": "checkout_failed", "order": i} for i in range(3)]
    with live.client() as ingest:
        sent = ingest.post(
            "/api/monitoring/events",
            json={"events": events},
            headers={"X-Syncmon-Key": store.project.public_key},
        )
        assert sent.status_code == 200, sent.text
    with live.client(headers=bearer(viewer_token)) as client:
        alerts = poll(
            lambda: client.get("/api/v1/alerts", params={"project": "syncscript"}).json()["alerts"],
            lambda found: any(a["labels"]["alertname"] == "checkout_failures" for a in found),
        )
        (alert,) = [a for a in alerts if a["labels"]["alertname"] == "checkout_failures"]
        assert alert["state"] == "firing" and alert["value"] == 3
        assert alert["labels"] == {
            "alertname": "checkout_failures",
            "severity": "critical",
            "project": "syncscript",
            "rule_id": str(rule_id),
            "team": "payments",
        }
        assert alert["annotations"] == {"summary": "3 failed checkouts in 1m"}
        assert alert["since"] > 0 and alert["generator_url"].endswith(f"/api/v1/alerts/rules/{rule_id}")
        assert client.get("/api/v1/alerts", params={"state": "pending"}).json()["alerts"] == []
        history = client.get("/api/v1/alerts/history", params={"rule": str(rule_id)}).json()
        (entry,) = history["history"]
        assert (entry["previous"], entry["state"], entry["value"]) == ("inactive", "firing", 3)
        assert entry["labels"]["team"] == "payments"
        assert client.get("/api/v1/alerts/history", params={"state": "resolved"}).json()["history"] == []

    with live.client(headers=bearer(admin_token)) as client:
        client.delete(f"/api/v1/alerts/rules/{rule_id}")
        after = client.get("/api/v1/alerts").json()["alerts"]
        assert not any(a["labels"]["alertname"] == "checkout_failures" for a in after)
        history = client.get("/api/v1/alerts/history", params={"rule": str(rule_id)}).json()["history"]
        assert [(h["previous"], h["state"]) for h in history] == [
            ("firing", "resolved"),
            ("inactive", "firing"),
        ]
