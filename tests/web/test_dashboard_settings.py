"""Settings → Users and Settings → API tokens against the real server, on both engines:
what admins can do, that secrets are shown once, and that every change is audited and
recorded as a security event of the monitor's own project."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from syncmon.clock import SystemClock
from syncmon.store import accounts, users
from syncmon.store.schema import api_tokens
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard, audit_actions, own_events
from tests.support.live import LiveServer

ADMIN = "admin@localhost"


@pytest.fixture
def admin(live: LiveServer) -> Iterator[Dashboard]:
    with live.client() as client:
        dash = Dashboard(client)
        dash.login_ok(ADMIN, ADMIN_PASSWORD)
        yield dash


def user_id(store: Store, email: str) -> int:
    with store.engine.connect() as conn:
        return users.require_user(conn, email).id


def test_create_users_with_a_generated_password_shown_once(
    admin: Dashboard, live: LiveServer, store: Store
) -> None:
    created = admin.post("/settings/users", {"email": " Nia@Example.com ", "role": "viewer", "password": ""})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    shown = re.search(r'id="created-password">([^<]+)<', created.text)
    assert shown is not None
    password = shown.group(1)
    assert password not in admin.client.get("/settings/users").text  # once only
    chosen = admin.post(
        "/settings/users", {"email": "oli@example.com", "role": "admin", "password": "chosen-password"}
    )
    assert chosen.status_code == 200 and 'id="created-password"' not in chosen.text
    duplicate = admin.post("/settings/users", {"email": "nia@example.com", "role": "viewer", "password": ""})
    assert duplicate.status_code == 400 and "already exists" in duplicate.text
    bad_role = admin.post("/settings/users", {"email": "pat@example.com", "role": "owner", "password": ""})
    assert bad_role.status_code == 400 and "role must be one of admin, viewer" in bad_role.text
    short = admin.post("/settings/users", {"email": "pat@example.com", "role": "viewer", "password": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.text
    with live.client() as client:
        Dashboard(client).login_ok("nia@example.com", password)
    with live.client() as client:
        Dashboard(client).login_ok("oli@example.com", "chosen-password")
    events = own_events(store.engine, store.settings.monitor_project, "user_created")
    assert [(e.user_id, e.data["target"], e.data["role"]) for e in events] == [
        (ADMIN, "nia@example.com", "viewer"),
        (ADMIN, "oli@example.com", "admin"),
    ]
    assert [a for a in audit_actions(store.engine) if a[1] == "user.create"][-2:] == [
        (ADMIN, "user.create", "nia@example.com"),
        (ADMIN, "user.create", "oli@example.com"),
    ]


def test_roles_disable_enable_and_unlock(admin: Dashboard, live: LiveServer, store: Store) -> None:
    with store.engine.begin() as conn:
        accounts.create_user(conn, "ray@example.com", "ray-password", "viewer", SystemClock().now_ms())
    ray = user_id(store, "ray@example.com")
    me = user_id(store, ADMIN)
    last = admin.post(f"/settings/users/{me}/role", {"role": "viewer"})
    assert last.status_code == 400 and "last active admin" in last.text
    assert admin.post(f"/settings/users/{me}/disable").status_code == 400  # not yourself
    assert (
        admin.post(f"/settings/users/{ray}/role", {"role": "admin"}).headers["location"]
        == "/settings/users?done=role"
    )
    with live.client() as client:
        ray_dash = Dashboard(client)
        ray_dash.login_ok("ray@example.com", "ray-password")
        assert admin.post(f"/settings/users/{ray}/disable").status_code == 303
        assert client.get("/overview").status_code == 303  # their session ended at once
        assert ray_dash.login("ray@example.com", "ray-password").status_code == 401
        assert admin.post(f"/settings/users/{ray}/enable").status_code == 303
        for _ in range(5):
            ray_dash.login("ray@example.com", "wrong-password")
        assert ray_dash.login("ray@example.com", "ray-password").status_code == 429
        listing = admin.client.get("/settings/users")
        assert "locked until" in listing.text and f'action="/settings/users/{ray}/unlock"' in listing.text
        assert admin.post(f"/settings/users/{ray}/unlock").status_code == 303
        ray_dash.login_ok("ray@example.com", "ray-password")
    assert admin.post("/settings/users/999999/disable").status_code == 400
    assert admin.post("/settings/users/abc/disable").status_code == 404
    own = store.settings.monitor_project
    change = own_events(store.engine, own, "authz_change")
    assert [(e.data["target"], e.data["from"], e.data["to"]) for e in change] == [
        ("ray@example.com", "viewer", "admin")
    ]
    updates = own_events(store.engine, own, "user_updated")
    assert [e.data["change"] for e in updates] == ["disable", "enable", "unlock"]
    actions = [a[1] for a in audit_actions(store.engine)]
    for action in ("user.set_role", "user.disable", "user.enable", "user.unlock", "login.lock"):
        assert action in actions, action


def test_api_tokens_are_shown_once_and_revocable(admin: Dashboard, live: LiveServer, store: Store) -> None:
    created = admin.post("/settings/tokens", {"name": "ci <deploy>", "role": "viewer"})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    shown = re.search(r'id="created-token">(smt_[^<]+)<', created.text)
    assert shown is not None
    token = shown.group(1)
    assert "ci &lt;deploy&gt;" in created.text
    listing = admin.client.get("/settings/tokens")
    assert token not in listing.text and token[:10] in listing.text
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens)).one()
    assert token not in repr(tuple(stored)) and stored.token_hash == accounts.token_digest(token)
    assert admin.post("/settings/tokens", {"name": " ", "role": "viewer"}).status_code == 400
    with live.client() as client:
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/projects", headers=bearer).status_code == 200
        revoked = admin.post(f"/settings/tokens/{stored.id}/revoke")
        assert revoked.status_code == 303 and revoked.headers["location"] == "/settings/tokens?done=revoked"
        assert client.get("/api/v1/projects", headers=bearer).status_code == 401
    again = admin.post(f"/settings/tokens/{stored.id}/revoke")
    assert again.status_code == 400 and "no active token" in again.text
    events = own_events(store.engine, store.settings.monitor_project, "authz_admin")
    assert [(e.user_id, e.data["change"], e.data["target"]) for e in events] == [
        (ADMIN, "token_create", f"token:{stored.id}"),
        (ADMIN, "token_revoke", f"token:{stored.id}"),
    ]
    assert [a[1] for a in audit_actions(store.engine) if a[1].startswith("token.")] == [
        "token.create",
        "token.revoke",
    ]


def test_a_viewer_sees_settings_without_any_form(live: LiveServer, store: Store) -> None:
    with store.engine.begin() as conn:
        accounts.create_user(conn, "sue@example.com", "sue-password", "viewer", SystemClock().now_ms())
        accounts.create_token(conn, "admin", "deploy", SystemClock().now_ms())
    with live.client() as client:
        Dashboard(client).login_ok("sue@example.com", "sue-password")
        for path in ("/settings/users", "/settings/tokens"):
            page = client.get(path)
            assert page.status_code == 200
            assert "Your role is viewer" in page.text
            assert 'method="post" action="/settings' not in page.text, path
        assert 'action="/account/password"' in client.get("/account").text  # their own account, yes
