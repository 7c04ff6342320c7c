"""Vercel Web Analytics (`@vercel/analytics`) and Speed Insights (`@vercel/speed-insights`).

Both npm packages only queue calls (`window.vaq`, `window.siq`) and add a script tag for
`{basePath}/insights/script.js` or `{basePath}/speed-insights/script.js`; the script that
measures and sends is hosted by Vercel and is not in the packages. This module serves
stand-ins for those scripts (syncmon/web/static/vendor/vercel/, README there) and receives
what they, or Vercel's own scripts, send:

- `POST …/insights/view`: `{o, sv, sdkn, sdkv, ts, dp?, r?}` → one `page_view` Event
  (url `o`, `referrer` `r`, `route` `dp`);
- `POST …/insights/event`: the same plus `en` (name) and `ed` (properties) → one Event of
  the kind the native batch endpoint gives an item named `en` (`page_view`,
  `performance_metric`, `error_occurred` / `error`, `security_event`, else `custom`),
  built from `ed` by the same builders;
- `POST …/speed-insights/vitals`: `{speed, metrics: [{id, type, route, href, value,
  attribution}], scriptVersion, sdkName, sdkVersion}` (`vitals` / `name` are accepted for
  `metrics` / `type`) → one `performance_metric` Event per metric, named by
  `syncmon.metrics.vitals.normalize_name`, `value` as sent, url `href`, and `rating`
  (good / needs-improvement / poor) and `unit` in its data;
- `GET …/insights/script.js`, `…/speed-insights/script.js`: the scripts; `GET
  …/insights/session` (sent on `enableCookie`) answers 204 and stores nothing.

**The project key.** The scripts send no key of ours, so it travels in the URL they are
given. The primary form puts the public key in the path, which works with the `basePath`
option (or `NEXT_PUBLIC_VERCEL_OBSERVABILITY_BASEPATH`), with Vercel's scripts and ours:

    basePath = https://<monitor>/_vercel/<public key>
    → script  https://<monitor>/_vercel/<public key>/insights/script.js
    → events  https://<monitor>/_vercel/<public key>/insights/view | /event
    → vitals  https://<monitor>/_vercel/<public key>/speed-insights/vitals

The same paths without a key (`/_vercel/insights/…`, `/_vercel/speed-insights/…`) take it
from `X-Syncmon-Key` (a reverse proxy of the app that forwards `/_vercel/*` adds it) or
`?key=` (explicit `viewEndpoint` / `eventEndpoint` / speed-insights `endpoint` options are
used as given, query included). Our scripts also pass on a `?key=` of their own URL, so a
`scriptSrc` of `…/_vercel/insights/script.js?key=<public key>` alone is enough. Only the
public key is accepted: it is in a URL. The `dsn` option must not be set: with it,
Speed Insights loads Vercel's script from Vercel's CDN and sends to Vercel.

Replies are 200 `{"success": true, "ids": [...]}` (the scripts do not read them); refusals
are the gateway's JSON errors with a 4xx status.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.events import Event
from syncmon.http_errors import ClientError
from syncmon.ingest.gateway import IngestGateway
from syncmon.ingest.native import BUILDERS, item_kind, page_view_event, performance_event
from syncmon.metrics import vitals
from syncmon.pipeline.normalize import IngestContext
from syncmon.web.responses import JSONResponse

SCRIPT_MEDIA_TYPE = "text/javascript; charset=utf-8"
SCRIPT_HEADERS = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
Translate = Callable[[Any, IngestContext], list[Event]]


def _static(name: str) -> str:
    folder = resources.files("syncmon.web").joinpath("static", "vendor", "vercel")
    return folder.joinpath(name).read_text(encoding="utf-8")


@cache
def analytics_script() -> bytes:
    return _static("insights.js").encode()


@cache
def speed_insights_script() -> bytes:
    """web-vitals and our sender in one function scope, so no `webVitals` global is left."""
    library = "\n".join(
        line
        for line in _static("web-vitals.attribution.iife.js").splitlines()
        if not line.startswith("//# sourceMappingURL=")
    )
    return f"(function () {{\n{library}\n{_static('speed-insights.js')}\n}})();\n".encode()


# ------------------------------------------------------------------------------------------
# Translation: pure functions from a parsed body to Events.


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ClientError(400, "body: expected a JSON object")
    return payload


def _text(body: dict[str, Any], field: str, *, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None or (value == "" and not required):
        if required:
            raise ClientError(400, f"{field}: required", field=field)
        return None
    if not isinstance(value, str) or not value.strip():
        raise ClientError(400, f"{field}: expected a non-empty string", field=field)
    return value


def _timestamp(body: dict[str, Any]) -> float | None:
    ts = body.get("ts")
    if ts is None:
        return None
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise ClientError(400, "ts: expected epoch milliseconds", field="ts")
    return ts


def _sdk(name: Any, version: Any, script: Any) -> dict[str, str]:
    parts = {"name": name, "version": version, "script": script}
    return {key: value[:100] for key, value in parts.items() if isinstance(value, str) and value}


def _context_fields(body: dict[str, Any]) -> dict[str, Any]:
    """What every analytics body says besides the event itself: route, SDK, flags."""
    fields: dict[str, Any] = {}
    route = body.get("dp")
    if isinstance(route, str) and route:
        fields["route"] = route[:512]
    sdk = _sdk(body.get("sdkn"), body.get("sdkv"), body.get("sv"))
    if sdk:
        fields["sdk"] = sdk
    if body.get("f") is not None:
        fields["flags"] = body["f"]
    return fields


def view_events(payload: Any, ctx: IngestContext) -> list[Event]:
    body = _object(payload)
    url = _text(body, "o", required=True)
    item: dict[str, Any] = {"url": url, "timestamp": _timestamp(body), **_context_fields(body)}
    referrer = _text(body, "r")
    if referrer:
        item["referrer"] = referrer
    return [page_view_event(item, ctx, "")]


def event_events(payload: Any, ctx: IngestContext) -> list[Event]:
    """A custom event, or the seed's `va('track', {name, ...})` kinds, from `en` and `ed`."""
    body = _object(payload)
    name = _text(body, "en", required=True)
    properties = body.get("ed")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise ClientError(400, "ed: expected a JSON object of event properties", field="ed")
    # The kind comes from the name alone: `kind` in the properties is just a property here.
    kind = item_kind({"name": name}, "")
    item: dict[str, Any] = dict(properties)
    item["name"] = name
    item.setdefault("url", _text(body, "o", required=True))
    if item.get("timestamp") is None:
        item["timestamp"] = _timestamp(body)
    referrer = _text(body, "r")
    if referrer:
        item.setdefault("referrer", referrer)
    for key, value in _context_fields(body).items():
        item.setdefault(key, value)
    return [BUILDERS[kind](item, ctx, "ed.")]


def vitals_events(payload: Any, ctx: IngestContext, max_metrics: int) -> list[Event]:
    body = _object(payload)
    field = "metrics" if "metrics" in body else "vitals"
    metrics = body.get(field)
    if not isinstance(metrics, list):
        raise ClientError(400, "metrics: expected a JSON array of metrics", field="metrics")
    if not metrics:
        raise ClientError(400, "metrics: the array is empty", field="metrics")
    if len(metrics) > max_metrics:
        raise ClientError(
            413, f"metrics: at most {max_metrics} metrics per request, got {len(metrics)}", field=field
        )
    shared: dict[str, Any] = {}
    speed = body.get("speed")
    if isinstance(speed, str) and speed:
        shared["speed"] = speed[:32]
    sdk = _sdk(body.get("sdkName"), body.get("sdkVersion"), body.get("scriptVersion"))
    if sdk:
        shared["sdk"] = sdk
    return [_vital_event(metric, index, field, shared, ctx) for index, metric in enumerate(metrics)]


def _vital_event(metric: Any, index: int, field: str, shared: dict[str, Any], ctx: IngestContext) -> Event:
    prefix = f"{field}[{index}]."
    if not isinstance(metric, dict):
        raise ClientError(400, f"{field}[{index}]: expected a JSON object", field=f"{field}[{index}]")
    raw_name = metric.get("type", metric.get("name"))
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise ClientError(
            400, f"{prefix}type: expected a metric name (LCP, INP, CLS …)", field=f"{prefix}type"
        )
    name = vitals.normalize_name(raw_name)[:200]
    value = metric.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ClientError(400, f"{prefix}value: expected a finite number", field=f"{prefix}value")
    item: dict[str, Any] = {"metric": name, "value": value, **shared}
    unit = vitals.unit(name)
    if unit:
        item["unit"] = unit
    href = metric.get("href", metric.get("url"))
    if href is not None:
        item["url"] = href
    for source, target in (("route", "route"), ("id", "vital_id"), ("navigationType", "navigation_type")):
        if isinstance(metric.get(source), str) and metric[source]:
            item[target] = metric[source][:512]
    if isinstance(metric.get("attribution"), dict):
        item["attribution"] = metric["attribution"]
    event = performance_event(item, ctx, prefix)
    rating = vitals.rate(name, event.value if event.value is not None else math.nan)
    if rating is not None:
        event.data["rating"] = rating
    return event


# ------------------------------------------------------------------------------------------
# HTTP


class VercelReceiver:
    def __init__(self, gateway: IngestGateway) -> None:
        self.gateway = gateway

    async def _accept(self, request: Request, translate: Translate) -> Response:
        try:
            key = request.path_params.get("key")
            if key is not None:
                _, context = await self.gateway.admit(request, key, key_in_header=False)
            else:
                _, context = await self.gateway.admit(request)
            payload = await self.gateway.json_body(request)
            events = translate(payload, context)
            await self.gateway.commit(events)
        except ClientError as exc:
            return self.gateway.refuse(exc)
        return JSONResponse({"success": True, "ids": [event.id for event in events]})

    async def view(self, request: Request) -> Response:
        return await self._accept(request, view_events)

    async def event(self, request: Request) -> Response:
        return await self._accept(request, event_events)

    async def vitals(self, request: Request) -> Response:
        limit = self.gateway.settings.max_batch_events
        return await self._accept(request, lambda payload, ctx: vitals_events(payload, ctx, limit))

    async def session(self, request: Request) -> Response:
        return Response(status_code=204)

    async def analytics_script(self, request: Request) -> Response:
        return Response(analytics_script(), media_type=SCRIPT_MEDIA_TYPE, headers=SCRIPT_HEADERS)

    async def speed_insights_script(self, request: Request) -> Response:
        return Response(speed_insights_script(), media_type=SCRIPT_MEDIA_TYPE, headers=SCRIPT_HEADERS)


def routes(gateway: IngestGateway) -> list[Route]:
    receiver = VercelReceiver(gateway)
    found: list[Route] = []
    for base in ("/_vercel", "/_vercel/{key}"):
        found += [
            Route(f"{base}/insights/script.js", receiver.analytics_script, methods=["GET"]),
            Route(f"{base}/insights/view", receiver.view, methods=["POST"]),
            Route(f"{base}/insights/event", receiver.event, methods=["POST"]),
            Route(f"{base}/insights/session", receiver.session, methods=["GET"]),
            Route(f"{base}/speed-insights/script.js", receiver.speed_insights_script, methods=["GET"]),
            Route(f"{base}/speed-insights/vitals", receiver.vitals, methods=["POST"]),
        ]
    return found
