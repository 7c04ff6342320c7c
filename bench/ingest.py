"""Ingest benchmark: throughput and acknowledgement latency of a real `syncmon serve`.

    .venv/bin/python bench/ingest.py --engine sqlite --duration 10
    .venv/bin/python bench/ingest.py --engine sqlite --synchronous NORMAL --duration 10
    .venv/bin/python bench/ingest.py --engine postgresql --duration 10

Starts the server as a child process on a loopback port with the rate limits raised, on a
fresh store (a temporary SQLite directory, or a new PostgreSQL database that is dropped
afterwards), and drives it from separate processes:

  wrk-single    wrk, 32 keep-alive connections, single events to /api/monitoring/security
  wrk-batch     wrk, 32 connections, batches of 100 mixed events to /api/monitoring/events
  paced-single  bench/paced.py, 3,000 single events/s offered over 32 connections
  paced-batch   bench/paced.py, 300 batches/s of 100 events (30,000 events/s)

wrk runs at saturation (each connection sends its next request when the answer arrives);
paced.py offers a fixed rate and measures latency from when each request was due. For
each phase it reports acknowledged events/s, latency percentiles, the server's CPU use
and peak RSS (VmRSS from /proc), and whether the rows stored during the phase match the
events acknowledged. Prints a Markdown table; --json also writes the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

from bench.payloads import batch_bodies, single_bodies, write_bodies  # noqa: E402

# The bench reads the store with plain SQL, not through syncmon's modules, so it can drive
# a server built from another revision (--rev) whatever state the working tree is in.

PHASES = ("wrk-single", "wrk-batch", "paced-single", "paced-batch")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the server ------------------------------------------------------------------------


class Server:
    """`syncmon serve` as a child process, with its CPU time and RSS read from /proc."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "SYNCMON_HOST": "127.0.0.1", "SYNCMON_PORT": str(self.port)}
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "syncmon.cli", "serve"],
                env=self.env,
                stdout=log,
                stderr=log,
                cwd=self.log_path.parent,  # not the repository: `-m` puts the cwd first on sys.path
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not become healthy")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)


class RssSampler:
    """Samples the server's VmRSS every `interval` seconds while a phase runs."""

    def __init__(self, server: Server, interval: float = 0.25) -> None:
        self.server = server
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, self.server.rss_kib())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, self.server.rss_kib())


# --- the store -------------------------------------------------------------------------


@dataclass
class Store:
    env: dict[str, str]
    url: str
    cleanup: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for step in reversed(self.cleanup):
            step()


def make_store(args: argparse.Namespace, workdir: Path) -> Store:
    config = workdir / "syncmon.toml"
    config.write_text("")  # keep a syncmon.toml in the working directory out of it
    env = {
        "SYNCMON_CONFIG": str(config),
        "SYNCMON_DATA_DIR": str(workdir / "data"),
        "SYNCMON_DATABASE_URL": "",
        "SYNCMON_ADMIN_PASSWORD": "bench-password-" + secrets.token_hex(4),
        "SYNCMON_RATE_LIMIT_PER_KEY": "100000000/second",
        "SYNCMON_RATE_LIMIT_PER_IP": "100000000/second",
        "SYNCMON_LOG_LEVEL": "warning",
        "SYNCMON_SQLITE_SYNCHRONOUS": args.synchronous,
    }
    if args.engine == "sqlite":
        return Store(env, f"sqlite:///{workdir / 'data' / 'syncmon.db'}")
    import psycopg

    name = f"syncmon_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg_admin_url.rsplit('/', 1)[0]}/{name}"

    def drop() -> None:
        with psycopg.connect(args.pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    store = Store({**env, "SYNCMON_DATABASE_URL": url}, url)
    if not args.keep:
        store.cleanup.append(drop)
    return store


def count_rows(engine: sa.engine.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one())


def settled_count(server: Server, engine: sa.engine.Engine, key: str) -> int:
    """The row count once everything the load left in flight is committed, sentinel excluded.

    Requests wrk had in flight when it stopped are still committed. The writer commits in
    arrival order, so once a sentinel event sent after the load is acknowledged, everything
    that arrived before it is in the store; the count is then taken without the sentinel."""
    time.sleep(0.3)  # requests still being read or parsed reach the writer's queue
    request = urllib.request.Request(
        server.url + "/api/monitoring/security",
        data=b'{"event_type": "bench_sentinel"}',
        headers={"Content-Type": "application/json", "X-Syncmon-Key": key},
    )
    with urllib.request.urlopen(request, timeout=600) as reply:
        if reply.status != 200:
            raise RuntimeError(f"sentinel event refused: {reply.status}")
    return count_rows(engine) - 1


def host_cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return total - idle, total


def commit_metrics(server: Server) -> dict[str, float]:
    """The writer's commit counters from /metrics: commits, events committed, seconds committing."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    wanted = {
        "syncmon_commit_batch_events_count": "commits",
        "syncmon_commit_batch_events_sum": "events",
        "syncmon_commit_seconds_sum": "seconds",
    }
    found = {name: 0.0 for name in wanted.values()}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in wanted:
            found[wanted[name]] = float(value)
    return found


# --- phases ----------------------------------------------------------------------------


@dataclass
class PhaseResult:
    phase: str
    offered: str
    events_per_request: int
    requests: int = 0
    ok_requests: int = 0
    non_ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    stored: int = 0
    in_flight_bound: int = 0  # events that may be stored without an acknowledgement
    cpu_percent: float = 0.0
    host_cpu_percent: float = 0.0  # all processes, out of 100% per CPU
    rss_peak_mib: float = 0.0
    commits: float = 0.0
    commit_events: float = 0.0
    commit_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def acked_events(self) -> int:
        return self.ok_requests * self.events_per_request

    @property
    def events_per_s(self) -> float:
        return self.acked_events / self.seconds if self.seconds else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.ok_requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        """Server CPU time per acknowledged event: less sensitive to a busy host than events/s."""
        return self.cpu_percent / 100 * 1e6 / self.events_per_s if self.events_per_s else 0.0

    @property
    def store_check(self) -> str:
        excess = self.stored - self.acked_events
        if excess < 0:
            return f"LOST {-excess}"
        if excess == 0:
            return "= acked"
        if excess <= self.in_flight_bound:
            return f"+{excess} unacked in flight"
        return f"+{excess} UNEXPLAINED"


def run_wrk(args: argparse.Namespace, server: Server, key: str, path: str, bodies: Path) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(args.duration))}s",  # wrk takes whole seconds
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / "post.lua"),
        server.url + path,
    ]
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_KEY": key}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line[len("BENCH_JSON ") :]))
    raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")


def run_paced(
    args: argparse.Namespace, server: Server, key: str, path: str, bodies: Path, rate: float, per_request: int
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(BENCH_DIR / "paced.py"),
        "--url",
        server.url + path,
        "--key",
        key,
        "--bodies",
        str(bodies),
        "--rate",
        str(rate),
        "--connections",
        str(args.connections),
        "--duration",
        str(args.duration),
        "--events-per-request",
        str(per_request),
    ]
    timeout = 20 * args.duration + 120
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"paced.py failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_phase(
    args: argparse.Namespace,
    phase: str,
    server: Server,
    engine: sa.engine.Engine,
    key: str,
    workdir: Path,
    rate: float = 0.0,
) -> PhaseResult:
    single = write_bodies(workdir / "single.jsonl", single_bodies())
    batch = write_bodies(workdir / "batch.jsonl", batch_bodies(args.batch_size))
    path, bodies, per_request = (
        ("/api/monitoring/security", single, 1)
        if phase.endswith("single")
        else ("/api/monitoring/events", batch, args.batch_size)
    )
    before = count_rows(engine)
    metrics_before = commit_metrics(server)
    profiler = start_profiler(args, f"{phase}-{rate:g}" if rate else phase, server)
    cpu_before, wall_before = server.cpu_seconds(), time.perf_counter()
    host_before = host_cpu_ticks()
    with RssSampler(server) as rss:
        if phase.startswith("wrk"):
            raw = run_wrk(args, server, key, path, bodies)
            cpu_after, wall_after = server.cpu_seconds(), time.perf_counter()
            host_after = host_cpu_ticks()
            result = PhaseResult(phase, f"saturation, {args.connections} conns", per_request)
            result.requests = raw["requests"]
            result.non_ok = raw["status_errors"]
            result.ok_requests = raw["requests"] - raw["status_errors"]
            result.errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
            result.seconds = raw["duration_us"] / 1e6
            result.p50_ms, result.p90_ms = raw["p50_us"] / 1000, raw["p90_us"] / 1000
            result.p99_ms, result.max_ms = raw["p99_us"] / 1000, raw["max_us"] / 1000
            result.in_flight_bound = (args.connections + raw["timeouts"]) * per_request
        else:
            raw = run_paced(args, server, key, path, bodies, rate, per_request)
            cpu_after, wall_after = server.cpu_seconds(), time.perf_counter()
            host_after = host_cpu_ticks()
            offered = f"{rate:,.0f} req/s = {rate * per_request:,.0f} ev/s"
            result = PhaseResult(phase, offered, per_request)
            result.requests = raw["scheduled"]
            result.ok_requests = raw["ok"]
            result.non_ok = sum(v for k, v in raw["statuses"].items() if k != "200")
            result.errors = raw["errors"]
            result.seconds = raw["ok"] / raw["achieved_rps"] if raw["achieved_rps"] else 0.0
            latency = raw["latency_ms"]
            result.p50_ms, result.p90_ms = latency["p50"], latency["p90"]
            result.p99_ms, result.max_ms = latency["p99"], latency["max"]
            result.in_flight_bound = raw["errors"] * per_request  # requests cut off by a broken connection
        stop_profiler(profiler)
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
    result.extra = raw
    return result


def start_profiler(args: argparse.Namespace, phase: str, server: Server) -> subprocess.Popen[bytes] | None:
    if not args.profile_dir:
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = Path(args.profile_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.engine}-{args.synchronous.lower()}-{phase}-{args.profile_mode}"
    command = [py_spy, "record", "--pid", str(server.pid), "--rate", "100", "--threads", "--nonblocking"]
    if args.profile_mode == "gil":
        command.append("--gil")  # only the thread holding the GIL: where the Python CPU time goes
    command += ["--format", "raw", "-o", str(out / f"{stem}.txt")]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        profiler.wait(60)


# --- report ----------------------------------------------------------------------------


def wait_for_quiet_host(limit: float, busy_below: float = 20.0) -> None:
    """Wait (at most `limit` s) for 3 s in which all CPUs together were under `busy_below`% busy:
    on a shared machine, other work competes with the server and the load generator."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = host_cpu_ticks()
        time.sleep(3)
        busy, total = (a - b for a, b in zip(host_cpu_ticks(), before, strict=True))
        if total and 100 * busy / total < busy_below:
            return
    print(f"host still busy after {limit:g} s; running anyway", file=sys.stderr)


def describe_source(rev: str | None) -> str:
    """Which code the server ran: a revision, or the working tree (and whether it had changes)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    if rev:
        return f"syncmon at {git('rev-parse', '--short', rev)} (git archive)"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "syncmon") else ""
    return f"syncmon working tree at {git('rev-parse', '--short', 'HEAD')}{dirty}"


def describe_machine(engine: sa.engine.Engine, backend: str) -> list[str]:
    with open("/proc/cpuinfo") as cpuinfo:
        models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    cpu = models[0] if models else "?"
    with engine.connect() as conn:
        if backend == "sqlite":
            version = "SQLite " + str(conn.execute(sa.text("select sqlite_version()")).scalar())
        else:
            version = str(conn.execute(sa.text("show server_version")).scalar())
            version = "PostgreSQL " + version.split()[0]
    return [
        f"{os.cpu_count()} CPUs ({cpu})",
        f"Python {platform.python_version()}",
        version,
    ]


COLUMNS = [
    ("phase", "---"),
    ("offered", "---"),
    ("acked events/s", "---:"),
    ("req/s", "---:"),
    ("p50 ms", "---:"),
    ("p99 ms", "---:"),
    ("max ms", "---:"),
    ("non-200 / errors", "---"),
    ("server CPU", "---:"),
    ("CPU µs/event", "---:"),
    ("host CPU", "---:"),
    ("RSS peak", "---:"),
    ("commits/s", "---:"),
    ("events/commit", "---:"),
    ("ms/commit", "---:"),
    ("stored vs acked", "---"),
]


def markdown(results: list[PhaseResult]) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    lines = [row([title for title, _ in COLUMNS]), row([align for _, align in COLUMNS])]
    for r in results:
        commits_per_s = r.commits / r.seconds if r.seconds else 0.0
        per_commit = r.commit_events / r.commits if r.commits else 0.0
        ms_commit = 1000 * r.commit_seconds / r.commits if r.commits else 0.0
        cells = [
            r.phase,
            r.offered,
            f"{r.events_per_s:,.0f}",
            f"{r.requests_per_s:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.1f}",
            f"{r.non_ok} / {r.errors}",
            f"{r.cpu_percent:.0f}%",
            f"{r.cpu_us_per_event:,.0f}",
            f"{r.host_cpu_percent:.0f}%",
            f"{r.rss_peak_mib:.0f} MiB",
            f"{commits_per_s:,.0f}",
            f"{per_commit:,.1f}",
            f"{ms_commit:.2f}",
            f"{r.stored:,} {r.store_check}",
        ]
        lines.append(row(cells))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--single-rate", default="3000", help="paced-single requests/s; a comma-separated list runs each"
    )
    parser.add_argument(
        "--batch-rate", default="300", help="paced-batch requests/s; a comma-separated list runs each"
    )
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL", help="SQLite only")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {PHASES}")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--pause", type=float, default=2.0, help="idle seconds between phases")
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("SYNCMON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL URL allowed to CREATE DATABASE (a fresh one is made per run)",
    )
    parser.add_argument("--profile-dir", help="record py-spy collapsed stacks of the server per phase here")
    parser.add_argument(
        "--profile-mode",
        choices=("wall", "gil"),
        default="gil",
        help="gil: samples of the thread holding the GIL (CPU); wall: every non-idle thread",
    )
    parser.add_argument("--json", dest="json_path", help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the store and server log")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each phase wait up to this many seconds for the host's CPUs to be idle",
    )
    parser.add_argument(
        "--rev", help="run the server from this git revision (git archive) instead of the working tree"
    )
    args = parser.parse_args()
    # stop cleanly (server stopped, store dropped) on SIGTERM, and on SIGINT even when started
    # in the background, where the shell leaves SIGINT ignored
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None and any(p.startswith("wrk") for p in phases):
        parser.error("wrk is not installed")

    with open("/proc/loadavg") as loadavg:
        load_before = " ".join(loadavg.read().split()[:3])
    workdir = Path(tempfile.mkdtemp(prefix="syncmon-bench-"))
    source = describe_source(args.rev)
    env: dict[str, str] = {}
    if args.rev:
        tree = workdir / "src"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.rev], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))
    store = make_store(args, workdir)
    server = Server({**store.env, **env}, workdir / "server.log")
    engine = sa.create_engine(store.url.replace("postgresql://", "postgresql+psycopg://", 1))
    results: list[PhaseResult] = []
    try:
        server.start()
        with engine.connect() as conn:
            key = str(
                conn.execute(sa.text("SELECT public_key FROM projects ORDER BY id LIMIT 1")).scalar_one()
            )
        rss_start = server.rss_kib() / 1024
        runs: list[tuple[str, float]] = []
        for phase in phases:
            rates = {"paced-single": args.single_rate, "paced-batch": args.batch_rate}.get(phase)
            runs += [(phase, float(rate)) for rate in rates.split(",")] if rates else [(phase, 0.0)]
        for index, (phase, rate) in enumerate(runs):
            if index:
                time.sleep(args.pause)
            if args.quiet_wait:
                wait_for_quiet_host(args.quiet_wait)
            shown = f"{phase} at {rate:g} req/s" if rate else phase
            print(f"running {shown} for {args.duration:g} s ...", file=sys.stderr, flush=True)
            results.append(run_phase(args, phase, server, engine, key, workdir, rate))
        rss_end = server.rss_kib() / 1024
        total_rows = count_rows(engine)
        machine = describe_machine(engine, args.engine)
    finally:
        server.stop()
        engine.dispose()
        store.close()
        if args.keep:
            print(f"store and server log kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    label = args.engine if args.engine == "postgresql" else f"sqlite, synchronous={args.synchronous}"
    print(f"### {label}\n")
    print(
        f"{'; '.join(machine)}; {args.duration:g} s per phase, {args.connections} connections; "
        f"load average before the run {load_before}; {source}\n"
    )
    print(markdown(results))
    acked = sum(r.acked_events for r in results)
    print(
        f"\nserver RSS: {rss_start:.0f} MiB after start, {rss_end:.0f} MiB after the run; "
        f"{total_rows:,} rows stored (with one sentinel event per phase), {acked:,} events acknowledged"
    )
    if args.json_path:
        payload = {
            "engine": args.engine,
            "synchronous": args.synchronous,
            "machine": machine,
            "rss_start_mib": rss_start,
            "rss_end_mib": rss_end,
            "rows": total_rows,
            "phases": [
                {**r.__dict__, "acked_events": r.acked_events, "events_per_s": r.events_per_s}
                for r in results
            ],
        }
        Path(args.json_path).write_text(json.dumps(payload, indent=2) + "\n")
    lost = [r.phase for r in results if r.stored < r.acked_events]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
