"""ASGI middleware (FastAPI, Starlette, any ASGI app): every HTTP request as a request event.

::

    from fastapi import FastAPI
    from syncmon.sdk import Client, SyncmonMiddleware

    client = Client("<secret key>", "https://monitor.example.com")
    app = FastAPI()
    app.add_middleware(SyncmonMiddleware, client=client, trusted_proxies=["10.0.0.0/8"])

Per request it sends the method, the route template (``/users/{user_id}``, from
``scope["route"]`` that Starlette and FastAPI set when routing; otherwise the path with
numeric and UUID segments collapsed to ``{id}``), the status (500 when the app raised;
the exception is re-raised), the duration, the URL without its query string, the client
IP (through ``trusted_proxies``), the user agent and the user id. A 401 also produces an
``authentication`` security event (``auth_event="authn_login_fail"``), a 403 an
``authorization`` one (``authz_event="authz_fail"``), and an exception an error event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from syncmon.sdk.client import Client
from syncmon.sdk.context import RequestContext, collapse_path, enter, leave
from syncmon.sdk.reporting import RequestReporter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SyncmonMiddleware:
    """Reports each HTTP request the wrapped ASGI app handles; see the module docs.

    ``trusted_proxies`` (IPs or CIDRs) are the reverse proxies whose ``proxy_header``
    (``x-forwarded-for`` or ``forwarded``) is believed. ``user_id_getter(scope)`` returns
    the user id after the response, e.g. from ``scope["user"]`` that an authentication
    middleware set; without it, or when it returns None, the id the app gave to
    `syncmon.sdk.set_user` is used. ``security_events=False`` turns off the 401/403
    security events.
    """

    def __init__(
        self,
        app: ASGIApp,
        client: Client,
        *,
        trusted_proxies: Sequence[str] = (),
        proxy_header: str = "x-forwarded-for",
        user_id_getter: Callable[[Scope], object] | None = None,
        security_events: bool = True,
    ) -> None:
        self.app = app
        self.client = client
        self._reporter = RequestReporter[Scope](
            client,
            server="ASGI",
            trusted_proxies=trusted_proxies,
            proxy_header=proxy_header,
            user_id_getter=user_id_getter,
            security_events=security_events,
        )
        self._proxy_header = self._reporter.proxy_header.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not self.client.enabled:
            await self.app(scope, receive, send)
            return
        started = self.client.clock()
        try:
            context = self._context(scope)
        except Exception:
            self._reporter.report_failure()
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start" and status is None:
                status = message.get("status")
            await send(message)

        token = enter(context)
        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_and_watch)
        except BaseException as exc:
            error = exc
            raise
        finally:
            leave(token)
            self._finish(scope, context, started, status, error)

    def _context(self, scope: Scope) -> RequestContext:
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or ())
        client = scope.get("client")
        peer = str(client[0]) if client else None
        lines = [value.decode("latin-1") for name, value in headers if name == self._proxy_header]
        client_ip = self._reporter.client_ip(peer, lines)
        agent = next((v.decode("latin-1") for n, v in headers if n == b"user-agent"), None)
        return RequestContext(
            method=str(scope.get("method") or "GET"),
            url=_url(scope, headers),
            client_ip=client_ip,
            user_agent=agent,
        )

    def _finish(
        self,
        scope: Scope,
        context: RequestContext,
        started: float,
        status: int | None,
        error: BaseException | None,
    ) -> None:
        self._reporter.report(
            scope, context, route=lambda: route_template(scope), started=started, status=status, error=error
        )


def route_template(scope: Scope) -> str:
    """The matched route's template, with the mount prefixes in front, else the collapsed path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    prefix = collapse_path(str(scope.get("root_path") or "")).rstrip("/")
    if isinstance(template, str) and template:
        if any(cls.__name__ == "Mount" for cls in type(route).__mro__):
            return prefix + "/{path}"  # root_path already ends with the mount's own path
        return prefix + template
    return collapse_path(str(scope.get("path") or "/"))


def _url(scope: Scope, headers: list[tuple[bytes, bytes]]) -> str:
    host = next((v.decode("latin-1") for n, v in headers if n == b"host"), None)
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    return f"{scope.get('scheme') or 'http'}://{host}{scope.get('path') or '/'}"
