"""Migrations on both engines: head reached, idempotent, schema == metadata; upgrades keep data."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from syncmon.errors import issue_counts
from syncmon.events import Event
from syncmon.metrics.rollups import apply_count_rollups
from syncmon.security import subject_rollups
from syncmon.store import eventlog, migrate
from syncmon.store.engine import create_store_engine
from syncmon.store.schema import metadata, rollup_counts
from tests.conftest import fresh_pg_database


@pytest.fixture
def empty_engine(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on a brand-new, empty database of the backend under test."""
    if backend == "sqlite":
        path = tmp_path / "nested" / "empty.db"
        engine = create_store_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    request.getfixturevalue("pg_database")  # skips (or fails in CI) when PostgreSQL is not reachable
    url, drop = fresh_pg_database()
    engine = create_store_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop()


def table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        return list(compare_metadata(context, metadata))


def test_one_linear_history() -> None:
    """One head, reached from the base through every revision file: no branches to merge."""
    scripts = ScriptDirectory(str(migrate.MIGRATIONS_DIR))
    heads = scripts.get_heads()
    assert heads == [migrate.head_revision()]
    chain = list(scripts.walk_revisions("base", "heads"))
    assert {script.revision for script in chain} == {script.revision for script in scripts.walk_revisions()}
    assert chain[-1].down_revision is None
    for newer, older in itertools.pairwise(chain):
        assert newer.down_revision == older.revision
    files = list((migrate.MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    assert len(files) == len(chain)


def test_upgrade_on_empty_store(empty_engine: Engine) -> None:
    assert table_names(empty_engine) == set()
    assert migrate.current_revision(empty_engine) is None

    before, after = migrate.upgrade(empty_engine)

    assert before is None
    assert after == migrate.head_revision()
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert table_names(empty_engine) == {*metadata.tables, "alembic_version"}


def test_second_upgrade_is_a_no_op(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(
            metadata.tables["projects"]
            .insert()
            .values(
                slug="keep",
                name="keep",
                public_key="p",
                secret_key="s",
                allowed_origins=["*"],
                scrub_fields=[],
                created_ms=1,
            )
        )

    before, after = migrate.upgrade(empty_engine)

    assert before == after == migrate.head_revision()
    with empty_engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        slugs = conn.execute(sa.select(metadata.tables["projects"].c.slug)).scalars().all()
    assert versions == [migrate.head_revision()]
    assert slugs == ["keep"]


def test_migrated_schema_matches_metadata(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    assert schema_differences(empty_engine) == []


def test_migrated_indexes_and_constraints(empty_engine: Engine) -> None:
    """What compare_metadata may not weigh: every unique constraint and index is there."""
    migrate.upgrade(empty_engine)
    inspector = sa.inspect(empty_engine)
    for table in metadata.sorted_tables:
        indexes = {
            ix["name"]: (tuple(ix["column_names"]), bool(ix["unique"]))
            for ix in inspector.get_indexes(table.name)
        }
        for index in table.indexes:
            assert indexes.get(index.name) == (tuple(c.name for c in index.columns), bool(index.unique)), (
                table.name,
                index.name,
            )
        unique_sets: set[tuple[str | None, ...]] = {
            tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)
        }
        unique_sets |= {cols for cols, unique in indexes.values() if unique}
        for column in table.columns:
            if column.unique:
                assert (column.name,) in unique_sets, (table.name, column.name)
        primary = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert primary == [c.name for c in table.primary_key.columns], table.name
        for column in table.columns:
            reflected = {c["name"]: c for c in inspector.get_columns(table.name)}[column.name]
            assert bool(reflected["nullable"]) == bool(column.nullable), (table.name, column.name)


def _downgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_count_tiers_are_filled_from_the_minute_rows(empty_engine: Engine) -> None:
    """0010 keeps a store's count history: the minute rows become tier 1, and every hour and
    day they cover gets its row, summed from them."""
    migrate.upgrade(empty_engine, "0009")
    rng = random.Random(10)
    day0 = 1_767_225_600_000 // 60_000  # 2026-01-01, in epoch minutes
    minutes = [day0 + offset for offset in (-1, 0, 59, 60, 61, 1439, 1440, 2 * 1440 + 7)]
    minutes += [day0 + rng.randrange(-3 * 1440, 3 * 1440) for _ in range(300)]
    old: dict[tuple[int, str, str, int], int] = {}
    for minute in minutes:
        key = (rng.choice((1, 2)), rng.choice(("custom", "error")), rng.choice(("a", "b")), minute)
        old[key] = rng.randrange(1, 1000)
    with empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO rollup_counts (project_id, kind, name, minute, count) "
                "VALUES (:p, :k, :n, :m, :c)"
            ),
            [{"p": p, "k": k, "n": n, "m": m, "c": c} for (p, k, n, m), c in old.items()],
        )

    before, after = migrate.upgrade(empty_engine)

    assert (before, after) == ("0009", migrate.head_revision())
    expected: Counter[tuple[int, int, int, str, str]] = Counter()
    for (p, k, n, m), c in old.items():
        for tier in (1, 60, 1440):
            expected[(p, tier, m - m % tier, k, n)] += c
    r = rollup_counts
    with empty_engine.connect() as conn:
        rows = conn.execute(sa.select(r.c.project_id, r.c.tier, r.c.bucket, r.c.kind, r.c.name, r.c["count"]))
        stored = {(p, t, b, k, n): int(c) for p, t, b, k, n, c in rows}
    assert stored == dict(expected)
    assert schema_differences(empty_engine) == []

    # New events add to the rows the migration made, in every tier.
    minute = minutes[1]
    at = minute * 60_000
    with empty_engine.begin() as conn:
        apply_count_rollups(
            conn, [Event(project_id=1, kind="custom", name="a", timestamp_ms=at, received_ms=at)]
        )
        written = conn.execute(
            sa.select(r.c.tier, r.c["count"]).where(
                r.c.project_id == 1, r.c.kind == "custom", r.c.name == "a", r.c.bucket == minute
            )
        )
        after_write = {int(tier): int(count) for tier, count in written}
    assert after_write == {tier: expected[(1, tier, minute, "custom", "a")] + 1 for tier in (1, 60, 1440)}

    _downgrade(empty_engine, "0009")
    with empty_engine.connect() as conn:
        back = conn.execute(sa.text("SELECT project_id, kind, name, minute, count FROM rollup_counts"))
        restored = {(p, k, n, m): int(c) for p, k, n, m, c in back}
    old[(1, "custom", "a", minute)] = old.get((1, "custom", "a", minute), 0) + 1
    assert restored == old


def upgrade_to(engine: Engine, revision: str) -> None:
    config = migrate._config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_0011_fills_the_new_rollups_from_the_stored_events(empty_engine: Engine) -> None:
    """Issue counts and security-subject rows are what the writer hooks would have written
    for the stored events (minute rows for the last eight days only)."""
    upgrade_to(empty_engine, "0009")
    day, minute = 86_400_000, 60_000
    newest = 1_795_845_432_100
    tables = metadata.tables
    with empty_engine.begin() as conn:
        project = conn.execute(
            tables["projects"]
            .insert()
            .values(
                slug="p",
                name="p",
                public_key="pk",
                secret_key="sk",
                allowed_origins=[],
                scrub_fields=[],
                created_ms=1,
            )
            .returning(tables["projects"].c.id)
        ).scalar_one()
        rows = []
        for index in range(60):
            ts = newest - index * 13 * 3_600_000 - index * 7 * minute
            kind = "error" if index % 2 else "security"
            name = ["authn_login_fail", "authn_login_success", "authz_fail"][index % 3]
            rows.append(
                {
                    "seq": index + 1,
                    "id": f"e{index}",
                    "project_id": project,
                    "kind": kind,
                    "name": name,
                    "ts_ms": ts,
                    "received_ms": ts,
                    "level": "error",
                    "client_ip": f"198.51.100.{index % 4}",
                    "user_id": ["Ann", "ann", None][index % 3],
                    "is_bot": False,
                    "trusted": False,
                    "data": {},
                    "issue_id": index % 3 + 1 if kind == "error" else None,
                }
            )
        conn.execute(tables["events"].insert(), rows)

    upgrade_to(empty_engine, "head")

    with empty_engine.connect() as conn:
        stored = [eventlog.event_from_row(row) for row in conn.execute(sa.select(tables["events"]))]
        counts = {
            (r.issue_id, r.tier, r.bucket): r._mapping["count"]
            for r in conn.execute(sa.select(tables["issue_counts"]))
        }
        subjects = {
            (r.project_id, r.subject_type, r.tier, r.bucket, r.subject): [r.events, r.failures, r.last_ms]
            for r in conn.execute(sa.select(tables["rollup_subjects"]))
        }
    floor = (newest - 8 * day) // minute
    expected_counts = {
        (row["issue_id"], row["tier"], row["bucket"]): row["count"]
        for row in issue_counts.count_rows(stored)
        if row["tier"] != 1 or row["bucket"] >= floor
    }
    assert counts == expected_counts and any(tier == 1 for _, tier, _ in counts)
    expected_subjects = {
        key: cell
        for key, cell in subject_rollups.subject_cells(stored).items()
        if key[2] != 1 or key[3] >= floor
    }
    assert subjects == expected_subjects and any(key[1] == "account" for key in subjects)
    assert sum(cell[1] for key, cell in subjects.items() if key[2] == 1440) > 0
