"""Placeholders for the variable parts of messages, file names and function names."""

from __future__ import annotations

import time

import pytest

from syncmon.errors.normalize import (
    MAX_FIELD,
    clean_function,
    is_minified_name,
    looks_random,
    normalize_filename,
    normalize_message,
    url_path,
)

_MESSAGES: list[tuple[str, str, str | None]] = [
    # (id, input, expected); None: the input must come back unchanged
    ("int-standalone", "User 123 not found", "User <int> not found"),
    ("int-after-equals", "lookup failed: id=42", "lookup failed: id=<int>"),
    ("int-after-hash", "Error with order #5", "Error with order #<int>"),
    ("int-in-brackets", "items[3] is undefined", "items[<int>] is undefined"),
    ("int-after-dash", "worker-7 crashed", "worker-<int> crashed"),
    ("int-with-unit", "query took 1532ms (limit 500 ms)", "query took <int>ms (limit <int> ms)"),
    ("int-percent", "disk 93% full", "disk <int>% full"),
    ("float", "ratio 0.75 exceeds 0.5", "ratio <float> exceeds <float>"),
    ("float-with-unit", "timed out after 2.5s", "timed out after <float>s"),
    ("amount", "Charge of $1,299.99 declined", "Charge of $<int>,<float> declined"),
    ("negative", "offset -15 out of range", "offset -<int> out of range"),
    ("sentence-end", "Invalid value at line 12.", "Invalid value at line <int>."),
    ("identifier-utf8", "'utf8' codec can't decode", "'utf8' codec can't decode"),
    ("identifier-h2-base64", "h2 stream reset in base64 decoder", "h2 stream reset in base64 decoder"),
    ("identifier-ts-code", "TS2345: Argument of type", "TS2345: Argument of type"),
    ("identifier-suffix", "user123 and v2 and es2015", "user123 and v2 and es2015"),
    ("ordinal-kept", "the 3rd argument", "the 3rd argument"),
    ("version-kept", "requires version 1.2.3", "requires version 1.2.3"),
    ("uuid", "Order 3f2a1b9c-1234-4abc-8def-0123456789ab missing", "Order <uuid> missing"),
    ("uuid-upper", "id 3F2A1B9C-1234-4ABC-8DEF-0123456789AB", "id <uuid>"),
    ("email", "No account for john.doe+shop@example.co.uk", "No account for <email>"),
    ("url", "GET https://api.example.com/v1/users/42?x=1 failed.", "GET <url> failed."),
    ("url-in-parens", "(see http://localhost:3000/a)", "(see <url>)"),
    ("ipv4", "connect to 10.0.12.7:5432 refused", "connect to <ip>:<int> refused"),
    ("ipv6-compressed", "from fe80::1ff:fe23:4567:890a", "from <ip>"),
    ("ipv6-full", "from 2001:0db8:85a3:0000:0000:8a2e:0370:7334 ok", "from <ip> ok"),
    ("ipv6-loopback", "listen ::1 port", "listen <ip> port"),
    ("not-ipv6-scope", "std::vector and a::b", "std::vector and a::b"),
    ("iso-datetime", "at 2024-01-15T10:00:00.123Z", "at <date>"),
    ("iso-datetime-offset", "at 2024-01-15T10:00:00+02:00 ok", "at <date> ok"),
    ("iso-date", "report for 2024-01-15 missing", "report for <date> missing"),
    ("sql-datetime", "expired 2024-01-15 10:00:00", "expired <date>"),
    ("slash-date", "due 15/01/2024 and 2024/01/15", "due <date> and <date>"),
    ("dotted-date", "gültig bis 15.01.2024", "gültig bis <date>"),
    ("http-date", "Expires: Mon, 15 Jan 2024 10:00:00 GMT", "Expires: <date>"),
    ("js-date", "at Mon Jan 15 2024 10:00:00 GMT+0100 (CET)", "at <date> (CET)"),
    ("month-day-year", "since January 5, 2024", "since <date>"),
    ("clock-time", "job at 10:15:30 failed", "job at <date> failed"),
    ("line-col-not-time", "at app.js:10:15", "at app.js:<int>:<int>"),
    ("hex-0x", "segfault at 0x7ffee4b2c9a8", "segfault at <hex>"),
    ("hex-sha", "commit a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 not found", "commit <hex> not found"),
    ("hex-short-kept", "deadbeef and cafe", "deadbeef and cafe"),
    ("status-code-kept", "Request failed with status code 404", "Request failed with status code 404"),
    ("http-status-kept", "HTTP 503 from upstream", "HTTP 503 from upstream"),
    ("quoted-name-kept", "Cannot read properties of undefined (reading 'id')", None),
    ("quoted-name-kept-2", "KeyError: 'user_preferences_notification_settings'", None),
    ("quoted-content-normalized", "No such user: 'user-42'", "No such user: 'user-<int>'"),
    ("quoted-free-text", "Invalid title 'my summer holiday photos'", "Invalid title <str>"),
    ("quoted-short-text-kept", "Unknown option 'dry run'", "Unknown option 'dry run'"),
    ("quoted-after-equals", "filter name='bob' failed", "filter name=<str> failed"),
    (
        "quoted-truncated-snippet",
        "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
        "Unexpected token '<', <str>... is not valid JSON",
    ),
    ("quoted-token", "bad token 'eyJhbGciOiJIUzI1NiJ9x7Qk3pLm9Zr2'", "bad token <str>"),
    ("apostrophes", "Can't find user's profile", "Can't find user's profile"),
    ("whitespace", "  line one\n\tline   two  ", "line one line two"),
    ("empty", "", ""),
]
MESSAGES = [(case_id, text, text if expected is None else expected) for case_id, text, expected in _MESSAGES]


@pytest.mark.parametrize(("text", "expected"), [m[1:] for m in MESSAGES], ids=[m[0] for m in MESSAGES])
def test_normalize_message(text: str, expected: str) -> None:
    assert normalize_message(text) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "Cannot read properties of undefined (reading 'id')",
            "Cannot read properties of undefined (reading 'name')",
        ),
        ("x is not a function", "y is not a function"),
        ("Request failed with status code 404", "Request failed with status code 500"),
        ("KeyError: 'email'", "KeyError: 'phone'"),
        ("User not found", "Order not found"),
    ],
)
def test_names_stay_distinct(a: str, b: str) -> None:
    assert normalize_message(a) != normalize_message(b)


def test_long_message_is_truncated_without_a_partial_word() -> None:
    text = "word " * 400 + "3f2a1b9c-1234-4abc-8def-0123456789ab"
    result = normalize_message(text)
    assert len(result) <= MAX_FIELD
    assert result.endswith("word")
    other = "word " * 400 + "different tail"
    assert normalize_message(other) == result


@pytest.mark.parametrize(
    "unit",
    [
        ":1",
        "'a' ",
        "\"'`",
        "a@",
        "1.",
        "::",
        "Jan 1 ",
        "-1",
        "0x",
        "1-1-",
        "12:34:",
        "a" * 30 + "@",
        "'" + "a" * 60,
    ],
)
def test_hostile_messages_are_linear_and_capped(unit: str) -> None:
    text = unit * (4 * MAX_FIELD // len(unit) + 1)
    start = time.perf_counter()
    result = normalize_message(text)
    assert time.perf_counter() - start < 0.1
    assert len(result) <= MAX_FIELD


FILENAMES: list[tuple[str, str, str]] = [
    ("cra-hash", "https://x.example.com/static/js/main.3f2a1b9c.js", "static/js/main.<hash>.js"),
    ("cra-chunk", "https://x.example.com/static/js/2.3f2a1b9c.chunk.js", "static/js/2.<hash>.chunk.js"),
    ("dash-hash", "main-3f2a1b9c8d.js", "main-<hash>.js"),
    ("mjs-hash", "chunk.a1b2c3d4e5f6.mjs", "chunk.<hash>.mjs"),
    (
        "next-page",
        "https://x.example.com/_next/static/chunks/pages/index-0a1b2c3d4e5f6a7b.js",
        "_next/static/chunks/pages/index-<hash>.js",
    ),
    (
        "next-build-id",
        "https://x.example.com/_next/static/Xy3_kLp0-AbCdEfGhIjKl/_buildManifest.js",
        "_next/static/<hash>/_buildManifest.js",
    ),
    ("vite-base64", "/assets/index-BxT3a9Zq.js", "assets/index-<hash>.js"),
    ("vite-base64-dash", "/assets/index-D2f-j_Kq.js", "assets/index-<hash>.js"),
    ("vite-named", "/assets/UserProfile-BxT3a9Zq.js", "assets/UserProfile-<hash>.js"),
    ("esbuild-base32", "/dist/chunk-5KQJ3ZLH.js", "dist/chunk-<hash>.js"),
    ("whole-name-hash", "/static/3f2a1b9c4d5e.js", "static/<hash>.js"),
    ("query-and-fragment", "app.js?v=123#top", "app.js"),
    ("origin", "https://cdn.example.com:8443/js/app.js", "js/app.js"),
    ("version-dir", "/static/v1.2.3/app.js", "static/<version>/app.js"),
    ("build-number-dir", "/builds/12345/app.js", "builds/<version>/app.js"),
    ("version-in-name", "jquery-3.6.0.min.js", "jquery-<version>.min.js"),
    ("webpack-internal", "webpack-internal:///./src/App.js", "src/App.js"),
    ("webpack", "webpack://my-app/./src/App.js", "src/App.js"),
    ("blob", "blob:https://x.example.com/3f2a1b9c-1234-4abc-8def-0123456789ab", "<hash>"),
    ("words-kept", "/src/user-settings.js", "src/user-settings.js"),
    ("number-suffix-kept", "/src/polyfill2022.js", "src/polyfill2022.js"),
    ("min-kept", "react-dom.production.min.js", "react-dom.production.min.js"),
    (
        "pnpm-version",
        "node_modules/.pnpm/react-dom@18.2.0/node_modules/react-dom/index.js",
        "node_modules/.pnpm/react-dom@<version>/node_modules/react-dom/index.js",
    ),
    (
        "site-packages",
        "/home/deploy/.venv/lib/python3.11/site-packages/django/core/handlers/base.py",
        "django/core/handlers/base.py",
    ),
    (
        "dist-packages",
        "/usr/lib/python3/dist-packages/requests/sessions.py",
        "requests/sessions.py",
    ),
    ("windows-venv", "C:\\app\\venv\\Lib\\site-packages\\django\\db\\utils.py", "django/db/utils.py"),
    ("stdlib", "/usr/local/lib/python3.12/json/decoder.py", "json/decoder.py"),
    ("pyenv-stdlib", "/home/u/.pyenv/versions/3.11.4/lib/python3.11/asyncio/tasks.py", "asyncio/tasks.py"),
    ("venv-src", "/srv/app/.venv/src/mylib/mylib/core.py", "mylib/mylib/core.py"),
    ("relative-python", "app/views.py", "app/views.py"),
    ("frozen", "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap>"),
    ("anonymous", "<anonymous>", "<anonymous>"),
    ("native-code", "[native code]", "[native code]"),
    ("empty", "", ""),
]


@pytest.mark.parametrize(("path", "expected"), [f[1:] for f in FILENAMES], ids=[f[0] for f in FILENAMES])
def test_normalize_filename(path: str, expected: str) -> None:
    assert normalize_filename(path) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "https://x.example.com/static/js/main.3f2a1b9c.js",
            "https://y.example.org/static/js/main.9e8d7c6b.js",
        ),
        (
            "/home/a/.venv/lib/python3.11/site-packages/django/db/utils.py",
            "/opt/venv/lib/python3.12/site-packages/django/db/utils.py",
        ),
        ("/assets/index-BxT3a9Zq.js", "/assets/index-Ck81_zPa.js"),
        ("app.js?v=1", "https://x.example.com/app.js?v=2"),
    ],
)
def test_same_file_across_deployments(a: str, b: str) -> None:
    assert normalize_filename(a) == normalize_filename(b)


def test_normalize_filename_is_idempotent_and_url_path_agrees() -> None:
    for _, path, _ in FILENAMES:
        once = normalize_filename(path)
        assert normalize_filename(once) == once
        assert normalize_filename(url_path(path)) == once


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.example.com/a/b.js?x=1#y", "/a/b.js"),
        ("https://x.example.com", ""),
        ("https://x.example.com?x=/a", ""),
        ("file:///home/u/app.mjs", "/home/u/app.mjs"),
        ("/a/b.js", "/a/b.js"),
        ("node:internal/fs", "node:internal/fs"),
    ],
)
def test_url_path(url: str, expected: str) -> None:
    assert url_path(url) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a", True),
        ("t", True),
        ("e", True),
        ("Xe", True),
        ("n.r", True),
        ("<anonymous>", True),
        ("anonymous", True),
        ("?", True),
        ("", True),
        (None, True),
        ("Object.<anonymous>", True),
        ("e/<", True),
        ("async t", True),
        ("new Xe", True),
        ("handleClick", False),
        ("Object.handleClick", False),
        ("n.render", False),
        ("<module>", False),
        ("<lambda>", False),
        ("get_user", False),
        ("abc", False),
    ],
)
def test_is_minified_name(name: str | None, expected: bool) -> None:
    assert is_minified_name(name) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("async loadUser", "loadUser"),
        ("async*loadUser", "loadUser"),
        ("new Foo", "Foo"),
        ("Loader.start [as run]", "Loader.start"),
        ("fetchAll/<", "fetchAll"),
        ("outer/inner/<", "inner"),
        ("gen*", "gen"),
        ("Object.<anonymous>", "Object.<anonymous>"),
    ],
)
def test_clean_function(name: str, expected: str) -> None:
    assert clean_function(name) == expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("3f2a1b9c", True),
        ("BxT3a9Zq", True),
        ("5KQJ3ZLH", True),
        ("k3j4h5g6", True),
        ("0a1b2c3d-4e5f", True),
        ("settings", False),
        ("polyfill2022", False),
        ("base64url", False),
        ("UserProfile", False),
        ("abc123", False),
    ],
)
def test_looks_random(token: str, expected: bool) -> None:
    assert looks_random(token) is expected
