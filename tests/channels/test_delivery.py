"""The outbox and the delivery worker on both engines, with a driven clock and real loopback
receivers: delivery once, the backoff schedule, Retry-After, no retry on refusal, fallback,
rate limit, Slack pacing and coalescing, and at-least-once after a crash."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from syncmon.channels import channel_store, outbox
from syncmon.channels.base import Action
from syncmon.channels.delivery import DeliveryWorker, transactor
from syncmon.channels.retry import RetryPolicy
from syncmon.clock import ManualClock
from syncmon.store.schema import deliveries
from syncmon.store.schema import outbox as outbox_table
from tests.channels.support import T0, Receiver, Reply, add_channel, notification
from tests.conftest import Store

POLICY = RetryPolicy(max_attempts=4, initial_backoff_ms=5_000, max_backoff_ms=60_000, fallback_after=2)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def worker(store: Store, clock: ManualClock) -> AsyncIterator[DeliveryWorker]:
    async with DeliveryWorker(transactor(store.engine), clock, policy=POLICY) as instance:
        yield instance


def enqueue(engine: Engine, channel_id: int, clock: ManualClock, **kwargs: Any) -> int:
    with engine.begin() as conn:
        return outbox.enqueue(
            conn,
            channel_id=channel_id,
            notification=kwargs.pop("item", notification()),
            now_ms=clock.ms,
            **kwargs,
        )


def row(engine: Engine, row_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(outbox_table).where(outbox_table.c.id == row_id)).one()


def log(engine: Engine, row_id: int) -> list[Any]:
    with engine.connect() as conn:
        query = sa.select(deliveries).where(deliveries.c.outbox_id == row_id).order_by(deliveries.c.id)
        return list(conn.execute(query))


def webhook(engine: Engine, receiver: Receiver, **options: Any) -> int:
    return add_channel(engine, "webhook", {"url": receiver.url + "/hook"}, **options)


async def test_delivered_once_and_never_again(
    store: Store, clock: ManualClock, worker: DeliveryWorker
) -> None:
    with Receiver() as receiver:
        row_id = enqueue(store.engine, webhook(store.engine, receiver), clock)
        assert await worker.run_once() is None
        clock.advance(3600)
        await worker.run_once()
        await worker.recover()
        await worker.run_once()
    assert len(receiver.requests) == 1
    assert receiver.requests[0].json()["groupKey"] == '{}:{alertname="HighErrorRate"}'
    stored = row(store.engine, row_id)
    assert (stored.status, stored.attempts, stored.delivered_ms, stored.last_error) == (
        "delivered",
        1,
        T0,
        None,
    )
    [entry] = log(store.engine, row_id)
    assert (entry.attempt, entry.ok, entry.outcome, entry.status_code, entry.detail) == (
        1,
        True,
        "delivered",
        200,
        "HTTP 200",
    )


async def test_backoff_schedule_then_gives_up(
    store: Store, clock: ManualClock, worker: DeliveryWorker
) -> None:
    with Receiver(Reply(503, b"busy")) as receiver:
        row_id = enqueue(store.engine, webhook(store.engine, receiver), clock)
        due = [await worker.run_once()]
        for wait in (5, 10, 20):
            clock.advance(wait - 0.001)
            assert await worker.run_once() == due[-1]  # not yet
            assert len(receiver.requests) == len(due)
            clock.advance(0.001)
            due.append(await worker.run_once())
    assert len(receiver.requests) == 4
    assert due == [T0 + 5_000, T0 + 15_000, T0 + 35_000, None]
    stored = row(store.engine, row_id)
    assert (stored.status, stored.attempts) == ("failed", 4)
    assert stored.last_error == "HTTP 503: busy; gave up after 4 attempts"
    entries = log(store.engine, row_id)
    assert [(e.attempt, e.outcome, e.status_code) for e in entries] == [
        (1, "retry", 503),
        (2, "retry", 503),
        (3, "retry", 503),
        (4, "failed", 503),
    ]
    assert entries[0].detail == "HTTP 503: busy; next attempt at 2026-01-01T00:00:05.000Z"


async def test_retry_after_is_honoured(store: Store, clock: ManualClock, worker: DeliveryWorker) -> None:
    with Receiver() as receiver:
        receiver.then(Reply(429, b"slow down", {"Retry-After": "30"}))
        row_id = enqueue(store.engine, webhook(store.engine, receiver), clock)
        assert await worker.run_once() == T0 + 30_000
        clock.advance(29.999)
        await worker.run_once()
        assert len(receiver.requests) == 1
        clock.advance(0.001)
        await worker.run_once()
    assert len(receiver.requests) == 2
    assert row(store.engine, row_id).status == "delivered"
    assert "receiver asked to retry after 30s" in log(store.engine, row_id)[0].detail


async def test_refusal_is_not_retried(store: Store, clock: ManualClock, worker: DeliveryWorker) -> None:
    with Receiver(Reply(400, b"bad payload")) as receiver:
        row_id = enqueue(store.engine, webhook(store.engine, receiver), clock)
        await worker.run_once()
        clock.advance(3600)
        await worker.run_once()
    assert len(receiver.requests) == 1
    stored = row(store.engine, row_id)
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert [e.outcome for e in log(store.engine, row_id)] == ["failed"]


async def test_fallback_after_repeated_failures(
    store: Store, clock: ManualClock, worker: DeliveryWorker
) -> None:
    with Receiver(Reply(500, b"down")) as primary, Receiver() as backup:
        backup_id = webhook(store.engine, backup, name="backup")
        primary_id = webhook(store.engine, primary, fallback_channel_id=backup_id)
        row_id = enqueue(store.engine, primary_id, clock)
        await worker.run_once()
        clock.advance(5)
        assert await worker.run_once() == T0 + 5_000  # the fallback row, due now
        await worker.run_once()
    assert (len(primary.requests), len(backup.requests)) == (2, 1)
    assert backup.requests[0].body == primary.requests[0].body
    original = row(store.engine, row_id)
    assert original.status == "failed"
    assert original.last_error.startswith("HTTP 500: down; failed 2 times; handed over to fallback channel")
    entries = log(store.engine, row_id)
    assert [e.outcome for e in entries] == ["retry", "failed", "fallback"]
    with store.engine.connect() as conn:
        handed = conn.execute(sa.select(outbox_table).where(outbox_table.c.fallback_of == row_id)).one()
    assert (
        entries[2].detail
        == f"handed over to fallback channel #{backup_id} as outbox #{handed.id} (failed 2 times)"
    )
    assert (handed.channel_id, handed.status, handed.group_key) == (
        backup_id,
        "delivered",
        original.group_key,
    )
    [backup_entry] = log(store.engine, handed.id)
    assert (backup_entry.channel_id, backup_entry.outcome) == (backup_id, "delivered")


async def test_refusal_and_disabled_channel_hand_over_at_once(
    store: Store, clock: ManualClock, worker: DeliveryWorker
) -> None:
    with Receiver(Reply(403, b"no")) as refusing, Receiver() as backup:
        backup_id = webhook(store.engine, backup)
        refusing_id = webhook(store.engine, refusing, fallback_channel_id=backup_id)
        disabled_id = webhook(store.engine, refusing, fallback_channel_id=backup_id, enabled=False)
        lonely_id = webhook(store.engine, refusing, enabled=False)
        refused = enqueue(store.engine, refusing_id, clock)
        skipped = enqueue(store.engine, disabled_id, clock)
        lost = enqueue(store.engine, lonely_id, clock)
        await worker.run_once()
        await worker.run_once()
    assert (len(refusing.requests), len(backup.requests)) == (1, 2)
    assert [e.outcome for e in log(store.engine, refused)] == ["failed", "fallback"]
    assert [(e.attempt, e.outcome) for e in log(store.engine, skipped)] == [(0, "fallback")]
    assert "(the channel is disabled)" in log(store.engine, skipped)[0].detail
    assert (row(store.engine, lost).status, row(store.engine, lost).last_error) == (
        "failed",
        "the channel is disabled",
    )
    assert [e.detail for e in log(store.engine, lost)] == ["not sent: the channel is disabled"]


async def test_fallback_chain_never_returns_to_a_tried_channel(
    store: Store, clock: ManualClock, worker: DeliveryWorker
) -> None:
    with Receiver(Reply(400, b"no")) as receiver:
        first = webhook(store.engine, receiver)
        second = webhook(store.engine, receiver, fallback_channel_id=first)
        with store.engine.begin() as conn:  # a loop made by hand, past the API's check
            conn.execute(
                sa.text("UPDATE channels SET fallback_channel_id = :b WHERE id = :a"),
                {"a": first, "b": second},
            )
        enqueue(store.engine, first, clock)
        for _ in range(4):
            await worker.run_once()
    assert len(receiver.requests) == 2
    with store.engine.connect() as conn:
        statuses = conn.execute(sa.select(outbox_table.c.status).order_by(outbox_table.c.id)).scalars().all()
    assert statuses == ["failed", "failed"]


async def test_rate_limit_per_minute(store: Store, clock: ManualClock, worker: DeliveryWorker) -> None:
    with Receiver() as receiver:
        channel = webhook(store.engine, receiver, rate_limit_per_minute=2)
        ids = [enqueue(store.engine, channel, clock, item=notification(group_key=f"g{i}")) for i in range(3)]
        assert await worker.run_once() == T0 + 60_000
        assert len(receiver.requests) == 2
        assert row(store.engine, ids[2]).attempts == 0  # waiting is not an attempt
        clock.advance(59.999)
        await worker.run_once()
        assert len(receiver.requests) == 2
        clock.advance(0.001)
        await worker.run_once()
    keys = [r.json()["groupKey"] for r in receiver.requests]
    assert sorted(keys[:2]) == ["g0", "g1"] and keys[2] == "g2"  # the first two are sent concurrently


async def test_slack_pacing_coalesces_queued_messages(
    store: Store, clock: ManualClock, worker: DeliveryWorker
) -> None:
    with Receiver() as receiver:
        channel = add_channel(store.engine, "slack", {"webhook_url": receiver.url + "/services/T/B/X"})
        enqueue(store.engine, channel, clock, item=notification(group_key="a", title="First"))
        await worker.run_once()
        clock.advance(0.2)
        queued = [
            enqueue(store.engine, channel, clock, item=notification(group_key=k, title=k)) for k in "bcd"
        ]
        assert await worker.run_once() == T0 + 1_000
        assert len(receiver.requests) == 1
        clock.advance(0.8)
        await worker.run_once()
    assert len(receiver.requests) == 2
    body = receiver.requests[1].json()
    assert body["text"].startswith("3 notifications: [FIRING:2] b (critical); [FIRING:2] c")
    assert [b["type"] for b in body["blocks"]].count("divider") == 2
    for row_id in queued:
        [entry] = log(store.engine, row_id)
        assert entry.detail == "HTTP 200 (one post for 3 notifications)"


async def test_slack_429_holds_back_every_message_to_that_webhook(
    store: Store, clock: ManualClock, worker: DeliveryWorker
) -> None:
    with Receiver() as receiver:
        receiver.then(Reply(429, b"rate_limited", {"Retry-After": "10"}))
        url = receiver.url + "/services/T/B/X"
        first = add_channel(store.engine, "slack", {"webhook_url": url})
        second = add_channel(store.engine, "slack", {"webhook_url": url, "username": "other"})
        enqueue(store.engine, first, clock)
        await worker.run_once()
        enqueue(store.engine, second, clock)
        clock.advance(5)
        await worker.run_once()
        assert len(receiver.requests) == 1
        clock.advance(5)
        assert await worker.run_once() == T0 + 11_000  # the retry went; the other waits its second
        assert len(receiver.requests) == 2
        clock.advance(1)
        await worker.run_once()
    assert len(receiver.requests) == 3
    assert receiver.requests[2].json()["username"] == "other"


async def test_claimed_row_is_sent_again_after_a_crash(store: Store, clock: ManualClock) -> None:
    release = threading.Event()
    with Receiver() as receiver:
        original = receiver.server.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

        def hang_first(handler: Any) -> None:
            if not receiver.requests:
                receiver.requests.append(None)  # type: ignore[arg-type]
                release.wait(10)
                return
            original(handler)

        receiver.server.RequestHandlerClass.do_POST = hang_first  # type: ignore[attr-defined]
        row_id = enqueue(store.engine, webhook(store.engine, receiver), clock)
        crashed = DeliveryWorker(transactor(store.engine), clock, policy=POLICY)
        task = asyncio.create_task(crashed.run_once())
        for _ in range(500):
            if row(store.engine, row_id).status == "sending" and receiver.requests:
                break
            await asyncio.sleep(0.01)
        assert row(store.engine, row_id).status == "sending"
        task.cancel()  # the process dies mid-send: nothing after the claim is recorded
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        await crashed.aclose()
        clock.advance(1)
        async with DeliveryWorker(transactor(store.engine), clock, policy=POLICY) as restarted:
            assert await restarted.recover() == 1
            await restarted.run_once()
    stored = row(store.engine, row_id)
    assert (stored.status, stored.attempts) == ("delivered", 2)
    assert [(e.attempt, e.outcome) for e in log(store.engine, row_id)] == [
        (1, "interrupted"),
        (2, "delivered"),
    ]
    assert len([r for r in receiver.requests if r is not None]) == 1


async def test_expired_lease_is_reclaimed_without_restart(store: Store, clock: ManualClock) -> None:
    with Receiver() as receiver:
        row_id = enqueue(store.engine, webhook(store.engine, receiver), clock)
        with store.engine.begin() as conn:  # what a worker that died after claiming leaves behind
            [due] = outbox.due_rows(conn, clock.ms, 10)
            assert outbox.claim(conn, due, clock.ms + 90_000)
        async with DeliveryWorker(
            transactor(store.engine), clock, policy=POLICY, send_timeout_s=30
        ) as worker:
            assert await worker.run_once() == T0 + 90_000
            assert receiver.requests == []
            clock.advance(90)
            await worker.run_once()
    assert row(store.engine, row_id).status == "delivered"
    assert [e.outcome for e in log(store.engine, row_id)] == ["interrupted", "delivered"]


async def test_wake_delivers_without_waiting_for_the_poll(store: Store, clock: ManualClock) -> None:
    with Receiver() as receiver:
        channel = webhook(store.engine, receiver)
        worker = DeliveryWorker(transactor(store.engine), clock, policy=POLICY, poll_interval_s=600)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.05)
        enqueue(store.engine, channel, clock)
        worker.wake()
        deadline = time.monotonic() + 20
        while not receiver.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.aclose()
    assert len(receiver.requests) == 1


def test_enqueue_checks_channel_and_recipient(store: Store, clock: ManualClock) -> None:
    email = add_channel(
        store.engine, "email", {"host": "127.0.0.1", "from_address": "a@monitor.example", "security": "none"}
    )
    hook = add_channel(store.engine, "webhook", {"url": "https://example.com/h"})
    with store.engine.begin() as conn:
        row_id = outbox.enqueue(
            conn,
            channel_id=email,
            notification=notification(Action.TEST),
            now_ms=T0,
            recipient="ann@shop.example",
        )
        assert outbox.get_row(conn, row_id)["recipient"] == "ann@shop.example"  # type: ignore[index]
        with pytest.raises(outbox.OutboxError, match="channel 999 does not exist"):
            outbox.enqueue(conn, channel_id=999, notification=notification(), now_ms=T0)
        with pytest.raises(ValueError, match="not an email address"):
            outbox.enqueue(
                conn, channel_id=email, notification=notification(), now_ms=T0, recipient="+14155550100"
            )
        with pytest.raises(ValueError, match="a webhook channel has a fixed destination"):
            outbox.enqueue(
                conn, channel_id=hook, notification=notification(), now_ms=T0, recipient="x@y.example"
            )


async def test_deleting_a_channel_takes_its_queue_and_log(
    store: Store, clock: ManualClock, worker: DeliveryWorker
) -> None:
    with Receiver() as receiver:
        channel = webhook(store.engine, receiver)
        enqueue(store.engine, channel, clock)
        await worker.run_once()
    with store.engine.begin() as conn:
        channel_store.delete_channel(conn, channel)
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_table)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == 0


async def test_retention_deletes_finished_rows(store: Store, clock: ManualClock) -> None:
    with Receiver() as receiver:
        channel = webhook(store.engine, receiver)
        old = enqueue(store.engine, channel, clock)
        async with DeliveryWorker(transactor(store.engine), clock, retention_ms=86_400_000) as worker:
            await worker.run_once()
            clock.advance(2 * 86_400)
            fresh = enqueue(store.engine, channel, clock)
            await worker._prune()
    with store.engine.connect() as conn:
        remaining = conn.execute(sa.select(outbox_table.c.id)).scalars().all()
    assert remaining == [fresh] and old not in remaining


async def wait_until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_hanging_receiver_holds_back_no_other_outcome(store: Store, clock: ManualClock) -> None:
    """Both sends start in one cycle; the quick one's outcome is recorded while the other hangs,
    so a crash then would re-send only the one really in flight."""
    held = threading.Event()
    with Receiver().then(Reply(hold=held)) as slow, Receiver() as quick:
        slow_row = enqueue(store.engine, webhook(store.engine, slow), clock)
        quick_row = enqueue(store.engine, webhook(store.engine, quick), clock)
        async with DeliveryWorker(transactor(store.engine), clock, policy=POLICY) as worker:
            cycle = asyncio.create_task(worker.run_once())
            await wait_until(lambda: row(store.engine, quick_row).status == "delivered", "the quick outcome")
            assert row(store.engine, slow_row).status == "sending" and slow.requests
            held.set()
            await cycle
    assert row(store.engine, slow_row).status == "delivered"


async def test_a_new_notification_does_not_wait_for_a_hanging_send(store: Store, clock: ManualClock) -> None:
    held = threading.Event()
    with Receiver().then(Reply(hold=held)) as slow, Receiver() as quick:
        worker = DeliveryWorker(
            transactor(store.engine), clock, policy=POLICY, poll_interval_s=600, send_timeout_s=60
        )
        task = asyncio.create_task(worker.run())
        try:
            slow_channel = add_channel(store.engine, "webhook", {"url": slow.url, "timeout_seconds": 60})
            enqueue(store.engine, slow_channel, clock)
            worker.wake()
            await wait_until(lambda: slow.requests, "the slow send to start")
            later = enqueue(store.engine, webhook(store.engine, quick), clock)
            worker.wake()
            await wait_until(lambda: row(store.engine, later).status == "delivered", "the new notification")
            assert [r.status for r in slow.requests] == [None]  # still hanging
        finally:
            held.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await worker.aclose()
    assert len(quick.requests) == 1
