"""Maintenance windows: one-off and weekly (local time across DST), per project, with matchers;
alerts inside are recorded but not notified, and notified once the window ends if still firing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from syncmon.alerting.maintenance import MaintenanceWindow, in_maintenance
from syncmon.alerting.model import Matcher
from syncmon.store.schema import alert_group_alerts, maintenance_windows
from tests.alerting.incident_support import T0, Harness, add_policy, alert, firing
from tests.conftest import Store

BERLIN = ZoneInfo("Europe/Berlin")


def ms(year: int, month: int, day: int, hour: int, minute: int = 0, zone: ZoneInfo | None = None) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=zone or UTC).timestamp() * 1000)


# Sunday 2026-03-22 02:00-04:00 Berlin (CET, UTC+1); from 2026-03-29 Berlin is on CEST (UTC+2).
WEEKLY = MaintenanceWindow(
    id=1,
    project_id=1,
    name="patching",
    starts_ms=ms(2026, 3, 22, 2, zone=BERLIN),
    ends_ms=ms(2026, 3, 22, 4, zone=BERLIN),
    weekly=True,
    timezone="Europe/Berlin",
)


@pytest.mark.parametrize(
    ("at", "active"),
    [
        (ms(2026, 3, 22, 1, 59, BERLIN), False),  # before the first occurrence
        (ms(2026, 3, 22, 2, 0, BERLIN), True),
        (ms(2026, 3, 22, 3, 59, BERLIN), True),
        (ms(2026, 3, 22, 4, 0, BERLIN), False),  # the end is exclusive
        (ms(2026, 3, 25, 3, 0, BERLIN), False),  # a Wednesday
        # after the DST change: still 02:00-04:00 local, i.e. 00:00-02:00 UTC
        (ms(2026, 4, 5, 3, 30, BERLIN), True),
        (ms(2026, 4, 5, 1, 30), True),
        (ms(2026, 4, 5, 2, 30), False),
        (ms(2026, 7, 5, 2, 30, BERLIN), True),  # months later
    ],
)
def test_weekly_recurrence_keeps_local_time(at: int, active: bool) -> None:
    assert WEEKLY.active_at(at) is active


def test_one_off_window_and_until() -> None:
    once = MaintenanceWindow(2, 1, "deploy", starts_ms=1000, ends_ms=2000)
    assert [once.active_at(t) for t in (999, 1000, 1999, 2000, 2000 + 7 * 86_400_000)] == [
        False,
        True,
        True,
        False,
        False,
    ]
    limited = MaintenanceWindow(
        3, 1, "x", starts_ms=WEEKLY.starts_ms, ends_ms=WEEKLY.ends_ms, weekly=True, timezone="Europe/Berlin",
        until_ms=ms(2026, 3, 28, 0),
    )  # fmt: skip
    assert limited.active_at(ms(2026, 3, 22, 3, zone=BERLIN))
    assert not limited.active_at(ms(2026, 3, 29, 3, zone=BERLIN))


def test_project_and_matchers() -> None:
    window = MaintenanceWindow(4, 7, "db", starts_ms=0, ends_ms=10_000, matchers=(Matcher("team", "db"),))
    assert in_maintenance([window], 7, {"team": "db"}, 5) is window
    assert in_maintenance([window], 8, {"team": "db"}, 5) is None  # another project
    assert in_maintenance([window], 7, {"team": "web"}, 5) is None
    assert in_maintenance([window], None, {"team": "db"}, 5) is None


@pytest.fixture
def harness(store: Store) -> Iterator[Harness]:
    h = Harness(store.engine)
    add_policy(store.engine, [{"timeout_ms": 300_000, "targets": [{"channel_id": 1}]}])
    yield h
    h.close()


async def test_alerts_in_maintenance_are_recorded_not_notified(store: Store, harness: Harness) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            maintenance_windows.insert().values(
                project_id=store.project.id, name="deploy", matchers=[], starts_ms=T0, ends_ms=T0 + 600_000,
                weekly=False, timezone="UTC", until_ms=None, created_by="test", created_ms=T0, updated_ms=T0,
            )
        )  # fmt: skip
    a = alert("DeployErrors", "critical")
    other = alert("DeployErrors", "critical", project="another")  # not this project's window
    await harness.handle(firing(a), firing(other))
    sent = harness.sent()
    assert [s.fingerprints for s in sent] == [(other.fingerprint,)]
    with store.engine.connect() as conn:
        recorded = conn.execute(
            sa.select(alert_group_alerts.c.fingerprint, alert_group_alerts.c.muted_by)
        ).all()
    assert (a.fingerprint, "maintenance:1") in {tuple(r) for r in recorded}

    await harness.run_until(599, step=60)
    assert len(harness.sent()) == 1
    await harness.at(600)  # the window ends; still firing: notified now
    later = harness.sent()[1:]
    assert [(s.action, s.fingerprints, s.at_s) for s in later] == [("trigger", (a.fingerprint,), 600.0)]
