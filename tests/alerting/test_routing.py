"""The routing tree: first match wins, `continue`, inheritance, the built-in root, group labels."""

from __future__ import annotations

import pytest

from syncmon.alerting.groups import group_key
from syncmon.alerting.model import Matcher, Severity
from syncmon.alerting.routing import (
    GROUP_BY_ALL,
    ROOT_ID,
    RouteNode,
    Timers,
    build_tree,
    route,
)

DB = RouteNode(id=1, name="database", matchers=(Matcher("team", "db"),), policy_id=10, group_wait_ms=5_000)
DB_CRITICAL = RouteNode(id=11, name="db-critical", matchers=(Matcher("severity", "critical"),), policy_id=11)
FRONTEND = RouteNode(
    id=2,
    name="frontend",
    matchers=(Matcher("team", "front.*", is_regex=True),),
    continue_matching=True,
    group_by=("alertname",),
)
AUDIT = RouteNode(id=3, name="audit", matchers=(Matcher("env", "prod"),), repeat_interval_ms=60_000)
NOT_STAGING = RouteNode(id=4, name="not-staging", matchers=(Matcher("env", "staging", is_equal=False),))

TREE = build_tree(
    [
        (None, 0, DB),
        (1, 0, DB_CRITICAL),
        (None, 1, FRONTEND),
        (None, 2, AUDIT),
    ]
)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # nothing matches: the root handles it, with the project's default policy (None)
        ({"alertname": "X", "team": "ops"}, [(ROOT_ID, None)]),
        # a child matches and no grandchild does: the child handles it
        ({"team": "db", "severity": "warning"}, [(1, 10)]),
        # a grandchild matches: it handles it, with its own policy
        ({"team": "db", "severity": "critical"}, [(11, 11)]),
        # `continue`: frontend takes it and the next matching sibling too
        ({"team": "frontend", "env": "prod"}, [(2, None), (3, None)]),
        # `continue` with no later sibling matching: only frontend
        ({"team": "frontend", "env": "dev"}, [(2, None)]),
        # first match without continue stops: db wins over audit
        ({"team": "db", "env": "prod"}, [(1, 10)]),
        # a missing label is the empty string: !~ / != match it
        ({"alertname": "X"}, [(ROOT_ID, None)]),
    ],
)
def test_route_selection(labels: dict[str, str], expected: list[tuple[int, int | None]]) -> None:
    assert [(m.route_id, m.policy_id) for m in route(TREE, labels)] == expected


def test_children_inherit_unset_settings() -> None:
    [match] = route(TREE, {"team": "db", "severity": "critical", "project": "p", "alertname": "A"})
    # group_wait from the parent (db), group_by and intervals from the root
    assert match.timers == Timers(group_wait_ms=5_000)
    assert match.group_by == ("project", "alertname")
    assert match.receiver == "db-critical"
    [audit] = [m for m in route(TREE, {"team": "frontend", "env": "prod"}) if m.route_id == 3]
    assert audit.timers.repeat_interval_ms == 60_000
    assert audit.timers.group_wait_ms is None


def test_negative_matcher_on_missing_label() -> None:
    tree = build_tree([(None, 0, NOT_STAGING)])
    assert [m.route_id for m in route(tree, {"alertname": "A"})] == [4]
    assert [m.route_id for m in route(tree, {"env": "staging"})] == [ROOT_ID]


def test_sibling_order_follows_position_not_id() -> None:
    first = RouteNode(id=9, name="late-id", matchers=(Matcher("a", "1"),))
    second = RouteNode(id=5, name="early-id", matchers=(Matcher("a", "1"),))
    tree = build_tree([(None, 1, second), (None, 0, first)])
    assert [m.route_id for m in route(tree, {"a": "1"})] == [9]


def test_dangling_and_cyclic_rows_take_no_alerts() -> None:
    orphan = RouteNode(id=7, name="orphan", matchers=())
    tree = build_tree([(99, 0, orphan)])
    assert [m.route_id for m in route(tree, {"x": "y"})] == [ROOT_ID]


@pytest.mark.parametrize(
    ("severity", "wait_ms"),
    [(Severity.CRITICAL, 0), (Severity.WARNING, 30_000), (Severity.INFO, 30_000)],
)
def test_root_group_wait_by_severity(severity: Severity, wait_ms: int) -> None:
    [match] = route(build_tree([]), {"severity": severity.value})
    assert match.timers.wait_for(severity) == wait_ms
    assert Timers(group_wait_ms=10_000).wait_for(severity) == 10_000


def test_group_labels_and_keys() -> None:
    [root] = route(build_tree([]), {"alertname": "A", "project": "p", "instance": "i1"})
    assert root.group_labels({"alertname": "A", "project": "p", "instance": "i1"}) == {
        "project": "p",
        "alertname": "A",
    }
    # a missing group_by label groups as the empty string
    assert root.group_labels({"alertname": "A"}) == {"project": "", "alertname": "A"}
    every = RouteNode(id=6, group_by=(GROUP_BY_ALL,))
    [match] = route(build_tree([(None, 0, every)]), {"a": "1", "b": "2"})
    assert match.group_labels({"a": "1", "b": "2"}) == {"a": "1", "b": "2"}
    # keys: stable under label order, different per route and per labels
    assert group_key(0, {"a": "1", "b": "2"}) == group_key(0, {"b": "2", "a": "1"})
    assert group_key(0, {"a": "1"}) != group_key(1, {"a": "1"})
    assert group_key(0, {"a": "1"}) != group_key(0, {"a": "2"})
    assert len(group_key(0, {"a": "1"})) == 32
