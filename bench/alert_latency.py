"""Alert latency end to end: from the HTTP acknowledgement of the event that crosses a CRITICAL
threshold to the webhook request arriving at a receiver on loopback.

    .venv/bin/python bench/alert_latency.py                       # 200 trials, SQLite, quiet
    .venv/bin/python bench/alert_latency.py --trials 300 --rate 5000
    .venv/bin/python bench/alert_latency.py --database-url postgresql://postgres@127.0.0.1/postgres

Starts `syncmon serve` as a child process on a fresh store (a temporary SQLite directory,
or a new database created next to `--database-url` and dropped afterwards) and configures
it through the HTTP API with an admin token: a webhook channel to a receiver in this
process, an escalation policy paging it (the project's default), and one CRITICAL count
rule per trial (`trial_<i>`: `>= --threshold` custom events named so in 10 minutes). Each
trial is its own alert, group and incident, so trials do not interfere. A trial posts
threshold - 1 priming events (one batch, acknowledged), then the crossing event, and
measures from the moment the crossing event's 200 is read to the moment the receiver has
read the webhook request (both `time.perf_counter` in this process). The next trial
starts once the webhook arrived (or `--timeout` passed: counted as missing).

With `--rate` background events/s (batches of 100 requests, custom events and errors, sent
by bench/paced.py in a process of its own) the server is busy meanwhile.

Prints p50 / p90 / p99 / max of the latency, and where the time went, per stage, from the
server's own records (epoch milliseconds, the same host clock): the acknowledgement → the
alert's transition (`alert_history.at_ms`) → the routing pass that queued the page starts
(`outbox.created_ms`, the pass's clock reading) → the worker's send starts
(`deliveries.ts_ms`; between them: the pass's transaction, the wake, the worker's claim) →
the webhook arrives.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from syncmon.bootstrap import open_store  # noqa: E402
from syncmon.settings import load_settings  # noqa: E402
from syncmon.store.schema import alert_history, deliveries, events, outbox  # noqa: E402


@dataclass
class Arrival:
    perf: float  # time.perf_counter() when the request had been read
    epoch_ms: float


@dataclass
class WebhookReceiver:
    """A ThreadingHTTPServer on 127.0.0.1 that notes when each firing alert's webhook arrives."""

    arrivals: dict[str, Arrival] = field(default_factory=dict)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                perf, epoch_ms = time.perf_counter(), time.time() * 1000
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                payload = orjson.loads(body)
                if payload["syncmon"]["action"] != "trigger":
                    return
                with receiver.arrived:
                    for alert in payload["alerts"]:
                        receiver.arrivals.setdefault(alert["labels"]["alertname"], Arrival(perf, epoch_ms))
                    receiver.arrived.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def wait(self, name: str, timeout: float) -> Arrival | None:
        with self.arrived:
            self.arrived.wait_for(lambda: name in self.arrivals, timeout)
            return self.arrivals.get(name)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else math.nan


def background_bodies(path: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("wb") as out:
        for _ in range(count):
            events: list[dict[str, Any]] = []
            for _ in range(100):
                roll = rng.random()
                if roll < 0.6:
                    status = 500 if rng.random() < 0.005 else 200
                    route = rng.choice(["/api/users", "/api/orders", "/api/search"])
                    duration = rng.lognormvariate(4.5, 0.8)
                    events.append(
                        {"kind": "request", "method": "GET", "route": route, "status": status,
                         "duration_ms": duration}
                    )  # fmt: skip
                elif roll < 0.9:
                    events.append({"kind": "custom", "name": rng.choice(["cart_viewed", "signup"])})
                else:
                    events.append(
                        {"kind": "error", "type": "python_error", "message": f"E{rng.randrange(20)}"}
                    )
            out.write(orjson.dumps({"events": events}) + b"\n")


class Server:
    """`syncmon serve` on a fresh store."""

    def __init__(self, database_url: str) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="syncmon-alert-latency-"))
        self.drop_database: str | None = None
        if database_url:
            name = f"syncmon_bench_{secrets.token_hex(4)}"
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.admin_url = database_url
            self.drop_database = name
            database_url = f"{database_url.rsplit('/', 1)[0]}/{name}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = {
            "data_dir": str(self.data),
            "database_url": database_url,
            "admin_password": "bench-password",
            "rate_limit_per_key": "1000000/second",
            "rate_limit_per_ip": "1000000/second",
            "public_url": self.url,
        }
        config = self.data / "syncmon.toml"
        config.write_text("")
        self.env = {
            **os.environ,
            **{f"SYNCMON_{k.upper()}": str(v) for k, v in self.settings.items()},
            "SYNCMON_CONFIG": str(config),
            "SYNCMON_PORT": str(self.port),
            "SYNCMON_HOST": "127.0.0.1",
            "SYNCMON_LOG_LEVEL": "warning",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "syncmon.cli", *args], env=self.env, capture_output=True, check=True
        )
        return done.stdout.decode()

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "syncmon.cli", "serve"], env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("the server did not start")

    def engine(self) -> sa.Engine:
        return open_store(load_settings(self.settings, environ={}, config_file=None))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        if self.drop_database:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.drop_database}" WITH (FORCE)')


def configure(api: httpx.Client, webhook_url: str, project: str, trials: int, threshold: int) -> None:
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api.post(path, json=body)
        if response.status_code != 201:
            raise SystemExit(f"POST {path}: {response.status_code} {response.text}")
        found: dict[str, Any] = response.json()
        return found

    channel = post(
        "/api/v1/channels",
        {"name": "bench receiver", "kind": "webhook", "config": {"url": webhook_url}, "project": project},
    )
    post(
        "/api/v1/escalation-policies",
        {
            "name": "bench on-call",
            "project": project,
            "default": True,
            "levels": [{"timeout_seconds": 3600, "targets": [{"channel_id": channel["id"]}]}],
        },
    )
    for i in range(trials):
        post(
            "/api/v1/alerts/rules",
            {
                "project": project,
                "name": f"trial_{i}",
                "kind": "count",
                "severity": "critical",
                "select": {"kind": "custom", "names": [f"trial_{i}"]},
                "window": "10m",
                "op": ">=",
                "threshold": threshold,
            },
        )


def start_profiler(path: str | None, server: Server) -> subprocess.Popen[bytes] | None:
    if not path or server.process is None:
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [py_spy, "record", "--pid", str(server.process.pid), "--rate", "100", "--threads",
               "--nonblocking", "--format", "raw", "-o", path]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def count_events(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def stages(
    engine: sa.Engine, acked_epoch: dict[str, float], arrived: dict[str, Arrival]
) -> list[list[float]]:
    """Per trial (ms): ack → transition → routing pass → send starts → arrival."""
    with engine.connect() as conn:
        fired = {
            row.labels["alertname"]: int(row.at_ms)
            for row in conn.execute(
                sa.select(alert_history.c.labels, alert_history.c.at_ms).where(
                    alert_history.c.state == "firing"
                )
            )
        }
        rows = conn.execute(
            sa.select(
                outbox.c.notification, outbox.c.created_ms, sa.func.min(deliveries.c.ts_ms).label("sent")
            )
            .join(deliveries, deliveries.c.outbox_id == outbox.c.id)
            .group_by(outbox.c.id, outbox.c.notification, outbox.c.created_ms)
        )
        queued: dict[str, tuple[int, int]] = {}
        for row in rows:
            notification = orjson.loads(row.notification)
            if notification.get("action") != "trigger":
                continue
            for alert in notification.get("alerts", []):
                queued[alert["labels"]["alertname"]] = (int(row.created_ms), int(row.sent))
    found: list[list[float]] = [[], [], [], []]
    for name, acked in acked_epoch.items():
        if name not in fired or name not in queued or name not in arrived:
            continue
        created, sent = queued[name]
        found[0].append(fired[name] - acked)
        found[1].append(created - fired[name])
        found[2].append(sent - created)
        found[3].append(arrived[name].epoch_ms - sent)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--threshold", type=int, default=5, help="events that make the alert fire")
    parser.add_argument("--rate", type=int, default=0, help="background events/s (batches of 100); 0: none")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between trials")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for one webhook")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (a database is made on it)")
    parser.add_argument("--json", help="write the raw latencies (ms) to this file")
    parser.add_argument(
        "--profile", help="record py-spy collapsed stacks of the server during the trials here"
    )
    args = parser.parse_args()

    receiver = WebhookReceiver()
    webhook_url = receiver.start()
    server = Server(args.database_url)
    project = orjson.loads(server.cli("project", "list", "--json"))[0]  # also creates the store
    token = server.cli("token", "create", "--role", "admin", "--name", "bench").strip()
    load: subprocess.Popen[bytes] | None = None
    latencies: dict[str, float] = {}
    acked_epoch: dict[str, float] = {}
    missing: list[str] = []
    try:
        server.start()
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            configure(api, webhook_url, project["slug"], args.trials, args.threshold)
        if args.rate:
            bodies = server.data / "bodies.jsonl"
            background_bodies(bodies, 200, 1)
            duration = args.trials * (args.pause + 5) + 60  # outlasts the trials; stopped after them
            paced = [sys.executable, str(REPO / "bench" / "paced.py"), "--bodies", str(bodies),
                     "--url", server.url + "/api/monitoring/events", "--key", project["public_key"],
                     "--rate", str(args.rate / 100), "--connections", "8",
                     "--duration", str(duration)]  # fmt: skip
            load = subprocess.Popen(paced, stdout=subprocess.PIPE)
            time.sleep(2)
        engine = server.engine()
        profiler = start_profiler(args.profile, server)
        stored_before, started = count_events(engine), time.perf_counter()
        headers = {"X-Syncmon-Key": project["public_key"]}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            for i in range(args.trials):
                name = f"trial_{i}"
                priming = [{"kind": "custom", "name": name}] * (args.threshold - 1)
                if priming:
                    client.post("/api/monitoring/events", json={"events": priming}).raise_for_status()
                response = client.post(
                    "/api/monitoring/events", json={"events": [{"kind": "custom", "name": name}]}
                )
                acked = time.perf_counter()
                acked_epoch[name] = time.time() * 1000
                response.raise_for_status()
                arrival = receiver.wait(name, args.timeout)
                if arrival is None:
                    missing.append(name)
                else:
                    latencies[name] = (arrival.perf - acked) * 1000
                time.sleep(args.pause)
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            profiler.wait(60)
        if load is not None:
            load.terminate()
            load.wait(30)
        try:
            stored_rate = (count_events(engine) - stored_before) / elapsed
            per_stage = stages(engine, acked_epoch, receiver.arrivals)
        finally:
            engine.dispose()
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        server.stop()
        receiver.stop()

    values = list(latencies.values())
    engine_name = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{engine_name}, {len(values)} trials ({len(missing)} missing) in {elapsed:.0f} s, "
          f"threshold {args.threshold}, background {args.rate:,} events/s offered, "
          f"{stored_rate:,.0f}/s stored")  # fmt: skip
    print()
    print("| ms | p50 | p90 | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: |")

    def row(label: str, found: list[float]) -> None:
        cells = [percentile(found, p) for p in (50, 90, 99)] + [max(found, default=math.nan)]
        print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in cells) + " |")

    row("**ack of the crossing event → webhook arrives**", values)
    for label, found in zip(
        (
            "ack → alert transition",
            "transition → routing pass",
            "routing pass → send starts",
            "send starts → arrives",
        ),
        per_stage,
        strict=True,
    ):
        row(label, found)
    if args.json:
        Path(args.json).write_text(json.dumps({"latency_ms": latencies, "missing": missing}))


if __name__ == "__main__":
    main()
