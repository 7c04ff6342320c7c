"""Rules from a file (rules.yaml), so alerting can live in git next to the application.

    project: syncscript            # the project of rules that name none
    rules:
      - name: checkout_failures
        kind: count
        select: {kind: error, names: ["CheckoutError*"]}
        window: 5m
        threshold: 3
        severity: critical

Applying a file makes the store's file rules (source `file`) exactly the file's: rules
are matched by project and name (key `file:<name>`), so an unchanged rule keeps its id,
windows and alerts; changed ones are updated, missing ones created, and file rules the
file no longer has are deleted. Rules created through the API and the default rules are
never touched. The whole file is validated before anything is written: one bad rule and
nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from sqlalchemy.engine import Connection

from syncmon.alerting import rule_store
from syncmon.alerting.spec import RuleError, parse_rule, rule_document
from syncmon.store.projects import find_project


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.deleted)} deleted, {len(self.unchanged)} unchanged"
        )


def read_rules_file(path: str | Path) -> Any:
    """The YAML document of a rules file; RuleError for a missing or malformed one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleError(f"rules file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise RuleError(f"rules file {str(path)!r} cannot be read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(f"rules file {str(path)!r}{where}: not valid YAML: {problem}") from None


def parse_document(conn: Connection, document: Any) -> list[tuple[int, str, Any]]:
    """(project id, project slug, validated rule) for every rule of the document."""
    if document is None:
        document = {"rules": []}
    if not isinstance(document, dict):
        raise RuleError("the rules file must be a mapping with a `rules` list")
    unknown = set(document) - {"project", "rules"}
    if unknown:
        raise RuleError(f"{sorted(unknown)[0]}: not a field of a rules file (use project and rules)")
    rules = document.get("rules") or []
    if not isinstance(rules, list):
        raise RuleError("rules: expected a list of rules")
    default_project = document.get("project")
    slugs: dict[str, tuple[int, str]] = {}
    parsed: list[tuple[int, str, Any]] = []
    seen: set[tuple[int, str]] = set()
    for index, raw in enumerate(rules):
        where = f"rules[{index}]."
        if not isinstance(raw, dict):
            raise RuleError(f"rules[{index}]: expected a mapping of rule fields", f"rules[{index}]")
        body = dict(raw)
        ref = body.pop("project", default_project)
        if not isinstance(ref, str | int) or isinstance(ref, bool) or str(ref) == "":
            raise RuleError(f"{where}project: required (here or at the top of the file)", f"{where}project")
        if str(ref) not in slugs:
            project = find_project(conn, str(ref))
            if project is None:
                raise RuleError(f"{where}project: no project {str(ref)[:64]!r}", f"{where}project")
            slugs[str(ref)] = (project.id, project.slug)
        project_id, slug = slugs[str(ref)]
        spec = parse_rule(body, where)
        if (project_id, spec.name) in seen:
            raise RuleError(f"{where}name: {spec.name!r} appears twice for project {slug!r}", f"{where}name")
        seen.add((project_id, spec.name))
        parsed.append((project_id, slug, spec))
    return parsed


def apply_document(conn: Connection, document: Any, now_ms: int, *, dry_run: bool = False) -> ApplyResult:
    """Make the store's file rules those of `document` (in the caller's transaction)."""
    parsed = parse_document(conn, document)
    existing = rule_store.keyed_rules(conn, "file")
    result = ApplyResult()
    wanted: set[tuple[int, str]] = set()
    for project_id, slug, spec in parsed:
        key = f"file:{spec.name}"
        wanted.add((project_id, key))
        label = f"{slug}/{spec.name}"
        found = existing.get((project_id, key))
        if found is None:
            result.created.append(label)
            if not dry_run:
                rule_store.create_rule(conn, project_id, spec, now_ms, source="file", key=key)
            continue
        rule_id, stored, _ = found
        if stored == orjson.dumps(rule_document(spec), option=orjson.OPT_SORT_KEYS):
            result.unchanged.append(label)
            continue
        result.updated.append(label)
        if not dry_run:
            rule_store.update_rule(conn, rule_id, spec, now_ms)
    doomed = sorted((ident, key) for key, (ident, _, _) in existing.items() if key not in wanted)
    for _, (project_id, key) in doomed:
        result.deleted.append(f"project {project_id}/{key.removeprefix('file:')}")
    if not dry_run:
        rule_store.delete_ids(conn, [ident for ident, _ in doomed])
    return result


def apply_file(conn: Connection, path: str | Path, now_ms: int, *, dry_run: bool = False) -> ApplyResult:
    return apply_document(conn, read_rules_file(path), now_ms, dry_run=dry_run)
