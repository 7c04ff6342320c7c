"""The seed's own endpoints: `/api/monitoring/error`, `/security` and the `/events` batch.

The seed's browser code posts ErrorMonitoring payloads to `/api/monitoring/error`, its
SecurityAnalytics payloads to `/api/monitoring/security`, and the batch endpoint takes
a mix of items shaped like the seed's VercelAnalytics `va('track', {...})` calls. Each
item becomes exactly one Event, and ids come back in request order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.errors.frames import exceptions_from_sentry
from syncmon.errors.grouping import GroupingInput
from syncmon.errors.identity import browser_error_input, exception_as_sentry, identify
from syncmon.errors.jsstack import parse_js_error_header
from syncmon.events import Event, Kind, Level, normalize_level
from syncmon.http_errors import ClientError
from syncmon.ingest.gateway import IngestGateway
from syncmon.ingest.native_payloads import (
    CustomPayload,
    ErrorPayload,
    PageViewPayload,
    PerformancePayload,
    RequestPayload,
    SecurityPayload,
)
from syncmon.pipeline.normalize import IngestContext, build_event
from syncmon.security.vocabulary import canonical
from syncmon.web.responses import JSONResponse

# The seed's va('track', {name: ...}) names that stand for a kind of their own.
NAME_TO_KIND = {
    "page_view": Kind.PAGE_VIEW,
    "pageview": Kind.PAGE_VIEW,
    "performance_metric": Kind.PERFORMANCE,
    "error_occurred": Kind.ERROR,
    "error": Kind.ERROR,
    "security_event": Kind.SECURITY,
}
KIND_ALIASES = {kind.value: kind for kind in Kind} | {
    "performance": Kind.PERFORMANCE,
    "pageview": Kind.PAGE_VIEW,
}
ERROR_LEVELS = {"csp_violation": Level.WARNING}


def _validate(model: type[BaseModel], payload: Any, prefix: str) -> Any:
    if not isinstance(payload, dict):
        where = prefix.rstrip(".") or "body"
        raise ClientError(400, f"{where}: expected a JSON object", field=prefix.rstrip(".") or None)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        field = f"{prefix}{location}" if location else prefix.rstrip(".")
        raise ClientError(400, f"{field}: {first['msg']}", field=field) from None


def _common(payload: Any) -> dict[str, Any]:
    return {
        "event_id": payload.event_id.hex if payload.event_id else None,
        "timestamp": payload.timestamp,
        "user_id": payload.user_id,
        "session_id": payload.session_id,
        "release": payload.release,
        "environment": payload.environment,
        "claimed_ip": payload.client_ip,
        "claimed_user_agent": payload.user_agent,
    }


def _data(raw: dict[str, Any]) -> dict[str, Any]:
    """The stored payload: what the client sent, less what the server decides itself."""
    return {key: value for key, value in raw.items() if key not in ("client_ip", "kind", "event_id")}


def error_event(raw: Any, ctx: IngestContext, prefix: str = "") -> Event:
    """An ErrorMonitoring payload, grouped into its issue from its stack string."""
    p: ErrorPayload = _validate(ErrorPayload, raw, prefix)
    try:
        level = normalize_level(p.level, ERROR_LEVELS.get(p.type, Level.ERROR))
    except ValueError as exc:
        raise ClientError(400, f"{prefix}level: {exc}", field=f"{prefix}level") from None
    fingerprint = tuple(p.fingerprint) if p.fingerprint else None
    structured = (
        exceptions_from_sentry(raw.get("exception")) if isinstance(raw.get("exception"), dict) else ()
    )
    if structured:
        # A server SDK sent structured frames (Sentry's shape); group on those.
        grouping_input = GroupingInput(exceptions=structured, message=p.message, fingerprint=fingerprint)
    else:
        grouping_input = browser_error_input(
            p.type, p.message, p.stack, p.filename, p.lineno, p.colno, fingerprint
        )
    identity = identify(grouping_input)
    payload = _data(raw)
    if grouping_input.exceptions[0].frames and "exception" not in payload:
        payload["exception"] = exception_as_sentry(grouping_input)
    event = build_event(
        ctx,
        kind=Kind.ERROR,
        name=p.type,
        payload=payload,
        level=level,
        # "TypeError: …" when the stack names the error class; else the message alone, since
        # the seed's `type` (javascript_error, …) says where it was caught, not what it is.
        message=(
            identity.title if structured or parse_js_error_header(p.stack or "")[0] else (p.message or p.type)
        ),
        url=p.url or p.filename,
        field_prefix=prefix,
        **_common(p),
    )
    event.fingerprint = identity.fingerprint
    identity.annotate(event.data)
    return event


def security_event(raw: Any, ctx: IngestContext, prefix: str = "") -> Event:
    p: SecurityPayload = _validate(SecurityPayload, raw, prefix)
    try:
        level = normalize_level(p.severity, Level.INFO)
    except ValueError as exc:
        raise ClientError(400, f"{prefix}severity: {exc}", field=f"{prefix}severity") from None
    detail = p.auth_event or p.authz_event or p.data_event or p.api_event
    category, name = canonical(p.event_type, detail, p.category)
    payload = _data(raw)
    payload["category"] = category.value
    return build_event(
        ctx,
        kind=Kind.SECURITY,
        name=name,
        payload=payload,
        level=level,
        message=f"{p.event_type}: {detail}" if detail else p.event_type,
        url=p.url,
        field_prefix=prefix,
        **_common(p),
    )


def page_view_event(raw: Any, ctx: IngestContext, prefix: str = "") -> Event:
    p: PageViewPayload = _validate(PageViewPayload, raw, prefix)
    return build_event(
        ctx,
        kind=Kind.PAGE_VIEW,
        name="page_view",
        payload=_data(raw),
        url=p.url,
        field_prefix=prefix,
        **_common(p),
    )


def custom_event(raw: Any, ctx: IngestContext, prefix: str = "") -> Event:
    p: CustomPayload = _validate(CustomPayload, raw, prefix)
    return build_event(
        ctx,
        kind=Kind.CUSTOM,
        name=p.name,
        payload=_data(raw),
        url=p.url,
        field_prefix=prefix,
        **_common(p),
    )


def performance_event(raw: Any, ctx: IngestContext, prefix: str = "") -> Event:
    p: PerformancePayload = _validate(PerformancePayload, raw, prefix)
    return build_event(
        ctx,
        kind=Kind.PERFORMANCE,
        name=p.metric,
        payload=_data(raw),
        url=p.url,
        value=p.value,
        field_prefix=prefix,
        **_common(p),
    )


def request_event(raw: Any, ctx: IngestContext, prefix: str = "") -> Event:
    p: RequestPayload = _validate(RequestPayload, raw, prefix)
    route = p.route or _path_of(p.url) or "/"
    level = Level.ERROR if p.status >= 500 else Level.WARNING if p.status >= 400 else Level.INFO
    return build_event(
        ctx,
        kind=Kind.REQUEST,
        name=f"{p.method} {route}"[:200],
        payload=_data(raw),
        level=level,
        url=p.url,
        value=p.duration_ms,
        field_prefix=prefix,
        **_common(p),
    )


def _path_of(url: str | None) -> str | None:
    if not url:
        return None
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    return path or None


ItemBuilder = Callable[[Any, IngestContext, str], Event]
BUILDERS: dict[Kind, ItemBuilder] = {
    Kind.ERROR: error_event,
    Kind.SECURITY: security_event,
    Kind.PAGE_VIEW: page_view_event,
    Kind.CUSTOM: custom_event,
    Kind.PERFORMANCE: performance_event,
    Kind.REQUEST: request_event,
}


def item_kind(item: dict[str, Any], prefix: str) -> Kind:
    """An item's kind: its `kind` field, else what the seed's `name` implies, else custom."""
    declared = item.get("kind")
    if declared is not None:
        kind = KIND_ALIASES.get(str(declared).strip().lower())
        if kind is None or kind not in BUILDERS:
            accepted = ", ".join(k.value for k in BUILDERS)
            raise ClientError(
                400, f"{prefix}kind: {str(declared)[:40]!r} is not one of {accepted}", field=f"{prefix}kind"
            )
        return kind
    name = item.get("name")
    return NAME_TO_KIND.get(name, Kind.CUSTOM) if isinstance(name, str) else Kind.CUSTOM


def batch_events(payload: Any, ctx: IngestContext, max_events: int) -> list[Event]:
    items = payload.get("events") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise ClientError(400, 'body: expected a JSON array of events or {"events": [...]}', field="events")
    if not items:
        raise ClientError(400, "events: the batch is empty", field="events")
    if len(items) > max_events:
        raise ClientError(
            413, f"events: at most {max_events} events per batch, got {len(items)}", field="events"
        )
    events = []
    for index, item in enumerate(items):
        prefix = f"events[{index}]."
        if not isinstance(item, dict):
            raise ClientError(400, f"events[{index}]: expected a JSON object", field=f"events[{index}]")
        events.append(BUILDERS[item_kind(item, prefix)](item, ctx, prefix))
    return events


def _single_reply(events: list[Event]) -> Response:
    return JSONResponse({"success": True, "id": events[0].id})


def _batch_reply(events: list[Event]) -> Response:
    return JSONResponse({"success": True, "ids": [event.id for event in events]})


def routes(gateway: IngestGateway) -> list[Route]:
    async def error(request: Request) -> Response:
        return await gateway.accept_json(request, lambda p, c: [error_event(p, c)], _single_reply)

    async def security(request: Request) -> Response:
        return await gateway.accept_json(request, lambda p, c: [security_event(p, c)], _single_reply)

    async def batch(request: Request) -> Response:
        limit = gateway.settings.max_batch_events
        return await gateway.accept_json(request, lambda p, c: batch_events(p, c, limit), _batch_reply)

    return [
        Route("/api/monitoring/error", error, methods=["POST"]),
        Route("/api/monitoring/security", security, methods=["POST"]),
        Route("/api/monitoring/events", batch, methods=["POST"]),
    ]
