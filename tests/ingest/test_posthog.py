"""PostHog's capture protocol against the real server, on SQLite and PostgreSQL.

Payloads have the shapes posthog-js 1.418 and older clients put on the wire (see
shared/reference/posthog-vercel-vitals.md): `{api_key, batch, sent_at}` as unlabelled
gzip, bare arrays and objects, base64 forms, lz64 forms, `?data=` on GET.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from syncmon.clock import ManualClock
from syncmon.events import Event
from syncmon.http_errors import ClientError
from syncmon.ingest import posthog
from syncmon.ingest.posthog_formats import decode_payload, lz_decompress_base64
from syncmon.store import eventlog, projects
from tests.conftest import Store
from tests.support.live import LiveServer

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SESSION = "019a1b2c-3d4e-7f00-8a1b-2c3d4e5f6a7b"
DEVICE = "019a1b2c-0000-7000-8000-00000000d1ce"
URL = "https://app.syncscript.test/dashboard"
FORM = "application/x-www-form-urlencoded"
# LZString.compressToBase64 output of lz-string 1.5.0 (node), with what it compresses.
LZ_VECTORS = {
    "small": ("hello world", "BYUwNmD2AEDukCcwBMg="),
    "unicode": ("héllo ✓ 😀 中文 \x00 end", "BYS4NmD2AEjI5NheDcAB71C0cocNNoABoFMB2AJkA==="),
}
# compressToBase64("a" * 100_000): 596 characters that inflate 168-fold.
LZ_BOMB = (
    "IY18ZXTt/DFOS1b0c17Pd/wYUcSaWeRZVdTbXfQ408y62+x519z73/wMFDhI0WPETJU6TNlz5CxUuUrVa9Rs1btO3Xv0HDR4ydNnzF"
    "y1es3bd+w8dPnL12/cfPX7z99//AYFBwSGhYeERkVHRMbFx8QmJSckpqWnpGZlZ2Tm5efkFhUXFJaVl5RWVVdU1tXX1DY1NzS2tb"
    "e0dnV3dPb19/QODQ8Mjo2PjE5NT0zOzc/MLi0vLK6tr6xubW9s7u3v7B4dHxyenZ+cXl1fXN7d39w+PT88vr2/vH59f3z+/f/8Aw"
    "FA4Eg0Fg8EQyFQ6Ew2Fw+EIxFI5Eo1Fo9EYzFY7E43F4/EEwlE4kk0lk8kUylU6k02l0+kMxlM5ks1ls9kczlc7k83l8/kCwVC4U"
    "i0Vi8USyVS6Uy2Vy+UKxVK5Uq1Vq9UazVa7U63V6/UGw1G40m01m80Wy1W602212+0Ox1O50u11u90ez1e70+31+/0BwNB4Mh0Nh"
    "8MRyNR6Mx2Nx+MJxNJ5Mp1Np9MZzNZ7M53N5/MFwtF4sl0tl8sVytV6s12t1+sNxtN5st1tt9sdztd7s93t9/sDwVAA==="
)
LZ_EVENT_TEXT = (
    '[{"event":"$pageview","properties":{"distinct_id":"user-42","$current_url":'
    '"https://app.syncscript.test/ä?q=1","$lib":"web","$lib_version":"1.90.0","title":'
    '"Dashboard \u2013 SyncScript 😀"},"timestamp":"2026-11-28T05:00:00.000Z"}]'
)
LZ_EVENT = (
    "NobwRApgbhB2AuYBcYAkAHAhgc2gSwgHcwAaMdAJwHt0IL4CBnZcAEz0YdgGN4B9PK2RgArozoBaACwAmUmm4iKFOPyUAb"
    "YQAt48dIyQB6Q5nToAdIwCePRtwp508c/AidDAE4D8ARwC8AIzyqOp4AEbChBARZCHhfDAUjHhUsMIB5gCcAAzm2fIM8OoQ"
    "wgAimIxaYVSYFKwABIDIBPUAyjbcLfaO8PWAvBuAAHtgAL5kDAC2bvCYY+jCMtkyAGwSAQESMgAcACrZAKxI2dkHuYfZAFrD"
    "ALpAA=="
)


# --- fixtures and helpers -----------------------------------------------------------------


def with_posthog(server: LiveServer) -> LiveServer:
    """The PostHog routes on a live server, unless the app already has them."""
    routes = server.app.router.routes
    if not any(getattr(route, "path", None) == "/e/" for route in routes):
        routes[:0] = posthog.routes(server.services.gateway)
    return server


@pytest.fixture
def ph(store: Store) -> Iterator[LiveServer]:
    with with_posthog(LiveServer(store.settings, store.engine)) as server:
        yield server


@pytest.fixture
def ph_clock(store: Store, manual_clock: ManualClock) -> Iterator[LiveServer]:
    with with_posthog(LiveServer(store.settings, store.engine, clock=manual_clock)) as server:
        yield server


def iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def pj_event(
    event: str,
    properties: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    distinct_id: str = "user-42",
    identified: bool = True,
    timestamp: str | None = "2026-11-28T05:00:00.000Z",
    **extra: Any,
) -> dict[str, Any]:
    """An event as posthog-js 1.418 queues it, with the seed's super-properties."""
    props: dict[str, Any] = {
        "$os": "Windows",
        "$os_version": "10.0",
        "$browser": "Chrome",
        "$device_type": "Desktop",
        "$current_url": URL,
        "$host": "app.syncscript.test",
        "$pathname": "/dashboard",
        "$browser_version": 120,
        "$screen_height": 1080,
        "$screen_width": 1920,
        "$viewport_height": 900,
        "$viewport_width": 1600,
        "$lib": "web",
        "$lib_version": "1.418.10",
        "$insert_id": "x1y2z3",
        "$time": 1795842000.0,
        "distinct_id": distinct_id,
        "$device_id": DEVICE,
        "$is_identified": identified,
        "$process_person_profile": identified,
        "$session_id": SESSION,
        "$window_id": "019a1b2c-3d4e-7f00-8a1b-00000000w1d0",
        "$referrer": "$direct",
        "$referring_domain": "$direct",
        "app_version": "2.4.1",
        "environment": "production",
        "security_level": "enterprise",
    }
    if token is not None:
        props["token"] = token
    props.update(properties or {})
    item: dict[str, Any] = {"uuid": str(uuid.uuid4()), "event": event, "properties": props}
    if timestamp is not None:
        item["timestamp"] = timestamp
    item.update(extra)
    return item


def batch_body(token: str, *events: dict[str, Any], sent_at: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"api_key": token, "batch": list(events)}
    if sent_at is not None:
        body["sent_at"] = sent_at
    return body


def send(
    live: LiveServer,
    path: str,
    content: bytes | str | None = None,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> httpx.Response:
    with live.client() as client:
        return client.request(
            method,
            path,
            params=params,
            content=content,
            headers={"User-Agent": CHROME, **(headers or {})},
        )


def gz(payload: Any) -> bytes:
    return gzip.compress(json.dumps(payload).encode())


def b64_form(payload: Any) -> str:
    return "data=" + quote(base64.b64encode(json.dumps(payload).encode()).decode(), safe="")


def stored(store: Store) -> list[Event]:
    """The PostHog-made events, in log order (detectors may add events of their own)."""
    with store.engine.connect() as conn:
        every = eventlog.events_in_seq_range(conn, 0, 2**62)
    return [event for event in every if "$event" in event.data]


def assert_ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"status": 1}


# --- LZString -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LZ_VECTORS))
def test_lz_string_matches_the_javascript_original(name: str) -> None:
    plain, packed = LZ_VECTORS[name]
    assert lz_decompress_base64(packed, 1000) == plain
    assert lz_decompress_base64(LZ_EVENT, 10_000) == LZ_EVENT_TEXT
    # A form decoder turns '+' into ' ': PostHog puts them back, and so do we.
    assert lz_decompress_base64(LZ_EVENT.replace("+", " "), 10_000) == LZ_EVENT_TEXT


def test_lz_string_refuses_hostile_input_with_4xx() -> None:
    bomb = LZ_BOMB
    for text, status in [
        ("", 400),
        ("!!!!", 400),
        ("A", 400),  # truncated
        ("BYUwNmD2AEDukCcw", 400),  # cut short
        ("////////////", 400),  # a reference past the dictionary
        (bomb, 413),
    ]:
        try:
            lz_decompress_base64(text, 20)
        except ClientError as exc:
            assert status is None or exc.status == status, (text, exc.message)
            assert exc.status in (400, 413)
    rng = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120)))
        try:
            out = lz_decompress_base64(text, 200)
        except ClientError as exc:
            assert exc.status in (400, 413)
        else:
            assert len(out) <= 200


def test_lz_string_output_is_bounded() -> None:
    with pytest.raises(ClientError) as caught:
        lz_decompress_base64(LZ_EVENT, 100)
    assert caught.value.status == 413


def test_decode_payload_variants_without_a_server() -> None:
    doc = [{"event": "x", "properties": {"a": "ü"}}]
    text = json.dumps(doc).encode()
    b64 = base64.b64encode(text)
    assert decode_payload(text, content_type="application/json", compression=None, max_size=10**6) == doc
    assert (
        decode_payload(gzip.compress(text), content_type="text/plain", compression=None, max_size=10**6)
        == doc
    )
    assert decode_payload(b64, content_type="text/plain", compression=None, max_size=10**6) == doc
    form = b"data=" + quote(b64.decode(), safe="").encode()
    assert decode_payload(form, content_type="", compression="base64", max_size=10**6) == doc
    lz = b"compression=lz64&data=" + quote(LZ_EVENT, safe="").encode()
    decoded = decode_payload(lz, content_type=FORM, compression=None, max_size=10**6)
    assert decoded[0]["event"] == "$pageview"


# --- capture: endpoints and body variants -------------------------------------------------


def test_posthog_js_gzip_batch_becomes_events(ph: LiveServer, store: Store) -> None:
    """posthog-js 1.418: `{api_key, batch, sent_at}` as raw gzip labelled text/plain."""
    token = store.project.public_key
    pageview = pj_event(
        "$pageview", {"title": "Dashboard", "$referrer": "https://search.test/?q=sync"}, token=token
    )
    identify = pj_event("$identify", {"$anon_distinct_id": DEVICE}, token=token)
    identify["$set"] = {"email": "ada@example.com", "plan": "pro"}
    leave = pj_event("$pageleave", {"$prev_pageview_duration": 12.5}, token=token)
    click = pj_event("$autocapture", {"$event_type": "click", "$el_text": "Save"}, token=token)
    custom = pj_event("report_exported", {"format": "csv", "rows": 1200}, token=token)
    body = batch_body(token, pageview, identify, leave, click, custom)
    response = send(ph, "/e/", gz(body), headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert response.json() == {"status": 1}
    events = stored(store)
    assert [(e.kind, e.name) for e in events] == [
        ("page_view", "page_view"),
        ("custom", "$identify"),
        ("custom", "$pageleave"),
        ("custom", "$autocapture"),
        ("custom", "report_exported"),
    ]
    view = events[0]
    assert view.id == uuid.UUID(pageview["uuid"]).hex
    assert view.url == URL
    assert view.data["referrer"] == "https://search.test/?q=sync"
    assert view.data["title"] == "Dashboard"
    assert (view.user_id, view.session_id) == ("user-42", SESSION)
    assert (view.environment, view.release) == ("production", "2.4.1")
    assert view.data["security_level"] == "enterprise"  # a super-property registered by the seed
    assert view.data["$lib_version"] == "1.418.10"
    assert "token" not in view.data
    assert (view.browser, view.os, view.device) == ("Chrome", "Windows", "desktop")
    assert view.timestamp_ms == 1795842000000  # no sent_at: the timestamp as sent
    ident = events[1]
    assert ident.user_id == "user-42"
    assert ident.data["$anon_distinct_id"] == DEVICE
    assert ident.data["$set"]["plan"] == "pro"
    assert events[4].data["rows"] == 1200
    assert events[3].data["$el_text"] == "Save"


@pytest.mark.parametrize("path", [p + s for p in posthog.CAPTURE_PATHS for s in ("/", "")])
def test_every_capture_endpoint(ph: LiveServer, store: Store, path: str) -> None:
    token = store.project.public_key
    assert_ok(send(ph, path, gz(batch_body(token, pj_event("hello", token=token)))))
    assert [e.name for e in stored(store)] == ["hello"]


def _variants(token: str) -> dict[str, dict[str, Any]]:
    event = pj_event("variant", token=token)
    plain = pj_event("variant", timestamp=None, token=token)
    raw_b64 = base64.b64encode(json.dumps([event]).encode()).decode()
    return {
        "json object": {"content": json.dumps(event), "headers": {"Content-Type": "application/json"}},
        "json array": {"content": json.dumps([event]), "headers": {"Content-Type": "application/json"}},
        "batch object": {"content": json.dumps(batch_body(token, event, sent_at=iso(1795842000000)))},
        "gzip unlabelled": {
            "content": gz(batch_body(token, event)),
            "headers": {"Content-Type": "text/plain"},
        },
        "gzip-js legacy": {
            "content": gz([event]),
            "params": {"compression": "gzip-js", "ver": "1.200.0", "ip": "1", "_": "1795842000000"},
        },
        "gzip mislabelled json": {
            "content": gz([event]),
            "headers": {"Content-Type": "application/json"},
        },
        "gzip-js label on plain json": {"content": json.dumps([event]), "params": {"compression": "gzip-js"}},
        "content-encoding gzip": {
            "content": gz(batch_body(token, event)),
            "headers": {"Content-Encoding": "gzip", "Content-Type": "application/json"},
        },
        "base64 form": {
            "content": b64_form([event]),
            "params": {"compression": "base64"},
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        "base64 form, + as spaces, no type": {"content": "data=" + raw_b64.replace("+", " ")},
        "base64 form, compression field": {
            "content": b64_form([event]) + "&compression=base64",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        "base64 unlabelled text": {"content": raw_b64, "headers": {"Content-Type": "text/plain"}},
        "lz64 form": {
            "content": "data=" + quote(LZ_EVENT, safe=""),
            "params": {"compression": "lz64", "token": token},
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        "get ?data=": {
            "method": "GET",
            "params": {"data": raw_b64, "ip": "1", "_": "1795842000000", "ver": "1.9.0"},
        },
        "offset instead of timestamp": {"content": json.dumps([{**plain, "offset": 1500}])},
    }


VARIANT_NAMES = sorted(_variants("t"))


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_every_body_variant(ph: LiveServer, store: Store, variant: str) -> None:
    spec = _variants(store.project.public_key)[variant]
    response = send(
        ph,
        "/e/",
        spec.get("content"),
        params=spec.get("params"),
        headers=spec.get("headers"),
        method=spec.get("method", "POST"),
    )
    assert_ok(response)
    events = stored(store)
    assert len(events) == 1
    expected = "page_view" if variant == "lz64 form" else "variant"
    assert events[0].name == expected


def test_lz64_event_content_survives(ph: LiveServer, store: Store) -> None:
    response = send(
        ph,
        "/e/",
        "compression=lz64&data=" + quote(LZ_EVENT, safe=""),
        params={"token": store.project.public_key},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_ok(response)
    (event,) = stored(store)
    assert event.url == "https://app.syncscript.test/ä?q=1"
    assert event.data["title"] == "Dashboard \u2013 SyncScript 😀"
    assert event.user_id == "user-42"


def test_token_is_found_wherever_clients_put_it(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    cases: list[tuple[str, dict[str, str] | None, Any]] = [
        ("query token", {"token": token}, [pj_event("where")]),
        ("query api_key", {"api_key": token}, [pj_event("where")]),
        ("body api_key", None, {"api_key": token, "batch": [pj_event("where")]}),
        ("properties.token", None, [pj_event("where", token=token)]),
        ("single object properties.token", None, pj_event("where", token=token)),
        ("engage $token", None, {"$token": token, "$distinct_id": "user-9", "$set": {"plan": "pro"}}),
    ]
    for label, params, body in cases:
        path = "/engage/" if label.startswith("engage") else "/e/"
        response = send(ph, path, json.dumps(body), params=params)
        assert response.status_code == 200, (label, response.text)
    events = stored(store)
    assert len(events) == len(cases)
    engage = events[-1]
    assert (engage.name, engage.user_id, engage.data["$set"]) == ("$identify", "user-9", {"plan": "pro"})


def test_token_problems_are_401(ph: LiveServer, store: Store) -> None:
    event = pj_event("x")
    for body, expected in [
        ([event], "missing project token"),
        ({"api_key": "not-a-key", "batch": [event]}, "unknown project key"),
        ({"api_key": store.project.secret_key, "batch": [event]}, "secret key"),
        ({"api_key": 42, "batch": [event]}, "missing project token"),
    ]:
        response = send(ph, "/e/", json.dumps(body))
        assert response.status_code == 401, response.text
        reply = response.json()
        assert expected in reply["error"]
        assert reply["detail"] == reply["error"]  # posthog-python reports `detail`
        assert reply["type"] == "authentication_error"
    assert stored(store) == []


# --- malformed, oversized, fuzzed ---------------------------------------------------------


def test_malformed_bodies_get_a_clear_400(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    good = pj_event("x", token=token)
    cases: list[tuple[str, bytes | str, dict[str, str], str]] = [
        ("not json", "{not json", {}, "not valid JSON"),
        ("truncated gzip", gz([good])[:-12], {}, "not valid gzip"),
        ("base64 label, not base64", "!!!", {"compression": "base64"}, "not valid base64"),
        ("base64 of not json", base64.b64encode(b"<html>").decode(), {}, "neither JSON nor base64"),
        ("neither", "hello there", {}, "neither JSON nor base64"),
        ("lz64 garbage", "data=%21%21", {"compression": "lz64"}, "lz64"),
        ("form without data", "ver=1&ip=1", {}, ""),
        ("undefined", "undefined", {"compression": "gzip-js"}, "undefined"),
        ("empty body", "", {}, "no data"),
        ("scalar", "42", {}, "expected an event object"),
        ("batch not a list", json.dumps({"api_key": token, "batch": {"a": 1}}), {}, "batch"),
        ("empty batch", json.dumps({"api_key": token, "batch": []}), {}, "no events"),
        ("item not an object", json.dumps([good, "x"]), {}, "batch[1]"),
        ("no event name", json.dumps([{**good, "event": ""}]), {}, "missing event name"),
        ("properties not an object", json.dumps([{**good, "properties": [1]}]), {}, "properties"),
    ]
    for label, content, params, message in cases:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if label.startswith("form") else {}
        response = send(ph, "/e/", content, params={"token": token, **params}, headers=headers)
        assert response.status_code == 400, (label, response.status_code, response.text)
        reply = response.json()
        assert message in reply["error"], (label, reply)
        assert reply["type"] == "validation_error"
    # A broken Content-Encoding is the gateway's 400 / 415.
    assert send(ph, "/e/", "{}", headers={"Content-Encoding": "gzip"}).status_code == 400
    assert send(ph, "/e/", "{}", headers={"Content-Encoding": "compress"}).status_code == 415
    assert stored(store) == []


def test_oversized_bodies_get_413(store: Store) -> None:
    settings = store.settings_with(max_body_bytes=4096, max_decompressed_bytes=8192, max_batch_events=3)
    token = store.project.public_key
    with with_posthog(LiveServer(settings, store.engine)) as live:
        big = pj_event("big", {"blob": "x" * 5000}, token=token)
        assert send(live, "/e/", json.dumps([big])).status_code == 413
        bomb = gzip.compress(json.dumps([pj_event("b", {"blob": "y" * 20000}, token=token)]).encode())
        assert len(bomb) < 4096
        response = send(live, "/e/", bomb, headers={"Content-Type": "text/plain"})
        assert response.status_code == 413, response.text
        many = [pj_event(f"e{i}", token=token) for i in range(4)]
        response = send(live, "/batch/", gz(batch_body(token, *many)))
        assert response.status_code == 413
        assert "at most 3 events" in response.json()["detail"]
        lz_bomb = "data=" + quote(LZ_BOMB, safe="")
        response = send(live, "/e/", lz_bomb, params={"compression": "lz64", "token": token})
        assert response.status_code == 413, response.text
    assert stored(store) == []


def test_fuzzed_bodies_never_get_a_5xx(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    rng = random.Random(20261128)
    seeds: list[bytes] = [
        gz(batch_body(token, pj_event("f", token=token))),
        json.dumps(batch_body(token, pj_event("f", token=token))).encode(),
        b64_form([pj_event("f", token=token)]).encode(),
        ("data=" + quote(LZ_EVENT, safe="")).encode(),
        json.dumps([pj_event("$web_vitals", {"$web_vitals_LCP_value": 1})]).encode(),
    ]
    labels = [None, "gzip-js", "base64", "lz64", "gzip"]
    types = ["text/plain", "application/json", "application/x-www-form-urlencoded", "", "image/png"]
    statuses: set[int] = set()
    with ph.client() as client:
        for _ in range(150):
            body = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                action = rng.random()
                if action < 0.4 and body:
                    body[rng.randrange(len(body))] = rng.randrange(256)
                elif action < 0.7:
                    del body[rng.randrange(len(body) + 1) :]
                else:
                    at = rng.randrange(len(body) + 1)
                    body[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            params = {"token": token}
            label = rng.choice(labels)
            if label:
                params["compression"] = label
            response = client.post(
                rng.choice(["/e/", "/batch/", "/i/v0/e/", "/engage/", "/flags/?v=2", "/decide/"]),
                params=params,
                content=bytes(body),
                headers={"Content-Type": rng.choice(types)},
            )
            statuses.add(response.status_code)
            assert response.status_code < 500, (bytes(body)[:80], response.text)
            assert response.status_code in (200, 400, 401, 413, 415), response.text
    assert 400 in statuses


# --- time ---------------------------------------------------------------------------------


def test_clock_skew_is_corrected_with_sent_at_and_offset(
    ph_clock: LiveServer, store: Store, manual_clock: ManualClock
) -> None:
    token = store.project.public_key
    now = manual_clock.now_ms()
    ahead = now + 3_600_000  # the browser's clock is an hour fast
    skewed = pj_event("skewed", timestamp=iso(ahead - 5_000), token=token)
    queued = pj_event("queued", timestamp=None, token=token, offset=2_500)
    assert_ok(send(ph_clock, "/e/", gz(batch_body(token, skewed, queued, sent_at=iso(ahead)))))
    # Older clients: a bare array with sent_at in `_` (ms).
    legacy = pj_event("legacy", timestamp=iso(ahead - 7_000), token=token)
    assert_ok(send(ph_clock, "/e/", json.dumps([legacy]), params={"_": str(ahead)}))
    # posthog-js 1.407.1-1.407.2: `sent_at` in the query.
    query = pj_event("query", timestamp=iso(ahead - 9_000), token=token)
    assert_ok(send(ph_clock, "/e/", json.dumps([query]), params={"sent_at": str(ahead)}))
    # Historical imports and $ignore_sent_at keep the timestamp as sent.
    old = pj_event("imported", timestamp=iso(now - 86_400_000), token=token)
    historical = {**batch_body(token, old, sent_at=iso(ahead)), "historical_migration": True}
    assert_ok(send(ph_clock, "/batch/", json.dumps(historical)))
    ignore = pj_event("ignore", {"$ignore_sent_at": True}, timestamp=iso(now - 60_000), token=token)
    assert_ok(send(ph_clock, "/e/", json.dumps(batch_body(token, ignore, sent_at=iso(ahead)))))
    # Without sent_at a future timestamp beyond the tolerance becomes the receive time.
    future = pj_event("future", timestamp=iso(ahead), token=token)
    assert_ok(send(ph_clock, "/e/", json.dumps([future])))
    # An unreadable timestamp is "now", not a refused batch (PostHog does the same).
    garbled = pj_event("garbled", timestamp="yesterday-ish", token=token)
    assert_ok(send(ph_clock, "/e/", json.dumps([garbled])))
    times = {e.name: e.timestamp_ms for e in stored(store)}
    assert times == {
        "skewed": now - 5_000,
        "queued": now - 2_500,
        "legacy": now - 7_000,
        "query": now - 9_000,
        "imported": now - 86_400_000,
        "ignore": now - 60_000,
        "future": now,
        "garbled": now,
    }
    by_name = {e.name: e for e in stored(store)}
    assert by_name["skewed"].data["$clock_skew_ms"] == -3_600_000
    assert by_name["garbled"].data["$timestamp_unreadable"] == "yesterday-ish"


# --- the seed's capture calls and PostHog's own events ------------------------------------


def test_seed_security_event_gets_its_canonical_name(ph: LiveServer, store: Store) -> None:
    """SecurityAnalytics.trackAuthenticationEvent('login_failed', {...})."""
    token = store.project.public_key
    props = {
        "event_type": "authentication",
        "auth_event": "login_failed",
        "timestamp": "2026-11-28T04:59:59.000Z",
        "user_agent": CHROME,
        "url": "https://app.syncscript.test/login",
        "method": "password",
    }
    anonymous = pj_event("security_event", props, token=token, distinct_id=DEVICE, identified=False)
    bad = pj_event("security_event", {"auth_event": "x"}, token=token)  # no event_type
    assert_ok(send(ph, "/e/", gz(batch_body(token, anonymous, bad))))
    event, fallback = stored(store)
    assert (event.kind, event.name, event.level) == ("security", "authn_login_fail", "info")
    assert event.data["category"] == "authentication"
    assert event.message == "authentication: login_failed"
    assert event.url == "https://app.syncscript.test/login"
    assert event.user_id is None  # anonymous under identified_only
    assert event.data["distinct_id"] == DEVICE
    assert event.data["client_timestamp"] == "2026-11-28T04:59:59.000Z"
    assert event.data["security_level"] == "enterprise"
    assert (event.environment, event.release) == ("production", "2.4.1")
    assert (fallback.kind, fallback.name) == ("custom", "security_event")
    assert "event_type" in fallback.data["$mapping_error"]


def test_seed_performance_metrics_become_one_metric_per_number(ph: LiveServer, store: Store) -> None:
    """PerformanceMonitoring.trackPageLoad: LCP, CLS and FID are Promises (JSON `{}`), and
    page_load_time is negative when read inside the load handler."""
    token = store.project.public_key
    props = {
        "page_load_time": -1834.2,
        "dom_content_loaded": 12.4,
        "first_contentful_paint": 812.5,
        "largest_contentful_paint": {},
        "cumulative_layout_shift": {},
        "first_input_delay": {},
    }
    item = pj_event("performance_metrics", props, token=token)
    body = batch_body(token, item)
    assert_ok(send(ph, "/e/", gz(body)))
    assert_ok(send(ph, "/e/", gz(body)))  # a retry is not stored twice
    events = stored(store)
    # Named as every receiver names them (syncmon.metrics.vitals), the field as sent kept.
    assert [(e.kind, e.name, e.value, e.data["unit"]) for e in events] == [
        ("performance_metric", "dom_content_loaded", 12.4, "ms"),
        ("performance_metric", "FCP", 812.5, "ms"),
    ]
    first, fcp = events
    assert (fcp.data["field"], fcp.data["rating"]) == ("first_contentful_paint", "good")
    assert first.url == URL
    assert sorted(first.data["skipped"]) == [
        "cumulative_layout_shift",
        "first_input_delay",
        "largest_contentful_paint",
        "page_load_time",
    ]
    assert "first_contentful_paint" not in first.data


def test_seed_error_occurred_is_grouped(ph: LiveServer, store: Store) -> None:
    """ErrorMonitoring.trackError → posthog.capture('error_occurred', {...})."""
    token = store.project.public_key
    error: dict[str, Any] = {
        "type": "javascript_error",
        "message": "Cannot read properties of undefined (reading 'id')",
        "filename": "https://app.syncscript.test/_next/static/chunks/main.js",
        "lineno": 12,
        "colno": 3456,
        "stack": "TypeError: Cannot read properties of undefined\n    at load (main.js:12:3456)",
        "timestamp": "2026-11-28T05:00:00.000Z",
    }
    csp = {
        "type": "csp_violation",
        "message": "Content Security Policy violation",
        "violated_directive": "script-src",
        "blocked_uri": "https://evil.test/x.js",
    }
    items = [pj_event("error_occurred", error, token=token) for _ in range(2)]
    items.append(pj_event("error_occurred", csp, token=token))
    assert_ok(send(ph, "/e/", gz(batch_body(token, *items))))
    first, second, violation = stored(store)
    assert (first.kind, first.name, first.level) == ("error", "javascript_error", "error")
    assert first.message == "TypeError: " + error["message"]
    assert first.issue_id is not None and first.issue_id == second.issue_id
    assert first.data["exception"]["values"][0]["stacktrace"]["frames"][-1]["function"] == "load"
    assert (violation.name, violation.level) == ("csp_violation", "warning")


def test_posthog_exception_is_grouped_as_an_error(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    chain = [
        {
            "type": "TypeError",
            "value": "x is undefined",
            "mechanism": {"handled": False, "synthetic": False, "type": "onerror"},
            "stacktrace": {
                "type": "raw",
                "frames": [
                    {
                        "platform": "web:javascript",
                        "filename": "https://app.syncscript.test/app.js",
                        "function": "render",
                        "lineno": 10,
                        "colno": 5,
                        "in_app": True,
                    },
                    {
                        "platform": "web:javascript",
                        "filename": "https://app.syncscript.test/app.js",
                        "function": "save",
                        "lineno": 42,
                        "colno": 7,
                        "in_app": True,
                    },
                ],
            },
        }
    ]
    props = {"$exception_list": chain, "$exception_level": "error", "$exception_personURL": "x"}
    items = [pj_event("$exception", props, token=token) for _ in range(2)]
    assert_ok(send(ph, "/e/", gz(batch_body(token, *items))))
    first, second = stored(store)
    assert (first.kind, first.name, first.level) == ("error", "TypeError", "error")
    assert first.message == "TypeError: x is undefined"
    assert first.issue_id is not None and first.issue_id == second.issue_id
    assert first.data["exception"]["values"][0]["stacktrace"]["frames"][-1]["function"] == "save"
    assert "$exception_list" not in first.data


def test_web_vitals_become_one_metric_each(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    vitals = {
        "$web_vitals_LCP_value": 2150.2,
        "$web_vitals_LCP_event": {"name": "LCP", "value": 2150.2, "rating": "good", "id": "v6-1-2"},
        "$web_vitals_CLS_value": 0.031,
        "$web_vitals_CLS_event": {"name": "CLS", "value": 0.031, "rating": "good"},
        "$web_vitals_FCP_value": 900,
        "$web_vitals_INP_value": 384,
        "$web_vitals_TTFB_value": 120,
        "$web_vitals_enabled_metrics": ["LCP", "CLS", "FCP", "INP"],
    }
    item = pj_event("$web_vitals", vitals, token=token)
    nothing = pj_event("$web_vitals", {"$web_vitals_LCP_value": "n/a"}, token=token)
    assert_ok(send(ph, "/e/", gz(batch_body(token, item, nothing))))
    assert_ok(send(ph, "/e/", gz(batch_body(token, item))))  # resent: deduplicated
    events = stored(store)
    metrics = [
        (e.name, e.value, e.data["unit"], e.data["rating"]) for e in events if e.kind == "performance_metric"
    ]
    assert metrics == [
        ("LCP", 2150.2, "ms", "good"),
        ("CLS", 0.031, "unitless", "good"),
        ("FCP", 900.0, "ms", "good"),
        ("INP", 384.0, "ms", "needs-improvement"),
        ("TTFB", 120.0, "ms", "good"),
    ]
    lcp = events[0]
    assert lcp.url == URL and lcp.session_id == SESSION
    assert lcp.data["detail"]["rating"] == "good"
    assert "$web_vitals_CLS_value" not in lcp.data
    assert [(e.kind, e.name) for e in events if e.kind != "performance_metric"] == [("custom", "$web_vitals")]


def test_anonymous_and_identified_distinct_ids(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    anon = pj_event("$pageview", token=token, distinct_id=DEVICE, identified=False)
    ident = pj_event("$identify", {"$anon_distinct_id": DEVICE}, token=token, distinct_id="user-7")
    server = {
        "event": "order_paid",
        "distinct_id": 1234,
        "properties": {"$lib": "posthog-python", "amount": 12},
        "timestamp": "2026-11-28T05:00:00+00:00",
    }
    assert_ok(send(ph, "/e/", json.dumps(batch_body(token, anon, ident, server))))
    view, identify, paid = stored(store)
    assert (view.user_id, view.data["distinct_id"], view.data["$device_id"]) == (None, DEVICE, DEVICE)
    assert (identify.user_id, identify.data["$anon_distinct_id"]) == ("user-7", DEVICE)
    assert (paid.user_id, paid.data["distinct_id"]) == ("1234", "1234")


def test_snapshots_are_dropped_and_pii_is_scrubbed(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    snapshot = pj_event("$snapshot", {"$snapshot_data": [{"type": 2}]}, token=token)
    secret = pj_event("signup", {"password": "hunter2", "card": "4111 1111 1111 1111"}, token=token)
    assert_ok(send(ph, "/e/", json.dumps(batch_body(token, snapshot, secret))))
    (event,) = stored(store)
    assert event.data["password"] == "[Filtered]"
    assert "4111" not in json.dumps(event.data)


def test_do_not_track_is_acknowledged_and_not_stored(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    body = gz(batch_body(token, pj_event("$pageview", token=token)))
    assert_ok(send(ph, "/e/", body, headers={"DNT": "1"}))
    assert stored(store) == []
    assert_ok(send(ph, "/e/", body, headers={"DNT": "0"}))
    assert len(stored(store)) == 1


def test_ip_zero_stores_no_client_ip(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    assert_ok(send(ph, "/e/", json.dumps([pj_event("a", token=token)]), params={"ip": "0"}))
    assert_ok(send(ph, "/e/", json.dumps([pj_event("b", token=token)]), params={"ip": "1"}))
    a, b = stored(store)
    assert (a.client_ip, b.client_ip) == (None, "127.0.0.1")


# --- remote config, flags, CORS -----------------------------------------------------------


def test_remote_config_json_and_script(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    response = send(ph, f"/array/{token}/config", method="GET")
    assert response.status_code == 200
    config = response.json()
    assert config["token"] == token
    assert "gzip-js" in config["supportedCompression"]
    assert config["sessionRecording"] is False
    assert config["autocapture_opt_out"] is True
    assert config["autocaptureExceptions"] is True
    assert config["hasFeatureFlags"] is False
    assert config["analytics"] == {"endpoint": "/e/"}
    script = send(ph, f"/array/{token}/config.js", method="GET")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    match = re.search(r"_POSTHOG_REMOTE_CONFIG\[(\"[^\"]+\")\] = \{config: (\{.*\}), siteApps", script.text)
    assert match is not None, script.text
    assert json.loads(match.group(1)) == token
    assert json.loads(match.group(2)) == config
    for bad in ("0" * 32, store.project.secret_key):
        for suffix in ("config", "config.js"):
            assert send(ph, f"/array/{bad}/{suffix}", method="GET").status_code == 404


def test_flags_and_decide_answer_no_flags(ph: LiveServer, store: Store) -> None:
    token = store.project.public_key
    request = {"token": token, "distinct_id": "user-42", "person_properties": {}, "groups": {}}
    response = send(ph, "/flags/", json.dumps(request), params={"v": "2"})
    assert response.status_code == 200
    assert response.json() == {"flags": {}, "errorsWhileComputingFlags": False, "quotaLimited": []}
    with_config = send(ph, "/flags/", gz(request), params={"v": "2", "config": "true"}).json()
    assert with_config["flags"] == {} and "gzip-js" in with_config["supportedCompression"]
    # posthog-js <= 1.251: /decide/?v=3 with a base64 form.
    legacy = send(
        ph,
        "/decide/",
        b64_form(request),
        params={"v": "3"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert legacy.status_code == 200
    reply = legacy.json()
    assert (reply["featureFlags"], reply["featureFlagPayloads"], reply["sessionRecording"]) == ({}, {}, False)
    assert send(ph, "/flags", json.dumps({"token": "nope"})).status_code == 401
    assert send(ph, "/flags/", method="GET", params={"token": token}).status_code == 200
    assert stored(store) == []


def test_cors_preflight_and_origin_checks(store: Store) -> None:
    with store.engine.begin() as conn:
        projects.update_project(conn, store.project.slug, origins=["https://app.syncscript.test"])
    token = store.project.public_key
    with with_posthog(LiveServer(store.settings, store.engine)) as live:
        preflight = send(
            live,
            "/e/",
            method="OPTIONS",
            headers={
                "Origin": "https://app.syncscript.test",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == "https://app.syncscript.test"
        assert "content-type" in preflight.headers["access-control-allow-headers"]
        body = json.dumps(batch_body(token, pj_event("x", token=token)))
        ok = send(live, "/e/", body, headers={"Origin": "https://app.syncscript.test"})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://app.syncscript.test"
        assert ok.headers["access-control-allow-credentials"] == "true"
        refused = send(live, "/e/", body, headers={"Origin": "https://evil.test"})
        assert refused.status_code == 403
        assert refused.headers["access-control-allow-origin"] == "https://evil.test"  # readable refusal
    assert len(stored(store)) == 1
