"""What the alerting configuration endpoints share: ids in paths, project references, and one
create / read / replace / delete shape for every configuration resource.

Any token reads; writing needs an admin token (viewers get 403); every write is recorded
in the audit log in the same transaction, through the writer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.http_errors import ClientError
from syncmon.store import accounts, projects
from syncmon.web.alerting_payloads import parse_body
from syncmon.web.api import Caller, error_response, require_token
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]
Values = dict[str, Any]


def path_id(request: Request, name: str, what: str) -> int:
    raw = str(request.path_params[name])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ClientError(404, f"{what} {raw[:32]!r} not found")
    return int(raw)


def project_id(conn: Connection, ref: str | None, field: str = "project") -> int | None:
    if ref is None:
        return None
    found = projects.find_project(conn, ref)
    if found is None:
        raise ClientError(400, f"{field}: there is no project {ref[:64]!r}", field=field)
    return found.id


def guarded(fn: Handler) -> Handler:
    """Render a ClientError raised anywhere in the handler as its JSON 4xx."""

    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except ClientError as exc:
            return error_response(exc)

    return handler


async def admin_caller(services: Services, request: Request) -> Caller:
    caller = await require_token(services, request)
    caller.require_admin()
    return caller


def audit(services: Services, conn: Connection, caller: Caller, action: str, target: str) -> None:
    accounts.record_audit(conn, services.clock.now_ms(), caller.actor, action, target)


@dataclass(frozen=True)
class Resource(Generic[M]):
    """A configuration resource at `path` and `path/{id}`."""

    path: str
    noun: str  # "maintenance window": for messages
    kind: str  # "maintenance": for the audit log
    model: type[M]
    values: Callable[[Connection, M, Caller, int], Values]  # the body as column values; may refuse
    save: Callable[[Connection, int | None, Values, int], int | None]  # create (None) or replace
    describe: Callable[[Connection, int, int], dict[str, Any] | None]
    delete: Callable[[Connection, int], bool]
    check: Callable[[Connection, Values], dict[str, Any]] | None = None  # extra answer fields (warnings)


def saving(
    services: Services, res: Resource[M], item_id: int | None, body: M, caller: Caller
) -> Callable[[Connection], dict[str, Any] | None]:
    """The write that creates (`item_id` None) or replaces an item with its audit row; it
    answers the item as described (with `check`'s extra fields), or None for a missing item.
    The API and the dashboard's forms both write through it."""
    now = services.clock.now_ms()

    def run(conn: Connection) -> dict[str, Any] | None:
        values = res.values(conn, body, caller, now)
        extra = res.check(conn, values) if res.check else {}
        saved = res.save(conn, item_id, values, now)
        if saved is None:
            return None
        action = f"{res.kind}.{'create' if item_id is None else 'update'}"
        audit(services, conn, caller, action, f"{res.kind}:{saved}")
        return {**(res.describe(conn, saved, now) or {}), **extra}

    return run


def deleting(
    services: Services, res: Resource[M], item_id: int, caller: Caller
) -> Callable[[Connection], bool]:
    """The write that deletes an item with its audit row; False when there was none."""

    def run(conn: Connection) -> bool:
        deleted = res.delete(conn, item_id)
        if deleted:
            audit(services, conn, caller, f"{res.kind}.delete", f"{res.kind}:{item_id}")
        return deleted

    return run


def crud_routes(services: Services, res: Resource[M]) -> list[Route]:
    """POST path, GET/PUT/DELETE path/{id} (the listing differs per resource)."""

    def missing(item_id: int) -> ClientError:
        return ClientError(404, f"{res.noun} {item_id} not found")

    async def create(request: Request) -> Response:
        caller = await admin_caller(services, request)
        body = parse_body(await request.body(), res.model)
        return JSONResponse(
            await services.writer.run(saving(services, res, None, body, caller)), status_code=201
        )

    async def read(request: Request) -> Response:
        await require_token(services, request)
        item_id = path_id(request, "item_id", res.noun)
        now = services.clock.now_ms()
        found = await services.read(lambda conn: res.describe(conn, item_id, now))
        if found is None:
            raise missing(item_id)
        return JSONResponse(found)

    async def replace(request: Request) -> Response:
        caller = await admin_caller(services, request)
        item_id = path_id(request, "item_id", res.noun)
        body = parse_body(await request.body(), res.model)
        found = await services.writer.run(saving(services, res, item_id, body, caller))
        if found is None:
            raise missing(item_id)
        return JSONResponse(found)

    async def delete(request: Request) -> Response:
        caller = await admin_caller(services, request)
        item_id = path_id(request, "item_id", res.noun)
        if not await services.writer.run(deleting(services, res, item_id, caller)):
            raise missing(item_id)
        return Response(status_code=204)

    return [
        Route(res.path, guarded(create), methods=["POST"]),
        Route(res.path + "/{item_id}", guarded(read), methods=["GET"]),
        Route(res.path + "/{item_id}", guarded(replace), methods=["PUT"]),
        Route(res.path + "/{item_id}", guarded(delete), methods=["DELETE"]),
    ]
