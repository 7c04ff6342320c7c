"""Rendering pages: Jinja2 with autoescaping on for every template, and the shell's context.

Every value a template prints is escaped unless a view marks it safe, and views mark
only markup the server drew itself (the QR code). Ingested strings — messages, URLs,
user agents, properties — therefore arrive in the browser as text, never as markup.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from syncmon.store import projects
from syncmon.web.auth.session import ActiveSession
from syncmon.web.dashboard.shell import NAVIGATION, ShellState, shell_state

if TYPE_CHECKING:
    from syncmon.app import Services

ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def format_time(ms: int | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def load_assets() -> dict[str, tuple[bytes, str, str]]:
    """name → (content, content type, version) of the files under syncmon/web/assets/."""
    folder = resources.files("syncmon.web").joinpath("assets")
    found: dict[str, tuple[bytes, str, str]] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in ASSET_TYPES:
            content = entry.read_bytes()
            found[entry.name] = (content, ASSET_TYPES[suffix], hashlib.sha256(content).hexdigest()[:12])
    return found


class Renderer:
    def __init__(self, services: Services) -> None:
        self._services = services
        self.assets = load_assets()
        self.env = Environment(
            loader=PackageLoader("syncmon.web", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(time=format_time, number=format_number, percent=format_percent)
        self.env.globals.update(asset=self.asset_url, navigation=NAVIGATION)

    def asset_url(self, name: str) -> str:
        version = self.assets[name][2]
        return f"/assets/{name}?v={version}"

    async def shell(self, request: Request) -> ShellState:
        found = await self._services.read(projects.list_projects)
        return shell_state(request.query_params, found)

    async def page(
        self,
        request: Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
        active: str = "",
        headers: dict[str, str] | None = None,
    ) -> Response:
        """A page of the shell, for a logged-in user (or a bare page when there is none)."""
        state: dict[str, Any] = request.scope.get("state", {})
        session = state.get("session")
        caller = state.get("caller")
        values: dict[str, Any] = {
            "request_path": request.url.path,
            "session": session if isinstance(session, ActiveSession) else None,
            "user": session.user if isinstance(session, ActiveSession) else None,
            "caller": caller,
            "is_admin": getattr(caller, "role", None) == "admin",
            "csrf_token": session.csrf_token if isinstance(session, ActiveSession) else "",
            "active": active,
            "shell": None,
            "notice": None,
            "error": None,
        }
        if values["user"] is not None:
            values["shell"] = await self.shell(request)
        values.update(context or {})
        html = self.env.get_template(template).render(values)
        return HTMLResponse(html, status_code=status, headers=headers)

    async def error_page(self, request: Request, status: int, message: str) -> Response:
        titles = {401: "Not logged in", 403: "Not allowed", 404: "Not found", 413: "Too large"}
        return await self.page(
            request,
            "error.html",
            {"title": titles.get(status, "Request refused"), "message": message},
            status=status,
        )
