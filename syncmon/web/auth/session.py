"""Dashboard sessions: the cookie, its flags, and the session row behind it.

The cookie holds 256 random bits; the store keeps only their SHA-256 digest with the
user, the CSRF token, the creation, last-use and expiry times. A session ends at its
absolute expiry or after `session_idle_minutes` unused, whichever is first, and at once
when its user is disabled. A new id is issued at every login (no session fixation).
After a password that needs a second factor, a short *pending* session carries the
login to the code step; it grants nothing else.

The cookie is HttpOnly, SameSite (lax or strict), Path=/, and Secure whenever the
request came over HTTPS — directly, or per the forwarded protocol a trusted proxy
reports — or always, when `session_cookie_secure` says so.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from syncmon.pipeline.clientip import ClientIPResolver, parse_address
from syncmon.store import sessions as session_store
from syncmon.store.sessions import SessionRecord, session_digest
from syncmon.store.users import User
from syncmon.web.auth import csrf
from syncmon.web.auth.recorder import Origin

if TYPE_CHECKING:
    from syncmon.app import Services

PENDING_MS = 5 * 60_000  # time to type the second factor's code
TOUCH_EVERY_MS = 60_000  # last_seen is written at most this often per session
MAX_COOKIE = 128


@dataclass(frozen=True, slots=True)
class ActiveSession:
    record: SessionRecord
    user: User

    @property
    def csrf_token(self) -> str:
        return self.record.csrf_token

    @property
    def id_hash(self) -> str:
        return self.record.id_hash


def session_problem(
    record: SessionRecord, user: User, now_ms: int, idle_ms: int, pending: bool
) -> str | None:
    """Why a stored session cannot be used for this kind of request, or None."""
    if record.expires_ms <= now_ms:
        return "expired"
    if not record.mfa_pending and now_ms - record.last_seen_ms >= idle_ms:
        return "idle"
    if user.disabled:
        return "disabled"
    if record.mfa_pending != pending:
        return "pending" if record.mfa_pending else "complete"
    return None


def _forwarded_proto(request: Request, proxy_header: str) -> str | None:
    if proxy_header == "forwarded":
        lines = request.headers.getlist("forwarded")
        if not lines:
            return None
        last = ",".join(lines).split(",")[-1]
        for part in last.split(";"):
            name, _, value = part.strip().partition("=")
            if name.lower() == "proto":
                return value.strip('"').lower()
        return None
    values = ",".join(request.headers.getlist("x-forwarded-proto")).split(",")
    return values[-1].strip().lower() or None


def request_is_https(request: Request, resolver: ClientIPResolver, proxy_header: str) -> bool:
    """HTTPS to us, or HTTPS to a trusted proxy that says so (its own header only)."""
    if request.url.scheme in ("https", "wss"):
        return True
    peer = parse_address(request.client.host) if request.client else None
    if peer is None or not resolver.is_trusted(peer):
        return False
    return _forwarded_proto(request, proxy_header) == "https"


class SessionManager:
    def __init__(self, services: Services) -> None:
        self._services = services
        settings = services.settings
        self.cookie_name = settings.session_cookie_name
        self.lifetime_ms = settings.session_lifetime_minutes * 60_000
        self.idle_ms = settings.session_idle_minutes * 60_000
        self._samesite: Literal["lax", "strict"] = (
            "strict" if settings.session_cookie_samesite == "strict" else "lax"
        )
        self._always_secure = settings.session_cookie_secure == "always"
        self._resolver = ClientIPResolver(settings.trusted_proxies)

    def is_https(self, request: Request) -> bool:
        return request_is_https(request, self._resolver, self._services.settings.proxy_header)

    def secure_cookie(self, request: Request) -> bool:
        return self._always_secure or self.is_https(request)

    async def load(self, request: Request, *, pending: bool = False) -> ActiveSession | None:
        """The request's usable session (a complete one, or with pending=True the second-factor step)."""
        plain = request.cookies.get(self.cookie_name)
        if not plain or len(plain) > MAX_COOKIE:
            return None
        digest = session_digest(plain)
        found = await self._services.read(lambda conn: session_store.session_with_user(conn, digest))
        if found is None:
            return None
        record, user = found
        now = self._services.clock.now_ms()
        if session_problem(record, user, now, self.idle_ms, pending) is not None:
            return None
        if not pending and now - record.last_seen_ms >= TOUCH_EVERY_MS:
            await self._services.writer.run(lambda conn: session_store.touch(conn, digest, now))
        return ActiveSession(record, user)

    async def start(self, user: User, origin: Origin, *, pending: bool = False) -> tuple[str, SessionRecord]:
        """A new session (new id, new CSRF token); returns the plain id for the cookie."""
        plain = secrets.token_urlsafe(32)
        now = self._services.clock.now_ms()
        record = SessionRecord(
            id_hash=session_digest(plain),
            user_id=user.id,
            created_ms=now,
            last_seen_ms=now,
            expires_ms=now + (PENDING_MS if pending else self.lifetime_ms),
            csrf_token=csrf.new_token(),
            mfa_pending=pending,
            client_ip=origin.client_ip,
            user_agent=origin.user_agent,
        )
        idle_ms = self.idle_ms

        def insert(conn: Connection) -> None:
            session_store.delete_expired(conn, now, idle_ms)
            session_store.insert_session(conn, record)

        await self._services.writer.run(insert)
        return plain, record

    async def end(self, id_hash: str) -> None:
        await self._services.writer.run(lambda conn: session_store.delete_session(conn, id_hash))

    def attach(self, response: Response, request: Request, plain: str, record: SessionRecord) -> None:
        max_age = max(1, (record.expires_ms - record.created_ms) // 1000)
        response.set_cookie(
            self.cookie_name,
            plain,
            max_age=max_age,
            path="/",
            secure=self.secure_cookie(request),
            httponly=True,
            samesite=self._samesite,
        )

    def detach(self, response: Response, request: Request) -> None:
        response.delete_cookie(
            self.cookie_name,
            path="/",
            secure=self.secure_cookie(request),
            httponly=True,
            samesite=self._samesite,
        )
