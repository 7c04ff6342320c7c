"""Alert rule evaluation benchmark: 500 rules over a stream of 10,000 events/s, on one core.

    .venv/bin/python bench/alert_rules.py
    .venv/bin/python bench/alert_rules.py --projects 1 --seconds 30 --profile

Builds `--rules` rules (every project's 16 default rules, the rest custom count, ratio,
percentile, issue and heartbeat rules with filters and group_by) over `--projects`
projects, and a synthetic stream of `--rate` events per simulated second spread over the
projects: requests 50 % (1 % 5xx, 3 % 4xx, lognormal durations over 40 routes), web
metrics 15 %, page views 10 %, errors 8 % (a new issue now and then), security events
5 %, custom events 12 %. The stream is cut into committed batches of `--batch` events and
fed to the engine's core (syncmon.alerting.evaluator.Evaluator) as the engine does it:
`observe(batch)` then `evaluate_batch(now, touched rules)` (ratio, percentile and burn-rate
rules at most once a second, the deferred ones a second later), and every 5 simulated
seconds a tick evaluates all rules. Persistence is not part of it: only transitions are written, and
they are rare.

Reports, as a Markdown table: events/s sustained (events / CPU seconds of the whole run),
CPU per batch (mean, p50, p99), CPU per tick (all rules), and the transitions seen.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from syncmon.alerting.defaults import default_rules  # noqa: E402
from syncmon.alerting.evaluator import COALESCE_MS, Evaluator  # noqa: E402
from syncmon.alerting.rule_store import StoredRule  # noqa: E402
from syncmon.alerting.spec import parse_rule  # noqa: E402
from syncmon.events import Event, Kind  # noqa: E402

T0 = 1_767_225_600_000
TICK_MS = 5000
ROUTES = [
    f"{m} /api/{r}"
    for m in ("GET", "POST")
    for r in (
        "users",
        "users/{id}",
        "orders",
        "orders/{id}",
        "cart",
        "checkout",
        "search",
        "products",
        "products/{id}",
        "reviews",
        "auth/login",
        "auth/logout",
        "inventory",
        "shipping",
        "invoices",
        "invoices/{id}",
        "reports",
        "settings",
        "notifications",
        "health",
    )
]
PAGES = ["/", "/pricing", "/blog/{id}", "/docs", "/checkout", "/account", "/search", "/products/{id}"]
METRICS = ["page_load_time", "LCP", "INP", "CLS", "FCP", "TTFB"]
SECURITY = ["authn_login_success", "authn_login_fail", "authz_fail", "sensitive_read", "session_created"]
CUSTOM = ["checkout_completed", "cart_viewed", "signup", "search_performed", "checkout_failed"]


def custom_rules(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Custom rules of every evaluating kind, with filters and group_by."""
    made: list[dict[str, Any]] = []
    shapes: list[Callable[[int], dict[str, Any]]] = [
        lambda i: {
            "kind": "count",
            "select": {"kind": "request", "min_status": 500},
            "filter": {"route": rng.choice(ROUTES)},
            "window": "5m",
            "threshold": 50,
        },
        lambda i: {
            "kind": "count",
            "select": {"kind": "custom", "names": [rng.choice(CUSTOM)]},
            "window": "1m",
            "threshold": 500,
            "group_by": ["environment"],
        },
        lambda i: {
            "kind": "ratio",
            "numerator": {"kind": "request", "min_status": 400},
            "denominator": {"kind": "request"},
            "window": "10m",
            "threshold": 0.2,
            "group_by": ["route"],
        },
        lambda i: {
            "kind": "percentile",
            "source": "request",
            "percentile": 99,
            "window": "5m",
            "threshold": 5000,
            "filter": {"route": rng.choice(ROUTES)},
        },
        lambda i: {
            "kind": "percentile",
            "source": "metric",
            "metric": rng.choice(METRICS),
            "percentile": 75,
            "window": "15m",
            "threshold": 8000,
            "group_by": ["route"],
        },
        lambda i: {"kind": "issue_frequency", "window": "1h", "threshold": 1000},
        lambda i: {
            "kind": "count",
            "select": {"kind": "security", "names": ["authn_*"], "min_level": "warning"},
            "window": "10m",
            "threshold": 2000,
        },
        lambda i: {
            "kind": "heartbeat",
            "select": {"kind": "custom", "names": [rng.choice(CUSTOM)]},
            "absent_for": "30m",
        },
    ]
    for i in range(count):
        made.append({"name": f"custom_{i}", **shapes[i % len(shapes)](i)})
    return made


def build_rules(projects: int, total: int, seed: int) -> list[StoredRule]:
    rng = random.Random(seed)
    rules: list[StoredRule] = []
    defaults = default_rules()
    for project in range(1, projects + 1):
        for _, spec in defaults:
            rules.append(StoredRule(len(rules) + 1, project, f"p{project}", "default", None, spec, T0, T0))
    extra = max(0, total - len(rules))
    for i, raw in enumerate(custom_rules(extra, rng)):
        project = 1 + i % projects
        rules.append(StoredRule(len(rules) + 1, project, f"p{project}", "api", None, parse_rule(raw), T0, T0))
    return rules[:total]


def make_stream(seconds: int, rate: int, projects: int, seed: int) -> list[Event]:
    rng = random.Random(seed)
    events: list[Event] = []
    issue = 0
    step = 1000 / rate
    for i in range(seconds * rate):
        at = T0 + int(i * step)
        project = 1 + rng.randrange(projects)
        roll = rng.random()
        environment = "production" if rng.random() < 0.9 else "staging"
        if roll < 0.50:
            status = 500 if rng.random() < 0.01 else 404 if rng.random() < 0.03 else 200
            event = Event(
                project,
                Kind.REQUEST.value,
                rng.choice(ROUTES),
                at,
                at,
                value=rng.lognormvariate(4.5, 0.9),
                data={"status": status},
                environment=environment,
            )
        elif roll < 0.65:
            metric = rng.choice(METRICS)
            value = rng.random() * 0.3 if metric == "CLS" else rng.lognormvariate(7.3, 0.6)
            event = Event(
                project,
                Kind.PERFORMANCE.value,
                metric,
                at,
                at,
                value=value,
                url="https://shop.example" + rng.choice(PAGES).replace("{id}", "7"),
            )
        elif roll < 0.75:
            event = Event(project, Kind.PAGE_VIEW.value, "page_view", at, at, url="https://shop.example/")
        elif roll < 0.83:
            new = rng.random() < 0.01
            issue = issue + 1 if new else issue
            data = {
                "_issue": {"id": rng.randint(1, max(1, issue)), "new": new, "transition": None},
                "platform": "javascript",
            }
            event = Event(
                project,
                Kind.ERROR.value,
                "TypeError",
                at,
                at,
                level="error",
                data=data,
                message="TypeError: x is undefined",
            )
        elif roll < 0.88:
            event = Event(
                project,
                Kind.SECURITY.value,
                rng.choice(SECURITY),
                at,
                at,
                level="warning" if rng.random() < 0.3 else "info",
            )
        else:
            event = Event(project, Kind.CUSTOM.value, rng.choice(CUSTOM), at, at, environment=environment)
        event.seq = i + 1
        events.append(event)
    return events


def run(rules: list[StoredRule], events: list[Event], batch: int, profile: bool) -> dict[str, Any]:
    evaluator = Evaluator()
    evaluator.set_rules(rules, T0)
    per_batch: list[float] = []
    per_tick: list[float] = []
    transitions = 0
    next_tick = T0
    deferred_since = -1
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        now = chunk[-1].received_ms
        while next_tick <= now:
            before = time.process_time()
            transitions += len(evaluator.evaluate(next_tick))
            evaluator.expire(next_tick)
            evaluator.take_changes(with_values=True)
            per_tick.append(time.process_time() - before)
            next_tick += TICK_MS
        before = time.process_time()
        if evaluator.deferred and now - deferred_since >= COALESCE_MS:  # the engine's timer
            transitions += len(evaluator.evaluate_deferred(now))
            deferred_since = -1
        touched = evaluator.observe(chunk)
        transitions += len(evaluator.evaluate_batch(now, touched))
        if evaluator.deferred and deferred_since < 0:
            deferred_since = now
        elif not evaluator.deferred:
            deferred_since = -1
        evaluator.take_changes(with_values=False)
        per_batch.append(time.process_time() - before)
    if profiler:
        profiler.disable()
    total = time.process_time() - started
    result: dict[str, Any] = {
        "cpu_s": total,
        "events_per_s": len(events) / total,
        "batch_mean_ms": statistics.fmean(per_batch) * 1000,
        "batch_p50_ms": statistics.median(per_batch) * 1000,
        "batch_p99_ms": sorted(per_batch)[int(len(per_batch) * 0.99) - 1] * 1000,
        "tick_mean_ms": statistics.fmean(per_tick) * 1000 if per_tick else 0.0,
        "transitions": transitions,
        "batches": len(per_batch),
    }
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        result["profile"] = out.getvalue()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument("--projects", type=int, default=30)
    parser.add_argument("--rate", type=int, default=10_000, help="events per simulated second")
    parser.add_argument("--seconds", type=int, default=60, help="simulated seconds of stream")
    parser.add_argument("--batch", type=int, default=100, help="events per committed batch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    rules = build_rules(args.projects, args.rules, args.seed)
    events = make_stream(args.seconds, args.rate, args.projects, args.seed)
    kinds: dict[str, int] = {}
    for rule in rules:
        kinds[rule.spec.kind] = kinds.get(rule.spec.kind, 0) + 1
    print(f"{len(rules)} rules over {args.projects} projects: {kinds}")
    print(f"{len(events):,} events, {args.seconds} s at {args.rate:,}/s, batches of {args.batch}")
    result = run(rules, events, args.batch, args.profile)
    print()
    print("| figure | value |")
    print("| --- | ---: |")
    print(f"| events/s sustained (one core, evaluation only) | {result['events_per_s']:,.0f} |")
    print(f"| share of one core at {args.rate:,} events/s | {args.rate / result['events_per_s']:.0%} |")
    print(
        f"| CPU per batch of {args.batch}: mean / p50 / p99 | {result['batch_mean_ms']:.2f} / "
        f"{result['batch_p50_ms']:.2f} / {result['batch_p99_ms']:.2f} ms |"
    )
    print(f"| CPU per tick (all {len(rules)} rules) | {result['tick_mean_ms']:.1f} ms |")
    print(f"| transitions | {result['transitions']} |")
    if "profile" in result:
        print(result["profile"])


if __name__ == "__main__":
    main()
