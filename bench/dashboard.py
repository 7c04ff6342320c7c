"""Dashboard benchmark: page response times over 10 M stored events, and live-update latency.

    .venv/bin/python bench/dashboard.py                          # 10 M events, SQLite
    .venv/bin/python bench/dashboard.py --events 1000000 --requests 50 --trials 100
    .venv/bin/python bench/dashboard.py --dir /tmp/dash --keep   # keep the store ...
    .venv/bin/python bench/dashboard.py --dir /tmp/dash --reuse  # ... and measure it again
    .venv/bin/python bench/dashboard.py --database-url postgresql://postgres@127.0.0.1/dash

What is stored. `--events` events (10 M) over the 29.5 days before now, in the mix a busy
site sends: 40 % web vitals and page-load times (LCP, INP, CLS, FCP, TTFB, page_load_time on
50 pages of Zipf popularity, log-normal values), 30 % API requests (25 routes, 2-4 % 5xx on
some), 20 % page views (6 browsers/systems/devices, 5 referrers, 200 k sessions), 5 % errors
(300 distinct errors, grouped into issues), 3 % security events, 2 % custom events; 95 % in
project "shop", 5 % in "blog". They are written exactly as the server writes a committed
batch -- the writer's own `_write` (before-hooks, the driver-level insert, every rollup
hook) on up to --chunk events per UTC day -- so the count rollups, quantile sketches,
page-view dimensions, HyperLogLogs and issues are the ones those events imply. Two short
cuts keep 10 M events to minutes rather than hours: events are built directly, not
through the HTTP receivers; and days older than the minute tier's retention (7 days) are
written without their minute rows (counts, sketches, page views, visitors), which retention
would delete anyway (hour and day rows are written for every day). Then one retention pass
over the rollups, as the server runs it, and ANALYZE. Before measuring, the time since the
load (or since the last run with --reuse) is filled with events at the same rate, so the
last hour holds what it would on a live server. A path that redirects (/security, the
navigation's alias of /admin/security-dashboard) is reported as such, not measured.

What is measured, through `syncmon serve` as a child process on 127.0.0.1 with a session
logged in through the login form:

1. every dashboard page (Overview, Security, Errors, Performance, Analytics, Alerts,
   Settings) at the default range (last hour, all projects) and for project "shop" over
   24 h and 30 d: --requests sequential GETs after 3 warm-ups, response time from sending
   the request to the last byte of the page (p50 / p95 / max), and the server's CPU time
   per request (from /proc: what a page costs, whatever else the host is doing). A page
   this build does not have (404) is reported as such;
2. live updates: an SSE client on /live?project=shop; per trial one event is posted to
   /api/monitoring/events and the time from its HTTP acknowledgement (and from sending it)
   to the `batch` message on the stream is taken; --trials trials, 50-150 ms apart;
3. with --browser-trials > 0 (needs Playwright and Chromium): Chromium shows
   /performance?project=shop; per trial one event is posted and the time from its
   acknowledgement to the page's data-live-refreshes attribute changing (app.js re-fetched
   the page and swapped its live region) is taken, by a MutationObserver's Date.now().
   app.js refreshes at most once a second, so trials are 1.2 s apart.

Prints Markdown; --json FILE writes the raw figures.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import itertools
import json
import math
import os
import platform
import queue
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.ingest import Server, describe_machine, describe_source, wait_for_quiet_host  # noqa: E402
from syncmon.app import new_writer  # noqa: E402
from syncmon.bootstrap import prepare_store  # noqa: E402
from syncmon.clock import SystemClock  # noqa: E402
from syncmon.errors.identity import browser_error_input, identify  # noqa: E402
from syncmon.events import Event, Kind, Level  # noqa: E402
from syncmon.metrics import rollups, sketch_rollups  # noqa: E402
from syncmon.pipeline.useragent import parse_user_agent  # noqa: E402
from syncmon.security.vocabulary import canonical  # noqa: E402
from syncmon.settings import Settings, load_settings  # noqa: E402
from syncmon.store import migrate, projects  # noqa: E402
from syncmon.store.engine import create_store_engine  # noqa: E402
from syncmon.store.projects import Project  # noqa: E402
from syncmon.store.retention import delete_expired_events, delete_expired_rollups  # noqa: E402

DAY_MS = 86_400_000
SPAN_MS = int(29.5 * DAY_MS)
ADMIN_PASSWORD = "bench-dashboard-password"
PAGES = 50
METRICS = {  # name: (median, sigma, share of zeros, weight)
    "LCP": (2200.0, 0.55, 0.0, 0.2),
    "INP": (160.0, 0.8, 0.0, 0.2),
    "CLS": (0.05, 1.0, 0.35, 0.2),
    "FCP": (1500.0, 0.5, 0.0, 0.15),
    "TTFB": (450.0, 0.7, 0.0, 0.15),
    "page_load_time": (1600.0, 0.6, 0.0, 0.1),
}
WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5"
AGENTS = [
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {WEBKIT} Chrome/126.0.0.0 Safari/537.36",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {SAFARI} Safari/605.1.15",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) {SAFARI} Mobile/15E148 Safari/604.1",
    f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {WEBKIT} Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    f"Mozilla/5.0 (X11; Linux x86_64) {WEBKIT} Chrome/126.0.0.0 Safari/537.36",
]
REFERRERS = [
    "",
    "https://www.google.com/",
    "https://news.ycombinator.com/",
    "https://t.co/x",
    "https://shop.example/",
]
SECURITY = [
    "authn_login_fail",
    "authn_login_success",
    "authz_fail",
    "session_expired",
    "input_validation_fail",
]
CUSTOM = ["signup_click", "add_to_cart", "search", "share"]
PAGE_LABELS = [
    ("Overview", "/overview"),
    ("Security", "/admin/security-dashboard"),  # /security only redirects (303) here
    ("Errors", "/errors"),
    ("Performance", "/performance"),
    ("Analytics", "/analytics"),
    ("Alerts", "/alerts"),
    ("Settings", "/settings/users"),
]
VARIANTS = [
    ("last hour, all projects", {}),
    ("shop, 24 h", {"range": "24h"}),
    ("shop, 30 d", {"range": "30d"}),
]


# --- the stored events ---------------------------------------------------------------------


class EventMaker:
    """Realistic events of every kind, built directly as the receivers would build them."""

    def __init__(self, shop: Project, blog: Project, seed: int) -> None:
        self.rng = random.Random(seed)
        self.shop, self.blog = shop.id, blog.id
        sections = ["blog", "docs", "shop", "users/{id}", "pricing", "account", "search", "help", "news"]
        self.pages = ["/"] + [f"/{sections[i % len(sections)]}/page-{i}" for i in range(1, PAGES)]
        popularity = [1 / (i + 1) ** 1.1 for i in range(PAGES)]
        self.page_weights = list(itertools.accumulate(popularity))
        self.slowness = [self.rng.uniform(0.6, 2.5) for _ in range(PAGES)]
        self.metric_names = list(METRICS)
        self.metric_weights = list(itertools.accumulate(m[3] for m in METRICS.values()))
        names = ("orders", "cart", "users", "search", "items", "auth")
        paths = [f"/api/{name}{suffix}" for name in names for suffix in ("", "/{id}")]
        self.routes = [  # method, route, typical duration (ms), share of 5xx answers
            (method, path, self.rng.uniform(15, 400), self.rng.choice([0.0, 0.0, 0.02, 0.04]))
            for method, path in itertools.product(("GET", "POST"), paths)
        ][:25]
        self.agents = [(agent, parse_user_agent(agent)) for agent in AGENTS]
        self.errors = [self._error_template(i) for i in range(300)]
        self.security = [canonical(name) for name in SECURITY]

    def _error_template(self, i: int) -> Event:
        kind = ["TypeError", "ReferenceError", "RangeError", "SyntaxError"][i % 4]
        message = f"{kind}: widget {i} failed: cannot read property 'id' of undefined"
        stack = (
            f"{message}\n    at render{i} (https://shop.example/static/app.{i % 17}.js:{10 + i}:{5 + i % 40})"
        )
        grouping = browser_error_input("javascript_error", message, stack, None, None, None, None)
        identity = identify(grouping)
        event = Event(
            0, Kind.ERROR.value, "javascript_error", 0, 0, message=identity.title, level=Level.ERROR.value
        )
        event.data = {"type": "javascript_error", "message": message, "stack": stack}
        identity.annotate(event.data)
        event.fingerprint = identity.fingerprint
        return event

    def _page(self) -> tuple[int, str]:
        index = bisect.bisect_left(self.page_weights, self.rng.random() * self.page_weights[-1])
        path = self.pages[index].replace("{id}", str(self.rng.randrange(10_000)))
        return index, "https://shop.example" + path

    def event(self, at_ms: int) -> Event:
        rng = self.rng
        project = self.shop if rng.random() < 0.95 else self.blog
        agent, parsed = rng.choice(self.agents)
        ip = f"203.0.{rng.randrange(200)}.{rng.randrange(250)}"
        common: dict[str, Any] = {
            "project_id": project,
            "timestamp_ms": at_ms,
            "received_ms": at_ms + rng.randrange(50, 3000),
            "browser": parsed.browser,
            "os": parsed.os,
            "device": parsed.device,
            "client_ip": ip,
            "id_from_client": False,
        }
        draw = rng.random()
        if draw < 0.40:
            index, url = self._page()
            name = self.metric_names[
                bisect.bisect_left(self.metric_weights, rng.random() * self.metric_weights[-1])
            ]
            median, sigma, zeros, _ = METRICS[name]
            value = (
                0.0
                if rng.random() < zeros
                else rng.lognormvariate(math.log(median), sigma) * self.slowness[index]
            )
            value = round(value, 4 if name == "CLS" else 1)
            data = {"metric": name, "value": value, "url": url, "user_agent": agent}
            return Event(kind=Kind.PERFORMANCE.value, name=name, url=url, value=value, data=data, **common)
        if draw < 0.70:
            method, route, base, error_rate = rng.choice(self.routes)
            duration = round(rng.lognormvariate(math.log(base), 0.6), 2)
            status = 500 if rng.random() < error_rate else 404 if rng.random() < 0.03 else 200
            level = Level.ERROR if status >= 500 else Level.WARNING if status >= 400 else Level.INFO
            url = "https://shop.example" + route.replace("{id}", str(rng.randrange(10_000)))
            data = {"method": method, "route": route, "status": status, "duration_ms": duration, "url": url}
            name = f"{method} {route}"
            return Event(
                kind=Kind.REQUEST.value,
                name=name,
                url=url,
                value=duration,
                level=level.value,
                data=data,
                **common,
            )
        if draw < 0.90:
            _, url = self._page()
            referrer = rng.choice(REFERRERS)
            session = f"s{rng.randrange(200_000)}"
            data = {"url": url, "referrer": referrer, "title": "Shop", "user_agent": agent}
            return Event(
                kind=Kind.PAGE_VIEW.value, name="page_view", url=url, session_id=session, data=data, **common
            )
        if draw < 0.95:
            template = self.errors[min(int(rng.expovariate(1 / 30)), len(self.errors) - 1)]
            return Event(
                kind=Kind.ERROR.value,
                name=template.name,
                message=template.message,
                level=template.level,
                url=self._page()[1],
                fingerprint=template.fingerprint,
                data=template.data,
                **common,
            )
        if draw < 0.98:
            category, name = rng.choice(self.security)
            level = Level.WARNING if name.endswith("fail") else Level.INFO
            data = {"event_type": name, "category": category.value, "user_agent": agent}
            return Event(
                kind=Kind.SECURITY.value, name=name, message=name, level=level.value, data=data, **common
            )
        name = rng.choice(CUSTOM)
        return Event(kind=Kind.CUSTOM.value, name=name, data={"name": name, "plan": "pro"}, **common)


def bench_settings(directory: Path, database_url: str) -> Settings:
    overrides = {
        "data_dir": str(directory / "data"),
        "database_url": database_url,
        "admin_password": ADMIN_PASSWORD,
        "rate_limit_per_key": "100000000/second",
        "rate_limit_per_ip": "100000000/second",
    }
    return load_settings(overrides, environ={}, config_file=None)


def pieces(now: int) -> list[tuple[int, int, bool]]:
    """(first ms, end ms, with minute rows) covering the span: UTC days, split where minute
    rows stop being kept (retention deletes those older than MINUTE_TIER_DAYS days)."""
    first = now - SPAN_MS
    minute_cutoff = sketch_rollups.tier_cutoffs(now, 400)[sketch_rollups.MINUTE] * 60_000
    edges = sorted({first, now, minute_cutoff, *range(first - first % DAY_MS + DAY_MS, now, DAY_MS)})
    return [(low, high, low >= minute_cutoff) for low, high in itertools.pairwise(edges)]


@contextlib.contextmanager
def rollup_tiers(tiers: tuple[int, ...]) -> Iterator[None]:
    """The rollup hooks write these tiers only (they read `TIERS` of `sketch_rollups` and
    `rollups` per batch)."""
    kept = sketch_rollups.TIERS, rollups.TIERS
    sketch_rollups.TIERS = rollups.TIERS = tiers
    try:
        yield
    finally:
        sketch_rollups.TIERS, rollups.TIERS = kept


def expire_rollups(engine: Engine, now: int, retention_days: int) -> int:
    """The server's retention steps over the count, quantile and page-view rollups, until
    nothing is left to delete; returns rows deleted."""
    deleted = 0
    cutoffs = sketch_rollups.tier_cutoffs(now, retention_days)
    while True:
        with engine.begin() as conn:
            step = delete_expired_rollups(conn, cutoffs, 60)
            step += sketch_rollups.delete_expired_sketch_rollups(conn, now, retention_days)
        deleted += step
        if not step:
            return deleted


def load(settings: Settings, total: int, chunk: int, seed: int) -> dict[str, Any]:
    """Store `total` events through the writer's commit path; returns what was stored."""
    engine = prepare_store(settings, SystemClock(), lambda _: None)
    with engine.begin() as conn:
        shop = projects.create_project(conn, "Shop", SystemClock().now_ms(), ["*"])
        blog = projects.create_project(conn, "Blog", SystemClock().now_ms(), ["*"])
    maker = EventMaker(shop, blog, seed)
    writer = new_writer(engine, settings)
    now = SystemClock().now_ms()
    started = time.perf_counter()
    done = 0
    for low, high, with_minutes in pieces(now):
        wanted = round(total * (high - now + SPAN_MS) / SPAN_MS) - done  # the share up to `high`
        tiers = sketch_rollups.TIERS if with_minutes else (sketch_rollups.HOUR, sketch_rollups.DAY)
        with rollup_tiers(tiers):
            for start in range(0, wanted, chunk):
                events = [
                    maker.event(maker.rng.randrange(low, high)) for _ in range(min(chunk, wanted - start))
                ]
                writer._write(events)  # the writer's own transaction: before-hooks, insert, rollup hooks
                done += len(events)
        rate = done / (time.perf_counter() - started)
        print(f"stored {done:,} events ({rate:,.0f}/s)", file=sys.stderr)
    load_seconds = time.perf_counter() - started
    retention_started = time.perf_counter()
    deleted = expire_rollups(engine, now, settings.rollup_retention_days)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    counts = {}
    with engine.connect() as conn:
        for table in (
            "events",
            "rollup_counts",
            "rollup_sketches",
            "rollup_dimensions",
            "rollup_visitors",
            "issues",
        ):
            counts[table] = int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)
    engine.dispose()
    return {
        "events": total,
        "load_seconds": load_seconds,
        "retention_seconds": time.perf_counter() - retention_started,
        "expired_rollup_rows": deleted,
        "rows": counts,
        "now_ms": now,
    }


def upgrade_reused(settings: Settings, info: dict[str, Any]) -> None:
    """A store kept from an earlier build gets this build's migrations first, as a deployment
    that upgrades would (their backfills included); how long that took is reported."""
    engine = create_store_engine(settings.effective_database_url)
    started = time.perf_counter()
    before, after = migrate.upgrade(engine)
    engine.dispose()
    if before != after:
        took = time.perf_counter() - started
        info.setdefault("upgrades", []).append({"from": before, "to": after, "seconds": round(took, 1)})
        print(f"upgraded the store from {before} to {after} in {took:.1f} s", file=sys.stderr)


def top_up(settings: Settings, info: dict[str, Any], seed: int) -> None:
    """Events from the end of the stored span to now, at the span's rate and through the same
    path, and the retention pass the server would run: loading takes long enough that the
    last hour would otherwise be empty when the pages are measured."""
    engine = create_store_engine(settings.effective_database_url)
    with engine.connect() as conn:
        shop, blog = projects.find_project(conn, "shop"), projects.find_project(conn, "blog")
    assert shop is not None and blog is not None
    maker = EventMaker(shop, blog, seed + int(info["now_ms"]) % 10_000)
    writer = new_writer(engine, settings)
    low, now = int(info["now_ms"]), SystemClock().now_ms()
    wanted = round(info["events"] * (now - low) / SPAN_MS)
    for start in range(0, wanted, 200_000):
        writer._write(
            [maker.event(maker.rng.randrange(low, now)) for _ in range(min(200_000, wanted - start))]
        )
    with engine.begin() as conn:
        delete_expired_events(conn, now - settings.retention_days * DAY_MS, 10_000_000)
    expire_rollups(engine, now, settings.rollup_retention_days)
    engine.dispose()
    info["topped_up"] = info.get("topped_up", 0) + wanted
    info["now_ms"] = now
    print(
        f"topped up {wanted:,} events for the {(now - low) / 60_000:.0f} min since the last load",
        file=sys.stderr,
    )


# --- measuring ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@contextlib.contextmanager
def logged_in(url: str) -> Iterator[httpx.Client]:
    """A client with a session, logged in through the login form as a browser would."""
    with httpx.Client(base_url=url, timeout=60) as client:
        log_in(client)
        yield client


def log_in(client: httpx.Client) -> None:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, form.text[:500]
    fields = {"csrf_token": token.group(1), "email": "admin@localhost", "password": ADMIN_PASSWORD}
    reply = client.post("/login", data=fields)
    assert reply.status_code == 303 and reply.headers["location"] == "/overview", reply.text[:500]


def measure_pages(client: httpx.Client, server: Server, requests: int) -> list[dict[str, Any]]:
    results = []
    for label, path in PAGE_LABELS:
        for variant, params in VARIANTS:
            query = {**params, "project": "shop"} if params else {}
            first = client.get(path, params=query)
            if first.status_code in (303, 404):  # not on this build, or a navigation alias
                where = first.headers.get("location", "").split("?", 1)[0]
                status = {"status": first.status_code, "location": where}
                results.append({"page": label, "path": path, "variant": variant, **status})
                break
            assert first.status_code == 200, (path, first.status_code, first.text[:300])
            for _ in range(2):
                client.get(path, params=query)
            times = []
            cpu_before = server.cpu_seconds()
            for _ in range(requests):
                started = time.perf_counter()
                reply = client.get(path, params=query)
                times.append((time.perf_counter() - started) * 1000)
                assert reply.status_code == 200
            cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / requests
            p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
            row = {
                "page": label,
                "path": path,
                "variant": variant,
                "status": 200,
                "bytes": len(first.content),
            }
            results.append({**row, "p50": p50, "p95": p95, "max": max(times), "cpu_ms": cpu_ms})
            print(f"{label} {path} {variant}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", file=sys.stderr)
    return results


def probe_event(n: int) -> list[dict[str, Any]]:
    return [
        {
            "kind": "request",
            "method": "GET",
            "route": "/api/probe",
            "status": 200,
            "duration_ms": 10.0 + n % 50,
        }
    ]


def post_probe(client: httpx.Client, key: str, n: int) -> None:
    reply = client.post(
        f"/api/monitoring/events?key={key}", json=probe_event(n), headers={"User-Agent": AGENTS[0]}
    )
    assert reply.status_code == 200, reply.text


def measure_sse(url: str, cookies: httpx.Cookies, key: str, trials: int) -> dict[str, list[float]]:
    """Ack → first `batch` message on /live, per trial (ms)."""
    arrivals: queue.Queue[float] = queue.Queue()
    ready = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=url, cookies=cookies, timeout=None) as client,
            client.stream("GET", "/live", params={"project": "shop"}) as stream,
        ):
            for line in stream.iter_lines():
                if line.startswith("event: hello"):
                    ready.set()
                elif line.startswith("event: batch"):
                    arrivals.put(time.perf_counter())
                if stop.is_set():
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("no hello from /live")
    from_ack, from_send = [], []
    with httpx.Client(base_url=url, timeout=30) as poster:
        post_probe(poster, key, -1)  # a first request opens the connection
        arrivals.get(timeout=10)
        for n in range(trials):
            time.sleep(random.uniform(0.05, 0.15))
            while not arrivals.empty():
                arrivals.get_nowait()
            sent = time.perf_counter()
            post_probe(poster, key, n)
            acked = time.perf_counter()
            arrived = arrivals.get(timeout=10)
            from_ack.append((arrived - acked) * 1000)
            from_send.append((arrived - sent) * 1000)
    stop.set()
    return {"from_ack": from_ack, "from_send": from_send}


def measure_browser(url: str, cookies: httpx.Cookies, key: str, trials: int) -> dict[str, list[float]]:
    """Ack → the page's data-live-refreshes changing, in Chromium (ms)."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("SYNCMON_CHROMIUM", "/usr/bin/chromium")
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=args)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": c.name, "value": c.value or "", "url": url} for c in cookies.jar])
        page = context.new_page()
        page.goto(f"{url}/performance?project=shop")
        page.wait_for_selector("[data-live-status][data-state='live']", timeout=30_000)
        page.evaluate(
            "() => { window.__changes = []; new MutationObserver(() => window.__changes.push(Date.now()))"
            ".observe(document.body, {attributes: true, attributeFilter: ['data-live-refreshes']}); }"
        )
        from_ack = []
        with httpx.Client(base_url=url, timeout=30) as poster:
            for n in range(trials):
                time.sleep(1.2)  # app.js refreshes at most once a second
                seen = int(page.evaluate("() => window.__changes.length"))
                post_probe(poster, key, n)
                acked = time.time() * 1000
                page.wait_for_function(f"() => window.__changes.length > {seen}", timeout=15_000)
                changed = float(page.evaluate(f"() => window.__changes[{seen}]"))
                from_ack.append(changed - acked)
        browser.close()
    return {"from_ack": from_ack}


# --- report -------------------------------------------------------------------------------------


def summary(values: list[float]) -> str:
    cells = [percentile(values, 0.5), percentile(values, 0.99), min(values), max(values)]
    return " | ".join(f"{cell:.1f}" for cell in cells) + f" | {len(values)}"


def report(
    info: dict[str, Any], pages: list[dict[str, Any]], live: dict[str, Any], machine: list[str]
) -> str:
    lines = [f"## Dashboard over {info['events']:,} stored events\n"]
    lines.append("| stored | rows |\n|---|---:|")
    lines += [f"| {table} | {count:,} |" for table, count in info["rows"].items()]
    lines.append(f"| load time (writer commit path) | {info['load_seconds']:.0f} s |")
    lines.append(
        f"| events added before measuring (since the load, same rate) | {info.get('topped_up', 0):,} |"
    )
    lines.append("\n### Page response time (ms), sequential requests with a logged-in session\n")
    lines.append("| page | path | range | p50 | p95 | max | server CPU / request | KiB | p95 < 100 ms |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|---|")
    for row in pages:
        if row["status"] != 200:
            what = "not on this build (404)" if row["status"] == 404 else f"redirects to `{row['location']}`"
            lines.append(f"| {row['page']} | `{row['path']}` | — | {what} | | | | | |")
            continue
        ok = "yes" if row["p95"] < 100 else "**no**"
        figures = f"{row['p50']:.1f} | {row['p95']:.1f} | {row['max']:.1f} | {row['cpu_ms']:.1f}"
        figures += f" | {row['bytes'] / 1024:.0f}"
        lines.append(f"| {row['page']} | `{row['path']}` | {row['variant']} | {figures} | {ok} |")
    if live:
        lines.append("\n### Live-update latency (ms)\n")
        lines.append("| path | p50 | p99 | min | max | trials |\n|---|---:|---:|---:|---:|---:|")
    if live.get("sse"):
        sse = live["sse"]
        lines.append(
            f"| SSE `batch` message, from the event's HTTP acknowledgement | {summary(sse['from_ack'])} |"
        )
        lines.append(f"| SSE `batch` message, from sending the event | {summary(sse['from_send'])} |")
    if live.get("browser"):
        browser = summary(live["browser"]["from_ack"])
        lines.append(
            f"| Chromium page refreshed (data-live-refreshes), from the acknowledgement | {browser} |"
        )
    lines.append("\n" + ", ".join(machine) + ".")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=200_000, help="most events per commit while loading")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per page and range")
    parser.add_argument("--trials", type=int, default=200, help="live-update trials over SSE (0: none)")
    parser.add_argument(
        "--browser-trials", type=int, default=100, help="live-update trials in Chromium (0: none)"
    )
    parser.add_argument("--dir", help="where the store goes (default: a temporary directory, removed after)")
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL URL (an empty database); default SQLite"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="measure a store an earlier --keep run left in --dir"
    )
    parser.add_argument("--keep", action="store_true", help="keep the store for --reuse")
    parser.add_argument("--quiet-wait", type=float, default=60, help="seconds to wait for an idle host")
    parser.add_argument("--json", help="write the raw figures to this file")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()

    directory = Path(args.dir or tempfile.mkdtemp(prefix="syncmon-dashboard-"))
    directory.mkdir(parents=True, exist_ok=True)
    settings = bench_settings(directory, args.database_url)
    info_path = directory / "stored.json"
    if args.reuse:
        info = json.loads(info_path.read_text())
        age = (time.time() * 1000 - info["now_ms"]) / 60_000
        print(f"reusing {info['events']:,} events stored {age:.0f} min ago", file=sys.stderr)
        upgrade_reused(settings, info)
    else:
        info = load(settings, args.events, args.chunk, args.seed)
    top_up(settings, info, args.seed)
    info_path.write_text(json.dumps(info))

    engine = create_store_engine(settings.effective_database_url)
    backend = engine.dialect.name
    machine = [*describe_machine(engine, backend), describe_source(None), platform.platform()]
    with engine.connect() as conn:
        shop = projects.find_project(conn, "shop")
    engine.dispose()
    assert shop is not None
    env = {
        "SYNCMON_DATA_DIR": settings.data_dir,
        "SYNCMON_DATABASE_URL": args.database_url,
        "SYNCMON_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SYNCMON_RATE_LIMIT_PER_KEY": "100000000/second",
        "SYNCMON_RATE_LIMIT_PER_IP": "100000000/second",
        "SYNCMON_LOG_LEVEL": "warning",
        "SYNCMON_LIVE_HEARTBEAT_SECONDS": "5",
    }
    server = Server(env, directory / "server.log").start()
    try:
        wait_for_quiet_host(args.quiet_wait)
        loads = [os.getloadavg()[0]]
        with logged_in(server.url) as client:
            pages = measure_pages(client, server, args.requests)
            live: dict[str, Any] = {}
            if args.trials:
                live["sse"] = measure_sse(server.url, client.cookies, shop.public_key, args.trials)
            if args.browser_trials:
                live["browser"] = measure_browser(
                    server.url, client.cookies, shop.public_key, args.browser_trials
                )
        loads.append(os.getloadavg()[0])
        machine.append(f"host load average {loads[0]:.1f} at the start and {loads[1]:.1f} at the end")
    finally:
        server.stop()
    print(report(info, pages, live, machine))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"stored": info, "pages": pages, "live": live, "machine": machine})
        )
    if not args.keep and not args.dir:
        for path in sorted(directory.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        directory.rmdir()
    slow = [row for row in pages if row["status"] == 200 and row["p95"] >= 100]
    lagging = any(statistics.median(found["from_ack"]) >= 1000 for found in live.values())
    return 1 if slow or lagging else 0


if __name__ == "__main__":
    sys.exit(main())
