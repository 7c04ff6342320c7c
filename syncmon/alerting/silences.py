"""Silences: matchers and a time range during which matching alerts are not notified.

As in Alertmanager a silence is pending before it starts, active until it ends and
expired after; expiring one early sets its end to now. Two things Alertmanager declined
and users keep asking for: a silence may expire by itself once the alerts it silenced
have resolved (`expire_on_resolve`), and its expiry is announced in the timeline of
every open incident it silenced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from syncmon.alerting.model import Alert, Matcher, matches_all


class SilenceState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_ms: int
    ends_ms: int
    created_by: str = ""
    comment: str = ""
    expire_on_resolve: bool = False
    matched_ms: int | None = None  # first time it muted a firing alert

    def state(self, now_ms: int) -> SilenceState:
        if now_ms >= self.ends_ms:
            return SilenceState.EXPIRED
        if now_ms < self.starts_ms:
            return SilenceState.PENDING
        return SilenceState.ACTIVE

    def matches(self, labels: dict[str, str]) -> bool:
        return bool(self.matchers) and matches_all(self.matchers, labels)

    def mutes(self, labels: dict[str, str], now_ms: int) -> bool:
        return self.state(now_ms) is SilenceState.ACTIVE and self.matches(labels)


def expire(silence: Silence, now_ms: int) -> Silence:
    """End it now; a pending silence becomes an empty range at now (Alertmanager's rule)."""
    state = silence.state(now_ms)
    if state is SilenceState.EXPIRED:
        return silence
    if state is SilenceState.PENDING:
        return replace(silence, starts_ms=now_ms, ends_ms=now_ms)
    return replace(silence, ends_ms=now_ms)


def silenced_by(silences: list[Silence], labels: dict[str, str], now_ms: int) -> Silence | None:
    """The first (lowest id) active silence that mutes these labels."""
    for silence in sorted(silences, key=lambda s: s.id):
        if silence.mutes(labels, now_ms):
            return silence
    return None


def to_expire_on_resolve(silences: list[Silence], firing: list[Alert], now_ms: int) -> list[Silence]:
    """Active `expire_on_resolve` silences that have silenced something and now match no firing alert.

    A silence that has not matched anything yet is left alone: one created ahead of a
    deploy must not expire before the alerts it is meant for have fired.
    """
    due = []
    for silence in silences:
        if not silence.expire_on_resolve or silence.matched_ms is None:
            continue
        if silence.state(now_ms) is not SilenceState.ACTIVE:
            continue
        if not any(silence.matches(alert.labels) for alert in firing):
            due.append(silence)
    return due
