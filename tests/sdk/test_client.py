"""The client with a fake transport: what is sent, batching, the bounded queue, retries,
refusals, shutdown, and the promise never to raise into the application."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from syncmon.sdk import Client, Response, set_user
from syncmon.sdk import client as client_module
from syncmon.sdk.transport import retry_after_seconds
from tests.sdk import FakeTransport, Sleeps, error_reply, make_client


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def client(transport: FakeTransport) -> Iterator[Client]:
    c = make_client(transport)
    yield c
    c.close(timeout=5)


def sent_items(client: Client, transport: FakeTransport) -> list[dict[str, Any]]:
    assert client.flush(timeout=10)
    return transport.items


# -- what is sent ------------------------------------------------------------------------


def test_security_helpers_send_the_seed_shapes(client: Client, transport: FakeTransport) -> None:
    client.track_security_event("input_validation_fail", severity="high", target="/search", query="' OR 1=1")
    client.track_authentication_event("authn_login_fail", user_id="u-1", client_ip="203.0.113.9")
    client.track_authorization_event("authz_fail", target="/admin", severity="critical")
    client.track_data_access_event("sensitive_read", target="invoices", rows=1200)
    client.track_api_event("excess_rate_limit_exceeded", route="/api/search")

    items = sent_items(client, transport)
    assert [(i["kind"], i["event_type"]) for i in items] == [
        ("security", "input_validation_fail"),
        ("security", "authentication"),
        ("security", "authorization"),
        ("security", "data_access"),
        ("security", "api_access"),
    ]
    first, authn, authz, data, api = items
    assert first["severity"] == "high" and first["target"] == "/search" and first["query"] == "' OR 1=1"
    assert authn["auth_event"] == "authn_login_fail"
    assert (authn["user_id"], authn["client_ip"]) == ("u-1", "203.0.113.9")
    assert authz["authz_event"] == "authz_fail" and authz["severity"] == "critical"
    assert data["data_event"] == "sensitive_read" and data["rows"] == 1200
    assert api["api_event"] == "excess_rate_limit_exceeded"
    for item in items:
        assert isinstance(item["timestamp"], int)


def test_batches_are_gzip_json_with_the_secret_key_header(client: Client, transport: FakeTransport) -> None:
    client.track_event("signup", plan="pro")
    sent_items(client, transport)
    _, headers = transport.requests[0]
    assert headers["X-Syncmon-Key"] == "sk_test"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("syncmon-python/")


def test_errors_carry_type_message_and_python_traceback(client: Client, transport: FakeTransport) -> None:
    def fail() -> None:
        raise KeyError("order 17")

    try:
        fail()
    except KeyError as exc:
        client.track_error(exc, order_id=17)
    client.track_error("disk almost full", type="disk_space", level="warning")

    exc_item, message_item = sent_items(client, transport)
    assert exc_item["kind"] == "error"
    assert exc_item["type"] == "KeyError"
    assert exc_item["message"] == "KeyError: 'order 17'"
    assert exc_item["stack"].startswith("Traceback (most recent call last):")
    assert "in fail" in exc_item["stack"]
    assert exc_item["lineno"] > 0 and exc_item["filename"].endswith("test_client.py")
    assert exc_item["level"] == "error" and exc_item["order_id"] == 17
    assert message_item["type"] == "disk_space"
    assert message_item["message"] == "disk almost full"
    assert message_item["level"] == "warning"


def test_an_exception_is_reported_once(client: Client, transport: FakeTransport) -> None:
    exc = ValueError("once")
    client.track_error(exc)
    client.track_error(exc)
    assert len(sent_items(client, transport)) == 1


def test_custom_events_requests_environment_release_and_set_user(transport: FakeTransport) -> None:
    client = make_client(transport, environment="production", release="shop@1.4.0")
    set_user(42)
    try:
        client.track_event("checkout", amount=Decimal("9.90"))
        client.track_request("get", "/users/{id}", 200, 12.5, url="https://shop/users/7")
    finally:
        set_user(None)
    custom, request = sent_items(client, transport)
    client.close()
    assert custom == {
        "kind": "custom",
        "name": "checkout",
        "amount": "9.90",
        "timestamp": custom["timestamp"],
        "environment": "production",
        "release": "shop@1.4.0",
        "user_id": "42",
    }
    assert request["kind"] == "request" and request["method"] == "GET"
    assert (request["route"], request["status"], request["duration_ms"]) == ("/users/{id}", 200, 12.5)
    assert request["user_id"] == "42"


def test_reserved_fields_cannot_be_overridden_by_properties(client: Client, transport: FakeTransport) -> None:
    client.track_event("signup", kind="security", user_id=7, url=8)
    (item,) = sent_items(client, transport)
    assert item["kind"] == "custom"
    assert (item["user_id"], item["url"]) == ("7", "8")  # sent as text, as the server expects


# -- never raising -----------------------------------------------------------------------


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")


class HostileMapping(dict[str, Any]):
    def items(self) -> Any:
        raise RuntimeError("no items")


def test_hostile_properties_are_made_plain_json(client: Client, transport: FakeTransport) -> None:
    loop: list[Any] = []
    loop.append(loop)
    client.track_event(
        "hostile",
        obj=object(),
        hostile=Hostile(),
        mapping=HostileMapping(a=1),
        nan=math.nan,
        inf=-math.inf,
        big=2**80,
        loop=loop,
        keys={1: "one", (2, 3): "tuple", None: "none"},
        when=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        ident=uuid.UUID(int=1),
        raw=b"\xffbytes",
        surrogate="bad \ud800 text",
        huge="x" * 100_000,
        items={1, 2},
        error=ValueError("inside"),
    )
    (item,) = sent_items(client, transport)
    assert item["obj"].startswith("<object object")
    assert item["hostile"].startswith("<tests.sdk.test_client.Hostile object at")  # object.__repr__
    assert item["mapping"] == "<unserialisable>"
    assert (item["nan"], item["inf"], item["big"]) == ("nan", "-inf", str(2**80))
    assert item["keys"] == {"1": "one", "(2, 3)": "tuple", "None": "none"}
    assert item["when"] == "2025-01-02T03:04:05+00:00"
    assert item["ident"] == str(uuid.UUID(int=1))
    assert item["raw"] == "\ufffdbytes"
    assert item["surrogate"] == "bad ? text"
    assert len(item["huge"]) == 16_384
    assert sorted(item["items"]) == [1, 2]
    assert item["error"] == "ValueError: inside"
    depth, node = 0, item["loop"]
    while isinstance(node, list):
        depth, node = depth + 1, node[0]
    assert node == "<nested too deeply>" and depth <= 9


def test_a_self_referencing_fan_out_is_cut_off() -> None:
    fan: list[Any] = []
    fan.extend([fan] * 1000)
    transport = FakeTransport()
    client = make_client(transport)
    client.track_event("fan", fan=fan)
    (item,) = sent_items(client, transport)
    client.close()
    assert "<truncated>" in repr(item["fan"])


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda c: c.track_security_event(None), "event_type must be a string"),
        (lambda c: c.track_security_event("  "), "event_type is empty"),
        (lambda c: c.track_security_event("x", severity="apocalyptic"), "unknown severity"),
        (lambda c: c.track_authentication_event(3), "event must be a string"),
        (lambda c: c.track_event(""), "name is empty"),
        (lambda c: c.track_error(None), "expected an exception or a non-empty message"),
        (lambda c: c.track_request("GET", "/", 99, 1.0), "status must be an HTTP status code"),
        (lambda c: c.track_request("GET", "/", True, 1.0), "status must be an HTTP status code"),
        (lambda c: c.track_request("GET", "/", 200, math.nan), "finite number"),
        (lambda c: c.track_request("GET", "/", 200, -1), "finite number"),
        (lambda c: c.track_request("GET", "/", 200, "fast"), "duration_ms must be a number"),
        (lambda c: c.track_request(None, "/", 200, 1.0), "method must be a string"),
    ],
)
def test_bad_arguments_are_dropped_counted_and_logged_once(
    client: Client, transport: FakeTransport, caplog: pytest.LogCaptureFixture, call: Any, problem: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="syncmon.sdk"):
        assert call(client) is None
        assert call(client) is None
    assert client.dropped_by_reason == {"invalid": 2}
    warnings = [r.getMessage() for r in caplog.records if r.name == "syncmon.sdk"]
    assert len(warnings) == 1 and problem in warnings[0]
    client.track_event("still works")
    assert [i["name"] for i in sent_items(client, transport)] == ["still works"]


def test_long_names_are_clipped_not_dropped(client: Client, transport: FakeTransport) -> None:
    client.track_security_event("x" * 500)
    (item,) = sent_items(client, transport)
    assert item["event_type"] == "x" * 200


def test_disabled_clients_do_nothing(transport: FakeTransport, caplog: pytest.LogCaptureFixture) -> None:
    off = make_client(transport, enabled=False)
    off.track_event("nothing")
    assert off.flush(timeout=1) and off.sent == 0 and off.dropped == 0
    with caplog.at_level(logging.WARNING, logger="syncmon.sdk"):
        keyless = Client("", "http://monitor.test", transport=transport)
    assert not keyless.enabled
    assert "no project key" in caplog.text
    keyless.track_event("nothing")
    off.close()
    keyless.close()
    assert transport.requests == []


def test_settings_are_checked_when_the_client_is_made() -> None:
    with pytest.raises(ValueError, match="host must be"):
        Client("k", "monitor.example.com")
    with pytest.raises(ValueError, match="batch_size must be positive"):
        Client("k", "http://monitor.test", batch_size=0)
    with pytest.raises(ValueError, match="max_retries"):
        Client("k", "http://monitor.test", max_retries=-1)


# -- batching and the bounded queue -------------------------------------------------------


def test_events_go_in_batches_of_batch_size(transport: FakeTransport) -> None:
    client = make_client(transport, batch_size=3, flush_interval=60)
    for n in range(7):
        client.track_event("e", n=n)
    assert client.flush(timeout=10)
    client.close()
    assert [len(items) for items, _ in transport.requests] == [3, 3, 1]
    assert [i["n"] for i in transport.items] == list(range(7))
    assert client.sent == 7


def test_a_partial_batch_goes_after_flush_interval_without_flush(transport: FakeTransport) -> None:
    client = make_client(transport, batch_size=100, flush_interval=0.01)
    client.track_event("soon")
    deadline = time.monotonic() + 10
    while not transport.requests and time.monotonic() < deadline:
        time.sleep(0.002)
    client.close()
    assert [i["name"] for i in transport.items] == ["soon"]


def test_a_full_queue_drops_and_counts_without_blocking(transport: FakeTransport) -> None:
    transport.gate = threading.Event()
    client = make_client(transport, batch_size=1, max_queue=3)
    client.track_event("in flight")
    assert transport.entered.wait(10)  # the sender holds the first event, blocked in send
    for n in range(10):
        client.track_event("e", n=n)
    assert client.dropped_by_reason == {"queue_full": 7}
    transport.gate.set()
    assert client.flush(timeout=10)
    client.close()
    assert client.sent == 4
    assert [i.get("n") for i in transport.items] == [None, 0, 1, 2]


def test_flush_gives_up_after_its_timeout(transport: FakeTransport) -> None:
    transport.gate = threading.Event()
    client = make_client(transport)
    client.track_event("slow")
    assert client.flush(timeout=0.01) is False
    transport.gate.set()
    assert client.flush(timeout=10) is True
    client.close()


# -- retries and refusals ------------------------------------------------------------------


def test_retries_back_off_and_honour_retry_after() -> None:
    transport = FakeTransport(Response(503), Response(429, {"retry-after": "7"}), OSError("reset"))
    sleeps = Sleeps()
    client = make_client(transport, sleep=sleeps)
    client.track_event("persistent")
    assert [i["name"] for i in sent_items(client, transport)] == ["persistent"]
    client.close()
    assert len(transport.requests) == 4
    first, second, third = sleeps.delays
    assert 0.25 <= first <= 0.5  # exponential backoff with jitter: half to all of 0.5 s
    assert second == 7.0  # Retry-After beats the 0.5-1 s backoff
    assert 1.0 <= third <= 2.0
    assert client.sent == 1 and client.dropped == 0


def test_a_batch_is_dropped_after_max_retries(caplog: pytest.LogCaptureFixture) -> None:
    transport = FakeTransport(*[Response(500)] * 10)
    sleeps = Sleeps()
    client = make_client(transport, max_retries=2, sleep=sleeps)
    with caplog.at_level(logging.WARNING, logger="syncmon.sdk"):
        client.track_event("doomed")
        assert client.flush(timeout=10)
    client.close()
    assert len(transport.requests) == 3 and len(sleeps.delays) == 2
    assert client.dropped_by_reason == {"retries_exhausted": 1}
    assert "after 2 retries (HTTP 500)" in caplog.text


def test_client_errors_are_not_retried_and_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    transport = FakeTransport(*[error_reply(401, "unknown project key")] * 2)
    client = make_client(transport)
    with caplog.at_level(logging.WARNING, logger="syncmon.sdk"):
        client.track_event("a")
        assert client.flush(timeout=10)
        client.track_event("b")
        assert client.flush(timeout=10)
    client.close()
    assert len(transport.requests) == 2
    assert client.dropped_by_reason == {"refused": 2}
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals == ["syncmon: the server refused 1 events with HTTP 401: unknown project key"]


def test_an_item_the_server_names_is_dropped_and_the_rest_resent(transport: FakeTransport) -> None:
    transport.replies = [error_reply(400, "events[1].timestamp: not a date", field="events[1].timestamp")]
    client = make_client(transport)
    for name in ("a", "b", "c"):
        client.track_event(name)
    assert [i["name"] for i in sent_items(client, transport)] == ["a", "c"]
    client.close()
    assert client.dropped_by_reason == {"invalid": 1} and client.sent == 2


def test_a_batch_too_large_is_split(transport: FakeTransport) -> None:
    def too_large_over_two(items: list[dict[str, Any]]) -> Response:
        return error_reply(413, "too many") if len(items) > 2 else Response(200)

    transport.replies = [too_large_over_two] * 10
    client = make_client(transport, batch_size=8, flush_interval=60)
    for n in range(5):
        client.track_event("e", n=n)
    assert sorted(i["n"] for i in sent_items(client, transport)) == list(range(5))
    client.close()
    assert client.sent == 5


def test_a_redirect_is_reported_not_followed(caplog: pytest.LogCaptureFixture) -> None:
    transport = FakeTransport(Response(308, {"Location": "https://monitor.test/api/monitoring/events"}))
    client = make_client(transport)
    with caplog.at_level(logging.WARNING, logger="syncmon.sdk"):
        client.track_event("a")
        assert client.flush(timeout=10)
    client.close()
    assert "redirected to https://monitor.test/" in caplog.text
    assert client.dropped_by_reason == {"refused": 1}


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("99999999", 3600.0),
        ("soon", None),
        ("", None),
        ("nan", None),
    ],
)
def test_retry_after_values(header: str, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    later = datetime.fromtimestamp(time.time() + 120, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    seconds = retry_after_seconds(later)
    assert seconds is not None and 100 < seconds <= 120


# -- closing, exit and fork -------------------------------------------------------------------


def test_close_flushes_then_drops_later_events(transport: FakeTransport) -> None:
    client = make_client(transport, flush_interval=60)
    client.track_event("before")
    client.close()
    client.track_event("after")
    client.close()  # twice is fine
    assert [i["name"] for i in transport.items] == ["before"]
    assert client.dropped_by_reason == {"closed": 1}


def test_close_gives_up_on_a_server_that_keeps_failing() -> None:
    transport = FakeTransport(*[Response(503)] * 100)
    client = Client("k", "http://monitor.test", transport=transport, max_retries=100)
    client.track_event("never")
    client.close(timeout=0.05)  # the backoff wait is cut short; the event is dropped
    deadline = time.monotonic() + 10
    while client.dropped == 0 and time.monotonic() < deadline:
        time.sleep(0.002)
    assert client.dropped_by_reason == {"shutdown": 1}


def test_the_exit_hook_flushes_every_open_client(transport: FakeTransport) -> None:
    client = make_client(transport, flush_interval=60)
    client.track_event("at exit")
    client_module._close_all()  # what atexit runs
    assert [i["name"] for i in transport.items] == ["at exit"]


def test_a_context_manager_closes(transport: FakeTransport) -> None:
    with make_client(transport, flush_interval=60) as client:
        client.track_event("inside")
    assert transport.items[0]["name"] == "inside"


def test_a_forked_child_starts_empty_and_sends_its_own(transport: FakeTransport) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    client = make_client(transport, flush_interval=60)
    client.track_event("parent")
    assert client.flush(timeout=10)
    transport.gate = threading.Event()
    client.track_event("queued in the parent")
    assert transport.entered.wait(10)
    pid = os.fork()
    if pid == 0:  # the child: a fresh sender thread, nothing of the parent's queue
        code = 1
        try:
            transport.gate = None
            before = len(transport.requests)
            client.track_event("child")
            if client.flush(timeout=10):
                names = [i["name"] for items, _ in transport.requests[before:] for i in items]
                code = 0 if names == ["child"] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    transport.gate.set()
    client.close()
    assert os.waitstatus_to_exitcode(status) == 0
    assert [i["name"] for i in transport.items] == ["parent", "queued in the parent"]


def test_a_transport_may_reply_with_a_tuple_or_another_clients_response() -> None:
    class Loose:
        def __init__(self) -> None:
            self.replies: list[object] = [
                (503, {"Retry-After": "4"}),
                httpx.Response(400, json={"error": "events[0].name: too odd", "field": "events[0].name"}),
                object(),  # unreadable: counts as a failed send and is retried
                httpx.Response(200),
            ]
            self.calls = 0

        def send(self, body: bytes, headers: dict[str, str]) -> Any:
            self.calls += 1
            return self.replies.pop(0)

    sleeps = Sleeps()
    transport = Loose()
    client = Client("k", "http://monitor.test", transport=transport, sleep=sleeps)
    client.track_event("odd")
    client.track_event("fine")
    assert client.flush(timeout=10)
    client.close()
    assert transport.calls == 4
    assert sleeps.delays[0] == 4.0 and len(sleeps.delays) == 2
    assert client.sent == 1 and client.dropped_by_reason == {"invalid": 1}
