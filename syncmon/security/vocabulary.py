"""The security event vocabulary: OWASP Logging Vocabulary names, categories, seed names.

Clients send security events in many dialects: the OWASP Logging Vocabulary
(`authn_login_fail`), the seed's SecurityAnalytics (`event_type: "authentication"` with
`auth_event: "login_failed"`), and the seed's alert names (`authentication_failure`).
`canonical` maps each onto one name and one of eight categories, so detectors, counts and
alert rules speak one language. docs/security-events.md lists the mapping.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Category(StrEnum):
    AUTHENTICATION = "authentication"
    AUTHORIZATION = "authorization"
    SESSION = "session"
    DATA_ACCESS = "data_access"
    API_ACCESS = "api_access"
    INPUT_VALIDATION = "input_validation"
    MALICIOUS = "malicious"
    SYSTEM = "system"


# OWASP name prefixes → category (longest prefix first when matching).
PREFIX_CATEGORY: tuple[tuple[str, Category], ...] = (
    ("input_validation", Category.INPUT_VALIDATION),
    ("privilege_", Category.AUTHORIZATION),
    ("sensitive_", Category.DATA_ACCESS),
    ("malicious_", Category.MALICIOUS),
    ("sequence_", Category.MALICIOUS),
    ("session_", Category.SESSION),
    ("excess_", Category.API_ACCESS),
    ("upload_", Category.DATA_ACCESS),
    ("crypt_", Category.SYSTEM),
    ("authn_", Category.AUTHENTICATION),
    ("authz_", Category.AUTHORIZATION),
    ("user_", Category.AUTHORIZATION),
    ("sys_", Category.SYSTEM),
    ("api_", Category.API_ACCESS),
    ("data_", Category.DATA_ACCESS),
    ("mcp_", Category.MALICIOUS),
)

# Prefix for a seed sub-event with no OWASP equivalent ("authentication" + "weird" → authn_weird).
SEED_PREFIX = {
    Category.AUTHENTICATION: "authn_",
    Category.AUTHORIZATION: "authz_",
    Category.DATA_ACCESS: "data_",
    Category.API_ACCESS: "api_",
}

# The seed's event_type values (SecurityAnalytics) and the field holding their detail.
SEED_TYPES: dict[str, tuple[Category, str]] = {
    "authentication": (Category.AUTHENTICATION, "auth_event"),
    "authorization": (Category.AUTHORIZATION, "authz_event"),
    "data_access": (Category.DATA_ACCESS, "data_event"),
    "api_access": (Category.API_ACCESS, "api_event"),
}

# The seed's alert names (AlertingSystem.setupSecurityAlerts) as events of their own.
SEED_ALERT_NAMES: dict[str, tuple[Category, str]] = {
    "authentication_failure": (Category.AUTHENTICATION, "authn_login_fail"),
    "authorization_failure": (Category.AUTHORIZATION, "authz_fail"),
    "suspicious_activity": (Category.MALICIOUS, "malicious_suspicious_activity"),
    "data_breach_attempt": (Category.DATA_ACCESS, "data_breach_attempt"),
    "malware_detection": (Category.MALICIOUS, "malicious_malware_detected"),
}

# Detail words of the seed's sub-events → OWASP names, per category.
DETAIL_NAMES: dict[Category, dict[str, str]] = {
    Category.AUTHENTICATION: {
        "login_failed": "authn_login_fail",
        "login_failure": "authn_login_fail",
        "failed_login": "authn_login_fail",
        "login_fail": "authn_login_fail",
        "failure": "authn_login_fail",
        "failed": "authn_login_fail",
        "invalid_password": "authn_login_fail",
        "invalid_credentials": "authn_login_fail",
        "login_success": "authn_login_success",
        "login_succeeded": "authn_login_success",
        "login": "authn_login_success",
        "success": "authn_login_success",
        "signin": "authn_login_success",
        "account_locked": "authn_login_lock",
        "lockout": "authn_login_lock",
        "locked": "authn_login_lock",
        "password_change": "authn_password_change",
        "password_changed": "authn_password_change",
        "password_change_failed": "authn_password_change_fail",
        "token_reuse": "authn_token_reuse",
        "logout": "session_logout",
        "mfa_failed": "authn_login_fail",
    },
    Category.AUTHORIZATION: {
        "access_denied": "authz_fail",
        "denied": "authz_fail",
        "forbidden": "authz_fail",
        "failure": "authz_fail",
        "failed": "authz_fail",
        "unauthorized": "authz_fail",
        "permission_denied": "authz_fail",
        "role_change": "authz_change",
        "role_changed": "authz_change",
        "admin_action": "authz_admin",
        "granted": "authz_granted",
        "access_granted": "authz_granted",
    },
    Category.DATA_ACCESS: {
        "read": "sensitive_read",
        "view": "sensitive_read",
        "export": "sensitive_read",
        "download": "sensitive_read",
        "bulk_export": "sensitive_read",
        "create": "sensitive_create",
        "update": "sensitive_update",
        "write": "sensitive_update",
        "delete": "sensitive_delete",
        "upload": "upload_complete",
        "malware": "upload_validation_failed",
        "upload_rejected": "upload_validation_failed",
    },
    Category.API_ACCESS: {
        "rate_limit_exceeded": "excess_rate_limit_exceeded",
        "rate_limited": "excess_rate_limit_exceeded",
        "rate_limit": "excess_rate_limit_exceeded",
        "throttled": "excess_rate_limit_exceeded",
    },
}

_WORD = re.compile(r"[^a-z0-9]+")


def _slug(text: str) -> str:
    return _WORD.sub("_", text.strip().lower()).strip("_")[:80]


def category_of(name: str) -> Category:
    """The category of a canonical name (by its OWASP prefix, or the seed's type name)."""
    if name in SEED_TYPES:
        return SEED_TYPES[name][0]
    for prefix, category in PREFIX_CATEGORY:
        if name.startswith(prefix):
            return category
    return Category.SYSTEM


def canonical(
    event_type: str, detail: str | None = None, category: str | None = None
) -> tuple[Category, str]:
    """(category, canonical name) for a security event as a client named it."""
    slug = _slug(event_type)
    if slug in SEED_ALERT_NAMES:
        return SEED_ALERT_NAMES[slug]
    if slug in SEED_TYPES:
        seed_category, _ = SEED_TYPES[slug]
        if not detail:
            return seed_category, slug
        detail_slug = _slug(detail)
        named = DETAIL_NAMES.get(seed_category, {}).get(detail_slug)
        if named is None and any(detail_slug.startswith(p) for p, _ in PREFIX_CATEGORY):
            named = detail_slug
        if named is None:
            named = (SEED_PREFIX[seed_category] + detail_slug)[:80] if detail_slug else slug
        return category_of(named), named
    # An OWASP name implies its category; `category` only places a name that implies none.
    if any(slug.startswith(prefix) for prefix, _ in PREFIX_CATEGORY):
        return category_of(slug), slug
    return _explicit(category) or Category.SYSTEM, slug or "unnamed"


def _explicit(category: str | None) -> Category | None:
    if not category:
        return None
    try:
        return Category(_slug(category))
    except ValueError:
        return None


def seed_alert_name(name: str) -> str | None:
    """Which of the seed's five security alerts a canonical name belongs to, if any."""
    if name in ("authn_login_fail", "authn_login_fail_max", "authn_login_lock", "authn_password_change_fail"):
        return "authentication_failure"
    if name in ("authz_fail", "malicious_direct_reference"):
        return "authorization_failure"
    if name in ("data_breach_attempt",) or (name.startswith("sensitive_") and name.endswith("_breach")):
        return "data_breach_attempt"
    if name in ("upload_validation_failed", "malicious_malware_detected"):
        return "malware_detection"
    if name.startswith("malicious_") or name.startswith("sequence_"):
        return "suspicious_activity"
    return None


def names_of(category: Category) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(name prefixes, exact names) whose events belong to a category, for queries."""
    prefixes = tuple(prefix for prefix, cat in PREFIX_CATEGORY if cat is category)
    exact = tuple(name for name, (cat, _) in SEED_TYPES.items() if cat is category)
    return prefixes, exact
