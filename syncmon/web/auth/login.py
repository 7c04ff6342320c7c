"""Logging in: throttling, password and second-factor checks, and what each attempt records.

Each attempt is decided in order: a lock in force (account or IP) refuses it before the
password is looked at; then the password (argon2id, re-hashed when the parameters
changed), then the second factor when the user has one. Every failure counts towards
the account's and the IP's limits, the same whether the account exists or not, and
wrong password, unknown account and disabled account give the same answer. Every
attempt, success or failure, and every lock is written to the audit log and recorded
as a security event of the monitor's own project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from syncmon.events import Level
from syncmon.store import accounts, login_throttle, users
from syncmon.store.login_throttle import Counter, account_subject, ip_subject
from syncmon.store.users import User, normalize_email
from syncmon.web.auth import throttle, totp
from syncmon.web.auth.recorder import Origin, SecurityRecorder
from syncmon.web.auth.session import ActiveSession
from syncmon.web.auth.throttle import Block, Policy

if TYPE_CHECKING:
    from syncmon.app import Services

Outcome = Literal["ok", "needs_code", "failed", "blocked"]
WRONG_CREDENTIALS = "Wrong email or password."
WRONG_CODE = "That code is not valid. Use the current code from your authenticator app."
MAX_EMAIL = 320


@dataclass(frozen=True, slots=True)
class LoginResult:
    outcome: Outcome
    message: str = ""
    user: User | None = None
    retry_after: int | None = None


def blocked_message(block: Block, now_ms: int) -> str:
    minutes = -(-block.retry_after_seconds(now_ms) // 60)
    if block.reason == "ip_blocked":
        return f"Too many failed logins from your address. Try again in {minutes} min."
    return f"Too many failed logins for this account. Try again in {minutes} min."


def refusal(block: Block, now_ms: int) -> LoginResult:
    return LoginResult(
        "blocked", blocked_message(block, now_ms), retry_after=block.retry_after_seconds(now_ms)
    )


@dataclass(frozen=True, slots=True)
class _Failure:
    account: Counter
    account_locked: bool
    ip: Counter | None
    ip_locked: bool


class LoginService:
    def __init__(self, services: Services, recorder: SecurityRecorder) -> None:
        self._services = services
        self._recorder = recorder
        self.policy = Policy.from_settings(services.settings)

    async def _block(self, email: str, origin: Origin) -> Block | None:
        subjects = [account_subject(email)] + ([ip_subject(origin.client_ip)] if origin.client_ip else [])
        found = await self._services.read(lambda conn: login_throttle.load(conn, subjects))
        ip = found.get(ip_subject(origin.client_ip)) if origin.client_ip else None
        return throttle.check(found.get(account_subject(email)), ip, self._services.clock.now_ms())

    async def password_step(self, raw_email: str, password: str, origin: Origin) -> LoginResult:
        email = normalize_email(raw_email)[:MAX_EMAIL]
        now = self._services.clock.now_ms()
        if not email or not password:
            return LoginResult("failed", "Enter your email and password.")
        block = await self._block(email, origin)
        if block is not None:
            await self._fail(email, origin, block.reason)
            return refusal(block, now)
        user = await self._services.read(lambda conn: users.find_user(conn, email))
        if user is None:
            await run_in_threadpool(accounts.verify_unknown_account, password)
            return await self._after_failure(email, origin, "unknown_account", WRONG_CREDENTIALS)
        valid = await run_in_threadpool(accounts.verify_password, user.password_hash, password)
        if not valid:
            return await self._after_failure(email, origin, "wrong_password", WRONG_CREDENTIALS)
        if user.disabled:
            return await self._after_failure(email, origin, "disabled", WRONG_CREDENTIALS)
        if accounts.needs_rehash(user.password_hash):
            new_hash = await run_in_threadpool(accounts.hash_password, password)
            await self._services.writer.run(
                lambda conn: users.replace_hash(conn, user.id, user.password_hash, new_hash)
            )
        if user.totp_enabled:
            return LoginResult("needs_code", user=user)
        await self._succeed(user, origin, second_factor=False)
        return LoginResult("ok", user=user)

    async def code_step(self, pending: ActiveSession, code: str, origin: Origin) -> LoginResult:
        user = pending.user
        now = self._services.clock.now_ms()
        block = await self._block(user.email, origin)
        if block is not None:
            await self._fail(user.email, origin, block.reason)
            return refusal(block, now)
        step = (
            totp.matching_step(user.totp_secret, code, now, user.totp_last_step)
            if user.totp_enabled and user.totp_secret
            else None
        )
        accepted = step is not None and await self._services.writer.run(
            lambda conn: users.use_totp_step(conn, user.id, step)
        )
        if not accepted:
            return await self._after_failure(user.email, origin, "wrong_code", WRONG_CODE)
        await self._succeed(user, origin, second_factor=True)
        return LoginResult("ok", user=user)

    async def _after_failure(self, email: str, origin: Origin, reason: str, message: str) -> LoginResult:
        failure = await self._fail(email, origin, reason)
        now = self._services.clock.now_ms()
        for counter, reason_name in ((failure.account, "account_locked"), (failure.ip, "ip_blocked")):
            until = throttle.locked_until(counter, now)
            if until is not None:
                block = Block(reason_name, until)
                return refusal(block, now)
        return LoginResult("failed", message)

    async def _fail(self, email: str, origin: Origin, reason: str) -> _Failure:
        now = self._services.clock.now_ms()
        policy = self.policy
        ip = origin.client_ip

        def count(conn: Connection) -> _Failure:
            subjects = [account_subject(email)] + ([ip_subject(ip)] if ip else [])
            found = login_throttle.load(conn, subjects)
            account, account_locked = throttle.after_failure(
                found.get(subjects[0]), subjects[0], policy.max_failures, now, policy
            )
            login_throttle.save(conn, account)
            ip_counter, ip_locked = None, False
            if ip:
                ip_counter, ip_locked = throttle.after_failure(
                    found.get(subjects[1]), subjects[1], policy.max_failures_per_ip, now, policy
                )
                login_throttle.save(conn, ip_counter)
            accounts.record_audit(conn, now, email, "login.fail", email, {"reason": reason, "ip": ip})
            if account_locked:
                accounts.record_audit(
                    conn, now, "system", "login.lock", email, {"until_ms": account.locked_until_ms, "ip": ip}
                )
            if ip_locked and ip_counter is not None:
                accounts.record_audit(
                    conn, now, "system", "login.ip_block", ip or "", {"until_ms": ip_counter.locked_until_ms}
                )
            return _Failure(account, account_locked, ip_counter, ip_locked)

        failure = await self._services.writer.run(count)
        await self._recorder.emit(
            "authn_login_fail",
            origin,
            email,
            level=Level.WARNING,
            message=f"dashboard login failed for {email}: {reason.replace('_', ' ')}",
            details={"reason": reason, "failures": failure.account.failures},
        )
        if failure.account_locked:
            await self._recorder.emit(
                "authn_login_lock",
                origin,
                email,
                level=Level.ERROR,
                message=f"dashboard account {email} locked after {failure.account.failures} failed logins",
                details={
                    "scope": "account",
                    "failures": failure.account.failures,
                    "locked_until_ms": failure.account.locked_until_ms,
                },
            )
        if failure.ip_locked and failure.ip is not None:
            await self._recorder.emit(
                "authn_login_lock",
                origin,
                email,
                level=Level.ERROR,
                message=f"dashboard logins from {ip} blocked after {failure.ip.failures} failures",
                details={
                    "scope": "ip",
                    "failures": failure.ip.failures,
                    "locked_until_ms": failure.ip.locked_until_ms,
                },
            )
        return failure

    async def _succeed(self, user: User, origin: Origin, *, second_factor: bool) -> None:
        now = self._services.clock.now_ms()
        window_ms = self.policy.window_ms

        def apply(conn: Connection) -> None:
            login_throttle.clear(conn, account_subject(user.email))
            login_throttle.delete_stale(conn, now, window_ms)
            users.record_login(conn, user.id, now)
            accounts.record_audit(
                conn,
                now,
                user.email,
                "login.success",
                user.email,
                {"ip": origin.client_ip, "mfa": second_factor},
            )

        await self._services.writer.run(apply)
        await self._recorder.emit(
            "authn_login_success",
            origin,
            user.email,
            message=f"dashboard login by {user.email}" + (" with a second factor" if second_factor else ""),
            details={"account_id": user.id, "mfa": second_factor, "role": user.role},
        )
