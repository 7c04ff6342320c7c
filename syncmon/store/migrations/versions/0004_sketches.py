"""Quantile and page-view rollups: DDSketch rows, dimension counts, visitor HyperLogLogs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_sketches",
        sa.Column("project_id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("tier", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("page", sa.String(200), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("value_sum", sa.Float, nullable=False),
        sa.Column("good", sa.BigInteger, nullable=False),
        sa.Column("needs_improvement", sa.BigInteger, nullable=False),
        sa.Column("poor", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("sketch", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "ix_rollup_sketches_page", "rollup_sketches", ["project_id", "kind", "page", "tier", "bucket"]
    )
    op.create_index("ix_rollup_sketches_tier_bucket", "rollup_sketches", ["tier", "bucket"])
    op.create_table(
        "rollup_dimensions",
        sa.Column("project_id", sa.Integer, primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("tier", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_rollup_dimensions_tier_bucket", "rollup_dimensions", ["tier", "bucket"])
    op.create_table(
        "rollup_visitors",
        sa.Column("project_id", sa.Integer, primary_key=True),
        sa.Column("tier", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("hll", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_rollup_visitors_tier_bucket", "rollup_visitors", ["tier", "bucket"])


def downgrade() -> None:
    for table in ("rollup_visitors", "rollup_dimensions", "rollup_sketches"):
        op.drop_table(table)
