"""Add-to-counter upserts that read the same on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
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
    statement = _statement(conn.dialect.name, table, tuple(key_columns), tuple(add_columns))
    conn.execute(statement, list(rows))


@functools.lru_cache(maxsize=64)
def _statement(dialect_name: str, table: sa.Table, keys: tuple[str, ...], adds: tuple[str, ...]) -> Any:
    """Built once per table and dialect: constructing it is costly and it is on every commit."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in adds},
    )
