"""The SyncScript Monitor Python SDK: security events, errors and requests from your servers.

Only the standard library is needed at run time. A quick look::

    >>> from syncmon.sdk import Client, Response
    >>> class Accept:  # stands in for the network here; omit `transport` in real use
    ...     def send(self, body, headers):
    ...         return Response(200)
    >>> client = Client("<secret key>", "https://monitor.example.com", transport=Accept())
    >>> client.track_authentication_event("authn_login_fail", user_id="u-42", client_ip="203.0.113.9")
    >>> client.flush(timeout=5)
    True
    >>> client.close()

`SyncmonMiddleware` (ASGI) and `SyncmonWSGIMiddleware` (WSGI) report every request,
`SyncmonHandler` sends log records, and `set_user` names the user of the current
request. docs/python-sdk.md has the rest.
"""

from syncmon.sdk.asgi import SyncmonMiddleware
from syncmon.sdk.client import Client
from syncmon.sdk.context import current_user, set_user
from syncmon.sdk.log_handler import SyncmonHandler
from syncmon.sdk.transport import BatchSender, Response, Transport, UrllibTransport
from syncmon.sdk.wsgi import SyncmonWSGIMiddleware

__all__ = [
    "BatchSender",
    "Client",
    "Response",
    "SyncmonHandler",
    "SyncmonMiddleware",
    "SyncmonWSGIMiddleware",
    "Transport",
    "UrllibTransport",
    "current_user",
    "set_user",
]
