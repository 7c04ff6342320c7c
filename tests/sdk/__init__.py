"""Tests of the Python SDK, and the fake transport they share.

`FakeTransport` stands in for the server: it records what the client sends and replies
from a script (a `Response`, an exception to raise, or a function of the items), then
200 once the script is used up.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from typing import Any

from syncmon.sdk import Client, Response

Reply = Response | BaseException | Callable[[list[dict[str, Any]]], Response]


class FakeTransport:
    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[list[dict[str, Any]], dict[str, str]]] = []
        self.accepted: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.entered = threading.Event()  # set on the first send
        self.gate: threading.Event | None = None  # when set, send waits for it

    def send(self, body: bytes, headers: dict[str, str]) -> Response:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        items = json.loads(gzip.decompress(body))
        with self.lock:
            self.requests.append((items, headers))
            reply = self.replies.pop(0) if self.replies else Response(200)
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            reply = reply(items)
        if 200 <= reply.status < 300:
            with self.lock:
                self.accepted.append(items)
        return reply

    @property
    def items(self) -> list[dict[str, Any]]:
        """Every item the (fake) server accepted, in order."""
        with self.lock:
            return [item for batch in self.accepted for item in batch]


class Sleeps:
    """An injected `sleep` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(transport: FakeTransport, **settings: Any) -> Client:
    settings.setdefault("sleep", Sleeps())
    return Client("sk_test", "http://monitor.test", transport=transport, **settings)


def error_reply(status: int, message: str, field: str | None = None, **headers: str) -> Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return Response(status, headers, json.dumps(body).encode())
