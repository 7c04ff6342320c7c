"""Per-project detector configuration over HTTP.

- `GET /api/v1/security/detectors?project=` (any token): every rule with its defaults,
  the project's overrides and the effective values, whether it runs, and what each
  parameter accepts;
- `PUT /api/v1/security/detectors/{rule}?project=` (admin token): replace the rule's
  configuration with `{"enabled": true|false, "parameters": {"name": value, …}}` (both
  optional: enabled by default, no overrides by default);
- `DELETE /api/v1/security/detectors/{rule}?project=` (admin token): back to the defaults.

Changes are audited and applied to the running detectors at once: the changed rule of that
project is rebuilt, nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.http_errors import ClientError
from syncmon.security import config_store
from syncmon.security.detector_config import DEFAULT, ConfigError, RuleConfig, check_rule, describe, validate
from syncmon.security.registry import RULES
from syncmon.store.projects import Project
from syncmon.web.api import Caller, error_response, project_param, require_token
from syncmon.web.responses import JSONResponse

if TYPE_CHECKING:
    from syncmon.app import Services

MAX_BODY_BYTES = 64 * 1024
BODY_KEYS = {"enabled", "parameters"}


def _listing(rule: str, stored: config_store.StoredRule | None) -> dict[str, Any]:
    item = describe(rule, stored.config if stored else DEFAULT)
    item["updated"] = {"time": stored.updated_ms / 1000.0, "by": stored.updated_by} if stored else None
    return item


def _body(raw: bytes) -> tuple[object, object]:
    """(enabled, parameters) from a PUT body, or ClientError."""
    if len(raw) > MAX_BODY_BYTES:
        raise ClientError(413, f"body: larger than {MAX_BODY_BYTES} bytes")
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ClientError(400, 'body: must be an object like {"enabled": true, "parameters": {}}')
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise ClientError(400, f"{unknown[0][:64]}: unknown field; the body has enabled and parameters")
    return body.get("enabled", True), body.get("parameters", {})


def routes(services: Services) -> list[Route]:
    async def caller_and_project(request: Request, admin: bool) -> tuple[Caller, Project]:
        caller = await require_token(services, request)
        if admin:
            caller.require_admin()
        project = await project_param(services, request, required=True)
        assert project is not None
        return caller, project

    async def list_detectors(request: Request) -> Response:
        try:
            _, project = await caller_and_project(request, admin=False)
        except ClientError as exc:
            return error_response(exc)
        stored = await services.read(lambda conn: config_store.load_project(conn, project.id))
        return JSONResponse(
            {"project": project.slug, "detectors": [_listing(rule, stored.get(rule)) for rule in RULES]}
        )

    async def change(request: Request, reset: bool) -> Response:
        rule = str(request.path_params["rule"])
        try:
            caller, project = await caller_and_project(request, admin=True)
            check_rule(rule)
            config = RuleConfig()
            if not reset:
                enabled, parameters = _body(await request.body())
                config = validate(rule, enabled, parameters)
        except ConfigError as exc:
            return error_response(ClientError(400, str(exc), field=exc.field))
        except ClientError as exc:
            return error_response(exc)
        now = services.clock.now_ms()

        def write(conn: Any) -> dict[str, config_store.StoredRule]:
            if reset:
                config_store.reset(conn, project.id, project.slug, rule, caller.actor, now)
            else:
                config_store.save(conn, project.id, project.slug, rule, config, caller.actor, now)
            return config_store.load_project(conn, project.id)

        stored = await services.writer.run(write)
        services.security.configure(project.id, {name: s.config for name, s in stored.items()})
        return JSONResponse({"project": project.slug, **_listing(rule, stored.get(rule))})

    async def put_detector(request: Request) -> Response:
        return await change(request, reset=False)

    async def delete_detector(request: Request) -> Response:
        return await change(request, reset=True)

    return [
        Route("/api/v1/security/detectors", list_detectors, methods=["GET"]),
        Route("/api/v1/security/detectors/{rule}", put_detector, methods=["PUT"]),
        Route("/api/v1/security/detectors/{rule}", delete_detector, methods=["DELETE"]),
    ]
