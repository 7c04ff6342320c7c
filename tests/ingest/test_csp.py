"""Browser CSP reports against the real server, on SQLite and PostgreSQL.

Payloads are the shapes browsers send: `report-uri` (`application/csp-report`, Chrome and
Firefox spellings) and the Reporting API (`application/reports+json`, Chrome's `report-to`).
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from syncmon.clock import Clock, ManualClock
from syncmon.events import Event
from syncmon.ingest import csp
from syncmon.security import detection_store
from syncmon.security.signals import signal_from_event
from syncmon.settings import Settings
from syncmon.store import eventlog
from syncmon.store.schema import events as events_table
from tests.conftest import Store
from tests.support.live import LiveServer

APP = "https://app.syncscript.test"
POLICY = (
    "default-src 'self'; script-src 'self' 'nonce-r4nd0m'; "
    "report-uri /api/monitoring/csp?key=k; report-to csp"
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
# Chrome, report-uri: a blocked external script.
CHROME_REPORT = {
    "csp-report": {
        "document-uri": f"{APP}/dashboard",
        "referrer": f"{APP}/login",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "original-policy": POLICY,
        "disposition": "enforce",
        "blocked-uri": "https://evil.example/x.js?v=3",
        "status-code": 200,
        "script-sample": "",
    }
}
# Firefox, report-uri: an inline script, with where it was.
FIREFOX_REPORT = {
    "csp-report": {
        "blocked-uri": "inline",
        "column-number": 7,
        "document-uri": f"{APP}/settings",
        "line-number": 42,
        "original-policy": POLICY,
        "referrer": "",
        "source-file": f"{APP}/settings",
        "violated-directive": "script-src-elem",
        "script-sample": "alert(document.cookie)",
        "disposition": "enforce",
    }
}
# Old Firefox / Safari: no effective-directive, the whole directive in violated-directive.
OLD_REPORT = {
    "csp-report": {
        "document-uri": f"{APP}/",
        "violated-directive": "style-src 'self' 'nonce-r4nd0m'",
        "original-policy": POLICY,
        "blocked-uri": "data",
    }
}
# Chrome, Reporting API (report-to / Reporting-Endpoints).
REPORTING_CSP: dict[str, Any] = {
    "age": 1500,
    "body": {
        "blockedURL": "eval",
        "columnNumber": 39,
        "disposition": "report",
        "documentURL": f"{APP}/editor",
        "effectiveDirective": "script-src",
        "lineNumber": 15,
        "originalPolicy": POLICY,
        "referrer": "",
        "sample": "",
        "sourceFile": f"{APP}/_next/static/chunks/editor.js",
        "statusCode": 200,
    },
    "type": "csp-violation",
    "url": f"{APP}/editor",
    "user_agent": CHROME,
}
REPORTING_DEPRECATION = {
    "age": 10,
    "body": {"id": "UnloadHandler", "message": "Unload event listeners are deprecated.", "lineNumber": 1},
    "type": "deprecation",
    "url": f"{APP}/editor",
    "user_agent": CHROME,
}
REPORTING_EXTENSION = {
    **REPORTING_CSP,
    "age": 5,
    "body": {**REPORTING_CSP["body"], "blockedURL": "chrome-extension://abcdefghijklmnop/inject.js"},
}


def serve(store: Store, settings: Settings | None = None, clock: Clock | None = None) -> LiveServer:
    """A live server with the CSP route, whether or not app.py wires it yet."""
    server = LiveServer(settings or store.settings, store.engine, clock=clock)
    if csp.PATH not in {getattr(route, "path", None) for route in server.app.router.routes}:
        server.app.router.routes.extend(csp.routes(server.services.gateway))
    return server


@pytest.fixture
def site(store: Store) -> Iterator[LiveServer]:
    with serve(store) as server:
        yield server


def report(
    site: LiveServer,
    store: Store,
    body: Any,
    *,
    content_type: str = "application/csp-report",
    key: str | None = "public",
    **headers: str,
) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    params = {"key": store.project.public_key if key == "public" else key} if key else {}
    return httpx.post(
        site.url + csp.PATH,
        params=params,
        content=content,
        headers={"Content-Type": content_type, "User-Agent": CHROME, **headers},
        timeout=30,
    )


def all_events(store: Store) -> list[Event]:
    with store.engine.connect() as conn:
        ids = conn.execute(sa.select(events_table.c.id).order_by(events_table.c.seq)).scalars().all()
        found = [eventlog.get_event(conn, event_id) for event_id in ids]
    return [event for event in found if event is not None]


def outcomes(site: LiveServer) -> dict[str, float]:
    registry = site.services.telemetry.registry
    return {
        outcome: registry.get_sample_value("syncmon_csp_reports_total", {"outcome": outcome}) or 0.0
        for outcome in csp.OUTCOMES
    }


def counted(site: LiveServer, **expected: float) -> None:
    assert outcomes(site) == {outcome: expected.get(outcome, 0.0) for outcome in csp.OUTCOMES}


# ------------------------------------------------------------------------------------------
# What is stored


def test_chrome_report_uri(site: LiveServer, store: Store) -> None:
    response = report(site, store, CHROME_REPORT, Origin=APP)
    assert response.status_code == 204, response.text
    assert response.content == b""
    (event,) = all_events(store)
    assert (event.kind, event.name, event.level) == ("error", "csp_violation", "warning")
    assert event.url == f"{APP}/dashboard"
    assert event.message == "CSP script-src-elem: blocked evil.example"
    assert {k: event.data.get(k) for k in ("violated_directive", "effective_directive", "blocked_uri")} == {
        "violated_directive": "script-src-elem",
        "effective_directive": "script-src-elem",
        "blocked_uri": "https://evil.example/x.js?v=3",
    }
    assert event.data["document_uri"] == f"{APP}/dashboard"
    assert event.data["referrer"] == f"{APP}/login"
    assert (event.data["status_code"], event.data["disposition"]) == (200, "enforce")
    assert event.data["original_policy"] == POLICY
    assert event.data["report_format"] == "csp-report"
    assert event.data["type"] == "csp_violation"
    assert "sample" not in event.data  # empty: not stored
    assert event.fingerprint is not None and event.issue_id is not None
    assert (event.browser, event.client_ip, event.trusted) == ("Chrome", "127.0.0.1", False)
    counted(site, stored=1)


def test_firefox_inline_report_keeps_where_and_what(site: LiveServer, store: Store) -> None:
    assert report(site, store, FIREFOX_REPORT).status_code == 204
    (event,) = all_events(store)
    assert event.message == "CSP script-src-elem: blocked inline code"
    assert (event.data["blocked_uri"], event.data["effective_directive"]) == ("inline", "script-src-elem")
    assert (event.data["source_file"], event.data["line_number"], event.data["column_number"]) == (
        f"{APP}/settings",
        42,
        7,
    )
    assert event.data["sample"] == "alert(document.cookie)"


def test_old_reports_without_effective_directive(site: LiveServer, store: Store) -> None:
    assert report(site, store, OLD_REPORT, content_type="application/json").status_code == 204
    (event,) = all_events(store)
    assert event.data["effective_directive"] == "style-src"
    assert event.data["violated_directive"] == "style-src 'self' 'nonce-r4nd0m'"
    assert event.data["blocked_uri"] == "data"  # data: is the site's own policy problem: kept
    assert event.message == "CSP style-src: blocked data"


def test_reporting_api_batch(site: LiveServer, store: Store) -> None:
    body = [REPORTING_CSP, REPORTING_DEPRECATION, REPORTING_EXTENSION]
    response = report(site, store, body, content_type="application/reports+json")
    assert response.status_code == 204, response.text
    (event,) = all_events(store)
    assert event.name == "csp_violation"
    assert event.url == f"{APP}/editor"
    assert (event.data["blocked_uri"], event.data["effective_directive"]) == ("eval", "script-src")
    assert (event.data["disposition"], event.data["line_number"]) == ("report", 15)
    assert event.data["source_file"] == f"{APP}/_next/static/chunks/editor.js"
    assert event.data["report_format"] == "reports+json"
    assert event.message == "CSP script-src: blocked eval()"
    # `age` says how long before sending the browser generated the report.
    assert event.received_ms - event.timestamp_ms == 1500
    counted(site, stored=1, ignored=1, dropped_noise=1)


def test_either_shape_under_any_accepted_type(site: LiveServer, store: Store) -> None:
    for content_type in ("application/json", "application/csp-report", "application/reports+json"):
        assert report(site, store, [REPORTING_CSP], content_type=content_type).status_code == 204
        assert report(site, store, REPORTING_CSP, content_type=content_type).status_code == 204
        assert report(site, store, [CHROME_REPORT], content_type=content_type).status_code == 204
        assert (
            report(site, store, CHROME_REPORT, content_type=f"{content_type}; charset=utf-8").status_code
            == 204
        )
    # The same two violations each time: two stored, the rest are duplicates.
    assert len(all_events(store)) == 2
    counted(site, stored=2, duplicate=10)


def test_the_inner_object_alone_is_accepted(site: LiveServer, store: Store) -> None:
    assert report(site, store, CHROME_REPORT["csp-report"]).status_code == 204
    (event,) = all_events(store)
    assert event.data["blocked_uri"] == "https://evil.example/x.js?v=3"


def test_reporting_api_preflight(site: LiveServer, store: Store) -> None:
    # Chrome preflights a cross-origin report-to upload.
    response = httpx.options(
        site.url + csp.PATH,
        params={"key": store.project.public_key},
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert "content-type" in response.headers["access-control-allow-headers"]


def test_grouping_by_directive_and_blocked_host(site: LiveServer, store: Store) -> None:
    def variant(document: str, blocked: str, directive: str = "script-src-elem") -> dict[str, Any]:
        changed = copy.deepcopy(CHROME_REPORT)
        changed["csp-report"].update(
            {"document-uri": document, "blocked-uri": blocked, "effective-directive": directive}
        )
        return changed

    for body in (
        variant(f"{APP}/a", "https://evil.example/x.js"),
        variant(f"{APP}/b", "https://evil.example/other.js?q=1"),
        variant(f"{APP}/c", "https://evil.example/x.js", "img-src"),
        variant(f"{APP}/d", "https://cdn.example/x.js"),
    ):
        assert report(site, store, body).status_code == 204
    first, same_host, other_directive, other_host = all_events(store)
    assert first.issue_id == same_host.issue_id
    assert len({first.issue_id, other_directive.issue_id, other_host.issue_id}) == 3


def test_it_feeds_the_security_signals(site: LiveServer, store: Store) -> None:
    report(site, store, CHROME_REPORT)
    (event,) = all_events(store)
    signal = signal_from_event(event)
    assert signal is not None
    assert (signal.name, signal.target, dict(signal.details)) == (
        "malicious_csp_violation",
        "https://evil.example/x.js?v=3",
        {"directive": "script-src-elem"},
    )


# ------------------------------------------------------------------------------------------
# Noise


@pytest.mark.parametrize(
    "blocked",
    [
        "chrome-extension://abcdefghijklmnop/content.js",
        "moz-extension://0d5f5a3c-1111-2222-3333-444455556666/inject.js",
        "safari-extension://com.example.ext-ABC/script.js",
        "safari-web-extension://6F5B2C7A-1234/content.js",
        "ms-browser-extension://x/y.js",
        "moz-extension",
        "chrome-extension",
        "about",
        "about:blank",
        "about:srcdoc",
        "chrome://new-tab-page/",
        "resource://gre/modules/x.js",
        "webviewprogressproxy://progress",
    ],
)
def test_extension_and_browser_noise_is_dropped(site: LiveServer, store: Store, blocked: str) -> None:
    body = copy.deepcopy(CHROME_REPORT)
    body["csp-report"]["blocked-uri"] = blocked
    assert report(site, store, body).status_code == 204
    assert all_events(store) == []
    counted(site, dropped_noise=1)


def test_a_source_file_of_an_extension_is_noise_too(site: LiveServer, store: Store) -> None:
    body = copy.deepcopy(FIREFOX_REPORT)
    body["csp-report"]["source-file"] = "moz-extension://0d5f5a3c/inject.js"
    assert report(site, store, body).status_code == 204
    assert all_events(store) == []


@pytest.mark.parametrize("blocked", ["inline", "eval", "wasm-eval", "data", "blob", "self", ""])
def test_real_violations_are_kept(site: LiveServer, store: Store, blocked: str) -> None:
    body = copy.deepcopy(CHROME_REPORT)
    body["csp-report"]["blocked-uri"] = blocked
    assert report(site, store, body).status_code == 204
    (event,) = all_events(store)
    assert event.data.get("blocked_uri") == (blocked or None)


@pytest.mark.parametrize(
    ("uri", "noise"),
    [
        ("chrome-extension://x/y.js", True),
        ("CHROME-EXTENSION://X/Y.JS", True),
        ("  moz-extension://x ", True),
        ("data:text/html,chromewebdata", True),
        ("about", True),
        ("https://about.example/x.js", False),
        ("https://chrome-extension.example/", False),
        ("data:image/png;base64,AAAA", False),
        ("inline", False),
        (None, False),
        ("", False),
    ],
)
def test_is_noise(uri: str | None, noise: bool) -> None:
    assert csp.is_noise(uri) is noise


@pytest.mark.parametrize(
    ("blocked", "source"),
    [
        ("https://evil.example/x.js?v=1", "evil.example"),
        ("https://evil.example:8443/x.js", "evil.example:8443"),
        ("wss://socket.example/live", "socket.example"),
        ("inline", "inline"),
        ("EVAL", "eval"),
        ("data", "data"),
        ("data:image/png;base64,AAAA", "data:"),
        ("blob:https://app.example/1234", "blob:"),
        ("", "self"),
        (None, "self"),
        ("'self'", "self"),
        ("https://[::1/x", "https://[::1/x"),  # unparsable: as sent
    ],
)
def test_blocked_source(blocked: str | None, source: str) -> None:
    assert csp.blocked_source(blocked) == source


# ------------------------------------------------------------------------------------------
# Duplicates


def test_duplicates_within_a_minute_are_counted_not_stored(store: Store, manual_clock: ManualClock) -> None:
    with serve(store, clock=manual_clock) as site:
        for _ in range(5):
            assert report(site, store, CHROME_REPORT).status_code == 204
        assert len(all_events(store)) == 1
        counted(site, stored=1, duplicate=4)

        manual_clock.advance(59.9)  # the window runs from the stored report, not the last one
        report(site, store, CHROME_REPORT)
        assert len(all_events(store)) == 1
        manual_clock.advance(0.1)
        report(site, store, CHROME_REPORT)
        assert len(all_events(store)) == 2
        counted(site, stored=2, duplicate=5)

        other_page = copy.deepcopy(CHROME_REPORT)
        other_page["csp-report"]["document-uri"] = f"{APP}/elsewhere"
        other_directive = copy.deepcopy(CHROME_REPORT)
        other_directive["csp-report"]["effective-directive"] = "script-src"
        other_blocked = copy.deepcopy(CHROME_REPORT)
        other_blocked["csp-report"]["blocked-uri"] = "https://evil.example/y.js"
        for body in (other_page, other_directive, other_blocked):
            report(site, store, body)
        assert len(all_events(store)) == 5


def test_duplicates_inside_one_reporting_batch(site: LiveServer, store: Store) -> None:
    response = report(site, store, [REPORTING_CSP] * 4, content_type="application/reports+json")
    assert response.status_code == 204
    assert len(all_events(store)) == 1
    counted(site, stored=1, duplicate=3)


def test_the_same_violation_from_other_browsers_is_stored(store: Store) -> None:
    settings = store.settings_with(trusted_proxies=["127.0.0.0/8"])
    with serve(store, settings) as site:
        for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.1"):
            report(site, store, CHROME_REPORT, **{"X-Forwarded-For": ip})
        assert sorted(e.client_ip or "" for e in all_events(store)) == ["198.51.100.1", "198.51.100.2"]
        counted(site, stored=2, duplicate=1)


def test_a_burst_across_browsers_reaches_the_burst_detector(store: Store) -> None:
    settings = store.settings_with(trusted_proxies=["127.0.0.0/8"])
    with serve(store, settings) as site:
        for n in range(25):
            report(site, store, CHROME_REPORT, **{"X-Forwarded-For": f"198.51.100.{n + 1}"})
        assert len(all_events(store)) == 25
        deadline = time.monotonic() + 15
        query = detection_store.DetectionQuery(project_id=store.project.id, rule="csp_violation_burst")
        while True:
            with store.engine.connect() as conn:
                found = detection_store.find(conn, query)
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert found, "no csp_violation_burst detection"


def test_recent_violations_are_bounded_and_expire() -> None:
    clock = ManualClock()
    recent = csp.RecentViolations(clock, window_ms=60_000, max_size=3)
    keys = [(1, "script-src", f"https://x.example/{n}", "doc", "ip") for n in range(5)]
    for n, key in enumerate(keys):
        assert not recent.duplicate(key)
        recent.remember(key, f"event-{n}")
    assert len(recent) == 3
    assert not recent.duplicate(keys[0])  # evicted: stored again rather than lost
    assert recent.duplicate(keys[4]) and recent.duplicate(keys[4])
    assert recent.get(keys[4]) == ("event-4", 2)
    clock.advance(60)
    assert not recent.duplicate(keys[4])
    recent.remember(keys[4], "event-5")
    assert len(recent) == 1  # the expired ones went
    recent.forget(keys[4], "event-other")
    assert len(recent) == 1
    recent.forget(keys[4], "event-5")
    assert len(recent) == 0


# ------------------------------------------------------------------------------------------
# Refusals: 4xx, never 500


REFUSALS: list[tuple[bytes, str, int, str]] = [
    (b"{not json", "application/csp-report", 400, "not valid JSON"),
    (b"", "application/csp-report", 400, "empty"),
    (b"   ", "application/reports+json", 400, "empty"),
    (b"{}", "application/csp-report", 400, "expected"),
    (b"[]", "application/reports+json", 400, "empty"),
    (b"42", "application/json", 400, "expected"),
    (b'{"csp-report": "x"}', "application/csp-report", 400, "csp-report: expected a JSON object"),
    (b'{"csp-report": {}}', "application/csp-report", 400, "effective-directive: required"),
    (
        b'{"csp-report": {"effective-directive": "img-src", "blocked-uri": 7}}',
        "application/csp-report",
        400,
        "blocked-uri: expected a string",
    ),
    (b"[1, 2]", "application/reports+json", 400, "[0]: expected a JSON object"),
    (b'[{"body": {}}]', "application/reports+json", 400, "[0].type"),
    (b'[{"type": "csp-violation", "body": "x"}]', "application/reports+json", 400, "[0].body"),
    (b'[{"type": "csp-violation", "body": {}}]', "application/reports+json", 400, "effectiveDirective"),
    (b'{"csp-report": {"effective-directive": "img-src"}}', "text/plain", 415, "Content-Type"),
    (b'{"csp-report": {"effective-directive": "img-src"}}', "text/html", 415, "Content-Type"),
    (b"csp-report=1", "application/x-www-form-urlencoded", 415, "Content-Type"),
    (b'{"csp-report": {"effective-directive": "img-src"}}', "", 415, "Content-Type"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "message"), REFUSALS)
def test_refusals(
    site: LiveServer, store: Store, body: bytes, content_type: str, status: int, message: str
) -> None:
    response = report(site, store, body, content_type=content_type)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert all_events(store) == []


def test_a_batch_with_some_bad_reports_stores_the_good_ones(site: LiveServer, store: Store) -> None:
    body = [REPORTING_CSP, {"type": "csp-violation", "body": {"blockedURL": 5}}, "junk"]
    response = report(site, store, body, content_type="application/reports+json")
    assert response.status_code == 204
    assert len(all_events(store)) == 1
    counted(site, stored=1, invalid=2)


def test_a_batch_of_other_report_types_stores_nothing(site: LiveServer, store: Store) -> None:
    response = report(site, store, [REPORTING_DEPRECATION] * 2, content_type="application/reports+json")
    assert response.status_code == 204
    assert all_events(store) == []
    counted(site, ignored=2)


@pytest.mark.parametrize(
    ("key", "expected"),
    [(None, "missing project key"), ("nope", "unknown project key"), ("secret", "secret key")],
)
def test_keys(site: LiveServer, store: Store, key: str | None, expected: str) -> None:
    if key == "secret":
        key = store.project.secret_key
    response = report(site, store, CHROME_REPORT, key=key)
    assert response.status_code == 401
    assert expected in response.json()["error"]


def test_the_key_may_come_in_the_header(site: LiveServer, store: Store) -> None:
    response = report(site, store, CHROME_REPORT, key=None, **{"X-Syncmon-Key": store.project.public_key})
    assert response.status_code == 204


def test_size_limits(store: Store) -> None:
    settings = store.settings_with(max_body_bytes=8192, max_batch_events=3)
    with serve(store, settings) as site:
        too_many = report(site, store, [REPORTING_CSP] * 4, content_type="application/reports+json")
        assert too_many.status_code == 413
        big = copy.deepcopy(CHROME_REPORT)
        big["csp-report"]["original-policy"] = "x" * 10_000
        assert report(site, store, big).status_code == 413
        counted(site, invalid=1)
    assert all_events(store) == []


def test_long_fields_are_clipped(site: LiveServer, store: Store) -> None:
    body = copy.deepcopy(FIREFOX_REPORT)
    body["csp-report"].update({"original-policy": "p" * 20_000, "script-sample": "s" * 5000})
    assert report(site, store, body).status_code == 204
    (event,) = all_events(store)
    assert (len(event.data["original_policy"]), len(event.data["sample"])) == (8192, 256)


def _mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """A random near-miss of a valid body: wrong types, missing fields, odd values."""
    odd: list[Any] = [
        None,
        "",
        0,
        -1,
        2**40,
        1e308,
        True,
        [],
        {},
        "x" * 3000,
        "\u0000",
        "chrome-extension://x",
    ]
    if isinstance(value, dict) and value and depth < 4:
        out = dict(value)
        key = rng.choice(sorted(out))
        roll = rng.random()
        if roll < 0.25:
            del out[key]
        elif roll < 0.6:
            out[key] = rng.choice(odd)
        else:
            out[key] = _mutate(rng, out[key], depth + 1)
        return out
    if isinstance(value, list) and value and depth < 4:
        items = list(value)
        index = rng.randrange(len(items))
        items[index] = _mutate(rng, items[index], depth + 1) if rng.random() < 0.7 else rng.choice(odd)
        return items
    return rng.choice(odd)


def test_fuzzed_reports_get_204_or_4xx_never_500(site: LiveServer, store: Store) -> None:
    rng = random.Random(20261128)
    valid: list[Any] = [
        CHROME_REPORT,
        FIREFOX_REPORT,
        OLD_REPORT,
        [REPORTING_CSP, REPORTING_DEPRECATION],
        REPORTING_CSP,
    ]
    statuses: set[int] = set()
    with httpx.Client(timeout=30) as client:
        for _ in range(int(os.environ.get("SYNCMON_FUZZ_ROUNDS", "80"))):
            body = _mutate(rng, rng.choice(valid))
            content = orjson.dumps(body)
            if rng.random() < 0.1:
                content = content[: rng.randrange(len(content) + 1)] + bytes([rng.randrange(256)])
            content_type = rng.choice(
                ["application/csp-report", "application/reports+json", "application/json", "text/plain"]
            )
            response = client.post(
                site.url + csp.PATH,
                params={"key": store.project.public_key},
                content=content,
                headers={"Content-Type": content_type},
            )
            statuses.add(response.status_code)
            assert response.status_code in (204, 400, 413, 415), (content[:300], response.text)
    assert {204, 400} <= statuses
