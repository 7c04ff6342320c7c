"""Dashboard sessions kept on the server: the cookie holds a random id, the table its digest.

A stolen database therefore holds no usable session ids, and ending a session (logout,
password change, disabled user) takes effect at once on every request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.store.schema import sessions, users
from syncmon.store.users import User, user_from_row


@dataclass(frozen=True)
class SessionRecord:
    id_hash: str
    user_id: int
    created_ms: int
    last_seen_ms: int
    expires_ms: int
    csrf_token: str = field(repr=False)
    mfa_pending: bool
    client_ip: str | None = None
    user_agent: str | None = None


def session_digest(plain_id: str) -> str:
    return hashlib.sha256(plain_id.encode()).hexdigest()


def insert_session(conn: Connection, record: SessionRecord) -> None:
    conn.execute(
        sessions.insert().values(
            id_hash=record.id_hash,
            user_id=record.user_id,
            created_ms=record.created_ms,
            last_seen_ms=record.last_seen_ms,
            expires_ms=record.expires_ms,
            csrf_token=record.csrf_token,
            mfa_pending=record.mfa_pending,
            client_ip=record.client_ip,
            user_agent=(record.user_agent or "")[:512] or None,
        )
    )


def _record(row: Any) -> SessionRecord:
    return SessionRecord(
        id_hash=row.id_hash,
        user_id=int(row.user_id),
        created_ms=int(row.created_ms),
        last_seen_ms=int(row.last_seen_ms),
        expires_ms=int(row.expires_ms),
        csrf_token=row.csrf_token,
        mfa_pending=bool(row.mfa_pending),
        client_ip=row.client_ip,
        user_agent=row.user_agent,
    )


def session_with_user(conn: Connection, id_hash: str) -> tuple[SessionRecord, User] | None:
    """The session with this digest and its user, in one query."""
    query = (
        sa.select(sessions, users)
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.id_hash == id_hash)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    mapping = row._mapping
    session_row = _Row({c.name: mapping[sessions.c[c.name]] for c in sessions.columns})
    user_row = _Row({c.name: mapping[users.c[c.name]] for c in users.columns})
    return _record(session_row), user_from_row(user_row)


class _Row:
    """Attribute access over a column-name mapping (the join has two `user_id`-like names)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def touch(conn: Connection, id_hash: str, now_ms: int) -> None:
    conn.execute(sessions.update().where(sessions.c.id_hash == id_hash).values(last_seen_ms=now_ms))


def delete_session(conn: Connection, id_hash: str) -> bool:
    return bool(conn.execute(sessions.delete().where(sessions.c.id_hash == id_hash)).rowcount)


def delete_user_sessions(conn: Connection, user_id: int, keep: str | None = None) -> int:
    """End every session of a user (but `keep`, the caller's own, when given)."""
    query = sessions.delete().where(sessions.c.user_id == user_id)
    if keep is not None:
        query = query.where(sessions.c.id_hash != keep)
    return int(conn.execute(query).rowcount)


def count_user_sessions(conn: Connection, user_id: int, now_ms: int) -> int:
    query = sa.select(sa.func.count()).where(
        sessions.c.user_id == user_id, sessions.c.expires_ms > now_ms, sessions.c.mfa_pending.is_(False)
    )
    return int(conn.execute(query).scalar_one())


def delete_expired(conn: Connection, now_ms: int, idle_ms: int) -> int:
    """Remove sessions past their lifetime or idle too long."""
    query = sessions.delete().where(
        sa.or_(sessions.c.expires_ms <= now_ms, sessions.c.last_seen_ms <= now_ms - idle_ms)
    )
    return int(conn.execute(query).rowcount)
