"""The performance API against the real server: vitals, p75 per page and route latency
from what went in through ingest, on both engines."""

from __future__ import annotations

import math
import random
from typing import Any

import httpx
import pytest

from syncmon.clock import SystemClock
from syncmon.metrics import sketch_rollups
from syncmon.store import projects
from syncmon.web import performance_api
from tests.conftest import Store
from tests.support.live import LiveServer

HOUR_MS = 3_600_000


def install(server: LiveServer) -> LiveServer:
    """Wire the rollup hook and the routes into a running server, as app.py will: the writer
    runs its hooks from its list at every commit, the router matches its routes per request.
    Once app.py does it itself this changes nothing."""
    services = server.services
    hooks = services.writer._hooks
    if sketch_rollups.hook not in hooks:
        hooks.append(sketch_rollups.hook)
    paths = {getattr(route, "path", None) for route in server.app.router.routes}
    for route in performance_api.routes(services):
        if route.path not in paths:
            server.app.router.routes.append(route)
    return server


@pytest.fixture
def server(live: LiveServer) -> LiveServer:
    return install(live)


CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client: httpx.Client, store: Store, items: list[dict[str, Any]], agent: str = CHROME) -> None:
    """Through the batch endpoint, from a browser (httpx's own user agent is a bot's, and bots'
    vitals and page views are left out)."""
    for start in range(0, len(items), 500):
        response = client.post(
            f"/api/monitoring/events?key={store.project.public_key}",
            json=items[start : start + 500],
            headers={"User-Agent": agent},
        )
        assert response.status_code == 200, response.text


def get(client: httpx.Client, token: str, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1/performance/{path}", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def close(estimate: float | None, truth: float) -> bool:
    return estimate is not None and abs(estimate - truth) <= 0.0101 * abs(truth) + 1e-9


PAGES = {"/": 1.0, "/pricing": 1.6, "/users/{id}": 2.4}  # how slow each page is


def vitals_items(now: int, rng: random.Random) -> list[dict[str, Any]]:
    """LCP, INP and CLS for three pages: 1-20 h ago (inside 24h) and 30-60 h ago (outside)."""
    items = []
    for i in range(900):
        recent = i % 3 != 0
        at = now - (rng.uniform(1, 20) if recent else rng.uniform(30, 60)) * HOUR_MS
        page = rng.choice(sorted(PAGES))
        url = "https://shop.example" + page.replace("{id}", str(rng.randrange(99))) + "?ref=x"
        metric, value = rng.choice(
            [
                ("LCP", rng.lognormvariate(7.5, 0.5) * PAGES[page]),
                ("INP", rng.expovariate(1 / 180)),
                ("CLS", 0.0 if rng.random() < 0.3 else rng.expovariate(8)),
            ]
        )
        items.append(
            {
                "kind": "performance_metric",
                "metric": metric,
                "value": round(value, 4),
                "url": url,
                "timestamp": at / 1000,
                "recent": recent,
                "page": page,
            }
        )
    return items


def test_vitals_percentiles_and_shares(server: LiveServer, store: Store, viewer_token: str) -> None:
    rng = random.Random(1)
    now = SystemClock().now_ms()
    items = vitals_items(now, rng)
    with server.client() as client:
        post(client, store, items)
        day = get(client, viewer_token, "vitals", project=store.project.slug)
        week = get(client, viewer_token, "vitals", project=store.project.slug, window="7d")
        page = get(client, viewer_token, "vitals", project=store.project.slug, page="/pricing")
        page_url = get(
            client,
            viewer_token,
            "vitals",
            project=str(store.project.id),
            page="https://shop.example/pricing?a=1",
        )
    assert day["project"] == store.project.slug and day["page"] is None
    assert day["window"]["seconds"] == 86_400
    assert set(day["metrics"]) == {"LCP", "INP", "CLS"}
    for metric, limits in (("LCP", (2500, 4000)), ("INP", (200, 500)), ("CLS", (0.1, 0.25))):
        for body, keep in ((day, lambda i: i["recent"]), (week, lambda i: True)):
            values = [i["value"] for i in items if i["metric"] == metric and keep(i)]
            found = body["metrics"][metric]
            assert found["count"] == len(values)
            for name, q in sketch_rollups.QUANTILES.items():
                assert close(found[name], exact(values, q)), (metric, name, found[name], exact(values, q))
            good = sum(v <= limits[0] for v in values) / len(values)
            poor = sum(v > limits[1] for v in values) / len(values)
            assert found["good"] == pytest.approx(good, abs=1e-4)
            assert found["poor"] == pytest.approx(poor, abs=1e-4)
            assert found["needs_improvement"] == pytest.approx(1 - good - poor, abs=2e-4)
            assert found["rating"] in {"good", "needs-improvement", "poor"}
    assert day["metrics"]["CLS"]["unit"] == "unitless" and day["metrics"]["LCP"]["unit"] == "ms"
    assert page["metrics"] == page_url["metrics"] and page_url["page"] == "/pricing"
    assert page["page"] == "/pricing"
    pricing = [i["value"] for i in items if i["metric"] == "LCP" and i["recent"] and i["page"] == "/pricing"]
    assert page["metrics"]["LCP"]["count"] == len(pricing)
    assert close(page["metrics"]["LCP"]["p75"], exact(pricing, 0.75))


def test_pages_worst_first(server: LiveServer, store: Store, viewer_token: str) -> None:
    rng = random.Random(2)
    now = SystemClock().now_ms()
    items = vitals_items(now, rng)
    with server.client() as client:
        post(client, store, items)
        body = get(client, viewer_token, "pages", project=store.project.slug)
        inp = get(
            client, viewer_token, "pages", project=store.project.slug, metric="inp", window="7d", limit=2
        )
    assert body["metric"] == "LCP" and body["unit"] == "ms"
    assert [p["page"] for p in body["pages"]] == ["/users/{id}", "/pricing", "/"]
    assert body["total_pages"] == 3
    for entry in body["pages"]:
        values = [
            i["value"] for i in items if i["metric"] == "LCP" and i["recent"] and i["page"] == entry["page"]
        ]
        assert entry["count"] == len(values)
        assert close(entry["p75"], exact(values, 0.75))
        assert entry["rating"] in {"good", "needs-improvement", "poor"}
    everything = [i["value"] for i in items if i["metric"] == "LCP" and i["recent"]]
    assert body["all_pages"]["count"] == len(everything)
    assert close(body["all_pages"]["p75"], exact(everything, 0.75))
    assert inp["metric"] == "INP" and len(inp["pages"]) == 2 and inp["total_pages"] == 3
    p75s = [p["p75"] for p in inp["pages"]]
    assert p75s == sorted(p75s, reverse=True)


def test_route_latency(server: LiveServer, store: Store, viewer_token: str) -> None:
    rng = random.Random(3)
    now = SystemClock().now_ms()
    items = []
    for i in range(300):
        route, base = rng.choice([("/users/{id}", 40.0), ("/search", 250.0)])
        items.append(
            {
                "kind": "request",
                "method": "GET",
                "route": route,
                "status": 500 if i % 10 == 0 else 200,
                "duration_ms": round(rng.expovariate(1 / base), 3),
                "timestamp": (now - rng.uniform(0.5, 10) * HOUR_MS) / 1000,
            }
        )
    items.append(
        {
            "kind": "request",
            "method": "POST",
            "url": "https://api.example/login?x=1",
            "status": 401,
            "duration_ms": 9.0,
            "timestamp": (now - HOUR_MS) / 1000,
        }
    )
    with server.client() as client:
        post(client, store, items)
        body = get(client, viewer_token, "routes", project=store.project.slug)
    names = [r["route"] for r in body["routes"]]
    assert names == ["GET /search", "GET /users/{id}", "POST /login"]
    for entry in body["routes"][:2]:
        chosen = [i for i in items if f"GET {i.get('route')}" == entry["route"]]
        durations = [i["duration_ms"] for i in chosen]
        assert entry["count"] == len(chosen)
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            assert close(entry[name], exact(durations, q))
        errors = sum(i["status"] >= 500 for i in chosen)
        assert entry["errors"] == errors
        assert entry["error_rate"] == pytest.approx(errors / len(chosen), abs=1e-4)
    assert body["all_routes"]["count"] == len(items)
    assert body["all_routes"]["errors"] == 30
    assert body["routes"][2]["errors"] == 0


def test_empty_project(server: LiveServer, store: Store, viewer_token: str) -> None:
    with store.engine.begin() as conn:
        other = projects.create_project(conn, "Quiet", SystemClock().now_ms())
    with server.client() as client:
        vitals = get(client, viewer_token, "vitals", project=other.slug, window="30d")
        pages = get(client, viewer_token, "pages", project=other.slug)
        routes = get(client, viewer_token, "routes", project=other.slug, window="15m")
    assert vitals["metrics"] == {}
    assert pages["pages"] == [] and pages["all_pages"] is None and pages["total_pages"] == 0
    assert routes["routes"] == [] and routes["all_routes"] is None


PATHS = ("vitals", "pages", "routes")


def test_needs_a_token(server: LiveServer, store: Store, admin_token: str) -> None:
    with server.client() as client:
        for path in PATHS:
            url = f"/api/v1/performance/{path}"
            assert client.get(url, params={"project": store.project.slug}).status_code == 401
            response = client.get(url, params={"project": store.project.slug}, headers=bearer("nope"))
            assert response.status_code == 401
            assert get(client, admin_token, path, project=store.project.slug)


def test_unknown_project_is_404(server: LiveServer, viewer_token: str) -> None:
    with server.client() as client:
        for path in PATHS:
            response = client.get(
                f"/api/v1/performance/{path}", params={"project": "nope"}, headers=bearer(viewer_token)
            )
            assert response.status_code == 404, path
            assert response.json()["field"] == "project"


BAD_PARAMETERS: list[tuple[str, dict[str, str], str]] = [
    ("vitals", {}, "project"),
    ("pages", {}, "project"),
    ("routes", {}, "project"),
    ("vitals", {"window": "yesterday"}, "window"),
    ("vitals", {"window": "0h"}, "window"),
    ("vitals", {"window": "401d"}, "window"),
    ("vitals", {"window": "9" * 12 + "w"}, "window"),
    ("pages", {"window": "-1d"}, "window"),
    ("routes", {"window": "1y"}, "window"),
    ("vitals", {"page": "pricing"}, "page"),
    ("vitals", {"page": "/" + "a" * 3000}, "page"),
    ("pages", {"metric": "x" * 201}, "metric"),
    ("pages", {"metric": "   "}, "metric"),
    ("pages", {"limit": "0"}, "limit"),
    ("routes", {"limit": "many"}, "limit"),
]


def test_bad_parameters_are_400_naming_them(server: LiveServer, store: Store, viewer_token: str) -> None:
    with server.client() as client:
        for path, raw, field in BAD_PARAMETERS:
            params = raw if field == "project" else {"project": store.project.slug, **raw}
            response = client.get(f"/api/v1/performance/{path}", params=params, headers=bearer(viewer_token))
            case = f"{path} {params}"
            assert response.status_code == 400, (case, response.text)
            assert response.json()["field"] == field, case
            assert response.json()["error"].startswith(f"{field}: "), case


def test_other_methods_are_refused(server: LiveServer, viewer_token: str) -> None:
    with server.client() as client:
        response = client.post("/api/v1/performance/vitals", headers=bearer(viewer_token))
    assert response.status_code == 405
