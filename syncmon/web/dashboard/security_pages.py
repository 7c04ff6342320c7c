"""The Security page (the seed's `/admin/security-dashboard`), a subject's timeline and a
detection with its evidence.

- `GET /admin/security-dashboard?project=&range=&category=` — the seed's cards, the threat
  level with its explanation, security events by category (rollups), detections, top
  offending IPs and accounts and the recent security events;
- `GET /admin/security-dashboard?subject=<ip or account>[&subject_type=ip|account]` — one
  subject's events and detections in the range, and its own threat level;
- `GET /admin/security-dashboard/detections/<id>` — one detection and its evidence events;
- `GET /security` — the navigation's entry, redirected to the page above.

Everyone logged in may look; nothing here changes anything.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syncmon.security.vocabulary import Category
from syncmon.store.projects import Project
from syncmon.web.dashboard import security_data as data
from syncmon.web.dashboard import security_subjects as subjects
from syncmon.web.dashboard.context import Dashboard
from syncmon.web.dashboard.section_support import live_url, public_url, text_param
from syncmon.web.dashboard.shell import ShellState

PATH = "/admin/security-dashboard"
SHOWN_DETECTIONS = 50


def shown_projects(shell: ShellState) -> list[Project]:
    return [shell.project] if shell.project else list(shell.projects)


def formatters(span: data.Span) -> dict[str, Any]:
    """Time helpers the templates call: a duration, and how long ago (server time)."""
    return {"duration": data.format_duration, "ago": lambda ms: data.format_ago(ms, span.now_ms)}


def routes(dash: Dashboard) -> list[Route]:
    settings = dash.services.settings

    def span_of(shell: ShellState) -> data.Span:
        return data.Span(dash.now(), shell.range_minutes, settings.threat_window_seconds * 1000)

    async def nav_entry(request: Request) -> Response:
        query = urlencode(list(request.query_params.multi_items()))
        return RedirectResponse(PATH + (f"?{query}" if query else ""), status_code=303)

    async def overview(request: Request, shell: ShellState) -> Response:
        span = span_of(shell)
        projects = shown_projects(shell)
        ids = [project.id for project in projects]
        raw_category = text_param(request.query_params, "category", 40) or ""
        category = Category(raw_category) if raw_category in set(Category) else None
        step = data.chart_step(span.range_minutes)

        def load(conn: Connection) -> dict[str, Any]:
            threats, open_by_project = data.project_threats(conn, projects, span)
            open_found = [d for project in projects for d in open_by_project[project.id]]
            summary = data.summarize(data.security_rows(conn, ids, span, step), open_found, span, step)
            listed = data.detections_since(conn, projects, min(span.since_ms, span.threat_since_ms), span)
            return {
                "summary": summary,
                "threats": threats,
                "detections": listed[:SHOWN_DETECTIONS],
                "detections_total": len(listed),
                "offenders": subjects.offenders(
                    conn,
                    ids,
                    span.since_ms,
                    span.now_ms,
                    [row for row in listed if row.detection.last_ms >= span.since_ms],
                    dash.subjects,
                ),
                "events": data.recent_events(
                    conn, shell.projects, shell.project.id if shell.project else None, span.since_ms, category
                ),
                "ever": data.has_security_events(conn, ids),
            }

        loaded = await dash.services.read(load)
        context = {
            **loaded,
            "category": category,
            "categories": [(c.value, data.CATEGORY_LABELS[c]) for c in Category],
            "error": f"“{raw_category[:40]}” is not a category; showing every category."
            if raw_category and category is None
            else None,
            "threat_window_minutes": settings.threat_window_seconds // 60,
            "public_url": public_url(dash, request),
            "live_url": live_url(shell),
            "path": PATH,
            **formatters(span),
        }
        return await dash.renderer.page(request, "security.html", context, active="security")

    async def timeline(request: Request, shell: ShellState, subject: str) -> Response:
        span = span_of(shell)
        wanted = text_param(request.query_params, "subject_type", 40) or ""
        subject_type = wanted if wanted in subjects.SUBJECT_TYPES else subjects.subject_type_of(subject)
        view = await dash.services.read(
            lambda conn: subjects.subject_view(
                conn,
                shell.projects if shell.project is None else [shell.project],
                shell.project.id if shell.project else None,
                subject_type,
                subject,
                span,
            )
        )
        context = {
            "view": view,
            "error": f"“{wanted[:40]}” is not a subject type (ip or account); treating it as {subject_type}."
            if wanted and wanted not in subjects.SUBJECT_TYPES
            else None,
            "threat_window_minutes": settings.threat_window_seconds // 60,
            "live_url": live_url(shell),
            "path": PATH,
            **formatters(span),
        }
        return await dash.renderer.page(request, "security_subject.html", context, active="security")

    async def page(request: Request) -> Response:
        shell = await dash.renderer.shell(request)
        subject = text_param(request.query_params, "subject", 200)
        if subject:
            return await timeline(request, shell, subject)
        return await overview(request, shell)

    async def detection(request: Request) -> Response:
        raw = str(request.path_params["detection_id"])
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            return await dash.renderer.error_page(request, 404, f"There is no detection {raw[:20]!r}.")
        shell = await dash.renderer.shell(request)
        span = span_of(shell)

        def load(conn: Connection) -> dict[str, Any] | None:
            found = subjects.detection_by_id(conn, int(raw))
            if found is None:
                return None
            detection, project_id = found
            names = {project.id: project.name for project in shell.projects}
            return {
                "detection": detection,
                "project_name": names.get(project_id, str(project_id)),
                "details": data.detail_pairs(detection.details),
                "evidence": [
                    data.event_row(e, names) for e in subjects.evidence_events(conn, detection.evidence)
                ],
            }

        loaded = await dash.services.read(load)
        if loaded is None:
            return await dash.renderer.error_page(request, 404, f"There is no detection {raw}.")
        context = {
            **loaded,
            "detection_id": int(raw),
            "open": loaded["detection"].last_ms >= span.threat_since_ms,
            "threat_window_minutes": settings.threat_window_seconds // 60,
            "path": PATH,
            **formatters(span),
        }
        return await dash.renderer.page(request, "security_detection.html", context, active="security")

    return [
        Route("/security", nav_entry, methods=["GET"]),
        Route(PATH, page, methods=["GET"]),
        Route(PATH + "/detections/{detection_id}", detection, methods=["GET"]),
    ]
