"""posthog-js, loaded from the monitor's /static/ and configured exactly as the seed's
pages/_app.tsx (only `api_host` changed), in real Chromium against the live server.

The page (tests/browser/pages/posthog.html) runs on another origin than the monitor with a
Content-Security-Policy that reports to the monitor. Everything the seed's setup should
record is read back through the read API: the manual page view, a custom event, the seed's
SecurityAnalytics event, the web vitals posthog-js measures with its lazily loaded web-vitals
bundle, a thrown error and an unhandled rejection caught by posthog-js's exception
autocapture (switched on by the monitor's remote config: the seed's config leaves it to the
server), and the browser's own CSP report. Runs on both storage engines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncmon.web.posthog_static import vendored_version
from tests.browser.conftest import PageLog, StaticSite
from tests.browser.monitor import HUMAN_VISITOR, Monitor, csp_policy, summary
from tests.conftest import Store
from tests.support.live import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

THROWN = "Error: payment service unreachable for order 42"
REJECTED = "TypeError: inventory lookup failed for sku 7"
POSTHOG_VITALS = {"LCP", "INP", "CLS", "FCP"}  # posthog-js does not send TTFB


def _handled(event: dict[str, Any]) -> Any:
    """The `handled` flag of the exception's mechanism: False for what autocapture caught."""
    values = (event["data"].get("exception") or {}).get("values") or []
    return (values[-1].get("mechanism") or {}).get("handled") if values else None


def test_posthog_js_with_the_seed_config_reports_to_the_monitor(
    live: LiveServer,
    store: Store,
    admin_token: str,
    site: StaticSite,
    page: Page,
    page_log: PageLog,
    screenshot: Callable[[str], Path],
) -> None:
    key = store.project.public_key
    page.context.add_init_script(HUMAN_VISITOR)
    page.goto(site.page_url("posthog.html", monitor=live.url, key=key, csp=csp_policy(live.url, key)))
    page.wait_for_function("() => window.shop.loaded")
    # posthog-js loads its exception autocapture and web vitals bundles from /static/ once
    # the remote config has arrived; the page is what it is only after that.
    page.wait_for_function(
        """() => {
            const extensions = window.__PosthogExtensions__ || {};
            return Boolean(extensions.errorWrappingFunctions &&
                (extensions.postHogWebVitalsCallbacks || extensions.postHogWebVitalsCallbacksByFlavor));
        }"""
    )
    page.evaluate(
        """() => {
            shop.capturePageView();
            shop.startCheckout();
            shop.failLogin();
            shop.violateCsp();
            shop.throwLater();
            shop.rejectLater();
        }"""
    )
    page.click("#checkout")  # an interaction: INP is measured and LCP is final
    page.wait_for_function("() => document.getElementById('log').textContent.includes('clicked')")
    screenshot("captured")
    # Leaving the page: posthog-js sends its queue, $pageleave and $web_vitals with sendBeacon.
    page.goto(site.page_url("goodbye.html"))

    with live.client() as client:
        monitor = Monitor(client, admin_token, store.project.slug)
        everything = monitor.wait_for(
            lambda found: (
                len(found) >= 11
                and {e["name"] for e in found if e["kind"] == "performance_metric"} >= POSTHOG_VITALS
            )
        )
        report = summary(everything)

        (view,) = monitor.events(kind="page_view")
        assert view["url"].startswith(f"{site.url}/pages/posthog.html"), view
        # The seed's loaded() callback registers these as super-properties.
        assert (view["release"], view["environment"]) == ("1.4.0", "production"), view
        assert view["data"]["security_level"] == "enterprise"
        assert view["data"]["$lib"] == "web"
        assert view["user_agent"]["browser"] in {"HeadlessChrome", "Chrome", "Chromium"}, view["user_agent"]

        (checkout,) = monitor.events(kind="custom", name="checkout_started")
        assert (checkout["data"]["cart_value"], checkout["data"]["items"]) == (129.5, 3), checkout
        assert checkout["session_id"] == view["session_id"] and view["session_id"], (checkout, view)
        assert monitor.events(kind="custom", name="$pageleave"), report

        (login,) = monitor.events(kind="security")
        assert login["message"] == "authentication: login_failed", login
        assert login["level"] == "warning"
        assert login["data"]["auth_event"] == "login_failed" and login["data"]["username"] == "ada"

        errors = [e for e in monitor.events(kind="error") if e["name"] != "csp_violation"]
        by_message = {e["message"]: e for e in errors}
        assert set(by_message) == {THROWN, REJECTED}, summary(errors)
        thrown, rejected = by_message[THROWN], by_message[REJECTED]
        assert thrown["data"]["$event"] == rejected["data"]["$event"] == "$exception"
        assert _handled(thrown) is False and _handled(rejected) is False, (thrown["data"], rejected["data"])
        functions = [
            frame.get("function")
            for value in thrown["data"]["exception"]["values"]
            for frame in (value.get("stacktrace") or {}).get("frames") or []
        ]
        assert "submitOrder" in functions, thrown["data"]["exception"]
        assert thrown["issue_id"] and rejected["issue_id"] and thrown["issue_id"] != rejected["issue_id"]

        (violation,) = monitor.events(kind="error", name="csp_violation")
        assert violation["data"]["report_format"] == "csp-report", violation["data"]
        assert violation["data"]["blocked_uri"] == f"{live.url}/healthz?pixel=1"
        assert violation["data"]["effective_directive"] == "img-src"
        assert violation["url"].startswith(f"{site.url}/pages/posthog.html"), violation

        metrics = monitor.events(kind="performance_metric")
        assert {m["name"] for m in metrics} == POSTHOG_VITALS, summary(metrics)
        for metric in metrics:
            assert metric["data"]["$event"] == "$web_vitals"
            assert metric["data"]["rating"] in {"good", "needs-improvement", "poor"}, metric
            assert metric["release"] == "1.4.0"
        inp = next(m for m in metrics if m["name"] == "INP")
        assert inp["value"] >= 40, inp  # the click handler ran for 80 ms

        vitals = monitor.vitals()
        assert {name for name in vitals if vitals[name]["count"]} == POSTHOG_VITALS, vitals
        assert monitor.vitals(page="/pages/posthog.html")["INP"]["count"] == 1

        pageviews = monitor.pageviews()
        assert pageviews["totals"]["pageviews"] == 1, pageviews
        assert {"value": "/pages/posthog.html", "count": 1} in pageviews["top"]["pages"], pageviews

    # posthog-js came from /static/, with its lazy bundles, at the vendored version.
    bundles = page_log.responses_to(f"{live.url}/static/")
    loaded = {response.url.split("/static/", 1)[1].split("?")[0] for response in bundles}
    version = vendored_version()
    assert "array.js" in loaded, loaded
    assert f"{version}/exception-autocapture.js" in loaded or "exception-autocapture.js" in loaded, loaded
    assert any("web-vitals" in name for name in loaded), loaded
    for response in bundles:
        assert response.status == 200, response.url
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["content-type"].startswith("text/javascript")

    assert page_log.errors == [THROWN], page_log.errors
    unexpected = [
        r
        for r in page_log.failed
        if r.url != f"{live.url}/healthz?pixel=1" and r.failure != "net::ERR_ABORTED"
    ]
    assert not unexpected, page_log.failed_text()
