"""The Alerts page: what is firing, the incidents it opened, and the silences keeping alerts quiet.

- `GET /alerts?project=` — firing and pending alerts (labels, severity, value, since), open
  and recent incidents, active and pending silences; the page updates live;
- `GET /alerts/incidents/<id>` — one incident and its timeline: fired, who was notified
  through which channel with the delivery status, acknowledged, escalated, resolved;
- `POST /alerts/incidents/<id>/acknowledge` and `/resolve` — through the dispatcher, as the
  API does, with an audit-log row;
- `GET /alerts/silences/new?alert=<fingerprint>` — a silence form prefilled with the alert's
  labels as matchers; `POST /alerts/silences` creates it; `POST /alerts/silences/<id>/expire`
  ends one.

Everyone logged in may look; the access guard refuses viewers' POSTs and the pages show
viewers no buttons.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.alerting import incident_store, mute_admin
from syncmon.alerting.incidents import IncidentError
from syncmon.http_errors import ClientError
from syncmon.store import accounts
from syncmon.web.alerting_payloads import SilenceIn
from syncmon.web.auth.forms import form_of
from syncmon.web.dashboard import alert_data
from syncmon.web.dashboard.context import Dashboard, caller_of
from syncmon.web.dashboard.section_support import live_url
from syncmon.web.mutes_api import silence_values

NO_STORE = {"Cache-Control": "no-store"}
NOTICES = {
    "acknowledged": "Incident acknowledged; its escalation has stopped.",
    "resolved": "Incident resolved.",
    "silenced": "Silence created; the alerts it matches are muted.",
    "expired": "Silence expired.",
}
# Labels a silence made from an alert leaves out: they name the rule's evaluation, not the alert.
_NOT_MATCHED = frozenset({"rule_id"})


def _path_id(request: Request, name: str, noun: str) -> int:
    raw = request.path_params.get(name, "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise ClientError(404, f"no {noun} {raw[:20]!r}")
    return int(raw)


def matchers_text(labels: dict[str, str]) -> str:
    """The alert's labels as one `name=value` matcher a line, as the silence form takes them."""
    return "\n".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in _NOT_MATCHED)


def parse_silence(form: dict[str, str]) -> SilenceIn:
    """The silence form as the API's SilenceIn, or a ClientError naming the field."""
    lines = [line.strip() for line in form.get("matchers", "").splitlines() if line.strip()]
    raw_duration = form.get("duration", "")
    if not raw_duration.isdigit():
        raise ClientError(400, "duration: choose how long the silence lasts", field="duration")
    payload: dict[str, Any] = {
        "matchers": lines,
        "duration_seconds": int(raw_duration),
        "comment": form.get("comment", "").strip(),
        "expire_on_resolve": form.get("expire_on_resolve") == "on",
    }
    try:
        return SilenceIn.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"][:1]) or "form"
        message = str(first["msg"]).removeprefix("Value error, ")
        if location == "comment":
            message = "say why the alerts are silenced"
        raise ClientError(400, f"{location}: {message}", field=location) from None


def routes(dash: Dashboard) -> list[Route]:
    services = dash.services

    async def alerts_page(request: Request) -> Response:
        shell = await dash.renderer.shell(request)
        shown = [shell.project] if shell.project else list(shell.projects)
        project_id = shell.project.id if shell.project else None
        now = dash.now()

        def load(conn: Connection) -> dict[str, Any]:
            recent = alert_data.incidents(conn, project_id, open_only=False, limit=30)
            return {
                "alerts": alert_data.active_alerts(conn, shown),
                "open_incidents": alert_data.incidents(conn, project_id, open_only=True, limit=50),
                "recent_incidents": [i for i in recent if not i.is_open][:15],
                "silences": alert_data.silences(conn, now, include_expired=False),
            }

        context = await services.read(load)
        slugs = {p.id: p.slug for p in shell.projects}
        context.update(
            {
                "project_slugs": slugs,
                "notice": NOTICES.get(request.query_params.get("done") or ""),
                "live_url": live_url(shell),
                "live_on_heartbeat": True,
                "active_tab": "alerts",
            }
        )
        return await dash.renderer.page(request, "alerts.html", context, active="alerts")

    async def incident_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        incident_id = _path_id(request, "incident_id", "incident")

        def load(conn: Connection) -> dict[str, Any] | None:
            incident = incident_store.get_incident(conn, incident_id)
            if incident is None:
                return None
            return {"incident": incident, "timeline": alert_data.timeline(conn, incident_id)}

        found = await services.read(load)
        if found is None:
            return await dash.renderer.error_page(request, 404, f"There is no incident {incident_id}.")
        shell = await dash.renderer.shell(request)
        found.update(
            {
                "error": error,
                "notice": NOTICES.get(request.query_params.get("done") or ""),
                "project_slugs": {p.id: p.slug for p in shell.projects},
                "live_url": live_url(shell),
                "live_on_heartbeat": True,
            }
        )
        return await dash.renderer.page(
            request, "alerts_incident.html", found, status=status, active="alerts", headers=NO_STORE
        )

    async def show_incident(request: Request) -> Response:
        try:
            return await incident_page(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)

    def incident_action(verb: str) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                incident_id = _path_id(request, "incident_id", "incident")
            except ClientError as exc:
                return await dash.renderer.error_page(request, exc.status, exc.message)
            actor = caller_of(request).actor
            act = services.dispatcher.acknowledge if verb == "acknowledge" else services.dispatcher.resolve
            try:
                await act(incident_id, actor)
            except IncidentError as exc:
                if exc.status == 404:
                    return await dash.renderer.error_page(request, 404, exc.message)
                return await incident_page(request, error=exc.message, status=exc.status)
            now = dash.now()
            await services.writer.run(
                lambda conn: accounts.record_audit(
                    conn, now, actor, f"incident.{verb}", f"incident:{incident_id}"
                )
            )
            done = "acknowledged" if verb == "acknowledge" else "resolved"
            return RedirectResponse(f"/alerts/incidents/{incident_id}?done={done}", status_code=303)

        return endpoint

    async def silence_form(
        request: Request,
        *,
        form: dict[str, str] | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        shell = await dash.renderer.shell(request)
        shown = [shell.project] if shell.project else list(shell.projects)
        fingerprint = request.query_params.get("alert", "")[:32]
        alert = (
            await services.read(lambda conn: alert_data.find_alert(conn, shown, fingerprint))
            if fingerprint
            else None
        )
        values = form or {
            "matchers": matchers_text(alert.labels) if alert else "",
            "duration": "3600",
            "comment": "",
        }
        context = {
            "alert": alert,
            "values": values,
            "durations": alert_data.SILENCE_DURATIONS,
            "error": error,
        }
        return await dash.renderer.page(
            request, "alerts_silence.html", context, status=status, active="alerts", headers=NO_STORE
        )

    async def new_silence(request: Request) -> Response:
        return await silence_form(request)

    async def create_silence(request: Request) -> Response:
        caller = caller_of(request)
        form: dict[str, str] | None = None
        try:
            form = await form_of(request)
            body = parse_silence(form)
            now = dash.now()
            values = silence_values(body, caller, now)
        except ClientError as exc:
            return await silence_form(request, form=form, error=exc.message, status=exc.status)

        def write(conn: Connection) -> int:
            silence_id = mute_admin.create_silence(conn, values, now)
            accounts.record_audit(conn, now, caller.actor, "silence.create", f"silence:{silence_id}")
            return silence_id

        await services.writer.run(write)
        await services.dispatcher.tick()  # mute now, not at the next tick
        return RedirectResponse("/alerts?" + urlencode({"done": "silenced"}), status_code=303)

    async def expire_silence(request: Request) -> Response:
        try:
            silence_id = _path_id(request, "silence_id", "silence")
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        actor = caller_of(request).actor
        now = dash.now()

        def write(conn: Connection) -> dict[str, Any] | None:
            found = mute_admin.expire_silence(conn, silence_id, actor, now)
            if found is not None:
                accounts.record_audit(conn, now, actor, "silence.expire", f"silence:{silence_id}")
            return found

        if await services.writer.run(write) is None:
            return await dash.renderer.error_page(request, 404, f"There is no silence {silence_id}.")
        await services.dispatcher.tick()  # unmute and announce now, not at the next tick
        return RedirectResponse("/alerts?done=expired", status_code=303)

    return [
        Route("/alerts", alerts_page, methods=["GET"]),
        Route("/alerts/incidents/{incident_id}", show_incident, methods=["GET"]),
        Route(
            "/alerts/incidents/{incident_id}/acknowledge", incident_action("acknowledge"), methods=["POST"]
        ),
        Route("/alerts/incidents/{incident_id}/resolve", incident_action("resolve"), methods=["POST"]),
        Route("/alerts/silences/new", new_silence, methods=["GET"]),
        Route("/alerts/silences", create_silence, methods=["POST"]),
        Route("/alerts/silences/{silence_id}/expire", expire_silence, methods=["POST"]),
    ]
