"""Failed-login counters per subject ("account:<email>", "ip:<address>") in the store.

Kept in the store, not in memory, so a restart does not reset a lockout; written only
through the server's writer (or the CLI, to unlock), so reading, deciding and writing a
counter never races another writer inside the server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.store.schema import login_throttle

MAX_SUBJECT = 400


@dataclass(frozen=True)
class Counter:
    subject: str
    failures: int
    window_start_ms: int
    locked_until_ms: int | None = None


def account_subject(email: str) -> str:
    return ("account:" + email.strip().lower())[:MAX_SUBJECT]


def ip_subject(address: str) -> str:
    return ("ip:" + address)[:MAX_SUBJECT]


def load(conn: Connection, subjects: Iterable[str]) -> dict[str, Counter]:
    wanted = list(dict.fromkeys(subjects))
    if not wanted:
        return {}
    rows = conn.execute(sa.select(login_throttle).where(login_throttle.c.subject.in_(wanted)))
    return {
        row.subject: Counter(row.subject, int(row.failures), int(row.window_start_ms), row.locked_until_ms)
        for row in rows
    }


def save(conn: Connection, counter: Counter) -> None:
    conn.execute(login_throttle.delete().where(login_throttle.c.subject == counter.subject))
    conn.execute(
        login_throttle.insert().values(
            subject=counter.subject,
            failures=counter.failures,
            window_start_ms=counter.window_start_ms,
            locked_until_ms=counter.locked_until_ms,
        )
    )


def clear(conn: Connection, subject: str) -> bool:
    return bool(conn.execute(login_throttle.delete().where(login_throttle.c.subject == subject)).rowcount)


def locked_accounts(conn: Connection, now_ms: int) -> dict[str, int]:
    """account subject → locked-until, for accounts locked now."""
    rows = conn.execute(
        sa.select(login_throttle.c.subject, login_throttle.c.locked_until_ms).where(
            login_throttle.c.subject.like("account:%"), login_throttle.c.locked_until_ms > now_ms
        )
    )
    return {row.subject: int(row.locked_until_ms) for row in rows}


def delete_stale(conn: Connection, now_ms: int, window_ms: int) -> int:
    """Drop counters whose window has passed and that lock nothing."""
    query = login_throttle.delete().where(
        login_throttle.c.window_start_ms <= now_ms - window_ms,
        sa.or_(login_throttle.c.locked_until_ms.is_(None), login_throttle.c.locked_until_ms <= now_ms),
    )
    return int(conn.execute(query).rowcount)
