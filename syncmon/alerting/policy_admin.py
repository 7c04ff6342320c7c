"""Writing and describing who gets told: escalation policies, routes and user contacts.

Values arrive validated; what needs the store to check (a project, a parent route, a
policy, a user that must exist; a route that would become its own ancestor; a policy
still in use) is checked here and refused with a ClientError naming the field.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting.routing import DEFAULT_GROUP_BY, DEFAULT_GROUP_INTERVAL_MS, DEFAULT_REPEAT_INTERVAL_MS
from syncmon.http_errors import ClientError
from syncmon.store.schema import alert_routes, escalation_policies, projects, user_contacts, users

# -- escalation policies ----------------------------------------------------------------


def describe_policy(row: Any, slug: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "project": slug,
        "default": row.is_default,
        "repeat": row.repeat,
        "levels": [
            {"timeout_seconds": level["timeout_ms"] // 1000, "targets": level["targets"]}
            for level in row.levels
        ],
    }


def _policies_query() -> sa.Select[Any]:
    return sa.select(escalation_policies, projects.c.slug).outerjoin(
        projects, projects.c.id == escalation_policies.c.project_id
    )


def list_policies(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(_policies_query().order_by(escalation_policies.c.id))
    return [describe_policy(row, row.slug) for row in rows]


def get_policy(conn: Connection, policy_id: int) -> dict[str, Any] | None:
    row = conn.execute(_policies_query().where(escalation_policies.c.id == policy_id)).first()
    return describe_policy(row, row.slug) if row else None


def check_users(conn: Connection, levels: list[dict[str, Any]]) -> list[str]:
    """Refuse unknown users; return warnings for users who cannot be reached as asked."""
    wanted = {t["user_id"] for level in levels for t in level["targets"] if t.get("user_id")}
    known = {row.id: row for row in conn.execute(sa.select(users).where(users.c.id.in_(wanted)))}
    phones = {
        row.user_id
        for row in conn.execute(
            sa.select(user_contacts.c.user_id).where(
                user_contacts.c.user_id.in_(wanted), user_contacts.c.kind == "phone"
            )
        )
    }
    warnings = []
    for i, level in enumerate(levels):
        for j, target in enumerate(level["targets"]):
            uid = target.get("user_id")
            if uid is None:
                continue
            if uid not in known:
                field = f"levels.{i}.targets.{j}.user_id"
                raise ClientError(400, f"{field}: there is no user {uid}", field=field)
            if known[uid].disabled:
                warnings.append(
                    f"levels.{i}.targets.{j}: user {known[uid].email} is disabled and will not be paged"
                )
            if target.get("contact") == "phone" and uid not in phones:
                warnings.append(
                    f"levels.{i}.targets.{j}: user {known[uid].email} has no phone number yet "
                    "(add one with POST /api/v1/user-contacts)"
                )
    return warnings


def save_policy(conn: Connection, policy_id: int | None, values: dict[str, Any], now_ms: int) -> int | None:
    """Create or replace; a new default clears the previous default of the same project."""
    if values["is_default"]:
        same_project = (
            escalation_policies.c.project_id.is_(None)
            if values["project_id"] is None
            else escalation_policies.c.project_id == values["project_id"]
        )
        conn.execute(
            escalation_policies.update()
            .where(
                same_project, escalation_policies.c.is_default, escalation_policies.c.id != (policy_id or 0)
            )
            .values(is_default=False, updated_ms=now_ms)
        )
    if policy_id is None:
        result = conn.execute(
            escalation_policies.insert().values(**values, created_ms=now_ms, updated_ms=now_ms)
        )
        return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    result = conn.execute(
        escalation_policies.update()
        .where(escalation_policies.c.id == policy_id)
        .values(**values, updated_ms=now_ms)
    )
    return policy_id if result.rowcount else None


def delete_policy(conn: Connection, policy_id: int) -> bool:
    used = (
        conn.execute(sa.select(alert_routes.c.id).where(alert_routes.c.policy_id == policy_id))
        .scalars()
        .all()
    )
    if used:
        raise ClientError(
            409, f"policy {policy_id} is used by route {', '.join(map(str, used))}; change those routes first"
        )
    return bool(
        conn.execute(escalation_policies.delete().where(escalation_policies.c.id == policy_id)).rowcount
    )


# -- routes -----------------------------------------------------------------------------


def _s(ms: int | None) -> float | None:
    return ms / 1000 if ms is not None else None


def describe_route(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "parent_id": row.parent_id,
        "position": row.position,
        "matchers": row.matchers,
        "continue": row.continue_matching,
        "group_by": row.group_by,
        "group_wait_seconds": _s(row.group_wait_ms),
        "group_interval_seconds": _s(row.group_interval_ms),
        "repeat_interval_seconds": _s(row.repeat_interval_ms),
        "policy_id": row.policy_id,
    }


def route_tree(conn: Connection) -> dict[str, Any]:
    """The built-in root with every stored route nested under it, in matching order."""
    rows = conn.execute(sa.select(alert_routes).order_by(alert_routes.c.position, alert_routes.c.id)).all()
    children: dict[int | None, list[dict[str, Any]]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(describe_route(row))
    for items in children.values():
        for item in items:
            item["routes"] = children.get(item["id"], [])
    return {
        "id": 0,
        "name": "default",
        "builtin": True,
        "group_by": list(DEFAULT_GROUP_BY),
        "group_wait_seconds": None,
        "group_wait_by_severity": {"critical": 0, "warning": 30, "info": 30},
        "group_interval_seconds": DEFAULT_GROUP_INTERVAL_MS / 1000,
        "repeat_interval_seconds": DEFAULT_REPEAT_INTERVAL_MS / 1000,
        "policy_id": None,
        "policy": "the project's default escalation policy",
        "routes": children.get(None, []),
    }


def get_route(conn: Connection, route_id: int) -> Any:
    return conn.execute(sa.select(alert_routes).where(alert_routes.c.id == route_id)).first()


def _ancestry(conn: Connection, parent_id: int | None) -> list[Any]:
    """The parent chain from `parent_id` up to the root (nearest first)."""
    chain: list[Any] = []
    seen: set[int] = set()
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        row = get_route(conn, parent_id)
        if row is None:
            break
        chain.append(row)
        parent_id = row.parent_id
    return chain


def check_route(conn: Connection, route_id: int | None, values: dict[str, Any]) -> None:
    parent_id = values["parent_id"]
    chain = _ancestry(conn, parent_id)
    if parent_id is not None and not chain:
        raise ClientError(400, f"parent_id: there is no route {parent_id}", field="parent_id")
    if route_id is not None and any(row.id == route_id for row in chain):
        raise ClientError(400, "parent_id: a route cannot be placed below itself", field="parent_id")
    policy_id = values["policy_id"]
    if policy_id is not None and get_policy(conn, policy_id) is None:
        raise ClientError(400, f"policy_id: there is no escalation policy {policy_id}", field="policy_id")
    interval, repeat = values["group_interval_ms"], values["repeat_interval_ms"]
    for row in chain:  # inherited values, nearest first
        interval = interval if interval is not None else row.group_interval_ms
        repeat = repeat if repeat is not None else row.repeat_interval_ms
    interval = interval if interval is not None else DEFAULT_GROUP_INTERVAL_MS
    repeat = repeat if repeat is not None else DEFAULT_REPEAT_INTERVAL_MS
    if repeat < interval:
        raise ClientError(
            400,
            f"repeat_interval_seconds: {repeat // 1000} is shorter than this route's group_interval "
            f"({interval // 1000} s); a group cannot repeat more often than it is flushed",
            field="repeat_interval_seconds",
        )


def save_route(conn: Connection, route_id: int | None, values: dict[str, Any], now_ms: int) -> int | None:
    check_route(conn, route_id, values)
    if values["position"] is None:
        siblings = sa.select(sa.func.max(alert_routes.c.position)).where(
            alert_routes.c.parent_id.is_(None)
            if values["parent_id"] is None
            else alert_routes.c.parent_id == values["parent_id"]
        )
        highest = conn.execute(siblings).scalar()
        values = {**values, "position": 0 if highest is None else int(highest) + 1}
    if route_id is None:
        result = conn.execute(alert_routes.insert().values(**values, created_ms=now_ms, updated_ms=now_ms))
        return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    result = conn.execute(
        alert_routes.update().where(alert_routes.c.id == route_id).values(**values, updated_ms=now_ms)
    )
    return route_id if result.rowcount else None


def delete_route(conn: Connection, route_id: int) -> bool:
    children = (
        conn.execute(sa.select(alert_routes.c.id).where(alert_routes.c.parent_id == route_id)).scalars().all()
    )
    if children:
        raise ClientError(
            409,
            f"route {route_id} has child routes ({', '.join(map(str, children))}); delete or move them first",
        )
    return bool(conn.execute(alert_routes.delete().where(alert_routes.c.id == route_id)).rowcount)


# -- user contacts ----------------------------------------------------------------------


def describe_contact(row: Any) -> dict[str, Any]:
    return {"id": row.id, "user_id": row.user_id, "kind": row.kind, "value": row.value}


def list_contacts(conn: Connection, user_id: int | None) -> list[dict[str, Any]]:
    query = sa.select(user_contacts).order_by(user_contacts.c.id)
    if user_id is not None:
        query = query.where(user_contacts.c.user_id == user_id)
    return [describe_contact(row) for row in conn.execute(query)]


def set_contact(conn: Connection, user_id: int, kind: str, value: str, now_ms: int) -> dict[str, Any]:
    """Add or replace the user's contact of this kind."""
    if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is None:
        raise ClientError(400, f"user_id: there is no user {user_id}", field="user_id")
    where = (user_contacts.c.user_id == user_id, user_contacts.c.kind == kind)
    if conn.execute(user_contacts.update().where(*where).values(value=value)).rowcount == 0:
        conn.execute(
            user_contacts.insert().values(user_id=user_id, kind=kind, value=value, created_ms=now_ms)
        )
    return describe_contact(conn.execute(sa.select(user_contacts).where(*where)).one())


def delete_contact(conn: Connection, contact_id: int) -> bool:
    return bool(conn.execute(user_contacts.delete().where(user_contacts.c.id == contact_id)).rowcount)
