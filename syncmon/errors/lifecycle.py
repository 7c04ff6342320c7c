"""Issue status rules: what a new event does to an issue, and what a user may set.

Pure functions over an `IssueStatus`, so every transition is tested without a store.
Statuses follow Sentry: unresolved, resolved, resolved in next release, ignored (until a
date, until N more events, or for good). An event on a resolved issue reopens it as a
regression.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Status(StrEnum):
    UNRESOLVED = "unresolved"
    RESOLVED = "resolved"
    RESOLVED_NEXT_RELEASE = "resolved_next_release"
    IGNORED = "ignored"


class Transition(StrEnum):
    REGRESSED = "regressed"
    UNIGNORED = "unignored"


@dataclass(frozen=True, slots=True)
class IssueStatus:
    status: Status
    is_regression: bool = False
    event_count: int = 0
    resolved_in_release: str | None = None
    ignore_until_ms: int | None = None
    ignore_until_count: int | None = None


def on_event(state: IssueStatus, release: str | None, at_ms: int) -> tuple[IssueStatus, Transition | None]:
    """The issue after one more event (counted in `event_count`), and what changed."""
    counted = replace(state, event_count=state.event_count + 1)
    if state.status is Status.RESOLVED:
        return _reopen(counted, regression=True), Transition.REGRESSED
    if state.status is Status.RESOLVED_NEXT_RELEASE:
        # Events from the release that was current when it was resolved are expected until
        # the fix ships; one from any other release means the fix did not hold.
        if release is not None and release != state.resolved_in_release:
            return _reopen(counted, regression=True), Transition.REGRESSED
        return counted, None
    if state.status is Status.IGNORED:
        if state.ignore_until_ms is not None and at_ms >= state.ignore_until_ms:
            return _reopen(counted, regression=False), Transition.UNIGNORED
        if state.ignore_until_count is not None and counted.event_count >= state.ignore_until_count:
            return _reopen(counted, regression=False), Transition.UNIGNORED
    return counted, None


def _reopen(state: IssueStatus, *, regression: bool) -> IssueStatus:
    return replace(
        state,
        status=Status.UNRESOLVED,
        is_regression=regression or state.is_regression,
        resolved_in_release=None,
        ignore_until_ms=None,
        ignore_until_count=None,
    )


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What a user asked for through the API."""

    status: Status
    ignore_until_ms: int | None = None
    ignore_for_events: int | None = None


def apply_change(state: IssueStatus, change: StatusChange, last_release: str | None) -> IssueStatus:
    """The issue after a user's status change; raises ValueError for an impossible one."""
    if change.status is not Status.IGNORED and (
        change.ignore_until_ms is not None or change.ignore_for_events is not None
    ):
        raise ValueError("ignore_until and ignore_count go only with status 'ignored'")
    if change.ignore_for_events is not None and change.ignore_for_events < 1:
        raise ValueError("ignore_count must be at least 1")
    if change.status is Status.RESOLVED_NEXT_RELEASE and last_release is None:
        raise ValueError("the issue has no release yet; resolve it instead")
    base = replace(state, resolved_in_release=None, ignore_until_ms=None, ignore_until_count=None)
    if change.status is Status.UNRESOLVED:
        return replace(base, status=Status.UNRESOLVED, is_regression=False)
    if change.status is Status.RESOLVED:
        return replace(base, status=Status.RESOLVED, is_regression=False)
    if change.status is Status.RESOLVED_NEXT_RELEASE:
        return replace(base, status=Status.RESOLVED_NEXT_RELEASE, resolved_in_release=last_release)
    until_count = None
    if change.ignore_for_events is not None:
        until_count = state.event_count + change.ignore_for_events
    return replace(
        base, status=Status.IGNORED, ignore_until_ms=change.ignore_until_ms, ignore_until_count=until_count
    )
