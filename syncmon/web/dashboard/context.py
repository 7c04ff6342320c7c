"""What every dashboard view needs, built once per app: services, renderer, sessions, recorder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from syncmon.web.api import Caller
from syncmon.web.auth.login import LoginService
from syncmon.web.auth.recorder import Origin, SecurityRecorder, origin_of
from syncmon.web.auth.session import ActiveSession, SessionManager
from syncmon.web.dashboard.closed_cache import ClosedCache
from syncmon.web.dashboard.templating import Renderer

if TYPE_CHECKING:
    from syncmon.app import Services


SUBJECT_ENTRIES = 16


@dataclass
class Dashboard:
    services: Services
    renderer: Renderer
    sessions: SessionManager
    recorder: SecurityRecorder
    logins: LoginService
    # What pages merged from closed days' rollups, while those days are unchanged: sketches
    # (small), and the Security page's subject tallies (one entry per IP or account seen).
    closed: ClosedCache = field(default_factory=ClosedCache)
    subjects: ClosedCache = field(default_factory=lambda: ClosedCache(max_entries=SUBJECT_ENTRIES))

    @classmethod
    def build(cls, services: Services) -> Dashboard:
        recorder = SecurityRecorder(services)
        return cls(
            services=services,
            renderer=Renderer(services),
            sessions=SessionManager(services),
            recorder=recorder,
            logins=LoginService(services, recorder),
        )

    def origin(self, request: Request) -> Origin:
        return origin_of(self.services, request)

    def now(self) -> int:
        return self.services.clock.now_ms()


def session_of(request: Request) -> ActiveSession | None:
    """The session the access guard admitted this request with (None for token callers)."""
    found: Any = request.scope.get("state", {}).get("session")
    return found if isinstance(found, ActiveSession) else None


def caller_of(request: Request) -> Caller:
    found: Any = request.scope.get("state", {}).get("caller")
    if not isinstance(found, Caller):
        raise RuntimeError("dashboard view reached without the access guard")
    return found
