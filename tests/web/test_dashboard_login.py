"""Logging in to the dashboard against the real server, on both engines: cookies, failures,
lockout and IP blocking (time driven by a ManualClock), sessions ending, security events."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from argon2 import PasswordHasher

from syncmon.clock import ManualClock
from syncmon.store import accounts, users
from syncmon.store.sessions import session_digest
from syncmon.web.auth.headers import CONTENT_SECURITY_POLICY
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard, audit_actions, form_token, own_events, wait_for
from tests.support.live import LiveServer

ADMIN = "admin@localhost"
MIN = 60.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def serve(store: Store, clock: ManualClock | None = None, **settings: object) -> LiveServer:
    return LiveServer(store.settings_with(**settings), store.engine, clock=clock)


@pytest.fixture
def server(store: Store, clock: ManualClock) -> Iterator[LiveServer]:
    with serve(
        store, clock, login_max_failures=3, login_lockout_minutes=10, login_failure_window_minutes=15
    ) as live:
        yield live


def add_user(store: Store, email: str, role: str = "viewer", password: str = "viewer-password") -> int:
    with store.engine.begin() as conn:
        return accounts.create_user(conn, email, password, role, ManualClock().now_ms())


def test_root_redirects_to_login_which_carries_the_security_headers(server: LiveServer) -> None:
    with server.client() as client:
        root = client.get("/")
        assert root.status_code == 303 and root.headers["location"] == "/login"
        deep = client.get("/settings/users?x=1")
        assert (
            deep.status_code == 303 and deep.headers["location"] == "/login?next=%2Fsettings%2Fusers%3Fx%3D1"
        )
        page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'"):
        assert directive in CONTENT_SECURITY_POLICY
    assert (
        "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        and "form-action 'self'" in CONTENT_SECURITY_POLICY
    )
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in page.headers  # plain HTTP
    assert "<script>" not in page.text and " style=" not in page.text  # nothing a strict CSP blocks


def test_login_issues_an_httponly_samesite_session_cookie(server: LiveServer, store: Store) -> None:
    with server.client() as client:
        dash = Dashboard(client)
        reply = dash.login_ok(ADMIN, ADMIN_PASSWORD)
        cookie = next(v for v in reply.headers.get_list("set-cookie") if v.startswith("syncmon_session="))
        plain = cookie.split(";")[0].split("=", 1)[1]
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "path=/", "samesite=lax", "max-age=43200"} <= flags
        assert "secure" not in flags  # plain HTTP and no proxy vouching for HTTPS
        assert len(plain) >= 43
        overview = client.get("/overview")
        assert overview.status_code == 200 and ADMIN in overview.text
        assert client.get("/login").headers["location"] == "/overview"  # already logged in
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT id_hash FROM sessions").scalars().all()
    assert stored == [session_digest(plain)]  # the table holds only the digest


@pytest.mark.parametrize(
    ("settings", "headers", "secure"),
    [
        ({"trusted_proxies": ["127.0.0.1"]}, {"X-Forwarded-Proto": "https"}, True),
        ({"trusted_proxies": ["127.0.0.1"]}, {"X-Forwarded-Proto": "http"}, False),
        ({"trusted_proxies": []}, {"X-Forwarded-Proto": "https"}, False),  # anyone can send the header
        (
            {"trusted_proxies": ["127.0.0.1"], "proxy_header": "forwarded"},
            {"Forwarded": "for=203.0.113.4;proto=https"},
            True,
        ),
        (
            {"trusted_proxies": ["127.0.0.1"], "proxy_header": "forwarded"},
            {"X-Forwarded-Proto": "https"},
            False,
        ),
        ({"session_cookie_secure": "always"}, {}, True),
    ],
)
def test_secure_flag_when_the_request_came_over_https(
    store: Store, settings: dict[str, object], headers: dict[str, str], secure: bool
) -> None:
    """Cookies are passed by hand: a client speaking plain HTTP to us (as a TLS-terminating
    proxy does) would rightly not send a Secure cookie back by itself."""
    with serve(store, **settings) as live, live.client() as client:
        page = client.get("/login", headers=headers)
        login_cookie = set_cookie(page, "syncmon_session_login")
        reply = client.post(
            "/login",
            data={"csrf_token": form_token(page.text), "email": ADMIN, "password": ADMIN_PASSWORD},
            headers={**headers, "Cookie": f"syncmon_session_login={cookie_value(login_cookie)}"},
        )
        assert reply.status_code == 303, reply.text
        session_cookie = set_cookie(reply, "syncmon_session")
        client.cookies.clear()
        overview = client.get(
            "/overview", headers={**headers, "Cookie": f"syncmon_session={cookie_value(session_cookie)}"}
        )
    assert overview.status_code == 200
    for cookie in (login_cookie, session_cookie):
        assert ("secure" in cookie.lower().split("; ")) is secure, cookie
    https = headers.get("X-Forwarded-Proto") == "https" or "proto=https" in headers.get("Forwarded", "")
    assert ("strict-transport-security" in overview.headers) is (secure and https)


def set_cookie(reply: httpx.Response, name: str) -> str:
    return next(v for v in reply.headers.get_list("set-cookie") if v.startswith(f"{name}="))


def cookie_value(header: str) -> str:
    return header.split(";")[0].split("=", 1)[1]


def test_cookie_name_and_samesite_are_settings(store: Store) -> None:
    with (
        serve(store, session_cookie_name="mon", session_cookie_samesite="strict") as live,
        live.client() as client,
    ):
        reply = Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
    cookie = next(v for v in reply.headers.get_list("set-cookie") if v.startswith("mon="))
    assert "samesite=strict" in cookie.lower()


def test_wrong_password_unknown_and_disabled_accounts_get_the_same_answer(
    server: LiveServer, store: Store
) -> None:
    disabled = add_user(store, "gone@example.com")
    with store.engine.begin() as conn:
        users.set_disabled(conn, disabled, True)
    replies = {}
    with server.client() as client:
        dash = Dashboard(client, {"User-Agent": "curl/8.5.0"})
        for email, password in (
            (ADMIN, "wrong password"),
            ("nobody@example.com", "whatever1"),
            ("gone@example.com", "viewer-password"),
        ):
            replies[email] = dash.login(email, password)
    for reply in replies.values():
        assert reply.status_code == 401
        assert "Wrong email or password." in reply.text
        assert "set-cookie" not in reply.headers or "syncmon_session=" not in reply.headers["set-cookie"]
    failures = own_events(store.engine, store.settings.monitor_project, "authn_login_fail")
    assert [(e.user_id, e.data["reason"]) for e in failures] == [
        (ADMIN, "wrong_password"),
        ("nobody@example.com", "unknown_account"),
        ("gone@example.com", "disabled"),
    ]
    for event in failures:
        assert event.kind == "security" and event.level == "warning" and event.trusted
        assert event.client_ip == "127.0.0.1" and event.url == "/login"
        assert event.data["category"] == "authentication" and event.data["user_agent"] == "curl/8.5.0"
    assert [a for a in audit_actions(store.engine) if a[1] == "login.fail"] == [
        (ADMIN, "login.fail", ADMIN),
        ("nobody@example.com", "login.fail", "nobody@example.com"),
        ("gone@example.com", "login.fail", "gone@example.com"),
    ]


def test_the_login_form_needs_its_own_token(server: LiveServer, store: Store) -> None:
    with server.client() as client:
        forged = client.post(
            "/login", data={"email": ADMIN, "password": ADMIN_PASSWORD, "csrf_token": "guess"}
        )
        assert forged.status_code == 403 and "expired" in forged.text
        assert client.get("/overview").status_code == 303
    assert own_events(store.engine, store.settings.monitor_project) == []


def test_lockout_after_too_many_failures_and_its_end(
    server: LiveServer, store: Store, clock: ManualClock
) -> None:
    with server.client() as client:
        dash = Dashboard(client)
        assert [dash.login(ADMIN, "wrong one").status_code for _ in range(2)] == [401, 401]
        third = dash.login(ADMIN, "wrong one")
        assert third.status_code == 429 and third.headers["retry-after"] == "600"
        assert "Too many failed logins for this account" in third.text
        refused = dash.login(ADMIN, ADMIN_PASSWORD)  # the right password does not help while locked
        assert refused.status_code == 429
        clock.advance(9 * MIN)
        assert dash.login(ADMIN, ADMIN_PASSWORD).headers["retry-after"] == "60"
        clock.advance(1 * MIN)
        dash.login_ok(ADMIN, ADMIN_PASSWORD)
    own = store.settings.monitor_project
    locks = own_events(store.engine, own, "authn_login_lock")
    assert len(locks) == 1 and locks[0].user_id == ADMIN and locks[0].level == "error"
    assert locks[0].data["scope"] == "account" and locks[0].data["failures"] == 3
    reasons = [e.data["reason"] for e in own_events(store.engine, own, "authn_login_fail")]
    assert reasons == ["wrong_password"] * 3 + ["account_locked"] * 2
    assert len(own_events(store.engine, own, "authn_login_success")) == 1
    actions = [a[1] for a in audit_actions(store.engine)]
    assert actions.count("login.lock") == 1 and actions[-1] == "login.success"


def test_an_unknown_account_locks_the_same_way(server: LiveServer) -> None:
    with server.client() as client:
        dash = Dashboard(client)
        codes = [dash.login("ghost@example.com", "guess number x").status_code for _ in range(4)]
    assert codes == [401, 401, 429, 429]


def test_a_lock_survives_a_restart(store: Store, clock: ManualClock) -> None:
    settings = {"login_max_failures": 2}
    with serve(store, clock, **settings) as live, live.client() as client:
        assert [Dashboard(client).login(ADMIN, "nope nope").status_code for _ in range(2)] == [401, 429]
    with serve(store, clock, **settings) as live, live.client() as client:
        assert Dashboard(client).login(ADMIN, ADMIN_PASSWORD).status_code == 429


def test_one_ip_trying_many_accounts_is_blocked(store: Store, clock: ManualClock) -> None:
    attacker = {"X-Forwarded-For": "198.51.100.7"}
    other = {"X-Forwarded-For": "198.51.100.8"}
    with serve(store, clock, trusted_proxies=["127.0.0.1"], login_max_failures_per_ip=4) as live:
        with live.client() as client:
            dash = Dashboard(client, attacker)
            codes = [dash.login(f"user{i}@example.com", "password1").status_code for i in range(5)]
            assert codes == [401, 401, 401, 429, 429]
            assert "from your address" in dash.login(ADMIN, ADMIN_PASSWORD).text
        with live.client() as client:
            Dashboard(client, other).login_ok(ADMIN, ADMIN_PASSWORD)
    own = store.settings.monitor_project
    failures = own_events(store.engine, own, "authn_login_fail")
    assert {e.client_ip for e in failures} == {"198.51.100.7"}  # the client behind the trusted proxy
    lock = own_events(store.engine, own, "authn_login_lock")
    assert [(e.data["scope"], e.client_ip) for e in lock] == [("ip", "198.51.100.7")]
    success = own_events(store.engine, own, "authn_login_success")
    assert [(e.user_id, e.client_ip) for e in success] == [(ADMIN, "198.51.100.8")]


def test_sessions_end_when_idle_and_at_their_lifetime(store: Store, clock: ManualClock) -> None:
    with (
        serve(store, clock, session_idle_minutes=30, session_lifetime_minutes=60) as live,
        live.client() as client,
    ):
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        clock.advance(29 * MIN)
        assert client.get("/overview").status_code == 200
        clock.advance(29 * MIN)  # used a minute before: not idle
        assert client.get("/overview").status_code == 200
        clock.advance(3 * MIN)  # past the lifetime, though not idle
        assert client.get("/overview").status_code == 303
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        clock.advance(31 * MIN)
        assert client.get("/overview").headers["location"] == "/login?next=%2Foverview"
        assert client.get("/api/v1/projects").status_code == 401


def test_a_disabled_user_loses_their_session_at_once(server: LiveServer, store: Store) -> None:
    add_user(store, "val@example.com")
    with server.client() as client:
        Dashboard(client).login_ok("val@example.com", "viewer-password")
        assert client.get("/overview").status_code == 200
        with store.engine.begin() as conn:
            users.set_disabled(conn, "val@example.com", True)
        assert client.get("/overview").status_code == 303


def test_logout_ends_the_session(server: LiveServer, store: Store) -> None:
    with server.client() as client:
        dash = Dashboard(client)
        dash.login_ok(ADMIN, ADMIN_PASSWORD)
        cookie = client.cookies["syncmon_session"]
        confirm = client.get("/logout")
        assert confirm.status_code == 200 and 'action="/logout"' in confirm.text
        bye = dash.post("/logout")
        assert bye.status_code == 303 and bye.headers["location"] == "/login?logged_out=1"
        assert "You are logged out." in client.get("/login?logged_out=1").text
    with server.client(cookies={"syncmon_session": cookie}) as stale:
        assert stale.get("/overview").status_code == 303  # the old cookie is worthless now
    logout = own_events(store.engine, store.settings.monitor_project, "session_logout")
    assert [e.user_id for e in logout] == [ADMIN]


def test_logout_needs_the_csrf_token(server: LiveServer) -> None:
    with server.client() as client:
        Dashboard(client).login_ok(ADMIN, ADMIN_PASSWORD)
        refused = client.post("/logout", data={})
        assert refused.status_code == 403 and "CSRF token missing or invalid" in refused.text
        assert client.get("/overview").status_code == 200


def test_password_change(server: LiveServer, store: Store) -> None:
    with server.client() as client, server.client() as elsewhere:
        dash = Dashboard(client)
        dash.login_ok(ADMIN, ADMIN_PASSWORD)
        Dashboard(elsewhere).login_ok(ADMIN, ADMIN_PASSWORD)
        wrong = dash.post(
            "/account/password",
            {
                "current_password": "not it at all",
                "new_password": "a new password",
                "confirm_password": "a new password",
            },
        )
        assert wrong.status_code == 400 and "current password is wrong" in wrong.text
        differ = dash.post(
            "/account/password",
            {
                "current_password": ADMIN_PASSWORD,
                "new_password": "a new password",
                "confirm_password": "another one",
            },
        )
        assert differ.status_code == 400 and "differ" in differ.text
        short = dash.post(
            "/account/password",
            {"current_password": ADMIN_PASSWORD, "new_password": "short", "confirm_password": "short"},
        )
        assert short.status_code == 400 and "at least 8 characters" in short.text
        done = dash.post(
            "/account/password",
            {
                "current_password": ADMIN_PASSWORD,
                "new_password": "a new password",
                "confirm_password": "a new password",
            },
        )
        assert done.status_code == 303 and done.headers["location"] == "/account?done=password"
        assert "Your password was changed" in client.get("/account?done=password").text
        assert elsewhere.get("/overview").status_code == 303  # the other session ended
    with server.client() as client:
        assert Dashboard(client).login(ADMIN, ADMIN_PASSWORD).status_code == 401
        Dashboard(client).login_ok(ADMIN, "a new password")
    own = store.settings.monitor_project
    assert [e.user_id for e in own_events(store.engine, own, "authn_password_change_fail")] == [ADMIN]
    assert [e.user_id for e in own_events(store.engine, own, "authn_password_change")] == [ADMIN]
    assert ("admin@localhost", "password.change", ADMIN) in audit_actions(store.engine)


def test_a_hash_with_old_parameters_is_replaced_at_login(server: LiveServer, store: Store) -> None:
    old_style = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash("older-password")
    user_id = add_user(store, "old@example.com")
    with store.engine.begin() as conn:
        users.set_password_hash(conn, user_id, old_style, 1)
    assert accounts.needs_rehash(old_style)
    with server.client() as client:
        Dashboard(client).login_ok("old@example.com", "older-password")
    with store.engine.connect() as conn:
        stored = users.require_user(conn, user_id).password_hash
    assert stored != old_style and not accounts.needs_rehash(stored)
    assert accounts.verify_password(stored, "older-password")


def test_the_login_page_keeps_a_local_next_only(server: LiveServer) -> None:
    with server.client() as client:
        for target, expected in (
            ("/settings/tokens", "/settings/tokens"),
            ("//evil.example/x", "/overview"),
            ("https://evil.example/", "/overview"),
            ("/\\evil.example", "/overview"),
        ):
            page = client.get("/login", params={"next": target})
            data = {"csrf_token": form_token(page.text), "email": ADMIN, "password": ADMIN_PASSWORD}
            reply = client.post("/login", params={"next": target}, data=data)
            assert reply.status_code == 303 and reply.headers["location"] == expected, target
            client.cookies.clear()


def test_the_monitors_own_detectors_see_a_brute_force_on_the_dashboard(
    live: LiveServer, store: Store, admin_token: str
) -> None:
    """Failed logins are security events of the monitor's own project, so the brute-force
    detector fires on them like on any application's (6 failures in quick succession)."""
    own = store.settings.monitor_project
    with live.client() as client:
        dash = Dashboard(client, {"User-Agent": "hydra"})
        for _ in range(6):
            dash.login(ADMIN, "guessing-again")

        def detections() -> list[dict[str, object]]:
            reply = client.get(
                "/api/v1/security/detections",
                params={"project": own},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
            assert reply.status_code == 200, reply.text
            found: list[dict[str, object]] = reply.json()["detections"]
            return [d for d in found if d["rule"] == "brute_force"]

        found = wait_for(detections)
    assert found[0]["subject"] == ADMIN and found[0]["subject_type"] == "account"
