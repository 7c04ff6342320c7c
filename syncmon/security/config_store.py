"""Detector configurations in the store: one row per project and rule that differs from its
defaults; every change is written to the audit log in the same transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from syncmon.security.detector_config import RuleConfig, from_stored
from syncmon.security.registry import RULES
from syncmon.store.accounts import record_audit
from syncmon.store.schema import detector_configs

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredRule:
    config: RuleConfig
    updated_ms: int
    updated_by: str


def _rows(conn: Connection, project_id: int | None) -> dict[int, dict[str, StoredRule]]:
    t = detector_configs
    statement = sa.select(t)
    if project_id is not None:
        statement = statement.where(t.c.project_id == project_id)
    found: dict[int, dict[str, StoredRule]] = {}
    for row in conn.execute(statement.order_by(t.c.project_id, t.c.rule)):
        if row.rule not in RULES:
            log.warning("project %d: configuration of unknown rule %r ignored", row.project_id, row.rule)
            continue
        config, problems = from_stored(row.rule, row.enabled, dict(row.parameters or {}))
        for problem in problems:
            log.warning("project %d: stored detector configuration: %s", row.project_id, problem)
        found.setdefault(row.project_id, {})[row.rule] = StoredRule(config, row.updated_ms, row.updated_by)
    return found


def load_all(conn: Connection) -> dict[int, dict[str, RuleConfig]]:
    """Every project's configured rules (rules not listed run their defaults)."""
    return {
        project_id: {rule: stored.config for rule, stored in rules.items()}
        for project_id, rules in _rows(conn, None).items()
    }


def load_project(conn: Connection, project_id: int) -> dict[str, StoredRule]:
    return _rows(conn, project_id).get(project_id, {})


def save(
    conn: Connection, project_id: int, target: str, rule: str, config: RuleConfig, actor: str, now_ms: int
) -> None:
    """Store a rule's configuration (a default one deletes the row) and audit the change."""
    before = load_project(conn, project_id).get(rule)
    if config.is_default:
        _delete(conn, project_id, rule)
    else:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        values: dict[str, Any] = {
            "project_id": project_id,
            "rule": rule,
            "enabled": config.enabled,
            "parameters": dict(config.overrides),
            "updated_ms": now_ms,
            "updated_by": actor[:100],
        }
        statement = dialect.insert(detector_configs).values(**values)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["project_id", "rule"],
                set_={k: statement.excluded[k] for k in values if k not in ("project_id", "rule")},
            )
        )
    record_audit(
        conn,
        now_ms,
        actor,
        "detector.configure",
        f"{target}:{rule}",
        {"before": _audited(before.config if before else None), "after": _audited(config)},
    )


def reset(conn: Connection, project_id: int, target: str, rule: str, actor: str, now_ms: int) -> bool:
    """Back to the defaults; False when the rule had no configuration of its own."""
    before = load_project(conn, project_id).get(rule)
    if before is None:
        return False
    _delete(conn, project_id, rule)
    record_audit(
        conn, now_ms, actor, "detector.reset", f"{target}:{rule}", {"before": _audited(before.config)}
    )
    return True


def _delete(conn: Connection, project_id: int, rule: str) -> None:
    t = detector_configs
    conn.execute(t.delete().where(t.c.project_id == project_id, t.c.rule == rule))


def _audited(config: RuleConfig | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {"enabled": config.enabled, "parameters": dict(config.overrides)}
