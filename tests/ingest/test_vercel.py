"""@vercel/analytics and @vercel/speed-insights against the real server, on SQLite and PostgreSQL.

Bodies are the shapes Vercel's hosted scripts (insights 0.1.3, speed-insights 0.1.3) post,
and our stand-in scripts are run in Chromium when it is available.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from syncmon.clock import Clock
from syncmon.events import Event
from syncmon.ingest import native, vercel
from syncmon.settings import Settings
from syncmon.store import eventlog
from syncmon.store.schema import events as events_table
from tests.conftest import Store
from tests.support.live import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

APP = "https://app.syncscript.test"
SDK = {"sv": "0.1.3", "sdkn": "@vercel/analytics/next", "sdkv": "2.0.1"}
VIEW = {
    "o": f"{APP}/docs/intro?ref=hn",
    **SDK,
    "ts": 1795842000000,
    "dp": "/docs/[slug]",
    "r": "https://news.ycombinator.com/",
}
EVENT = {
    "o": f"{APP}/pricing",
    **SDK,
    "ts": 1795842001000,
    "en": "Signup",
    "ed": {"plan": "pro", "trial": True},
}
VITALS = {
    "speed": "4g",
    "metrics": [
        {"id": "v3-1-1", "type": "LCP", "route": "/docs/[slug]", "href": f"{APP}/docs/intro", "value": 2600,
         "attribution": {"eventTarget": "main>img.hero"}},
        {"id": "v3-1-2", "type": "CLS", "route": "/docs/[slug]", "href": f"{APP}/docs/intro", "value": 0.0512,
         "attribution": {"eventTarget": "div.banner"}},
        {"id": "v3-1-3", "type": "INP", "route": "/docs/[slug]", "href": f"{APP}/docs/intro", "value": 640,
         "attribution": {"eventTarget": "button#buy", "eventType": "pointerup"}},
        {"id": "v3-1-4", "type": "FCP", "route": "/docs/[slug]", "href": f"{APP}/docs/intro", "value": 1800},
        {"id": "v3-1-5", "type": "TTFB", "route": "/docs/[slug]", "href": f"{APP}/docs/intro", "value": 120},
        {"id": "v3-1-6", "type": "FID", "route": "/docs/[slug]", "href": f"{APP}/docs/intro", "value": 12.5,
         "attribution": {"eventTarget": "button#buy", "eventType": "pointerdown"}},
    ],
    "scriptVersion": "0.1.3",
    "sdkName": "@vercel/speed-insights/next",
    "sdkVersion": "2.0.0",
}  # fmt: skip
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def serve(store: Store, settings: Settings | None = None, clock: Clock | None = None) -> LiveServer:
    """A live server with the Vercel routes, whether or not app.py wires them yet."""
    server = LiveServer(settings or store.settings, store.engine, clock=clock)
    paths = {getattr(route, "path", None) for route in server.app.router.routes}
    if "/_vercel/{key}/insights/view" not in paths:
        server.app.router.routes.extend(vercel.routes(server.services.gateway))
    return server


@pytest.fixture
def site(store: Store) -> Iterator[LiveServer]:
    with serve(store) as server:
        yield server


def base(site: LiveServer, store: Store) -> str:
    """What the basePath option is set to: the monitor's /_vercel/<public key>."""
    return f"{site.url}/_vercel/{store.project.public_key}"


def send(url: str, body: Any, *, content_type: str = "application/json", **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(url, content=content, headers={"Content-Type": content_type, **headers}, timeout=30)


def stored(store: Store, event_id: str) -> Event:
    with store.engine.connect() as conn:
        found = eventlog.get_event(conn, event_id)
    assert found is not None, f"event {event_id} not stored"
    return found


def all_events(store: Store) -> list[Event]:
    with store.engine.connect() as conn:
        ids = conn.execute(sa.select(events_table.c.id).order_by(events_table.c.seq)).scalars().all()
    return [stored(store, event_id) for event_id in ids]


def count_events(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one())


# ------------------------------------------------------------------------------------------
# Web Analytics


def test_pageview_from_the_analytics_script(site: LiveServer, store: Store) -> None:
    response = send(f"{base(site, store)}/insights/view", VIEW, **{"User-Agent": CHROME, "Origin": APP})
    assert response.status_code == 200, response.text
    (event_id,) = response.json()["ids"]
    event = stored(store, event_id)
    assert (event.kind, event.name, event.url) == ("page_view", "page_view", VIEW["o"])
    assert event.timestamp_ms == VIEW["ts"]
    assert event.data["referrer"] == VIEW["r"]
    assert event.data["route"] == "/docs/[slug]"
    assert event.data["sdk"] == {"name": "@vercel/analytics/next", "version": "2.0.1", "script": "0.1.3"}
    assert (event.browser, event.client_ip, event.trusted) == ("Chrome", "127.0.0.1", False)


def test_custom_event_from_track(site: LiveServer, store: Store) -> None:
    response = send(f"{base(site, store)}/insights/event", EVENT)
    assert response.status_code == 200, response.text
    event = stored(store, response.json()["ids"][0])
    assert (event.kind, event.name, event.url) == ("custom", "Signup", f"{APP}/pricing")
    assert (event.data["plan"], event.data["trial"]) == ("pro", True)
    assert event.timestamp_ms == EVENT["ts"]


def test_a_property_named_kind_is_only_a_property(site: LiveServer, store: Store) -> None:
    body = {**EVENT, "en": "Click", "ed": {"kind": "button"}}
    response = send(f"{base(site, store)}/insights/event", body)
    assert response.status_code == 200, response.text
    assert stored(store, response.json()["ids"][0]).kind == "custom"


# The seed's VercelAnalytics calls, as our script sends va('track', {name, ...props}).
SEED_TRACKS: list[tuple[dict[str, Any], tuple[str, str]]] = [
    ({"name": "page_view", "url": f"{APP}/docs", "timestamp": 1795842000000}, ("page_view", "page_view")),
    ({"name": "signup_clicked", "plan": "pro", "timestamp": 1795842000000}, ("custom", "signup_clicked")),
    (
        {"name": "performance_metric", "metric": "page_load_time", "value": 1834.5, "url": f"{APP}/"},
        ("performance_metric", "page_load_time"),
    ),
    (
        {"name": "error_occurred", "error_message": "boom", "error_name": "Error", "context": {"step": 2}},
        ("error", "javascript_error"),
    ),
]


@pytest.mark.parametrize(("track", "expected"), SEED_TRACKS)
def test_seed_tracks_become_the_kinds_the_batch_endpoint_gives(
    site: LiveServer, store: Store, track: dict[str, Any], expected: tuple[str, str]
) -> None:
    properties = {k: v for k, v in track.items() if k != "name"}
    body = {"o": f"{APP}/here", **SDK, "ts": 1795842005000, "en": track["name"], "ed": properties}
    response = send(f"{base(site, store)}/insights/event", body)
    assert response.status_code == 200, response.text
    event = stored(store, response.json()["ids"][0])
    assert (event.kind, event.name) == expected
    # The same item through the native batch endpoint is the same kind of event.
    assert native.item_kind(track, "") == event.kind
    batch = httpx.post(
        f"{site.url}/api/monitoring/events",
        params={"key": store.project.public_key},
        json=[track],
        timeout=30,
    )
    twin = stored(store, batch.json()["ids"][0])
    assert (twin.kind, twin.name, twin.value) == (event.kind, event.name, event.value)


def test_session_endpoint_answers_and_stores_nothing(site: LiveServer, store: Store) -> None:
    response = httpx.get(f"{base(site, store)}/insights/session", timeout=30)
    assert response.status_code == 204
    assert count_events(store) == 0


# ------------------------------------------------------------------------------------------
# Speed Insights


def test_vitals_from_speed_insights(site: LiveServer, store: Store) -> None:
    # The script posts a text/plain Blob (no-cors fetch or sendBeacon).
    response = send(f"{base(site, store)}/speed-insights/vitals", VITALS, content_type="text/plain")
    assert response.status_code == 200, response.text
    events = [stored(store, event_id) for event_id in response.json()["ids"]]
    summary = [(e.kind, e.name, e.value, e.data.get("rating"), e.data["unit"]) for e in events]
    assert summary == [
        ("performance_metric", "LCP", 2600, "needs-improvement", "ms"),
        ("performance_metric", "CLS", 0.0512, "good", "unitless"),
        ("performance_metric", "INP", 640, "poor", "ms"),
        ("performance_metric", "FCP", 1800, "good", "ms"),
        ("performance_metric", "TTFB", 120, "good", "ms"),
        ("performance_metric", "FID", 12.5, "good", "ms"),
    ]
    lcp = events[0]
    assert lcp.url == f"{APP}/docs/intro"
    assert (lcp.data["route"], lcp.data["vital_id"], lcp.data["speed"]) == ("/docs/[slug]", "v3-1-1", "4g")
    assert lcp.data["attribution"] == {"eventTarget": "main>img.hero"}
    assert lcp.data["sdk"] == {"name": "@vercel/speed-insights/next", "version": "2.0.0", "script": "0.1.3"}


def test_vitals_names_are_normalised_and_unknown_metrics_kept_unrated(site: LiveServer, store: Store) -> None:
    body = {
        "vitals": [
            {"name": "largest_contentful_paint", "value": 5000, "url": f"{APP}/"},
            {"name": "cumulative_layout_shift", "value": 0.3},
            {"name": "page_load_time", "value": 2100},
            {"name": "LoAF", "value": 180},
        ]
    }
    response = send(f"{base(site, store)}/speed-insights/vitals", body, content_type="text/plain")
    assert response.status_code == 200, response.text
    events = [stored(store, event_id) for event_id in response.json()["ids"]]
    assert [(e.name, e.data.get("rating"), e.data.get("unit")) for e in events] == [
        ("LCP", "poor", "ms"),
        ("CLS", "poor", "unitless"),
        ("page_load_time", None, "ms"),
        ("LoAF", None, None),
    ]


def test_vitals_are_gzip_friendly(site: LiveServer, store: Store) -> None:
    response = send(
        f"{base(site, store)}/speed-insights/vitals",
        gzip.compress(orjson.dumps(VITALS)),
        content_type="text/plain",
        **{"Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["ids"]) == 6


# ------------------------------------------------------------------------------------------
# The key


def test_key_in_query_or_header_on_the_default_paths(site: LiveServer, store: Store) -> None:
    key = store.project.public_key
    by_query = send(f"{site.url}/_vercel/insights/view?key={key}", VIEW)
    by_header = send(f"{site.url}/_vercel/speed-insights/vitals", VITALS, **{"X-Syncmon-Key": key})
    assert (by_query.status_code, by_header.status_code) == (200, 200)
    assert count_events(store) == 7


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/_vercel/insights/view", "missing project key"),
        ("/_vercel/not-a-key/insights/view", "unknown project key"),
        ("/_vercel/SECRET/insights/view", "secret key"),
        ("/_vercel/insights/view?key=SECRET", "secret key"),
    ],
)
def test_refused_keys(site: LiveServer, store: Store, path: str, expected: str) -> None:
    response = send(site.url + path.replace("SECRET", store.project.secret_key), VIEW)
    assert response.status_code == 401
    assert expected in response.json()["error"]
    assert count_events(store) == 0


# ------------------------------------------------------------------------------------------
# The scripts


@pytest.mark.parametrize("prefix", ["/_vercel", "/_vercel/any-key"])
@pytest.mark.parametrize(
    ("script", "marker"),
    [("insights/script.js", "window.va = function"), ("speed-insights/script.js", "onLCP")],
)
def test_scripts_are_served(site: LiveServer, prefix: str, script: str, marker: str) -> None:
    response = httpx.get(f"{site.url}{prefix}/{script}", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age" in response.headers["cache-control"]
    assert marker in response.text
    assert "sourceMappingURL" not in response.text


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("script", [vercel.analytics_script, vercel.speed_insights_script])
def test_scripts_parse(tmp_path: Any, script: Any) -> None:
    path = tmp_path / "script.js"
    path.write_bytes(script())
    subprocess.run(["node", "--check", str(path)], check=True, timeout=60)


# ------------------------------------------------------------------------------------------
# Refusals: 4xx, never 500


REFUSALS: list[tuple[str, bytes, str, int, str]] = [
    ("insights/view", b"{not json", "application/json", 400, "not valid JSON"),
    ("insights/view", b"", "application/json", 400, "empty"),
    ("insights/view", b"[1, 2]", "application/json", 400, "expected a JSON object"),
    ("insights/view", b'{"sv": "0.1.3"}', "application/json", 400, "o: required"),
    ("insights/view", b'{"o": 5}', "application/json", 400, "o: expected"),
    ("insights/view", b'{"o": "https://a.test/", "ts": "soon"}', "application/json", 400, "ts"),
    ("insights/view", b'{"o": "https://a.test/", "ts": 1e300}', "application/json", 400, "timestamp"),
    ("insights/view", b'{"o": "https://a.test/"}', "application/xml", 415, "Content-Type"),
    ("insights/event", b'{"o": "https://a.test/"}', "application/json", 400, "en: required"),
    ("insights/event", b'{"o": "https://a.test/", "en": ""}', "application/json", 400, "en"),
    ("insights/event", b'{"o": "https://a.test/", "en": "x", "ed": [1]}', "application/json", 400, "ed"),
    (
        "insights/event",
        b'{"o": "https://a.test/", "en": "performance_metric", "ed": {"metric": "LCP"}}',
        "application/json",
        400,
        "ed.value",
    ),
    ("speed-insights/vitals", b"{}", "text/plain", 400, "metrics"),
    ("speed-insights/vitals", b'{"metrics": []}', "text/plain", 400, "empty"),
    ("speed-insights/vitals", b'{"metrics": {"LCP": 1}}', "text/plain", 400, "metrics"),
    ("speed-insights/vitals", b'{"metrics": [7]}', "text/plain", 400, "metrics[0]"),
    ("speed-insights/vitals", b'{"metrics": [{"value": 1}]}', "text/plain", 400, "metrics[0].type"),
    ("speed-insights/vitals", b'{"metrics": [{"type": "LCP"}]}', "text/plain", 400, "metrics[0].value"),
    ("speed-insights/vitals", b'{"metrics": [{"type": "LCP", "value": "9"}]}', "text/plain", 400, "value"),
    ("speed-insights/vitals", b'{"metrics": [{"type": "LCP", "value": -1}]}', "text/plain", 400, "value"),
    ("speed-insights/vitals", b'{"metrics": [{"type": "LCP", "value": true}]}', "text/plain", 400, "value"),
    ("speed-insights/vitals", b'{"metrics": [{"type": "LCP", "value": NaN}]}', "text/plain", 400, "JSON"),
    (
        "speed-insights/vitals",
        b'{"metrics": [{"type": "LCP", "value": 1, "href": 5}]}',
        "text/plain",
        400,
        "metrics[0].url",
    ),
    (
        "speed-insights/vitals",
        b'{"metrics": [{"type": "LCP", "value": 1}]}',
        "image/png",
        415,
        "Content-Type",
    ),
]


@pytest.mark.parametrize(("path", "body", "content_type", "status", "message"), REFUSALS)
def test_refusals(
    site: LiveServer, store: Store, path: str, body: bytes, content_type: str, status: int, message: str
) -> None:
    response = send(f"{base(site, store)}/{path}", body, content_type=content_type)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert count_events(store) == 0


def test_one_bad_metric_refuses_the_whole_request(site: LiveServer, store: Store) -> None:
    body = {**VITALS, "metrics": [*VITALS["metrics"], {"type": "LCP", "value": "slow"}]}
    response = send(f"{base(site, store)}/speed-insights/vitals", body, content_type="text/plain")
    assert response.status_code == 400
    assert response.json()["field"] == "metrics[6].value"
    assert count_events(store) == 0


def test_size_limits(store: Store) -> None:
    settings = store.settings_with(max_body_bytes=4096, max_batch_events=3)
    with serve(store, settings) as small:
        url = f"{small.url}/_vercel/{store.project.public_key}"
        too_many = send(f"{url}/speed-insights/vitals", VITALS, content_type="text/plain")
        assert too_many.status_code == 413
        assert "at most 3 metrics" in too_many.json()["error"]
        too_big = send(f"{url}/insights/event", {**EVENT, "ed": {"blob": "x" * 5000}})
        assert too_big.status_code == 413
        bomb = gzip.compress(orjson.dumps({**EVENT, "ed": {"blob": "x" * 10_000_000}}))
        inflated = send(f"{url}/insights/event", bomb, **{"Content-Encoding": "gzip"})
        assert inflated.status_code == 413
    assert count_events(store) == 0


def _mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """A random near-miss of a valid body: wrong types, missing fields, odd values."""
    odd: list[Any] = [None, "", 0, -1, 1e308, True, [], {}, "x" * 3000, "\u0000", [1, {"a": None}]]
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
        out_list = list(value)
        index = rng.randrange(len(out_list))
        out_list[index] = _mutate(rng, out_list[index], depth + 1) if rng.random() < 0.7 else rng.choice(odd)
        return out_list
    return rng.choice(odd)


def test_fuzzed_bodies_get_4xx_or_200_never_500(site: LiveServer, store: Store) -> None:
    rng = random.Random(20261128)
    bodies = [("insights/view", VIEW), ("insights/event", EVENT), ("speed-insights/vitals", VITALS)]
    statuses: set[int] = set()
    with httpx.Client(timeout=30) as client:
        for _ in range(int(os.environ.get("SYNCMON_FUZZ_ROUNDS", "60"))):
            path, valid = rng.choice(bodies)
            body = _mutate(rng, valid)
            if rng.random() < 0.1:  # broken bytes too
                raw = orjson.dumps(body)
                content = raw[: rng.randrange(len(raw) + 1)] + bytes([rng.randrange(256)])
            else:
                content = orjson.dumps(body)
            content_type = rng.choice(["application/json", "text/plain", "text/plain;charset=UTF-8"])
            response = client.post(
                f"{base(site, store)}/{path}", content=content, headers={"Content-Type": content_type}
            )
            statuses.add(response.status_code)
            assert response.status_code in (200, 400, 413), (path, content[:300], response.text)
    assert 400 in statuses


# ------------------------------------------------------------------------------------------
# The scripts in a browser

CHROMIUM = os.environ.get("SYNCMON_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What @vercel/analytics' inject({basePath}) and @vercel/speed-insights'
# injectSpeedInsights({basePath, route}) put in a page: the queues and two script tags.
PAGE = """<!doctype html>
<html><head><title>Docs</title>
<script>
  window.va = function () { (window.vaq = window.vaq || []).push(Array.prototype.slice.call(arguments)); };
  window.si = function () { (window.siq = window.siq || []).push(Array.prototype.slice.call(arguments)); };
  va("beforeSend", function (e) { e.url = e.url.replace(/token=[^&]*/, "token=x"); return e; });
</script>
<script defer src="BASE/insights/script.js" data-sdkn="@vercel/analytics" data-sdkv="2.0.1"
  data-endpoint="BASE/insights"></script>
<script defer src="BASE/speed-insights/script.js" data-sdkn="@vercel/speed-insights" data-sdkv="2.0.0"
  data-endpoint="BASE/speed-insights/vitals" data-route="/docs/[slug]"></script>
</head>
<body><h1>Documentation</h1><p>Some text to paint.</p>
<button id="go" onclick="va('track', {name: 'performance_metric', metric: 'page_load_time', value: 1234,
  url: location.href}); va('event', {name: 'Signup', data: {plan: 'pro'}});">Go</button>
</body></html>
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for this module only: a started sync Playwright breaks later asyncio tests."""
    require = os.environ.get("SYNCMON_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if require:
            pytest.fail("playwright is required (SYNCMON_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("playwright is not installed")
    executable = shutil.which(CHROMIUM) or CHROMIUM
    if not os.access(executable, os.X_OK):
        if require:
            pytest.fail(f"a browser is required (SYNCMON_REQUIRE_BROWSER=1) but there is none at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


def wait_for(store: Store, ready: Any, timeout: float = 15.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        found = all_events(store)
        if ready(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.fixture
def app_origin(site: LiveServer, store: Store) -> Iterator[str]:
    """The application: PAGE at every path, from its own loopback port (so on another origin
    than the monitor, and in the same address space, which Chromium requires)."""
    html = PAGE.replace("BASE", base(site, store)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class QuietServer(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a browser dropping a connection is not a test failure

    server = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_our_scripts_in_chromium(store: Store, browser: Browser, app_origin: str) -> None:
    context = browser.new_context(user_agent=CHROME)
    page = context.new_page()
    log: list[str] = []
    page.on("console", lambda message: log.append(f"console {message.type}: {message.text}"))
    page.on("pageerror", lambda error: log.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: log.append(f"failed: {request.url} {request.failure}"))
    try:
        page.goto(f"{app_origin}/docs/intro?token=abc")
        page.wait_for_function("window.vai === true && window.sil === true", timeout=10_000)
        page.click("#go")
        page.evaluate("history.pushState({}, '', '/docs/next')")  # a pageview, and vitals are flushed
        page.goto("about:blank")  # pagehide: the rest of the vitals
    except Exception as exc:
        raise AssertionError(f"{exc}; page log: {log}") from exc
    finally:
        context.close()

    def complete(found: list[Event]) -> bool:
        names = {(e.kind, e.name) for e in found}
        wanted = {("custom", "Signup"), ("performance_metric", "LCP"), ("performance_metric", "FCP")}
        return wanted <= names and sum(e.kind == "page_view" for e in found) >= 2

    found = wait_for(store, complete)
    assert complete(found), ([(e.kind, e.name, e.url) for e in found], log)
    views = [e for e in found if e.kind == "page_view"]
    assert views[0].url == f"{app_origin}/docs/intro?token=x"  # beforeSend from the queue was applied
    assert views[1].url == f"{app_origin}/docs/next"
    assert all(e.data["sdk"]["name"] == "@vercel/analytics" for e in views)
    seed = next(e for e in found if e.kind == "performance_metric" and e.name == "page_load_time")
    assert seed.value == 1234
    lcp = next(e for e in found if e.name == "LCP")
    assert lcp.data["rating"] in ("good", "needs-improvement", "poor")
    assert lcp.data["route"] == "/docs/[slug]"
    assert lcp.data["sdk"]["name"] == "@vercel/speed-insights"
    assert lcp.url is not None and lcp.url.startswith(f"{app_origin}/docs/")
    # Requests made while the page unloads carry Chromium's own headless user agent.
    assert {e.browser for e in found} <= {"Chrome", "HeadlessChrome"}
    assert {e.client_ip for e in found} == {"127.0.0.1"}
