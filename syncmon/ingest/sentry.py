"""Sentry's ingest protocol: `POST /api/<project_id>/envelope/` and `/store/`.

Point any Sentry SDK's DSN at this server (`syncmon project list` prints it) and its
events, transactions, sessions, check-ins and feedback are stored as Events; errors are
grouped into issues. What happens to each envelope item type:

- event, transaction, session, sessions, check_in, user_report, feedback: stored;
- client_report: the SDK's dropped-event counts go to `/metrics`, nothing is stored;
- attachment and every other or unknown type: counted in `/metrics` and skipped.

An item that cannot be read (invalid JSON, a non-UUID event id, a wrong field) is
skipped and counted while the rest of the envelope is stored; an envelope in which
nothing could be read is refused with 400. A broken envelope frame (truncated body,
wrong lengths) is refused whole, as Relay does. Replies are `{"id": <event id>}` (or
`{}`); a rate-limited request gets 429 with `Retry-After` and `X-Sentry-Rate-Limits`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.events import Event
from syncmon.http_errors import ClientError
from syncmon.ingest import sentry_items
from syncmon.ingest.gateway import IngestGateway
from syncmon.ingest.sentry_auth import check_project_id, parse_auth_header, sentry_key
from syncmon.ingest.sentry_envelope import Envelope, EnvelopeItem, parse_envelope, rate_limits_header
from syncmon.pipeline.normalize import IngestContext
from syncmon.web.responses import JSONResponse

ItemReader = Callable[[Any, IngestContext, str | None, str], list[Event]]

READERS: dict[str, ItemReader] = {
    "event": lambda p, c, i, w: [sentry_items.error_event(p, c, i, w)],
    "transaction": lambda p, c, i, w: [sentry_items.transaction_event(p, c, i, w)],
    "session": lambda p, c, i, w: sentry_items.session_events(p, c, w),
    "sessions": lambda p, c, i, w: sentry_items.session_events(p, c, w),
    "check_in": lambda p, c, i, w: [sentry_items.check_in_event(p, c, w)],
    "user_report": lambda p, c, i, w: [sentry_items.feedback_event(p, c, w)],
    "feedback": lambda p, c, i, w: [sentry_items.feedback_event(p, c, w)],
}


class SentryReceiver:
    def __init__(self, gateway: IngestGateway) -> None:
        self.gateway = gateway
        self.telemetry = gateway.telemetry

    async def _admit(self, request: Request, dsn: str | None) -> IngestContext:
        key = sentry_key(request.headers, request.query_params, dsn)
        if key is None:
            raise ClientError(
                401,
                "missing Sentry key: send X-Sentry-Auth, ?sentry_key= or a dsn in the envelope header",
                reason="no_key",
            )
        in_header = parse_auth_header(request.headers.get("x-sentry-auth", "")).get("sentry_key") == key
        auth, context = await self.gateway.admit(request, key, key_in_header=in_header)
        check_project_id(str(request.path_params["project_id"]), dsn, auth.project.id)
        return context

    def _read_items(self, envelope: Envelope, context: IngestContext) -> list[Event]:
        events: list[Event] = []
        problems: list[ClientError] = []
        readable = 0
        for index, item in enumerate(envelope.items):
            outcome = self._read_item(item, envelope, context, f"items[{index}].", events, problems)
            if outcome != "invalid":
                readable += 1
            self.telemetry.sentry_items.labels(item.type if item.type in READERS else "other", outcome).inc()
        if problems and readable == 0:
            raise problems[0]
        return events

    def _read_item(
        self,
        item: EnvelopeItem,
        envelope: Envelope,
        context: IngestContext,
        where: str,
        events: list[Event],
        problems: list[ClientError],
    ) -> str:
        if item.type == "client_report":
            self._count_client_report(item)
            return "counted"
        reader = READERS.get(item.type)
        if reader is None:
            return "skipped"
        try:
            payload = item.json()
        except ValueError as exc:
            problems.append(ClientError(400, f"{where}{exc}", reason="bad_json"))
            return "invalid"
        try:
            events.extend(reader(payload, context, envelope.event_id, where))
        except ClientError as exc:
            problems.append(exc)
            return "invalid"
        return "stored"

    def _count_client_report(self, item: EnvelopeItem) -> None:
        try:
            report = item.json()
        except ValueError:
            return
        entries = report.get("discarded_events") if isinstance(report, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("quantity"), int) and entry["quantity"] > 0:
                reason = str(entry.get("reason", "unknown"))[:40]
                category = str(entry.get("category", "unknown"))[:40]
                self.telemetry.sdk_discarded.labels(reason, category).inc(entry["quantity"])

    def refuse(self, exc: ClientError) -> Response:
        if exc.status == 429:
            retry = exc.headers.get("Retry-After", "60")
            exc.headers["X-Sentry-Rate-Limits"] = rate_limits_header([], int(retry), "rate_limited")
        return self.gateway.refuse(exc)

    async def envelope(self, request: Request) -> Response:
        try:
            body = await self.gateway.body(request)
            envelope = parse_envelope(body, max_item_bytes=self.gateway.settings.max_decompressed_bytes)
            context = await self._admit(request, envelope.dsn)
            events = self._read_items(envelope, context)
            await self.gateway.commit(events)
        except ClientError as exc:
            return self.refuse(exc)
        event_id = envelope.event_id or next(
            (e.id for e in events if e.kind in ("error", "transaction")), None
        )
        return JSONResponse({"id": event_id} if event_id else {})

    async def store(self, request: Request) -> Response:
        """The legacy endpoint: one event as the JSON body."""
        try:
            body = await self.gateway.body(request)
            context = await self._admit(request, None)
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise ClientError(400, f"body is not valid JSON: {exc}", reason="bad_json") from None
            kind = (
                "transaction"
                if isinstance(payload, dict) and payload.get("type") == "transaction"
                else "event"
            )
            events = READERS[kind](payload, context, None, "")
            await self.gateway.commit(events)
        except ClientError as exc:
            return self.refuse(exc)
        self.telemetry.sentry_items.labels(kind, "stored").inc()
        return JSONResponse({"id": events[0].id})


def routes(gateway: IngestGateway) -> list[Route]:
    receiver = SentryReceiver(gateway)
    return [
        Route("/api/{project_id}/envelope/", receiver.envelope, methods=["POST"]),
        Route("/api/{project_id}/store/", receiver.store, methods=["POST"]),
    ]
