"""One HTTP POST → one Delivery: the status-code rules every HTTP channel shares.

2xx is delivered; 408, 425, 429 and 5xx are worth retrying (honouring `Retry-After`);
any other 4xx means the request itself is wrong, so retrying cannot help. Transport
errors (refused connection, timeout, TLS) are retried. Nothing here raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from syncmon.channels.base import Delivery

RETRYABLE_STATUS = frozenset({408, 425, 429})
DETAIL_CHARS = 500


def clean(text: str, limit: int = DETAIL_CHARS) -> str:
    """Printable, bounded text for the delivery log (PostgreSQL text refuses NUL)."""
    text = text.replace("\x00", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date read against the response's Date."""
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
        sent = parsedate_to_datetime(headers["date"]) if headers.get("date") else None
    except (TypeError, ValueError, IndexError):
        return None
    if sent is None or when.tzinfo is None or sent.tzinfo is None:
        return None
    return max(0.0, (when - sent).total_seconds())


def delivery_for_response(response: httpx.Response, *, ok_statuses: frozenset[int] | None = None) -> Delivery:
    status = response.status_code
    body = clean(response.text)
    info: dict[str, Any] = {"status_code": status, "body": body}
    ok = status in ok_statuses if ok_statuses else 200 <= status < 300
    if ok:
        return Delivery(ok=True, detail=f"HTTP {status}", retry=False, response=info)
    retry = status in RETRYABLE_STATUS or status >= 500
    after = retry_after_seconds(response.headers) if retry else None
    detail = f"HTTP {status}: {body}" if body else f"HTTP {status}"
    return Delivery(ok=False, detail=clean(detail), retry=retry, retry_after_s=after, response=info)


def delivery_for_error(exc: Exception) -> Delivery:
    """A transport failure: the receiver may be down or slow, so retry."""
    kind = type(exc).__name__
    message = str(exc) or kind
    return Delivery(ok=False, detail=clean(f"{kind}: {message}"), retry=True)


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    ok_statuses: frozenset[int] | None = None,
    timeout: float = 10.0,
    **kwargs: Any,
) -> Delivery:
    """POST and classify; `kwargs` go to httpx (json=, content=, data=, headers=, auth=)."""
    try:
        response = await client.post(url, timeout=timeout, **kwargs)
    except httpx.InvalidURL as exc:
        return Delivery(ok=False, detail=clean(f"invalid URL: {exc}"), retry=False)
    except httpx.HTTPError as exc:
        return delivery_for_error(exc)
    return delivery_for_response(response, ok_statuses=ok_statuses)
