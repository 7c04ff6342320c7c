"""posthog-js's browser bundles at `/static/<file>.js`, where posthog-js looks for them.

posthog-js loads its optional parts lazily from `<api_host>/static/<kind>.js?v=<version>`
(web vitals, exception autocapture, dead clicks, the recorder, surveys …), and the
snippet loads the library itself from `<api_host>/static/array.js`; with
`strict_script_versioning` it asks for `/static/<version>/<kind>.js` first. The files are
the npm package's own `dist/` bundles, vendored byte for byte in
syncmon/web/static/vendor/posthog-js/ (version, licence and origin in the README there).

Only the vendored `.js` files are served: a name is looked up in the folder's listing,
never joined to a path, so nothing else in the package can be reached. Anything else is a
404 with a JSON message. A request naming the vendored version (`?v=` or the versioned
path) may be cached for a year; other requests for an hour, since an upgrade of the vendored
package changes what the unversioned URL holds. posthog-js adds `crossorigin="anonymous"`
to its script tags, so every reply allows any origin.
"""

from __future__ import annotations

import re
from functools import cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.web.assets import Asset, asset_response, not_found, package_file, package_listing, packaged_asset

FOLDER = ("static", "vendor", "posthog-js")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=3600"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.js$")


@cache
def vendored_version() -> str:
    return package_file(*FOLDER, "VERSION").decode().strip()


@cache
def served_files() -> frozenset[str]:
    return frozenset(name for name in package_listing(*FOLDER) if _NAME.match(name))


def find_bundle(name: str) -> Asset | None:
    """The vendored bundle called `name`, or None for any other name."""
    if not _NAME.match(name) or name not in served_files():
        return None
    return packaged_asset(*FOLDER, name)


def _missing(path: str) -> Response:
    shown = path if len(path) <= 160 else path[:160] + "…"
    return not_found(
        f"no such file {shown!r}: /static/ serves the bundles of posthog-js {vendored_version()}, "
        "such as /static/array.js"
    )


def routes() -> list[Route]:
    async def bundle(request: Request) -> Response:
        name = str(request.path_params["name"])
        asset = find_bundle(name)
        if asset is None:
            return _missing(f"/static/{name}")
        versioned = request.query_params.get("v") == vendored_version()
        return asset_response(request, asset, IMMUTABLE if versioned else REVALIDATE)

    async def missing(request: Request) -> Response:
        return _missing(request.url.path)

    async def versioned_bundle(request: Request) -> Response:
        version = str(request.path_params["version"])
        name = str(request.path_params["name"])
        asset = find_bundle(name) if version == vendored_version() else None
        if asset is None:
            return _missing(f"/static/{version}/{name}")
        return asset_response(request, asset, IMMUTABLE)

    return [
        Route("/static/{name}", bundle, methods=["GET"]),
        Route("/static/{version}/{name}", versioned_bundle, methods=["GET"]),
        # Anything else under /static/ is answered here, not by the dashboard's login redirect.
        Route("/static/{rest:path}", missing, methods=["GET", "HEAD"]),
    ]
