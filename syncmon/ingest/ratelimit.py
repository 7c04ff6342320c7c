"""Per-key and per-client-IP request limits for ingest (429 with Retry-After)."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from syncmon.http_errors import ClientError


class IngestRateLimiter:
    def __init__(self, per_key: str, per_ip: str) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._per_key = parse(per_key)
        self._per_ip = parse(per_ip)

    def check(self, project_id: int, client_ip: str | None, *, secret: bool) -> None:
        """Count one request; raise 429 when the key or (for public keys) the IP is over its limit.

        Secret-key callers are the project's own servers, so only the key limit applies.
        """
        key_id = ("key", str(project_id))
        ip_id = ("ip", client_ip) if client_ip and not secret else None
        # Test both before counting, so a request refused by one limit does not use up the other.
        if not self._limiter.test(self._per_key, *key_id):
            self._refuse(self._per_key, key_id, "project key")
        if ip_id is not None and not self._limiter.test(self._per_ip, *ip_id):
            self._refuse(self._per_ip, ip_id, "client IP")
        self._limiter.hit(self._per_key, *key_id)
        if ip_id is not None:
            self._limiter.hit(self._per_ip, *ip_id)

    def _refuse(self, item: object, identifiers: tuple[str, str], what: str) -> None:
        stats = self._limiter.get_window_stats(item, *identifiers)  # type: ignore[arg-type]
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise ClientError(
            429,
            f"rate limit for this {what} exceeded; retry after {retry_after} s",
            reason="rate_limited",
            headers={"Retry-After": str(retry_after)},
        )
