"""The access-control detectors, table-driven: bursts of refusals and forced browsing.

Signals come from a small factory (times in ms after T0, sequential event ids): `authz`
builds an authz_fail security event, `http` a request signal with a status. Each case is
fed in order to a fresh detector and compared exactly; nothing sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from syncmon.security.buckets import BucketSpec
from syncmon.security.detection import CONFIDENCE, Detector, Severity
from syncmon.security.detectors.access import (
    AuthorizationFailureBurst,
    AuthorizationFailureBurstParams,
    ForcedBrowsing,
)
from syncmon.security.signals import Signal
from tests.security.support import T0, Seen, ip, run, seen

SEC = 1_000
MIN = 60 * SEC
HOUR = 60 * MIN
BOB_IP = "192.0.2.10"
SCANNER = "192.0.2.66"


class Signals:
    """Signal factory: `at` is ms after T0; event ids are e000001, e000002, … per factory."""

    def __init__(self) -> None:
        self.n = 0

    def _next(self) -> str:
        self.n += 1
        return f"e{self.n:06d}"

    def authz(
        self,
        at: int,
        user: str | None = "bob",
        target: str | None = "doc:1",
        ip: str | None = BOB_IP,
        *,
        name: str = "authz_fail",
        project: int = 1,
        spoofable: bool = False,
    ) -> Signal:
        return Signal(
            at_ms=T0 + at,
            project_id=project,
            event_id=self._next(),
            category="authorization",
            name=name,
            client_ip=ip,
            user_id=user,
            target=target,
            spoofable=spoofable,
        )

    def http(
        self,
        at: int,
        status: int,
        url: str | None,
        user: str | None = "bob",
        ip: str | None = BOB_IP,
        *,
        route: str | None = None,
        project: int = 1,
    ) -> Signal:
        return Signal(
            at_ms=T0 + at,
            project_id=project,
            event_id=self._next(),
            category="api_access",
            name=f"http_{status}",
            client_ip=ip,
            user_id=user,
            target=route or url,
            url=url,
            status=status,
            method="GET",
        )


Build = Callable[[Signals], list[Signal]]


# 6. AuthorizationFailureBurst ------------------------------------------------------------


def _burst(subject: str, count: int, first: int, last: int, kind: str = "account") -> Seen:
    return Seen("authorization_failure_burst", kind, subject, Severity.HIGH, count, first, last)


BURST_FIRES: list[Any] = [
    pytest.param(
        lambda f: [f.authz(i * 100, target=f"doc:{i}") for i in range(8)],
        [_burst("bob", 6, 0, 500)],
        id="six authz_fail in half a second",
    ),
    pytest.param(
        lambda f: [f.http(i * 100, 403, "/admin", user=None, ip=SCANNER) for i in range(6)],
        [_burst(SCANNER, 6, 0, 500, "ip")],
        id="anonymous 403s: per IP",
    ),
    pytest.param(
        lambda f: [f.authz(i * 2 * SEC) for i in range(10)],
        [_burst("bob", 8, 0, 14 * SEC)],
        id="one refusal every 2 s: the 8th fires",
    ),
    pytest.param(
        lambda f: [f.authz(i * 100, name="malicious_direct_reference") for i in range(6)],
        [_burst("bob", 6, 0, 500)],
        id="malicious_direct_reference counts",
    ),
    pytest.param(
        lambda f: [f.authz(i * 100, user="Bob" if i % 2 else "bob", ip=ip(i)) for i in range(6)],
        [_burst("bob", 6, 0, 500)],
        id="one account from several IPs",
    ),
    pytest.param(
        lambda f: [f.http(i * 100, 403, "/billing", user="carol") for i in range(6)],
        [_burst("carol", 6, 0, 500)],
        id="403s naming an account count for the account",
    ),
]

BURST_QUIET: list[Any] = [
    pytest.param(lambda f: [f.authz(0)], id="a single authz_fail"),
    pytest.param(lambda f: [f.authz(i * 100) for i in range(5)], id="five in a burst is at capacity"),
    pytest.param(lambda f: [f.authz(i * MIN) for i in range(60)], id="one refusal a minute for an hour"),
    pytest.param(
        lambda f: [f.authz(i * 100, user=f"user{i}", ip=ip(i)) for i in range(200)], id="many users once each"
    ),
    pytest.param(
        lambda f: [s for i in range(3) for s in (f.authz(i * 100), f.http(i * 100 + 1, 403, "/doc/1"))],
        id="the same 3 refusals reported as event and as 403",
    ),
    pytest.param(
        lambda f: [f.http(i * 100, status, f"/doc/{i}") for i in range(30) for status in (200, 401)],
        id="200s and 401s are not refusals",
    ),
    pytest.param(
        lambda f: [f.http(i * 100, 404, f"/doc/{i}") for i in range(30)],
        id="404s are not authorization failures",
    ),
    pytest.param(
        lambda f: [f.authz(i * 100, user=None, ip=None) for i in range(30)], id="no account and no IP"
    ),
    pytest.param(
        lambda f: [f.authz(i * 100, project=1 + i % 2) for i in range(10)], id="five in each of two projects"
    ),
]


@pytest.mark.parametrize(("build", "expected"), BURST_FIRES)
def test_authorization_failure_burst_fires(build: Build, expected: list[Seen]) -> None:
    assert [seen(d) for d in run(AuthorizationFailureBurst(), build(Signals()))] == expected


@pytest.mark.parametrize("build", BURST_QUIET)
def test_authorization_failure_burst_does_not_fire(build: Build) -> None:
    assert run(AuthorizationFailureBurst(), build(Signals())) == []


def test_authorization_failure_burst_fields() -> None:
    f = Signals()
    [d] = run(AuthorizationFailureBurst(), [f.authz(i * 100, ip=ip(i % 2), spoofable=True) for i in range(6)])
    assert d.title == "6 authorization failures for bob in 0.5 s"
    assert d.details == {"source": "authz", "ips": [ip(0), ip(1)]}
    assert d.evidence == tuple(f"e{i:06d}" for i in range(1, 7))
    assert d.confidence == CONFIDENCE[3] * 0.5
    f = Signals()
    [anonymous] = run(
        AuthorizationFailureBurst(), [f.http(i, 403, f"/a/{i}", user=None, ip=SCANNER) for i in range(6)]
    )
    assert anonymous.details == {"source": "http_403", "targets": [f"/a/{i}" for i in range(6)]}
    assert anonymous.confidence == CONFIDENCE[3]


def test_authorization_failure_burst_quiet_period_then_a_new_detection() -> None:
    f = Signals()
    signals = [f.authz(i * 100) for i in range(6)]  # fires at 500 ms, quiet until 300.5 s
    signals += [f.authz(SEC + i * SEC) for i in range(299)]
    signals += [f.authz(300_500 + i * 100) for i in range(6)]
    found = run(AuthorizationFailureBurst(), signals)
    assert [seen(d) for d in found] == [_burst("bob", 6, 0, 500), _burst("bob", 6, 300_500, 301_000)]


def test_authorization_failure_burst_params_override_defaults() -> None:
    assert AuthorizationFailureBurst().params is AuthorizationFailureBurst.defaults
    f = Signals()
    signals = [f.authz(i * 100) for i in range(3)]
    assert run(AuthorizationFailureBurst(), signals) == []
    strict = AuthorizationFailureBurst(AuthorizationFailureBurstParams(BucketSpec(2, 1 / 6), confidence=1))
    [d] = run(strict, signals)
    assert (d.count, d.confidence) == (3, CONFIDENCE[1])


# 7. ForcedBrowsing -----------------------------------------------------------------------


def _fb(subject: str, count: int, first: int, last: int, kind: str = "account") -> Seen:
    return Seen("forced_browsing", kind, subject, Severity.HIGH, count, first, last)


FORCED_FIRES: list[Any] = [
    pytest.param(
        lambda f: [f.authz(i * SEC, target=f"doc:{i}") for i in range(12)],
        [_fb("bob", 10, 0, 9 * SEC)],
        id="authz_fail on 10 documents in 9 s",
    ),
    pytest.param(
        lambda f: [
            f.http(i * 500, 403, f"https://app.example/api/docs?id={i}", route="/api/docs") for i in range(10)
        ],
        [_fb("bob", 10, 0, 4500)],
        id="403s walking ids in the query, route template ignored",
    ),
    pytest.param(
        lambda f: [f.http(i * SEC, 404, f"/invoices/{1000 + i}") for i in range(10)],
        [_fb("bob", 10, 0, 9 * SEC)],
        id="a logged-in user walking hidden ids (404)",
    ),
    pytest.param(
        lambda f: [f.http(i * 200, 403, f"/admin/{i}", user=None, ip=SCANNER) for i in range(10)],
        [_fb(SCANNER, 10, 0, 1800, "ip")],
        id="anonymous 403s on distinct paths: per IP",
    ),
    pytest.param(
        lambda f: [f.authz(i * 6 * SEC, target=f"doc:{i}") for i in range(10)],
        [_fb("bob", 10, 0, 54 * SEC)],
        id="10 distinct in a minute (one every 6 s)",
    ),
    pytest.param(
        lambda f: [f.authz(i * 500, target=f"doc:{i // 2}") for i in range(24)],
        [_fb("bob", 10, 0, 9 * SEC)],
        id="each object twice: repeats add nothing",
    ),
]

FORCED_QUIET: list[Any] = [
    pytest.param(lambda f: [f.authz(0)], id="a single authz_fail"),
    pytest.param(
        lambda f: [f.authz(i * 100, target="doc:42") for i in range(50)], id="one forbidden object retried"
    ),
    pytest.param(
        lambda f: [f.http(i * 100, 200, f"/docs/{i}") for i in range(200)],
        id="browsing many objects successfully",
    ),
    pytest.param(
        lambda f: [f.http(i * 100, 404, f"/static/img/{i}.png?v=3") for i in range(50)],
        id="broken images are static 404s",
    ),
    pytest.param(
        lambda f: [f.http(i * 100, 404, f"/wp-{i}.php", user=None, ip=SCANNER) for i in range(50)],
        id="anonymous 404 scanning is the probing rules' job",
    ),
    pytest.param(lambda f: [f.authz(i * 100, target=f"doc:{i}") for i in range(9)], id="9 distinct targets"),
    pytest.param(
        lambda f: [f.authz(i * 2 * MIN, target=f"doc:{i}") for i in range(60)],
        id="one new object every 2 min",
    ),
    pytest.param(
        lambda f: [f.authz(i * 100, target=None) for i in range(50)], id="refusals without a target"
    ),
    pytest.param(
        lambda f: [
            s
            for i in range(5)
            for s in (f.authz(i * 100, target=f"doc:{i}"), f.http(i * 100, 403, f"/d/{i}"))
        ],
        id="5 objects reported twice each",
    ),
]


@pytest.mark.parametrize(("build", "expected"), FORCED_FIRES)
def test_forced_browsing_fires(build: Build, expected: list[Seen]) -> None:
    assert [seen(d) for d in run(ForcedBrowsing(), build(Signals()))] == expected


@pytest.mark.parametrize("build", FORCED_QUIET)
def test_forced_browsing_does_not_fire(build: Build) -> None:
    assert run(ForcedBrowsing(), build(Signals())) == []


def test_forced_browsing_fields() -> None:
    f = Signals()
    [d] = run(ForcedBrowsing(), [f.authz(i * SEC, target=f"doc:{i}") for i in range(12)])
    assert d.title == "bob refused on 10 distinct objects in 9 s"
    assert d.details == {
        "source": "authz",
        "distinct_targets": 10,
        "targets": [f"doc:{i}" for i in range(10)],
    }
    assert d.confidence == CONFIDENCE[3]
    f = Signals()
    [hidden] = run(ForcedBrowsing(), [f.http(i * SEC, 404, f"/invoices/{i}") for i in range(10)])
    assert hidden.details["source"] == "http_404"
    assert hidden.confidence == CONFIDENCE[2]


def test_forced_browsing_quiet_period_then_a_new_detection() -> None:
    f = Signals()
    signals = [f.authz(i * SEC, target=f"doc:{i}") for i in range(300)]  # fires at 9 s, quiet until 309 s
    signals += [f.authz(309 * SEC + i * SEC, target=f"doc:{1000 + i}") for i in range(10)]
    found = run(ForcedBrowsing(), signals)
    assert [seen(d) for d in found] == [_fb("bob", 10, 0, 9 * SEC), _fb("bob", 10, 309 * SEC, 318 * SEC)]


# Both ------------------------------------------------------------------------------------

ALL: list[Callable[[], Any]] = [AuthorizationFailureBurst, ForcedBrowsing]


def mixed_traffic(seed: int) -> list[Signal]:
    """Ordinary requests, stray refusals and one user walking ids, interleaved; reproducible."""
    rng = random.Random(seed)
    f = Signals()
    out = [
        f.http(rng.randrange(HOUR), 200, f"/docs/{rng.randrange(500)}", user=f"user{rng.randrange(50)}")
        for _ in range(3000)
    ]
    out += [
        f.authz(rng.randrange(HOUR), user=f"user{rng.randrange(50)}", target=f"doc:{rng.randrange(99)}")
        for _ in range(60)
    ]
    out += [f.http(20 * MIN + i * 300, 403, f"/docs/{i}", user="mallory") for i in range(40)]
    return sorted(out, key=lambda s: (s.at_ms, s.event_id))


@pytest.mark.parametrize("make", ALL, ids=lambda c: c.__name__)
def test_deterministic(make: Callable[[], Detector]) -> None:
    signals = mixed_traffic(11)
    first, second = run(make(), signals), run(make(), list(signals))
    assert first
    assert first == second
    assert [d.subject for d in first] == ["mallory"]


@pytest.mark.parametrize("make", ALL, ids=lambda c: c.__name__)
def test_eviction_bounds_memory(make: Callable[[], Any]) -> None:
    detector = make()
    f = Signals()
    for i in range(100_000):
        detector.observe(
            f.http(i, 403, f"/x/{i}", user=None, ip=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        )
    held = detector.tracked()
    assert held == 100_000
    detector.evict(T0 + 100_000)
    assert 0 < detector.tracked() <= held
    assert detector.evict(T0 + 2 * HOUR) > 0
    assert detector.tracked() == 0


@pytest.mark.parametrize("make", ALL, ids=lambda c: c.__name__)
def test_quiet_subjects_are_evicted_after_the_quiet_period(make: Callable[[], Any]) -> None:
    detector = make()
    signals = mixed_traffic(5)
    assert run(detector, signals)
    detector.evict(signals[-1].at_ms + 11 * MIN)
    assert detector.tracked() == 0
