"""Query benchmark: p75 per page over 30 days of 10 M stored web vitals, on SQLite.

    .venv/bin/python bench/vitals_query.py                    # 10 M vitals, 30 days, 50 pages
    .venv/bin/python bench/vitals_query.py --events 1000000 --runs 20
    .venv/bin/python bench/vitals_query.py --all-minutes      # keep 30 days of minute rows too

What is stored. 10 M web-vital measurements (LCP, INP, CLS, FCP, TTFB: 2 M each) over the
30 days before a fixed "now" (2026-11-28 13:47:23 UTC, deliberately not on an hour, so a
30-day window has partial days, hours and minutes at both edges), on 50 pages whose
popularity follows a Zipf law (the top page gets ~22 % of traffic), with a daily traffic
cycle. Values are log-normal per metric (LCP median ~2.2 s, INP ~160 ms, CLS 35 % zeros, ...),
each page slower or faster by a factor of 0.6-2.5.

"Stored vitals" means the rollup rows those events produce, exactly as the writer hook
would leave them: a DDSketch (plus count, sum, good / needs-improvement / poor) per
(metric, page) and per (metric, all pages), per minute, hour and UTC day. The rows are
built in bulk with numpy (binning every value with the sketch's own `MAPPING.key`, so the
bins are the ones `Sketch.add` would make) and inserted directly into a migrated SQLite
store: it is the query that is measured, not the hook. Minute rows are kept for the last 7
days only, as retention keeps them (`--all-minutes` keeps all 30 days, to show that the
query does not depend on it); raw events are not loaded (the API never reads them).

What is measured: `page_summaries` for LCP over the 30-day window ending at "now" -- the
exact call behind GET /api/v1/performance/pages -- on a fresh connection each run, after
one warm-up run (the OS page cache is warm; the file is ~350 MB, more with --all-minutes).
p50 / p95 / max over --runs runs, the rows read and the pages returned. For comparison:
all metrics of all pages (`/performance/vitals`) over 30 d, 7 d and 24 h. The benchmark
checks its own answer: every page's p75 against the exact value of numpy over the raw
values the window covers (<= 1 %).
Prints Markdown tables. numpy is a benchmark-only dependency.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from syncmon.metrics import sketch_rollups as sr
from syncmon.metrics import vitals
from syncmon.metrics.sketches import MAPPING, encode_parts
from syncmon.store import migrate
from syncmon.store.engine import create_store_engine
from syncmon.store.schema import rollup_sketches

NOW_MS = int(datetime(2026, 11, 28, 13, 47, 23, tzinfo=UTC).timestamp() * 1000)
DAYS = 30
DAY_MS = 86_400_000
MINUTE_MS = 60_000
PROJECT_ID = 1
PAGES = 50
# metric: (median, sigma, share of exact zeros)
METRICS: dict[str, tuple[float, float, float]] = {
    "LCP": (2200.0, 0.55, 0.0),
    "INP": (160.0, 0.8, 0.0),
    "CLS": (0.05, 1.0, 0.35),
    "FCP": (1500.0, 0.5, 0.0),
    "TTFB": (450.0, 0.7, 0.0),
}
INSERT_COLUMNS = ", ".join(c.name for c in rollup_sketches.columns)


def page_paths() -> list[str]:
    sections = ["", "blog", "docs", "shop", "users/{id}", "pricing", "account", "search", "help", "news"]
    paths = ["/"]
    for i in range(1, PAGES):
        section = sections[i % len(sections)] or "landing"
        paths.append(f"/{section}/page-{i}")
    return paths


def generate(metric: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(minute, page index, value) of n measurements of one metric."""
    median, sigma, zeros = METRICS[metric]
    first_minute = (NOW_MS - DAYS * DAY_MS) // MINUTE_MS
    span = DAYS * 1440
    # A daily cycle: traffic at 04:00 UTC is a fifth of traffic at 16:00.
    minutes = rng.integers(0, span, size=n * 2)
    hour = ((first_minute + minutes) % 1440) / 60
    weight = 0.6 + 0.4 * np.sin((hour - 10) / 24 * 2 * np.pi)
    minutes = minutes[rng.random(n * 2) < weight][:n]
    while len(minutes) < n:  # pragma: no cover - practically never
        minutes = np.concatenate([minutes, rng.integers(0, span, size=n - len(minutes))])
    popularity = 1 / np.arange(1, PAGES + 1) ** 1.1
    pages = rng.choice(PAGES, size=n, p=popularity / popularity.sum())
    slowness = np.random.default_rng(99).uniform(0.6, 2.5, PAGES)
    values = rng.lognormal(np.log(median), sigma, n) * slowness[pages]
    if zeros:
        values = np.where(rng.random(n) < zeros, 0.0, values)
    if metric != "CLS":
        values = np.round(values, 1)
    return first_minute + minutes, pages, values


def bin_keys(values: np.ndarray) -> np.ndarray:
    """MAPPING.key of every positive value (what Sketch.add uses); zeros get a sentinel."""
    keys = np.fromiter(
        (MAPPING.key(v) if v > MAPPING.min_possible else -(2**31) for v in values.tolist()),
        dtype=np.int64,
        count=len(values),
    )
    return keys


def rollup_rows(
    metric: str,
    minutes: np.ndarray,
    pages: np.ndarray,
    values: np.ndarray,
    keys: np.ndarray,
    paths: list[str],
    minute_floor: int,
) -> tuple[list[tuple[Any, ...]], dict[int, int]]:
    """The rows the hook would write for these events: every tier, per page and all pages."""
    limits = vitals.thresholds(metric)
    assert limits is not None
    rated = np.where(values <= limits.good, 0, np.where(values <= limits.poor, 1, 2))
    is_zero = keys == -(2**31)
    key_low = int(keys[~is_zero].min()) if (~is_zero).any() else 0
    key_offsets = np.where(is_zero, 0, keys - key_low + 1)  # 0 = the zero bucket
    width = int(key_offsets.max()) + 1
    rows: list[tuple[Any, ...]] = []
    per_tier: dict[int, int] = {}
    for tier in sr.TIERS:
        buckets = minutes - minutes % tier
        keep = buckets >= minute_floor if tier == sr.MINUTE else np.ones(len(buckets), dtype=bool)
        for page_dimension in (pages, np.full(len(pages), PAGES)):  # PAGES stands for all pages ("")
            b, p, v, k, r, z = (
                buckets[keep],
                page_dimension[keep],
                values[keep],
                key_offsets[keep],
                rated[keep],
                is_zero[keep],
            )
            cell = (b - b.min()) * (PAGES + 1) + p
            order = np.lexsort((k, cell))
            cell, b, p, v, k, r, z = cell[order], b[order], p[order], v[order], k[order], r[order], z[order]
            starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
            ends = np.r_[starts[1:], len(cell)]
            sums = np.add.reduceat(v, starts)
            mins = np.minimum.reduceat(v, starts)
            maxs = np.maximum.reduceat(v, starts)
            zero_counts = np.add.reduceat(z.astype(np.int64), starts)
            good = np.add.reduceat((r == 0).astype(np.int64), starts)
            needs = np.add.reduceat((r == 1).astype(np.int64), starts)
            poor = np.add.reduceat((r == 2).astype(np.int64), starts)
            pair = cell * width + k
            pair_starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
            pair_counts = np.diff(np.r_[pair_starts, len(pair)])
            pair_keys = k[pair_starts]
            pair_cell_index = np.searchsorted(starts, pair_starts, side="right") - 1
            pair_bounds = np.searchsorted(pair_cell_index, np.arange(len(starts) + 1))
            pk, pc = pair_keys.tolist(), pair_counts.tolist()
            for i, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
                lo, hi = int(pair_bounds[i]), int(pair_bounds[i + 1])
                run_keys, run_counts = pk[lo:hi], pc[lo:hi]
                if run_keys and run_keys[0] == 0:  # the zero bucket
                    run_keys, run_counts = run_keys[1:], run_counts[1:]
                if run_keys:
                    first = run_keys[0]
                    counts = [0] * (run_keys[-1] - first + 1)
                    for key, count in zip(run_keys, run_counts, strict=True):
                        counts[key - first] = count
                    positive: tuple[int, list[int]] = (first + key_low - 1, counts)
                else:
                    positive = (0, [])
                blob = encode_parts(
                    positive,
                    zero_count=int(zero_counts[i]),
                    total=float(sums[i]),
                    minimum=float(mins[i]),
                    maximum=float(maxs[i]),
                )
                page_index = int(p[start])
                rows.append(
                    (
                        PROJECT_ID,
                        "performance_metric",
                        metric,
                        tier,
                        int(b[start]),
                        "" if page_index == PAGES else paths[page_index],
                        end - start,
                        float(sums[i]),
                        int(good[i]),
                        int(needs[i]),
                        int(poor[i]),
                        0,
                        blob,
                    )
                )
            per_tier[tier] = per_tier.get(tier, 0) + len(starts)
    return rows, per_tier


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    result = fn()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="vitals in all (split over 5 metrics)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--all-minutes", action="store_true", help="keep 30 days of minute rows, not 7")
    parser.add_argument("--dir", help="where the SQLite file goes (default: a temporary directory)")
    args = parser.parse_args()

    directory = Path(args.dir or tempfile.mkdtemp(prefix="syncmon-vitals-"))
    path = directory / "vitals.db"
    if path.exists():
        path.unlink()
    engine = create_store_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    paths = page_paths()
    minute_floor = sr.tier_cutoffs(NOW_MS, 400)[sr.MINUTE] if not args.all_minutes else 0
    rng = np.random.default_rng(20261128)
    per_metric = args.events // len(METRICS)
    raw_lcp: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    load_started = time.perf_counter()
    tiers: dict[int, int] = {}
    for metric in METRICS:
        minutes, pages, values = generate(metric, per_metric, rng)
        keys = bin_keys(values)
        rows, per_tier = rollup_rows(metric, minutes, pages, values, keys, paths, minute_floor)
        for tier, count in per_tier.items():
            tiers[tier] = tiers.get(tier, 0) + count
        with engine.begin() as conn:
            placeholders = ", ".join("?" * len(rollup_sketches.columns))
            statement = f"INSERT INTO rollup_sketches ({INSERT_COLUMNS}) VALUES ({placeholders})"
            for start in range(0, len(rows), 50_000):
                conn.exec_driver_sql(statement, rows[start : start + 50_000])
        if metric == "LCP":
            raw_lcp = (minutes, pages, values)
        print(
            f"loaded {metric}: {len(rows):,} rows ({time.perf_counter() - load_started:.0f} s)",
            file=sys.stderr,
        )
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    load_seconds = time.perf_counter() - load_started
    engine.dispose()
    size_mb = path.stat().st_size / 1e6

    engine = create_store_engine(f"sqlite:///{path}")

    def read(fn: Callable[[sa.Connection], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with engine.connect() as conn:  # a connection per request, as Services.read does
                return fn(conn)

        return call

    since = NOW_MS - DAYS * DAY_MS
    queries: list[tuple[str, Callable[[], Any]]] = [
        (
            "p75 per page, LCP, 30 d (GET /performance/pages)",
            read(lambda c: sr.page_summaries(c, PROJECT_ID, "LCP", since, NOW_MS, NOW_MS)),
        ),
        (
            "p75 per page, LCP, 7 d",
            read(lambda c: sr.page_summaries(c, PROJECT_ID, "LCP", NOW_MS - 7 * DAY_MS, NOW_MS, NOW_MS)),
        ),
        (
            "all metrics, all pages, 30 d (GET /performance/vitals)",
            read(lambda c: sr.metric_summaries(c, PROJECT_ID, since, NOW_MS, NOW_MS)),
        ),
        (
            "all metrics, one page, 30 d (vitals?page=)",
            read(lambda c: sr.metric_summaries(c, PROJECT_ID, since, NOW_MS, NOW_MS, page=paths[3])),
        ),
        (
            "all metrics, all pages, 24 h",
            read(lambda c: sr.metric_summaries(c, PROJECT_ID, NOW_MS - DAY_MS, NOW_MS, NOW_MS)),
        ),
    ]
    results = []
    for label, fn in queries:
        times, found = timed(fn, args.runs)
        rows_read = sum(summary.rows for summary in found.values())
        results.append((label, times, len(found), rows_read))

    # Check the answer: each page's p75 against numpy over the raw values the window covers.
    assert raw_lcp is not None
    minutes, pages, values = raw_lcp
    spans = sr.plan(*sr.window_minutes(since, NOW_MS), NOW_MS)
    first, end = min(s.first for s in spans), max(s.end for s in spans)
    with engine.connect() as conn:
        found = sr.page_summaries(conn, PROJECT_ID, "LCP", since, NOW_MS, NOW_MS)
    inside = (minutes >= first) & (minutes < end)
    worst = 0.0
    for index, page in enumerate(paths):
        exact = float(np.quantile(values[inside & (pages == index)], 0.75, method="lower"))
        estimate = found[page].sketch.quantile(0.75)
        assert estimate is not None
        worst = max(worst, abs(estimate - exact) / exact)
    everything = float(np.quantile(values[inside], 0.75, method="lower"))
    overall = found[""].sketch.quantile(0.75)
    assert overall is not None
    worst = max(worst, abs(overall - everything) / everything)
    engine.dispose()

    print(f"## p75 per page over 30 days of {args.events:,} stored vitals (SQLite)\n")
    print("| what | value |")
    print("|---|---|")
    print(f"| vitals (events the rollups hold) | {per_metric * len(METRICS):,} ({per_metric:,} per metric) |")
    print(f"| metrics x pages | {len(METRICS)} x {PAGES} (+ all-pages rows) |")
    days = "30 days" if args.all_minutes else "7 days (retention)"
    print(f"| minute rows, kept {days} | {tiers[sr.MINUTE]:,} |")
    print(f"| hour rows | {tiers[sr.HOUR]:,} |")
    print(f"| day rows | {tiers[sr.DAY]:,} |")
    print(f"| database size | {size_mb:,.0f} MB |")
    print(f"| bulk load (numpy binning + inserts) | {load_seconds:.0f} s |")
    print(
        f"| window | {DAYS} days ending {datetime.fromtimestamp(NOW_MS / 1000, UTC):%Y-%m-%d %H:%M:%S} UTC |"
    )
    print(f"| plan per key | {', '.join(f'{s.buckets} x {s.tier} min' for s in spans)} |")
    print(f"| worst p75 error vs numpy, 50 pages + all | {worst * 100:.3f} % |")
    print(f"\n### Query latency, {args.runs} runs after one warm-up, fresh connection each\n")
    print("| query | groups | rows read | p50 (ms) | p95 (ms) | max (ms) | mean (ms) |")
    print("|---|---|---|---|---|---|---|")
    for label, times, groups, rows_read in results:
        print(
            f"| {label} | {groups} | {rows_read:,} | {percentile(times, 0.5):.1f} | "
            f"{percentile(times, 0.95):.1f} | {max(times):.1f} | {statistics.fmean(times):.1f} |"
        )
    cpu = platform.processor() or platform.machine()
    print(
        f"\nPython {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, SQLAlchemy {sa.__version__}, "
        f"{cpu}, {os.cpu_count()} CPUs."
    )
    if not args.dir:
        path.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        directory.rmdir()
    return 0 if worst <= 0.01 * (1 + 1e-9) else 1


if __name__ == "__main__":
    sys.exit(main())
