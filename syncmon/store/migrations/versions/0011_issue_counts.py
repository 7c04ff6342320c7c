"""Dashboard reads without raw-event scans: events per issue, security events per subject,
rollup versions, and indexes for tag breakdowns and subject timelines.

The two rollups are filled from the stored events, tier by tier, in SQL: minute rows only
for the last MINUTE_DAYS days before the newest event (retention deletes older ones), and
only events with a timestamp after 1970 (SQL's integer division truncates where Python's
floors). Which security event names report a failure is decided by the same function the
writer uses (`syncmon.security.subject_rollups.is_failure`), once per distinct name.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from syncmon.security.subject_rollups import is_failure

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MINUTE_DAYS = 8
DAY_MS = 86_400_000
# (tier in minutes, epoch-minute bucket of an event as SQL, the GROUP BY term)
TIERS = (
    (1, "ts_ms / 60000", "ts_ms / 60000"),
    (60, "(ts_ms / 3600000) * 60", "ts_ms / 3600000"),
    (1440, "(ts_ms / 86400000) * 1440", "ts_ms / 86400000"),
)


def upgrade() -> None:
    op.create_table(
        "issue_counts",
        sa.Column("issue_id", sa.BigInteger, primary_key=True),
        sa.Column("tier", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_issue_counts_tier_bucket", "issue_counts", ["tier", "bucket"])
    op.create_table(
        "rollup_subjects",
        sa.Column("project_id", sa.Integer, primary_key=True),
        sa.Column("subject_type", sa.String(16), primary_key=True),
        sa.Column("tier", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.BigInteger, nullable=False),
        sa.Column("last_ms", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_rollup_subjects_tier_bucket", "rollup_subjects", ["tier", "bucket"])
    op.create_table(
        "rollup_versions",
        sa.Column("rollup", sa.String(16), primary_key=True),
        sa.Column("project_id", sa.Integer, primary_key=True),
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_issue_tags_top", "issue_tags", ["issue_id", "key", "count", "value"])
    for name, column in (("ix_events_client_ip", "client_ip"), ("ix_events_user", "user_id")):
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "events", [column, "seq"], sqlite_where=where, postgresql_where=where)
    _backfill()


def _backfill() -> None:
    conn = op.get_bind()
    newest = conn.execute(sa.text("SELECT MAX(ts_ms) FROM events")).scalar()
    if newest is None:
        return
    minute_floor = max(0, int(newest) - MINUTE_DAYS * DAY_MS)
    for tier, bucket, group in TIERS:
        floor = minute_floor if tier == 1 else 0
        conn.execute(
            sa.text(
                "INSERT INTO issue_counts (issue_id, tier, bucket, count) "
                f"SELECT issue_id, {tier}, {bucket}, COUNT(*) FROM events "
                "WHERE issue_id IS NOT NULL AND ts_ms >= :floor "
                f"GROUP BY issue_id, {group}"
            ),
            {"floor": floor},
        )
    names = conn.execute(sa.text("SELECT DISTINCT name FROM events WHERE kind = 'security'")).scalars()
    failing = [{"name": name} for name in names if is_failure(name)]
    helper = op.create_table("tmp_failure_names", sa.Column("name", sa.String(200), primary_key=True))
    if failing:
        op.bulk_insert(helper, failing)
    for subject_type, column in (("ip", "client_ip"), ("account", "user_id")):
        for tier, bucket, group in TIERS:
            floor = minute_floor if tier == 1 else 0
            conn.execute(
                sa.text(
                    "INSERT INTO rollup_subjects "
                    "(project_id, subject_type, tier, bucket, subject, events, failures, last_ms) "
                    f"SELECT project_id, '{subject_type}', {tier}, {bucket}, {column}, COUNT(*), "
                    "SUM(CASE WHEN name IN (SELECT name FROM tmp_failure_names) THEN 1 ELSE 0 END), "
                    "MAX(ts_ms) FROM events "
                    f"WHERE kind = 'security' AND {column} IS NOT NULL AND ts_ms >= :floor "
                    f"GROUP BY project_id, {column}, {group}"
                ),
                {"floor": floor},
            )
    op.drop_table("tmp_failure_names")


def downgrade() -> None:
    op.drop_index("ix_events_user", "events")
    op.drop_index("ix_events_client_ip", "events")
    op.drop_index("ix_issue_tags_top", "issue_tags")
    for table in ("rollup_versions", "rollup_subjects", "issue_counts"):
        op.drop_table(table)
