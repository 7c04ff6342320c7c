"""The access guard: every dashboard page and API route passes it, ingest never does.

It sits in front of one router holding every page and `/api/v1/*` route, so a route
added there is guarded without doing anything. For each request it

1. adds the security headers (CSP, nosniff, referrer policy, no framing, HSTS over HTTPS);
2. lets the public pages through (login, its second-factor step, `/assets/`);
3. identifies the caller — on the API and the live stream an `Authorization: Bearer`
   token, else the session cookie — or answers 401 (API) / redirects to the login page;
4. for a state-changing method on a route that takes it: with a session, demands the
   session's CSRF token (X-CSRF-Token header or `csrf_token` form field); and refuses
   viewers (403) except on their own account pages — recording the refusal as an
   `authz_fail` security event.

Refusals are 403s that say what is wrong, as JSON for the API and as a page for forms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncmon.events import Level
from syncmon.http_errors import ClientError
from syncmon.web.api import Caller, bearer_caller
from syncmon.web.auth import csrf, forms
from syncmon.web.auth.headers import security_headers
from syncmon.web.auth.recorder import SecurityRecorder, origin_of
from syncmon.web.auth.session import ActiveSession, SessionManager
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

ASSETS_PREFIX = "/assets/"
PUBLIC_PATHS = frozenset({"/login", "/login/totp"})
# What a viewer may change: their own password, second factor and session.
SELF_SERVICE_PREFIXES = ("/account/", "/logout")
# Questions asked with POST because they carry a body, changing nothing: open to viewers.
READ_ONLY_POSTS = frozenset({"/api/v1/routes/test"})
CSRF_MESSAGE = "CSRF token missing or invalid: reload the page and submit again"
VIEWER_MESSAGE = "this needs an admin; your role is viewer (read-only)"

ErrorPage = Callable[[Request, int, str], Awaitable[Response]]


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(ASSETS_PREFIX)


def is_self_service(path: str) -> bool:
    """What a viewer may POST: their own account, logging out, and read-only questions."""
    if path in READ_ONLY_POSTS:
        return True
    return any(path == prefix.rstrip("/") or path.startswith(prefix) for prefix in SELF_SERVICE_PREFIXES)


def wants_json(path: str) -> bool:
    return path.startswith("/api/") or path == "/live"


def safe_next(target: str | None) -> str | None:
    """A local path to return to after login; anything that could leave the site is dropped."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) < 32 for ch in target) or len(target) > 2000:
        return None
    return target


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class AccessGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        services: Services,
        sessions: SessionManager,
        recorder: SecurityRecorder,
        routes: Sequence[BaseRoute],
        error_page: ErrorPage,
    ) -> None:
        self.app = app
        self._services = services
        self._sessions = sessions
        self._recorder = recorder
        self._routes = routes
        self._error_page = error_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        https = self._sessions.is_https(request)
        cacheable = path.startswith(ASSETS_PREFIX)

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = security_headers(list(message.get("headers", [])), https=https, cacheable=cacheable)
                message = {**message, "headers": headers}
            await send(message)

        if is_public(path):
            await self.app(scope, receive, send_secured)
            return
        try:
            caller, session = await self._identify(request)
        except ClientError as exc:
            response = await self._unauthenticated(request, exc)
            await response(scope, receive, send_secured)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["caller"] = caller
        state["session"] = session
        if csrf.is_state_changing(scope["method"]) and self._routed(scope):
            try:
                body = await self._check_change(request, caller, session, state)
            except ClientError as exc:
                response = await self._refusal(request, exc)
                await response(scope, receive, send_secured)
                return
            if body is not None:
                receive = _replay(body, receive)
        await self.app(scope, receive, send_secured)

    async def _identify(self, request: Request) -> tuple[Caller, ActiveSession | None]:
        # Tokens are API credentials (the API and the live stream); pages need a login.
        if "authorization" in request.headers and wants_json(request.url.path):
            return await bearer_caller(self._services, request), None
        session = await self._sessions.load(request)
        if session is None:
            raise ClientError(
                401,
                "missing API token: send Authorization: Bearer <token>, or log in",
                headers={"WWW-Authenticate": "Bearer"},
            )
        user = session.user
        return Caller(role=user.role, actor=user.email, user_id=user.id), session

    def _routed(self, scope: Scope) -> bool:
        """Whether a route takes this path and method (else the router answers 404/405)."""
        return any(route.matches(scope)[0] == Match.FULL for route in self._routes)

    async def _check_change(
        self, request: Request, caller: Caller, session: ActiveSession | None, state: dict[str, Any]
    ) -> bytes | None:
        body: bytes | None = None
        if session is not None:
            token = request.headers.get(csrf.HEADER)
            if token is None and forms.is_form(request.headers.get("content-type")):
                body = await forms.read_limited(request)
                form = forms.parse_form(body)
                state[forms.STATE_KEY] = form
                token = form.get(csrf.FIELD)
            if not csrf.tokens_match(session.csrf_token, token):
                raise ClientError(403, CSRF_MESSAGE, reason="csrf")
        if caller.role != "admin" and not is_self_service(request.url.path):
            await self._recorder.emit(
                "authz_fail",
                origin_of(self._services, request),
                caller.actor,
                level=Level.WARNING,
                message=f"{caller.actor} ({caller.role}) refused {request.method} {request.url.path}",
                details={"target": request.url.path, "method": request.method, "role": caller.role},
            )
            raise ClientError(403, VIEWER_MESSAGE, reason="forbidden")
        return body

    async def _unauthenticated(self, request: Request, exc: ClientError) -> Response:
        path = request.url.path
        if wants_json(path):
            return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
        if request.method in ("GET", "HEAD"):
            target = path + (f"?{request.url.query}" if request.url.query else "")
            suffix = "" if target == "/" else f"?next={quote(target, safe='')}"
            return RedirectResponse(f"/login{suffix}", status_code=303)
        return await self._error_page(request, 401, "Your session has ended. Log in again, then retry.")

    async def _refusal(self, request: Request, exc: ClientError) -> Response:
        if wants_json(request.url.path):
            return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
        return await self._error_page(request, exc.status, exc.message)
