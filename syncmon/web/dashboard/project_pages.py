"""Settings → Projects: each project's public key, install snippets, allowed origins and retention.

- `GET /settings/projects` — every project with its public key and DSN, the snippets that
  send data here (syncmon.js, posthog-js, a Sentry SDK, the Python SDK), its allowed
  origins and scrubbed fields, and how long events are kept;
- `POST /settings/projects/<id>/rotate` (admins) — new public and secret keys; the new
  secret key is shown once, in the reply, and the change is audit-logged and recorded as
  an `authz_admin` security event of the monitor's own project.

The secret key is otherwise never shown: it authenticates servers and belongs in their
configuration (`syncmon project list` prints it on the host).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmon.events import Level
from syncmon.store import accounts, projects
from syncmon.store.projects import Project
from syncmon.web.dashboard.context import Dashboard, caller_of
from syncmon.web.dashboard.section_support import public_url

NO_STORE = {"Cache-Control": "no-store"}


def routes(dash: Dashboard) -> list[Route]:
    services = dash.services
    settings = services.settings

    async def projects_page(
        request: Request, *, error: str | None = None, status: int = 200, extra: dict[str, Any] | None = None
    ) -> Response:
        found = await services.read(projects.list_projects)
        context: dict[str, Any] = {
            "projects": found,
            "public_url": public_url(dash, request),
            "retention_days": settings.retention_days,
            "rollup_retention_days": settings.rollup_retention_days,
            "active_tab": "projects",
            "error": error,
            **(extra or {}),
        }
        return await dash.renderer.page(
            request, "settings/projects.html", context, status=status, active="settings", headers=NO_STORE
        )

    async def show_projects(request: Request) -> Response:
        return await projects_page(request)

    async def rotate(request: Request) -> Response:
        raw = request.path_params.get("project_id", "")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
            return await projects_page(request, error=f"no project {raw[:20]!r}", status=404)
        project_id = int(raw)
        actor = caller_of(request).actor
        now = dash.now()

        def apply(conn: Connection) -> Project | None:
            project = projects.get_project(conn, project_id)
            if project is None:
                return None
            rotated = projects.rotate_keys(conn, project.slug)
            accounts.record_audit(conn, now, actor, "project.rotate_key", rotated.slug)
            return rotated

        rotated = await services.writer.run(apply)
        if rotated is None:
            return await projects_page(request, error=f"no project {project_id}", status=404)
        await dash.recorder.emit(
            "authz_admin",
            dash.origin(request),
            actor,
            level=Level.WARNING,
            message=f"keys of project {rotated.slug} rotated",
            details={"actor": actor, "target": f"project:{rotated.slug}", "change": "project_rotate_key"},
        )
        extra = {
            "rotated": rotated,
            "notice": f"New keys for {rotated.name}; the old ones no longer work.",
        }
        return await projects_page(request, extra=extra)

    return [
        Route("/settings/projects", show_projects, methods=["GET"]),
        Route("/settings/projects/{project_id}/rotate", rotate, methods=["POST"]),
    ]
