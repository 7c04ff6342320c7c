"""Which events a rule reads: selectors and filters compiled into one cheap predicate.

A rule's `select` (kind, names, level, status, platform, security class) and its
`filter` (environment, release, route, event labels) become a single function over an
Event, built once per rule with only the checks the rule asks for, so the engine can
afford to run it for every event of the rule's project and kind.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

from syncmon.alerting.spec import EventFilter, EventSelector
from syncmon.events import Event, Kind
from syncmon.metrics.sketch_rollups import event_page, route_name
from syncmon.security.vocabulary import seed_alert_name

LEVEL_RANK = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
# The seed's ErrorMonitoring posts these types from the browser without a platform field.
BROWSER_ERROR_TYPES = frozenset({"javascript_error", "unhandled_promise_rejection", "csp_violation"})

Predicate = Callable[[Event], bool]


def status_of(event: Event) -> int | None:
    """The HTTP status of a request event (the payload keeps what ingest validated)."""
    status = event.data.get("status") if isinstance(event.data, dict) else None
    if isinstance(status, bool):
        return None
    if isinstance(status, float) and status.is_integer():
        return int(status)
    return status if isinstance(status, int) else None


def platform_of(event: Event) -> str | None:
    """An error's platform: the SDK's (Sentry `platform`), or javascript for the seed's
    browser error types."""
    platform = event.data.get("platform") if isinstance(event.data, dict) else None
    if isinstance(platform, str) and platform:
        return platform.lower()
    if event.kind == Kind.ERROR and event.name in BROWSER_ERROR_TYPES:
        return "javascript"
    return None


def route_of(event: Event) -> str:
    """A request's normalised route ('GET /users/{id}'), or a metric's page ('/blog/{id}')."""
    if event.kind == Kind.REQUEST:
        return route_name(event.name)
    if event.kind == Kind.PERFORMANCE:
        return event_page(event) or ""
    return ""


def event_tags(event: Event) -> dict[str, str]:
    """Tags an event carries (Sentry `tags` as a mapping or as pairs)."""
    raw = event.data.get("tags") if isinstance(event.data, dict) else None
    items: list[Any] = list(raw.items()) if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    tags: dict[str, str] = {}
    for item in items:
        if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str):
            value = item[1]
            if isinstance(value, str | int | float | bool):
                tags[item[0]] = str(value)
    return tags


def group_value(event: Event, field: str) -> str:
    """The label value an event gives a `group_by` field."""
    if field == "route":
        return route_of(event)
    if field == "name":
        return event.name
    value = getattr(event, field, None)
    return str(value) if value is not None else ""


def name_matcher(patterns: list[str]) -> Callable[[str], bool]:
    exact = {p for p in patterns if not any(ch in p for ch in "*?[")}
    globbed = [p for p in patterns if p not in exact]
    if not globbed:
        return exact.__contains__
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in globbed))
    return lambda name: name in exact or regex.match(name) is not None


def route_matcher(pattern: str) -> Callable[[str], bool]:
    """'GET /api/*' matches the whole route; '/api/*' matches its path whatever the method."""
    regex = re.compile(fnmatch.translate(pattern))
    if pattern.startswith("/"):
        return lambda route: regex.match(route.partition(" ")[2] if " " in route else route) is not None
    return lambda route: regex.match(route) is not None


def compile_filter(flt: EventFilter) -> list[Predicate]:
    checks: list[Predicate] = []
    if flt.environment is not None:
        environment = flt.environment
        checks.append(lambda e: e.environment == environment)
    if flt.release is not None:
        release = flt.release
        checks.append(lambda e: e.release == release)
    if flt.route is not None:
        matches = route_matcher(flt.route)
        checks.append(lambda e: matches(route_of(e)))
    if flt.labels:
        wanted = dict(flt.labels)
        checks.append(lambda e: _has_tags(e, wanted))
    return checks


def filter_predicate(flt: EventFilter) -> Predicate:
    """The filter as one predicate (always true without checks)."""
    checks = compile_filter(flt)
    return _all(checks) if checks else _always


def _always(event: Event) -> bool:
    return True


def exact_names(patterns: list[str]) -> frozenset[str] | None:
    """The names a selection reads when they are all exact (for the engine's index), else None."""
    if not patterns or any(any(ch in p for ch in "*?[") for p in patterns):
        return None
    return frozenset(patterns)


def exact_route(flt: EventFilter) -> str | None:
    """The one request route a filter reads ('GET /users/{id}'), else None (no route filter,
    a pattern, or a path without its method)."""
    route = flt.route
    if route is None or any(ch in route for ch in "*?[") or route.startswith("/") or " " not in route:
        return None
    return route_name(route)


def _has_tags(event: Event, wanted: dict[str, str]) -> bool:
    tags = event_tags(event)
    return all(tags.get(key) == value for key, value in wanted.items())


def compile_selector(sel: EventSelector, flt: EventFilter | None = None) -> Predicate:
    """One predicate for `sel` and `flt`; the kind is checked too (rules are indexed by kind,
    but a ratio reads two selectors)."""
    kind = sel.kind.value
    checks: list[Predicate] = [lambda e: e.kind == kind]
    if sel.names:
        named = name_matcher(sel.names)
        checks.append(lambda e: named(e.name))
    if sel.min_level is not None:
        floor = LEVEL_RANK[sel.min_level.value]
        checks.append(lambda e: LEVEL_RANK.get(e.level, 0) >= floor)
    if sel.min_status is not None or sel.max_status is not None:
        low, high = sel.min_status or 100, sel.max_status or 599
        checks.append(lambda e: low <= (status_of(e) or 0) <= high)
    if sel.platform is not None:
        platform = sel.platform.lower()
        checks.append(lambda e: platform_of(e) == platform)
    if sel.security_alert is not None:
        alert = sel.security_alert
        checks.append(lambda e: seed_alert_name(e.name) == alert)
    if flt is not None:
        checks.extend(compile_filter(flt))
    return _all(checks)


def _all(checks: list[Predicate]) -> Predicate:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda e: first(e) and second(e)
    return lambda e: all(check(e) for check in checks)
