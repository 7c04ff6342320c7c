"""PostHog's capture protocol: point posthog-js or posthog-python at this server.

Set `api_host` (posthog-js) or `host` (posthog-python) to this server's URL and the
project's **public** key as the PostHog token. What is served:

- capture: `/e/`, `/i/v0/e/`, `/capture/`, `/batch/`, `/track/`, `/engage/` (with or
  without the trailing slash; POST, GET with `?data=`, OPTIONS). Bodies: a JSON object, a
  JSON array, `{"api_key", "batch": [...], "sent_at"}`, raw gzip (found by its magic bytes,
  with or without `?compression=gzip-js`), a form `data=<base64>`, legacy lz64, and any
  Content-Encoding the gateway reads. The reply is exactly 200 `{"status": 1}`: posthog-js
  retries anything else that is not a 4xx.
- remote config: `/array/<token>/config.js` and `/array/<token>/config`, advertising
  gzip-js (so browsers send gzip as a CORS-simple text/plain POST), switching off what
  this server does not store (session recordings, heatmaps, surveys, feature flags) and
  autocapture, and switching on exception autocapture: uncaught errors and unhandled
  rejections become `$exception` events, grouped into issues here (the seed's config does
  not set `capture_exceptions`, so posthog-js follows this). The lazily loaded scripts are
  served by syncmon.web.posthog_static. An unknown token is a 404, after which posthog-js
  goes on without config.
- flags: `/flags/` and legacy `/decide/` answer "no flags" for a known token.

The token is looked for where PostHog looks: `?token=`/`?api_key=`, the body's `$token`,
`token` or `api_key`, then the first event's (`properties.token`). It must be the public
key; a secret key outside a header is refused by the gateway.

Event time follows PostHog's clock-skew correction: `timestamp + (server now - sent_at)`
when both are known (`sent_at` from the body, `?sent_at=` or `?_=`), else
`now - offset`, else `timestamp`, else now; `$ignore_sent_at` and `historical_migration`
turn the correction off.

Events: `$pageview` → page_view; `$web_vitals` → one performance_metric per
`$web_vitals_<NAME>_value`; the seed's `security_event`, `error_occurred` and
`performance_metrics`, and PostHog's `$exception`, go through the native builders (canonical
security names, issue grouping, one metric per numeric field, named, with units and rated
by `syncmon.metrics.vitals` like the other receivers' metrics); `$snapshot` (recordings)
is acknowledged and dropped; everything else (`$pageleave`, `$identify`, `$autocapture`,
custom names) is a custom event of that name. Properties, super-properties included, are
kept in `data` (scrubbed); `environment` and `app_version` become the event's environment
and release; `distinct_id` is the user id unless the event says it is anonymous
(`$is_identified: false` or `$process_person_profile: false`), and it is always in `data`.

A request carrying `DNT: 1` is acknowledged with 200 and nothing is stored: the seed sets
`respect_dnt`, which posthog-js enforces in the browser, and the server enforces it too
for clients that do not. `?ip=0` stores no client IP.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.events import Event, Kind
from syncmon.http_errors import ClientError
from syncmon.ingest import native
from syncmon.ingest.gateway import IngestGateway
from syncmon.ingest.posthog_formats import decode_payload, query_payload
from syncmon.metrics import vitals
from syncmon.pipeline.normalize import IngestContext, build_event, parse_timestamp
from syncmon.store.projects import Project
from syncmon.web.responses import JSONResponse

CAPTURE_PATHS = ("/e", "/i/v0/e", "/capture", "/batch", "/track", "/engage")
OK = {"status": 1}
# Event ids of the several Events one PostHog event becomes ($web_vitals, the seed's
# performance_metrics) are derived from its uuid, so that a resent batch is deduplicated.
_DERIVED_IDS = uuid.UUID("6c1f4e2a-9b0d-4c59-8f3e-7d2a51b0c3e4")
_WEB_VITAL = re.compile(r"^\$web_vitals_([A-Za-z]{2,8})_value$")
# Keys that carry the token (dropped from data: it is the project key, not an observation).
_TOKEN_KEYS = ("token", "$token", "api_key")
# Events whose distinct id names a person even when the event is flagged anonymous.
_IDENTITY_EVENTS = frozenset({"$identify", "$set"})
# Recordings: this server does not store them (remote config says so); acknowledged, dropped.
_DROPPED_EVENTS = frozenset({"$snapshot", "$snapshot_items"})
# Not metrics although numeric, in the seed's performance_metrics.
_NOT_METRICS = frozenset({"timestamp", "offset"})
_DEVICE_TYPES = frozenset({"desktop", "mobile", "tablet"})
_MIN_EVENT_MS = 100_000_000_001  # below this build_event would read an epoch number as seconds
_MAX_EVENT_MS = 253_402_300_799_000
_HEADER_LIST = re.compile(r"^[A-Za-z0-9\-, ]{1,512}$")
_DEFAULT_ALLOW_HEADERS = "content-type, content-encoding, authorization"


class PostHogError(ClientError):
    """A refusal also carrying PostHog's error fields (`type`, `code`, `detail`):
    posthog-python reports `detail` as the reason."""

    def body(self) -> dict[str, Any]:
        payload = super().body()
        kind = "authentication_error" if self.status in (401, 403) else "validation_error"
        if self.status >= 429:
            kind = "server_error" if self.status >= 500 else "throttled_error"
        payload.update(type=kind, code=self.reason, detail=self.message, attr=self.field)
        return payload


def _posthog_error(exc: ClientError) -> PostHogError:
    if isinstance(exc, PostHogError):
        return exc
    return PostHogError(exc.status, exc.message, field=exc.field, reason=exc.reason, headers=exc.headers)


# --- reading a request --------------------------------------------------------------------


@dataclass
class CaptureRequest:
    """The events of one capture request and what applies to all of them."""

    items: list[Any]
    token: str | None
    sent_at_ms: int | None
    historical: bool
    batched: bool  # items came in a list: errors name their index


def read_capture(payload: Any, query: QueryParams, path: str) -> CaptureRequest:
    """The events in a decoded body: an object, an array, or `{api_key, batch, sent_at}`."""
    sent_at = _lenient_time(query.get("sent_at")) or _lenient_time(query.get("_"))
    historical = False
    if isinstance(payload, dict) and "batch" in payload:
        items = payload["batch"]
        if not isinstance(items, list):
            raise ClientError(400, "batch: expected a JSON array of events", field="batch")
        sent_at = _lenient_time(payload.get("sent_at")) or sent_at
        historical = payload.get("historical_migration") is True
        batched = True
    elif isinstance(payload, list):
        items, batched = payload, True
    elif isinstance(payload, dict):
        if "event" not in payload and path.rstrip("/").endswith("/engage"):
            payload = {**payload, "event": "$identify"}  # posthog-js's legacy people endpoint
        items, batched = [payload], False
        sent_at = _lenient_time(payload.get("sent_at")) or sent_at
    else:
        raise ClientError(
            400,
            'body: expected an event object, an array of events or {"api_key", "batch": [...]}',
            reason="bad_payload",
        )
    if not items:
        raise ClientError(400, "batch: no events", field="batch", reason="empty")
    token = find_token(query, payload, items)
    return CaptureRequest(items, token, sent_at, historical, batched)


def find_token(query: QueryParams, payload: Any, items: list[Any] | None = None) -> str | None:
    """The project token, looked for where PostHog's `get_token` looks."""
    candidates: list[Any] = [query.get("token"), query.get("api_key")]
    for holder in (payload, *(items[:1] if items else [])):
        if isinstance(holder, dict):
            candidates += [holder.get(key) for key in _TOKEN_KEYS]
            properties = holder.get("properties")
            if isinstance(properties, dict):
                candidates.append(properties.get("token"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return None


def _lenient_time(raw: Any) -> int | None:
    """An optional time (sent_at and such): unreadable means unknown, as in PostHog."""
    if raw is None or isinstance(raw, bool | dict | list):
        return None
    try:
        ms = parse_timestamp(raw, "sent_at")
    except ClientError:
        return None
    return ms if ms is not None and _MIN_EVENT_MS <= ms <= _MAX_EVENT_MS else None


def event_time(
    item: dict[str, Any], properties: dict[str, Any], sent_at_ms: int | None, now_ms: int, *, historical: bool
) -> tuple[int | None, dict[str, Any]]:
    """PostHog's timestamp with clock-skew correction (plugin-server `timestamps.ts`), and
    notes for the stored data. None means "now"."""
    notes: dict[str, Any] = {}
    raw_ts = item.get("timestamp")
    if raw_ts is not None:
        timestamp = _lenient_time(raw_ts)
        if timestamp is None:
            notes["$timestamp_unreadable"] = str(raw_ts)[:64]
            return None, notes
        if sent_at_ms is None or historical or properties.get("$ignore_sent_at") is True:
            return timestamp, notes
        skew = now_ms - sent_at_ms
        notes["$clock_skew_ms"] = skew
        corrected = timestamp + skew
    else:
        offset = item.get("offset")
        if not isinstance(offset, int | float) or not _is_number(offset):
            return None, notes
        corrected = now_ms - int(offset)
    if not _MIN_EVENT_MS <= corrected <= _MAX_EVENT_MS:
        notes["$timestamp_unreadable"] = str(raw_ts if raw_ts is not None else item.get("offset"))[:64]
        return None, notes
    return corrected, notes


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- one PostHog event → Events -----------------------------------------------------------


@dataclass
class PostHogEvent:
    """One event of a capture request, with everything its Events share."""

    name: str
    properties: dict[str, Any]
    prefix: str
    event_id: str | None
    distinct_id: str | None
    user_id: str | None
    timestamp: int | None
    data: dict[str, Any] = field(default_factory=dict)

    def common(self) -> dict[str, Any]:
        """Keyword arguments for build_event."""
        props = self.properties
        return {
            "timestamp": self.timestamp,
            "user_id": self.user_id,
            "session_id": _text(props.get("$session_id")),
            "release": _text(props.get("app_version")) or _text(props.get("$app_version")),
            "environment": _text(props.get("environment")),
            "event_id": self.event_id,
            "field_prefix": self.prefix,
        }

    def raw_for_native(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """The event as a native payload: properties at the top, the resolved fields set."""
        raw = dict(self.data if data is None else data)
        common = self.common()
        for key in ("timestamp", "user_id", "session_id", "release", "environment", "event_id"):
            raw[key] = common[key]
        if "timestamp" in self.properties:
            raw["client_timestamp"] = self.properties["timestamp"]
        raw["url"] = _text(self.properties.get("url")) or _text(self.properties.get("$current_url"))
        if not isinstance(raw.get("user_id"), str):
            raw["user_id"] = _text(self.properties.get("user_id"))
        return raw

    def derived_id(self, suffix: str) -> str | None:
        if self.event_id is None:
            return None
        return uuid.uuid5(_DERIVED_IDS, f"{self.event_id}:{suffix}").hex


def read_event(item: Any, index: int, request: CaptureRequest, now_ms: int) -> PostHogEvent:
    prefix = f"batch[{index}]." if request.batched else ""
    where = prefix.rstrip(".") or "body"
    if not isinstance(item, dict):
        raise ClientError(400, f"{where}: expected an event object", field=prefix.rstrip(".") or None)
    name = item.get("event")
    if not isinstance(name, str) or not name.strip():
        raise ClientError(400, f"{prefix}event: missing event name", field=f"{prefix}event")
    properties = item.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise ClientError(400, f"{prefix}properties: expected a JSON object", field=f"{prefix}properties")
    distinct_id = _distinct_id(item, properties)
    anonymous = (
        properties.get("$is_identified") is False or properties.get("$process_person_profile") is False
    )
    user_id = distinct_id if name in _IDENTITY_EVENTS or not anonymous else None
    timestamp, notes = event_time(item, properties, request.sent_at_ms, now_ms, historical=request.historical)
    event_id = _uuid_hex(item.get("uuid"))
    data = {key: value for key, value in properties.items() if key not in _TOKEN_KEYS}
    data["$event"] = name
    if distinct_id is not None:
        data["distinct_id"] = distinct_id
    for key in ("$set", "$set_once", "$unset", "$groups"):
        if key in item:
            data[key] = item[key]
    if item.get("uuid") is not None and event_id is None:
        data["$uuid"] = str(item["uuid"])[:64]
    data.update(notes)
    return PostHogEvent(name.strip(), properties, prefix, event_id, distinct_id, user_id, timestamp, data)


def _distinct_id(item: dict[str, Any], properties: dict[str, Any]) -> str | None:
    for value in (item.get("$distinct_id"), properties.get("distinct_id"), item.get("distinct_id")):
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
        if _is_number(value):
            return str(value)
    return None


def _uuid_hex(raw: Any) -> str | None:
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    try:
        return uuid.UUID(raw).hex
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value.strip() else None
    if _is_number(value):
        return str(value)
    return None


def _fill_agent(event: Event, properties: dict[str, Any]) -> Event:
    """posthog-js's own parse of the browser where the request's User-Agent said nothing."""
    if event.browser is None and isinstance(properties.get("$browser"), str):
        event.browser = properties["$browser"][:64] or None
    if event.os is None and isinstance(properties.get("$os"), str):
        event.os = properties["$os"][:64] or None
    device = properties.get("$device_type")
    if event.device is None and isinstance(device, str) and device.lower() in _DEVICE_TYPES:
        event.device = device.lower()
    return event


def custom(
    ev: PostHogEvent, ctx: IngestContext, data: dict[str, Any] | None = None, event_id: str | None = None
) -> Event:
    common = ev.common()
    if event_id is not None:
        common["event_id"] = event_id
    return build_event(
        ctx,
        kind=Kind.CUSTOM,
        name=ev.name,
        payload=ev.data if data is None else data,
        url=_text(ev.properties.get("$current_url")),
        **common,
    )


def page_view(ev: PostHogEvent, ctx: IngestContext) -> list[Event]:
    data = dict(ev.data)
    referrer = _text(ev.properties.get("$referrer"))
    if referrer and referrer != "$direct":
        data.setdefault("referrer", referrer)
    title = _text(ev.properties.get("title")) or _text(ev.properties.get("$title"))
    if title:
        data.setdefault("title", title)
    event = build_event(
        ctx,
        kind=Kind.PAGE_VIEW,
        name="page_view",
        payload=data,
        url=_text(ev.properties.get("$current_url")),
        **ev.common(),
    )
    return [event]


def _metric_events(
    ev: PostHogEvent, ctx: IngestContext, metrics: list[tuple[str, float, Any]], shared: dict[str, Any]
) -> list[Event]:
    """One performance_metric per (field, value, detail), through the native builder, named,
    with units and rated as every receiver does it (`syncmon.metrics.vitals`)."""
    events = []
    for field_name, value, detail in metrics:
        metric = vitals.normalize_name(field_name)[:200]
        raw = ev.raw_for_native(shared)
        raw.update(metric=metric, value=value)
        unit = vitals.unit(metric)
        if unit:
            raw["unit"] = unit
        if metric != field_name:
            raw["field"] = field_name
        if detail is not None:
            raw["detail"] = detail
        raw["event_id"] = ev.derived_id(field_name)
        event = _native(native.performance_event, raw, ev, ctx)
        rating = vitals.rate(metric, value) if event.kind == Kind.PERFORMANCE else None
        if rating is not None:
            event.data["rating"] = rating
        events.append(event)
    return events


def web_vitals(ev: PostHogEvent, ctx: IngestContext) -> list[Event]:
    metrics: list[tuple[str, float, Any]] = []
    shared = dict(ev.data)
    for key, value in ev.properties.items():
        match = _WEB_VITAL.match(key)
        if match is None:
            continue
        name = match.group(1)
        detail = ev.properties.get(f"$web_vitals_{name}_event")
        shared.pop(key, None)
        shared.pop(f"$web_vitals_{name}_event", None)
        if _is_number(value) and value >= 0:
            metrics.append((name, float(value), detail))
    return _metric_events(ev, ctx, metrics, shared) if metrics else [custom(ev, ctx)]


def seed_performance(ev: PostHogEvent, ctx: IngestContext) -> list[Event]:
    """The seed's PerformanceMonitoring: one metric per numeric field. Its LCP, CLS and FID
    are Promises, which JSON serialises as {}; its page_load_time is negative when read
    inside the load handler. Those are listed in `skipped`, not stored as metrics."""
    metrics: list[tuple[str, float, Any]] = []
    skipped: list[str] = []
    shared = {}
    for key, value in ev.data.items():
        candidate = not key.startswith("$") and key not in _NOT_METRICS and key in ev.properties
        if candidate and _is_number(value) and value >= 0:
            metrics.append((key, float(value), None))
        elif candidate and (_is_number(value) or isinstance(value, dict | list) or value is None):
            skipped.append(key)
        else:
            shared[key] = value
    if skipped:
        shared["skipped"] = skipped
    return _metric_events(ev, ctx, metrics, shared) if metrics else [custom(ev, ctx)]


def exception(ev: PostHogEvent, ctx: IngestContext) -> list[Event]:
    """PostHog's `$exception` (posthog-js and posthog-python) as an error to group."""
    props = ev.properties
    raw = ev.raw_for_native()
    chain = raw.pop("$exception_list", None)
    first = chain[0] if isinstance(chain, list) and chain and isinstance(chain[0], dict) else {}
    raw["type"] = _text(props.get("$exception_type")) or _text(first.get("type")) or "Error"
    raw["message"] = _text(props.get("$exception_message")) or _text(first.get("value"))
    if isinstance(chain, list) and chain:
        # PostHog lists the caught exception first; Sentry's order (what grouping reads)
        # is the root cause first.
        raw["exception"] = {"values": list(reversed(chain))}
    stack = props.get("$exception_stack_trace_raw")
    if isinstance(stack, str):
        raw["stack"] = stack
    level = props.get("$exception_level")
    raw["level"] = level if isinstance(level, str) else None
    fingerprint = props.get("$exception_fingerprint")
    raw["fingerprint"] = [fingerprint] if isinstance(fingerprint, str) and fingerprint else None
    return [_native(native.error_event, raw, ev, ctx)]


def _seed(builder: native.ItemBuilder) -> Callable[[PostHogEvent, IngestContext], list[Event]]:
    def translate(ev: PostHogEvent, ctx: IngestContext) -> list[Event]:
        return [_native(builder, ev.raw_for_native(), ev, ctx)]

    return translate


def _native(builder: native.ItemBuilder, raw: dict[str, Any], ev: PostHogEvent, ctx: IngestContext) -> Event:
    """A native builder's Event; if the payload does not fit it (a security_event without
    event_type, an unknown severity), the event is kept as a custom one saying why,
    rather than refusing the whole batch (posthog-js would drop a 4xx batch for good)."""
    try:
        return builder(raw, ctx, ev.prefix)
    except ClientError as exc:
        if exc.status != 400:
            raise
        event_id = raw.get("event_id")
        data = {**ev.data, "$mapping_error": exc.message}
        return custom(ev, ctx, data, event_id if isinstance(event_id, str) else None)


TRANSLATORS: dict[str, Callable[[PostHogEvent, IngestContext], list[Event]]] = {
    "$pageview": page_view,
    "$web_vitals": web_vitals,
    "$exception": exception,
    "performance_metrics": seed_performance,
    "security_event": _seed(native.security_event),
    "error_occurred": _seed(native.error_event),
}


def translate(request: CaptureRequest, ctx: IngestContext, max_events: int) -> list[Event]:
    if len(request.items) > max_events:
        raise ClientError(
            413, f"batch: at most {max_events} events per request, got {len(request.items)}", field="batch"
        )
    events: list[Event] = []
    for index, item in enumerate(request.items):
        ev = read_event(item, index, request, ctx.received_ms)
        if ev.name in _DROPPED_EVENTS:
            continue
        translator = TRANSLATORS.get(ev.name)
        made = translator(ev, ctx) if translator else [custom(ev, ctx)]
        events.extend(_fill_agent(event, ev.properties) for event in made)
    return events


# --- remote config and flags --------------------------------------------------------------


def remote_config(project: Project) -> dict[str, Any]:
    """What `/array/<token>/config` tells posthog-js (shape of PostHog's RemoteConfig)."""
    return {
        "token": project.public_key,
        "supportedCompression": ["gzip", "gzip-js"],
        "hasFeatureFlags": False,
        "captureDeadClicks": False,
        "capturePerformance": False,
        "autocapture_opt_out": True,
        "autocaptureExceptions": True,
        "analytics": {"endpoint": "/e/"},
        "elementsChainAsString": True,
        "sessionRecording": False,
        "heatmaps": False,
        "surveys": False,
        "defaultIdentifiedOnly": True,
        "siteApps": [],
    }


def flags_reply(project: Project, *, legacy: bool, with_config: bool) -> dict[str, Any]:
    reply: dict[str, Any] = {"flags": {}, "errorsWhileComputingFlags": False, "quotaLimited": []}
    if legacy:
        reply.update(featureFlags={}, featureFlagPayloads={}, config={"enable_collect_everything": False})
    if legacy or with_config:
        reply = {**remote_config(project), **reply}
    return reply


def config_script(project: Project) -> str:
    """config.js: registers the config under the token, as PostHog's CDN script does."""
    token = _js_literal(project.public_key)
    config = _js_literal(remote_config(project))
    return (
        "(function() {\n"
        "  window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {};\n"
        f"  window._POSTHOG_REMOTE_CONFIG[{token}] = {{config: {config}, siteApps: []}};\n"
        "})();\n"
    )


def _js_literal(value: Any) -> str:
    """JSON that is also safe inside a script: no `</script>`, no JS-only line breaks."""
    text = orjson.dumps(value).decode()
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# --- HTTP ---------------------------------------------------------------------------------


def _cors(request: Request, response: Response) -> Response:
    """PostHog's CORS: the caller's origin mirrored, credentials allowed. Replies carry
    nothing secret; which origins may send is enforced per project by the gateway (403)."""
    origin = request.headers.get("origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Expose-Headers"] = "retry-after"
        response.headers.add_vary_header("Origin")
    return response


def _preflight(request: Request) -> Response:
    asked = request.headers.get("access-control-request-headers", "")
    allow = asked if _HEADER_LIST.match(asked) else _DEFAULT_ALLOW_HEADERS
    response = Response(
        status_code=200,
        headers={
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": allow,
            "Access-Control-Max-Age": "86400",
        },
    )
    return _cors(request, response)


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


class PostHogReceiver:
    def __init__(self, gateway: IngestGateway) -> None:
        self.gateway = gateway

    def refuse(self, request: Request, exc: ClientError) -> Response:
        return _cors(request, self.gateway.refuse(_posthog_error(exc)))

    async def _payload(self, request: Request) -> Any:
        """The decoded body (POST) or `?data=` (GET); None when there is neither."""
        max_size = self.gateway.settings.max_decompressed_bytes
        compression = request.query_params.get("compression")
        if request.method == "GET":
            data = request.query_params.get("data")
            return query_payload(data, compression, max_size) if data else None
        raw = await self.gateway.body(request)
        if not raw.strip():
            return None
        return decode_payload(
            raw, content_type=_content_type(request), compression=compression, max_size=max_size
        )

    async def _admit(self, request: Request, token: str | None) -> tuple[Project, IngestContext]:
        if token is None:
            raise ClientError(
                401,
                "missing project token: set the project's public key as the PostHog token "
                "(api_key, token or properties.token)",
                reason="no_key",
            )
        auth, context = await self.gateway.admit(request, token, key_in_header=False)
        if request.query_params.get("ip") == "0":
            context.client_ip = None
        return auth.project, context

    async def capture(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return _preflight(request)
        try:
            payload = await self._payload(request)
            if payload is None:
                raise ClientError(400, "no data: send the events as the body or ?data=", reason="empty")
            capture = read_capture(payload, request.query_params, request.url.path)
            _, context = await self._admit(request, capture.token)
            events = translate(capture, context, self.gateway.settings.max_batch_events)
            if request.headers.get("dnt", "").strip() == "1":
                # Do Not Track: acknowledged (anything else is retried) and not stored.
                self.gateway.telemetry.events_rejected.labels("do_not_track").inc()
            else:
                await self.gateway.commit(events)
        except ClientError as exc:
            return self.refuse(request, exc)
        return _cors(request, JSONResponse(OK))

    async def flags(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return _preflight(request)
        try:
            payload = await self._payload(request)
            project, _ = await self._admit(request, find_token(request.query_params, payload))
        except ClientError as exc:
            return self.refuse(request, exc)
        legacy = request.url.path.rstrip("/").endswith("/decide")
        with_config = request.query_params.get("config") == "true"
        return _cors(request, JSONResponse(flags_reply(project, legacy=legacy, with_config=with_config)))

    async def _config_project(self, request: Request) -> Project:
        try:
            project, _ = await self._admit(request, str(request.path_params["token"]))
        except ClientError as exc:
            if exc.status == 401:
                raise ClientError(404, "no project has this token", reason="bad_key") from None
            raise
        return project

    async def config(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return _preflight(request)
        try:
            project = await self._config_project(request)
        except ClientError as exc:
            return self.refuse(request, exc)
        return _cors(request, JSONResponse(remote_config(project)))

    async def config_js(self, request: Request) -> Response:
        try:
            project = await self._config_project(request)
        except ClientError as exc:
            return self.refuse(request, exc)
        script = config_script(project)
        return _cors(request, Response(script, media_type="application/javascript"))


def routes(gateway: IngestGateway) -> list[Route]:
    receiver = PostHogReceiver(gateway)
    methods = ["GET", "POST", "OPTIONS"]
    found: list[Route] = []
    for path in CAPTURE_PATHS:
        found += [
            Route(path + "/", receiver.capture, methods=methods),
            Route(path, receiver.capture, methods=methods),
        ]
    for path in ("/flags", "/decide"):
        found += [
            Route(path + "/", receiver.flags, methods=methods),
            Route(path, receiver.flags, methods=methods),
        ]
    found += [
        Route("/array/{token}/config.js", receiver.config_js, methods=["GET"]),
        Route("/array/{token}/config", receiver.config, methods=["GET", "OPTIONS"]),
    ]
    return found
