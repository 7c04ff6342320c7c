"""PostHog ingest benchmark: posthog-python-shaped batches to /batch/ at saturation.

    .venv/bin/python bench/posthog.py --engine sqlite --duration 10
    .venv/bin/python bench/posthog.py --engine sqlite,postgresql --quiet-wait 300

Builds the bodies posthog-python 7.x posts from its consumer thread: `{"batch": [...],
"historical_migration": false, "sent_at": ..., "api_key": <project public key>}` with
--batch-size events each (json.dumps as the library does), every event with its own uuid
(a repeated uuid would be deduplicated), `$lib`/`$lib_version`/`$geoip_disable` added as
the client adds them, and a mix of `$pageview` (40%), custom events with realistic
properties (45%: order_completed, feature_used, api_request, invite_sent) and `$identify`
with `$set`/`$set_once` (15%). wrk (bench/sentry.lua) posts them with 32 keep-alive
connections at saturation to a `syncmon serve` on a fresh store per engine:

  wrk-json   Content-Type: application/json, as posthog-python sends by default
  wrk-gzip   the same gzip-compressed (posthog-python's gzip=True)

Reports events/s acknowledged (requests x batch size), latency percentiles, server CPU,
peak RSS, and whether the rows stored match the events acknowledged. Prints Markdown.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.ingest import (  # noqa: E402
    PhaseResult,
    RssSampler,
    Server,
    commit_metrics,
    count_rows,
    describe_machine,
    describe_source,
    host_cpu_ticks,
    make_store,
    settled_count,
    start_profiler,
    stop_profiler,
    wait_for_quiet_host,
)
from bench.sentry import fill_result, run_wrk_records, write_headers, write_records  # noqa: E402

PHASES = ("wrk-json", "wrk-gzip")
# the installed posthog-python's (not imported: this file's name shadows the package)
LIB_VERSION = importlib.metadata.version("posthog")
PAGES = [
    "/",
    "/pricing",
    "/docs/getting-started",
    "/blog/launch-week",
    "/app/projects",
    "/app/settings/billing",
]
PLANS = ["free", "pro", "team", "enterprise"]
FEATURES = ["export_csv", "dashboards", "alerts", "sso", "api_keys", "saved_queries"]
SOURCES = ["google", "newsletter", "x"]
ENDPOINTS = ["/v1/projects", "/v1/events", "/v1/users/me", "/v1/reports/{id}", "/v1/billing/invoices"]


def _person(rng: random.Random) -> str:
    return f"user_{rng.randrange(20000)}" if rng.random() < 0.8 else str(uuid.UUID(int=rng.getrandbits(128)))


def make_event(rng: random.Random, now: datetime) -> dict[str, Any]:
    """One message as posthog-python's Client queues it (after _enqueue's enrichment)."""
    roll = rng.random()
    distinct_id = _person(rng)
    session = f"{rng.getrandbits(64):016x}"
    if roll < 0.40:
        path = rng.choice(PAGES)
        event = "$pageview"
        properties: dict[str, Any] = {
            "$current_url": f"https://www.example.com{path}?utm_source={rng.choice(SOURCES)}",
            "$host": "www.example.com",
            "$pathname": path,
            "$referrer": rng.choice(["https://www.google.com/", "$direct", "https://news.ycombinator.com/"]),
            "$session_id": session,
            "title": f"Example - {path.strip('/').replace('/', ' ').title() or 'Home'}",
            "$ip": f"203.0.113.{rng.randrange(1, 255)}",
            "$raw_user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        }
    elif roll < 0.85:
        kind = rng.randrange(4)
        if kind == 0:
            event = "order_completed"
            properties = {
                "order_id": f"ord_{rng.getrandbits(48):012x}",
                "revenue": round(rng.uniform(5, 900), 2),
                "currency": rng.choice(["EUR", "USD", "GBP"]),
                "items": rng.randrange(1, 8),
                "coupon": rng.choice([None, "SPRING24", "WELCOME10"]),
                "plan": rng.choice(PLANS),
            }
        elif kind == 1:
            event = "feature_used"
            properties = {
                "feature": rng.choice(FEATURES),
                "duration_ms": rng.randrange(20, 20000),
                "plan": rng.choice(PLANS),
                "$groups": {"company": f"company_{rng.randrange(800)}"},
            }
        elif kind == 2:
            event = "api_request"
            properties = {
                "endpoint": rng.choice(ENDPOINTS),
                "method": rng.choice(["GET", "GET", "POST", "PATCH"]),
                "status": rng.choice([200, 200, 200, 201, 400, 404, 500]),
                "duration_ms": round(rng.lognormvariate(4, 0.8), 1),
                "api_version": "2024-06-01",
            }
        else:
            event = "invite_sent"
            properties = {
                "role": rng.choice(["admin", "member", "viewer"]),
                "invitee_domain": rng.choice(["gmail.com", "example.org", "acme.io"]),
                "team_size": rng.randrange(1, 200),
            }
        properties["$session_id"] = session
    else:
        event = "$identify"
        anonymous = str(uuid.UUID(int=rng.getrandbits(128)))
        distinct_id = f"user_{rng.randrange(20000)}"
        properties = {
            "$anon_distinct_id": anonymous,
            "$set": {
                "email": f"{distinct_id}@example.com",
                "name": f"User {distinct_id[5:]}",
                "plan": rng.choice(PLANS),
                "company": f"company_{rng.randrange(800)}",
            },
            "$set_once": {"first_seen": (now - timedelta(days=rng.randrange(400))).date().isoformat()},
        }
    properties.update({"$lib": "posthog-python", "$lib_version": LIB_VERSION, "$geoip_disable": True})
    stamp = now - timedelta(milliseconds=rng.randrange(5000))
    return {
        "properties": properties,
        "timestamp": stamp.isoformat(),
        "distinct_id": distinct_id,
        "event": event,
        "uuid": str(uuid.uuid4()),
    }


def make_bodies(count: int, size: int, key: str, compress: bool, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        now = datetime.now(UTC)
        batch = [make_event(rng, now) for _ in range(size)]
        body = {"batch": batch, "historical_migration": False, "sent_at": now.isoformat(), "api_key": key}
        data = json.dumps(body).encode()
        bodies.append(gzip.compress(data) if compress else data)
    return bodies


def run_phase(
    args: argparse.Namespace,
    phase: str,
    server: Server,
    engine: sa.engine.Engine,
    key: str,
    workdir: Path,
    pool: list[bytes],
) -> PhaseResult:
    compressed = phase.endswith("gzip")
    bodies = write_records(workdir / f"{phase}.rec", pool)
    headers = {"Content-Type": "application/json", "User-Agent": f"posthog-python/{LIB_VERSION}"}
    if compressed:
        headers["Content-Encoding"] = "gzip"
    header_file = write_headers(workdir / f"{phase}.headers", headers)
    before = count_rows(engine)
    metrics_before = commit_metrics(server)
    profiler = start_profiler(args, phase, server) if args.profile_dir else None
    cpu_before, wall_before = server.cpu_seconds(), time.perf_counter()
    host_before = host_cpu_ticks()
    with RssSampler(server) as rss:
        raw = run_wrk_records(server.url + "/batch/", bodies, header_file, args.connections, args.duration)
        cpu_after, wall_after = server.cpu_seconds(), time.perf_counter()
        host_after = host_cpu_ticks()
        stop_profiler(profiler)
        result = PhaseResult(phase, f"saturation, {args.connections} conns", args.batch_size)
        fill_result(result, raw, False, args.connections)
        stored_after = settled_count(server, engine, key)
    result.stored = stored_after - before
    metrics_after = commit_metrics(server)
    result.commits = metrics_after["commits"] - metrics_before["commits"]
    result.commit_events = metrics_after["events"] - metrics_before["events"]
    result.commit_seconds = metrics_after["seconds"] - metrics_before["seconds"]
    result.cpu_percent = 100 * (cpu_after - cpu_before) / (wall_after - wall_before)
    busy, total = (after - before for after, before in zip(host_after, host_before, strict=True))
    result.host_cpu_percent = 100 * (os.cpu_count() or 1) * busy / total if total else 0.0
    result.rss_peak_mib = rss.peak_kib / 1024
    result.extra = {
        **raw,
        "pool": len(pool),
        "wrapped": result.requests + args.connections > len(pool),
        "wire_kib": sum(map(len, pool)) / len(pool) / 1024,
    }
    return result


COLUMNS = [
    ("phase", "---"),
    ("offered", "---"),
    ("events/s acked", "---:"),
    ("batches/s", "---:"),
    ("p50 ms", "---:"),
    ("p90 ms", "---:"),
    ("p99 ms", "---:"),
    ("max ms", "---:"),
    ("non-200 / errors", "---"),
    ("server CPU", "---:"),
    ("CPU µs/event", "---:"),
    ("host CPU", "---:"),
    ("RSS peak", "---:"),
    ("events/commit", "---:"),
    ("body KiB", "---:"),
    ("stored vs acked", "---"),
]


def markdown(results: list[PhaseResult]) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    lines = [row([title for title, _ in COLUMNS]), row([align for _, align in COLUMNS])]
    for r in results:
        per_commit = r.commit_events / r.commits if r.commits else 0.0
        stored = f"{r.stored:,} {r.store_check}" + (" (pool wrapped!)" if r.extra["wrapped"] else "")
        cells = [
            r.phase,
            r.offered,
            f"{r.events_per_s:,.0f}",
            f"{r.requests_per_s:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p90_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.1f}",
            f"{r.non_ok} / {r.errors}",
            f"{r.cpu_percent:.0f}%",
            f"{r.cpu_us_per_event:,.1f}",
            f"{r.host_cpu_percent:.0f}%",
            f"{r.rss_peak_mib:.0f} MiB",
            f"{per_commit:,.1f}",
            f"{r.extra['wire_kib']:.1f}",
            stored,
        ]
        lines.append(row(cells))
    return "\n".join(lines)


def run_engine(args: argparse.Namespace, backend: str) -> tuple[str, list[PhaseResult]]:
    args = argparse.Namespace(**{**vars(args), "engine": backend})
    with open("/proc/loadavg") as loadavg:
        load_before = " ".join(loadavg.read().split()[:3])
    workdir = Path(tempfile.mkdtemp(prefix="syncmon-bench-posthog-"))
    store = make_store(args, workdir)
    server = Server(store.env, workdir / "server.log")
    engine = sa.create_engine(store.url.replace("postgresql://", "postgresql+psycopg://", 1))
    results: list[PhaseResult] = []
    try:
        server.start()
        with engine.connect() as conn:
            key = str(
                conn.execute(sa.text("SELECT public_key FROM projects ORDER BY id LIMIT 1")).scalar_one()
            )
        began = time.perf_counter()
        pools = {
            phase: make_bodies(args.pool, args.batch_size, key, phase.endswith("gzip"), seed=index + 1)
            for index, phase in enumerate(args.phase_list)
        }
        print(f"built the batches in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
        for index, phase in enumerate(args.phase_list):
            if index:
                time.sleep(args.pause)
            if args.quiet_wait:
                wait_for_quiet_host(args.quiet_wait)
            print(f"[{backend}] running {phase} for {args.duration:g} s ...", file=sys.stderr, flush=True)
            result = run_phase(args, phase, server, engine, key, workdir, pools[phase])
            results.append(result)
            print(f"[{backend}] {phase}: {result.events_per_s:,.0f} events/s", file=sys.stderr, flush=True)
        machine = "; ".join(describe_machine(engine, backend))
    finally:
        server.stop()
        engine.dispose()
        store.close()
        if args.keep:
            print(f"store and server log kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    label = backend if backend == "postgresql" else f"sqlite, synchronous={args.synchronous}"
    text = (
        f"### PostHog /batch/ ({args.batch_size} events per batch), {label}\n\n{machine}; "
        f"{args.duration:g} s per phase; load average before {load_before}\n\n{markdown(results)}\n"
    )
    return text, results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--engine", default="sqlite,postgresql", help="sqlite, postgresql, or both (comma-separated)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--pool", type=int, default=3000, help="distinct batches per phase")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {PHASES}")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL", help="SQLite only")
    parser.add_argument("--pause", type=float, default=2.0)
    parser.add_argument("--quiet-wait", type=float, default=0.0, help="wait up to this long for an idle host")
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("SYNCMON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--profile-dir", help="py-spy raw stacks of the server per phase")
    parser.add_argument("--profile-mode", choices=("wall", "gil"), default="gil")
    parser.add_argument("--markdown", help="also append the tables to this file")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args.phase_list = [p.strip() for p in args.phases.split(",") if p.strip()]
    if set(args.phase_list) - set(PHASES):
        parser.error(f"unknown phases: {set(args.phase_list) - set(PHASES)}")
    out = [describe_source(None) + "\n"]
    everything: list[PhaseResult] = []
    for backend in [e.strip() for e in args.engine.split(",") if e.strip()]:
        text, results = run_engine(args, backend)
        out.append(text)
        everything += results
    report = "\n".join(out)
    print(report)
    if args.markdown:
        with open(args.markdown, "a") as handle:
            handle.write(report + "\n")
    return 1 if any(r.stored < r.acked_events for r in everything) else 0


if __name__ == "__main__":
    sys.exit(main())
