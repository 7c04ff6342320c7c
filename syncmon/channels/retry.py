"""What happens after an attempt: delivered, retry later, hand over to the fallback, or give up.

Pure decisions over numbers, so the schedule is tested as a table. Backoff doubles from
`initial_backoff_ms` up to `max_backoff_ms`; a receiver's `Retry-After` replaces the
backoff (bounded by `max_retry_after_ms`). A channel that keeps failing — a refusal that
retrying cannot fix, or `fallback_after` failed attempts — hands the notification to its
fallback channel when it has one; otherwise it is retried until `max_attempts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from syncmon.channels.base import Delivery


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FALLBACK = "fallback"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    initial_backoff_ms: int = 5_000
    max_backoff_ms: int = 300_000
    fallback_after: int = 3
    min_retry_after_ms: int = 1_000
    max_retry_after_ms: int = 3_600_000

    def backoff_ms(self, attempts: int) -> int:
        """Wait after the `attempts`-th failed attempt: 5 s, 10 s, 20 s … capped."""
        exponent = min(max(attempts - 1, 0), 40)
        return int(min(self.initial_backoff_ms * 2**exponent, self.max_backoff_ms))


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    next_attempt_ms: int | None = None
    reason: str = ""


def decide(
    policy: RetryPolicy, delivery: Delivery, attempts: int, now_ms: int, *, can_fall_back: bool
) -> Decision:
    """The verdict after attempt number `attempts` (1-based) came back as `delivery`."""
    if delivery.ok:
        return Decision(Verdict.DELIVERED)
    if not delivery.retry:
        reason = "the receiver refused it; retrying cannot help"
        return Decision(Verdict.FALLBACK if can_fall_back else Verdict.FAILED, reason=reason)
    if can_fall_back and attempts >= policy.fallback_after:
        return Decision(Verdict.FALLBACK, reason=f"failed {attempts} times")
    if attempts >= policy.max_attempts:
        return Decision(Verdict.FAILED, reason=f"gave up after {attempts} attempts")
    if delivery.retry_after_s is not None:
        wait = int(delivery.retry_after_s * 1000)
        wait = max(policy.min_retry_after_ms, min(wait, policy.max_retry_after_ms))
        return Decision(Verdict.RETRY, now_ms + wait, reason=f"receiver asked to retry after {wait // 1000}s")
    return Decision(Verdict.RETRY, now_ms + policy.backoff_ms(attempts))
