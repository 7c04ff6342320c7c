"""Logged-in dashboard clients and small readers for the alerting configuration pages' tests."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager

from syncmon.clock import SystemClock
from syncmon.store import accounts
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard
from tests.support.live import LiveServer

ADMIN = "admin@localhost"
VIEWER = ("viewer@example.com", "viewer-password")


@contextmanager
def admin_session(live: LiveServer) -> Iterator[Dashboard]:
    with live.client() as client:
        dash = Dashboard(client)
        dash.login_ok(ADMIN, ADMIN_PASSWORD)
        yield dash


@contextmanager
def viewer_session(live: LiveServer, store: Store) -> Iterator[Dashboard]:
    with store.engine.begin() as conn:
        accounts.create_user(conn, *VIEWER, "viewer", SystemClock().now_ms())
    with live.client() as client:
        dash = Dashboard(client)
        dash.login_ok(*VIEWER)
        yield dash


def textarea(page: str, name: str) -> str:
    """The text of a form's textarea, unescaped."""
    found = re.search(rf'<textarea name="{re.escape(name)}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None, page[:3000]
    return html.unescape(found.group(1))


def form_error(page: str) -> str:
    found = re.search(r'<p class="form-error" role="alert" id="form-error">(.*?)</p>', page, re.S)
    assert found is not None, page[:3000]
    return html.unescape(found.group(1))
