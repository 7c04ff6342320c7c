"""The security API: the seed's summary, security events, detections and subject timelines.

- `GET /api/v1/security/summary?project=&window=` — SecurityMetrics (counts over the
  window, default 24h) with the threat level of the detections open in the threat window;
- `GET /api/v1/security/events?project=&category=&name=&subject=&severity=&since=&until=`;
- `GET /api/v1/security/detections?project=&rule=&subject_type=&subject=&severity=&since=`;
- `GET /api/v1/security/subjects/<ip|account>/<value>?project=&window=` — one IP's or
  account's events, detections and own threat level, newest first.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.events import Kind, Level
from syncmon.http_errors import ClientError
from syncmon.metrics import rollups
from syncmon.security import detection_store
from syncmon.security.detection import Severity
from syncmon.security.summary import security_metrics
from syncmon.security.threat import assess
from syncmon.security.vocabulary import Category, names_of
from syncmon.store import eventlog
from syncmon.store.projects import Project
from syncmon.web.api import error_response, project_param, require_token
from syncmon.web.params import parse_cursor, parse_duration_ms, parse_limit, parse_time
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

SUBJECT_TYPES = {"ip": "ip", "account": "account"}
MAX_WINDOW_MS = 400 * 86_400_000


def _window(request: Request, default: str) -> int:
    window = parse_duration_ms(request.query_params.get("window") or default, "window")
    if window > MAX_WINDOW_MS:
        raise ClientError(400, "window: at most 400d", field="window")
    return window


def _choice(request: Request, name: str, choices: set[str]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise ClientError(400, f"{name}: must be one of {', '.join(sorted(choices))}", field=name)
    return value


def routes(services: Services) -> list[Route]:
    async def project_of(request: Request) -> Project:
        await require_token(services, request)
        project = await project_param(services, request, required=True)
        assert project is not None
        return project

    async def open_detections(project_id: int, now: int, subject: tuple[str, str] | None = None) -> list[Any]:
        since = now - services.settings.threat_window_seconds * 1000
        query = detection_store.DetectionQuery(
            project_id=project_id,
            since_ms=since,
            subject_type=subject[0] if subject else None,
            subject=subject[1] if subject else None,
        )
        found = await services.read(lambda conn: detection_store.find(conn, query))
        return [detection for _, detection in found]

    async def summary(request: Request) -> Response:
        try:
            project = await project_of(request)
            window = _window(request, "24h")
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()
        rows = await services.read(
            lambda conn: rollups.count_series(
                conn, project.id, (now - window) // 60_000, now // 60_000 + 1, 10**9, Kind.SECURITY, now
            )
        )
        name_counts: Counter[str] = Counter()
        for row in rows:
            name_counts[row["name"]] += row["count"]
        detections = await open_detections(project.id, now)
        body = security_metrics(name_counts, detections, now)
        body["project"] = project.slug
        body["window_seconds"] = window // 1000
        body["threat_window_seconds"] = services.settings.threat_window_seconds
        return JSONResponse(body)

    async def security_events(request: Request) -> Response:
        params = request.query_params
        try:
            project = await project_of(request)
            now = services.clock.now_ms()
            category = _choice(request, "category", {c.value for c in Category})
            prefixes, names = names_of(Category(category)) if category else ((), ())
            limit = parse_limit(params.get("limit"))
            query = eventlog.EventQuery(
                project_id=project.id,
                kind=Kind.SECURITY,
                name=params.get("name") or None,
                name_prefixes=prefixes,
                names=names,
                subject=params.get("subject") or None,
                level=_choice(request, "severity", {lv.value for lv in Level}),
                since_ms=parse_time(params.get("since"), "since", now),
                until_ms=parse_time(params.get("until"), "until", now),
                before_seq=parse_cursor(params.get("cursor")),
                limit=limit,
            )
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(lambda conn: eventlog.list_events(conn, query))
        next_cursor = str(found[-1].seq) if len(found) == limit else None
        return JSONResponse({"events": [e.as_dict() for e in found], "next_cursor": next_cursor})

    async def detections(request: Request) -> Response:
        params = request.query_params
        try:
            project = await project_of(request)
            now = services.clock.now_ms()
            limit = parse_limit(params.get("limit"))
            query = detection_store.DetectionQuery(
                project_id=project.id,
                since_ms=parse_time(params.get("since"), "since", now),
                until_ms=parse_time(params.get("until"), "until", now),
                rule=params.get("rule") or None,
                subject_type=_choice(request, "subject_type", set(SUBJECT_TYPES) | {"project"}),
                subject=params.get("subject") or None,
                severity=_choice(request, "severity", {s.value for s in Severity}),
                before_id=parse_cursor(params.get("cursor")),
                limit=limit,
            )
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(lambda conn: detection_store.find(conn, query))
        items = [{"id": detection_id, **d.as_dict()} for detection_id, d in found]
        next_cursor = str(found[-1][0]) if len(found) == limit else None
        return JSONResponse({"detections": items, "next_cursor": next_cursor})

    async def subject_timeline(request: Request) -> Response:
        subject_type = str(request.path_params["subject_type"])
        subject = str(request.path_params["subject"])[:200]
        try:
            if subject_type not in SUBJECT_TYPES:
                raise ClientError(404, f"subject type {subject_type[:20]!r} not found; use ip or account")
            project = await project_of(request)
            window = _window(request, "24h")
            limit = parse_limit(request.query_params.get("limit"), default=200)
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()
        # Detectors name accounts stripped and case-folded (Alice and alice are one account).
        detected_as = subject.strip().casefold() if subject_type == "account" else subject
        query = eventlog.EventQuery(
            project_id=project.id,
            kinds=(Kind.SECURITY.value, Kind.REQUEST.value, Kind.ERROR.value),
            subject=subject,
            since_ms=now - window,
            limit=limit,
        )
        events = await services.read(lambda conn: eventlog.list_events(conn, query))
        found = await services.read(
            lambda conn: detection_store.find(
                conn,
                detection_store.DetectionQuery(
                    project_id=project.id,
                    since_ms=now - window,
                    subject_type=subject_type,
                    subject=detected_as,
                ),
            )
        )
        threat = assess(await open_detections(project.id, now, (subject_type, detected_as)))
        timeline: list[tuple[int, dict[str, Any]]] = [
            (e.received_ms, {"type": "event", "time": e.received_ms / 1000.0, "event": e.as_dict()})
            for e in events
        ]
        timeline += [
            (d.last_ms, {"type": "detection", "time": d.last_ms / 1000.0, "detection": d.as_dict()})
            for _, d in found
        ]
        timeline.sort(key=lambda item: item[0], reverse=True)
        return JSONResponse(
            {
                "subject_type": subject_type,
                "subject": subject,
                "threatLevel": threat.level.value,
                "threatScore": threat.score,
                "contributors": threat.explanation(),
                "timeline": [item for _, item in timeline],
            }
        )

    return [
        Route("/api/v1/security/summary", summary, methods=["GET"]),
        Route("/api/v1/security/events", security_events, methods=["GET"]),
        Route("/api/v1/security/detections", detections, methods=["GET"]),
        Route("/api/v1/security/subjects/{subject_type}/{subject}", subject_timeline, methods=["GET"]),
    ]
