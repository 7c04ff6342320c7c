"""Per-project detector configuration through the real server, on both engines: listing
for any token, changes for admin tokens only, audited, applied at once to what fires, and
every kind of bad input refused with a 4xx that names it.

The server's clock is a ManualClock; detections are awaited by bounded polling because
the engine runs asynchronously.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from syncmon.clock import ManualClock
from syncmon.security import config_store
from syncmon.security.detector_config import validate
from syncmon.security.registry import RULES
from syncmon.store.schema import audit_log, detector_configs
from tests.conftest import Store
from tests.support.live import LiveServer
from tests.web.test_security_api import Api, bearer, request, seed

T0 = 1_767_225_600_000
PATH = "/api/v1/security/detectors"


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    with LiveServer(store.settings, store.engine, clock=ManualClock(T0)) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def api(client: httpx.Client, store: Store, viewer_token: str) -> Api:
    return Api(client, store.project, viewer_token)


def listing(client: httpx.Client, store: Store, token: str) -> dict[str, dict[str, Any]]:
    response = client.get(PATH, params={"project": store.project.slug}, headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["project"] == store.project.slug
    return {item["rule"]: item for item in body["detectors"]}


def put(client: httpx.Client, store: Store, token: str, rule: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else None
    return client.put(
        f"{PATH}/{rule}",
        params={"project": store.project.slug},
        headers={**bearer(token), "Content-Type": "application/json"},
        content=content,
        json=None if content is not None else body,
    )


def await_rules(api: Api, rules: set[str]) -> list[dict[str, Any]]:
    return api.await_detections(rules)


def test_every_rule_is_listed_with_defaults_overrides_and_effective_values(
    client: httpx.Client, store: Store, viewer_token: str
) -> None:
    rules = listing(client, store, viewer_token)
    assert list(rules) == list(RULES)
    brute = rules["brute_force"]
    assert brute["enabled"] is True and brute["customized"] is False and brute["updated"] is None
    assert brute["defaults"]["fast.capacity"] == 5
    assert brute["overrides"] == {}
    assert brute["effective"] == brute["defaults"]
    assert brute["parameters"]["fast.quiet_ms"] == {"type": "integer", "min": 0, "max": 2_592_000_000}
    assert rules["http_probing"]["parameters"]["severity"]["choices"] == ["low", "medium", "high", "critical"]
    assert rules["sql_injection"]["defaults"]["certain_severity"] == "high"


def test_listing_errors(client: httpx.Client, store: Store, viewer_token: str) -> None:
    assert client.get(PATH, params={"project": store.project.slug}).status_code == 401
    missing = client.get(PATH, headers=bearer(viewer_token))
    assert (missing.status_code, missing.json()["error"]) == (400, "project: required (a project slug or id)")
    unknown = client.get(PATH, params={"project": "nope"}, headers=bearer(viewer_token))
    assert unknown.status_code == 404


def test_a_lowered_brute_force_threshold_fires_sooner_and_is_audited(
    client: httpx.Client, api: Api, store: Store, admin_token: str
) -> None:
    changed = put(client, store, admin_token, "brute_force", {"parameters": {"fast.capacity": 2}})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["rule"], body["overrides"], body["effective"]["fast.capacity"]) == (
        "brute_force",
        {"fast.capacity": 2},
        2,
    )
    assert body["updated"]["by"].startswith("token:")
    # Three failed logins (the default needs six) now make a brute-force detection.
    for _ in range(3):
        api.security(seed("authentication", "login_failed", user_id="alice", client_ip="203.0.113.7"))
    found = await_rules(api, {"brute_force"})
    assert [(d["rule"], d["subject"], d["count"]) for d in found] == [("brute_force", "alice", 3)]
    shown = listing(client, store, admin_token)["brute_force"]
    assert shown["customized"] is True and shown["overrides"] == {"fast.capacity": 2}
    with store.engine.connect() as conn:
        audit = conn.execute(
            sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.target, audit_log.c.details).where(
                audit_log.c.action == "detector.configure"
            )
        ).one()
    assert audit.actor.startswith("token:")
    assert audit.target == f"{store.project.slug}:brute_force"
    assert audit.details["after"] == {"enabled": True, "parameters": {"fast.capacity": 2}}


def test_a_disabled_rule_stops_firing_and_a_reset_brings_it_back(
    client: httpx.Client, api: Api, store: Store, admin_token: str
) -> None:
    off = put(client, store, admin_token, "sql_injection", {"enabled": False})
    assert (off.status_code, off.json()["enabled"]) == (200, False)
    union = "https://shop.example/search?id=" + quote("1' UNION SELECT password FROM users--")
    script = "https://shop.example/search?q=" + quote("<script>alert(1)</script>")
    api.batch([request(union, 200, client_ip="198.51.100.4"), request(script, 200, client_ip="198.51.100.4")])
    # The XSS detection of the same batch shows the batch was processed; no sql_injection.
    found = await_rules(api, {"xss_probe"})
    assert "sql_injection" not in {d["rule"] for d in found}

    reset = client.delete(
        f"{PATH}/sql_injection", params={"project": store.project.slug}, headers=bearer(admin_token)
    )
    assert reset.status_code == 200
    assert (reset.json()["enabled"], reset.json()["customized"]) == (True, False)
    api.batch([request(union, 200, client_ip="198.51.100.5")])
    found = await_rules(api, {"sql_injection"})
    sqli = [d for d in found if d["rule"] == "sql_injection"]
    assert [(d["subject"], d["severity"], d["confidence"]) for d in sqli] == [("198.51.100.5", "high", 1.0)]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(detector_configs)).all() == []
        actions = conn.execute(
            sa.select(audit_log.c.action)
            .where(audit_log.c.action.like("detector.%"))
            .order_by(audit_log.c.id)
        ).scalars()
        assert list(actions) == ["detector.configure", "detector.reset"]


def test_a_viewer_token_cannot_change_anything(
    client: httpx.Client, store: Store, viewer_token: str, admin_token: str
) -> None:
    refused = put(client, store, viewer_token, "brute_force", {"enabled": False})
    assert refused.status_code == 403
    assert "needs an admin" in refused.json()["error"]
    deleted = client.delete(
        f"{PATH}/brute_force", params={"project": store.project.slug}, headers=bearer(viewer_token)
    )
    assert deleted.status_code == 403
    assert put(client, store, "not-a-token", "brute_force", {}).status_code == 401
    assert listing(client, store, admin_token)["brute_force"]["enabled"] is True


BAD: list[tuple[str, str, Any, int, str]] = [
    # (id, rule, body, status, error fragment)
    ("unknown-rule", "brute_farce", {"enabled": False}, 400, "unknown rule 'brute_farce'"),
    (
        "unknown-parameter",
        "brute_force",
        {"parameters": {"threshold": 3}},
        400,
        "parameters.threshold: unknown",
    ),
    ("wrong-type", "brute_force", {"parameters": {"fast.capacity": "three"}}, 400, "must be a number"),
    (
        "integer-expected",
        "credential_stuffing",
        {"parameters": {"window_ms": 1.5}},
        400,
        "must be an integer",
    ),
    ("out-of-range", "brute_force", {"parameters": {"confidence": 0}}, 400, "must be between 1 and 3"),
    ("bad-severity", "http_probing", {"parameters": {"severity": "urgent"}}, 400, "must be one of low"),
    ("enabled-not-bool", "brute_force", {"enabled": "no"}, 400, "enabled: must be true or false"),
    ("parameters-not-object", "brute_force", {"parameters": [3]}, 400, "parameters: must be an object"),
    ("unknown-field", "brute_force", {"enable": False}, 400, "enable: unknown field"),
    ("not-an-object", "brute_force", [1, 2], 400, "body: must be an object"),
    ("invalid-json", "brute_force", b"{not json", 400, "body is not valid JSON"),
    ("too-large", "brute_force", b"{" + b" " * 70_000 + b"}", 413, "larger than"),
]


@pytest.mark.parametrize(("rule", "body", "status", "error"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.Client, store: Store, admin_token: str, rule: str, body: Any, status: int, error: str
) -> None:
    response = put(client, store, admin_token, rule, body)
    assert response.status_code == status, response.text
    assert error in response.json()["error"]
    assert not any(item["customized"] for item in listing(client, store, admin_token).values())


def test_a_change_made_in_the_store_applies_after_the_poll_interval(
    server: LiveServer, api: Api, store: Store
) -> None:
    """What `syncmon detector set` does to a running server: the next poll applies it."""
    with store.engine.begin() as conn:
        config = validate("brute_force", True, {"fast.capacity": 2})
        config_store.save(conn, store.project.id, store.project.slug, "brute_force", config, "cli", T0)
    server.services.clock.advance(store.settings.security_config_poll_seconds)
    for _ in range(3):
        api.security(seed("authentication", "login_failed", user_id="carol", client_ip="203.0.113.8"))
    found = await_rules(api, {"brute_force"})
    assert [(d["rule"], d["subject"], d["count"]) for d in found] == [("brute_force", "carol", 3)]
