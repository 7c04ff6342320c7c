"""Project keys on ingest: which project a request is for, and whether it holds the secret key.

Lookups are cached (GlitchTip-style, unknown keys too, briefly) so a flood of requests
with a bad key costs no database round trips; a rotated key stops working within the
cache lifetime.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from syncmon.clock import Clock
from syncmon.http_errors import ClientError
from syncmon.store.projects import Project

KEY_HEADER = "x-syncmon-key"
KeyLookup = Callable[[str], Awaitable[tuple[Project, bool] | None]]
MAX_KEY_LENGTH = 128


@dataclass(frozen=True, slots=True)
class IngestAuth:
    project: Project
    secret: bool


class KeyRing:
    def __init__(self, lookup: KeyLookup, clock: Clock, *, ttl_ms: int = 30_000, miss_ttl_ms: int = 5_000):
        self._lookup = lookup
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._miss_ttl_ms = miss_ttl_ms
        self._cache: dict[str, tuple[int, tuple[Project, bool] | None]] = {}

    async def resolve(self, key: str) -> tuple[Project, bool] | None:
        now = self._clock.now_ms()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._lookup(key)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + (self._ttl_ms if found else self._miss_ttl_ms), found)
        return found

    def forget(self) -> None:
        """Drop the cache, e.g. after keys were rotated in this process."""
        self._cache.clear()

    def cached_projects(self) -> list[Project]:
        return [entry[1][0] for entry in self._cache.values() if entry[1] is not None]


async def authenticate(
    request: Request, keyring: KeyRing, key: str | None = None, *, key_in_header: bool = True
) -> IngestAuth:
    """Find the project of an ingest request from `X-Syncmon-Key` or `?key=`, or from a key
    the receiver found itself (`key_in_header` says whether it came from a header).

    The secret key is only accepted in a header: a URL ends up in logs and histories.
    """
    via_query = not key_in_header
    if key is None:
        key = request.headers.get(KEY_HEADER)
        if not key:
            key = request.query_params.get("key")
            via_query = True
    if not key:
        raise ClientError(
            401,
            "missing project key: send header X-Syncmon-Key or query parameter ?key=",
            reason="no_key",
        )
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ClientError(401, "unknown project key", reason="bad_key")
    found = await keyring.resolve(key)
    if found is None:
        raise ClientError(401, "unknown project key", reason="bad_key")
    project, secret = found
    if secret and via_query:
        raise ClientError(
            401,
            "the secret key is accepted only in a request header, never in a URL or body; "
            "rotate it if it was exposed",
            reason="secret_in_url",
        )
    return IngestAuth(project, secret)


def check_origin(request: Request, project: Project) -> None:
    """Refuse browser requests from origins the project does not list."""
    origin = request.headers.get("origin")
    if origin and not project.origin_allowed(origin):
        raise ClientError(403, f"origin {origin!r} is not allowed for this project", reason="origin")
