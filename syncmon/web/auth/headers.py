"""Security headers of every dashboard and API response (never of the ingest endpoints).

The Content-Security-Policy allows scripts, styles, images and connections from the
monitor itself only, no inline script or style, no plugins, no <base>, no framing and
forms posting nowhere else: ingested strings are escaped by the templates, and if one
ever were not, the browser would still refuse to run it.
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HSTS = "max-age=31536000"

BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)


def security_headers(
    existing: list[tuple[bytes, bytes]], *, https: bool, cacheable: bool
) -> list[tuple[bytes, bytes]]:
    """`existing` raw ASGI headers plus ours (a header the handler set itself is kept)."""
    present = {name.lower() for name, _ in existing}
    added = [(name.encode(), value.encode()) for name, value in BASE_HEADERS if name.encode() not in present]
    if https and b"strict-transport-security" not in present:
        added.append((b"strict-transport-security", HSTS.encode()))
    if not cacheable and b"cache-control" not in present:
        added.append((b"cache-control", b"no-store"))
    return [*existing, *added]
