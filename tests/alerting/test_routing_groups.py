"""Group timers, table-driven: group_wait, group_interval and repeat_interval as Alertmanager means
them (with severity-based group_wait), resolves, flapping and mutes, on a ticking clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from syncmon.alerting.groups import FlushKind, GroupState, add_alert, after_flush, apply_mutes, decide, due_ms
from syncmon.alerting.model import Alert, AlertState
from syncmon.alerting.routing import Timers
from tests.alerting.incident_support import T0, alert

A = alert("A", "critical", instance="a")
B = alert("B", "critical", instance="b")
W1 = alert("W", "warning", instance="1")
W2 = alert("W", "warning", instance="2")
NAMES = {a.fingerprint: a.labels["alertname"] + a.labels["instance"] for a in (A, B, W1, W2)}
H = 3600

Script = list[tuple[float, str, Alert]]


def simulate(script: Script, until: float, timers: Timers | None = None) -> list[tuple[float, str, str, str]]:
    """Tick each second to `until`; applies ("fire" | "resolve" | "mute" | "unmute", alert) events
    first at their second. Returns (second, flush kind, firing names, resolved names), names sorted."""
    group: GroupState | None = None
    muted: dict[str, str | None] = {}
    log: list[tuple[float, str, str, str]] = []
    second = 0.0
    while second <= until:
        now = T0 + int(second * 1000)
        for at, what, subject in script:
            if at != second:
                continue
            if what in ("fire", "resolve"):
                state = AlertState.FIRING if what == "fire" else AlertState.RESOLVED
                changed = replace(subject, state=state)
                if group is None:
                    group = GroupState("k", timers or Timers(), now, {})
                group = add_alert(group, changed, now)
            else:
                muted[subject.fingerprint] = "silence:1" if what == "mute" else None
        if group is not None:
            group, _ = apply_mutes(group, muted)
            flush = decide(group, now)
            if flush is not None:
                firing = ",".join(sorted(NAMES[a.fingerprint] for a in flush.firing))
                resolved = ",".join(sorted(NAMES[a.fingerprint] for a in flush.resolved))
                log.append((second, flush.kind.value, firing, resolved))
                group = after_flush(group, flush, now)
        second += 1
    return log


CASES: list[tuple[str, Script, float, Timers | None, list[tuple[float, str, str, str]]]] = [
    ("critical notifies at once", [(0, "fire", A)], 60, None, [(0, "first", "Aa", "")]),
    ("warning waits group_wait 30s", [(0, "fire", W1)], 60, None, [(30, "first", "W1", "")]),
    (
        "warnings arriving within group_wait go out together",
        [(0, "fire", W1), (10, "fire", W2)],
        60,
        None,
        [(30, "first", "W1,W2", "")],
    ),
    (
        "resolved before group_wait: never notified",
        [(0, "fire", W1), (10, "resolve", W1)],
        600,
        None,
        [(10, "drop", "", "")],
    ),
    (
        "an alert joining a notified group waits for group_interval",
        [(0, "fire", A), (60, "fire", B)],
        400,
        None,
        [(0, "first", "Aa", ""), (300, "update", "Aa,Bb", "")],
    ),
    (
        "a critical joining notified warnings does not wait for group_interval",
        [(0, "fire", W1), (100, "fire", A)],
        400,
        None,
        [(30, "first", "W1", ""), (100, "update", "Aa,W1", "")],
    ),
    (
        "unchanged and firing: repeat_interval",
        [(0, "fire", A)],
        8 * H + 10,
        None,
        [(0, "first", "Aa", ""), (4 * H, "repeat", "Aa", ""), (8 * H, "repeat", "Aa", "")],
    ),
    (
        "resolved: sent at the next group_interval after the last notification",
        [(0, "fire", A), (10, "resolve", A)],
        600,
        None,
        [(0, "first", "Aa", ""), (300, "resolve", "", "Aa")],
    ),
    (
        "flapping inside group_interval sends nothing more",
        [(0, "fire", A), (10, "resolve", A), (20, "fire", A)],
        4 * H - 1,
        None,
        [(0, "first", "Aa", "")],
    ),
    (
        "partial resolve is an update, the last one a resolve",
        [(0, "fire", A), (0, "fire", B), (60, "resolve", A), (400, "resolve", B)],
        900,
        None,
        [(0, "first", "Aa,Bb", ""), (300, "update", "Bb", "Aa"), (600, "resolve", "", "Bb")],
    ),
    (
        "silenced after notification, still firing when unsilenced: notified again",
        [(0, "fire", A), (10, "mute", A), (100, "unmute", A)],
        400,
        None,
        [(0, "first", "Aa", ""), (100, "update", "Aa", "")],
    ),
    (
        "muted from the start: nothing until the mute ends",
        [(0, "mute", A), (0, "fire", A), (50, "unmute", A)],
        100,
        None,
        [(50, "first", "Aa", "")],
    ),
    (
        "muted the whole time and resolved: dropped silently",
        [(0, "mute", A), (0, "fire", A), (50, "resolve", A)],
        100,
        None,
        [(50, "drop", "", "")],
    ),
    (
        "route timers: explicit group_wait applies to critical too",
        [(0, "fire", A)],
        130,
        Timers(group_wait_ms=10_000, group_interval_ms=60_000, repeat_interval_ms=120_000),
        [(10, "first", "Aa", ""), (130, "repeat", "Aa", "")],
    ),
]


@pytest.mark.parametrize(
    ("script", "until", "timers", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_group_timers(
    script: Script, until: float, timers: Timers | None, expected: list[tuple[float, str, str, str]]
) -> None:
    assert simulate(script, until, timers) == expected


def test_due_is_none_while_everything_is_muted() -> None:
    group = add_alert(GroupState("k", Timers(), T0, {}), A, T0)
    group, changes = apply_mutes(group, {A.fingerprint: "silence:3"})
    assert [(m.alert.fingerprint, previous) for m, previous in changes] == [(A.fingerprint, None)]
    assert due_ms(group) is None
    assert decide(group, T0 + 10 * H * 1000) is None


def test_mutes_of_resolved_members_are_kept() -> None:
    """A resolved alert keeps the reason it was muted for, so the silence's expiry can still be
    announced in its incident."""
    group = add_alert(GroupState("k", Timers(), T0, {}), A, T0)
    group, _ = apply_mutes(group, {A.fingerprint: "silence:3"})
    group = add_alert(group, replace(A, state=AlertState.RESOLVED), T0 + 1000)
    group, changes = apply_mutes(group, {})
    assert changes == []
    assert group.members[A.fingerprint].muted_by == "silence:3"


def test_resolved_alert_that_never_joined_is_ignored() -> None:
    group = GroupState("k", Timers(), T0, {})
    assert add_alert(group, replace(A, state=AlertState.RESOLVED), T0) == group


def test_after_flush_remembers_what_was_sent() -> None:
    group = add_alert(add_alert(GroupState("k", Timers(), T0, {}), A, T0), W1, T0)
    flush = decide(group, T0)
    assert flush is not None and flush.kind is FlushKind.FIRST
    after = after_flush(group, flush, T0)
    assert after is not None
    assert after.notified == {A.fingerprint, W1.fingerprint}
    assert after.notified_severity is not None and after.notified_severity.value == "critical"
    assert after.last_notify_ms == T0
