"""The page shell's state: navigation, the project switcher and the time range, all in the URL.

Which project and time range a page shows lives in its query string (`?project=&range=`),
so a view can be bookmarked, shared and reloaded, and the navigation links carry it
from page to page. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from syncmon.store.projects import Project

# Range key → minutes; the picker offers them in this order.
RANGES: dict[str, int] = {"15m": 15, "1h": 60, "6h": 360, "24h": 1440, "7d": 10_080, "30d": 43_200}
RANGE_LABELS = {
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}
DEFAULT_RANGE = "1h"


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    label: str
    path: str
    keeps_query: bool = True


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("overview", "Overview", "/overview"),
    NavItem("security", "Security", "/security"),
    NavItem("errors", "Errors", "/errors"),
    NavItem("performance", "Performance", "/performance"),
    NavItem("analytics", "Analytics", "/analytics"),
    NavItem("alerts", "Alerts", "/alerts"),
    NavItem("settings", "Settings", "/settings/users", keeps_query=False),
)


@dataclass(frozen=True, slots=True)
class ShellState:
    """What the shell shows: the projects to switch between, the chosen one, the range."""

    projects: tuple[Project, ...]
    project: Project | None
    range_key: str
    unknown_project: str | None = None
    unknown_range: str | None = None

    @property
    def range_minutes(self) -> int:
        return RANGES[self.range_key]

    @property
    def range_label(self) -> str:
        return RANGE_LABELS[self.range_key]

    def query(self, **changes: str | None) -> str:
        """The query string for this state with `changes` applied ('' when empty)."""
        values: dict[str, str | None] = {
            "project": self.project.slug if self.project else None,
            "range": self.range_key if self.range_key != DEFAULT_RANGE else None,
        }
        values.update(changes)
        kept = {key: value for key, value in values.items() if value}
        return f"?{urlencode(kept)}" if kept else ""

    def href(self, item: NavItem) -> str:
        return item.path + (self.query() if item.keeps_query else "")

    @property
    def range_choices(self) -> list[tuple[str, str]]:
        return [(key, RANGE_LABELS[key]) for key in RANGES]


def shell_state(params: Mapping[str, str], projects: Sequence[Project]) -> ShellState:
    """Read `project` (slug) and `range` from a query; unknown values fall back, and are named."""
    wanted = (params.get("project") or "").strip()
    chosen = next((p for p in projects if p.slug == wanted), None) if wanted else None
    range_key = (params.get("range") or DEFAULT_RANGE).strip()
    unknown_range = None
    if range_key not in RANGES:
        unknown_range, range_key = range_key[:40], DEFAULT_RANGE
    return ShellState(
        projects=tuple(projects),
        project=chosen,
        range_key=range_key,
        unknown_project=wanted[:80] if wanted and chosen is None else None,
        unknown_range=unknown_range,
    )
