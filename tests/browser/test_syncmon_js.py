"""syncmon.js, the browser SDK served at /sdk/syncmon.js, in real Chromium against the live server.

The page (tests/browser/pages/syncmon.html) runs on another origin than the monitor and
loads the SDK from it. The first test is the whole story on both storage engines: the
seed's client calls, uncaught errors, an unhandled rejection, a real CSP violation (seen by
the SDK's listener and reported by the browser itself) and the web vitals, each read back
through the read API. The others check how the SDK sends: Do Not Track, sampling,
batching, sendBeacon when the page goes away, retries (timers driven by Playwright's clock,
never waited for), and that no call, however wrong, throws into the page. Those do not
depend on the storage engine and run on SQLite only.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from syncmon.store import eventlog
from tests.browser.conftest import PageLog, StaticSite
from tests.browser.monitor import Monitor, csp_policy, summary
from tests.conftest import Store
from tests.support.live import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

RELEASE = "web@2.3.0"
THROWN = "Error: payment service unreachable for order 42"
REJECTED = "TypeError: inventory lookup failed for sku 7"
VITALS = ("LCP", "INP", "CLS", "FCP", "TTFB", "page_load_time", "dom_content_loaded")
# Options that leave only what a test sends itself.
QUIET = {"pageViews": False, "capturePerformance": False, "captureErrors": False}


def open_shop(page: Page, site: StaticSite, live: LiveServer, key: str | None, **options: Any) -> None:
    """syncmon.html with the SDK loaded from the monitor and Syncmon.init(options) done."""
    query = {"monitor": live.url, "options": json.dumps(options)}
    if key is not None:
        query["key"] = key
    if "csp" in options:
        query["csp"] = options.pop("csp")
        query["options"] = json.dumps(options)
    page.goto(site.page_url("syncmon.html", **query))
    page.wait_for_function("() => window.shop.loaded")


CLOCK_START = dt.datetime(2026, 11, 2, 9, 0, 0, tzinfo=dt.UTC)


def fake_clock(page: Page) -> None:
    """The page's timers under the test's control: call before open_shop, then stop_clock."""
    page.clock.install(time=CLOCK_START)


def stop_clock(page: Page) -> None:
    """From now on the page's time moves only with page.clock.run_for (open_shop is done, so
    nothing of the page waits for a timer)."""
    page.clock.pause_at(CLOCK_START + dt.timedelta(minutes=1))


def sdk_status(page: Page) -> dict[str, Any]:
    status: dict[str, Any] = page.evaluate("() => Syncmon.status()")
    return status


def wait_for_status(page: Page, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Syncmon.status() once `ready` holds: replies the SDK awaits arrive on their own time,
    whatever the page's clock."""
    for _ in range(200):
        status = sdk_status(page)
        if ready(status):
            return status
        page.wait_for_timeout(25)
    raise AssertionError(f"the SDK did not get there: {sdk_status(page)}")


def monitor_requests(page_log: PageLog, live: LiveServer) -> list[str]:
    """What the page asked of the monitor, but for loading syncmon.js itself."""
    return [
        f"{r.request.method} {r.url}"
        for r in page_log.responses
        if r.url.startswith(live.url) and not r.url.startswith(f"{live.url}/sdk/syncmon.js")
    ]


def stored_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return len(eventlog.list_events(conn, eventlog.EventQuery(limit=100)))


def test_syncmon_js_reports_page_views_events_errors_csp_and_vitals(
    live: LiveServer,
    store: Store,
    admin_token: str,
    site: StaticSite,
    page: Page,
    page_log: PageLog,
    screenshot: Callable[[str], Path],
) -> None:
    key = store.project.public_key
    open_shop(
        page,
        site,
        live,
        key,
        release=RELEASE,
        environment="test",
        flushInterval=300,
        csp=csp_policy(live.url, key),
    )
    assert page.evaluate("() => Syncmon.status().enabled") is True
    page.evaluate(
        """() => {
            Syncmon.trackCustomEvent('checkout_started', { cart_value: 129.5, items: 3 });
            shop.logIn();
            shop.violateCsp();
            shop.throwLater();
            shop.rejectLater();
        }"""
    )
    page.click("#checkout")  # an interaction: INP is measured and LCP is final
    page.wait_for_function("() => document.getElementById('log').textContent.includes('clicked')")
    screenshot("reported")
    # What is queued goes out within flushInterval; then leaving the page hides and unloads
    # it: CLS and INP are final and leave with a beacon.
    wait_for_status(page, lambda status: status["queued"] + status["inFlight"] == 0 and status["sent"] >= 10)
    page.goto(site.page_url("goodbye.html"))

    with live.client() as client:
        monitor = Monitor(client, admin_token, store.project.slug)
        everything = monitor.wait_for(lambda found: len(found) >= 14)
        report = summary(everything)

        views = monitor.events(kind="page_view")
        assert len(views) == 1, report
        view = views[0]
        assert view["url"].startswith(f"{site.url}/pages/syncmon.html"), view
        assert (view["release"], view["environment"]) == (RELEASE, "test")
        assert view["data"]["title"] == "Shop (syncmon.js → syncmon)"
        assert view["user_agent"]["browser"] in {"HeadlessChrome", "Chrome", "Chromium"}, view["user_agent"]
        session = view["session_id"]
        assert session, view

        (custom,) = monitor.events(kind="custom", name="checkout_started")
        assert (custom["data"]["cart_value"], custom["data"]["items"]) == (129.5, 3)
        assert custom["session_id"] == session

        (login,) = monitor.events(kind="security")
        assert login["message"] == "authentication: login_failed", login
        assert login["level"] == "warning"
        assert login["data"]["auth_event"] == "login_failed" and login["data"]["username"] == "ada"

        (thrown,) = monitor.events(kind="error", name="javascript_error")
        assert thrown["message"] == THROWN, thrown
        assert "submitOrder" in thrown["data"]["stack"] and "processCheckout" in thrown["data"]["stack"]
        assert thrown["data"]["filename"].endswith("/pages/syncmon-app.js"), thrown["data"]
        assert thrown["issue_id"], thrown
        (rejected,) = monitor.events(kind="error", name="unhandled_promise_rejection")
        assert rejected["message"] == REJECTED, rejected
        assert "rejectLater" in rejected["data"]["stack"]

        violations = monitor.events(kind="error", name="csp_violation")
        by_source = {"browser" if "report_format" in v["data"] else "sdk": v for v in violations}
        assert len(violations) == 2 and set(by_source) == {"browser", "sdk"}, summary(violations)
        blocked = f"{live.url}/healthz?pixel=1"
        for violation in violations:
            assert violation["level"] == "warning"
            assert violation["data"]["blocked_uri"] == blocked, violation["data"]
            assert violation["data"]["effective_directive"] == "img-src", violation["data"]
        assert by_source["browser"]["data"]["report_format"] == "csp-report"
        assert by_source["sdk"]["data"]["disposition"] == "enforce"

        metrics = monitor.wait_for(
            lambda found: len({e["name"] for e in found}) >= len(VITALS), kind="performance_metric"
        )
        assert sorted(e["name"] for e in metrics) == sorted(VITALS), summary(metrics)
        for metric in metrics:
            assert metric["value"] is not None and metric["value"] >= 0, metric
            assert metric["release"] == RELEASE
        web_vitals = [m for m in metrics if m["data"].get("source") == "web-vitals"]
        assert {m["name"] for m in web_vitals} == {"LCP", "INP", "CLS", "FCP", "TTFB"}
        for metric in web_vitals:
            assert metric["data"]["rating"] in {"good", "needs-improvement", "poor"}, metric
        inp = next(m for m in metrics if m["name"] == "INP")
        assert inp["value"] >= 40, inp  # the click handler ran for 80 ms
        assert inp["data"]["attribution"]["target"] == "#checkout", inp["data"]

        summary_by_metric = monitor.vitals()
        for name in VITALS:
            assert summary_by_metric[name]["count"] == 1, (name, summary_by_metric)
        assert monitor.vitals(page="/pages/syncmon.html")["LCP"]["count"] == 1

        pageviews = monitor.pageviews()
        assert pageviews["totals"]["pageviews"] == 1, pageviews
        assert {"value": "/pages/syncmon.html", "count": 1} in pageviews["top"]["pages"], pageviews

    assert sorted(page_log.errors) == sorted([THROWN, REJECTED]), page_log.errors
    for response in page_log.responses_to("/api/monitoring/events"):
        assert response.status == 200, response.url
        assert response.headers.get("access-control-allow-origin") == site.url
    # Failed as the page saw it: the blocked pixel, and beacons sent while the page was being
    # unloaded, which Chromium lists as aborted although it delivers them (all events are
    # stored, as checked above).
    unexpected = [
        r
        for r in page_log.failed
        if r.url != f"{live.url}/healthz?pixel=1"
        and not ("/api/monitoring/events?" in r.url and r.failure == "net::ERR_ABORTED")
    ]
    assert not unexpected, page_log.failed_text()


# --- privacy and sampling -------------------------------------------------------------------------

DNT_SCRIPTS = {
    "doNotTrack": "Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' });",
    "globalPrivacyControl": (
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });"
    ),
}


def _use_the_page(page: Page, site: StaticSite) -> None:
    """Everything that would make the SDK send, then leave the page (which would beacon)."""
    page.evaluate(
        """() => {
            Syncmon.trackCustomEvent('checkout_started');
            Syncmon.SecurityAnalytics.trackAuthenticationEvent('login_failed');
            Syncmon.trackPerformance('api_response_time', 120);
            Syncmon.flush();
            shop.throwLater();
        }"""
    )
    page.click("#checkout")
    page.wait_for_function("() => document.getElementById('log').textContent.includes('clicked')")
    page.goto(site.page_url("goodbye.html"))


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("signal", sorted(DNT_SCRIPTS))
def test_do_not_track_sends_nothing(
    live: LiveServer, store: Store, site: StaticSite, page: Page, page_log: PageLog, signal: str
) -> None:
    page.context.add_init_script(DNT_SCRIPTS[signal])
    open_shop(page, site, live, store.project.public_key)
    status = sdk_status(page)
    assert (status["enabled"], status["reason"]) == (False, "do not track"), status
    _use_the_page(page, site)
    assert monitor_requests(page_log, live) == []
    assert stored_count(store) == 0


@pytest.mark.parametrize("backend", ["sqlite"])
def test_do_not_track_can_be_overridden(
    live: LiveServer, store: Store, admin_token: str, site: StaticSite, page: Page
) -> None:
    page.context.add_init_script(DNT_SCRIPTS["doNotTrack"])
    open_shop(page, site, live, store.project.public_key, respectDoNotTrack=False, **QUIET)
    assert sdk_status(page)["enabled"] is True
    page.evaluate("() => { Syncmon.trackCustomEvent('consented'); Syncmon.flush(); }")
    with live.client() as client:
        monitor = Monitor(client, admin_token, store.project.slug)
        assert [e["name"] for e in monitor.wait_for(bool, kind="custom")] == ["consented"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sample_rate_zero_sends_nothing(
    live: LiveServer, store: Store, site: StaticSite, page: Page, page_log: PageLog
) -> None:
    open_shop(page, site, live, store.project.public_key, sampleRate=0)
    status = sdk_status(page)
    assert (status["enabled"], status["reason"]) == (False, "sampled out"), status
    _use_the_page(page, site)
    assert monitor_requests(page_log, live) == []
    assert stored_count(store) == 0


# --- how it sends ---------------------------------------------------------------------------------


class Recorder:
    """Playwright routing of the SDK's batch requests: records each body, then answers with
    the next scripted reply (status, headers) or lets the request through to the monitor."""

    def __init__(self, page: Page, site: StaticSite, replies: list[tuple[int, dict[str, str], str]]) -> None:
        self.bodies: list[list[dict[str, Any]]] = []
        self.replies = list(replies)
        self.origin = site.url
        page.route(re.compile(r"/api/monitoring/events\?"), self.handle)

    def handle(self, route: Route) -> None:
        self.bodies.append(json.loads(route.request.post_data or "null"))
        if not self.replies:
            route.continue_()
            return
        status, headers, body = self.replies.pop(0)
        cors = {"Access-Control-Allow-Origin": self.origin, "Access-Control-Expose-Headers": "retry-after"}
        route.fulfill(status=status, headers={**cors, **headers}, content_type="application/json", body=body)

    def wait_for(self, page: Page, count: int) -> None:
        for _ in range(200):
            if len(self.bodies) >= count:
                return
            page.wait_for_timeout(25)
        raise AssertionError(f"expected {count} requests, saw {len(self.bodies)}: {self.bodies}")


def _names(body: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in body]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_events_are_batched_by_size_and_interval(
    live: LiveServer, store: Store, admin_token: str, site: StaticSite, page: Page
) -> None:
    fake_clock(page)
    recorder = Recorder(page, site, [])
    open_shop(page, site, live, store.project.public_key, batchSize=5, flushInterval=10_000, **QUIET)
    stop_clock(page)
    page.evaluate("() => { for (let i = 1; i <= 7; i++) Syncmon.trackCustomEvent('step_' + i, { i }); }")
    recorder.wait_for(page, 1)  # five of them reach the batch size: sent at once, in one request
    assert _names(recorder.bodies[0]) == [f"step_{i}" for i in range(1, 6)]
    status = wait_for_status(page, lambda status: status["sent"] == 5)
    assert status["queued"] == 2
    page.clock.run_for(9_000)
    page.wait_for_timeout(200)
    assert len(recorder.bodies) == 1  # the other two wait for the interval
    page.clock.run_for(1_000)
    recorder.wait_for(page, 2)
    assert _names(recorder.bodies[1]) == ["step_6", "step_7"]
    ids = [item["event_id"] for body in recorder.bodies for item in body]
    assert len(set(ids)) == 7
    with live.client() as client:
        monitor = Monitor(client, admin_token, store.project.slug)
        stored = monitor.wait_for(lambda found: len(found) == 7, kind="custom")
    assert sorted(e["id"] for e in stored) == sorted(i.replace("-", "") for i in ids)
    assert len(recorder.bodies) == 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_queued_events_leave_with_send_beacon_on_pagehide(
    live: LiveServer, store: Store, admin_token: str, site: StaticSite, page: Page
) -> None:
    # The page's own sendBeacon calls, written down where the next page of the site can read them.
    page.context.add_init_script(
        """(() => {
            const send = navigator.sendBeacon.bind(navigator);
            navigator.sendBeacon = (url, body) => {
                const ok = send(url, body);
                const log = JSON.parse(localStorage.getItem('beacons') || '[]');
                log.push({ url: String(url), body: String(body), ok });
                localStorage.setItem('beacons', JSON.stringify(log));
                return ok;
            };
        })();"""
    )
    open_shop(
        page,
        site,
        live,
        store.project.public_key,
        batchSize=100,
        flushInterval=600_000,
        capturePerformance=False,
    )
    page.evaluate(
        """() => {
            Syncmon.trackCustomEvent('added_to_cart', { sku: 7 });
            Syncmon.SecurityAnalytics.trackDataAccessEvent('export_requested', { rows: 1200 });
            Syncmon.trackPerformance('api_response_time', 182.5);
        }"""
    )
    status = sdk_status(page)
    assert (status["requests"], status["queued"]) == (0, 4), status  # the page view and three events
    page.goto(site.page_url("goodbye.html"))
    beacons = page.evaluate("() => JSON.parse(localStorage.getItem('beacons') || '[]')")
    assert len(beacons) == 1, beacons
    assert beacons[0]["ok"] is True
    assert beacons[0]["url"] == f"{live.url}/api/monitoring/events?key={store.project.public_key}"
    sent = json.loads(beacons[0]["body"])
    assert [item["kind"] for item in sent] == ["page_view", "custom", "security", "performance_metric"]
    with live.client() as client:
        monitor = Monitor(client, admin_token, store.project.slug)
        stored = monitor.wait_for(lambda found: len(found) == 4)
    assert sorted(e["id"] for e in stored) == sorted(item["event_id"].replace("-", "") for item in sent)
    security = next(e for e in stored if e["kind"] == "security")
    assert (security["name"], security["data"]["data_event"]) == (
        "data_export_requested",
        "export_requested",
    ), security


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_failed_batch_is_retried_and_stored_once(
    live: LiveServer, store: Store, admin_token: str, site: StaticSite, page: Page
) -> None:
    fake_clock(page)
    recorder = Recorder(page, site, [(503, {}, '{"error": "store unavailable"}')])
    open_shop(page, site, live, store.project.public_key, retryBaseDelay=1000, **QUIET)
    stop_clock(page)
    page.evaluate("() => { Syncmon.trackCustomEvent('checkout_started'); Syncmon.flush(); }")
    recorder.wait_for(page, 1)
    wait_for_status(page, lambda status: status["queued"] == 1)  # the failed batch waits for its retry
    page.clock.run_for(499)  # backoff with jitter: between half the base delay and the base delay
    page.wait_for_timeout(200)
    assert len(recorder.bodies) == 1
    page.clock.run_for(501)
    recorder.wait_for(page, 2)
    assert recorder.bodies[1] == recorder.bodies[0]  # the same events, the same ids
    with live.client() as client:
        monitor = Monitor(client, admin_token, store.project.slug)
        stored = monitor.wait_for(bool, kind="custom")
    assert [e["name"] for e in stored] == ["checkout_started"]
    assert stored[0]["id"] == recorder.bodies[0][0]["event_id"].replace("-", "")
    wait_for_status(page, lambda status: (status["sent"], status["queued"]) == (1, 0))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_retry_after_is_honoured(
    live: LiveServer, store: Store, admin_token: str, site: StaticSite, page: Page
) -> None:
    fake_clock(page)
    recorder = Recorder(
        page,
        site,
        [(429, {"Retry-After": "30"}, '{"error": "rate limited"}'), (503, {}, '{"error": "unavailable"}')],
    )
    open_shop(page, site, live, store.project.public_key, retryBaseDelay=1000, **QUIET)
    stop_clock(page)
    page.evaluate("() => { Syncmon.trackCustomEvent('checkout_started'); Syncmon.flush(); }")
    recorder.wait_for(page, 1)
    wait_for_status(page, lambda status: status["queued"] == 1)
    page.clock.run_for(29_900)
    page.wait_for_timeout(200)
    assert len(recorder.bodies) == 1  # the server asked for 30 s
    page.clock.run_for(100)
    recorder.wait_for(page, 2)
    wait_for_status(page, lambda status: status["queued"] == 1)
    # The second failure has no Retry-After: the second backoff step, 1-2 s with jitter.
    page.clock.run_for(999)
    page.wait_for_timeout(200)
    assert len(recorder.bodies) == 2
    page.clock.run_for(1_001)
    recorder.wait_for(page, 3)
    with live.client() as client:
        monitor = Monitor(client, admin_token, store.project.slug)
        assert [e["name"] for e in monitor.wait_for(bool, kind="custom")] == ["checkout_started"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_event_the_server_refuses_is_dropped_and_the_rest_resent(
    live: LiveServer, store: Store, admin_token: str, site: StaticSite, page: Page
) -> None:
    refusal = json.dumps(
        {"error": "events[1].value: Input should be greater than or equal to 0", "field": "events[1].value"}
    )
    recorder = Recorder(page, site, [(400, {}, refusal)])
    open_shop(page, site, live, store.project.public_key, batchSize=3, **QUIET)
    page.evaluate("() => ['a', 'b', 'c'].forEach((name) => Syncmon.trackCustomEvent(name))")
    recorder.wait_for(page, 2)
    assert _names(recorder.bodies[0]) == ["a", "b", "c"]
    assert _names(recorder.bodies[1]) == ["a", "c"]
    with live.client() as client:
        monitor = Monitor(client, admin_token, store.project.slug)
        stored = monitor.wait_for(lambda found: len(found) == 2, kind="custom")
    assert sorted(e["name"] for e in stored) == ["a", "c"]
    assert sdk_status(page)["dropped"] == 1


# --- it never throws ------------------------------------------------------------------------------

GARBAGE_CALLS = """() => {
    const thrown = [];
    const attempt = (label, call) => {
        try { call(); } catch (err) { thrown.push(label + ': ' + err); }
    };
    const circular = { name: 'loop' };
    circular.self = circular;
    const hostile = { toString() { throw new Error('no string for you'); } };
    attempt('init twice', () => Syncmon.init({ key: 'another' }));
    attempt('init garbage', () => Syncmon.init('not options'));
    attempt('custom without a name', () => Syncmon.trackCustomEvent());
    attempt('custom named by an object', () => Syncmon.trackCustomEvent({}, 5));
    attempt('custom with a cycle', () =>
        Syncmon.trackCustomEvent('circular', { circular, big: 10n, fn() {} }));
    attempt('custom with odd fields', () => Syncmon.trackCustomEvent('odd_fields', {
        user_id: { nested: true }, timestamp: 'yesterday', event_id: 'mine', kind: 'error', url: {} }));
    attempt('performance text', () => Syncmon.trackPerformance('x', 'abc'));
    attempt('performance negative', () => Syncmon.trackPerformance(null, -1));
    attempt('performance infinite', () => Syncmon.trackPerformance('x', Infinity));
    attempt('error nothing', () => Syncmon.trackError());
    attempt('error null', () => Syncmon.trackError(null, circular));
    attempt('error hostile', () => Syncmon.trackError({ message: hostile }));
    attempt('security symbol', () => Syncmon.SecurityAnalytics.trackSecurityEvent(Symbol('x'), 7));
    attempt('security bad severity', () => Syncmon.SecurityAnalytics.trackSecurityEvent('token_reuse', {
        severity: 'apocalyptic', target: ['not', 'text'] }));
    attempt('auth nothing', () => Syncmon.SecurityAnalytics.trackAuthenticationEvent());
    attempt('seed error payload', () => Syncmon.ErrorMonitoring.trackError({
        type: 'javascript_error', message: 'odd payload', lineno: 'ten', colno: -3, filename: 5,
        fingerprint: 'not-a-list', level: 'loud' }));
    attempt('seed error garbage', () => Syncmon.ErrorMonitoring.trackError(undefined));
    attempt('page view object', () => Syncmon.trackPageView({ not: 'a url' }));
    attempt('user', () => Syncmon.setUser({ id: 1 }));
    attempt('vitals twice', () => Syncmon.PerformanceMonitoring.trackWebVitals());
    const fetch = window.fetch;
    window.fetch = () => { throw new Error('fetch is broken'); };
    attempt('broken fetch', () => { Syncmon.trackCustomEvent('while_fetch_broken'); Syncmon.flush(); });
    window.fetch = fetch;
    return thrown;
}"""


# What of it is stored: everything that still names something, cleaned up; calls without
# anything to send (no name, a value that is not a number >= 0, a message whose toString
# throws) are dropped.
STORED_FROM_GARBAGE = [
    "before_init",  # made before init, sent after it
    "circular",
    "odd_fields",
    "caught_error",  # trackError()
    "caught_error",  # trackError(null, circular)
    "symbol_x",  # trackSecurityEvent(Symbol('x')): the event type is its text
    "token_reuse",
    "authentication",  # trackAuthenticationEvent(): an authentication event without detail
    "javascript_error",  # the seed's payload with wrong types, cleaned up
    "javascript_error",  # ErrorMonitoring.trackError(undefined)
    "page_view",  # trackPageView({}): the page's own URL
    "while_fetch_broken",  # fetch threw: retried, sent when fetch was back
]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_no_call_throws_into_the_page(
    live: LiveServer, store: Store, admin_token: str, site: StaticSite, page: Page, page_log: PageLog
) -> None:
    open_shop(page, site, live, None)  # init() without a key: refused, with a warning, not thrown
    status = sdk_status(page)
    assert (status["enabled"], status["reason"]) == (False, "no key"), status
    assert any("public key is required" in line for line in page_log.console_text()), page_log.console_text()
    assert (
        page.evaluate("() => { Syncmon.trackCustomEvent('before_init'); return Syncmon.status().queued; }")
        == 0
    )
    page.evaluate(
        "([key, options]) => Syncmon.init(Object.assign({ key }, options))",
        [store.project.public_key, {**QUIET, "retryBaseDelay": 0, "beforeSend": None}],
    )
    thrown = page.evaluate(GARBAGE_CALLS)
    assert thrown == [], thrown
    page.evaluate("() => Syncmon.flush()")
    assert not page_log.errors, page_log.errors

    with live.client() as client:
        monitor = Monitor(client, admin_token, store.project.slug)
        stored = monitor.wait_for(lambda found: len(found) >= len(STORED_FROM_GARBAGE))
        assert sorted(e["name"] for e in stored) == sorted(STORED_FROM_GARBAGE), summary(stored)
        circular = next(e for e in stored if e["name"] == "circular")
        assert circular["data"]["circular"] == {"name": "loop", "self": "[Circular]"}
        assert circular["data"]["big"] == "10"
        odd = next(e for e in stored if e["name"] == "odd_fields")
        assert (odd["kind"], odd["user_id"]) == ("custom", None), odd
        assert odd["url"].startswith(f"{site.url}/pages/syncmon.html") and odd["id"] != "mine", odd
        token_reuse = next(e for e in stored if e["name"] == "token_reuse")
        assert token_reuse["level"] == "info" and token_reuse["data"]["severity_label"] == "apocalyptic"
    for response in page_log.responses_to("/api/monitoring/events"):
        assert response.status == 200, response.url
