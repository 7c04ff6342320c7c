"""Sentry payloads (events, transactions, sessions, check-ins, feedback) as Events.

Each function takes one parsed item payload and the request's context and returns the
Events it stands for. Malformed payloads raise `ClientError` naming what is wrong; the
receiver decides whether that skips the item or refuses the request.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from syncmon.errors.frames import exceptions_from_sentry
from syncmon.errors.grouping import GroupingInput
from syncmon.errors.identity import identify
from syncmon.events import Event, Kind, Level, normalize_level
from syncmon.http_errors import ClientError
from syncmon.pipeline.normalize import IngestContext, build_event

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
MAX_SPANS_KEPT = 100


def event_id(raw: Any, fallback: str | None, where: str) -> str | None:
    """A Sentry event id as 32 lowercase hex; ClientError when present but not a UUID."""
    if raw is None or raw == "":
        return fallback
    if not isinstance(raw, str) or not _UUID.match(raw):
        raise ClientError(400, f"{where}event_id: {str(raw)[:40]!r} is not a UUID", field=f"{where}event_id")
    return raw.replace("-", "").lower()


def _text(value: Any, limit: int = 1024) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)[:limit]
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def message_of(payload: dict[str, Any]) -> str | None:
    """The message of a Sentry event: `logentry` (formatted, else template) or `message`."""
    for source in (payload.get("logentry"), payload.get("message")):
        if isinstance(source, str) and source:
            return source[:8192]
        if isinstance(source, dict):
            text = source.get("formatted") or source.get("message")
            if isinstance(text, str) and text:
                return text[:8192]
    return None


def _synthetic(raw: Any) -> bool:
    values = raw.get("values") if isinstance(raw, dict) else raw
    if not isinstance(values, list):
        return False
    mechanisms = (v.get("mechanism") for v in values if isinstance(v, dict))
    return any(isinstance(m, dict) and m.get("synthetic") is True for m in mechanisms)


def _level(payload: dict[str, Any], default: Level, where: str) -> str:
    raw = payload.get("level")
    try:
        return normalize_level(raw if isinstance(raw, str) else None, default)
    except ValueError as exc:
        raise ClientError(400, f"{where}level: {exc}", field=f"{where}level") from None


def _ip_address(value: Any) -> str | None:
    """An IP address as written by a client, or None when it is none ('{{auto}}', junk, a
    zone index): only a real address may stand in for the connection's (and fit its column)."""
    text = _text(value, 64)
    if text is None:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return None if isinstance(address, ipaddress.IPv6Address) and address.scope_id else text


def _user(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(user id, IP address) from the `user` interface; '{{auto}}' means the connection's."""
    user = _dict(payload.get("user"))
    user_id = _text(user.get("id")) or _text(user.get("email")) or _text(user.get("username"))
    return user_id, _ip_address(user.get("ip_address"))


def _user_key(payload: dict[str, Any], event: Event) -> str | None:
    """Sentry counts affected users from the `user` interface only: a server SDK's event
    without one says nothing about users, and its connection IP is the server's. A browser
    SDK asks for the connection's IP with `user.ip_address: "{{auto}}"` (JavaScript SDK < 9)
    or `sdk.settings.infer_ip: "auto"` (9 and later)."""
    user = _dict(payload.get("user"))
    user_id, ip = _user(payload)
    if user_id:
        return user_id
    infer_ip = _dict(_dict(payload.get("sdk")).get("settings")).get("infer_ip")
    if user.get("ip_address") == "{{auto}}" or infer_ip == "auto" or (ip and event.client_ip == ip):
        return f"ip:{event.client_ip}" if event.client_ip else None
    return None


def _common(payload: dict[str, Any], ctx: IngestContext) -> dict[str, Any]:
    user_id, ip = _user(payload)
    request = _dict(payload.get("request"))
    headers = request.get("headers")
    header_items = (
        headers.items() if isinstance(headers, dict) else headers if isinstance(headers, list) else []
    )
    agent = next(
        (
            str(value)
            for pair in header_items
            if isinstance(pair, list | tuple) and len(pair) == 2
            for key, value in [pair]
            if isinstance(key, str) and key.lower() == "user-agent"
        ),
        None,
    )
    return {
        "timestamp": payload.get("timestamp"),
        "url": _text(request.get("url"), 2048),
        "user_id": user_id,
        "release": _text(payload.get("release"), 200),
        "environment": _text(payload.get("environment"), 64),
        "claimed_ip": ip,
        "claimed_user_agent": agent,
    }


def error_event(payload: Any, ctx: IngestContext, fallback_id: str | None, where: str = "") -> Event:
    """A Sentry error or message event, grouped into its issue."""
    if not isinstance(payload, dict):
        raise ClientError(400, f"{where}event: expected a JSON object", field=f"{where}event")
    the_id = event_id(payload.get("event_id"), fallback_id, where)
    exceptions = exceptions_from_sentry(payload.get("exception"))
    message = message_of(payload)
    if message and _synthetic(payload.get("exception")):
        # captureMessage with attachStacktrace: the "exception" is made up by the SDK and its
        # frames are the SDK's own; the message is what identifies the event.
        exceptions = ()
    raw_fingerprint = payload.get("fingerprint")
    fingerprint = (
        tuple(str(part)[:200] for part in raw_fingerprint[:20])
        if isinstance(raw_fingerprint, list) and raw_fingerprint
        else None
    )
    platform = _text(payload.get("platform"), 32)
    identity = identify(
        GroupingInput(exceptions=exceptions, message=message, fingerprint=fingerprint, platform=platform)
    )
    name = (exceptions[-1].type if exceptions and exceptions[-1].type else None) or "message"
    event = build_event(
        ctx,
        kind=Kind.ERROR,
        name=name,
        payload=payload,
        level=_level(payload, Level.ERROR, where),
        message=identity.title,
        field_prefix=where,
        **_common(payload, ctx),
    )
    if the_id:
        event.id = the_id
        event.id_from_client = True
    event.data["_user_key"] = _user_key(payload, event)
    event.fingerprint = identity.fingerprint
    identity.annotate(event.data)
    return event


def transaction_event(payload: Any, ctx: IngestContext, fallback_id: str | None, where: str = "") -> Event:
    """A performance transaction: its name, duration in ms, and at most 100 spans."""
    if not isinstance(payload, dict):
        raise ClientError(400, f"{where}transaction: expected a JSON object", field=f"{where}transaction")
    the_id = event_id(payload.get("event_id"), fallback_id, where)
    start = payload.get("start_timestamp")
    duration = _duration_ms(start, payload.get("timestamp"), where)
    data = dict(payload)
    spans = data.get("spans")
    if isinstance(spans, list):
        data["span_count"] = len(spans)
        data["spans"] = spans[:MAX_SPANS_KEPT]
    event = build_event(
        ctx,
        kind=Kind.TRANSACTION,
        name=_text(payload.get("transaction"), 200) or "<unlabeled transaction>",
        payload=data,
        level=Level.INFO,
        value=duration,
        field_prefix=where,
        **_common(payload, ctx),
    )
    if the_id:
        event.id = the_id
        event.id_from_client = True
    return event


def _duration_ms(start: Any, end: Any, where: str) -> float | None:
    from syncmon.pipeline.normalize import parse_timestamp

    start_ms = parse_timestamp(start, f"{where}start_timestamp")
    end_ms = parse_timestamp(end, f"{where}timestamp")
    if start_ms is None or end_ms is None:
        return None
    return float(max(0, end_ms - start_ms))


def session_events(payload: Any, ctx: IngestContext, where: str = "") -> list[Event]:
    """A `session` update, or each bucket of a `sessions` aggregate."""
    if not isinstance(payload, dict):
        raise ClientError(400, f"{where}session: expected a JSON object", field=f"{where}session")
    attrs = _dict(payload.get("attrs"))
    common: dict[str, Any] = {
        "release": _text(attrs.get("release"), 200),
        "environment": _text(attrs.get("environment"), 64),
        "claimed_user_agent": _text(attrs.get("user_agent"), 512),
        "field_prefix": where,
    }
    aggregates = payload.get("aggregates")
    if isinstance(aggregates, list):
        events = []
        for bucket in aggregates[:1000]:
            if not isinstance(bucket, dict):
                continue
            total = sum(v for k, v in bucket.items() if k != "started" and isinstance(v, int))
            events.append(
                build_event(
                    ctx,
                    kind=Kind.SESSION,
                    name="aggregate",
                    payload={**bucket, "attrs": attrs},
                    timestamp=bucket.get("started"),
                    value=float(total),
                    **common,
                )
            )
        return events
    status = _text(payload.get("status"), 32) or "ok"
    duration = payload.get("duration")
    return [
        build_event(
            ctx,
            kind=Kind.SESSION,
            name=status,
            payload=payload,
            timestamp=payload.get("timestamp") or payload.get("started"),
            level=Level.ERROR if status in ("crashed", "abnormal") else Level.INFO,
            value=float(duration)
            if isinstance(duration, int | float) and not isinstance(duration, bool)
            else None,
            user_id=_text(payload.get("did"), 200),
            session_id=_text(payload.get("sid"), 200),
            **common,
        )
    ]


def check_in_event(payload: Any, ctx: IngestContext, where: str = "") -> Event:
    """A cron monitor check-in (in_progress, ok, error) with its duration in seconds."""
    if not isinstance(payload, dict) or not isinstance(payload.get("monitor_slug"), str):
        raise ClientError(
            400, f"{where}check_in: expected an object with a monitor_slug", field=f"{where}check_in"
        )
    status = _text(payload.get("status"), 32) or "ok"
    duration = payload.get("duration")
    return build_event(
        ctx,
        kind=Kind.CHECK_IN,
        name=payload["monitor_slug"][:200],
        payload=payload,
        level=Level.ERROR if status == "error" else Level.INFO,
        message=f"{payload['monitor_slug'][:200]}: {status}",
        value=float(duration)
        if isinstance(duration, int | float) and not isinstance(duration, bool)
        else None,
        release=_text(payload.get("release"), 200),
        environment=_text(payload.get("environment"), 64),
        field_prefix=where,
    )


def feedback_event(payload: Any, ctx: IngestContext, where: str = "") -> Event:
    """User feedback: the legacy `user_report` item or the newer `feedback` event."""
    if not isinstance(payload, dict):
        raise ClientError(400, f"{where}feedback: expected a JSON object", field=f"{where}feedback")
    feedback = _dict(_dict(payload.get("contexts")).get("feedback"))
    text = _text(payload.get("comments"), 8192) or _text(feedback.get("message"), 8192)
    return build_event(
        ctx,
        kind=Kind.FEEDBACK,
        name="user_feedback",
        payload=payload,
        message=text,
        url=_text(feedback.get("url"), 2048),
        user_id=_text(payload.get("email")) or _text(feedback.get("contact_email")),
        timestamp=payload.get("timestamp"),
        field_prefix=where,
    )
