"""The notification channel pages: the list with each channel's delivery log, and the forms.

- `GET /alerts/channels` — the channels and their latest delivery attempts;
- `GET /alerts/channels/new?kind=` — the form for a new channel of a kind from the registry
  (slack, pagerduty, email, webhook, sms, apprise); `POST /alerts/channels` creates it;
- `GET /alerts/channels/<id>` — its form; `POST /alerts/channels/<id>` saves it,
  `POST /alerts/channels/<id>/delete` deletes it, `POST /alerts/channels/<id>/test` queues a
  test notification and shows the delivery log.

Secrets are never written into a page, not even right after they were typed: the edit form
leaves them empty and a blank one keeps the stored value (`channel_forms`). Every change goes
through `channel_changes`, as the API's do: the same checks and the same audit rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.channels import channel_store
from syncmon.http_errors import ClientError
from syncmon.web import channel_changes as changes
from syncmon.web.auth.forms import form_of
from syncmon.web.dashboard import channel_forms
from syncmon.web.dashboard.config_support import NO_STORE, checked, form_error, path_id, whole_number
from syncmon.web.dashboard.context import Dashboard, caller_of

DELIVERIES_SHOWN = 10
NOTICES = {
    "created": "Channel created.",
    "saved": "Channel saved.",
    "unchanged": "Nothing changed.",
    "deleted": "Channel deleted, with its queue and delivery log.",
}


def form_body(form: dict[str, str]) -> dict[str, Any]:
    """The channel's own fields from the form, as the API's body has them (config aside)."""
    return {
        "name": form.get("name", ""),
        "project": form.get("project") or None,
        "fallback_channel_id": whole_number(form.get("fallback_channel_id", "")),
        "rate_limit_per_minute": whole_number(form.get("rate_limit_per_minute", "")),
        "enabled": checked(form, "enabled"),
    }


def channel_values(channel: channel_store.ChannelRow, project_slugs: dict[int, str]) -> dict[str, str]:
    """A stored channel as the form's values (secrets left out)."""
    values = {
        "name": channel.name,
        "project": project_slugs.get(channel.project_id, "") if channel.project_id else "",
        "fallback_channel_id": str(channel.fallback_channel_id or ""),
        "rate_limit_per_minute": str(channel.rate_limit_per_minute or ""),
        **channel_forms.shown_values(channel.kind, channel.config),
    }
    if channel.enabled:
        values["enabled"] = "on"
    return values


def routes(dash: Dashboard) -> list[Route]:
    services = dash.services

    async def slugs(request: Request) -> dict[int, str]:
        shell = await dash.renderer.shell(request)
        return {p.id: p.slug for p in shell.projects}

    async def channels_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        def load(conn: Connection) -> list[dict[str, Any]]:
            return [
                {
                    "channel": channel,
                    "deliveries": channel_store.list_deliveries(conn, channel.id, limit=DELIVERIES_SHOWN),
                }
                for channel in channel_store.list_channels(conn)
            ]

        context: dict[str, Any] = {
            "rows": await services.read(load),
            "project_slugs": await slugs(request),
            "active_tab": "channels",
            "error": error,
            "notice": NOTICES.get(request.query_params.get("done") or ""),
            "tested": request.query_params.get("tested"),
        }
        return await dash.renderer.page(
            request, "alerts/channels.html", context, status=status, active="alerts", headers=NO_STORE
        )

    async def channel_page(
        request: Request,
        kind: str | None,
        values: dict[str, str],
        *,
        channel: channel_store.ChannelRow | None = None,
        refusal: ClientError | None = None,
    ) -> Response:
        others = await services.read(lambda conn: channel_store.list_channels(conn))
        fields = channel_forms.kind_fields(kind) if kind in channel_forms.kinds() else []
        context: dict[str, Any] = {
            "channel": channel,
            "kind": kind,
            "kinds": channel_forms.kinds(),
            "fields": fields,
            "stored_secrets": channel_forms.stored_secrets(channel.kind, channel.config)
            if channel
            else set(),
            "values": values,
            "fallbacks": [c for c in others if channel is None or c.id != channel.id],
            "active_tab": "channels",
            "notice": NOTICES.get(request.query_params.get("done") or ""),
            **form_error(refusal),
        }
        return await dash.renderer.page(
            request,
            "alerts/channel_form.html",
            context,
            status=refusal.status if refusal else 200,
            active="alerts",
            headers=NO_STORE,
        )

    async def load_channel(request: Request) -> channel_store.ChannelRow:
        channel_id = path_id(request, "channel_id", "channel")
        found = await services.read(lambda conn: channel_store.get_channel(conn, channel_id))
        if found is None:
            raise ClientError(404, f"there is no channel {channel_id}")
        return found

    async def new_channel(request: Request) -> Response:
        kind = request.query_params.get("kind") or None
        shell = await dash.renderer.shell(request)
        values = {"enabled": "on", "project": shell.project.slug if shell.project else ""}
        if kind is not None and kind not in channel_forms.kinds():
            refusal = ClientError(400, f"kind: must be one of {', '.join(channel_forms.kinds())}")
            return await channel_page(request, None, values, refusal=refusal)
        return await channel_page(request, kind, values)

    async def create_channel(request: Request) -> Response:
        form: dict[str, str] = {}
        kind: str | None = None
        try:
            form = await form_of(request)
            kind = form.get("kind", "")
            body = {**form_body(form), "kind": kind, "config": channel_forms.config_from_form(kind, form)}
            actor = caller_of(request).actor
            now = dash.now()
            created = await changes.write(
                services, lambda conn: changes.create(conn, changes.create_values(conn, body), actor, now)
            )
        except ClientError as exc:
            shown = kind if kind in channel_forms.kinds() else None
            return await channel_page(request, shown, form, refusal=exc)
        return RedirectResponse(f"/alerts/channels/{created.id}?done=created", status_code=303)

    async def show_channel(request: Request) -> Response:
        try:
            channel = await load_channel(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        values = channel_values(channel, await slugs(request))
        return await channel_page(request, channel.kind, values, channel=channel)

    async def save_channel(request: Request) -> Response:
        try:
            channel = await load_channel(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        form: dict[str, str] = {}
        actor = caller_of(request).actor
        now = dash.now()

        def update(conn: Connection) -> bool:
            current = changes.current_channel(conn, channel.id)
            wanted = changes.patch_changes(conn, current, form_body(form))
            config = channel_forms.config_from_form(current.kind, form, current.config)
            wanted["config"] = changes.whole_config(current.kind, config)
            wanted = {key: value for key, value in wanted.items() if getattr(current, key) != value}
            if wanted:
                changes.update(conn, channel.id, wanted, actor, now)
            return bool(wanted)

        try:
            form = await form_of(request)
            changed = await changes.write(services, update)
        except ClientError as exc:
            return await channel_page(request, channel.kind, form, channel=channel, refusal=exc)
        done = "saved" if changed else "unchanged"
        return RedirectResponse(f"/alerts/channels/{channel.id}?done={done}", status_code=303)

    async def delete_channel(request: Request) -> Response:
        try:
            channel_id = path_id(request, "channel_id", "channel")
            actor = caller_of(request).actor
            now = dash.now()
            await changes.write(services, lambda conn: changes.delete(conn, channel_id, actor, now))
        except ClientError as exc:
            if exc.status == 404:
                return await dash.renderer.error_page(request, 404, exc.message)
            return await channels_page(request, error=exc.message, status=exc.status)
        return RedirectResponse("/alerts/channels?done=deleted", status_code=303)

    async def send_test(request: Request) -> Response:
        try:
            channel_id = path_id(request, "channel_id", "channel")
            actor = caller_of(request).actor
            now = dash.now()
            public_url = services.settings.effective_public_url
            await changes.write(
                services, lambda conn: changes.enqueue_test(conn, channel_id, actor, now, public_url)
            )
        except ClientError as exc:
            return await channels_page(request, error=exc.message, status=exc.status)
        services.delivery.wake()
        return RedirectResponse(f"/alerts/channels?tested={channel_id}#channel-{channel_id}", status_code=303)

    async def show_channels(request: Request) -> Response:
        return await channels_page(request)

    return [
        Route("/alerts/channels", show_channels, methods=["GET"]),
        Route("/alerts/channels", create_channel, methods=["POST"]),
        Route("/alerts/channels/new", new_channel, methods=["GET"]),
        Route("/alerts/channels/{channel_id}", show_channel, methods=["GET"]),
        Route("/alerts/channels/{channel_id}", save_channel, methods=["POST"]),
        Route("/alerts/channels/{channel_id}/delete", delete_channel, methods=["POST"]),
        Route("/alerts/channels/{channel_id}/test", send_test, methods=["POST"]),
    ]
