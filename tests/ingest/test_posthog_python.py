"""The real posthog-python SDK pointed at the real server, on SQLite and PostgreSQL.

posthog-python (v0 capture, its default) posts `{"api_key", "batch": [...], "sent_at",
"historical_migration"}` to `/batch/` from a background consumer thread; `flush()` waits
for the queue to drain and `shutdown()` stops the thread. Failures reach `on_error`,
which every test checks, so a refused batch cannot pass unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from posthog import Posthog

from syncmon.events import Event
from syncmon.store import eventlog
from tests.conftest import Store
from tests.ingest.test_posthog import with_posthog
from tests.support.live import LiveServer


@pytest.fixture
def ph(store: Store) -> Iterator[LiveServer]:
    with with_posthog(LiveServer(store.settings, store.engine)) as server:
        yield server


@contextmanager
def client(live: LiveServer, key: str, **options: Any) -> Iterator[tuple[Posthog, list[Exception]]]:
    """A Posthog client for one block, flushed and shut down afterwards; its errors listed."""
    errors: list[Exception] = []
    settings: dict[str, Any] = {
        "host": live.url,
        "on_error": lambda error, batch: errors.append(error),
        "flush_at": 50,
        "flush_interval": 0.5,
        "max_retries": 0,
        "super_properties": {"app_version": "3.1.0", "environment": "staging"},
    }
    settings.update(options)
    posthog = Posthog(key, **settings)
    try:
        yield posthog, errors
        posthog.flush()
    finally:
        posthog.shutdown()


def stored(store: Store) -> list[Event]:
    with store.engine.connect() as conn:
        every = eventlog.events_in_seq_range(conn, 0, 2**62)
    return [event for event in every if "$event" in event.data]


def fail() -> None:
    raise ValueError("checkout total is negative")


@pytest.mark.parametrize("gzip", [False, True], ids=["json", "gzip"])
def test_capture_set_alias_and_exception_in_a_batch(ph: LiveServer, store: Store, gzip: bool) -> None:
    when = datetime.now(UTC) - timedelta(minutes=3)
    with client(ph, store.project.public_key, gzip=gzip) as (posthog, errors):
        posthog.capture(
            "order_paid",
            distinct_id="user-42",
            properties={"amount": 129.5, "currency": "EUR", "$session_id": "s-1"},
            timestamp=when,
        )
        posthog.set(distinct_id="user-42", properties={"plan": "pro", "email": "ada@example.com"})
        posthog.alias(previous_id="anon-7", distinct_id="user-42")
        posthog.capture(
            "security_event",
            distinct_id="user-42",
            properties={"event_type": "authentication", "auth_event": "login_failed"},
        )
        for _ in range(2):
            try:
                fail()
            except ValueError as exc:
                posthog.capture_exception(exc, distinct_id="user-42")
        posthog.flush()
    assert errors == []
    events = stored(store)
    assert [(e.kind, e.name) for e in events] == [
        ("custom", "order_paid"),
        ("custom", "$set"),
        ("custom", "$create_alias"),
        ("security", "authn_login_fail"),
        ("error", "ValueError"),
        ("error", "ValueError"),
    ]
    paid, person, alias, security, error, again = events
    assert paid.user_id == "user-42" and paid.session_id == "s-1"
    assert (paid.release, paid.environment) == ("3.1.0", "staging")  # super_properties
    assert paid.data["amount"] == 129.5
    assert paid.data["$lib"] == "posthog-python"
    # posthog-python's clocks and ours agree, so skew correction moves it by milliseconds.
    assert abs(paid.timestamp_ms - int(when.timestamp() * 1000)) < 5_000
    assert person.user_id == "user-42" and person.data["$set"]["plan"] == "pro"
    assert (alias.data["distinct_id"], alias.data["alias"]) == ("anon-7", "user-42")
    assert security.data["category"] == "authentication"
    assert error.message == "ValueError: checkout total is negative"
    assert error.issue_id is not None and error.issue_id == again.issue_id
    frames = error.data["exception"]["values"][-1]["stacktrace"]["frames"]
    assert frames[-1]["function"] == "fail"


def test_unknown_key_is_reported_to_on_error(ph: LiveServer, store: Store) -> None:
    with client(ph, "not-a-project-key") as (posthog, errors):
        posthog.capture("order_paid", distinct_id="user-42")
        posthog.flush()
    assert len(errors) == 1
    assert getattr(errors[0], "status", None) == 401
    assert "unknown project key" in str(errors[0])
    assert stored(store) == []


def test_flags_answer_no_flags(ph: LiveServer, store: Store) -> None:
    """evaluate_flags posts /flags/; reading a flag then captures `$feature_flag_called`,
    whose `$feature_flag_error` says whether /flags answered (only the flag is missing)."""
    with client(ph, store.project.public_key) as (posthog, errors):
        flags = posthog.evaluate_flags("user-42")
        assert flags.get_flag("new-checkout") is None
        assert flags.is_enabled("new-checkout") is False
    assert errors == []
    called = [e for e in stored(store) if e.name == "$feature_flag_called"]
    assert len(called) == 1
    assert called[0].data["$feature_flag_error"] == "flag_missing"
