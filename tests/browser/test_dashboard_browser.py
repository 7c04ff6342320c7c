"""The dashboard in real Chromium against the live server, on both engines: logging in and
out, refusals, lockout, the second factor, a viewer's read-only view, live updates, and
ingested markup staying inert text under the strict CSP. Each page is saved as a
screenshot in test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from syncmon.clock import ManualClock, SystemClock
from syncmon.store import accounts, projects
from syncmon.web.auth import totp
from syncmon.web.auth.headers import CONTENT_SECURITY_POLICY
from tests.browser.conftest import PageLog
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.live import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page

ADMIN = "admin@localhost"
# Each payload would set window.__xss (or open a dialog) if it ever ran.
PAYLOADS = {
    "message": "<img src=x onerror=\"window.__xss='message'\">",
    "url": "https://shop.example/?q=<script>window.__xss='url'</script>",
    "agent": "<svg onload=\"window.__xss='agent'\"></svg>",
    "property": "<iframe srcdoc=\"<script>parent.__xss='property'</script>\"></iframe>",
    "project": "Shop <b onmouseover=\"window.__xss='project'\">bold</b>",
    "live": "<img src=y onerror=\"alert('live')\">",
}
WATCH_SCRIPT = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def log_in(page: Page, url: str, email: str = ADMIN, password: str = ADMIN_PASSWORD) -> None:
    page.goto(url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")


def no_trouble(page_log: PageLog) -> None:
    assert not page_log.errors, page_log.errors
    refused = [line for line in page_log.console_text() if "content security policy" in line.lower()]
    assert not refused, refused


@pytest.fixture
def watched(page: Page) -> Iterator[list[str]]:
    """CSP violations and dialogs of the page, recorded as they happen."""
    dialogs: list[str] = []

    def on_dialog(dialog: object) -> None:
        dialogs.append(getattr(dialog, "message", "?"))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.add_init_script(WATCH_SCRIPT)
    page.on("dialog", on_dialog)
    yield dialogs


def test_login_and_logout(
    live: LiveServer, page: Page, page_log: PageLog, watched: list[str], screenshot: Callable[[str], Path]
) -> None:
    first = page.goto(live.url + "/")
    assert first is not None and page.url == live.url + "/login"
    assert first.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    screenshot("login")
    log_in(page, live.url)
    page.wait_for_url(live.url + "/overview")
    assert page.text_content(".account-link") == ADMIN
    assert page.get_attribute("html", "class") == "js"  # app.js ran: it is allowed by the CSP
    screenshot("overview")
    page.goto(live.url + "/logout")
    screenshot("logout")
    page.click("main form button[type=submit]")
    page.wait_for_url(live.url + "/login?logged_out=1")
    assert "You are logged out." in (page.text_content(".notice") or "")
    page.goto(live.url + "/overview")
    assert page.url.startswith(live.url + "/login?next=")
    assert page.evaluate("() => window.__violations") == [] and watched == []
    no_trouble(page_log)


def test_wrong_password_then_lockout(
    store: Store, page: Page, page_log: PageLog, screenshot: Callable[[str], Path]
) -> None:
    with LiveServer(store.settings_with(login_max_failures=3), store.engine) as live:
        log_in(page, live.url, password="not the password")
        page.wait_for_selector("p.error")
        assert page.text_content("p.error") == "Wrong email or password."
        assert page.input_value("input[name=email]") == ADMIN
        screenshot("wrong-password")
        for _ in range(2):
            log_in(page, live.url, password="still not it")
        page.wait_for_selector("p.error")
        assert "Too many failed logins for this account" in (page.text_content("p.error") or "")
        log_in(page, live.url)  # the right password, but the account is locked
        page.wait_for_selector("p.error")
        assert "Too many failed logins" in (page.text_content("p.error") or "")
        assert page.url.startswith(live.url + "/login")
        screenshot("locked")
    no_trouble(page_log)


def test_two_factor_enrolment_and_login(
    store: Store, page: Page, page_log: PageLog, screenshot: Callable[[str], Path]
) -> None:
    clock = ManualClock(SystemClock().now_ms())
    with LiveServer(store.settings, store.engine, clock=clock) as live:
        log_in(page, live.url)
        page.wait_for_url(live.url + "/overview")
        page.goto(live.url + "/account")
        screenshot("account")
        page.click("text=Set up two-factor authentication")
        page.wait_for_url(live.url + "/account/totp")
        assert page.locator("figure.qr svg").count() == 1
        screenshot("totp-enrol")
        secret = (page.text_content("#totp-secret") or "").replace(" ", "")
        page.fill(
            "#totp-confirm-form input[name=code]", totp.code_at(secret, totp.current_step(clock.now_ms()))
        )
        page.click("#totp-confirm-form button[type=submit]")
        page.wait_for_url(live.url + "/account?done=totp_on")
        assert "Two-factor authentication is on." in (page.text_content(".notice") or "")
        page.click(".account-menu button")  # log out
        page.wait_for_url(live.url + "/login?logged_out=1")
        clock.advance(30)  # the next code; the one used for enrolment cannot be used again
        log_in(page, live.url)
        page.wait_for_url(live.url + "/login/totp")
        screenshot("totp-step")
        page.fill(
            "#totp-form input[name=code]",
            "000000" if totp.code_at(secret, totp.current_step(clock.now_ms())) != "000000" else "111111",
        )
        page.click("#totp-form button[type=submit]")
        page.wait_for_selector("p.error")
        assert "not valid" in (page.text_content("p.error") or "")
        page.fill("#totp-form input[name=code]", totp.code_at(secret, totp.current_step(clock.now_ms())))
        page.click("#totp-form button[type=submit]")
        page.wait_for_url(live.url + "/overview")
    no_trouble(page_log)


def test_a_viewer_cannot_change_settings(
    live: LiveServer, store: Store, page: Page, page_log: PageLog, screenshot: Callable[[str], Path]
) -> None:
    with store.engine.begin() as conn:
        accounts.create_user(conn, "viv@example.com", "viewer-password", "viewer", SystemClock().now_ms())
        accounts.create_token(conn, "admin", "deploy", SystemClock().now_ms())
    log_in(page, live.url, "viv@example.com", "viewer-password")
    page.wait_for_url(live.url + "/overview")
    page.goto(live.url + "/settings/users")
    assert "Your role is viewer" in (page.text_content(".notice") or "")
    assert page.locator("form[method=post][action^='/settings']").count() == 0
    assert page.locator("#create-user-form").count() == 0
    screenshot("viewer-users")
    page.goto(live.url + "/settings/tokens")
    assert (
        page.locator("#create-token-form").count() == 0
        and page.locator("button:has-text('Revoke')").count() == 0
    )
    screenshot("viewer-tokens")
    # The server refuses too: a form posted anyway (with the right CSRF token), and the API.
    status = page.evaluate(
        """async () => {
            const token = document.querySelector('meta[name=csrf-token]').content;
            const form = new URLSearchParams({csrf_token: token, name: 'mine', role: 'admin'});
            const page = await fetch('/settings/tokens', {method: 'POST', body: form});
            const api = await fetch('/api/v1/issues/1', {
                method: 'PUT', body: JSON.stringify({status: 'resolved'}),
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token},
            });
            return [page.status, await page.text(), api.status, await api.json()];
        }"""
    )
    assert status[0] == 403 and "read-only" in status[1]
    assert status[2] == 403 and status[3] == {"error": "this needs an admin; your role is viewer (read-only)"}
    with store.engine.connect() as conn:
        assert [t.name for t in accounts.list_tokens(conn)] == ["deploy"]
    no_trouble(page_log)


def ingest(live: LiveServer, store: Store, path: str, payload: object, **headers: str) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        reply = client.post(
            f"/api/monitoring/{path}?key={store.project.public_key}", json=payload, headers=headers
        )
    assert reply.status_code == 200, reply.text


def test_the_overview_updates_live(
    store: Store, page: Page, page_log: PageLog, screenshot: Callable[[str], Path]
) -> None:
    with LiveServer(store.settings_with(live_heartbeat_seconds=1.0), store.engine) as live:
        log_in(page, live.url)
        page.wait_for_url(live.url + "/overview")
        page.goto(f"{live.url}/overview?project={store.project.slug}")
        events = f"[data-project='{store.project.slug}'] [data-metric=events]"
        assert page.text_content(events) == "0"
        page.wait_for_selector("[data-live-status][data-state=live]")
        page.evaluate("() => { window.__stayed = true; }")  # gone if the page reloaded
        ingest(live, store, "error", {"message": "checkout exploded", "url": "https://shop.example/checkout"})
        page.wait_for_function(f"() => document.querySelector(\"{events}\").textContent === '1'")
        assert page.text_content(f"[data-project='{store.project.slug}'] [data-metric=errors]") == "1"
        assert page.locator("#latest-events td.cell-message", has_text="checkout exploded").count() == 1
        assert page.evaluate("() => window.__stayed") is True
        screenshot("live-updated")
    no_trouble(page_log)


def test_ingested_markup_renders_as_inert_text(
    live: LiveServer,
    store: Store,
    page: Page,
    page_log: PageLog,
    watched: list[str],
    screenshot: Callable[[str], Path],
) -> None:
    with store.engine.begin() as conn:
        projects.create_project(conn, PAYLOADS["project"], SystemClock().now_ms())
    ingest(
        live,
        store,
        "error",
        {"message": PAYLOADS["message"], "url": PAYLOADS["url"]},
        **{"User-Agent": PAYLOADS["agent"]},
    )
    ingest(
        live,
        store,
        "events",
        [{"kind": "custom", "name": "signup", "properties": {"plan": PAYLOADS["property"]}}],
    )
    log_in(page, live.url)
    page.wait_for_url(live.url + "/overview")
    page.wait_for_selector("[data-live-status][data-state=live]")
    cells = page.locator("#latest-events tbody tr")
    texts = " | ".join(cells.all_text_contents())
    for key in ("message", "url", "agent"):
        assert PAYLOADS[key] in texts, key
    signup = page.locator("#latest-events tbody tr", has=page.locator("td.cell-name", has_text="signup"))
    assert signup.locator(".cell-properties .value").all_text_contents() == [PAYLOADS["property"]]
    assert PAYLOADS["project"] in (page.text_content(".cards") or "")
    assert PAYLOADS["project"] in (page.text_content(".switcher select[name=project]") or "")
    # The live path (fetch, DOMParser, swap) keeps text as text as well.
    ingest(live, store, "error", {"message": PAYLOADS["live"]})
    page.wait_for_function(
        "(text) => document.querySelector('#latest-events').textContent.includes(text)", arg=PAYLOADS["live"]
    )
    inside = page.evaluate(
        "() => document.querySelectorAll('#latest-events img, #latest-events svg, #latest-events iframe,"
        " #latest-events script, .cards b, .cards img').length"
    )
    assert inside == 0
    page.wait_for_timeout(300)  # time for any handler that could have slipped through
    assert page.evaluate("() => window.__xss") is None
    assert watched == []
    assert page.evaluate("() => window.__violations") == []  # nothing was even tried
    screenshot("inert-payloads")
    no_trouble(page_log)


def test_every_page_of_the_shell(
    live: LiveServer,
    store: Store,
    page: Page,
    page_log: PageLog,
    screenshot: Callable[[str], Path],
) -> None:
    page.add_init_script(WATCH_SCRIPT)
    questions: list[str] = []

    def answer(dialog: Dialog) -> None:  # the data-confirm question before revoking
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    log_in(page, live.url)
    page.wait_for_url(live.url + "/overview")
    nav = page.locator("nav.sections a")
    assert nav.all_text_contents() == [
        "Overview",
        "Security",
        "Errors",
        "Performance",
        "Analytics",
        "Alerts",
        "Settings",
    ]
    page.select_option("select[name=range]", "24h")  # app.js submits the switcher on change
    page.wait_for_url(re.compile(r".*/overview\?project=&range=24h$"))
    for key in ("security", "errors", "performance", "analytics", "alerts"):
        page.click(f"nav.sections a[href^='/{key}']")
        page.wait_for_url(re.compile(rf".*/{key}\?range=24h$"))
        assert page.get_attribute(f"nav.sections a[href^='/{key}']", "aria-current") == "page"
        assert "This page is not built yet" in (page.text_content("main") or "")
        screenshot(key)
    page.click("nav.sections a[href='/settings/users']")
    page.wait_for_url(live.url + "/settings/users")
    screenshot("settings-users")
    page.fill("#create-user-form input[name=email]", "new@example.com")
    page.click("#create-user-form button[type=submit]")
    page.wait_for_selector("#created-password")
    screenshot("user-created")
    page.click("nav.tabs a[href='/settings/tokens']")
    page.fill("#create-token-form input[name=name]", "deploy script")
    page.click("#create-token-form button[type=submit]")
    token = page.text_content("#created-token") or ""
    assert token.startswith("smt_")
    screenshot("token-created")
    page.goto(live.url + "/settings/tokens")
    assert token not in (page.content())
    page.click("#tokens button:has-text('Revoke')")
    page.wait_for_url(live.url + "/settings/tokens?done=revoked")
    assert questions == ["Revoke deploy script? Scripts using it get 401 from then on."]
    screenshot("token-revoked")
    assert page.evaluate("() => window.__violations") == []
    no_trouble(page_log)
