"""Shared fixtures: a store on each engine (SQLite and PostgreSQL) and a live server on loopback.

Every storage and ingest test that takes `store` runs twice, once per engine. PostgreSQL
tests use a database created for the test session at SYNCMON_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres); they are skipped when no server answers,
unless SYNCMON_REQUIRE_POSTGRES=1 (as in CI), which turns that into a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from syncmon.bootstrap import open_store, prepare_store
from syncmon.clock import ManualClock, SystemClock
from syncmon.settings import Settings, load_settings
from syncmon.store import accounts, projects
from syncmon.store.projects import Project
from syncmon.store.schema import metadata
from tests.support.live import LiveServer

PG_ADMIN_URL = os.environ.get("SYNCMON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("SYNCMON_REQUIRE_POSTGRES") == "1"
ADMIN_PASSWORD = "correct-horse-battery"


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own for this test session."""
    problem = _pg_available()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    name = f"syncmon_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_pg_database() -> tuple[str, Any]:
    """A brand-new empty PostgreSQL database and a function that drops it."""
    name = f"syncmon_fresh_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}", drop


@dataclass
class Store:
    """A prepared store: settings pointing at it, its engine and the default project."""

    backend: str
    settings: Settings
    engine: Engine
    project: Project

    def settings_with(self, **overrides: Any) -> Settings:
        values = {f: getattr(self.settings, f) for f in self.settings.__dataclass_fields__}
        values.update(overrides)
        return Settings(**values)


def _reset_pg(settings: Settings) -> None:
    """Empty the session's PostgreSQL database (the schema stays) before a test."""
    engine = open_store(settings)
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table("events"):
                names = ", ".join(table.name for table in metadata.sorted_tables)
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: every store seeds an admin, and the production cost
    (~0.13 s a hash) would dominate the run. test_accounts checks production parameters."""
    monkeypatch.setattr(accounts, "_hasher", CHEAP_HASHER)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    overrides: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "admin_password": ADMIN_PASSWORD,
        "rate_limit_per_key": "100000/second",
        "rate_limit_per_ip": "100000/second",
    }
    if backend == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_database")
    settings = load_settings(overrides, environ={}, config_file=None)
    if backend == "postgresql":
        _reset_pg(settings)
    engine = prepare_store(settings, SystemClock(), lambda _: None)
    with engine.connect() as conn:
        project = projects.list_projects(conn)[0]
    yield Store(backend, settings, engine, project)
    engine.dispose()


@pytest.fixture
def admin_token(store: Store) -> str:
    with store.engine.begin() as conn:
        _, plain = accounts.create_token(conn, "admin", "tests", SystemClock().now_ms())
    return plain


@pytest.fixture
def viewer_token(store: Store) -> str:
    with store.engine.begin() as conn:
        _, plain = accounts.create_token(conn, "viewer", "tests", SystemClock().now_ms())
    return plain


@pytest.fixture
def live(store: Store) -> Iterator[LiveServer]:
    """The real server on a loopback port, in this process."""
    with LiveServer(store.settings, store.engine) as server:
        yield server


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()
