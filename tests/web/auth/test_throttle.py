"""Login throttling and lockout decisions (pure): counting, locking, expiry, no extension."""

from __future__ import annotations

import pytest

from syncmon.store.login_throttle import Counter
from syncmon.web.auth import throttle
from syncmon.web.auth.throttle import Block, Policy

MIN = 60_000
POLICY = Policy(max_failures=3, max_failures_per_ip=5, window_ms=15 * MIN, lockout_ms=10 * MIN)
T0 = 1_767_225_600_000
SUBJECT = "account:ann@example.com"


def fail_times(times: list[int], limit: int = 3) -> list[tuple[Counter, bool]]:
    counter: Counter | None = None
    seen = []
    for at in times:
        counter, locked_now = throttle.after_failure(counter, SUBJECT, limit, at, POLICY)
        seen.append((counter, locked_now))
    return seen


def test_the_limit_th_failure_in_the_window_locks() -> None:
    seen = fail_times([T0, T0 + MIN, T0 + 2 * MIN])
    assert [c.failures for c, _ in seen] == [1, 2, 3]
    assert [locked for _, locked in seen] == [False, False, True]
    assert seen[-1][0].locked_until_ms == T0 + 2 * MIN + POLICY.lockout_ms
    assert all(c.window_start_ms == T0 for c, _ in seen)


def test_failures_spread_beyond_the_window_never_lock() -> None:
    seen = fail_times([T0, T0 + 10 * MIN, T0 + 20 * MIN, T0 + 30 * MIN, T0 + 40 * MIN])
    assert not any(locked for _, locked in seen)
    # The window restarts at the first failure after it has passed.
    assert [c.failures for c, _ in seen] == [1, 2, 1, 2, 1]


def test_failures_while_locked_are_counted_but_do_not_extend_the_lock() -> None:
    seen = fail_times([T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4 * MIN])
    locked = seen[2][0]
    assert seen[2][1] is True
    for counter, locked_now in seen[3:]:
        assert locked_now is False
        assert counter.locked_until_ms == locked.locked_until_ms
    assert seen[-1][0].failures == 5


def test_after_the_lock_counting_starts_afresh() -> None:
    seen = fail_times([T0, T0 + 1, T0 + 2])
    until = seen[-1][0].locked_until_ms
    assert until is not None
    after, locked_now = throttle.after_failure(seen[-1][0], SUBJECT, 3, until, POLICY)
    assert (after.failures, after.window_start_ms, after.locked_until_ms, locked_now) == (
        1,
        until,
        None,
        False,
    )


@pytest.mark.parametrize(
    ("account", "ip", "now", "expected"),
    [
        (None, None, T0, None),
        (Counter(SUBJECT, 2, T0), None, T0, None),
        (Counter(SUBJECT, 3, T0, T0 + MIN), None, T0, Block("account_locked", T0 + MIN)),
        (Counter(SUBJECT, 3, T0, T0 + MIN), None, T0 + MIN, None),  # the lock ends at its time
        (None, Counter("ip:203.0.113.9", 5, T0, T0 + 2 * MIN), T0, Block("ip_blocked", T0 + 2 * MIN)),
        # Both: the account's lock is named first.
        (
            Counter(SUBJECT, 3, T0, T0 + MIN),
            Counter("ip:203.0.113.9", 5, T0, T0 + 2 * MIN),
            T0,
            Block("account_locked", T0 + MIN),
        ),
    ],
)
def test_check(account: Counter | None, ip: Counter | None, now: int, expected: Block | None) -> None:
    assert throttle.check(account, ip, now) == expected


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    block = Block("account_locked", T0 + 1_500)
    assert block.retry_after_seconds(T0) == 2
    assert block.retry_after_seconds(T0 + 1_499) == 1
    assert block.retry_after_seconds(T0 + 5_000) == 1
