"""The read API against the real server: what goes in through ingest comes out of /api/v1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from syncmon.clock import SystemClock
from syncmon.store import accounts, projects
from syncmon.store.projects import Project
from tests.conftest import Store
from tests.support.live import LiveServer

MINUTE_MS = 60_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def base_minute_ms() -> int:
    """The start of a minute half an hour ago: inside the last hour, never in the future."""
    return (SystemClock().now_ms() // MINUTE_MS - 30) * MINUTE_MS


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_batch(client: httpx.Client, project: Project, items: list[dict[str, Any]]) -> list[str]:
    response = client.post(f"/api/monitoring/events?key={project.public_key}", json=items)
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["ids"]
    assert len(ids) == len(items)
    return ids


def post_one(client: httpx.Client, project: Project, path: str, payload: dict[str, Any]) -> str:
    response = client.post(f"/api/monitoring/{path}?key={project.public_key}", json=payload)
    assert response.status_code == 200, response.text
    event_id: str = response.json()["id"]
    return event_id


def get_events(client: httpx.Client, token: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/events", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def walk(client: httpx.Client, token: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following next_cursor."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        page = get_events(client, token, **params, **({"cursor": cursor} if cursor else {}))
        seen.extend(page["events"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def add_project(store: Store, name: str) -> Project:
    with store.engine.begin() as conn:
        return projects.create_project(conn, name, SystemClock().now_ms())


def test_ingested_events_come_back(live: LiveServer, store: Store, viewer_token: str) -> None:
    base = base_minute_ms()
    with live.client() as client:
        batch_ids = post_batch(
            client,
            store.project,
            [
                {"kind": "custom", "name": "signup", "timestamp": iso(base), "plan": "pro"},
                {"name": "page_view", "url": "https://x/", "timestamp": iso(base + 1000)},
                {"kind": "performance_metric", "metric": "LCP", "value": 1200, "timestamp": iso(base + 2000)},
            ],
        )
        error_id = post_one(
            client, store.project, "error", {"message": "boom", "timestamp": iso(base + 3000)}
        )
        security_id = post_one(
            client,
            store.project,
            "security",
            {"event_type": "authentication", "auth_event": "login_failed", "timestamp": iso(base + 4000)},
        )
        body = get_events(client, viewer_token)

    events = body["events"]
    assert body["next_cursor"] is None
    assert [e["id"] for e in events] == [security_id, error_id, *reversed(batch_ids)]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs, reverse=True)
    assert {e["project_id"] for e in events} == {store.project.id}
    by_kind = {e["kind"]: e for e in events}
    assert set(by_kind) == {"custom", "page_view", "performance_metric", "error", "security"}
    assert by_kind["custom"]["name"] == "signup"
    assert by_kind["custom"]["data"]["plan"] == "pro"
    assert by_kind["custom"]["timestamp"] == base / 1000
    assert by_kind["page_view"]["url"] == "https://x/"
    assert by_kind["performance_metric"]["name"] == "LCP"
    assert by_kind["performance_metric"]["value"] == 1200
    assert by_kind["error"]["message"] == "boom"
    assert by_kind["error"]["level"] == "error"
    assert by_kind["security"]["name"] == "authn_login_fail"
    assert by_kind["security"]["message"] == "authentication: login_failed"


def test_filters(live: LiveServer, store: Store, viewer_token: str) -> None:
    base = base_minute_ms()
    other = add_project(store, "other")
    with live.client() as client:
        post_batch(
            client,
            store.project,
            [
                {"kind": "custom", "name": "signup", "timestamp": iso(base)},
                {"kind": "custom", "name": "signup", "timestamp": iso(base + 2 * MINUTE_MS)},
                {"kind": "custom", "name": "checkout", "timestamp": iso(base + 4 * MINUTE_MS)},
                {"name": "page_view", "url": "https://x/a", "timestamp": iso(base + 6 * MINUTE_MS)},
            ],
        )
        post_batch(client, other, [{"kind": "custom", "name": "signup", "timestamp": iso(base)}])

        def names(**params: Any) -> list[tuple[str, int, float]]:
            found = walk(client, viewer_token, **params)
            return [(e["name"], e["project_id"], e["timestamp"] - base / 1000) for e in found]

        main, second = store.project.id, other.id
        assert names() == [
            ("signup", second, 0),
            ("page_view", main, 360),
            ("checkout", main, 240),
            ("signup", main, 120),
            ("signup", main, 0),
        ]
        assert names(project=store.project.slug) == names(project=str(store.project.id))
        assert [n for n, _, _ in names(project=store.project.slug)] == [
            "page_view",
            "checkout",
            "signup",
            "signup",
        ]
        assert names(project="other") == [("signup", second, 0)]
        assert names(kind="page_view") == [("page_view", main, 360)]
        assert names(name="signup", project=store.project.slug) == [
            ("signup", main, 120),
            ("signup", main, 0),
        ]
        assert names(kind="custom", name="checkout") == [("checkout", main, 240)]
        assert names(kind="error") == []
        window = names(since=iso(base + 2 * MINUTE_MS), until=iso(base + 6 * MINUTE_MS))
        assert window == [("checkout", main, 240), ("signup", main, 120)]  # since inclusive, until exclusive
        assert names(since=str((base + 5 * MINUTE_MS) // 1000)) == [("page_view", main, 360)]
        assert names(since="1h", project="other") == [("signup", second, 0)]
        assert names(until="1h") == []


def test_cursor_pagination_visits_every_event_once(live: LiveServer, store: Store, viewer_token: str) -> None:
    base = base_minute_ms()
    with live.client() as client:
        first_ids = post_batch(
            client,
            store.project,
            [{"kind": "custom", "name": f"e{i}", "timestamp": iso(base + i)} for i in range(23)],
        )
        seen: list[dict[str, Any]] = []
        page = get_events(client, viewer_token, limit=5)
        pages = 1
        seen.extend(page["events"])
        late_ids: list[str] = []
        while page["next_cursor"] is not None:
            if pages == 2:  # new events arrive between pages
                late_ids = post_batch(
                    client,
                    store.project,
                    [{"kind": "custom", "name": f"late{i}", "timestamp": iso(base)} for i in range(4)],
                )
            page = get_events(client, viewer_token, limit=5, cursor=page["next_cursor"])
            pages += 1
            assert len(page["events"]) <= 5
            seen.extend(page["events"])
        everything = walk(client, viewer_token, limit=7)

    assert pages == 5
    assert [e["id"] for e in seen] == list(reversed(first_ids))
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == len(seqs)
    assert [e["id"] for e in everything] == list(reversed(late_ids)) + list(reversed(first_ids))


def test_exact_multiple_of_limit_ends_with_empty_page(
    live: LiveServer, store: Store, viewer_token: str
) -> None:
    with live.client() as client:
        ids = post_batch(client, store.project, [{"kind": "custom", "name": f"n{i}"} for i in range(4)])
        first = get_events(client, viewer_token, limit=2)
        second = get_events(client, viewer_token, limit=2, cursor=first["next_cursor"])
        third = get_events(client, viewer_token, limit=2, cursor=second["next_cursor"])
    assert [e["id"] for e in first["events"] + second["events"]] == list(reversed(ids))
    assert third == {"events": [], "next_cursor": None}


def test_get_event_by_id(live: LiveServer, store: Store, admin_token: str) -> None:
    with live.client() as client:
        event_id = post_one(
            client, store.project, "security", {"event_type": "authentication", "auth_event": "login_failed"}
        )
        found = client.get(f"/api/v1/events/{event_id}", headers=bearer(admin_token))
        dashed = f"{event_id[:8]}-{event_id[8:12]}-{event_id[12:16]}-{event_id[16:20]}-{event_id[20:]}"
        found_dashed = client.get(f"/api/v1/events/{dashed.upper()}", headers=bearer(admin_token))
        missing = client.get(f"/api/v1/events/{'0' * 32}", headers=bearer(admin_token))
        anonymous = client.get(f"/api/v1/events/{event_id}")
    assert found.status_code == 200
    body = found.json()
    assert body["id"] == event_id
    assert body["kind"] == "security"
    assert body["data"]["auth_event"] == "login_failed"
    assert found_dashed.status_code == 200
    assert found_dashed.json() == body
    assert missing.status_code == 404
    assert "not found" in missing.json()["error"]
    assert anonymous.status_code == 401


def test_counts_match_what_was_posted(live: LiveServer, store: Store, viewer_token: str) -> None:
    base = base_minute_ms()
    base = base - base % (5 * MINUTE_MS)  # start of a 5-minute bucket
    other = add_project(store, "noise")
    with live.client() as client:
        items: list[dict[str, Any]] = []
        items += [{"kind": "custom", "name": "signup", "timestamp": iso(base + 100 * i)} for i in range(3)]
        items += [
            {"kind": "custom", "name": "signup", "timestamp": iso(base + MINUTE_MS + 5)} for _ in range(2)
        ]
        items += [{"name": "page_view", "url": "https://x/", "timestamp": iso(base + MINUTE_MS)}]
        items += [
            {
                "kind": "performance_metric",
                "metric": "LCP",
                "value": 1200,
                "timestamp": iso(base + 5 * MINUTE_MS),
            }
        ]
        post_batch(client, store.project, items)
        post_one(
            client, store.project, "error", {"message": "x", "timestamp": iso(base + 5 * MINUTE_MS + 59_999)}
        )
        post_batch(client, other, [{"kind": "custom", "name": "signup", "timestamp": iso(base)}])

        def counts(**params: Any) -> dict[str, Any]:
            response = client.get("/api/v1/stats/counts", params=params, headers=bearer(viewer_token))
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        window = {"since": iso(base), "until": iso(base + 10 * MINUTE_MS)}
        per_minute = counts(project=store.project.slug, step="1m", **window)
        assert per_minute["project"] == store.project.slug
        assert per_minute["step_seconds"] == 60
        assert per_minute["total"] == 8
        b = base // 1000
        assert [(s["time"] - b, s["kind"], s["name"], s["count"]) for s in per_minute["series"]] == [
            (0, "custom", "signup", 3),
            (60, "custom", "signup", 2),
            (60, "page_view", "page_view", 1),
            (300, "error", "javascript_error", 1),
            (300, "performance_metric", "LCP", 1),
        ]

        per_five = counts(project=str(store.project.id), step="5m", **window)
        assert per_five["step_seconds"] == 300
        assert [(s["time"] - b, s["kind"], s["count"]) for s in per_five["series"]] == [
            (0, "custom", 5),
            (0, "page_view", 1),
            (300, "error", 1),
            (300, "performance_metric", 1),
        ]

        assert counts(project=store.project.slug, kind="custom", step="1m", **window)["total"] == 5
        assert counts(project=store.project.slug, kind="security", **window) == {
            "project": store.project.slug,
            "step_seconds": 3600,
            "total": 0,
            "series": [],
        }
        later = counts(
            project=store.project.slug, since=iso(base + MINUTE_MS), until=iso(base + 5 * MINUTE_MS)
        )
        assert later["total"] == 3
        assert counts(project="noise", **window)["total"] == 1
        assert counts(project=store.project.slug)["total"] == 8  # default window: the last 24 hours


def test_projects_listing_hides_secret_from_viewers(
    live: LiveServer, store: Store, viewer_token: str, admin_token: str
) -> None:
    add_project(store, "second")
    with live.client() as client:
        as_viewer = client.get("/api/v1/projects", headers=bearer(viewer_token))
        as_admin = client.get("/api/v1/projects", headers=bearer(admin_token))
    assert as_viewer.status_code == as_admin.status_code == 200
    viewer_projects = as_viewer.json()["projects"]
    admin_projects = as_admin.json()["projects"]
    own = store.settings.monitor_project
    assert [p["slug"] for p in admin_projects] == [store.project.slug, own, "second"]
    assert admin_projects[0]["secret_key"] == store.project.secret_key
    assert admin_projects[0]["public_key"] == store.project.public_key
    public_url = store.settings.effective_public_url
    assert admin_projects[0]["dsn"] == store.project.dsn(public_url)
    for shown in viewer_projects:
        assert "secret_key" not in shown
    assert store.project.secret_key not in as_viewer.text
    assert [{k: v for k, v in p.items() if k != "secret_key"} for p in admin_projects] == viewer_projects


ENDPOINTS = [
    "/api/v1/events",
    f"/api/v1/events/{'a' * 32}",
    "/api/v1/stats/counts?project=1",
    "/api/v1/projects",
]
BAD_AUTHORIZATIONS: list[str | None] = [
    None,
    "",
    "Bearer",
    "Basic dXNlcjpwYXNz",
    "Bearer smt_not-a-real-token",
    "Token x",
    "bearer smt_x y",
]


def test_missing_or_bad_token_is_401(live: LiveServer, viewer_token: str) -> None:
    """One server for the whole table: each endpoint with each missing or wrong credential."""
    with live.client() as client:
        assert client.get("/api/v1/events", headers=bearer(viewer_token)).status_code == 200
        for path in ENDPOINTS:
            for authorization in BAD_AUTHORIZATIONS:
                headers = {} if authorization is None else {"Authorization": authorization}
                response = client.get(path, headers=headers)
                case = f"{path} with {authorization!r}"
                assert response.status_code == 401, case
                assert response.headers["www-authenticate"] == "Bearer", case
                assert "token" in response.json()["error"], case


def test_revoked_token_is_401(live: LiveServer, store: Store) -> None:
    with store.engine.begin() as conn:
        created, plain = accounts.create_token(conn, "viewer", "soon revoked", SystemClock().now_ms())
    with live.client() as client:
        assert client.get("/api/v1/events", headers=bearer(plain)).status_code == 200
        assert client.get("/api/v1/events", headers={"Authorization": f"bEaReR {plain}"}).status_code == 200
        with store.engine.begin() as conn:
            accounts.revoke_token(conn, created.id, SystemClock().now_ms())
        for path in ENDPOINTS:
            response = client.get(path, headers=bearer(plain))
            assert response.status_code == 401, path
            assert response.json()["error"] == "invalid or revoked API token"


UNKNOWN_PROJECTS = ["nope", "999999", "-1", "²", "9" * 30, "x" * 500]


def test_unknown_project_is_404(live: LiveServer, viewer_token: str) -> None:
    with live.client() as client:
        for path in ("/api/v1/events", "/api/v1/stats/counts"):
            for project in UNKNOWN_PROJECTS:
                response = client.get(path, params={"project": project}, headers=bearer(viewer_token))
                case = f"{path} project={project!r}"
                assert response.status_code == 404, case
                assert response.json()["field"] == "project", case
                assert "not found" in response.json()["error"], case


BAD_PARAMETERS: list[tuple[str, dict[str, str], str]] = [
    ("/api/v1/events", {"limit": "0"}, "limit"),
    ("/api/v1/events", {"limit": "1001"}, "limit"),
    ("/api/v1/events", {"limit": "ten"}, "limit"),
    ("/api/v1/events", {"limit": "²"}, "limit"),
    ("/api/v1/events", {"cursor": "abc"}, "cursor"),
    ("/api/v1/events", {"cursor": "-5"}, "cursor"),
    ("/api/v1/events", {"cursor": "9" * 30}, "cursor"),
    ("/api/v1/events", {"cursor": "²"}, "cursor"),
    ("/api/v1/events", {"since": "yesterday"}, "since"),
    ("/api/v1/events", {"since": "9" * 20 + "w"}, "since"),
    ("/api/v1/events", {"until": "2026-02-30"}, "until"),
    ("/api/v1/events", {"kind": "bogus"}, "kind"),
    ("/api/v1/stats/counts", {}, "project"),
    ("/api/v1/stats/counts", {"project": "{p}", "step": "5x"}, "step"),
    ("/api/v1/stats/counts", {"project": "{p}", "step": "30s"}, "step"),
    ("/api/v1/stats/counts", {"project": "{p}", "step": "9" * 20 + "w"}, "step"),
    ("/api/v1/stats/counts", {"project": "{p}", "step": "1m", "since": "400w"}, "step"),
    ("/api/v1/stats/counts", {"project": "{p}", "since": "soon"}, "since"),
    ("/api/v1/stats/counts", {"project": "{p}", "since": "1h", "until": "2h"}, "until"),
    ("/api/v1/stats/counts", {"project": "{p}", "kind": "Custom"}, "kind"),
    ("/api/v1/events", {"level": "loud"}, "level"),
]


def test_bad_parameters_are_400_naming_them(live: LiveServer, store: Store, viewer_token: str) -> None:
    with live.client() as client:
        for path, raw_params, field in BAD_PARAMETERS:
            params = {k: v.replace("{p}", store.project.slug) for k, v in raw_params.items()}
            response = client.get(path, params=params, headers=bearer(viewer_token))
            case = f"{path} {params}"
            assert response.status_code == 400, (case, response.text)
            body = response.json()
            assert body["field"] == field, case
            assert body["error"].startswith(f"{field}: "), case


def test_read_api_refuses_other_methods(live: LiveServer, viewer_token: str) -> None:
    with live.client() as client:
        response = client.post("/api/v1/events", headers=bearer(viewer_token), json={})
    assert response.status_code == 405


def test_release_environment_user_and_level_filters(
    live: LiveServer, store: Store, viewer_token: str
) -> None:
    items = [
        {"kind": "custom", "name": "a", "release": "web@1", "environment": "prod", "user_id": "u1"},
        {"kind": "custom", "name": "b", "release": "web@2", "environment": "prod", "user_id": "u2"},
        {"kind": "custom", "name": "c", "release": "web@2", "environment": "staging", "user_id": "u1"},
    ]
    with live.client() as client:
        post_batch(client, store.project, items)
        post_one(client, store.project, "security", {"event_type": "authentication", "severity": "critical"})

        def names(**params: Any) -> list[str]:
            return sorted(e["name"] for e in get_events(client, viewer_token, **params)["events"])

        assert names(release="web@2") == ["b", "c"]
        assert names(environment="prod") == ["a", "b"]
        assert names(user="u1") == ["a", "c"]
        assert names(release="web@2", environment="staging", user="u1") == ["c"]
        assert names(level="critical") == ["authentication"]
