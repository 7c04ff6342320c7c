"""The Alerts pages in real Chromium against the live server, on both engines: the alerts page
renders a firing alert (fired by real events) and updates live when another fires, an
incident is acknowledged through its button, label text stays inert, and screenshots of the
alerts, incident and Settings → Projects pages go to test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from syncmon.clock import SystemClock
from syncmon.store import accounts
from tests.browser.conftest import PageLog
from tests.channels.support import Receiver
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.alert_fixtures import bearer, fire
from tests.support.live import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page

ADMIN = "admin@localhost"
XSS = "<img src=x onerror=window.__xss=1>"


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    """Short live streams and heartbeats, so the server stops quickly after each test."""
    settings = store.settings_with(live_heartbeat_seconds=1.0, live_stream_max_seconds=30.0)
    with LiveServer(settings, store.engine) as live:
        yield live


@pytest.fixture
def token(store: Store) -> str:
    with store.engine.begin() as conn:
        _, plain = accounts.create_token(conn, "admin", "browser tests", SystemClock().now_ms())
    return plain


def test_alerts_incident_and_project_settings_pages(
    server: LiveServer,
    store: Store,
    token: str,
    page: Page,
    page_log: PageLog,
    screenshot: Callable[[str], Path],
) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()  # the confirm() of data-confirm forms; an injected alert() would show here too

    page.on("dialog", record)
    with Receiver() as receiver:
        fired = fire(
            server,
            token,
            store.project.slug,
            store.project.public_key,
            receiver.url + "/hook",
            labels={"team": XSS},
        )
        with server.client() as client:
            signups = {
                "project": store.project.slug,
                "name": "signup_spike",
                "kind": "count",
                "select": {"kind": "custom", "names": ["signup"]},
                "window": "5m",
                "threshold": 0,
                "severity": "warning",
            }
            made = client.post("/api/v1/alerts/rules", json=signups, headers=bearer(token))
            assert made.status_code == 201, made.text

        page.goto(server.url + "/login")
        page.fill("input[name=email]", ADMIN)
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/overview")
        assert page.locator(f"#alerts-panel [data-alert='{fired.fingerprint}']").count() == 1

        page.goto(f"{server.url}/alerts?project={store.project.slug}")
        page.wait_for_selector("[data-live-status][data-state='live']")
        row = page.locator(f"#active-alerts [data-alert='{fired.fingerprint}']")
        assert row.get_attribute("data-state") == "firing"
        assert XSS in row.inner_text()  # shown as text
        before = int(page.evaluate("() => Number(document.body.getAttribute('data-live-refreshes') || 0)"))
        with server.client() as client:
            sent = client.post(
                "/api/monitoring/events",
                json={"events": [{"kind": "custom", "name": "signup"}]},
                headers={"X-Syncmon-Key": store.project.public_key},
            )
            assert sent.status_code == 200
        page.wait_for_function(
            "(n) => Number(document.body.getAttribute('data-live-refreshes') || 0) > n", arg=before
        )
        page.wait_for_function("() => document.body.innerText.includes('signup_spike')")
        screenshot("alerts")

        page.click(f"#open-incidents a[href='/alerts/incidents/{fired.incident_id}'] >> nth=0")
        page.wait_for_url(f"**/alerts/incidents/{fired.incident_id}")
        page.wait_for_selector("#timeline [data-kind='notified']")
        assert page.locator("[data-field='status']").inner_text() == "triggered"
        page.click("#acknowledge-form button")
        page.wait_for_url(f"**/alerts/incidents/{fired.incident_id}?done=acknowledged")
        assert page.locator("[data-field='status']").inner_text() == "acknowledged"
        assert ADMIN in page.locator("[data-field='acknowledged']").inner_text()
        assert page.locator("#timeline [data-kind='acknowledged']").count() == 1
        assert page.locator("#acknowledge-form").count() == 0
        screenshot("incident")

    with server.client() as client:
        shown = client.get(f"/api/v1/incidents/{fired.incident_id}", headers=bearer(token)).json()
    assert shown["status"] == "acknowledged" and shown["acknowledged_by"] == ADMIN

    page.goto(server.url + "/settings/projects")
    page.wait_for_selector(f"#project-{store.project.slug}")
    assert page.locator("[data-field='public-key']").first.inner_text() == store.project.public_key
    assert store.project.secret_key not in (page.text_content("main") or "")
    screenshot("settings-projects")

    assert page.evaluate("() => window.__xss === undefined"), "an injected script ran"
    assert dialogs == [], dialogs
    assert page_log.errors == [], page_log.errors
    violations = [m for m in page_log.console_text() if "Content Security Policy" in m or "[error]" in m]
    assert violations == [], violations
