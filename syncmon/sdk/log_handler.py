"""A `logging.Handler` that sends log records as error events.

::

    import logging
    from syncmon.sdk import Client, SyncmonHandler

    client = Client("<secret key>", "https://monitor.example.com")
    logging.getLogger().addHandler(SyncmonHandler(client))  # ERROR and above

    log = logging.getLogger("shop.payments")
    try:
        charge()
    except PaymentError:
        log.exception("charge failed")  # an error event with the traceback

A record with ``exc_info`` becomes an error event for that exception (type, message,
traceback), with the log message as ``log_message``; other records become error events
of type ``log`` with the message, the logger name and the source line. Inside a request
the middleware handles, the request's URL, client IP and user come along. An exception
the middleware already reported is not reported again.
"""

from __future__ import annotations

import logging
import threading

from syncmon.sdk.client import Client

_OWN_LOGGER = "syncmon.sdk"


def level_name(levelno: int) -> str:
    """The server's level for a `logging` level number."""
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class SyncmonHandler(logging.Handler):
    """Sends records at ``level`` and above to ``client`` as error events.

    The SDK's own logger (``syncmon.sdk``) is left out, so a handler on the root logger
    never feeds the SDK's warnings about sending back into the SDK.
    """

    def __init__(self, client: Client, level: int = logging.ERROR) -> None:
        super().__init__(level)
        self.client = client
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == _OWN_LOGGER or record.name.startswith(_OWN_LOGGER + "."):
            return
        if getattr(self._busy, "active", False):
            return  # a record logged while handling one: never recurse
        self._busy.active = True
        try:
            self._send(record)
        except Exception:
            self.handleError(record)
        finally:
            self._busy.active = False

    def _send(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format
            message = str(record.msg)
        common = {"logger": record.name, "level": level_name(record.levelno), "function": record.funcName}
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            self.client.track_error(exc, log_message=message, **common)
            return
        self.client.track_error(
            message or record.name,
            type="log",
            filename=record.pathname,
            lineno=record.lineno,
            stack=record.stack_info,
            **common,
        )
