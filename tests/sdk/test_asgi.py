"""The ASGI middleware with a fake transport: route templates, status, client IP, user,
the 401/403 security events and exceptions, on Starlette apps and a bare ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from syncmon.sdk import Client, SyncmonMiddleware, set_user
from syncmon.sdk.asgi import route_template
from syncmon.sdk.context import collapse_path
from tests.sdk import FakeTransport, make_client


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def client(transport: FakeTransport) -> Iterator[Client]:
    c = make_client(transport, flush_interval=60)
    yield c
    c.close(timeout=5)


async def user(request: Request) -> Response:
    set_user(request.headers.get("x-user"))
    status = int(request.query_params.get("status", "200"))
    if status == 500:
        raise RuntimeError(f"user {request.path_params['user_id']} exploded")
    return PlainTextResponse("hi", status_code=status)


async def stream_then_fail(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionError("backend went away")

    return StreamingResponse(body())


def starlette_app() -> Starlette:
    files = Starlette(routes=[Route("/{name}", lambda r: PlainTextResponse(r.path_params["name"]))])
    return Starlette(
        routes=[
            Route("/users/{user_id:int}", user),
            Route("/stream", stream_then_fail),
            Mount("/tenants/{tenant}", routes=[Route("/orders/{order_id}", user)]),
            Mount("/files", files),
        ]
    )


def http(app: Any, peer: str = "203.0.113.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 4711))
    return httpx.AsyncClient(transport=transport, base_url="https://shop.example")


def by_kind(transport: FakeTransport, client: Client, kind: str) -> list[dict[str, Any]]:
    assert client.flush(timeout=10)
    return [item for item in transport.items if item["kind"] == kind]


async def test_requests_are_reported_with_route_template_status_and_duration(
    client: Client, transport: FakeTransport
) -> None:
    app = SyncmonMiddleware(starlette_app(), client)
    async with http(app) as browser:
        assert (
            await browser.get("/users/7?token=secret", headers={"user-agent": "Firefox/1"})
        ).status_code == 200
        assert (await browser.get("/users/8?status=404")).status_code == 404
    first, second = by_kind(transport, client, "request")
    assert first["method"] == "GET" and first["route"] == "/users/{user_id}" and first["status"] == 200
    assert first["duration_ms"] >= 0
    assert first["url"] == "https://shop.example/users/7"  # never the query string
    assert (first["client_ip"], first["user_agent"]) == ("203.0.113.10", "Firefox/1")
    assert second["status"] == 404


async def test_mounted_routes_keep_their_prefix(client: Client, transport: FakeTransport) -> None:
    app = SyncmonMiddleware(starlette_app(), client)
    async with http(app) as browser:
        await browser.get("/tenants/acme/orders/1234")
        await browser.get("/files/readme")
        await browser.get("/nothing/here/42")
    routes = [i["route"] for i in by_kind(transport, client, "request")]
    assert routes == ["/tenants/acme/orders/{order_id}", "/files/{name}", "/nothing/here/{id}"]


async def test_401_and_403_become_security_events(client: Client, transport: FakeTransport) -> None:
    app = SyncmonMiddleware(starlette_app(), client)
    async with http(app) as browser:
        await browser.get("/users/1?status=401")
        await browser.get("/users/2?status=403", headers={"x-user": "u-2"})
    authn, authz = by_kind(transport, client, "security")
    assert (authn["event_type"], authn["auth_event"], authn["severity"]) == (
        "authentication",
        "authn_login_fail",
        "warning",
    )
    assert (authz["event_type"], authz["authz_event"], authz["severity"]) == (
        "authorization",
        "authz_fail",
        "critical",
    )
    assert authz["user_id"] == "u-2" and "user_id" not in authn
    for event, status in ((authn, 401), (authz, 403)):
        assert event["target"] == "/users/{user_id}"
        assert event["client_ip"] == "203.0.113.10"
        assert event["status"] == status and event["method"] == "GET"
        assert event["url"].startswith("https://shop.example/users/")


async def test_security_events_can_be_turned_off(client: Client, transport: FakeTransport) -> None:
    app = SyncmonMiddleware(starlette_app(), client, security_events=False)
    async with http(app) as browser:
        await browser.get("/users/1?status=401")
    assert by_kind(transport, client, "security") == []
    assert len(by_kind(transport, client, "request")) == 1


async def test_an_exception_is_a_500_and_an_error_event_and_is_re_raised(
    client: Client, transport: FakeTransport
) -> None:
    raised: list[BaseException] = []

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except BaseException as exc:
            raised.append(exc)
            await PlainTextResponse("oops", status_code=500)(scope, receive, send)

    app = SyncmonMiddleware(starlette_app(), client)
    async with http(outer) as browser:
        assert (await browser.get("/users/5?status=500", headers={"x-user": "u-5"})).status_code == 500
    assert [type(e) for e in raised] == [RuntimeError]
    (request,) = by_kind(transport, client, "request")
    (error,) = by_kind(transport, client, "error")
    assert request["status"] == 500 and request["user_id"] == "u-5"
    assert error["type"] == "RuntimeError" and error["message"] == "RuntimeError: user 5 exploded"
    assert error["route"] == "/users/{user_id}" and error["user_id"] == "u-5"
    assert error["client_ip"] == "203.0.113.10" and "Traceback" in error["stack"]


async def test_a_failure_while_streaming_keeps_the_status_sent(
    client: Client, transport: FakeTransport
) -> None:
    app = SyncmonMiddleware(starlette_app(), client)
    async with http(app) as browser:
        await browser.get("/stream")
    (request,) = by_kind(transport, client, "request")
    (error,) = by_kind(transport, client, "error")
    assert request["status"] == 200 and error["type"] == "ConnectionError"


@pytest.mark.parametrize(
    ("peer", "headers", "proxy_header", "expected"),
    [
        ("10.0.0.2", {"x-forwarded-for": "198.51.100.7"}, "x-forwarded-for", "198.51.100.7"),
        (
            "10.0.0.2",
            {"x-forwarded-for": "1.1.1.1, 198.51.100.7, 10.0.0.9"},
            "x-forwarded-for",
            "198.51.100.7",
        ),
        ("203.0.113.99", {"x-forwarded-for": "198.51.100.7"}, "x-forwarded-for", "203.0.113.99"),
        ("10.0.0.2", {"forwarded": 'for="[2001:db8::1]:4711"'}, "forwarded", "2001:db8::1"),
        ("10.0.0.2", {"x-forwarded-for": "198.51.100.7"}, "forwarded", "10.0.0.2"),
    ],
)
async def test_client_ip_comes_through_trusted_proxies_only(
    client: Client,
    transport: FakeTransport,
    peer: str,
    headers: dict[str, str],
    proxy_header: str,
    expected: str,
) -> None:
    app = SyncmonMiddleware(
        starlette_app(), client, trusted_proxies=["10.0.0.0/8"], proxy_header=proxy_header
    )
    async with http(app, peer=peer) as browser:
        await browser.get("/users/1", headers=headers)
    (request,) = by_kind(transport, client, "request")
    assert request["client_ip"] == expected


async def test_user_id_getter_reads_the_scope_after_the_response(
    client: Client, transport: FakeTransport
) -> None:
    inner = starlette_app()

    async def authenticate(scope: Any, receive: Any, send: Any) -> None:
        scope["user"] = {"id": 99}
        await inner(scope, receive, send)

    app = SyncmonMiddleware(authenticate, client, user_id_getter=lambda scope: scope["user"]["id"])
    async with http(app) as browser:
        await browser.get("/users/1", headers={"x-user": "from set_user"})
    (request,) = by_kind(transport, client, "request")
    assert request["user_id"] == "99"


async def test_a_failing_user_id_getter_falls_back_to_set_user(
    client: Client, transport: FakeTransport
) -> None:
    app = SyncmonMiddleware(starlette_app(), client, user_id_getter=lambda scope: scope["missing"])
    async with http(app) as browser:
        await browser.get("/users/1", headers={"x-user": "u-1"})
    (request,) = by_kind(transport, client, "request")
    assert request["user_id"] == "u-1"


async def test_other_scopes_pass_through(client: Client, transport: FakeTransport) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = SyncmonMiddleware(app, client)
    await middleware({"type": "lifespan"}, _never, _ignore)
    await middleware({"type": "websocket", "path": "/ws", "headers": []}, _never, _ignore)
    assert seen == ["lifespan", "websocket"]
    assert client.flush(timeout=10) and transport.requests == []


async def test_a_cancelled_request_without_response_is_not_reported(
    client: Client, transport: FakeTransport
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    middleware = SyncmonMiddleware(app, client)
    with pytest.raises(asyncio.CancelledError):
        await middleware({"type": "http", "method": "GET", "path": "/", "headers": []}, _never, _ignore)
    assert client.flush(timeout=10) and transport.requests == []


async def test_a_bare_asgi_app_gets_collapsed_paths(client: Client, transport: FakeTransport) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = SyncmonMiddleware(app, client)
    scope = {
        "type": "http",
        "method": "delete",
        "path": "/orders/3f2b9c1e-0d3a-4c55-9a43-0b1e2c3d4e5f/lines/12",
        "headers": [(b"host", b"api.example")],
        "client": None,
    }
    await middleware(scope, _never, _ignore)
    (request,) = by_kind(transport, client, "request")
    assert request["route"] == "/orders/{id}/lines/{id}" and request["method"] == "DELETE"
    assert request["status"] == 204 and "client_ip" not in request


def test_a_wrong_proxy_header_is_refused_at_setup(client: Client) -> None:
    with pytest.raises(ValueError, match="proxy_header"):
        SyncmonMiddleware(starlette_app(), client, proxy_header="x-real-ip")
    with pytest.raises(ValueError, match="trusted proxy"):
        SyncmonMiddleware(starlette_app(), client, trusted_proxies=["not-an-ip"])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "/"),
        ("/users/42", "/users/{id}"),
        ("/users/me", "/users/me"),
        ("/blobs/5f9c1e2d3a4b5c6d7e8f9a0b", "/blobs/{id}"),
        ("/v2/items", "/v2/items"),
        ("", "/"),
    ],
)
def test_collapse_path(path: str, expected: str) -> None:
    assert collapse_path(path) == expected


def test_route_template_without_a_route() -> None:
    assert route_template({"path": "/a/1"}) == "/a/{id}"


async def _never() -> dict[str, Any]:
    raise AssertionError("no body expected")


async def _ignore(message: Any) -> None:
    return None
