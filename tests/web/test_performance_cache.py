"""The Performance page's numbers with closed days kept in memory, on SQLite and PostgreSQL:
the same as merging every rollup row of the range, from the cache while nothing changed, and
merged again as soon as a late event lands in a closed day."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from syncmon.events import Event, Kind
from syncmon.metrics import sketch_rollups as sr
from syncmon.metrics.sketches import MAPPING, Sketch, merge_encoded
from syncmon.pipeline.writer import Writer
from syncmon.store.schema import rollup_sketches
from syncmon.web.dashboard import slo_data
from syncmon.web.dashboard.closed_cache import ClosedCache, split_spans, today_start
from syncmon.web.dashboard.performance_data import ChartWindow, SketchReader, _groups
from syncmon.web.dashboard.performance_pages import load
from syncmon.web.dashboard.shell import RANGES
from tests.conftest import Store

MIN = 60_000
DAY = 86_400_000
NOW = 1_795_845_432_100  # 2026-11-28T03:57:12.1Z
PAGES = ["/", "/pricing", "/users/{id}", "/cart"]
ROUTES = ["GET /api/cart", "POST /api/orders", "GET /api/users/{id}"]


@pytest.fixture
def writer(store: Store) -> Iterator[Writer]:
    writer = Writer(store.engine, hooks=[sr.hook])
    writer.start()
    yield writer
    writer.stop()


def measurement(store: Store, rng: random.Random, ts: int) -> Event:
    if rng.random() < 0.6:
        metric = rng.choice(["LCP", "INP", "CLS", "FCP", "TTFB", "page_load_time"])
        value = rng.lognormvariate(0 if metric == "CLS" else 7, 0.6) / (10 if metric == "CLS" else 1)
        url = "https://shop.example" + rng.choice(PAGES).replace("{id}", str(rng.randrange(50)))
        return Event(
            project_id=store.project.id,
            kind=Kind.PERFORMANCE.value,
            name=metric,
            timestamp_ms=ts,
            received_ms=ts + 200,
            url=url,
            value=round(value, 3),
        )
    route = rng.choice(ROUTES)
    return Event(
        project_id=store.project.id,
        kind=Kind.REQUEST.value,
        name=route,
        timestamp_ms=ts,
        received_ms=ts + 200,
        value=round(rng.lognormvariate(5, 0.7), 2),
        data={"status": 500 if rng.random() < 0.03 else 200},
    )


async def fill(store: Store, writer: Writer, count: int, seed: int) -> None:
    rng = random.Random(seed)
    batch = [measurement(store, rng, NOW - rng.randrange(32 * DAY)) for _ in range(count)]
    for start in range(0, len(batch), 500):
        await writer.write(batch[start : start + 500])


def test_spans_split_at_midnight_into_whole_buckets() -> None:
    spans = [sr.Span(1440, 0, 4320), sr.Span(60, 4320, 4500), sr.Span(1, 4500, 4510)]
    closed, today = split_spans(spans, 2880)
    assert closed == (sr.Span(1440, 0, 2880),)
    assert today == (sr.Span(1440, 2880, 4320), sr.Span(60, 4320, 4500), sr.Span(1, 4500, 4510))
    assert today_start(NOW) == (NOW // MIN) - (NOW // MIN) % 1440


def test_the_cache_is_bounded_and_checks_versions() -> None:
    cache = ClosedCache(max_entries=2)
    cache.put("a", ((1, 0, 1),), "A")
    cache.put("b", ((1, 0, 1),), "B")
    assert cache.get("a", ((1, 0, 1),)) == "A"
    assert cache.get("a", ((1, 0, 2),)) is None  # a late write changed the day
    cache.put("c", (), "C")  # "b" was used least recently
    assert cache.get("b", ((1, 0, 1),)) is None and cache.get("c", ()) == "C" and len(cache) == 2


async def test_cached_pages_equal_merging_every_row(store: Store, writer: Writer) -> None:
    await fill(store, writer, 4000, seed=1)
    ids = [store.project.id]
    cache = ClosedCache()
    with store.engine.connect() as conn:
        for minutes in RANGES.values():
            plain = load(conn, ids, NOW, minutes, "LCP")
            assert load(conn, ids, NOW, minutes, "INP", cache) == load(conn, ids, NOW, minutes, "INP")
            assert load(conn, ids, NOW, minutes, "LCP", cache) == plain
            assert load(conn, ids, NOW, minutes, "LCP", cache) == plain, minutes
            # Against one merge of every row of the range (no split at midnight).
            window = ChartWindow.ending(NOW, minutes)
            reader = SketchReader(conn, tuple(ids), NOW)
            rows = reader.rows(rollup_sketches.c.name, window.spans, rollup_sketches.c.kind == "request")
            whole = {key: group.summary() for key, group in _groups(rows).items()}
            shown = {row.route: row for row in plain.routes}
            for route, summary in whole.items():
                if route in shown:
                    q = summary.quantiles(("p50", "p95", "p99"))
                    assert (shown[route].p50, shown[route].p95, shown[route].p99) == (
                        q["p50"],
                        q["p95"],
                        q["p99"],
                    )
                    assert (shown[route].count, shown[route].errors) == (summary.count, summary.errors)
    assert cache.hits > 0 and len(cache) > 0


async def test_a_late_event_in_a_closed_day_is_merged_at_once(store: Store, writer: Writer) -> None:
    await fill(store, writer, 1500, seed=2)
    ids = [store.project.id]
    cache = ClosedCache()
    with store.engine.connect() as conn:
        before = load(conn, ids, NOW, 43_200, "LCP", cache)
    hits = cache.hits
    # Today's values: the closed days are unchanged, so still from the cache.
    rng = random.Random(7)
    await writer.write([measurement(store, rng, NOW - MIN) for _ in range(50)])
    with store.engine.connect() as conn:
        today = load(conn, ids, NOW, 43_200, "LCP", cache)
        assert today == load(conn, ids, NOW, 43_200, "LCP")
    assert cache.hits > hits and today != before
    # A slow request ten days ago arrives now: the day's version changes.
    late = Event(
        project_id=store.project.id,
        kind=Kind.REQUEST.value,
        name="GET /api/cart",
        timestamp_ms=NOW - 10 * DAY,
        received_ms=NOW,
        value=90_000.0,
        data={"status": 500},
    )
    await writer.write([late])
    with store.engine.connect() as conn:
        after = load(conn, ids, NOW, 43_200, "LCP", cache)
        assert after == load(conn, ids, NOW, 43_200, "LCP")
    assert after.all_routes is not None and today.all_routes is not None
    assert after.all_routes.count == today.all_routes.count + 1
    assert after.all_routes.errors == today.all_routes.errors + 1


def test_count_above_bisects_to_what_a_walk_over_the_bins_counts() -> None:
    rng = random.Random(11)
    for _ in range(200):
        sketch = Sketch()
        for _ in range(rng.randrange(0, 300)):
            sketch.add(rng.choice([0.0, -3.0, rng.lognormvariate(6, 1.5)]))
        merged = merge_encoded([sketch.to_bytes(), sketch.to_bytes()])  # int bins, as pages read them
        for limit in (0.0, 1.0, 500.0, 2000.0, rng.uniform(0, 5000), 1e12):
            positive, _ = merged.bins()
            walked = sum(count for key, count in positive.items() if MAPPING.value(key) > limit)
            assert slo_data.count_above(merged, limit) == walked == slo_data.count_above(sketch, limit) * 2
