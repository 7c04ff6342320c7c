"""What the alerting configuration pages share: ids in paths, refusals from the writer, and
reading the small typed values of HTML forms into the shapes the API's checks take."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection
from starlette.requests import Request

from syncmon.http_errors import ClientError

if TYPE_CHECKING:
    from syncmon.app import Services

T = TypeVar("T")
NO_STORE = {"Cache-Control": "no-store"}


def path_id(request: Request, name: str, noun: str) -> int:
    raw = request.path_params.get(name, "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ClientError(404, f"there is no {noun} {raw[:20]!r}")
    return int(raw)


def whole_number(raw: str) -> int | str | None:
    """A form's number field for the API's checks: blank is None, digits an int, and anything
    else stays text, so the check refuses it with its own message."""
    text = raw.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and len(text) <= 12:
        return int(text)
    return text


def checked(form: dict[str, str], name: str) -> bool:
    """A checkbox: sent (with any value) when ticked, absent when not."""
    return name in form


async def write_refusing(services: Services, fn: Callable[[Connection], T]) -> T:
    """Run `fn(conn)` on the writer; a ClientError rolls its transaction back and is raised
    here, without being logged as a failed write."""

    def guarded(conn: Connection) -> T | ClientError:
        try:
            with conn.begin_nested():
                return fn(conn)
        except ClientError as exc:
            return exc

    result = await services.writer.run(guarded)
    if isinstance(result, ClientError):
        raise result
    return result


def form_error(exc: ClientError | None) -> dict[str, Any]:
    """The context a form page shows a refusal with, beside the form: the message and the
    field it names (both None without one)."""
    return {"form_error": exc.message if exc else None, "error_field": exc.field if exc else None}
