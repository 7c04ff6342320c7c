"""The alert rule pages: the list, a rule's definition as a YAML document, where its alerts go.

- `GET /alerts/rules?project=` — every rule; `POST /alerts/rules/<id>/enabled` turns one on
  or off (as a PATCH of `enabled` does);
- `GET /alerts/rules/new`, `POST /alerts/rules` — a new rule: its project and its definition,
  the document rules.yaml and the API take (`spec.parse_rule`), as YAML or JSON;
- `GET /alerts/rules/<id>` — the definition, editable unless the rule comes from the rules
  file, and the routes, escalation policies and channels an alert of it would take;
  `POST /alerts/rules/<id>` replaces the definition, `POST /alerts/rules/<id>/delete` deletes
  the rule, `POST /alerts/rules/<id>/test` queues a test notification through those channels.

Every change goes through `rule_changes`, as the API's do: same checks, same audit rows.
A refused definition comes back in the form as typed, with the message above it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.alerting import rule_store
from syncmon.alerting.spec import RULE_KINDS, rule_document
from syncmon.http_errors import ClientError
from syncmon.web import rule_changes
from syncmon.web.auth.forms import form_of
from syncmon.web.dashboard.config_support import NO_STORE, form_error, path_id
from syncmon.web.dashboard.context import Dashboard, caller_of
from syncmon.web.dashboard.rule_routing import SentTest, routing_of, send_tests

NOTICES = {
    "enabled": "Rule enabled.",
    "disabled": "Rule disabled.",
    "created": "Rule created; the engine evaluates it from now on.",
    "saved": "Rule saved; its alerts are evaluated with the new definition.",
    "deleted": "Rule deleted; its active alerts resolve.",
}
STARTER = """name: checkout_errors
kind: count
select:
  kind: error
  names: ["CheckoutError*"]
window: 5m
threshold: 3
severity: warning
summary: "{{ value | number }} checkout errors in 5 minutes"
"""


def routes(dash: Dashboard) -> list[Route]:
    services = dash.services

    async def rules_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        shell = await dash.renderer.shell(request)
        project_id = shell.project.id if shell.project else None
        rules = await services.read(lambda conn: rule_store.list_rules(conn, project_id))
        context = {
            "rules": rules,
            "active_tab": "rules",
            "error": error,
            "notice": NOTICES.get(request.query_params.get("done") or ""),
        }
        return await dash.renderer.page(request, "alerts/rules.html", context, status=status, active="alerts")

    async def rule_page(
        request: Request,
        rule: rule_store.StoredRule | None,
        values: dict[str, str],
        *,
        refusal: ClientError | None = None,
        sent: list[SentTest] | None = None,
    ) -> Response:
        now = dash.now()
        routing = await services.read(lambda conn: routing_of(conn, rule, now)) if rule else None
        context: dict[str, Any] = {
            "rule": rule,
            "values": values,
            "kinds": RULE_KINDS,
            "routing": routing,
            "sent": sent,
            "active_tab": "rules",
            "notice": NOTICES.get(request.query_params.get("done") or ""),
            **form_error(refusal),
        }
        status = refusal.status if refusal else 200
        return await dash.renderer.page(
            request, "alerts/rule_form.html", context, status=status, active="alerts", headers=NO_STORE
        )

    async def load_rule(request: Request) -> rule_store.StoredRule:
        rule_id = path_id(request, "rule_id", "rule")
        found = await services.read(lambda conn: rule_store.get_rule(conn, rule_id))
        if found is None:
            raise ClientError(404, f"there is no rule {rule_id}")
        return found

    async def new_rule(request: Request) -> Response:
        shell = await dash.renderer.shell(request)
        values = {"project": shell.project.slug if shell.project else "", "definition": STARTER}
        return await rule_page(request, None, values)

    async def create_rule(request: Request) -> Response:
        form: dict[str, str] = {}
        try:
            form = await form_of(request)
            ref = form.get("project", "")
            project = await services.read(lambda conn: rule_changes.project_of(conn, ref))
            document = rule_changes.document_from_text(form.get("definition", ""))
            if "project" in document:
                raise ClientError(
                    400, "project: choose the project above the definition, not in it", field="project"
                )
            spec = rule_changes.validated(document)
        except ClientError as exc:
            return await rule_page(request, None, form, refusal=exc)
        actor = caller_of(request).actor
        now = dash.now()
        created = await services.writer.run(lambda conn: rule_changes.create(conn, project, spec, actor, now))
        await rule_changes.reload(services)
        return RedirectResponse(f"/alerts/rules/{created.id}?done=created", status_code=303)

    async def show_rule(request: Request) -> Response:
        try:
            rule = await load_rule(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        return await rule_page(request, rule, {"definition": rule_changes.document_text(rule.spec)})

    async def save_rule(request: Request) -> Response:
        try:
            rule = await load_rule(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        form: dict[str, str] = {"definition": rule_changes.document_text(rule.spec)}
        try:
            rule_changes.editable(rule, rule.id)
            form = await form_of(request)
            document = rule_changes.document_from_text(form.get("definition", ""))
            rule_changes.refuse_fixed(document)
            spec = rule_changes.validated(document)
        except ClientError as exc:
            return await rule_page(request, rule, form, refusal=exc)
        fields = rule_changes.changed_fields(rule.spec, spec)
        actor = caller_of(request).actor
        now = dash.now()
        if fields:
            await services.writer.run(
                lambda conn: rule_changes.update(conn, rule.id, spec, fields, actor, now)
            )
            await rule_changes.reload(services)
        return RedirectResponse(f"/alerts/rules/{rule.id}?done=saved", status_code=303)

    async def delete_rule(request: Request) -> Response:
        try:
            found = await load_rule(request)
            rule = rule_changes.editable(found, found.id)
        except ClientError as exc:
            if exc.status == 409:
                return await rules_page(request, error=exc.message, status=409)
            return await dash.renderer.error_page(request, exc.status, exc.message)
        actor = caller_of(request).actor
        now = dash.now()
        await services.writer.run(lambda conn: rule_changes.delete(conn, rule, actor, now))
        await rule_changes.reload(services)
        return RedirectResponse("/alerts/rules?done=deleted", status_code=303)

    async def test_rule(request: Request) -> Response:
        try:
            rule = await load_rule(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        values = {"definition": rule_changes.document_text(rule.spec)}
        actor = caller_of(request).actor
        now = dash.now()
        public_url = services.settings.effective_public_url

        _, sent = await services.writer.run(lambda conn: send_tests(conn, rule, actor, now, public_url))
        if not sent:
            refusal = ClientError(
                409, f"alerts of {rule.name} reach no channel: no escalation policy pages anyone for them"
            )
            return await rule_page(request, rule, values, refusal=refusal)
        services.delivery.wake()
        return await rule_page(request, rule, values, sent=sent)

    async def set_enabled(request: Request) -> Response:
        try:
            rule_id = path_id(request, "rule_id", "rule")
            form = await form_of(request)
            wanted = form.get("enabled", "")
            if wanted not in ("true", "false"):
                raise ClientError(400, "enabled: true or false", field="enabled")
            found = await services.read(lambda conn: rule_store.get_rule(conn, rule_id))
            found = rule_changes.editable(found, rule_id)
            spec = rule_changes.validated({**rule_document(found.spec), "enabled": wanted == "true"})
        except ClientError as exc:
            return await rules_page(request, error=exc.message, status=exc.status)
        actor = caller_of(request).actor
        now = dash.now()
        await services.writer.run(
            lambda conn: rule_changes.update(conn, rule_id, spec, ["enabled"], actor, now)
        )
        await rule_changes.reload(services)
        done = "enabled" if wanted == "true" else "disabled"
        return RedirectResponse(f"/alerts/rules?done={done}", status_code=303)

    async def show_rules(request: Request) -> Response:
        return await rules_page(request)

    return [
        Route("/alerts/rules", show_rules, methods=["GET"]),
        Route("/alerts/rules", create_rule, methods=["POST"]),
        Route("/alerts/rules/new", new_rule, methods=["GET"]),
        Route("/alerts/rules/{rule_id}", show_rule, methods=["GET"]),
        Route("/alerts/rules/{rule_id}", save_rule, methods=["POST"]),
        Route("/alerts/rules/{rule_id}/delete", delete_rule, methods=["POST"]),
        Route("/alerts/rules/{rule_id}/enabled", set_enabled, methods=["POST"]),
        Route("/alerts/rules/{rule_id}/test", test_rule, methods=["POST"]),
    ]
