"""The acceptance test: a scripted attack, replayed through the real HTTP endpoints of a live
server whose clock the test drives, is detected, raises the threat level, and is forgotten
once the threat window has passed.

The script (secret key, so the client IPs and accounts in the items are believed):

a) brute force: 30 failed logins for one account from one IP over 60 s, with a server
   restart after the fourth (the new engine rebuilds its windows from the store);
b) probing: one IP asks for 40 distinct non-existent paths (404s), /.env and /.git/config
   among them;
c) SQL injection: requests whose URLs carry `' UNION SELECT password FROM users--` and
   similar payloads, from another IP;

amid benign traffic: many users logging in (one mistyping first), browsing, reading data,
one refused page, one rate-limited call. Nothing here asserts on wall-clock time; the
engine runs asynchronously, so detections are awaited by polling a bounded number of times.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from syncmon.clock import ManualClock
from tests.conftest import Store
from tests.support.live import LiveServer

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
VICTIM = "Victim@Example.com"
VICTIM_ACCOUNT = "victim@example.com"  # as detections name it: case-folded
BRUTE_IP = "203.0.113.10"
PROBE_IP = "198.51.100.20"
SQLI_IP = "192.0.2.30"
ATTACK_RULES = {"brute_force", "http_probing", "sensitive_file_probe", "sql_injection"}
KEYS = ("subject_type", "subject", "severity")
COUNTERS = ("totalEvents", "authEvents", "authzEvents", "dataEvents", "apiEvents")
SITE = "https://shop.example"

PROBE_PATHS = [
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/wp-admin/setup-config.php",
    "/phpmyadmin/index.php",
    "/admin/login",
    "/backup.zip",
    "/db.sql",
    "/config.php.bak",
    "/server-status",
    *[f"/cgi-bin/test{i}.cgi" for i in range(10)],
    *[f"/old/page-{i}" for i in range(20)],
]
# The first is the textbook payload; on its own the current SQL injection patterns do not
# recognise it (one weak indicator, "union select"), the others they do.
SQLI_URLS = [
    f"{SITE}/items?id=1' UNION SELECT password FROM users--",
    f"{SITE}/items?id=1' OR 1=1--",
    f"{SITE}/items?id=1 UNION ALL SELECT NULL,NULL,NULL--",
    f"{SITE}/search?q=' AND 1=2 UNION SELECT table_name FROM information_schema.tables--",
    f"{SITE}/items?id=1; WAITFOR DELAY '0:0:5'--",
    f"{SITE}/items?id=1%27%20OR%20%271%27%3D%271",
]


def security(event_type: str, sub_event: str, user: str | None, ip: str, **extra: Any) -> dict[str, Any]:
    """A seed SecurityAnalytics item: trackAuthenticationEvent(sub_event) and its siblings."""
    field = {"authentication": "auth_event", "authorization": "authz_event"}.get(event_type)
    field = field or {"data_access": "data_event", "api_access": "api_event"}[event_type]
    return {"kind": "security", "event_type": event_type, field: sub_event, "user_id": user, "client_ip": ip,
            **extra}  # fmt: skip


def request(url: str, status: int, ip: str, user: str | None = None) -> dict[str, Any]:
    """A request the server handled, as its SDK middleware reports it."""
    return {"kind": "request", "method": "GET", "url": url, "status": status, "duration_ms": 12,
            "client_ip": ip, "user_id": user}  # fmt: skip


def failed_login() -> dict[str, Any]:
    return security("authentication", "login_failed", VICTIM, BRUTE_IP, url=f"{SITE}/login")


class Script:
    """Drives the server: posts with the secret key, advances the clock between requests."""

    def __init__(self, store: Store, clock: ManualClock, token: str) -> None:
        self.store = store
        self.clock = clock
        self.token = token
        self.client: httpx.Client | None = None
        self.benign_users: set[str] = set()
        self.benign_ips: set[str] = set()
        self.n = 0  # benign rounds sent so far, to vary them

    @contextmanager
    def serving(self) -> Iterator[Script]:
        """A live server over the store, started and (on leaving) stopped."""
        with (
            LiveServer(self.store.settings, self.store.engine, clock=self.clock) as live,
            live.client() as client,
        ):
            self.client = client
            try:
                yield self
            finally:
                self.client = None

    def post(self, items: list[dict[str, Any]], advance: float = 0.0) -> list[str]:
        assert self.client is not None
        headers = {"X-Syncmon-Key": self.store.project.secret_key}
        response = self.client.post("/api/monitoring/events", json=items, headers=headers)
        assert response.status_code == 200, response.text
        self.clock.advance(advance)
        ids: list[str] = response.json()["ids"]
        return ids

    def get(self, path: str, **params: Any) -> Any:
        assert self.client is not None
        params.setdefault("project", self.store.project.slug)
        response = self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200, response.text
        return response.json()

    def summary(self) -> dict[str, Any]:
        body: dict[str, Any] = self.get("/api/v1/security/summary")
        return body

    def detections(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("/api/v1/security/detections", limit=1000)["detections"]
        return found

    def await_rules(self, rules: set[str]) -> list[dict[str, Any]]:
        """Poll (a bounded number of times) until detections of every rule are listed."""
        for _ in range(1000):
            found = self.detections()
            if {d["rule"] for d in found} >= rules:
                return found
            time.sleep(0.01)
        got = sorted({d["rule"] for d in self.detections()})
        raise AssertionError(f"expected {sorted(rules)}, got {got}")

    def benign(self) -> None:
        """A user logs in and browses; every few rounds one also reads data, is refused a
        page or is rate limited (the seed's authorization, data and API events)."""
        i = self.n
        self.n += 1
        user, ip = f"user{i}@example.com", f"10.0.{i // 200}.{i % 200 + 1}"
        self.benign_users.add(user)
        self.benign_ips.add(ip)
        items = [
            security("authentication", "login_success", user, ip),
            *[request(f"{SITE}/products/{i * 7 + k}?ref=home", 200, ip, user) for k in range(3)],
            request(f"{SITE}/static/app.js", 200, ip),
        ]
        if i % 5 == 0:
            items.append(security("data_access", "read", user, ip, records=20, target=f"order/{i}"))
        if i % 10 == 3:
            items.append(security("authorization", "access_denied", user, ip, target="/admin"))
        if i == 7:
            items.append(security("api_access", "rate_limit_exceeded", user, ip))
        self.post(items)

    def typo_then_login(self) -> None:
        user, ip = "typo@example.com", "10.9.9.9"
        self.benign_users.add(user)
        self.benign_ips.add(ip)
        self.post([security("authentication", "login_failed", user, ip)], advance=3)
        self.post([security("authentication", "login_success", user, ip)], advance=3)


def test_a_scripted_attack_is_detected_then_forgotten(store: Store, viewer_token: str) -> None:
    clock = ManualClock(START_MS)
    script = Script(store, clock, viewer_token)
    brute_ids: list[str] = []
    probe_ids: dict[str, str] = {}
    sqli_ids: list[str] = []

    with script.serving():
        for _ in range(10):
            script.benign()
            clock.advance(1)
        script.typo_then_login()
        # (a) Brute force, first part: 4 failures, 2 s apart.
        for _ in range(4):
            brute_ids += script.post([failed_login()], advance=2)
        assert script.detections() == []

    # A restart in the middle of the attack: the new engine replays the store.
    with script.serving():
        # (a) continued: 26 more failures, 2 s apart (30 over 60 s), benign users in between.
        for k in range(26):
            brute_ids += script.post([failed_login()], advance=2)
            if k % 3 == 0:
                script.benign()
        # (b) Probing: 40 distinct paths, 4 a request, a second apart.
        for start in range(0, len(PROBE_PATHS), 4):
            paths = PROBE_PATHS[start : start + 4]
            ids = script.post([request(SITE + p, 404, PROBE_IP) for p in paths], advance=1)
            probe_ids.update(zip(paths, ids, strict=True))
            script.benign()
        # (c) SQL injection from another IP, a second apart.
        for url in SQLI_URLS:
            sqli_ids += script.post([request(url, 500 if "UNION" in url else 200, SQLI_IP)], advance=1)
        for _ in range(10):
            script.benign()
            clock.advance(2)
        attack_over_ms = clock.now_ms()

        found = script.await_rules(ATTACK_RULES)
        by_rule = {d["rule"]: d for d in found}

        # Each attack is one detection of the expected rules, about the expected subject.
        brute = by_rule["brute_force"]
        assert [brute[k] for k in KEYS] == ["account", VICTIM_ACCOUNT, "high"]
        # The run started before the restart: the replay rebuilt the window. The fast
        # bucket (capacity 5, leak 1 per 10 s) at one failure per 2 s fires on the 7th.
        assert brute["count"] == 7
        assert brute["evidence"] == brute_ids[:7]
        assert brute["first_seen"] * 1000 == START_MS + 10_000 + 6_000  # the first failure
        assert brute["details"]["ips"] == [BRUTE_IP]

        probing = by_rule["http_probing"]
        assert [probing[k] for k in KEYS] == ["ip", PROBE_IP, "medium"]
        assert set(probing["evidence"]) <= set(probe_ids.values())
        sensitive = by_rule["sensitive_file_probe"]
        assert [sensitive[k] for k in KEYS] == ["ip", PROBE_IP, "high"]
        assert sensitive["evidence"] == [probe_ids["/.env"]]
        assert sensitive["details"]["matched"] == "/.env"

        sqli = by_rule["sql_injection"]
        assert (sqli["subject_type"], sqli["subject"]) == ("ip", SQLI_IP)
        assert set(sqli["evidence"]) <= set(sqli_ids)

        # Every piece of evidence is a stored event.
        for d in (brute, probing, sensitive, sqli):
            for event_id in d["evidence"]:
                assert script.get(f"/api/v1/events/{event_id}")["id"] == event_id

        # Nothing about the benign users, nor anything the script did not do.
        assert {d["subject"] for d in found} <= {VICTIM_ACCOUNT, BRUTE_IP, PROBE_IP, SQLI_IP}
        assert not {d["subject"] for d in found} & (script.benign_users | script.benign_ips)
        assert len([d for d in found if d["rule"] == "brute_force"]) == 1  # one attack, one detection

        # The threat level: HIGH or CRITICAL, explained by the attack's rules.
        summary = script.summary()
        assert summary["threatLevel"] in ("HIGH", "CRITICAL")
        assert summary["threatScore"] >= 70
        assert {c["rule"] for c in summary["contributors"]} >= ATTACK_RULES
        points = [c["points"] for c in summary["contributors"]]
        assert points == sorted(points, reverse=True)
        # The seed's counters: security events only (requests are not), from the rollups.
        # Benign rounds: 10 + 9 (during brute force) + 10 (probing) + 10 = 39 logins, data
        # reads in rounds 0, 5, …, 35 (8), refusals in rounds 3, 13, 23, 33 (4), one rate limit.
        assert script.n == 39
        counters = {key: summary[key] for key in COUNTERS}
        assert counters == {
            "totalEvents": 30 + 2 + 39 + 8 + 4 + 1,
            "authEvents": 30 + 2 + 39,
            "authzEvents": 4,
            "dataEvents": 8,
            "apiEvents": 1,
        }

        # The account's and the prober's own timelines say the same.
        victim = script.get(f"/api/v1/security/subjects/account/{VICTIM_ACCOUNT}")
        assert victim["threatLevel"] == "HIGH"
        assert [c["rule"] for c in victim["contributors"]] == ["brute_force"]
        prober = script.get(f"/api/v1/security/subjects/ip/{PROBE_IP}")
        assert {c["rule"] for c in prober["contributors"]} == {"http_probing", "sensitive_file_probe"}

        # Past the threat window (and every quiet period), with only benign traffic: LOW.
        clock.advance(store.settings.threat_window_seconds + 600 + 60)
        script.benign()
        calm = script.summary()
        assert [calm[k] for k in ("threatLevel", "threatScore", "contributors", "floorFrom")] == [
            "LOW",
            0.0,
            [],
            None,
        ]
        assert calm["authEvents"] == counters["authEvents"] + 1  # the day's counts remain
        victim = script.get(f"/api/v1/security/subjects/account/{VICTIM_ACCOUNT}")
        assert (victim["threatLevel"], victim["contributors"]) == ("LOW", [])
        # The detections themselves stay listed, and no new ones appeared.
        later = script.detections()
        assert {d["id"] for d in later} == {d["id"] for d in found}
        assert all(d["last_seen"] * 1000 <= attack_over_ms for d in later)
