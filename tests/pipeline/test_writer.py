"""The group-commit writer on both engines: batching, isolation of bad requests, jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.events import Event
from syncmon.metrics.rollups import apply_count_rollups
from syncmon.pipeline.writer import StoreUnavailable, Writer
from syncmon.store import eventlog
from syncmon.store.schema import events as events_table
from syncmon.store.schema import rollup_counts
from syncmon.telemetry import Telemetry
from tests.conftest import Store


def make_events(store: Store, name: str, count: int) -> list[Event]:
    return [
        Event(
            project_id=store.project.id,
            kind="custom",
            name=name,
            timestamp_ms=1_767_225_600_000,
            received_ms=1_767_225_600_000,
            data={"i": i},
        )
        for i in range(count)
    ]


def poison_hook(conn: Connection, events: Sequence[Event]) -> None:
    if any(event.name == "poison" for event in events):
        raise RuntimeError("hook refused the batch")


async def test_concurrent_writes_share_commits(store: Store) -> None:
    telemetry = Telemetry()
    committed: list[list[Event]] = []
    writer = Writer(
        store.engine, hooks=[apply_count_rollups], on_commit=committed.append, telemetry=telemetry
    )
    writer.start()
    try:
        batches = [make_events(store, f"n{i % 3}", 2) for i in range(200)]
        await asyncio.gather(*(writer.write(b) for b in batches))
    finally:
        writer.stop()
    commits = telemetry.registry.get_sample_value("syncmon_commit_batch_events_count")
    assert commits is not None and 1 <= commits < 200
    assert telemetry.registry.get_sample_value("syncmon_commit_batch_events_sum") == 400
    assert all(event.seq is not None for b in batches for event in b)
    assert sorted(e.seq or 0 for c in committed for e in c) == sorted(e.seq or 0 for b in batches for e in b)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one() == 400
        tiers = sa.select(rollup_counts.c.tier, sa.func.sum(rollup_counts.c.count)).group_by(
            rollup_counts.c.tier
        )
        assert {tier: total for tier, total in conn.execute(tiers)} == {1: 400, 60: 400, 1440: 400}
    assert telemetry.registry.get_sample_value("syncmon_writer_queue_depth") == 0


async def test_a_failing_request_does_not_take_its_batch_down(store: Store) -> None:
    writer = Writer(store.engine, hooks=[poison_hook])
    writer.start()
    try:
        good = [make_events(store, "good", 3) for _ in range(20)]
        bad = make_events(store, "poison", 1)
        results = await asyncio.gather(
            *(writer.write(b) for b in [*good[:10], bad, *good[10:]]), return_exceptions=True
        )
    finally:
        writer.stop()
    assert isinstance(results[10], StoreUnavailable)
    assert [r for i, r in enumerate(results) if i != 10] == [None] * 20
    with store.engine.connect() as conn:
        names = conn.execute(sa.select(events_table.c.name)).scalars().all()
    assert sorted(set(names)) == ["good"] and len(names) == 60


async def test_jobs_run_in_a_transaction_and_return_or_raise(store: Store) -> None:
    writer = Writer(store.engine)
    writer.start()
    try:
        await writer.write(make_events(store, "kept", 2))
        count = await writer.run(lambda conn: conn.execute(events_table.delete()).rowcount)

        def failing(conn: Connection) -> None:
            eventlog.insert_events(conn, make_events(store, "rolled-back", 1))
            raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            await writer.run(failing)
    finally:
        writer.stop()
    assert count == 2
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one() == 0


async def test_stop_commits_what_is_queued(store: Store) -> None:
    writer = Writer(store.engine)
    writer.start()
    pending = [asyncio.ensure_future(writer.write(make_events(store, "late", 1))) for _ in range(50)]
    await asyncio.sleep(0)
    await asyncio.get_running_loop().run_in_executor(None, writer.stop)
    await asyncio.gather(*pending)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one() == 50


async def test_jobs_in_a_row_make_no_empty_commit(store: Store) -> None:
    """A write queued ahead of two jobs is one commit; the jobs add none (an empty commit
    would be counted as a batch of zero events)."""
    telemetry = Telemetry()
    writer = Writer(store.engine, telemetry=telemetry)
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()

    def blocked(conn: Connection) -> None:
        asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(10)

    writer.start()
    try:
        first = asyncio.ensure_future(writer.run(blocked))  # holds the writer while the rest queues
        write = asyncio.ensure_future(writer.write(make_events(store, "between", 1)))
        jobs = [asyncio.ensure_future(writer.run(lambda conn: None)) for _ in range(2)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, write, *jobs)
    finally:
        writer.stop()
    batches = [m for m in telemetry.commit_batch_size.collect()[0].samples if m.name.endswith("_count")]
    assert batches[0].value == 1
