"""The real sentry-sdk (Python) pointed at the real server, on SQLite and PostgreSQL.

sentry_sdk is process-global state, so every test initialises it inside `sdk(...)`, which
flushes and closes the client on the way out, and works in an isolation scope of its own.
The server runs in this same process: the SDK's auto-enabling integrations would instrument
the server's own Starlette app (each ingest request becoming a transaction sent to itself)
and its logging integration would report the server's logs, so those are off; the
integrations a standalone program relies on (excepthook, dedupe, modules, argv) are on. The
subprocess test runs the SDK with every default, as a real program would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
from prometheus_client.parser import text_string_to_metric_families
from sentry_sdk.crons import MonitorStatus, capture_checkin
from sentry_sdk.integrations.argv import ArgvIntegration
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.excepthook import ExcepthookIntegration
from sentry_sdk.integrations.modules import ModulesIntegration

from syncmon.ingest import gateway
from tests.conftest import Store
from tests.support.live import LiveServer

RELEASE = "shop@2.1.0"
ENVIRONMENT = "production"
MODULE = __name__  # frames of this file carry it as their module


@contextmanager
def sdk(dsn: str, **options: Any) -> Iterator[None]:
    """sentry_sdk initialised for one block: flushed (the transport is a background thread)
    and closed afterwards, its scope data kept out of other tests."""
    settings: dict[str, Any] = {
        "release": RELEASE,
        "environment": ENVIRONMENT,
        "traces_sample_rate": 1.0,
        "auto_session_tracking": True,
        "default_integrations": False,
        "auto_enabling_integrations": False,
        "integrations": [
            ExcepthookIntegration(),
            DedupeIntegration(),
            ModulesIntegration(),
            ArgvIntegration(),
        ],
        "shutdown_timeout": 10,
    }
    settings.update(options)
    sentry_sdk.init(dsn=dsn, **settings)
    try:
        with sentry_sdk.isolation_scope():
            yield
            sentry_sdk.get_isolation_scope().end_session()
    finally:
        client = sentry_sdk.get_client()
        client.flush(timeout=10)
        client.close(timeout=10)
        sentry_sdk.get_global_scope().set_client(None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api(live: LiveServer, token: str, path: str, **params: Any) -> Any:
    with live.client() as client:
        response = client.get(path, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def issues_by_culprit(live: LiveServer, store: Store, token: str) -> dict[str, dict[str, Any]]:
    listed = api(live, token, "/api/v1/issues", project=store.project.slug, limit=500)["issues"]
    return {issue["culprit"] or issue["title"]: issue for issue in listed}


def events_of_kind(live: LiveServer, store: Store, token: str, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(live, token, "/api/v1/events", project=store.project.slug, kind=kind)[
        "events"
    ]
    return found[::-1]  # oldest first


def metric(live: LiveServer, name: str, **labels: str) -> float:
    with live.client() as client:
        text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


class OrderError(Exception):
    pass


def place_order(number: int) -> None:
    raise OrderError(f"order {number} could not be placed: card 4242 declined after 3 attempts")


def refund_order(number: int) -> None:
    raise OrderError(f"order {number} could not be placed: card 4242 declined after 3 attempts")


def report(fn: Any, number: int) -> None:
    try:
        fn(number)
    except OrderError:
        sentry_sdk.capture_exception()


SEND_DEFAULT_PII_DEPRECATED = "ignore:The send_default_pii option is deprecated:DeprecationWarning"


@pytest.mark.filterwarnings(SEND_DEFAULT_PII_DEPRECATED)
def test_errors_messages_users_and_a_session(live: LiveServer, store: Store, viewer_token: str) -> None:
    with sdk(store.project.dsn(live.url), send_default_pii=True):
        sentry_sdk.set_user({"id": "u1"})
        sentry_sdk.set_tag("region", "eu-west")
        sentry_sdk.get_isolation_scope().start_session()
        for number, user in [(1001, "u1"), (1002, "u2"), (1003, "u1")]:
            sentry_sdk.set_user({"id": user})
            report(place_order, number)
        sentry_sdk.set_user({"id": "u3"})
        with sentry_sdk.new_scope() as scope:
            scope.add_attachment(bytes=b"line 1\nline 2\x00\n", filename="request.log")
            report(refund_order, 2001)
        sentry_sdk.capture_message("Payment provider timeout after 30s", level="warning")

    found = issues_by_culprit(live, store, viewer_token)
    assert set(found) == {
        f"{MODULE} in place_order",
        f"{MODULE} in refund_order",
        "Payment provider timeout after 30s",
    }
    placed = found[f"{MODULE} in place_order"]
    assert (
        placed["title"] == "OrderError: order 1001 could not be placed: card 4242 declined after 3 attempts"
    )
    assert (placed["count"], placed["user_count"], placed["level"], placed["status"]) == (
        3,
        2,
        "error",
        "unresolved",
    )
    assert (placed["releases"], placed["environments"], placed["platform"]) == (
        [RELEASE],
        [ENVIRONMENT],
        "python",
    )
    assert placed["grouping"]["method"] == "stacktrace"
    refunded = found[f"{MODULE} in refund_order"]
    assert (refunded["count"], refunded["user_count"]) == (1, 1)
    message = found["Payment provider timeout after 30s"]
    assert (message["level"], message["count"], message["culprit"], message["grouping"]["method"]) == (
        "warning",
        1,
        None,
        "message",
    )

    detail = api(live, viewer_token, f"/api/v1/issues/{placed['id']}")
    latest = detail["latest_event"]
    assert latest["message"].startswith("OrderError: order 1003")
    assert (latest["user_id"], latest["release"], latest["environment"], latest["trusted"]) == (
        "u1",
        RELEASE,
        ENVIRONMENT,
        False,
    )
    exception = latest["data"]["exception"]["values"][-1]
    assert exception["type"] == "OrderError" and exception["mechanism"]["handled"] is True
    frames = exception["stacktrace"]["frames"]
    assert [f["function"] for f in frames[-2:]] == ["report", "place_order"]
    assert frames[-1]["module"] == MODULE and frames[-1]["context_line"].strip().startswith(
        "raise OrderError"
    )
    assert detail["tags"]["environment"] == [{"value": ENVIRONMENT, "count": 3}]
    assert detail["tags"]["release"] == [{"value": RELEASE, "count": 3}]
    assert detail["tags"]["region"] == [{"value": "eu-west", "count": 3}]
    assert detail["tags"]["user"] == [{"value": "u1", "count": 2}, {"value": "u2", "count": 1}]
    issue_events = api(live, viewer_token, f"/api/v1/issues/{placed['id']}/events")["events"]
    assert [e["user_id"] for e in issue_events] == ["u1", "u2", "u1"]

    (session,) = events_of_kind(live, store, viewer_token, "session")
    assert (session["name"], session["release"], session["environment"]) == ("exited", RELEASE, ENVIRONMENT)
    assert session["data"]["errors"] == 4  # the four exceptions; a message is no error
    # sentry-python never sets a session's duration (Relay leaves it unset too): no value.
    assert session["value"] is None and "duration" not in session["data"]
    assert session["data"]["started"] <= session["data"]["timestamp"]
    assert session["user_id"] == "u3" and session["session_id"]  # did: the last user the session saw

    assert metric(live, "syncmon_sentry_items_total", type="event", outcome="stored") == 5
    assert metric(live, "syncmon_sentry_items_total", type="session", outcome="stored") == 1
    assert metric(live, "syncmon_sentry_items_total", type="other", outcome="skipped") == 1  # the attachment


def test_server_events_without_a_user_affect_no_user(
    live: LiveServer, store: Store, viewer_token: str
) -> None:
    """Without send_default_pii and set_user the SDK says nothing about users, and the
    connection's IP is the server's, not a user's."""
    with sdk(store.project.dsn(live.url)):
        for number in (1, 2):
            report(place_order, number)
    (issue,) = issues_by_culprit(live, store, viewer_token).values()
    assert (issue["count"], issue["user_count"]) == (2, 0)


def test_transaction_with_a_span(live: LiveServer, store: Store, viewer_token: str) -> None:
    with (
        sdk(store.project.dsn(live.url)),
        sentry_sdk.start_transaction(name="checkout", op="task") as transaction,
    ):
        transaction.set_tag("cart", "big")
        with sentry_sdk.start_span(op="db.query", name="SELECT * FROM carts"):
            pass
        with sentry_sdk.start_span(op="http.client", name="POST /charge"):
            pass
    (stored,) = events_of_kind(live, store, viewer_token, "transaction")
    assert (stored["name"], stored["level"], stored["release"], stored["environment"]) == (
        "checkout",
        "info",
        RELEASE,
        ENVIRONMENT,
    )
    assert isinstance(stored["value"], float) and stored["value"] >= 0
    assert stored["data"]["span_count"] == 2
    assert [s["op"] for s in stored["data"]["spans"]] == ["db.query", "http.client"]
    assert stored["data"]["contexts"]["trace"]["op"] == "task"
    assert stored["issue_id"] is None
    assert metric(live, "syncmon_sentry_items_total", type="transaction", outcome="stored") == 1


def test_cron_check_ins(live: LiveServer, store: Store, viewer_token: str) -> None:
    with sdk(store.project.dsn(live.url)):
        check_in_id = capture_checkin(monitor_slug="nightly-report", status=MonitorStatus.IN_PROGRESS)
        capture_checkin(
            monitor_slug="nightly-report", check_in_id=check_in_id, status=MonitorStatus.OK, duration=2.5
        )
        capture_checkin(monitor_slug="hourly-sync", status=MonitorStatus.ERROR, duration=0.25)
    stored = events_of_kind(live, store, viewer_token, "check_in")
    assert [(e["name"], e["value"], e["level"], e["message"]) for e in stored] == [
        ("nightly-report", None, "info", "nightly-report: in_progress"),
        ("nightly-report", 2.5, "info", "nightly-report: ok"),
        ("hourly-sync", 0.25, "error", "hourly-sync: error"),
    ]
    assert stored[0]["data"]["check_in_id"] == stored[1]["data"]["check_in_id"] == check_in_id
    assert {(e["release"], e["environment"]) for e in stored} == {(RELEASE, ENVIRONMENT)}
    assert metric(live, "syncmon_sentry_items_total", type="check_in", outcome="stored") == 3


def test_every_compression_the_sdk_offers(
    live: LiveServer, store: Store, viewer_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []
    read_body = gateway.read_body

    async def recording(*args: Any, content_encoding: str | None, **kwargs: Any) -> bytes:
        seen.append(content_encoding)
        return await read_body(*args, content_encoding=content_encoding, **kwargs)

    monkeypatch.setattr(gateway, "read_body", recording)
    variants: list[tuple[str, dict[str, Any], str | None]] = [
        ("default", {}, "br"),  # brotli is installed, so the SDK's default is br
        ("gzip", {"transport_compression_algo": "gzip"}, "gzip"),
        ("level-0", {"transport_compression_level": 0}, None),
    ]
    for release, experiments, _ in variants:
        with sdk(store.project.dsn(live.url), release=release, _experiments=experiments):
            report(place_order, 1)
            with sentry_sdk.start_transaction(name=f"job-{release}"):
                pass
    assert seen == [encoding for *_, encoding in variants for _ in range(2)]
    (issue,) = issues_by_culprit(live, store, viewer_token).values()
    assert (issue["count"], issue["releases"]) == (3, [release for release, *_ in variants])
    names = [e["name"] for e in events_of_kind(live, store, viewer_token, "transaction")]
    assert names == [f"job-{release}" for release, *_ in variants]


def test_dropped_events_arrive_as_a_client_report(live: LiveServer, store: Store, viewer_token: str) -> None:
    def before_send(event: Any, hint: Any) -> Any:
        return None if "drop me" in repr(event) else event

    with sdk(store.project.dsn(live.url), before_send=before_send):
        sentry_sdk.capture_message("drop me")
        sentry_sdk.capture_message("drop me")
        sentry_sdk.capture_message("keep me")
    assert [i["title"] for i in issues_by_culprit(live, store, viewer_token).values()] == ["keep me"]
    assert metric(live, "syncmon_sdk_discarded_events_total", reason="before_send", category="error") == 2
    assert metric(live, "syncmon_sentry_items_total", type="other", outcome="counted") >= 1


CRASHING_SCRIPT = """
import sys

import sentry_sdk

sentry_sdk.init(
    dsn=sys.argv[1],
    release="worker@1.0",
    environment="batch",
    traces_sample_rate=1.0,
    send_default_pii=True,
)
sentry_sdk.set_user({"id": "cron"})


def run_batch(batch):
    raise RuntimeError(f"batch {batch} crashed: 3 rows left")


run_batch(int(sys.argv[2]))
"""


def test_an_unhandled_exception_in_a_real_program(
    live: LiveServer, store: Store, viewer_token: str, tmp_path: Path
) -> None:
    """A program that dies of an exception: the excepthook integration reports it and the
    atexit integration flushes before the interpreter exits, all with the SDK's defaults."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(CRASHING_SCRIPT))
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), store.project.dsn(live.url), str(batch)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        )
        for batch in (17, 18)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 1, stderr.decode()
        assert b"RuntimeError: batch" in stderr
    messages = {f"RuntimeError: batch {batch} crashed: 3 rows left" for batch in (17, 18)}
    (issue,) = issues_by_culprit(live, store, viewer_token).values()
    assert issue["title"] in messages and issue["culprit"] == "__main__ in run_batch"
    assert (issue["count"], issue["user_count"], issue["releases"], issue["environments"]) == (
        2,
        1,
        ["worker@1.0"],
        ["batch"],
    )
    events = api(live, viewer_token, f"/api/v1/issues/{issue['id']}/events")["events"]
    assert {e["message"] for e in events} == messages
    for event in events:
        exception = event["data"]["exception"]["values"][-1]
        assert exception["mechanism"] == {"type": "excepthook", "handled": False}
        assert exception["stacktrace"]["frames"][-1]["function"] == "run_batch"
        assert (event["level"], event["user_id"], event["trusted"]) == ("error", "cron", False)


def test_sdk_gets_429_and_backs_off(store: Store, viewer_token: str) -> None:
    """Over the limit the server answers 429 with Retry-After and X-Sentry-Rate-Limits; the SDK
    then stops sending instead of retrying (a second refusal would show it did not)."""
    # Windows are aligned to the clock: a day-long one makes a boundary between the
    # requests (which would let the third through) practically impossible.
    with LiveServer(store.settings_with(rate_limit_per_key="2/day"), store.engine) as live:
        with sdk(store.project.dsn(live.url)):
            for number in range(2):
                report(place_order, number)
            sentry_sdk.flush(timeout=10)
            report(place_order, 3)  # refused with 429
            sentry_sdk.flush(timeout=10)
            report(place_order, 4)  # not sent: the SDK is backing off
            with sentry_sdk.start_transaction(name="not-sent-either"):
                pass
        assert metric(live, "syncmon_requests_rejected_total", reason="rate_limited") == 1
        with httpx.Client(base_url=live.url) as client:
            listed = client.get(
                "/api/v1/issues", params={"project": store.project.slug}, headers=bearer(viewer_token)
            ).json()["issues"]
    assert [issue["count"] for issue in listed] == [2]
