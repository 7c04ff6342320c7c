"""Reading the dashboard's HTML forms (application/x-www-form-urlencoded), bounded.

The dashboard's forms are small; parsing them here keeps a multipart parser out of the
server, and the size limit keeps a client from making the server buffer megabytes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from syncmon.http_errors import ClientError

MAX_FORM_BYTES = 65_536
MAX_FIELDS = 100
FORM_TYPE = "application/x-www-form-urlencoded"
STATE_KEY = "form"


def parse_form(body: bytes) -> dict[str, str]:
    """First value of each field; bytes that are not UTF-8 are replaced, not refused."""
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise ClientError(413, f"form: more than {MAX_FIELDS} fields", field="form") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def is_form(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == FORM_TYPE


async def read_limited(request: Request, limit: int = MAX_FORM_BYTES) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ClientError(413, f"form: larger than {limit} bytes", field="form")
        chunks.append(chunk)
    return b"".join(chunks)


async def form_of(request: Request) -> dict[str, str]:
    """The request's form: parsed once by the access guard (for its CSRF check) or here."""
    state: dict[str, Any] = request.scope.setdefault("state", {})
    cached = state.get(STATE_KEY)
    if isinstance(cached, dict):
        return cached
    if not is_form(request.headers.get("content-type")):
        raise ClientError(415, f"send the form as {FORM_TYPE}", field="form")
    form = parse_form(await read_limited(request))
    state[STATE_KEY] = form
    return form
