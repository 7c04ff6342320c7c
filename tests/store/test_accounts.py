"""Users and API tokens, on both engines."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from syncmon.store import accounts
from syncmon.store.accounts import AccountError
from syncmon.store.schema import api_tokens, audit_log, users
from tests.conftest import ADMIN_PASSWORD, Store

NOW = 1_767_225_600_000


def test_first_admin_was_created(store: Store) -> None:
    with store.engine.connect() as conn:
        assert accounts.count_users(conn) == 1
        row = conn.execute(sa.select(users)).one()
    assert row.email == store.settings.admin_email
    assert row.role == "admin"
    assert row.disabled is False
    assert accounts.verify_password(row.password_hash, ADMIN_PASSWORD)
    assert ADMIN_PASSWORD not in row.password_hash
    assert row.password_hash.startswith("$argon2id$")


def test_create_user(store: Store) -> None:
    with store.engine.begin() as conn:
        user_id = accounts.create_user(conn, "  Ann@Example.COM ", "long enough", "viewer", NOW)
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == user_id)).one()
        assert accounts.count_users(conn) == 2
    assert row.email == "ann@example.com"
    assert row.role == "viewer"
    assert row.created_ms == NOW
    assert accounts.verify_password(row.password_hash, "long enough")


REFUSED_USERS = [
    ("not-an-email", "long enough", "viewer", "is not an email address"),
    ("", "long enough", "viewer", "is not an email address"),
    ("bob@example.com", "short", "viewer", "at least 8 characters"),
    ("bob@example.com", "1234567", "viewer", "at least 8 characters"),
    ("bob@example.com", "long enough", "owner", "role must be one of admin, viewer"),
    ("ADMIN@localhost", "long enough", "viewer", "already exists"),
    (" admin@LOCALHOST ", "long enough", "admin", "already exists"),
]


def test_create_user_refuses(store: Store) -> None:
    """The whole table on one store: every refusal leaves the users table as it was."""
    for email, password, role, message in REFUSED_USERS:
        with pytest.raises(AccountError, match=message), store.engine.begin() as conn:
            accounts.create_user(conn, email, password, role, NOW)
        with store.engine.connect() as conn:
            assert accounts.count_users(conn) == 1, email


def test_password_of_exactly_eight_characters_is_enough(store: Store) -> None:
    with store.engine.begin() as conn:
        accounts.create_user(conn, "eight@example.com", "12345678", "admin", NOW)
        assert accounts.count_users(conn) == 2


@pytest.mark.parametrize(
    ("stored", "given", "ok"),
    [
        ("right password", "right password", True),
        ("right password", "wrong password", False),
        ("right password", "right passwor", False),
        ("right password", "", False),
    ],
)
def test_verify_password(stored: str, given: str, ok: bool) -> None:
    assert accounts.verify_password(accounts.hash_password(stored), given) is ok


def test_production_hash_parameters_verify() -> None:
    """The real (not the tests' cheap) argon2id parameters round-trip too."""
    hashed = PasswordHasher().hash("right password")
    assert accounts.verify_password(hashed, "right password")
    assert not accounts.verify_password(hashed, "wrong password")


@pytest.mark.parametrize("bad_hash", ["", "plain text", "$argon2id$v=19$broken"])
def test_verify_password_with_a_bad_hash_is_false(bad_hash: str) -> None:
    assert accounts.verify_password(bad_hash, "anything") is False


def test_generated_passwords_are_long_and_distinct() -> None:
    made = {accounts.generate_password() for _ in range(20)}
    assert len(made) == 20
    assert all(len(p) >= 16 for p in made)


def test_tokens_create_list_revoke(store: Store) -> None:
    with store.engine.begin() as conn:
        viewer, viewer_plain = accounts.create_token(conn, "viewer", "grafana", NOW)
        admin, admin_plain = accounts.create_token(conn, "admin", "", NOW + 1)

    assert viewer_plain.startswith(accounts.TOKEN_PREFIX)
    assert viewer_plain != admin_plain
    assert viewer.prefix == viewer_plain[:10]
    assert viewer.name == "grafana"
    assert admin.name == "admin"  # no name: the role stands in
    assert viewer.revoked_ms is None

    with store.engine.connect() as conn:
        assert accounts.list_tokens(conn) == [viewer, admin]
        stored = conn.execute(sa.select(api_tokens.c.token_hash)).scalars().all()
        assert accounts.role_for_token(conn, viewer_plain) == "viewer"
        assert accounts.role_for_token(conn, admin_plain) == "admin"
        assert accounts.role_for_token(conn, viewer_plain + "x") is None
        assert accounts.role_for_token(conn, viewer.prefix) is None
        assert accounts.role_for_token(conn, "") is None
    assert viewer_plain not in stored  # only the digest is kept
    assert hashlib.sha256(viewer_plain.encode()).hexdigest() in stored

    with store.engine.begin() as conn:
        accounts.revoke_token(conn, viewer.id, NOW + 5)
    with store.engine.connect() as conn:
        assert accounts.role_for_token(conn, viewer_plain) is None
        assert accounts.role_for_token(conn, admin_plain) == "admin"
        listed = accounts.list_tokens(conn)
    assert [t.revoked_ms for t in listed] == [NOW + 5, None]


def test_revoke_refuses_unknown_or_revoked_tokens(store: Store) -> None:
    with store.engine.begin() as conn:
        token, _ = accounts.create_token(conn, "viewer", "x", NOW)
        accounts.revoke_token(conn, token.id, NOW)
    for token_id in (token.id, 424242):
        with (
            pytest.raises(AccountError, match=f"no active token with id {token_id}"),
            store.engine.begin() as conn,
        ):
            accounts.revoke_token(conn, token_id, NOW + 1)
    with store.engine.connect() as conn:
        assert [t.revoked_ms for t in accounts.list_tokens(conn)] == [NOW]  # first revocation time kept


def test_create_token_refuses_unknown_role(store: Store) -> None:
    with pytest.raises(AccountError, match="role must be one of"), store.engine.begin() as conn:
        accounts.create_token(conn, "root", "x", NOW)
    with store.engine.connect() as conn:
        assert accounts.list_tokens(conn) == []


def test_record_audit(store: Store) -> None:
    with store.engine.begin() as conn:
        accounts.record_audit(conn, NOW, "cli", "token.create", "7", {"role": "viewer"})
        accounts.record_audit(conn, NOW + 1, "cli", "token.revoke", "7")
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.action.like("token.%")).order_by(audit_log.c.id)
        ).all()
    assert [(r.ts_ms, r.actor, r.action, r.target, r.details) for r in rows] == [
        (NOW, "cli", "token.create", "7", {"role": "viewer"}),
        (NOW + 1, "cli", "token.revoke", "7", {}),
    ]
