"""One error type for everything a client did wrong, rendered one way (JSON with a message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ClientError(Exception):
    """A request the server refuses: an HTTP status, a message saying what is wrong, and
    optionally the offending field and extra response headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        reason: str = "invalid",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.reason = reason
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            payload["field"] = self.field
        return payload
