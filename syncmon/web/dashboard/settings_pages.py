"""Settings → Users and Settings → API tokens.

Everyone logged in may look; only admins may change (the access guard refuses viewers'
POSTs before these views run, and the pages show viewers no forms). Every change is
written with its audit-log row in one transaction and recorded as a security event of
the monitor's own project: `user_created`, `authz_change` (role), `user_updated`
(disable, enable, second factor off, unlock) and `authz_admin` (API tokens). Generated
passwords and new tokens are shown once, in the reply to the request that made them,
which is never cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.events import Level
from syncmon.http_errors import ClientError
from syncmon.store import accounts, login_throttle, users
from syncmon.store import sessions as session_store
from syncmon.store.accounts import ROLES, AccountError
from syncmon.store.users import User
from syncmon.web.auth.forms import form_of
from syncmon.web.dashboard.context import Dashboard, caller_of

T = TypeVar("T")
NO_STORE = {"Cache-Control": "no-store"}
USER_NOTICES = {
    "role": "Role changed.",
    "disabled": "User disabled; their sessions have ended.",
    "enabled": "User enabled.",
    "totp_off": "Two-factor authentication turned off for that user.",
    "unlocked": "Login lock cleared.",
}


@dataclass(frozen=True, slots=True)
class UserRow:
    user: User
    locked_until: int | None


def _user_id(request: Request) -> int:
    raw = request.path_params.get("user_id", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ClientError(404, f"no user {raw[:20]!r}")
    return int(raw)


def routes(dash: Dashboard) -> list[Route]:
    services = dash.services

    async def users_page(
        request: Request, *, error: str | None = None, status: int = 200, extra: dict[str, Any] | None = None
    ) -> Response:
        now = dash.now()

        def load(conn: Connection) -> list[UserRow]:
            locks = login_throttle.locked_accounts(conn, now)
            return [
                UserRow(user, locks.get(login_throttle.account_subject(user.email)))
                for user in users.list_users(conn)
            ]

        rows = await services.read(load)
        context: dict[str, Any] = {
            "rows": rows,
            "roles": ROLES,
            "active_tab": "users",
            "error": error,
            "notice": USER_NOTICES.get(request.query_params.get("done") or ""),
            **(extra or {}),
        }
        return await dash.renderer.page(
            request, "settings/users.html", context, status=status, active="settings", headers=NO_STORE
        )

    async def tokens_page(
        request: Request, *, error: str | None = None, status: int = 200, extra: dict[str, Any] | None = None
    ) -> Response:
        found = await services.read(accounts.list_tokens)
        context: dict[str, Any] = {
            "tokens": list(reversed(found)),
            "roles": ROLES,
            "active_tab": "tokens",
            "error": error,
            "notice": "Token revoked." if request.query_params.get("done") == "revoked" else None,
            **(extra or {}),
        }
        return await dash.renderer.page(
            request, "settings/tokens.html", context, status=status, active="settings", headers=NO_STORE
        )

    async def change(
        request: Request,
        apply: Callable[[Connection, int, str], T],
        event: Callable[[T], tuple[str, str, dict[str, Any]]],
    ) -> T:
        """Run an admin change with its audit row on the writer, then record its event.

        `apply(conn, now, actor)` changes the store and writes the audit row; `event(result)`
        gives the event's (name, message, details). The event's account is the actor (as
        OWASP's user_created:[userid,newuserid]); whom the change is about is its target.
        """
        actor = caller_of(request).actor
        now = dash.now()
        result = await services.writer.run(lambda conn: apply(conn, now, actor))
        name, message, details = event(result)
        await dash.recorder.emit(
            name,
            dash.origin(request),
            actor,
            level=Level.WARNING,
            message=message,
            details={"actor": actor, **details},
        )
        return result

    async def show_users(request: Request) -> Response:
        return await users_page(request)

    async def show_settings(request: Request) -> Response:
        return RedirectResponse("/settings/users", status_code=303)

    async def create_user(request: Request) -> Response:
        try:
            form = await form_of(request)
            email = users.normalize_email(form.get("email", ""))
            role = form.get("role", "viewer")
            password = form.get("password", "")
            generated = not password
            if generated:
                password = accounts.generate_password()
            users.check_password(password)
            password_hash = await run_in_threadpool(accounts.hash_password, password)

            def apply(conn: Connection, now: int, actor: str) -> int:
                user_id = accounts.create_user(conn, email, password, role, now, password_hash=password_hash)
                accounts.record_audit(conn, now, actor, "user.create", email, {"role": role})
                return user_id

            user_id = await change(
                request,
                apply,
                lambda uid: (
                    "user_created",
                    f"dashboard user {email} ({role}) created",
                    {"target": email, "account_id": uid, "role": role},
                ),
            )
        except ClientError as exc:
            return await users_page(request, error=exc.message, status=exc.status)
        except AccountError as exc:
            return await users_page(request, error=str(exc), status=400)
        extra = {"created_email": email, "created_password": password if generated else None}
        notice = f"User {email} ({role}) added." + (" Their password is below." if generated else "")
        return await users_page(request, extra={**extra, "notice": notice, "created_id": user_id})

    async def set_role(request: Request) -> Response:
        try:
            user_id = _user_id(request)
            form = await form_of(request)
            role = form.get("role", "")

            def apply(conn: Connection, now: int, actor: str) -> tuple[User, str]:
                before, new_role = users.set_role(conn, user_id, role)
                accounts.record_audit(
                    conn, now, actor, "user.set_role", before.email, {"from": before.role, "to": new_role}
                )
                return before, new_role

            await change(
                request,
                apply,
                lambda result: (
                    "authz_change",
                    f"role of {result[0].email} changed from {result[0].role} to {result[1]}",
                    {"target": result[0].email, "from": result[0].role, "to": result[1]},
                ),
            )
        except ClientError as exc:
            return await users_page(request, error=exc.message, status=exc.status)
        except AccountError as exc:
            return await users_page(request, error=str(exc), status=400)
        return RedirectResponse("/settings/users?done=role", status_code=303)

    def user_update(action: str, done: str) -> Callable[[Request], Any]:
        """A per-user change without form fields: disable, enable, second factor off, unlock."""

        async def endpoint(request: Request) -> Response:
            try:
                user_id = _user_id(request)
                caller = caller_of(request)
                if action == "disable" and caller.user_id == user_id:
                    raise AccountError("you cannot disable your own account")

                def apply(conn: Connection, now: int, actor: str) -> User:
                    target = users.require_user(conn, user_id)
                    if action == "disable":
                        users.set_disabled(conn, user_id, True)
                        session_store.delete_user_sessions(conn, user_id)
                    elif action == "enable":
                        users.set_disabled(conn, user_id, False)
                    elif action == "totp_disable":
                        users.disable_totp(conn, user_id)
                        session_store.delete_user_sessions(conn, user_id)
                    else:
                        login_throttle.clear(conn, login_throttle.account_subject(target.email))
                    accounts.record_audit(conn, now, actor, f"user.{action}", target.email)
                    return target

                await change(
                    request,
                    apply,
                    lambda target: (
                        "user_updated",
                        f"dashboard user {target.email}: {action.replace('_', ' ')}",
                        {"target": target.email, "change": action},
                    ),
                )
            except ClientError as exc:
                return await users_page(request, error=exc.message, status=exc.status)
            except AccountError as exc:
                return await users_page(request, error=str(exc), status=400)
            return RedirectResponse(f"/settings/users?done={done}", status_code=303)

        return endpoint

    async def show_tokens(request: Request) -> Response:
        return await tokens_page(request)

    async def create_token(request: Request) -> Response:
        try:
            form = await form_of(request)
            name = form.get("name", "").strip()[:200]
            role = form.get("role", "viewer")
            if not name:
                raise ClientError(400, "name: say what the token is for", field="name")

            def apply(conn: Connection, now: int, actor: str) -> tuple[accounts.ApiToken, str]:
                created, plain = accounts.create_token(conn, role, name, now)
                accounts.record_audit(
                    conn, now, actor, "token.create", str(created.id), {"role": role, "name": name}
                )
                return created, plain

            created, plain = await change(
                request,
                apply,
                lambda result: (
                    "authz_admin",
                    f"API token {result[0].id} ({role}) created",
                    {"target": f"token:{result[0].id}", "change": "token_create", "role": role},
                ),
            )
        except ClientError as exc:
            return await tokens_page(request, error=exc.message, status=exc.status)
        except AccountError as exc:
            return await tokens_page(request, error=str(exc), status=400)
        extra = {"created_token": plain, "created_name": created.name, "created_role": created.role}
        return await tokens_page(request, extra=extra)

    async def revoke_token(request: Request) -> Response:
        raw = request.path_params.get("token_id", "")
        try:
            if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
                raise ClientError(404, f"no token {raw[:20]!r}")
            token_id = int(raw)

            def apply(conn: Connection, now: int, actor: str) -> int:
                accounts.revoke_token(conn, token_id, now)
                accounts.record_audit(conn, now, actor, "token.revoke", str(token_id))
                return token_id

            await change(
                request,
                apply,
                lambda tid: (
                    "authz_admin",
                    f"API token {tid} revoked",
                    {"target": f"token:{tid}", "change": "token_revoke"},
                ),
            )
        except ClientError as exc:
            return await tokens_page(request, error=exc.message, status=exc.status)
        except AccountError as exc:
            return await tokens_page(request, error=str(exc), status=400)
        return RedirectResponse("/settings/tokens?done=revoked", status_code=303)

    return [
        Route("/settings", show_settings, methods=["GET"]),
        Route("/settings/users", show_users, methods=["GET"]),
        Route("/settings/users", create_user, methods=["POST"]),
        Route("/settings/users/{user_id}/role", set_role, methods=["POST"]),
        Route("/settings/users/{user_id}/disable", user_update("disable", "disabled"), methods=["POST"]),
        Route("/settings/users/{user_id}/enable", user_update("enable", "enabled"), methods=["POST"]),
        Route(
            "/settings/users/{user_id}/totp/disable",
            user_update("totp_disable", "totp_off"),
            methods=["POST"],
        ),
        Route("/settings/users/{user_id}/unlock", user_update("unlock", "unlocked"), methods=["POST"]),
        Route("/settings/tokens", show_tokens, methods=["GET"]),
        Route("/settings/tokens", create_token, methods=["POST"]),
        Route("/settings/tokens/{token_id}/revoke", revoke_token, methods=["POST"]),
    ]
