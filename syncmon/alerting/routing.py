"""The routing tree: which route (and so which escalation policy and timers) an alert takes.

Alertmanager's semantics: the root matches every alert; children are tried in order and
the first whose matchers match takes the alert, unless it has `continue`, in which case
the next matching siblings take it too; a node with no matching child handles the alert
itself. Settings a child leaves unset are inherited from its parent.

The root is built in: it groups by project and alertname, sends to the project's default
escalation policy and picks its group_wait by severity (0 s for critical, so a CRITICAL
is notified at once; 30 s for warning and info, so a burst is one message).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from syncmon.alerting.model import Matcher, Severity, matches_all

ROOT_ID = 0
GROUP_BY_ALL = "..."
DEFAULT_GROUP_BY: tuple[str, ...] = ("project", "alertname")
DEFAULT_GROUP_INTERVAL_MS = 5 * 60_000
DEFAULT_REPEAT_INTERVAL_MS = 4 * 3_600_000
SEVERITY_GROUP_WAIT_MS = {Severity.CRITICAL: 0, Severity.WARNING: 30_000, Severity.INFO: 30_000}


@dataclass(frozen=True, slots=True)
class Timers:
    """Alertmanager's three timers. group_wait None means "by severity" (SEVERITY_GROUP_WAIT_MS)."""

    group_wait_ms: int | None = None
    group_interval_ms: int = DEFAULT_GROUP_INTERVAL_MS
    repeat_interval_ms: int = DEFAULT_REPEAT_INTERVAL_MS

    def wait_for(self, severity: Severity) -> int:
        return self.group_wait_ms if self.group_wait_ms is not None else SEVERITY_GROUP_WAIT_MS[severity]


@dataclass(frozen=True, slots=True)
class RouteNode:
    """One route as configured: None in a setting means "inherit from the parent"."""

    id: int
    name: str = ""
    matchers: tuple[Matcher, ...] = ()
    continue_matching: bool = False
    group_by: tuple[str, ...] | None = None
    group_wait_ms: int | None = None
    group_interval_ms: int | None = None
    repeat_interval_ms: int | None = None
    policy_id: int | None = None
    children: tuple[RouteNode, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The effective settings of the route an alert took. policy_id None: the project's default."""

    route_id: int
    receiver: str
    group_by: tuple[str, ...]
    timers: Timers
    policy_id: int | None

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if GROUP_BY_ALL in self.group_by:
            return dict(labels)
        return {name: labels.get(name, "") for name in self.group_by}


def root_match() -> RouteMatch:
    return RouteMatch(ROOT_ID, "default", DEFAULT_GROUP_BY, Timers(), None)


def _inherit(parent: RouteMatch, node: RouteNode) -> RouteMatch:
    timers = parent.timers
    if node.group_wait_ms is not None:
        timers = replace(timers, group_wait_ms=node.group_wait_ms)
    if node.group_interval_ms is not None:
        timers = replace(timers, group_interval_ms=node.group_interval_ms)
    if node.repeat_interval_ms is not None:
        timers = replace(timers, repeat_interval_ms=node.repeat_interval_ms)
    return RouteMatch(
        route_id=node.id,
        receiver=node.name or f"route-{node.id}",
        group_by=node.group_by if node.group_by is not None else parent.group_by,
        timers=timers,
        policy_id=node.policy_id if node.policy_id is not None else parent.policy_id,
    )


def _walk(node: RouteNode, settings: RouteMatch, labels: dict[str, str]) -> list[RouteMatch]:
    found: list[RouteMatch] = []
    for child in node.children:
        if not matches_all(child.matchers, labels):
            continue
        found.extend(_walk(child, _inherit(settings, child), labels))
        if not child.continue_matching:
            break
    return found or [settings]


def route(root: RouteNode, labels: dict[str, str]) -> list[RouteMatch]:
    """Every route the alert takes, in tree order (more than one only through `continue`)."""
    return _walk(root, root_match(), labels)


def build_tree(nodes: list[tuple[int | None, int, RouteNode]]) -> RouteNode:
    """The tree from stored rows (parent id or None for the root's children, position, node).

    Rows whose parent does not exist are attached nowhere: a dangling route must not take
    alerts away from the routes around it.
    """
    by_parent: dict[int | None, list[tuple[int, int, RouteNode]]] = {}
    for parent, position, node in nodes:
        by_parent.setdefault(parent, []).append((position, node.id, node))

    def attach(node_id: int | None, seen: frozenset[int]) -> tuple[RouteNode, ...]:
        rows = sorted(by_parent.get(node_id, []), key=lambda item: (item[0], item[1]))
        return tuple(
            replace(node, children=attach(node.id, seen | {node.id}))
            for _, _, node in rows
            if node.id not in seen
        )

    return RouteNode(id=ROOT_ID, name="default", children=attach(None, frozenset()))
