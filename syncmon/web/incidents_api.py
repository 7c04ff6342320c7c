"""The incidents API, and the entry point for every alerting route of the web app.

- `GET /api/v1/incidents?project=&status=open|triggered|acknowledged|resolved&limit=&cursor=`;
- `GET /api/v1/incidents/<id>`: the incident, its alerts (with what mutes them) and its
  timeline (fired, who was notified through which channel with the outbox id, escalations,
  acknowledgement, silences, resolution);
- `POST /api/v1/incidents/<id>/acknowledge` and `/resolve`: admin tokens (viewers get 403).

`routes()` also returns the configuration API (syncmon.web.escalation_api: policies,
routes, user contacts; syncmon.web.mutes_api: silences, maintenance windows, inhibition
rules). The signed acknowledge/resolve links (syncmon.web.incident_links) are mounted
outside the dashboard's access guard: the signature is their authorisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.alerting import incident_store
from syncmon.alerting.incidents import Incident, IncidentError, IncidentStatus
from syncmon.http_errors import ClientError
from syncmon.store import accounts
from syncmon.store.schema import alert_group_alerts, alert_groups
from syncmon.web import escalation_api, mutes_api
from syncmon.web.alerting_resources import path_id
from syncmon.web.api import error_response, project_param, require_token
from syncmon.web.params import parse_cursor, parse_limit
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

STATUSES = ("open", *(s.value for s in IncidentStatus))


def _s(ms: int | None) -> float | None:
    return ms / 1000 if ms is not None else None


def describe(incident: Incident) -> dict[str, Any]:
    esc = incident.escalation
    finished = esc.next_step_ms is None and not esc.paused and esc.level >= 0
    return {
        "id": incident.id,
        "project_id": incident.project_id,
        "title": incident.title,
        "severity": incident.severity.value,
        "status": incident.status.value,
        "receiver": incident.receiver,
        "route_id": incident.route_id,
        "group_key": incident.group_key,
        "group_labels": incident.group_labels,
        "policy": {"id": incident.policy.id, "name": incident.policy.name}
        if incident.policy.levels
        else None,
        "escalation": {
            "level": esc.level + 1,
            "levels": len(incident.policy.levels),
            "repeats_done": esc.repeats_done,
            "next_step_at": _s(esc.next_step_ms),
            "paused": esc.paused,
            "finished": finished and incident.status is IncidentStatus.TRIGGERED,
        },
        "opened_at": _s(incident.opened_ms),
        "acknowledged_at": _s(incident.acknowledged_ms),
        "acknowledged_by": incident.acknowledged_by,
        "resolved_at": _s(incident.resolved_ms),
        "resolved_by": incident.resolved_by,
        "alerts": incident.alerts,
    }


def _group_alerts(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The group's current alerts with their mute reasons, while the incident's group exists."""
    rows = conn.execute(
        sa.select(alert_group_alerts)
        .join(alert_groups, alert_groups.c.id == alert_group_alerts.c.group_id)
        .where(alert_groups.c.incident_id == incident_id)
        .order_by(alert_group_alerts.c.added_ms, alert_group_alerts.c.fingerprint)
    )
    return [
        {
            "fingerprint": row.fingerprint,
            "labels": row.labels,
            "annotations": row.annotations,
            "state": row.state,
            "starts_at": _s(row.starts_ms),
            "ends_at": _s(row.ends_ms),
            "muted_by": row.muted_by,
        }
        for row in rows
    ]


def routes(services: Services) -> list[Route]:
    async def list_incidents(request: Request) -> Response:
        try:
            await require_token(services, request)
            project = await project_param(services, request, required=False)
            status = request.query_params.get("status") or None
            if status is not None and status not in STATUSES:
                raise ClientError(400, f"status: must be one of {', '.join(STATUSES)}", field="status")
            limit = parse_limit(request.query_params.get("limit"), default=50, maximum=500)
            before = parse_cursor(request.query_params.get("cursor"))
        except ClientError as exc:
            return error_response(exc)
        found = await services.read(
            lambda conn: incident_store.list_incidents(
                conn, project_id=project.id if project else None, status=status, before_id=before, limit=limit
            )
        )
        next_cursor = str(found[-1].id) if len(found) == limit else None
        return JSONResponse({"incidents": [describe(i) for i in found], "next_cursor": next_cursor})

    async def incident_detail(request: Request) -> Response:
        try:
            await require_token(services, request)
            incident_id = path_id(request, "incident_id", "incident")
        except ClientError as exc:
            return error_response(exc)

        def load(conn: Connection) -> dict[str, Any] | None:
            incident = incident_store.get_incident(conn, incident_id)
            if incident is None:
                return None
            return {
                **describe(incident),
                "group_alerts": _group_alerts(conn, incident_id),
                "timeline": incident_store.timeline(conn, incident_id),
            }

        found = await services.read(load)
        if found is None:
            return JSONResponse({"error": f"incident {incident_id} not found"}, status_code=404)
        return JSONResponse(found)

    def action(verb: str) -> Any:
        async def handler(request: Request) -> Response:
            try:
                caller = await require_token(services, request)
                caller.require_admin()
                incident_id = path_id(request, "incident_id", "incident")
            except ClientError as exc:
                return error_response(exc)
            act = services.dispatcher.acknowledge if verb == "acknowledge" else services.dispatcher.resolve
            try:
                incident = await act(incident_id, caller.actor)
            except IncidentError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)
            now = services.clock.now_ms()
            await services.writer.run(
                lambda conn: accounts.record_audit(
                    conn, now, caller.actor, f"incident.{verb}", f"incident:{incident_id}"
                )
            )
            return JSONResponse(describe(incident))

        return handler

    return [
        Route("/api/v1/incidents", list_incidents, methods=["GET"]),
        Route("/api/v1/incidents/{incident_id}", incident_detail, methods=["GET"]),
        Route("/api/v1/incidents/{incident_id}/acknowledge", action("acknowledge"), methods=["POST"]),
        Route("/api/v1/incidents/{incident_id}/resolve", action("resolve"), methods=["POST"]),
        *escalation_api.routes(services),
        *mutes_api.routes(services),
    ]
