"""The Analytics page against the real server, on both engines: page views and unique
visitors over time, top pages, referrers, browsers, systems and devices, from page views
sent through the native batch endpoint and PostHog's /batch/, with the project switcher,
the time range, empty states and escaping. The server's clock is a ManualClock at NOW_MS.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from bs4 import BeautifulSoup

from syncmon.clock import ManualClock
from syncmon.store.projects import Project
from tests.conftest import Store
from tests.support.ingest_pages import (
    AGENTS,
    HOUR_MS,
    NOW_MS,
    add_project,
    login,
    one,
    page,
    post_native,
    post_posthog,
    posthog_event,
    text,
)
from tests.support.live import LiveServer

BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"
SYSTEMS = {"Chrome": "Linux", "Firefox": "Windows", "Mobile Safari": "iOS"}
DEVICES = {"Chrome": "desktop", "Firefox": "desktop", "Mobile Safari": "mobile"}
REFERRERS = [
    ("https://www.google.com/search?q=shop", "google.com"),
    ("", "(direct)"),
    ("https://news.ycombinator.com/item?id=7", "news.ycombinator.com"),
    ("https://shop.example/pricing", None),  # a link within the site: no referral
    ("https://www.google.com/", "google.com"),
]
PAGES = [("https://shop.example/", "/"), ("https://shop.example/pricing?plan=pro", "/pricing")]
PAGES += [(f"https://shop.example/docs/{n}", "/docs/{id}") for n in (12, 13)]


@dataclass
class View:
    """One page view as the page should count it."""

    at_ms: int
    page: str
    referrer: str | None
    browser: str
    visitor: str


@dataclass
class Seeded:
    shop: Project
    blog: Project
    quiet: Project
    views: list[View]  # the shop's page views of the last 24 hours
    old: int  # the shop's page views 30-34 hours old


def at(hours_ago: float) -> int:
    return int(NOW_MS - hours_ago * HOUR_MS)


def seed(server: LiveServer, shop: Project, blog: Project, quiet: Project) -> Seeded:
    views: list[View] = []
    by_agent: dict[str, list[dict[str, Any]]] = {name: [] for name in AGENTS}
    for i in range(66):
        url, page_path = PAGES[i % 4 if i % 5 else 0]
        raw_referrer, referrer = REFERRERS[i % 5]
        browser = list(AGENTS)[i % 3]
        when = at(0.5 + i * 0.27)
        visitor = f"session-{i % 23}"
        by_agent[browser].append(
            {
                "kind": "page_view",
                "url": url,
                "referrer": raw_referrer,
                "session_id": visitor,
                "timestamp": when / 1000,
            }
        )
        views.append(View(when, page_path, referrer, browser, f"s:{visitor}"))
    posthog = []
    for n in range(9):
        when = at(1 + n)
        properties = {"$current_url": "https://shop.example/pricing", "$referrer": "https://www.bing.com/"}
        posthog.append(posthog_event("$pageview", when, f"ph-{n % 4}", **properties))
        views.append(View(when, "/pricing", "bing.com", "Chrome", f"d:ph-{n % 4}"))
    old = [
        {"kind": "page_view", "url": "https://shop.example/", "timestamp": at(30 + n) / 1000}
        for n in range(5)
    ]
    bots = [
        {"kind": "page_view", "url": "https://shop.example/", "timestamp": at(1) / 1000} for _ in range(4)
    ]
    blog_views = [
        {
            "kind": "page_view",
            "url": "https://blog.example/post/hello",
            "session_id": "b",
            "timestamp": at(2) / 1000,
        }
        for _ in range(7)
    ]
    with server.client() as client:
        for browser, items in by_agent.items():
            post_native(client, shop, items, agent=AGENTS[browser])
        post_posthog(client, shop, posthog)
        post_native(client, shop, old)
        post_native(client, shop, bots, agent=BOT)
        post_native(client, blog, blog_views)
    return Seeded(shop, blog, quiet, views, len(old))


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    with LiveServer(store.settings, store.engine, clock=ManualClock(NOW_MS)) as live:
        yield live


@pytest.fixture
def seeded(server: LiveServer, store: Store) -> Seeded:
    shop, blog, quiet = (add_project(store, name) for name in ("Shop", "Blog", "Quiet"))
    return seed(server, shop, blog, quiet)


def top(html: BeautifulSoup, dimension: str) -> list[tuple[str, int]]:
    rows = html.select(f"#top-{dimension} tbody tr")
    return [
        (str(row["data-value"]), int(text(row, '[data-metric="count"]').replace(",", ""))) for row in rows
    ]


def ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def test_views_visitors_and_top_lists_from_ingested_page_views(server: LiveServer, seeded: Seeded) -> None:
    views = seeded.views
    with login(server) as client:
        html = page(client, "/analytics", project=seeded.shop.slug, range="24h")
    assert text(html, '[data-metric="pageviews"]') == str(len(views))
    visitors = len({view.visitor for view in views})  # 23 sessions and 4 PostHog distinct ids
    assert text(html, '[data-metric="visitors"]') == str(visitors)  # HyperLogLog: exact this small
    assert text(html, '[data-metric="views-per-visitor"]') == f"{len(views) / visitors:.2f}"

    assert top(html, "page") == ranked(Counter(view.page for view in views))
    assert top(html, "referrer") == ranked(Counter(view.referrer for view in views if view.referrer))
    assert top(html, "browser") == ranked(Counter(view.browser for view in views))
    assert top(html, "os") == ranked(Counter(SYSTEMS[view.browser] for view in views))
    assert top(html, "device") == ranked(Counter(DEVICES[view.browser] for view in views))
    first = one(html, "#top-page tbody tr")
    share = ranked(Counter(view.page for view in views))[0][1] / len(views)
    assert text(first, ".share-col") == f"{share * 100:.1f} %"

    # The chart: page views and visitors per hour, each hour its own.
    spec = json.loads(str(one(html, "#traffic [data-chart]")["data-chart"]))
    starts = spec["x"]
    assert len(starts) == 25  # hours from 13:00 yesterday (the range starts at 13:47) to 13:00 today
    step_of = {
        view.at_ms: max(i for i, start in enumerate(starts) if start * 1000 <= view.at_ms) for view in views
    }
    per_hour = Counter(step_of[view.at_ms] for view in views)
    visitors_per_hour = {
        hour: len({view.visitor for view in views if step_of[view.at_ms] == hour}) for hour in per_hour
    }
    views_series, visitors_series = (series["values"] for series in spec["series"])
    assert views_series == [per_hour.get(i, 0) for i in range(25)]
    assert visitors_series == [visitors_per_hour.get(i, 0) for i in range(25)]


def test_time_range_and_project_switcher(server: LiveServer, seeded: Seeded) -> None:
    with login(server) as client:

        def count(**params: str) -> int:
            return int(
                text(page(client, "/analytics", **params), '[data-metric="pageviews"]').replace(",", "")
            )

        assert count(project=seeded.shop.slug, range="24h") == len(seeded.views)
        assert count(project=seeded.shop.slug, range="7d") == len(seeded.views) + seeded.old
        assert count(project=seeded.blog.slug, range="24h") == 7
        assert count(range="24h") == len(seeded.views) + 7  # all projects together
        blog = page(client, "/analytics", project=seeded.blog.slug, range="24h")
        blog_hour = page(client, "/analytics", project=seeded.blog.slug, range="1h")
    assert top(blog, "page") == [("/post/hello", 7)]
    assert text(blog, '[data-metric="visitors"]') == "1"
    assert one(blog, "option[selected]").get("value") == seeded.blog.slug
    # The blog's views are two hours old: the last hour is empty, and says so without set-up advice.
    assert "No page views in the last hour" in text(blog_hour, "#analytics-live")
    assert not blog_hour.select("#analytics-live pre")


def test_empty_state_says_what_to_do(server: LiveServer, seeded: Seeded) -> None:
    with login(server) as client:
        quiet = page(client, "/analytics", project=seeded.quiet.slug, range="30d")
    region = text(quiet, "#analytics-live")
    assert "No page views have been received for Quiet yet" in region
    snippets = [text(pre, "code") for pre in quiet.select("#analytics-live pre")]
    assert any("/sdk/syncmon.js" in snippet and seeded.quiet.public_key in snippet for snippet in snippets)
    assert any(f'posthog.init("{seeded.quiet.public_key}"' in snippet for snippet in snippets)
    assert not quiet.select("[data-chart]")


def test_ingested_markup_renders_as_text(server: LiveServer, store: Store) -> None:
    shop = add_project(store, "Shop")
    page_url = "https://shop.example/<script>alert('page')</script>"
    referrer = "https://<img src=x onerror=alert('ref')>/"
    agent = "Mozilla/5.0 (X11; <script>alert('ua')</script>) Browser/1.0"
    with server.client() as client:
        post_native(client, shop, [{"kind": "page_view", "url": page_url, "referrer": referrer}], agent=agent)
    with login(server) as client:
        response = client.get("/analytics", params={"project": shop.slug})
    assert response.status_code == 200
    for raw in ("<script>alert", "<img src=x", "alert('ua')"):
        assert raw not in response.text
    html = BeautifulSoup(response.text, "html.parser")
    assert [value for value, _ in top(html, "page")] == ["/<script>alert('page')</script>"]
    assert [value for value, _ in top(html, "referrer")] == ["<img src=x onerror=alert('ref')>"]
    assert not html.select("main script, main img")


def test_live_region_and_assets(server: LiveServer, seeded: Seeded) -> None:
    with login(server) as client:
        html = page(client, "/analytics", project=seeded.shop.slug)
        everything = page(client, "/analytics")
    assert one(html, "body")["data-live-url"] == f"/live?project={seeded.shop.slug}"
    assert one(everything, "body")["data-live-url"] == "/live"
    assert one(html, '[data-live-region="analytics"]').select("#traffic")
    assert one(html, 'nav.sections a[aria-current="page"]').get_text() == "Analytics"
    assert any("charts.js" in str(tag["src"]) for tag in html.select("head script"))
    assert not html.select("[style]") and not html.select("script:not([src])")
