"""Matchers as they are written and stored: `name=value`, `name!=value`, `name=~regex`,
`name!~regex`, or Alertmanager's API objects `{"name", "value", "isRegex", "isEqual"}`.

Stored as JSON objects `{"name", "value", "is_regex", "is_equal"}`. Parsing raises
ValueError with a message fit for a 400 (regexes are compiled here, once, so a bad one
is refused when it is written rather than when an alert meets it).
"""

from __future__ import annotations

import re
from typing import Any

from syncmon.alerting.model import Matcher

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_VALUE = 1024
_TEXT_FORM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


def _checked(name: str, value: str, is_regex: bool, is_equal: bool) -> Matcher:
    if not LABEL_NAME.match(name):
        raise ValueError(f"{name[:40]!r} is not a label name (letters, digits, underscores)")
    if len(value) > MAX_VALUE:
        raise ValueError(f"value of {name!r} is longer than {MAX_VALUE} characters")
    if is_regex:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"value of {name!r} is not a valid regular expression: {exc}") from None
    return Matcher(name, value, is_regex=is_regex, is_equal=is_equal)


def parse_matcher(raw: Any) -> Matcher:
    """One matcher from its text form or an object (ours or Alertmanager's spelling)."""
    if isinstance(raw, str):
        match = _TEXT_FORM.match(raw)
        if match is None:
            raise ValueError(f"{raw[:60]!r} is not a matcher like name=value, name!=value, name=~regex")
        name, op, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        return _checked(name, value, op in ("=~", "!~"), op in ("=", "=~"))
    if isinstance(raw, dict):
        name, value = raw.get("name"), raw.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError("a matcher object needs a string name and a string value")
        is_regex = raw.get("is_regex", raw.get("isRegex", False))
        is_equal = raw.get("is_equal", raw.get("isEqual", True))
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise ValueError("is_regex and is_equal must be true or false")
        unknown = set(raw) - {"name", "value", "is_regex", "isRegex", "is_equal", "isEqual"}
        if unknown:
            raise ValueError(f"unknown matcher field {sorted(unknown)[0]!r}")
        return _checked(name, value, is_regex, is_equal)
    raise ValueError("a matcher is a string like name=value or an object with name and value")


def matcher_to_json(matcher: Matcher) -> dict[str, Any]:
    return {
        "name": matcher.name,
        "value": matcher.value,
        "is_regex": matcher.is_regex,
        "is_equal": matcher.is_equal,
    }


def matchers_to_json(matchers: tuple[Matcher, ...] | list[Matcher]) -> list[dict[str, Any]]:
    return [matcher_to_json(m) for m in matchers]


def matchers_from_json(raw: list[dict[str, Any]]) -> tuple[Matcher, ...]:
    """Stored matchers back (trusted: they were checked when written)."""
    return tuple(
        Matcher(str(m["name"]), str(m["value"]), bool(m.get("is_regex")), bool(m.get("is_equal", True)))
        for m in raw
    )


def matcher_text(matcher: Matcher) -> str:
    op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
    return f'{matcher.name}{op[(matcher.is_regex, matcher.is_equal)]}"{matcher.value}"'
