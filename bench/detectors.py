"""Detector benchmark: every default detector together over a synthetic stream, on one core.

    .venv/bin/python bench/detectors.py
    .venv/bin/python bench/detectors.py --signals 1000000 --ips 100000 --profile

Builds a realistic mix of security-relevant traffic from `--ips` distinct client IPs (all
of them active during the run) and feeds it, in receive-time order, through a project's
`DetectorSet` of every default detector exactly as `SecurityEngine` does (each signal goes
to the detectors that read its name; eviction by signal time once a minute). Reports, as a
Markdown table:

  signals/s    detectors only, over pre-built Signals (the target: >= 50,000/s)
  events/s     Event -> Signal conversion plus the detectors (SecurityEngine.observe)
  memory       tracemalloc peak and current of the detectors' state during the stream and
               after eviction an hour, a day and eight days later, with the entries held;
               process RSS (VmRSS / VmHWM) alongside

The mix (weights per signal): successful logins 22% (a quarter with a location), failed
logins 5%, 404s 20% (2% of them sensitive or admin paths), 403s 3%, data-access events
10%, 200 responses with query strings 40% (0.3% carrying an injection payload, 0.1% from
an attack tool's user agent). Time advances 1 ms per signal (1,000 signals per simulated
second), so each IP is seen a few times over the run. `--profile` adds the cProfile
hotspots of the detectors-only loop.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from syncmon.clock import SystemClock  # noqa: E402
from syncmon.events import Event, Kind  # noqa: E402
from syncmon.security.detection import Detector  # noqa: E402
from syncmon.security.detector_set import DetectorSet  # noqa: E402
from syncmon.security.engine import EVICT_EVERY_MS, SecurityEngine  # noqa: E402
from syncmon.security.registry import default_detectors  # noqa: E402
from syncmon.security.signals import Signal, signal_from_event  # noqa: E402

T0 = 1_767_225_600_000
PROJECT = 1
TARGET = 50_000
SITE = "https://shop.example"
BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"
TOOL_UA = "sqlmap/1.7.2#stable (https://sqlmap.org)"
SENSITIVE = ["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/", "/backup.zip", "/admin/config.php"]
PAYLOADS = [
    "id=1' OR 1=1--",
    "id=1 UNION ALL SELECT NULL,NULL--",
    "q=<script>alert(document.cookie)</script>",
    "file=../../../../etc/passwd",
    "q=1; WAITFOR DELAY '0:0:5'--",
]
CITIES = [(48.86, 2.35), (40.71, -74.0), (35.68, 139.69), (-33.87, 151.21), (51.51, -0.13), (52.52, 13.4)]


def make_events(count: int, ips: int, seed: int) -> list[Event]:
    """The synthetic stream as the engine receives it: Events in receive order."""
    rng = random.Random(seed)
    ip_pool = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(ips)]
    users = [f"user{i}@example.com" for i in range(max(1, ips // 2))]
    paths_404 = [f"/old/page-{k}" for k in range(2000)]
    events: list[Event] = []
    # Every IP appears at least once (all active), the rest at random.
    order = [*range(ips), *(rng.randrange(ips) for _ in range(max(0, count - ips)))]
    rng.shuffle(order)
    for n, ip_index in enumerate(order[:count]):
        at = T0 + n
        ip = ip_pool[ip_index]
        user = users[ip_index % len(users)]
        roll = rng.random()
        common: dict[str, Any] = {
            "project_id": PROJECT,
            "timestamp_ms": at,
            "received_ms": at,
            "id": f"{n:032x}",
            "client_ip": ip,
            "trusted": True,
        }
        if roll < 0.22:
            data: dict[str, Any] = {"category": "authentication", "user_agent": BROWSER_UA}
            if rng.random() < 0.25:
                lat, lon = CITIES[(ip_index % len(users)) % len(CITIES)]  # each user has a home town
                data["geo"] = {"latitude": lat, "longitude": lon}
            events.append(
                Event(kind=Kind.SECURITY, name="authn_login_success", user_id=user, data=data, **common)
            )
        elif roll < 0.27:
            events.append(
                Event(
                    kind=Kind.SECURITY,
                    name="authn_login_fail",
                    user_id=rng.choice(users),
                    data={"category": "authentication", "user_agent": BROWSER_UA},
                    **common,
                )
            )
        elif roll < 0.47:
            path = rng.choice(SENSITIVE) if rng.random() < 0.02 else rng.choice(paths_404)
            events.append(
                Event(
                    kind=Kind.REQUEST,
                    name="GET " + path,
                    url=SITE + path,
                    data={"status": 404, "method": "GET", "user_agent": BROWSER_UA},
                    **common,
                )
            )
        elif roll < 0.50:
            events.append(
                Event(
                    kind=Kind.REQUEST,
                    name="GET /admin",
                    url=f"{SITE}/admin/users/{rng.randrange(500)}",
                    user_id=user,
                    data={"status": 403, "method": "GET", "route": "/admin/users/{id}"},
                    **common,
                )
            )
        elif roll < 0.60:
            events.append(
                Event(
                    kind=Kind.SECURITY,
                    name="sensitive_read",
                    user_id=user,
                    data={"category": "data_access", "records": rng.randint(1, 100), "target": "orders"},
                    **common,
                )
            )
        else:
            product = rng.randrange(5000)
            query = f"ref=home&q=shoes+{product}&page={rng.randrange(10)}"
            if rng.random() < 0.003:
                query = rng.choice(PAYLOADS)
            agent = TOOL_UA if rng.random() < 0.001 else BROWSER_UA
            events.append(
                Event(
                    kind=Kind.REQUEST,
                    name="GET /products/{id}",
                    url=f"{SITE}/products/{product}?{query}",
                    data={"status": 200, "method": "GET", "route": "/products/{id}", "user_agent": agent},
                    **common,
                )
            )
    return events


def held(detector: Detector) -> int:
    """Entries a detector holds (buckets, windows, remembered subjects)."""
    size: Callable[[], int] | None = getattr(detector, "tracked", None) or getattr(detector, "__len__", None)
    return size() if size is not None else 0


def run_detectors(detectors: Sequence[Detector], signals: Sequence[Signal], found: Counter[str]) -> None:
    """What SecurityEngine.process does, less the store: route each signal through the
    project's DetectorSet, evict once a minute."""
    running = DetectorSet(detectors)
    observe = running.observe
    last_evict = 0
    for signal in signals:
        result = observe(signal)
        if result:
            found.update(d.rule for d in result)
        if signal.at_ms - last_evict >= EVICT_EVERY_MS:
            last_evict = signal.at_ms
            running.evict(signal.at_ms)


def rss_kib() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in KiB, from /proc; (0, 0) where there is none."""
    values = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--signals", type=int, default=300_000)
    parser.add_argument("--ips", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs; the best is reported")
    parser.add_argument("--profile", action="store_true", help="print cProfile hotspots")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    events = make_events(args.signals, args.ips, args.seed)
    signals = [s for s in map(signal_from_event, events) if s is not None]
    assert len(signals) == len(events)
    span_s = (signals[-1].at_ms - signals[0].at_ms) / 1000
    gc.collect()
    rss_base, _ = rss_kib()

    # 1. Throughput, detectors only (best of --repeat, fresh detectors each time).
    best, cpu_best = float("inf"), float("inf")
    detections: Counter[str] = Counter()
    for _ in range(args.repeat):
        detectors = default_detectors(PROJECT)
        detections = Counter()
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        run_detectors(detectors, signals, detections)
        best = min(best, time.perf_counter() - wall)
        cpu_best = min(cpu_best, time.process_time() - cpu)
    rss_after, hwm_after = rss_kib()
    per_second = len(signals) / best

    # Each detector alone, for where the time goes.
    alone: dict[str, float] = {}
    for detector in default_detectors(PROJECT):
        gc.collect()
        wall = time.perf_counter()
        run_detectors([detector], signals, Counter())
        alone[detector.rule] = time.perf_counter() - wall

    # 2. Throughput through the engine's own path (Event -> Signal, detectors per project).
    engine = SecurityEngine(None, SystemClock())  # type: ignore[arg-type]
    gc.collect()
    wall = time.perf_counter()
    for start in range(0, len(events), 1000):
        engine.observe(events[start : start + 1000])
        latest = events[min(start + 999, len(events) - 1)].received_ms
        if latest // EVICT_EVERY_MS != events[start].received_ms // EVICT_EVERY_MS:
            engine.evict(latest)
    engine_seconds = time.perf_counter() - wall
    del engine

    # 3. Memory of the detectors' state (tracemalloc traces only what is allocated from here).
    gc.collect()
    tracemalloc.start()
    detectors = default_detectors(PROJECT)
    run_detectors(detectors, signals, Counter())
    current, peak = tracemalloc.get_traced_memory()
    end = signals[-1].at_ms
    memory = [
        ("end of stream", current, sum(held(d) for d in detectors), {d.rule: held(d) for d in detectors})
    ]
    for label, later in (
        ("evicted +1 h", 3_600_000),
        ("evicted +1 day", 86_400_000),
        ("evicted +8 days", 8 * 86_400_000),
    ):
        for d in detectors:
            d.evict(end + later)
        gc.collect()
        now_bytes, _ = tracemalloc.get_traced_memory()
        memory.append(
            (label, now_bytes, sum(held(d) for d in detectors), {d.rule: held(d) for d in detectors})
        )
    tracemalloc.stop()
    rss_evicted, hwm = rss_kib()

    print(f"# Detectors: {len(detectors)} rules, {len(signals):,} signals, {args.ips:,} distinct IPs")
    print()
    print(
        f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, one core; "
        f"{span_s:,.0f} s of simulated traffic; {detections.total():,} detections"
    )
    print()
    print("| figure | value |")
    print("| --- | --- |")
    verdict = "met" if per_second >= TARGET else "MISSED"
    print(
        f"| signals/s, detectors only (best of {args.repeat}) | {per_second:,.0f} "
        f"({verdict}: target {TARGET:,}) |"
    )
    print(f"| CPU s per run (process time) | {cpu_best:.2f} s for {len(signals):,} signals |")
    print(f"| µs per signal, all {len(detectors)} detectors | {best / len(signals) * 1e6:.1f} |")
    print(f"| events/s, Event -> Signal + detectors | {len(events) / engine_seconds:,.0f} |")
    print(f"| tracemalloc peak, detectors' state | {mib(peak)} |")
    for label, size, entries, _ in memory:
        print(f"| tracemalloc current, {label} | {mib(size)} ({entries:,} entries held) |")
    print(f"| RSS before detectors (signals built) | {mib(rss_base * 1024)} |")
    print(f"| RSS after timed runs | {mib(rss_after * 1024)} (peak {mib(hwm_after * 1024)}) |")
    print(f"| RSS after eviction | {mib(rss_evicted * 1024)} (peak {mib(hwm * 1024)}) |")
    print()
    print("Per detector: time alone over the stream, detections, entries held:")
    print()
    print("| detector | µs/signal alone | detections | " + " | ".join(label for label, *_ in memory) + " |")
    print("| --- | --- | --- |" + " --- |" * len(memory))
    for d in detectors:
        micros = alone[d.rule] / len(signals) * 1e6
        held_at = " | ".join(f"{per[d.rule]:,}" for *_, per in memory)
        print(f"| {d.rule} | {micros:.2f} | {detections[d.rule]:,} | {held_at} |")

    hotspots: list[str] = []
    if args.profile or per_second < TARGET:
        profiler = cProfile.Profile()
        sample = signals[: min(len(signals), 100_000)]
        profiler.enable()
        run_detectors(default_detectors(PROJECT), sample, Counter())
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print()
        print(f"cProfile, detectors only, {len(sample):,} signals, by own time:")
        print()
        print("```")
        text = out.getvalue()
        hotspots = text.splitlines()
        print(text.strip())
        print("```")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "signals": len(signals),
                    "ips": args.ips,
                    "signals_per_second": per_second,
                    "events_per_second": len(events) / engine_seconds,
                    "detections": dict(detections),
                    "seconds_alone": alone,
                    "tracemalloc_peak": peak,
                    "memory": [
                        {"when": m[0], "bytes": m[1], "entries": m[2], "per_detector": m[3]} for m in memory
                    ],
                    "rss_kib": {"base": rss_base, "after": rss_after, "evicted": rss_evicted, "peak": hwm},
                    "cpu_count": os.cpu_count(),
                    "hotspots": hotspots,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
