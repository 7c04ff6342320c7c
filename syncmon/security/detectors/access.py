"""Access-control detectors: bursts of authorization failures, and forced browsing (one
subject refused on many distinct objects).

Which signals count:

* `authz_fail` (OWASP, CRITICAL in the Logging Vocabulary; the seed's access_denied,
  forbidden, permission_denied … map to it) and `malicious_direct_reference` (OWASP's name
  for a direct-object-reference attempt), both security events: source "authz";
* `http_403` request signals (a server reported a request it refused): source "http_403";
* `http_404` request signals, for `ForcedBrowsing` only and only with an account (an
  authenticated user walking object ids the application hides as "not found"): source
  "http_404". Anonymous 404 scanning is the probing rules' job (CrowdSec http-probing), and
  404s for static files (a broken image) are ignored, as http-probing ignores them.

The subject is the account when the signal names one (stripped, case-folded), else the
client IP; a signal with neither is ignored. Every key includes the project.

Sources are counted in separate buckets and never added up: an application that reports a
refusal both as an `authz_fail` event and as a 403 request would otherwise count it twice.
The buckets of one subject share a quiet period, so whichever source overflows first
yields the one detection.

Confidence as in the auth detectors: a level 1..3 through `CONFIDENCE`, and spoofable
signals (a browser claimed the account) count half.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit

from syncmon.security.buckets import BucketGroup, BucketSpec, Overflow
from syncmon.security.detection import Detection, Severity
from syncmon.security.detectors.auth import (
    MAX_EVIDENCE,
    account_of,
    human_span,
    scaled_confidence,
    subject_key,
)
from syncmon.security.params import param
from syncmon.security.signals import Signal

AUTHZ_NAMES = frozenset({"authz_fail", "malicious_direct_reference"})
MAX_TARGET = 512
# Static resources, as CrowdSec's http-probing excludes them (static_ressource == 'false').
STATIC_SUFFIXES = (
    ".js", ".mjs", ".css", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".avif",
    ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp4", ".webm", ".mp3",
)  # fmt: skip


def _subject(signal: Signal) -> tuple[str, str] | None:
    """("account", account) when the signal names one, else ("ip", client IP), else None."""
    account = account_of(signal.user_id)
    if account is not None:
        return "account", account
    if signal.client_ip:
        return "ip", signal.client_ip
    return None


def _source(signal: Signal) -> str | None:
    if signal.name in AUTHZ_NAMES:
        return "authz"
    if signal.name in ("http_403", "http_404"):
        return signal.name
    return None


def _is_static(target: str) -> bool:
    try:
        path = urlsplit(target).path
    except ValueError:
        path = target
    return path.lower().endswith(STATIC_SUFFIXES)


def _detection(
    rule: str,
    signal: Signal,
    subject: tuple[str, str],
    severity: Severity,
    level: int,
    overflow: Overflow,
    title: str,
    details: dict[str, object],
) -> Detection:
    return Detection(
        rule=rule,
        project_id=signal.project_id,
        subject_type=subject[0],
        subject=subject[1],
        severity=severity,
        confidence=scaled_confidence(level, overflow.marked, overflow.count),
        count=overflow.count,
        first_ms=overflow.first_ms,
        last_ms=overflow.last_ms,
        title=title,
        evidence=overflow.evidence[:MAX_EVIDENCE],
        details=details,
    )


# 6. Authorization failure burst.

# AppSensor's demo config counts IE2 6 events in 30 s: capacity 5, draining 5 in 30 s (one per
# 6 s). CrowdSec LePresidente/http-generic-403-bf has the same capacity 5 (leakspeed 10s).
# Quiet 5 min: CrowdSec http-probing's blackhole (and Buckets' default).
_AUTHZ_BUCKET = BucketSpec(capacity=5, leak_per_second=1 / 6, quiet_ms=300_000)


@dataclass(frozen=True, slots=True)
class AuthorizationFailureBurstParams:
    bucket: BucketSpec = _AUTHZ_BUCKET
    # CrowdSec http-generic-403-bf labels: confidence 3.
    confidence: int = param(3, 1, 3)


class AuthorizationFailureBurst:
    """Many refusals for one account, or one IP when no account is known (rule
    "authorization_failure_burst").

    Counts `authz_fail` / `malicious_direct_reference` events and `http_403` requests per
    (project, subject), each source in its own leaky bucket: capacity 5, leak 1 per 6 s, so
    the 6th refusal within a few seconds fires (AppSensor's demo threshold for IE2 is 6 in
    30 s; CrowdSec's 403 brute-force scenario also has capacity 5). A refusal now and then,
    or five in a row, does not. Quiet 5 min. Severity high, confidence level 3. Details:
    source, up to 10 targets, up to 10 IPs (account subjects).
    """

    rule: str = "authorization_failure_burst"
    names: frozenset[str] | None = AUTHZ_NAMES | {"http_403"}
    defaults: ClassVar[AuthorizationFailureBurstParams] = AuthorizationFailureBurstParams()

    def __init__(self, params: AuthorizationFailureBurstParams | None = None) -> None:
        self.params = params or self.defaults
        self._group = BucketGroup({"authz": self.params.bucket, "http_403": self.params.bucket}, MAX_EVIDENCE)

    def tracked(self) -> int:
        """Subjects currently held in memory."""
        return len(self._group)

    def observe(self, signal: Signal) -> list[Detection]:
        source = _source(signal)
        subject = _subject(signal)
        if source is None or source == "http_404" or subject is None:
            return []
        target = (signal.target or signal.url or "")[:MAX_TARGET]
        key = subject_key(signal.project_id, subject[1])
        tag = target if subject[0] == "ip" else (signal.client_ip or None)
        overflow = self._group.pour(
            source, key, signal.at_ms, signal.event_id, marked=signal.spoofable, tag=tag
        )
        if overflow is None:
            return []
        span = human_span(overflow.last_ms - overflow.first_ms)
        title = f"{overflow.count} authorization failures for {subject[1]} in {span}"
        details: dict[str, object] = {"source": source}
        details["targets" if subject[0] == "ip" else "ips"] = list(overflow.tags)
        return [
            _detection(
                self.rule, signal, subject, Severity.HIGH, self.params.confidence, overflow, title, details
            )
        ]

    def evict(self, now_ms: int) -> int:
        return self._group.evict(now_ms)


# 7. Forced browsing.

# AppSensor ACE1/ACE3 publish no number. CrowdSec http-probing counts 10 distinct paths per
# IP (leakspeed 10s) for anonymous scanners; someone walking object ids behind a login is
# slower, so: capacity 9 (the 10th distinct target overflows) leaking 1 a minute, which
# fires on 10 distinct refused targets within about a minute. Quiet 5 min (http-probing).
_FORCED_BUCKET = BucketSpec(capacity=9, leak_per_second=1 / 60, quiet_ms=300_000)


@dataclass(frozen=True, slots=True)
class ForcedBrowsingParams:
    bucket: BucketSpec = _FORCED_BUCKET
    # A refusal (authz_fail, 403) is the application's word: level 3. A 404 may be a stale
    # link: level 2 (CrowdSec labels http-probing, mostly 404s, even lower, 1, for anyone).
    confidence: int = param(3, 1, 3)
    confidence_404: int = param(2, 1, 3)


class ForcedBrowsing:
    """One account (or IP) refused on many distinct objects (rule "forced_browsing";
    AppSensor ACE1 direct object access, ACE3 force browsing).

    Per (project, subject) and source (authz events, 403s, 404s with an account), a leaky
    bucket counts distinct targets only (the event's target/resource/object id, else the
    request URL with its query, so /docs?id=1 and /docs?id=2 differ; a route template would
    hide the ids): capacity 9, leak 1 a minute, so 10 distinct refused targets within about a
    minute fire. Retrying one forbidden object never does (that is a burst, if anything), nor
    browsing many objects successfully (no refusal), nor static-file 404s. Quiet 5 min.
    Severity high; confidence level 3, or 2 when the refusals were 404s. Details: source,
    distinct targets and up to 10 of them.
    """

    rule: str = "forced_browsing"
    names: frozenset[str] | None = AUTHZ_NAMES | {"http_403", "http_404"}
    defaults: ClassVar[ForcedBrowsingParams] = ForcedBrowsingParams()

    def __init__(self, params: ForcedBrowsingParams | None = None) -> None:
        self.params = params or self.defaults
        bucket = self.params.bucket
        self._group = BucketGroup({"authz": bucket, "http_403": bucket, "http_404": bucket}, MAX_EVIDENCE)

    def tracked(self) -> int:
        """Subjects currently held in memory."""
        return len(self._group)

    def observe(self, signal: Signal) -> list[Detection]:
        source = _source(signal)
        subject = _subject(signal)
        if source is None or subject is None:
            return []
        # The event's own target for authz events; the URL (with its ids) for requests.
        target = (signal.target or signal.url) if source == "authz" else (signal.url or signal.target)
        if not target:
            return []
        target = target[:MAX_TARGET]
        if source == "http_404" and (subject[0] != "account" or _is_static(target)):
            return []
        key = subject_key(signal.project_id, subject[1])
        overflow = self._group.pour(
            source, key, signal.at_ms, signal.event_id, target, marked=signal.spoofable, tag=target
        )
        if overflow is None:
            return []
        span = human_span(overflow.last_ms - overflow.first_ms)
        title = f"{subject[1]} refused on {overflow.distinct} distinct objects in {span}"
        level = self.params.confidence_404 if source == "http_404" else self.params.confidence
        details: dict[str, object] = {
            "source": source,
            "distinct_targets": overflow.distinct,
            "targets": list(overflow.tags),
        }
        return [_detection(self.rule, signal, subject, Severity.HIGH, level, overflow, title, details)]

    def evict(self, now_ms: int) -> int:
        return self._group.evict(now_ms)
