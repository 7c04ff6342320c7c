from __future__ import annotations

import copy
from typing import Any

import pytest

from syncmon.pipeline.scrub import (
    DEFAULT_DENYLIST,
    FILTERED,
    MAX_DEPTH,
    Scrubber,
    ScrubError,
    scrub_string,
)


@pytest.fixture
def scrubber() -> Scrubber:
    return Scrubber()


def nested_lists(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def nested_dicts(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"child": value}
    return value


# --- keys ---------------------------------------------------------------------------

DENYLIST_SPELLINGS = [
    "password",
    "Password",
    "PASSWORD",
    "passwd",
    "secret",
    "api_key",
    "api-key",
    "Api-Key",
    "apikey",
    "auth",
    "Auth",
    "credentials",
    "mysql_pwd",
    "privatekey",
    "private_key",
    "private-key",
    "token",
    "Token",
    "session",
    "csrftoken",
    "sessionid",
    "x_csrftoken",
    "X-CSRFToken",
    "x_forwarded_for",
    "X-Forwarded-For",
    "set_cookie",
    "Set-Cookie",
    "cookie",
    "Cookie",
    "authorization",
    "Authorization",
    "x_api_key",
    "X-Api-Key",
    "aiohttp_session",
    "connect.sid",
    "csrf_token",
    "csrf",
    "_csrf",
    "_csrf_token",
    "phpsessid",
    "PHPSESSID",
    "_session",
    "symfony",
    "user_session",
    "_xsrf",
    "xsrf_token",
    "XSRF-TOKEN",
]

FRAGMENT_KEYS = [
    "user_password",
    "newPassword",
    "password_confirmation",
    "db_passwd",
    "client_secret",
    "SECRET_KEY",
    "stripe_api_key",
    "stripeApiKey",
    "x-goog-api-key",
    "aws_credential_file",
    "MYSQL_PWD_FILE",
    "ssh_private_key",
    "privateKey",
    "access_token",
    "accessToken",
    "refresh_token",
    "refreshToken",
    "auth_token",
    "oauth_token",
    "authToken",
    "id_token",
    "idToken",
    "oidc_id_token",
    "bearer",
    "bearer_value",
    "card_number",
    "cardNumber",
    "cardnumber",
    "cvv",
    "card_cvc",
]

HARMLESS_KEYS = [
    "auth_event",
    "authz_event",
    "data_event",
    "api_event",
    "author",
    "authority",
    "event_type",
    "$session_id",
    "session_id",
    "sessions",
    "token_type",
    "tokens_used",
    "tokenizer",
    "valid_token",
    "cookie_consent",
    "csrf_enabled",
    "api_version",
    "card_brand",
    "user_id",
    "email",
    "key",
    "id",
    "x_request_id",
    "message",
]


def test_denylist_matches_sentry_default() -> None:
    assert len(DEFAULT_DENYLIST) == 32
    assert {"password", "auth", "token", "session", "cookie", "xsrf_token"} <= DEFAULT_DENYLIST


@pytest.mark.parametrize("key", DENYLIST_SPELLINGS + FRAGMENT_KEYS)
def test_sensitive_key_filters_the_value(scrubber: Scrubber, key: str) -> None:
    assert scrubber.is_sensitive_key(key)
    assert scrubber.scrub({key: "hunter2", "keep": "me"}) == {key: FILTERED, "keep": "me"}


@pytest.mark.parametrize("key", HARMLESS_KEYS)
def test_harmless_key_keeps_the_value(scrubber: Scrubber, key: str) -> None:
    assert not scrubber.is_sensitive_key(key)
    assert scrubber.scrub({key: "login"}) == {key: "login"}


def test_security_and_analytics_events_survive(scrubber: Scrubber) -> None:
    event = {
        "auth_event": {"outcome": "failure", "method": "password"},
        "authz_event": {"resource": "/admin", "decision": "deny"},
        "data_event": {"table": "users", "rows": 3},
        "api_event": {"route": "/v1/items", "status": 200},
        "$session_id": "01HZX3K5J7Q8R9S0T1U2V3W4X5",
        "token_type": "Bearer",
        "tokens_used": 1234,
    }
    assert scrubber.scrub(event) == event


@pytest.mark.parametrize(
    "value",
    [
        "hunter2",
        {"nested": "dict", "count": 1},
        ["a", "list"],
        None,
        12,
        True,
    ],
)
def test_sensitive_key_replaces_the_whole_value(scrubber: Scrubber, value: Any) -> None:
    assert scrubber.scrub({"password": value}) == {"password": FILTERED}


def test_nested_structures(scrubber: Scrubber) -> None:
    event = {
        "request": {
            "url": "https://example.com/login",
            "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Accept": "text/html"},
            "data": {"user": {"name": "bob", "password": "hunter2"}, "remember": True},
        },
        "breadcrumbs": [
            {"message": "login", "data": {"api_key": "k", "path": "/login"}},
            {"message": "card 4111 1111 1111 1111 declined"},
        ],
    }
    assert scrubber.scrub(event) == {
        "request": {
            "url": "https://example.com/login",
            "headers": {"Authorization": FILTERED, "Accept": "text/html"},
            "data": {"user": {"name": "bob", "password": FILTERED}, "remember": True},
        },
        "breadcrumbs": [
            {"message": "login", "data": {"api_key": FILTERED, "path": "/login"}},
            {"message": f"card {FILTERED} declined"},
        ],
    }


# --- [key, value] pairs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([["Cookie", "a=b"]], [["Cookie", FILTERED]]),
        (
            [["Accept", "text/html"], ["Authorization", "Bearer x"], ["X-Api-Key", "k"]],
            [["Accept", "text/html"], ["Authorization", FILTERED], ["X-Api-Key", FILTERED]],
        ),
        ({"headers": [["Set-Cookie", "sid=1"]]}, {"headers": [["Set-Cookie", FILTERED]]}),
        (
            {"cookies": [["csrftoken", "x"], ["theme", "dark"]]},
            {"cookies": [["csrftoken", FILTERED], ["theme", "dark"]]},
        ),
        # Tuples (as a framework's header list would have) come back as lists.
        ([("Cookie", "a=b"), ("Host", "x")], [["Cookie", FILTERED], ["Host", "x"]]),
        # A harmless pair still gets the string rules.
        ([["Referer", "https://u:pw@h/"]], [["Referer", f"https://u:{FILTERED}@h/"]]),
        ([["X-Note", "4111111111111111"]], [["X-Note", FILTERED]]),
        # Not pairs: wrong length or non-string items are ordinary lists.
        ([["password", "a", "b"]], [["password", "a", "b"]]),
        ([["password", 3]], [["password", 3]]),
    ],
)
def test_key_value_pairs(scrubber: Scrubber, value: Any, expected: Any) -> None:
    assert scrubber.scrub(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        ["password", "email"],
        {"missing_fields": ["password", "email"]},
        {"tags": ["auth", "billing"]},
    ],
)
def test_a_two_string_list_outside_a_list_is_data_not_a_pair(scrubber: Scrubber, value: Any) -> None:
    assert scrubber.scrub(value) == value


# --- extra fields -------------------------------------------------------------------


def test_extra_fields_are_matched_exactly_after_normalising() -> None:
    scrubber = Scrubber(extra_fields=["email", "X-Internal-Id"])
    event = {
        "email": "a@b.c",
        "Email": "a@b.c",
        "x_internal_id": "7",
        "X-INTERNAL-ID": "7",
        "email_verified": True,
        "password": "still",
        "headers": [["x-internal-id", "7"]],
    }
    assert scrubber.scrub(event) == {
        "email": FILTERED,
        "Email": FILTERED,
        "x_internal_id": FILTERED,
        "X-INTERNAL-ID": FILTERED,
        "email_verified": True,
        "password": FILTERED,
        "headers": [["x-internal-id", FILTERED]],
    }


def test_extra_fields_do_not_leak_between_scrubbers() -> None:
    Scrubber(extra_fields=["email"])
    assert Scrubber().scrub({"email": "a@b.c"}) == {"email": "a@b.c"}


def test_extra_fields_accept_any_iterable() -> None:
    scrubber = Scrubber(extra_fields=(field for field in ["ssn"]))
    assert scrubber.scrub({"SSN": "078-05-1120"}) == {"SSN": FILTERED}


# --- strings ------------------------------------------------------------------------

PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKj\n"

STRING_CASES = [
    # card numbers, in place
    ("card 4111 1111 1111 1111 declined", f"card {FILTERED} declined"),
    ("4111111111111111", FILTERED),
    ("4111-1111-1111-1111", FILTERED),
    ("pay with 5555555555554444 now", f"pay with {FILTERED} now"),
    ("amex 3782 822463 10005", f"amex {FILTERED}"),
    ("discover 6011111111111117", f"discover {FILTERED}"),
    ("jcb 3530111333300000", f"jcb {FILTERED}"),
    ("diners 30569309025904", f"diners {FILTERED}"),
    ("visa13 4222222222222", f"visa13 {FILTERED}"),
    ("visa19 4111111111111111003", f"visa19 {FILTERED}"),
    ("mc2 2223-0031-2200-3222", f"mc2 {FILTERED}"),
    ("cards 4111111111111111, 5555555555554444.", f"cards {FILTERED}, {FILTERED}."),
    ("4111 1111 1111 1111 12/25", f"{FILTERED} 12/25"),
    ("ref 12 4111 1111 1111 1111", f"ref 12 {FILTERED}"),
    ("v2 4111 1111 1111 1111 ok", f"v2 {FILTERED} ok"),
    ("4111 1111 1111 1111 12ab", f"{FILTERED} 12ab"),
    ("x1 4111111111111111 2y", f"x1 {FILTERED} 2y"),
    ("4111111111111111 5555555555554444", f"{FILTERED} {FILTERED}"),
    ("number=4111111111111111&cvv=123", f"number={FILTERED}&cvv=123"),
    ("Karte 4111 1111 1111 1111 abgelehnt — danke", f"Karte {FILTERED} abgelehnt — danke"),
    ("カード4111111111111111です", f"カード{FILTERED}です"),
    # bearer tokens
    ("Bearer abc.def-ghi_jkl", f"Bearer {FILTERED}"),
    (
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig== ok",
        f"Authorization: Bearer {FILTERED} ok",
    ),
    ("header was bearer abc123", f"header was bearer {FILTERED}"),
    ("BEARER tok_1", f"BEARER {FILTERED}"),
    ("Bearer abcdefghijklmnopqrstuvwxyz", f"Bearer {FILTERED}"),
    ("Bearer\tabc/def+ghi=", f"Bearer {FILTERED}"),
    # PEM private keys
    (
        f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}-----END PRIVATE KEY-----",
        FILTERED,
    ),
    (
        f"key: -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}-----END RSA PRIVATE KEY----- (dev)",
        f"key: {FILTERED} (dev)",
    ),
    (
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}-----END OPENSSH PRIVATE KEY-----\n"
        f"-----BEGIN EC PRIVATE KEY-----\n{PEM_BODY}-----END EC PRIVATE KEY-----",
        f"{FILTERED}\n{FILTERED}",
    ),
    (
        f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{PEM_BODY}-----END ENCRYPTED PRIVATE KEY-----",
        FILTERED,
    ),
    (
        f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n{PEM_BODY}-----END PGP PRIVATE KEY BLOCK-----",
        FILTERED,
    ),
    # truncated in transit: everything from BEGIN on goes
    (f"loaded -----BEGIN PRIVATE KEY-----\n{PEM_BODY}", f"loaded {FILTERED}"),
    # passwords in URLs
    ("postgres://bob:hunter2@db:5432/app", f"postgres://bob:{FILTERED}@db:5432/app"),
    ("redis://:s3cret@cache:6379/0", f"redis://:{FILTERED}@cache:6379/0"),
    ("https://user:p@ss@example.com/x", f"https://user:{FILTERED}@example.com/x"),
    (
        "could not connect to amqp://guest:guest@rabbit:5672// (refused)",
        f"could not connect to amqp://guest:{FILTERED}@rabbit:5672// (refused)",
    ),
    (
        "a mongodb+srv://u:pw@c.example.net b ftp://x:y@z",
        f"a mongodb+srv://u:{FILTERED}@c.example.net b ftp://x:{FILTERED}@z",
    ),
]

UNCHANGED_STRINGS = [
    "",
    "short",
    "order 1234567890123456 shipped",  # 16 digits, fails Luhn
    "4111111111111112",
    "at 1767225600009 ms",  # a Luhn-valid epoch timestamp in ms; cards never start with 1
    "0000 0000 0000 0000",
    "123456789012",  # 12 digits
    "+1 555-123-4567",
    "2025-01-15 10:00:00.123456",
    "sha deadbeef4111111111111111cafe",  # digits inside a hex digest
    "id_4111111111111111x",
    "x4111 1111 1111 1111",
    "4111 1111 1111 1111y",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736",
    "123e4567-e89b-12d3-a456-426614174000",
    "Bearer",
    "bear market",
    "the token bearer is trusted",
    "Bearer authentication failed",
    "bearer tokens expire",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----",
    "https://user@example.com/",
    "https://example.com:8443/path",
    "https://example.com/@someone",
    "mailto:bob@example.com",
    "Zürich → 東京 🚀 ✓",
    "\ud800 lone surrogate 12345",
]


@pytest.mark.parametrize(("text", "expected"), STRING_CASES)
def test_string_rules(text: str, expected: str) -> None:
    assert scrub_string(text) == expected


@pytest.mark.parametrize(("text", "expected"), STRING_CASES)
def test_string_rules_apply_to_values_and_list_items(scrubber: Scrubber, text: str, expected: str) -> None:
    value = {"message": text, "list": [text, {"deep": [text]}]}
    assert scrubber.scrub(value) == {"message": expected, "list": [expected, {"deep": [expected]}]}


@pytest.mark.parametrize(("text", "expected"), STRING_CASES)
def test_string_rules_are_idempotent(text: str, expected: str) -> None:
    assert scrub_string(expected) == expected


@pytest.mark.parametrize("text", UNCHANGED_STRINGS)
def test_strings_without_secrets_are_unchanged(scrubber: Scrubber, text: str) -> None:
    assert scrub_string(text) == text
    assert scrubber.scrub({"message": text}) == {"message": text}


def test_card_in_lone_surrogate_string() -> None:
    assert scrub_string("\ud800 4111111111111111") == f"\ud800 {FILTERED}"


# --- numbers and other scalars ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4111111111111111, FILTERED),
        (5555555555554444, FILTERED),
        (378282246310005, FILTERED),
        (4111111111111111003, FILTERED),
        (4222222222222, FILTERED),
        (1234567890123456, 1234567890123456),  # fails Luhn
        (4111111111111112, 4111111111111112),
        (1767225600009, 1767225600009),  # epoch ms that passes Luhn
        (1700000000000001, 1700000000000001),  # epoch us that passes Luhn
        (123456789012, 123456789012),
        (41111111111111110030, 41111111111111110030),  # 20 digits
        (-4111111111111111, -4111111111111111),
        (42, 42),
        (0, 0),
        (True, True),
        (False, False),
        (None, None),
        (4111111111111111.0, 4111111111111111.0),
        (1.5, 1.5),
    ],
)
def test_scalars(scrubber: Scrubber, value: Any, expected: Any) -> None:
    result = scrubber.scrub({"n": value, "list": [value]})
    assert result == {"n": expected, "list": [expected]}
    assert type(result["n"]) is type(expected)


def test_non_string_keys_are_kept(scrubber: Scrubber) -> None:
    assert scrubber.scrub({1: "a", None: "b", "password": "c"}) == {
        1: "a",
        None: "b",
        "password": FILTERED,
    }


# --- depth --------------------------------------------------------------------------


@pytest.mark.parametrize("build", [nested_lists, nested_dicts])
def test_max_depth_is_allowed(scrubber: Scrubber, build: Any) -> None:
    value = build(MAX_DEPTH)
    assert scrubber.scrub(value) == value


@pytest.mark.parametrize("build", [nested_lists, nested_dicts])
def test_deeper_than_max_depth_raises(scrubber: Scrubber, build: Any) -> None:
    with pytest.raises(ScrubError, match=r"^payload nests deeper than 64 levels$"):
        scrubber.scrub(build(MAX_DEPTH + 1))


def pair_at(depth: int) -> Any:
    """A header pair that is the ``depth``-th nested container."""
    value: Any = ["Cookie", "x"]
    for _ in range(depth - 1):
        value = [value]
    return value


def test_pair_at_max_depth_is_allowed(scrubber: Scrubber) -> None:
    result = scrubber.scrub(pair_at(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 2):
        result = result[0]
    assert result == [["Cookie", FILTERED]]


def test_pair_deeper_than_max_depth_raises(scrubber: Scrubber) -> None:
    with pytest.raises(ScrubError):
        scrubber.scrub(pair_at(MAX_DEPTH + 1))


def test_a_filtered_value_is_not_walked(scrubber: Scrubber) -> None:
    assert scrubber.scrub({"password": nested_lists(MAX_DEPTH * 2)}) == {"password": FILTERED}


def test_scrub_error_is_a_value_error() -> None:
    assert issubclass(ScrubError, ValueError)


def test_cycles_raise_scrub_error(scrubber: Scrubber) -> None:
    cyclic: dict[str, Any] = {"a": 1}
    cyclic["self"] = cyclic
    with pytest.raises(ScrubError):
        scrubber.scrub(cyclic)


# --- copying ------------------------------------------------------------------------


def test_input_is_not_mutated(scrubber: Scrubber) -> None:
    event: dict[str, Any] = {
        "password": "hunter2",
        "message": "card 4111 1111 1111 1111",
        "headers": [["Cookie", "a=b"], ("Host", "x")],
        "nested": {"token": "t", "list": [1, "Bearer abc", {"secret": "s"}]},
    }
    before = copy.deepcopy(event)
    result = scrubber.scrub(event)
    assert event == before
    assert result is not event
    assert result["nested"] is not event["nested"]
    assert result["nested"]["list"] is not event["nested"]["list"]
    assert result["headers"][0] is not event["headers"][0]


def test_clean_containers_are_copied_too(scrubber: Scrubber) -> None:
    event = {"a": {"b": [1, 2]}}
    result = scrubber.scrub(event)
    assert result == event
    assert result is not event
    assert result["a"] is not event["a"]
    assert result["a"]["b"] is not event["a"]["b"]


def test_tuples_become_lists(scrubber: Scrubber) -> None:
    assert scrubber.scrub({"t": (1, "x", ("a", "b", "c"))}) == {"t": [1, "x", ["a", "b", "c"]]}


def test_many_distinct_keys_keep_verdicts_correct(scrubber: Scrubber) -> None:
    event = {f"field_{i}": i for i in range(10_000)} | {"password": "x"}
    result = scrubber.scrub(event)
    assert result["password"] == FILTERED
    assert result["field_9999"] == 9999
    assert scrubber.scrub({"password": "y", "field_1": 1}) == {"password": FILTERED, "field_1": 1}


# --- cost on hostile input ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "1-" * 100_000 + "a",
        "4444 " * 50_000,
        "4111111111111111 " * 10_000,
        "a." * 50_000 + "://u:" + "p" * 100_000,
        "x://u:pp/" * 20_000 + "@",
        "-----BEGIN PRIVATE KEY-----" * 10_000,
        "-----BEGIN PRIVATE KEY-----" + "-----END AAAA " * 10_000,
        "bearer " * 30_000,
    ],
)
def test_hostile_strings_are_scrubbed_without_backtracking(text: str) -> None:
    # A catastrophic pattern would hang here; the result must still be a string.
    assert isinstance(scrub_string(text), str)


def test_nul_characters_are_removed_from_keys_and_values() -> None:
    scrubbed = Scrubber().scrub({"na\x00me": "a\x00b", "list": ["\x00"]})
    assert scrubbed == {"name": "ab", "list": [""]}
