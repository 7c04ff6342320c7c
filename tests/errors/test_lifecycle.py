"""Issue status rules as tables: what one more event does, and what a user may set."""

from __future__ import annotations

from dataclasses import replace

import pytest

from syncmon.errors.lifecycle import IssueStatus, Status, StatusChange, Transition, apply_change, on_event

T0 = 1_800_000_000_000  # an arbitrary instant; the rules compare times, they never read a clock
UNRESOLVED = IssueStatus(Status.UNRESOLVED, event_count=5)
RESOLVED = IssueStatus(Status.RESOLVED, event_count=5)
NEXT_RELEASE = IssueStatus(Status.RESOLVED_NEXT_RELEASE, event_count=5, resolved_in_release="1.0")
IGNORED_FOREVER = IssueStatus(Status.IGNORED, event_count=5)
IGNORED_UNTIL = IssueStatus(Status.IGNORED, event_count=5, ignore_until_ms=T0)
IGNORED_FOR_2 = IssueStatus(Status.IGNORED, event_count=5, ignore_until_count=7)
REOPENED_REGRESSION = IssueStatus(Status.UNRESOLVED, is_regression=True, event_count=6)

# (id, state before, event's release, event time, expected state after, transition)
ON_EVENT: list[tuple[str, IssueStatus, str | None, int, IssueStatus, Transition | None]] = [
    ("unresolved-counts", UNRESOLVED, "1.0", T0, replace(UNRESOLVED, event_count=6), None),
    (
        "unresolved-keeps-regression-flag",
        REOPENED_REGRESSION,
        None,
        T0,
        replace(REOPENED_REGRESSION, event_count=7),
        None,
    ),
    (
        "resolved-regresses",
        RESOLVED,
        "1.0",
        T0,
        IssueStatus(Status.UNRESOLVED, is_regression=True, event_count=6),
        Transition.REGRESSED,
    ),
    (
        "resolved-regresses-without-release",
        RESOLVED,
        None,
        T0,
        IssueStatus(Status.UNRESOLVED, is_regression=True, event_count=6),
        Transition.REGRESSED,
    ),
    ("next-release-same-release", NEXT_RELEASE, "1.0", T0, replace(NEXT_RELEASE, event_count=6), None),
    ("next-release-no-release", NEXT_RELEASE, None, T0, replace(NEXT_RELEASE, event_count=6), None),
    (
        "next-release-newer-release",
        NEXT_RELEASE,
        "1.1",
        T0,
        IssueStatus(Status.UNRESOLVED, is_regression=True, event_count=6),
        Transition.REGRESSED,
    ),
    (
        "next-release-older-release",
        NEXT_RELEASE,
        "0.9",
        T0,
        IssueStatus(Status.UNRESOLVED, is_regression=True, event_count=6),
        Transition.REGRESSED,
    ),
    ("ignored-forever", IGNORED_FOREVER, "1.0", T0, replace(IGNORED_FOREVER, event_count=6), None),
    ("ignored-until-before", IGNORED_UNTIL, None, T0 - 1, replace(IGNORED_UNTIL, event_count=6), None),
    (
        "ignored-until-reached",
        IGNORED_UNTIL,
        None,
        T0,
        IssueStatus(Status.UNRESOLVED, event_count=6),
        Transition.UNIGNORED,
    ),
    (
        "ignored-until-passed",
        IGNORED_UNTIL,
        None,
        T0 + 1,
        IssueStatus(Status.UNRESOLVED, event_count=6),
        Transition.UNIGNORED,
    ),
    ("ignored-count-first", IGNORED_FOR_2, None, T0, replace(IGNORED_FOR_2, event_count=6), None),
    (
        "ignored-count-reached",
        replace(IGNORED_FOR_2, event_count=6),
        None,
        T0,
        IssueStatus(Status.UNRESOLVED, event_count=7),
        Transition.UNIGNORED,
    ),
    (
        "ignored-both-date-first",
        replace(IGNORED_FOR_2, ignore_until_ms=T0),
        None,
        T0,
        IssueStatus(Status.UNRESOLVED, event_count=6),
        Transition.UNIGNORED,
    ),
    (
        "unignored-keeps-regression-flag",
        replace(IGNORED_UNTIL, is_regression=True),
        None,
        T0,
        IssueStatus(Status.UNRESOLVED, is_regression=True, event_count=6),
        Transition.UNIGNORED,
    ),
]


@pytest.mark.parametrize(
    ("state", "release", "at_ms", "expected", "transition"),
    [case[1:] for case in ON_EVENT],
    ids=[case[0] for case in ON_EVENT],
)
def test_on_event(
    state: IssueStatus,
    release: str | None,
    at_ms: int,
    expected: IssueStatus,
    transition: Transition | None,
) -> None:
    assert on_event(state, release, at_ms) == (expected, transition)


def test_ignore_count_of_n_unignores_on_the_nth_event_after() -> None:
    state = apply_change(UNRESOLVED, StatusChange(Status.IGNORED, ignore_for_events=3), None)
    transitions = []
    for _ in range(3):
        state, transition = on_event(state, None, T0)
        transitions.append(transition)
    assert transitions == [None, None, Transition.UNIGNORED]
    assert state == IssueStatus(Status.UNRESOLVED, event_count=8)


def test_regression_happens_once_then_the_issue_is_plain_unresolved() -> None:
    state, first = on_event(RESOLVED, "1.0", T0)
    state, second = on_event(state, "1.0", T0)
    assert (first, second) == (Transition.REGRESSED, None)
    assert state == IssueStatus(Status.UNRESOLVED, is_regression=True, event_count=7)


# (id, state before, change, issue's last release, expected state after)
APPLY: list[tuple[str, IssueStatus, StatusChange, str | None, IssueStatus]] = [
    (
        "resolve",
        UNRESOLVED,
        StatusChange(Status.RESOLVED),
        "1.0",
        IssueStatus(Status.RESOLVED, event_count=5),
    ),
    (
        "resolve-clears-regression",
        REOPENED_REGRESSION,
        StatusChange(Status.RESOLVED),
        None,
        IssueStatus(Status.RESOLVED, event_count=6),
    ),
    (
        "unresolve-clears-regression",
        REOPENED_REGRESSION,
        StatusChange(Status.UNRESOLVED),
        None,
        IssueStatus(Status.UNRESOLVED, event_count=6),
    ),
    (
        "reopen-resolved",
        RESOLVED,
        StatusChange(Status.UNRESOLVED),
        None,
        IssueStatus(Status.UNRESOLVED, event_count=5),
    ),
    (
        "next-release-records-release",
        UNRESOLVED,
        StatusChange(Status.RESOLVED_NEXT_RELEASE),
        "2.0",
        IssueStatus(Status.RESOLVED_NEXT_RELEASE, event_count=5, resolved_in_release="2.0"),
    ),
    (
        "ignore-forever",
        UNRESOLVED,
        StatusChange(Status.IGNORED),
        None,
        IssueStatus(Status.IGNORED, event_count=5),
    ),
    (
        "ignore-until",
        UNRESOLVED,
        StatusChange(Status.IGNORED, ignore_until_ms=T0),
        None,
        IssueStatus(Status.IGNORED, event_count=5, ignore_until_ms=T0),
    ),
    (
        "ignore-count-is-relative",
        UNRESOLVED,
        StatusChange(Status.IGNORED, ignore_for_events=10),
        None,
        IssueStatus(Status.IGNORED, event_count=5, ignore_until_count=15),
    ),
    (
        "ignore-both",
        UNRESOLVED,
        StatusChange(Status.IGNORED, ignore_until_ms=T0, ignore_for_events=1),
        None,
        IssueStatus(Status.IGNORED, event_count=5, ignore_until_ms=T0, ignore_until_count=6),
    ),
    (
        "resolve-clears-ignore-conditions",
        IGNORED_FOR_2,
        StatusChange(Status.RESOLVED),
        None,
        IssueStatus(Status.RESOLVED, event_count=5),
    ),
    (
        "ignore-clears-release",
        NEXT_RELEASE,
        StatusChange(Status.IGNORED),
        "1.0",
        IssueStatus(Status.IGNORED, event_count=5),
    ),
    (
        "re-ignore-replaces-conditions",
        IGNORED_UNTIL,
        StatusChange(Status.IGNORED, ignore_for_events=2),
        None,
        IssueStatus(Status.IGNORED, event_count=5, ignore_until_count=7),
    ),
]


@pytest.mark.parametrize(
    ("state", "change", "last_release", "expected"),
    [case[1:] for case in APPLY],
    ids=[case[0] for case in APPLY],
)
def test_apply_change(
    state: IssueStatus, change: StatusChange, last_release: str | None, expected: IssueStatus
) -> None:
    assert apply_change(state, change, last_release) == expected


# (id, change, issue's last release, what the error says)
REFUSED: list[tuple[str, StatusChange, str | None, str]] = [
    ("until-with-resolved", StatusChange(Status.RESOLVED, ignore_until_ms=T0), "1.0", "ignored"),
    ("count-with-unresolved", StatusChange(Status.UNRESOLVED, ignore_for_events=1), None, "ignored"),
    (
        "count-with-next-release",
        StatusChange(Status.RESOLVED_NEXT_RELEASE, ignore_for_events=1),
        "1.0",
        "ignored",
    ),
    ("count-zero", StatusChange(Status.IGNORED, ignore_for_events=0), None, "at least 1"),
    ("count-negative", StatusChange(Status.IGNORED, ignore_for_events=-3), None, "at least 1"),
    ("next-release-without-release", StatusChange(Status.RESOLVED_NEXT_RELEASE), None, "no release"),
]


@pytest.mark.parametrize(
    ("change", "last_release", "says"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_impossible_changes_are_refused(change: StatusChange, last_release: str | None, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        apply_change(UNRESOLVED, change, last_release)


def test_statuses_are_the_api_strings() -> None:
    assert [s.value for s in Status] == ["unresolved", "resolved", "resolved_next_release", "ignored"]
