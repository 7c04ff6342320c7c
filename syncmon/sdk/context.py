"""The request being handled: what the middleware knows of it, and the user the app names.

The ASGI and WSGI middleware open a `RequestContext` for every HTTP request. While it is
open, the client's helpers fill in what the caller left out (client IP, URL, user agent,
user id), so ``client.track_data_access_event("export", target="invoices")`` inside a
view is attributed to the right user and address without passing them along.

`set_user` names the signed-in user of the current request::

    >>> from syncmon.sdk import set_user, current_user
    >>> set_user("u-42")
    >>> current_user()
    'u-42'
    >>> set_user(None)

Inside a request it writes to the request's context object rather than to a context
variable, so a value set in a sync endpoint that Starlette runs in a worker thread (with
a *copy* of the context) still reaches the middleware when the response is done.
"""

from __future__ import annotations

import contextlib
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from syncmon.sdk.client import Client

# OWASP Logging Vocabulary names for what a 401 and a 403 mean. The server's security
# vocabulary maps these onto its authentication_failure / authorization_failure alerts.
AUTHN_FAILURE: Final = "authn_login_fail"
AUTHZ_FAILURE: Final = "authz_fail"

_ID_SEGMENT: Final = re.compile(
    r"\d+"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}"
)
_WERKZEUG_PARAM: Final = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")
_MAX_ROUTE: Final = 512


@dataclass(slots=True)
class RequestContext:
    """One HTTP request as the middleware saw it arrive."""

    method: str
    url: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    user_id: str | None = None


_request: ContextVar[RequestContext | None] = ContextVar("syncmon_sdk_request", default=None)
_user: ContextVar[str | None] = ContextVar("syncmon_sdk_user", default=None)


def set_user(user_id: object) -> None:
    """Name the user the current request (or, outside one, the current context) acts for.

    ``None`` clears it. Anything else is sent as its ``str()``. Never raises.
    """
    value = None if user_id is None else _text(user_id)
    context = _request.get()
    if context is not None:
        context.user_id = value
    else:
        _user.set(value)


def current_user() -> str | None:
    """The user id set with `set_user` for the current request or context, if any."""
    context = _request.get()
    if context is not None and context.user_id is not None:
        return context.user_id
    return _user.get()


def current_request() -> RequestContext | None:
    """The request the middleware is handling in this context, if any."""
    return _request.get()


def _text(value: object) -> str | None:
    try:
        return str(value)
    except Exception:
        return None


def collapse_path(path: str) -> str:
    """A raw path with numeric, UUID and long hex segments replaced by ``{id}``.

    Used when the framework did not say which route matched, so that ``/orders/8812`` and
    ``/orders/8813`` count as one route::

        >>> collapse_path("/orders/8812/items/3f2b9c1e-0d3a-4c55-9a43-0b1e2c3d4e5f")
        '/orders/{id}/items/{id}'
    """
    segments = path.split("/")
    return "/".join("{id}" if _ID_SEGMENT.fullmatch(s) else s for s in segments)[:_MAX_ROUTE] or "/"


def werkzeug_rule(rule: str) -> str:
    """A Werkzeug/Flask rule in the ``{name}`` style of the other frameworks::

    >>> werkzeug_rule("/users/<int:user_id>/files/<path:name>")
    '/users/{user_id}/files/{name}'
    """
    return _WERKZEUG_PARAM.sub(r"{\1}", rule)


def finish_request(
    client: Client,
    context: RequestContext,
    *,
    route: str,
    status: int,
    duration_ms: float,
    user_id: object,
    security_events: bool,
    error: BaseException | None = None,
) -> None:
    """Report one finished request: its request event, a security event for a 401 or a
    403, and the exception that ended it, if any. Shared by both middlewares."""
    client.track_request(
        context.method,
        route,
        status,
        duration_ms,
        url=context.url,
        client_ip=context.client_ip,
        user_id=user_id,
        user_agent=context.user_agent,
    )
    common: dict[str, Any] = {
        "target": route,
        "url": context.url,
        "client_ip": context.client_ip,
        "user_id": user_id,
        "user_agent": context.user_agent,
        "method": context.method,
        "status": status,
    }
    if security_events and status == 401:
        client.track_authentication_event(AUTHN_FAILURE, severity="warning", **common)
    elif security_events and status == 403:
        client.track_authorization_event(AUTHZ_FAILURE, severity="critical", **common)
    if isinstance(error, Exception):
        client.track_error(
            error,
            url=context.url,
            client_ip=context.client_ip,
            user_id=user_id,
            user_agent=context.user_agent,
            route=route,
            method=context.method,
        )


def enter(context: RequestContext) -> Any:
    """Make ``context`` the current request; returns the token for `leave`."""
    return _request.set(context)


def leave(token: Any) -> None:
    """Undo `enter`; harmless if the context has changed meanwhile."""
    with contextlib.suppress(ValueError):  # reset from another context (a server that switched threads)
        _request.reset(token)
