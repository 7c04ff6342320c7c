"""The official Sentry browser SDK, in real Chromium, reporting to the live server.

The page (tests/browser/pages/sentry.html) is served from another origin than the
monitor, so every envelope is a cross-origin fetch: the CORS headers must let the SDK
read the reply. Runs on both storage engines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tests.browser.conftest import PageLog, StaticSite
from tests.conftest import Store
from tests.support.live import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

RELEASE = "web@1.0.0"
UNCAUGHT_TITLE = "Error: payment service unreachable for order 42"
CAUGHT_TITLE_PREFIX = "TypeError: Cannot read properties of null"
MESSAGE_TITLE = "cart abandoned at payment step"
BROWSERS = {"HeadlessChrome", "Chrome", "Chromium"}


def _wait_for_issues(client: httpx.Client, slug: str, token: str, count: int) -> list[dict[str, Any]]:
    """The project's issues once there are `count` of them (10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        reply = client.get("/api/v1/issues", params={"project": slug}, headers=_auth(token))
        assert reply.status_code == 200, reply.text
        issues: list[dict[str, Any]] = reply.json()["issues"]
        if len(issues) >= count or time.monotonic() > deadline:
            return issues
        time.sleep(0.1)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _frames(event: dict[str, Any]) -> list[dict[str, Any]]:
    values = (event["data"].get("exception") or {}).get("values") or []
    return [frame for value in values for frame in (value.get("stacktrace") or {}).get("frames") or []]


def _envelope_report(log: PageLog) -> str:
    lines = []
    for response in log.responses_to("/envelope/"):
        try:
            body = response.text()
        except Exception as exc:
            body = f"<unreadable: {exc}>"
        lines.append(f"{response.request.method} {response.url} -> {response.status} {body[:300]}")
    return "\n".join(lines) or "no envelope responses"


def test_sentry_browser_sdk_reports_errors_and_messages(
    live: LiveServer,
    store: Store,
    admin_token: str,
    site: StaticSite,
    page: Page,
    page_log: PageLog,
    screenshot: Callable[[str], Path],
) -> None:
    dsn = store.project.dsn(live.url)
    page.goto(site.page_url("sentry.html", dsn=dsn))
    assert not page_log.errors, page_log.errors
    assert page.evaluate("() => window.shop !== undefined && window.Sentry.getClient() !== undefined")

    page.click("#checkout")  # fails in a timer: an uncaught Error for the global handler
    page.wait_for_function("() => document.getElementById('log').textContent.includes('clicked')")
    caught_id = page.evaluate("() => window.shop.reportCaughtError()")
    message_id = page.evaluate("() => window.shop.reportMessage()")
    deadline = time.monotonic() + 10
    while not page_log.errors and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert page.evaluate("() => window.shop.flush()") is True, _envelope_report(page_log)

    with live.client() as client:
        issues = _wait_for_issues(client, store.project.slug, admin_token, 3)
        by_title = {issue["title"]: issue for issue in issues}
        report = f"issues: {sorted(by_title)}\nenvelopes:\n{_envelope_report(page_log)}"
        assert len(issues) == 3, report
        caught_titles = [title for title in by_title if title.startswith(CAUGHT_TITLE_PREFIX)]
        assert UNCAUGHT_TITLE in by_title and MESSAGE_TITLE in by_title and caught_titles, report
        assert "'items'" in caught_titles[0]

        for issue in issues:
            assert issue["platform"] == "javascript", issue
            assert issue["releases"] == [RELEASE] and issue["last_release"] == RELEASE, issue
            assert issue["environments"] == ["test"], issue
            assert issue["count"] == 1, issue
        assert by_title[MESSAGE_TITLE]["level"] == "warning"

        details = {}
        for title, issue in by_title.items():
            reply = client.get(f"/api/v1/issues/{issue['id']}", headers=_auth(admin_token))
            assert reply.status_code == 200, reply.text
            details[title] = reply.json()["latest_event"]
        for title, event in details.items():
            assert event["release"] == RELEASE and event["environment"] == "test", (title, event)
            assert event["user_agent"]["browser"] in BROWSERS, (title, event["user_agent"])
            assert event["url"] and event["url"].startswith(site.url + "/pages/sentry.html"), event["url"]

        uncaught = details[UNCAUGHT_TITLE]
        functions = [frame.get("function") for frame in _frames(uncaught)]
        assert "submitOrder" in functions and "processCheckout" in functions, functions
        own = [frame for frame in _frames(uncaught) if frame.get("function") == "submitOrder"]
        assert own[0]["filename"].endswith("/pages/sentry-app.js") and own[0]["lineno"] > 0, own
        mechanism = uncaught["data"]["exception"]["values"][-1].get("mechanism") or {}
        assert mechanism.get("handled") is False, mechanism

        caught = details[caught_titles[0]]
        assert caught["id"] == caught_id.replace("-", "")
        assert "parseCart" in [frame.get("function") for frame in _frames(caught)]
        assert details[MESSAGE_TITLE]["id"] == message_id.replace("-", "")

    # The SDK's envelopes went cross-origin and every reply was readable.
    envelopes = page_log.responses_to("/envelope/")
    assert len(envelopes) >= 3, _envelope_report(page_log)
    for response in envelopes:
        assert response.status == 200, _envelope_report(page_log)
        assert response.headers.get("access-control-allow-origin") == site.url, response.headers
    # The page reads a reply itself, both as a simple request (like the SDK's) and as one
    # that needs a preflight (a Content-Type that is not CORS-safelisted).
    client_report = "\n".join(
        json.dumps(part)
        for part in (
            {"dsn": dsn},
            {"type": "client_report"},
            {
                "timestamp": time.time(),
                "discarded_events": [{"reason": "test", "category": "error", "quantity": 1}],
            },
        )
    )
    for content_type in (None, "application/x-sentry-envelope"):
        reply = page.evaluate("([b, t]) => window.shop.postEnvelope(b, t)", [client_report, content_type])
        assert reply.get("status") == 200 and json.loads(reply["body"]) == {}, (content_type, reply)

    assert page_log.errors == [UNCAUGHT_TITLE], page_log.errors
    noisy = [line for line in page_log.console_text() if any(w in line.lower() for w in ("cors", "blocked"))]
    assert not noisy, page_log.console_text()
    assert not page_log.failed, page_log.failed_text()
    screenshot("reported")
