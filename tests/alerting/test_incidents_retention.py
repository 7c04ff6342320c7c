"""Alerting history retention: resolved incidents and their timelines, expired silences and
past maintenance windows go after incident_retention_days; anything still in use stays."""

from __future__ import annotations

import sqlalchemy as sa

from syncmon.alerting import retention
from syncmon.store.schema import incident_events, incidents, maintenance_windows, silences
from tests.alerting.incident_support import (
    T0,
    EngineTransactor,
    Harness,
    add_policy,
    add_silence,
    alert,
    firing,
    resolved,
)
from tests.conftest import Store

DAY_S = 86_400


def count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def add_window(store: Store, ends_s: int, *, weekly: bool, until_s: int | None = None) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            maintenance_windows.insert().values(
                project_id=store.project.id, name="w", matchers=[], starts_ms=T0, ends_ms=T0 + ends_s * 1000,
                weekly=weekly, timezone="UTC", until_ms=T0 + until_s * 1000 if until_s else None,
                created_by="t", created_ms=T0, updated_ms=T0,
            )
        )  # fmt: skip


async def test_old_history_goes_and_what_is_in_use_stays(store: Store) -> None:
    harness = Harness(store.engine)
    try:
        add_policy(store.engine, [{"timeout_ms": 60_000, "targets": [{"channel_id": 1}]}])
        old = alert("Old", "critical")
        await harness.handle(firing(old))
        harness.clock.ms = T0 + 10_000
        await harness.handle(resolved(old, T0 + 10_000))
        await harness.at(300)  # incident 1 resolved at T0 + 300 s
        await harness.handle(firing(alert("StillOpen", "critical")))  # incident 2 stays open
        add_silence(store.engine, [{"name": "a", "value": "b"}], T0, T0 + 1000)
        await harness.at(301)  # announces the silence's expiry
        add_silence(store.engine, [{"name": "a", "value": "b"}], T0, T0 + 400 * DAY_S * 1000)
        add_window(store, 3600, weekly=False)
        add_window(store, 3600, weekly=True)  # recurs forever: kept
        add_window(store, 3600, weekly=True, until_s=2 * DAY_S)

        transactor = EngineTransactor(store.engine)
        now = T0 + 300_000 + 10 * DAY_S * 1000
        assert await retention.run(transactor, now, 30) == {"incidents": 0, "silences_and_windows": 0}
        assert await retention.run(transactor, now, 5) == {"incidents": 1, "silences_and_windows": 3}
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(incidents.c.id)).scalars().all() == [2]
            assert set(conn.execute(sa.select(incident_events.c.incident_id)).scalars()) == {2}
        assert count(store, silences) == 1
        assert count(store, maintenance_windows) == 1
    finally:
        harness.close()
