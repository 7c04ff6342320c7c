"""Changing alert rules, one way for the API and the dashboard: the same checks, the same
writes, the same audit rows.

A definition is validated by `spec.parse_rule` (the format of rules.yaml and of the API's
bodies); rules from the rules file are changed in the file, never here (409); every
change is written with its audit-log row in one transaction and then handed to the engine.
The dashboard's rule form sends the definition as a YAML (or JSON) document, read here by
`document_from_text`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy.engine import Connection

from syncmon.alerting import rule_store
from syncmon.alerting.spec import RuleError, parse_rule, rule_document
from syncmon.http_errors import ClientError
from syncmon.store import accounts, projects

if TYPE_CHECKING:
    from syncmon.app import Services

log = logging.getLogger(__name__)
FIXED_FIELDS = ("project", "id", "source", "created_at", "updated_at")


def validated(body: dict[str, Any]) -> Any:
    """The rule model of a definition, or a 400 naming the first bad field."""
    try:
        return parse_rule(body)
    except RuleError as exc:
        raise ClientError(400, str(exc), field=exc.field) from None


def refuse_fixed(body: dict[str, Any]) -> None:
    """A change may not move a rule to another project or rewrite what the store owns."""
    for fixed in FIXED_FIELDS:
        if fixed in body:
            raise ClientError(400, f"{fixed}: cannot be changed", field=fixed)


def project_of(conn: Connection, ref: Any) -> projects.Project:
    """The project a new rule belongs to, named by slug or id."""
    if not isinstance(ref, str | int) or isinstance(ref, bool) or str(ref) == "":
        raise ClientError(400, "project: required (a project slug or id)", field="project")
    found = projects.find_project(conn, str(ref))
    if found is None:
        raise ClientError(404, f"project {str(ref)[:64]!r} not found", field="project")
    return found


def editable(found: rule_store.StoredRule | None, rule_id: int) -> rule_store.StoredRule:
    if found is None:
        raise ClientError(404, f"rule {rule_id} not found")
    if found.source == "file":
        raise ClientError(
            409,
            f"rule {rule_id} comes from the rules file; change it there and apply the file",
            reason="conflict",
        )
    return found


def changed_fields(before: Any, after: Any) -> list[str]:
    """The top-level fields of the definition a replacement changes (added, altered, removed)."""
    old, new = rule_document(before), rule_document(after)
    return sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))


def create(
    conn: Connection, project: projects.Project, spec: Any, actor: str, now: int
) -> rule_store.StoredRule:
    created = rule_store.create_rule(conn, project.id, spec, now, source="api")
    accounts.record_audit(
        conn, now, actor, "alert_rule.create", str(created.id), {"project": project.slug, "name": spec.name}
    )
    return created


def update(
    conn: Connection, rule_id: int, spec: Any, fields: list[str], actor: str, now: int
) -> rule_store.StoredRule | None:
    updated = rule_store.update_rule(conn, rule_id, spec, now)
    accounts.record_audit(conn, now, actor, "alert_rule.update", str(rule_id), {"fields": fields})
    return updated


def delete(conn: Connection, found: rule_store.StoredRule, actor: str, now: int) -> bool:
    deleted = rule_store.delete_rule(conn, found.id, now)
    accounts.record_audit(conn, now, actor, "alert_rule.delete", str(found.id), {"name": found.name})
    return deleted


async def reload(services: Services) -> None:
    """Let the engine pick the change up now (the tick would, within seconds, anyway)."""
    try:
        await services.alerts.reload()
    except Exception:
        log.exception("alert engine could not reload the rules; the next tick will")


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors and aliases: a small form cannot then expand into a huge document."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(problem="aliases (*name) are not allowed here", problem_mark=mark)
        return super().compose_node(parent, index)


def document_from_text(text: str) -> dict[str, Any]:
    """A rule definition written as YAML or JSON (JSON is YAML), or a 400 saying where it breaks."""
    if not text.strip():
        raise ClientError(
            400, "definition: empty; write the rule's fields (name, kind, …)", field="definition"
        )
    try:
        document = yaml.load(text, Loader=_NoAliases)  # a SafeLoader: plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ClientError(400, f"definition: not valid YAML{where}: {problem}", field="definition") from None
    if not isinstance(document, dict):
        raise ClientError(
            400, "definition: expected a mapping of rule fields (name: …, kind: …)", field="definition"
        )
    return document


def document_text(spec: Any) -> str:
    """A rule's definition as the YAML the form shows: name and kind first, then the rest."""
    document = rule_document(spec)
    ordered: dict[str, Any] = {key: document[key] for key in ("name", "kind") if key in document}
    ordered.update((key, value) for key, value in document.items() if key not in ordered)
    text: str = yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return text
