"""Alerting configured through the dashboard in real Chromium, on both engines: an admin creates
a webhook channel pointed at a real loopback receiver (the kind chosen from the registry),
an escalation policy paging it and an alert rule, sends the rule a test and the receiver
gets it, signed with the channel's secret, which no page ever shows. Screenshots of the
forms go to test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from syncmon.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.browser.conftest import PageLog
from tests.channels.support import Receiver
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.alert_fixtures import poll
from tests.support.live import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page

ADMIN = "admin@localhost"
SECRET = "hmac-browser-secret-W4V1"
RULE = """name: browser_signups
kind: count
select: {kind: custom, names: [signup]}
window: 5m
threshold: 100
severity: warning
"""


def test_configure_alerting_in_the_dashboard_and_send_a_test(
    live: LiveServer, store: Store, page: Page, page_log: PageLog, screenshot: Callable[[str], Path]
) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", record)
    page.goto(live.url + "/login")
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/overview")

    with Receiver() as receiver:
        hook = receiver.url + "/browser-hook"
        page.goto(live.url + "/alerts/channels")
        page.click("#new-channel")
        page.wait_for_url("**/alerts/channels/new")
        page.select_option("#channel-kind-form select[name=kind]", "webhook")  # app.js submits on change
        page.wait_for_url("**/alerts/channels/new?kind=webhook")
        page.fill("#channel-form input[name=name]", "browser hook")
        page.select_option("#channel-form select[name=project]", store.project.slug)
        page.fill("#channel-form input[name='config.url']", hook)
        page.fill("#channel-form input[name='config.secret']", SECRET)
        screenshot("channel-form")
        page.click("#channel-form button.primary")
        page.wait_for_url("**/alerts/channels/*?done=created")
        channel_id = page.url.split("/alerts/channels/")[1].split("?")[0]
        content = page.content()
        assert SECRET not in content and "browser-hook" not in content
        assert (
            page.locator("[data-secret='url']").inner_text() == "A value is stored; leave blank to keep it."
        )

        page.goto(live.url + "/alerts/escalation")
        page.click("#new-policy")
        page.wait_for_url("**/alerts/escalation/new")
        page.fill("#policy-form input[name=name]", "browser on-call")
        page.select_option("#policy-form select[name=project]", store.project.slug)
        page.check("input[name=default]")
        page.fill("input[name='level-0-timeout']", "300")
        page.select_option("select[name='level-0-target-0-channel']", channel_id)
        page.click("#policy-form button.primary")
        page.wait_for_url("**/alerts/escalation?done=created*")
        assert "browser hook" in page.locator("[data-policy]").first.inner_text()

        page.goto(f"{live.url}/alerts/rules?project={store.project.slug}")
        page.click("#new-rule")
        page.wait_for_url("**/alerts/rules/new*")
        page.fill("textarea[name=definition]", RULE.replace("threshold: 100", "threshold: many"))
        page.click("#rule-form button.primary")
        assert "threshold: Input should be a valid number" in page.locator("#form-error").inner_text()
        assert "threshold: many" in page.input_value("textarea[name=definition]")  # the text typed is kept
        page.fill("textarea[name=definition]", RULE)
        page.click("#rule-form button.primary")
        page.wait_for_url("**/alerts/rules/*?done=created")
        routing = page.locator("#rule-routing").inner_text()
        assert "browser on-call" in routing and "browser hook" in routing
        screenshot("rule")

        page.click("#rule-test-form button")
        page.wait_for_selector("#test-sent")
        assert "queued (outbox" in page.locator(f"#test-sent [data-sent-channel='{channel_id}']").inner_text()
        screenshot("rule-test-sent")
        (request,) = poll(
            lambda: [r for r in receiver.requests if r.path == "/browser-hook"], lambda r: len(r) == 1
        )
        body = request.json()
        assert body["syncmon"]["title"] == "Test notification for alert rule browser_signups"
        assert body["groupKey"].startswith(f"syncmon-test:{channel_id}:")
        timestamp = request.headers[TIMESTAMP_HEADER.lower()]
        assert verify_signature(
            SECRET, timestamp, request.body, request.headers[SIGNATURE_HEADER.lower()], now_s=float(timestamp)
        )

        page.goto(f"{live.url}/alerts/channels?tested={channel_id}")
        page.wait_for_selector(f"#channel-{channel_id} [data-delivery]")
        assert SECRET not in page.content()
        screenshot("channels")

    assert dialogs == [], dialogs
    assert page_log.errors == [], page_log.errors
    refused = [m for m in page_log.console_text() if "status of 400" in m]
    assert len(refused) == 1, refused  # the rule refused on purpose above, answered with its 400
    violations = [
        m
        for m in page_log.console_text()
        if ("Content Security Policy" in m or "[error]" in m) and m not in refused
    ]
    assert violations == [], violations
