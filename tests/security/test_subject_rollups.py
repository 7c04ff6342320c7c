"""Security events per subject (`subject_rollups`) and the Security page's top offenders read
from them, on SQLite and PostgreSQL: the same table as counting the raw events, closed days
kept in the cache only while no late event changed them, and retention by tier."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest
import sqlalchemy as sa

from syncmon.events import Event
from syncmon.metrics import rollup_versions
from syncmon.metrics import sketch_rollups as sr
from syncmon.pipeline.writer import Writer
from syncmon.security import subject_rollups
from syncmon.security.detection import Detection, Severity
from syncmon.security.subject_rollups import is_failure
from syncmon.store.schema import events as events_table
from syncmon.store.schema import rollup_subjects
from syncmon.web.dashboard.closed_cache import ClosedCache
from syncmon.web.dashboard.security_data import DetectionRow
from syncmon.web.dashboard.security_subjects import Offender, offenders, subject_key
from syncmon.web.dashboard.shell import RANGES
from tests.conftest import Store

MIN = 60_000
DAY = 86_400_000
NOW = 1_795_845_432_100  # 2026-11-28T03:57:12.1Z
NAMES = ["authn_login_fail", "authn_login_success", "authz_fail", "session_expired", "input_validation_fail"]
ACCOUNTS = ["Alice@Shop.example", "alice@shop.example", " ALICE@shop.example ", "bob@shop.example", "Carol"]


@pytest.fixture
def writer(store: Store) -> Iterator[Writer]:
    writer = Writer(store.engine, hooks=[subject_rollups.hook])
    writer.start()
    yield writer
    writer.stop()


def security(store: Store, name: str, ts: int, ip: str | None, account: str | None) -> Event:
    return Event(
        project_id=store.project.id,
        kind="security",
        name=name,
        timestamp_ms=ts,
        received_ms=ts + 100,
        client_ip=ip,
        user_id=account,
        data={"event_type": name},
    )


def spread(store: Store, count: int, seed: int) -> list[Event]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        ts = NOW - rng.randrange(33 * DAY) + rng.randrange(3 * MIN)
        ip = f"203.0.113.{rng.randrange(40)}" if rng.random() < 0.9 else None
        account = rng.choice(ACCOUNTS) if rng.random() < 0.4 else None
        found.append(security(store, rng.choice(NAMES), ts, ip, account))
    return found


def raw_offenders(
    store: Store, since_ms: int, found: Sequence[Detection]
) -> dict[str, list[tuple[str, int, int, int, list[str]]]]:
    """The table as the page computed it from raw events before the rollup, from the range's
    first minute on (first hour when minute rows are no longer kept that far back, as the
    sketches' windows): (key, events, failures, latest, rules) of the top ten."""
    first = since_ms // MIN
    if first < sr.tier_floors(NOW)[0]:
        first -= first % 60
    columns = {"ip": events_table.c.client_ip, "account": events_table.c.user_id}
    ranked: dict[str, list[tuple[str, int, int, int, list[str]]]] = {}
    for subject_type, column in columns.items():
        by_key: dict[str, Offender] = {}
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(column, events_table.c.name, events_table.c.ts_ms).where(
                    events_table.c.kind == "security",
                    events_table.c.ts_ms >= first * MIN,
                    column.is_not(None),
                )
            ).all()
        for subject, name, ts_ms in rows:
            entry = by_key.setdefault(subject_key(subject_type, subject), Offender(subject_type, subject))
            entry.events += 1
            entry.failures += 1 if is_failure(name) else 0
            entry.last_ms = max(entry.last_ms, ts_ms)
        for detection in found:
            if detection.subject_type == subject_type:
                key = subject_key(subject_type, detection.subject)
                entry = by_key.setdefault(key, Offender(subject_type, detection.subject))
                entry.found.append(detection)
                entry.last_ms = max(entry.last_ms, detection.last_ms)
        flagged = [entry for entry in by_key.values() if entry.found or entry.failures]
        flagged.sort(key=lambda o: (o.threat.score, o.failures, o.events, o.last_ms), reverse=True)
        ranked[subject_type] = [summary(o) for o in flagged[:10]]
    return ranked


def summary(o: Offender) -> tuple[str, int, int, int, list[str]]:
    return subject_key(o.subject_type, o.subject), o.events, o.failures, o.last_ms, o.rules


def table(
    store: Store, since_ms: int, found: Sequence[Detection], cache: ClosedCache | None = None, now: int = NOW
) -> dict[str, list[tuple[str, int, int, int, list[str]]]]:
    rows = [DetectionRow(i, d, store.project, True) for i, d in enumerate(found)]
    with store.engine.connect() as conn:
        got = offenders(conn, [store.project.id], since_ms, now, rows, cache)
    return {kind: [summary(o) for o in listed] for kind, listed in got.items()}


def detection(store: Store, subject_type: str, subject: str, last_ms: int, severity: Severity) -> Detection:
    return Detection(
        "brute_force", store.project.id, subject_type, subject, severity, 1.0, 5, last_ms - MIN, last_ms, "x"
    )


def test_which_names_report_a_failure() -> None:
    assert is_failure("authn_login_fail") and is_failure("authn_login_lock") and is_failure("authz_fail")
    assert is_failure("input_validation_fail") and is_failure("malicious_sqli")
    assert not is_failure("authn_login_success") and not is_failure("session_created")


def test_a_batch_becomes_one_row_per_subject_tier_and_bucket(store: Store) -> None:
    batch = [
        security(store, "authn_login_fail", NOW, "198.51.100.7", "Ann"),
        security(store, "authn_login_success", NOW + 1000, "198.51.100.7", None),
        security(store, "authn_login_fail", NOW, None, None),  # nobody to count it for
        Event(
            project_id=store.project.id,
            kind="custom",
            name="authn_login_fail",
            timestamp_ms=NOW,
            received_ms=NOW,
        ),
    ]
    cells = subject_rollups.subject_cells(batch)
    minute = NOW // MIN
    assert cells[(store.project.id, "ip", 1, minute, "198.51.100.7")] == [2, 1, NOW + 1000]
    assert cells[(store.project.id, "account", 1440, minute - minute % 1440, "Ann")] == [1, 1, NOW]
    assert len(cells) == 6  # two subjects in three tiers


@pytest.mark.parametrize("seed", [1, 2])
async def test_offenders_from_the_rollup_are_those_of_the_raw_events(
    store: Store, writer: Writer, seed: int
) -> None:
    batch = spread(store, 1500, seed)
    for start in range(0, len(batch), 300):
        await writer.write(batch[start : start + 300])
    found = [
        detection(store, "ip", "203.0.113.99", NOW - 2 * MIN, Severity.HIGH),  # no events of its own
        detection(store, "ip", "203.0.113.3", NOW - 5 * DAY, Severity.MEDIUM),
        detection(store, "account", "alice@shop.example", NOW - 3 * MIN, Severity.LOW),
    ]
    cache = ClosedCache()
    for minutes in RANGES.values():
        since = NOW - minutes * MIN
        shown = [d for d in found if d.last_ms >= since]
        expected = raw_offenders(store, since, shown)
        assert table(store, since, shown) == expected, minutes
        assert table(store, since, shown, cache) == expected, minutes
        assert table(store, since, shown, cache) == expected, minutes  # from the cache
    assert cache.hits >= 2  # 7 and 30 days: their closed days were merged once
    accounts = table(store, NOW - 30 * DAY, [])["account"]
    assert [key for key, *_ in accounts][:1] == ["alice@shop.example"]  # three spellings, one account


async def test_the_shown_spelling_is_the_first_and_links_find_the_events(
    store: Store, writer: Writer
) -> None:
    await writer.write(
        [
            security(store, "authn_login_fail", NOW - DAY, None, "alice@Shop.example"),
            security(store, "authn_login_fail", NOW - MIN, None, "Alice@shop.example"),
        ]
    )
    with store.engine.connect() as conn:
        got = offenders(conn, [store.project.id], NOW - 7 * DAY, NOW, [], ClosedCache())
    assert [(o.subject, o.events, o.failures) for o in got["account"]] == [("Alice@shop.example", 2, 2)]


async def test_a_late_event_in_a_closed_day_is_counted_at_once(store: Store, writer: Writer) -> None:
    await writer.write(spread(store, 400, seed=5))
    cache = ClosedCache()
    since = NOW - 30 * DAY
    before = table(store, since, [], cache)
    assert table(store, since, [], cache) == before and cache.hits == 4  # both types, days and hours
    # Today's events do not touch the closed days: still from the cache, and counted.
    await writer.write([security(store, "authn_login_fail", NOW - MIN, "192.0.2.1", None) for _ in range(20)])
    today = table(store, since, [], cache)
    assert cache.hits == 8 and today["ip"][0] == ("192.0.2.1", 20, 20, NOW - MIN, [])
    assert today == raw_offenders(store, since, [])
    # A late event into a closed day changes that day's version: merged again.
    late = [security(store, "authn_login_fail", NOW - 10 * DAY, "192.0.2.1", None) for _ in range(30)]
    await writer.write(late)
    after = table(store, since, [], cache)
    assert after["ip"][0] == ("192.0.2.1", 50, 50, NOW - MIN, [])
    assert after == raw_offenders(store, since, [])
    assert cache.misses >= 8


async def test_retention_keeps_tiers_as_the_sketches_and_marks_deleted_days(
    store: Store, writer: Writer
) -> None:
    await writer.write(
        [
            security(store, "authn_login_fail", NOW - 10 * DAY, "192.0.2.9", None),
            security(store, "authn_login_fail", NOW - 2 * DAY, "192.0.2.9", None),
        ]
    )
    with store.engine.begin() as conn:
        deleted = 0
        while step := subject_rollups.delete_expired(conn, NOW, retention_days=5):
            deleted += step
    with store.engine.connect() as conn:
        left = sorted(conn.execute(sa.select(rollup_subjects.c.tier, rollup_subjects.c.bucket)).all())
        marks = rollup_versions.versions(conn, subject_rollups.ROLLUP, [store.project.id], 0, NOW // MIN)
    assert deleted == 3  # the old event's minute, hour and day rows
    assert [tier for tier, _ in left] == [1, 60, 1440]
    old_day = rollup_versions.day_of((NOW - 10 * DAY) // MIN)
    assert (rollup_versions.EVERY_PROJECT, old_day) in {(p, d) for p, d, _ in marks}  # its rows went
