"""The browser SDK: `GET /sdk/syncmon.js`, and `GET /sdk/web-vitals.js`, which it loads.

`syncmon.js` (syncmon/web/static/sdk/, README there) is served as written: plain ES2017,
no build step. Its PerformanceMonitoring measures web vitals with Google's `web-vitals`
library, the copy vendored in syncmon/web/static/vendor/vercel/ (version and licence in the
README there). That file defines a global `webVitals`; it is served inside a function that
hands the library to the SDK as `window.__SYNCMON__.webVitals` instead, so a page that
loads its own web-vitals keeps its global.

Both URLs are unversioned, so caches keep them for a bounded time and revalidate with the
ETag: an hour for the SDK (fixes reach pages the same day), a day for web-vitals (it
changes only when the vendored version does).
"""

from __future__ import annotations

from functools import cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.web.assets import Asset, asset_response, make_asset, not_found, package_file, without_source_map

SDK_FILE = ("static", "sdk", "syncmon.js")
WEB_VITALS_FILE = ("static", "vendor", "vercel", "web-vitals.attribution.iife.js")
WEB_VITALS_VERSION = "6.2.3"
SDK_CACHE = "public, max-age=3600"
WEB_VITALS_CACHE = "public, max-age=86400"


@cache
def sdk_script() -> Asset:
    return make_asset(package_file(*SDK_FILE))


@cache
def web_vitals_script() -> Asset:
    library = without_source_map(package_file(*WEB_VITALS_FILE)).decode()
    script = (
        f"/*! web-vitals {WEB_VITALS_VERSION} (attribution build), Copyright Google LLC,\n"
        " * Apache License 2.0, https://github.com/GoogleChrome/web-vitals;\n"
        " * served by SyncScript Monitor for syncmon.js. */\n"
        "(function () {\n"
        f"{library.rstrip()}\n"
        "var registry = (window.__SYNCMON__ = window.__SYNCMON__ || {});\n"
        "registry.webVitals = webVitals;\n"
        "})();\n"
    )
    return make_asset(script.encode())


def routes() -> list[Route]:
    async def syncmon_js(request: Request) -> Response:
        return asset_response(request, sdk_script(), SDK_CACHE)

    async def web_vitals_js(request: Request) -> Response:
        return asset_response(request, web_vitals_script(), WEB_VITALS_CACHE)

    async def missing(request: Request) -> Response:
        path = request.url.path
        shown = path if len(path) <= 160 else path[:160] + "…"
        return not_found(f"no such file {shown!r}: /sdk/ serves /sdk/syncmon.js and /sdk/web-vitals.js")

    return [
        Route("/sdk/syncmon.js", syncmon_js, methods=["GET"]),
        Route("/sdk/web-vitals.js", web_vitals_js, methods=["GET"]),
        # Anything else under /sdk/ is answered here, not by the dashboard's login redirect.
        Route("/sdk/{rest:path}", missing, methods=["GET", "HEAD"]),
    ]
