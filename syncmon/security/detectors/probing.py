"""Probing by one client IP: error bursts, sensitive files, attack tools (CrowdSec scenarios).

Each rule pours into leaky buckets keyed by (project, client IP) with the parameters of
the CrowdSec hub scenario it follows (crowdsecurity/hub `scenarios/crowdsecurity/*.yaml`,
tabled in the security-detection reference, section 2) and reports one Detection per
overflow; the bucket's blackhole keeps one attack to one detection.

CSP reports are never held against an IP here: the browser that sends one is the
victim's, not the attacker's. Confidence follows the auth detectors: CONFIDENCE of the
rule's CrowdSec level, lowered by half the share of spoofable (browser-sent) signals in
the run. The helpers at the top are shared with the other detector modules.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import ClassVar

from syncmon.security.buckets import BucketGroup, Buckets, BucketSpec, Overflow
from syncmon.security.detection import CONFIDENCE, Detection, Severity
from syncmon.security.params import param
from syncmon.security.patterns import decodings, path_of, section
from syncmon.security.signals import Signal

CSP_VIOLATION = "malicious_csp_violation"
DETAIL_CLIP = 200
MAX_EVIDENCE = 10
MAX_SUBJECT = 200  # detections.subject is String(200)
SPOOFABLE_DISCOUNT = 0.5  # as in detectors/auth.py: a spoofable signal counts half


def confidence(level: int, spoofed: int = 0, counted: int = 1) -> float:
    """CONFIDENCE of a CrowdSec level 1..3, lowered by the share of spoofable signals counted."""
    factor = CONFIDENCE[max(1, min(3, level))]
    share = spoofed / counted if counted > 0 else 0.0
    return round(factor * (1.0 - SPOOFABLE_DISCOUNT * min(1.0, share)), 3)


def subject_key(project_id: int, subject: str, *extra: str) -> str:
    """The bucket key of a subject: buckets are per (project, subject)."""
    return "\x1f".join((str(project_id), subject, *extra))


def account_of(user_id: str | None) -> str | None:
    """An account as the auth detectors count it: stripped, case-folded, at most 200 chars."""
    if user_id is None:
        return None
    return user_id.strip().casefold()[:MAX_SUBJECT] or None


def digest(text: str) -> str:
    """A short stable stand-in for a long distinct value (a path, a query)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def clip(text: str | None, limit: int = DETAIL_CLIP) -> str:
    return (text or "")[:limit]


def attributable_ip(signal: Signal) -> str | None:
    """The client IP a signal can be held against; None for CSP reports (sent by victims)."""
    if signal.name == CSP_VIOLATION:
        return None
    return signal.client_ip[:MAX_SUBJECT] if signal.client_ip else None


def is_request(signal: Signal) -> bool:
    return signal.status is not None and signal.name.startswith("http_")


def requested_path(signal: Signal) -> str | None:
    """The path a signal's URL asked for (the route template only when there is no URL)."""
    source = signal.url or signal.target
    if not source:
        return None
    return path_of(source) or "/"


def seconds(overflow: Overflow) -> float:
    return (overflow.last_ms - overflow.first_ms) / 1000.0


def overflow_detection(
    rule: str,
    signal: Signal,
    overflow: Overflow,
    *,
    subject_type: str,
    subject: str,
    severity: Severity,
    confidence_level: int,
    title: str,
    details: dict[str, object],
) -> Detection:
    return Detection(
        rule=rule,
        project_id=signal.project_id,
        subject_type=subject_type,
        subject=subject,
        severity=severity,
        confidence=confidence(confidence_level, overflow.marked, overflow.count),
        count=overflow.count,
        first_ms=overflow.first_ms,
        last_ms=overflow.last_ms,
        title=title,
        evidence=overflow.evidence[:MAX_EVIDENCE],
        details=details,
    )


class Occurrences:
    """Keeps one rule's detections distinct under the store's occurrence key.

    The store records a detection once per (project, rule, subject_type, subject, last_ms).
    Events of one batch share their receive time, so two detections of one rule for one
    subject (a first payload and the burst that follows, a 404 on /.env and a 200 on
    /.git/config) can end on the same millisecond and the second would be dropped. Such a
    later one is moved to 1 ms after the earlier one: deterministic, so a replay records it
    under the same key again.
    """

    def __init__(self, keep_ms: int = 3_600_000) -> None:
        self._last: dict[tuple[int, str, str], int] = {}
        self._keep_ms = keep_ms

    def __len__(self) -> int:
        return len(self._last)

    def stamp(self, detection: Detection) -> Detection:
        key = (detection.project_id, detection.subject_type, detection.subject)
        before = self._last.get(key)
        if before is not None and detection.last_ms <= before:
            detection = dataclasses.replace(detection, last_ms=before + 1)
        self._last[key] = detection.last_ms
        return detection

    def evict(self, now_ms: int) -> int:
        gone = [key for key, last in self._last.items() if now_ms - last >= self._keep_ms]
        for key in gone:
            del self._last[key]
        return len(gone)


# --------------------------------------------------------------------------------------
# http_probing

# crowdsecurity/hub http-probing.yaml: capacity 10, leakspeed 10s, blackhole 5m,
# groupby ip (+fqdn), distinct http_path, labels confidence 1.
HTTP_PROBING_BUCKET = BucketSpec(capacity=10, leak_per_second=1 / 10, quiet_ms=300_000)


@dataclass(frozen=True, slots=True)
class HttpProbingParams:
    bucket: BucketSpec = HTTP_PROBING_BUCKET
    # http-probing.yaml filter: status 404, 403, 400.
    statuses: frozenset[int] = frozenset({400, 403, 404})
    # http-probing.yaml filter "not static"; our list: patterns/static_extensions.txt.
    static_extensions: tuple[str, ...] = section("static_extensions.txt", "extensions")
    static_files: tuple[str, ...] = section("static_extensions.txt", "files")
    severity: Severity = Severity.MEDIUM  # brief; CrowdSec does not grade
    confidence_level: int = param(1, 1, 3)  # http-probing.yaml labels.confidence


class HttpProbing:
    """Many distinct non-static paths answered 400/403/404 for one IP: someone guessing URLs.

    Request signals only (`http_<status>`); distinct by path (query ignored), so a client
    retrying one broken link does not count. Fires on the 11th distinct path at a sustained
    rate above one per 10 s; the IP is then quiet for 5 min.
    """

    rule: str = "http_probing"
    defaults: ClassVar[HttpProbingParams] = HttpProbingParams()

    def __init__(self, params: HttpProbingParams | None = None) -> None:
        self.params = params or self.defaults
        self.names: frozenset[str] | None = frozenset(f"http_{status}" for status in self.params.statuses)
        self._buckets = Buckets(self.params.bucket, MAX_EVIDENCE)

    def __len__(self) -> int:
        return len(self._buckets)

    def _static(self, path: str) -> bool:
        lower = path.lower()
        return lower.endswith(self.params.static_extensions) or lower in self.params.static_files

    def observe(self, signal: Signal) -> list[Detection]:
        ip = attributable_ip(signal)
        if ip is None or not is_request(signal) or signal.status not in self.params.statuses:
            return []
        path = requested_path(signal)
        if path is None or self._static(path):
            return []
        overflow = self._buckets.pour(
            subject_key(signal.project_id, ip),
            signal.at_ms,
            signal.event_id,
            distinct=digest(path),
            marked=signal.spoofable,
        )
        if overflow is None:
            return []
        return [
            overflow_detection(
                self.rule,
                signal,
                overflow,
                subject_type="ip",
                subject=ip,
                severity=self.params.severity,
                confidence_level=self.params.confidence_level,
                title=(
                    f"HTTP probing from {ip}: {overflow.count} distinct paths answered "
                    f"400/403/404 in {seconds(overflow):.0f} s"
                ),
                details={
                    "distinct_paths": overflow.distinct,
                    "last_path": clip(path),
                    "last_status": signal.status,
                },
            )
        ]

    def evict(self, now_ms: int) -> int:
        return self._buckets.evict(now_ms)


# --------------------------------------------------------------------------------------
# sensitive_file_probe

# crowdsecurity/hub http-sensitive-files.yaml: capacity 4, leakspeed 5s, blackhole 5m,
# groupby ip, distinct request, labels confidence 3. Used for the [probe] paths.
SENSITIVE_FILES_BUCKET = BucketSpec(capacity=4, leak_per_second=1 / 5, quiet_ms=300_000)
# Ours: a [critical] path (/.git/config, /.env …) has no legitimate use, so one request is
# a trigger (CrowdSec's capacity 0; the logic of AppSensor HT2 "honey trap resource
# requested"), with the scenario's 5 min blackhole, shared with the [probe] bucket.
SENSITIVE_FILES_FIRST_HIT = BucketSpec(capacity=0, leak_per_second=1 / 5, quiet_ms=300_000)


@dataclass(frozen=True, slots=True)
class SensitiveFileParams:
    bucket: BucketSpec = SENSITIVE_FILES_BUCKET
    first_hit: BucketSpec = SENSITIVE_FILES_FIRST_HIT
    critical_paths: tuple[str, ...] = section("sensitive_files.txt", "critical")
    probe_paths: tuple[str, ...] = section("sensitive_files.txt", "probe")
    severity: Severity = Severity.HIGH
    # Ours: the server answered 2xx to a [critical] path: the secret was served.
    served_severity: Severity = Severity.CRITICAL
    confidence_level: int = param(3, 1, 3)  # http-sensitive-files.yaml labels.confidence


class SensitiveFileProbe:
    """Requests for secrets (/.env, /.git/config) and for admin, backup and VCS paths, per IP.

    Any signal with a URL counts (request, security event; not CSP reports). Paths are
    compared lower-cased and URL-decoded up to twice, by suffix (CrowdSec: "endsWith").
    A [critical] path fires on its first request (high); the [probe] paths fire when an IP
    asks for more than four different ones at CrowdSec's rate (high); the two share one
    quiet period per IP. A 2xx answer to a [critical] path fires on its own (critical), so
    an earlier 404 on /.env does not hide that /.git/config was then served.
    """

    rule: str = "sensitive_file_probe"
    names: frozenset[str] | None = None  # any signal with a URL
    defaults: ClassVar[SensitiveFileParams] = SensitiveFileParams()

    def __init__(self, params: SensitiveFileParams | None = None) -> None:
        self.params = params or self.defaults
        self._asked = BucketGroup(
            {"critical": self.params.first_hit, "probe": self.params.bucket}, MAX_EVIDENCE
        )
        self._served = Buckets(self.params.first_hit, MAX_EVIDENCE)
        self._occurrences = Occurrences()
        self._any = (*self.params.critical_paths, *self.params.probe_paths)

    def __len__(self) -> int:
        return len(self._asked) + len(self._served) + len(self._occurrences)

    @staticmethod
    def _match(forms: tuple[str, ...], entries: tuple[str, ...]) -> str | None:
        for form in forms:
            if form.endswith(entries):
                return next(entry for entry in entries if form.endswith(entry))
        return None

    def observe(self, signal: Signal) -> list[Detection]:
        if not (signal.url or signal.target):
            return []
        ip = attributable_ip(signal)
        path = requested_path(signal) if ip else None
        if ip is None or path is None:
            return []
        forms = tuple(form.rstrip("/ \t") for form in decodings(path))
        if not any(form.endswith(self._any) for form in forms):  # one test for both lists
            return []
        critical = self._match(forms, self.params.critical_paths)
        probe = None if critical else self._match(forms, self.params.probe_paths)
        key = subject_key(signal.project_id, ip)
        served = critical is not None and is_request(signal) and 200 <= (signal.status or 0) < 300
        if served:
            overflow = self._served.pour(key, signal.at_ms, signal.event_id, marked=signal.spoofable)
        elif critical is not None:
            overflow = self._asked.pour(
                "critical", key, signal.at_ms, signal.event_id, marked=signal.spoofable
            )
        elif probe is not None:
            overflow = self._asked.pour(
                "probe",
                key,
                signal.at_ms,
                signal.event_id,
                distinct=digest(forms[-1]),
                marked=signal.spoofable,
            )
        else:
            return []
        if overflow is None:
            return []
        if critical is not None:
            verb = "served to" if served else "requested by"
            title = f"Sensitive file {verb} {ip}: {clip(path, 120)}"
            details: dict[str, object] = {
                "path": clip(path),
                "matched": critical,
                "status": signal.status,
                "served": served,
            }
        else:
            title = (
                f"Sensitive-path scan from {ip}: {overflow.count} admin/backup/config paths "
                f"in {seconds(overflow):.0f} s"
            )
            details = {"distinct_paths": overflow.distinct, "last_path": clip(path), "matched": probe}
        detection = overflow_detection(
            self.rule,
            signal,
            overflow,
            subject_type="ip",
            subject=ip,
            severity=self.params.served_severity if served else self.params.severity,
            confidence_level=self.params.confidence_level,
            title=title,
            details=details,
        )
        return [self._occurrences.stamp(detection)]

    def evict(self, now_ms: int) -> int:
        return self._asked.evict(now_ms) + self._served.evict(now_ms) + self._occurrences.evict(now_ms)


# --------------------------------------------------------------------------------------
# attack_tool

# crowdsecurity/hub http-bad-user-agent.yaml: capacity 1, leakspeed 1m, blackhole 2m,
# groupby ip, labels confidence 1 (a user agent is whatever the client says it is).
ATTACK_TOOL_BUCKET = BucketSpec(capacity=1, leak_per_second=1 / 60, quiet_ms=120_000)


@dataclass(frozen=True, slots=True)
class AttackToolParams:
    bucket: BucketSpec = ATTACK_TOOL_BUCKET
    # patterns/attack_tools.txt: [high] exploitation/vulnerability scanners, [medium] recon.
    high_tools: tuple[str, ...] = section("attack_tools.txt", "high")
    medium_tools: tuple[str, ...] = section("attack_tools.txt", "medium")
    confidence_level: int = param(1, 1, 3)  # http-bad-user-agent.yaml labels.confidence


class AttackToolUserAgent:
    """Signals whose user agent names an attack or scanning tool (sqlmap, nikto, nmap …), per IP.

    Fires on the second such signal within about a minute (CrowdSec capacity 1): high for
    exploitation tools, medium for reconnaissance, as named by the overflowing signal.
    """

    rule: str = "attack_tool"
    names: frozenset[str] | None = None  # any signal with a user agent
    defaults: ClassVar[AttackToolParams] = AttackToolParams()

    def __init__(self, params: AttackToolParams | None = None) -> None:
        self.params = params or self.defaults
        self._buckets = Buckets(self.params.bucket, MAX_EVIDENCE)
        self._tool_cache: dict[str, tuple[str, Severity] | None] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def tool(self, user_agent: str) -> tuple[str, Severity] | None:
        """The tool a user agent names and the severity of using it, or None (remembered per
        user agent: a site sees few distinct ones)."""
        key = user_agent[:512]
        if key in self._tool_cache:
            return self._tool_cache[key]
        if len(self._tool_cache) >= 4096:
            self._tool_cache.clear()
        found = self._tool_cache[key] = self._find_tool(key)
        return found

    def _find_tool(self, user_agent: str) -> tuple[str, Severity] | None:
        lower = user_agent.lower()
        for tools, severity in (
            (self.params.high_tools, Severity.HIGH),
            (self.params.medium_tools, Severity.MEDIUM),
        ):
            for tool in tools:
                if tool in lower:
                    return tool, severity
        return None

    def observe(self, signal: Signal) -> list[Detection]:
        ip = attributable_ip(signal)
        if ip is None or not signal.user_agent:
            return []
        found = self.tool(signal.user_agent)
        if found is None:
            return []
        tool, severity = found
        overflow = self._buckets.pour(
            subject_key(signal.project_id, ip), signal.at_ms, signal.event_id, marked=signal.spoofable
        )
        if overflow is None:
            return []
        name = tool.strip("()/")
        return [
            overflow_detection(
                self.rule,
                signal,
                overflow,
                subject_type="ip",
                subject=ip,
                severity=severity,
                confidence_level=self.params.confidence_level,
                title=f"Attack tool {name} used from {ip} ({overflow.count} requests)",
                details={"tool": name, "user_agent": clip(signal.user_agent)},
            )
        ]

    def evict(self, now_ms: int) -> int:
        return self._buckets.evict(now_ms)
