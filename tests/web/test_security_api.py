"""The security API against the real server on both engines: the seed's SecurityMetrics,
security events, detections and subject timelines, and the errors.

The server's clock is a ManualClock, so receive times, windows and the threat window are
driven by the test; the detection engine runs asynchronously, so detections are awaited
by polling a bounded number of times.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from syncmon.clock import ManualClock, SystemClock
from syncmon.security import detection_store
from syncmon.security.detection import Detection, Severity
from syncmon.store import projects
from syncmon.store.projects import Project
from tests.conftest import Store
from tests.support.live import LiveServer

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SEC = 1_000
MIN = 60 * SEC
HOUR = 60 * MIN
SEED_KEYS = {
    "totalEvents",
    "authEvents",
    "authzEvents",
    "dataEvents",
    "apiEvents",
    "threatLevel",
    "lastUpdated",
}
OUR_KEYS = {
    "threatScore",
    "contributors",
    "floorFrom",
    "categories",
    "project",
    "window_seconds",
    "threat_window_seconds",
}
CATEGORIES = {
    "authentication",
    "authorization",
    "session",
    "data_access",
    "api_access",
    "input_validation",
    "malicious",
    "system",
}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SUB_EVENT = {
    "authentication": "auth_event",
    "authorization": "authz_event",
    "data_access": "data_event",
    "api_access": "api_event",
}


def seed(event_type: str, sub_event: str | None = None, **fields: Any) -> dict[str, Any]:
    """A seed SecurityAnalytics payload: seed("authentication", "login_failed") is
    trackAuthenticationEvent('login_failed')."""
    payload: dict[str, Any] = {"event_type": event_type, **fields}
    if sub_event is not None:
        payload[SUB_EVENT[event_type]] = sub_event
    return payload


def request(url: str, status: int, **fields: Any) -> dict[str, Any]:
    """A `request` batch item, as a server's SDK middleware reports one."""
    return {"kind": "request", "method": "GET", "url": url, "status": status, "duration_ms": 2, **fields}


class Api:
    """Posting through the seed's endpoints and reading the security API."""

    def __init__(self, client: httpx.Client, project: Project, token: str) -> None:
        self.client = client
        self.project = project
        self.token = token

    def security(self, payload: dict[str, Any], *, trusted: bool = True) -> str:
        """One seed SecurityAnalytics call to /api/monitoring/security."""
        if trusted:
            response = self.client.post(
                "/api/monitoring/security", json=payload, headers={"X-Syncmon-Key": self.project.secret_key}
            )
        else:
            response = self.client.post(
                f"/api/monitoring/security?key={self.project.public_key}", json=payload
            )
        assert response.status_code == 200, response.text
        event_id: str = response.json()["id"]
        return event_id

    def batch(self, items: list[dict[str, Any]], *, trusted: bool = True) -> list[str]:
        if trusted:
            response = self.client.post(
                "/api/monitoring/events", json=items, headers={"X-Syncmon-Key": self.project.secret_key}
            )
        else:
            response = self.client.post(f"/api/monitoring/events?key={self.project.public_key}", json=items)
        assert response.status_code == 200, response.text
        ids: list[str] = response.json()["ids"]
        return ids

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        params.setdefault("project", self.project.slug)
        response = self.client.get(f"/api/v1/security/{path}", params=params, headers=bearer(self.token))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def summary(self, **params: Any) -> dict[str, Any]:
        return self.get("summary", **params)

    def events(self, **params: Any) -> list[str]:
        """Ids of every security event matching, following the cursor."""
        ids: list[str] = []
        for _ in range(100):
            page = self.get("events", **params)
            ids += [e["id"] for e in page["events"]]
            if page["next_cursor"] is None:
                return ids
            params["cursor"] = page["next_cursor"]
        raise AssertionError("pagination did not end")

    def detections(self, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for _ in range(100):
            page = self.get("detections", **params)
            found += page["detections"]
            if page["next_cursor"] is None:
                return found
            params["cursor"] = page["next_cursor"]
        raise AssertionError("pagination did not end")

    def await_detections(self, rules: set[str], **params: Any) -> list[dict[str, Any]]:
        """Poll until detections of all `rules` are listed (the engine runs asynchronously)."""
        for _ in range(500):
            found = self.detections(**params)
            if rules <= {d["rule"] for d in found}:
                return found
            time.sleep(0.01)
        raise AssertionError(f"no detections for {rules}; got {self.detections(**params)}")


@pytest.fixture
def api(server: LiveServer, store: Store, viewer_token: str) -> Iterator[Api]:
    with server.client() as client:
        yield Api(client, store.project, viewer_token)


def add_project(store: Store, name: str) -> Project:
    with store.engine.begin() as conn:
        return projects.create_project(conn, name, SystemClock().now_ms())


# The summary: the seed's SecurityMetrics.


def test_summary_has_exactly_the_seed_keys_plus_ours(api: Api, store: Store) -> None:
    body = api.summary()
    assert set(body) == SEED_KEYS | OUR_KEYS
    assert body == {
        "totalEvents": 0,
        "authEvents": 0,
        "authzEvents": 0,
        "dataEvents": 0,
        "apiEvents": 0,
        "threatLevel": "LOW",
        "lastUpdated": "2026-01-01T00:00:00Z",
        "threatScore": 0.0,
        "contributors": [],
        "floorFrom": None,
        "categories": dict.fromkeys(CATEGORIES, 0),
        "project": store.project.slug,
        "window_seconds": 86_400,
        "threat_window_seconds": 3_600,
    }
    assert api.summary(project=str(store.project.id))["project"] == store.project.slug


def test_summary_counts_what_the_seed_sent(api: Api, store: Store, clock: ManualClock) -> None:
    # The seed's browser calls (public key), one of each shape, some several times.
    seed_calls = [
        *[{"event_type": "authentication", "auth_event": "login_failed", "user_id": "u1"}] * 3,
        {"event_type": "authentication", "auth_event": "login_success", "user_id": "u1"},
        {"event_type": "authentication", "auth_event": "logout", "user_id": "u1"},  # a session event
        *[{"event_type": "authorization", "authz_event": "access_denied", "target": "/admin"}] * 2,
        *[{"event_type": "data_access", "data_event": "read", "records": 10}] * 4,
        {"event_type": "data_access", "data_event": "delete"},
        {"event_type": "api_access", "api_event": "rate_limit_exceeded"},
        {"event_type": "suspicious_activity", "severity": "high"},
        {"event_type": "authn_password_change"},  # OWASP, as the Python SDK sends
    ]
    for payload in seed_calls:
        api.security(payload, trusted=False)
        clock.advance(1)
    # The batch endpoint's security items count too; other kinds do not.
    api.batch(
        [
            {"kind": "security", "event_type": "api_access", "api_event": "throttled"},
            {"kind": "security", "event_type": "sys_startup"},
            {"name": "page_view", "url": "https://app.example/"},
            {"kind": "custom", "name": "signup"},
            {"kind": "request", "method": "GET", "url": "/missing", "status": 404, "duration_ms": 3},
        ]
    )
    other = add_project(store, "other")
    Api(api.client, other, api.token).security({"event_type": "authentication", "auth_event": "login"})

    body = api.summary()
    assert {key: body[key] for key in SEED_KEYS - {"lastUpdated", "threatLevel"}} == {
        "totalEvents": 17,
        "authEvents": 5,  # 3 failures, a success, a password change
        "authzEvents": 2,
        "dataEvents": 5,
        "apiEvents": 2,
    }
    assert body["categories"] == {
        **dict.fromkeys(CATEGORIES, 0),
        "authentication": 5,
        "authorization": 2,
        "session": 1,
        "data_access": 5,
        "api_access": 2,
        "malicious": 1,
        "system": 1,
    }
    assert body["threatLevel"] == "LOW"
    assert body["lastUpdated"] == iso(clock.now_ms())
    assert api.summary(project="other")["totalEvents"] == 1


def test_summary_window(api: Api, clock: ManualClock) -> None:
    now = clock.now_ms()
    for ago in (30 * MIN, 2 * HOUR, 25 * HOUR, 9 * 86_400_000):
        api.security(
            {"event_type": "authentication", "auth_event": "login_failed", "timestamp": now - ago},
            trusted=False,
        )
    api.security({"event_type": "data_access", "data_event": "read"}, trusted=False)

    def counted(window: str) -> tuple[int, int, int]:
        body = api.summary(window=window)
        assert body["window_seconds"] * 1000 == {"1h": HOUR, "24h": 24 * HOUR, "7d": 168 * HOUR}.get(
            window, body["window_seconds"] * 1000
        )
        return body["totalEvents"], body["authEvents"], body["dataEvents"]

    assert counted("1h") == (2, 1, 1)
    assert counted("24h") == (3, 2, 1)
    assert api.summary()["totalEvents"] == 3  # 24 h by default
    assert counted("2d") == (4, 3, 1)
    assert counted("30d") == (5, 4, 1)
    # Time passes: the window follows the server's clock.
    clock.advance(2 * 3600)
    assert counted("1h") == (0, 0, 0)
    assert counted("24h") == (3, 2, 1)


# Security events.


def test_security_events_listing_and_filters(api: Api, clock: ManualClock) -> None:
    posted: dict[str, str] = {}

    def post(key: str, payload: dict[str, Any]) -> None:
        posted[key] = api.security(payload)
        clock.advance(60)

    post(
        "fail",
        seed("authentication", "login_failed", user_id="alice", client_ip="203.0.113.1", severity="high"),
    )
    post("ok", seed("authentication", "login_success", user_id="bob", client_ip="203.0.113.2"))
    post(
        "denied",
        seed("authorization", "forbidden", user_id="alice", client_ip="203.0.113.3", severity="warning"),
    )
    post("read", seed("data_access", "export", user_id="carol", client_ip="203.0.113.1", records=50))
    post("sqli", seed("malicious_sqli", client_ip="198.51.100.9", severity="critical"))
    # Requests and other kinds are not security events, whoever they are about.
    api.batch([request("/", 200, client_ip="203.0.113.1", user_id="alice")])

    def listed(**params: Any) -> list[str]:
        names = {v: k for k, v in posted.items()}
        return [names[i] for i in api.events(**params)]

    assert listed() == ["sqli", "read", "denied", "ok", "fail"]
    assert listed(category="authentication") == ["ok", "fail"]
    assert listed(category="authorization") == ["denied"]
    assert listed(category="data_access") == ["read"]
    assert listed(category="malicious") == ["sqli"]
    assert listed(category="session") == []
    assert listed(name="authz_fail") == ["denied"]
    assert listed(name="sensitive_read") == ["read"]
    assert listed(subject="alice") == ["denied", "fail"]
    assert listed(subject="203.0.113.1") == ["read", "fail"]
    assert listed(subject="nobody") == []
    assert listed(severity="error") == ["fail"]  # "high" is stored as error
    assert listed(severity="critical") == ["sqli"]
    assert listed(severity="info") == ["read", "ok"]
    assert listed(since=iso(T0 + 2 * MIN)) == ["sqli", "read", "denied"]
    assert listed(until=iso(T0 + 2 * MIN)) == ["ok", "fail"]
    assert listed(since="150s") == ["sqli", "read"]  # the clock is at T0 + 5 min
    assert listed(category="authentication", subject="alice") == ["fail"]
    # Every page in order, each event once.
    assert listed(limit=2) == listed()
    first = api.get("events", limit=2)
    assert [e["name"] for e in first["events"]] == ["malicious_sqli", "sensitive_read"]
    assert first["events"][0]["client_ip"] == "198.51.100.9"
    assert first["next_cursor"] is not None


# Detections.


def detection(
    rule: str,
    subject_type: str,
    subject: str,
    severity: Severity,
    last_ms: int,
    confidence: float = 1.0,
    project_id: int = 1,
) -> Detection:
    return Detection(
        rule=rule,
        project_id=project_id,
        subject_type=subject_type,
        subject=subject,
        severity=severity,
        confidence=confidence,
        count=3,
        first_ms=last_ms - 10 * SEC,
        last_ms=last_ms,
        title=f"{rule} {subject}",
        evidence=("e1", "e2"),
        details={"k": "v"},
    )


def record(store: Store, *found: Detection) -> None:
    with store.engine.begin() as conn:
        detection_store.record(conn, found, T0)


def test_detections_listing_and_filters(store: Store, clock: ManualClock, viewer_token: str) -> None:
    pid = store.project.id
    other = add_project(store, "other")
    made = {
        "brute": detection("brute_force", "account", "alice", Severity.HIGH, T0 - 50 * MIN, project_id=pid),
        "probe": detection("http_probing", "ip", "203.0.113.7", Severity.MEDIUM, T0 - 30 * MIN, 0.5, pid),
        "file": detection("sensitive_file_probe", "ip", "203.0.113.7", Severity.HIGH, T0 - 20 * MIN, 1, pid),
        "sqli": detection("sql_injection", "ip", "198.51.100.9", Severity.MEDIUM, T0 - 10 * MIN, 1, pid),
        "csp": detection("csp_violation_burst", "project", str(pid), Severity.MEDIUM, T0 - 5 * MIN, 0.5, pid),
        "elsewhere": detection("brute_force", "account", "alice", Severity.HIGH, T0 - 5 * MIN, 1, other.id),
        # Recorded last but three hours old (a replay after a restart finds such things).
        "old": detection("brute_force", "account", "bob", Severity.CRITICAL, T0 - 3 * HOUR, 1, pid),
    }
    record(store, *made.values())
    with LiveServer(store.settings, store.engine, clock=clock) as live, live.client() as client:
        api = Api(client, store.project, viewer_token)

        def listed(**params: Any) -> list[str]:
            names = {(d.rule, d.subject, d.last_ms): k for k, d in made.items()}
            found = api.detections(**params)
            return [names[(d["rule"], d["subject"], round(d["last_seen"] * 1000))] for d in found]

        newest_first = ["csp", "sqli", "file", "probe", "brute", "old"]
        assert listed() == newest_first
        # Pages of any size visit every detection once, in the same order.
        for limit in (1, 2, 4):
            assert listed(limit=limit) == newest_first
        assert listed(rule="brute_force") == ["brute", "old"]
        assert listed(subject_type="ip") == ["sqli", "file", "probe"]
        assert listed(subject_type="account") == ["brute", "old"]
        assert listed(subject_type="project") == ["csp"]
        assert listed(subject="203.0.113.7") == ["file", "probe"]
        assert listed(severity="medium") == ["csp", "sqli", "probe"]
        assert listed(severity="critical") == ["old"]
        assert listed(since="1h") == ["csp", "sqli", "file", "probe", "brute"]
        assert listed(since=iso(T0 - 25 * MIN)) == ["csp", "sqli", "file"]
        assert listed(until=iso(T0 - 25 * MIN)) == ["probe", "brute", "old"]
        assert listed(rule="sql_injection", subject="198.51.100.9") == ["sqli"]
        assert listed(rule="brute_force", subject="203.0.113.7") == []
        assert [k for k in listed(project="other")] == ["elsewhere"]

        one = api.get("detections", rule="http_probing")["detections"][0]
        assert one == {
            "id": one["id"],
            "rule": "http_probing",
            "project_id": pid,
            "subject_type": "ip",
            "subject": "203.0.113.7",
            "severity": "medium",
            "confidence": 0.5,
            "count": 3,
            "first_seen": (T0 - 30 * MIN - 10 * SEC) / 1000,
            "last_seen": (T0 - 30 * MIN) / 1000,
            "window_seconds": 10.0,
            "title": "http_probing 203.0.113.7",
            "evidence": ["e1", "e2"],
            "details": {"k": "v"},
        }

        # The threat level counts what is open in the threat window (1 h) of this project:
        # worths 73 (file), 73 (brute), 47 (sqli), 23.5 (probe), 23.5 (csp) -> 73 + 25.81 +
        # 9.05 + 2.94 + 2.10 = 112.89, capped at 100. "old" and "elsewhere" do not count.
        body = api.summary()
        assert (body["threatLevel"], body["threatScore"], body["floorFrom"]) == ("CRITICAL", 100.0, None)
        assert sorted(c["rule"] for c in body["contributors"]) == sorted(
            ["sensitive_file_probe", "brute_force", "sql_injection", "http_probing", "csp_violation_burst"]
        )
        assert [c["points"] for c in body["contributors"]] == [73.0, 25.81, 9.05, 2.94, 2.1]
        # An hour later only "csp" and "sqli" are open: 47 + 23.5/2^1.5 = 55.31 -> MEDIUM.
        clock.advance(3600 - 15 * 60)
        body = api.summary()
        assert (body["threatLevel"], body["threatScore"]) == ("MEDIUM", 55.31)
        assert [c["rule"] for c in body["contributors"]] == ["sql_injection", "csp_violation_burst"]
        clock.advance(15 * 60)
        body = api.summary()
        assert (body["threatLevel"], body["threatScore"], body["contributors"]) == ("LOW", 0.0, [])


def test_the_floor_is_named(store: Store, clock: ManualClock, viewer_token: str) -> None:
    record(store, detection("malware_upload", "account", "mallory", Severity.CRITICAL, T0 - MIN, 0.5))
    with LiveServer(store.settings, store.engine, clock=clock) as live, live.client() as client:
        body = Api(client, store.project, viewer_token).summary()
    # 99 x 0.5 = 49.5, raised to the critical floor 90.
    assert (body["threatLevel"], body["threatScore"], body["floorFrom"]) == (
        "CRITICAL",
        90.0,
        "malware_upload",
    )
    assert body["contributors"][0]["points"] == 49.5


# Subject timelines.


def test_subject_timelines(api: Api, clock: ManualClock) -> None:
    attacker, prober = "203.0.113.50", "198.51.100.7"
    failures: list[str] = []
    for _ in range(7):  # a second apart: the fast brute-force bucket fires on the 7th
        failures.append(
            api.security(seed("authentication", "login_failed", user_id="alice", client_ip=attacker))
        )
        clock.advance(1)
    benign = api.security(seed("authentication", "login", user_id="bob", client_ip="192.0.2.10"))
    clock.advance(1)
    probe = api.batch([request("https://app.example/.env", 404, client_ip=prober)])
    api.await_detections({"brute_force", "sensitive_file_probe"})

    account = api.get("subjects/account/alice")
    assert (account["subject_type"], account["subject"]) == ("account", "alice")
    assert account["threatLevel"] == "HIGH"
    assert [c["rule"] for c in account["contributors"]] == ["brute_force"]
    times = [item["time"] for item in account["timeline"]]
    assert times == sorted(times, reverse=True)
    events = [item["event"]["id"] for item in account["timeline"] if item["type"] == "event"]
    assert events == list(reversed(failures))
    found = [item["detection"] for item in account["timeline"] if item["type"] == "detection"]
    assert [(d["rule"], d["subject"]) for d in found] == [("brute_force", "alice")]
    assert set(found[0]["evidence"]) <= set(failures)
    assert found[0]["last_seen"] in times

    # The attacking IP has the same events but the detection is about the account.
    ip = api.get("subjects/ip/" + attacker)
    assert [item["event"]["id"] for item in ip["timeline"]] == list(reversed(failures))
    assert (ip["threatLevel"], ip["contributors"]) == ("LOW", [])

    scanner = api.get("subjects/ip/" + prober)
    assert scanner["threatLevel"] == "HIGH"
    assert [item["type"] for item in scanner["timeline"]] == ["event", "detection"]  # same time: event first
    assert scanner["timeline"][0]["event"]["id"] == probe[0]
    assert scanner["timeline"][1]["detection"]["rule"] == "sensitive_file_probe"

    bob = api.get("subjects/account/bob")
    assert [item["event"]["id"] for item in bob["timeline"]] == [benign]
    assert (bob["threatLevel"], bob["contributors"]) == ("LOW", [])
    assert api.get("subjects/account/nobody") == {
        "subject_type": "account",
        "subject": "nobody",
        "threatLevel": "LOW",
        "threatScore": 0.0,
        "contributors": [],
        "timeline": [],
    }

    # Ten minutes on, a one-minute window shows nothing, but the threat window still holds.
    clock.advance(600)
    recent = api.get("subjects/account/alice", window="1m")
    assert (recent["timeline"], recent["threatLevel"]) == ([], "HIGH")
    assert len(api.get("subjects/account/alice", limit=3)["timeline"]) == 3 + 1  # events limited


def test_account_timelines_find_detections_whatever_the_case(api: Api, clock: ManualClock) -> None:
    """Detections name accounts case-folded (the detectors count Alice and alice as one)."""
    for _ in range(7):
        api.security(seed("authentication", "login_failed", user_id="Alice", client_ip="203.0.113.51"))
        clock.advance(1)
    api.await_detections({"brute_force"})
    timeline = api.get("subjects/account/Alice")
    assert timeline["threatLevel"] == "HIGH"
    assert {item["type"] for item in timeline["timeline"]} == {"event", "detection"}


# Errors.


PATHS = ["summary", "events", "detections", "subjects/ip/203.0.113.1", "subjects/account/alice"]


def test_a_token_is_required(server: LiveServer, store: Store) -> None:
    with server.client() as client:
        for path in PATHS:
            anonymous = client.get(f"/api/v1/security/{path}", params={"project": store.project.slug})
            assert anonymous.status_code == 401, path
            assert anonymous.headers["www-authenticate"] == "Bearer"
            wrong = client.get(
                f"/api/v1/security/{path}", params={"project": store.project.slug}, headers=bearer("nope")
            )
            assert wrong.status_code == 401, path


def test_not_found(server: LiveServer, viewer_token: str, store: Store) -> None:
    with server.client() as client:
        for path in PATHS:
            response = client.get(
                f"/api/v1/security/{path}",
                params={"project": "no-such-project"},
                headers=bearer(viewer_token),
            )
            assert response.status_code == 404, path
            assert response.json()["field"] == "project"
        for subject_type in ("user", "session", "project"):
            response = client.get(
                f"/api/v1/security/subjects/{subject_type}/x",
                params={"project": store.project.slug},
                headers=bearer(viewer_token),
            )
            assert response.status_code == 404, subject_type
            assert "ip or account" in response.json()["error"]


BAD_PARAMETERS = [
    ("summary", {"project": ""}, "project"),
    ("summary", {"window": "abc"}, "window"),
    ("summary", {"window": "0h"}, "window"),
    ("summary", {"window": "401d"}, "window"),
    ("summary", {"window": "24"}, "window"),
    ("events", {"category": "nope"}, "category"),
    ("events", {"category": "Authentication"}, "category"),
    ("events", {"severity": "severe"}, "severity"),
    ("events", {"since": "yesterday"}, "since"),
    ("events", {"cursor": "abc"}, "cursor"),
    ("events", {"limit": "0"}, "limit"),
    ("detections", {"severity": "error"}, "severity"),
    ("detections", {"subject_type": "user"}, "subject_type"),
    ("detections", {"until": "soon"}, "until"),
    ("detections", {"cursor": "-1"}, "cursor"),
    ("detections", {"limit": "1001"}, "limit"),
    ("subjects/ip/203.0.113.1", {"window": "forever"}, "window"),
    ("subjects/account/alice", {"limit": "-1"}, "limit"),
]


def test_bad_parameters(server: LiveServer, store: Store, viewer_token: str) -> None:
    with server.client() as client:
        for path, params, field in BAD_PARAMETERS:
            query = {"project": store.project.slug, **params}
            response = client.get(f"/api/v1/security/{path}", params=query, headers=bearer(viewer_token))
            assert response.status_code == 400, (path, params, response.text)
            assert response.json()["field"] == field, (path, params)
