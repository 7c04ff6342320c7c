"""Writing and describing what mutes alerts: silences, maintenance windows, inhibition rules.

Thin SQL for the configuration API; values arrive validated (syncmon.web.alerting_payloads)
and times as epoch milliseconds. Descriptions give times as epoch seconds, like the rest
of the API.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting import config_store
from syncmon.alerting.inhibition import DEFAULT_RULE
from syncmon.alerting.matcher_codec import matcher_text, matchers_from_json, matchers_to_json
from syncmon.alerting.silences import expire
from syncmon.store.schema import inhibit_rules, maintenance_windows, projects, silences

SILENCE_STATES = ("pending", "active", "expired")


def _s(ms: int | None) -> float | None:
    return ms / 1000.0 if ms is not None else None


def _matchers_out(raw: list[dict[str, Any]]) -> dict[str, Any]:
    return {"matchers": raw, "matchers_text": [matcher_text(m) for m in matchers_from_json(raw)]}


# -- silences ---------------------------------------------------------------------------


def describe_silence(row: Any, now_ms: int) -> dict[str, Any]:
    silence = config_store.silence_from_row(row)
    return {
        "id": row.id,
        **_matchers_out(row.matchers),
        "starts_at": _s(row.starts_ms),
        "ends_at": _s(row.ends_ms),
        "state": silence.state(now_ms).value,
        "created_by": row.created_by,
        "comment": row.comment,
        "expire_on_resolve": row.expire_on_resolve,
        "has_matched": row.matched_ms is not None,
        "expired_reason": row.expired_reason,
        "created_at": _s(row.created_ms),
    }


def create_silence(conn: Connection, values: dict[str, Any], now_ms: int) -> int:
    result = conn.execute(
        silences.insert().values(
            **values,
            matched_ms=None,
            expired_reason=None,
            expiry_announced=False,
            created_ms=now_ms,
            updated_ms=now_ms,
        )
    )
    return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0


def get_silence(conn: Connection, silence_id: int) -> Any:
    return conn.execute(sa.select(silences).where(silences.c.id == silence_id)).first()


def list_silences(conn: Connection, state: str | None, now_ms: int, limit: int) -> list[dict[str, Any]]:
    query = sa.select(silences).order_by(silences.c.id.desc()).limit(limit)
    if state == "expired":
        query = query.where(silences.c.ends_ms <= now_ms)
    elif state == "active":
        query = query.where(silences.c.starts_ms <= now_ms, silences.c.ends_ms > now_ms)
    elif state == "pending":
        query = query.where(silences.c.starts_ms > now_ms)
    return [describe_silence(row, now_ms) for row in conn.execute(query)]


def expire_silence(conn: Connection, silence_id: int, actor: str, now_ms: int) -> dict[str, Any] | None:
    """End a silence now (a pending one never starts); None if there is no such silence."""
    row = get_silence(conn, silence_id)
    if row is None:
        return None
    before = config_store.silence_from_row(row)
    after = expire(before, now_ms)
    if after != before:
        conn.execute(
            silences.update()
            .where(silences.c.id == silence_id)
            .values(
                starts_ms=after.starts_ms,
                ends_ms=after.ends_ms,
                expired_reason=f"expired by {actor}",
                updated_ms=now_ms,
            )
        )
    return describe_silence(get_silence(conn, silence_id), now_ms)


# -- maintenance windows ----------------------------------------------------------------


def describe_window(row: Any, slug: str, now_ms: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "project": slug,
        "name": row.name,
        **_matchers_out(row.matchers),
        "starts_at": _s(row.starts_ms),
        "ends_at": _s(row.ends_ms),
        "weekly": row.weekly,
        "timezone": row.timezone,
        "until": _s(row.until_ms),
        "active": config_store.window_from_row(row).active_at(now_ms),
        "created_by": row.created_by,
    }


def _windows_query() -> sa.Select[Any]:
    return sa.select(maintenance_windows, projects.c.slug).join(
        projects, projects.c.id == maintenance_windows.c.project_id
    )


def list_windows(conn: Connection, project_id: int | None, now_ms: int) -> list[dict[str, Any]]:
    query = _windows_query().order_by(maintenance_windows.c.id)
    if project_id is not None:
        query = query.where(maintenance_windows.c.project_id == project_id)
    return [describe_window(row, row.slug, now_ms) for row in conn.execute(query)]


def get_window(conn: Connection, window_id: int, now_ms: int) -> dict[str, Any] | None:
    row = conn.execute(_windows_query().where(maintenance_windows.c.id == window_id)).first()
    return describe_window(row, row.slug, now_ms) if row else None


def save_window(conn: Connection, window_id: int | None, values: dict[str, Any], now_ms: int) -> int | None:
    """Create (window_id None) or replace a window; None if the window to replace does not exist."""
    if window_id is None:
        result = conn.execute(
            maintenance_windows.insert().values(**values, created_ms=now_ms, updated_ms=now_ms)
        )
        return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    values = {k: v for k, v in values.items() if k != "created_by"}
    result = conn.execute(
        maintenance_windows.update()
        .where(maintenance_windows.c.id == window_id)
        .values(**values, updated_ms=now_ms)
    )
    return window_id if result.rowcount else None


def delete_window(conn: Connection, window_id: int) -> bool:
    return bool(
        conn.execute(maintenance_windows.delete().where(maintenance_windows.c.id == window_id)).rowcount
    )


# -- inhibition rules -------------------------------------------------------------------


def describe_rule(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "builtin": False,
        "source_matchers": row.source_matchers,
        "target_matchers": row.target_matchers,
        "equal": list(row.equal),
        "comment": row.comment,
        "created_by": row.created_by,
    }


def builtin_rule() -> dict[str, Any]:
    return {
        "id": DEFAULT_RULE.id,
        "builtin": True,
        "source_matchers": matchers_to_json(DEFAULT_RULE.source),
        "target_matchers": matchers_to_json(DEFAULT_RULE.target),
        "equal": list(DEFAULT_RULE.equal),
        "comment": DEFAULT_RULE.comment,
        "created_by": "system",
    }


def list_rules(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(inhibit_rules).order_by(inhibit_rules.c.id))
    return [builtin_rule(), *(describe_rule(row) for row in rows)]


def get_rule(conn: Connection, rule_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(inhibit_rules).where(inhibit_rules.c.id == rule_id)).first()
    return describe_rule(row) if row else None


def save_rule(conn: Connection, rule_id: int | None, values: dict[str, Any], now_ms: int) -> int | None:
    if rule_id is None:
        result = conn.execute(inhibit_rules.insert().values(**values, created_ms=now_ms))
        return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    values = {k: v for k, v in values.items() if k != "created_by"}
    result = conn.execute(inhibit_rules.update().where(inhibit_rules.c.id == rule_id).values(**values))
    return rule_id if result.rowcount else None


def delete_rule(conn: Connection, rule_id: int) -> bool:
    return bool(conn.execute(inhibit_rules.delete().where(inhibit_rules.c.id == rule_id)).rowcount)
