"""Acknowledged means stored: a 200 from ingest survives the server being SIGKILLed.

The real server runs as a child process (`syncmon serve`) on each engine. 32 concurrent
clients send single events and batches; every id that came back in a 200 is recorded.
Once a few thousand events are acknowledged, with requests still in flight, the server
gets SIGKILL. It is restarted on the same store (which must recover and keep taking
events), killed again under load, and restarted once more; then every acknowledged id
must be in the store, and the per-minute rollups, written in the same transaction as the
events, must count exactly the stored rows.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from syncmon.bootstrap import open_store
from syncmon.settings import load_settings
from syncmon.store.eventlog import existing_ids
from syncmon.store.schema import events as events_table
from syncmon.store.schema import rollup_counts
from tests.conftest import ADMIN_PASSWORD, PG_ADMIN_URL, REQUIRE_PG, _pg_available, fresh_pg_database
from tests.support.live import ServerProcess, run_cli

CLIENTS = 32
KILL_AFTER_EVENTS = 3000  # acknowledged events before each SIGKILL
KILL_ROUNDS = 2
LOAD_TIMEOUT_S = 20.0
BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@dataclass
class Deployment:
    """How to start the server on one store, and how to open that store from the test."""

    backend: str
    env: dict[str, str]
    log_path: Path

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "data_dir": self.env["SYNCMON_DATA_DIR"],
            "database_url": self.env["SYNCMON_DATABASE_URL"] or None,
        }

    def open_engine(self) -> Engine:
        return open_store(load_settings(self.settings_overrides(), environ={}, config_file=None))

    def server(self) -> ServerProcess:
        return ServerProcess(self.env, log_path=self.log_path)

    def cli(self, *args: str) -> str:
        return run_cli(self.env, *args)


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    config = tmp_path / "syncmon.toml"
    config.write_text("")  # so a syncmon.toml in the working directory cannot interfere
    env = {
        "SYNCMON_CONFIG": str(config),
        "SYNCMON_DATA_DIR": str(tmp_path / "data"),
        "SYNCMON_DATABASE_URL": "",
        "SYNCMON_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SYNCMON_RATE_LIMIT_PER_KEY": "10000000/second",
        "SYNCMON_RATE_LIMIT_PER_IP": "10000000/second",
        "SYNCMON_LOG_LEVEL": "warning",
    }
    log_path = tmp_path / "server.log"
    if request.param == "sqlite":
        yield Deployment("sqlite", env, log_path)
        return
    problem = _pg_available()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    url, drop = fresh_pg_database()
    try:
        yield Deployment("postgresql", {**env, "SYNCMON_DATABASE_URL": url}, log_path)
    finally:
        drop()


# --- load ------------------------------------------------------------------------------

Sent = tuple[str, str]  # (kind, name) of one event as sent


def _batch_item(rng: random.Random, n: int) -> tuple[dict[str, Any], Sent]:
    choice = rng.randrange(5)
    if choice == 0:
        return {"name": "page_view", "url": f"https://app.example.com/p/{n % 40}"}, ("page_view", "page_view")
    if choice == 1:
        metric = rng.choice(["LCP", "FID", "CLS"])
        return (
            {"kind": "performance", "metric": metric, "value": rng.random() * 3000},
            ("performance_metric", metric),
        )
    if choice == 2:
        name = rng.choice(["signup", "checkout", "search"])
        return {"name": name, "plan": "pro", "n": n}, ("custom", name)
    if choice == 3:
        return (
            {"kind": "error", "type": "unhandled_rejection", "message": f"boom {n}"},
            ("error", "unhandled_rejection"),
        )
    return (
        {"kind": "security", "event_type": "rate_limited", "severity": "medium", "api_event": "/api/x"},
        ("security", "rate_limited"),
    )


def _request(rng: random.Random, n: int) -> tuple[str, dict[str, Any], list[Sent]]:
    """A random ingest request: (path, JSON body, what each of its events is)."""
    choice = rng.random()
    if choice < 0.3:
        body = {"type": "javascript_error", "message": f"TypeError {n}", "url": "https://app.example.com/"}
        return "/api/monitoring/error", body, [("error", "javascript_error")]
    if choice < 0.6:
        body = {"event_type": "login_failed", "severity": "high", "auth_event": f"user {n % 97}"}
        return "/api/monitoring/security", body, [("security", "login_failed")]
    items = [_batch_item(rng, n * 100 + i) for i in range(rng.randint(1, 50))]
    return "/api/monitoring/events", {"events": [item for item, _ in items]}, [sent for _, sent in items]


@dataclass
class LoadResult:
    acked: dict[str, Sent] = field(default_factory=dict)
    inflight_at_kill: int = 0
    lost_after_kill: int = 0  # requests that never got a response because the server died
    refused: list[str] = field(default_factory=list)  # unexpected non-200s or errors before the kill


async def _load_and_kill(server: ServerProcess, key: str, seed: int) -> LoadResult:
    result = LoadResult()
    killed = asyncio.Event()
    kill_now = asyncio.Event()
    inflight = 0
    counter = itertools.count()

    async def client_task(client: httpx.AsyncClient, rng: random.Random) -> None:
        nonlocal inflight
        while not killed.is_set():
            path, body, sent = _request(rng, next(counter))
            inflight += 1
            try:
                response = await client.post(path, content=orjson.dumps(body))
            except httpx.TransportError as exc:
                if killed.is_set():
                    result.lost_after_kill += 1
                    return
                result.refused.append(f"{path}: {exc!r}")
                return
            finally:
                inflight -= 1
            if response.status_code != 200:
                result.refused.append(f"{path}: {response.status_code} {response.text[:200]}")
                return
            reply = response.json()
            ids = reply["ids"] if "ids" in reply else [reply["id"]]
            assert len(ids) == len(sent)
            result.acked.update(zip(ids, sent, strict=True))
            if len(result.acked) >= KILL_AFTER_EVENTS:
                kill_now.set()

    headers = {"X-Syncmon-Key": key, "Content-Type": "application/json", "User-Agent": BROWSER_UA}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, limits=limits, timeout=LOAD_TIMEOUT_S
    ) as client:
        tasks = [
            asyncio.create_task(client_task(client, random.Random(seed * 1000 + i))) for i in range(CLIENTS)
        ]
        stopped = asyncio.create_task(asyncio.wait(tasks))
        await asyncio.wait(
            [asyncio.create_task(kill_now.wait()), stopped],
            timeout=LOAD_TIMEOUT_S,
            return_when=asyncio.FIRST_COMPLETED,
        )
        result.inflight_at_kill = inflight
        server.kill()  # SIGKILL, then reap: no response can be sent after this returns
        killed.set()
        await asyncio.wait_for(stopped, LOAD_TIMEOUT_S)
        for task in tasks:
            task.result()  # surface assertion errors from the client tasks
    return result


# --- checks ----------------------------------------------------------------------------


def _public_key(deployment: Deployment) -> str:
    found = orjson.loads(deployment.cli("project", "list", "--json"))
    return str(found[0]["public_key"])


def _check_store(engine: Engine, acked: dict[str, Sent]) -> int:
    """Every acknowledged id is stored; the rollups count exactly the stored rows. Returns the row count."""
    ids = list(acked)
    with engine.connect() as conn:
        stored = existing_ids(conn, ids)
        stored_rows = conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one()
        rollup_total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(rollup_counts.c["count"]), 0)).where(
                rollup_counts.c.tier == 1
            )
        ).scalar_one()
        e, r = events_table.c, rollup_counts.c
        minute = (e.ts_ms // 60_000).label("minute")
        per_bucket_events: Counter[tuple[int, int, int, str, str]] = Counter()
        for row in conn.execute(
            sa.select(e.project_id, e.kind, e.name, minute, sa.func.count().label("n")).group_by(
                e.project_id, e.kind, e.name, minute
            )
        ):
            for tier in (1, 60, 1440):
                bucket = int(row.minute) - int(row.minute) % tier
                per_bucket_events[(row.project_id, tier, bucket, row.kind, row.name)] += int(row.n)
        per_bucket_rollups = {
            (row.project_id, row.tier, row.bucket, row.kind, row.name): int(row.n)
            for row in conn.execute(
                sa.select(r.project_id, r.tier, r.bucket, r.kind, r.name, r["count"].label("n"))
            )
        }
    missing = [event_id for event_id in ids if event_id not in stored]
    assert not missing, f"{len(missing)} of {len(ids)} acknowledged events are not stored, e.g. {missing[:5]}"
    assert stored_rows >= len(ids)
    assert int(rollup_total) == stored_rows, (
        f"rollups count {rollup_total} events, the store has {stored_rows}"
    )
    assert per_bucket_rollups == dict(per_bucket_events)  # every tier, bucket by bucket
    return int(stored_rows)


def _spot_check_api(server: ServerProcess, token: str, acked: dict[str, Sent], stored_rows: int) -> None:
    sample = random.Random(7).sample(sorted(acked), 40)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        for event_id in sample:
            response = client.get(f"/api/v1/events/{event_id}")
            assert response.status_code == 200, response.text
            found = response.json()
            assert (found["id"], (found["kind"], found["name"])) == (event_id, acked[event_id])
        response = client.get("/api/v1/stats/counts", params={"project": "syncscript", "step": "1d"})
        assert response.status_code == 200, response.text
        assert response.json()["total"] == stored_rows


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill(deployment: Deployment) -> None:
    key = _public_key(deployment)  # also creates and migrates the store
    acked: dict[str, Sent] = {}
    engine = deployment.open_engine()
    try:
        for round_no in range(KILL_ROUNDS):
            server = deployment.server().start()
            try:
                result = asyncio.run(_load_and_kill(server, key, seed=round_no))
            finally:
                server.kill()
            assert not result.refused, result.refused[:5]
            assert len(result.acked) >= KILL_AFTER_EVENTS, "load stopped before the kill"
            assert result.inflight_at_kill > 0 and result.lost_after_kill > 0, (
                "the server was not killed with requests in flight",
                result.inflight_at_kill,
                result.lost_after_kill,
            )
            assert not acked.keys() & result.acked.keys()
            acked.update(result.acked)

        token = deployment.cli("token", "create", "--role", "viewer", "--name", "durability").strip()
        with deployment.server() as server:
            stored_rows = _check_store(engine, acked)
            _spot_check_api(server, token, acked, stored_rows)
            # the restarted server still takes events, and they are counted once
            response = httpx.post(
                server.url + "/api/monitoring/security",
                json={"event_type": "after_restart"},
                headers={"X-Syncmon-Key": key},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            acked[response.json()["id"]] = ("security", "after_restart")
            assert _check_store(engine, acked) == stored_rows + 1
    finally:
        engine.dispose()
