"""Count rollups in minute, hour and day tiers, the hour and day rows filled from the minutes.

`rollup_counts` was keyed (project, kind, name, minute); it becomes (project, tier, bucket,
kind, name) like the sketch rollups (`tier` 1, 60 or 1440 minutes, `bucket` the epoch minute
it starts). The key changes, which SQLite can only do by copying the table, so both engines
take the same path: the old table is renamed, the new one created, the minute rows copied
as tier 1, the hour rows summed from them and the day rows from the hour rows (INSERT …
SELECT … GROUP BY, one statement each), and the indexes built at the end. A store's history
is kept whole: every hour and day its minute rows cover gets its row. ~2 M minute rows
(30 days of a busy store) take 10-20 s on either engine.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD = "rollup_counts_minutes"
KEY = ("project_id", "tier", "bucket", "kind", "name")
HOUR, DAY = 60, 1440
SQLITE_CACHE_KIB = 65_536  # for the sorts, which spill to disk with the 2 MB default cache


def _tiered_table(with_key: bool) -> None:
    """The new table; without its primary key when that is added after the copy."""
    op.create_table(
        "rollup_counts",
        sa.Column("project_id", sa.Integer, primary_key=with_key, nullable=False),
        sa.Column("tier", sa.Integer, primary_key=with_key, nullable=False),
        sa.Column("bucket", sa.BigInteger, primary_key=with_key, nullable=False),
        sa.Column("kind", sa.String(32), primary_key=with_key, nullable=False),
        sa.Column("name", sa.String(200), primary_key=with_key, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def _minute_table() -> None:
    op.create_table(
        "rollup_counts",
        sa.Column("project_id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def _set_aside(name: str) -> None:
    """Rename rollup_counts out of the way; on PostgreSQL its primary key's index too, whose
    name (rollup_counts_pkey) the new table's key takes."""
    op.rename_table("rollup_counts", name)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {name} RENAME CONSTRAINT rollup_counts_pkey TO {name}_pkey")


def _roll_up(width: int, source_tier: int) -> str:
    """INSERT of the `width`-minute rows summed from the `source_tier` rows (epoch minutes are
    >= 0, so `%` floors alike on both engines)."""
    start = f"bucket - bucket % {width}"
    return (
        "INSERT INTO rollup_counts (project_id, tier, bucket, kind, name, count) "
        f"SELECT project_id, {width}, {start}, kind, name, SUM(count) FROM rollup_counts "
        f"WHERE tier = {source_tier} GROUP BY project_id, {start}, kind, name "
        f"ORDER BY project_id, {start}, kind, name"
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        _upgrade()
        return
    cache = int(bind.exec_driver_sql("PRAGMA cache_size").scalar_one())
    bind.exec_driver_sql(f"PRAGMA cache_size = {-SQLITE_CACHE_KIB}")
    try:
        _upgrade()
    finally:
        bind.exec_driver_sql(f"PRAGMA cache_size = {cache}")


def _upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_rollup_counts_minute", table_name="rollup_counts")
    _set_aside(OLD)
    # SQLite cannot add a primary key to a table: rows go in in key order. PostgreSQL builds
    # the key's index once after the copy, about twice as fast as 2 M ordered inserts.
    _tiered_table(with_key=sqlite)
    order = " ORDER BY project_id, minute, kind, name" if sqlite else ""
    op.execute(
        "INSERT INTO rollup_counts (project_id, tier, bucket, kind, name, count) "
        f"SELECT project_id, 1, minute, kind, name, count FROM {OLD}{order}"
    )
    op.drop_table(OLD)
    op.execute(_roll_up(HOUR, 1))
    op.execute(_roll_up(DAY, HOUR))
    if not sqlite:
        op.create_primary_key("rollup_counts_pkey", "rollup_counts", list(KEY))
    op.create_index("ix_rollup_counts_tier_bucket", "rollup_counts", ["tier", "bucket"])


def downgrade() -> None:
    """Back to minute rows only: the hour and day rows are dropped (the minutes they were
    summed from are still there, as far as retention kept them)."""
    op.drop_index("ix_rollup_counts_tier_bucket", table_name="rollup_counts")
    _set_aside("rollup_counts_tiered")
    _minute_table()
    op.execute(
        "INSERT INTO rollup_counts (project_id, kind, name, minute, count) "
        "SELECT project_id, kind, name, bucket, count FROM rollup_counts_tiered WHERE tier = 1 "
        "ORDER BY project_id, kind, name, bucket"
    )
    op.drop_table("rollup_counts_tiered")
    op.create_index("ix_rollup_counts_minute", "rollup_counts", ["minute"])
