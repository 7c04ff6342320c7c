"""SyncmonHandler: log records as error events, never its own logger, never recursing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from syncmon.sdk import Client, SyncmonHandler
from syncmon.sdk.context import RequestContext, enter, leave
from syncmon.sdk.log_handler import level_name
from tests.sdk import FakeTransport, make_client


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def client(transport: FakeTransport) -> Iterator[Client]:
    c = make_client(transport, flush_interval=60)
    yield c
    c.close(timeout=5)


@pytest.fixture
def logger(client: Client) -> Iterator[logging.Logger]:
    log = logging.getLogger("tests.sdk.shop")
    handler = SyncmonHandler(client)
    log.addHandler(handler)
    log.propagate = False
    yield log
    log.removeHandler(handler)
    log.propagate = True


def sent(client: Client, transport: FakeTransport) -> list[dict[str, Any]]:
    assert client.flush(timeout=10)
    return transport.items


def test_an_exception_record_is_an_error_with_its_traceback(
    client: Client, transport: FakeTransport, logger: logging.Logger
) -> None:
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup of %s failed", "missing")
    (item,) = sent(client, transport)
    assert item["kind"] == "error" and item["type"] == "KeyError"
    assert item["message"] == "KeyError: 'missing'"
    assert item["log_message"] == "lookup of missing failed"
    assert item["logger"] == "tests.sdk.shop" and item["level"] == "error"
    assert "Traceback (most recent call last)" in item["stack"]


def test_a_plain_record_is_a_log_error_with_its_source_line(
    client: Client, transport: FakeTransport, logger: logging.Logger
) -> None:
    logger.critical("payment provider down: %d failures", 12)
    logger.warning("below the handler's level")
    (item,) = sent(client, transport)
    assert (item["type"], item["message"], item["level"]) == (
        "log",
        "payment provider down: 12 failures",
        "critical",
    )
    assert item["filename"].endswith("test_log_handler.py") and item["lineno"] > 0
    assert item["function"] == "test_a_plain_record_is_a_log_error_with_its_source_line"


def record(message: str, *args: object, name: str = "tests.sdk.shop") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, args, None)


def test_a_record_with_bad_format_arguments_still_goes(client: Client, transport: FakeTransport) -> None:
    SyncmonHandler(client).handle(record("%d items", "not a number"))
    (item,) = sent(client, transport)
    assert item["message"] == "%d items"


def test_the_sdks_own_records_are_left_out(client: Client, transport: FakeTransport) -> None:
    handler = SyncmonHandler(client)
    for name in ("syncmon.sdk", "syncmon.sdk.transport"):
        handler.handle(record("sending failed", name=name))
    assert sent(client, transport) == []


def test_logging_while_handling_a_record_does_not_recurse(
    client: Client, transport: FakeTransport, logger: logging.Logger
) -> None:
    class Noisy:
        def __str__(self) -> str:
            logger.error("logged from inside the handler")  # reaches the handler while it is busy
            return "noisy"

    handler = next(h for h in logger.handlers if isinstance(h, SyncmonHandler))
    handler.handle(record("outer %s", Noisy()))
    (item,) = sent(client, transport)
    assert item["message"] == "outer noisy"


def test_an_exception_the_middleware_reported_is_not_sent_again(
    client: Client, transport: FakeTransport, logger: logging.Logger
) -> None:
    exc = RuntimeError("once")
    client.track_error(exc)
    logger.error("Exception in ASGI application", exc_info=exc)
    assert len(sent(client, transport)) == 1


def test_inside_a_request_the_request_comes_along(
    client: Client, transport: FakeTransport, logger: logging.Logger
) -> None:
    token = enter(RequestContext("GET", url="https://shop/cart", client_ip="198.51.100.1", user_id="u-3"))
    try:
        logger.error("cart is inconsistent")
    finally:
        leave(token)
    (item,) = sent(client, transport)
    assert (item["url"], item["client_ip"], item["user_id"]) == ("https://shop/cart", "198.51.100.1", "u-3")


@pytest.mark.parametrize(
    ("levelno", "name"),
    [
        (logging.CRITICAL, "critical"),
        (logging.ERROR, "error"),
        (35, "warning"),
        (logging.INFO, "info"),
        (5, "debug"),
    ],
)
def test_level_names(levelno: int, name: str) -> None:
    assert level_name(levelno) == name
