"""PII scrubbing of event payloads before they reach storage.

Whatever an SDK sends is stored and shown to everyone with access to the monitor, so
secrets are removed on the way in: values under sensitive keys (Sentry's default
denylist plus a few unambiguous fragments such as ``password`` or ``access_token``), and,
anywhere in any string, card numbers, bearer tokens, PEM private keys and passwords
embedded in URLs. Matching of keys is exact for short, ambiguous words (``auth``,
``token``, ``session``) so that keys such as ``auth_event`` or ``$session_id``, which the
monitor relies on, survive.

This runs on every ingested event, so the common path is cheap: key verdicts are
memoised, regexes are precompiled, and each string pattern is guarded by a substring or
length check before the regex runs.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any, Final

FILTERED: Final = "[Filtered]"
MAX_DEPTH: Final = 64

# Sentry's DEFAULT_DENYLIST (sentry_sdk.scrubber), in normalised form: matched exactly.
DEFAULT_DENYLIST: Final = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
        "auth",
        "credentials",
        "mysql_pwd",
        "privatekey",
        "private_key",
        "token",
        "session",
        "csrftoken",
        "sessionid",
        "x_csrftoken",
        "x_forwarded_for",
        "set_cookie",
        "cookie",
        "authorization",
        "x_api_key",
        "aiohttp_session",
        "connect.sid",
        "csrf_token",
        "csrf",
        "_csrf",
        "_csrf_token",
        "phpsessid",
        "_session",
        "symfony",
        "user_session",
        "_xsrf",
        "xsrf_token",
    }
)

# Fragments that mean "secret" wherever they occur in a key. ``id_token`` must start a
# word so that ``valid_token`` is not caught.
_SENSITIVE_FRAGMENT: Final = re.compile(
    r"password|passwd|secret|api_?key|credential|mysql_pwd|private_?key"
    r"|access_?token|refresh_?token|auth_?token|(?<![a-z0-9])id_?token"
    r"|bearer|card_?number|cvv|cvc"
)

_PEM_PRIVATE_KEY: Final = re.compile(
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    # A block cut short by truncation is filtered up to the end of the string.
    r"(?:.*?-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
    re.DOTALL,
)
_BEARER: Final = re.compile(r"\b(bearer)\s+([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
_TOKEN_MARK: Final = re.compile(r"[0-9\-._~+/=]")
_MIN_PLAIN_TOKEN: Final = 16
# Bounded scheme length keeps the scan linear on hostile input.
_URL_PASSWORD: Final = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s/?#@:]*):[^\s/?#]+@")
# A maximal run of 13 or more ASCII digits with at most one space or dash between two
# digits. The second look-behind makes each run start only once, which keeps the scan
# linear on hostile input.
_DIGIT_RUN: Final = re.compile(r"(?<![0-9])(?<![0-9][ \-])[0-9](?:[ \-]?[0-9]){12,}")
_SEPARATOR: Final = re.compile(r"[ \-]")
_ASCII_DIGITS: Final = b"0123456789"
_ASCII_LETTERS: Final = frozenset(string.ascii_letters)
_LUHN_DOUBLED: Final = bytes.maketrans(b"0123456789", b"0246813579")  # 2d, minus 9 if > 9

_MIN_CARD_DIGITS: Final = 13
_MAX_CARD_DIGITS: Final = 19
_MIN_CARD_INT: Final = 10 ** (_MIN_CARD_DIGITS - 1)
_MAX_CARD_INT: Final = 10**_MAX_CARD_DIGITS
_MIN_EDGE_GROUP: Final = 3
_SHORTEST_SECRET: Final = 7  # "a://:b@" is the shortest string any value rule can match
_KEY_CACHE_LIMIT: Final = 4096


class ScrubError(ValueError):
    """The payload is nested too deeply to walk safely."""


def _count_digits(text: str) -> int:
    """ASCII digits in ``text``; bytes.translate is several times faster than a regex scan."""
    encoded = text.encode("utf-8", "surrogatepass")
    return len(encoded) - len(encoded.translate(None, _ASCII_DIGITS))


def _luhn_ok(digits: str) -> bool:
    """Luhn checksum of a string of ASCII digits, on bytes to stay cheap."""
    reverse = digits.encode("ascii")[::-1]
    doubled = reverse[1::2].translate(_LUHN_DOUBLED)
    return (sum(reverse[0::2]) + sum(doubled) - 48 * len(reverse)) % 10 == 0


def _is_card(digits: str) -> bool:
    """Payment card numbers are 13-19 digits, pass Luhn and never start with 0 or 1.

    The leading-digit rule keeps millisecond, microsecond and nanosecond epoch
    timestamps and snowflake ids (all of which start with 1 today) from being taken for
    cards one time in ten.
    """
    return _MIN_CARD_DIGITS <= len(digits) <= _MAX_CARD_DIGITS and digits[0] not in "01" and _luhn_ok(digits)


def _scrub_digit_run(match: re.Match[str]) -> str:
    """Filter the cards inside one run of digits, if there are any.

    A group of digits glued to an ASCII letter belongs to a word (a hex digest, an
    identifier) and is never part of a card. The run as a whole is tried first. A run
    that is not a card may still contain one next to other numbers
    ("4111 1111 1111 1111 12/25"), so spans of whole digit groups are tried as well,
    longest first from the left. Such a span must begin and end with a group of at least
    three digits, as printed card numbers do; this also bounds the work on long runs of
    short numbers.
    """
    run = match.group()
    groups = _SEPARATOR.split(run)
    text, begin, end = match.string, match.start(), match.end()
    glued_left = begin > 0 and text[begin - 1] in _ASCII_LETTERS
    glued_right = end < len(text) and text[end] in _ASCII_LETTERS
    if not glued_left and not glued_right and _is_card("".join(groups)):
        return FILTERED
    lowest = 1 if glued_left else 0
    highest = len(groups) - 2 if glued_right else len(groups) - 1
    starts = [0]
    for group in groups:
        starts.append(starts[-1] + len(group) + 1)  # separators are one character
    pieces: list[str] = []
    emitted = 0  # run[:emitted] is already in pieces
    first = lowest
    while first <= highest:
        found = -1
        digits = ""
        if len(groups[first]) >= _MIN_EDGE_GROUP:
            for last in range(first, highest + 1):
                digits += groups[last]
                if len(digits) > _MAX_CARD_DIGITS:
                    break
                if len(groups[last]) >= _MIN_EDGE_GROUP and _is_card(digits):
                    found = last
        if found < 0:
            first += 1
            continue
        pieces += (run[emitted : starts[first]], FILTERED)
        emitted = starts[found + 1] - 1
        first = found + 1
    if not pieces:
        return run
    pieces.append(run[emitted:])
    return "".join(pieces)


def _scrub_bearer(match: re.Match[str]) -> str:
    """Filter the token after "Bearer", unless it reads as an ordinary word."""
    token = match.group(2)
    if len(token) < _MIN_PLAIN_TOKEN and _TOKEN_MARK.search(token) is None:
        return match.group()
    return f"{match.group(1)} {FILTERED}"


def scrub_string(text: str) -> str:
    """Remove secrets that can appear inside any string, whatever key it sits under.

    NUL characters go too: PostgreSQL cannot store them in text or JSONB.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if len(text) < _SHORTEST_SECRET:
        return text
    if "-----BEGIN " in text:
        text = _PEM_PRIVATE_KEY.sub(FILTERED, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(_scrub_bearer, text)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(r"\1:" + FILTERED + "@", text)
    if len(text) >= _MIN_CARD_DIGITS and _count_digits(text) >= _MIN_CARD_DIGITS:
        text = _DIGIT_RUN.sub(_scrub_digit_run, text)
    return text


def normalise_key(key: str) -> str:
    """Keys compare case-insensitively and with "-" and "_" alike (headers vs. form fields)."""
    return key.lower().replace("-", "_")


class Scrubber:
    """Returns scrubbed copies of JSON-like values; the input is never modified.

    A value is filtered whole when its key is sensitive. Keys are dict keys and the
    first item of ``[key, value]`` pairs of strings found inside a list (header and
    cookie lists such as ``[["Cookie", "a=b"]]``). A two-string list that is not itself
    an item of a list is ordinary data and is not read as a pair.
    """

    def __init__(self, extra_fields: Iterable[str] = ()) -> None:
        self._exact = DEFAULT_DENYLIST | {normalise_key(field) for field in extra_fields}
        self._verdicts: dict[str, bool] = {}

    def is_sensitive_key(self, key: str) -> bool:
        verdict = self._verdicts.get(key)
        if verdict is None:
            normal = normalise_key(key)
            verdict = normal in self._exact or _SENSITIVE_FRAGMENT.search(normal) is not None
            if len(self._verdicts) >= _KEY_CACHE_LIMIT:
                self._verdicts.clear()  # keys are attacker-controlled; keep memory bounded
            self._verdicts[key] = verdict
        return verdict

    def scrub(self, value: Any) -> Any:
        """A scrubbed copy of ``value``; raises ScrubError past MAX_DEPTH containers."""
        return self._walk(value, 0)

    def _walk(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return scrub_string(value)
        if kind is dict or kind is list or isinstance(value, dict | list | tuple):
            if depth >= MAX_DEPTH:
                raise ScrubError(f"payload nests deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                return self._walk_dict(value, depth + 1)
            return self._walk_list(value, depth + 1)
        if kind is int and _MIN_CARD_INT <= value < _MAX_CARD_INT and _is_card(str(value)):
            return FILTERED
        return value

    def _walk_dict(self, value: dict[Any, Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if type(key) is str:
                if "\x00" in key:
                    key = key.replace("\x00", "")
                if self.is_sensitive_key(key):
                    out[key] = FILTERED
                    continue
            # Leaves inline (most of a payload): short strings and small numbers cannot hold
            # anything the value rules look for, so they skip the call.
            kind = type(item)
            if kind is str:
                short = len(item) < _SHORTEST_SECRET and "\x00" not in item
                out[key] = item if short else scrub_string(item)
            elif item is None or kind is bool or kind is float or (kind is int and item < _MIN_CARD_INT):
                out[key] = item
            else:
                out[key] = self._walk(item, depth)
        return out

    def _walk_list(self, value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
        out: list[Any] = []
        for item in value:
            kind = type(item)
            if (
                (kind is list or kind is tuple)
                and len(item) == 2
                and type(item[0]) is str
                and type(item[1]) is str
            ):
                if depth >= MAX_DEPTH:
                    raise ScrubError(f"payload nests deeper than {MAX_DEPTH} levels")
                key, pair_value = item
                secret = self.is_sensitive_key(key)
                out.append([key, FILTERED if secret else scrub_string(pair_value)])
            else:
                out.append(self._walk(item, depth))
        return out
