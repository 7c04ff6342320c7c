"""CSRF tokens: one per session, sent back in a form field or the X-CSRF-Token header.

A page from another site can make the browser send a form with our cookie (SameSite=Lax
still allows top-level POST navigations from some places, and older browsers ignore
it), but it cannot read our pages, so it cannot know the token. Bearer-token API calls
need none: a browser never attaches an Authorization header by itself.
"""

from __future__ import annotations

import hmac
import secrets

HEADER = "x-csrf-token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing token on either side never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def is_state_changing(method: str) -> bool:
    return method.upper() not in SAFE_METHODS
