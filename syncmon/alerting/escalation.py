"""Escalation policies and the escalation step: who is paged next, and when.

A policy is an ordered list of levels (PagerDuty's model). A level's targets are notified
together: channels, and users reached through a channel (by their email address or phone
number). If nobody acknowledges within the level's timeout the next level is paged;
after the last level the policy starts over from the first, `repeat` times.

The step is a pure function of the incident's escalation state, the policy (as
snapshotted when the incident opened) and the time. Acknowledgement and resolution are
checked first, on every step, so nothing is paged after an acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

MAX_REPEAT = 9  # PagerDuty's limit


class Contact(StrEnum):
    """How a user is reached through a channel: the account's email or the user's phone."""

    EMAIL = "email"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Target:
    """A channel, or a user reached through a channel (user_id set)."""

    channel_id: int
    user_id: int | None = None
    contact: Contact = Contact.EMAIL

    def as_dict(self) -> dict[str, Any]:
        if self.user_id is None:
            return {"channel_id": self.channel_id}
        return {"user_id": self.user_id, "channel_id": self.channel_id, "contact": self.contact.value}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Target:
        return cls(int(raw["channel_id"]), raw.get("user_id"), Contact(raw.get("contact", "email")))


@dataclass(frozen=True, slots=True)
class Level:
    timeout_ms: int
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    id: int | None
    name: str
    levels: tuple[Level, ...]
    repeat: int = 0

    def snapshot(self) -> dict[str, Any]:
        """What an incident keeps: later edits of the policy do not change an open incident."""
        return {
            "id": self.id,
            "name": self.name,
            "repeat": self.repeat,
            "levels": [
                {"timeout_ms": lv.timeout_ms, "targets": [t.as_dict() for t in lv.targets]}
                for lv in self.levels
            ],
        }

    @classmethod
    def from_snapshot(cls, raw: dict[str, Any]) -> Policy:
        levels = tuple(
            Level(int(lv["timeout_ms"]), tuple(Target.from_dict(t) for t in lv["targets"]))
            for lv in raw.get("levels", [])
        )
        return cls(raw.get("id"), str(raw.get("name", "")), levels, int(raw.get("repeat", 0)))


NO_POLICY = Policy(None, "", ())


@dataclass(frozen=True, slots=True)
class EscalationState:
    """Where an incident's escalation stands. level -1: nobody paged yet.

    next_step_ms None means no step is scheduled: escalation finished, or is paused
    (`paused`, while every alert of the group is muted or resolved).
    """

    level: int = -1
    repeats_done: int = 0
    next_step_ms: int | None = None
    paused: bool = False
    acknowledged: bool = False
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    state: EscalationState
    level: int | None  # the level to page now; None when escalation just finished
    repeat: int  # which pass through the policy this is (0 the first)


def start(now_ms: int) -> EscalationState:
    return EscalationState(next_step_ms=now_ms)


def step(state: EscalationState, policy: Policy, now_ms: int) -> Step | None:
    """The step due at `now_ms`: which level to page and the state after it; None if none is due."""
    if state.acknowledged or state.resolved or state.paused:
        return None
    if state.next_step_ms is None or now_ms < state.next_step_ms:
        return None
    levels = policy.levels
    if state.level < 0:
        level, repeats = 0, 0
    elif state.level + 1 < len(levels):
        level, repeats = state.level + 1, state.repeats_done
    elif state.repeats_done < min(policy.repeat, MAX_REPEAT):
        level, repeats = 0, state.repeats_done + 1
    else:
        return Step(replace(state, next_step_ms=None), None, state.repeats_done)
    if not levels:
        return Step(replace(state, next_step_ms=None), None, 0)
    # After the last level too: its timeout passing unacknowledged is when escalation finishes.
    next_ms = now_ms + levels[level].timeout_ms
    return Step(replace(state, level=level, repeats_done=repeats, next_step_ms=next_ms), level, repeats)


def pause(state: EscalationState) -> EscalationState:
    """Stop the clock while nothing fires unmuted; a finished escalation stays finished."""
    if state.paused or state.next_step_ms is None:
        return state
    return replace(state, paused=True, next_step_ms=None)


def resume(state: EscalationState, policy: Policy, now_ms: int) -> EscalationState:
    """Restart the clock: the current level gets its full timeout again."""
    if not state.paused:
        return state
    timeout = policy.levels[state.level].timeout_ms if 0 <= state.level < len(policy.levels) else 0
    return replace(state, paused=False, next_step_ms=now_ms + timeout)
