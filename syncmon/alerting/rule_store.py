"""Alert rules in the store (table alert_rules): one row per rule of one project.

A row keeps the validated definition as JSON (`spec`), with its name, kind, severity and
enabled flag beside it for listing. `source` says who owns the rule: `default` (seeded for
every project, key `default:<name>`), `file` (provisioned from a rules.yaml, key
`file:<name>`, replaced as a set) or `api`. Deleting a default rule leaves a tombstone
(`deleted_ms`), so seeding the defaults again at the next start does not bring it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting.spec import RuleError, parse_rule, rule_document
from syncmon.store.schema import alert_rules, projects

SOURCES = ("default", "file", "api")


@dataclass(frozen=True, slots=True)
class StoredRule:
    id: int
    project_id: int
    project: str  # the project's slug
    source: str
    key: str | None
    spec: Any  # a validated rule model (syncmon.alerting.spec)
    created_ms: int
    updated_ms: int

    @property
    def name(self) -> str:
        return str(self.spec.name)

    @property
    def enabled(self) -> bool:
        return bool(self.spec.enabled)

    def signature(self) -> bytes:
        """What decides how the rule evaluates: a changed signature means fresh windows."""
        return orjson.dumps(
            [self.project_id, self.project, rule_document(self.spec)], option=orjson.OPT_SORT_KEYS
        )

    def describe(self) -> dict[str, Any]:
        """The rule as the API and `syncmon rules list --json` show it: where it comes from,
        and its definition as written (the fields of rules.yaml)."""
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "source": self.source,
            "enabled": self.enabled,
            "created_at": self.created_ms / 1000,
            "updated_at": self.updated_ms / 1000,
            "definition": rule_document(self.spec),
        }


def _select() -> sa.Select[Any]:
    r = alert_rules
    return sa.select(r, projects.c.slug).join(projects, projects.c.id == r.c.project_id)


def _from_row(row: Any) -> StoredRule:
    return StoredRule(
        id=int(row.id),
        project_id=int(row.project_id),
        project=row.slug,
        source=row.source,
        key=row.key,
        spec=parse_rule(dict(row.spec)),
        created_ms=int(row.created_ms),
        updated_ms=int(row.updated_ms),
    )


def load_rules(conn: Connection, project_id: int | None = None) -> tuple[list[StoredRule], list[str]]:
    """Every live rule (tombstones left out), and a message per stored rule that no longer
    validates (a definition from an older version), which is skipped rather than fatal."""
    statement = _select().where(alert_rules.c.deleted_ms.is_(None)).order_by(alert_rules.c.id)
    if project_id is not None:
        statement = statement.where(alert_rules.c.project_id == project_id)
    found: list[StoredRule] = []
    problems: list[str] = []
    for row in conn.execute(statement):
        try:
            found.append(_from_row(row))
        except RuleError as exc:
            problems.append(f"rule {row.id} ({row.name}): {exc}")
    return found, problems


def list_rules(conn: Connection, project_id: int | None = None) -> list[StoredRule]:
    return load_rules(conn, project_id)[0]


def get_rule(conn: Connection, rule_id: int) -> StoredRule | None:
    row = conn.execute(
        _select().where(alert_rules.c.id == rule_id, alert_rules.c.deleted_ms.is_(None))
    ).first()
    return _from_row(row) if row else None


def _stamp(conn: Connection, now_ms: int) -> int:
    """A change time above every stored one, so `rules_version` changes with every change
    even within one millisecond."""
    latest = conn.execute(sa.select(sa.func.max(alert_rules.c.updated_ms))).scalar()
    return max(now_ms, int(latest or 0) + 1)


def _values(spec: Any) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": spec.kind,
        "severity": spec.severity.value,
        "enabled": bool(spec.enabled),
        "spec": rule_document(spec),
    }


def create_rule(
    conn: Connection, project_id: int, spec: Any, now_ms: int, *, source: str = "api", key: str | None = None
) -> StoredRule:
    result = conn.execute(
        alert_rules.insert().values(
            project_id=project_id,
            key=key,
            source=source,
            created_ms=now_ms,
            updated_ms=_stamp(conn, now_ms),
            deleted_ms=None,
            **_values(spec),
        )
    )
    rule_id = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    created = get_rule(conn, rule_id)
    assert created is not None
    return created


def update_rule(conn: Connection, rule_id: int, spec: Any, now_ms: int) -> StoredRule | None:
    conn.execute(
        alert_rules.update()
        .where(alert_rules.c.id == rule_id, alert_rules.c.deleted_ms.is_(None))
        .values(updated_ms=_stamp(conn, now_ms), **_values(spec))
    )
    return get_rule(conn, rule_id)


def delete_rule(conn: Connection, rule_id: int, now_ms: int) -> bool:
    """Delete a rule; a default rule is tombstoned so the next start does not re-create it."""
    found = get_rule(conn, rule_id)
    if found is None:
        return False
    if found.source == "default":
        conn.execute(
            alert_rules.update()
            .where(alert_rules.c.id == rule_id)
            .values(deleted_ms=now_ms, updated_ms=_stamp(conn, now_ms))
        )
    else:
        conn.execute(alert_rules.delete().where(alert_rules.c.id == rule_id))
    return True


def keyed_rules(conn: Connection, source: str) -> dict[tuple[int, str], tuple[int, bytes, int | None]]:
    """(project id, key) → (rule id, stored spec as canonical JSON, deleted_ms) of a source."""
    r = alert_rules
    rows = conn.execute(
        sa.select(r.c.id, r.c.project_id, r.c.key, r.c.spec, r.c.deleted_ms).where(
            r.c.source == source, r.c.key.is_not(None)
        )
    )
    return {
        (int(row.project_id), str(row.key)): (
            int(row.id),
            orjson.dumps(row.spec, option=orjson.OPT_SORT_KEYS),
            row.deleted_ms,
        )
        for row in rows
    }


def keys_of_project(conn: Connection, project_id: int) -> set[str]:
    """Keys a project already has, tombstones included."""
    r = alert_rules
    rows = conn.execute(sa.select(r.c.key).where(r.c.project_id == project_id, r.c.key.is_not(None)))
    return {str(row.key) for row in rows}


def delete_ids(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        conn.execute(alert_rules.delete().where(alert_rules.c.id.in_(list(ids))))


def rules_version(conn: Connection) -> tuple[int, int, int]:
    """Changes whenever a rule is added, changed or deleted (the engine polls it to pick up
    rules changed by another process, such as `syncmon rules apply`)."""
    r = alert_rules
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.max(r.c.updated_ms), 0),
            sa.func.coalesce(sa.func.max(r.c.id), 0),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])
