"""The dashboard's own CSS, JS and icon at `/assets/` (`/static/` belongs to posthog-js paths).

Files are read once at start from syncmon/web/assets/ and served from memory by name, so
no path from a request ever reaches the file system. Pages link them with `?v=<content
hash>`; such a URL never changes content and is cached for a year.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.web.dashboard.context import Dashboard
from syncmon.web.responses import JSONResponse


def routes(dash: Dashboard) -> list[Route]:
    assets = dash.renderer.assets

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        found = assets.get(name)
        if found is None:
            return JSONResponse({"error": f"no asset {name[:64]!r}"}, status_code=404)
        content, media_type, version = found
        etag = f'"{version}"'
        versioned = request.query_params.get("v") == version
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=31536000, immutable" if versioned else "no-cache",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(content, media_type=media_type, headers=headers)

    return [Route("/assets/{name}", asset, methods=["GET"])]
