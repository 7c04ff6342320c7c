"""The retry decision as a table: backoff schedule, Retry-After, no retry on refusal, fallback."""

from __future__ import annotations

import pytest

from syncmon.channels.base import Delivery
from syncmon.channels.retry import RetryPolicy, Verdict, decide

POLICY = RetryPolicy(max_attempts=8, initial_backoff_ms=5_000, max_backoff_ms=300_000, fallback_after=3)
FAIL = Delivery(ok=False, detail="HTTP 503", retry=True)
REFUSED = Delivery(ok=False, detail="HTTP 400", retry=False)


def test_backoff_doubles_and_is_capped() -> None:
    assert [POLICY.backoff_ms(n) for n in range(1, 10)] == [
        5_000,
        10_000,
        20_000,
        40_000,
        80_000,
        160_000,
        300_000,
        300_000,
        300_000,
    ]
    assert POLICY.backoff_ms(10_000) == 300_000


@pytest.mark.parametrize(
    ("delivery", "attempts", "fallback", "verdict", "next_ms"),
    [
        (Delivery(ok=True), 1, True, Verdict.DELIVERED, None),
        (FAIL, 1, False, Verdict.RETRY, 5_000),
        (FAIL, 2, True, Verdict.RETRY, 10_000),
        (FAIL, 3, True, Verdict.FALLBACK, None),
        (FAIL, 3, False, Verdict.RETRY, 20_000),
        (FAIL, 7, False, Verdict.RETRY, 300_000),
        (FAIL, 8, False, Verdict.FAILED, None),
        (REFUSED, 1, False, Verdict.FAILED, None),
        (REFUSED, 1, True, Verdict.FALLBACK, None),
        (Delivery(ok=False, retry=True, retry_after_s=42), 1, False, Verdict.RETRY, 42_000),
        (Delivery(ok=False, retry=True, retry_after_s=0), 1, False, Verdict.RETRY, 1_000),
        (Delivery(ok=False, retry=True, retry_after_s=10**7), 1, False, Verdict.RETRY, 3_600_000),
    ],
)
def test_decisions(
    delivery: Delivery, attempts: int, fallback: bool, verdict: Verdict, next_ms: int | None
) -> None:
    decision = decide(POLICY, delivery, attempts, 1_000_000, can_fall_back=fallback)
    assert decision.verdict is verdict
    assert decision.next_attempt_ms == (None if next_ms is None else 1_000_000 + next_ms)
