"""The seed's endpoints against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import brotli
import httpx
import pytest
import sqlalchemy as sa

from syncmon.store import eventlog
from syncmon.store.schema import events as events_table
from syncmon.store.schema import rollup_counts
from tests.conftest import Store
from tests.support.live import LiveServer

SEED_ERROR = {
    "type": "javascript_error",
    "message": "Cannot read properties of undefined (reading 'id')",
    "filename": "https://app.syncscript.test/_next/static/chunks/main.js",
    "lineno": 12,
    "colno": 3456,
    "stack": "TypeError: Cannot read properties of undefined\n    at load (main.js:12:3456)",
    "timestamp": "2026-11-28T05:00:00.000Z",
}
SEED_SECURITY = {
    "event_type": "authentication",
    "auth_event": "login_failed",
    "timestamp": "2026-11-28T05:00:01.000Z",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
    "url": "https://app.syncscript.test/login",
    "email_domain": "example.com",
}
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def post(
    live: LiveServer,
    path: str,
    body: Any,
    *,
    key: str | None,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    params = {"key": key} if key else {}
    with live.client() as client:
        if content is not None:
            return client.post(path, params=params, content=content, headers=headers or {})
        return client.post(path, params=params, json=body, headers=headers or {})


def stored(store: Store, event_id: str) -> eventlog.Event:
    with store.engine.connect() as conn:
        found = eventlog.get_event(conn, event_id)
    assert found is not None, f"event {event_id} not stored"
    return found


def count_events(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one())


def test_seed_error_payload_is_stored(live: LiveServer, store: Store) -> None:
    response = post(
        live,
        "/api/monitoring/error",
        SEED_ERROR,
        key=store.project.public_key,
        headers={"User-Agent": CHROME},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    event = stored(store, body["id"])
    assert (event.kind, event.name, event.level) == ("error", "javascript_error", "error")
    assert event.message == "TypeError: " + SEED_ERROR["message"]
    assert event.fingerprint is not None and event.issue_id is not None
    assert event.data["exception"]["values"][0]["stacktrace"]["frames"][-1]["function"] == "load"
    assert event.url == SEED_ERROR["filename"]
    assert event.data["lineno"] == 12 and event.data["stack"] == SEED_ERROR["stack"]
    assert event.timestamp_ms == 1795842000000
    assert (event.browser, event.os, event.device, event.is_bot) == ("Chrome", "Windows", "desktop", False)
    assert event.client_ip == "127.0.0.1"
    assert event.trusted is False


def test_csp_violation_from_error_monitoring_is_a_warning(live: LiveServer, store: Store) -> None:
    payload = {
        "type": "csp_violation",
        "message": "Content Security Policy violation",
        "violated_directive": "script-src",
        "blocked_uri": "https://evil.test/x.js",
        "timestamp": "2026-11-28T05:00:00Z",
    }
    response = post(live, "/api/monitoring/error", payload, key=store.project.public_key)
    event = stored(store, response.json()["id"])
    assert (event.name, event.level, event.data["blocked_uri"]) == (
        "csp_violation",
        "warning",
        payload["blocked_uri"],
    )


def test_seed_security_payload_is_stored(live: LiveServer, store: Store) -> None:
    response = post(
        live, "/api/monitoring/security", {**SEED_SECURITY, "severity": "high"}, key=store.project.public_key
    )
    assert response.status_code == 200
    event = stored(store, response.json()["id"])
    assert (event.kind, event.name, event.level) == ("security", "authn_login_fail", "error")
    assert (event.data["category"], event.data["event_type"]) == ("authentication", "authentication")
    assert event.message == "authentication: login_failed"
    assert event.data["auth_event"] == "login_failed"
    assert event.data["email_domain"] == "example.com"


def test_security_severity_defaults_to_info_and_unknown_is_refused(live: LiveServer, store: Store) -> None:
    ok = post(live, "/api/monitoring/security", SEED_SECURITY, key=store.project.public_key)
    assert stored(store, ok.json()["id"]).level == "info"
    bad = post(
        live,
        "/api/monitoring/security",
        {**SEED_SECURITY, "severity": "apocalyptic"},
        key=store.project.public_key,
    )
    assert bad.status_code == 400
    assert bad.json()["field"] == "severity"


def test_batch_mixes_kinds_and_returns_ids_in_order(live: LiveServer, store: Store) -> None:
    items = [
        {"name": "page_view", "url": "https://app.syncscript.test/docs", "timestamp": 1795842000000},
        {"name": "signup_clicked", "plan": "pro"},
        {
            "name": "performance_metric",
            "metric": "page_load_time",
            "value": 1834.5,
            "url": "https://app.syncscript.test/",
        },
        {"name": "error_occurred", "error_message": "boom", "error_name": "Error"},
        {"kind": "security", "event_type": "data_access", "data_event": "export", "severity": "warning"},
        {"kind": "custom", "name": "page_view_like_but_custom"},
    ]
    response = post(live, "/api/monitoring/events", items, key=store.project.public_key)
    assert response.status_code == 200, response.text
    ids = response.json()["ids"]
    assert len(ids) == len(items)
    kinds = [(stored(store, i).kind, stored(store, i).name) for i in ids]
    assert kinds == [
        ("page_view", "page_view"),
        ("custom", "signup_clicked"),
        ("performance_metric", "page_load_time"),
        ("error", "javascript_error"),
        ("security", "sensitive_read"),
        ("custom", "page_view_like_but_custom"),
    ]
    assert stored(store, ids[2]).value == 1834.5
    wrapped = post(live, "/api/monitoring/events", {"events": items[:2]}, key=store.project.public_key)
    assert len(wrapped.json()["ids"]) == 2


def test_rollups_count_what_was_stored(live: LiveServer, store: Store) -> None:
    items = [{"kind": "custom", "name": "click", "timestamp": "2026-11-28T05:00:10Z"}] * 5
    post(live, "/api/monitoring/events", items, key=store.project.public_key)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(rollup_counts.c.tier, rollup_counts.c.bucket, rollup_counts.c.count).where(
                rollup_counts.c.name == "click"
            )
        ).all()
    minute = 1795842000000 // 60000  # 05:00, on the hour
    assert sorted(rows) == [(1, minute, 5), (60, minute, 5), (1440, minute - 300, 5)]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize(
    "path", ["/api/monitoring/error", "/api/monitoring/security", "/api/monitoring/events"]
)
def test_other_methods_get_the_seeds_405(live: LiveServer, method: str, path: str) -> None:
    with live.client() as client:
        response = client.request(method, path)
    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed"}


def test_sendbeacon_text_plain_with_query_key(live: LiveServer, store: Store) -> None:
    response = post(
        live,
        "/api/monitoring/error",
        None,
        key=store.project.public_key,
        content=httpx.Request("POST", "/", json=SEED_ERROR).content,
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress)],
)
def test_compressed_bodies(live: LiveServer, store: Store, encoding: str, compress: Any) -> None:
    raw = httpx.Request("POST", "/", json=SEED_SECURITY).content
    response = post(
        live,
        "/api/monitoring/security",
        None,
        key=store.project.public_key,
        content=compress(raw),
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 200, response.text
    assert stored(store, response.json()["id"]).name == "authn_login_fail"


def test_secret_key_lets_a_server_name_the_end_user(live: LiveServer, store: Store) -> None:
    payload = {**SEED_SECURITY, "client_ip": "203.0.113.9", "user_id": "u-42", "user_agent": CHROME}
    response = post(
        live,
        "/api/monitoring/security",
        payload,
        key=None,
        headers={"X-Syncmon-Key": store.project.secret_key, "User-Agent": "python-httpx/0.28"},
    )
    event = stored(store, response.json()["id"])
    assert (event.client_ip, event.user_id, event.trusted, event.browser) == (
        "203.0.113.9",
        "u-42",
        True,
        "Chrome",
    )
    assert "client_ip" not in event.data


def test_public_key_cannot_claim_a_client_ip(live: LiveServer, store: Store) -> None:
    payload = {**SEED_SECURITY, "client_ip": "203.0.113.9"}
    response = post(live, "/api/monitoring/security", payload, key=store.project.public_key)
    event = stored(store, response.json()["id"])
    assert (event.client_ip, event.trusted) == ("127.0.0.1", False)


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(store: Store) -> None:
    spoof = {"X-Forwarded-For": "198.51.100.7, 203.0.113.50"}
    with LiveServer(store.settings, store.engine) as untrusted:
        response = post(
            untrusted, "/api/monitoring/error", SEED_ERROR, key=store.project.public_key, headers=spoof
        )
        assert stored(store, response.json()["id"]).client_ip == "127.0.0.1"
    with LiveServer(store.settings_with(trusted_proxies=["127.0.0.0/8"]), store.engine) as trusted:
        response = post(
            trusted, "/api/monitoring/error", SEED_ERROR, key=store.project.public_key, headers=spoof
        )
        assert stored(store, response.json()["id"]).client_ip == "203.0.113.50"


def test_pii_is_scrubbed_before_storage(live: LiveServer, store: Store) -> None:
    payload = {
        **SEED_ERROR,
        "message": "payment failed for card 4111 1111 1111 1111",
        "password": "hunter2",
        "context": {"Authorization": "Bearer abc.def.ghi", "headers": [["Cookie", "sid=1"]], "order": 42},
        "auth_event": "kept",
    }
    response = post(live, "/api/monitoring/error", payload, key=store.project.public_key)
    event = stored(store, response.json()["id"])
    assert event.message == "TypeError: payment failed for card [Filtered]"
    assert "4111" not in str(event.data)
    assert event.data["password"] == "[Filtered]"
    assert event.data["context"] == {
        "Authorization": "[Filtered]",
        "headers": [["Cookie", "[Filtered]"]],
        "order": 42,
    }
    assert event.data["auth_event"] == "kept"


def test_project_scrub_fields_are_applied(live: LiveServer, store: Store) -> None:
    from syncmon.store.projects import update_project

    with store.engine.begin() as conn:
        update_project(conn, store.project.slug, scrub_fields=["email_domain"])
    live.services.keyring.forget()
    response = post(live, "/api/monitoring/security", SEED_SECURITY, key=store.project.public_key)
    assert stored(store, response.json()["id"]).data["email_domain"] == "[Filtered]"


REFUSALS: list[tuple[str, Any, dict[str, str], int, str]] = [
    ("/api/monitoring/error", b"{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
    ("/api/monitoring/error", b"", {"Content-Type": "application/json"}, 400, "empty"),
    ("/api/monitoring/error", b"[1,2]", {"Content-Type": "application/json"}, 400, "expected a JSON object"),
    ("/api/monitoring/error", b'{"lineno": "twelve"}', {}, 400, "lineno"),
    ("/api/monitoring/error", b'{"lineno": -1}', {}, 400, "lineno"),
    ("/api/monitoring/error", b'{"timestamp": "yesterday"}', {}, 400, "timestamp"),
    ("/api/monitoring/error", b'{"timestamp": 1e300}', {}, 400, "timestamp"),
    ("/api/monitoring/error", b'{"type": ""}', {}, 400, "type"),
    ("/api/monitoring/security", b'{"severity": "high"}', {}, 400, "event_type"),
    ("/api/monitoring/security", b'{"event_type": 7}', {}, 400, "event_type"),
    ("/api/monitoring/events", b"{}", {}, 400, "events"),
    ("/api/monitoring/events", b"[]", {}, 400, "empty"),
    ("/api/monitoring/events", b'[{"kind": "telemetry"}]', {}, 400, "events[0].kind"),
    ("/api/monitoring/events", b'[{"kind": "page_view"}]', {}, 400, "events[0].url"),
    (
        "/api/monitoring/events",
        b'[{"kind": "performance_metric", "metric": "LCP", "value": "NaN"}]',
        {},
        400,
        "events[0].value",
    ),
    ("/api/monitoring/events", b'[{"name": "ok"}, 5]', {}, 400, "events[1]"),
    ("/api/monitoring/error", b'{"a":' * 100 + b"1" + b"}" * 100, {}, 400, "deeper"),
    ("/api/monitoring/error", b"{}", {"Content-Type": "application/xml"}, 415, "Content-Type"),
    ("/api/monitoring/error", b"{}", {"Content-Encoding": "compress"}, 415, "Content-Encoding"),
    ("/api/monitoring/error", b"\x1f\x8b garbage", {"Content-Encoding": "gzip"}, 400, "gzip"),
]


@pytest.mark.parametrize(("path", "body", "headers", "status", "says"), REFUSALS)
def test_bad_input_gets_a_clear_4xx_and_stores_nothing(
    live: LiveServer, store: Store, path: str, body: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    before = count_events(store)
    response = post(live, path, None, key=store.project.public_key, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    assert count_events(store) == before


def test_a_bad_item_rejects_the_whole_batch(live: LiveServer, store: Store) -> None:
    items = [{"name": "fine"}] * 10 + [{"kind": "performance_metric", "metric": "LCP"}]
    response = post(live, "/api/monitoring/events", items, key=store.project.public_key)
    assert response.status_code == 400
    assert response.json()["field"] == "events[10].value"
    assert count_events(store) == 0


def test_oversized_bodies_get_413(store: Store) -> None:
    settings = store.settings_with(max_body_bytes=2048, max_decompressed_bytes=4096, max_batch_events=5)
    with LiveServer(settings, store.engine) as live:
        big = post(live, "/api/monitoring/error", {"message": "x" * 5000}, key=store.project.public_key)
        assert big.status_code == 413
        bomb = gzip.compress(b'{"message": "' + b"a" * 1_000_000 + b'"}')
        inflated = post(
            live,
            "/api/monitoring/error",
            None,
            key=store.project.public_key,
            content=bomb,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert inflated.status_code == 413
        assert "after decompression" in inflated.json()["error"]
        many = post(live, "/api/monitoring/events", [{"name": "a"}] * 6, key=store.project.public_key)
        assert many.status_code == 413
    assert count_events(store) == 0


def test_keys(live: LiveServer, store: Store) -> None:
    missing = post(live, "/api/monitoring/error", SEED_ERROR, key=None)
    assert missing.status_code == 401 and "missing project key" in missing.json()["error"]
    unknown = post(live, "/api/monitoring/error", SEED_ERROR, key="0" * 32)
    assert unknown.status_code == 401 and "unknown project key" in unknown.json()["error"]
    secret_in_url = post(live, "/api/monitoring/error", SEED_ERROR, key=store.project.secret_key)
    assert secret_in_url.status_code == 401 and "header" in secret_in_url.json()["error"]
    header = post(
        live,
        "/api/monitoring/error",
        SEED_ERROR,
        key=None,
        headers={"X-Syncmon-Key": store.project.public_key},
    )
    assert header.status_code == 200
    assert count_events(store) == 1


def test_rate_limits_answer_429_with_retry_after(store: Store) -> None:
    settings = store.settings_with(rate_limit_per_ip="3/day", rate_limit_per_key="5/day")
    with LiveServer(settings, store.engine) as live:
        codes = [
            post(live, "/api/monitoring/error", SEED_ERROR, key=store.project.public_key).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        refused = post(live, "/api/monitoring/error", SEED_ERROR, key=store.project.public_key)
        assert int(refused.headers["Retry-After"]) >= 1
        assert "client IP" in refused.json()["error"]
        # The secret key is a server's: only the per-key limit applies, and it is reached too.
        secret = {"X-Syncmon-Key": store.project.secret_key}
        codes = [
            post(live, "/api/monitoring/error", SEED_ERROR, key=None, headers=secret).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        assert (
            "project key"
            in post(live, "/api/monitoring/error", SEED_ERROR, key=None, headers=secret).json()["error"]
        )
        with live.client() as client:
            metrics = client.get("/metrics").text
    assert 'syncmon_requests_rejected_total{reason="rate_limited"}' in metrics
    assert count_events(store) == 5


def test_cors_preflight_and_origin_checks(live: LiveServer, store: Store) -> None:
    from syncmon.store.projects import update_project

    with store.engine.begin() as conn:
        update_project(conn, store.project.slug, origins=["https://app.syncscript.test"])
    live.services.keyring.forget()
    preflight = {
        "Origin": "https://app.syncscript.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    with live.client() as client:
        ok = client.options(
            "/api/monitoring/error", params={"key": store.project.public_key}, headers=preflight
        )
        assert ok.status_code == 204
        assert ok.headers["access-control-allow-origin"] == "https://app.syncscript.test"
        assert "POST" in ok.headers["access-control-allow-methods"]
        other = client.options(
            "/api/monitoring/error",
            params={"key": store.project.public_key},
            headers={**preflight, "Origin": "https://evil.test"},
        )
        assert other.status_code == 403
        assert "access-control-allow-origin" not in other.headers
    allowed = post(
        live,
        "/api/monitoring/error",
        SEED_ERROR,
        key=store.project.public_key,
        headers={"Origin": "https://app.syncscript.test"},
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.syncscript.test"
    refused = post(
        live,
        "/api/monitoring/error",
        SEED_ERROR,
        key=store.project.public_key,
        headers={"Origin": "https://evil.test"},
    )
    assert refused.status_code == 403 and "not allowed" in refused.json()["error"]
    assert count_events(store) == 1


def test_future_timestamps_are_clamped_to_receive_time(live: LiveServer, store: Store) -> None:
    response = post(
        live,
        "/api/monitoring/error",
        {**SEED_ERROR, "timestamp": "2099-01-01T00:00:00Z"},
        key=store.project.public_key,
    )
    event = stored(store, response.json()["id"])
    assert event.timestamp_ms == event.received_ms
    assert event.data["_timestamp_adjusted"] is True


def test_request_items_record_api_timings(live: LiveServer, store: Store) -> None:
    items = [
        {
            "kind": "request",
            "method": "get",
            "route": "/users/{id}",
            "status": 404,
            "duration_ms": 12.5,
            "url": "https://api.syncscript.test/users/7",
        },
        {
            "kind": "request",
            "method": "POST",
            "url": "https://api.syncscript.test/login?next=/",
            "status": 500,
            "duration_ms": 80,
        },
    ]
    response = post(live, "/api/monitoring/events", items, key=store.project.public_key)
    assert response.status_code == 200, response.text
    first, second = (stored(store, i) for i in response.json()["ids"])
    assert (first.kind, first.name, first.value, first.level) == (
        "request",
        "GET /users/{id}",
        12.5,
        "warning",
    )
    assert (second.name, second.level) == ("POST /login", "error")


@pytest.mark.parametrize("kind", ["transaction", "session", "check_in", "feedback"])
def test_kinds_only_sentry_produces_are_refused_in_batches(live: LiveServer, store: Store, kind: str) -> None:
    response = post(
        live, "/api/monitoring/events", [{"kind": kind, "name": "x"}], key=store.project.public_key
    )
    assert response.status_code == 400
    assert response.json()["field"] == "events[0].kind"
