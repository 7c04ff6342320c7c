"""Files shipped inside the package (scripts under syncmon/web/static/), served the way
browsers and CDNs expect: a strong ETag answered with 304, gzip when the client takes it,
explicit caching, and CORS so `<script crossorigin>` tags (which posthog-js uses for its
lazy bundles) may load them from another origin.

Each file is read and compressed once, on first use, and kept in memory: the largest set
served (posthog-js's bundles) is a few megabytes.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from syncmon.web.responses import JSONResponse

SCRIPT_MEDIA_TYPE = "text/javascript; charset=utf-8"
# Compressing below this size saves less than the header costs.
MIN_GZIP_BYTES = 1024
_SOURCE_MAP_LINE = re.compile(rb"\n//# sourceMappingURL=[^\n]*\n?$")
_CODING = re.compile(r"^\s*([A-Za-z0-9*-]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None  # None when compression would not help
    etag: str  # quoted strong validator of `body`, e.g. "3f1c…"
    media_type: str

    @property
    def gzip_etag(self) -> str:
        """The validator of the gzipped bytes: a strong ETag names one representation."""
        return self.etag[:-1] + '-gz"'


def make_asset(body: bytes, media_type: str = SCRIPT_MEDIA_TYPE) -> Asset:
    digest = hashlib.sha256(body).hexdigest()[:32]
    gzipped = None
    if len(body) >= MIN_GZIP_BYTES:
        # mtime=0: the same bytes on every start, so the validator of the gzipped
        # variant never changes between restarts or instances.
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    return Asset(body=body, gzipped=gzipped, etag=f'"{digest}"', media_type=media_type)


def package_file(*parts: str) -> bytes:
    """The bytes of syncmon/web/<parts…> as installed (wheel, sdist or source tree)."""
    node = resources.files("syncmon.web")
    for part in parts:
        node = node.joinpath(part)
    return node.read_bytes()


def package_listing(*parts: str) -> list[str]:
    """Names of the files in the package folder syncmon/web/<parts…>."""
    node = resources.files("syncmon.web")
    for part in parts:
        node = node.joinpath(part)
    return sorted(entry.name for entry in node.iterdir() if entry.is_file())


def without_source_map(script: bytes) -> bytes:
    """A script without its trailing `//# sourceMappingURL=` line, for files whose map is
    not shipped (browsers' developer tools would ask for it and get a 404)."""
    return _SOURCE_MAP_LINE.sub(b"\n", script)


@cache
def packaged_asset(*parts: str) -> Asset:
    return make_asset(package_file(*parts))


# --- HTTP semantics (pure) ----------------------------------------------------------------


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison against any listed tag, or `*`."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether Accept-Encoding admits gzip (`gzip`, `x-gzip` or `*`, with q above 0)."""
    if not accept_encoding:
        return False
    quality: dict[str, float] = {}
    for part in accept_encoding.split(","):
        match = _CODING.match(part)
        if match is None:
            continue
        try:
            q = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            continue
        quality[match.group(1).lower()] = q
    for coding in ("gzip", "x-gzip"):
        if coding in quality:
            return quality[coding] > 0
    return quality.get("*", 0.0) > 0


def asset_response(request: Request, asset: Asset, cache_control: str) -> Response:
    """200 with the body (gzipped when the client takes it), or 304 when the client's copy
    is current. For HEAD the server sends the same headers without the body."""
    gzipped = asset.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding"))
    headers = {
        "Cache-Control": cache_control,
        "ETag": asset.gzip_etag if gzipped else asset.etag,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, headers=headers, media_type=asset.media_type)
    return Response(asset.body, headers=headers, media_type=asset.media_type)


def not_found(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=404, headers={"Cache-Control": "no-store"})
