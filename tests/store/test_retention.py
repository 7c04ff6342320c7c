"""Retention: old raw events and old rollups go, in small steps, and newer ones stay."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import syncmon.app
from syncmon.app import Services, run_dashboard_retention, run_retention
from syncmon.clock import ManualClock
from syncmon.events import Event
from syncmon.metrics.rollups import apply_count_rollups
from syncmon.metrics.sketch_rollups import tier_cutoffs
from syncmon.store import retention
from syncmon.store.schema import events, issue_counts, rollup_counts, rollup_subjects, rollup_versions
from tests.conftest import Store
from tests.support.live import LiveServer

DAY_MS = 86_400_000
MINUTE_MS = 60_000
DAY = 1440  # minutes
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the manual clock's start


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


class Steps:
    """Records how many rows each retention step deleted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[int] = []
        self.rollups: list[int] = []

        def events_step(conn: Connection, cutoff_ms: int, limit: int) -> int:
            count = retention.delete_expired_events(conn, cutoff_ms, limit)
            self.events.append(count)
            return count

        def rollups_step(conn: Connection, cutoffs: Mapping[int, int], max_buckets: int) -> int:
            count = retention.delete_expired_rollups(conn, cutoffs, max_buckets)
            self.rollups.append(count)
            return count

        monkeypatch.setattr(syncmon.app, "delete_expired_events", events_step)
        monkeypatch.setattr(syncmon.app, "delete_expired_rollups", rollups_step)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def server(store: Store, clock: ManualClock) -> Iterator[LiveServer]:
    settings = store.settings_with(
        retention_days=1,
        rollup_retention_days=3,
        retention_batch_size=7,
        retention_interval_seconds=3600.0,
    )
    with LiveServer(settings, store.engine, clock=clock) as live:
        wait_for_first_background_pass(live.services)
        yield live


def wait_for_first_background_pass(services: Services, table: str = "rollup_versions") -> None:
    """The app runs one retention pass at start; let it finish so it cannot race the test
    (`rollup_versions` is the last table it counts)."""
    done = threading.Event()
    for _ in range(3000):
        value = services.telemetry.registry.get_sample_value(
            "syncmon_retention_deleted_rows_total", {"table": table}
        )
        if value is not None:
            return
        done.wait(0.01)
    raise AssertionError("the startup retention pass did not finish")


def post(client: httpx.Client, store: Store, items: list[dict[str, Any]]) -> None:
    response = client.post(f"/api/monitoring/events?key={store.project.public_key}", json=items)
    assert response.status_code == 200, response.text


def event_names(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return [row.name for row in conn.execute(sa.select(events.c.name).order_by(events.c.seq))]


def rollup_minutes(store: Store, tier: int = 1) -> list[int]:
    """The buckets of one tier of count rollups, in minutes from T0."""
    r = rollup_counts
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(r.c.bucket).where(r.c.tier == tier).order_by(r.c.bucket))
        return [int(row.bucket) - T0 // MINUTE_MS for row in rows]


def test_retention_deletes_old_events_and_rollups_in_small_steps(
    server: LiveServer, store: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_rollup_offsets = [
        -5 * DAY_MS,
        -5 * DAY_MS + 30 * MINUTE_MS,
        -5 * DAY_MS + 90 * MINUTE_MS,
        -4 * DAY_MS,
    ]
    kept_rollup_offset = -DAY_MS + 60 * MINUTE_MS  # newer than the rollup cutoff (T0 + 2d - 3d)
    with server.client() as client:
        # Received at T0: 20 plain events plus 5 placed in old minutes for the rollups.
        post(client, store, [{"kind": "custom", "name": "old", "n": i} for i in range(20)])
        post(
            client,
            store,
            [
                {"kind": "custom", "name": "old-minute", "timestamp": iso(T0 + offset)}
                for offset in [*old_rollup_offsets, kept_rollup_offset]
            ],
        )
        clock.advance(2 * DAY_MS / 1000)  # now T0 + 2 days: events received at T0 are expired
        post(client, store, [{"kind": "custom", "name": "new", "n": i} for i in range(5)])

    assert len(event_names(store)) == 30
    t0_minute, t1_minute = 0, 2 * DAY_MS // MINUTE_MS
    old_minutes = [offset // MINUTE_MS for offset in old_rollup_offsets]
    kept_minute = kept_rollup_offset // MINUTE_MS
    assert rollup_minutes(store) == [*old_minutes, kept_minute, t0_minute, t1_minute]
    hours = [-5 * DAY, -5 * DAY + 60, -4 * DAY, -DAY + 60, t0_minute, t1_minute]
    assert rollup_minutes(store, tier=60) == hours
    assert rollup_minutes(store, tier=1440) == [-5 * DAY, -4 * DAY, -DAY, t0_minute, t1_minute]

    steps = Steps(monkeypatch)
    deleted = asyncio.run(run_retention(server.services))

    # rollup_retention_days=3 is shorter than the minute tier's 7 days: every tier keeps 3.
    assert deleted == {"events": 25, "rollup_counts": 4 + 3 + 2, "sketch_rollups": 0}
    assert steps.events == [7, 7, 7, 4]  # batch size 7, each step its own short transaction
    assert steps.rollups == [2 + 3 + 2, 1, 1, 0]  # per tier at most 60 buckets a step
    assert event_names(store) == ["new"] * 5
    assert rollup_minutes(store) == [kept_minute, t0_minute, t1_minute]
    assert rollup_minutes(store, tier=60) == hours[3:]
    assert rollup_minutes(store, tier=1440) == [-DAY, t0_minute, t1_minute]
    registry = server.services.telemetry.registry
    assert registry.get_sample_value("syncmon_retention_deleted_rows_total", {"table": "events"}) == 25
    assert registry.get_sample_value("syncmon_retention_deleted_rows_total", {"table": "rollup_counts"}) == 9

    again = asyncio.run(run_retention(server.services))
    assert again == {"events": 0, "rollup_counts": 0, "sketch_rollups": 0}
    assert steps.events[4:] == [0]
    assert len(event_names(store)) == 5


def test_exact_multiple_of_batch_size_ends_with_an_empty_step(
    server: LiveServer, store: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with server.client() as client:
        post(client, store, [{"kind": "custom", "name": "old", "n": i} for i in range(14)])
    clock.advance(DAY_MS / 1000 - 1)  # not yet a day old: nothing goes
    steps = Steps(monkeypatch)
    assert asyncio.run(run_retention(server.services)) == {
        "events": 0,
        "rollup_counts": 0,
        "sketch_rollups": 0,
    }
    assert len(event_names(store)) == 14

    clock.advance(2)  # now older than retention_days
    assert asyncio.run(run_retention(server.services)) == {
        "events": 14,
        "rollup_counts": 0,
        "sketch_rollups": 0,
    }
    assert steps.events == [0, 7, 7, 0]
    assert event_names(store) == []
    assert rollup_minutes(store) == [0]  # the rollup of T0 is newer than rollup_retention_days


def test_each_count_tier_is_kept_as_long_as_its_sketch_tier(store: Store) -> None:
    """Minute rows 7 days, hour rows 90, day rows rollup_retention_days (here 100)."""
    now = T0 + 3 * 60 * MINUTE_MS  # 03:00: the hour and day of "now" hold nothing older
    ages_days = (1, 8, 91, 101)
    batch = [
        Event(
            kind="custom",
            name=f"{age}d",
            timestamp_ms=now - age * DAY_MS,
            received_ms=now,
            project_id=store.project.id,
        )
        for age in ages_days
    ]
    with store.engine.begin() as conn:
        apply_count_rollups(conn, batch)
    cutoffs = tier_cutoffs(now, 100)
    deleted = []
    while True:
        with store.engine.begin() as conn:
            deleted.append(retention.delete_expired_rollups(conn, cutoffs, 60))
        if deleted[-1] == 0:
            break

    with store.engine.connect() as conn:
        kept = conn.execute(sa.select(rollup_counts.c.tier, rollup_counts.c.name)).all()
    assert sorted(kept) == sorted(
        [(1, "1d"), (60, "1d"), (60, "8d"), (1440, "1d"), (1440, "8d"), (1440, "91d")]
    )
    assert sum(deleted) == 3 * 4 - 6


def test_dashboard_rollups_go_by_tier(server: LiveServer, store: Store) -> None:
    """Issue counts keep hour and day rows (they leave with their events), minute rows 7
    days; security-subject rows go by tier like the sketches'; old rollup versions go."""
    old = T0 - 10 * DAY_MS

    def event(kind: str, name: str, ts: int) -> Event:
        found = Event(project_id=store.project.id, kind=kind, name=name, timestamp_ms=ts, received_ms=T0)
        found.client_ip, found.fingerprint = "192.0.2.7", ("f" * 32 if kind == "error" else None)
        return found

    batch = [event("error", "TypeError", old), event("security", "authn_login_fail", old)]
    batch += [event("error", "TypeError", T0), event("security", "authn_login_fail", T0)]
    asyncio.run(server.services.writer.write(batch))

    deleted = asyncio.run(run_dashboard_retention(server.services))

    assert deleted["issue_counts"] == 1 and deleted["rollup_subjects"] == 3 and deleted["rollup_versions"] > 0
    with store.engine.connect() as conn:
        tiers = sorted(conn.execute(sa.select(issue_counts.c.tier, issue_counts.c.bucket)).all())
        subjects = conn.execute(sa.select(sa.func.count()).select_from(rollup_subjects)).scalar_one()
        oldest_version = conn.execute(sa.select(sa.func.min(rollup_versions.c.day))).scalar_one()
    assert [tier for tier, _ in tiers] == [1, 60, 60, 1440, 1440]  # the old minute row went
    assert subjects == 3  # today's minute, hour and day rows
    assert oldest_version >= (T0 - 4 * DAY_MS) // MINUTE_MS  # rollup_retention_days 3, and a day
    assert asyncio.run(run_dashboard_retention(server.services)) == dict.fromkeys(deleted, 0)
