"""CORS for the ingest paths: preflights answered from the projects' allowed origins.

Ingest replies carry nothing secret, so actual responses reflect the caller's origin and
the receivers enforce the project's list themselves (403 for an origin it does not
allow). A preflight is answered only for an origin the key's project allows, or, when
the URL names no key, for an origin some project allows.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OriginsFor = Callable[[str | None], Awaitable[set[str]]]
ALLOW_HEADERS = "content-type, content-encoding, x-syncmon-key, x-sentry-auth, authorization"
EXPOSE_HEADERS = "retry-after, x-sentry-rate-limits"


class IngestCORS:
    def __init__(self, app: ASGIApp, origins_for: OriginsFor, paths: re.Pattern[str]) -> None:
        self.app = app
        self.origins_for = origins_for
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.paths.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(scope, origin)(scope, receive, send)
            return
        if not origin:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _preflight(self, scope: Scope, origin: str | None) -> ASGIApp:
        async def respond(scope: Scope, receive: Receive, send: Send) -> None:
            query = QueryParams(scope.get("query_string", b""))
            key = query.get("key") or query.get("sentry_key")
            allowed = await self.origins_for(key)
            if not origin or not ("*" in allowed or origin.rstrip("/") in allowed):
                response = PlainTextResponse("origin not allowed", status_code=403)
            else:
                response = PlainTextResponse(
                    "",
                    status_code=204,
                    headers={
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": "POST, OPTIONS",
                        "Access-Control-Allow-Headers": ALLOW_HEADERS,
                        "Access-Control-Max-Age": "86400",
                        "Vary": "Origin",
                    },
                )
            await response(scope, receive, send)

        return respond
