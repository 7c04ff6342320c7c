"""Users (argon2id password hashes) and API tokens (stored as SHA-256 digests)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from syncmon.store.schema import api_tokens, audit_log, users

ROLES = ("admin", "viewer")
TOKEN_PREFIX = "smt_"
_hasher = PasswordHasher()
_timing_hashes: dict[int, str] = {}


class AccountError(ValueError):
    """An account or token operation cannot be done; the message says why."""


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    role: str
    prefix: str
    created_ms: int
    revoked_ms: int | None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_unknown_account(password: str) -> bool:
    """Spend the time of a real check for an email with no account, then fail: how long a
    login takes must not tell whether the account exists."""
    key = id(_hasher)
    if key not in _timing_hashes:
        _timing_hashes[key] = _hasher.hash(secrets.token_urlsafe(16))
    verify_password(_timing_hashes[key], password)
    return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")


def create_user(
    conn: Connection, email: str, password: str, role: str, now_ms: int, *, password_hash: str | None = None
) -> int:
    """Create a user; `password_hash`, when the caller hashed `password` already (off the
    writer thread), is stored instead of hashing here."""
    _check_role(role)
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address")
    if len(password) < 8:
        raise AccountError("password must have at least 8 characters")
    if conn.execute(sa.select(users.c.id).where(users.c.email == email)).first():
        raise AccountError(f"a user {email!r} already exists")
    result = conn.execute(
        users.insert().values(
            email=email,
            password_hash=password_hash or hash_password(password),
            role=role,
            disabled=False,
            created_ms=now_ms,
        )
    )
    return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0


def count_users(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: Connection, role: str, name: str, now_ms: int) -> tuple[ApiToken, str]:
    """Create an API token; the plain token is returned once and never stored."""
    _check_role(role)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    result = conn.execute(
        api_tokens.insert().values(
            name=name or role,
            role=role,
            token_hash=token_digest(plain),
            prefix=plain[: len(TOKEN_PREFIX) + 6],
            created_ms=now_ms,
        )
    )
    token_id = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    return ApiToken(token_id, name or role, role, plain[: len(TOKEN_PREFIX) + 6], now_ms, None), plain


def list_tokens(conn: Connection) -> list[ApiToken]:
    rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.id))
    return [ApiToken(r.id, r.name, r.role, r.prefix, r.created_ms, r.revoked_ms) for r in rows]


def revoke_token(conn: Connection, token_id: int, now_ms: int) -> None:
    result = conn.execute(
        api_tokens.update()
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_ms.is_(None))
        .values(revoked_ms=now_ms)
    )
    if result.rowcount == 0:
        raise AccountError(f"no active token with id {token_id}")


def role_for_token(conn: Connection, plain: str) -> str | None:
    """The role of a valid, unrevoked token, else None."""
    found = token_identity(conn, plain)
    return found[1] if found else None


def token_identity(conn: Connection, plain: str) -> tuple[int, str] | None:
    """(id, role) of a valid, unrevoked token, else None."""
    row = conn.execute(
        sa.select(api_tokens.c.id, api_tokens.c.role).where(
            api_tokens.c.token_hash == token_digest(plain), api_tokens.c.revoked_ms.is_(None)
        )
    ).first()
    return (int(row.id), str(row.role)) if row else None


def record_audit(
    conn: Connection,
    now_ms: int,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        audit_log.insert().values(
            ts_ms=now_ms, actor=actor, action=action, target=target, details=details or {}
        )
    )
