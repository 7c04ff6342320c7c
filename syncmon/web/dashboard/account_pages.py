"""Account: the logged-in user's own password and second factor (viewers may change these).

A password change needs the current password, logs out the user's other sessions and is
recorded (`authn_password_change`, or `authn_password_change_fail` for a wrong current
password, which the brute-force detector counts). Two-factor set-up stores a new secret,
shows it as a QR code and turns on only once a code from it is confirmed; turning it
off needs the password.
"""

from __future__ import annotations

from markupsafe import Markup
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.events import Level
from syncmon.http_errors import ClientError
from syncmon.store import accounts, users
from syncmon.store import sessions as session_store
from syncmon.store.accounts import AccountError
from syncmon.web.auth import totp
from syncmon.web.auth.forms import form_of
from syncmon.web.auth.session import ActiveSession
from syncmon.web.dashboard.context import Dashboard, session_of

NOTICES = {
    "password": "Your password was changed. Your other sessions were logged out.",
    "totp_on": "Two-factor authentication is on.",
    "totp_off": "Two-factor authentication is off.",
}


def _require_session(request: Request) -> ActiveSession:
    session = session_of(request)
    if session is None:
        raise ClientError(403, "account pages need a logged-in session, not an API token")
    return session


def routes(dash: Dashboard) -> list[Route]:
    async def account_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        session = _require_session(request)
        user_id = session.user.id
        now = dash.now()
        fresh = await dash.services.read(lambda conn: users.get_user(conn, user_id))
        count = await dash.services.read(lambda conn: session_store.count_user_sessions(conn, user_id, now))
        notice = NOTICES.get(request.query_params.get("done") or "")
        context = {"user": fresh or session.user, "session_count": count, "notice": notice, "error": error}
        return await dash.renderer.page(request, "account.html", context, status=status)

    async def show(request: Request) -> Response:
        try:
            return await account_page(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)

    async def change_password(request: Request) -> Response:
        try:
            session = _require_session(request)
            form = await form_of(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        user = session.user
        current, new, confirm = (
            form.get(k, "") for k in ("current_password", "new_password", "confirm_password")
        )
        origin = dash.origin(request)
        if not await run_in_threadpool(accounts.verify_password, user.password_hash, current):
            await dash.recorder.emit(
                "authn_password_change_fail",
                origin,
                user.email,
                level=Level.WARNING,
                message=f"password change by {user.email} refused: wrong current password",
                details={"account_id": user.id},
            )
            return await account_page(request, error="The current password is wrong.", status=400)
        if new != confirm:
            return await account_page(request, error="The two new passwords differ.", status=400)
        try:
            users.check_password(new)
        except AccountError as exc:
            return await account_page(request, error=f"New {exc}.", status=400)
        new_hash = await run_in_threadpool(accounts.hash_password, new)
        now = dash.now()

        def apply(conn: Connection) -> None:
            users.set_password_hash(conn, user.id, new_hash, now)
            ended = session_store.delete_user_sessions(conn, user.id, keep=session.id_hash)
            accounts.record_audit(
                conn, now, user.email, "password.change", user.email, {"sessions_ended": ended}
            )

        await dash.services.writer.run(apply)
        await dash.recorder.emit(
            "authn_password_change",
            origin,
            user.email,
            message=f"{user.email} changed their dashboard password",
            details={"account_id": user.id},
        )
        return RedirectResponse("/account?done=password", status_code=303)

    async def start_totp(request: Request) -> Response:
        try:
            session = _require_session(request)
            secret = totp.new_secret()
            await dash.services.writer.run(lambda conn: users.start_totp(conn, session.user.id, secret))
        except (ClientError, AccountError) as exc:
            message = exc.message if isinstance(exc, ClientError) else str(exc)
            return await account_page(request, error=message, status=400)
        return RedirectResponse("/account/totp", status_code=303)

    async def enrol_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        session = _require_session(request)
        user = await dash.services.read(lambda conn: users.get_user(conn, session.user.id))
        if user is None or user.totp_enabled or not user.totp_secret:
            return RedirectResponse("/account", status_code=303)
        secret = user.totp_secret
        context = {
            "qr_svg": _svg_markup(totp.qr_svg(totp.provisioning_uri(secret, user.email))),
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "error": error,
        }
        return await dash.renderer.page(request, "totp_enrol.html", context, status=status)

    async def show_enrol(request: Request) -> Response:
        try:
            return await enrol_page(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)

    async def confirm_totp(request: Request) -> Response:
        try:
            session = _require_session(request)
            form = await form_of(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        user = await dash.services.read(lambda conn: users.get_user(conn, session.user.id))
        if user is None or user.totp_enabled or not user.totp_secret:
            return RedirectResponse("/account", status_code=303)
        secret = user.totp_secret
        now = dash.now()
        step = totp.matching_step(secret, form.get("code", ""), now, None)
        if step is None:
            return await enrol_page(
                request, error="That code does not match; try the current one.", status=400
            )

        def apply(conn: Connection) -> None:
            users.enable_totp(conn, user.id, secret, step, now)
            accounts.record_audit(conn, now, user.email, "totp.enable", user.email)

        try:
            await dash.services.writer.run(apply)
        except AccountError as exc:
            return await account_page(request, error=str(exc), status=409)
        await dash.recorder.emit(
            "authn_mfa_enabled",
            dash.origin(request),
            user.email,
            message=f"{user.email} turned on two-factor authentication",
            details={"account_id": user.id},
        )
        return RedirectResponse("/account?done=totp_on", status_code=303)

    async def disable_totp(request: Request) -> Response:
        try:
            session = _require_session(request)
            form = await form_of(request)
        except ClientError as exc:
            return await dash.renderer.error_page(request, exc.status, exc.message)
        user = session.user
        if not await run_in_threadpool(
            accounts.verify_password, user.password_hash, form.get("password", "")
        ):
            return await account_page(request, error="The password is wrong.", status=400)
        now = dash.now()

        def apply(conn: Connection) -> bool:
            changed = users.disable_totp(conn, user.id)
            if changed:
                accounts.record_audit(conn, now, user.email, "totp.disable", user.email)
            return changed

        if await dash.services.writer.run(apply):
            await dash.recorder.emit(
                "authn_mfa_disabled",
                dash.origin(request),
                user.email,
                level=Level.WARNING,
                message=f"{user.email} turned off two-factor authentication",
                details={"account_id": user.id},
            )
        return RedirectResponse("/account?done=totp_off", status_code=303)

    return [
        Route("/account", show, methods=["GET"]),
        Route("/account/password", change_password, methods=["POST"]),
        Route("/account/totp/start", start_totp, methods=["POST"]),
        Route("/account/totp", show_enrol, methods=["GET"]),
        Route("/account/totp/confirm", confirm_totp, methods=["POST"]),
        Route("/account/totp/disable", disable_totp, methods=["POST"]),
    ]


def _svg_markup(svg: str) -> Markup:
    """The QR code's SVG, drawn by segno from our own URI: the one markup a view marks safe."""
    return Markup(svg)
