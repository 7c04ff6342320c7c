"""Driving the dashboard over HTTP as a browser would: the login form, its cookies, CSRF tokens."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from syncmon.events import Event
from syncmon.store import eventlog, projects
from syncmon.store.schema import audit_log

T = TypeVar("T")
_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def form_token(html: str) -> str:
    found = _FIELD.search(html)
    assert found is not None, html[:2000]
    return found.group(1)


def page_token(html: str) -> str:
    """The session's CSRF token, as every logged-in page carries it."""
    found = _META.search(html)
    assert found is not None, html[:2000]
    return found.group(1)


class Dashboard:
    """An httpx client that logs in through the form and posts forms with the CSRF token."""

    def __init__(self, client: httpx.Client, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}

    def login(self, email: str, password: str, **extra: str) -> httpx.Response:
        page = self.client.get("/login", headers=self.headers)
        assert page.status_code == 200, page.text
        data = {"csrf_token": form_token(page.text), "email": email, "password": password, **extra}
        return self.client.post("/login", data=data, headers=self.headers)

    def login_ok(self, email: str, password: str) -> httpx.Response:
        reply = self.login(email, password)
        assert reply.status_code == 303 and reply.headers["location"] == "/overview", reply.text
        return reply

    def csrf(self) -> str:
        page = self.client.get("/account", headers=self.headers)
        assert page.status_code == 200, (page.status_code, page.text[:500])
        return page_token(page.text)

    def post(
        self, path: str, data: dict[str, str] | None = None, *, token: str | None = "auto"
    ) -> httpx.Response:
        fields = dict(data or {})
        if token == "auto":
            fields["csrf_token"] = self.csrf()
        elif token is not None:
            fields["csrf_token"] = token
        return self.client.post(path, data=fields, headers=self.headers)


def own_events(engine: Engine, slug: str, name: str | None = None) -> list[Event]:
    """Security events of the monitor's own project, oldest first."""
    with engine.connect() as conn:
        own = projects.find_project(conn, slug)
        assert own is not None
        found = eventlog.list_events(conn, eventlog.EventQuery(project_id=own.id, name=name, limit=1000))
    return list(reversed(found))


def audit_actions(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id))
        return [(row.actor, row.action, row.target) for row in rows]


def wait_for(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll `probe` until it returns something truthy (for work done after a reply: detectors)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
