"""The pages behind the signed acknowledge / resolve links in notifications.

`GET /alerting/act/<token>` only shows what the link would do, with a button; the button
POSTs to the same address, which does it. Mail scanners and link previews fetch every
link with GET, so a GET must never act. An altered, malformed or expired link gets a
clear 4xx page. The token is a capability for one incident: the pages are not cached,
not indexed, not framed, and send no Referer.
"""

from __future__ import annotations

import base64
import hashlib
import html
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from syncmon.alerting import incident_store, links
from syncmon.alerting.incidents import Incident, IncidentError, IncidentStatus
from syncmon.store.schema import users

if TYPE_CHECKING:
    from syncmon.app import Services

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f}"
    "h1{font-size:1.3rem}.meta{color:#555}"
    "button{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:6px;background:#0b57d0;color:#fff}"
    ".problem{color:#a4000f}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
VERBS = {links.LinkAction.ACKNOWLEDGE: "Acknowledge", links.LinkAction.RESOLVE: "Resolve"}
DONE = {links.LinkAction.ACKNOWLEDGE: "acknowledged", links.LinkAction.RESOLVE: "resolved"}


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=HEADERS)


def problem(status: int, message: str) -> HTMLResponse:
    return page(
        "Link not usable", f'<h1>Link not usable</h1><p class="problem">{html.escape(message)}</p>', status
    )


def summary(incident: Incident) -> str:
    state = incident.status.value
    if incident.status is IncidentStatus.ACKNOWLEDGED:
        state += f" by {incident.acknowledged_by}"
    elif incident.status is IncidentStatus.RESOLVED:
        state += f" by {incident.resolved_by}"
    return (
        f"<p><strong>{html.escape(incident.title)}</strong></p>"
        f'<p class="meta">Severity {html.escape(incident.severity.value)} · status {html.escape(state)}</p>'
    )


def routes(services: Services) -> list[Route]:
    async def claim_of(request: Request) -> links.LinkClaim:
        secret = await services.dispatcher.load_secret()
        return links.verify(secret, str(request.path_params["token"]), services.clock.now_ms())

    async def actor_for(claim: links.LinkClaim) -> str:
        kind, _, ident = claim.via.partition(":")
        if kind == "user" and ident.isdigit():

            def email(conn: Connection) -> str | None:
                found = conn.execute(sa.select(users.c.email).where(users.c.id == int(ident))).scalar()
                return str(found) if found is not None else None

            found = await services.read(email)
            if found:
                return f"{found} (link)"
        return f"link sent to {claim.via or 'unknown'}"

    async def show(request: Request) -> Response:
        try:
            claim = await claim_of(request)
        except links.LinkError as exc:
            return problem(exc.status, exc.message)
        incident = await services.read(lambda conn: incident_store.get_incident(conn, claim.incident_id))
        if incident is None:
            return problem(404, f"incident {claim.incident_id} no longer exists")
        verb = VERBS[claim.action]
        heading = f"{verb} incident #{incident.id}?"
        if incident.status is IncidentStatus.RESOLVED or (
            claim.action is links.LinkAction.ACKNOWLEDGE and incident.status is IncidentStatus.ACKNOWLEDGED
        ):
            heading = f"Incident #{incident.id} is already {incident.status.value}"
            return page(heading, f"<h1>{html.escape(heading)}</h1>{summary(incident)}")
        form = f'<form method="post"><button type="submit">{verb}</button></form>'
        return page(heading, f"<h1>{html.escape(heading)}</h1>{summary(incident)}{form}")

    async def act(request: Request) -> Response:
        try:
            claim = await claim_of(request)
        except links.LinkError as exc:
            return problem(exc.status, exc.message)
        actor = await actor_for(claim)
        dispatcher = services.dispatcher
        do = dispatcher.acknowledge if claim.action is links.LinkAction.ACKNOWLEDGE else dispatcher.resolve
        try:
            incident = await do(claim.incident_id, actor)
        except IncidentError as exc:
            return problem(exc.status, exc.message)
        heading = f"Incident #{incident.id} {DONE[claim.action]}"
        return page(heading, f"<h1>{html.escape(heading)}</h1>{summary(incident)}")

    return [
        Route(links.LINK_PATH + "{token}", show, methods=["GET"]),
        Route(links.LINK_PATH + "{token}", act, methods=["POST"]),
    ]
