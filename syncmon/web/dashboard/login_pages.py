"""Login, the second-factor step and logout.

The login form carries a token that must match a short-lived cookie (double submit), so
another site cannot log a visitor in to an account of its choosing. A successful login
always issues a new session id; a login that needs a second factor gets a pending
session first, which only the code step accepts.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.http_errors import ClientError
from syncmon.store.users import User
from syncmon.web.auth import csrf
from syncmon.web.auth.forms import form_of
from syncmon.web.auth.guard import safe_next
from syncmon.web.auth.login import LoginResult
from syncmon.web.dashboard.context import Dashboard, session_of

HOME = "/overview"
LOGIN_TOKEN_SECONDS = 3600


def _next_of(request: Request) -> str | None:
    return safe_next(request.query_params.get("next"))


def routes(dash: Dashboard) -> list[Route]:
    login_cookie = f"{dash.sessions.cookie_name}_login"

    async def login_form(
        request: Request,
        *,
        email: str = "",
        error: str | None = None,
        notice: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
    ) -> Response:
        token = secrets.token_urlsafe(32)
        context = {
            "login_token": token,
            "email": email,
            "next": _next_of(request),
            "error": error,
            "notice": notice,
        }
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        response = await dash.renderer.page(request, "login.html", context, status=status, headers=headers)
        response.set_cookie(
            login_cookie,
            token,
            max_age=LOGIN_TOKEN_SECONDS,
            path="/",
            secure=dash.sessions.secure_cookie(request),
            httponly=True,
            samesite="strict",
        )
        return response

    async def enter(request: Request, user: User, *, pending: bool) -> Response:
        plain, record = await dash.sessions.start(user, dash.origin(request), pending=pending)
        target = _next_of(request)
        if pending:
            location = "/login/totp" + (f"?next={quote(target, safe='')}" if target else "")
        else:
            location = target or HOME
        response = RedirectResponse(location, status_code=303)
        dash.sessions.attach(response, request, plain, record)
        response.delete_cookie(login_cookie, path="/", httponly=True, samesite="strict")
        return response

    async def refused(request: Request, result: LoginResult, email: str) -> Response:
        status = 429 if result.outcome == "blocked" else 401
        return await login_form(
            request, email=email, error=result.message, status=status, retry_after=result.retry_after
        )

    async def show_login(request: Request) -> Response:
        if await dash.sessions.load(request) is not None:
            return RedirectResponse(_next_of(request) or HOME, status_code=303)
        notice = "You are logged out." if request.query_params.get("logged_out") else None
        return await login_form(request, notice=notice)

    async def submit_login(request: Request) -> Response:
        try:
            form = await form_of(request)
        except ClientError as exc:
            return await login_form(request, error=exc.message, status=exc.status)
        email = form.get("email", "")[:320]
        if not csrf.tokens_match(request.cookies.get(login_cookie), form.get(csrf.FIELD)):
            return await login_form(
                request, email=email, error="The login form had expired; please log in again.", status=403
            )
        result = await dash.logins.password_step(email, form.get("password", ""), dash.origin(request))
        if result.outcome in ("ok", "needs_code") and result.user is not None:
            return await enter(request, result.user, pending=result.outcome == "needs_code")
        return await refused(request, result, email)

    async def show_code(request: Request) -> Response:
        pending = await dash.sessions.load(request, pending=True)
        if pending is None:
            return RedirectResponse("/login", status_code=303)
        context = {
            "pending_token": pending.csrf_token,
            "email": pending.user.email,
            "next": _next_of(request),
        }
        return await dash.renderer.page(request, "totp.html", context)

    async def submit_code(request: Request) -> Response:
        pending = await dash.sessions.load(request, pending=True)
        if pending is None:
            return await login_form(
                request, error="The login took too long; please log in again.", status=401
            )
        try:
            form = await form_of(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        context = {
            "pending_token": pending.csrf_token,
            "email": pending.user.email,
            "next": _next_of(request),
        }
        if not csrf.tokens_match(pending.csrf_token, form.get(csrf.FIELD)):
            context["error"] = "The form had expired; enter the current code again."
            return await dash.renderer.page(request, "totp.html", context, status=403)
        result = await dash.logins.code_step(pending, form.get("code", ""), dash.origin(request))
        if result.outcome == "ok":
            await dash.sessions.end(pending.id_hash)
            return await enter(request, pending.user, pending=False)
        if result.outcome == "blocked":
            await dash.sessions.end(pending.id_hash)
            response = await refused(request, result, pending.user.email)
            dash.sessions.detach(response, request)
            return response
        context["error"] = result.message
        return await dash.renderer.page(request, "totp.html", context, status=401)

    async def show_logout(request: Request) -> Response:
        return await dash.renderer.page(request, "logout.html", {"title": "Log out"})

    async def submit_logout(request: Request) -> Response:
        session = session_of(request)
        response = RedirectResponse("/login?logged_out=1", status_code=303)
        if session is not None:
            await dash.sessions.end(session.id_hash)
            await dash.recorder.emit(
                "session_logout",
                dash.origin(request),
                session.user.email,
                message=f"dashboard logout by {session.user.email}",
                details={"account_id": session.user.id},
            )
        dash.sessions.detach(response, request)
        return response

    return [
        Route("/login", show_login, methods=["GET"]),
        Route("/login", submit_login, methods=["POST"]),
        Route("/login/totp", show_code, methods=["GET"]),
        Route("/login/totp", submit_code, methods=["POST"]),
        Route("/logout", show_logout, methods=["GET"]),
        Route("/logout", submit_logout, methods=["POST"]),
    ]
