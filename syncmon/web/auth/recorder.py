"""The dashboard's own security events, recorded in the monitor's own project.

Logins, lockouts, refused actions and admin changes become `security` events of the
project named by `monitor_project` and enter the store through the writer like any
ingested event, so the same detectors that watch the monitored application (brute
force, credential stuffing, …) watch the dashboard too. The client IP is the one the
trusted-proxy rules resolved; the account is the email the event is about.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from syncmon.events import Event, Kind, Level, new_event_id
from syncmon.pipeline.useragent import parse_user_agent
from syncmon.pipeline.writer import StoreUnavailable
from syncmon.security.vocabulary import category_of
from syncmon.store import projects

if TYPE_CHECKING:
    from syncmon.app import Services

log = logging.getLogger(__name__)
MAX_TEXT = 512


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as the monitor records it."""

    client_ip: str | None
    user_agent: str | None
    path: str


def origin_of(services: Services, request: Request) -> Origin:
    return Origin(
        client_ip=services.gateway.client_ip(request),
        user_agent=(request.headers.get("user-agent") or None),
        path=request.url.path,
    )


def own_event(
    project_id: int,
    name: str,
    origin: Origin,
    account: str | None,
    now_ms: int,
    *,
    level: Level = Level.INFO,
    message: str,
    details: dict[str, Any] | None = None,
) -> Event:
    """A security event the monitor reports about itself (trusted: the server saw it)."""
    agent = parse_user_agent(origin.user_agent)
    data: dict[str, Any] = {"category": category_of(name).value, "source": "dashboard"}
    if origin.user_agent:
        data["user_agent"] = origin.user_agent[:MAX_TEXT]
    data.update(details or {})
    return Event(
        project_id=project_id,
        kind=Kind.SECURITY.value,
        name=name,
        timestamp_ms=now_ms,
        received_ms=now_ms,
        id=new_event_id(),
        level=level.value,
        message=message[:MAX_TEXT],
        url=origin.path[:MAX_TEXT],
        client_ip=origin.client_ip,
        user_id=account[:200] if account else None,
        browser=agent.browser,
        os=agent.os,
        device=agent.device,
        is_bot=agent.is_bot,
        trusted=True,
        data=data,
        id_from_client=False,
    )


class SecurityRecorder:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._project_id: int | None = None

    async def project_id(self) -> int:
        """The monitor's own project (created at start by bootstrap; created here if gone)."""
        if self._project_id is None:
            slug = self._services.settings.monitor_project
            now = self._services.clock.now_ms()
            found = await self._services.writer.run(lambda conn: projects.ensure_project(conn, slug, now))
            self._project_id = found.id
        return self._project_id

    async def emit(
        self,
        name: str,
        origin: Origin,
        account: str | None,
        *,
        level: Level = Level.INFO,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record one event; a store that refuses it is logged, not raised (the change it
        reports is already committed)."""
        project_id = await self.project_id()
        now = self._services.clock.now_ms()
        event = own_event(
            project_id, name, origin, account, now, level=level, message=message, details=details
        )
        try:
            await self._services.writer.write([event])
        except StoreUnavailable:
            log.error("security event %s for %s could not be stored", name, account)
