"""Turning a validated payload into an Event: server-side fields, timestamps, PII scrubbing.

Every receiver ends here, so every event gets the same treatment whatever SDK sent it:
the receive time and client IP come from the server, the user agent is parsed, and the
payload is scrubbed before anything is stored.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from syncmon.events import Event, Level
from syncmon.http_errors import ClientError
from syncmon.pipeline.scrub import Scrubber, ScrubError
from syncmon.pipeline.useragent import parse_user_agent

# Epoch numbers above this are milliseconds, below it seconds (1e11 s is the year 5138).
_MS_THRESHOLD = 1e11
_MIN_MS = 0
_MAX_MS = 253_402_300_799_000  # 9999-12-31


@dataclass(slots=True)
class IngestContext:
    """What the server knows about one ingest request, independent of its wire format."""

    project_id: int
    trusted: bool
    client_ip: str | None
    user_agent: str | None
    received_ms: int
    scrubber: Scrubber
    future_tolerance_ms: int = 300_000


def parse_timestamp(raw: Any, field: str = "timestamp") -> int | None:
    """Epoch milliseconds from an ISO 8601 string or an epoch number in s or ms."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ClientError(400, f"{field}: expected an ISO 8601 date or an epoch number", field=field)
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ClientError(400, f"{field}: not a finite number", field=field)
        ms = float(raw) if raw > _MS_THRESHOLD else float(raw) * 1000.0
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                return parse_timestamp(float(text), field)
            except ValueError:
                raise ClientError(
                    400,
                    f"{field}: {raw[:40]!r} is not an ISO 8601 date or epoch number",
                    field=field,
                ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ms = parsed.timestamp() * 1000.0
    else:
        raise ClientError(400, f"{field}: expected an ISO 8601 date or an epoch number", field=field)
    if not _MIN_MS <= ms <= _MAX_MS:
        raise ClientError(400, f"{field}: date out of range", field=field)
    return int(ms)


def build_event(
    ctx: IngestContext,
    *,
    kind: str,
    name: str,
    payload: dict[str, Any],
    timestamp: Any = None,
    level: str = Level.INFO.value,
    message: str | None = None,
    url: str | None = None,
    value: float | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    release: str | None = None,
    environment: str | None = None,
    claimed_ip: str | None = None,
    claimed_user_agent: str | None = None,
    event_id: str | None = None,
    field_prefix: str = "",
) -> Event:
    """Assemble an Event; claims about the end user (IP, UA) count only with the secret key."""
    ts_ms = parse_timestamp(timestamp, field_prefix + "timestamp") or ctx.received_ms
    timestamp_adjusted = False
    if ts_ms > ctx.received_ms + ctx.future_tolerance_ms:
        ts_ms, timestamp_adjusted = ctx.received_ms, True
    # With the secret key the caller is a server reporting on its users: the connection is
    # the server's own, so only what it claims about the user counts (possibly nothing).
    client_ip = valid_ip(claimed_ip) if ctx.trusted else ctx.client_ip
    ua_string = claimed_user_agent if ctx.trusted else ctx.user_agent
    agent = parse_user_agent(ua_string)
    try:
        data = ctx.scrubber.scrub(payload)
    except ScrubError as exc:
        raise ClientError(
            400, f"{field_prefix or 'body'}: {exc}", field=field_prefix.rstrip(".") or None
        ) from None
    if timestamp_adjusted:
        data["_timestamp_adjusted"] = True
    if ua_string and not ctx.trusted:
        data.setdefault("user_agent", ua_string[:512])
    event = Event(
        project_id=ctx.project_id,
        kind=kind,
        name=_clip(name, 200) or kind,
        timestamp_ms=ts_ms,
        received_ms=ctx.received_ms,
        level=level,
        message=_scrub_text(ctx, message, 8192),
        url=_scrub_text(ctx, url, 2048),
        client_ip=client_ip,
        user_id=_clip(user_id, 200),
        session_id=_clip(session_id, 200),
        release=_clip(release, 200),
        environment=_clip(environment, 64),
        browser=_clip(agent.browser, 64),
        os=_clip(agent.os, 64),
        device=agent.device,
        is_bot=agent.is_bot,
        value=value,
        trusted=ctx.trusted,
        data=data,
    )
    if event_id:
        event.id = event_id
    else:
        event.id_from_client = False
    return event


def valid_ip(text: str | None) -> str | None:
    """A claimed IP address in canonical form, or None when it is not one."""
    if not text or len(text) > 64:
        return None
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = str(text).replace("\x00", "")
    return text[:limit] if text else None


def _scrub_text(ctx: IngestContext, text: str | None, limit: int) -> str | None:
    clipped = _clip(text, limit)
    if clipped is None:
        return None
    scrubbed = ctx.scrubber.scrub(clipped)
    return scrubbed if isinstance(scrubbed, str) else clipped
