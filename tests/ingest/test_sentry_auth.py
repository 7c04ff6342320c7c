"""Finding a Sentry request's project key, and checking the project it names."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from sentry_sdk.utils import Dsn
from starlette.datastructures import Headers, QueryParams

from syncmon.http_errors import ClientError
from syncmon.ingest.sentry_auth import DsnParts, check_project_id, parse_auth_header, parse_dsn, sentry_key

KEY = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
DSN = f"https://{KEY}@monitor.example.com/7"


# --- parse_auth_header -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Sentry sentry_key=abc, sentry_version=7, sentry_client=sentry.python/2.0.0",
            {"sentry_key": "abc", "sentry_version": "7", "sentry_client": "sentry.python/2.0.0"},
        ),
        ("sentry sentry_key=abc", {"sentry_key": "abc"}),
        ("SENTRY   sentry_key=abc ,sentry_version = 7 ", {"sentry_key": "abc", "sentry_version": "7"}),
        ("Sentry\tsentry_key=abc", {"sentry_key": "abc"}),
        ("  Sentry sentry_key=abc", {"sentry_key": "abc"}),
        ("sentry_key=abc, sentry_version=7", {"sentry_key": "abc", "sentry_version": "7"}),
        ("Sentry SENTRY_KEY=abc, Sentry_Version=7", {"sentry_key": "abc", "sentry_version": "7"}),
        ('Sentry sentry_key="abc", sentry_version="7"', {"sentry_key": "abc", "sentry_version": "7"}),
        (
            "Sentry sentry_key=abc, garbage, =x, , sentry_version=7",
            {"sentry_key": "abc", "sentry_version": "7"},
        ),
        ("Sentry sentry_key=abc, sentry_key=def", {"sentry_key": "abc"}),
        ("Sentry sentry_key=a=b", {"sentry_key": "a=b"}),
        ("Sentry sentry_key=", {"sentry_key": ""}),
        ("Sentry sentry_key=abc, sentry_secret=s3cret", {"sentry_key": "abc", "sentry_secret": "s3cret"}),
        ("", {}),
        ("Sentry", {}),
        ("Sentry ", {}),
        ("garbage", {}),
        ("Sentrysentry_key=abc", {"sentrysentry_key": "abc"}),
    ],
)
def test_parse_auth_header(value: str, expected: dict[str, str]) -> None:
    assert parse_auth_header(value) == expected


def test_parse_auth_header_reads_what_sentry_sdk_sends() -> None:
    header = Dsn(f"https://{KEY}:secret@monitor.example.com/7").to_auth("sentry.python/2.0.0").to_header()
    assert parse_auth_header(header) == {
        "sentry_key": KEY,
        "sentry_version": "7",
        "sentry_client": "sentry.python/2.0.0",
        "sentry_secret": "secret",
    }


# --- parse_dsn -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (DSN, DsnParts(KEY, "7", "monitor.example.com")),
        (f"http://{KEY}:secret@localhost:9000/42", DsnParts(KEY, "42", "localhost:9000")),
        (f"https://{KEY}@example.com/monitoring/sentry/3", DsnParts(KEY, "3", "example.com")),
        (f"https://{KEY}@[::1]:8000/5", DsnParts(KEY, "5", "[::1]:8000")),
        (f"  https://{KEY}@example.com/5\n", DsnParts(KEY, "5", "example.com")),
        (f"HTTPS://{KEY}@Example.COM/5", DsnParts(KEY, "5", "Example.COM")),
        (f"https://{KEY}@o1.ingest.example.com/123?x=1", DsnParts(KEY, "123", "o1.ingest.example.com")),
    ],
)
def test_parse_dsn(dsn: str, expected: DsnParts) -> None:
    assert parse_dsn(dsn) == expected
    sdk = Dsn(dsn.strip())  # sentry-sdk agrees on key and project
    assert (sdk.public_key, sdk.project_id) == (expected.public_key, expected.project_id)


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("", "must start with http:// or https://"),
        ("monitor.example.com/7", "must start with http:// or https://"),
        (f"ftp://{KEY}@example.com/7", "must start with http:// or https://"),
        ("https://example.com/7", "has no public key"),
        ("https://:secret@example.com/7", "has no public key"),
        (f"https://{KEY}@/7", "has no host"),
        (f"https://{KEY}@example.com", "does not end with a numeric project id"),
        (f"https://{KEY}@example.com/", "does not end with a numeric project id"),
        (f"https://{KEY}@example.com/7/", "does not end with a numeric project id"),
        (f"https://{KEY}@example.com/seven", "does not end with a numeric project id"),
        (f"https://{KEY}@example.com/-7", "does not end with a numeric project id"),
        (f"https://{KEY}@example.com/\u0667", "does not end with a numeric project id"),
        (f"https://{KEY}@example.com:port/7", "is not a valid URL"),
        (f"https://{KEY}@[::1/7", "is not a valid URL"),
    ],
)
def test_parse_dsn_refuses(dsn: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dsn(dsn)


# --- sentry_key ----------------------------------------------------------------------------------

X_AUTH = f"Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.0.0"


@pytest.mark.parametrize(
    ("headers", "query", "dsn", "expected"),
    [
        ({"X-Sentry-Auth": X_AUTH}, {}, None, KEY),
        ({"x-sentry-auth": X_AUTH}, {}, None, KEY),
        ({"X-SENTRY-AUTH": f"sentry_key={KEY}"}, {}, None, KEY),
        ({"Authorization": f"Sentry sentry_key={KEY}, sentry_version=7"}, {}, None, KEY),
        ({"authorization": f"sentry sentry_key={KEY}"}, {}, None, KEY),
        ({}, {"sentry_key": KEY, "sentry_version": "7"}, None, KEY),
        ({}, {}, DSN, KEY),
        # Where several say the same key, that key.
        ({"X-Sentry-Auth": X_AUTH}, {"sentry_key": KEY}, DSN, KEY),
        ({"Authorization": f"Sentry sentry_key={KEY}"}, {}, DSN, KEY),
        # Sources without a key are skipped.
        ({"X-Sentry-Auth": "Sentry sentry_version=7"}, {"sentry_key": KEY}, None, KEY),
        ({"X-Sentry-Auth": "Sentry sentry_key="}, {}, DSN, KEY),
        ({"Authorization": f"Bearer {OTHER}"}, {"sentry_key": KEY}, None, KEY),
        ({"Authorization": f"Basic sentry_key={OTHER}"}, {}, None, None),
        ({}, {"sentry_key": ""}, None, None),
        ({}, {"key": KEY}, None, None),
        ({"Content-Type": "text/plain"}, {}, None, None),
        ({}, {}, None, None),
    ],
)
def test_sentry_key(
    headers: Mapping[str, str], query: Mapping[str, str], dsn: str | None, expected: str | None
) -> None:
    assert sentry_key(headers, query, dsn) == expected


def test_sentry_key_with_starlette_headers_and_query() -> None:
    headers = Headers(raw=[(b"x-sentry-auth", X_AUTH.encode()), (b"content-type", b"text/plain")])
    assert sentry_key(headers, QueryParams(""), None) == KEY
    assert sentry_key(Headers(), QueryParams(f"sentry_version=7&sentry_key={KEY}"), None) == KEY


@pytest.mark.parametrize(
    ("headers", "query", "dsn", "message"),
    [
        ({"X-Sentry-Auth": X_AUTH}, {"sentry_key": OTHER}, None, "the sentry_key query parameter"),
        ({"X-Sentry-Auth": X_AUTH}, {}, f"https://{OTHER}@monitor.example.com/7", "the envelope's dsn"),
        ({"Authorization": f"Sentry sentry_key={OTHER}"}, {"sentry_key": KEY}, None, "Authorization"),
        ({}, {"sentry_key": KEY}, f"https://{OTHER}@monitor.example.com/7", "the envelope's dsn"),
    ],
)
def test_sentry_key_refuses_two_different_keys(
    headers: Mapping[str, str], query: Mapping[str, str], dsn: str | None, message: str
) -> None:
    with pytest.raises(ClientError) as caught:
        sentry_key(headers, query, dsn)
    assert (caught.value.status, caught.value.reason) == (403, "key_mismatch")
    assert message in caught.value.message


def test_sentry_key_refuses_a_malformed_envelope_dsn() -> None:
    with pytest.raises(ClientError) as caught:
        sentry_key({}, {}, "not a dsn")
    assert (caught.value.status, caught.value.reason, caught.value.field) == (400, "bad_envelope", "dsn")


# --- check_project_id ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_project_id", "dsn"),
    [("7", None), ("007", None), ("7", DSN), ("7", f"https://{KEY}@other.example.com/path/7")],
)
def test_check_project_id_accepts(url_project_id: str, dsn: str | None) -> None:
    check_project_id(url_project_id, dsn, 7)


@pytest.mark.parametrize(
    ("url_project_id", "dsn", "status", "reason", "message"),
    [
        ("3", None, 403, "project_mismatch", "the DSN is for project 7, not project 3"),
        ("3", DSN, 403, "project_mismatch", "the DSN is for project 7, not project 3"),
        (
            "7",
            f"https://{KEY}@monitor.example.com/8",
            403,
            "project_mismatch",
            "dsn is for project 8, not project 7",
        ),
        ("abc", None, 400, "bad_project_id", "in the URL is not a number"),
        ("", None, 400, "bad_project_id", "in the URL is not a number"),
        ("-7", None, 400, "bad_project_id", "in the URL is not a number"),
        (" 7", None, 400, "bad_project_id", "in the URL is not a number"),
        ("\u0667", None, 400, "bad_project_id", "in the URL is not a number"),
        ("9" * 40, None, 400, "bad_project_id", "in the URL is not a number"),
        ("7", "garbage", 400, "bad_envelope", "envelope header: dsn"),
    ],
)
def test_check_project_id_refuses(
    url_project_id: str, dsn: str | None, status: int, reason: str, message: str
) -> None:
    with pytest.raises(ClientError) as caught:
        check_project_id(url_project_id, dsn, 7)
    assert (caught.value.status, caught.value.reason) == (status, reason)
    assert message in caught.value.message
