"""The Overview, the empty sections and the live stream against the real server, on both engines."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import httpx
import pytest

from syncmon.events import Event
from syncmon.metrics.rollups import apply_count_rollups
from syncmon.store import projects
from syncmon.web.dashboard import overview_data
from syncmon.web.dashboard.pages import SECTIONS
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard
from tests.support.live import LiveServer

ADMIN = "admin@localhost"
XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    settings = store.settings_with(live_heartbeat_seconds=0.3, live_stream_max_seconds=20.0)
    with LiveServer(settings, store.engine) as live:
        yield live


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        yield client


def ingest(client: httpx.Client, store: Store, path: str, payload: dict[str, object], **headers: str) -> None:
    reply = client.post(
        f"/api/monitoring/{path}?key={store.project.public_key}", json=payload, headers=headers
    )
    assert reply.status_code == 200, reply.text


def metric(html: str, slug: str, name: str) -> str:
    card = html.split(f'data-project="{slug}"', 1)[1].split("</article>", 1)[0]
    return card.split(f'data-metric="{name}"', 1)[1].split(">", 1)[1].split("<", 1)[0].strip()


def test_overview_counts_come_from_the_stored_rollups(
    server: LiveServer, admin: httpx.Client, store: Store
) -> None:
    empty = admin.get("/overview", params={"project": store.project.slug})
    assert metric(empty.text, store.project.slug, "events") == "0"
    assert metric(empty.text, store.project.slug, "error-rate") == "—"  # no events: no rate, not 0 %
    assert "No events in this range." in empty.text
    assert "No alert is firing or pending for syncscript." in empty.text
    with server.client() as client:
        for page in ("/", "/pricing", "/checkout"):
            ingest(client, store, "events", [{"kind": "page_view", "url": f"https://shop.example{page}"}])  # type: ignore[dict-item]
        ingest(client, store, "error", {"message": "payment failed", "url": "https://shop.example/checkout"})
    page = admin.get("/overview", params={"project": store.project.slug, "range": "1h"})
    slug = store.project.slug
    assert metric(page.text, slug, "events") == "4"
    assert metric(page.text, slug, "errors") == "1"
    assert metric(page.text, slug, "error-rate") == "25.0 %"
    assert metric(page.text, slug, "events-per-minute") == "0.07"  # 4 events / 60 minutes
    assert metric(page.text, slug, "open-issues") == "1"
    assert metric(page.text, slug, "threat") == "LOW"
    assert '<svg class="spark"' in page.text and "<polyline points=" in page.text
    assert "payment failed" in page.text and "https://shop.example/checkout" in page.text
    # All projects: the monitor's own project has a card of its own, marked as such.
    every = admin.get("/overview")
    own = store.settings.monitor_project
    assert f'data-project="{own}"' in every.text and "this monitor" in every.text
    assert metric(every.text, own, "events") == "1"  # the login above: an authn_login_success


def test_ingested_markup_is_shown_as_text(server: LiveServer, admin: httpx.Client, store: Store) -> None:
    with server.client() as client:
        ingest(
            client,
            store,
            "error",
            {"message": XSS, "url": f"https://shop.example/?q={XSS}"},
            **{"User-Agent": XSS},
        )
        ingest(client, store, "events", [{"kind": "custom", "name": "signup", "properties": {"plan": XSS}}])  # type: ignore[dict-item]
    page = admin.get("/overview", params={"project": store.project.slug})
    assert XSS not in page.text
    escaped = XSS.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    assert page.text.count(escaped) >= 4  # message, URL, user agent, property
    assert '<span class="key">plan</span>' in page.text


def test_project_and_range_live_in_the_url(admin: httpx.Client, store: Store) -> None:
    page = admin.get("/overview", params={"project": store.project.slug, "range": "7d"})
    assert "Last 7 days" in page.text
    assert f'href="/security?project={store.project.slug}&amp;range=7d"' in page.text
    assert f'<option value="{store.project.slug}" selected>' in page.text
    unknown = admin.get("/overview", params={"project": "<b>nope</b>", "range": "forever"})
    assert "There is no project “&lt;b&gt;nope&lt;/b&gt;”" in unknown.text
    assert "“forever” is not a time range" in unknown.text
    assert admin.get("/?range=24h").headers["location"] == "/overview?range=24h"


def test_sections_not_built_yet_say_what_will_be_there(admin: httpx.Client) -> None:
    for section in SECTIONS:
        page = admin.get(f"/{section.key}")
        assert page.status_code == 200
        assert section.summary in page.text and "This page is not built yet" in page.text
        assert 'aria-current="page"' in page.text.split(f'href="/{section.key}', 1)[1].split(">", 1)[0]


def read_events(lines: Iterator[str], wanted: str, limit: int = 200) -> dict[str, object]:
    """The data of the next SSE message named `wanted`."""
    name = None
    for _, line in zip(range(limit), lines, strict=False):
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name == wanted:
            found: dict[str, object] = json.loads(line.removeprefix("data: "))
            return found
    raise AssertionError(f"no {wanted} message")


def test_the_live_stream_sends_one_message_per_committed_batch(
    server: LiveServer, admin: httpx.Client, store: Store
) -> None:
    slug = store.project.slug
    with admin.stream("GET", "/live", params={"project": slug}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        lines = stream.iter_lines()
        assert read_events(lines, "hello") == {"project": slug}
        assert "time" in read_events(lines, "heartbeat")
        with server.client() as client:
            Dashboard(client).login(ADMIN, "wrong password")  # an event of another project: not sent
            ingest(client, store, "error", {"message": "boom"})
        message = read_events(lines, "batch")
    assert list(message["projects"]) == [slug]  # type: ignore[call-overload]
    assert message["projects"][slug] == {"events": 1, "kinds": {"error": 1}}  # type: ignore[index]
    assert isinstance(message["seq"], int) and message["seq"] > 0


def test_the_live_stream_needs_a_login_and_a_known_project(server: LiveServer, admin: httpx.Client) -> None:
    with server.client() as anonymous:
        refused = anonymous.get("/live")
    assert refused.status_code == 401 and "error" in refused.json()
    unknown = admin.get("/live", params={"project": "nope"})
    assert unknown.status_code == 404 and unknown.json() == {
        "error": "project 'nope' not found",
        "field": "project",
    }


def test_a_live_stream_ends_after_its_maximum_length(store: Store) -> None:
    settings = store.settings_with(live_heartbeat_seconds=0.2, live_stream_max_seconds=0.5)
    with LiveServer(settings, store.engine) as live, live.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        with client.stream("GET", "/live") as stream:
            text = "".join(stream.iter_text())  # returns once the server ends the stream
    assert text.startswith("retry: 3000\nevent: hello")
    with store.engine.connect() as conn:
        assert projects.find_project(conn, store.settings.monitor_project) is not None


def test_event_properties_are_shown_as_sent() -> None:
    event = Event(
        project_id=1,
        kind="custom",
        name="signup",
        timestamp_ms=0,
        received_ms=0,
        data={"properties": {"plan": "pro", "seats": 3, "trial": False, "tags": ["a", "b"], "_x": 1}},
    )
    assert overview_data.event_properties(event) == (
        ("plan", "pro"),
        ("seats", "3"),
        ("trial", "false"),
        ("tags", '["a","b"]'),
    )
    flat = Event(
        project_id=1,
        kind="error",
        name="javascript_error",
        timestamp_ms=0,
        received_ms=0,
        data={
            "message": "m",
            "user_agent": "ua",
            "_issue": {"id": 1},
            "culprit": "app.js",
            "order": "x" * 500,
        },
    )
    assert overview_data.event_properties(flat) == (("order", "x" * 159 + "…"),)


@pytest.mark.parametrize(
    ("range_minutes", "step", "points"),
    [(15, 1, 15), (60, 2, 30), (360, 15, 25), (1440, 60, 25), (10_080, 360, 29), (43_200, 1440, 31)],
)
def test_a_range_starts_on_a_whole_step(range_minutes: int, step: int, points: int) -> None:
    now = 1_767_225_600_000 + 10 * 86_400_000 + 13 * 3_600_000 + 27 * 60_000  # 13:27 UTC
    window = overview_data.Window.ending(now, range_minutes)
    assert (window.step, window.points) == (step, points)
    assert window.first % step == 0 and window.end == now // 60_000 + 1
    assert window.end - range_minutes - step < window.first <= window.end - range_minutes


def test_thirty_days_count_every_event_of_the_whole_days(store: Store) -> None:
    """The 30-day glance starts at a UTC midnight and reads day rows; its numbers are those of
    the raw events in the window."""
    now = 1_767_225_600_000 + 40 * 86_400_000 + 13 * 3_600_000 + 27 * 60_000
    rng = random.Random(3)
    pid = store.project.id
    events = [
        Event(
            project_id=pid,
            kind=rng.choice(("error", "custom", "page_view")),
            name=rng.choice(("a", "b")),
            timestamp_ms=rng.randrange(now - 32 * 86_400_000, now + 120_000),
            received_ms=now,
        )
        for _ in range(2000)
    ]
    with store.engine.begin() as conn:
        apply_count_rollups(conn, events)
    with store.engine.connect() as conn:
        (glance,) = overview_data.glances(conn, [store.project], now, 43_200, 3_600_000, "monitor")
    window = overview_data.Window.ending(now, 43_200)
    inside = [e for e in events if window.first <= e.timestamp_ms // 60_000 < window.end]
    assert glance.total == len(inside) and glance.total < len(events)
    assert glance.errors == sum(1 for e in inside if e.kind == "error")
    assert glance.per_minute == len(inside) / window.minutes
    assert len(glance.series) == 31 and sum(glance.series) == glance.total
    assert glance.series[0] == sum(1 for e in inside if e.timestamp_ms // 60_000 < window.first + 1440)
