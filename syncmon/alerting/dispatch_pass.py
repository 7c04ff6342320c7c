"""One dispatcher pass: the state a transaction loads, changes and writes back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting import group_store, incident_store
from syncmon.alerting.config_store import AlertingConfig
from syncmon.alerting.incidents import TimelineKind
from syncmon.store.schema import server_secrets


class Pass:
    """What one transaction works on: the configuration, every group (as loaded and as changed)
    and every open incident; `sent` counts the notifications it enqueued."""

    def __init__(self, conn: Connection, now_ms: int, secret: bytes, config: AlertingConfig) -> None:
        self.conn = conn
        self.now = now_ms
        self.secret = secret
        self.config = config
        self.groups = group_store.load_groups(conn)
        self.loaded = dict(self.groups)
        self.incidents = incident_store.open_incidents(conn)
        self.sent = 0

    def event(
        self,
        incident_id: int,
        kind: TimelineKind,
        *,
        actor: str | None = None,
        level: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        incident_store.add_event(
            self.conn, incident_id, self.now, kind, actor=actor, level=level, details=details
        )

    def save(self) -> None:
        for key in sorted({*self.loaded, *self.groups}):
            group_store.save_group(self.conn, self.loaded.get(key), self.groups.get(key))


def lock(conn: Connection) -> None:
    """One pass at a time, also across processes sharing the store.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a write as the first statement,
    which takes the database's write lock before anything is read (a transaction that read
    first and then writes fails at once if another process committed in between).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('syncmon.alerting'))"))
    else:
        conn.execute(
            server_secrets.update().where(server_secrets.c.name == "").values(name=server_secrets.c.name)
        )
