"""What the section pages share: their live stream, the server's public URL, text parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlencode

from starlette.requests import Request

from syncmon.web.dashboard.context import Dashboard
from syncmon.web.dashboard.shell import ShellState

# Control characters never belong in a search or a name, and PostgreSQL refuses NUL outright.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def live_url(shell: ShellState) -> str:
    """The live stream of the shown project (of every project when none is chosen)."""
    return "/live" + (f"?{urlencode({'project': shell.project.slug})}" if shell.project else "")


def public_url(dash: Dashboard, request: Request) -> str:
    """Where applications reach this server: the configured public URL, else this request's."""
    return dash.services.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")


def text_param(params: Mapping[str, str], name: str, limit: int) -> str | None:
    """A free-text query parameter, stripped, without control characters, clipped; None if empty."""
    cleaned = _CONTROL.sub("", params.get(name) or "").strip()[:limit]
    return cleaned or None
