"""The writer hook that assigns error events to issues, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from syncmon.errors.issue_store import MAX_LISTED, assign_issues, event_tags, user_key
from syncmon.events import Event
from syncmon.pipeline.writer import Writer
from syncmon.store import eventlog, projects
from syncmon.store.schema import events as events_table
from syncmon.store.schema import issue_tags, issue_users, issues
from tests.conftest import Store

T0 = 1_795_842_000_000
FP_A = "a" * 32
FP_B = "b" * 32
_UNSET: Any = object()


def error(
    store: Store,
    fingerprint: str | None = FP_A,
    *,
    ts: int = T0,
    level: str = "error",
    release: str | None = None,
    environment: str | None = None,
    user_id: str | None = None,
    client_ip: str | None = None,
    tags: Any = None,
    given_user_key: Any = _UNSET,
    title: str = "ValueError: order 1 failed",
    kind: str = "error",
    project_id: int | None = None,
    event_id: str | None = None,
) -> Event:
    data: dict[str, Any] = {
        "_grouping": {"method": "stacktrace", "components": ["type:ValueError"]},
        "culprit": "shop.orders in place_order",
        "platform": "python",
    }
    if tags is not None:
        data["tags"] = tags
    if given_user_key is not _UNSET:
        data["_user_key"] = given_user_key
    event = Event(
        project_id=project_id or store.project.id,
        kind=kind,
        name="ValueError",
        timestamp_ms=ts,
        received_ms=ts + 5,
        level=level,
        message=title,
        release=release,
        environment=environment,
        user_id=user_id,
        client_ip=client_ip,
        data=data,
        fingerprint=fingerprint,
    )
    if event_id is not None:
        event.id = event_id
    return event


@pytest.fixture
def writer(store: Store) -> Iterator[Writer]:
    writer = Writer(store.engine, before=[assign_issues])
    writer.start()
    yield writer
    writer.stop()


def issue_rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(issues).order_by(issues.c.id)))


def only_issue(store: Store) -> Any:
    rows = issue_rows(store)
    assert len(rows) == 1, rows
    return rows[0]


def tag_counts(store: Store, issue_id: int) -> dict[tuple[str, str], int]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(issue_tags).where(issue_tags.c.issue_id == issue_id))
        return {(row.key, row.value): int(row._mapping["count"]) for row in rows}


def users_of(store: Store, issue_id: int) -> set[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(issue_users.c.user_key).where(issue_users.c.issue_id == issue_id))
        return {row.user_key for row in rows}


async def test_first_event_creates_the_issue(store: Store, writer: Writer) -> None:
    event = error(store, release="1.0", environment="prod", user_id="u1")
    await writer.write([event])
    row = only_issue(store)
    assert (row.project_id, row.fingerprint, row.grouping_method) == (store.project.id, FP_A, "stacktrace")
    assert (row.title, row.culprit, row.level, row.platform) == (
        "ValueError: order 1 failed",
        "shop.orders in place_order",
        "error",
        "python",
    )
    assert (row.status, row.is_regression, row.event_count, row.user_count) == ("unresolved", False, 1, 1)
    assert (row.first_seen_ms, row.last_seen_ms, row.last_event_id) == (T0, T0, event.id)
    assert (row.first_release, row.last_release, row.releases, row.environments) == (
        "1.0",
        "1.0",
        ["1.0"],
        ["prod"],
    )
    assert event.issue_id == row.id
    assert event.data["_issue"] == {"id": row.id, "new": True, "transition": None}
    with store.engine.connect() as conn:
        stored = eventlog.get_event(conn, event.id)
    assert stored is not None and stored.issue_id == row.id
    assert stored.data["_issue"]["new"] is True


async def test_counters_across_batches(store: Store, writer: Writer) -> None:
    await writer.write([error(store, ts=T0, level="warning", title="first title")])
    await writer.write([error(store, ts=T0 + 2000, level="error", title="second title")])
    last = error(store, ts=T0 + 1000, level="info")
    await writer.write([last])
    row = only_issue(store)
    assert row.event_count == 3
    assert (row.first_seen_ms, row.last_seen_ms) == (T0, T0 + 2000)
    assert row.level == "error"  # the most severe level seen
    assert row.title == "first title"  # decided by the first event
    assert row.last_event_id == last.id
    assert last.data["_issue"] == {"id": row.id, "new": False, "transition": None}


async def test_an_older_event_arriving_later_moves_first_seen_back(store: Store, writer: Writer) -> None:
    """SDKs send events late (offline caches, retries): first_seen is the earliest event seen."""
    await writer.write([error(store, ts=T0)])
    await writer.write([error(store, ts=T0 - 60_000)])
    await writer.write([error(store, ts=T0 + 10), error(store, ts=T0 - 120_000)])
    row = only_issue(store)
    assert (row.first_seen_ms, row.last_seen_ms, row.event_count) == (T0 - 120_000, T0 + 10, 4)


async def test_two_events_of_one_issue_in_one_batch(store: Store, writer: Writer) -> None:
    first = error(store, user_id="u1", release="1.0")
    second = error(store, ts=T0 + 1, user_id="u1", release="1.1")
    other = error(store, FP_B, title="KeyError: 'sku'")
    await writer.write([first, second, other])
    rows = issue_rows(store)
    assert [(r.fingerprint, r.event_count, r.user_count) for r in rows] == [(FP_A, 2, 1), (FP_B, 1, 0)]
    a = rows[0]
    assert first.issue_id == second.issue_id == a.id and other.issue_id == rows[1].id
    assert first.data["_issue"]["new"] is True and second.data["_issue"]["new"] is False
    assert (a.releases, a.first_release, a.last_release, a.last_event_id) == (
        ["1.0", "1.1"],
        "1.0",
        "1.1",
        second.id,
    )
    assert tag_counts(store, a.id)[("user", "u1")] == 2


async def test_users_are_distinct_and_never_double_counted(store: Store, writer: Writer) -> None:
    await writer.write([error(store, user_id="u1"), error(store, user_id="u1"), error(store, user_id="u2")])
    await writer.write([error(store, user_id="u2"), error(store, user_id="u3")])
    await writer.write([error(store, client_ip="203.0.113.5"), error(store, client_ip="203.0.113.5")])
    await writer.write([error(store)])  # nobody: counts as an event, not a user
    row = only_issue(store)
    assert (row.event_count, row.user_count) == (8, 4)
    assert users_of(store, row.id) == {"u1", "u2", "u3", "ip:203.0.113.5"}


async def test_the_receivers_user_verdict_is_used(store: Store, writer: Writer) -> None:
    """A Sentry server SDK's event carries the server's IP: the receiver says it is no user."""
    await writer.write(
        [
            error(store, client_ip="10.0.0.1", given_user_key=None),
            error(store, client_ip="10.0.0.1", user_id="u9", given_user_key="u9"),
            error(store, client_ip="10.0.0.2", given_user_key="ip:10.0.0.2"),
        ]
    )
    row = only_issue(store)
    assert row.user_count == 2
    assert users_of(store, row.id) == {"u9", "ip:10.0.0.2"}


async def test_user_counts_are_per_issue(store: Store, writer: Writer) -> None:
    await writer.write([error(store, user_id="u1"), error(store, FP_B, user_id="u1")])
    await writer.write([error(store, FP_B, user_id="u1")])
    assert [(r.fingerprint, r.user_count) for r in issue_rows(store)] == [(FP_A, 1), (FP_B, 1)]


async def test_tag_counts(store: Store, writer: Writer) -> None:
    await writer.write(
        [
            error(store, release="1.0", environment="prod", user_id="u1", tags={"server": "web-1", "n": 3}),
            error(store, release="1.0", environment="staging", tags=[["server", "web-1"], ["region", "eu"]]),
        ]
    )
    await writer.write(
        [
            error(
                store,
                level="warning",
                release="1.1",
                environment="prod",
                tags={"server": "web-2", "level": "spoofed", "nested": {"x": 1}},
            )
        ]
    )
    row = only_issue(store)
    assert tag_counts(store, row.id) == {
        ("level", "error"): 2,
        ("level", "warning"): 1,
        ("release", "1.0"): 2,
        ("release", "1.1"): 1,
        ("environment", "prod"): 2,
        ("environment", "staging"): 1,
        ("user", "u1"): 1,
        ("server", "web-1"): 2,
        ("server", "web-2"): 1,
        ("n", "3"): 1,
        ("region", "eu"): 1,
    }
    assert (row.releases, row.environments, row.last_release) == (["1.0", "1.1"], ["prod", "staging"], "1.1")


def test_event_tags_and_user_key_helpers(store: Store) -> None:
    event = error(
        store, release="2.0", user_id=None, client_ip="192.0.2.1", tags=[["browser", "x"], ["k", 1]]
    )
    event.browser, event.os = "Chrome", "Windows"
    assert event_tags(event) == [
        ("level", "error"),
        ("release", "2.0"),
        ("browser", "Chrome"),
        ("os", "Windows"),
        ("user", "ip:192.0.2.1"),
        ("k", "1"),
    ]
    assert user_key(event) == "ip:192.0.2.1"
    assert user_key(error(store, user_id="u", client_ip="192.0.2.1")) == "u"
    assert user_key(error(store)) is None
    assert user_key(error(store, user_id="u", given_user_key=None)) is None
    many = error(store, tags={f"t{i}": "v" for i in range(80)})
    assert len(event_tags(many)) == 50


async def test_release_and_environment_lists_are_capped(store: Store, writer: Writer) -> None:
    await writer.write([error(store, ts=T0 + i, release=f"r{i}", environment=f"e{i}") for i in range(105)])
    row = only_issue(store)
    assert len(row.releases) == MAX_LISTED and len(row.environments) == MAX_LISTED
    assert row.releases[0] == "r0" and row.last_release == "r104"
    assert row.event_count == 105


async def test_a_resent_event_is_not_counted_again(store: Store, writer: Writer) -> None:
    event_id = "c" * 32
    await writer.write([error(store, user_id="u1", event_id=event_id)])
    await writer.write([error(store, user_id="u1", event_id=event_id)])
    await writer.write([error(store, user_id="u2", event_id=event_id), error(store, event_id=event_id)])
    row = only_issue(store)
    assert (row.event_count, row.user_count) == (1, 1)
    assert tag_counts(store, row.id)[("level", "error")] == 1


async def test_only_grouped_errors_get_issues(store: Store, writer: Writer) -> None:
    custom = error(store, kind="custom")
    ungrouped = error(store, fingerprint=None)
    await writer.write([custom, ungrouped])
    assert issue_rows(store) == []
    assert custom.issue_id is None and ungrouped.issue_id is None
    assert "_issue" not in custom.data


async def test_the_same_fingerprint_in_two_projects_is_two_issues(store: Store, writer: Writer) -> None:
    with store.engine.begin() as conn:
        other = projects.create_project(conn, "Other app", T0)
    await writer.write([error(store), error(store, project_id=other.id), error(store, project_id=other.id)])
    rows = issue_rows(store)
    assert sorted((r.project_id, r.event_count) for r in rows) == [(store.project.id, 1), (other.id, 2)]


async def test_an_event_on_a_resolved_issue_regresses_it_once(store: Store, writer: Writer) -> None:
    await writer.write([error(store)])
    with store.engine.begin() as conn:
        conn.execute(issues.update().values(status="resolved", resolved_ms=T0))
    reopening = error(store, ts=T0 + 1)
    following = error(store, ts=T0 + 2)
    await writer.write([reopening, following])
    row = only_issue(store)
    assert (row.status, row.is_regression, row.event_count) == ("unresolved", True, 3)
    assert row.status_changed_ms == reopening.received_ms
    assert reopening.data["_issue"]["transition"] == "regressed"
    assert following.data["_issue"]["transition"] is None


async def test_ignored_until_count_through_the_writer(store: Store, writer: Writer) -> None:
    await writer.write([error(store)])
    with store.engine.begin() as conn:
        conn.execute(issues.update().values(status="ignored", ignore_until_count=3))
    await writer.write([error(store)])
    assert only_issue(store).status == "ignored"
    last = error(store)
    await writer.write([last])
    row = only_issue(store)
    assert (row.status, row.is_regression, row.ignore_until_count) == ("unresolved", False, None)
    assert last.data["_issue"]["transition"] == "unignored"


def test_hook_called_directly_in_a_transaction(store: Store) -> None:
    events = [error(store, user_id="u1"), error(store, FP_B, user_id="u1"), error(store, user_id="u2")]
    with store.engine.begin() as conn:
        assign_issues(conn, events)
        eventlog.insert_events(conn, events)
    rows = issue_rows(store)
    assert [(r.fingerprint, r.event_count, r.user_count) for r in rows] == [(FP_A, 2, 2), (FP_B, 1, 1)]
    with store.engine.connect() as conn:
        stored = conn.execute(
            sa.select(events_table.c.issue_id, sa.func.count()).group_by(events_table.c.issue_id)
        ).all()
    assert sorted((int(i), n) for i, n in stored) == [(rows[0].id, 2), (rows[1].id, 1)]


def test_a_failed_transaction_leaves_no_issue(store: Store) -> None:
    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        assign_issues(conn, [error(store, user_id="u1")])
        raise RuntimeError("the insert failed")
    assert issue_rows(store) == []
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(issue_users)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(issue_tags)).scalar_one() == 0
