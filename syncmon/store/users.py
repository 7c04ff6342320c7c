"""Dashboard users: lookups, roles, disabling, password changes and the TOTP second factor.

Creating users and hashing passwords live in `accounts`; this module changes them. The
rules that keep the dashboard administrable are enforced here, where every path (UI and
CLI) passes: the last active admin cannot be demoted or disabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.store.accounts import ROLES, AccountError
from syncmon.store.schema import users

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; this bounds the work one request can ask for


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    disabled: bool
    created_ms: int
    password_hash: str = field(repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    totp_enabled_ms: int | None = None
    totp_last_step: int | None = None
    password_changed_ms: int | None = None
    last_login_ms: int | None = None

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_ms is not None and self.totp_secret is not None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def user_from_row(row: Any) -> User:
    return User(
        id=int(row.id),
        email=str(row.email),
        role=str(row.role),
        disabled=bool(row.disabled),
        created_ms=int(row.created_ms),
        password_hash=str(row.password_hash),
        totp_secret=row.totp_secret,
        totp_enabled_ms=row.totp_enabled_ms,
        totp_last_step=row.totp_last_step,
        password_changed_ms=row.password_changed_ms,
        last_login_ms=row.last_login_ms,
    )


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_password(password: str) -> None:
    """The password policy: length only (NIST SP 800-63B), bounded above."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password must have at most {MAX_PASSWORD} characters")


def get_user(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    return user_from_row(row) if row else None


def find_user(conn: Connection, email: str) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.email == normalize_email(email))).first()
    return user_from_row(row) if row else None


def require_user(conn: Connection, ref: str | int) -> User:
    """A user by id or email, or an AccountError naming what was not found."""
    found = get_user(conn, ref) if isinstance(ref, int) else find_user(conn, ref)
    if found is None:
        raise AccountError(f"no user {ref!r}")
    return found


def list_users(conn: Connection) -> list[User]:
    return [user_from_row(row) for row in conn.execute(sa.select(users).order_by(users.c.id))]


def _active_admins(conn: Connection) -> int:
    query = sa.select(sa.func.count()).where(users.c.role == "admin", users.c.disabled.is_(False))
    return int(conn.execute(query).scalar_one())


def _keep_an_admin(conn: Connection, user: User) -> None:
    if user.role == "admin" and not user.disabled and _active_admins(conn) <= 1:
        raise AccountError(f"{user.email} is the last active admin; make another admin first")


def set_role(conn: Connection, ref: str | int, role: str) -> tuple[User, str]:
    """Change a user's role; returns the user as it was and the new role."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    user = require_user(conn, ref)
    if role != "admin":
        _keep_an_admin(conn, user)
    conn.execute(users.update().where(users.c.id == user.id).values(role=role))
    return user, role


def set_disabled(conn: Connection, ref: str | int, disabled: bool) -> User:
    """Disable or re-enable a user; returns the user as it was."""
    user = require_user(conn, ref)
    if disabled:
        _keep_an_admin(conn, user)
    conn.execute(users.update().where(users.c.id == user.id).values(disabled=disabled))
    return user


def set_password_hash(conn: Connection, user_id: int, password_hash: str, now_ms: int) -> None:
    """Store a new password's hash (hashed by the caller: argon2 is slow on purpose, and
    the server's single writer thread must not wait for it)."""
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, password_changed_ms=now_ms)
    )


def replace_hash(conn: Connection, user_id: int, old_hash: str, new_hash: str) -> None:
    """Store a re-hash (new parameters) unless the password changed meanwhile."""
    conn.execute(
        users.update()
        .where(users.c.id == user_id, users.c.password_hash == old_hash)
        .values(password_hash=new_hash)
    )


def record_login(conn: Connection, user_id: int, now_ms: int) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(last_login_ms=now_ms))


def start_totp(conn: Connection, user_id: int, secret: str) -> None:
    """Store a new secret awaiting confirmation; an enabled second factor stays as it is."""
    result = conn.execute(
        users.update()
        .where(users.c.id == user_id, users.c.totp_enabled_ms.is_(None))
        .values(totp_secret=secret, totp_last_step=None)
    )
    if result.rowcount == 0:
        raise AccountError("two-factor authentication is already on; turn it off first")


def enable_totp(conn: Connection, user_id: int, secret: str, step: int, now_ms: int) -> None:
    """Turn the second factor on once a code for the pending `secret` was confirmed."""
    result = conn.execute(
        users.update()
        .where(users.c.id == user_id, users.c.totp_secret == secret, users.c.totp_enabled_ms.is_(None))
        .values(totp_enabled_ms=now_ms, totp_last_step=step)
    )
    if result.rowcount == 0:
        raise AccountError("the two-factor set-up changed meanwhile; start it again")


def disable_totp(conn: Connection, user_id: int) -> bool:
    """Turn the second factor off; False when it was not on."""
    result = conn.execute(
        users.update()
        .where(users.c.id == user_id, users.c.totp_secret.is_not(None))
        .values(totp_secret=None, totp_enabled_ms=None, totp_last_step=None)
    )
    return bool(result.rowcount)


def use_totp_step(conn: Connection, user_id: int, step: int) -> bool:
    """Accept a code's time step once: False when it (or a later one) was already used."""
    result = conn.execute(
        users.update()
        .where(
            users.c.id == user_id,
            sa.or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return bool(result.rowcount)
