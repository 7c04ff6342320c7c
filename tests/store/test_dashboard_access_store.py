"""Users, sessions and login counters in the store, on both engines."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from syncmon.store import accounts, login_throttle, projects, users
from syncmon.store import sessions as session_store
from syncmon.store.accounts import AccountError
from syncmon.store.login_throttle import Counter
from syncmon.store.schema import users as users_table
from syncmon.store.sessions import SessionRecord, session_digest
from tests.conftest import Store

NOW = 1_767_225_600_000
MIN = 60_000


def add_user(store: Store, email: str, role: str = "viewer") -> int:
    with store.engine.begin() as conn:
        return accounts.create_user(conn, email, "long enough", role, NOW)


def session(user_id: int, plain: str, **changes: object) -> SessionRecord:
    values: dict[str, object] = {
        "id_hash": session_digest(plain),
        "user_id": user_id,
        "created_ms": NOW,
        "last_seen_ms": NOW,
        "expires_ms": NOW + 60 * MIN,
        "csrf_token": "csrf-" + plain,
        "mfa_pending": False,
        "client_ip": "203.0.113.5",
        "user_agent": "Mozilla/5.0 " + "x" * 600,
    }
    values.update(changes)
    return SessionRecord(**values)  # type: ignore[arg-type]


def test_the_monitors_own_project_exists_and_takes_no_browser_origin(store: Store) -> None:
    with store.engine.connect() as conn:
        own = projects.find_project(conn, store.settings.monitor_project)
    assert own is not None and own.id != store.project.id
    assert own.allowed_origins == []
    assert not own.origin_allowed("https://anything.example")
    with store.engine.begin() as conn:
        assert projects.ensure_project(conn, own.slug, NOW) == own


def test_the_last_active_admin_cannot_be_demoted_or_disabled(store: Store) -> None:
    admin = store.settings.admin_email
    with pytest.raises(AccountError, match="last active admin"), store.engine.begin() as conn:
        users.set_role(conn, admin, "viewer")
    with pytest.raises(AccountError, match="last active admin"), store.engine.begin() as conn:
        users.set_disabled(conn, admin, True)
    second = add_user(store, "bea@example.com", "admin")
    with store.engine.begin() as conn:
        before, role = users.set_role(conn, admin, "viewer")
        assert (before.role, role) == ("admin", "viewer")
    # bea is now the last one; a disabled admin does not count as one.
    with pytest.raises(AccountError, match="last active admin"), store.engine.begin() as conn:
        users.set_disabled(conn, second, True)
    with pytest.raises(AccountError, match="role must be one of"), store.engine.begin() as conn:
        users.set_role(conn, second, "owner")
    with pytest.raises(AccountError, match="no user"), store.engine.begin() as conn:
        users.set_role(conn, "nobody@example.com", "admin")
    with store.engine.connect() as conn:
        assert [(u.email, u.role, u.disabled) for u in users.list_users(conn)] == [
            (admin, "viewer", False),
            ("bea@example.com", "admin", False),
        ]


def test_disable_and_enable(store: Store) -> None:
    user_id = add_user(store, "cy@example.com")
    with store.engine.begin() as conn:
        users.set_disabled(conn, user_id, True)
    with store.engine.connect() as conn:
        assert users.require_user(conn, user_id).disabled is True
    with store.engine.begin() as conn:
        users.set_disabled(conn, "CY@example.com ", False)
    with store.engine.connect() as conn:
        assert users.require_user(conn, "cy@example.com").disabled is False


def test_password_policy_and_hash_replacement(store: Store) -> None:
    for bad, message in (("short", "at least 8"), ("x" * 1025, "at most 1024")):
        with pytest.raises(AccountError, match=message):
            users.check_password(bad)
    user_id = add_user(store, "dee@example.com")
    with store.engine.connect() as conn:
        old = users.require_user(conn, user_id)
    with store.engine.begin() as conn:
        users.set_password_hash(conn, user_id, accounts.hash_password("a new password"), NOW + 1)
    with store.engine.connect() as conn:
        changed = users.require_user(conn, user_id)
    assert accounts.verify_password(changed.password_hash, "a new password")
    assert changed.password_changed_ms == NOW + 1
    # A re-hash computed from the old hash is not stored over a changed password.
    with store.engine.begin() as conn:
        users.replace_hash(conn, user_id, old.password_hash, accounts.hash_password("long enough"))
    with store.engine.connect() as conn:
        assert users.require_user(conn, user_id).password_hash == changed.password_hash


def test_totp_enrolment_and_one_use_per_step(store: Store) -> None:
    user_id = add_user(store, "eve@example.com")
    with store.engine.begin() as conn:
        users.start_totp(conn, user_id, "A" * 32)
        users.start_totp(conn, user_id, "B" * 32)  # starting again replaces a pending secret
    with pytest.raises(AccountError, match="changed meanwhile"), store.engine.begin() as conn:
        users.enable_totp(conn, user_id, "A" * 32, 100, NOW)
    with store.engine.begin() as conn:
        users.enable_totp(conn, user_id, "B" * 32, 100, NOW)
    with store.engine.connect() as conn:
        user = users.require_user(conn, user_id)
    assert user.totp_enabled and user.totp_last_step == 100 and user.totp_enabled_ms == NOW
    assert "BBBB" not in repr(user)  # the secret stays out of logs and tracebacks
    with pytest.raises(AccountError, match="already on"), store.engine.begin() as conn:
        users.start_totp(conn, user_id, "C" * 32)
    with store.engine.begin() as conn:
        assert users.use_totp_step(conn, user_id, 100) is False
        assert users.use_totp_step(conn, user_id, 99) is False
        assert users.use_totp_step(conn, user_id, 101) is True
        assert users.use_totp_step(conn, user_id, 101) is False
        assert users.disable_totp(conn, user_id) is True
        assert users.disable_totp(conn, user_id) is False
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users_table).where(users_table.c.id == user_id)).one()
    assert (row.totp_secret, row.totp_enabled_ms, row.totp_last_step) == (None, None, None)


def test_sessions_are_found_by_digest_with_their_user(store: Store) -> None:
    user_id = add_user(store, "fay@example.com")
    with store.engine.begin() as conn:
        session_store.insert_session(conn, session(user_id, "plain-one"))
    with store.engine.connect() as conn:
        found = session_store.session_with_user(conn, session_digest("plain-one"))
        assert session_store.session_with_user(conn, "plain-one") is None  # only digests are stored
        stored_ids = conn.execute(sa.text("SELECT id_hash FROM sessions")).scalars().all()
    assert found is not None
    record, user = found
    assert record.user_id == user.id == user_id and user.email == "fay@example.com"
    assert record.created_ms == NOW and user.created_ms == NOW  # the join's two created_ms
    assert record.csrf_token == "csrf-plain-one" and record.mfa_pending is False
    assert record.user_agent is not None and len(record.user_agent) == 512
    assert stored_ids == [session_digest("plain-one")]


def test_ending_sessions(store: Store) -> None:
    first = add_user(store, "gus@example.com")
    second = add_user(store, "hal@example.com")
    with store.engine.begin() as conn:
        for plain in ("g1", "g2", "g3"):
            session_store.insert_session(conn, session(first, plain))
        session_store.insert_session(conn, session(second, "h1"))
        session_store.insert_session(conn, session(second, "h-old", expires_ms=NOW + MIN))
        session_store.insert_session(conn, session(second, "h-idle", last_seen_ms=NOW - 30 * MIN))
    with store.engine.begin() as conn:
        assert session_store.count_user_sessions(conn, first, NOW) == 3
        assert session_store.delete_user_sessions(conn, first, keep=session_digest("g2")) == 2
        assert session_store.count_user_sessions(conn, first, NOW) == 1
        assert session_store.delete_session(conn, session_digest("g2")) is True
        assert session_store.delete_session(conn, session_digest("g2")) is False
        assert session_store.delete_expired(conn, NOW + MIN, idle_ms=20 * MIN) == 2  # h-old, h-idle
        session_store.touch(conn, session_digest("h1"), NOW + 5 * MIN)
    with store.engine.connect() as conn:
        found = session_store.session_with_user(conn, session_digest("h1"))
    assert found is not None and found[0].last_seen_ms == NOW + 5 * MIN


def test_login_counters(store: Store) -> None:
    account = login_throttle.account_subject(" Ann@Example.com ")
    ip = login_throttle.ip_subject("203.0.113.9")
    assert account == "account:ann@example.com"
    with store.engine.begin() as conn:
        login_throttle.save(conn, Counter(account, 2, NOW))
        login_throttle.save(conn, Counter(account, 5, NOW, NOW + 10 * MIN))  # replaces
        login_throttle.save(conn, Counter(ip, 1, NOW - 20 * MIN))
        login_throttle.save(conn, Counter("account:old@example.com", 1, NOW - 20 * MIN, NOW - MIN))
    with store.engine.begin() as conn:
        assert login_throttle.load(conn, [account, ip, account]) == {
            account: Counter(account, 5, NOW, NOW + 10 * MIN),
            ip: Counter(ip, 1, NOW - 20 * MIN),
        }
        assert login_throttle.load(conn, []) == {}
        assert login_throttle.locked_accounts(conn, NOW) == {account: NOW + 10 * MIN}
        assert login_throttle.locked_accounts(conn, NOW + 10 * MIN) == {}
        # Stale: the window has passed and nothing is locked (the lock of `account` still holds).
        assert login_throttle.delete_stale(conn, NOW, 15 * MIN) == 2
        assert login_throttle.clear(conn, account) is True
        assert login_throttle.clear(conn, account) is False
        assert login_throttle.load(conn, [account, ip]) == {}
    long_subject = login_throttle.account_subject("x" * 500 + "@example.com")
    assert len(long_subject) == login_throttle.MAX_SUBJECT
