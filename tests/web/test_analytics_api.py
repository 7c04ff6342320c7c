"""The page-view analytics API against the real server, on both engines."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx
import pytest

from syncmon.clock import SystemClock
from syncmon.metrics import sketch_rollups
from syncmon.store import projects
from syncmon.web import analytics_api
from tests.conftest import Store
from tests.support.live import LiveServer

HOUR_MS = 3_600_000
AGENTS = {
    "Chrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36"
    ),
    "Mobile Safari": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    ),
}
BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"


def install(server: LiveServer) -> LiveServer:
    """The hook and routes wired into a running server, as app.py will (see test_performance_api)."""
    services = server.services
    hooks = services.writer._hooks
    if sketch_rollups.hook not in hooks:
        hooks.append(sketch_rollups.hook)
    paths = {getattr(route, "path", None) for route in server.app.router.routes}
    for route in analytics_api.routes(services):
        if route.path not in paths:
            server.app.router.routes.append(route)
    return server


@pytest.fixture
def server(live: LiveServer) -> LiveServer:
    return install(live)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client: httpx.Client, store: Store, items: list[dict[str, Any]], agent: str) -> None:
    response = client.post(
        f"/api/monitoring/events?key={store.project.public_key}", json=items, headers={"User-Agent": agent}
    )
    assert response.status_code == 200, response.text


def pageviews(client: httpx.Client, token: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/analytics/pageviews", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def near(estimate: int, truth: int) -> bool:
    return abs(estimate - truth) <= max(1, 0.02 * truth)


def test_pageviews(server: LiveServer, store: Store, viewer_token: str) -> None:
    rng = random.Random(4)
    now = SystemClock().now_ms()
    views: list[dict[str, Any]] = []
    by_agent: dict[str, list[dict[str, Any]]] = {name: [] for name in AGENTS}
    for i in range(600):
        age_hours = rng.uniform(0.2, 23) if i % 4 else rng.uniform(26, 40)
        item = {
            "kind": "page_view",
            "url": rng.choice(
                ["https://shop.example/", "https://shop.example/pricing", "https://shop.example/p/9"]
            ),
            "session_id": f"visitor-{rng.randrange(120)}",
            "timestamp": (now - age_hours * HOUR_MS) / 1000,
        }
        referrer = rng.choice(["https://www.google.com/", "https://news.ycombinator.com/", None])
        if referrer:
            item["referrer"] = referrer
        agent = rng.choice(sorted(AGENTS))
        by_agent[agent].append(item)
        views.append({**item, "agent": agent, "recent": age_hours < 23.5})
    with server.client() as client:
        for agent, items in by_agent.items():
            post(client, store, items, AGENTS[agent])
        post(client, store, [{"kind": "page_view", "url": "https://shop.example/", "session_id": "bot"}], BOT)
        day = pageviews(client, viewer_token, project=store.project.slug)
        two_days = pageviews(
            client, viewer_token, project=store.project.slug, window="2d", step="1d", limit=1
        )
    recent = [v for v in views if v["recent"]]
    assert day["totals"]["pageviews"] == len(recent)
    assert near(day["totals"]["visitors"], len({v["session_id"] for v in recent}))
    assert day["step_seconds"] == 3600
    assert 24 <= len(day["series"]) <= 25
    assert sum(point["pageviews"] for point in day["series"]) == len(recent)
    times = [point["time"] for point in day["series"]]
    assert times == sorted(times) and all(t % 3600 == 0 for t in times)
    pages = Counter(sketch_rollups.page_of(v["url"]) for v in recent)
    assert {p["value"]: p["count"] for p in day["top"]["pages"]} == dict(pages)
    assert [p["count"] for p in day["top"]["pages"]] == sorted(pages.values(), reverse=True)
    referrers = Counter(sketch_rollups.referrer_of_url(v.get("referrer")) for v in recent)
    assert {r["value"]: r["count"] for r in day["top"]["referrers"]} == dict(referrers)
    browsers = Counter(v["agent"] for v in recent)
    assert {b["value"]: b["count"] for b in day["top"]["browsers"]} == dict(browsers)
    assert {d["value"] for d in day["top"]["devices"]} == {"desktop", "mobile"}
    assert {o["value"] for o in day["top"]["os"]} == {"Linux", "iOS"}
    assert two_days["step_seconds"] == 86_400
    assert two_days["totals"]["pageviews"] == len(views)
    assert sum(point["pageviews"] for point in two_days["series"]) == len(views)
    assert all(len(top) == 1 for top in two_days["top"].values())


def test_empty_project(server: LiveServer, store: Store, viewer_token: str) -> None:
    with store.engine.begin() as conn:
        other = projects.create_project(conn, "Quiet", SystemClock().now_ms())
    with server.client() as client:
        body = pageviews(client, viewer_token, project=other.slug, window="90m", step="15m")
    assert body["totals"] == {"pageviews": 0, "visitors": 0}
    assert body["top"] == {"pages": [], "referrers": [], "browsers": [], "os": [], "devices": []}
    assert body["step_seconds"] == 900
    assert 6 <= len(body["series"]) <= 7
    assert all(point["pageviews"] == point["visitors"] == 0 for point in body["series"])


def test_default_steps() -> None:
    assert analytics_api.default_step_minutes(HOUR_MS) == 5
    assert analytics_api.default_step_minutes(24 * HOUR_MS) == 60
    assert analytics_api.default_step_minutes(7 * 24 * HOUR_MS) == 360
    assert analytics_api.default_step_minutes(90 * 24 * HOUR_MS) == 1440


def test_auth_and_project(server: LiveServer, store: Store, viewer_token: str) -> None:
    with server.client() as client:
        url = "/api/v1/analytics/pageviews"
        assert client.get(url, params={"project": store.project.slug}).status_code == 401
        response = client.get(url, params={"project": "nope"}, headers=bearer(viewer_token))
        assert response.status_code == 404 and response.json()["field"] == "project"


BAD_PARAMETERS: list[tuple[dict[str, str], str]] = [
    ({}, "project"),
    ({"window": "soon"}, "window"),
    ({"window": "500d"}, "window"),
    ({"step": "30s"}, "step"),
    ({"step": "5x"}, "step"),
    ({"window": "30d", "step": "1m"}, "step"),
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
]


def test_bad_parameters_are_400_naming_them(server: LiveServer, store: Store, viewer_token: str) -> None:
    with server.client() as client:
        for raw, field in BAD_PARAMETERS:
            params = raw if field == "project" else {"project": store.project.slug, **raw}
            response = client.get("/api/v1/analytics/pageviews", params=params, headers=bearer(viewer_token))
            assert response.status_code == 400, (params, response.text)
            assert response.json()["field"] == field, params
            assert response.json()["error"].startswith(f"{field}: "), params
