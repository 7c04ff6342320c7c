"""The SDK against the real server: a FastAPI app, a Flask app and a plain script send
through the default urllib transport, and the events are read back from the store and
the read API."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import flask
import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from syncmon.events import Event
from syncmon.sdk import Client, SyncmonHandler, SyncmonMiddleware, SyncmonWSGIMiddleware, set_user
from syncmon.store.eventlog import EventQuery, list_events
from tests.conftest import Store
from tests.support.live import LiveServer

PROXY = "10.0.0.5"
VISITOR = "198.51.100.23"


@pytest.fixture
def client(live: LiveServer, store: Store) -> Iterator[Client]:
    c = Client(
        store.project.secret_key, live.url, flush_interval=0.05, environment="test", release="shop@2.0"
    )
    yield c
    c.close(timeout=5)


def stored(store: Store, kind: str) -> list[Event]:
    with store.engine.connect() as conn:
        events = list_events(conn, EventQuery(project_id=store.project.id, kind=kind, limit=500))
    return sorted(events, key=lambda e: e.seq or 0)


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}")
    def read_user(user_id: int, request: Request) -> dict[str, Any]:
        set_user(request.headers.get("x-user"))
        if user_id in (401, 403, 404):
            raise HTTPException(user_id)
        return {"id": user_id}

    @app.get("/reports/{report_id}/export")
    async def export(report_id: str, request: Request) -> dict[str, Any]:
        set_user(request.headers.get("x-user"))
        raise RuntimeError(f"export of report {report_id} failed")

    return app


async def test_a_fastapi_app_is_monitored_end_to_end(client: Client, store: Store) -> None:
    app = fastapi_app()
    app.add_middleware(SyncmonMiddleware, client=client, trusted_proxies=["10.0.0.0/8"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(PROXY, 40000))
    headers = {"x-forwarded-for": VISITOR, "x-user": "u-7", "user-agent": "Mozilla/5.0 Firefox/128.0"}
    async with httpx.AsyncClient(
        transport=transport, base_url="https://shop.example", headers=headers
    ) as http:
        statuses = [(await http.get(f"/users/{n}")).status_code for n in (1, 401, 403, 404)]
        statuses.append((await http.get("/reports/q3/export")).status_code)
    assert statuses == [200, 401, 403, 404, 500]
    assert client.flush(timeout=15)
    assert client.dropped == 0 and client.sent == 8

    requests = stored(store, "request")
    assert [(e.name, e.data["status"]) for e in requests] == [
        ("GET /users/{user_id}", 200),
        ("GET /users/{user_id}", 401),
        ("GET /users/{user_id}", 403),
        ("GET /users/{user_id}", 404),
        ("GET /reports/{report_id}/export", 500),
    ]
    assert [e.level for e in requests] == ["info", "warning", "warning", "warning", "error"]
    for event in requests:
        assert event.value is not None and event.value >= 0  # the duration in ms
        assert event.client_ip == VISITOR and event.trusted
        assert event.user_id == "u-7"
        assert (event.environment, event.release) == ("test", "shop@2.0")
        assert event.browser == "Firefox"
    assert requests[0].url == "https://shop.example/users/1"

    security = stored(store, "security")
    assert [
        (e.data["event_type"], e.data.get("auth_event") or e.data.get("authz_event")) for e in security
    ] == [
        ("authentication", "authn_login_fail"),
        ("authorization", "authz_fail"),
    ]
    for event in security:
        assert event.client_ip == VISITOR and event.user_id == "u-7"
        assert event.data["target"] == "/users/{user_id}"
        assert event.url is not None and event.url.startswith("https://shop.example/users/40")

    (error,) = stored(store, "error")
    assert error.name == "RuntimeError"
    assert error.message == "RuntimeError: export of report q3 failed"
    assert "Traceback (most recent call last)" in error.data["stack"]
    assert error.data["route"] == "/reports/{report_id}/export"
    assert error.client_ip == VISITOR and error.user_id == "u-7"


def flask_app(client: Client) -> flask.Flask:
    app = flask.Flask("syncmon_sdk_shop")

    @app.before_request
    def identify() -> None:
        set_user(flask.request.headers.get("X-User"))

    @app.get("/users/<int:user_id>")
    def read_user(user_id: int) -> dict[str, Any]:
        if user_id in (401, 403, 404):
            flask.abort(user_id)
        return {"id": user_id}

    @app.get("/reports/<report_id>/export")
    def export(report_id: str) -> str:
        raise LookupError(f"no report {report_id}")

    app.wsgi_app = SyncmonWSGIMiddleware(app.wsgi_app, client, trusted_proxies=["10.0.0.0/8"])
    return app


@pytest.fixture
def flask_logging(client: Client) -> Iterator[SyncmonHandler]:
    handler = SyncmonHandler(client)
    logger = logging.getLogger("syncmon_sdk_shop")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_flask_app_is_monitored_end_to_end(
    client: Client, store: Store, flask_logging: SyncmonHandler
) -> None:
    app = flask_app(client)
    browser = app.test_client()
    environ = {"REMOTE_ADDR": PROXY}
    headers = {"X-Forwarded-For": VISITOR, "X-User": "u-8", "User-Agent": "Mozilla/5.0 Firefox/128.0"}
    statuses = [
        browser.get(f"/users/{n}", environ_base=environ, headers=headers, buffered=True).status_code
        for n in (1, 401, 403, 404)
    ]
    statuses.append(
        browser.get("/reports/q4/export", environ_base=environ, headers=headers, buffered=True).status_code
    )
    assert statuses == [200, 401, 403, 404, 500]
    assert client.flush(timeout=15)
    assert client.dropped == 0 and client.sent == 8

    requests = stored(store, "request")
    assert [(e.name, e.data["status"]) for e in requests] == [
        ("GET /users/{user_id}", 200),
        ("GET /users/{user_id}", 401),
        ("GET /users/{user_id}", 403),
        ("GET /users/{user_id}", 404),
        ("GET /reports/{report_id}/export", 500),
    ]
    for event in requests:
        assert event.client_ip == VISITOR and event.user_id == "u-8" and event.value is not None

    security = stored(store, "security")
    assert [e.data["event_type"] for e in security] == ["authentication", "authorization"]
    assert all(e.client_ip == VISITOR and e.user_id == "u-8" for e in security)

    # Flask catches the exception and logs it; the handler sends it with the request's context.
    (error,) = stored(store, "error")
    assert error.name == "LookupError" and error.message == "LookupError: no report q4"
    assert error.data["log_message"] == "Exception on /reports/q4/export [GET]"
    assert error.data["logger"] == "syncmon_sdk_shop"
    assert "Traceback (most recent call last)" in error.data["stack"]
    assert error.client_ip == VISITOR and error.user_id == "u-8"
    assert error.url == "http://localhost/reports/q4/export"


SCRIPT = textwrap.dedent(
    """
    import sys
    from syncmon.sdk import Client

    client = Client(sys.argv[1], sys.argv[2], flush_interval=60)
    attacker = {"client_ip": "203.0.113.66", "user_id": "mallory"}
    client.track_authentication_event("authn_login_fail", severity="warning", **attacker)
    client.track_authorization_event("authz_fail", target="/admin/users", severity="critical", **attacker)
    client.track_data_access_event("sensitive_read", target="invoices", rows=1200, user_id="alice")
    client.track_api_event("excess_rate_limit_exceeded", target="/api/search", **attacker)
    client.track_security_event("input_validation_fail", severity="high", target="/search", field="q")
    # No flush: the exit hook sends what is queued.
    """
)


def test_security_helpers_from_a_script_reach_the_read_api(
    live: LiveServer, store: Store, viewer_token: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, store.project.secret_key, live.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with live.client() as http:
        reply = http.get(
            "/api/v1/events", params={"kind": "security"}, headers={"Authorization": f"Bearer {viewer_token}"}
        )
    assert reply.status_code == 200, reply.text
    events = sorted(reply.json()["events"], key=lambda e: e["seq"])
    assert [(e["data"]["event_type"], e["level"]) for e in events] == [
        ("authentication", "warning"),
        ("authorization", "critical"),
        ("data_access", "info"),
        ("api_access", "info"),
        ("input_validation_fail", "error"),
    ]
    authn, authz, data, api, validation = events
    assert authn["data"]["auth_event"] == "authn_login_fail"
    assert authz["data"]["authz_event"] == "authz_fail" and authz["data"]["target"] == "/admin/users"
    assert data["data"]["data_event"] == "sensitive_read" and data["data"]["rows"] == 1200
    assert api["data"]["api_event"] == "excess_rate_limit_exceeded"
    assert validation["data"]["field"] == "q"
    for event in (authn, authz, api):
        assert (event["client_ip"], event["user_id"]) == ("203.0.113.66", "mallory")
        assert event["trusted"]
    assert data["user_id"] == "alice"


def test_an_item_the_server_refuses_is_dropped_and_the_rest_stored(client: Client, store: Store) -> None:
    client.track_event("first")
    client.track_event("bad timestamp", timestamp="the day after tomorrow")
    client.track_event("last")
    assert client.flush(timeout=15)
    assert client.dropped_by_reason == {"invalid": 1} and client.sent == 2
    assert [e.name for e in stored(store, "custom")] == ["first", "last"]


def test_a_wrong_key_is_refused_once_and_logged(
    live: LiveServer, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = Client("not-a-key", live.url, flush_interval=0.05)
    with caplog.at_level(logging.WARNING, logger="syncmon.sdk"):
        wrong.track_event("lost")
        assert wrong.flush(timeout=15)
    wrong.close()
    assert wrong.dropped_by_reason == {"refused": 1}
    assert "HTTP 401: unknown project key" in caplog.text
    assert stored(store, "custom") == []
