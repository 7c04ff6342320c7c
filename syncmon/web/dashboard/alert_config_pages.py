"""The alerting configuration pages: rules, channels and escalation policies.

- `GET /alerts/rules?project=` — every rule: name, kind, severity, where it comes from, and
  whether it is enabled; `POST /alerts/rules/<id>/enabled` turns it on or off (as a PATCH of
  `enabled` through the API does; rules from the rules file are changed in the file);
- `GET /alerts/channels` — the channels (never their configuration: it holds secrets) with
  each one's latest delivery attempts; `POST /alerts/channels/<id>/test` queues a test
  notification and shows the channel's delivery log;
- `GET /alerts/escalation` — the escalation policies, their levels and targets.

Viewers see everything without buttons; the access guard refuses their POSTs.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.alerting import policy_admin, rule_store
from syncmon.alerting.spec import RuleError, parse_rule, rule_document
from syncmon.channels import channel_store
from syncmon.http_errors import ClientError
from syncmon.store import accounts
from syncmon.web.auth.forms import form_of
from syncmon.web.channel_changes import enqueue_test
from syncmon.web.dashboard.context import Dashboard, caller_of

log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}
DELIVERIES_SHOWN = 10


def _path_id(request: Request, name: str, noun: str) -> int:
    raw = request.path_params.get(name, "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ClientError(404, f"no {noun} {raw[:20]!r}")
    return int(raw)


def routes(dash: Dashboard) -> list[Route]:
    services = dash.services

    async def rules_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        shell = await dash.renderer.shell(request)
        project_id = shell.project.id if shell.project else None
        rules = await services.read(lambda conn: rule_store.list_rules(conn, project_id))
        notice = {"enabled": "Rule enabled.", "disabled": "Rule disabled."}.get(
            request.query_params.get("done") or ""
        )
        context = {"rules": rules, "active_tab": "rules", "error": error, "notice": notice}
        return await dash.renderer.page(request, "alerts/rules.html", context, status=status, active="alerts")

    async def set_enabled(request: Request) -> Response:
        try:
            rule_id = _path_id(request, "rule_id", "rule")
            form = await form_of(request)
            wanted = form.get("enabled", "")
            if wanted not in ("true", "false"):
                raise ClientError(400, "enabled: true or false", field="enabled")
            found = await services.read(lambda conn: rule_store.get_rule(conn, rule_id))
            if found is None:
                raise ClientError(404, f"rule {rule_id} not found")
            if found.source == "file":
                raise ClientError(409, f"rule {found.name} comes from the rules file; change it there")
            try:
                spec = parse_rule({**rule_document(found.spec), "enabled": wanted == "true"})
            except RuleError as exc:
                raise ClientError(400, str(exc)) from None
        except ClientError as exc:
            return await rules_page(request, error=exc.message, status=exc.status)
        actor = caller_of(request).actor
        now = dash.now()

        def update(conn: Connection) -> None:
            rule_store.update_rule(conn, rule_id, spec, now)
            accounts.record_audit(
                conn, now, actor, "alert_rule.update", str(rule_id), {"fields": ["enabled"]}
            )

        await services.writer.run(update)
        try:
            await services.alerts.reload()
        except Exception:
            log.exception("alert engine could not reload the rules; the next tick will")
        done = "enabled" if wanted == "true" else "disabled"
        return RedirectResponse(f"/alerts/rules?done={done}", status_code=303)

    async def channels_page(
        request: Request, *, error: str | None = None, status: int = 200, extra: dict[str, Any] | None = None
    ) -> Response:
        def load(conn: Connection) -> list[dict[str, Any]]:
            return [
                {
                    "channel": channel,
                    "deliveries": channel_store.list_deliveries(conn, channel.id, limit=DELIVERIES_SHOWN),
                }
                for channel in channel_store.list_channels(conn)
            ]

        rows = await services.read(load)
        shell = await dash.renderer.shell(request)
        context: dict[str, Any] = {
            "rows": rows,
            "project_slugs": {p.id: p.slug for p in shell.projects},
            "active_tab": "channels",
            "error": error,
            "tested": request.query_params.get("tested"),
            **(extra or {}),
        }
        return await dash.renderer.page(
            request, "alerts/channels.html", context, status=status, active="alerts", headers=NO_STORE
        )

    async def send_test(request: Request) -> Response:
        try:
            channel_id = _path_id(request, "channel_id", "channel")
        except ClientError as exc:
            return await channels_page(request, error=exc.message, status=exc.status)
        actor = caller_of(request).actor
        now = dash.now()
        public_url = services.settings.effective_public_url
        try:
            await services.writer.run(lambda conn: enqueue_test(conn, channel_id, actor, now, public_url))
        except channel_store.ChannelNotFound:
            return await channels_page(request, error=f"channel {channel_id} not found", status=404)
        services.delivery.wake()
        return RedirectResponse(f"/alerts/channels?tested={channel_id}#channel-{channel_id}", status_code=303)

    async def escalation_page(request: Request) -> Response:
        policies = await services.read(policy_admin.list_policies)
        channels = await services.read(lambda conn: channel_store.list_channels(conn))
        context = {
            "policies": policies,
            "channel_names": {c.id: c.name for c in channels},
            "active_tab": "escalation",
        }
        return await dash.renderer.page(request, "alerts/escalation.html", context, active="alerts")

    async def show_rules(request: Request) -> Response:
        return await rules_page(request)

    async def show_channels(request: Request) -> Response:
        return await channels_page(request)

    return [
        Route("/alerts/rules", show_rules, methods=["GET"]),
        Route("/alerts/rules/{rule_id}/enabled", set_enabled, methods=["POST"]),
        Route("/alerts/channels", show_channels, methods=["GET"]),
        Route("/alerts/channels/{channel_id}/test", send_test, methods=["POST"]),
        Route("/alerts/escalation", escalation_page, methods=["GET"]),
    ]
