"""The alert state machine, table-driven: every transition of `advance`."""

from __future__ import annotations

import pytest

from syncmon.alerting.model import AlertState
from syncmon.alerting.state import RESOLVED_RETENTION_MS, AlertRecord, advance, expired

P, F, R, OFF = AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED, AlertState.INACTIVE
T = 1_000_000


def record(
    state: AlertState, since: int = T, fired: int | None = None, last_true: int | None = None
) -> AlertRecord:
    return AlertRecord(
        1, "fp", {"alertname": "a"}, {}, state, since, fired, last_true if last_true else since
    )


@pytest.mark.parametrize(
    ("before", "condition", "now", "for_ms", "keep_ms", "after", "previous"),
    [
        (None, True, T, 0, 0, F, OFF),  # no `for`: fires at once
        (None, True, T, 60_000, 0, P, OFF),  # `for`: pending first
        (None, False, T, 0, 0, None, None),  # nothing, nothing
        (record(P), True, T + 59_999, 60_000, 0, P, None),  # `for` not yet elapsed
        (record(P), True, T + 60_000, 60_000, 0, F, P),  # elapsed: firing
        (record(P), False, T + 30_000, 60_000, 0, OFF, P),  # pending dropped
        (record(F, fired=T), True, T + 5000, 0, 0, F, None),  # still true: no transition
        (record(F, fired=T), False, T + 5000, 0, 0, R, F),  # resolved at the first false
        (record(F, fired=T, last_true=T), False, T + 59_999, 0, 60_000, F, None),  # kept firing
        (record(F, fired=T, last_true=T), False, T + 60_000, 0, 60_000, R, F),  # keep ran out
        (record(R), False, T + 5000, 0, 0, R, None),  # resolved stays resolved
        (record(R), True, T + 5000, 0, 0, F, R),  # true again: a new alert
        (record(R), True, T + 5000, 60_000, 0, P, R),  # … pending first with `for`
    ],
)
def test_advance(
    before: AlertRecord | None,
    condition: bool,
    now: int,
    for_ms: int,
    keep_ms: int,
    after: AlertState | None,
    previous: AlertState | None,
) -> None:
    new, changed_from = advance(
        before, condition, now, for_ms, keep_ms, rule_id=1, fingerprint="fp", value=3.0
    )
    assert (new.state if new else None) == after
    assert changed_from == previous


def test_times_of_a_life() -> None:
    pending, _ = advance(None, True, T, 60_000, 0, rule_id=1, fingerprint="fp", labels={"a": "b"}, value=1.0)
    assert pending is not None and pending.active_since_ms == T and pending.fired_ms is None
    firing, _ = advance(pending, True, T + 60_000, 60_000, 0, value=2.0)
    assert firing is not None and firing.fired_ms == T + 60_000 and firing.active_since_ms == T
    assert firing.as_alert().starts_ms == T + 60_000
    resolved, _ = advance(firing, False, T + 90_000, 60_000, 0, value=0.0)
    assert resolved is not None and resolved.resolved_ms == T + 90_000
    alert = resolved.as_alert("http://x/{rule_id}")
    assert (alert.state, alert.ends_ms, alert.value, alert.labels) == (R, T + 90_000, 0.0, {"a": "b"})
    again, previous = advance(resolved, True, T + 100_000, 0, 0, value=5.0)
    assert again is not None and previous is R
    assert (again.active_since_ms, again.fired_ms, again.resolved_ms) == (T + 100_000, T + 100_000, None)


def test_resolved_alerts_are_kept_fifteen_minutes() -> None:
    resolved = AlertRecord(1, "fp", {}, {}, R, T, T, T, T + 1000)
    assert not expired(resolved, T + 1000 + RESOLVED_RETENTION_MS - 1)
    assert expired(resolved, T + 1000 + RESOLVED_RETENTION_MS)
    assert not expired(record(F, fired=T), T + 10 * RESOLVED_RETENTION_MS)
