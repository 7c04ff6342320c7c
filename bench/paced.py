"""A paced (open-loop) HTTP/1.1 load generator: latency at a fixed offered rate.

wrk sends the next request as soon as the previous answer arrives, so it measures
latency at saturation. This sends request i at start + i / rate whatever the server does,
over a fixed number of keep-alive connections, and measures each request's latency from
the moment it was *due*: when every connection is busy, the wait for a free one counts,
so a slow server cannot hide behind a slowed-down client (no coordinated omission).

    python bench/paced.py --url http://127.0.0.1:8000/api/monitoring/security \\
        --key <public key> --bodies bodies.jsonl --rate 3000 --connections 32 --duration 10

Prints one JSON object on stdout. It runs in a process of its own and is written to cost
the machine little (the server under test shares it): asyncio Protocols on uvloop, no
coroutine per request, a 1 ms ticker that hands due requests to idle connections, and
timestamps from time.perf_counter (uvloop's loop.time() has millisecond resolution).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import deque
from typing import cast
from urllib.parse import urlsplit

import orjson

TICK_S = 0.001
now = time.perf_counter


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return math.nan
    index = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[index]


def summary_ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "p50": percentile(values, 50) * 1000,
        "p90": percentile(values, 90) * 1000,
        "p99": percentile(values, 99) * 1000,
        "p999": percentile(values, 99.9) * 1000,
        "max": (values[-1] if values else math.nan) * 1000,
        "mean": (sum(values) / len(values) if values else math.nan) * 1000,
    }


def build_requests(url: str, key: str, bodies: list[bytes], user_agent: str) -> list[bytes]:
    parts = urlsplit(url)
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Content-Type: application/json\r\n"
        f"X-Syncmon-Key: {key}\r\n"
        f"User-Agent: {user_agent}\r\n"
    )
    return [(head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body for body in bodies]


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, generator: Generator, index: int) -> None:
        self.generator = generator
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due = 0.0
        self.sent = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, due: float) -> None:
        assert self.transport is not None
        self.busy, self.due = True, due
        self.sent = now()
        self.transport.write(self.generator.next_request(self.index))
        self.index += self.generator.connections

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            self.generator.fail(self, "response without Content-Length")
            return
        stop = head.find(b"\r\n", start + 2)
        length = int(head[start + 17 : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        status = int(head[9:12])
        del self.buffer[:total]
        self.busy = False
        self.generator.completed(self, status, self.due, self.sent, now())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.generator.fail(self, repr(exc) if exc else "connection closed")
        self.generator.lost(self)


class Generator:
    def __init__(self, args: argparse.Namespace, requests: list[bytes]) -> None:
        self.args = args
        self.requests = requests
        self.connections = args.connections
        self.rate = args.rate
        self.total = int(args.rate * args.duration)
        self.scheduled = 0
        self.outstanding = 0  # scheduled and not yet answered or failed
        self.pending: deque[float] = deque()  # due, waiting for an idle connection
        self.idle: list[Connection] = []
        self.ok: list[tuple[float, float, float]] = []  # (due, sent, done) of 200s
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self.start = 0.0
        self.loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        host = urlsplit(args.url)
        self.host, self.port = host.hostname or "127.0.0.1", host.port or 80

    def next_request(self, index: int) -> bytes:
        return self.requests[index % len(self.requests)]

    async def connect(self, index: int) -> None:
        _, protocol = await self.loop.create_connection(lambda: Connection(self, index), self.host, self.port)
        self.idle.append(protocol)
        self.dispatch()

    def dispatch(self) -> None:
        while self.pending and self.idle:
            self.idle.pop().send(self.pending.popleft())

    async def run(self) -> None:
        await asyncio.gather(*(self.connect(i) for i in range(self.connections)))
        self.start = now() + 0.01
        self.loop.call_soon(self.tick)
        await self.finished

    def tick(self) -> None:
        due_count = min(self.total, int((now() - self.start) * self.rate) + 1)
        while self.scheduled < due_count:
            self.pending.append(self.start + self.scheduled / self.rate)
            self.scheduled += 1
            self.outstanding += 1
        self.dispatch()
        if self.scheduled < self.total:
            self.loop.call_later(TICK_S, self.tick)
        else:
            self.check_done()

    def completed(self, connection: Connection, status: int, due: float, sent: float, done: float) -> None:
        self.outstanding -= 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.ok.append((due, sent, done))
        self.release(connection)

    def release(self, connection: Connection) -> None:
        if self.pending:
            connection.send(self.pending.popleft())
        else:
            self.idle.append(connection)
        self.check_done()

    def fail(self, connection: Connection, reason: str) -> None:
        self.outstanding -= 1
        self.errors.append(reason)
        connection.busy = False
        if connection.transport is not None:
            connection.transport.abort()

    def lost(self, connection: Connection) -> None:
        if connection in self.idle:
            self.idle.remove(connection)
        if not self.finished.done():
            self.loop.create_task(self.connect(connection.index))
        self.check_done()

    def check_done(self) -> None:
        if self.scheduled >= self.total and self.outstanding == 0 and not self.finished.done():
            self.finished.set_result(None)


async def run(args: argparse.Namespace) -> dict[str, object]:
    with open(args.bodies, "rb") as handle:
        bodies = [line for line in handle.read().split(b"\n") if line.strip()]
    generator = Generator(args, build_requests(args.url, args.key, bodies, args.user_agent))
    began, cpu_began = now(), time.process_time()
    await generator.run()
    elapsed, cpu = now() - began, time.process_time() - cpu_began

    start, total = generator.start, generator.total
    measured = [record for record in generator.ok if record[0] >= start + args.warmup]
    last_done = max((record[2] for record in generator.ok), default=start)
    return {
        "offered_rate": args.rate,
        "connections": args.connections,
        "duration_s": args.duration,
        "elapsed_s": elapsed,
        "generator_cpu_percent": 100 * cpu / elapsed,
        "scheduled": total,
        "ok": len(generator.ok),
        "statuses": {str(k): v for k, v in sorted(generator.statuses.items())},
        "errors": len(generator.errors),
        "error_samples": generator.errors[:5],
        "events_per_request": args.events_per_request,
        "events_acked": len(generator.ok) * args.events_per_request,
        # answered requests per second from the first due time to the last answer
        "achieved_rps": len(generator.ok) / max(1e-9, last_done - start),
        "schedule_span_s": (total - 1) / args.rate,
        "measured_requests": len(measured),
        "latency_ms": summary_ms([done - due for due, _, done in measured]),
        "service_ms": summary_ms([done - sent for _, sent, done in measured]),
        "send_delay_ms": summary_ms([sent - due for due, sent, _ in measured]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="http://host:port/path to POST to")
    parser.add_argument("--key", required=True, help="project public key (X-Syncmon-Key)")
    parser.add_argument("--bodies", required=True, help="file with one JSON body per line")
    parser.add_argument("--rate", type=float, required=True, help="requests per second, offered")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of scheduled requests")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds left out of the latency figures")
    parser.add_argument("--events-per-request", type=int, default=1)
    parser.add_argument(
        "--user-agent", default="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15"
    )
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    result = runner(run(args))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
