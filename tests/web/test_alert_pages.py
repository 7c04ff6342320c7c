"""The Alerts pages against the real server on both engines, with alerts fired by real events:
the Overview's firing alerts, the alerts page, an incident's timeline with its delivery status,
acknowledge and resolve through the buttons, silences from an alert, viewers read-only, and
label text from applications shown inert."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from syncmon.store import accounts
from syncmon.store.schema import silences
from tests.channels.support import Receiver
from tests.conftest import ADMIN_PASSWORD, Store
from tests.support.alert_fixtures import Fired, bearer, fire, poll
from tests.support.dashboard import Dashboard, audit_actions
from tests.support.live import LiveServer

ADMIN = "admin@localhost"
VIEWER = "viewer@example.com"
XSS = '<script>alert("x")</script>'


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as found:
        yield found


@pytest.fixture
def fired(live: LiveServer, store: Store, admin_token: str, receiver: Receiver) -> Fired:
    return fire(live, admin_token, store.project.slug, store.project.public_key, receiver.url + "/hook")


@pytest.fixture
def admin(live: LiveServer) -> Iterator[Dashboard]:
    with live.client() as client:
        dash = Dashboard(client)
        dash.login_ok(ADMIN, ADMIN_PASSWORD)
        yield dash


@pytest.fixture
def viewer(live: LiveServer, store: Store) -> Iterator[Dashboard]:
    with store.engine.begin() as conn:
        accounts.create_user(conn, VIEWER, "viewer-password", "viewer", 0)
    with live.client() as client:
        dash = Dashboard(client)
        dash.login_ok(VIEWER, "viewer-password")
        yield dash


def test_overview_and_alerts_page_show_the_firing_alert(admin: Dashboard, fired: Fired, store: Store) -> None:
    overview = admin.client.get("/overview")
    assert overview.status_code == 200
    assert f'data-alert="{fired.fingerprint}" data-state="firing"' in overview.text
    firing = re.search(r'data-metric="alerts-firing"[^>]*>(\d+)', overview.text)
    assert firing is not None and firing.group(1) == "1"
    page = admin.client.get("/alerts", params={"project": store.project.slug})
    assert page.status_code == 200
    row = page.text[page.text.index(f'data-alert="{fired.fingerprint}"') :]
    row = row[: row.index("</tr>")]
    assert "checkout_failures" in row and "critical" in row and "3 failed checkouts" in row
    assert '<span class="key">team</span>=<span class="value">payments</span>' in row
    assert f"/alerts/silences/new?alert={fired.fingerprint}" in row
    assert f'data-incident="{fired.incident_id}"' in page.text
    assert 'data-live-region="alerts"' in page.text and 'data-live-url="/live?project=' in page.text
    assert 'data-live-on-heartbeat="1"' in page.text


def test_incident_timeline_acknowledge_and_resolve(
    admin: Dashboard, fired: Fired, store: Store, receiver: Receiver, live: LiveServer, admin_token: str
) -> None:
    path = f"/alerts/incidents/{fired.incident_id}"
    # the channel's delivery reaches the receiver; the timeline then shows it delivered
    poll(lambda: admin.client.get(path).text, lambda text: "delivery-delivered" in text)
    page = admin.client.get(path)
    timeline = page.text[page.text.index('id="timeline"') :]
    assert 'data-kind="fired"' in timeline and 'data-kind="notified"' in timeline
    assert "ops hook" in timeline and "notified (trigger) · level 1<" in timeline
    assert 'id="acknowledge-form"' in page.text and 'id="resolve-form"' in page.text
    assert receiver.requests and receiver.requests[0].json()["status"] == "firing"

    acked = admin.post(f"{path}/acknowledge")
    assert acked.status_code == 303 and acked.headers["location"] == f"{path}?done=acknowledged"
    page = admin.client.get(path)
    assert 'data-field="status">acknowledged' in page.text and f"by {ADMIN}" in page.text
    assert 'data-kind="acknowledged"' in page.text and 'id="acknowledge-form"' not in page.text
    with live.client() as client:
        shown = client.get(f"/api/v1/incidents/{fired.incident_id}", headers=bearer(admin_token)).json()
        assert shown["status"] == "acknowledged" and shown["acknowledged_by"] == ADMIN

    resolved = admin.post(f"{path}/resolve")
    assert resolved.status_code == 303
    page = admin.client.get(path)
    assert 'data-field="status">resolved' in page.text and 'id="resolve-form"' not in page.text
    again = admin.post(f"{path}/acknowledge")
    assert again.status_code == 409 and "already resolved" in again.text
    assert admin.client.get("/alerts/incidents/999999").status_code == 404
    assert admin.client.get("/alerts/incidents/abc").status_code == 404
    assert admin.client.get("/alerts/incidents/999999999999").status_code == 404
    assert admin.post("/alerts/incidents/99999999999999999999/resolve").status_code == 404
    assert admin.post("/alerts/incidents/999999/acknowledge").status_code == 404
    actions = [a for a in audit_actions(store.engine) if a[1].startswith("incident.")]
    assert actions == [
        (ADMIN, "incident.acknowledge", f"incident:{fired.incident_id}"),
        (ADMIN, "incident.resolve", f"incident:{fired.incident_id}"),
    ]
    listing = admin.client.get("/alerts")
    recent = listing.text[listing.text.index('id="recent-incidents"') :]
    assert f'data-incident="{fired.incident_id}"' in recent


def test_silence_from_an_alert_and_expire_it(admin: Dashboard, fired: Fired, store: Store) -> None:
    form = admin.client.get("/alerts/silences/new", params={"alert": fired.fingerprint})
    assert form.status_code == 200
    matchers = re.search(r'<textarea name="matchers"[^>]*>([^<]*)</textarea>', form.text)
    assert matchers is not None
    lines = matchers.group(1).splitlines()
    assert "alertname=checkout_failures" in lines and "team=payments" in lines
    assert not any(line.startswith("rule_id=") for line in lines)

    missing = admin.post("/alerts/silences", {"matchers": "team=payments", "duration": "3600", "comment": ""})
    assert missing.status_code == 400 and "comment: say why" in missing.text
    bad = admin.post("/alerts/silences", {"matchers": "team=~(", "duration": "3600", "comment": "deploy"})
    assert bad.status_code == 400 and "not a valid regular expression" in bad.text
    no_duration = admin.post("/alerts/silences", {"matchers": "team=payments", "comment": "deploy"})
    assert no_duration.status_code == 400 and "duration: choose" in no_duration.text

    made = admin.post(
        "/alerts/silences", {"matchers": matchers.group(1), "duration": "3600", "comment": "deploying"}
    )
    assert made.status_code == 303 and made.headers["location"] == "/alerts?done=silenced"
    with store.engine.connect() as conn:
        (row,) = conn.execute(sa.select(silences)).all()
    assert row.created_by == ADMIN and row.ends_ms - row.starts_ms == 3_600_000
    page = admin.client.get("/alerts")
    shown = page.text[page.text.index('id="silences"') :]
    assert f'data-silence="{row.id}"' in shown and "<code>team=&#34;payments&#34;</code>" in shown
    expired = admin.post(f"/alerts/silences/{row.id}/expire")
    assert expired.status_code == 303 and expired.headers["location"] == "/alerts?done=expired"
    assert f'data-silence="{row.id}"' not in admin.client.get("/alerts").text
    assert admin.post("/alerts/silences/987654/expire").status_code == 404
    assert admin.post("/alerts/silences/999999999999/expire").status_code == 404
    assert [a[1] for a in audit_actions(store.engine) if a[1].startswith("silence.")] == [
        "silence.create",
        "silence.expire",
    ]


def test_viewers_see_no_buttons_and_get_403_on_posts(viewer: Dashboard, fired: Fired) -> None:
    page = viewer.client.get("/alerts")
    assert page.status_code == 200 and f'data-alert="{fired.fingerprint}"' in page.text
    assert "Silence…" not in page.text and "/expire" not in page.text
    incident = viewer.client.get(f"/alerts/incidents/{fired.incident_id}")
    assert incident.status_code == 200
    assert 'id="acknowledge-form"' not in incident.text and 'id="resolve-form"' not in incident.text
    assert 'id="silence-form"' not in viewer.client.get("/alerts/silences/new").text
    for path, data in (
        (f"/alerts/incidents/{fired.incident_id}/acknowledge", {}),
        (f"/alerts/incidents/{fired.incident_id}/resolve", {}),
        ("/alerts/silences", {"matchers": "team=payments", "duration": "3600", "comment": "x"}),
        ("/alerts/silences/1/expire", {}),
    ):
        assert viewer.post(path, data).status_code == 403, path


def test_label_and_annotation_text_is_inert(
    live: LiveServer, store: Store, admin_token: str, receiver: Receiver, admin: Dashboard
) -> None:
    fired = fire(
        live,
        admin_token,
        store.project.slug,
        store.project.public_key,
        receiver.url + "/hook",
        labels={"team": XSS},
        summary=XSS + " {{ value | number }}",
    )
    for path in ("/overview", "/alerts", f"/alerts/incidents/{fired.incident_id}"):
        page = admin.client.get(path)
        assert page.status_code == 200 and XSS not in page.text, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text, path
    form = admin.client.get("/alerts/silences/new", params={"alert": fired.fingerprint})
    assert XSS not in form.text and "team=&lt;script&gt;" in form.text


def test_rules_page_and_the_enabled_toggle(
    admin: Dashboard, fired: Fired, store: Store, viewer: Dashboard
) -> None:
    page = admin.client.get("/alerts/rules", params={"project": store.project.slug})
    assert page.status_code == 200
    row = page.text[page.text.index(f'data-rule="{fired.rule_id}"') :]
    row = row[: row.index("</tr>")]
    assert "checkout_failures" in row and "count" in row and "critical" in row and "api" in row
    assert 'data-enabled="true"' in row and "Disable" in row
    assert "default" in page.text  # the project's seeded default rules are listed too
    off = admin.post(f"/alerts/rules/{fired.rule_id}/enabled", {"enabled": "false"})
    assert off.status_code == 303 and off.headers["location"] == "/alerts/rules?done=disabled"
    row = admin.client.get("/alerts/rules").text
    row = row[row.index(f'data-rule="{fired.rule_id}"') :]
    assert 'data-enabled="false"' in row[: row.index("</tr>")]
    bad = admin.post(f"/alerts/rules/{fired.rule_id}/enabled", {"enabled": "maybe"})
    assert bad.status_code == 400 and "enabled: true or false" in bad.text
    assert admin.post("/alerts/rules/99999999/enabled", {"enabled": "true"}).status_code == 404
    assert ("admin@localhost", "alert_rule.update", str(fired.rule_id)) in audit_actions(store.engine)
    shown = viewer.client.get("/alerts/rules")
    assert shown.status_code == 200 and "checkout_failures" in shown.text and "/enabled" not in shown.text
    assert viewer.post(f"/alerts/rules/{fired.rule_id}/enabled", {"enabled": "true"}).status_code == 403


def test_channels_send_test_shows_the_delivery_log(
    admin: Dashboard, fired: Fired, receiver: Receiver, store: Store, viewer: Dashboard
) -> None:
    sent = admin.post(f"/alerts/channels/{fired.channel_id}/test")
    assert sent.status_code == 303
    assert (
        sent.headers["location"] == f"/alerts/channels?tested={fired.channel_id}#channel-{fired.channel_id}"
    )
    test_key = f"syncmon-test:{fired.channel_id}:"
    poll(
        lambda: [r.json()["groupKey"] for r in receiver.requests],
        lambda keys: any(k.startswith(test_key) for k in keys),
    )
    page = poll(
        lambda: admin.client.get(f"/alerts/channels?tested={fired.channel_id}").text,
        lambda text: text.count("data-delivery=") >= 2,
    )
    section = page[page.index(f'data-channel="{fired.channel_id}"') :]
    assert "ops hook" in section and "webhook" in section and "(delivered)" in section
    assert "Test notification queued" in page
    assert admin.post("/alerts/channels/4242/test").status_code == 404
    assert ("admin@localhost", "channel.test", f"channel:{fired.channel_id}") in audit_actions(store.engine)
    escalation = admin.client.get("/alerts/escalation")
    assert escalation.status_code == 200 and "on-call" in escalation.text and "ops hook" in escalation.text
    assert "Send test" not in viewer.client.get("/alerts/channels").text
    assert viewer.post(f"/alerts/channels/{fired.channel_id}/test").status_code == 403
