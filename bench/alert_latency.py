"""Alert latency end to end: from the ingest acknowledgement of a crossing event to the
engine's transition, under background load, against the real server (`syncmon serve`).

    .venv/bin/python bench/alert_latency.py --rate 5000 --crossings 100

Starts `syncmon serve` on a fresh SQLite store (or `--database-url`) with the default rules
plus `--crossings` CRITICAL count rules (`cross_<i>`: any event named so fires at once),
drives `--rate` background events/s at the batch endpoint with bench/paced.py (batches of
100 custom, request and error events, in a process of its own), and meanwhile sends one
crossing event every `--every` seconds, noting when its 200 arrived. Afterwards it reads
the transitions' times (`alert_history.at_ms`, the engine's clock when it evaluated the
batch; the hand-over to routing follows the one write that records it) and reports the
latency from sending the crossing event, and from its acknowledgement, to its transition:
p50, p99, max. The second is often negative: the engine sees the committed batch while the
200 is still on its way to the client.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from syncmon.alerting import rule_store  # noqa: E402
from syncmon.alerting.spec import parse_rule  # noqa: E402
from syncmon.bootstrap import prepare_store  # noqa: E402
from syncmon.clock import SystemClock  # noqa: E402
from syncmon.settings import load_settings  # noqa: E402
from syncmon.store import projects  # noqa: E402
from syncmon.store.schema import alert_history  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def background_bodies(path: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("wb") as out:
        for _ in range(count):
            events = []
            for _ in range(100):
                roll = rng.random()
                if roll < 0.6:
                    status = 500 if rng.random() < 0.005 else 200
                    route = rng.choice(["/api/users", "/api/orders", "/api/search"])
                    events.append(
                        {
                            "kind": "request",
                            "method": "GET",
                            "route": route,
                            "status": status,
                            "duration_ms": rng.lognormvariate(4.5, 0.8),
                        }
                    )
                elif roll < 0.9:
                    events.append({"kind": "custom", "name": rng.choice(["cart_viewed", "signup"])})
                else:
                    events.append(
                        {"kind": "error", "type": "python_error", "message": f"E{rng.randrange(20)}"}
                    )
            out.write(orjson.dumps({"events": events}) + b"\n")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=int, default=5000, help="background events/s (in batches of 100)")
    parser.add_argument("--crossings", type=int, default=100)
    parser.add_argument("--every", type=float, default=0.1, help="seconds between crossing events")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="syncmon-alert-latency-"))
    env_settings = {
        "data_dir": str(data),
        "database_url": args.database_url,
        "admin_password": "bench-password",
        "rate_limit_per_key": "1000000/second",
        "rate_limit_per_ip": "1000000/second",
    }
    settings = load_settings(env_settings, environ={}, config_file=None)
    engine = prepare_store(settings, SystemClock(), lambda _: None)
    with engine.begin() as conn:
        conn.execute(alert_history.delete())
        project = projects.list_projects(conn)[0]
        for i in range(args.crossings):
            spec = parse_rule(
                {
                    "kind": "count",
                    "name": f"cross_{i}",
                    "severity": "critical",
                    "window": "10m",
                    "threshold": 0,
                    "select": {"kind": "custom", "names": [f"cross_{i}"]},
                }
            )
            rule_store.create_rule(conn, project.id, spec, SystemClock().now_ms())
    port = free_port()
    env = {**os.environ, **{f"SYNCMON_{k.upper()}": str(v) for k, v in env_settings.items()}}
    env.update({"SYNCMON_PORT": str(port), "SYNCMON_HOST": "127.0.0.1", "SYNCMON_LOG_LEVEL": "warning"})
    server = subprocess.Popen([sys.executable, "-m", "syncmon.cli", "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    load: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(600):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        bodies = data / "bodies.jsonl"
        background_bodies(bodies, 200, 1)
        duration = args.crossings * args.every + 3
        load = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "bench" / "paced.py"),
                "--url",
                url + "/api/monitoring/events",
                "--key",
                project.public_key,
                "--bodies",
                str(bodies),
                "--rate",
                str(args.rate / 100),
                "--connections",
                "8",
                "--duration",
                str(duration),
            ],
            stdout=subprocess.PIPE,
        )
        time.sleep(2)
        acked: dict[str, int] = {}
        sent: dict[str, int] = {}
        with httpx.Client(base_url=url, headers={"X-Syncmon-Key": project.public_key}) as client:
            for i in range(args.crossings):
                sent[f"cross_{i}"] = time.time_ns() // 1_000_000
                response = client.post(
                    "/api/monitoring/events", json={"events": [{"kind": "custom", "name": f"cross_{i}"}]}
                )
                acked[f"cross_{i}"] = time.time_ns() // 1_000_000
                response.raise_for_status()
                time.sleep(args.every)
        load_report = json.loads(load.communicate(timeout=120)[0] or b"{}")
        time.sleep(2)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(alert_history.c.labels, alert_history.c.at_ms).where(
                    alert_history.c.state == "firing"
                )
            )
            fired = {row.labels["alertname"]: int(row.at_ms) for row in rows}
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        server.terminate()
        server.wait(30)
        engine.dispose()
    from_ack = [float(fired[name] - at) for name, at in acked.items() if name in fired]
    from_send = [float(fired[name] - at) for name, at in sent.items() if name in fired]
    missing = [name for name in acked if name not in fired]
    answered = load_report.get("achieved_rps", 0) * 100
    print(f"background load offered {args.rate:,} events/s; answered {answered:,.0f}/s")
    print(f"{len(from_ack)} crossings fired, {len(missing)} missing")
    print("| latency, ms | p50 | p99 | max |")
    print("| --- | ---: | ---: | ---: |")
    for label, values in (("request sent → transition", from_send), ("ack received → transition", from_ack)):
        worst = max(values, default=math.nan)
        print(f"| {label} | {percentile(values, 50):.0f} | {percentile(values, 99):.0f} | {worst:.0f} |")


if __name__ == "__main__":
    main()
