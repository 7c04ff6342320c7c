"""The Performance page against the real server, on both engines: web vitals, worst pages,
API latency and SLOs computed from what went in through the native batch endpoint and
PostHog's /batch/, with the project switcher, the time range, empty states and escaping.

The server's clock is a ManualClock at NOW_MS, so the ranges are fixed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pytest
from bs4 import BeautifulSoup

from syncmon.clock import ManualClock
from syncmon.metrics.sketch_rollups import Summary
from syncmon.metrics.sketches import Sketch
from syncmon.store import accounts
from syncmon.store.projects import Project
from syncmon.web.dashboard import slo_data
from syncmon.web.dashboard.performance_data import ChartWindow, format_value, step_for
from syncmon.web.dashboard.performance_pages import metric_choice
from tests.conftest import Store
from tests.support.dashboard import Dashboard
from tests.support.ingest_pages import (
    HOUR_MS,
    NOW_MS,
    add_project,
    close,
    exact_quantile,
    login,
    one,
    page,
    post_native,
    post_posthog,
    posthog_event,
    text,
    value,
)
from tests.support.live import LiveServer

SLOWNESS = {"/": 1.0, "/pricing": 1.7, "/users/{id}": 2.9}
XSS_PAGE = "/<script>alert('page')</script>"
XSS_ROUTE = "/<img src=x onerror=alert('route')>"


@dataclass
class Seeded:
    shop: Project
    blog: Project
    empty: Project
    lcp: dict[str, list[float]]  # page → LCP values of the last 24 hours (shop)
    lcp_times: list[tuple[int, float]]  # (timestamp ms, value) of those
    old_lcp: int  # LCP values 30-60 hours old (shop)
    durations: dict[str, list[float]]  # route → request durations (shop)
    errors: dict[str, int]  # route → 5xx answers


def at(hours_ago: float) -> float:
    """Epoch seconds, as the seed's clients send timestamps."""
    return (NOW_MS - hours_ago * HOUR_MS) / 1000


def page_url(page_path: str, n: int) -> str:
    return "https://shop.example" + page_path.replace("{id}", str(40 + n)) + "?ref=mail"


def vital(metric: str, value_ms: float, url: str, when: float) -> dict[str, Any]:
    return {"kind": "performance_metric", "metric": metric, "value": value_ms, "url": url, "timestamp": when}


def request(route: str, status: int, duration_ms: float, when: float) -> dict[str, Any]:
    method, path = route.split(" ", 1)
    return {"kind": "request", "method": method, "route": path, "status": status, "duration_ms": duration_ms,
            "url": "https://shop.example" + path, "timestamp": when}  # fmt: skip


def seed(server: LiveServer, shop: Project, blog: Project, empty: Project) -> Seeded:
    lcp: dict[str, list[float]] = {path: [] for path in SLOWNESS}
    lcp_times: list[tuple[int, float]] = []
    items: list[dict[str, Any]] = []
    posthog: list[dict[str, Any]] = []
    for path, slow in SLOWNESS.items():
        for n in range(24):
            value_ms = round(1100 * slow * (1 + n / 30), 1)
            when = at(1.5 + n / 2)
            lcp[path].append(value_ms)
            lcp_times.append((int(when * 1000), value_ms))
            if n % 4 == 0:  # a quarter arrive the way posthog-js sends them
                properties = {"$current_url": page_url(path, n), "$web_vitals_LCP_value": value_ms}
                posthog.append(posthog_event("$web_vitals", int(when * 1000), f"visitor-{n}", **properties))
            else:
                items.append(vital("LCP", value_ms, page_url(path, n), when))
        for metric, base in (("INP", 90.0), ("CLS", 0.04), ("FCP", 800.0), ("TTFB", 300.0)):
            items += [
                vital(metric, round(base * slow * (1 + n / 10), 4), page_url(path, n), at(2 + n))
                for n in range(10)
            ]
    old = [vital("LCP", 9000.0, page_url("/", 1), at(30 + n)) for n in range(6)]
    # The seed's PerformanceMonitoring.trackPageLoad: 37 page loads within 2 s, 3 slower.
    loads = [800.0 + 25 * n for n in range(37)] + [3500.0, 4200.0, 5100.0]
    items += [vital("page_load_time", ms, page_url("/", n), at(3 + n / 10)) for n, ms in enumerate(loads)]
    durations = {
        "GET /api/orders/{id}": [20.0 + n for n in range(120)],
        "POST /api/checkout": [100.0 + 4 * n for n in range(49)] + [900.0],
        "GET /api/search": [40.0 + 2 * n for n in range(30)],
    }
    errors = {"GET /api/orders/{id}": 0, "POST /api/checkout": 1, "GET /api/search": 0}
    for route, values in durations.items():
        for n, ms in enumerate(values):
            status = 500 if route == "POST /api/checkout" and n == 7 else 200
            items.append(request(route, status, ms, at(4 + n / 100)))
    blog_items = [vital("LCP", 5000.0 + n, "https://blog.example/post", at(50 + n)) for n in range(10)]
    with server.client() as client:
        post_native(client, shop, items)
        post_native(client, shop, old)
        post_posthog(client, shop, posthog)
        post_native(client, blog, blog_items)
    return Seeded(shop, blog, empty, lcp, lcp_times, len(old), durations, errors)


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    with LiveServer(store.settings, store.engine, clock=ManualClock(NOW_MS)) as live:
        yield live


@pytest.fixture
def seeded(server: LiveServer, store: Store) -> Seeded:
    shop, blog, empty = (add_project(store, name) for name in ("Shop", "Blog", "Quiet"))
    return seed(server, shop, blog, empty)


def test_vitals_pages_routes_and_slos_from_ingested_events(server: LiveServer, seeded: Seeded) -> None:
    every_lcp = [v for values in seeded.lcp.values() for v in values]
    with login(server) as client:
        html = page(client, "/performance", project=seeded.shop.slug, range="24h")
    lcp = one(html, '[data-vital="LCP"]')
    assert text(lcp, '[data-metric="count"]') == str(len(every_lcp))
    assert close(value(lcp, '[data-metric="p75"]'), exact_quantile(every_lcp, 0.75))
    good = sum(v <= 2500 for v in every_lcp)
    poor = sum(v > 4000 for v in every_lcp)
    shares = [one(lcp, f'[data-share="{name}"]').get_text() for name in ("good", "needs-improvement", "poor")]
    n = len(every_lcp)
    assert shares == [f"{x / n * 100:.1f} %" for x in (good, n - good - poor, poor)]
    for metric in ("INP", "CLS", "FCP", "TTFB"):
        assert text(one(html, f'[data-vital="{metric}"]'), '[data-metric="count"]') == "30"

    # One chart per vital for its p75 and one for its rating shares: each hour's own numbers.
    specs = [json.loads(str(chart["data-chart"])) for chart in lcp.select("[data-chart]")]
    assert [spec["kind"] for spec in specs] == ["line", "stacked"]
    starts = specs[0]["x"]  # hours from 13:00 yesterday (the range starts at 13:47) to 13:00 today
    assert len(starts) == 25 and all(b - a == 3600 for a, b in itertools.pairwise(starts))
    per_hour: dict[int, list[float]] = {}
    for when, lcp_value in seeded.lcp_times:
        per_hour.setdefault(max(i for i, start in enumerate(starts) if start * 1000 <= when), []).append(
            lcp_value
        )
    p75s, limit = specs[0]["series"][0]["values"], specs[0]["series"][1]["values"]
    assert {i for i, v in enumerate(p75s) if v is not None} == set(per_hour)
    good_shares = specs[1]["series"][0]["values"]
    for hour, values in per_hour.items():
        assert close(p75s[hour], exact_quantile(values, 0.75))
        assert good_shares[hour] == round(100 * sum(v <= 2500 for v in values) / len(values), 2)
    assert limit == [2500] * 25  # the "good" limit beside the p75
    for step in zip(*(series["values"] for series in specs[1]["series"]), strict=True):
        assert step == (None, None, None) or abs(sum(step) - 100) < 0.05

    rows = html.select("#worst-pages tbody tr")
    assert [row["data-page"] for row in rows] == ["/users/{id}", "/pricing", "/"]
    for row in rows:
        values = seeded.lcp[str(row["data-page"])]
        assert close(value(row, '[data-metric="p75"]'), exact_quantile(values, 0.75))

    routes = html.select("#routes tbody tr")
    assert [row["data-route"] for row in routes] == [
        "", "POST /api/checkout", "GET /api/orders/{id}", "GET /api/search"
    ]  # fmt: skip
    all_durations = [v for values in seeded.durations.values() for v in values]
    assert text(routes[0], '[data-metric="count"]') == str(len(all_durations))
    assert close(value(routes[0], '[data-metric="p95"]'), exact_quantile(all_durations, 0.95))
    for row in routes[1:]:
        values = seeded.durations[str(row["data-route"])]
        assert text(row, '[data-metric="count"]') == str(len(values))
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            assert close(value(row, f'[data-metric="{name}"]'), exact_quantile(values, q))
        errors = seeded.errors[str(row["data-route"])]
        assert text(row, '[data-metric="errors"]') == str(errors)
        assert text(row, '[data-metric="error-rate"]') == f"{errors / len(values) * 100:.1f} %"

    slos = {str(row["data-slo"]): row for row in html.select("#slos tbody tr")}
    page_load = slos["slo_page_load"]  # 37 of 40 loads within 2 s against 95 %: 3 bad of 2 allowed
    assert text(page_load, '[data-metric="good-total"]') == "37 / 40"
    assert text(page_load, '[data-metric="attained"]') == "92.5 %"
    assert text(page_load, '[data-metric="status"]') == "missed"
    assert value(page_load, '[data-metric="budget"]') == pytest.approx(-0.5)
    latency = slos["slo_api_latency"]  # one request of 200 above 500 ms against 99 %: 1 of 2 allowed
    assert text(latency, '[data-metric="good-total"]') == "199 / 200"
    assert text(latency, '[data-metric="status"]') == "met"
    assert value(latency, '[data-metric="budget"]') == pytest.approx(0.5)
    error_rate = slos["slo_error_rate"]  # one 5xx of 200
    assert text(error_rate, '[data-metric="attained"]') == "99.5 %"
    assert value(error_rate, '[data-metric="budget"]') == pytest.approx(0.5)
    assert "seed's validation checklist" in text(html, "#slos")


def test_time_range_and_project_switcher(server: LiveServer, seeded: Seeded) -> None:
    shop_day = sum(len(values) for values in seeded.lcp.values())
    with login(server) as client:

        def lcp_count(**params: str) -> int:
            html = page(client, "/performance", **params)
            return int(text(one(html, '[data-vital="LCP"]'), '[data-metric="count"]').replace(",", ""))

        assert lcp_count(project=seeded.shop.slug, range="24h") == shop_day
        assert lcp_count(project=seeded.shop.slug, range="7d") == shop_day + seeded.old_lcp
        assert lcp_count(project=seeded.blog.slug, range="7d") == 10
        assert lcp_count(range="7d") == shop_day + seeded.old_lcp + 10  # all projects together
        last_hour = page(client, "/performance", project=seeded.shop.slug, range="1h")
        blog = page(client, "/performance", project=seeded.blog.slug, range="7d")
        assert [row["data-page"] for row in blog.select("#worst-pages tbody tr")] == ["/post"]
        assert one(blog, "option[selected]").get("value") == seeded.blog.slug
        # Links keep the project and range; the metric tabs rank pages by another vital.
        tab = one(blog, '.metric-tabs a:-soup-contains("INP")')
        assert tab["href"] == f"/performance?project={seeded.blog.slug}&range=7d&metric=INP"
        inp = page(client, "/performance", project=seeded.shop.slug, range="24h", metric="INP")
    assert "Worst pages by INP" in text(inp, "#pages-title")
    assert [row["data-page"] for row in inp.select("#worst-pages tbody tr")] == [
        "/users/{id}",
        "/pricing",
        "/",
    ]
    # The last hour holds none of the shop's vitals (the newest is 90 minutes old).
    assert "No web vitals in the last hour" in text(last_hour, "#vitals")


def test_empty_states_say_what_to_do(server: LiveServer, seeded: Seeded) -> None:
    with login(server) as client:
        quiet = page(client, "/performance", project=seeded.empty.slug)
        blog = page(client, "/performance", project=seeded.blog.slug, range="24h")
        unknown = page(client, "/performance", project=seeded.shop.slug, metric="speed")
    vitals = text(quiet, "#vitals")
    assert "No web vitals have been received for Quiet yet" in vitals
    snippet = text(quiet, "#vitals pre")
    assert "/sdk/syncmon.js" in snippet and f'key: "{seeded.empty.public_key}"' in snippet
    assert "SyncmonMiddleware" in text(quiet, "#routes")
    assert [text(row, '[data-metric="status"]') for row in quiet.select("#slos tbody tr")] == ["no data"] * 3
    assert not quiet.select("[data-chart]")
    # The blog sent vitals, only longer ago than the range: no set-up advice, a longer range.
    assert "Choose a longer time range" in text(blog, "#vitals")
    assert not blog.select("#vitals pre")
    assert "“speed” is not a web vital; showing LCP." in text(unknown, '[role="alert"]')


def test_ingested_markup_renders_as_text(server: LiveServer, store: Store) -> None:
    shop = add_project(store, "Shop")
    items = [
        vital("LCP", 1800.0, "https://x.example" + XSS_PAGE, at(0.1)),
        request("GET " + XSS_ROUTE, 200, 12.0, at(0.1)),
    ]
    with server.client() as client:
        post_native(client, shop, items)
    with login(server) as client:
        response = client.get("/performance", params={"project": shop.slug})
    assert response.status_code == 200
    assert "<script>alert" not in response.text and "<img src=x" not in response.text
    assert "&lt;script&gt;alert(&#39;page&#39;)&lt;/script&gt;" in response.text
    html = BeautifulSoup(response.text, "html.parser")
    assert text(html, "#worst-pages tbody td.cell-url") == XSS_PAGE
    assert text(html, '#routes tbody tr[data-route^="GET"] td.cell-url') == "GET " + XSS_ROUTE
    assert not html.select("main script, main img")


def test_live_region_access_and_roles(server: LiveServer, store: Store, seeded: Seeded) -> None:
    with store.engine.begin() as conn:
        accounts.create_user(conn, "viewer@example.com", "viewer-password", "viewer", NOW_MS)
    with server.client() as anonymous:
        refused = anonymous.get("/performance")
        assert refused.status_code == 303 and refused.headers["location"] == "/login?next=%2Fperformance"
    with server.client() as client:
        Dashboard(client).login_ok("viewer@example.com", "viewer-password")
        html = page(client, "/performance", project=seeded.shop.slug)
    body = one(html, "body")
    assert body["data-live-url"] == f"/live?project={seeded.shop.slug}"
    assert one(html, '[data-live-region="performance"]') is not None
    assert one(html, 'nav.sections a[aria-current="page"]').get_text() == "Performance"
    scripts = [str(tag["src"]) for tag in html.select("head script")]
    assert any("uplot" in src for src in scripts) and any("charts.js" in src for src in scripts)
    assert any("pages.css" in str(link["href"]) for link in html.select('head link[rel="stylesheet"]'))
    assert not html.select("[style]") and not html.select("script:not([src])")


# --- the pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_minutes", "step", "points"),
    [(15, 1, 16), (60, 2, 31), (360, 15, 25), (1440, 60, 25), (10_080, 360, 29), (43_200, 1440, 31)],
)
def test_chart_steps_cover_the_range_once(range_minutes: int, step: int, points: int) -> None:
    window = ChartWindow.ending(NOW_MS, range_minutes)
    assert window.step == step_for(range_minutes) == step
    assert len(window.starts) == points  # the range's partial first and last steps included
    minutes = set()
    for span in window.step_spans:
        covered = {bucket // span.tier for bucket in range(span.first, span.end, span.tier)}
        assert not {(span.tier, b) for b in covered} & minutes  # no row is read twice
        minutes |= {(span.tier, b) for b in covered}
    # Both start at the whole step the range starts in.
    first, start = min(s.first for s in window.spans), (NOW_MS - range_minutes * 60_000) // 60_000
    assert first == min(s.first for s in window.step_spans) == window.starts[0] == window.since_ms // 60_000
    assert first % step == 0 and start - step < first <= start
    assert (
        window.step_of(window.starts[0]) == 0 and window.step_of(window.starts[-1] + step - 1) == points - 1
    )


@pytest.mark.parametrize(
    ("objective", "total", "bad", "ratio", "remaining", "status"),
    [
        (Fraction(99), 200, 1, 0.995, 0.5, "met"),
        (Fraction(99), 200, 2, 0.99, 0.0, "met"),  # exactly on the objective: met, budget used up
        (Fraction(95), 40, 3, 0.925, -0.5, "missed"),
        (Fraction("99.9"), 1000, 0, 1.0, 1.0, "met"),
        (Fraction(99), 0, 0, None, None, "no data"),
    ],
)
def test_attainment_and_error_budget(
    objective: Fraction, total: int, bad: int, ratio: float | None, remaining: float | None, status: str
) -> None:
    goal = slo_data.Objective("k", "t", "d", "requests", objective)
    found = slo_data.Attainment(goal, total, bad)
    assert (found.ratio, found.status) == (ratio, status)
    assert found.remaining == (pytest.approx(remaining) if remaining is not None else None)


def test_latency_indicators_count_values_above_the_threshold() -> None:
    sketch = Sketch()
    for ms in [0.0, 120.0, 480.0, 499.0, 510.0, 900.0, 2500.0]:
        sketch.add(ms)
    assert slo_data.count_above(sketch, 500) == 3
    latency = slo_data.SEED_OBJECTIVES[1]
    summary = Summary(sketch, count=7, errors=1)
    assert slo_data.measure(latency, summary) == slo_data.Attainment(latency, 7, 3)
    errors = slo_data.SEED_OBJECTIVES[2]
    assert slo_data.measure(errors, summary) == slo_data.Attainment(errors, 7, 1)
    assert slo_data.measure(errors, None) == slo_data.Attainment(errors, 0, 0)


@pytest.mark.parametrize(
    ("metric", "value", "shown"),
    [("LCP", 2345.6, "2.35 s"), ("INP", 180.2, "180 ms"), ("CLS", 0.1234, "0.123"), ("TTFB", None, "—")],
)
def test_values_are_shown_in_their_unit(metric: str, value: float | None, shown: str) -> None:
    assert format_value(metric, value) == shown


@pytest.mark.parametrize(
    ("raw", "chosen"),
    [(None, ("LCP", None)), ("inp", ("INP", None)), ("largest_contentful_paint", ("LCP", None)),
     ("<b>", ("LCP", "<b>"))],
)  # fmt: skip
def test_metric_choice(raw: str | None, chosen: tuple[str, str | None]) -> None:
    assert metric_choice(raw) == chosen
