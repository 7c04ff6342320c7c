"""Two-factor authentication end to end against the real server, with time from a ManualClock."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from syncmon.clock import ManualClock
from syncmon.store import accounts, users
from syncmon.web.auth import totp
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard, audit_actions, form_token, own_events
from tests.support.live import LiveServer

ADMIN = "admin@localhost"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server(store: Store, clock: ManualClock) -> Iterator[LiveServer]:
    with LiveServer(store.settings_with(login_max_failures=3), store.engine, clock=clock) as live:
        yield live


def enrol(client: httpx.Client, clock: ManualClock) -> str:
    """Turn the second factor on through the account pages; returns the secret."""
    dash = Dashboard(client)
    started = dash.post("/account/totp/start")
    assert started.status_code == 303 and started.headers["location"] == "/account/totp"
    page = client.get("/account/totp")
    assert page.status_code == 200
    assert re.search(r'<svg xmlns="http://www.w3.org/2000/svg"[^>]*class="qr-code"', page.text)
    shown = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text)
    assert shown is not None
    secret = shown.group(1).replace(" ", "")
    wrong = dash.post(
        "/account/totp/confirm", {"code": "000000" if totp.code_at(secret, 1) != "000000" else "111111"}
    )
    assert wrong.status_code == 400 and "does not match" in wrong.text
    code = totp.code_at(secret, totp.current_step(clock.now_ms()))
    confirmed = dash.post("/account/totp/confirm", {"code": code})
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/account?done=totp_on"
    assert "Two-factor authentication is on." in client.get("/account?done=totp_on").text
    return secret


def password_step(client: httpx.Client, email: str = ADMIN, password: str = ADMIN_PASSWORD) -> httpx.Response:
    reply = Dashboard(client).login(email, password)
    assert reply.status_code == 303 and reply.headers["location"] == "/login/totp", reply.text
    return reply


def code_step(client: httpx.Client, code: str) -> httpx.Response:
    page = client.get("/login/totp")
    assert page.status_code == 200 and ADMIN in page.text
    return client.post("/login/totp", data={"csrf_token": form_token(page.text), "code": code})


def test_enrol_then_log_in_with_a_code(server: LiveServer, store: Store, clock: ManualClock) -> None:
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        secret = enrol(client, clock)
        assert client.get("/account/totp").headers["location"] == "/account"  # nothing to set up now
    clock.advance(60)
    with server.client() as client:
        password_step(client)
        # The pending session is no session: pages still send it to the login.
        assert client.get("/overview").status_code == 303
        assert client.get("/api/v1/projects").status_code == 401
        wrong = code_step(
            client,
            "123456" if totp.code_at(secret, totp.current_step(clock.now_ms())) != "123456" else "654321",
        )
        assert wrong.status_code == 401 and "not valid" in wrong.text
        code = totp.code_at(secret, totp.current_step(clock.now_ms()))
        done = code_step(client, code)
        assert done.status_code == 303 and done.headers["location"] == "/overview"
        assert client.get("/overview").status_code == 200
    with server.client() as client:
        password_step(client)
        replay = code_step(client, code)  # the same code, still inside its 30 seconds
        assert replay.status_code == 401
    own = store.settings.monitor_project
    successes = own_events(store.engine, own, "authn_login_success")
    assert [e.data["mfa"] for e in successes] == [False, True]
    reasons = [e.data["reason"] for e in own_events(store.engine, own, "authn_login_fail")]
    assert reasons == ["wrong_code", "wrong_code"]
    assert [e.user_id for e in own_events(store.engine, own, "authn_mfa_enabled")] == [ADMIN]
    assert (ADMIN, "totp.enable", ADMIN) in audit_actions(store.engine)


def test_wrong_codes_count_towards_the_lockout(server: LiveServer, clock: ManualClock) -> None:
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        secret = enrol(client, clock)
    clock.advance(60)
    good = totp.code_at(secret, totp.current_step(clock.now_ms()))
    bad = f"{(int(good) + 1) % 1_000_000:06d}"
    with server.client() as client:
        password_step(client)
        assert code_step(client, bad).status_code == 401
        assert code_step(client, bad).status_code == 401
        locked = code_step(client, bad)
        assert locked.status_code == 429 and "Too many failed logins" in locked.text
        # The pending session ended with the lock: there is no code step to return to.
        assert client.get("/login/totp").headers["location"] == "/login"
        assert Dashboard(client).login(ADMIN, ADMIN_PASSWORD).status_code == 429


def test_a_pending_login_expires(server: LiveServer, clock: ManualClock) -> None:
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        secret = enrol(client, clock)
    with server.client() as client:
        password_step(client)
        page = client.get("/login/totp")
        clock.advance(6 * 60)
        code = totp.code_at(secret, totp.current_step(clock.now_ms()))
        late = client.post("/login/totp", data={"csrf_token": form_token(page.text), "code": code})
        assert late.status_code == 401 and "took too long" in late.text


def test_the_code_form_needs_the_pending_sessions_token(server: LiveServer, clock: ManualClock) -> None:
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        secret = enrol(client, clock)
    clock.advance(60)
    with server.client() as client:
        password_step(client)
        code = totp.code_at(secret, totp.current_step(clock.now_ms()))
        forged = client.post("/login/totp", data={"csrf_token": "forged", "code": code})
        assert forged.status_code == 403


def test_turning_it_off_needs_the_password_and_an_admin_can_turn_it_off(
    server: LiveServer, store: Store, clock: ManualClock
) -> None:
    with server.client() as client:
        dash = Dashboard(client)
        dash.login_ok(ADMIN, ADMIN_PASSWORD)
        enrol(client, clock)
        refused = dash.post("/account/totp/disable", {"password": "not the password"})
        assert refused.status_code == 400 and "password is wrong" in refused.text
        off = dash.post("/account/totp/disable", {"password": ADMIN_PASSWORD})
        assert off.status_code == 303 and off.headers["location"] == "/account?done=totp_off"
        enrol(client, clock)  # on again, for the admin recovery below
        with store.engine.begin() as conn:
            accounts.create_user(conn, "second@example.com", "second-password", "admin", clock.now_ms())
    clock.advance(60)
    with store.engine.connect() as conn:
        me = users.require_user(conn, ADMIN)
    assert me.totp_enabled
    with server.client() as client:
        other = Dashboard(client)
        other.login_ok("second@example.com", "second-password")
        users_page = client.get("/settings/users")
        assert f'action="/settings/users/{me.id}/totp/disable"' in users_page.text
        recovered = other.post(f"/settings/users/{me.id}/totp/disable")
        assert recovered.status_code == 303
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)  # no code asked any more
    own = store.settings.monitor_project
    assert [e.user_id for e in own_events(store.engine, own, "authn_mfa_disabled")] == [ADMIN]
    updates = own_events(store.engine, own, "user_updated")
    assert [(e.user_id, e.data["target"], e.data["change"]) for e in updates] == [
        ("second@example.com", ADMIN, "totp_disable")
    ]
