"""Real-browser tests: headless Chromium driven by Playwright against the live server.

- `browser` (package): one Chromium for all of tests/browser/, the system's /usr/bin/chromium (or
  SYNCMON_CHROMIUM). Without it, or without the `playwright` package, browser tests are
  skipped, unless SYNCMON_REQUIRE_BROWSER=1 (as in CI), which turns that into a failure.
- `site` (session): a static file server on its own 127.0.0.1 port for tests/browser/pages/
  (at /pages/) and tests/browser/vendor/ (at /vendor/). A test page therefore runs on
  another origin than the `live` monitor, cross-origin like a real application. An HTML
  page asked for with `?csp=<policy>` is served with that Content-Security-Policy header
  (and `?reporting_endpoints=` with Reporting-Endpoints), so a test can give a page a real
  policy whose reports go to the live monitor. (Playwright's `route.fulfill` cannot stand
  in: Chromium then puts the document outside the loopback address space and refuses its
  requests to the monitor.)
- `page`: a new browser context and page for each test; what the page does is recorded
  in `page_log` (console messages, uncaught errors, failed requests, responses), and
  its final state is saved as a PNG in test-artifacts/screenshots/ when the test ends.
- `screenshot`: saves the page now, as test-artifacts/screenshots/<test>-<label>.png.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("SYNCMON_CHROMIUM") or "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("SYNCMON_REQUIRE_BROWSER") == "1"

# Headless, and quiet on the network: without the background-networking flags Chromium
# keeps trying to reach Google's services, which a closed network turns into a flood.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVED = (HERE / "pages", HERE / "vendor")


def _unavailable(reason: str) -> NoReturn:
    if REQUIRE_BROWSER:
        pytest.fail(f"a browser is required (SYNCMON_REQUIRE_BROWSER=1) but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Chromium, started once for all the browser tests (everything under tests/browser/).

    Package scope, not session: while Playwright's sync API is started, its event loop
    counts as running in the main thread, which breaks every pytest-asyncio test run after
    it ("Runner.run() cannot be called from a running event loop"). So it stops as soon as
    the last browser test is done.
    """
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the `playwright` package is not installed (pip install -e '.[dev]')")
    executable = shutil.which(CHROMIUM) or CHROMIUM
    if not os.access(executable, os.X_OK):
        _unavailable(
            f"no Chromium at {CHROMIUM} (apt-get install chromium, or point SYNCMON_CHROMIUM at one)"
        )
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=60_000
            )
        except PlaywrightError as exc:
            _unavailable(f"Chromium at {executable} did not start: {str(exc).strip()[:2000]}")
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


class _StaticHandler(SimpleHTTPRequestHandler):
    """Files under /pages/ and /vendor/ only, never cached, nothing logged."""

    def send_head(self) -> Any:
        wanted = Path(self.translate_path(self.path))
        if not any(wanted.is_relative_to(root) for root in SERVED):
            self.send_error(404, "not served")
            return None
        return super().send_head()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        for name, value in policy_headers(self.path):
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


POLICY_PARAMS = {"csp": "Content-Security-Policy", "reporting_endpoints": "Reporting-Endpoints"}


def policy_headers(path: str) -> list[tuple[str, str]]:
    """The response headers a page's query asks for (`?csp=`, `?reporting_endpoints=`)."""
    parts = urlsplit(path)
    if not parts.path.endswith(".html"):
        return []
    query = parse_qs(parts.query)
    return [(header, query[param][0]) for param, header in POLICY_PARAMS.items() if query.get(param)]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser dropping a connection is not a test failure


@dataclass
class StaticSite:
    """The static server for test pages: `url` is its origin, e.g. http://127.0.0.1:41234."""

    url: str

    def page_url(self, name: str, **query: str) -> str:
        """The URL of tests/browser/pages/<name>, with a query string built from `query`."""
        return f"{self.url}/pages/{name}" + (f"?{urlencode(query)}" if query else "")


@pytest.fixture(scope="session")
def site() -> Iterator[StaticSite]:
    server = _QuietServer(("127.0.0.1", 0), partial(_StaticHandler, directory=str(HERE)))
    thread = threading.Thread(target=server.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield StaticSite(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass
class PageLog:
    """What happened in a test's page, recorded as it happened."""

    console: list[ConsoleMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[Request] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)

    def console_text(self) -> list[str]:
        return [f"[{message.type}] {message.text}" for message in self.console]

    def failed_text(self) -> list[str]:
        return [f"{request.method} {request.url}: {request.failure}" for request in self.failed]

    def responses_to(self, fragment: str) -> list[Response]:
        return [response for response in self.responses if fragment in response.url]


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


def _artifact_name(request: pytest.FixtureRequest, label: str = "") -> str:
    module = Path(str(request.node.path)).stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{module}__{request.node.name}").strip("_")
    return f"{name}-{label}.png" if label else f"{name}.png"


@pytest.fixture
def page(browser: Browser, page_log: PageLog, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context and page for this test; its final state is saved as a screenshot."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    new_page.on("console", lambda message: page_log.console.append(message))
    new_page.on("pageerror", lambda exc: page_log.errors.append(f"{exc.name}: {exc.message}"))
    new_page.on("requestfailed", lambda failed: page_log.failed.append(failed))
    new_page.on("response", lambda response: page_log.responses.append(response))
    try:
        yield new_page
    finally:
        try:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            new_page.screenshot(path=SCREENSHOTS / _artifact_name(request), full_page=True, timeout=10_000)
        except Exception as exc:  # a crashed page must not hide the test's own outcome
            print(f"final screenshot not saved: {exc}")
        context.close()


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """`screenshot("label")` saves the page now and returns the PNG's path."""

    def save(label: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / _artifact_name(request, re.sub(r"[^A-Za-z0-9_.-]+", "_", label))
        page.screenshot(path=path, full_page=True)
        return path

    return save
