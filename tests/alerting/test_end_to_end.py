"""The alerting chain end to end, through HTTP only, against real receivers on loopback.

Brute-force traffic (failed logins for one account from one IP, posted to the seed's
`/api/monitoring/security` with the secret key, so the client IP is believed) goes into a
live server; the security engine's brute_force detection makes the default rule
`authentication_failure` fire a CRITICAL alert; routing opens an incident and pages the
escalation policy's first level: a webhook (Alertmanager v4 payload) and an email through
a real SMTP server (aiosmtpd). The signed acknowledge link taken out of the notification is
opened (GET: a confirmation page, nothing happens) and confirmed (POST: acknowledged); the
level-1 timeout passes and level 2 is not paged; the resolve link sends RESOLVE to everyone
paged. Without an acknowledgement, level 2 is paged at the timeout and the incident resolves
by itself when the attack's window has passed.

Everything is configured through the API with an admin token: channels, the escalation
policy, and (for the restart test) a route and the rule's window. The in-process tests
drive a ManualClock; the restart test runs `syncmon serve` as a child process, SIGKILLs it
while the webhook is still being delivered, and restarts it on the same store.
"""

from __future__ import annotations

import email
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from syncmon.bootstrap import open_store
from syncmon.channels.outbox import next_due_ms
from syncmon.clock import ManualClock
from syncmon.settings import load_settings
from syncmon.store.schema import outbox
from tests.channels.support import Receiver, Recorded, Reply, SmtpServer
from tests.conftest import ADMIN_PASSWORD, PG_ADMIN_URL, REQUIRE_PG, Store, _pg_available, fresh_pg_database
from tests.support.live import LiveServer, ServerProcess, free_port, run_cli

T = TypeVar("T")
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
VICTIM = "victim@example.com"
ATTACKER_IP = "203.0.113.10"
LEVEL_TIMEOUT_S = 300
POLL_S = 0.02


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll `check` until it returns something other than None (or False); bounded, never timed."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_S)


# --- the receiving side -------------------------------------------------------------------


@dataclass
class Receivers:
    """Who gets paged: level 1 is a webhook and an email address, level 2 another webhook."""

    pager: Receiver
    smtp: SmtpServer
    backup: Receiver

    def webhook_actions(self, receiver: Receiver) -> list[str]:
        """The actions of the webhook requests the receiver accepted (answered 2xx)."""
        return [r.json()["syncmon"]["action"] for r in list(receiver.requests) if r.accepted]

    def mails(self) -> list[EmailMessage]:
        found = []
        for envelope in list(self.smtp.messages):
            raw = envelope.original_content or b""
            message = email.message_from_bytes(raw, policy=default_policy)
            assert isinstance(message, EmailMessage)
            found.append(message)
        return found

    def mail_actions(self) -> list[str]:
        return [str(m["X-Syncmon-Status"]) for m in self.mails()]


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Receivers]:
    with Receiver() as pager, SmtpServer(tmp_path) as smtp, Receiver() as backup:
        yield Receivers(pager, smtp, backup)


def payload(recorded: Recorded) -> dict[str, Any]:
    found: dict[str, Any] = recorded.json()
    return found


def mail_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(text: str, action: str) -> str:
    prefix = f"{action.capitalize()}: "
    found = [line.removeprefix(prefix) for line in text.splitlines() if line.startswith(prefix)]
    assert len(found) == 1, f"no {action} link in:\n{text}"
    return found[0]


# --- the configuring side: the HTTP API with an admin token --------------------------------


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def incident(self, incident_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/api/v1/incidents/{incident_id}")
        return found

    def open_incidents(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", "/api/v1/incidents", params={"status": "open"})[
            "incidents"
        ]
        return found

    def deliveries(self, channel_id: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", f"/api/v1/channels/{channel_id}/deliveries")[
            "deliveries"
        ]
        return found


@dataclass
class Setup:
    pager: int
    mail: int
    backup: int
    policy: int


def configure(api: Api, receivers: Receivers, project: str, level_timeout_s: int = LEVEL_TIMEOUT_S) -> Setup:
    """Channels and a two-level escalation policy, the project's default (the built-in root
    route sends every alert of the project to it)."""

    def channel(name: str, kind: str, config: dict[str, Any]) -> int:
        body = {"name": name, "kind": kind, "config": config, "project": project}
        return int(api.call("POST", "/api/v1/channels", 201, json=body)["id"])

    pager = channel(
        "on-call webhook", "webhook", {"url": receivers.pager.url + "/alerts", "timeout_seconds": 30}
    )
    mail = channel(
        "on-call email",
        "email",
        {
            "host": "127.0.0.1",
            "port": receivers.smtp.port,
            "security": "none",
            "from_address": "alerts@monitor.example",
            "to": ["oncall@shop.example"],
            "timeout_seconds": 10,
        },
    )
    backup = channel("backup webhook", "webhook", {"url": receivers.backup.url + "/alerts"})
    policy = api.call(
        "POST",
        "/api/v1/escalation-policies",
        201,
        json={
            "name": "web on-call",
            "project": project,
            "default": True,
            "levels": [
                {
                    "timeout_seconds": level_timeout_s,
                    "targets": [{"channel_id": pager}, {"channel_id": mail}],
                },
                {"timeout_seconds": level_timeout_s, "targets": [{"channel_id": backup}]},
            ],
        },
    )
    assert policy["warnings"] == []
    return Setup(pager, mail, backup, int(policy["id"]))


def brute_force(url: str, secret_key: str, attempts: int = 6) -> None:
    """Failed logins for one account from one IP, as the seed's SecurityAnalytics reports them."""
    with httpx.Client(base_url=url, headers={"X-Syncmon-Key": secret_key}, timeout=30) as client:
        for _ in range(attempts):
            body = {
                "event_type": "authentication",
                "auth_event": "login_failed",
                "user_id": VICTIM,
                "client_ip": ATTACKER_IP,
                "url": "https://shop.example/login",
            }
            response = client.post("/api/monitoring/security", json=body)
            assert response.status_code == 200, response.text


def check_trigger(found: dict[str, Any], project: str) -> None:
    """An Alertmanager v4 webhook payload for the CRITICAL authentication_failure alert."""
    assert found["version"] == "4"
    assert found["status"] == "firing"
    [alert] = found["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"]["alertname"] == "authentication_failure"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["project"] == project
    assert f"account {VICTIM}" in alert["annotations"]["summary"]
    assert found["commonLabels"]["alertname"] == "authentication_failure"
    assert found["groupLabels"] == {"alertname": "authentication_failure", "project": project}
    assert found["syncmon"]["action"] == "trigger"
    assert found["syncmon"]["severity"] == "critical"
    assert set(found["syncmon"]["links"]) >= {"acknowledge", "resolve"}


def notified(timeline: list[dict[str, Any]]) -> list[tuple[str | None, int | None, str | None]]:
    """(action, channel, delivery status) of each `notified` entry, in order."""
    return [
        (e["action"], e["channel_id"], (e["delivery"] or {}).get("status"))
        for e in timeline
        if e["kind"] == "notified"
    ]


# --- in process, with a driven clock --------------------------------------------------------


@dataclass
class Monitor:
    server: LiveServer
    clock: ManualClock
    api: Api
    store: Store

    def tick(self) -> None:
        """One alerting pass now (the server's own tick loop also runs, every 50 ms)."""
        self.server.call(self.server.services.dispatcher.tick())

    def evaluate(self) -> None:
        """One alert-engine tick now: every rule evaluated at the clock's time."""
        self.server.call(self.server.services.alerts.tick())

    def drained(self) -> bool:
        """Nothing waits in the outbox any more (every row delivered, failed or cancelled)."""

        async def pending() -> int | None:
            return await self.server.services.read(next_due_ms)

        return self.server.call(pending()) is None


@pytest.fixture
def monitor(store: Store, admin_token: str) -> Iterator[Monitor]:
    clock = ManualClock(T0)
    port = free_port()
    settings = store.settings_with(
        public_url=f"http://127.0.0.1:{port}",
        alerting_tick_seconds=0.05,
        alert_eval_interval_seconds=0.05,
        outbox_poll_seconds=0.2,
    )
    with LiveServer(settings, store.engine, clock=clock, port=port) as server:
        api = Api(server.url, admin_token)
        try:
            yield Monitor(server, clock, api, store)
        finally:
            api.close()


def test_brute_force_pages_and_the_acknowledge_link_stops_escalation(
    monitor: Monitor, receivers: Receivers
) -> None:
    api, project = monitor.api, monitor.store.project
    setup = configure(api, receivers, project.slug)
    brute_force(monitor.server.url, project.secret_key)

    # CRITICAL alert → incident → level 1 paged: the webhook and the email arrive.
    [alert] = wait_for("the alert", lambda: api.call("GET", "/api/v1/alerts")["alerts"] or None)
    assert (alert["labels"]["alertname"], alert["state"]) == ("authentication_failure", "firing")
    wait_for("the page", lambda: receivers.webhook_actions(receivers.pager) == ["trigger"])
    wait_for("the email", lambda: receivers.mail_actions() == ["trigger"])
    trigger = payload(receivers.pager.requests[0])
    check_trigger(trigger, project.slug)
    [incident] = api.open_incidents()
    assert (incident["status"], incident["severity"]) == ("triggered", "critical")
    assert trigger["syncmon"]["incidentId"] == incident["id"]
    [mail] = receivers.mails()
    assert (
        mail["Subject"] == "[syncmon] [FIRING] authentication_failure (syncscript) — incident #1 (critical)"
    )
    ack_link = link_in(mail_text(mail), "acknowledge")
    assert ack_link.startswith(monitor.server.url + "/alerting/act/")

    # GET shows a confirmation page and does nothing; POST acknowledges.
    with httpx.Client(timeout=30) as browser:
        page = browser.get(ack_link)
        assert page.status_code == 200
        assert f"Acknowledge incident #{incident['id']}?" in page.text
        assert '<form method="post">' in page.text
        assert api.incident(incident["id"])["status"] == "triggered"
        done = browser.post(ack_link)
        assert done.status_code == 200
        assert f"Incident #{incident['id']} acknowledged" in done.text
    acknowledged = api.incident(incident["id"])
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_by"] == f"link sent to channel:{setup.mail}"
    wait_for(
        "the ACKNOWLEDGE page",
        lambda: receivers.webhook_actions(receivers.pager) == ["trigger", "acknowledge"],
    )
    wait_for("the ACKNOWLEDGE email", lambda: receivers.mail_actions() == ["trigger", "acknowledge"])

    # The level-1 timeout passes (twice over): level 2 is not paged.
    for _ in range(2):
        monitor.clock.advance(LEVEL_TIMEOUT_S + 1)
        monitor.tick()
    wait_for("the outbox to drain", monitor.drained)
    assert receivers.backup.requests == []
    assert api.deliveries(setup.backup) == []
    kinds = [e["kind"] for e in api.incident(incident["id"])["timeline"]]
    assert "escalated" in kinds and all(
        e["level"] == 1 for e in api.incident(incident["id"])["timeline"] if e["kind"] == "escalated"
    )

    # Resolve through the link the ACKNOWLEDGE carried: RESOLVE reaches everyone paged.
    acknowledge_page = payload(receivers.pager.requests[1])
    assert set(acknowledge_page["syncmon"]["links"]) == {"resolve"}
    with httpx.Client(timeout=30) as browser:
        done = browser.post(acknowledge_page["syncmon"]["links"]["resolve"])
        assert done.status_code == 200, done.text
        assert f"Incident #{incident['id']} resolved" in done.text
    wait_for(
        "the RESOLVE",
        lambda: receivers.webhook_actions(receivers.pager) == ["trigger", "acknowledge", "resolve"],
    )
    wait_for("the RESOLVE email", lambda: receivers.mail_actions() == ["trigger", "acknowledge", "resolve"])
    resolve = payload(receivers.pager.requests[2])
    assert resolve["status"] == "resolved"
    assert resolve["groupKey"] == trigger["groupKey"]
    wait_for("the outbox to drain", monitor.drained)

    # What happened, read back through the API.
    found = api.incident(incident["id"])
    assert found["status"] == "resolved"
    assert found["resolved_by"] == f"link sent to channel:{setup.pager}"
    timeline = found["timeline"]
    kinds = [e["kind"] for e in timeline]
    assert kinds[:2] == ["fired", "escalated"]
    assert kinds.index("acknowledged") < kinds.index("resolved")
    [ack] = [e for e in timeline if e["kind"] == "acknowledged"]
    assert ack["actor"] == f"link sent to channel:{setup.mail}"
    assert notified(timeline) == [
        ("trigger", setup.pager, "delivered"),
        ("trigger", setup.mail, "delivered"),
        ("acknowledge", setup.pager, "delivered"),
        ("acknowledge", setup.mail, "delivered"),
        ("resolve", setup.pager, "delivered"),
        ("resolve", setup.mail, "delivered"),
    ]
    assert receivers.backup.requests == []
    assert len(receivers.pager.requests) == 3 and len(receivers.smtp.messages) == 3


def test_unacknowledged_escalates_then_resolves_when_the_attack_ends(
    monitor: Monitor, receivers: Receivers
) -> None:
    api, project = monitor.api, monitor.store.project
    setup = configure(api, receivers, project.slug)
    brute_force(monitor.server.url, project.secret_key)
    wait_for("the page", lambda: receivers.webhook_actions(receivers.pager) == ["trigger"])
    wait_for("the email", lambda: receivers.mail_actions() == ["trigger"])
    [incident] = api.open_incidents()

    monitor.clock.advance(LEVEL_TIMEOUT_S - 1)
    monitor.tick()
    wait_for("the outbox to drain", monitor.drained)
    assert receivers.backup.requests == []
    monitor.clock.advance(1)
    monitor.tick()
    wait_for("level 2", lambda: receivers.webhook_actions(receivers.backup) == ["trigger"])
    check_trigger(payload(receivers.backup.requests[0]), project.slug)

    # The rule's window (15 minutes) passes without another detection: the alert resolves,
    # the group's resolve goes out and closes the incident, to everyone it paged.
    monitor.clock.advance(15 * 60)
    monitor.evaluate()
    assert wait_for("the alert to resolve", lambda: api.call("GET", "/api/v1/alerts")["alerts"] == [])
    monitor.tick()
    wait_for("the RESOLVEs", lambda: receivers.webhook_actions(receivers.backup) == ["trigger", "resolve"])
    wait_for("the RESOLVE email", lambda: receivers.mail_actions() == ["trigger", "resolve"])
    wait_for("the RESOLVE page", lambda: receivers.webhook_actions(receivers.pager) == ["trigger", "resolve"])
    resolve = payload(receivers.pager.requests[1])
    assert resolve["status"] == "resolved"
    assert [a["status"] for a in resolve["alerts"]] == ["resolved"]
    wait_for("the outbox to drain", monitor.drained)

    found = api.incident(incident["id"])
    assert (found["status"], found["resolved_by"], found["acknowledged_by"]) == ("resolved", "system", None)
    levels = [e["level"] for e in found["timeline"] if e["kind"] == "escalated"]
    assert levels == [1, 2]
    assert notified(found["timeline"]) == [
        ("trigger", setup.pager, "delivered"),
        ("trigger", setup.mail, "delivered"),
        ("trigger", setup.backup, "delivered"),
        ("resolve", setup.pager, "delivered"),
        ("resolve", setup.mail, "delivered"),
        ("resolve", setup.backup, "delivered"),
    ]
    assert api.open_incidents() == []


# --- a real server process, killed mid-delivery and restarted --------------------------------


@dataclass
class Deployment:
    """`syncmon serve` on one store, always on the same port (so its links stay valid)."""

    env: dict[str, str]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def server(self) -> ServerProcess:
        return ServerProcess(self.env, port=self.port, log_path=self.log_path)

    def cli(self, *args: str) -> str:
        return run_cli(self.env, *args)

    def open_engine(self) -> Engine:
        overrides = {
            "data_dir": self.env["SYNCMON_DATA_DIR"],
            "database_url": self.env["SYNCMON_DATABASE_URL"] or None,
        }
        return open_store(load_settings(overrides, environ={}, config_file=None))


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    config = tmp_path / "syncmon.toml"
    config.write_text("")  # so a syncmon.toml in the working directory cannot interfere
    port = free_port()
    env = {
        "SYNCMON_CONFIG": str(config),
        "SYNCMON_DATA_DIR": str(tmp_path / "data"),
        "SYNCMON_DATABASE_URL": "",
        "SYNCMON_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SYNCMON_LOG_LEVEL": "warning",
        "SYNCMON_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SYNCMON_ALERTING_TICK_SECONDS": "0.1",
        "SYNCMON_ALERT_EVAL_INTERVAL_SECONDS": "0.2",
        "SYNCMON_OUTBOX_POLL_SECONDS": "0.2",
    }
    log_path = tmp_path / "server.log"
    if request.param == "sqlite":
        yield Deployment(env, port, log_path)
        return
    problem = _pg_available()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    url, drop = fresh_pg_database()
    try:
        yield Deployment({**env, "SYNCMON_DATABASE_URL": url}, port, log_path)
    finally:
        drop()


RESTART_WINDOW_S = 10


@pytest.mark.slow
def test_a_restart_mid_delivery_loses_and_repeats_nothing(
    deployment: Deployment, receivers: Receivers
) -> None:
    """SIGKILL while the webhook is being delivered (the receiver holds the request); the alert's
    window ends while the server is down; after the restart the page is delivered once, the
    email is not sent again, and both get the RESOLVE."""
    token = deployment.cli("token", "create", "--role", "admin", "--name", "e2e").strip()
    project = orjson.loads(deployment.cli("project", "list", "--json"))[0]
    held = threading.Event()
    receivers.pager.then(Reply(503, b"gave up", hold=held))  # holds the first page, then refuses it
    server = deployment.server().start()
    api = Api(deployment.url, token)
    try:
        setup = configure(api, receivers, project["slug"], level_timeout_s=3600)
        # A route of its own: the group's resolve goes out a second after the alert resolves.
        api.call(
            "POST",
            "/api/v1/routes",
            201,
            json={
                "name": "security pages",
                "matchers": ["alertname=authentication_failure"],
                "group_interval_seconds": 1,
                "policy_id": setup.policy,
            },
        )
        # The seed's default rule, with a window short enough to end while the server is down.
        rules = api.call("GET", "/api/v1/alerts/rules", params={"project": project["slug"]})["rules"]
        [rule] = [r for r in rules if r["name"] == "authentication_failure"]
        api.call("PATCH", f"/api/v1/alerts/rules/{rule['id']}", json={"window": f"{RESTART_WINDOW_S}s"})

        brute_force(deployment.url, project["secret_key"])
        [alert] = wait_for("the alert", lambda: api.call("GET", "/api/v1/alerts")["alerts"] or None)
        wait_for("the page to arrive (and be held)", lambda: len(receivers.pager.requests) == 1)
        wait_for("the email", lambda: receivers.mail_actions() == ["trigger"])
        [incident] = api.open_incidents()
        wait_for(
            "the email's delivery to be recorded",
            lambda: (
                ("trigger", setup.mail, "delivered") in notified(api.incident(incident["id"])["timeline"])
            ),
        )
        assert ("trigger", setup.pager, "sending") in notified(api.incident(incident["id"])["timeline"])
    finally:
        api.close()
        server.kill()
    held.set()  # the held request is answered, to a server that is gone
    wait_for("the held request to end", lambda: receivers.pager.requests[0].finished)

    # The alert's window ends while the server is down (times are the server's receive times).
    ends_s = alert["since"] + RESTART_WINDOW_S + 2
    while time.time() < ends_s:
        time.sleep(0.1)

    server = deployment.server().start()
    api = Api(deployment.url, token)
    try:
        wait_for(
            "the page after the restart",
            lambda: receivers.webhook_actions(receivers.pager) == ["trigger", "resolve"],
        )
        wait_for("the RESOLVE email", lambda: receivers.mail_actions() == ["trigger", "resolve"])

        def all_delivered() -> dict[str, Any] | None:
            found = api.incident(incident["id"])
            statuses = [status for _, _, status in notified(found["timeline"])]
            return found if len(statuses) == 4 and set(statuses) == {"delivered"} else None

        done = wait_for("every notification delivered", all_delivered)
        assert api.call("GET", "/api/v1/alerts")["alerts"] == []
        pager_log = [(d["attempt"], d["outcome"]) for d in reversed(api.deliveries(setup.pager))]
    finally:
        api.close()
        server.stop()

    assert done["status"] == "resolved" and done["resolved_by"] == "system"
    assert notified(done["timeline"]) == [
        ("trigger", setup.pager, "delivered"),
        ("trigger", setup.mail, "delivered"),
        ("resolve", setup.pager, "delivered"),
        ("resolve", setup.mail, "delivered"),
    ]
    # The page was sent twice (the first attempt's outcome died with the server) and taken once.
    assert [(r.json()["syncmon"]["action"], r.accepted) for r in receivers.pager.requests] == [
        ("trigger", False),
        ("trigger", True),
        ("resolve", True),
    ]
    assert pager_log == [(1, "interrupted"), (2, "delivered"), (1, "delivered")]
    assert receivers.mail_actions() == ["trigger", "resolve"]
    assert receivers.backup.requests == []
    engine = deployment.open_engine()
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(outbox.c.channel_id, outbox.c.status).order_by(outbox.c.id)).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        (setup.pager, "delivered"),
        (setup.mail, "delivered"),
        (setup.pager, "delivered"),
        (setup.mail, "delivered"),
    ]
