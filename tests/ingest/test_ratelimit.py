"""Token-bucket ingest limits with a driven clock."""

from __future__ import annotations

import pytest

from syncmon.http_errors import ClientError
from syncmon.ingest.ratelimit import IngestRateLimiter, Rate, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "capacity", "per_second"),
    [("10/second", 10, 10.0), ("60/minute", 60, 1.0), ("3/day", 3, 3 / 86400), ("1/hour", 1, 1 / 3600)],
)
def test_rates_parse(text: str, capacity: float, per_second: float) -> None:
    assert Rate.parse(text) == Rate(capacity, pytest.approx(per_second))


def test_a_burst_up_to_capacity_then_refill() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate.parse("3/minute"), clock)
    for _ in range(3):
        assert buckets.available("a")
        buckets.take("a")
    assert not buckets.available("a")
    assert buckets.retry_after("a") == 20
    clock.now += 19.9
    assert not buckets.available("a")
    clock.now += 0.1
    assert buckets.available("a")
    assert buckets.available("b")  # subjects are independent


def test_refusals_name_the_limit_and_do_not_use_up_the_other() -> None:
    clock = Clock()
    limiter = IngestRateLimiter("5/minute", "2/minute", clock)
    limiter.check(1, "203.0.113.1", secret=False)
    limiter.check(1, "203.0.113.1", secret=False)
    with pytest.raises(ClientError) as refused:
        limiter.check(1, "203.0.113.1", secret=False)
    assert refused.value.status == 429 and "client IP" in refused.value.message
    assert refused.value.headers["Retry-After"] == "30"
    # The refused request did not take a key token: three more fit under the key limit.
    for ip in ("203.0.113.2", "203.0.113.3", "203.0.113.4"):
        limiter.check(1, ip, secret=False)
    with pytest.raises(ClientError) as refused:
        limiter.check(1, "203.0.113.5", secret=False)
    assert "project key" in refused.value.message


def test_secret_key_callers_are_limited_per_key_only() -> None:
    limiter = IngestRateLimiter("3/minute", "1/minute", Clock())
    for _ in range(3):
        limiter.check(7, "198.51.100.1", secret=True)
    with pytest.raises(ClientError):
        limiter.check(7, "198.51.100.1", secret=True)


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import syncmon.ingest.ratelimit as ratelimit

    monkeypatch.setattr(ratelimit, "MAX_BUCKETS", 100)
    clock = Clock()
    buckets = TokenBuckets(Rate.parse("10/second"), clock)
    for n in range(1000):
        buckets.take(f"ip-{n}")
        clock.now += 1.0
    assert len(buckets._tokens) <= 100
