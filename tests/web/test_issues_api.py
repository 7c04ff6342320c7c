"""The issues API against the real server: listing, detail, events and the status lifecycle."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from syncmon.clock import SystemClock
from syncmon.store import accounts
from syncmon.store.schema import audit_log
from tests.conftest import Store
from tests.support.live import LiveServer

HOUR_MS = 3_600_000


def base_ms() -> int:
    """A whole hour two days ago: every event of a test lies after it and well before now."""
    return (SystemClock().now_ms() // HOUR_MS - 48) * HOUR_MS


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sentry_auth(store: Store) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={store.project.public_key}"}


def send(
    client: httpx.Client,
    store: Store,
    function: str,
    *,
    at_ms: int,
    message: str = "order failed",
    error_type: str = "ValueError",
    module: str = "shop.orders",
    release: str | None = None,
    environment: str | None = None,
    user: str | None = None,
    tags: dict[str, str] | None = None,
    level: str = "error",
) -> str:
    """One Sentry error event through /store/; the crashing function decides the issue."""
    event_id = uuid.uuid4().hex
    payload: dict[str, Any] = {
        "event_id": event_id,
        "timestamp": at_ms / 1000,
        "platform": "python",
        "level": level,
        "exception": {
            "values": [
                {
                    "type": error_type,
                    "value": message,
                    "stacktrace": {
                        "frames": [
                            {"function": "main", "module": "shop.app", "lineno": 3, "in_app": True},
                            {"function": function, "module": module, "lineno": 42, "in_app": True},
                        ]
                    },
                }
            ]
        },
    }
    if release is not None:
        payload["release"] = release
    if environment is not None:
        payload["environment"] = environment
    if user is not None:
        payload["user"] = {"id": user}
    if tags is not None:
        payload["tags"] = tags
    response = client.post(f"/api/{store.project.id}/store/", json=payload, headers=sentry_auth(store))
    assert response.status_code == 200, response.text
    assert response.json() == {"id": event_id}
    return event_id


def issues_page(client: httpx.Client, store: Store, token: str, **params: Any) -> dict[str, Any]:
    response = client.get(
        "/api/v1/issues", params={"project": store.project.slug, **params}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def titles(client: httpx.Client, store: Store, token: str, **params: Any) -> list[str]:
    return [issue["culprit"] for issue in issues_page(client, store, token, **params)["issues"]]


def detail(client: httpx.Client, token: str, issue_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/issues/{issue_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def issue_of(client: httpx.Client, store: Store, token: str, function: str) -> dict[str, Any]:
    found = [
        issue
        for issue in issues_page(client, store, token, limit=500)["issues"]
        if issue["culprit"] == f"shop.orders in {function}"
    ]
    assert len(found) == 1, found
    return found[0]


def put(client: httpx.Client, token: str, issue_id: int, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.put(
        f"/api/v1/issues/{issue_id}",
        content=content,
        headers={**bearer(token), "Content-Type": "application/json"},
    )


def token_id(store: Store, token: str) -> int:
    with store.engine.connect() as conn:
        found = accounts.token_identity(conn, token)
    assert found is not None
    return found[0]


def audit_rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(audit_log).where(audit_log.c.action == "issue.status").order_by(audit_log.c.id)
            )
        )


@pytest.fixture
def three_issues(live: LiveServer, store: Store) -> dict[str, int]:
    """Three issues whose order differs by every sort key.

    checkout: first 10, last 60, 3 events, 3 users, prod, release 1.0
    refund:   first 20, last 100, 2 events, 0 users, staging, release 1.1
    cancel:   first 30, last 30, 1 event, 1 user, prod, release 1.1
    """
    t = base_ms()
    minute = 60_000
    with live.client() as client:
        send(client, store, "checkout", at_ms=t + 10 * minute, user="u1", release="1.0", environment="prod")
        send(client, store, "refund", at_ms=t + 20 * minute, release="1.1", environment="staging")
        send(
            client,
            store,
            "cancel",
            at_ms=t + 30 * minute,
            user="u1",
            release="1.1",
            environment="prod",
            message="Cancel% of 100_000 failed",
        )
        send(client, store, "checkout", at_ms=t + 50 * minute, user="u2", release="1.0", environment="prod")
        send(
            client,
            store,
            "checkout",
            at_ms=t + 60 * minute,
            user="u3",
            release="1.0",
            environment="prod",
            tags={"server": "web-1"},
        )
        send(client, store, "refund", at_ms=t + 100 * minute, release="1.1", environment="staging")
    return {"t": t}


SORTS = {
    None: ["refund", "checkout", "cancel"],
    "last_seen": ["refund", "checkout", "cancel"],
    "first_seen": ["cancel", "refund", "checkout"],
    "count": ["checkout", "refund", "cancel"],
    "users": ["checkout", "cancel", "refund"],
}


def test_list_sorting(
    live: LiveServer, store: Store, viewer_token: str, three_issues: dict[str, int]
) -> None:
    with live.client() as client:
        for sort, expected in SORTS.items():
            params = {"sort": sort} if sort else {}
            assert titles(client, store, viewer_token, **params) == [
                f"shop.orders in {f}" for f in expected
            ], sort


def test_list_fields(live: LiveServer, store: Store, viewer_token: str, three_issues: dict[str, int]) -> None:
    t = three_issues["t"]
    with live.client() as client:
        checkout = issue_of(client, store, viewer_token, "checkout")
    assert checkout["title"] == "ValueError: order failed"
    assert (checkout["count"], checkout["user_count"], checkout["level"], checkout["status"]) == (
        3,
        3,
        "error",
        "unresolved",
    )
    assert (checkout["first_seen"], checkout["last_seen"]) == ((t + 600_000) / 1000, (t + 3_600_000) / 1000)
    assert (checkout["releases"], checkout["environments"]) == (["1.0"], ["prod"])
    assert checkout["grouping"]["method"] == "stacktrace" and len(checkout["grouping"]["fingerprint"]) == 32
    assert checkout["project_id"] == store.project.id and checkout["platform"] == "python"


FILTERS: list[tuple[dict[str, str], list[str]]] = [
    ({"environment": "prod"}, ["checkout", "cancel"]),
    ({"environment": "staging"}, ["refund"]),
    ({"environment": "nowhere"}, []),
    ({"release": "1.1"}, ["refund", "cancel"]),
    ({"release": "1.0", "environment": "prod"}, ["checkout"]),
    ({"query": "CANCEL"}, ["cancel"]),  # case-insensitive, in the culprit
    ({"query": "cancel%"}, ["cancel"]),  # in the title; % is a character, not a wildcard
    ({"query": "order%"}, []),
    ({"query": "100_000"}, ["cancel"]),
    ({"query": "1_0"}, []),  # _ is a character too
    ({"query": "ValueError"}, ["refund", "checkout", "cancel"]),
    ({"status": "unresolved"}, ["refund", "checkout", "cancel"]),
    ({"status": "resolved"}, []),
]


def test_list_filters(
    live: LiveServer, store: Store, viewer_token: str, three_issues: dict[str, int]
) -> None:
    with live.client() as client:
        for params, expected in FILTERS:
            assert titles(client, store, viewer_token, **params) == [
                f"shop.orders in {f}" for f in expected
            ], params


def test_status_filter_after_a_change(
    live: LiveServer, store: Store, admin_token: str, three_issues: dict[str, int]
) -> None:
    with live.client() as client:
        refund = issue_of(client, store, admin_token, "refund")
        assert put(client, admin_token, refund["id"], {"status": "resolved"}).status_code == 200
        assert titles(client, store, admin_token, status="resolved") == ["shop.orders in refund"]
        assert titles(client, store, admin_token, status="unresolved") == [
            "shop.orders in checkout",
            "shop.orders in cancel",
        ]
        assert titles(client, store, admin_token, status="ignored") == []


def test_cursor_paging(
    live: LiveServer, store: Store, viewer_token: str, three_issues: dict[str, int]
) -> None:
    seen: list[str] = []
    cursors: list[str | None] = []
    with live.client() as client:
        cursor: str | None = None
        for _ in range(10):
            page = issues_page(
                client, store, viewer_token, sort="count", limit=2, **({"cursor": cursor} if cursor else {})
            )
            seen.extend(issue["culprit"] for issue in page["issues"])
            cursor = page["next_cursor"]
            cursors.append(cursor)
            if cursor is None:
                break
    assert seen == [f"shop.orders in {f}" for f in SORTS["count"]]
    assert cursors == ["2", None]


def test_detail(live: LiveServer, store: Store, viewer_token: str, three_issues: dict[str, int]) -> None:
    with live.client() as client:
        checkout = detail(client, viewer_token, issue_of(client, store, viewer_token, "checkout")["id"])
    latest = checkout["latest_event"]
    assert latest["user_id"] == "u3" and latest["issue_id"] == checkout["id"]
    assert latest["timestamp"] == checkout["last_seen"]
    frames = latest["data"]["exception"]["values"][0]["stacktrace"]["frames"]
    assert [f["function"] for f in frames] == ["main", "checkout"]
    assert checkout["tags"]["environment"] == [{"value": "prod", "count": 3}]
    assert checkout["tags"]["release"] == [{"value": "1.0", "count": 3}]
    assert checkout["tags"]["level"] == [{"value": "error", "count": 3}]
    assert checkout["tags"]["server"] == [{"value": "web-1", "count": 1}]
    assert {entry["value"] for entry in checkout["tags"]["user"]} == {"u1", "u2", "u3"}
    assert checkout["count"] == 3 and checkout["user_count"] == 3


def test_events_of_an_issue_with_paging(
    live: LiveServer, store: Store, viewer_token: str, three_issues: dict[str, int]
) -> None:
    with live.client() as client:
        issue_id = issue_of(client, store, viewer_token, "checkout")["id"]
        first = client.get(
            f"/api/v1/issues/{issue_id}/events", params={"limit": 2}, headers=bearer(viewer_token)
        )
        assert first.status_code == 200
        page = first.json()
        assert [e["user_id"] for e in page["events"]] == ["u3", "u2"]
        assert page["next_cursor"] == str(page["events"][-1]["seq"])
        rest = client.get(
            f"/api/v1/issues/{issue_id}/events",
            params={"limit": 2, "cursor": page["next_cursor"]},
            headers=bearer(viewer_token),
        ).json()
        assert [e["user_id"] for e in rest["events"]] == ["u1"]
        assert rest["next_cursor"] is None
        everything = client.get(f"/api/v1/issues/{issue_id}/events", headers=bearer(viewer_token)).json()
    assert {e["issue_id"] for e in everything["events"]} == {issue_id}
    assert len(everything["events"]) == 3


def test_status_change_needs_an_admin_and_is_audited(
    live: LiveServer, store: Store, admin_token: str, viewer_token: str, three_issues: dict[str, int]
) -> None:
    with live.client() as client:
        issue_id = issue_of(client, store, admin_token, "checkout")["id"]
        refused = put(client, viewer_token, issue_id, {"status": "resolved"})
        assert refused.status_code == 403 and "admin" in refused.json()["error"]
        anonymous = client.put(f"/api/v1/issues/{issue_id}", json={"status": "resolved"})
        assert anonymous.status_code == 401
        assert detail(client, admin_token, issue_id)["status"] == "unresolved"
        assert audit_rows(store) == []
        resolved = put(client, admin_token, issue_id, {"status": "resolved"})
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "resolved"
        assert detail(client, admin_token, issue_id)["status"] == "resolved"
        patched = client.patch(
            f"/api/v1/issues/{issue_id}", json={"status": "ignored"}, headers=bearer(admin_token)
        )
        assert patched.status_code == 200 and patched.json()["status"] == "ignored"
    rows = audit_rows(store)
    actor = f"token:{token_id(store, admin_token)}"
    assert [(r.actor, r.target, r.details["from"], r.details["to"]) for r in rows] == [
        (actor, f"issue:{issue_id}", "unresolved", "resolved"),
        (actor, f"issue:{issue_id}", "resolved", "ignored"),
    ]


def test_an_event_on_a_resolved_issue_reopens_it_as_a_regression(
    live: LiveServer, store: Store, admin_token: str
) -> None:
    t = base_ms()
    with live.client() as client:
        send(client, store, "checkout", at_ms=t)
        issue_id = issue_of(client, store, admin_token, "checkout")["id"]
        assert put(client, admin_token, issue_id, {"status": "resolved"}).json()["is_regression"] is False
        send(client, store, "checkout", at_ms=t + 1000)
        reopened = detail(client, admin_token, issue_id)
        assert (reopened["status"], reopened["is_regression"], reopened["count"]) == ("unresolved", True, 2)
        assert reopened["latest_event"]["data"]["_issue"]["transition"] == "regressed"
        # Resolving again clears the flag; the next event regresses it again.
        assert put(client, admin_token, issue_id, {"status": "resolved"}).json()["is_regression"] is False
        send(client, store, "checkout", at_ms=t + 2000)
        assert detail(client, admin_token, issue_id)["is_regression"] is True
    # The audit log holds what people did; a regression is the events' doing.
    assert [(r.details["from"], r.details["to"]) for r in audit_rows(store)] == [
        ("unresolved", "resolved"),
        ("unresolved", "resolved"),
    ]


def test_resolved_in_next_release(live: LiveServer, store: Store, admin_token: str) -> None:
    t = base_ms()
    with live.client() as client:
        send(client, store, "no_release", at_ms=t)
        no_release = issue_of(client, store, admin_token, "no_release")["id"]
        refused = put(client, admin_token, no_release, {"status": "resolved_next_release"})
        assert refused.status_code == 400 and "release" in refused.json()["error"]

        send(client, store, "checkout", at_ms=t, release="1.0")
        issue_id = issue_of(client, store, admin_token, "checkout")["id"]
        changed = put(client, admin_token, issue_id, {"status": "resolved_next_release"})
        assert changed.status_code == 200
        assert (changed.json()["status"], changed.json()["resolved_in_release"]) == (
            "resolved_next_release",
            "1.0",
        )
        send(client, store, "checkout", at_ms=t + 1000, release="1.0")
        send(client, store, "checkout", at_ms=t + 2000)  # no release: says nothing about the fix
        still = detail(client, admin_token, issue_id)
        assert (still["status"], still["is_regression"], still["count"]) == (
            "resolved_next_release",
            False,
            3,
        )
        send(client, store, "checkout", at_ms=t + 3000, release="1.1")
        regressed = detail(client, admin_token, issue_id)
    assert (regressed["status"], regressed["is_regression"], regressed["resolved_in_release"]) == (
        "unresolved",
        True,
        None,
    )
    assert regressed["releases"] == ["1.0", "1.1"]
    (audited,) = audit_rows(store)
    assert audited.actor == f"token:{token_id(store, admin_token)}"
    assert (audited.details["to"], audited.details["resolved_in_release"]) == ("resolved_next_release", "1.0")


def test_ignored_for_n_more_events(live: LiveServer, store: Store, admin_token: str) -> None:
    t = base_ms()
    with live.client() as client:
        send(client, store, "checkout", at_ms=t)
        issue_id = issue_of(client, store, admin_token, "checkout")["id"]
        changed = put(client, admin_token, issue_id, {"status": "ignored", "ignore_count": 3})
        assert changed.status_code == 200
        assert (changed.json()["status"], changed.json()["ignore_until_count"]) == ("ignored", 4)
        statuses = []
        for i in range(3):
            send(client, store, "checkout", at_ms=t + 1000 * (i + 1))
            statuses.append(detail(client, admin_token, issue_id)["status"])
        final = detail(client, admin_token, issue_id)
    assert statuses == ["ignored", "ignored", "unresolved"]
    assert (final["is_regression"], final["ignore_until_count"], final["count"]) == (False, None, 4)
    assert final["latest_event"]["data"]["_issue"]["transition"] == "unignored"


def test_ignored_until_a_date(live: LiveServer, store: Store, admin_token: str) -> None:
    t = base_ms()
    until = t + HOUR_MS
    with live.client() as client:
        send(client, store, "checkout", at_ms=t)
        issue_id = issue_of(client, store, admin_token, "checkout")["id"]
        changed = put(client, admin_token, issue_id, {"status": "ignored", "ignore_until": iso(until)})
        assert changed.status_code == 200, changed.text
        assert changed.json()["ignore_until"] == until / 1000
        send(client, store, "checkout", at_ms=until - 60_000)  # before the date: still ignored
        assert detail(client, admin_token, issue_id)["status"] == "ignored"
        send(client, store, "checkout", at_ms=until + 60_000)  # after it: back in the list
        after = detail(client, admin_token, issue_id)
    assert (after["status"], after["is_regression"], after["ignore_until"]) == ("unresolved", False, None)
    (audited,) = audit_rows(store)
    assert (audited.details["to"], audited.details["ignore_until_ms"]) == ("ignored", until)


def test_ignore_until_accepts_epoch_seconds(live: LiveServer, store: Store, admin_token: str) -> None:
    t = base_ms()
    with live.client() as client:
        send(client, store, "checkout", at_ms=t)
        issue_id = issue_of(client, store, admin_token, "checkout")["id"]
        changed = put(
            client, admin_token, issue_id, {"status": "ignored", "ignore_until": (t + HOUR_MS) / 1000}
        )
    assert changed.status_code == 200 and changed.json()["ignore_until"] == (t + HOUR_MS) / 1000


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("unknown-status", {"status": "archived"}, "status"),
    ("no-status", {}, "status"),
    ("unknown-field", {"status": "resolved", "assignee": "bob"}, "assignee"),
    ("ignore-count-zero", {"status": "ignored", "ignore_count": 0}, "ignore_count"),
    ("ignore-count-negative", {"status": "ignored", "ignore_count": -1}, "ignore_count"),
    ("ignore-count-text", {"status": "ignored", "ignore_count": "3"}, "ignore_count"),
    ("ignore-count-bool", {"status": "ignored", "ignore_count": True}, "ignore_count"),
    ("ignore-count-float", {"status": "ignored", "ignore_count": 2.5}, "ignore_count"),
    ("ignore-until-with-resolved", {"status": "resolved", "ignore_until": "2030-01-01T00:00:00Z"}, "ignored"),
    ("ignore-count-with-unresolved", {"status": "unresolved", "ignore_count": 2}, "ignored"),
    ("ignore-until-not-a-date", {"status": "ignored", "ignore_until": "next week"}, "ignore_until"),
    ("invalid-json", b'{"status": ', "JSON"),
    ("not-an-object", ["resolved"], "object"),
    ("empty", b"", "object"),
]


def test_bad_bodies_are_400_and_change_nothing(
    live: LiveServer, store: Store, admin_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    with live.client() as client:
        send(client, store, "checkout", at_ms=base_ms(), release="1.0")
        issue_id = issue_of(client, store, admin_token, "checkout")["id"]
        for name, body, says in BAD_BODIES:
            response = put(client, admin_token, issue_id, body)
            assert response.status_code == 400, (name, response.text)
            assert says in response.json()["error"], name
        assert detail(client, admin_token, issue_id)["status"] == "unresolved"
    assert audit_rows(store) == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_oversized_body_is_413(live: LiveServer, store: Store, admin_token: str) -> None:
    with live.client() as client:
        send(client, store, "checkout", at_ms=base_ms())
        issue_id = issue_of(client, store, admin_token, "checkout")["id"]
        response = put(client, admin_token, issue_id, {"status": "resolved", "pad": "x" * 5000})
    assert response.status_code == 413


def test_unknown_issue_is_404(live: LiveServer, admin_token: str, caplog: pytest.LogCaptureFixture) -> None:
    with live.client() as client:
        for ref in ["999999", "abc", "-1", "1.5", "9" * 30]:
            assert client.get(f"/api/v1/issues/{ref}", headers=bearer(admin_token)).status_code == 404, ref
            response = client.put(
                f"/api/v1/issues/{ref}", json={"status": "resolved"}, headers=bearer(admin_token)
            )
            assert response.status_code == 404, ref
            events = client.get(f"/api/v1/issues/{ref}/events", headers=bearer(admin_token))
            assert events.status_code == 404, ref
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


BAD_LIST_PARAMETERS: list[tuple[dict[str, str], int, str]] = [
    ({"sort": "priority"}, 400, "sort"),
    ({"status": "done"}, 400, "status"),
    ({"limit": "0"}, 400, "limit"),
    ({"limit": "501"}, 400, "limit"),
    ({"limit": "ten"}, 400, "limit"),
    ({"cursor": "-5"}, 400, "cursor"),
    ({"project": ""}, 400, "project"),
    ({"project": "no-such-project"}, 404, "project"),
]


def test_bad_list_parameters(live: LiveServer, store: Store, viewer_token: str) -> None:
    with live.client() as client:
        for params, status, field in BAD_LIST_PARAMETERS:
            response = client.get(
                "/api/v1/issues",
                params={"project": store.project.slug, **params},
                headers=bearer(viewer_token),
            )
            assert response.status_code == status, (params, response.text)
            assert response.json()["field"] == field, params


def test_the_issues_api_needs_a_token(live: LiveServer, store: Store) -> None:
    with live.client() as client:
        assert client.get("/api/v1/issues", params={"project": store.project.slug}).status_code == 401
        assert client.get("/api/v1/issues/1").status_code == 401
        assert client.get("/api/v1/issues/1/events").status_code == 401
        assert (
            client.get("/api/v1/issues/1", headers={"Authorization": "Bearer sm_not-a-token"}).status_code
            == 401
        )
