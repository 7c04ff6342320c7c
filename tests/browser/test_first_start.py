"""The dashboard as a new user meets it, following the README: `syncmon serve` on a fresh
data directory prints the admin's password once; the seed's payloads go in with curl;
the user logs in with the printed credentials, finds the data on every page, watches the
Overview count an event as it arrives, and nothing opens without logging in.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.browser.conftest import PageLog
from tests.support.live import ServerProcess, run_cli

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PAGES = ("/overview", "/admin/security-dashboard", "/errors", "/performance", "/analytics", "/alerts")
SEED_ERROR = {
    "type": "javascript_error", "message": "x is undefined", "filename": "app.js", "lineno": 3, "colno": 7,
}  # fmt: skip
VICTIM = "alice@syncscript.example"
# What a browser running the seed's code sends; curl's own agent counts as a bot, and bots'
# page views and vitals are not counted.
BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
)
# WCAG 2 contrast ratio of an element's text on its own background.
CONTRAST = """(element) => {
  const channels = (color) => color.match(/[\\d.]+/g).slice(0, 3).map(Number).map((c) => {
    c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
  const luminance = (color) => {
    const [r, g, b] = channels(color);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const style = getComputedStyle(element);
  const [a, b] = [luminance(style.color), luminance(style.backgroundColor)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


@pytest.fixture
def first_start(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, dict[str, str]]]:
    """A server started for the first time on SQLite, and the password it printed."""
    env = {
        "SYNCMON_DATA_DIR": str(tmp_path / "data"),
        "SYNCMON_DATABASE_URL": "",
        "SYNCMON_ADMIN_PASSWORD": "",  # empty: generated and printed once
        "SYNCMON_LIVE_HEARTBEAT_SECONDS": "1",
    }
    log = tmp_path / "server.log"
    with ServerProcess(env, log_path=log) as server:
        printed = re.search(r"created admin (\S+) with password: (\S+)", log.read_text())
        assert printed is not None, log.read_text()
        assert printed.group(1) == "admin@localhost"
        yield server, printed.group(2), env


def curl(url: str, body: object, *headers: str) -> dict[str, Any]:
    """POST as the README does, with curl; the reply must be a 200 with JSON."""
    args = ["curl", "-sS", "-X", "POST", url, "-H", "Content-Type: application/json", "-d", json.dumps(body)]
    for header in headers:
        args += ["-H", header]
    done = subprocess.run([*args, "-w", "\n%{http_code}"], capture_output=True, timeout=30, check=True)
    text, _, status = done.stdout.decode().rpartition("\n")
    assert status == "200", text
    reply: dict[str, Any] = json.loads(text)
    return reply


def send_the_seed(url: str, key: str) -> None:
    """The seed's client calls: an error, SecurityAnalytics' four kinds (a run of failed logins
    among them), page views, PerformanceMonitoring's metrics and API timings."""
    curl(f"{url}/api/monitoring/error?key={key}", SEED_ERROR)
    security = [{"event_type": "authentication", "auth_event": "login_failed", "user_id": VICTIM}] * 12 + [
        {"event_type": "authorization", "authz_event": "access_denied", "user_id": "bob", "target": "/admin"},
        {"event_type": "data_access", "data_event": "export", "user_id": "bob", "target": "customers"},
        {"event_type": "api_access", "api_event": "rate_limited", "user_id": "bob"},
    ]
    for event in security:
        curl(f"{url}/api/monitoring/security", event, f"X-Syncmon-Key: {key}")
    batch: list[dict[str, Any]] = []
    for n, path in enumerate(("/", "/editor", "/", "/pricing")):
        page_url = "https://syncscript.example" + path
        batch.append({"name": "page_view", "url": page_url, "session_id": f"s{n % 2}"})
        for metric, value in (("page_load_time", 1800), ("largest_contentful_paint", 1500)):
            batch.append(
                {"name": "performance_metric", "metric": metric, "value": value + 90 * n, "url": page_url}
            )
        batch.append({"kind": "request", "method": "GET", "route": "/api/documents/{id}",
                      "status": 500 if n == 3 else 200, "duration_ms": 80 + 30 * n})  # fmt: skip
    sent = curl(f"{url}/api/monitoring/events?key={key}", batch, f"User-Agent: {BROWSER_AGENT}")
    assert len(sent["ids"]) == len(batch)


def metric(page: Page, selector: str) -> str:
    return (page.text_content(selector) or "").strip()


def test_a_new_user_sees_the_seed_data_live_and_nobody_else_gets_in(
    first_start: tuple[ServerProcess, str, dict[str, str]],
    browser: Browser,
    page: Page,
    page_log: PageLog,
    screenshot: Callable[[str], Path],
) -> None:
    server, password, env = first_start
    key = json.loads(run_cli(env, "project", "list", "--json"))[0]["public_key"]
    send_the_seed(server.url, key)

    page.goto(server.url + "/")
    assert page.url.startswith(server.url + "/login")
    page.fill("input[name=email]", "admin@localhost")
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(server.url + "/overview")

    card = "[data-project='syncscript']"
    # 1 error, 15 security events, 16 in the batch
    assert metric(page, f"{card} [data-metric=events]") == "32"
    assert metric(page, f"{card} [data-metric=errors]") == "1"
    assert metric(page, f"{card} [data-metric=open-issues]") == "1"
    screenshot("overview")

    page.goto(server.url + "/admin/security-dashboard?project=syncscript")
    cards = {
        name: metric(page, f"[data-metric={name}]") for name in ("totalEvents", "authEvents", "dataEvents")
    }
    assert cards == {"totalEvents": "15", "authEvents": "12", "dataEvents": "1"}
    page.wait_for_selector(f"text={VICTIM}")  # the account under attack, in the lists
    screenshot("security")

    page.goto(server.url + "/errors?project=syncscript")
    assert "x is undefined" in metric(page, "tr[data-issue]")
    page.click("tr[data-issue] a")
    page.wait_for_selector("text=app.js")
    screenshot("error-issue")

    page.goto(server.url + "/performance?project=syncscript")
    assert metric(page, "[data-vital=LCP] [data-metric=count]") == "4"
    assert metric(page, "tr[data-route='GET /api/documents/{id}'] [data-metric=errors]") == "1"
    screenshot("performance")

    page.goto(server.url + "/analytics?project=syncscript")
    assert metric(page, "[data-metric=pageviews]") == "4"
    assert metric(page, "[data-metric=visitors]") == "2"
    screenshot("analytics")

    page.goto(server.url + "/settings/projects")
    snippet = page.locator("pre.snippet[data-snippet=syncmon-js]").first
    assert key in (snippet.text_content() or "")
    assert snippet.evaluate(CONTRAST) >= 4.5  # the install snippet is readable
    screenshot("settings-projects")

    page.goto(server.url + "/alerts/rules?project=syncscript")
    assert page.locator("text=javascript_errors").count() >= 1  # the seed's thresholds ship as rules
    page.goto(server.url + "/alerts?project=syncscript")
    screenshot("alerts")

    page.goto(server.url + "/overview?project=syncscript")
    page.wait_for_selector("[data-live-status][data-state=live]")
    curl(f"{server.url}/api/monitoring/error?key={key}", {**SEED_ERROR, "message": "y is undefined"})
    events = f"{card} [data-metric=events]"
    page.wait_for_function(f"() => document.querySelector(\"{events}\").textContent === '33'")
    assert metric(page, f"{card} [data-metric=errors]") == "2"
    assert not page_log.errors, page_log.errors

    stranger = browser.new_context()
    try:
        other = stranger.new_page()
        for path in PAGES:
            other.goto(server.url + path)
            assert other.url.startswith(server.url + "/login"), path
    finally:
        stranger.close()
    reply = httpx.get(server.url + "/api/v1/events", params={"project": "syncscript"}, timeout=30)
    assert reply.status_code == 401, reply.text
