"""The security vocabulary, table-driven: every dialect a client speaks maps onto one
canonical name and one category (docs/security-events.md, "One vocabulary")."""

from __future__ import annotations

import pytest

from syncmon.security.vocabulary import (
    PREFIX_CATEGORY,
    SEED_ALERT_NAMES,
    Category,
    canonical,
    category_of,
    names_of,
    seed_alert_name,
)

AUTHN = Category.AUTHENTICATION
AUTHZ = Category.AUTHORIZATION
SESSION = Category.SESSION
DATA = Category.DATA_ACCESS
API = Category.API_ACCESS
INPUT = Category.INPUT_VALIDATION
MALICIOUS = Category.MALICIOUS
SYSTEM = Category.SYSTEM

# OWASP Logging Vocabulary names are used as they are, categorised by their prefix.
OWASP = [
    ("authn_login_fail", AUTHN),
    ("authn_login_success", AUTHN),
    ("authn_login_lock", AUTHN),
    ("authn_password_change", AUTHN),
    ("authn_token_reuse", AUTHN),
    ("authz_fail", AUTHZ),
    ("authz_change", AUTHZ),
    ("authz_admin", AUTHZ),
    ("privilege_permissions_changed", AUTHZ),
    ("user_created", AUTHZ),
    ("session_created", SESSION),
    ("session_logout", SESSION),
    ("session_use_after_expire", SESSION),
    ("sensitive_read", DATA),
    ("sensitive_delete", DATA),
    ("upload_complete", DATA),
    ("upload_validation_failed", DATA),
    ("data_breach_attempt", DATA),
    ("excess_rate_limit_exceeded", API),
    ("api_key_rotated", API),
    ("input_validation_fail", INPUT),
    ("malicious_sqli", MALICIOUS),
    ("malicious_attack_tool", MALICIOUS),
    ("malicious_csp_violation", MALICIOUS),
    ("sequence_fail", MALICIOUS),
    ("mcp_tool_poisoning", MALICIOUS),
    ("sys_startup", SYSTEM),
    ("crypt_decrypt_fail", SYSTEM),
]


@pytest.mark.parametrize(("name", "category"), OWASP)
def test_owasp_names_are_kept_and_categorised_by_prefix(name: str, category: Category) -> None:
    assert canonical(name) == (category, name)
    assert category_of(name) is category


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("AUTHN_Login_Fail", "authn_login_fail"),
        ("  authz fail ", "authz_fail"),
        ("session-created", "session_created"),
        # OWASP writes parameters after a colon: `authn_login_fail:joe`.
        ("authn_login_fail:joe", "authn_login_fail_joe"),
    ],
)
def test_names_are_slugged(sent: str, expected: str) -> None:
    assert canonical(sent)[1] == expected


# The seed's SecurityAnalytics calls: event_type plus its sub-event.
SEED_CALLS = [
    # trackAuthenticationEvent
    ("authentication", "login_failed", AUTHN, "authn_login_fail"),
    ("authentication", "login_failure", AUTHN, "authn_login_fail"),
    ("authentication", "invalid_password", AUTHN, "authn_login_fail"),
    ("authentication", "invalid_credentials", AUTHN, "authn_login_fail"),
    ("authentication", "mfa_failed", AUTHN, "authn_login_fail"),
    ("authentication", "Login Failed", AUTHN, "authn_login_fail"),
    ("authentication", "login_success", AUTHN, "authn_login_success"),
    ("authentication", "login", AUTHN, "authn_login_success"),
    ("authentication", "account_locked", AUTHN, "authn_login_lock"),
    ("authentication", "lockout", AUTHN, "authn_login_lock"),
    ("authentication", "password_change", AUTHN, "authn_password_change"),
    ("authentication", "logout", SESSION, "session_logout"),
    ("authentication", "weird thing", AUTHN, "authn_weird_thing"),
    # A sub-event already in OWASP form is kept, with its own category.
    ("authentication", "authn_token_reuse", AUTHN, "authn_token_reuse"),
    ("authentication", "session_expired", SESSION, "session_expired"),
    # trackAuthorizationEvent
    ("authorization", "access_denied", AUTHZ, "authz_fail"),
    ("authorization", "denied", AUTHZ, "authz_fail"),
    ("authorization", "forbidden", AUTHZ, "authz_fail"),
    ("authorization", "permission_denied", AUTHZ, "authz_fail"),
    ("authorization", "role_change", AUTHZ, "authz_change"),
    ("authorization", "escalation", AUTHZ, "authz_escalation"),
    # trackDataAccessEvent
    ("data_access", "read", DATA, "sensitive_read"),
    ("data_access", "view", DATA, "sensitive_read"),
    ("data_access", "export", DATA, "sensitive_read"),
    ("data_access", "download", DATA, "sensitive_read"),
    ("data_access", "update", DATA, "sensitive_update"),
    ("data_access", "delete", DATA, "sensitive_delete"),
    ("data_access", "create", DATA, "sensitive_create"),
    ("data_access", "archive", DATA, "data_archive"),
    # trackAPIEvent
    ("api_access", "rate_limit_exceeded", API, "excess_rate_limit_exceeded"),
    ("api_access", "rate_limited", API, "excess_rate_limit_exceeded"),
    ("api_access", "key_created", API, "api_key_created"),
    # The type alone, or with a sub-event that slugs to nothing.
    ("authentication", None, AUTHN, "authentication"),
    ("authorization", "", AUTHZ, "authorization"),
    ("data_access", None, DATA, "data_access"),
    ("api_access", "!!!", API, "api_access"),
]


@pytest.mark.parametrize(("event_type", "detail", "category", "name"), SEED_CALLS)
def test_seed_event_types_map_by_sub_event(
    event_type: str, detail: str | None, category: Category, name: str
) -> None:
    assert canonical(event_type, detail) == (category, name)
    assert category_of(name) is category


def test_seed_event_types_ignore_an_explicit_category() -> None:
    assert canonical("authentication", "login_failed", "malicious") == (AUTHN, "authn_login_fail")


ALERTS = [
    ("authentication_failure", AUTHN, "authn_login_fail"),
    ("authorization_failure", AUTHZ, "authz_fail"),
    ("suspicious_activity", MALICIOUS, "malicious_suspicious_activity"),
    ("data_breach_attempt", DATA, "data_breach_attempt"),
    ("malware_detection", MALICIOUS, "malicious_malware_detected"),
]


@pytest.mark.parametrize(("alert", "category", "name"), ALERTS)
def test_seed_alert_names_are_events_and_map_back(alert: str, category: Category, name: str) -> None:
    assert canonical(alert) == (category, name)
    assert canonical(alert.upper()) == (category, name)
    assert category_of(name) is category
    # Round trip: the event a seed alert name stands for belongs to that alert.
    assert seed_alert_name(name) == alert


def test_every_seed_alert_name_is_covered() -> None:
    assert {alert for alert, _, _ in ALERTS} == set(SEED_ALERT_NAMES)


@pytest.mark.parametrize(
    ("sent", "name"),
    [
        ("something_odd", "something_odd"),
        ("Weird Event!", "weird_event"),
        ("", "unnamed"),
        ("!!!", "unnamed"),
        ("x" * 100, "x" * 80),
    ],
)
def test_unknown_names_are_system(sent: str, name: str) -> None:
    assert canonical(sent) == (SYSTEM, name)
    assert category_of(name) is SYSTEM


@pytest.mark.parametrize(
    ("event_type", "category", "expected"),
    [
        ("something_odd", "malicious", (MALICIOUS, "something_odd")),
        ("something_odd", "Data Access", (DATA, "something_odd")),
        ("something_odd", "API-ACCESS", (API, "something_odd")),
        ("something_odd", "nonsense", (SYSTEM, "something_odd")),
        ("something_odd", "", (SYSTEM, "something_odd")),
        # The category field is for when event_type implies none: an OWASP name keeps its own,
        # so the stored category always agrees with what the name is counted and listed as.
        ("authn_login_fail", "malicious", (AUTHN, "authn_login_fail")),
        ("sensitive_read", "system", (DATA, "sensitive_read")),
        # A seed alert name implies its category too.
        ("authentication_failure", "system", (AUTHN, "authn_login_fail")),
    ],
)
def test_explicit_category(event_type: str, category: str, expected: tuple[Category, str]) -> None:
    assert canonical(event_type, None, category) == expected


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("authentication", AUTHN),
        ("authorization", AUTHZ),
        ("data_access", DATA),
        ("api_access", API),
        ("input_validation", INPUT),
        ("unrecognised", SYSTEM),
        ("", SYSTEM),
        ("authnx", SYSTEM),
    ],
)
def test_category_of_seed_types_and_the_rest(name: str, category: Category) -> None:
    assert category_of(name) is category


@pytest.mark.parametrize(
    ("category", "prefixes", "exact"),
    [
        (AUTHN, {"authn_"}, {"authentication"}),
        (AUTHZ, {"authz_", "privilege_", "user_"}, {"authorization"}),
        (SESSION, {"session_"}, set()),
        (DATA, {"sensitive_", "upload_", "data_"}, {"data_access"}),
        (API, {"excess_", "api_"}, {"api_access"}),
        (INPUT, {"input_validation"}, set()),
        (MALICIOUS, {"malicious_", "sequence_", "mcp_"}, set()),
        (SYSTEM, {"sys_", "crypt_"}, set()),
    ],
)
def test_names_of(category: Category, prefixes: set[str], exact: set[str]) -> None:
    got_prefixes, got_exact = names_of(category)
    assert set(got_prefixes) == prefixes
    assert set(got_exact) == exact


def _matches(name: str, category: Category) -> bool:
    prefixes, exact = names_of(category)
    return name in exact or name.startswith(prefixes)


@pytest.mark.parametrize(
    "name",
    [name for name, _ in OWASP] + [name for *_, name in SEED_CALLS] + [name for _, _, name in ALERTS],
)
def test_names_of_selects_exactly_the_category_of_each_known_name(name: str) -> None:
    """A listing filtered by category (names_of) agrees with the counts (category_of)."""
    assert [c for c in Category if _matches(name, c)] == [category_of(name)]


def test_prefixes_are_matched_longest_first() -> None:
    # No prefix may hide a longer one listed after it.
    prefixes = [prefix for prefix, _ in PREFIX_CATEGORY]
    for i, prefix in enumerate(prefixes):
        assert not any(later.startswith(prefix) for later in prefixes[i + 1 :])


@pytest.mark.parametrize(
    ("name", "alert"),
    [
        ("authn_login_fail", "authentication_failure"),
        ("authn_login_fail_max", "authentication_failure"),
        ("authn_login_lock", "authentication_failure"),
        ("authn_password_change_fail", "authentication_failure"),
        ("authn_login_success", None),
        ("authz_fail", "authorization_failure"),
        ("malicious_direct_reference", "authorization_failure"),
        ("authz_change", None),
        ("data_breach_attempt", "data_breach_attempt"),
        ("sensitive_read_breach", "data_breach_attempt"),
        ("sensitive_read", None),
        ("upload_validation_failed", "malware_detection"),
        ("malicious_malware_detected", "malware_detection"),
        ("malicious_sqli", "suspicious_activity"),
        ("malicious_suspicious_activity", "suspicious_activity"),
        ("sequence_fail", "suspicious_activity"),
        ("session_logout", None),
        ("sys_startup", None),
        ("something_odd", None),
    ],
)
def test_seed_alert_name(name: str, alert: str | None) -> None:
    assert seed_alert_name(name) == alert
