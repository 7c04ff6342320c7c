"""Settings → Projects against the real server on both engines: keys and install snippets,
the secret key never shown except once after a rotation, rotation audited and recorded, the
old keys refused afterwards, and viewers read-only."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from syncmon.store import accounts, projects
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.dashboard import Dashboard, audit_actions, own_events
from tests.support.live import LiveServer

ADMIN = "admin@localhost"
EVENT = {"events": [{"kind": "custom", "name": "signup"}]}


@pytest.fixture
def admin(live: LiveServer) -> Iterator[Dashboard]:
    with live.client() as client:
        dash = Dashboard(client)
        dash.login_ok(ADMIN, ADMIN_PASSWORD)
        yield dash


def test_projects_show_keys_and_snippets_but_never_the_secret(
    admin: Dashboard, live: LiveServer, store: Store
) -> None:
    with store.engine.begin() as conn:
        projects.update_project(conn, store.project.slug, origins=["https://shop.example.com"])
    page = admin.client.get("/settings/projects")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    section = page.text[page.text.index(f'id="project-{store.project.slug}"') :]
    key = store.project.public_key
    dsn = store.project.dsn(live.url)
    assert f'<code data-field="public-key">{key}</code>' in section
    assert f'<code data-field="dsn">{dsn}</code>' in section
    assert f'&lt;script src="{live.url}/sdk/syncmon.js"&gt;&lt;/script&gt;' in section
    assert f'Syncmon.init({{ key: "{key}" }})' in section
    assert f'posthog.init("{key}", {{ api_host: "{live.url}" }})' in section
    assert f'sentry_sdk.init(dsn="{dsn}")' in section
    assert f'Client(os.environ["SYNCMON_SECRET_KEY"], "{live.url}")' in section
    assert "<code>https://shop.example.com</code>" in section
    assert f"Raw events are kept {store.settings.retention_days} days" in page.text
    assert store.project.secret_key not in page.text
    assert "Rotate keys" in section


def test_rotation_shows_the_new_secret_once_and_is_audited(
    admin: Dashboard, live: LiveServer, store: Store
) -> None:
    old = store.project
    rotated = admin.post(f"/settings/projects/{old.id}/rotate")
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    with store.engine.connect() as conn:
        fresh = projects.get_project(conn, old.id)
    assert fresh is not None and fresh.secret_key != old.secret_key and fresh.public_key != old.public_key
    shown = re.search(r'id="rotated-secret">([^<]+)<', rotated.text)
    assert shown is not None and shown.group(1) == fresh.secret_key
    again = admin.client.get("/settings/projects")
    assert fresh.secret_key not in again.text and fresh.public_key in again.text
    assert old.public_key not in again.text
    with live.client() as client:
        refused = client.post("/api/monitoring/events", json=EVENT, headers={"X-Syncmon-Key": old.public_key})
        assert refused.status_code == 401
        taken = client.post("/api/monitoring/events", json=EVENT, headers={"X-Syncmon-Key": fresh.public_key})
        assert taken.status_code == 200
    assert (ADMIN, "project.rotate_key", old.slug) in audit_actions(store.engine)
    events = own_events(store.engine, store.settings.monitor_project, "authz_admin")
    assert [(e.user_id, e.data["target"], e.data["change"]) for e in events][-1] == (
        ADMIN,
        f"project:{old.slug}",
        "project_rotate_key",
    )
    missing = admin.post("/settings/projects/999999/rotate")
    assert missing.status_code == 404 and "no project 999999" in missing.text


def test_viewers_see_no_rotate_button_and_get_403(live: LiveServer, store: Store) -> None:
    with store.engine.begin() as conn:
        accounts.create_user(conn, "viewer@example.com", "viewer-password", "viewer", 0)
    with live.client() as client:
        viewer = Dashboard(client)
        viewer.login_ok("viewer@example.com", "viewer-password")
        page = client.get("/settings/projects")
        assert page.status_code == 200 and store.project.public_key in page.text
        assert "Rotate keys" not in page.text and store.project.secret_key not in page.text
        assert viewer.post(f"/settings/projects/{store.project.id}/rotate").status_code == 403
    with store.engine.connect() as conn:
        unchanged = conn.execute(
            sa.text("SELECT secret_key FROM projects WHERE id = :id"), {"id": store.project.id}
        ).scalar_one()
    assert unchanged == store.project.secret_key
