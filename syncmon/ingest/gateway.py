"""The path every ingest request takes before its receiver translates it.

Key → origin → client IP → rate limit → body (size, encoding) → JSON → receiver's
translation into Events → group commit → reply. A receiver only supplies the
translation and the reply its protocol expects; refusals are `ClientError`s rendered
as JSON with a message, and nothing reaches the store unless all of a request's events
are valid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from syncmon.clock import Clock
from syncmon.events import Event
from syncmon.http_errors import ClientError
from syncmon.ingest.body import read_body
from syncmon.ingest.keys import IngestAuth, KeyRing, authenticate, check_origin
from syncmon.ingest.ratelimit import IngestRateLimiter
from syncmon.pipeline.clientip import ClientIPResolver
from syncmon.pipeline.normalize import IngestContext
from syncmon.pipeline.scrub import Scrubber
from syncmon.pipeline.writer import StoreUnavailable, Writer
from syncmon.settings import Settings
from syncmon.telemetry import Telemetry
from syncmon.web.responses import JSONResponse

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded", "")
Translate = Callable[[Any, IngestContext], list[Event]]
Reply = Callable[[list[Event]], Response]


@dataclass
class IngestGateway:
    settings: Settings
    keyring: KeyRing
    limiter: IngestRateLimiter
    resolver: ClientIPResolver
    writer: Writer
    clock: Clock
    telemetry: Telemetry

    def __post_init__(self) -> None:
        self._scrubbers: dict[tuple[str, ...], Scrubber] = {}

    def client_ip(self, request: Request) -> str | None:
        peer = request.client.host if request.client else None
        if self.settings.proxy_header == "forwarded":
            return self.resolver.resolve(peer, forwarded=request.headers.getlist("forwarded"))
        return self.resolver.resolve(peer, x_forwarded_for=request.headers.getlist("x-forwarded-for"))

    def scrubber(self, extra_fields: list[str]) -> Scrubber:
        key = tuple(extra_fields)
        scrubber = self._scrubbers.get(key)
        if scrubber is None:
            scrubber = self._scrubbers[key] = Scrubber(extra_fields)
        return scrubber

    async def admit(
        self, request: Request, key: str | None = None, *, key_in_header: bool = True
    ) -> tuple[IngestAuth, IngestContext]:
        """Authenticate, check origin and rate limits; the context for building events."""
        auth = await authenticate(request, self.keyring, key, key_in_header=key_in_header)
        check_origin(request, auth.project)
        client_ip = self.client_ip(request)
        self.limiter.check(auth.project.id, client_ip, secret=auth.secret)
        context = IngestContext(
            project_id=auth.project.id,
            trusted=auth.secret,
            client_ip=client_ip,
            user_agent=request.headers.get("user-agent"),
            received_ms=self.clock.now_ms(),
            scrubber=self.scrubber(auth.project.scrub_fields),
            future_tolerance_ms=int(self.settings.future_timestamp_tolerance_seconds * 1000),
        )
        return auth, context

    async def body(self, request: Request) -> bytes:
        return await read_body(
            request.stream(),
            content_length=request.headers.get("content-length"),
            content_encoding=request.headers.get("content-encoding"),
            max_bytes=self.settings.max_body_bytes,
            max_decompressed=self.settings.max_decompressed_bytes,
        )

    async def json_body(self, request: Request) -> Any:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES:
            raise ClientError(
                415,
                f"Content-Type {content_type!r} is not accepted; send application/json or text/plain JSON",
                reason="bad_content_type",
            )
        raw = await self.body(request)
        if not raw.strip():
            raise ClientError(400, "body is empty; expected a JSON document", reason="empty")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ClientError(400, f"body is not valid JSON: {exc}", reason="bad_json") from None

    async def commit(self, events: list[Event]) -> None:
        try:
            await self.writer.write(events)
        except StoreUnavailable as exc:
            raise ClientError(
                503, str(exc), reason="store_unavailable", headers={"Retry-After": "5"}
            ) from None

    async def accept_json(self, request: Request, translate: Translate, reply: Reply) -> Response:
        """The whole path for JSON receivers; errors become their JSON reply."""
        try:
            _, context = await self.admit(request)
            payload = await self.json_body(request)
            events = translate(payload, context)
            await self.commit(events)
        except ClientError as exc:
            return self.refuse(exc)
        return reply(events)

    def refuse(self, exc: ClientError) -> Response:
        self.telemetry.events_rejected.labels(exc.reason).inc()
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
