"""What the ASGI and WSGI middlewares share: client IP, user id, and reporting a finished request.

The two differ only in how they see a request (scope or environ) and when it ends; the
decisions and the never-break-the-host-app rule live here once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from syncmon.pipeline.clientip import ClientIPResolver
from syncmon.sdk.client import Client
from syncmon.sdk.context import RequestContext, finish_request

log = logging.getLogger("syncmon.sdk")
PROXY_HEADERS = ("x-forwarded-for", "forwarded")
Source = TypeVar("Source")  # the ASGI scope or the WSGI environ


class RequestReporter(Generic[Source]):
    """Turns one finished request into a request event (and its security/error events)."""

    def __init__(
        self,
        client: Client,
        *,
        server: str,
        trusted_proxies: Sequence[str],
        proxy_header: str,
        user_id_getter: Callable[[Source], object] | None,
        security_events: bool,
    ) -> None:
        header = proxy_header.strip().lower()
        if header not in PROXY_HEADERS:
            raise ValueError(f"proxy_header must be one of {', '.join(PROXY_HEADERS)}, got {proxy_header!r}")
        self.client = client
        self.proxy_header = header
        self._server = server
        self._resolver = ClientIPResolver(trusted_proxies)
        self._user_id_getter = user_id_getter
        self._security_events = security_events
        self._failed = False

    def client_ip(self, peer: str | None, header_lines: list[str]) -> str | None:
        """The client's address: the peer, or what trusted proxies in front of it say."""
        if self.proxy_header == "forwarded":
            return self._resolver.resolve(peer, forwarded=header_lines)
        return self._resolver.resolve(peer, x_forwarded_for=header_lines)

    def user_id(self, source: Source, context: RequestContext) -> object:
        if self._user_id_getter is not None:
            try:
                found = self._user_id_getter(source)
            except Exception:
                self.report_failure()
                found = None
            if found is not None:
                return found
        return context.user_id

    def report(
        self,
        source: Source,
        context: RequestContext,
        *,
        route: str | Callable[[], str],
        started: float,
        status: int | None,
        error: BaseException | None,
    ) -> None:
        """Send the request event; a request without a status was a 500 unless it was cancelled."""
        try:
            if status is None:
                if error is not None and not isinstance(error, Exception):
                    return  # cancelled (the client went away) or the process is stopping
                status = 500  # raised, or returned without a response: the server sends a 500
            finish_request(
                self.client,
                context,
                route=route if isinstance(route, str) else route(),
                status=status,
                duration_ms=max(0.0, (self.client.clock() - started) * 1000.0),
                user_id=self.user_id(source, context),
                security_events=self._security_events,
                error=error,
            )
        except Exception:
            self.report_failure()

    def report_failure(self) -> None:
        """Log the first failure to report, once: the host app must never notice."""
        if not self._failed:
            self._failed = True
            log.warning("syncmon: the %s middleware could not report a request", self._server, exc_info=True)
