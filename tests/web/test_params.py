"""Query-string parameters of the read API: values, defaults and 400s naming the parameter."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from syncmon.http_errors import ClientError
from syncmon.web.params import parse_cursor, parse_duration_ms, parse_limit, parse_step_minutes, parse_time

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def assert_refused(call: Callable[[], object], name: str) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value
    assert error.status == 400
    assert error.field == name
    assert error.message.startswith(f"{name}: ")
    assert error.body() == {"error": error.message, "field": name}
    return error


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1s", 1000),
        ("90s", 90_000),
        ("15m", 15 * MINUTE_MS),
        ("24h", 24 * HOUR_MS),
        ("7d", 7 * DAY_MS),
        ("2w", 14 * DAY_MS),
        (" 5m ", 5 * MINUTE_MS),
        ("999999999w", 999_999_999 * 7 * DAY_MS),
    ],
)
def test_duration(raw: str, expected: int) -> None:
    assert parse_duration_ms(raw, "window") == expected


@pytest.mark.parametrize("raw", ["", "m", "0m", "5", "5x", "-5m", "1.5h", "5 m", "5M", "h5", "1234567890s"])
def test_bad_duration(raw: str) -> None:
    error = assert_refused(lambda: parse_duration_ms(raw, "window"), "window")
    assert "duration" in error.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("24h", NOW_MS - 24 * HOUR_MS),
        ("15m", NOW_MS - 15 * MINUTE_MS),
        ("2026-01-01T00:00:00Z", NOW_MS),
        ("2026-01-01T00:00:00+00:00", NOW_MS),
        ("2026-01-01T01:00:00+01:00", NOW_MS),
        ("2026-01-01T00:00:00", NOW_MS),  # no zone means UTC
        ("2026-01-01", NOW_MS),
        ("2026-01-01T00:00:30.250Z", NOW_MS + 30_250),
        ("1767225600", NOW_MS),  # epoch seconds
        ("1767225600000", NOW_MS),  # epoch milliseconds
        ("1767225600.5", NOW_MS + 500),
    ],
)
def test_time(raw: str | None, expected: int | None) -> None:
    assert parse_time(raw, "since", NOW_MS) == expected


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("raw", ["yesterday", "0h", "2026-13-01", "-5", "nan", "1e300", "²", "9" * 20 + "w"])
def test_bad_time(name: str, raw: str) -> None:
    assert_refused(lambda: parse_time(raw, name, NOW_MS), name)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 100), ("", 100), ("1", 1), ("50", 50), ("1000", 1000), ("0007", 7)],
)
def test_limit(raw: str | None, expected: int) -> None:
    assert parse_limit(raw) == expected


def test_limit_custom_default_and_maximum() -> None:
    assert parse_limit(None, default=10, maximum=20) == 10
    assert parse_limit("20", default=10, maximum=20) == 20
    error = assert_refused(lambda: parse_limit("21", default=10, maximum=20), "limit")
    assert "1 to 20" in error.message


@pytest.mark.parametrize("raw", ["0", "1001", "-1", "abc", "1.5", " 5", "1e3", "²", "١٢", "9" * 40])
def test_bad_limit(raw: str) -> None:
    assert_refused(lambda: parse_limit(raw), "limit")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), ("1", 1), ("123456", 123456), (str(2**63 - 1), 2**63 - 1)],
)
def test_cursor(raw: str | None, expected: int | None) -> None:
    assert parse_cursor(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "-1", "1.0", " 1", "0x10", "²", "١٢", str(2**63), "9" * 40])
def test_bad_cursor(raw: str) -> None:
    assert_refused(lambda: parse_cursor(raw), "cursor")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 60),
        ("", 60),
        ("1m", 1),
        ("5m", 5),
        ("120s", 2),
        ("1h", 60),
        ("1d", 1440),
        ("1w", 10080),
    ],
)
def test_step(raw: str | None, expected: int) -> None:
    assert parse_step_minutes(raw) == expected


@pytest.mark.parametrize("raw", ["30s", "90s", "0m", "5", "5x", "1.5h", "hourly", "9" * 20 + "w"])
def test_bad_step(raw: str) -> None:
    assert_refused(lambda: parse_step_minutes(raw), "step")
