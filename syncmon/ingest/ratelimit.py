"""Per-key and per-client-IP request limits for ingest (429 with Retry-After).

Token buckets: a limit "N/period" allows bursts of N and refills N tokens per period,
smoothly. Each check is a few arithmetic operations on the event loop with an injected
monotonic clock — the `limits` library's in-memory storage starts a timer thread per
expiry, which under load blocked the event loop dozens of times a second. Its parser
still reads the "100/minute" notation. Buckets of idle subjects are dropped once full
again, so memory follows the number of active keys and IPs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import parse

from syncmon.http_errors import ClientError

MAX_BUCKETS = 200_000


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: float
    per_second: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        item = parse(text)
        return cls(float(item.amount), item.amount / float(item.get_expiry()))


class TokenBuckets:
    """One token bucket per subject, all with the same rate."""

    def __init__(self, rate: Rate, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}  # subject → (tokens, at)

    def _level(self, subject: str, now: float) -> float:
        tokens, at = self._tokens.get(subject, (self.rate.capacity, now))
        return min(self.rate.capacity, tokens + (now - at) * self.rate.per_second)

    def available(self, subject: str) -> bool:
        return self._level(subject, self._clock()) >= 1.0

    def take(self, subject: str) -> None:
        now = self._clock()
        if len(self._tokens) >= MAX_BUCKETS:
            self._forget_full(now)
        self._tokens[subject] = (self._level(subject, now) - 1.0, now)

    def retry_after(self, subject: str) -> int:
        """Whole seconds until one token is back."""
        missing = 1.0 - self._level(subject, self._clock())
        return max(1, math.ceil(missing / self.rate.per_second))

    def _forget_full(self, now: float) -> None:
        for subject in [s for s in self._tokens if self._level(s, now) >= self.rate.capacity]:
            del self._tokens[subject]
        if len(self._tokens) >= MAX_BUCKETS:  # all busy: forgetting one only forgives it
            self._tokens.pop(next(iter(self._tokens)))


class IngestRateLimiter:
    def __init__(self, per_key: str, per_ip: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = TokenBuckets(Rate.parse(per_key), clock)
        self._ips = TokenBuckets(Rate.parse(per_ip), clock)

    def check(self, project_id: int, client_ip: str | None, *, secret: bool) -> None:
        """Count one request; raise 429 when the key or (for public keys) the IP is over its limit.

        Secret-key callers are the project's own servers, so only the key limit applies.
        """
        key = str(project_id)
        ip = client_ip if client_ip and not secret else None
        # Check both before taking, so a request refused by one limit does not use up the other.
        if not self._keys.available(key):
            self._refuse(self._keys.retry_after(key), "project key")
        if ip is not None and not self._ips.available(ip):
            self._refuse(self._ips.retry_after(ip), "client IP")
        self._keys.take(key)
        if ip is not None:
            self._ips.take(ip)

    def _refuse(self, retry_after: int, what: str) -> None:
        raise ClientError(
            429,
            f"rate limit for this {what} exceeded; retry after {retry_after} s",
            reason="rate_limited",
            headers={"Retry-After": str(retry_after)},
        )
