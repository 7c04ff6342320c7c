"""Query-string parameters of the read API, parsed into values or a 400 naming the parameter."""

from __future__ import annotations

import re

from syncmon.http_errors import ClientError
from syncmon.pipeline.normalize import parse_timestamp

# At most 9 digits: a longer number overflows the BIGINT times it is compared with (a 500).
_DURATION = re.compile(r"^(\d{1,9})([smhdw])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_MAX_CURSOR = 2**63 - 1  # the largest BIGINT sequence number


def _is_number(raw: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits."""
    return raw.isascii() and raw.isdigit()


def parse_duration_ms(raw: str, name: str) -> int:
    """'90s', '15m', '24h', '7d', '2w' → milliseconds."""
    match = _DURATION.match(raw.strip())
    if not match or int(match.group(1)) == 0:
        raise ClientError(400, f"{name}: {raw[:40]!r} is not a duration like 15m, 24h or 7d", field=name)
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_time(raw: str | None, name: str, now_ms: int) -> int | None:
    """An ISO 8601 date, an epoch number, or a duration meaning that long ago."""
    if raw is None or raw == "":
        return None
    if _DURATION.match(raw.strip()):
        return now_ms - parse_duration_ms(raw, name)
    try:
        return parse_timestamp(raw, name)
    except ClientError:
        raise ClientError(
            400,
            f"{name}: {raw[:40]!r} is not an ISO 8601 date, epoch number or duration like 24h",
            field=name,
        ) from None


def parse_limit(raw: str | None, default: int = 100, maximum: int = 1000) -> int:
    if raw is None or raw == "":
        return default
    if not _is_number(raw) or not 1 <= int(raw) <= maximum:
        raise ClientError(400, f"limit: must be a whole number from 1 to {maximum}", field="limit")
    return int(raw)


def parse_cursor(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not _is_number(raw) or int(raw) > _MAX_CURSOR:
        raise ClientError(400, "cursor: not a cursor this API returned", field="cursor")
    return int(raw)


def parse_step_minutes(raw: str | None) -> int:
    if raw is None or raw == "":
        return 60
    ms = parse_duration_ms(raw, "step")
    if ms % 60_000:
        raise ClientError(400, "step: must be a whole number of minutes (1m, 5m, 1h, 1d)", field="step")
    return ms // 60_000
