"""What every channel's configuration model shares: strict validation and secret handling.

Configs are pydantic models (unknown fields refused, so a typo is an error, not a
silently ignored setting). Secrets are `SecretStr`: stored in the clear because the
server must send with them, but shown masked everywhere, and a masked value sent back
unchanged in an update keeps the stored secret.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(
    r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*$"
)
MASK = "********"


class ChannelConfig(BaseModel):
    """Base of every kind's config: unknown fields are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def http_url(value: str, *, name: str = "url") -> str:
    """An absolute http(s) URL with a host (http is allowed for receivers on a private network)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an absolute http:// or https:// URL")
    return value


def e164(value: str) -> str:
    if not E164.match(value):
        raise ValueError(f"{value[:40]!r} is not an E.164 phone number like +14155550100")
    return value


def email_address(value: str) -> str:
    if len(value) > 254 or not EMAIL.match(value):
        raise ValueError(f"{value[:60]!r} is not an email address")
    return value


def mask(secret: str) -> str:
    """A secret as shown: a URL keeps its scheme and host, a long token its last four characters."""
    parts = urlsplit(secret)
    if parts.scheme and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}/{MASK}"
    if len(secret) >= 16:
        return MASK + secret[-4:]
    return MASK


def _walk(value: Any, on_secret: Any) -> Any:
    if isinstance(value, SecretStr):
        return on_secret(value.get_secret_value())
    if isinstance(value, BaseModel):
        return {name: _walk(getattr(value, name), on_secret) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {key: _walk(item, on_secret) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, on_secret) for item in value]
    return value


def stored_form(config: ChannelConfig) -> dict[str, Any]:
    """The config as kept in the store: plain JSON values, secrets in the clear."""
    result: dict[str, Any] = _walk(config, lambda secret: secret)
    return result


def shown_form(config: ChannelConfig) -> dict[str, Any]:
    """The config as any API caller sees it: secrets masked."""
    result: dict[str, Any] = _walk(config, mask)
    return result


def merge_patch(stored: dict[str, Any], shown: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`patch` over `stored`; a value equal to what the API showed (a mask) keeps the stored one.

    Nested objects (e.g. webhook headers) merge key by key the same way; `null` removes an
    optional value.
    """
    merged = dict(stored)
    for key, value in patch.items():
        old_shown = shown.get(key)
        if isinstance(value, dict) and isinstance(stored.get(key), dict):
            merged[key] = merge_patch(stored[key], old_shown if isinstance(old_shown, dict) else {}, value)
        elif isinstance(value, list) and isinstance(stored.get(key), list) and isinstance(old_shown, list):
            old = stored[key]
            merged[key] = [
                old[i] if i < len(old) and i < len(old_shown) and item == old_shown[i] != old[i] else item
                for i, item in enumerate(value)
            ]
        elif value is not None and value == old_shown and old_shown != stored.get(key):
            merged[key] = stored.get(key)
        else:
            merged[key] = value
    return merged
