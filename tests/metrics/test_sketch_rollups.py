"""Quantile and page-view rollups on both engines: the hook, the tier plan, windows, retention."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from syncmon.events import Event, Kind
from syncmon.metrics import sketch_rollups as sr
from syncmon.metrics.rollups import apply_count_rollups
from syncmon.metrics.sketches import RELATIVE_ACCURACY, Sketch
from syncmon.pipeline.writer import Writer
from syncmon.store.schema import rollup_dimensions, rollup_sketches, rollup_visitors
from tests.conftest import Store

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
DAY0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
PAGES = ("/", "/pricing", "/users/{id}")


def vital(store: Store, name: str, value: float, at_ms: int, url: str | None, **extra: Any) -> Event:
    return Event(
        project_id=store.project.id,
        kind=Kind.PERFORMANCE.value,
        name=name,
        timestamp_ms=at_ms,
        received_ms=at_ms,
        url=url,
        value=value,
        **extra,
    )


def request(store: Store, name: str, duration: float, status: int, at_ms: int) -> Event:
    return Event(
        project_id=store.project.id,
        kind=Kind.REQUEST.value,
        name=name,
        timestamp_ms=at_ms,
        received_ms=at_ms,
        value=duration,
        data={"status": status},
        trusted=True,
    )


def apply(store: Store, events: Sequence[Event], batch: int = 500) -> None:
    for start in range(0, len(events), batch):
        with store.engine.begin() as conn:
            sr.hook(conn, events[start : start + batch])


def sketch_of(values: Sequence[float]) -> Sketch:
    sketch = Sketch()
    for value in values:
        sketch.add(value)
    return sketch


def exact(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def assert_close(estimate: float | None, truth: float) -> None:
    assert estimate is not None
    assert abs(estimate - truth) <= RELATIVE_ACCURACY * abs(truth) * 1.0001 + 1e-12, (estimate, truth)


def in_window(at_ms: int, since_ms: int, until_ms: int) -> bool:
    """What a window covers: whole minutes, rounded outward."""
    first, end = sr.window_minutes(since_ms, until_ms)
    return first <= at_ms // MINUTE_MS < end


@pytest.fixture
def lcp_events(store: Store) -> list[Event]:
    """3,000 LCP values over three days and three pages (one page with ids in its URLs)."""
    rng = random.Random(11)
    events = []
    for i in range(3000):
        at = DAY0 + rng.randrange(3 * DAY_MS)
        page = rng.choice(["https://shop.example/", "https://shop.example/pricing?x=1", None])
        if page is None:
            page = f"https://shop.example/users/{rng.randrange(1000)}#top"
        value = rng.lognormvariate(7.6, 0.6) if i % 10 else rng.choice([0.0, 12000.0])
        events.append(vital(store, "LCP" if i % 3 else "lcp", value, at, page))
    apply(store, events, batch=333)
    return events


WINDOWS = [
    (DAY0 + 5 * HOUR_MS + 17 * MINUTE_MS + 13_000, DAY0 + 2 * DAY_MS + 13 * HOUR_MS + 41 * MINUTE_MS + 7_000),
    (DAY0 + 3 * HOUR_MS, DAY0 + DAY_MS + 4 * HOUR_MS),
    (DAY0 + DAY_MS, DAY0 + 2 * DAY_MS),
    (DAY0 + 22 * HOUR_MS + 30 * MINUTE_MS, DAY0 + DAY_MS + 1 * HOUR_MS + 5 * MINUTE_MS),
    (DAY0 + 10 * HOUR_MS + 5 * MINUTE_MS, DAY0 + 10 * HOUR_MS + 50 * MINUTE_MS),
    (DAY0 - DAY_MS, DAY0 + 4 * DAY_MS),
]


def test_windows_equal_the_raw_values(store: Store, lcp_events: list[Event]) -> None:
    for since, until in WINDOWS:
        check_window(store, lcp_events, since, until)


def check_window(store: Store, lcp_events: list[Event], since: int, until: int) -> None:
    """Whatever mix of day, hour and minute rows covers the window, the merged sketch is
    the sketch of the raw values in it, and its percentiles are within 1 % of exact."""
    with store.engine.connect() as conn:
        by_metric = sr.metric_summaries(conn, store.project.id, since, until, None)
        by_page = sr.page_summaries(conn, store.project.id, "lcp", since, until, None)
    inside = [e for e in lcp_events if in_window(e.timestamp_ms, since, until)]
    values = [e.value or 0.0 for e in inside]
    summary = by_metric["LCP"]
    assert set(by_metric) == {"LCP"}
    assert summary.sketch.bins() == sketch_of(values).bins()
    assert summary.count == summary.sketch.size == len(values)
    assert summary.sketch.zero_count == values.count(0.0)
    for name, q in sr.QUANTILES.items():
        assert_close(summary.quantiles()[name], exact(values, q))
    assert summary.average() == pytest.approx(sum(values) / len(values), rel=1e-4)
    assert set(by_page) == {"", *PAGES}
    assert by_page[""].sketch.bins() == summary.sketch.bins()
    for page in PAGES:
        page_values = [e.value or 0.0 for e in inside if sr.page_of(e.url) == page]
        assert by_page[page].count == len(page_values)
        assert_close(by_page[page].sketch.quantile(0.75), exact(page_values, 0.75))
    rated = summary.good + summary.needs_improvement + summary.poor
    assert rated == len(values)
    assert summary.good == sum(v <= 2500 for v in values)
    assert summary.poor == sum(v > 4000 for v in values)
    # The rows read are bounded by the plan, not by the events.
    spans = sr.plan(*sr.window_minutes(since, until))
    assert summary.rows <= sum(s.buckets for s in spans)


def test_empty_windows(store: Store, lcp_events: list[Event]) -> None:
    with store.engine.connect() as conn:
        before = sr.metric_summaries(conn, store.project.id, DAY0 - 5 * DAY_MS, DAY0 - DAY_MS, None)
        other_page = sr.metric_summaries(conn, store.project.id, DAY0, DAY0 + DAY_MS, None, page="/nope")
        other_metric = sr.page_summaries(conn, store.project.id, "INP", DAY0, DAY0 + DAY_MS, None)
        other_project = sr.metric_summaries(conn, store.project.id + 99, DAY0, DAY0 + DAY_MS, None)
        no_span = sr.metric_summaries(conn, store.project.id, DAY0, DAY0, None)
    assert before == other_page == other_metric == other_project == no_span == {}


def test_batches_merge_into_the_same_rows(store: Store, lcp_events: list[Event]) -> None:
    """333-event batches (merged into stored rows) leave what one batch would have written."""
    fresh = sr.sketch_cells(lcp_events)
    with store.engine.connect() as conn:
        stored = {
            (r.project_id, r.kind, r.name, r.tier, r.bucket, r.page): r
            for r in conn.execute(sa.select(rollup_sketches))
        }
    assert set(stored) == set(fresh)
    for key, cell in fresh.items():
        row = stored[key]
        sketch = cell.values.to_sketch()
        assert Sketch.from_bytes(row.sketch).bins() == sketch.bins()
        assert row._mapping["count"] == sketch.size
        assert row.value_sum == pytest.approx(sketch.total)
        assert (row.good, row.needs_improvement, row.poor) == (cell.good, cell.needs_improvement, cell.poor)
    tiers = {key[3] for key in stored}
    assert tiers == {1, 60, 1440}


async def test_through_the_writer(store: Store) -> None:
    """As the server runs it: a hook of the group-commit writer, concurrent batches."""
    writer = Writer(store.engine, hooks=[apply_count_rollups, sr.hook])
    writer.start()
    rng = random.Random(3)
    batches = [
        [vital(store, "INP", rng.expovariate(1 / 150), DAY0 + rng.randrange(DAY_MS), "/a") for _ in range(20)]
        for _ in range(30)
    ]
    try:
        await asyncio.gather(*(writer.write(batch) for batch in batches))
    finally:
        writer.stop()
    values = [e.value or 0.0 for batch in batches for e in batch]
    with store.engine.connect() as conn:
        found = sr.metric_summaries(conn, store.project.id, DAY0, DAY0 + DAY_MS, None, page="/a")
    assert found["INP"].count == 600
    assert found["INP"].sketch.bins() == sketch_of(values).bins()


def test_cls_zeros_and_ratings(store: Store) -> None:
    values = [0.0, 0.0, 0.0, 0.05, 0.1, 0.2, 0.25, 0.3, 1.5]
    apply(store, [vital(store, "CLS", v, DAY0 + i, "/") for i, v in enumerate(values)])
    with store.engine.connect() as conn:
        cls = sr.metric_summaries(conn, store.project.id, DAY0, DAY0 + HOUR_MS, None)["CLS"]
    assert cls.sketch.zero_count == 3
    assert cls.quantiles()["p50"] == pytest.approx(0.1, rel=0.01)
    assert (cls.good, cls.needs_improvement, cls.poor) == (5, 2, 2)
    assert cls.shares() == {
        "good": round(5 / 9, 4),
        "needs_improvement": round(2 / 9, 4),
        "poor": round(2 / 9, 4),
    }


def test_other_metrics_bots_and_odd_values(store: Store) -> None:
    events = [
        vital(store, "page_load_time", 1200.0, DAY0, "/"),
        vital(store, "page_load_time", 900.0, DAY0, None),
        vital(store, "LCP", 1000.0, DAY0, "/", is_bot=True),
        vital(store, "LCP", float("nan"), DAY0, "/"),
        Event(
            project_id=store.project.id,
            kind="performance_metric",
            name="LCP",
            timestamp_ms=DAY0,
            received_ms=DAY0,
        ),
        Event(
            project_id=store.project.id,
            kind="custom",
            name="LCP",
            timestamp_ms=DAY0,
            received_ms=DAY0,
            value=3.0,
        ),
    ]
    apply(store, events)
    with store.engine.connect() as conn:
        found = sr.metric_summaries(conn, store.project.id, DAY0, DAY0 + MINUTE_MS, None)
        root = sr.metric_summaries(conn, store.project.id, DAY0, DAY0 + MINUTE_MS, None, page="/")
    assert set(found) == {"page_load_time"}
    assert found["page_load_time"].count == 2
    assert root["page_load_time"].count == 1
    assert found["page_load_time"].shares() == {"good": None, "needs_improvement": None, "poor": None}


def test_routes_and_errors(store: Store) -> None:
    events = [
        request(store, "GET /users/1", 20.0, 200, DAY0),
        request(store, "GET /users/22", 40.0, 503, DAY0 + 1000),
        request(store, "GET /users/333?full=1", 60.0, 500, DAY0 + HOUR_MS),
        request(store, "POST /login", 300.0, 401, DAY0 + 2 * HOUR_MS),
    ]
    apply(store, events)
    with store.engine.connect() as conn:
        routes = sr.route_summaries(conn, store.project.id, DAY0, DAY0 + DAY_MS, None)
    assert set(routes) == {"", "GET /users/{id}", "POST /login"}
    users = routes["GET /users/{id}"]
    assert (users.count, users.errors) == (3, 2)
    assert users.quantiles()["p50"] == pytest.approx(40.0, rel=0.01)
    assert (routes[""].count, routes[""].errors) == (4, 2)
    assert routes["POST /login"].errors == 0


def near(estimate: int, truth: int) -> bool:
    """A HyperLogLog count: linear counting is all but exact for small numbers."""
    return abs(estimate - truth) <= max(1, 0.02 * truth)


def page_view(store: Store, url: str, at_ms: int, **fields: Any) -> Event:
    data = fields.pop("data", {})
    return Event(
        project_id=store.project.id,
        kind=Kind.PAGE_VIEW.value,
        name="page_view",
        timestamp_ms=at_ms,
        received_ms=at_ms,
        url=url,
        data=data,
        **fields,
    )


def test_pageview_rollups(store: Store) -> None:
    rng = random.Random(5)
    events = []
    for i in range(400):
        at = DAY0 + rng.randrange(2 * DAY_MS)
        referrer = rng.choice(
            ["https://www.google.com/search?q=x", "https://news.ycombinator.com/item", None]
        )
        events.append(
            page_view(
                store,
                rng.choice(["https://shop.example/", "https://shop.example/blog/7"]),
                at,
                session_id=f"s{i % 40}",
                browser=rng.choice(["Chrome", "Firefox"]),
                os="Linux",
                device=rng.choice(["desktop", "mobile", None]),
                data={"referrer": referrer} if referrer else {},
            )
        )
    bots = [page_view(store, "https://shop.example/", DAY0 + 5, is_bot=True, session_id="bot")]
    internal = [
        page_view(
            store,
            "https://shop.example/x",
            DAY0 + 5 * HOUR_MS,
            # A fixed visitor: one keyed by a random event id would make the count's error random.
            session_id="internal",
            data={"referrer": "https://shop.example/"},
        )
    ]
    apply(store, [*events, *bots, *internal], batch=97)
    since, until = DAY0 + 3 * HOUR_MS + 7 * MINUTE_MS, DAY0 + DAY_MS + 20 * HOUR_MS
    inside = [e for e in [*events, *internal] if in_window(e.timestamp_ms, since, until)]
    with store.engine.connect() as conn:
        report = sr.pageview_report(conn, store.project.id, since, until, None, 60, 10)
        daily = sr.pageview_report(conn, store.project.id, DAY0, DAY0 + 2 * DAY_MS, None, 1440, 1)
    assert report.views == len(inside)
    assert near(report.visitors, len({sr.visitor_of(e) for e in inside}))
    pages = dict(report.top["page"])
    assert pages == {
        "/": sum(e.url == "https://shop.example/" for e in inside),
        "/blog/{id}": sum(e.url == "https://shop.example/blog/7" for e in inside),
        "/x": 1,
    }
    referrers = dict(report.top["referrer"])
    assert set(referrers) == {"google.com", "news.ycombinator.com", "(direct)"}
    assert sum(referrers.values()) == len(inside) - 1  # the internal link is not a referrer
    assert dict(report.top["device"]).get("Unknown", 0) == sum(e.device is None for e in inside)
    assert sum(n for _, n in report.top["browser"]) == len(inside)
    assert [t for t, _, _ in report.series] == list(
        range(since // MINUTE_MS // 60 * 60, until // MINUTE_MS, 60)
    )
    assert sum(n for _, n, _ in report.series) == report.views
    for start, views, visitors in report.series:
        piece = [e for e in inside if start <= e.timestamp_ms // MINUTE_MS < start + 60]
        assert views == len(piece)
        assert near(visitors, len({sr.visitor_of(e) for e in piece}))
    assert len(daily.series) == 2 and len(daily.top["page"]) == 1
    assert daily.views == len(events) + 1
    # Many pieces: the window's visitors come from its own plan, not from merging pieces.
    since, until = DAY0 + 2 * HOUR_MS, DAY0 + 5 * HOUR_MS
    with store.engine.connect() as conn:
        minutes = sr.pageview_report(conn, store.project.id, since, until, None, 1, 3)
    inside = [e for e in [*events, *internal] if in_window(e.timestamp_ms, since, until)]
    assert len(minutes.series) == 180
    assert minutes.views == sum(n for _, n, _ in minutes.series) == len(inside)
    assert near(minutes.visitors, len({sr.visitor_of(e) for e in inside}))


def test_visitor_identity() -> None:
    base = {"project_id": 1, "kind": "page_view", "name": "page_view", "timestamp_ms": 0, "received_ms": 0}
    assert sr.visitor_of(Event(**base, data={"distinct_id": "abc"}, user_id="u")) == "d:abc"
    assert sr.visitor_of(Event(**base, data={"properties": {"$distinct_id": 5}})) == "d:5"
    assert sr.visitor_of(Event(**base, user_id="u", session_id="s")) == "u:u"
    assert sr.visitor_of(Event(**base, session_id="s")) == "s:s"
    ip = Event(**base, client_ip="10.0.0.1", data={"user_agent": "UA"})
    assert sr.visitor_of(ip) == "ip:10.0.0.1|UA"
    assert sr.visitor_of(Event(**base, id="e1")) == "e:e1"


@pytest.mark.parametrize(
    ("url", "page"),
    [
        ("https://a.example/users/123/orders/9?x=1#y", "/users/{id}/orders/{id}"),
        ("https://a.example", "/"),
        ("/blog/hello-world/", "/blog/hello-world"),
        ("/items/550e8400-e29b-41d4-a716-446655440000", "/items/{id}"),
        ("/t/5f2b9c0a1d3e4f5a6b7c8d9e", "/t/{id}"),
        ("/blog/a-very-long-but-ordinary-article-slug", "/blog/a-very-long-but-ordinary-article-slug"),
        ("/v2/2024", "/v2/{id}"),
        ("//cdn.example/x", "/x"),
        ("relative/path", None),
        ("", None),
        (None, None),
        ("https://[bad", None),
    ],
)
def test_page_normalisation(url: str | None, page: str | None) -> None:
    assert sr.page_of(url) == page


def test_route_and_metric_names() -> None:
    assert sr.route_name("GET /users/42?x=1") == "GET /users/{id}"
    assert sr.route_name("GET /users/{id}") == "GET /users/{id}"
    assert sr.route_name("weird") == "weird"
    assert sr.metric_name("lcp") == "LCP"
    assert sr.metric_name("largest_contentful_paint") == "LCP"
    assert sr.metric_name("page_load_time") == "page_load_time"
    route = Event(project_id=1, kind="performance_metric", name="LCP", timestamp_ms=0, received_ms=0)
    route.url, route.data = "https://a.example/blog/7", {"route": "/blog/[slug]"}
    assert sr.event_page(route) == "/blog/[slug]"


def test_referrers() -> None:
    def ref(raw: Any, url: str = "https://shop.example/") -> str | None:
        event = Event(project_id=1, kind="page_view", name="page_view", timestamp_ms=0, received_ms=0)
        event.url, event.data = url, {"referrer": raw} if raw is not None else {}
        return sr.referrer_of(event)

    assert ref(None) == "(direct)"
    assert ref("$direct") == "(direct)"
    assert ref("https://www.Google.com/") == "google.com"
    assert ref("android-app://com.slack/") == "com.slack"
    assert ref("https://shop.example/other") is None
    assert ref("t.co") == "t.co"


# --- the plan ------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200_000), st.integers(0, 200_000))
def test_plan_covers_the_window_once_with_few_rows(first: int, length: int) -> None:
    end = first + length
    spans = sr.plan(first, end)
    covered = sorted((s.first, s.end) for s in spans)
    position = first
    for low, high in covered:
        assert low == position
        position = high
    assert position == max(first, end)
    for span in spans:
        assert span.first % span.tier == 0 and span.end % span.tier == 0
        assert span.end > span.first
    per_tier = {tier: sum(s.buckets for s in spans if s.tier == tier) for tier in sr.TIERS}
    assert per_tier[sr.MINUTE] <= 2 * 59
    assert per_tier[sr.HOUR] <= 2 * 23
    assert per_tier[sr.DAY] <= length // 1440


def test_plan_of_thirty_days() -> None:
    now = DAY0 + 17 * HOUR_MS + 23 * MINUTE_MS + 5_000
    spans = sr.plan(*sr.window_minutes(now - 30 * DAY_MS, now))
    per_tier = {tier: sum(s.buckets for s in spans if s.tier == tier) for tier in sr.TIERS}
    assert per_tier == {sr.DAY: 29, sr.HOUR: 6 + 17, sr.MINUTE: 37 + 24}


def test_plan_rounds_edges_past_the_fine_tiers_retention() -> None:
    now = DAY0 + 200 * DAY_MS + 5 * HOUR_MS + 30 * MINUTE_MS
    first, end = sr.window_minutes(now - 30 * DAY_MS, now)
    spans = sr.plan(first, end, now)
    assert min(s.first for s in spans) == first - first % 60  # the minutes 30 days ago are gone
    assert {s.tier for s in spans if s.first < first} == {sr.HOUR}
    first, end = sr.window_minutes(now - 120 * DAY_MS, now - 100 * DAY_MS)
    spans = sr.plan(first, end, now)
    assert {s.tier for s in spans} == {sr.DAY}
    assert min(s.first for s in spans) == first - first % 1440
    assert max(s.end for s in spans) == end - end % 1440 + 1440


def test_plan_reads_today_from_its_day_row_when_the_window_reaches_now() -> None:
    now = DAY0 + 5 * DAY_MS + 13 * HOUR_MS + 47 * MINUTE_MS + 23_000
    spans = sr.plan(*sr.window_minutes(now - 3 * DAY_MS, now), now)
    today = (now // DAY_MS) * DAY_MS // MINUTE_MS
    assert any(s.tier == sr.DAY and s.first <= today and s.end == today + 1440 for s in spans)
    assert sum(s.buckets for s in spans) == 1 + 2 + 10 + 13  # today, 2 days, 10 h, 13 min
    # A window that ends in the past keeps its exact end.
    past = sr.plan(*sr.window_minutes(now - 3 * DAY_MS, now - HOUR_MS), now)
    assert max(s.end for s in past) == (now - HOUR_MS) // MINUTE_MS + 1


def test_window_ending_now_equals_the_raw_values(store: Store) -> None:
    """Reading today's day row for 'until now' gives what the minutes up to now hold."""
    rng = random.Random(8)
    now = DAY0 + 2 * DAY_MS + 15 * HOUR_MS + 10 * MINUTE_MS
    events = [
        vital(store, "TTFB", rng.expovariate(1 / 600), now - rng.randrange(3 * DAY_MS), "/")
        for _ in range(800)
    ]
    apply(store, events)
    for hours in (1, 20, 40, 70):
        since = now - hours * HOUR_MS
        with store.engine.connect() as conn:
            found = sr.metric_summaries(conn, store.project.id, since, now, now)["TTFB"]
        values = [e.value or 0.0 for e in events if e.timestamp_ms // MINUTE_MS >= since // MINUTE_MS]
        assert found.sketch.bins() == sketch_of(values).bins(), hours
        assert_close(found.sketch.quantile(0.95), exact(values, 0.95))


# --- retention -----------------------------------------------------------------------------------


def test_retention_thins_the_fine_tiers_then_drops_everything(store: Store) -> None:
    now = DAY0 + 400 * DAY_MS
    ages = (1, 10, 50, 100, 200)
    events = []
    for age in ages:
        at = now - age * DAY_MS - 3 * HOUR_MS
        events.append(vital(store, "LCP", 1000.0, at, "/"))
        events.append(request(store, "GET /", 10.0, 200, at))
        events.append(page_view(store, "https://a.example/", at, session_id="s"))
    apply(store, events)

    def remaining() -> dict[str, set[tuple[int, int]]]:
        with store.engine.connect() as conn:
            return {
                table.name: {
                    (row.tier, (now // MINUTE_MS - row.bucket) // 1440)
                    for row in conn.execute(sa.select(table.c.tier, table.c.bucket))
                }
                for table in (rollup_sketches, rollup_dimensions, rollup_visitors)
            }

    deleted = 0
    for _ in range(10_000):
        step = 0
        with store.engine.begin() as conn:
            step = sr.delete_expired_sketch_rollups(conn, now, retention_days=150)
        deleted += step
        if step == 0:
            break
    assert deleted > 0
    # (tier, whole days between the bucket's start and now): a day row starts at midnight.
    expected = {(1, 1), (60, 1), (60, 10), (60, 50), *((1440, age + 1) for age in ages if age < 150)}
    for table, found in remaining().items():
        assert found == expected, table
    with store.engine.begin() as conn:
        assert sr.delete_expired_sketch_rollups(conn, now, retention_days=150) == 0


def test_tier_cutoffs_never_outlive_the_retention() -> None:
    cutoffs = sr.tier_cutoffs(DAY0, retention_days=3)
    assert set(cutoffs.values()) == {DAY0 // MINUTE_MS - 3 * 1440}
    cutoffs = sr.tier_cutoffs(DAY0, retention_days=400)
    assert cutoffs == {
        1: DAY0 // MINUTE_MS - 7 * 1440,
        60: DAY0 // MINUTE_MS - 90 * 1440,
        1440: DAY0 // MINUTE_MS - 400 * 1440,
    }


def test_keys_are_written_in_order(store: Store) -> None:
    """Rows are read and upserted in key order, so two writers on PostgreSQL lock alike."""
    cells = sr.sketch_cells(
        [
            vital(store, n, 5.0, DAY0 + i, p)
            for i, (n, p) in enumerate(itertools.product(["LCP", "INP", "FCP"], ["/b", "/a", "/c"]))
        ]
    )
    assert list(cells) != sorted(cells)  # the order they came in is not the key order
    captured: list[list[dict[str, Any]]] = []
    original = sr._upsert_replace

    def spy(conn: Any, table: sa.Table, rows: Sequence[dict[str, Any]], *args: Any) -> None:
        captured.append(list(rows))
        original(conn, table, rows, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sr, "_upsert_replace", spy)
        apply(
            store,
            [
                vital(store, n, 5.0, DAY0 + i, p)
                for i, (n, p) in enumerate(itertools.product(["LCP", "INP", "FCP"], ["/b", "/a", "/c"]))
            ],
        )
    keys = [tuple(row[c] for c in sr._SKETCH_KEY) for row in captured[0]]
    assert keys == sorted(keys)
