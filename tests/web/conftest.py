"""Fixtures of the web tests: logged-in dashboard sessions on the `live` server (`admin` as
the seeded admin, `viewer` as a new read-only user), and a `server` on a ManualClock at
2026-01-01 (`clock`) with a `seeder` posting through it. Modules that need them otherwise
define their own fixtures of these names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncmon.clock import ManualClock
from tests.conftest import Store
from tests.support.config_pages import admin_session, viewer_session
from tests.support.dashboard import Dashboard
from tests.support.live import LiveServer
from tests.support.pages_seed import Seeder

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def admin(live: LiveServer) -> Iterator[Dashboard]:
    with admin_session(live) as dash:
        yield dash


@pytest.fixture
def viewer(live: LiveServer, store: Store) -> Iterator[Dashboard]:
    with viewer_session(live, store) as dash:
        yield dash


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def server(store: Store, clock: ManualClock) -> Iterator[LiveServer]:
    with LiveServer(store.settings, store.engine, clock=clock) as live:
        yield live


@pytest.fixture
def seeder(server: LiveServer, store: Store) -> Iterator[Seeder]:
    with server.client() as client:
        yield Seeder(client, store.project)
