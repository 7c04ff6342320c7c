"""Logged-in dashboard sessions on the `live` server, for the pages' tests: `admin` as the
seeded admin, `viewer` as a new read-only user. Modules that log in differently define
their own fixtures of these names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Store
from tests.support.config_pages import admin_session, viewer_session
from tests.support.dashboard import Dashboard
from tests.support.live import LiveServer


@pytest.fixture
def admin(live: LiveServer) -> Iterator[Dashboard]:
    with admin_session(live) as dash:
        yield dash


@pytest.fixture
def viewer(live: LiveServer, store: Store) -> Iterator[Dashboard]:
    with viewer_session(live, store) as dash:
        yield dash
