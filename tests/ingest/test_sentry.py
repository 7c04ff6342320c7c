"""Sentry's ingest protocol with crafted requests against the real server, on SQLite and PostgreSQL.

The real SDK is exercised in test_sentry_sdk.py; here every request is built by hand so each
rule of the protocol (auth, framing, encodings, item types, refusals) is pinned down alone.
"""

from __future__ import annotations

import gzip
import ipaddress
import random
import re
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import brotli
import httpx
import orjson
import sqlalchemy as sa
import zstandard
from prometheus_client.parser import text_string_to_metric_families

from syncmon.clock import SystemClock
from syncmon.events import Event
from syncmon.store import eventlog, projects
from syncmon.store.schema import events as events_table
from syncmon.store.schema import issues
from tests.conftest import Store
from tests.support.live import LiveServer

ORIGIN = "https://shop.example.com"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


# --- building requests ------------------------------------------------------------------


def now_s() -> float:
    """An hour ago, in epoch seconds: a timestamp the server takes as given (never the future)."""
    return SystemClock().now_ms() / 1000 - 3600


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def item(item_type: str, payload: Any, *, length: bool = True, **headers: Any) -> bytes:
    """One envelope item: header line and payload (JSON unless bytes are given)."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    head: dict[str, Any] = {"type": item_type, **headers}
    if length:
        head["length"] = len(body)
    return orjson.dumps(head) + b"\n" + body


def envelope(header: dict[str, Any], *items: bytes, final_newline: bool = True) -> bytes:
    """sentry-python ends the body with a newline; @sentry/browser does not."""
    body = orjson.dumps(header) + b"\n" + b"\n".join(items)
    return body + b"\n" if final_newline else body


def error_payload(event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": event_id or new_id(),
        "timestamp": now_s(),
        "platform": "python",
        "level": "error",
        "release": "shop@1.0",
        "environment": "prod",
        "exception": {
            "values": [
                {
                    "type": "KeyError",
                    "value": "'sku-4411'",
                    "module": None,
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "main",
                                "module": "shop.app",
                                "filename": "shop/app.py",
                                "lineno": 3,
                            },
                            {
                                "function": "price_of",
                                "module": "shop.catalog",
                                "filename": "shop/catalog.py",
                                "abs_path": "/srv/shop/catalog.py",
                                "lineno": 88,
                                "in_app": True,
                                "context_line": "    return PRICES[sku]",
                            },
                        ]
                    },
                }
            ]
        },
    }
    payload.update(fields)
    return payload


def transaction_payload(name: str = "GET /checkout", **fields: Any) -> dict[str, Any]:
    start = now_s()
    payload: dict[str, Any] = {
        "type": "transaction",
        "event_id": new_id(),
        "transaction": name,
        "start_timestamp": start,
        "timestamp": start + 0.25,
        "release": "shop@1.0",
        "environment": "prod",
        "contexts": {"trace": {"trace_id": new_id(), "span_id": new_id()[:16], "op": "http.server"}},
        "spans": [
            {
                "span_id": new_id()[:16],
                "op": "db",
                "description": "SELECT 1",
                "start_timestamp": start + 0.01,
                "timestamp": start + 0.02,
            }
        ],
    }
    payload.update(fields)
    return payload


def session_payload(status: str = "exited", **fields: Any) -> dict[str, Any]:
    started = now_s()
    payload: dict[str, Any] = {
        "sid": str(uuid.uuid4()),
        "did": "user-7",
        "init": True,
        "started": iso(started),
        "timestamp": iso(started + 30),
        "status": status,
        "errors": 0,
        "duration": 30.5,
        "attrs": {"release": "shop@1.0", "environment": "prod"},
    }
    payload.update(fields)
    return payload


def sessions_payload() -> dict[str, Any]:
    minute = int(now_s() // 60 * 60)
    return {
        "aggregates": [
            {"started": iso(minute), "exited": 5, "errored": 1},
            {"started": iso(minute + 60), "exited": 2, "crashed": 1, "abnormal": 1},
        ],
        "attrs": {"release": "shop@1.1", "environment": "staging"},
    }


def check_in_payload(slug: str = "nightly-report", status: str = "error") -> dict[str, Any]:
    return {
        "check_in_id": new_id(),
        "monitor_slug": slug,
        "status": status,
        "duration": 3.5,
        "release": "shop@1.0",
        "environment": "prod",
    }


CLIENT_REPORT = {
    "timestamp": 1795842000.0,
    "discarded_events": [
        {"reason": "queue_overflow", "category": "error", "quantity": 3},
        {"reason": "ratelimit_backoff", "category": "transaction", "quantity": 2},
        {"reason": "bogus", "category": "error", "quantity": -4},
        "not an entry",
    ],
}
ATTACHMENT = b"line one\nline two\n\x00\xff\xfe binary\n"


def auth_header(key: str, **extra: str) -> dict[str, str]:
    return {
        "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_client=sentry.python/2.75.0, sentry_key={key}",
        **extra,
    }


def post(
    live: LiveServer,
    store: Store,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    project_id: int | str | None = None,
    endpoint: str = "envelope",
) -> httpx.Response:
    pid = store.project.id if project_id is None else project_id
    with live.client() as client:
        return client.post(
            f"/api/{pid}/{endpoint}/", content=body, headers=headers or {}, params=params or {}
        )


def post_envelope(live: LiveServer, store: Store, body: bytes, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", None)
    if headers is None:
        headers = auth_header(store.project.public_key)
    return post(live, store, body, headers=headers, **kwargs)


# --- reading results ------------------------------------------------------------------


def stored(store: Store, event_id: str) -> Event:
    with store.engine.connect() as conn:
        found = eventlog.get_event(conn, event_id)
    assert found is not None, f"event {event_id} not stored"
    return found


def all_events(store: Store, kind: str | None = None) -> list[Event]:
    with store.engine.connect() as conn:
        statement = sa.select(events_table).order_by(events_table.c.seq)
        if kind is not None:
            statement = statement.where(events_table.c.kind == kind)
        return [eventlog.event_from_row(row) for row in conn.execute(statement)]


def count_events(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one())


def metric(live: LiveServer, name: str, **labels: str) -> float:
    """A sample of the server's /metrics, 0 when absent."""
    with live.client() as client:
        text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


# --- authentication ---------------------------------------------------------------------


def test_x_sentry_auth_header(live: LiveServer, store: Store) -> None:
    payload = error_payload()
    body = envelope({"event_id": payload["event_id"]}, item("event", payload))
    response = post_envelope(live, store, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": payload["event_id"]}
    event = stored(store, payload["event_id"])
    assert (event.kind, event.name, event.message, event.level) == (
        "error",
        "KeyError",
        "KeyError: 'sku-4411'",
        "error",
    )
    assert (event.release, event.environment, event.trusted, event.client_ip) == (
        "shop@1.0",
        "prod",
        False,
        "127.0.0.1",
    )
    assert event.issue_id is not None and event.fingerprint is not None
    assert event.data["culprit"] == "shop.catalog in price_of"


def test_authorization_sentry_header(live: LiveServer, store: Store) -> None:
    payload = error_payload()
    headers = {"Authorization": f"Sentry sentry_key={store.project.public_key}, sentry_version=7"}
    response = post_envelope(live, store, envelope({}, item("event", payload)), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": payload["event_id"]}


def test_browser_sdk_query_key_text_plain_and_cors(live: LiveServer, store: Store) -> None:
    """@sentry/browser: key in the query (no preflight), text/plain, no lengths, no final newline."""
    payload = error_payload(
        platform="javascript", request={"url": f"{ORIGIN}/cart", "headers": {"User-Agent": CHROME}}
    )
    body = envelope(
        {
            "event_id": payload["event_id"],
            "sent_at": iso(now_s()),
            "sdk": {"name": "sentry.javascript.browser"},
        },
        item("event", payload, length=False),
        final_newline=False,
    )
    response = post(
        live,
        store,
        body,
        params={
            "sentry_key": store.project.public_key,
            "sentry_version": "7",
            "sentry_client": "sentry.javascript.browser/8.40.0",
        },
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN, "User-Agent": CHROME},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"id": payload["event_id"]}
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-sentry-rate-limits", "retry-after"} <= exposed
    event = stored(store, payload["event_id"])
    assert (event.browser, event.url, event.trusted) == ("Chrome", f"{ORIGIN}/cart", False)
    with live.client() as client:
        preflight = client.options(
            f"/api/{store.project.id}/envelope/",
            params={"sentry_key": store.project.public_key},
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN


def test_tunnel_dsn_in_the_envelope_header(live: LiveServer, store: Store) -> None:
    payload = error_payload()
    dsn = store.project.dsn(live.url)
    response = post_envelope(
        live,
        store,
        envelope({"event_id": payload["event_id"], "dsn": dsn}, item("event", payload)),
        headers={},
    )
    assert response.status_code == 200, response.text
    assert stored(store, payload["event_id"]).kind == "error"


def test_key_refusals(live: LiveServer, store: Store) -> None:
    with store.engine.begin() as conn:
        other = projects.create_project(conn, "Other shop", SystemClock().now_ms())
    host = live.url.removeprefix("http://")
    secret = store.project.secret_key
    public = store.project.public_key
    cases: list[tuple[str, dict[str, Any], dict[str, Any], int, str]] = [
        ("missing", {"headers": {}}, {}, 401, "missing Sentry key"),
        ("unknown-header", {"headers": auth_header("0" * 32)}, {}, 401, "unknown project key"),
        (
            "unknown-query",
            {"headers": {}, "params": {"sentry_key": "f" * 32}},
            {},
            401,
            "unknown project key",
        ),
        ("too-long", {"headers": auth_header("a" * 500)}, {}, 401, "unknown project key"),
        ("secret-in-query", {"headers": {}, "params": {"sentry_key": secret}}, {}, 401, "header"),
        (
            "secret-in-dsn",
            {"headers": {}},
            {"dsn": f"http://{secret}@{host}/{store.project.id}"},
            401,
            "header",
        ),
        ("other-project-url", {"project_id": other.id}, {}, 403, "project"),
        ("unknown-project-url", {"project_id": 987654}, {}, 403, "project"),
        ("dsn-other-project", {}, {"dsn": f"http://{public}@{host}/{other.id}"}, 403, "project"),
        ("other-projects-key", {"headers": auth_header(other.public_key)}, {}, 403, "project"),
        ("two-keys", {"params": {"sentry_key": other.public_key}}, {}, 403, "key"),
        ("dsn-not-a-dsn", {"headers": {}}, {"dsn": "not a dsn"}, 400, "dsn"),
        ("non-numeric-project", {"project_id": "shop"}, {}, 400, "not a number"),
        ("huge-project-id", {"project_id": "9" * 40}, {}, 400, "not a number"),
    ]
    for name, request, header, status, says in cases:
        payload = error_payload()
        body = envelope({"event_id": payload["event_id"], **header}, item("event", payload))
        response = post_envelope(live, store, body, **request)
        assert response.status_code == status, (name, response.text)
        assert says in response.json()["error"], (name, response.json())
    assert count_events(store) == 0
    assert metric(live, "syncmon_requests_rejected_total", reason="secret_in_url") == 2


def test_secret_key_in_header_is_trusted_with_the_users_ip(live: LiveServer, store: Store) -> None:
    trusted = error_payload(
        user={"id": "u-1", "ip_address": "203.0.113.7"}, request={"headers": {"User-Agent": CHROME}}
    )
    response = post_envelope(
        live, store, envelope({}, item("event", trusted)), headers=auth_header(store.project.secret_key)
    )
    assert response.status_code == 200, response.text
    event = stored(store, trusted["event_id"])
    assert (event.trusted, event.client_ip, event.user_id, event.browser) == (
        True,
        "203.0.113.7",
        "u-1",
        "Chrome",
    )

    public = error_payload(user={"ip_address": "203.0.113.8"}, request={"headers": {"User-Agent": CHROME}})
    post_envelope(live, store, envelope({}, item("event", public)))
    event = stored(store, public["event_id"])
    assert (event.trusted, event.client_ip, event.browser) == (False, "127.0.0.1", None)


def test_a_trusted_ip_that_is_no_address_is_ignored(live: LiveServer, store: Store) -> None:
    """Whatever a server claims as the user's IP must fit the column on every engine."""
    cases = [
        "x" * 60,
        "2001:0db8:0000:0000:0000:ff00:0042:8329%eth0-with-a-long-zone",
        "999.1.1.1",
        "::ffff:203.0.113.9",
    ]
    for claimed in cases:
        payload = error_payload(user={"id": "u", "ip_address": claimed})
        response = post_envelope(
            live, store, envelope({}, item("event", payload)), headers=auth_header(store.project.secret_key)
        )
        assert response.status_code == 200, (claimed, response.text)
    junk, zoned, bad_octet, mapped = (e.client_ip for e in all_events(store))
    # A claim that is no address is never stored; whether the event then carries the
    # connection's address or none is the pipeline's choice.
    for client_ip in (junk, zoned, bad_octet):
        assert client_ip in (None, "127.0.0.1")
    assert mapped is not None and ipaddress.ip_address(mapped) in (
        ipaddress.ip_address("::ffff:203.0.113.9"),
        ipaddress.ip_address("203.0.113.9"),
    )


def test_user_auto_ip_counts_the_connection_as_the_user(live: LiveServer, store: Store) -> None:
    """A browser SDK asks for the connection's IP ({{auto}} before JavaScript SDK 9,
    sdk.settings.infer_ip since): that is its user. A server SDK's event without a user
    interface affects no user, and infer_ip "never" means no IP."""
    legacy_browser = error_payload(user={"ip_address": "{{auto}}"})
    modern_browser = error_payload(
        sdk={"name": "sentry.javascript.browser", "settings": {"infer_ip": "auto"}}
    )
    never = error_payload(sdk={"name": "sentry.javascript.browser", "settings": {"infer_ip": "never"}})
    server = error_payload()
    for payload in (legacy_browser, modern_browser, never, server):
        assert post_envelope(live, store, envelope({}, item("event", payload))).status_code == 200
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(issues)).one()
    assert (row.event_count, row.user_count) == (4, 1)
    assert stored(store, legacy_browser["event_id"]).data["_user_key"] == "ip:127.0.0.1"
    assert stored(store, modern_browser["event_id"]).data["_user_key"] == "ip:127.0.0.1"
    assert stored(store, never["event_id"]).data["_user_key"] is None
    assert stored(store, server["event_id"]).data["_user_key"] is None


# --- framing and encodings --------------------------------------------------------------


def test_envelopes_with_and_without_item_lengths(live: LiveServer, store: Store) -> None:
    for lengths in (True, False):
        first, second = error_payload(), transaction_payload()
        body = envelope(
            {"event_id": first["event_id"]},
            item("event", first, length=lengths),
            item("transaction", second, length=lengths),
            item("attachment", ATTACHMENT if lengths else b"no newline inside", length=lengths, filename="a"),
            item("check_in", check_in_payload(), length=lengths),
            final_newline=lengths,
        )
        response = post_envelope(live, store, body)
        assert response.status_code == 200, (lengths, response.text)
    assert [e.kind for e in all_events(store)] == ["error", "transaction", "check_in"] * 2


def test_crlf_header_lines_and_blank_lines(live: LiveServer, store: Store) -> None:
    payload = error_payload()
    data = orjson.dumps(payload)
    body = b'{"event_id":"%s"}\r\n\r\n{"type":"event","length":%d}\r\n%s\n\n\n' % (
        payload["event_id"].encode(),
        len(data),
        data,
    )
    response = post_envelope(live, store, body)
    assert response.status_code == 200, response.text
    assert stored(store, payload["event_id"]).kind == "error"


def _zstd_stream(data: bytes) -> bytes:
    """A zstd frame that does not declare its size, as streaming compressors write it."""
    compressor = zstandard.ZstdCompressor().compressobj()
    return compressor.compress(data) + compressor.flush()


ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": lambda data: zlib.compress(data, wbits=-15),
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "zstd-stream": lambda data: _zstd_stream(data),
    "none": lambda data: data,
    "": lambda data: data,
    "UTF-8": lambda data: data,
    "identity": lambda data: data,
    "gzip, br": lambda data: brotli.compress(gzip.compress(data)),
}


def test_content_encodings(live: LiveServer, store: Store) -> None:
    for name, compress in ENCODINGS.items():
        payload = error_payload()
        body = compress(envelope({"event_id": payload["event_id"]}, item("event", payload)))
        headers = auth_header(store.project.public_key, **{"Content-Type": "application/x-sentry-envelope"})
        if name == "deflate-raw":
            headers["Content-Encoding"] = "deflate"
        elif name == "zstd-stream":
            headers["Content-Encoding"] = "zstd"
        elif name != "none":
            headers["Content-Encoding"] = name
        response = post_envelope(live, store, body, headers=headers)
        assert response.status_code == 200, (name, response.text)
        assert stored(store, payload["event_id"]).name == "KeyError", name
    refused = post_envelope(
        live,
        store,
        b"{}\n",
        headers=auth_header(store.project.public_key, **{"Content-Encoding": "compress"}),
    )
    assert refused.status_code == 415
    corrupt = post_envelope(
        live,
        store,
        b"\x1f\x8b not gzip",
        headers=auth_header(store.project.public_key, **{"Content-Encoding": "gzip"}),
    )
    assert corrupt.status_code == 400 and "gzip" in corrupt.json()["error"]


# --- item types -------------------------------------------------------------------------


def test_every_item_type(live: LiveServer, store: Store) -> None:
    error = error_payload()
    transaction = transaction_payload()
    session = session_payload("crashed")
    check_in = check_in_payload()
    user_report = {
        "event_id": error["event_id"],
        "name": "Jane",
        "email": "jane@example.com",
        "comments": "It broke",
    }
    feedback = {
        "event_id": new_id(),
        "type": "feedback",
        "timestamp": now_s(),
        "contexts": {
            "feedback": {
                "message": "The button does nothing",
                "contact_email": "joe@example.com",
                "url": f"{ORIGIN}/cart",
            }
        },
    }
    body = envelope(
        {"event_id": error["event_id"], "sent_at": iso(now_s())},
        item("event", error),
        item("transaction", transaction),
        item("session", session),
        item("sessions", sessions_payload()),
        item("check_in", check_in),
        item("client_report", CLIENT_REPORT),
        item("attachment", ATTACHMENT, filename="log.txt", attachment_type="event.attachment"),
        item("user_report", user_report),
        item("feedback", feedback),
        item("profile_chunk_v9", {"whatever": True}),
        item("replay_recording", b"\x00\x01binary"),
    )
    response = post_envelope(live, store, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": error["event_id"]}
    kinds = [(e.kind, e.name) for e in all_events(store)]
    assert kinds == [
        ("error", "KeyError"),
        ("transaction", "GET /checkout"),
        ("session", "crashed"),
        ("session", "aggregate"),
        ("session", "aggregate"),
        ("check_in", "nightly-report"),
        ("feedback", "user_feedback"),
        ("feedback", "user_feedback"),
    ]
    events = all_events(store)
    stored_transaction = stored(store, transaction["event_id"])
    assert stored_transaction.value == 250.0 and stored_transaction.data["span_count"] == 1
    crashed = events[2]
    assert (crashed.level, crashed.user_id, crashed.session_id, crashed.value) == (
        "error",
        "user-7",
        session["sid"],
        30.5,
    )
    assert (crashed.release, crashed.environment) == ("shop@1.0", "prod")
    assert [(e.value, e.release, e.environment) for e in events[3:5]] == [
        (6.0, "shop@1.1", "staging"),
        (4.0, "shop@1.1", "staging"),
    ]
    assert (events[5].level, events[5].value, events[5].message) == ("error", 3.5, "nightly-report: error")
    assert (events[6].message, events[6].user_id) == ("It broke", "jane@example.com")
    assert (events[7].message, events[7].user_id, events[7].url) == (
        "The button does nothing",
        "joe@example.com",
        f"{ORIGIN}/cart",
    )

    counted = {
        (t, o): metric(live, "syncmon_sentry_items_total", type=t, outcome=o)
        for t, o in [
            ("event", "stored"),
            ("transaction", "stored"),
            ("session", "stored"),
            ("sessions", "stored"),
            ("check_in", "stored"),
            ("user_report", "stored"),
            ("feedback", "stored"),
            ("other", "counted"),
            ("other", "skipped"),
        ]
    }
    assert counted == {
        ("event", "stored"): 1,
        ("transaction", "stored"): 1,
        ("session", "stored"): 1,
        ("sessions", "stored"): 1,
        ("check_in", "stored"): 1,
        ("user_report", "stored"): 1,
        ("feedback", "stored"): 1,
        ("other", "counted"): 1,  # the client report
        ("other", "skipped"): 3,  # attachment, profile_chunk_v9, replay_recording
    }
    assert metric(live, "syncmon_sdk_discarded_events_total", reason="queue_overflow", category="error") == 3
    assert (
        metric(live, "syncmon_sdk_discarded_events_total", reason="ratelimit_backoff", category="transaction")
        == 2
    )
    assert metric(live, "syncmon_sdk_discarded_events_total", reason="bogus", category="error") == 0


def test_replies_name_the_event_or_nothing(live: LiveServer, store: Store) -> None:
    transaction = transaction_payload()
    only_transaction = post_envelope(live, store, envelope({}, item("transaction", transaction)))
    assert only_transaction.json() == {"id": transaction["event_id"]}
    only_session = post_envelope(
        live, store, envelope({"sent_at": iso(now_s())}, item("session", session_payload()))
    )
    assert (only_session.status_code, only_session.json()) == (200, {})
    only_report = post_envelope(live, store, envelope({}, item("client_report", CLIENT_REPORT)))
    assert (only_report.status_code, only_report.json()) == (200, {})
    header_id = str(uuid.uuid4())
    dashed = post_envelope(
        live, store, envelope({"event_id": header_id}, item("check_in", check_in_payload()))
    )
    assert dashed.json() == {"id": header_id.replace("-", "")}
    empty = post_envelope(live, store, envelope({}))
    assert (empty.status_code, empty.json()) == (200, {})
    assert [e.kind for e in all_events(store)] == ["transaction", "session", "check_in"]


def test_client_report_alone_stores_nothing(live: LiveServer, store: Store) -> None:
    response = post_envelope(
        live, store, envelope({}, item("client_report", CLIENT_REPORT), item("attachment", ATTACHMENT))
    )
    assert response.status_code == 200
    assert count_events(store) == 0
    assert metric(live, "syncmon_sdk_discarded_events_total", reason="queue_overflow", category="error") == 3


def test_event_id_from_the_envelope_header_when_the_item_has_none(live: LiveServer, store: Store) -> None:
    header_id = new_id()
    payload = error_payload()
    del payload["event_id"]
    response = post_envelope(live, store, envelope({"event_id": header_id}, item("event", payload)))
    assert response.json() == {"id": header_id}
    assert stored(store, header_id).kind == "error"


def test_store_endpoint(live: LiveServer, store: Store) -> None:
    payload = error_payload(event_id=str(uuid.uuid4()))
    response = post(
        live, store, orjson.dumps(payload), headers=auth_header(store.project.public_key), endpoint="store"
    )
    assert response.status_code == 200, response.text
    expected = payload["event_id"].replace("-", "")
    assert response.json() == {"id": expected}
    assert stored(store, expected).kind == "error"

    transaction = transaction_payload()
    response = post(
        live,
        store,
        gzip.compress(orjson.dumps(transaction)),
        endpoint="store",
        headers=auth_header(store.project.public_key, **{"Content-Encoding": "gzip"}),
    )
    assert response.json() == {"id": transaction["event_id"]}
    assert stored(store, transaction["event_id"]).kind == "transaction"

    no_id = error_payload()
    del no_id["event_id"]
    response = post(
        live, store, orjson.dumps(no_id), params={"sentry_key": store.project.public_key}, endpoint="store"
    )
    assert response.status_code == 200 and len(response.json()["id"]) == 32

    for body, status in [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (orjson.dumps(error_payload(event_id="nope")), 400),
    ]:
        refused = post(live, store, body, headers=auth_header(store.project.public_key), endpoint="store")
        assert refused.status_code == status, body
    secret = post(
        live,
        store,
        orjson.dumps(error_payload()),
        params={"sentry_key": store.project.secret_key},
        endpoint="store",
    )
    assert secret.status_code == 401
    assert count_events(store) == 3
    assert metric(live, "syncmon_sentry_items_total", type="event", outcome="stored") == 2


# --- bad input --------------------------------------------------------------------------


def test_broken_frames_are_refused_whole(live: LiveServer, store: Store) -> None:
    good = item("event", error_payload())
    data = orjson.dumps(error_payload())
    cases: list[tuple[str, bytes, str]] = [
        ("empty", b"", "envelope header"),
        ("header-not-json", b"not json\n" + good, "envelope header"),
        ("header-not-object", b"[1]\n" + good, "envelope header"),
        ("truncated", envelope({}, good)[:-40], "truncated"),
        ("length-too-short", b'{}\n{"type":"event","length":%d}\n%s\n' % (len(data) - 5, data), "length"),
        ("length-too-long", b'{}\n{"type":"event","length":%d}\n%s\n' % (len(data) + 5, data), "truncated"),
        ("negative-length", b'{}\n{"type":"event","length":-1}\n{}\n', "length"),
        ("item-header-not-json", b"{}\n{type: event}\n{}\n", "header"),
        ("item-without-type", b'{}\n{"length":2}\n{}\n', "type"),
        ("event-id-not-uuid", envelope({"event_id": "12345"}, good), "event_id"),
        ("event-id-number", envelope({"event_id": 12345}, good), "event_id"),
        ("dsn-not-string", envelope({"dsn": 5}, good), "dsn"),
    ]
    for name, body, says in cases:
        response = post_envelope(live, store, body)
        assert response.status_code == 400, (name, response.text)
        assert says in response.json()["error"], (name, response.json())
    assert count_events(store) == 0


def test_an_unreadable_item_is_skipped_when_another_is_readable(live: LiveServer, store: Store) -> None:
    valid = error_payload()
    bad_id = error_payload(event_id="definitely-not-a-uuid")
    body = envelope(
        {},
        item("event", b"{broken json"),
        item("event", valid),
        item("event", bad_id),
        item("transaction", transaction_payload(start_timestamp="yesterday")),
        item("check_in", {"status": "ok"}),
    )
    response = post_envelope(live, store, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": valid["event_id"]}
    assert [e.id for e in all_events(store)] == [valid["event_id"]]
    assert metric(live, "syncmon_sentry_items_total", type="event", outcome="invalid") == 2
    assert metric(live, "syncmon_sentry_items_total", type="transaction", outcome="invalid") == 1
    assert metric(live, "syncmon_sentry_items_total", type="check_in", outcome="invalid") == 1


def test_an_envelope_with_nothing_readable_is_400(live: LiveServer, store: Store) -> None:
    cases: list[tuple[bytes, str]] = [
        (b"{broken json", "JSON"),
        (orjson.dumps(error_payload(event_id="not-a-uuid")), "event_id"),
        (orjson.dumps(error_payload(level="apocalyptic")), "level"),
        (orjson.dumps(error_payload(timestamp="last tuesday")), "timestamp"),
        (b"[1, 2, 3]", "object"),
    ]
    for payload, says in cases:
        response = post_envelope(live, store, envelope({}, item("event", payload)))
        assert response.status_code == 400, (says, response.text)
        assert says in response.json()["error"], response.json()
        assert "items[0]" in response.json()["error"], response.json()
    assert count_events(store) == 0


def test_decompression_bomb_is_413(live: LiveServer, store: Store) -> None:
    inner = envelope({}, item("attachment", b"\x00" * (store.settings.max_decompressed_bytes + 1_000_000)))
    for name, bomb in [
        ("gzip", gzip.compress(inner)),
        ("br", brotli.compress(inner)),
        ("zstd", zstandard.ZstdCompressor().compress(inner)),
    ]:
        assert len(bomb) < store.settings.max_body_bytes, name
        response = post_envelope(
            live, store, bomb, headers=auth_header(store.project.public_key, **{"Content-Encoding": name})
        )
        assert response.status_code == 413, (name, response.text)
        assert "decompression" in response.json()["error"] or "exceeds" in response.json()["error"], name


def test_oversized_body_is_413(store: Store) -> None:
    with LiveServer(
        store.settings_with(max_body_bytes=4096, max_decompressed_bytes=8192), store.engine
    ) as live:
        big = envelope({}, item("event", error_payload(message="x" * 5000)))
        assert post_envelope(live, store, big).status_code == 413
        compressed_ok = gzip.compress(envelope({}, item("event", error_payload(extra={"pad": "y" * 6000}))))
        assert len(compressed_ok) < 4096
        accepted = post_envelope(
            live,
            store,
            compressed_ok,
            headers=auth_header(store.project.public_key, **{"Content-Encoding": "gzip"}),
        )
        assert accepted.status_code == 200, accepted.text
        item_too_big = gzip.compress(envelope({}, item("attachment", b"z" * 9000)))
        response = post_envelope(
            live,
            store,
            item_too_big,
            headers=auth_header(store.project.public_key, **{"Content-Encoding": "gzip"}),
        )
        assert response.status_code == 413
    assert count_events(store) == 1


def test_rate_limits_answer_429_with_sentry_headers(store: Store) -> None:
    # Windows are aligned to the clock: a day-long one makes a boundary between the
    # requests (which would let the third through) practically impossible.
    with LiveServer(store.settings_with(rate_limit_per_key="2/day"), store.engine) as live:
        responses = [
            post_envelope(
                live,
                store,
                envelope({}, item("event", error_payload())),
                headers={**auth_header(store.project.public_key), "Origin": ORIGIN},
            )
            for _ in range(3)
        ]
        assert [r.status_code for r in responses] == [200, 200, 429]
        refused = responses[2]
        retry = int(refused.headers["Retry-After"])
        assert 1 <= retry <= 86_400
        assert re.fullmatch(r"\d+::organization:rate_limited", refused.headers["X-Sentry-Rate-Limits"])
        assert refused.headers["X-Sentry-Rate-Limits"].split(":")[0] == str(retry)
        assert refused.headers["access-control-allow-origin"] == ORIGIN
        assert "x-sentry-rate-limits" in refused.headers["access-control-expose-headers"]
        assert "rate limit" in refused.json()["error"]
        store_refused = post(
            live,
            store,
            orjson.dumps(error_payload()),
            headers=auth_header(store.project.public_key),
            endpoint="store",
        )
        assert store_refused.status_code == 429 and "X-Sentry-Rate-Limits" in store_refused.headers
        assert metric(live, "syncmon_requests_rejected_total", reason="rate_limited") == 2
    assert count_events(store) == 2


def test_resent_event_is_stored_once(live: LiveServer, store: Store) -> None:
    payload = error_payload(user={"id": "u1"})
    body = envelope({"event_id": payload["event_id"]}, item("event", payload))
    first = post_envelope(live, store, body)
    again = post_envelope(
        live,
        store,
        gzip.compress(body),
        headers=auth_header(store.project.public_key, **{"Content-Encoding": "gzip"}),
    )
    twice_in_one = post_envelope(live, store, envelope({}, item("event", payload), item("event", payload)))
    assert [r.status_code for r in (first, again, twice_in_one)] == [200, 200, 200]
    assert first.json() == again.json() == {"id": payload["event_id"]}
    assert [e.id for e in all_events(store)] == [payload["event_id"]]
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(issues)).one()
    assert (row.event_count, row.user_count) == (1, 1)


# --- never a 500 ------------------------------------------------------------------------

NASTY: list[Any] = [
    None, True, False, 0, -1, 2**63 - 1, -(2**63), 1.5e308, -0.0, 0.5, "", "\x00", "a" * 3000, "💥",
    "{{auto}}", "not-a-uuid", "2026-13-45T99:99:99Z", "9" * 40, [], {}, [[[[]]]], {"values": "x"},
    {"frames": [None, 1, "x", {"function": 5}]}, [None, {"type": 1, "value": []}], {"id": {"nested": [1]}},
    "\u202e\ufeff", "../../etc/passwd", "%s%n", "<script>", "1e400",
]  # fmt: skip


FIELDS = (
    "level", "timestamp", "user", "tags", "fingerprint", "exception", "release", "environment", "request",
    "spans", "attrs", "aggregates", "status", "duration", "contexts", "logentry", "message", "platform",
    "event_id", "start_timestamp", "monitor_slug", "sdk", "breadcrumbs", "check_in_id", "sid", "did",
)  # fmt: skip


def _mutate_json(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """A copy of a JSON value with a few parts replaced by hostile values."""
    if depth > 6 or rng.random() < 0.08:
        return rng.choice(NASTY)
    if isinstance(value, dict):
        out = {k: (_mutate_json(v, rng, depth + 1) if rng.random() < 0.35 else v) for k, v in value.items()}
        if rng.random() < 0.2:
            out[rng.choice(FIELDS)] = rng.choice(NASTY)
        return out
    if isinstance(value, list):
        return [(_mutate_json(v, rng, depth + 1) if rng.random() < 0.5 else v) for v in value]
    return value


def _valid_items() -> list[tuple[str, Any]]:
    return [
        (
            "event",
            error_payload(
                user={"id": "u", "ip_address": "{{auto}}"},
                tags={"a": "b"},
                fingerprint=["{{ default }}", "x"],
            ),
        ),
        (
            "event",
            {
                "event_id": new_id(),
                "message": {"message": "hi %s", "params": [1], "formatted": "hi 1"},
                "platform": "javascript",
            },
        ),
        ("transaction", transaction_payload()),
        ("session", session_payload()),
        ("sessions", sessions_payload()),
        ("check_in", check_in_payload()),
        ("client_report", CLIENT_REPORT),
        ("user_report", {"event_id": new_id(), "comments": "x", "email": "a@b.c"}),
        ("feedback", {"contexts": {"feedback": {"message": "m"}}}),
    ]


def _fuzz_case(rng: random.Random, store: Store, live: LiveServer) -> tuple[bytes, dict[str, str]]:
    chosen = rng.sample(_valid_items(), rng.randint(1, 4))
    header: Any = {"event_id": new_id(), "sent_at": iso(now_s())}
    if rng.random() < 0.15:
        header = _mutate_json(header, rng)
        if isinstance(header, dict) and rng.random() < 0.5:
            header["dsn"] = rng.choice(
                [
                    store.project.dsn(live.url),
                    "http://x@y/abc",
                    "nope",
                    f"http://{store.project.public_key}@h/99",
                ]
            )
    parts: list[bytes] = []
    for item_type, payload in chosen:
        body = orjson.dumps(_mutate_json(payload, rng) if rng.random() < 0.7 else payload)
        head: dict[str, Any] = {"type": item_type if rng.random() > 0.05 else rng.choice(NASTY)}
        if rng.random() < 0.6:
            head["length"] = (
                len(body)
                if rng.random() > 0.1
                else rng.choice([0, len(body) + 1, len(body) - 1, -3, "7", 10**12])
            )
        parts.append(orjson.dumps(head) + b"\n" + body)
    data = orjson.dumps(header) + b"\n" + b"\n".join(parts) + (b"\n" if rng.random() < 0.5 else b"")
    mutation = rng.random()
    if mutation < 0.15 and data:
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        data = bytes(flipped)
    elif mutation < 0.25:
        data = data[: rng.randrange(len(data) + 1)]
    elif mutation < 0.32:
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]
    elif mutation < 0.36:
        data = b"\n".join(rng.sample(data.split(b"\n"), len(data.split(b"\n"))))
    headers = auth_header(store.project.public_key)
    encoding = rng.choice(["", "gzip", "br", "zstd", "deflate", "identity", "UTF-8", "gzip, br"])
    if encoding in ("gzip", "gzip, br"):
        data = gzip.compress(data)
    if encoding in ("br", "gzip, br"):
        data = brotli.compress(data)
    if encoding == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    if encoding == "deflate":
        data = zlib.compress(data)
    if encoding and rng.random() < 0.1:
        data = data[: max(1, len(data) - rng.randint(1, 10))]  # a truncated compressed stream
    if encoding:
        headers["Content-Encoding"] = encoding
    if rng.random() < 0.1:
        headers = {"Content-Encoding": encoding} if encoding else {}
        if rng.random() < 0.5:
            headers["X-Sentry-Auth"] = rng.choice(
                ["Sentry", "Sentry sentry_key=", "garbage", "Sentry sentry_key=" + "k" * 300, "Sentry ,,,=,="]
            )
    return data, headers


def test_fuzzed_envelopes_never_get_a_5xx(live: LiveServer, store: Store) -> None:
    rng = random.Random(20260101)
    statuses: dict[int, int] = {}
    with live.client() as client:
        for number in range(200):
            body, headers = _fuzz_case(rng, store, live)
            endpoint = "store" if rng.random() < 0.05 else "envelope"
            response = client.post(f"/api/{store.project.id}/{endpoint}/", content=body, headers=headers)
            assert response.status_code < 500, (
                number,
                response.status_code,
                response.text,
                body[:300],
                headers,
            )
            assert isinstance(response.json(), dict), number
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        # The fuzz must reach both sides: accepted envelopes and refusals.
        assert statuses.get(200, 0) >= 40 and sum(n for s, n in statuses.items() if 400 <= s < 500) >= 40, (
            statuses
        )
        healthy = client.post(
            f"/api/{store.project.id}/envelope/",
            content=envelope({}, item("event", error_payload())),
            headers=auth_header(store.project.public_key),
        )
    assert healthy.status_code == 200
