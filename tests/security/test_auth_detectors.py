"""The authentication detectors, table-driven: attacks that must fire, everyday traffic that must not.

Every case builds Signals with a small factory (times in ms after T0, sequential event ids),
feeds them in order to a fresh detector and compares what it returns exactly: rule, subject,
severity, count and window. Times come only from the signals; nothing sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from syncmon.security.detection import CONFIDENCE, Detector, Severity
from syncmon.security.detectors.auth import (
    BruteForce,
    BruteForceParams,
    CompromiseAfterFailures,
    CredentialStuffing,
    CredentialStuffingParams,
    DistributedBruteForce,
    UserEnumeration,
    human_span,
)
from syncmon.security.signals import Signal
from tests.security.support import T0, Seen, ip, run, seen

SEC = 1_000
MIN = 60 * SEC
HOUR = 60 * MIN
FAIL = "authn_login_fail"
OK = "authn_login_success"


class Signals:
    """Signal factory: `at` is ms after T0; event ids are e000001, e000002, … per factory."""

    def __init__(self) -> None:
        self.n = 0

    def make(
        self,
        name: str,
        at: int,
        user: str | None = None,
        ip: str | None = None,
        *,
        project: int = 1,
        spoofable: bool = False,
        category: str = "authentication",
    ) -> Signal:
        self.n += 1
        return Signal(
            at_ms=T0 + at,
            project_id=project,
            event_id=f"e{self.n:06d}",
            category=category,
            name=name,
            client_ip=ip,
            user_id=user,
            spoofable=spoofable,
        )

    def fail(self, user: str | None, ip: str | None, at: int, **kw: Any) -> Signal:
        return self.make(FAIL, at, user, ip, **kw)

    def ok(self, user: str | None, ip: str | None, at: int, **kw: Any) -> Signal:
        return self.make(OK, at, user, ip, **kw)


Build = Callable[[Signals], list[Signal]]


def office_nat(
    f: Signals, users: int, spacing: int, mistype_every: int, give_up_every: int = 0
) -> list[Signal]:
    """Users logging in one after another from one office IP; every `mistype_every`-th user
    mistypes once and gets in 5 s later; every `give_up_every`-th user fails and never does."""
    out: list[Signal] = []
    nat = "203.0.113.7"
    for i in range(users):
        at, user = i * spacing, f"user{i}@corp.example"
        if give_up_every and i % give_up_every == 0:
            out.append(f.fail(user, nat, at))
        elif i % mistype_every == 0:
            out += [f.fail(user, nat, at), f.ok(user, nat, at + 5 * SEC)]
        else:
            out.append(f.ok(user, nat, at))
    return sorted(out, key=lambda s: s.at_ms)


def many_users_once_each(f: Signals) -> list[Signal]:
    """500 different users, each failing once from their own IP, a second apart."""
    return [f.fail(f"user{i}@example.com", ip(i), i * SEC) for i in range(500)]


# 1. BruteForce ---------------------------------------------------------------------------


def _bf(subject: str, count: int, first: int, last: int) -> Seen:
    return Seen("brute_force", "account", subject, Severity.HIGH, count, first, last)


BRUTE_FORCE_FIRES: list[Any] = [
    pytest.param(
        lambda f: [f.fail("alice@example.com", "192.0.2.1", i * 100) for i in range(10)],
        [_bf("alice@example.com", 6, 0, 500)],
        id="ten rapid failures: the 6th fires (fast)",
    ),
    pytest.param(
        lambda f: [f.fail("bob", "192.0.2.1", i * 10 * SEC) for i in range(20)],
        [_bf("bob", 12, 0, 110 * SEC)],
        id="one failure every 10 s: the 12th fires (slow)",
    ),
    pytest.param(
        lambda f: [f.make("authn_password_change_fail", i * 200, "carol", "192.0.2.1") for i in range(8)],
        [_bf("carol", 6, 0, 1000)],
        id="password change failures guess the current password",
    ),
    pytest.param(
        lambda f: [f.fail("dave", ip(i), i * 100) for i in range(8)],
        [_bf("dave", 6, 0, 500)],
        id="same account from a different IP each time",
    ),
    pytest.param(
        lambda f: [
            f.fail("Erin@Example.com" if i % 2 else "  erin@example.com ", "192.0.2.1", i * 100)
            for i in range(6)
        ],
        [_bf("erin@example.com", 6, 0, 500)],
        id="case and whitespace do not split the account",
    ),
    pytest.param(
        lambda f: [
            *(f.fail("frank", "192.0.2.1", i * 100) for i in range(3)),
            f.ok("frank", "192.0.2.9", 300),
            *(f.fail("frank", "192.0.2.1", 400 + i * 100) for i in range(3)),
        ],
        [_bf("frank", 6, 0, 600)],
        id="a success in between does not reset the count",
    ),
]

BRUTE_FORCE_QUIET: list[Any] = [
    pytest.param(
        lambda f: [
            f.fail("alice", "192.0.2.1", 0),
            f.fail("alice", "192.0.2.1", 3 * SEC),
            f.ok("alice", "192.0.2.1", 8 * SEC),
        ],
        id="one user mistyping twice",
    ),
    pytest.param(
        lambda f: [f.fail("alice", "192.0.2.1", i * 20 * MIN) for i in range(24)],
        id="retries every 20 min for 8 hours",
    ),
    pytest.param(many_users_once_each, id="many users failing once each from many IPs"),
    pytest.param(
        lambda f: [f.fail("alice", "192.0.2.1", i * 15 * SEC) for i in range(4)],
        id="forgot password: 4 tries in a minute",
    ),
    pytest.param(
        lambda f: [f.fail("alice", "192.0.2.1", i * 100) for i in range(5)],
        id="five in a burst is at capacity, not over",
    ),
    pytest.param(
        lambda f: [
            *(f.fail("alice", "192.0.2.1", i * 100) for i in range(5)),
            f.make("authn_login_fail_max", 450, "alice", "192.0.2.1"),
            f.make("authn_login_lock", 460, "alice", "192.0.2.1"),
        ],
        id="fail_max and lock are verdicts, not attempts",
    ),
    pytest.param(
        lambda f: [f.fail(None, "192.0.2.1", i * 100) for i in range(20)], id="failures naming no account"
    ),
    pytest.param(
        lambda f: [f.fail("alice", "192.0.2.1", i * 100, project=1 + i % 2) for i in range(10)],
        id="five failures in each of two projects",
    ),
]


@pytest.mark.parametrize(("build", "expected"), BRUTE_FORCE_FIRES)
def test_brute_force_fires(build: Build, expected: list[Seen]) -> None:
    assert [seen(d) for d in run(BruteForce(), build(Signals()))] == expected


@pytest.mark.parametrize("build", BRUTE_FORCE_QUIET)
def test_brute_force_does_not_fire(build: Build) -> None:
    assert run(BruteForce(), build(Signals())) == []


def test_brute_force_detection_fields() -> None:
    f = Signals()
    [d] = run(BruteForce(), [f.fail("alice@example.com", f"192.0.2.{i % 3}", i * 4 * SEC) for i in range(12)])
    # Every 4 s the fast bucket keeps 0.6 of each: the 8th failure takes it past 5.
    assert d.title == "8 failed logins for alice@example.com in 28 s"
    assert d.evidence == tuple(f"e{i:06d}" for i in range(1, 9))
    assert d.details == {"variant": "fast", "ips": ["192.0.2.0", "192.0.2.1", "192.0.2.2"]}
    assert d.confidence == CONFIDENCE[3]
    assert d.project_id == 1


def test_brute_force_evidence_is_capped_at_ten() -> None:
    f = Signals()
    [d] = run(BruteForce(), [f.fail("bob", "192.0.2.1", i * 10 * SEC) for i in range(12)])
    assert d.count == 12
    assert len(d.evidence) == 10


@pytest.mark.parametrize(("spoofed", "confidence"), [(0, 1.0), (3, 0.75), (6, 0.5)])
def test_brute_force_spoofable_accounts_lower_confidence(spoofed: int, confidence: float) -> None:
    f = Signals()
    signals = [f.fail("alice", "192.0.2.1", i * 100, spoofable=i < spoofed) for i in range(6)]
    [d] = run(BruteForce(), signals)
    assert d.confidence == confidence


def test_brute_force_quiet_period_then_a_new_detection() -> None:
    f = Signals()
    first = [f.fail("alice", "192.0.2.1", i * 100) for i in range(6)]  # fires at 500 ms
    during = [f.fail("alice", "192.0.2.1", 600 + i * SEC) for i in range(600)]  # until 599.6 s: quiet
    after = [f.fail("alice", "192.0.2.1", 600_500 + i * 100) for i in range(6)]  # quiet ended at 600.5 s
    found = run(BruteForce(), first + during + after)
    assert [seen(d) for d in found] == [_bf("alice", 6, 0, 500), _bf("alice", 6, 600_500, 601_000)]


def test_brute_force_params_override_defaults() -> None:
    assert BruteForce().params is BruteForce.defaults
    f = Signals()
    signals = [f.fail("bob", "192.0.2.1", i * 10 * SEC) for i in range(20)]
    assert run(BruteForce(BruteForceParams(slow=None)), signals) == []


# 2. CredentialStuffing -------------------------------------------------------------------


def _cs(count: int, first: int, last: int, severity: Severity = Severity.HIGH) -> Seen:
    return Seen("credential_stuffing", "ip", "192.0.2.66", severity, count, first, last)


def spray(f: Signals, accounts: int, tries: int, step: int) -> list[Signal]:
    """Each account tried `tries` times in a row from one IP, `step` ms apart."""
    return [
        f.fail(f"victim{i // tries}@example.com", "192.0.2.66", i * step) for i in range(accounts * tries)
    ]


def stuffing_with_hits(f: Signals) -> list[Signal]:
    out = []
    for i in range(20):
        user = f"victim{i}@example.com"
        out.append(
            f.ok(user, "192.0.2.66", i * 2 * SEC) if i in (5, 12) else f.fail(user, "192.0.2.66", i * 2 * SEC)
        )
    return out


def diluted(f: Signals) -> list[Signal]:
    """The attacker logs into an account of their own three times after every failure."""
    out = []
    for i in range(11):
        at = i * 4 * SEC
        out.append(f.fail(f"victim{i}@example.com", "192.0.2.66", at))
        out += [f.ok("attacker@example.net", "192.0.2.66", at + (k + 1) * SEC) for k in range(3)]
    return out


STUFFING_FIRES: list[Any] = [
    pytest.param(
        lambda f: spray(f, 15, 1, 2 * SEC), [_cs(11, 0, 20 * SEC)], id="15 accounts once each: the 11th fires"
    ),
    pytest.param(
        lambda f: spray(f, 12, 3, 2 * SEC),
        [_cs(31, 0, 60 * SEC)],
        id="password spraying, 3 tries per account",
    ),
    pytest.param(
        stuffing_with_hits, [_cs(11, 0, 22 * SEC, Severity.CRITICAL)], id="some credentials worked: critical"
    ),
    pytest.param(
        lambda f: spray(f, 12, 1, 50 * SEC), [_cs(11, 0, 500 * SEC)], id="slow stuffing inside the window"
    ),
    pytest.param(
        diluted,
        [_cs(11, 0, 40 * SEC, Severity.CRITICAL)],
        id="diluting with one own account does not hide it",
    ),
]

STUFFING_QUIET: list[Any] = [
    pytest.param(
        lambda f: office_nat(f, 200, 18 * SEC, 20), id="office NAT: 200 users over an hour, 5 % mistype once"
    ),
    pytest.param(
        lambda f: office_nat(f, 300, SEC, 7), id="office NAT rush: 300 users in 5 min, 15 % mistype"
    ),
    pytest.param(lambda f: office_nat(f, 300, 2 * SEC, 7, 25), id="office NAT: 12 users give up, 288 get in"),
    pytest.param(many_users_once_each, id="many users failing once each from many IPs"),
    pytest.param(
        lambda f: [f.fail("alice", "192.0.2.66", i * SEC) for i in range(50)], id="one account hammered"
    ),
    pytest.param(lambda f: spray(f, 10, 1, SEC), id="10 accounts is not more than 10"),
    pytest.param(lambda f: spray(f, 30, 1, 2 * MIN), id="one account every 2 min: 5 per window"),
    pytest.param(
        lambda f: [
            s
            for i in range(15)
            for s in (f.fail(f"u{i}", "192.0.2.66", i * SEC), f.ok(f"u{i}", "192.0.2.66", i * SEC + 500))
        ],
        id="every failing account then gets in",
    ),
]


@pytest.mark.parametrize(("build", "expected"), STUFFING_FIRES)
def test_credential_stuffing_fires(build: Build, expected: list[Seen]) -> None:
    assert [seen(d) for d in run(CredentialStuffing(), build(Signals()))] == expected


@pytest.mark.parametrize("build", STUFFING_QUIET)
def test_credential_stuffing_does_not_fire(build: Build) -> None:
    assert run(CredentialStuffing(), build(Signals())) == []


def test_the_failure_share_is_what_keeps_an_office_quiet() -> None:
    # 12 colleagues fail and never get in within 10 min: more than 10 failing accounts, but
    # 288 others logged in from the same IP. Without the share guard that would be "stuffing".
    office = office_nat(Signals(), 300, 2 * SEC, 7, 25)
    assert run(CredentialStuffing(), office) == []
    unguarded = CredentialStuffing(CredentialStuffingParams(min_failure_share=0.0))
    assert [d.subject for d in run(unguarded, office)] == ["203.0.113.7"]


def test_credential_stuffing_detection_fields() -> None:
    [d] = run(CredentialStuffing(), stuffing_with_hits(Signals()))
    # victim11 is the 11th failing account (22 s); victim5 had logged in, victim12 comes later.
    assert d.title == "Failed logins for 11 accounts from 192.0.2.66 in 22 s; 1 account logged in"
    assert d.details["distinct_accounts"] == 11
    assert d.details["attempted_accounts"] == 12
    assert d.details["failure_share"] == round(11 / 12, 3)
    assert d.details["failures"] == 11
    assert d.details["succeeded_accounts"] == ["victim5@example.com"]
    assert d.details["accounts"][:3] == ["victim0@example.com", "victim1@example.com", "victim2@example.com"]
    assert len(d.details["accounts"]) == 10
    assert d.evidence == ("e000006", *(f"e{i:06d}" for i in (1, 2, 3, 4, 5, 7, 8, 9, 10)))  # success first
    assert d.confidence == CONFIDENCE[3]


def test_credential_stuffing_quiet_period_then_a_new_detection() -> None:
    f = Signals()
    signals = [f.fail(f"v{i}", "192.0.2.66", i * SEC) for i in range(600)]  # one a second for 10 min
    signals += [f.fail(f"w{i}", "192.0.2.66", 610 * SEC + i * SEC) for i in range(11)]
    found = run(CredentialStuffing(), signals)
    # Fires at 10 s, quiet until 610 s, then counts afresh: the 11th new failure at 620 s.
    assert [seen(d) for d in found] == [_cs(11, 0, 10 * SEC), _cs(11, 610 * SEC, 620 * SEC)]


def test_credential_stuffing_spoofable_accounts_lower_confidence() -> None:
    f = Signals()
    [d] = run(
        CredentialStuffing(), [f.fail(f"v{i}", "192.0.2.66", i * SEC, spoofable=True) for i in range(11)]
    )
    assert d.confidence == 0.5


def test_credential_stuffing_ignores_successes_from_unknown_sources() -> None:
    detector = CredentialStuffing()
    f = Signals()
    run(detector, [f.ok(f"user{i}", ip(i), i * SEC) for i in range(1000)])
    assert detector.tracked() == 0


# 3. DistributedBruteForce ----------------------------------------------------------------


def _dbf(subject: str, count: int, first: int, last: int) -> Seen:
    return Seen("distributed_brute_force", "account", subject, Severity.HIGH, count, first, last)


DISTRIBUTED_FIRES: list[Any] = [
    pytest.param(
        lambda f: [f.fail("alice", ip(i), i * SEC) for i in range(15)],
        [_dbf("alice", 11, 0, 10 * SEC)],
        id="15 IPs a second apart: the 11th fires",
    ),
    pytest.param(
        lambda f: [f.fail("alice", ip(i // 2), i * 500) for i in range(30)],
        [_dbf("alice", 11, 0, 10 * SEC)],
        id="each IP tries twice: repeats add nothing",
    ),
    pytest.param(
        lambda f: [f.fail("ALICE" if i % 2 else "alice", ip(i), i * SEC) for i in range(11)],
        [_dbf("alice", 11, 0, 10 * SEC)],
        id="case does not split the account",
    ),
    pytest.param(
        lambda f: [f.fail("admin", ip(i), i * 10 * SEC) for i in range(40)],
        [_dbf("admin", 15, 0, 140 * SEC)],
        id="a new IP every 10 s",
    ),
    pytest.param(
        lambda f: (
            [f.fail("alice", ip(i), i * 100) for i in range(11)]
            + [f.fail("bob", ip(i), i * 100) for i in range(11)]
        ),
        [_dbf("alice", 11, 0, 1000), _dbf("bob", 11, 0, 1000)],
        id="two accounts attacked at once",
    ),
]

DISTRIBUTED_QUIET: list[Any] = [
    pytest.param(
        lambda f: [f.fail("alice", ip(i % 3), i * MIN) for i in range(9)], id="phone, laptop and office"
    ),
    pytest.param(many_users_once_each, id="many users failing once each from many IPs"),
    pytest.param(lambda f: [f.fail("alice", ip(i), i * 100) for i in range(10)], id="10 IPs is at capacity"),
    pytest.param(
        lambda f: [f.fail("alice", ip(i), i * MIN) for i in range(60)], id="a new IP every minute for an hour"
    ),
    pytest.param(lambda f: [f.fail("alice", "192.0.2.1", i * 100) for i in range(50)], id="one IP hammering"),
    pytest.param(
        lambda f: [f.ok("demo", ip(i), i * SEC) for i in range(50)], id="a shared account logging in fine"
    ),
    pytest.param(lambda f: [f.fail("alice", None, i * 100) for i in range(50)], id="no client IP"),
]


@pytest.mark.parametrize(("build", "expected"), DISTRIBUTED_FIRES)
def test_distributed_brute_force_fires(build: Build, expected: list[Seen]) -> None:
    assert [seen(d) for d in run(DistributedBruteForce(), build(Signals()))] == expected


@pytest.mark.parametrize("build", DISTRIBUTED_QUIET)
def test_distributed_brute_force_does_not_fire(build: Build) -> None:
    assert run(DistributedBruteForce(), build(Signals())) == []


def test_distributed_brute_force_detection_fields() -> None:
    f = Signals()
    [d] = run(DistributedBruteForce(), [f.fail("alice", ip(i), i * SEC, spoofable=i < 11) for i in range(11)])
    assert d.title == "Failed logins for alice from 11 IPs in 10 s"
    assert d.details == {"distinct_ips": 11, "ips": [ip(i) for i in range(10)]}
    assert d.confidence == CONFIDENCE[2] * 0.5


def test_distributed_brute_force_quiet_period_then_a_new_detection() -> None:
    f = Signals()
    signals = [f.fail("alice", ip(i), i * SEC) for i in range(300)]  # a new IP every second for 5 min
    signals += [f.fail("alice", ip(1000 + i), 310 * SEC + i * SEC) for i in range(11)]
    found = run(DistributedBruteForce(), signals)
    # Fires at 10 s; quiet for 5 min (until 310 s); then 11 new IPs from 310 s fire at 320 s.
    assert [seen(d) for d in found] == [
        _dbf("alice", 11, 0, 10 * SEC),
        _dbf("alice", 11, 310 * SEC, 320 * SEC),
    ]


# 4. UserEnumeration ----------------------------------------------------------------------


def _ue(count: int, first: int, last: int) -> Seen:
    return Seen("user_enumeration", "ip", "192.0.2.66", Severity.MEDIUM, count, first, last)


def names(f: Signals, users: Sequence[str], step: int) -> list[Signal]:
    return [f.fail(user, "192.0.2.66", i * step) for i, user in enumerate(users)]


COMMON = ["admin", "root", "test", "guest", "oracle", "user", "info", "support", "demo", "backup"]
ODD = [f"x{i}.unlikely@example.com" for i in range(100)]
ONCE_OR_TWICE = [u for i in range(10) for u in ([ODD[i]] * (2 if i < 5 else 1))]

ENUMERATION_FIRES: list[Any] = [
    pytest.param(lambda f: names(f, ODD[:10], SEC), [_ue(10, 0, 9 * SEC)], id="10 names in 9 s, once each"),
    pytest.param(lambda f: names(f, COMMON, SEC), [_ue(10, 0, 9 * SEC)], id="common usernames (AE12)"),
    pytest.param(
        lambda f: names(f, ONCE_OR_TWICE, SEC), [_ue(15, 0, 14 * SEC)], id="each name once or twice"
    ),
    pytest.param(
        lambda f: names(f, ODD, 200), [_ue(10, 0, 1800)], id="a fast scan of 100 names: one detection"
    ),
    pytest.param(lambda f: names(f, ODD[:20], 5 * SEC), [_ue(10, 0, 45 * SEC)], id="a name every 5 s"),
]

ENUMERATION_QUIET: list[Any] = [
    pytest.param(lambda f: spray(f, 12, 3, SEC), id="spraying retries accounts (3 per name)"),
    pytest.param(lambda f: names(f, ODD[:30], 7 * SEC), id="a name every 7 s: under 10 a minute"),
    pytest.param(lambda f: office_nat(f, 300, SEC, 7), id="office NAT rush"),
    pytest.param(many_users_once_each, id="many users failing once each from many IPs"),
    pytest.param(lambda f: names(f, ODD[:9], 100), id="9 names in a burst"),
    pytest.param(
        lambda f: [
            s
            for i in range(12)
            for s in (f.fail(ODD[i], "192.0.2.66", i * SEC), f.ok(ODD[i], "192.0.2.66", i * SEC + 300))
        ],
        id="names that then log in",
    ),
]


@pytest.mark.parametrize(("build", "expected"), ENUMERATION_FIRES)
def test_user_enumeration_fires(build: Build, expected: list[Seen]) -> None:
    assert [seen(d) for d in run(UserEnumeration(), build(Signals()))] == expected


@pytest.mark.parametrize("build", ENUMERATION_QUIET)
def test_user_enumeration_does_not_fire(build: Build) -> None:
    assert run(UserEnumeration(), build(Signals())) == []


def test_user_enumeration_confidence_and_details() -> None:
    [plain] = run(UserEnumeration(), names(Signals(), ODD[:10], SEC))
    assert plain.confidence == CONFIDENCE[2]
    assert plain.details["common_usernames"] == []
    assert plain.details["failures_per_account"] == 1.0
    assert plain.title == "10 usernames tried from 192.0.2.66 in 9 s"
    [common] = run(UserEnumeration(), names(Signals(), COMMON, SEC))
    assert common.confidence == CONFIDENCE[3]
    assert common.details["common_usernames"] == COMMON
    [twice] = run(UserEnumeration(), names(Signals(), ONCE_OR_TWICE, SEC))
    assert twice.details["failures_per_account"] == 1.5


def test_user_enumeration_quiet_period_then_a_new_detection() -> None:
    f = Signals()
    signals = names(f, ODD, SEC)  # 100 names, one a second
    found = run(UserEnumeration(), signals)
    # Fires at 9 s, quiet until 309 s: no more within the first 100 s.
    assert [seen(d) for d in found] == [_ue(10, 0, 9 * SEC)]
    later = [f.fail(f"y{i}", "192.0.2.66", 309 * SEC + i * SEC) for i in range(10)]
    detector = UserEnumeration()
    assert [seen(d) for d in run(detector, signals + later)] == [
        _ue(10, 0, 9 * SEC),
        _ue(10, 309 * SEC, 318 * SEC),
    ]


# 5. CompromiseAfterFailures --------------------------------------------------------------


def _ca(subject: str, severity: Severity, count: int, first: int, last: int, kind: str = "account") -> Seen:
    return Seen("login_success_after_failures", kind, subject, severity, count, first, last)


def fails_then_ok(
    f: Signals, fails: int, step: int, ok_at: int, *, ips: int = 1, ok_ip: str = "192.0.2.1"
) -> list[Signal]:
    out = [f.fail("alice", f"192.0.2.{1 + i % ips}", i * step) for i in range(fails)]
    return [*out, f.ok("alice", ok_ip, ok_at)]


def stuffing_then_hit(f: Signals) -> list[Signal]:
    out = [f.fail(f"victim{i}", "192.0.2.66", i * SEC) for i in range(12)]
    return [*out, f.ok("lucky", "192.0.2.66", 13 * SEC)]


COMPROMISE_FIRES: list[Any] = [
    pytest.param(
        lambda f: fails_then_ok(f, 10, 3 * SEC, 60 * SEC),
        [_ca("alice", Severity.HIGH, 10, 0, 60 * SEC)],
        id="10 failures then success",
    ),
    pytest.param(
        lambda f: fails_then_ok(f, 25, SEC, 30 * SEC),
        [_ca("alice", Severity.CRITICAL, 25, 0, 30 * SEC)],
        id="25 failures: critical",
    ),
    pytest.param(
        lambda f: fails_then_ok(f, 12, SEC, 20 * SEC, ips=4),
        [_ca("alice", Severity.CRITICAL, 12, 0, 20 * SEC)],
        id="failures from 4 IPs: critical",
    ),
    pytest.param(
        lambda f: fails_then_ok(f, 10, SEC, 15 * SEC, ok_ip="203.0.113.50"),
        [_ca("alice", Severity.HIGH, 10, 0, 15 * SEC)],
        id="attacked account, real user logs in elsewhere",
    ),
    pytest.param(
        stuffing_then_hit,
        [_ca("192.0.2.66", Severity.CRITICAL, 12, 0, 13 * SEC, "ip")],
        id="a stuffing source gets in",
    ),
    pytest.param(
        lambda f: fails_then_ok(f, 10, 50 * SEC, 9 * MIN + 59 * SEC),
        [_ca("alice", Severity.HIGH, 10, 0, 9 * MIN + 59 * SEC)],
        id="slow failures, all inside 10 min",
    ),
]

COMPROMISE_QUIET: list[Any] = [
    pytest.param(lambda f: fails_then_ok(f, 2, 3 * SEC, 10 * SEC), id="one user mistyping twice"),
    pytest.param(lambda f: fails_then_ok(f, 4, 15 * SEC, 70 * SEC), id="forgot password: 4 tries then in"),
    pytest.param(lambda f: fails_then_ok(f, 9, SEC, 10 * SEC), id="9 failures is below 10"),
    pytest.param(lambda f: fails_then_ok(f, 24, 20 * MIN, 8 * HOUR), id="failures spread over 8 hours"),
    pytest.param(
        lambda f: fails_then_ok(f, 10, SEC, 11 * MIN), id="the failures aged out before the success"
    ),
    pytest.param(lambda f: office_nat(f, 300, SEC, 7, 25), id="office NAT: failures and many successes"),
    pytest.param(
        lambda f: [
            *(f.fail("alice", "192.0.2.1", i * SEC) for i in range(15)),
            f.ok("bob", "192.0.2.2", 20 * SEC),
        ],
        id="another account logs in",
    ),
    pytest.param(
        lambda f: [
            *(f.fail("alice", "192.0.2.1", i * SEC) for i in range(9)),
            f.ok("alice", "192.0.2.1", 10 * SEC),
            *(f.fail("alice", "192.0.2.1", 11 * SEC + i * SEC) for i in range(9)),
            f.ok("alice", "192.0.2.1", 30 * SEC),
        ],
        id="a success ends the run",
    ),
]


@pytest.mark.parametrize(("build", "expected"), COMPROMISE_FIRES)
def test_compromise_after_failures_fires(build: Build, expected: list[Seen]) -> None:
    assert [seen(d) for d in run(CompromiseAfterFailures(), build(Signals()))] == expected


@pytest.mark.parametrize("build", COMPROMISE_QUIET)
def test_compromise_after_failures_does_not_fire(build: Build) -> None:
    assert run(CompromiseAfterFailures(), build(Signals())) == []


def test_compromise_evidence_has_failures_and_the_success() -> None:
    f = Signals()
    [d] = run(CompromiseAfterFailures(), fails_then_ok(f, 12, SEC, 20 * SEC))
    assert d.evidence == tuple(f"e{i:06d}" for i in range(4, 14))  # the 9 latest failures, then the success
    assert d.details["success_event"] == "e000013"
    assert d.details["success_ip_failed_before"] is True
    assert d.details["failures"] == 12
    assert d.title == "Login to alice succeeded after 12 failed attempts in 20 s"
    assert d.confidence == CONFIDENCE[3]


def test_compromise_ip_variant_details() -> None:
    [d] = run(CompromiseAfterFailures(), stuffing_then_hit(Signals()))
    assert (
        d.title == "Login to lucky from 192.0.2.66 succeeded after 12 failed logins for 12 accounts in 13 s"
    )
    assert d.details["account"] == "lucky"
    assert d.details["distinct_accounts"] == 12
    assert d.evidence[-1] == "e000013"
    assert d.confidence == CONFIDENCE[2]


def test_compromise_quiet_period_then_a_new_detection() -> None:
    f = Signals()
    signals = fails_then_ok(f, 10, SEC, 10 * SEC)  # fires at 10 s, quiet until 610 s
    signals += [f.fail("alice", "192.0.2.1", 20 * SEC + i * SEC) for i in range(10)]
    signals.append(f.ok("alice", "192.0.2.1", 40 * SEC))
    signals += [f.fail("alice", "192.0.2.1", 620 * SEC + i * SEC) for i in range(10)]
    signals.append(f.ok("alice", "192.0.2.1", 640 * SEC))
    found = run(CompromiseAfterFailures(), signals)
    assert [seen(d) for d in found] == [
        _ca("alice", Severity.HIGH, 10, 0, 10 * SEC),
        _ca("alice", Severity.HIGH, 10, 620 * SEC, 640 * SEC),
    ]


# All auth detectors ----------------------------------------------------------------------

ALL: list[Callable[[], Any]] = [
    BruteForce,
    CredentialStuffing,
    DistributedBruteForce,
    UserEnumeration,
    CompromiseAfterFailures,
]


def mixed_traffic(seed: int) -> list[Signal]:
    """Ordinary logins, a brute force, a stuffing run and a hit, interleaved; reproducible."""
    rng = random.Random(seed)
    f = Signals()
    out = [
        f.ok(f"user{rng.randrange(400)}", ip(rng.randrange(300)), rng.randrange(HOUR)) for _ in range(3000)
    ]
    out += [
        f.fail(f"user{rng.randrange(400)}", ip(rng.randrange(300)), rng.randrange(HOUR)) for _ in range(150)
    ]
    out += [f.fail("alice", ip(rng.randrange(40)), 10 * MIN + i * 700) for i in range(40)]
    out += [f.fail(f"victim{i}", "192.0.2.66", 20 * MIN + i * 900) for i in range(60)]
    out.append(f.ok("alice", ip(7), 11 * MIN))
    out.append(f.ok("victim-x", "192.0.2.66", 22 * MIN))
    return sorted(out, key=lambda s: (s.at_ms, s.event_id))


@pytest.mark.parametrize("make", ALL, ids=lambda c: c.__name__)
def test_deterministic(make: Callable[[], Detector]) -> None:
    signals = mixed_traffic(7)
    first, second = run(make(), signals), run(make(), list(signals))
    assert first == second
    assert [d.as_dict() for d in first] == [d.as_dict() for d in second]


def test_mixed_traffic_finds_the_attacks() -> None:
    signals = mixed_traffic(7)
    rules = {(d.rule, d.subject) for make in ALL for d in run(make(), signals)}
    assert ("brute_force", "alice") in rules
    assert ("distributed_brute_force", "alice") in rules
    assert ("credential_stuffing", "192.0.2.66") in rules
    assert ("login_success_after_failures", "alice") in rules
    assert ("login_success_after_failures", "192.0.2.66") in rules


@pytest.mark.parametrize("make", ALL, ids=lambda c: c.__name__)
def test_eviction_bounds_memory(make: Callable[[], Any]) -> None:
    detector = make()
    f = Signals()
    for i in range(100_000):
        detector.observe(f.fail(f"user{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", i))
    held = detector.tracked()
    assert held >= 100_000
    detector.evict(T0 + 100_000)  # the last one was just poured: it stays
    assert 0 < detector.tracked() <= held
    assert detector.evict(T0 + 2 * HOUR) > 0
    assert detector.tracked() == 0


@pytest.mark.parametrize("make", ALL, ids=lambda c: c.__name__)
def test_quiet_subjects_are_evicted_after_the_quiet_period(make: Callable[[], Any]) -> None:
    detector = make()
    signals = mixed_traffic(3)
    assert run(detector, signals)
    last = signals[-1].at_ms
    detector.evict(last + 11 * MIN)
    assert detector.tracked() == 0


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0 s"), (500, "0.5 s"), (2000, "2 s"), (40_000, "40 s"), (12 * MIN, "12 min"), (3 * HOUR, "3 h")],
)
def test_human_span(ms: int, text: str) -> None:
    assert human_span(ms) == text
