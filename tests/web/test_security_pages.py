"""The Security page, subject timelines and detections against the real server, on both engines.

Data goes in through the ingest endpoints as the seed's SecurityAnalytics calls and request
items; the server's clock is a ManualClock, so receive times and windows are the test's.
Numbers on the page are compared with GET /api/v1/security/summary, which computes the
same SecurityMetrics, and with what was sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from syncmon.clock import ManualClock, SystemClock
from syncmon.security import detection_store
from syncmon.store import accounts, projects
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard, wait_for
from tests.support.live import LiveServer
from tests.support.pages_seed import XSS, XSS_SCRIPT, Seeder, escaped, request_item, seed_call

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
HOUR = 60 * MIN
PAGE = "/admin/security-dashboard"
ADMIN = "admin@localhost"
ATTACKER = "203.0.113.50"
PROBER = "198.51.100.7"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        yield client


def metric(html: str, name: str) -> str:
    found = re.search(rf'data-metric="{re.escape(name)}">([^<]*)<', html)
    assert found is not None, f"no metric {name}"
    return found.group(1).strip()


def section(html: str, element_id: str) -> str:
    """The markup of the element with this id, up to the next element with an id of that kind."""
    start = html.index(f'id="{element_id}"')
    end = html.find("</section>", start)
    return html[start : end if end != -1 else len(html)]


def page(client: httpx.Client, store: Store, **params: str) -> str:
    reply = client.get(PAGE, params={"project": store.project.slug, **params})
    assert reply.status_code == 200, reply.text[:2000]
    return reply.text


def summary_api(client: httpx.Client, store: Store, window: str) -> dict[str, Any]:
    with store.engine.begin() as conn:
        _, token = accounts.create_token(conn, "viewer", "page-test", SystemClock().now_ms())
    reply = client.get(
        "/api/v1/security/summary",
        params={"project": store.project.slug, "window": window},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def attack(seeder: Seeder, clock: ManualClock) -> list[str]:
    """A brute force on alice from one IP (7 failures a second apart) and a .env probe."""
    failures = []
    for _ in range(7):
        failures.append(
            seeder.security(seed_call("authentication", "login_failed", user_id="alice", client_ip=ATTACKER))
        )
        clock.advance(1)
    seeder.batch([request_item("https://app.example/.env", 404, client_ip=PROBER)])
    return failures


def test_the_navigation_entry_leads_to_the_seeds_path(admin: httpx.Client, store: Store) -> None:
    reply = admin.get("/security", params={"project": store.project.slug, "range": "24h"})
    assert reply.status_code == 303
    assert reply.headers["location"] == f"{PAGE}?project={store.project.slug}&range=24h"
    html = page(admin, store, range="24h")
    nav = html.split('aria-label="Sections"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/security?project=' in nav
    assert 'aria-current="page">Security<' in nav
    assert "<h1>Security Dashboard</h1>" in html and "Last 24 hours" in html
    assert f'<body data-live-url="/live?project={store.project.slug}">' in html


def test_an_empty_project_says_how_to_send_a_first_event(admin: httpx.Client, store: Store) -> None:
    html = page(admin, store)
    for key in ("totalEvents", "authEvents", "authzEvents", "dataEvents", "apiEvents"):
        assert metric(html, key) == "0"
    assert 'data-threat-level="LOW"' in html and metric(html, "threat-score") == "0.00"
    empty = section(html, "security-empty")
    assert "No security events yet" in empty
    assert f"/api/monitoring/security?key={store.project.public_key}" in empty
    assert "login_failed" in empty and "syncmon project list" in empty
    assert 'id="detections"' not in html and 'id="recent-events"' not in html


def test_the_seed_cards_are_the_summary_apis_numbers(
    admin: httpx.Client, seeder: Seeder, store: Store, clock: ManualClock
) -> None:
    seed_calls = [
        *[seed_call("authentication", "login_failed", user_id="u1")] * 3,
        seed_call("authentication", "login_success", user_id="u1"),
        seed_call("authentication", "logout", user_id="u1"),  # a session event
        *[seed_call("authorization", "access_denied", target="/admin")] * 2,
        *[seed_call("data_access", "read", records=10)] * 4,
        seed_call("data_access", "delete"),
        seed_call("api_access", "rate_limit_exceeded"),
        seed_call("suspicious_activity", severity="high"),
    ]
    for payload in seed_calls:
        seeder.security(payload, trusted=False)
        clock.advance(1)
    # Two hours ago: inside 24 h, outside the last hour.
    seeder.security(seed_call("authentication", "login_failed", timestamp=iso(T0 - 2 * HOUR)), trusted=False)
    other = add_project(store, "other")
    Seeder(seeder.client, other).security(seed_call("authentication", "login_failed"))

    for window, expected in (("1h", (14, 4, 2, 5, 1)), ("24h", (15, 5, 2, 5, 1))):
        html = page(admin, store, range=window)
        api = summary_api(admin, store, window)
        shown = tuple(
            int(metric(html, key))
            for key in ("totalEvents", "authEvents", "authzEvents", "dataEvents", "apiEvents")
        )
        assert shown == expected
        assert shown == (
            api["totalEvents"],
            api["authEvents"],
            api["authzEvents"],
            api["dataEvents"],
            api["apiEvents"],
        )
        assert metric(html, "lastUpdated") == api["lastUpdated"] == iso(clock.now_ms())
    other_categories = html.split('class="muted other-categories"', 1)[1].split("</p>", 1)[0]
    assert (
        'data-category="Session">1<' in other_categories
        and 'data-category="Malicious">1<' in other_categories
    )
    # All projects: the other project's event counts too, and so does the admin's login,
    # a security event of the monitor's own project.
    every = admin.get(PAGE, params={"range": "24h"}).text
    assert metric(every, "totalEvents") == "17"


def test_the_chart_counts_each_category_from_the_rollups(
    admin: httpx.Client, seeder: Seeder, store: Store
) -> None:
    for minutes_ago, call in (
        (50, seed_call("authentication", "login_failed")),
        (50, seed_call("authentication", "login_failed")),
        (20, seed_call("data_access", "export")),
        (5, seed_call("authentication", "login_success")),
    ):
        seeder.security({**call, "timestamp": iso(T0 - minutes_ago * MIN)})
    html = page(admin, store, range="1h")
    raw = re.search(r"data-chart='([^']*)'", html)
    assert raw is not None
    spec = json.loads(raw.group(1).replace("&#34;", '"').replace("&amp;", "&"))
    assert spec["kind"] == "stacked" and len(spec["x"]) == 61  # one-minute buckets over the hour
    assert spec["x"][0] == (T0 - HOUR) // 1000
    series = {s["label"]: s["values"] for s in spec["series"]}
    assert set(series) == {"Authentication", "Data access"}
    assert sum(series["Authentication"]) == 3 and sum(series["Data access"]) == 1
    assert series["Authentication"][10] == 2  # the bucket fifty minutes ago
    assert series["Data access"][40] == 1
    fallback = section(html, "by-category")
    assert "<td>Authentication</td><td>3</td>" in fallback and "<td>Data access</td><td>1</td>" in fallback
    wider = page(admin, store, range="24h")
    spec = json.loads(re.search(r"data-chart='([^']*)'", wider).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert len(spec["x"]) in (48, 49) and "Per 30 min" in wider


def test_threat_detections_offenders_and_evidence(
    admin: httpx.Client, seeder: Seeder, store: Store, clock: ManualClock
) -> None:
    failures = attack(seeder, clock)
    seeder.security(seed_call("authentication", "login_success", user_id="bob", client_ip="192.0.2.10"))

    def detected() -> str | None:
        html = page(admin, store)
        return (
            html if 'data-rule="brute_force"' in html and 'data-rule="sensitive_file_probe"' in html else None
        )

    html = wait_for(detected)
    # Brute force (high) and the probe (high): 73 + 73 / 2^1.5 = 98.81, CRITICAL.
    assert 'data-threat-level="CRITICAL"' in html and metric(html, "threat-score") == "98.81"
    threat = section(html, "threat")
    assert 'data-contributor="brute_force"' in threat and 'data-contributor="sensitive_file_probe"' in threat
    assert ">73.00<" in threat and ">25.81<" in threat

    detections = section(html, "detections")
    brute = detections.split('data-rule="brute_force"', 1)[1].split("</tr>", 1)[0]
    assert 'class="severity severity-high"' in brute and ">100.0 %<" in brute
    assert "open" in brute and ">alice<" in brute
    detection_id = re.search(r'data-detection="(\d+)" data-rule="brute_force"', detections).group(1)  # type: ignore[union-attr]
    with store.engine.connect() as conn:
        stored = dict(detection_store.find(conn, detection_store.DetectionQuery(project_id=store.project.id)))
    recorded = stored[int(detection_id)]
    assert f'data-metric="count">{recorded.count}<' in brute
    assert f">{recorded.title}<" in brute
    assert f'href="{PAGE}/detections/{detection_id}?project={store.project.slug}#evidence"' in brute

    ips = section(html, "offenders-ip")
    assert ips.index(PROBER) < ips.index(ATTACKER)  # flagged by a detector ranks first
    attacker_row = ips.split(f'data-offender="{ATTACKER}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-metric="failures">7<' in attacker_row and 'data-metric="events">7<' in attacker_row
    assert "192.0.2.10" not in ips  # a successful login offends nobody
    accounts_html = section(html, "offenders-account")
    alice = accounts_html.split('data-offender="alice"', 1)[1].split("</tr>", 1)[0]
    assert "brute_force" in alice and 'data-metric="failures">7<' in alice
    assert 'data-offender="bob"' not in accounts_html

    recent = section(html, "recent-events")
    assert recent.count('class="security-event') == 9  # 7 failures, bob's login, and none of the request
    assert "authn_login_success" in recent and "Recent Security Events" in recent

    detail = admin.get(f"{PAGE}/detections/{detection_id}", params={"project": store.project.slug})
    assert detail.status_code == 200
    evidence = section(detail.text, "evidence")
    shown = re.findall(r'data-event="([0-9a-f]+)"', evidence)
    assert shown and set(shown) <= set(failures)
    assert "fast" in detail.text and ATTACKER in detail.text  # the detector's details
    missing = admin.get(f"{PAGE}/detections/999999")
    assert missing.status_code == 404 and "There is no detection 999999" in missing.text
    assert admin.get(f"{PAGE}/detections/abc").status_code == 404


def test_subject_timelines(admin: httpx.Client, seeder: Seeder, store: Store, clock: ManualClock) -> None:
    failures = attack(seeder, clock)
    wait_for(lambda: 'data-rule="brute_force"' in page(admin, store))

    alice = page(admin, store, subject="alice")
    assert "Account <span" in alice and 'data-threat-level="HIGH"' in alice
    timeline = section(alice, "timeline")
    events = re.findall(r'data-event="([0-9a-f]+)"', timeline)
    assert events == list(reversed(failures))
    assert timeline.count('class="timeline-detection') == 1 and "brute_force" in timeline
    assert metric(alice, "events") == "7" and metric(alice, "detections") == "1"

    # The same failures by IP; the detection is about the account, so the IP's level is LOW.
    by_ip = page(admin, store, subject=ATTACKER)
    assert "IP <span" in by_ip and 'data-threat-level="LOW"' in by_ip
    assert re.findall(r'data-event="([0-9a-f]+)"', section(by_ip, "timeline")) == list(reversed(failures))
    prober = page(admin, store, subject=PROBER)
    assert 'data-threat-level="HIGH"' in prober and "sensitive_file_probe" in prober
    assert ">request<" in section(prober, "timeline")  # the reported request, shown as one

    case = page(admin, store, subject="ALICE", subject_type="account")
    assert 'data-threat-level="HIGH"' in case  # detections name accounts case-folded
    nobody = page(admin, store, subject="nobody")
    assert "Nothing about nobody" in nobody and 'data-threat-level="LOW"' in nobody
    odd = page(admin, store, subject="alice", subject_type="user")
    assert "“user” is not a subject type" in odd


def test_range_and_project_are_honoured(admin: httpx.Client, seeder: Seeder, store: Store) -> None:
    seeder.security(seed_call("authorization", "forbidden", user_id="old", timestamp=iso(T0 - 3 * HOUR)))
    seeder.security(seed_call("authorization", "forbidden", user_id="recent"))
    other = add_project(store, "Other shop")
    Seeder(seeder.client, other).security(seed_call("data_access", "export", user_id="elsewhere"))

    hour = page(admin, store, range="1h")
    assert metric(hour, "totalEvents") == "1" and ">recent<" in hour and ">old<" not in hour
    six = page(admin, store, range="6h")
    assert metric(six, "totalEvents") == "2" and ">old<" in six
    assert ">elsewhere<" not in six
    every = admin.get(PAGE, params={"range": "6h"}).text
    assert metric(every, "totalEvents") == "4" and ">elsewhere<" in every  # + the admin's login
    assert f'data-project="{other.slug}"' in section(every, "threat")  # a threat block per project
    only_other = admin.get(PAGE, params={"project": other.slug}).text
    assert metric(only_other, "totalEvents") == "1" and metric(only_other, "dataEvents") == "1"
    filtered = page(admin, store, range="6h", category="data_access")
    assert "No data_access security events" in filtered
    bad = page(admin, store, category="<b>x</b>")
    assert "“&lt;b&gt;x&lt;/b&gt;” is not a category" in bad


def test_an_older_range_points_to_a_longer_one(admin: httpx.Client, seeder: Seeder, store: Store) -> None:
    seeder.security(seed_call("authorization", "forbidden", user_id="old", timestamp=iso(T0 - 3 * HOUR)))
    html = page(admin, store, range="1h")
    empty = section(html, "security-empty")
    assert "No security events in this range" in empty and "Choose a longer time range" in empty
    assert "/api/monitoring/security" not in empty


def test_ingested_markup_is_shown_as_text(
    admin: httpx.Client, seeder: Seeder, store: Store, clock: ManualClock
) -> None:
    seeder.security(
        seed_call(
            "authentication",
            "login_failed",
            user_id=XSS,
            client_ip=ATTACKER,
            url=f"https://app.example/login?next={XSS_SCRIPT}",
            note=XSS_SCRIPT,
        ),
        **{"User-Agent": XSS},
    )
    seeder.security(seed_call(XSS_SCRIPT, severity="high"))  # an event type nobody knows
    html = page(admin, store)
    for raw in (XSS, XSS_SCRIPT):
        assert raw not in html
    recent = section(html, "recent-events")
    assert escaped(XSS) in recent and escaped(XSS_SCRIPT) in recent
    assert "<script>" not in html and " onerror=" not in html.replace("onerror=&#34;", "")
    timeline = page(admin, store, subject=XSS)
    assert XSS not in timeline and escaped(XSS) in timeline


def test_viewers_may_look_and_strangers_may_not(server: LiveServer, store: Store) -> None:
    with store.engine.begin() as conn:
        accounts.create_user(conn, "viewer@example.com", "viewer-password", "viewer", T0)
    with server.client() as client:
        assert client.get(PAGE).status_code == 303  # to the login page
        Dashboard(client).login_ok("viewer@example.com", "viewer-password")
        assert client.get(PAGE, params={"project": store.project.slug}).status_code == 200
        assert client.post(PAGE).status_code == 405


def add_project(store: Store, name: str) -> projects.Project:
    with store.engine.begin() as conn:
        return projects.create_project(conn, name, SystemClock().now_ms())


def test_hostile_parameters_get_a_page_not_a_server_error(admin: httpx.Client, store: Store) -> None:
    """NUL and other control characters (PostgreSQL refuses NUL in a query), long values."""
    for params in (
        {"subject": "\x00"},
        {"subject": "alice\x00", "subject_type": "\x00"},
        {"subject": "x" * 10_000},
        {"category": "\x00"},
        {"range": "\x00", "project": "\x00"},
    ):
        reply = admin.get(PAGE, params=params)
        assert reply.status_code == 200, (params, reply.text[:500])
    assert admin.get(PAGE, params={"subject": "alice\x00"}).text.count("Account <span") == 1
    assert admin.get(f"{PAGE}/detections/" + "9" * 40).status_code == 404
