"""Authentication detectors: brute force on one account, credential stuffing and password
spraying from one source, distributed brute force on one account, user enumeration, and a
login that succeeds after a run of failures.

Which signals count (by canonical name; the OWASP prefix implies the category):

* failure: `authn_login_fail` (the seed's login_failed, invalid_credentials, mfa_failed, …
  and its `authentication_failure` alert name all map to it);
* success: `authn_login_success` and `authn_login_successafterfail` (OWASP's name for a
  success that follows failures);
* `authn_password_change_fail` is a failure for `BruteForce` only: it guesses the current
  password of one known account (from inside a session), which is brute force on that
  account but says nothing about which accounts a source tries;
* `authn_login_fail_max` and `authn_login_lock` are not counted: they are the application's
  own verdict, logged alongside the failure that crossed its limit, so counting them would
  count that failure twice. (A lock deserves an alert of its own: a trigger, not a window.)

Accounts are compared stripped and case-folded (most logins are case-insensitive, and an
attacker varying the case must not split the counts). Signals without an account are
ignored here, and so are signals without a client IP by rules keyed or counted by IP.
Every key includes the project.

Confidence: each rule has a CrowdSec-style level 1..3 (`CONFIDENCE` maps it to a factor).
A spoofable signal (a browser, which can claim any account, reported it) counts half:
confidence = factor x (1 - 0.5 x the spoofable share of the counted events).

Two state shapes, both bounded: leaky buckets (`BruteForce`, `DistributedBruteForce`), one
per active subject, evicted once drained; and sliding windows of recent attempts
(`CredentialStuffing`, `UserEnumeration`, `CompromiseAfterFailures`), which need exact
counts of failures *and* successes in one window to compute a ratio. A window holds at most
`max_attempts` attempts and is evicted once they have aged out; a success from a source or
for an account with no recorded failures is not stored at all, so ordinary logins cost
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from syncmon.security.buckets import BucketGroup, Buckets, BucketSpec, Overflow
from syncmon.security.detection import CONFIDENCE, Detection, Severity
from syncmon.security.params import DAY_MS, param
from syncmon.security.signals import Signal

LOGIN_FAILURES = frozenset({"authn_login_fail"})
LOGIN_SUCCESSES = frozenset({"authn_login_success", "authn_login_successafterfail"})
PASSWORD_FAILURES = frozenset({"authn_password_change_fail"})

MAX_EVIDENCE = 10
MAX_SAMPLE = 10
# A spoofable signal weighs this much less in the confidence (our choice: "counts half").
SPOOFABLE_DISCOUNT = 0.5
MAX_SUBJECT = 200  # detections.subject is String(200)

# AppSensor AE12 "Utilization of Common Usernames": names an enumerating tool tries first.
COMMON_USERNAMES = frozenset(
    {
        "admin", "administrator", "root", "test", "testuser", "guest", "user", "demo", "info",
        "support", "webmaster", "sysadmin", "operator", "backup", "oracle", "postgres", "mysql",
        "ftp", "ubuntu", "pi", "manager", "service", "default",
    }
)  # fmt: skip


# Helpers shared with the access detectors.


def subject_key(project_id: int, subject: str) -> str:
    """One bucket/window key per (project, subject)."""
    return f"{project_id}:{subject}"


def account_of(user_id: str | None) -> str | None:
    """The account a signal names, normalised for counting (stripped, case-folded)."""
    if user_id is None:
        return None
    account = user_id.strip().casefold()[:MAX_SUBJECT]
    return account or None


def scaled_confidence(level: int, spoofed: int, counted: int) -> float:
    """CONFIDENCE[level], lowered by the share of counted events that were spoofable."""
    factor = CONFIDENCE[max(1, min(3, level))]
    share = spoofed / counted if counted > 0 else 0.0
    return round(factor * (1.0 - SPOOFABLE_DISCOUNT * share), 3)


def human_span(ms: int) -> str:
    """A window length for a title: '0.5 s', '40 s', '12 min', '3 h'."""
    seconds = max(0, ms) / 1000.0
    if seconds < 10:
        text = f"{seconds:.1f}"
        return f"{text.removesuffix('.0')} s"
    if seconds < 120:
        return f"{round(seconds)} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# Sliding windows of login attempts (fail2ban's findtime) with running tallies.


@dataclass(frozen=True, slots=True)
class _Attempt:
    at_ms: int
    event_id: str
    value: str  # the other side: the account (source windows) or the IP (account windows)
    failed: bool
    spoofable: bool


class _Window:
    """Recent attempts of one subject, oldest first, with O(1) tallies kept as they come and go.

    Kept small, since a botnet makes one window per IP: a list with a moving head (compacted
    as it goes) rather than a deque, and one dict of [failures, successes] per value.
    """

    __slots__ = (
        "attempts",
        "failed",
        "failing",
        "head",
        "quiet_until_ms",
        "spoofed",
        "tallies",
        "unresolved",
    )

    def __init__(self) -> None:
        self.attempts: list[_Attempt] = []
        self.head = 0  # attempts[:head] have left the window
        self.tallies: dict[str, list[int]] = {}  # value → [failed attempts, successful attempts]
        self.failed = 0  # failed attempts
        self.spoofed = 0  # spoofable failed attempts
        self.failing = 0  # values with failures
        self.unresolved = 0  # values with failures and no success
        self.quiet_until_ms = 0

    def __len__(self) -> int:
        return len(self.attempts) - self.head

    def live(self) -> list[_Attempt]:
        return self.attempts[self.head :]

    def add(self, attempt: _Attempt, max_attempts: int) -> None:
        self.attempts.append(attempt)
        self._tally(attempt, 1)
        while len(self) > max_attempts:
            self._drop_oldest()

    def prune(self, now_ms: int, window_ms: int) -> None:
        horizon = now_ms - window_ms
        while len(self) and self.attempts[self.head].at_ms <= horizon:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        self._tally(self.attempts[self.head], -1)
        self.head += 1
        if self.head == len(self.attempts):
            self.attempts.clear()
            self.head = 0
        elif self.head >= 32 and 2 * self.head >= len(self.attempts):
            del self.attempts[: self.head]
            self.head = 0

    def clear(self) -> None:
        """Forget every attempt (after a detection, or when a success ends a run); keeps the quiet period."""
        self.attempts.clear()
        self.tallies.clear()
        self.head = self.failed = self.spoofed = self.failing = self.unresolved = 0

    def _tally(self, attempt: _Attempt, step: int) -> None:
        tally = self.tallies.get(attempt.value)
        if tally is None:
            tally = self.tallies[attempt.value] = [0, 0]
        was_failing, was_unresolved = tally[0] > 0, tally[0] > 0 and tally[1] == 0
        if attempt.failed:
            tally[0] += step
            self.failed += step
            self.spoofed += step * attempt.spoofable
        else:
            tally[1] += step
        self.failing += (tally[0] > 0) - was_failing
        self.unresolved += (tally[0] > 0 and tally[1] == 0) - was_unresolved
        if tally[0] <= 0 and tally[1] <= 0:
            del self.tallies[attempt.value]

    @property
    def attempted(self) -> int:
        """Distinct values attempted in the window."""
        return len(self.tallies)

    @property
    def failure_share(self) -> float:
        """Of the values attempted in the window, the share that only ever failed."""
        return self.unresolved / len(self.tallies) if self.tallies else 0.0

    def failed_before(self, value: str) -> bool:
        return bool(value) and self.tallies.get(value, [0, 0])[0] > 0

    def failing_values(self) -> list[str]:
        return [v for v, (failed, _) in self.tallies.items() if failed > 0 and v]

    def unresolved_values(self, limit: int) -> list[str]:
        return [v for v, (failed, ok) in self.tallies.items() if failed > 0 and ok == 0 and v][:limit]

    def succeeded_values(self) -> list[str]:
        return [v for v, (_, ok) in self.tallies.items() if ok > 0 and v]

    def first_failure_ms(self, default: int) -> int:
        return next((a.at_ms for a in self.live() if a.failed), default)

    def failed_ids(self, limit: int) -> list[str]:
        return [a.event_id for a in self.live() if a.failed][:limit]

    def success_ids(self, limit: int) -> list[str]:
        return [a.event_id for a in self.live() if not a.failed][:limit]


class _Windows:
    """Windows keyed by subject key; a window goes once empty and out of its quiet period."""

    def __init__(self, window_ms: int, max_attempts: int) -> None:
        self.window_ms = window_ms
        self.max_attempts = max_attempts
        self._windows: dict[str, _Window] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def get(self, key: str, now_ms: int, create: bool) -> _Window | None:
        """The subject's window pruned to `now_ms`; None when it has none and `create` is false."""
        window = self._windows.get(key)
        if window is None:
            if not create:
                return None
            window = self._windows[key] = _Window()
        window.prune(now_ms, self.window_ms)
        return window

    def add(self, window: _Window, attempt: _Attempt) -> None:
        window.add(attempt, self.max_attempts)

    def evict(self, now_ms: int) -> int:
        gone = []
        for key, window in self._windows.items():
            window.prune(now_ms, self.window_ms)
            if not window and now_ms >= window.quiet_until_ms:
                gone.append(key)
        for key in gone:
            del self._windows[key]
        return len(gone)


def _login(signal: Signal) -> tuple[bool, str] | None:
    """(failed, account) for a login attempt with an account, else None."""
    if signal.name in LOGIN_FAILURES:
        failed = True
    elif signal.name in LOGIN_SUCCESSES:
        failed = False
    else:
        return None
    account = account_of(signal.user_id)
    return None if account is None else (failed, account)


def _bucket_detection(
    rule: str,
    signal: Signal,
    subject_type: str,
    subject: str,
    severity: Severity,
    level: int,
    overflow: Overflow,
    title: str,
    details: dict[str, object],
) -> Detection:
    return Detection(
        rule=rule,
        project_id=signal.project_id,
        subject_type=subject_type,
        subject=subject,
        severity=severity,
        confidence=scaled_confidence(level, overflow.marked, overflow.count),
        count=overflow.count,
        first_ms=overflow.first_ms,
        last_ms=overflow.last_ms,
        title=title,
        evidence=overflow.evidence[:MAX_EVIDENCE],
        details=details,
    )


# 1. Brute force: many failures for one account.


_BRUTE_FORCE_FAST = BucketSpec(capacity=5, leak_per_second=1 / 10, quiet_ms=600_000)
_BRUTE_FORCE_SLOW = BucketSpec(capacity=10, leak_per_second=1 / 60, quiet_ms=600_000)


@dataclass(frozen=True, slots=True)
class BruteForceParams:
    # CrowdSec crowdsecurity/http-generic-bf and ssh-bf: capacity 5, leakspeed 10s (overflow on
    # the 6th failure in quick succession). Quiet 10 min: fail2ban jail.conf bantime = 10m.
    fast: BucketSpec = _BRUTE_FORCE_FAST
    # CrowdSec crowdsecurity/ssh-slow-bf: capacity 10, leakspeed 60s (a steady failure every
    # 10 s overflows on the 12th). None disables the slow variant.
    slow: BucketSpec | None = _BRUTE_FORCE_SLOW
    # CrowdSec http-generic-bf labels: confidence 3.
    confidence: int = param(3, 1, 3)


class BruteForce:
    """Many failed logins for one account (rule "brute_force", subject: the account).

    Counts `authn_login_fail` and `authn_password_change_fail` per (project, account) in two
    leaky buckets, CrowdSec's pair: fast (capacity 5, leak 1 per 10 s: the 6th failure within
    a few seconds fires) and slow (capacity 10, leak 1 per 60 s: e.g. a failure every 10 s
    fires on the 12th). Whichever overflows first fires; the account is then quiet for 10 min
    (fail2ban's bantime) in both. Severity high, confidence level 3. A success does not reset
    the count (fail2ban doesn't either); a success after such a run is
    `CompromiseAfterFailures`. Two typos, or retries minutes apart, never fire.
    Details: the variant that fired and up to 10 source IPs.
    """

    rule: str = "brute_force"
    names: frozenset[str] | None = LOGIN_FAILURES | PASSWORD_FAILURES
    defaults: ClassVar[BruteForceParams] = BruteForceParams()

    def __init__(self, params: BruteForceParams | None = None) -> None:
        self.params = params or self.defaults
        specs = {"fast": self.params.fast}
        if self.params.slow is not None:
            specs["slow"] = self.params.slow
        self._group = BucketGroup(specs, MAX_EVIDENCE)
        self._variants = tuple(specs)

    def tracked(self) -> int:
        """Subjects currently held in memory."""
        return len(self._group)

    def observe(self, signal: Signal) -> list[Detection]:
        if signal.name not in LOGIN_FAILURES and signal.name not in PASSWORD_FAILURES:
            return []
        account = account_of(signal.user_id)
        if account is None:
            return []
        key = subject_key(signal.project_id, account)
        for variant in self._variants:
            overflow = self._group.pour(
                variant, key, signal.at_ms, signal.event_id, marked=signal.spoofable, tag=signal.client_ip
            )
            if overflow is not None:
                span = human_span(overflow.last_ms - overflow.first_ms)
                title = f"{overflow.count} failed logins for {account} in {span}"
                details: dict[str, object] = {"variant": variant, "ips": list(overflow.tags)}
                level = self.params.confidence
                return [
                    _bucket_detection(
                        self.rule, signal, "account", account, Severity.HIGH, level, overflow, title, details
                    )
                ]
        return []

    def evict(self, now_ms: int) -> int:
        return self._group.evict(now_ms)


# 2. Distributed brute force: failures for one account from many IPs.


_DISTRIBUTED_BUCKET = BucketSpec(capacity=10, leak_per_second=1 / 30, quiet_ms=300_000)


@dataclass(frozen=True, slots=True)
class DistributedBruteForceParams:
    # CrowdSec crowdsecurity/http-magento-ccs-by-as, the hub's distributed shape (distinct
    # source_ip): capacity 10, leakspeed 30s, blackhole 5m; max_distinct: Buckets' default.
    bucket: BucketSpec = _DISTRIBUTED_BUCKET
    # Ours: 2, because a shared or demo account used from many places looks the same.
    confidence: int = param(2, 1, 3)


class DistributedBruteForce:
    """Failed logins for one account from many distinct IPs (rule "distributed_brute_force",
    subject: the account).

    One leaky bucket per (project, account) fed `authn_login_fail` with a client IP, counting
    only *new* IPs (CrowdSec `distinct: source_ip`): capacity 10, leak 1 per 30 s, so 11
    distinct IPs in quick succession (or more than 2 new IPs a minute, sustained) fire.
    Repeats from an IP already counted add nothing, so it catches what per-IP rules miss.
    Quiet 5 min. Severity high, confidence level 2. Details: distinct IPs and up to 10 of them.
    """

    rule: str = "distributed_brute_force"
    names: frozenset[str] | None = LOGIN_FAILURES
    defaults: ClassVar[DistributedBruteForceParams] = DistributedBruteForceParams()

    def __init__(self, params: DistributedBruteForceParams | None = None) -> None:
        self.params = params or self.defaults
        self._buckets = Buckets(self.params.bucket, MAX_EVIDENCE)

    def tracked(self) -> int:
        return len(self._buckets)

    def observe(self, signal: Signal) -> list[Detection]:
        login = _login(signal)
        if login is None or not login[0] or not signal.client_ip:
            return []
        account = login[1]
        key = subject_key(signal.project_id, account)
        overflow = self._buckets.pour(
            key,
            signal.at_ms,
            signal.event_id,
            signal.client_ip,
            marked=signal.spoofable,
            tag=signal.client_ip,
        )
        if overflow is None:
            return []
        span = human_span(overflow.last_ms - overflow.first_ms)
        title = f"Failed logins for {account} from {overflow.distinct} IPs in {span}"
        details: dict[str, object] = {"distinct_ips": overflow.distinct, "ips": list(overflow.tags)}
        return [
            _bucket_detection(
                self.rule,
                signal,
                "account",
                account,
                Severity.HIGH,
                self.params.confidence,
                overflow,
                title,
                details,
            )
        ]

    def evict(self, now_ms: int) -> int:
        return self._buckets.evict(now_ms)


# 3. Credential stuffing / password spraying: one IP, many accounts, failures dominating.


@dataclass(frozen=True, slots=True)
class CredentialStuffingParams:
    # fail2ban jail.conf findtime = 10m.
    window_ms: int = param(600_000, 1_000, DAY_MS)
    # "More than 10 accounts": CrowdSec ssh-slow-bf_user-enum (distinct target_user) capacity
    # 10 overflows on the 11th distinct account.
    min_accounts: int = param(11, 2, 10_000)
    # Ours (the office-NAT guard): at least half the accounts tried from the IP in the window
    # only ever failed.
    min_failure_share: float = param(0.5, 0.0, 1.0)
    # Ours: memory bound per IP (attempts kept in its window).
    max_attempts: int = param(1000, 10, 100_000)
    # fail2ban bantime = 10m.
    quiet_ms: int = param(600_000, 0, 30 * DAY_MS)
    # CrowdSec ssh-bf_user-enum labels: confidence 3.
    confidence: int = param(3, 1, 3)


class _SourceWindowRule:
    """Shared plumbing of the per-IP window rules: record attempts, keep quiet after firing."""

    rule: str
    names: frozenset[str] | None = LOGIN_FAILURES | LOGIN_SUCCESSES

    def __init__(self, window_ms: int, max_attempts: int) -> None:
        self._windows = _Windows(window_ms, max_attempts)

    def tracked(self) -> int:
        return len(self._windows)

    def _record(self, signal: Signal) -> _Window | None:
        """The IP's window with this attempt added, when it was a failure that may complete a
        detection; None otherwise."""
        login = _login(signal)
        if login is None or not signal.client_ip:
            return None
        failed, account = login
        key = subject_key(signal.project_id, signal.client_ip)
        window = self._windows.get(key, signal.at_ms, create=failed)
        if window is None or signal.at_ms < window.quiet_until_ms:
            return None
        self._windows.add(window, _Attempt(signal.at_ms, signal.event_id, account, failed, signal.spoofable))
        return window if failed else None

    def evict(self, now_ms: int) -> int:
        return self._windows.evict(now_ms)


class CredentialStuffing(_SourceWindowRule):
    """Failed logins for many distinct accounts from one IP (rule "credential_stuffing",
    subject: the IP); covers password spraying too, since repeats per account are allowed.

    Per (project, IP), a 10-minute sliding window (fail2ban findtime) of login attempts. It
    fires on a failure when (a) more than 10 distinct accounts failed from the IP and none of
    them then succeeded from it (a user who mistyped and then got in is not a victim), and
    (b) those accounts are at least half of all accounts attempted from the IP in the window.
    Shares are taken over accounts, not attempts, so an attacker cannot dilute them by
    logging into one account of their own over and over. An office behind one NAT has many
    successful accounts and few, quickly resolved failures, so it does not fire. The IP is
    then quiet for 10 min (fail2ban bantime). Severity high, or critical when some account
    logged in from the IP during the window (some credentials worked). Confidence level 3.
    Details: failing accounts (count and up to 10), attempted accounts, failure share,
    failures, successful accounts.
    """

    rule: str = "credential_stuffing"
    defaults: ClassVar[CredentialStuffingParams] = CredentialStuffingParams()

    def __init__(self, params: CredentialStuffingParams | None = None) -> None:
        self.params = params or self.defaults
        super().__init__(self.params.window_ms, self.params.max_attempts)

    def observe(self, signal: Signal) -> list[Detection]:
        window = self._record(signal)
        p = self.params
        if window is None or window.unresolved < p.min_accounts or window.failure_share < p.min_failure_share:
            return []
        ip = signal.client_ip or ""
        first_ms = window.first_failure_ms(signal.at_ms)
        span = human_span(signal.at_ms - first_ms)
        succeeded = window.succeeded_values()
        success_ids = window.success_ids(3)
        details: dict[str, object] = {
            "distinct_accounts": window.unresolved,
            "accounts": window.unresolved_values(MAX_SAMPLE),
            "attempted_accounts": window.attempted,
            "failure_share": round(window.failure_share, 3),
            "failures": window.failed,
            "succeeded_accounts": succeeded[:MAX_SAMPLE],
        }
        detection = Detection(
            rule=self.rule,
            project_id=signal.project_id,
            subject_type="ip",
            subject=ip,
            severity=Severity.CRITICAL if succeeded else Severity.HIGH,
            confidence=scaled_confidence(p.confidence, window.spoofed, window.failed),
            count=window.failed,
            first_ms=first_ms,
            last_ms=signal.at_ms,
            title=(
                f"Failed logins for {window.unresolved} accounts from {ip} in {span}"
                + (f"; {plural(len(succeeded), 'account')} logged in" if succeeded else "")
            ),
            evidence=tuple(success_ids + window.failed_ids(MAX_EVIDENCE - len(success_ids))),
            details=details,
        )
        window.clear()
        window.quiet_until_ms = signal.at_ms + p.quiet_ms
        return [detection]


# 4. User enumeration: one IP, many usernames, each tried about once, quickly.


@dataclass(frozen=True, slots=True)
class UserEnumerationParams:
    # AppSensor AE3 counts "in a second or minute"; CrowdSec ssh-bf_user-enum (distinct
    # target_user, capacity 5, leakspeed 10s) overflows at about 11 names a minute when they
    # come at a steady pace. We ask for 10 distinct names within 60 s.
    window_ms: int = param(60_000, 1_000, DAY_MS)
    min_accounts: int = param(10, 2, 10_000)
    # Ours (AppSensor AE1 "Use Of Multiple Usernames"): each name tried once or twice, on average
    # at most 1.5 failures per failing name; stuffing and spraying repeat more.
    max_failures_per_account: float = param(1.5, 1.0, 1_000.0)
    # Ours: the same office-NAT guard as CredentialStuffing.
    min_failure_share: float = param(0.5, 0.0, 1.0)
    max_attempts: int = param(1000, 10, 100_000)
    # Buckets' default quiet period (CrowdSec's 5m blackhole of probing scenarios).
    quiet_ms: int = param(300_000, 0, 30 * DAY_MS)
    # Ours: 2, since only usernames are seen; 3 when at least `common_for_confidence` of the
    # names are common ones (AppSensor AE12).
    confidence: int = param(2, 1, 3)
    common_for_confidence: int = param(3, 1, 10_000)


class UserEnumeration(_SourceWindowRule):
    """Many distinct usernames failing from one IP at a high rate, each tried about once
    (rule "user_enumeration", subject: the IP).

    We see usernames, not whether they exist, so the heuristic is the shape: per (project, IP),
    in a 60 s sliding window, at least 10 distinct accounts failed and none of them then
    succeeded, they are at least half the accounts attempted from the IP (NAT guard), and the
    failures per failing account average at most 1.5 (AppSensor AE1; CrowdSec's *_user-enum
    scenarios count `distinct: target_user`). That ratio separates it from stuffing and
    spraying, which retry accounts; a fast one-try-per-account stuffing run matches both rules
    (medium here, high there). Quiet 5 min. Severity medium; confidence level 2, or 3 when 3+
    of the names are common ones like admin, root, test (AppSensor AE12). Details: accounts
    (count and up to 10), failures per account, common usernames seen.
    """

    rule: str = "user_enumeration"
    defaults: ClassVar[UserEnumerationParams] = UserEnumerationParams()

    def __init__(self, params: UserEnumerationParams | None = None) -> None:
        self.params = params or self.defaults
        super().__init__(self.params.window_ms, self.params.max_attempts)

    def observe(self, signal: Signal) -> list[Detection]:
        window = self._record(signal)
        p = self.params
        if window is None or window.unresolved < p.min_accounts or window.failure_share < p.min_failure_share:
            return []
        per_account = window.failed / window.failing
        if per_account > p.max_failures_per_account:
            return []
        ip = signal.client_ip or ""
        first_ms = window.first_failure_ms(signal.at_ms)
        common = [a for a in window.failing_values() if a.split("@", 1)[0] in COMMON_USERNAMES]
        level = p.confidence + 1 if len(common) >= p.common_for_confidence else p.confidence
        detection = Detection(
            rule=self.rule,
            project_id=signal.project_id,
            subject_type="ip",
            subject=ip,
            severity=Severity.MEDIUM,
            confidence=scaled_confidence(level, window.spoofed, window.failed),
            count=window.failed,
            first_ms=first_ms,
            last_ms=signal.at_ms,
            title=f"{window.unresolved} usernames tried from {ip} in {human_span(signal.at_ms - first_ms)}",
            evidence=tuple(window.failed_ids(MAX_EVIDENCE)),
            details={
                "distinct_accounts": window.unresolved,
                "accounts": window.unresolved_values(MAX_SAMPLE),
                "failures_per_account": round(per_account, 3),
                "common_usernames": common[:MAX_SAMPLE],
            },
        )
        window.clear()
        window.quiet_until_ms = signal.at_ms + p.quiet_ms
        return [detection]


# 5. A login that succeeds right after a run of failures.


@dataclass(frozen=True, slots=True)
class CompromiseAfterFailuresParams:
    # fail2ban jail.conf findtime = 10m: failures older than this are forgotten.
    window_ms: int = param(600_000, 1_000, DAY_MS)
    # Account variant. CrowdSec ssh-slow-bf capacity 10: a run of failures CrowdSec would call
    # (slow) brute force. Someone who mistypes a few times and then gets in stays below it.
    min_failures: int = param(10, 1, 100_000)
    # Ours: critical instead of high from twice that many failures, or failures from 3+ IPs.
    critical_failures: int = param(20, 1, 100_000)
    critical_ips: int = param(3, 1, 10_000)
    # IP variant (ours): a success from an IP with 10+ failures over 5+ accounts in the window,
    # with the same office-NAT guard as CredentialStuffing.
    ip_min_failures: int = param(10, 1, 100_000)
    ip_min_accounts: int = param(5, 1, 10_000)
    min_failure_share: float = param(0.5, 0.0, 1.0)
    max_attempts: int = param(1000, 10, 100_000)
    # fail2ban bantime = 10m.
    quiet_ms: int = param(600_000, 0, 30 * DAY_MS)
    # OWASP authn_login_successafterfail is the application's own record: level 3. The IP
    # variant is an inference about someone else's account: level 2.
    confidence: int = param(3, 1, 3)
    ip_confidence: int = param(2, 1, 3)


class CompromiseAfterFailures:
    """A login that succeeds right after many failures (rule "login_success_after_failures";
    OWASP authn_login_successafterfail).

    Account variant (subject: the account): a success for an account that had at least 10
    failed logins in the last 10 minutes, from any IPs. Severity high; critical from 20
    failures or when they came from 3+ IPs. The success ends the run: the account's failures
    are forgotten whether or not it fired.

    IP variant (subject: the IP): a success from an IP that had at least 10 failed logins over
    at least 5 accounts in the window, and those failing accounts are at least half the
    accounts tried from it (the office-NAT guard): a stuffing or spraying source got in.
    Severity critical, confidence level 2.

    Each subject is then quiet for 10 min. Evidence: the most recent failures and the success
    (last). Count: the failures. Details: the account, the success IP, failures, distinct IPs
    (account variant) or accounts (IP variant).
    """

    rule: str = "login_success_after_failures"
    names: frozenset[str] | None = LOGIN_FAILURES | LOGIN_SUCCESSES
    defaults: ClassVar[CompromiseAfterFailuresParams] = CompromiseAfterFailuresParams()

    def __init__(self, params: CompromiseAfterFailuresParams | None = None) -> None:
        self.params = params or self.defaults
        self._accounts = _Windows(self.params.window_ms, self.params.max_attempts)
        self._ips = _Windows(self.params.window_ms, self.params.max_attempts)

    def tracked(self) -> int:
        return len(self._accounts) + len(self._ips)

    def observe(self, signal: Signal) -> list[Detection]:
        login = _login(signal)
        if login is None:
            return []
        failed, account = login
        ip = signal.client_ip or ""
        found: list[Detection] = []
        key = subject_key(signal.project_id, account)
        window = self._accounts.get(key, signal.at_ms, create=failed)
        if window is not None and signal.at_ms >= window.quiet_until_ms:
            if failed:
                self._accounts.add(
                    window, _Attempt(signal.at_ms, signal.event_id, ip, True, signal.spoofable)
                )
            else:
                if window.failed >= self.params.min_failures:
                    found.append(self._for_account(signal, account, window))
                    window.quiet_until_ms = signal.at_ms + self.params.quiet_ms
                window.clear()
        if ip:
            key = subject_key(signal.project_id, ip)
            window = self._ips.get(key, signal.at_ms, create=failed)
            if window is not None and signal.at_ms >= window.quiet_until_ms:
                p = self.params
                if (
                    not failed
                    and window.failed >= p.ip_min_failures
                    and window.unresolved >= p.ip_min_accounts
                    and window.failure_share >= p.min_failure_share
                ):
                    found.append(self._for_ip(signal, account, window))
                    window.clear()
                    window.quiet_until_ms = signal.at_ms + p.quiet_ms
                else:
                    self._ips.add(
                        window, _Attempt(signal.at_ms, signal.event_id, account, failed, signal.spoofable)
                    )
        return found

    def _evidence(self, window: _Window, signal: Signal) -> tuple[str, ...]:
        recent = [a.event_id for a in window.live() if a.failed][-(MAX_EVIDENCE - 1) :]
        return (*recent, signal.event_id)

    def _for_account(self, signal: Signal, account: str, window: _Window) -> Detection:
        p = self.params
        ips = window.failing_values()
        critical = window.failed >= p.critical_failures or len(ips) >= p.critical_ips
        first_ms = window.first_failure_ms(signal.at_ms)
        span = human_span(signal.at_ms - first_ms)
        return Detection(
            rule=self.rule,
            project_id=signal.project_id,
            subject_type="account",
            subject=account,
            severity=Severity.CRITICAL if critical else Severity.HIGH,
            confidence=scaled_confidence(p.confidence, window.spoofed + signal.spoofable, window.failed + 1),
            count=window.failed,
            first_ms=first_ms,
            last_ms=signal.at_ms,
            title=f"Login to {account} succeeded after {window.failed} failed attempts in {span}",
            evidence=self._evidence(window, signal),
            details={
                "account": account,
                "success_ip": signal.client_ip,
                "success_event": signal.event_id,
                "failures": window.failed,
                "distinct_ips": len(ips),
                "ips": ips[:MAX_SAMPLE],
                "success_ip_failed_before": window.failed_before(signal.client_ip or ""),
            },
        )

    def _for_ip(self, signal: Signal, account: str, window: _Window) -> Detection:
        p = self.params
        ip = signal.client_ip or ""
        first_ms = window.first_failure_ms(signal.at_ms)
        span = human_span(signal.at_ms - first_ms)
        return Detection(
            rule=self.rule,
            project_id=signal.project_id,
            subject_type="ip",
            subject=ip,
            severity=Severity.CRITICAL,
            confidence=scaled_confidence(
                p.ip_confidence, window.spoofed + signal.spoofable, window.failed + 1
            ),
            count=window.failed,
            first_ms=first_ms,
            last_ms=signal.at_ms,
            title=(
                f"Login to {account} from {ip} succeeded after {window.failed} failed logins "
                f"for {window.unresolved} accounts in {span}"
            ),
            evidence=self._evidence(window, signal),
            details={
                "account": account,
                "success_event": signal.event_id,
                "failures": window.failed,
                "distinct_accounts": window.unresolved,
                "accounts": window.unresolved_values(MAX_SAMPLE),
                "failure_share": round(window.failure_share, 3),
            },
        )

    def evict(self, now_ms: int) -> int:
        return self._accounts.evict(now_ms) + self._ips.evict(now_ms)
