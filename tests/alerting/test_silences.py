"""Silences: states, expiry, expire_on_resolve, and what they do to an open incident (muted,
escalation paused, expiry announced in its timeline, re-notified if still firing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from syncmon.alerting.model import Matcher
from syncmon.alerting.silences import Silence, SilenceState, expire, silenced_by, to_expire_on_resolve
from syncmon.store.schema import silences
from tests.alerting.incident_support import (
    T0,
    Harness,
    add_policy,
    add_silence,
    alert,
    firing,
    resolved,
    timeline_kinds,
)
from tests.conftest import Store

S = Silence(1, (Matcher("alertname", "A"),), starts_ms=100, ends_ms=200)


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (0, SilenceState.PENDING),
        (99, SilenceState.PENDING),
        (100, SilenceState.ACTIVE),
        (199, SilenceState.ACTIVE),
        (200, SilenceState.EXPIRED),
        (10_000, SilenceState.EXPIRED),
    ],
)
def test_states(now: int, state: SilenceState) -> None:
    assert S.state(now) is state
    assert S.mutes({"alertname": "A"}, now) is (state is SilenceState.ACTIVE)


def test_expire() -> None:
    assert expire(S, 150) == Silence(1, S.matchers, 100, 150)
    assert expire(S, 50) == Silence(1, S.matchers, 50, 50)  # pending: an empty range at now
    assert expire(S, 50).state(50) is SilenceState.EXPIRED
    assert expire(S, 500) is S  # already expired: unchanged


def test_matching() -> None:
    regex = Silence(
        2, (Matcher("instance", "web-.*", is_regex=True), Matcher("env", "dev", is_equal=False)), 0, 10
    )
    assert regex.mutes({"instance": "web-1", "env": "prod"}, 5)
    assert not regex.mutes({"instance": "web-1", "env": "dev"}, 5)
    assert not regex.mutes({"instance": "db-1"}, 5)
    assert not Silence(3, (), 0, 10).mutes({"a": "b"}, 5)  # no matchers silence nothing
    later = Silence(0, S.matchers, 0, 1000)
    found = silenced_by([S, later], {"alertname": "A"}, 150)
    assert found is not None and found.id == 0


def test_expire_on_resolve_waits_for_a_match() -> None:
    fresh = Silence(4, (Matcher("alertname", "A"),), 0, 10_000, expire_on_resolve=True)
    a = alert("A")
    assert to_expire_on_resolve([fresh], [], 5) == []  # never matched: stays
    used = Silence(4, fresh.matchers, 0, 10_000, expire_on_resolve=True, matched_ms=3)
    assert to_expire_on_resolve([used], [a], 5) == []  # its alert still fires
    assert to_expire_on_resolve([used], [], 5) == [used]
    plain = Silence(5, fresh.matchers, 0, 10_000, matched_ms=3)
    assert to_expire_on_resolve([plain], [], 5) == []


@pytest.fixture
def harness(store: Store) -> Iterator[Harness]:
    h = Harness(store.engine)
    add_policy(
        store.engine,
        [
            {"timeout_ms": 300_000, "targets": [{"channel_id": 1}]},
            {"timeout_ms": 300_000, "targets": [{"channel_id": 2}]},
        ],
    )
    yield h
    h.close()


async def test_silence_pauses_escalation_and_its_expiry_is_announced(store: Store, harness: Harness) -> None:
    a = alert("A", "critical")
    await harness.handle(firing(a))
    add_silence(store.engine, [{"name": "alertname", "value": "A"}], T0 + 60_000, T0 + 1_200_000)
    await harness.run_until(1190, step=10)
    assert [(s.channel_id, s.at_s) for s in harness.sent()] == [(1, 0.0)]  # level 2 not paged while silenced

    await harness.run_until(1600, step=10)
    # expired while still firing: the incident is told again and escalation goes on from there
    assert [(s.channel_id, s.action, s.at_s) for s in harness.sent()] == [
        (1, "trigger", 0.0),
        (1, "trigger", 1200.0),
        (2, "trigger", 1500.0),
    ]
    kinds = timeline_kinds(store.engine, 1)
    wanted = ["fired", "escalated", "silenced", "escalation_paused", "silence_expired", "unmuted"]
    wanted += ["escalation_resumed", "escalated"]
    assert [k for k in kinds if k in wanted] == wanted


async def test_expire_on_resolve(store: Store, harness: Harness) -> None:
    a = alert("A", "critical")
    await harness.handle(firing(a))
    silence_id = add_silence(
        store.engine, [{"name": "alertname", "value": "A"}], T0, T0 + 86_400_000, expire_on_resolve=True
    )
    await harness.at(10)
    harness.clock.ms = T0 + 100_000
    await harness.handle(resolved(a, T0 + 100_000))
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(silences).where(silences.c.id == silence_id)).one()
    assert row.ends_ms == T0 + 100_000
    assert row.expired_reason == "the alerts it silenced resolved"
    assert row.expiry_announced
    await harness.run_until(400, step=10)
    assert [(s.channel_id, s.action, s.at_s) for s in harness.sent()] == [
        (1, "trigger", 0.0),
        (1, "resolve", 300.0),
    ]
    kinds = timeline_kinds(store.engine, 1)
    assert [k for k in kinds if k in ("silenced", "silence_expired", "resolved")] == [
        "silenced",
        "silence_expired",
        "resolved",
    ]


async def test_silence_created_ahead_mutes_from_its_start(store: Store, harness: Harness) -> None:
    add_silence(store.engine, [{"name": "alertname", "value": "A"}], T0 + 60_000, T0 + 120_000)
    a = alert("A", "critical")
    b = alert("A", "critical", instance="late")
    await harness.handle(firing(a))  # before the silence starts: notified
    harness.clock.ms = T0 + 70_000
    await harness.handle(firing(b))  # during it: recorded, not notified
    await harness.run_until(110, step=10)
    assert [s.fingerprints for s in harness.sent()] == [(a.fingerprint,)]
    await harness.run_until(400, step=10)
    # the silence ended at 120 with both still firing: both are news (critical: no group_interval wait)
    assert [(set(s.fingerprints), s.at_s) for s in harness.sent()[1:]] == [
        ({a.fingerprint, b.fingerprint}, 120.0)
    ]


async def test_a_resolve_beside_silenced_alerts_pages_nobody(store: Store, harness: Harness) -> None:
    """One alert of the incident resolves while the other is silenced: the timeline notes it,
    but nobody is sent a TRIGGER listing no firing alert."""
    a = alert("A", "critical", instance="1")
    b = alert("A", "critical", instance="2")
    await harness.handle(firing(a), firing(b))
    add_silence(store.engine, [{"name": "instance", "value": "2"}], T0, T0 + 3_600_000)
    await harness.at(10)
    harness.clock.ms = T0 + 20_000
    await harness.handle(resolved(a, T0 + 20_000))
    await harness.run_until(900, step=60)
    assert [(s.action, s.at_s) for s in harness.sent()] == [("trigger", 0.0)]
    assert "alerts_changed" in timeline_kinds(store.engine, 1)
