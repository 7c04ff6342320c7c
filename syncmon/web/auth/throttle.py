"""Login throttling and lockout, as pure decisions over failure counters.

Failures are counted per account (the email tried, whether or not it exists) and per
client IP, in a window that starts at the first failure. Reaching the account limit
locks the account, reaching the IP limit blocks the IP, each for `lockout_ms`; while
locked, attempts are refused without checking the password, so guessing stops paying.
A lock is not extended by further attempts (an attacker cannot keep a user locked out
for ever by hammering), and once it has passed counting starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncmon.settings import Settings
from syncmon.store.login_throttle import Counter


@dataclass(frozen=True, slots=True)
class Policy:
    max_failures: int
    max_failures_per_ip: int
    window_ms: int
    lockout_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            max_failures=settings.login_max_failures,
            max_failures_per_ip=settings.login_max_failures_per_ip,
            window_ms=settings.login_failure_window_minutes * 60_000,
            lockout_ms=settings.login_lockout_minutes * 60_000,
        )


@dataclass(frozen=True, slots=True)
class Block:
    """Why an attempt is refused before its password is looked at, and until when."""

    reason: str  # "account_locked" or "ip_blocked"
    until_ms: int

    def retry_after_seconds(self, now_ms: int) -> int:
        return max(1, -(-(self.until_ms - now_ms) // 1000))


def locked_until(counter: Counter | None, now_ms: int) -> int | None:
    if counter is None or counter.locked_until_ms is None or counter.locked_until_ms <= now_ms:
        return None
    return counter.locked_until_ms


def check(account: Counter | None, ip: Counter | None, now_ms: int) -> Block | None:
    """The block in force for this attempt, if any (the account's first)."""
    until = locked_until(account, now_ms)
    if until is not None:
        return Block("account_locked", until)
    until = locked_until(ip, now_ms)
    if until is not None:
        return Block("ip_blocked", until)
    return None


def after_failure(
    counter: Counter | None, subject: str, limit: int, now_ms: int, policy: Policy
) -> tuple[Counter, bool]:
    """The counter after one more failure, and whether this failure started a lock."""
    if locked_until(counter, now_ms) is not None:
        assert counter is not None
        return Counter(subject, counter.failures + 1, counter.window_start_ms, counter.locked_until_ms), False
    if (
        counter is None
        or counter.locked_until_ms is not None  # a lock that has passed: start over
        or now_ms - counter.window_start_ms >= policy.window_ms
    ):
        failures, start = 1, now_ms
    else:
        failures, start = counter.failures + 1, counter.window_start_ms
    if failures >= limit:
        return Counter(subject, failures, start, now_ms + policy.lockout_ms), True
    return Counter(subject, failures, start, None), False
