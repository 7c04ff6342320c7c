"""The one normalized Event every receiver produces, and the vocabulary around it.

Receivers translate a wire format into `Event`s; nothing downstream knows which SDK
sent one. Fields that most queries filter on are columns; the whole scrubbed payload
rides along in `data`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What an event is about; rollups and queries are keyed by it."""

    ERROR = "error"
    SECURITY = "security"
    PAGE_VIEW = "page_view"
    CUSTOM = "custom"
    PERFORMANCE = "performance_metric"
    TRANSACTION = "transaction"
    SESSION = "session"
    CHECK_IN = "check_in"
    FEEDBACK = "feedback"
    REQUEST = "request"


class Level(StrEnum):
    """Severity, ordered; the seed uses info / warning / error / critical."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


LEVEL_ALIASES: dict[str, Level] = {
    "debug": Level.DEBUG,
    "trace": Level.DEBUG,
    "info": Level.INFO,
    "low": Level.INFO,
    "log": Level.INFO,
    "notice": Level.INFO,
    "warning": Level.WARNING,
    "warn": Level.WARNING,
    "medium": Level.WARNING,
    "error": Level.ERROR,
    "high": Level.ERROR,
    "fatal": Level.CRITICAL,
    "critical": Level.CRITICAL,
}


def normalize_level(raw: str | None, default: Level = Level.INFO) -> Level:
    """Map the many severity spellings clients use onto the five levels."""
    if not raw:
        return default
    level = LEVEL_ALIASES.get(raw.strip().lower())
    if level is None:
        raise ValueError(f"unknown severity {raw!r}; use one of {', '.join(LEVEL_ALIASES)}")
    return level


def new_event_id() -> str:
    """A random 128-bit id as 32 hex characters (uuid4's format, a quarter of its cost)."""
    return os.urandom(16).hex()


@dataclass(slots=True)
class Event:
    """A single stored observation. Times are epoch milliseconds (server clock for received)."""

    project_id: int
    kind: str
    name: str
    timestamp_ms: int
    received_ms: int
    id: str = field(default_factory=new_event_id)
    level: str = Level.INFO.value
    message: str | None = None
    url: str | None = None
    client_ip: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    release: str | None = None
    environment: str | None = None
    browser: str | None = None
    os: str | None = None
    device: str | None = None
    is_bot: bool = False
    value: float | None = None
    trusted: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    issue_id: int | None = None
    seq: int | None = None
    # Not stored: whether the id may already be in the log (a client chose it and may
    # resend it), so the writer checks it; ids the receivers make are random and need none.
    id_from_client: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The event as the read API shows it."""
        return {
            "id": self.id,
            "seq": self.seq,
            "project_id": self.project_id,
            "kind": self.kind,
            "name": self.name,
            "timestamp": self.timestamp_ms / 1000.0,
            "received_at": self.received_ms / 1000.0,
            "level": self.level,
            "message": self.message,
            "url": self.url,
            "client_ip": self.client_ip,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "release": self.release,
            "environment": self.environment,
            "user_agent": {
                "browser": self.browser,
                "os": self.os,
                "device": self.device,
                "is_bot": self.is_bot,
            },
            "value": self.value,
            "trusted": self.trusted,
            "fingerprint": self.fingerprint,
            "issue_id": self.issue_id,
            "data": self.data,
        }
