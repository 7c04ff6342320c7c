"""Add-to-counter upserts that read the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def upsert_add(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key_columns: Sequence[str],
    add_columns: Sequence[str],
) -> None:
    """INSERT rows; on a key conflict add their `add_columns` to the stored ones."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key_columns),
        set_={name: table.c[name] + statement.excluded[name] for name in add_columns},
    )
    conn.execute(statement, list(rows))
