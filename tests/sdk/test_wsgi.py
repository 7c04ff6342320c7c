"""The WSGI middleware with a fake transport, on bare WSGI apps: status, routes, client
IP, streaming bodies, exceptions, and reporting each request exactly once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from syncmon.sdk import Client, SyncmonWSGIMiddleware, set_user
from syncmon.sdk.context import werkzeug_rule
from tests.sdk import FakeTransport, make_client


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def client(transport: FakeTransport) -> Iterator[Client]:
    c = make_client(transport, flush_interval=60)
    yield c
    c.close(timeout=5)


def environ(path: str = "/", **extra: str) -> dict[str, Any]:
    env: dict[str, Any] = {"PATH_INFO": path, "REMOTE_ADDR": "203.0.113.20", "HTTP_HOST": "shop.example"}
    env.update(extra)
    setup_testing_defaults(env)
    return env


def call(app: Any, env: dict[str, Any]) -> tuple[str, bytes]:
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    body = app(env, start_response)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return statuses[-1], data


def status_app(status: str, user: str | None = None) -> Any:
    def app(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if user:
            set_user(user)
        start_response(status, [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def items(client: Client, transport: FakeTransport, kind: str) -> list[dict[str, Any]]:
    assert client.flush(timeout=10)
    return [item for item in transport.items if item["kind"] == kind]


def test_requests_are_reported_once_with_collapsed_routes(client: Client, transport: FakeTransport) -> None:
    app = SyncmonWSGIMiddleware(status_app("201 Created", user="u-9"), client)
    assert call(app, environ("/orders/77", REQUEST_METHOD="POST", HTTP_USER_AGENT="curl/8")) == (
        "201 Created",
        b"ok",
    )
    (request,) = items(client, transport, "request")
    assert (request["method"], request["route"], request["status"]) == ("POST", "/orders/{id}", 201)
    assert request["url"] == "http://shop.example/orders/77"
    assert (request["client_ip"], request["user_agent"], request["user_id"]) == (
        "203.0.113.20",
        "curl/8",
        "u-9",
    )
    assert request["duration_ms"] >= 0


@pytest.mark.parametrize(
    ("status", "kind_field"), [("401 Unauthorized", "auth_event"), ("403 Forbidden", "authz_event")]
)
def test_401_and_403_become_security_events(
    client: Client, transport: FakeTransport, status: str, kind_field: str
) -> None:
    app = SyncmonWSGIMiddleware(status_app(status), client)
    call(app, environ("/admin/users/3"))
    (event,) = items(client, transport, "security")
    assert event[kind_field] in ("authn_login_fail", "authz_fail")
    assert event["target"] == "/admin/users/{id}" and event["client_ip"] == "203.0.113.20"


def test_an_exception_is_a_500_and_an_error_and_is_re_raised(
    client: Client, transport: FakeTransport
) -> None:
    def broken(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise LookupError("no such order")

    app = SyncmonWSGIMiddleware(broken, client)
    with pytest.raises(LookupError):
        call(app, environ("/orders/5"))
    (request,) = items(client, transport, "request")
    (error,) = items(client, transport, "error")
    assert request["status"] == 500
    assert error["type"] == "LookupError" and error["route"] == "/orders/{id}"


def test_a_streamed_body_is_timed_to_its_end_and_its_failure_reported(
    client: Client, transport: FakeTransport
) -> None:
    def streaming(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        yield b"first"
        raise OSError("disk gone")

    app = SyncmonWSGIMiddleware(streaming, client)
    with pytest.raises(OSError):
        call(app, environ("/export"))
    (request,) = items(client, transport, "request")
    (error,) = items(client, transport, "error")
    assert request["status"] == 200 and error["type"] == "OSError"


def test_the_apps_close_is_called(client: Client, transport: FakeTransport) -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"x"

        def close(self) -> None:
            closed.append(True)

    def app(env: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body()

    call(SyncmonWSGIMiddleware(app, client), environ("/"))
    assert closed == [True]
    assert len(items(client, transport, "request")) == 1


@pytest.mark.parametrize(
    ("extra", "proxy_header", "expected"),
    [
        (
            {"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "198.51.100.4, 10.9.9.9"},
            "x-forwarded-for",
            "198.51.100.4",
        ),
        (
            {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "198.51.100.4"},
            "x-forwarded-for",
            "192.0.2.1",
        ),
        (
            {"REMOTE_ADDR": "10.1.2.3", "HTTP_FORWARDED": "for=198.51.100.5;proto=https"},
            "forwarded",
            "198.51.100.5",
        ),
    ],
)
def test_client_ip_through_trusted_proxies(
    client: Client, transport: FakeTransport, extra: dict[str, str], proxy_header: str, expected: str
) -> None:
    app = SyncmonWSGIMiddleware(
        status_app("200 OK"), client, trusted_proxies=["10.0.0.0/8"], proxy_header=proxy_header
    )
    call(app, environ("/", **extra))
    (request,) = items(client, transport, "request")
    assert request["client_ip"] == expected


def test_route_and_user_getters(client: Client, transport: FakeTransport) -> None:
    app = SyncmonWSGIMiddleware(
        status_app("200 OK"),
        client,
        route_getter=lambda env: "/reports/{report_id}",
        user_id_getter=lambda env: env.get("REMOTE_USER"),
    )
    call(app, environ("/reports/q3-summary", REMOTE_USER="alice"))
    (request,) = items(client, transport, "request")
    assert (request["route"], request["user_id"]) == ("/reports/{report_id}", "alice")


def test_a_failing_route_getter_falls_back_to_the_path(client: Client, transport: FakeTransport) -> None:
    def broken(env: dict[str, Any]) -> str:
        raise KeyError("route")

    app = SyncmonWSGIMiddleware(status_app("200 OK"), client, route_getter=broken)
    assert call(app, environ("/a/1"))[0] == "200 OK"
    (request,) = items(client, transport, "request")
    assert request["route"] == "/a/{id}"


def test_utf8_paths_are_decoded(client: Client, transport: FakeTransport) -> None:
    raw = "/caf\u00e9".encode().decode("latin-1")  # how a WSGI server hands over UTF-8 bytes
    call(SyncmonWSGIMiddleware(status_app("200 OK"), client), environ(raw))
    (request,) = items(client, transport, "request")
    assert request["route"] == "/caf\u00e9"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("/users/<int:user_id>", "/users/{user_id}"),
        ("/files/<path:name>/raw", "/files/{name}/raw"),
        ("/<lang>/about", "/{lang}/about"),
        ("/static", "/static"),
    ],
)
def test_werkzeug_rules_in_the_common_style(rule: str, expected: str) -> None:
    assert werkzeug_rule(rule) == expected
