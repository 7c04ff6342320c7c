"""DataExfiltration, MalwareUpload, ImpossibleTravel and CspViolationBurst.

Times are invented epoch milliseconds; nothing here reads a clock or sleeps.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from syncmon.security.detection import Severity
from syncmon.security.detectors.anomaly import (
    CspViolationBurst,
    DataExfiltration,
    DataExfiltrationParams,
    ImpossibleTravel,
    ImpossibleTravelParams,
    MalwareUpload,
    great_circle_km,
)
from syncmon.security.signals import Signal
from tests.security.support import run

T0 = 1_700_000_000_000
MIN = 60_000
HOUR = 3_600_000
_ids = itertools.count(1)


def event(
    at_ms: int,
    name: str,
    *,
    user: str | None = "alice",
    ip: str | None = "203.0.113.5",
    amount: float | None = None,
    lat: float | None = None,
    lon: float | None = None,
    target: str | None = None,
    url: str | None = None,
    spoofable: bool = False,
    project: int = 1,
    details: tuple[tuple[str, str], ...] = (),
    eid: str | None = None,
) -> Signal:
    return Signal(
        at_ms=at_ms,
        project_id=project,
        event_id=eid or f"ev{next(_ids)}",
        category="data_access",
        name=name,
        client_ip=ip,
        user_id=user,
        target=target,
        url=url,
        amount=amount,
        latitude=lat,
        longitude=lon,
        spoofable=spoofable,
        details=details,
    )


# --------------------------------------------------------------------------------------
# data_exfiltration


def read(at_ms: int, amount: float | None = None, **kw: Any) -> Signal:
    return event(at_ms, "sensitive_read", amount=amount, target="customers", **kw)


def history(
    windows: int = 5, per_window: float = 100.0, user: str = "alice", start: int = T0
) -> list[Signal]:
    """One read of `per_window` records in each of `windows` windows, 10 min apart."""
    return [read(start + i * 10 * MIN, per_window, user=user) for i in range(windows)]


def test_exfiltration_fires_when_volume_reaches_max_floor_k_baseline() -> None:
    detector = DataExfiltration()
    assert run(detector, history()) == []  # baseline 100, threshold max(1000, 10 x 100) = 1000
    start = T0 + 50 * MIN
    window = [read(start, 600), read(start + MIN, 500)]
    found = run(detector, window)
    assert len(found) == 1
    d = found[0]
    assert (d.rule, d.subject_type, d.subject, d.severity) == (
        "data_exfiltration",
        "account",
        "alice",
        Severity.HIGH,
    )
    assert (d.count, d.first_ms, d.last_ms, d.window_ms) == (2, start, start + MIN, MIN)
    assert d.evidence == tuple(s.event_id for s in window)
    assert d.confidence == 0.75
    assert d.details["volume"] == 1100
    assert d.details["unit"] == "records"
    assert d.details["baseline"] == 100
    assert d.details["threshold"] == 1000
    assert d.details["history_windows"] == 5


EXFIL_FIRES: list[tuple[str, float, list[float], Severity]] = [
    # (id, usual volume per window, reads in the new window, severity)
    ("floor-reached", 100, [1000], Severity.HIGH),
    ("k-times-baseline", 400, [2000, 2000], Severity.HIGH),
    ("many-small-reads", 50, [100] * 10, Severity.HIGH),
    ("critical-five-times-threshold", 100, [5000], Severity.CRITICAL),
    ("critical-bulk-export", 1000, [60_000], Severity.CRITICAL),
]


@pytest.mark.parametrize(
    ("usual", "reads", "severity"), [c[1:] for c in EXFIL_FIRES], ids=[c[0] for c in EXFIL_FIRES]
)
def test_exfiltration_must_fire(usual: float, reads: list[float], severity: Severity) -> None:
    detector = DataExfiltration()
    run(detector, history(per_window=usual))
    start = T0 + 50 * MIN
    found = run(detector, [read(start + i * 1000, amount) for i, amount in enumerate(reads)])
    assert [(d.subject, d.severity, d.count) for d in found] == [("alice", severity, len(reads))]


EXFIL_QUIET: list[tuple[str, int, float, list[float]]] = [
    # (id, windows of history, usual volume, reads in the new window)
    ("first-time-big-reader", 0, 0, [50_000]),
    ("too-little-history", 4, 100, [50_000]),
    ("below-floor", 5, 10, [900]),
    ("below-k-times-baseline", 5, 500, [4000, 900]),
    ("steady-reader", 5, 3000, [3000]),
]


@pytest.mark.parametrize(
    ("windows", "usual", "reads"), [c[1:] for c in EXFIL_QUIET], ids=[c[0] for c in EXFIL_QUIET]
)
def test_exfiltration_must_not_fire(windows: int, usual: float, reads: list[float]) -> None:
    detector = DataExfiltration()
    run(detector, history(windows, usual))
    start = T0 + 50 * MIN
    assert run(detector, [read(start + i * 1000, amount) for i, amount in enumerate(reads)]) == []


def test_exfiltration_counts_reads_when_there_is_no_amount() -> None:
    detector = DataExfiltration()
    for w in range(5):  # 30 reads in each of 5 windows
        run(detector, [read(T0 + w * 10 * MIN + i * 1000) for i in range(30)])
    start = T0 + 50 * MIN
    found = run(detector, [read(start + i * 100) for i in range(1000)])  # threshold max(1000, 300)
    assert [(d.count, d.details["unit"], d.details["volume"], d.last_ms) for d in found] == [
        (1000, "reads", 1000, start + 999 * 100)
    ]
    assert len(found[0].evidence) == 10  # the latest 10 reads
    assert found[0].evidence[-1].startswith("ev")


def test_exfiltration_other_accounts_and_spoofable_claims_are_separate() -> None:
    detector = DataExfiltration()
    run(detector, history(user="alice"))
    start = T0 + 50 * MIN
    # Bob has no history; a browser claiming to be alice has none either.
    assert run(detector, [read(start, 50_000, user="bob")]) == []
    assert run(detector, [read(start, 50_000, user="alice", spoofable=True)]) == []
    # Account names are compared as the auth detectors do: stripped and case-folded.
    assert [d.subject for d in run(detector, [read(start, 50_000, user=" Alice ")])] == ["alice"]


def test_exfiltration_quiet_for_an_hour_and_baseline_is_clipped() -> None:
    detector = DataExfiltration()
    run(detector, history())
    start = T0 + 50 * MIN
    assert len(run(detector, [read(start, 50_000)])) == 1
    # The next windows are as big, but within the hour: silent.
    assert run(detector, [read(start + 10 * MIN, 50_000), read(start + 20 * MIN, 50_000)]) == []
    # Each big window entered the baseline clipped to the threshold of its time
    # (alpha 0.3): 100 → 0.3 x 1 000 + 70 = 370 → 0.3 x 3 700 + 259 = 1 369 → 0.3 x 13 690
    # + 958.3 = 5 065.3. So 50 000 an hour later is the account's new normal (< 50 653) …
    assert run(detector, [read(start + HOUR, 50_000)]) == []
    # … and ten times that normal fires again once the hour is over.
    later = run(detector, [read(start + HOUR + 1_000, 60_000)])
    assert [(d.severity, d.count, d.details["volume"]) for d in later] == [(Severity.HIGH, 2, 110_000)]
    assert later[0].details["baseline"] == pytest.approx(5065.3)
    assert later[0].details["history_windows"] == 8


def test_exfiltration_ignores_other_names_and_accountless_reads() -> None:
    detector = DataExfiltration()
    run(detector, history())
    start = T0 + 50 * MIN
    signals = [event(start, "sensitive_update", amount=50_000), read(start, 50_000, user=None)]
    assert run(detector, signals) == []


def test_exfiltration_memory_is_bounded() -> None:
    detector = DataExfiltration()
    for index in range(100_000):
        detector.observe(read(T0 + index, 10, user=f"user{index}"))
    assert len(detector) == 100_000
    assert detector.evict(T0 + 6 * 86_400_000) == 0  # idle less than 7 days: kept
    assert detector.evict(T0 + 8 * 86_400_000) == 100_000
    assert len(detector) == 0


def test_exfiltration_accounts_are_capped() -> None:
    detector = DataExfiltration(DataExfiltrationParams(max_accounts=1_000))
    for index in range(5_000):
        detector.observe(read(T0 + index, 10, user=f"user{index}"))
    assert len(detector) == 1_000  # least recently seen accounts are dropped first


# --------------------------------------------------------------------------------------
# malware_upload

MALWARE_FIRES: list[tuple[str, dict[str, Any], tuple[str, str], Severity, float]] = [
    # (id, event fields, (subject_type, subject), severity, confidence)
    (
        "validation-failed-account",
        {"name": "upload_validation_failed"},
        ("account", "alice"),
        Severity.CRITICAL,
        1.0,
    ),
    (
        "malware-detected-account",
        {"name": "malicious_malware_detected"},
        ("account", "alice"),
        Severity.CRITICAL,
        1.0,
    ),
    (
        "ip-when-no-account",
        {"name": "upload_validation_failed", "user": None},
        ("ip", "203.0.113.5"),
        Severity.CRITICAL,
        1.0,
    ),
    (
        "project-when-nothing-else",
        {"name": "malicious_malware_detected", "user": None, "ip": None},
        ("project", "1"),
        Severity.CRITICAL,
        1.0,
    ),
    (
        "browser-claim-is-high",
        {"name": "upload_validation_failed", "spoofable": True},
        ("account", "alice"),
        Severity.HIGH,
        0.5,
    ),
]


@pytest.mark.parametrize(
    ("fields", "subject", "severity", "confidence"),
    [c[1:] for c in MALWARE_FIRES],
    ids=[c[0] for c in MALWARE_FIRES],
)
def test_malware_single_event_fires(
    fields: dict[str, Any], subject: tuple[str, str], severity: Severity, confidence: float
) -> None:
    name = fields.pop("name")
    signal = event(T0, name, target="invoice.pdf.exe", **fields)
    found = MalwareUpload().observe(signal)
    assert len(found) == 1
    d = found[0]
    assert (d.rule, (d.subject_type, d.subject), d.severity, d.confidence) == (
        "malware_upload",
        subject,
        severity,
        confidence,
    )
    assert (d.count, d.first_ms, d.last_ms, d.evidence) == (1, T0, T0, (signal.event_id,))
    assert "invoice.pdf.exe" in d.title
    assert d.details["file"] == "invoice.pdf.exe"


@pytest.mark.parametrize(
    "name",
    ["upload_complete", "upload_stored", "upload_delete", "sensitive_read", "upload_validation_passed"],
)
def test_malware_other_events_do_not_fire(name: str) -> None:
    assert MalwareUpload().observe(event(T0, name, target="a.pdf")) == []


def test_malware_quiet_period_per_subject() -> None:
    detector = MalwareUpload()
    batch = [event(T0 + i * MIN, "upload_validation_failed", target=f"f{i}.exe") for i in range(5)]
    assert [d.evidence for d in run(detector, batch)] == [(batch[0].event_id,)]
    assert [d.subject for d in run(detector, [event(T0, "upload_validation_failed", user="bob")])] == ["bob"]
    assert len(run(detector, [event(T0 + 10 * MIN, "upload_validation_failed")])) == 1


def test_malware_memory_is_bounded() -> None:
    detector = MalwareUpload()
    for index in range(100_000):
        ip = f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
        detector.observe(event(T0 + index, "upload_validation_failed", user=None, ip=ip, eid="e"))
    assert len(detector) == 200_000  # a quiet trigger and an occurrence stamp per IP
    assert detector.evict(T0 + 100_000 + 2 * HOUR) == 200_000
    assert len(detector) == 0


def test_malware_browser_claim_does_not_silence_the_server() -> None:
    detector = MalwareUpload()
    spoofed = detector.observe(event(T0, "upload_validation_failed", spoofable=True))
    real = detector.observe(event(T0, "upload_validation_failed"))
    assert [(d.severity, d.last_ms) for d in spoofed + real] == [
        (Severity.HIGH, T0),
        (Severity.CRITICAL, T0 + 1),
    ]


# --------------------------------------------------------------------------------------
# impossible_travel

PARIS = (48.8566, 2.3522)
LYON = (45.7640, 4.8357)
MADRID = (40.4168, -3.7038)
LONDON = (51.5074, -0.1278)
BERLIN = (52.5200, 13.4050)
NEW_YORK = (40.7128, -74.0060)
SAN_FRANCISCO = (37.7749, -122.4194)
SYDNEY = (-33.8688, 151.2093)
TOKYO = (35.6762, 139.6503)


def login(at_ms: int, place: tuple[float, float], **kw: Any) -> Signal:
    return event(at_ms, kw.pop("name", "authn_login_success"), lat=place[0], lon=place[1], **kw)


def test_great_circle_distances() -> None:
    assert great_circle_km(*PARIS, *NEW_YORK) == pytest.approx(5837, abs=5)
    assert great_circle_km(*PARIS, *LYON) == pytest.approx(392, abs=3)
    assert great_circle_km(*LONDON, *SYDNEY) == pytest.approx(16994, abs=10)
    assert great_circle_km(0, 0, 0, 180) == pytest.approx(20015.1, abs=0.5)


TRAVEL_FIRES: list[tuple[str, tuple[float, float], tuple[float, float], int]] = [
    ("paris-new-york-1h", PARIS, NEW_YORK, HOUR),
    ("london-sydney-10h", LONDON, SYDNEY, 10 * HOUR),
    ("berlin-tokyo-2h", BERLIN, TOKYO, 2 * HOUR),
    ("paris-madrid-30min", PARIS, MADRID, 30 * MIN),
    ("san-francisco-new-york-3h", SAN_FRANCISCO, NEW_YORK, 3 * HOUR),
    ("same-instant", PARIS, MADRID, 0),
]


@pytest.mark.parametrize(("a", "b", "gap"), [c[1:] for c in TRAVEL_FIRES], ids=[c[0] for c in TRAVEL_FIRES])
def test_impossible_travel_must_fire(a: tuple[float, float], b: tuple[float, float], gap: int) -> None:
    detector = ImpossibleTravel()
    first, second = login(T0, a), login(T0 + gap, b)
    assert detector.observe(first) == []
    found = detector.observe(second)
    assert len(found) == 1
    d = found[0]
    assert (d.rule, d.subject_type, d.subject, d.severity) == (
        "impossible_travel",
        "account",
        "alice",
        Severity.HIGH,
    )
    assert (d.count, d.first_ms, d.last_ms, d.evidence) == (
        2,
        T0,
        T0 + gap,
        (first.event_id, second.event_id),
    )
    assert d.confidence == 0.75
    km = great_circle_km(*a, *b)
    assert d.details["distance_km"] == pytest.approx(km, abs=0.1)
    assert d.details["speed_kmh"] == (None if gap == 0 else pytest.approx(km / (gap / HOUR), rel=1e-3))


TRAVEL_QUIET: list[tuple[str, list[Signal]]] = [
    ("near-paris-lyon-5min", [login(T0, PARIS), login(T0 + 5 * MIN, LYON)]),
    ("paris-new-york-8h", [login(T0, PARIS), login(T0 + 8 * HOUR, NEW_YORK)]),
    ("san-francisco-new-york-5h", [login(T0, SAN_FRANCISCO), login(T0 + 5 * HOUR, NEW_YORK)]),
    ("paris-madrid-90min", [login(T0, PARIS), login(T0 + 90 * MIN, MADRID)]),
    ("first-login-only", [login(T0, SYDNEY)]),
    ("different-accounts", [login(T0, PARIS, user="alice"), login(T0 + MIN, TOKYO, user="bob")]),
    ("different-projects", [login(T0, PARIS), login(T0 + MIN, TOKYO, project=2)]),
    ("no-coordinates", [login(T0, PARIS), event(T0 + MIN, "authn_login_success")]),
    ("no-account", [login(T0, PARIS, user=None), login(T0 + MIN, TOKYO, user=None)]),
    ("browser-claim-vs-server", [login(T0, PARIS), login(T0 + MIN, TOKYO, spoofable=True)]),
]


@pytest.mark.parametrize("signals", [s for _, s in TRAVEL_QUIET], ids=[i for i, _ in TRAVEL_QUIET])
def test_impossible_travel_must_not_fire(signals: list[Signal]) -> None:
    assert run(ImpossibleTravel(), signals) == []


def test_impossible_travel_names_filter() -> None:
    detector = ImpossibleTravel(ImpossibleTravelParams(names=("authn_login_success",)))
    signals = [login(T0, PARIS), login(T0 + MIN, TOKYO, name="sensitive_read"), login(T0 + 2 * MIN, PARIS)]
    assert run(detector, signals) == []
    # With the default (any located signal) the middle one counts.
    assert len(run(ImpossibleTravel(), signals)) == 1


def test_impossible_travel_quiet_for_three_hours() -> None:
    detector = ImpossibleTravel()
    trips = [
        login(T0, PARIS),
        login(T0 + HOUR, NEW_YORK),
        login(T0 + 2 * HOUR, PARIS),
        login(T0 + 3 * HOUR, TOKYO),
    ]
    found = run(detector, trips)
    assert [(d.first_ms, d.last_ms) for d in found] == [(T0, T0 + HOUR)]
    later = run(detector, [login(T0 + 4 * HOUR + 1, NEW_YORK)])  # Tokyo → New York in 1 h
    assert [(d.first_ms, d.last_ms) for d in later] == [(T0 + 3 * HOUR, T0 + 4 * HOUR + 1)]


def test_impossible_travel_memory() -> None:
    detector = ImpossibleTravel()
    assert detector.params.memory_ms == pytest.approx(20.015 * HOUR, rel=1e-3)
    for index in range(100_000):
        detector.observe(login(T0 + index, PARIS, user=f"user{index}"))
    assert len(detector) == 100_000
    assert detector.evict(T0 + 100_000 + 19 * HOUR) == 0
    assert detector.evict(T0 + 100_000 + 21 * HOUR) == 100_000
    assert len(detector) == 0


# --------------------------------------------------------------------------------------
# csp_violation_burst


def report(at_ms: int, ip: str, document: str = "https://shop.example.com/checkout", **kw: Any) -> Signal:
    blocked = kw.pop("blocked", "https://evil.example/skimmer.js")
    return event(
        at_ms,
        "malicious_csp_violation",
        user=None,
        ip=ip,
        url=document,
        target=blocked,
        spoofable=True,
        details=(("directive", kw.pop("directive", "script-src-elem")),),
        **kw,
    )


def test_csp_burst_from_many_browsers_fires() -> None:
    reports = [report(T0 + i * 500, f"198.51.100.{i % 3}") for i in range(21)]
    found = run(CspViolationBurst(), reports)
    assert len(found) == 1
    d = found[0]
    assert (d.rule, d.subject_type, d.subject, d.severity) == (
        "csp_violation_burst",
        "project",
        "1",
        Severity.MEDIUM,
    )
    assert (d.count, d.first_ms, d.last_ms) == (21, T0, T0 + 10_000)
    assert d.evidence == tuple(r.event_id for r in reports[:10])
    assert d.confidence == 0.375  # CONFIDENCE[2] x (1 - 0.5): every report is browser-sent
    assert d.details["sources"] == 3
    assert d.details["directives"] == {"script-src-elem": 21}
    assert d.details["last_blocked_uri"] == "https://evil.example/skimmer.js"


CSP_QUIET: list[tuple[str, list[Signal]]] = [
    ("twenty-reports", [report(T0 + i * 100, f"198.51.100.{i % 5}") for i in range(20)]),
    (
        "one-browser-many-pages",
        [report(T0 + i * 100, "192.0.2.1", f"https://shop.example.com/p{i}") for i in range(100)],
    ),
    ("two-browsers", [report(T0 + i * 100, f"192.0.2.{i % 2}") for i in range(100)]),
    (
        "extensions",
        [
            report(T0 + i * 100, f"198.51.100.{i % 9}", blocked="chrome-extension://abcdef/inject.js")
            for i in range(60)
        ],
    ),
    (
        "browser-internals",
        [report(T0 + i * 100, f"198.51.100.{i % 9}", blocked="about:blank") for i in range(60)],
    ),
    ("one-a-minute-for-hours", [report(T0 + i * 60_000, f"198.51.100.{i % 9}") for i in range(300)]),
    (
        "two-projects",
        [report(T0 + i * 100, f"198.51.100.{i % 5}", project=1 + i % 2) for i in range(40)],
    ),
]


@pytest.mark.parametrize("signals", [s for _, s in CSP_QUIET], ids=[i for i, _ in CSP_QUIET])
def test_csp_burst_must_not_fire(signals: list[Signal]) -> None:
    assert run(CspViolationBurst(), signals) == []


def test_csp_burst_needs_the_third_browser_then_fires() -> None:
    detector = CspViolationBurst()
    assert run(detector, [report(T0 + i * 100, f"192.0.2.{i % 2}") for i in range(40)]) == []
    found = run(detector, [report(T0 + 4_000, "192.0.2.77")])
    assert [(d.details["sources"], d.last_ms) for d in found] == [(3, T0 + 4_000)]


def test_csp_burst_quiet_period_and_eviction() -> None:
    detector = CspViolationBurst()
    assert len(run(detector, [report(T0 + i * 100, f"198.51.100.{i % 4}") for i in range(21)])) == 1
    assert run(detector, [report(T0 + 3_000 + i * 100, f"198.51.100.{i % 4}") for i in range(200)]) == []
    # 10 min of quiet from the overflow at T0 + 2 s.
    assert run(detector, [report(T0 + 601_000 + i * 10, f"198.51.100.{i % 4}") for i in range(21)]) == []
    again = run(detector, [report(T0 + 602_000 + i * 100, f"198.51.100.{i % 4}") for i in range(21)])
    assert [d.count for d in again] == [21]
    assert detector.evict(T0 + 602_000 + 10_000) == 0  # in its quiet period
    assert detector.evict(T0 + HOUR) == 2  # the bucket and the project's state
    assert len(detector) == 0


def test_csp_reports_only() -> None:
    other = [event(T0 + i, "authz_fail", ip=f"198.51.100.{i % 5}") for i in range(100)]
    assert run(CspViolationBurst(), other) == []


# --------------------------------------------------------------------------------------
# determinism


def test_anomaly_detectors_are_deterministic() -> None:
    places = [PARIS, TOKYO, NEW_YORK, LYON]
    stream: list[Signal] = []
    for i in range(2_000):
        at = T0 + i * 20_000
        user = f"u{i % 3}"
        stream.append(read(at, float(10 + (i % 7) * (1 if i < 1_800 else 500)), user=user, eid=f"r{i}"))
        stream.append(login(at, places[i % 4], user=user, eid=f"l{i}"))
        stream.append(report(at, f"198.51.100.{i % 4}", eid=f"c{i}"))
        if i % 97 == 0:
            stream.append(event(at, "upload_validation_failed", user=user, eid=f"m{i}"))
    for cls in (DataExfiltration, MalwareUpload, ImpossibleTravel, CspViolationBurst):
        first = [d.as_dict() for d in run(cls(), stream)]
        assert first == [d.as_dict() for d in run(cls(), stream)]
        assert first, cls.__name__
