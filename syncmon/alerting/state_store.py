"""Alert states and their history in the store (tables alert_states, alert_history).

The engine writes a transition's new state and its history row in one transaction before
it hands the transition to routing, and marks the history row `notified` afterwards. So
after a crash a state is never ahead of what was recorded, and a transition recorded but
not yet handed over is handed over at the next start (at least once, never lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from syncmon.alerting.model import Alert, AlertState, Transition
from syncmon.alerting.state import AlertRecord
from syncmon.store.schema import alert_history, alert_states

_STATE_KEY = ("rule_id", "fingerprint")
_STATE_VALUES = (
    "labels",
    "annotations",
    "state",
    "active_since_ms",
    "fired_ms",
    "last_true_ms",
    "resolved_ms",
    "value",
    "last_eval_ms",
)


def _state_row(record: AlertRecord) -> dict[str, Any]:
    return {
        "rule_id": record.rule_id,
        "fingerprint": record.fingerprint,
        "labels": record.labels,
        "annotations": record.annotations,
        "state": record.state.value,
        "active_since_ms": record.active_since_ms,
        "fired_ms": record.fired_ms,
        "last_true_ms": record.last_true_ms,
        "resolved_ms": record.resolved_ms,
        "value": record.value,
        "last_eval_ms": record.last_eval_ms,
    }


def load_states(conn: Connection) -> list[AlertRecord]:
    rows = conn.execute(sa.select(alert_states).order_by(alert_states.c.rule_id, alert_states.c.fingerprint))
    return [
        AlertRecord(
            rule_id=int(row.rule_id),
            fingerprint=row.fingerprint,
            labels=dict(row.labels),
            annotations=dict(row.annotations),
            state=AlertState(row.state),
            active_since_ms=int(row.active_since_ms),
            fired_ms=row.fired_ms,
            last_true_ms=row.last_true_ms,
            resolved_ms=row.resolved_ms,
            value=row.value,
            last_eval_ms=int(row.last_eval_ms),
        )
        for row in rows
    ]


def save_states(conn: Connection, records: Sequence[AlertRecord], gone: Iterable[tuple[int, str]]) -> None:
    """Upsert `records` (in key order, so concurrent writers cannot deadlock) and delete `gone`."""
    doomed = sorted(set(gone))
    for start in range(0, len(doomed), 200):
        chunk = doomed[start : start + 200]
        conn.execute(
            alert_states.delete().where(
                sa.or_(
                    *(
                        sa.and_(alert_states.c.rule_id == rule_id, alert_states.c.fingerprint == fp)
                        for rule_id, fp in chunk
                    )
                )
            )
        )
    if not records:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(alert_states)
    statement = statement.on_conflict_do_update(
        index_elements=list(_STATE_KEY), set_={name: statement.excluded[name] for name in _STATE_VALUES}
    )
    conn.execute(statement, [_state_row(r) for r in sorted(records, key=lambda r: r.key)])


def delete_states_of_rules(conn: Connection, rule_ids: Sequence[int]) -> None:
    if rule_ids:
        conn.execute(alert_states.delete().where(alert_states.c.rule_id.in_(list(rule_ids))))


def record_history(
    conn: Connection, transitions: Sequence[Transition], project_ids: dict[int, int]
) -> list[int]:
    """Append transitions (not yet notified); returns their history ids in order.
    `project_ids` maps rule id → project id."""
    ids: list[int] = []
    for transition in transitions:
        alert = transition.alert
        rule_id = alert.rule_id or 0
        result = conn.execute(
            alert_history.insert()
            .values(
                rule_id=rule_id,
                project_id=project_ids.get(rule_id, 0),
                fingerprint=alert.fingerprint,
                at_ms=transition.at_ms,
                previous=transition.previous.value,
                state=alert.state.value,
                labels=alert.labels,
                annotations=alert.annotations,
                value=alert.value,
                starts_ms=alert.starts_ms,
                ends_ms=alert.ends_ms,
                notified=False,
            )
            .returning(alert_history.c.id)
        )
        ids.append(int(result.scalar_one()))
    return ids


def mark_notified(conn: Connection, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        conn.execute(alert_history.update().where(alert_history.c.id.in_(chunk)).values(notified=True))


def _transition(row: Any, generator_url: str) -> Transition:
    alert = Alert(
        labels=dict(row.labels),
        annotations=dict(row.annotations),
        state=AlertState(row.state),
        starts_ms=int(row.starts_ms),
        ends_ms=row.ends_ms,
        value=row.value,
        rule_id=int(row.rule_id),
        generator_url=generator_url.format(rule_id=row.rule_id) if generator_url else "",
    )
    return Transition(alert=alert, previous=AlertState(row.previous), at_ms=int(row.at_ms))


def unnotified(
    conn: Connection, generator_url: str = "", limit: int = 10_000
) -> list[tuple[int, Transition]]:
    """Transitions recorded but not handed to routing (a crash in between), oldest first."""
    h = alert_history
    rows = conn.execute(sa.select(h).where(h.c.notified.is_(False)).order_by(h.c.id).limit(limit))
    return [(int(row.id), _transition(row, generator_url)) for row in rows]


@dataclass(frozen=True)
class HistoryQuery:
    project_id: int | None = None
    rule_id: int | None = None
    fingerprint: str | None = None
    state: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    before_id: int | None = None
    limit: int = 100


def history(conn: Connection, query: HistoryQuery) -> list[dict[str, Any]]:
    """History rows, newest first (by id: the order transitions were recorded)."""
    h = alert_history
    conditions: list[Any] = []
    for name in ("project_id", "rule_id", "fingerprint", "state"):
        value = getattr(query, name)
        if value is not None:
            conditions.append(h.c[name] == value)
    if query.since_ms is not None:
        conditions.append(h.c.at_ms >= query.since_ms)
    if query.until_ms is not None:
        conditions.append(h.c.at_ms < query.until_ms)
    if query.before_id is not None:
        conditions.append(h.c.id < query.before_id)
    statement = sa.select(h).where(*conditions).order_by(h.c.id.desc()).limit(query.limit)
    return [
        {
            "id": int(row.id),
            "rule_id": int(row.rule_id),
            "fingerprint": row.fingerprint,
            "at": row.at_ms / 1000,
            "previous": row.previous,
            "state": row.state,
            "labels": dict(row.labels),
            "annotations": dict(row.annotations),
            "value": row.value,
            "starts_at": row.starts_ms / 1000,
            "ends_at": row.ends_ms / 1000 if row.ends_ms is not None else None,
            "notified": bool(row.notified),
        }
        for row in conn.execute(statement)
    ]


def delete_history_before(conn: Connection, cutoff_ms: int, batch: int = 1000) -> int:
    """One retention step: the oldest `batch` history rows before `cutoff_ms`."""
    h = alert_history
    ids = [
        int(i)
        for i in conn.execute(
            sa.select(h.c.id)
            .where(h.c.at_ms < cutoff_ms, h.c.notified.is_(True))
            .order_by(h.c.id)
            .limit(batch)
        ).scalars()
    ]
    if ids:
        conn.execute(h.delete().where(h.c.id.in_(ids)))
    return len(ids)
