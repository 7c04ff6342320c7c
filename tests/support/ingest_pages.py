"""Seeding the dashboard's section pages through the real ingest endpoints, and reading them.

Events go in as SDKs send them: the native batch endpoint (`/api/monitoring/events`) and
PostHog's `/batch/`, from a browser's user agent (bots' vitals and page views are left out
of the rollups). Pages are read with a logged-in client and parsed with BeautifulSoup.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from bs4 import BeautifulSoup, Tag

from syncmon.store import projects
from syncmon.store.projects import Project
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard
from tests.support.live import LiveServer

ADMIN = "admin@localhost"
# 2026-11-28 13:47:23 UTC: not on an hour, so ranges have partial hours and minutes.
NOW_MS = 1_795_873_643_000
HOUR_MS = 3_600_000
AGENTS = {
    "Chrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36"
    ),
    "Firefox": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mobile Safari": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    ),
}
CHROME = AGENTS["Chrome"]


def iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def add_project(store: Store, name: str) -> Project:
    with store.engine.begin() as conn:
        return projects.create_project(conn, name, NOW_MS)


@contextmanager
def login(server: LiveServer) -> Iterator[httpx.Client]:
    """A client with an admin session."""
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        yield client


def post_native(
    client: httpx.Client, project: Project, items: list[dict[str, Any]], agent: str = CHROME
) -> list[str]:
    """Items through the batch endpoint with the public key; returns the stored ids."""
    ids: list[str] = []
    for start in range(0, len(items), 500):
        response = client.post(
            f"/api/monitoring/events?key={project.public_key}",
            json=items[start : start + 500],
            headers={"User-Agent": agent},
        )
        assert response.status_code == 200, response.text
        ids.extend(response.json()["ids"])
    return ids


def post_posthog(
    client: httpx.Client, project: Project, events: list[dict[str, Any]], agent: str = CHROME
) -> None:
    """posthog-js's `{api_key, batch, sent_at}` to /batch/, sent "now" (no clock-skew shift)."""
    body = {"api_key": project.public_key, "batch": events, "sent_at": iso(NOW_MS)}
    response = client.post("/batch/", json=body, headers={"User-Agent": agent})
    assert response.status_code == 200 and response.json() == {"status": 1}, response.text


def posthog_event(event: str, at_ms: int, distinct_id: str, **properties: Any) -> dict[str, Any]:
    return {
        "event": event,
        "timestamp": iso(at_ms),
        "properties": {"distinct_id": distinct_id, "$lib": "web", **properties},
    }


def page(client: httpx.Client, path: str, **params: str) -> BeautifulSoup:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text[:2000]
    return BeautifulSoup(response.text, "html.parser")


def one(root: BeautifulSoup | Tag, selector: str) -> Tag:
    found = root.select_one(selector)
    assert found is not None, f"nothing matches {selector!r}"
    return found


def text(root: BeautifulSoup | Tag, selector: str) -> str:
    return one(root, selector).get_text(" ", strip=True)


def value(root: BeautifulSoup | Tag, selector: str) -> float | None:
    """The raw number a page puts beside a shown one (`data-value`); None when it shows none."""
    raw = one(root, selector).get("data-value")
    assert isinstance(raw, str), selector
    return None if raw == "None" else float(raw)


def exact_quantile(values: list[float], q: float) -> float:
    """The value at rank floor(q * (n - 1)), the rank DDSketch estimates within 1 %."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def close(estimate: float | None, truth: float) -> bool:
    return estimate is not None and abs(estimate - truth) <= 0.0101 * abs(truth) + 1e-9
