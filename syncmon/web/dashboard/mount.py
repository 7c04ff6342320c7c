"""Everything behind the access guard in one place: the API routes and the dashboard.

`guarded(services, public_routes, api_routes)` returns one Mount that takes every
request the public (ingest and health) routes before it do not match, not even by path
alone: so a wrong method on a public route still gets that route's 405. Its router holds
the read API and every page;
the guard in front of it authenticates, checks CSRF and roles and adds the security
headers. A route added to this router is therefore guarded without further ado; a route
added outside it is public (tests/web/test_access_routes.py lists which may be).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import Receive, Scope, Send

from syncmon.web.auth.guard import AccessGuard, wants_json
from syncmon.web.dashboard import (
    account_pages,
    alert_config_pages,
    alert_pages,
    analytics_pages,
    assets,
    error_pages,
    live,
    login_pages,
    pages,
    performance_pages,
    project_pages,
    security_pages,
    settings_pages,
)
from syncmon.web.dashboard.context import Dashboard

if TYPE_CHECKING:
    from syncmon.app import Services


class GuardedArea(Mount):
    """A Mount at "" that yields to the public routes, also when only their path matches."""

    def __init__(self, app: Router, middleware: Sequence[Middleware], public: Sequence[BaseRoute]) -> None:
        super().__init__("", app=app, middleware=middleware)
        self.public = list(public)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if any(route.matches(scope)[0] is not Match.NONE for route in self.public):
            return Match.NONE, {}
        return super().matches(scope)


def guarded(services: Services, public: Sequence[BaseRoute], api_routes: Sequence[BaseRoute]) -> GuardedArea:
    dash = Dashboard.build(services)
    routes: list[BaseRoute] = [
        *api_routes,
        *login_pages.routes(dash),
        *account_pages.routes(dash),
        *settings_pages.routes(dash),
        *project_pages.routes(dash),
        *pages.routes(dash),
        *alert_pages.routes(dash),
        *alert_config_pages.routes(dash),
        *security_pages.routes(dash),
        *error_pages.routes(dash),
        *performance_pages.routes(dash),
        *analytics_pages.routes(dash),
        *live.routes(dash),
        *assets.routes(dash),
    ]

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if wants_json(request.url.path):
            raise HTTPException(status_code=404)
        response = await dash.renderer.error_page(
            request, 404, f"There is no page at {request.url.path[:200]}."
        )
        await response(scope, receive, send)

    guard = Middleware(
        AccessGuard,
        services=services,
        sessions=dash.sessions,
        recorder=dash.recorder,
        routes=routes,
        error_page=dash.renderer.error_page,
    )
    return GuardedArea(Router(routes=routes, default=not_found), [guard], public)
