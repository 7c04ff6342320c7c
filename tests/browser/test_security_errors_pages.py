"""The Security and Errors pages in real Chromium against the live server, on both engines.

Each page is loaded with data seeded through the ingest endpoints, must render it with no
script error and no CSP violation, must update by itself when an event is ingested (the
body's data-live-refreshes counter grows and the new content is there), and must show the
XSS payloads riding in ingested fields as text: no dialog opens and no injected script runs.
A screenshot of each page goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import sqlalchemy as sa

from syncmon.store import accounts
from syncmon.store.schema import issues
from tests.browser.conftest import PageLog
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.live import LiveServer
from tests.support.pages_seed import (
    XSS,
    XSS_SCRIPT,
    Seeder,
    request_item,
    seed_call,
    seed_error,
    sentry_error,
)

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page

ADMIN = "admin@localhost"
XSS_ALERT = '"><svg onload=alert(document.domain)>'
ATTACKER = "203.0.113.50"


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    """Short live streams and heartbeats, so the server stops quickly after each test."""
    settings = store.settings_with(live_heartbeat_seconds=1.0, live_stream_max_seconds=30.0)
    with LiveServer(settings, store.engine) as live:
        yield live


@pytest.fixture
def seeder(server: LiveServer, store: Store) -> Iterator[Seeder]:
    with server.client() as client:
        yield Seeder(client, store.project)


@pytest.fixture
def dialogs(page: Page) -> list[str]:
    """Every dialog the page opens (an executed alert() payload would open one)."""
    opened: list[str] = []

    def record(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


def log_in(page: Page, server: LiveServer, email: str = ADMIN, password: str = ADMIN_PASSWORD) -> None:
    page.goto(server.url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/overview")


def open_live(page: Page, url: str) -> int:
    """Load a page, wait until its live stream is connected; the refresh count so far."""
    page.goto(url)
    page.wait_for_selector("[data-live-status][data-state='live']")
    return refreshes(page)


def refreshes(page: Page) -> int:
    return int(page.evaluate("() => Number(document.body.getAttribute('data-live-refreshes') || 0)"))


def wait_for_refresh(page: Page, before: int, condition: str) -> None:
    """Wait for a live refresh after `before`, then for `condition` (JS) to hold."""
    page.wait_for_function(
        "(n) => Number(document.body.getAttribute('data-live-refreshes') || 0) > n", arg=before
    )
    page.wait_for_function(condition)


def assert_inert(page: Page, log: PageLog, dialogs: list[str]) -> None:
    assert page.evaluate("() => window.__xss === undefined"), "an injected script ran"
    assert dialogs == [], dialogs
    assert log.errors == [], log.errors
    violations = [m for m in log.console_text() if "Content Security Policy" in m or "[error]" in m]
    assert violations == [], violations


def metric(page: Page, name: str) -> str:
    return page.locator(f"[data-metric='{name}']").first.inner_text().strip()


def test_security_page(
    server: LiveServer,
    store: Store,
    seeder: Seeder,
    page: Page,
    page_log: PageLog,
    dialogs: list[str],
    screenshot: Callable[[str], Path],
) -> None:
    for _ in range(7):
        seeder.security(
            seed_call(
                "authentication",
                "login_failed",
                user_id="alice",
                client_ip=ATTACKER,
                user_agent=XSS,
                note=XSS_SCRIPT,
            )
        )
        time.sleep(0.15)
    seeder.security(seed_call("authorization", "access_denied", user_id=XSS_ALERT, target=XSS))
    seeder.security(seed_call("data_access", "export", user_id="carol", records=500))
    seeder.batch([request_item("https://app.example/.env", 404, client_ip="198.51.100.7")])
    log_in(page, server)
    url = f"{server.url}/admin/security-dashboard?project={store.project.slug}"
    deadline = time.monotonic() + 10
    before = open_live(page, url)
    while page.locator("[data-rule='brute_force']").count() == 0 and time.monotonic() < deadline:
        before = open_live(page, url)  # the detectors run after the commit
    assert metric(page, "totalEvents") == "9"
    assert metric(page, "authEvents") == "7"
    assert page.locator("[data-threat-level]").first.get_attribute("data-threat-level") in (
        "HIGH",
        "CRITICAL",
    )
    assert page.locator("[data-rule='brute_force']").count() == 1
    assert page.locator("#by-category .chart .uplot").count() == 1  # uPlot drew the chart
    assert page.locator("#recent-events").inner_text().count(XSS) == 8  # 7 user agents, 1 target: text
    assert XSS_ALERT in page.locator("#recent-events").inner_text()
    assert_inert(page, page_log, dialogs)
    screenshot("security")

    # An event arrives: the page refreshes itself and shows it.
    seeder.security(seed_call("api_access", "rate_limit_exceeded", user_id="mallory", client_ip="192.0.2.77"))
    wait_for_refresh(
        page, before, "() => document.querySelector('#recent-events').innerText.includes('mallory')"
    )
    assert metric(page, "totalEvents") == "10" and metric(page, "apiEvents") == "1"
    assert page.locator("#by-category .chart .uplot").count() == 1  # redrawn after the swap
    assert_inert(page, page_log, dialogs)

    # The attacker's timeline, from the offenders table.
    page.locator("#offenders-ip a", has_text=ATTACKER).first.click()
    page.wait_for_selector("#timeline")
    assert page.locator("#timeline .security-event").count() == 7
    assert_inert(page, page_log, dialogs)
    screenshot("security-subject")


def test_errors_pages(
    server: LiveServer,
    store: Store,
    seeder: Seeder,
    page: Page,
    page_log: PageLog,
    dialogs: list[str],
    screenshot: Callable[[str], Path],
) -> None:
    payload = sentry_error(tags={"region": XSS_ALERT, "feature": "checkout"})
    frames = payload["exception"]["values"][0]["stacktrace"]["frames"]
    frames[1]["pre_context"] = [f"# {XSS}", "def price_of(sku):"]
    payload["breadcrumbs"]["values"].append({"category": "ui.click", "message": XSS_SCRIPT})
    seeder.sentry(payload)
    seeder.sentry(sentry_error(tags={"region": "us-east"}))
    seeder.error(seed_error(message=f"Uncaught TypeError: {XSS}", url=f"https://shop.example/?q={XSS_ALERT}"))
    log_in(page, server)
    listing = f"{server.url}/errors?project={store.project.slug}"
    before = open_live(page, listing)
    assert page.locator("#issues tbody tr").count() == 2
    key_row = page.locator("tr[data-issue]", has_text="KeyError")
    assert key_row.locator("[data-metric='count']").inner_text() == "2"
    assert page.locator("#issues svg.spark polyline").count() == 2
    assert XSS in page.locator("#issues").inner_text()
    assert_inert(page, page_log, dialogs)
    screenshot("errors")

    seeder.sentry(sentry_error())
    wait_for_refresh(
        page,
        before,
        "() => document.querySelector('tr[data-issue] [data-metric=\"count\"]') &&"
        " [...document.querySelectorAll('tr[data-issue]')].some(r => r.innerText.includes('KeyError')"
        " && r.querySelector('[data-metric=\"count\"]').innerText.trim() === '3')",
    )
    assert_inert(page, page_log, dialogs)

    # The issue: its stack trace with the in-app frame and its context, breadcrumbs, tags.
    key_row.locator("a.issue-title").click()
    page.wait_for_selector("#stacktrace")
    assert page.locator("#latest-events tbody tr").count() == 3
    page.locator("#latest-events tbody tr a").last.click()  # the oldest event: the one with payloads
    page.wait_for_url("**event=*")
    before = open_live(page, page.url)
    in_app = page.locator(".frame.in-app")
    assert in_app.count() == 1 and "shop/catalog.py:88" in in_app.inner_text()
    assert (
        page.locator(".frame.in-app .context li.current").inner_text().strip().endswith("return PRICES[sku]")
    )
    assert XSS in in_app.inner_text()
    assert XSS_SCRIPT in page.locator("#breadcrumbs").inner_text()
    assert XSS_ALERT in page.locator("#tags").inner_text()
    assert metric(page, "count") == "3"
    assert_inert(page, page_log, dialogs)
    screenshot("errors-issue")

    seeder.sentry(sentry_error())
    wait_for_refresh(
        page, before, "() => document.querySelector('#issue-facts [data-metric=\"count\"]').innerText === '4'"
    )

    # An admin resolves it with the form; the page says so.
    page.click("#issue-actions button:has-text('Resolve')")
    page.wait_for_selector("p.notice")
    assert page.locator("[data-metric='status']").inner_text() == "resolved"
    with store.engine.connect() as conn:
        assert (
            conn.execute(sa.select(issues.c.status).where(issues.c.title.like("KeyError%"))).scalar_one()
            == "resolved"
        )
    assert_inert(page, page_log, dialogs)


def test_viewers_get_no_status_buttons(
    server: LiveServer, store: Store, seeder: Seeder, page: Page, page_log: PageLog
) -> None:
    seeder.sentry(sentry_error())
    with store.engine.begin() as conn:
        accounts.create_user(conn, "viewer@example.com", "viewer-password", "viewer", 0)
        issue_id = conn.execute(sa.select(issues.c.id)).scalar_one()
    log_in(page, server, "viewer@example.com", "viewer-password")
    page.goto(f"{server.url}/errors/{issue_id}?project={store.project.slug}")
    assert page.locator("#issue-actions").count() == 0 and page.locator("#viewer-note").is_visible()
    # A forged form post with the viewer's own CSRF token is still refused.
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    reply = page.request.post(
        f"{server.url}/errors/{issue_id}/status", form={"csrf_token": token or "", "status": "resolved"}
    )
    assert reply.status == 403
    with httpx.Client(base_url=server.url) as client:
        assert client.post(f"/errors/{issue_id}/status").status_code == 401  # no session at all
    assert page_log.errors == []
