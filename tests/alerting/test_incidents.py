"""Incidents end to end on both engines: a CRITICAL is paged at once, escalation walks the levels,
acknowledging stops it before the next step, resolving sends RESOLVE to everyone triggered,
a re-fire opens a new incident, and every page is written into the timeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from syncmon.alerting import incident_store
from syncmon.alerting.dispatcher import Dispatcher
from syncmon.alerting.incidents import IncidentError, IncidentStatus
from syncmon.channels import outbox
from syncmon.channels.delivery import DeliveryWorker, transactor
from syncmon.clock import ManualClock
from syncmon.store.schema import alert_routes, incidents
from tests.alerting.incident_support import (
    PUBLIC_URL,
    T0,
    EngineTransactor,
    Harness,
    add_policy,
    add_user,
    alert,
    firing,
    resolved,
    timeline_kinds,
)
from tests.channels.support import Receiver, add_channel
from tests.conftest import Store

MIN = 60_000


@pytest.fixture
def harness(store: Store) -> Iterator[Harness]:
    h = Harness(store.engine)
    yield h
    h.close()


def two_levels(store: Store) -> int:
    return add_policy(
        store.engine,
        [
            {"timeout_ms": 5 * MIN, "targets": [{"channel_id": 1}]},
            {"timeout_ms": 10 * MIN, "targets": [{"channel_id": 2}]},
        ],
        project_id=store.project.id,
    )


async def test_critical_is_paged_at_once(store: Store, harness: Harness) -> None:
    two_levels(store)
    a = alert("HighErrorRate", "critical")
    await harness.handle(firing(a))
    sent = harness.sent()
    assert [(s.channel_id, s.action, s.at_s, s.incident_id) for s in sent] == [(1, "trigger", 0.0, 1)]
    assert harness.wakes == 1  # the delivery worker is woken after the commit
    assert sent[0].title == "HighErrorRate (syncscript) — incident #1"
    assert set(sent[0].links) == {"acknowledge", "resolve"}
    assert timeline_kinds(store.engine, 1) == ["fired", "escalated", "notified"]


async def test_warning_waits_for_group_wait(store: Store, harness: Harness) -> None:
    two_levels(store)
    await harness.handle(firing(alert("SlowPages", "warning")))
    await harness.run_until(29)
    assert harness.sent() == []
    await harness.at(30)
    assert [(s.channel_id, s.at_s) for s in harness.sent()] == [(1, 30.0)]


async def test_escalation_levels_and_ack_stops_before_the_next_step(store: Store, harness: Harness) -> None:
    two_levels(store)
    await harness.handle(firing(alert("HighErrorRate", "critical")))
    await harness.run_until(300, step=10)
    assert [(s.channel_id, s.at_s) for s in harness.sent()] == [(1, 0.0), (2, 300.0)]
    # acknowledged at the very moment level 3 (the repeat-less end) would be checked
    harness.clock.ms = T0 + 900_000
    incident = await harness.dispatcher.acknowledge(1, "token:7")
    assert incident.status is IncidentStatus.ACKNOWLEDGED
    await harness.run_until(4 * 3600 + 600, step=60)
    after_ack = [(s.channel_id, s.action) for s in harness.sent()[2:]]
    assert after_ack == [(1, "acknowledge"), (2, "acknowledge")]  # and no page after it, not even repeats
    # pages still waiting in the outbox (a channel being retried) are withdrawn with the ack
    assert [s.cancelled for s in harness.sent()] == [True, True, False, False]
    kinds = timeline_kinds(store.engine, 1)
    assert kinds.count("escalated") == 2 and "escalation_finished" not in kinds
    # acknowledging twice keeps the first
    again = await harness.dispatcher.acknowledge(1, "token:8")
    assert again.acknowledged_by == "token:7"
    assert len(harness.sent()) == 4


async def test_ack_between_handle_and_next_level(store: Store, harness: Harness) -> None:
    two_levels(store)
    await harness.handle(firing(alert("HighErrorRate", "critical")))
    harness.clock.ms = T0 + 299_999
    await harness.dispatcher.acknowledge(1, "token:1")
    await harness.run_until(1200, step=10)
    assert [(s.channel_id, s.action) for s in harness.sent()] == [(1, "trigger"), (1, "acknowledge")]


async def test_resolve_goes_to_everyone_triggered(store: Store, harness: Harness) -> None:
    alice = add_user(store.engine, "alice@example.com")
    bob = add_user(store.engine, "bob@example.com", phone="+4915112345678")
    add_policy(
        store.engine,
        [
            {"timeout_ms": 5 * MIN, "targets": [{"channel_id": 1}]},
            {
                "timeout_ms": 5 * MIN,
                "targets": [
                    {"user_id": alice, "channel_id": 3, "contact": "email"},
                    {"user_id": bob, "channel_id": 4, "contact": "phone"},
                ],
            },
        ],
    )
    a = alert("HighErrorRate", "critical")
    await harness.handle(firing(a))
    await harness.run_until(400, step=10)
    harness.clock.ms = T0 + 400_000
    await harness.handle(resolved(a, T0 + 400_000))
    await harness.run_until(700, step=10)
    sent = [(s.channel_id, s.recipient, s.action, s.at_s) for s in harness.sent()]
    assert sent == [
        (1, None, "trigger", 0.0),
        (3, "alice@example.com", "trigger", 300.0),
        (4, "+4915112345678", "trigger", 300.0),
        # at once: group_interval has passed since the group's last notification (at 0)
        (1, None, "resolve", 400.0),
        (3, "alice@example.com", "resolve", 400.0),
        (4, "+4915112345678", "resolve", 400.0),
    ]
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(incidents).where(incidents.c.id == 1)).one()
    assert (row.status, row.resolved_by, row.open_key) == ("resolved", "system", None)
    # nothing more: the incident is over and the group is gone
    await harness.run_until(5 * 3600, step=600)
    assert len(harness.sent()) == 6


async def test_manual_resolve_then_refire_opens_a_new_incident(store: Store, harness: Harness) -> None:
    two_levels(store)
    a = alert("HighErrorRate", "critical")
    await harness.handle(firing(a))
    harness.clock.ms = T0 + 60_000
    done = await harness.dispatcher.resolve(1, "token:3")
    assert done.status is IncidentStatus.RESOLVED and done.resolved_by == "token:3"
    assert [(s.action, s.at_s) for s in harness.sent()] == [("trigger", 0.0), ("resolve", 60.0)]
    with pytest.raises(IncidentError) as refused:
        await harness.dispatcher.acknowledge(1, "token:3")
    assert refused.value.status == 409
    # still firing: no new incident before a full repeat_interval after the manual resolve …
    await harness.run_until(4 * 3600 + 59, step=300)
    assert len(harness.sent()) == 2
    # … then a new one, paged from its first level
    await harness.at(4 * 3600 + 60)
    assert [(s.incident_id, s.channel_id, s.action) for s in harness.sent()[2:]] == [(2, 1, "trigger")]


async def test_refire_after_auto_resolve_opens_a_new_incident(store: Store, harness: Harness) -> None:
    two_levels(store)
    a = alert("HighErrorRate", "critical")
    await harness.handle(firing(a))
    harness.clock.ms = T0 + 10_000
    await harness.handle(resolved(a, T0 + 10_000))
    await harness.run_until(300, step=10)
    harness.clock.ms = T0 + 400_000
    await harness.handle(firing(a, T0 + 400_000))
    got = [(s.incident_id, s.action, s.at_s) for s in harness.sent()]
    assert got == [(1, "trigger", 0.0), (1, "resolve", 300.0), (2, "trigger", 400.0)]
    assert harness.sent()[0].group_key != harness.sent()[2].group_key  # PagerDuty dedup_key per incident


async def test_alert_joining_goes_to_those_triggered_unless_acknowledged(
    store: Store, harness: Harness
) -> None:
    two_levels(store)
    a = alert("HighErrorRate", "critical", instance="a")
    b = alert("HighErrorRate", "critical", instance="b")
    c = alert("HighErrorRate", "critical", instance="c")
    await harness.handle(firing(a))
    harness.clock.ms = T0 + 30_000
    await harness.handle(firing(b))
    await harness.run_until(300, step=10)
    # b joined: told at group_interval to level 1; level 2 was paged at 300 with both
    assert [(s.channel_id, len(s.fingerprints), s.at_s) for s in harness.sent()] == [
        (1, 1, 0.0),
        (1, 2, 300.0),
        (2, 2, 300.0),
    ]
    await harness.dispatcher.acknowledge(1, "token:1")
    harness.clock.ms = T0 + 320_000
    await harness.handle(firing(c))
    await harness.run_until(1200, step=10)
    assert [s.action for s in harness.sent()[3:]] == ["acknowledge", "acknowledge"]
    assert "alerts_changed" in timeline_kinds(store.engine, 1)


async def test_unreachable_targets_are_written_not_skipped_silently(store: Store, harness: Harness) -> None:
    nophone = add_user(store.engine, "carol@example.com")
    add_policy(
        store.engine,
        [
            {
                "timeout_ms": 5 * MIN,
                "targets": [
                    {"user_id": nophone, "channel_id": 4, "contact": "phone"},
                    {"channel_id": 9},
                    {"channel_id": 1},
                ],
            }
        ],
    )
    harness.outbox.refuse_channels.add(9)
    await harness.handle(firing(alert()))
    assert [s.channel_id for s in harness.sent()] == [1]
    with store.engine.connect() as conn:
        events = incident_store.timeline(conn, 1)
    errors = [(e["channel_id"], e["details"]["error"]) for e in events if e["kind"] == "not_notified"]
    assert errors == [
        (4, "user carol@example.com has no phone number"),
        (9, "the outbox refused it: channel 9 does not exist"),
    ]


async def test_no_policy_opens_the_incident_and_says_nobody_was_told(store: Store, harness: Harness) -> None:
    await harness.handle(firing(alert()))
    assert harness.sent() == []
    assert timeline_kinds(store.engine, 1) == ["fired", "no_policy"]


async def test_inhibited_warning_is_left_out_until_the_critical_resolves(
    store: Store, harness: Harness
) -> None:
    two_levels(store)
    crit = alert("HighErrorRate", "critical")
    warn = alert("HighErrorRate", "warning")
    await harness.handle(firing(crit), firing(warn))
    assert [s.fingerprints for s in harness.sent()] == [(crit.fingerprint,)]
    harness.clock.ms = T0 + 100_000
    await harness.handle(resolved(crit, T0 + 100_000))
    await harness.run_until(300, step=10)
    # the warning is news now; the critical is reported resolved
    [update] = harness.sent()[1:2]
    assert set(update.fingerprints) == {crit.fingerprint, warn.fingerprint}
    assert update.action == "trigger"


async def test_route_policy_and_continue(store: Store, harness: Harness) -> None:
    fallback = two_levels(store)
    db_policy = add_policy(store.engine, [{"timeout_ms": MIN, "targets": [{"channel_id": 7}]}], default=False)
    with store.engine.begin() as conn:
        for position, (name, cont, policy) in enumerate(
            [("db", True, db_policy), ("audit", False, fallback)]
        ):
            conn.execute(
                alert_routes.insert().values(
                    parent_id=None, position=position, name=name,
                    matchers=[{"name": "team", "value": "db", "is_regex": False, "is_equal": True}],
                    continue_matching=cont, group_by=None, group_wait_ms=None, group_interval_ms=None,
                    repeat_interval_ms=None, policy_id=policy, created_ms=T0, updated_ms=T0,
                )
            )  # fmt: skip
    await harness.handle(firing(alert("ReplicaLag", "critical", team="db")))
    assert sorted((s.incident_id, s.channel_id) for s in harness.sent()) == [(1, 7), (2, 1)]


async def test_an_alert_with_an_unknown_severity_is_refused_alone(store: Store, harness: Harness) -> None:
    two_levels(store)
    odd = alert("Weird", "error")
    await harness.handle(firing(odd), firing(alert("HighErrorRate", "critical")))
    await harness.at(1)
    assert [s.title for s in harness.sent()] == ["HighErrorRate (syncscript) — incident #1"]


async def test_a_resolve_reaches_its_group_after_the_routes_changed(store: Store, harness: Harness) -> None:
    two_levels(store)
    with store.engine.begin() as conn:
        conn.execute(
            alert_routes.insert().values(
                parent_id=None, position=0, name="db",
                matchers=[{"name": "team", "value": "db", "is_regex": False, "is_equal": True}],
                continue_matching=False, group_by=["alertname", "instance"], group_wait_ms=None,
                group_interval_ms=None, repeat_interval_ms=None, policy_id=None, created_ms=T0, updated_ms=T0,
            )
        )  # fmt: skip
    a = alert("ReplicaLag", "critical", team="db", instance="db-1")
    await harness.handle(firing(a))
    with store.engine.begin() as conn:
        conn.execute(alert_routes.delete())  # the route is gone; the alert now routes to the root
    harness.clock.ms = T0 + 60_000
    await harness.handle(resolved(a, T0 + 60_000))
    await harness.run_until(400, step=50)
    assert [(s.incident_id, s.action) for s in harness.sent()] == [(1, "trigger"), (1, "resolve")]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(incidents.c.status)).scalars().all() == ["resolved"]


async def test_the_timeline_shows_each_notifications_delivery(store: Store) -> None:
    """With the real outbox: a `notified` entry carries its outbox row's status as it is now."""

    def notified() -> list[tuple[str | None, object]]:
        with store.engine.connect() as conn:
            entries = incident_store.timeline(conn, 1)
        return [(e["action"], e["delivery"]) for e in entries if e["kind"] == "notified"]

    clock = ManualClock(T0)
    with Receiver() as receiver:
        channel = add_channel(store.engine, "webhook", {"url": receiver.url})
        add_policy(store.engine, [{"timeout_ms": 5 * MIN, "targets": [{"channel_id": channel}]}])
        dispatcher = Dispatcher(
            EngineTransactor(store.engine), clock, sink=outbox.enqueue, public_url=PUBLIC_URL
        )
        await dispatcher.handle([firing(alert())])
        pending = {"status": "pending", "attempts": 0, "delivered_at": None, "last_error": None}
        assert notified() == [("trigger", pending)]
        clock.advance(2)
        async with DeliveryWorker(transactor(store.engine), clock) as worker:
            await worker.run_once()
    delivered = {"status": "delivered", "attempts": 1, "delivered_at": (T0 + 2000) / 1000, "last_error": None}
    assert notified() == [("trigger", delivered)]
    assert len(receiver.requests) == 1
