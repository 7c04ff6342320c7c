"""WSGI middleware (Flask, Django, any WSGI app): every HTTP request as a request event.

Flask::

    from flask import Flask
    from syncmon.sdk import Client, SyncmonWSGIMiddleware

    client = Client("<secret key>", "https://monitor.example.com")
    app = Flask(__name__)
    app.wsgi_app = SyncmonWSGIMiddleware(app.wsgi_app, client, trusted_proxies=["10.0.0.0/8"])

Django (``wsgi.py``)::

    application = SyncmonWSGIMiddleware(get_wsgi_application(), client)

It reports what the ASGI middleware does (see `syncmon.sdk.asgi`). The route template
comes from ``route_getter(environ)`` when given, else from Flask's matched rule
(``/users/<int:user_id>`` is sent as ``/users/{user_id}``), else from the path with
numeric and UUID segments collapsed to ``{id}``. The request is reported when the
server closes the response (or has read all of it), so the duration includes sending
the body.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

from syncmon.sdk.client import Client
from syncmon.sdk.context import RequestContext, collapse_path, enter, leave, werkzeug_rule
from syncmon.sdk.reporting import RequestReporter

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
Headers = list[tuple[str, str]]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
PROXY_ENVIRON_KEYS = {"x-forwarded-for": "HTTP_X_FORWARDED_FOR", "forwarded": "HTTP_FORWARDED"}


class SyncmonWSGIMiddleware:
    """Reports each HTTP request the wrapped WSGI app handles; see the module docs.

    ``trusted_proxies``, ``proxy_header``, ``user_id_getter`` (here given the WSGI
    environ) and ``security_events`` work as in `SyncmonMiddleware`. If Werkzeug's
    ``ProxyFix`` already rewrote ``REMOTE_ADDR``, leave ``trusted_proxies`` empty.
    """

    def __init__(
        self,
        app: WSGIApp,
        client: Client,
        *,
        trusted_proxies: Sequence[str] = (),
        proxy_header: str = "x-forwarded-for",
        user_id_getter: Callable[[Environ], object] | None = None,
        route_getter: Callable[[Environ], str | None] | None = None,
        security_events: bool = True,
    ) -> None:
        self.app = app
        self.client = client
        self.reporter = RequestReporter[Environ](
            client,
            server="WSGI",
            trusted_proxies=trusted_proxies,
            proxy_header=proxy_header,
            user_id_getter=user_id_getter,
            security_events=security_events,
        )
        self._environ_key = PROXY_ENVIRON_KEYS[self.reporter.proxy_header]
        self._route_getter = route_getter

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not self.client.enabled:
            return self.app(environ, start_response)
        started = self.client.clock()
        try:
            context = self._context(environ)
        except Exception:
            self.reporter.report_failure()
            return self.app(environ, start_response)
        request = _Request(self, environ, context, started)

        def start_and_watch(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Any:
            request.started_response(status)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        token = enter(context)
        try:
            body = self.app(environ, start_and_watch)
        except BaseException as exc:
            leave(token)
            request.finish(exc)
            raise
        leave(token)
        return _Body(body, request)

    def _context(self, environ: Environ) -> RequestContext:
        peer = environ.get("REMOTE_ADDR") or None
        line = environ.get(self._environ_key)
        lines = [line] if isinstance(line, str) and line else []
        client_ip = self.reporter.client_ip(peer, lines)
        return RequestContext(
            method=str(environ.get("REQUEST_METHOD") or "GET"),
            url=_url(environ),
            client_ip=client_ip,
            user_agent=environ.get("HTTP_USER_AGENT") or None,
        )

    def route(self, environ: Environ) -> str | None:
        """The route template while the framework's request is alive (Flask's ends with
        the response), or None if it does not say."""
        if self._route_getter is not None:
            try:
                found = self._route_getter(environ)
            except Exception:
                self.reporter.report_failure()
                found = None
            if found:
                return str(found)
        rule = getattr(getattr(environ.get("werkzeug.request"), "url_rule", None), "rule", None)
        return werkzeug_rule(rule) if isinstance(rule, str) and rule else None


class _Request:
    """What is known of one request until it is reported, exactly once."""

    def __init__(
        self, middleware: SyncmonWSGIMiddleware, environ: Environ, context: RequestContext, started: float
    ) -> None:
        self.middleware = middleware
        self.environ = environ
        self.context = context
        self.started = started
        self.status: int | None = None
        self.route: str | None = None
        self.done = False

    def started_response(self, status: str) -> None:
        try:
            self.status = int(status.split(" ", 1)[0])
            self.route = self.middleware.route(self.environ)
        except Exception:
            self.middleware.reporter.report_failure()

    def finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        middleware = self.middleware
        environ = self.environ
        middleware.reporter.report(
            environ,
            self.context,
            route=lambda: self.route or middleware.route(environ) or _path_route(environ),
            started=self.started,
            status=self.status,
            error=error,
        )


class _Body:
    """The app's response body, reporting the request when it is used up or closed."""

    def __init__(self, body: Iterable[bytes], request: _Request) -> None:
        self._body = body
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except Exception as exc:
            self._request.finish(exc)
            raise
        self._request.finish()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._request.finish()


def _path_route(environ: Environ) -> str:
    return collapse_path(_path(environ))


def _path(environ: Environ) -> str:
    raw = str(environ.get("SCRIPT_NAME") or "") + str(environ.get("PATH_INFO") or "")
    with contextlib.suppress(UnicodeEncodeError):  # WSGI carries the bytes as latin-1
        raw = raw.encode("latin-1").decode("utf-8", "replace")
    return raw or "/"


def _url(environ: Environ) -> str:
    host = environ.get("HTTP_HOST")
    if not host:
        host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    return f"{environ.get('wsgi.url_scheme') or 'http'}://{host}{_path(environ)}"
