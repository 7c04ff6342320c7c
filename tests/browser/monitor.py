"""What the browser tests share: reading back what a page sent through the monitor's read
API, the Content-Security-Policy test pages are served with, and a visitor that does not
look like automation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

Event = dict[str, Any]

# What a human's Chromium shows scripts: no `navigator.webdriver` (Playwright sets it) and no
# "HeadlessChrome" in the user agent. posthog-js drops every event of a browser that shows
# either (its bot filter), which is right for real traffic and would leave the test empty.
HUMAN_VISITOR = """
Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false });
const humanAgent = navigator.userAgent.replace('HeadlessChrome', 'Chrome');
Object.defineProperty(Navigator.prototype, 'userAgent', { get: () => humanAgent });
"""


def csp_policy(monitor: str, key: str) -> str:
    """A policy that lets the page load scripts from itself and the monitor and send to the
    monitor, allows images only from itself (and data: for the favicon), and reports
    violations to the monitor's CSP endpoint (report-uri: sent at once, as
    `application/csp-report`)."""
    return (
        f"default-src 'self'; script-src 'self' {monitor}; connect-src 'self' {monitor}; "
        "img-src 'self' data:; style-src 'self'; "
        f"report-uri {monitor}/api/monitoring/csp?key={key}"
    )


@dataclass
class Monitor:
    """The live monitor's read API, as an admin sees it, for one project."""

    client: httpx.Client
    token: str
    project: str

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        reply = self.client.get(
            path,
            params={"project": self.project, **params},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert reply.status_code == 200, f"{path} {params}: {reply.status_code} {reply.text}"
        body: dict[str, Any] = reply.json()
        return body

    def events(self, **filters: Any) -> list[Event]:
        found: list[Event] = self.get("/api/v1/events", limit=500, **filters)["events"]
        return found

    def wait_for(
        self, ready: Callable[[list[Event]], bool], timeout: float = 15.0, **filters: Any
    ) -> list[Event]:
        """The events matching `filters` once `ready(events)` holds (or when time is up)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(**filters)
            if ready(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def vitals(self, **params: Any) -> dict[str, Any]:
        metrics: dict[str, Any] = self.get("/api/v1/performance/vitals", window="1h", **params)["metrics"]
        return metrics

    def pageviews(self) -> dict[str, Any]:
        return self.get("/api/v1/analytics/pageviews", window="1h")


def summary(events: list[Event]) -> str:
    """A readable list for assertion messages."""
    return "\n".join(f"{e['kind']} {e['name']} {e['message']!r} {e['url']}" for e in events) or "no events"
