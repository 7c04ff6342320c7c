"""The Performance and Analytics pages in real Chromium against the live server, on both
engines: they render the seeded numbers, their uPlot charts draw, they update live when an
event is ingested, and ingested markup stays inert text. Screenshots of each page go to
test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from syncmon.clock import ManualClock
from syncmon.store.projects import Project
from tests.browser.conftest import PageLog
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.ingest_pages import (
    ADMIN,
    HOUR_MS,
    NOW_MS,
    add_project,
    post_native,
    post_posthog,
    posthog_event,
)
from tests.support.live import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Markup in a page URL, a route, a referrer and a user agent; if any ran, it would set window.xss.
XSS_PAGE = "/<img src=x onerror=window.xss=1>"
XSS_ROUTE = "/<script>window.xss=2</script>"
XSS_REFERRER = "https://<svg onload=window.xss=3>/"
XSS_AGENT = "Mozilla/5.0 (X11; <script>window.xss=4</script>) Chrome/126.0.0.0 Safari/537.36"


def at(hours_ago: float) -> float:
    return (NOW_MS - hours_ago * HOUR_MS) / 1000


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    """Tests ask for it before `page`, so the page (and its live stream) closes first and the
    server need not wait for the stream to end when it stops."""
    with LiveServer(store.settings, store.engine, clock=ManualClock(NOW_MS)) as live:
        yield live


@pytest.fixture
def shop(server: LiveServer, store: Store) -> Project:
    """A project with vitals, page loads, API requests and page views, some carrying markup."""
    project = add_project(store, "Shop")
    items: list[dict[str, Any]] = []
    for n in range(40):
        for metric, base in (("LCP", 1400.0), ("INP", 120.0), ("CLS", 0.05), ("FCP", 900.0), ("TTFB", 350.0)):
            value = round(base * (1 + (n % 10) / 6), 3)
            url = "https://shop.example" + ("/checkout" if n % 2 else "/") + ("" if n % 7 else XSS_PAGE)
            items.append({"kind": "performance_metric", "metric": metric, "value": value, "url": url,
                          "timestamp": at(n / 2)})  # fmt: skip
        items.append({"kind": "performance_metric", "metric": "page_load_time", "value": 900.0 + 40 * n,
                      "url": "https://shop.example/", "timestamp": at(n / 3)})  # fmt: skip
        route = "/api/orders" if n % 3 else XSS_ROUTE
        items.append({"kind": "request", "method": "GET", "route": route, "status": 500 if n == 5 else 200,
                      "duration_ms": 30.0 + 11 * n, "timestamp": at(n / 4)})  # fmt: skip
        items.append({"kind": "page_view", "url": "https://shop.example" + ("/" if n % 3 else "/pricing"),
                      "referrer": "https://www.google.com/" if n % 2 else XSS_REFERRER,
                      "session_id": f"v{n % 9}", "timestamp": at(n / 2)})  # fmt: skip
    with server.client() as client:
        post_native(client, project, items)
        post_native(
            client, project, [{"kind": "page_view", "url": "https://shop.example/about"}], agent=XSS_AGENT
        )
    return project


def log_in(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")
    page.fill('input[name="email"]', ADMIN)
    page.fill('input[name="password"]', ADMIN_PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{server.url}/overview")


def open_live(page: Page, url: str) -> int:
    """Open a page and wait until its charts drew and its live stream is connected."""
    page.goto(url)
    page.wait_for_selector("[data-live-status][data-state='live']")
    page.wait_for_function("() => document.querySelectorAll('[data-chart] canvas').length > 0")
    return refreshes(page)


def refreshes(page: Page) -> int:
    return int(page.evaluate("() => Number(document.body.getAttribute('data-live-refreshes') || 0)"))


def wait_for_refresh(page: Page, before: int) -> None:
    page.wait_for_function(f"() => Number(document.body.getAttribute('data-live-refreshes') || 0) > {before}")


def assert_inert(page: Page, log: PageLog) -> None:
    assert page.evaluate("() => window.xss") is None
    assert (
        page.evaluate("() => document.querySelectorAll('main script, main img, main [onerror]').length") == 0
    )
    assert not log.errors, log.errors
    refused = [line for line in log.console_text() if "Content Security Policy" in line or "Refused" in line]
    assert not refused, refused


def test_performance_page_draws_updates_live_and_keeps_markup_inert(
    server: LiveServer, shop: Project, page: Page, page_log: PageLog, screenshot: Callable[[str], Path]
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, server)
    before = open_live(page, f"{server.url}/performance?project={shop.slug}&range=24h")
    # Ten charts: a p75 line and rating shares per vital, each a uPlot canvas; fallbacks hidden.
    assert page.locator(".vital [data-chart] canvas").count() == 10
    assert page.locator("[data-chart-fallback]:visible").count() == 0
    assert page.locator('[data-vital="LCP"] [data-metric="count"]').inner_text() == "40"
    cells = page.locator("#worst-pages td.cell-url").all_inner_texts()
    assert sorted(cells) == sorted(["/", "/checkout", XSS_PAGE, "/checkout" + XSS_PAGE])
    assert "GET " + XSS_ROUTE in page.locator("#routes td.cell-url").all_inner_texts()
    assert (
        page.locator('#slos [data-slo="slo_error_rate"] [data-metric="good-total"]').inner_text() == "39 / 40"
    )
    screenshot("performance")

    with server.client() as client:
        post_native(
            client,
            shop,
            [
                {"kind": "request", "method": "POST", "route": "/api/live-checkout", "status": 200,
                 "duration_ms": 2500.0, "timestamp": at(0.01)},
                {"kind": "performance_metric", "metric": "LCP", "value": 1500.0, "url": "https://shop.example/",
                 "timestamp": at(0.01)},
            ],
        )  # fmt: skip
    wait_for_refresh(page, before)
    assert page.locator('[data-vital="LCP"] [data-metric="count"]').inner_text() == "41"
    slowest = page.locator("#routes tbody tr").nth(1)
    assert slowest.get_attribute("data-route") == "POST /api/live-checkout"
    p50 = float(slowest.locator('[data-metric="p50"]').get_attribute("data-value") or "nan")
    assert abs(p50 - 2500) <= 25  # one value: the sketch's bin for it, within 1 %
    page.wait_for_function("() => document.querySelectorAll('.vital [data-chart] canvas').length === 10")
    assert_inert(page, page_log)
    assert not dialogs
    screenshot("performance-after-live-update")


def test_analytics_page_draws_updates_live_and_keeps_markup_inert(
    server: LiveServer, shop: Project, page: Page, page_log: PageLog, screenshot: Callable[[str], Path]
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, server)
    before = open_live(page, f"{server.url}/analytics?project={shop.slug}&range=24h")
    assert page.locator("#traffic [data-chart] canvas").count() >= 1
    assert page.locator("#traffic .uplot .u-legend").count() == 1  # two series: a legend
    assert page.locator('[data-metric="pageviews"]').inner_text() == "41"
    assert page.locator('[data-metric="visitors"]').inner_text() == "10"  # nine sessions and one IP + agent
    referrers = page.locator("#top-referrer td.cell-url").all_inner_texts()
    assert "<svg onload=window.xss=3>" in referrers and "google.com" in referrers
    screenshot("analytics")

    with server.client() as client:
        event = posthog_event("$pageview", int(at(0.01) * 1000), "live-visitor")
        event["properties"]["$current_url"] = "https://shop.example/live-page"
        post_posthog(client, shop, [event])
    wait_for_refresh(page, before)
    assert page.locator('[data-metric="pageviews"]').inner_text() == "42"
    assert "/live-page" in page.locator("#top-page td.cell-url").all_inner_texts()
    page.wait_for_function("() => document.querySelectorAll('#traffic [data-chart] canvas').length > 0")
    assert_inert(page, page_log)
    assert not dialogs
    screenshot("analytics-after-live-update")


def test_empty_pages_show_what_to_do(
    server: LiveServer, store: Store, page: Page, screenshot: Callable[[str], Path]
) -> None:
    quiet = add_project(store, "Quiet")
    log_in(page, server)
    for path in ("performance", "analytics"):
        page.goto(f"{server.url}/{path}?project={quiet.slug}")
        snippet = page.locator("pre.snippet").first.inner_text()
        assert "/sdk/syncmon.js" in snippet and quiet.public_key in snippet
        assert page.locator("[data-chart]").count() == 0
        screenshot(f"{path}-empty")
