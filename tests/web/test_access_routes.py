"""Roles, CSRF and the security headers on every route, found by walking the app's routes:
a route added later is covered without touching this file.

Only ingest and health endpoints may live outside the access guard. Behind it, every
state-changing route refuses viewers (session or token) with 403, refuses sessions without
the CSRF token with 403, and refuses anonymous callers with 401 — except the login pages
(public) and a user's own account pages and logout (which viewers may use).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from starlette.routing import Route

from syncmon.clock import SystemClock
from syncmon.store import accounts
from syncmon.store.schema import api_tokens, audit_log
from syncmon.web.auth.csrf import SAFE_METHODS
from syncmon.web.auth.guard import CSRF_MESSAGE, VIEWER_MESSAGE, is_public, is_self_service, wants_json
from syncmon.web.auth.headers import CONTENT_SECURITY_POLICY
from syncmon.web.dashboard.mount import GuardedArea
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard, own_events
from tests.support.live import LiveServer

PUBLIC_MODULES = ("syncmon.ingest.", "syncmon.web.health")
VIEWER = ("vic@example.com", "viewer-password")


def guarded_area(live: LiveServer) -> GuardedArea:
    areas = [route for route in live.app.routes if isinstance(route, GuardedArea)]
    assert len(areas) == 1
    return areas[0]


def guarded_routes(live: LiveServer) -> list[Route]:
    found = [route for route in guarded_area(live).routes if isinstance(route, Route)]
    assert len(found) == len(guarded_area(live).routes), "only plain routes are expected behind the guard"
    return found


def concrete(path: str) -> str:
    """A request path for a route pattern: every parameter filled in."""
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "app.css" if m.group(1) == "name" else "1", path)


def changes(live: LiveServer) -> list[tuple[str, str]]:
    return sorted(
        (route.path, method)
        for route in guarded_routes(live)
        for method in (route.methods or set()) - SAFE_METHODS
    )


@pytest.fixture
def viewer(live: LiveServer, store: Store) -> Iterator[Dashboard]:
    with store.engine.begin() as conn:
        accounts.create_user(conn, *VIEWER, "viewer", SystemClock().now_ms())
    with live.client() as client:
        dash = Dashboard(client)
        dash.login_ok(*VIEWER)
        yield dash


def test_only_ingest_and_health_routes_are_outside_the_guard(live: LiveServer) -> None:
    routes = live.app.routes
    assert routes[-1] is guarded_area(live), "the guarded area must come last: it takes what others leave"
    outside = [route for route in routes if not isinstance(route, GuardedArea)]
    assert len(outside) > 20
    for route in outside:
        assert isinstance(route, Route)
        assert route.endpoint.__module__.startswith(PUBLIC_MODULES), (route.path, route.endpoint.__module__)
    inside = {route.path for route in guarded_routes(live)}
    for expected in ("/api/v1/events", "/api/v1/issues/{issue_id}", "/overview", "/settings/users", "/live"):
        assert expected in inside


def test_every_state_changing_route_refuses_viewers(
    live: LiveServer, store: Store, viewer: Dashboard, viewer_token: str
) -> None:
    found = changes(live)
    refused = [(path, method) for path, method in found if not is_public(path) and not is_self_service(path)]
    assert ("/api/v1/issues/{issue_id}", "PUT") in refused and ("/settings/tokens", "POST") in refused
    assert len(refused) >= 10
    token = viewer.csrf()
    with live.client() as anonymous:
        for path, method in refused:
            url = concrete(path)
            as_session = viewer.client.request(
                method,
                url,
                data={"csrf_token": token, "role": "admin", "name": "x"},
                headers={"X-CSRF-Token": token},
            )
            assert as_session.status_code == 403, (method, path, as_session.text[:300])
            assert (
                VIEWER_MESSAGE in as_session.text or VIEWER_MESSAGE.replace("'", "&#39;") in as_session.text
            )
            assert as_session.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            as_token = anonymous.request(
                method, url, headers={"Authorization": f"Bearer {viewer_token}"}, json={}
            )
            if wants_json(path):
                assert as_token.status_code == 403, (method, path)
                assert as_token.json()["error"] == VIEWER_MESSAGE
            else:  # a token is no login for pages
                assert as_token.status_code == 401, (method, path)
            nobody = anonymous.request(method, url, data={"name": "x"})
            assert nobody.status_code == 401, (method, path)
    with store.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(api_tokens)).scalar_one() == 1
        )  # the fixture's
        actions = conn.execute(sa.select(audit_log.c.action)).scalars().all()
    assert not [a for a in actions if a.startswith(("token.", "user.set", "user.dis", "issue"))]
    denied = own_events(store.engine, store.settings.monitor_project, "authz_fail")
    api = [path for path, _ in refused if wants_json(path)]
    assert len(denied) == len(refused) + len(api)
    with store.engine.connect() as conn:
        identity = accounts.token_identity(conn, viewer_token)
    assert identity is not None
    assert {e.user_id for e in denied} == {VIEWER[0], f"token:{identity[0]}"}
    assert {e.data["target"] for e in denied} == {concrete(path) for path, _ in refused}


def test_a_viewer_may_change_their_own_account(live: LiveServer, viewer: Dashboard) -> None:
    own = [(path, method) for path, method in changes(live) if is_self_service(path)]
    assert ("/account/password", "POST") in own and ("/logout", "POST") in own
    reply = viewer.post(
        "/account/password",
        {
            "current_password": VIEWER[1],
            "new_password": "viewer-password-2",
            "confirm_password": "viewer-password-2",
        },
    )
    assert reply.status_code == 303
    assert viewer.post("/account/totp/start").status_code == 303


def test_every_state_changing_session_request_needs_the_csrf_token(live: LiveServer) -> None:
    with live.client() as client:
        admin = Dashboard(client)
        admin.login_ok("admin@localhost", ADMIN_PASSWORD)
        token = admin.csrf()
        for path, method in changes(live):
            if is_public(path):
                continue
            url = concrete(path)
            for data, headers in (
                ({}, {}),
                ({"csrf_token": "forged"}, {}),
                ({}, {"X-CSRF-Token": token + "x"}),
            ):
                reply = client.request(method, url, data=data, headers=headers)
                assert reply.status_code == 403, (method, path, data, headers)
                assert CSRF_MESSAGE in reply.text.replace("&#39;", "'"), (method, path)
        # The token in the header or the form gets past the check (whatever the route says then).
        put = client.put("/api/v1/issues/1", json={"status": "resolved"}, headers={"X-CSRF-Token": token})
        assert put.status_code == 404, put.text
        assert client.get("/overview").status_code == 200  # still logged in: nothing above logged out


def test_bearer_tokens_need_no_csrf_token(live: LiveServer, admin_token: str) -> None:
    with live.client() as client:
        put = client.put(
            "/api/v1/issues/1",
            json={"status": "resolved"},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
    assert put.status_code == 404 and "issue" in put.json()["error"]


def test_every_page_needs_a_login_and_carries_the_headers(live: LiveServer, admin_token: str) -> None:
    """Anonymous callers are sent to the login (pages) or get 401 (API); an API token is no
    login for pages; logged in, every page renders with the security headers."""
    reads = sorted(
        route.path
        for route in guarded_routes(live)
        if "GET" in (route.methods or set()) and not is_public(route.path)
    )
    assert {"/", "/overview", "/security", "/alerts", "/account", "/settings/users", "/live"} <= set(reads)
    with live.client() as anonymous:
        for path in reads:
            reply = anonymous.get(concrete(path))
            if wants_json(path):
                assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer", path
            else:
                assert reply.status_code == 303 and reply.headers["location"].startswith("/login"), path
            assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            if not wants_json(path):
                with_token = anonymous.get(concrete(path), headers={"Authorization": f"Bearer {admin_token}"})
                assert with_token.status_code == 303, path
    with live.client() as client:
        Dashboard(client).login_ok("admin@localhost", ADMIN_PASSWORD)
        for path in reads:
            with client.stream("GET", concrete(path)) as reply:
                assert reply.status_code < 500, path
                assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
                assert reply.headers["x-content-type-options"] == "nosniff", path
                assert reply.headers["referrer-policy"] == "same-origin", path


def test_ingest_endpoints_keep_their_own_headers(live: LiveServer, store: Store) -> None:
    with live.client() as client:
        reply = client.post(
            f"/api/monitoring/error?key={store.project.public_key}",
            json={"message": "boom"},
            headers={"Origin": "https://shop.example"},
        )
        preflight = client.options(
            "/api/monitoring/error",
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
        )
        wrong_method = client.get("/api/monitoring/error")
    assert reply.status_code == 200
    assert "content-security-policy" not in reply.headers
    assert reply.headers["access-control-allow-origin"] == "https://shop.example"
    assert preflight.status_code in (200, 204) and "content-security-policy" not in preflight.headers
    assert wrong_method.status_code == 405  # the guard does not take paths an ingest route owns


def test_unknown_pages_are_a_404_page_for_a_logged_in_user(live: LiveServer) -> None:
    with live.client() as client:
        assert client.get("/nowhere").status_code == 303  # nobody: the login first
        Dashboard(client).login_ok("admin@localhost", ADMIN_PASSWORD)
        page = client.get("/nowhere")
        api = client.get("/api/v1/nowhere")
    assert page.status_code == 404 and "There is no page at /nowhere" in page.text
    assert api.status_code == 404 and api.json() == {"error": "Not Found"}
