"""The escalation policy pages: who is paged for an incident, level after level.

- `GET /alerts/escalation` — the policies, their levels and targets;
- `GET /alerts/escalation/new`, `POST /alerts/escalation` — a new policy;
- `GET /alerts/escalation/<id>`, `POST /alerts/escalation/<id>` — change one (ordered levels,
  each a timeout and its targets: channels, and users reached through a channel by email or
  phone; how often the whole policy repeats; whether it is the project's default);
  `POST /alerts/escalation/<id>/delete` deletes one (refused while a route uses it).

The form becomes the API's body (`PolicyIn`) and is written by the API's own write
(`alerting_resources.saving`), so the checks and the audit rows are the API's. Warnings
about targets that cannot be reached yet are shown after saving.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.alerting import policy_admin
from syncmon.channels import channel_store
from syncmon.http_errors import ClientError
from syncmon.store import users
from syncmon.web.alerting_payloads import PolicyIn, validate_model
from syncmon.web.alerting_resources import deleting, saving
from syncmon.web.auth.forms import form_of
from syncmon.web.dashboard import policy_forms
from syncmon.web.dashboard.config_support import NO_STORE, form_error, path_id, write_refusing
from syncmon.web.dashboard.context import Dashboard, caller_of
from syncmon.web.escalation_api import POLICIES

NOTICES = {
    "created": "Escalation policy created.",
    "saved": "Escalation policy saved; incidents already open keep the policy they opened with.",
    "deleted": "Escalation policy deleted.",
}


def routes(dash: Dashboard) -> list[Route]:
    services = dash.services

    async def policies_page(
        request: Request,
        *,
        error: str | None = None,
        status: int = 200,
        notice: str | None = None,
        warnings: list[str] | None = None,
    ) -> Response:
        policies = await services.read(policy_admin.list_policies)
        channels = await services.read(lambda conn: channel_store.list_channels(conn))
        people = await services.read(users.list_users)
        context = {
            "policies": policies,
            "channel_names": {c.id: c.name for c in channels},
            "user_emails": {u.id: u.email for u in people},
            "active_tab": "escalation",
            "error": error,
            "notice": notice or NOTICES.get(request.query_params.get("done") or ""),
            "warnings": [policy_forms.readable(w) for w in warnings or []],
        }
        return await dash.renderer.page(
            request, "alerts/escalation.html", context, status=status, active="alerts", headers=NO_STORE
        )

    async def policy_page(
        request: Request,
        policy: dict[str, Any] | None,
        values: dict[str, str],
        rows: list[policy_forms.LevelRow],
        *,
        refusal: ClientError | None = None,
    ) -> Response:
        def load(conn: Connection) -> dict[str, Any]:
            return {"channels": channel_store.list_channels(conn), "users": users.list_users(conn)}

        context: dict[str, Any] = {
            **await services.read(load),
            "policy": policy,
            "values": values,
            "rows": rows,
            "active_tab": "escalation",
            "notice": NOTICES.get(request.query_params.get("done") or ""),
            **form_error(refusal),
            "form_error": policy_forms.readable(refusal.message) if refusal else None,
        }
        return await dash.renderer.page(
            request,
            "alerts/policy_form.html",
            context,
            status=refusal.status if refusal else 200,
            active="alerts",
            headers=NO_STORE,
        )

    async def load_policy(request: Request) -> dict[str, Any]:
        policy_id = path_id(request, "policy_id", "escalation policy")
        found = await services.read(lambda conn: policy_admin.get_policy(conn, policy_id))
        if found is None:
            raise ClientError(404, f"there is no escalation policy {policy_id}")
        return found

    async def new_policy(request: Request) -> Response:
        shell = await dash.renderer.shell(request)
        values = {"project": shell.project.slug if shell.project else "", "repeat": "0"}
        return await policy_page(request, None, values, [policy_forms.LevelRow("300")])

    async def save(request: Request, policy: dict[str, Any] | None) -> Response:
        form: dict[str, str] = {}
        rows: list[policy_forms.LevelRow] = []
        item_id = policy["id"] if policy else None
        try:
            form = await form_of(request)
            rows = policy_forms.rows_from_form(form)
            if form.get("add"):
                return await policy_page(request, policy, form, policy_forms.grown(rows, form["add"]))
            body = validate_model(policy_forms.policy_payload(form, rows), PolicyIn)
            write = saving(services, POLICIES, item_id, body, caller_of(request))
            saved = await write_refusing(services, write)
        except ClientError as exc:
            shown = policy_forms.compact(rows) or [policy_forms.LevelRow()]
            return await policy_page(request, policy, form, shown, refusal=exc)
        if saved is None:
            return await dash.renderer.error_page(request, 404, f"there is no escalation policy {item_id}")
        notice = NOTICES["saved" if policy else "created"]
        if saved.get("warnings"):
            return await policies_page(request, notice=notice, warnings=saved["warnings"])
        done = "saved" if policy else "created"
        return RedirectResponse(f"/alerts/escalation?done={done}#policy-{saved['id']}", status_code=303)

    async def create_policy(request: Request) -> Response:
        return await save(request, None)

    async def show_policy(request: Request) -> Response:
        try:
            policy = await load_policy(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        values = {
            "name": policy["name"],
            "project": policy["project"] or "",
            "repeat": str(policy["repeat"]),
            **({"default": "on"} if policy["default"] else {}),
        }
        return await policy_page(request, policy, values, policy_forms.rows_from_policy(policy))

    async def save_policy(request: Request) -> Response:
        try:
            policy = await load_policy(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        return await save(request, policy)

    async def delete_policy(request: Request) -> Response:
        try:
            policy_id = path_id(request, "policy_id", "escalation policy")
            write = deleting(services, POLICIES, policy_id, caller_of(request))
            if not await write_refusing(services, write):
                raise ClientError(404, f"there is no escalation policy {policy_id}")
        except ClientError as exc:
            if exc.status == 404:
                return await dash.renderer.error_page(request, 404, exc.message)
            return await policies_page(request, error=exc.message, status=exc.status)
        return RedirectResponse("/alerts/escalation?done=deleted", status_code=303)

    async def show_policies(request: Request) -> Response:
        return await policies_page(request)

    return [
        Route("/alerts/escalation", show_policies, methods=["GET"]),
        Route("/alerts/escalation", create_policy, methods=["POST"]),
        Route("/alerts/escalation/new", new_policy, methods=["GET"]),
        Route("/alerts/escalation/{policy_id}", show_policy, methods=["GET"]),
        Route("/alerts/escalation/{policy_id}", save_policy, methods=["POST"]),
        Route("/alerts/escalation/{policy_id}/delete", delete_policy, methods=["POST"]),
    ]
