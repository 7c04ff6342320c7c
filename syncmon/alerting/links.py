"""Signed, expiring acknowledge / resolve links carried in every notification.

A link is `<public url>/alerting/act/<token>` with the token
`<incident id>.<action>.<expiry, epoch seconds>.<to whom it was sent>.<signature>`, the
signature an HMAC-SHA256 of the rest under the server's link secret. Anyone holding the
link may act on that one incident until it expires, which is what a pager message needs;
changing any part of it breaks the signature. Following a link (GET) only shows a
confirmation page: mail scanners that open every link must not acknowledge by accident.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from syncmon.store.schema import server_secrets

LINK_PATH = "/alerting/act/"
SECRET_NAME = "alert_link_secret"
_TOKEN = re.compile(
    r"^(\d{1,18})\.(acknowledge|resolve)\.(\d{1,12})\.([a-z0-9:-]{0,64})\.([A-Za-z0-9_-]{43})$"
)


class LinkAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class LinkError(ValueError):
    """A link that cannot be used; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class LinkClaim:
    incident_id: int
    action: LinkAction
    expires_s: int
    via: str  # "user:3", "channel:7": whom the link was sent to


def _signature(secret: bytes, body: str) -> str:
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: bytes, claim: LinkClaim) -> str:
    body = f"{claim.incident_id}.{claim.action.value}.{claim.expires_s}.{claim.via}"
    return f"{body}.{_signature(secret, body)}"


def verify(secret: bytes, token: str, now_ms: int) -> LinkClaim:
    """The claim of a valid token; LinkError 400 (malformed), 403 (tampered) or 410 (expired)."""
    match = _TOKEN.match(token)
    if match is None:
        raise LinkError(400, "this is not an incident link (the token is malformed or cut short)")
    body, signature = token.rsplit(".", 1)
    if not hmac.compare_digest(signature, _signature(secret, body)):
        raise LinkError(403, "this link is not valid: its signature does not match (was it altered?)")
    claim = LinkClaim(int(match.group(1)), LinkAction(match.group(2)), int(match.group(3)), match.group(4))
    if now_ms >= claim.expires_s * 1000:
        raise LinkError(
            410, "this link has expired; acknowledge or resolve the incident in the dashboard or the API"
        )
    return claim


def link_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + LINK_PATH + token


def load_secret(conn: Connection, configured: str, now_ms: int) -> bytes:
    """The configured secret, else the one stored on first start (generated then)."""
    if configured:
        return configured.encode()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(server_secrets)
        .values(name=SECRET_NAME, value=secrets.token_urlsafe(48), created_ms=now_ms)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    value = conn.execute(
        sa.select(server_secrets.c.value).where(server_secrets.c.name == SECRET_NAME)
    ).scalar_one()
    return str(value).encode()
