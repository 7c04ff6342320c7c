"""Reads the alerting configuration from the store into the pure types the decisions take.

Everything is read inside the transaction that acts on it, so an edit made through the
API takes effect at the next handle or tick without any cache to invalidate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting.escalation import Contact, Level, Policy, Target
from syncmon.alerting.inhibition import DEFAULT_RULE, InhibitRule
from syncmon.alerting.maintenance import MaintenanceWindow
from syncmon.alerting.matcher_codec import matchers_from_json
from syncmon.alerting.muting import MuteConfig
from syncmon.alerting.routing import RouteNode, build_tree
from syncmon.alerting.silences import Silence
from syncmon.store.schema import (
    alert_routes,
    escalation_policies,
    inhibit_rules,
    maintenance_windows,
    projects,
    silences,
)


@dataclass(frozen=True, slots=True)
class AlertingConfig:
    routes: RouteNode
    mutes: MuteConfig
    project_ids: dict[str, int] = field(default_factory=dict)  # slug and str(id) → id

    def project_id(self, labels: dict[str, str]) -> int | None:
        return self.project_ids.get(labels.get("project", ""))


def route_node(row: Any) -> RouteNode:
    return RouteNode(
        id=row.id,
        name=row.name,
        matchers=matchers_from_json(row.matchers),
        continue_matching=row.continue_matching,
        group_by=tuple(row.group_by) if row.group_by is not None else None,
        group_wait_ms=row.group_wait_ms,
        group_interval_ms=row.group_interval_ms,
        repeat_interval_ms=row.repeat_interval_ms,
        policy_id=row.policy_id,
    )


def load_routes(conn: Connection) -> RouteNode:
    rows = conn.execute(sa.select(alert_routes)).all()
    return build_tree([(row.parent_id, row.position, route_node(row)) for row in rows])


def silence_from_row(row: Any) -> Silence:
    return Silence(
        id=row.id,
        matchers=matchers_from_json(row.matchers),
        starts_ms=row.starts_ms,
        ends_ms=row.ends_ms,
        created_by=row.created_by,
        comment=row.comment,
        expire_on_resolve=row.expire_on_resolve,
        matched_ms=row.matched_ms,
    )


def inhibit_rule_from_row(row: Any) -> InhibitRule:
    return InhibitRule(
        id=row.id,
        source=matchers_from_json(row.source_matchers),
        target=matchers_from_json(row.target_matchers),
        equal=tuple(row.equal),
        comment=row.comment,
    )


def window_from_row(row: Any) -> MaintenanceWindow:
    return MaintenanceWindow(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        starts_ms=row.starts_ms,
        ends_ms=row.ends_ms,
        matchers=matchers_from_json(row.matchers),
        weekly=row.weekly,
        timezone=row.timezone,
        until_ms=row.until_ms,
    )


def load_config(conn: Connection, now_ms: int) -> AlertingConfig:
    live_silences = conn.execute(sa.select(silences).where(silences.c.ends_ms > now_ms)).all()
    rules = conn.execute(sa.select(inhibit_rules).order_by(inhibit_rules.c.id)).all()
    windows = conn.execute(
        sa.select(maintenance_windows).where(
            sa.or_(maintenance_windows.c.weekly, maintenance_windows.c.ends_ms > now_ms)
        )
    ).all()
    project_ids: dict[str, int] = {}
    for pid, slug in conn.execute(sa.select(projects.c.id, projects.c.slug)):
        project_ids[slug] = pid
        project_ids[str(pid)] = pid
    return AlertingConfig(
        routes=load_routes(conn),
        mutes=MuteConfig(
            silences=[silence_from_row(r) for r in live_silences],
            inhibit_rules=[DEFAULT_RULE, *(inhibit_rule_from_row(r) for r in rules)],
            maintenance=[window_from_row(r) for r in windows],
        ),
        project_ids=project_ids,
    )


def policy_from_row(row: Any) -> Policy:
    levels = tuple(
        Level(
            int(level["timeout_ms"]),
            tuple(
                Target(int(t["channel_id"]), t.get("user_id"), Contact(t.get("contact", "email")))
                for t in level["targets"]
            ),
        )
        for level in row.levels
    )
    return Policy(row.id, row.name, levels, row.repeat)


def policy_for(conn: Connection, policy_id: int | None, project_id: int | None) -> Policy | None:
    """The route's policy if it names one (and it still exists), else the project's default,
    else the default for every project; None when there is none at all."""
    if policy_id is not None:
        row = conn.execute(
            sa.select(escalation_policies).where(escalation_policies.c.id == policy_id)
        ).first()
        if row is not None:
            return policy_from_row(row)
    defaults = conn.execute(
        sa.select(escalation_policies)
        .where(
            escalation_policies.c.is_default,
            sa.or_(
                escalation_policies.c.project_id == project_id, escalation_policies.c.project_id.is_(None)
            ),
        )
        .order_by(escalation_policies.c.project_id.is_(None), escalation_policies.c.id)
    ).first()
    return policy_from_row(defaults) if defaults is not None else None
