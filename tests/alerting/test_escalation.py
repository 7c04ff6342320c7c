"""The escalation step, table-driven: levels in order, timeouts, repeats, finishing, pause and resume,
and acknowledgement or resolution checked before every step."""

from __future__ import annotations

from dataclasses import replace

import pytest

from syncmon.alerting.escalation import (
    EscalationState,
    Level,
    Policy,
    Target,
    pause,
    resume,
    start,
    step,
)

MIN = 60_000
POLICY = Policy(
    id=1,
    name="web",
    levels=(
        Level(5 * MIN, (Target(1),)),
        Level(10 * MIN, (Target(2), Target(3, user_id=7))),
        Level(15 * MIN, (Target(4),)),
    ),
    repeat=1,
)


def run(
    policy: Policy, until_min: int, *, ack_at_min: int | None = None
) -> list[tuple[int, int | None, int]]:
    """Step every minute from minute 0; returns (minute, level paged or None for finished, repeat)."""
    state = start(0)
    log: list[tuple[int, int | None, int]] = []
    for minute in range(until_min + 1):
        if ack_at_min is not None and minute == ack_at_min:
            state = replace(state, acknowledged=True, next_step_ms=None)
        found = step(state, policy, minute * MIN)
        if found is not None:
            log.append((minute, found.level, found.repeat))
            state = found.state
    return log


@pytest.mark.parametrize(
    ("policy", "until", "ack_at", "expected"),
    [
        # levels at their timeouts, then the whole policy once more (repeat=1), then finished
        (
            POLICY,
            120,
            None,
            [(0, 0, 0), (5, 1, 0), (15, 2, 0), (30, 0, 1), (35, 1, 1), (45, 2, 1), (60, None, 1)],
        ),
        # no repeat: finished when the last level's timeout passes
        (replace(POLICY, repeat=0), 120, None, [(0, 0, 0), (5, 1, 0), (15, 2, 0), (30, None, 0)]),
        # acknowledged at minute 7: level 2 (due at 15) is never paged
        (POLICY, 120, 7, [(0, 0, 0), (5, 1, 0)]),
        # acknowledged the very minute level 2 is due: the ack wins
        (POLICY, 120, 15, [(0, 0, 0), (5, 1, 0)]),
        # one level, no repeat
        (Policy(2, "one", (Level(MIN, (Target(1),)),)), 10, None, [(0, 0, 0), (1, None, 0)]),
        # repeat is capped at 9 (PagerDuty's limit)
        (
            Policy(3, "loop", (Level(MIN, (Target(1),)),), repeat=50),
            30,
            None,
            [*((m, 0, m) for m in range(10)), (10, None, 9)],
        ),
        # a policy without levels finishes at once, paging nobody
        (Policy(4, "empty", ()), 5, None, [(0, None, 0)]),
    ],
    ids=[
        "repeat-once",
        "no-repeat",
        "ack-stops",
        "ack-same-minute",
        "single-level",
        "repeat-cap",
        "no-levels",
    ],
)
def test_escalation_steps(
    policy: Policy, until: int, ack_at: int | None, expected: list[tuple[int, int | None, int]]
) -> None:
    assert run(policy, until, ack_at_min=ack_at) == expected


def test_resolved_and_paused_incidents_do_not_step() -> None:
    due = EscalationState(level=0, next_step_ms=0)
    assert step(replace(due, resolved=True), POLICY, 10 * MIN) is None
    assert step(replace(due, acknowledged=True), POLICY, 10 * MIN) is None
    assert step(pause(due), POLICY, 10 * MIN) is None
    assert step(due, POLICY, 10 * MIN) is not None


def test_pause_and_resume_give_the_level_its_full_timeout_again() -> None:
    at_level_1 = EscalationState(level=1, next_step_ms=7 * MIN)
    paused = pause(at_level_1)
    assert paused.paused and paused.next_step_ms is None
    assert pause(paused) == paused
    resumed = resume(paused, POLICY, 100 * MIN)
    assert not resumed.paused and resumed.next_step_ms == 110 * MIN
    assert resume(at_level_1, POLICY, 100 * MIN) == at_level_1  # not paused: unchanged
    finished = EscalationState(level=2, next_step_ms=None)
    assert pause(finished) == finished  # a finished escalation is not "paused"


def test_a_late_step_waits_a_full_timeout_for_the_next() -> None:
    """After downtime the overdue level is paged once, and the next waits its whole timeout:
    a restart does not rush through every level."""
    overdue = EscalationState(level=0, next_step_ms=5 * MIN)
    found = step(overdue, POLICY, 60 * MIN)
    assert found is not None and found.level == 1
    assert found.state.next_step_ms == 70 * MIN
    assert step(found.state, POLICY, 61 * MIN) is None


def test_policy_snapshot_round_trip() -> None:
    assert Policy.from_snapshot(POLICY.snapshot()) == POLICY
