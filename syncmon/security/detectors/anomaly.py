"""Account and project anomalies: data exfiltration, malware uploads, impossible travel, CSP bursts.

Account-keyed state is kept apart for trusted (secret-key) and spoofable (browser) signals:
a browser can claim any user id, so its signals must neither poison an account's baseline
or last location nor pre-empt, through a quiet period, a detection from the server's own
signals. Memory is bounded by LRU caps and by eviction of idle subjects.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import ClassVar

from syncmon.security.buckets import Buckets, BucketSpec
from syncmon.security.detection import Detection, Severity
from syncmon.security.detectors.probing import (
    CSP_VIOLATION,
    MAX_EVIDENCE,
    MAX_SUBJECT,
    Occurrences,
    account_of,
    clip,
    confidence,
    overflow_detection,
    seconds,
    subject_key,
)
from syncmon.security.params import DAY_MS, param
from syncmon.security.patterns import load
from syncmon.security.signals import Signal

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
HALF_EARTH_KM = math.pi * EARTH_RADIUS_KM  # the longest great-circle distance, ~20,015 km


def _trust(signal: Signal) -> str:
    return "spoofable" if signal.spoofable else "trusted"


def _trigger(spec: BucketSpec) -> Buckets:
    return Buckets(spec, max_evidence=MAX_EVIDENCE)


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


# --------------------------------------------------------------------------------------
# data_exfiltration


# Ours: a trigger (CrowdSec capacity 0) whose blackhole is the quiet period: one detection
# per account per hour however long the exfiltration runs.
EXFILTRATION_QUIET = BucketSpec(capacity=0, leak_per_second=1.0, quiet_ms=3_600_000)


@dataclass(frozen=True, slots=True)
class DataExfiltrationParams:
    names: tuple[str, ...] = ("sensitive_read",)
    # AppSensor CIE2 "detect abnormal quantity of returned records" publishes no numbers;
    # these are ours. Volume = sum of `amount` (records/rows/bytes) or 1 per read without one.
    window_ms: int = param(300_000, 1_000, DAY_MS)  # one window = 5 min from the first read in it
    alpha: float = param(0.3, 0.01, 1.0)  # EWMA weight of the newest closed window
    factor: float = param(10.0, 1.0, 1_000_000.0)  # fires at factor x baseline …
    floor: float = param(1000.0, 0.0, 1e15)  # … and never below this volume
    min_history: int = param(5, 1, 10_000)  # closed active windows before the baseline counts
    critical_factor: float = param(5.0, 1.0, 1_000_000.0)  # volume >= 5 x threshold when it fires: critical
    # An account idle this long is forgotten (baseline and all).
    idle_ms: int = param(7 * DAY_MS, 60_000, 90 * DAY_MS)
    max_accounts: int = param(100_000, 1, 1_000_000)  # LRU cap on accounts remembered
    bucket: BucketSpec = EXFILTRATION_QUIET
    confidence_level: int = param(2, 1, 3)  # ours: a statistical judgement


@dataclass(slots=True)
class _Reader:
    window_start: int
    last_ms: int
    volume: float = 0.0
    reads: int = 0
    amounts: bool = False
    fired: bool = False
    baseline: float = 0.0
    history: int = 0
    evidence: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_EVIDENCE))


class DataExfiltration:
    """An account reads far more sensitive data in 5 minutes than it usually does.

    Baseline: an EWMA over the account's past *active* windows (windows without reads are
    skipped, so a weekend does not shrink it). It can fire only after `min_history` windows,
    and only at max(floor, factor x baseline), so a first-time or small reader never does.
    A window that would have fired enters the baseline clipped to the threshold, so one
    exfiltration does not raise the bar for the next but a lasting new normal is learnt.
    """

    rule: str = "data_exfiltration"
    defaults: ClassVar[DataExfiltrationParams] = DataExfiltrationParams()

    def __init__(self, params: DataExfiltrationParams | None = None) -> None:
        self.params = params or self.defaults
        self.names: frozenset[str] | None = frozenset(self.params.names)
        self._readers: OrderedDict[str, _Reader] = OrderedDict()
        self._quiet = _trigger(self.params.bucket)

    def __len__(self) -> int:
        return len(self._readers) + len(self._quiet)

    def threshold(self, baseline: float) -> float:
        return max(self.params.floor, self.params.factor * baseline)

    def _close(self, reader: _Reader) -> None:
        volume = reader.volume
        if reader.history >= self.params.min_history:
            volume = min(volume, self.threshold(reader.baseline))
        a = self.params.alpha
        reader.baseline = volume if reader.history == 0 else a * volume + (1 - a) * reader.baseline
        reader.history += 1

    def observe(self, signal: Signal) -> list[Detection]:
        account = account_of(signal.user_id)
        if signal.name not in self.params.names or account is None:
            return []
        key = subject_key(signal.project_id, account, _trust(signal))
        now = signal.at_ms
        reader = self._readers.get(key)
        if reader is None:
            reader = self._readers[key] = _Reader(window_start=now, last_ms=now)
            if len(self._readers) > self.params.max_accounts:
                self._readers.popitem(last=False)
        else:
            self._readers.move_to_end(key)
            if now - reader.window_start >= self.params.window_ms:
                self._close(reader)
                reader.window_start, reader.volume, reader.reads, reader.fired = now, 0.0, 0, False
                reader.amounts = False
                reader.evidence.clear()
        amount = signal.amount
        if amount is not None and math.isfinite(amount) and amount >= 0:
            reader.volume += amount
            reader.amounts = True
        else:
            reader.volume += 1.0
        reader.reads += 1
        reader.last_ms = max(reader.last_ms, now)
        reader.evidence.append(signal.event_id)
        if reader.fired or reader.history < self.params.min_history:
            return []
        threshold = self.threshold(reader.baseline)
        if reader.volume < threshold:
            return []
        reader.fired = True
        if self._quiet.pour(key, now, signal.event_id) is None:
            return []
        critical = reader.volume >= self.params.critical_factor * threshold
        unit = "records" if reader.amounts else "reads"
        minutes = self.params.window_ms / 60_000
        return [
            Detection(
                rule=self.rule,
                project_id=signal.project_id,
                subject_type="account",
                subject=account,
                severity=Severity.CRITICAL if critical else Severity.HIGH,
                confidence=confidence(self.params.confidence_level, int(signal.spoofable)),
                count=reader.reads,
                first_ms=reader.window_start,
                last_ms=now,
                title=(
                    f"Unusual data access by {clip(account, 80)}: {reader.volume:,.0f} {unit} "
                    f"within {minutes:g} min (usually {reader.baseline:,.0f})"
                ),
                evidence=tuple(reader.evidence),
                details={
                    "volume": reader.volume,
                    "unit": unit,
                    "baseline": round(reader.baseline, 3),
                    "threshold": round(threshold, 3),
                    "history_windows": reader.history,
                    "window_seconds": self.params.window_ms / 1000,
                    "last_target": clip(signal.target),
                },
            )
        ]

    def evict(self, now_ms: int) -> int:
        idle = [key for key, r in self._readers.items() if now_ms - r.last_ms >= self.params.idle_ms]
        for key in idle:
            del self._readers[key]
        return len(idle) + self._quiet.evict(now_ms)


# --------------------------------------------------------------------------------------
# malware_upload


# Ours: a trigger (capacity 0) with a 10 min quiet period per subject, so a batch of
# infected files is one detection (the events themselves are all stored).
MALWARE_QUIET = BucketSpec(capacity=0, leak_per_second=1.0, quiet_ms=600_000)


@dataclass(frozen=True, slots=True)
class MalwareUploadParams:
    # OWASP Logging Vocabulary: upload_validation …FAILED is CRITICAL; malware_detection
    # in the seed's alert names.
    names: tuple[str, ...] = ("upload_validation_failed", "malicious_malware_detected")
    bucket: BucketSpec = MALWARE_QUIET
    severity: Severity = Severity.CRITICAL
    # Ours: a browser-sent claim (public key) is not allowed to make the threat CRITICAL.
    spoofable_severity: Severity = Severity.HIGH
    confidence_level: int = param(3, 1, 3)


class MalwareUpload:
    """One failed upload validation (virus scan) or malware detection is a detection."""

    rule: str = "malware_upload"
    defaults: ClassVar[MalwareUploadParams] = MalwareUploadParams()

    def __init__(self, params: MalwareUploadParams | None = None) -> None:
        self.params = params or self.defaults
        self.names: frozenset[str] | None = frozenset(self.params.names)
        self._quiet = _trigger(self.params.bucket)
        self._occurrences = Occurrences()

    def __len__(self) -> int:
        return len(self._quiet) + len(self._occurrences)

    def observe(self, signal: Signal) -> list[Detection]:
        if signal.name not in self.params.names:
            return []
        account = account_of(signal.user_id)
        if account is not None:
            subject_type, subject = "account", account
        elif signal.client_ip:
            subject_type, subject = "ip", signal.client_ip[:MAX_SUBJECT]
        else:
            subject_type, subject = "project", str(signal.project_id)
        key = subject_key(signal.project_id, subject_type, subject, _trust(signal))
        overflow = self._quiet.pour(key, signal.at_ms, signal.event_id, marked=signal.spoofable)
        if overflow is None:
            return []
        what = clip(signal.target, 120) or "a file"
        detection = overflow_detection(
            self.rule,
            signal,
            overflow,
            subject_type=subject_type,
            subject=subject,
            severity=self.params.spoofable_severity if signal.spoofable else self.params.severity,
            confidence_level=self.params.confidence_level,
            title=f"Malware upload by {clip(subject, 80)}: {what} failed validation ({signal.name})",
            details={"file": clip(signal.target), "event": signal.name, "url": clip(signal.url)},
        )
        return [self._occurrences.stamp(detection)]

    def evict(self, now_ms: int) -> int:
        return self._quiet.evict(now_ms) + self._occurrences.evict(now_ms)


# --------------------------------------------------------------------------------------
# impossible_travel


# CrowdSec impossible-travel-user.yaml leakspeed 3h, used as the quiet period per account.
TRAVEL_QUIET = BucketSpec(capacity=0, leak_per_second=1.0, quiet_ms=3 * 3_600_000)


@dataclass(frozen=True, slots=True)
class ImpossibleTravelParams:
    # None: any signal with latitude/longitude and an account; else only these names
    # (CrowdSec impossible-travel-user compares successive auth_success events).
    names: tuple[str, ...] | None = None
    # Ours, as a speed: faster than an airliner (~900 km/h cruise). CrowdSec
    # impossible-travel-user.yaml fires on > 1000 km between successive logins.
    max_speed_kmh: float = param(1000.0, 1.0, 1e9)
    # Below this, GeoIP error and mobile networks explain the jump (ours).
    min_distance_km: float = param(500.0, 0.0, HALF_EARTH_KM)
    bucket: BucketSpec = TRAVEL_QUIET
    max_accounts: int = param(100_000, 1, 1_000_000)
    # VPNs and corporate egress make this a guess: confidence 2 (ours).
    confidence_level: int = param(2, 1, 3)

    @property
    def memory_ms(self) -> int:
        """Beyond this gap any two places on Earth are reachable: older points can be dropped."""
        return math.ceil(HALF_EARTH_KM / self.max_speed_kmh * 3_600_000)


@dataclass(slots=True)
class _Place:
    at_ms: int
    latitude: float
    longitude: float
    event_id: str


class ImpossibleTravel:
    """Successive located signals of one account imply travel faster than `max_speed_kmh`."""

    rule: str = "impossible_travel"
    defaults: ClassVar[ImpossibleTravelParams] = ImpossibleTravelParams()

    def __init__(self, params: ImpossibleTravelParams | None = None) -> None:
        self.params = params or self.defaults
        names = self.params.names
        self.names: frozenset[str] | None = None if names is None else frozenset(names)
        self._last: OrderedDict[str, _Place] = OrderedDict()
        self._quiet = _trigger(self.params.bucket)

    def __len__(self) -> int:
        return len(self._last) + len(self._quiet)

    def observe(self, signal: Signal) -> list[Detection]:
        account = account_of(signal.user_id)
        if signal.latitude is None or signal.longitude is None or account is None:
            return []
        if self.params.names is not None and signal.name not in self.params.names:
            return []
        key = subject_key(signal.project_id, account, _trust(signal))
        here = _Place(signal.at_ms, signal.latitude, signal.longitude, signal.event_id)
        before = self._last.pop(key, None)
        self._last[key] = here
        if len(self._last) > self.params.max_accounts:
            self._last.popitem(last=False)
        if before is None:
            return []
        km = great_circle_km(before.latitude, before.longitude, here.latitude, here.longitude)
        hours = abs(here.at_ms - before.at_ms) / 3_600_000
        if km < self.params.min_distance_km:
            return []
        speed = km / hours if hours > 0 else math.inf
        if speed <= self.params.max_speed_kmh:
            return []
        if self._quiet.pour(key, signal.at_ms, signal.event_id) is None:
            return []
        shown = "instant" if math.isinf(speed) else f"{speed:,.0f} km/h"
        return [
            Detection(
                rule=self.rule,
                project_id=signal.project_id,
                subject_type="account",
                subject=account,
                severity=Severity.HIGH,
                confidence=confidence(self.params.confidence_level, int(signal.spoofable)),
                count=2,
                first_ms=min(before.at_ms, here.at_ms),
                last_ms=max(before.at_ms, here.at_ms),
                title=(
                    f"Impossible travel for {clip(account, 80)}: {km:,.0f} km "
                    f"in {hours * 60:,.0f} min ({shown})"
                ),
                evidence=(before.event_id, here.event_id),
                details={
                    "from": [round(before.latitude, 4), round(before.longitude, 4)],
                    "to": [round(here.latitude, 4), round(here.longitude, 4)],
                    "distance_km": round(km, 1),
                    "hours": round(hours, 4),
                    "speed_kmh": None if math.isinf(speed) else round(speed, 1),
                    "from_event": before.event_id,
                },
            )
        ]

    def evict(self, now_ms: int) -> int:
        stale = [key for key, place in self._last.items() if now_ms - place.at_ms >= self.params.memory_ms]
        for key in stale:
            del self._last[key]
        return len(stale) + self._quiet.evict(now_ms)


# --------------------------------------------------------------------------------------
# csp_violation_burst


# Ours: more than 20 reports within about a minute. As a leaky bucket: capacity 20, one
# report leaks per minute (so 21 within 60 s overflow, and a background of one report a
# minute never does), then 10 min of quiet for the project.
CSP_BURST_BUCKET = BucketSpec(capacity=20, leak_per_second=1 / 60, quiet_ms=600_000)


@dataclass(frozen=True, slots=True)
class CspViolationBurstParams:
    # Ours: the burst must come from at least 3 different browsers (client IPs). One
    # browser with an extension reports on every page it opens; many at once suggest
    # injected script.
    bucket: BucketSpec = CSP_BURST_BUCKET
    min_sources: int = param(3, 1, 1_000)
    max_sources: int = param(64, 1, 10_000)  # per project; only "at least min_sources" matters
    # patterns/csp_ignored_sources.txt: extension and browser-internal blocked URIs.
    ignored_sources: tuple[str, ...] = load("csp_ignored_sources.txt")[""]
    severity: Severity = Severity.MEDIUM
    # CSP reports are unauthenticated and forgeable (the vocabulary rates them WARN): 2;
    # every report is browser-sent (spoofable), so detections carry CONFIDENCE[2] x 0.5.
    confidence_level: int = param(2, 1, 3)

    @property
    def source_memory_ms(self) -> int:
        """Sources count for as long as a full bucket takes to drain (20 min by default)."""
        return round(self.bucket.capacity / self.bucket.leak_per_second * 1000)


@dataclass(slots=True)
class _CspProject:
    sources: OrderedDict[str, int] = field(default_factory=OrderedDict)
    directives: dict[str, int] = field(default_factory=dict)
    documents: OrderedDict[str, None] = field(default_factory=OrderedDict)


class CspViolationBurst:
    """A burst of CSP violation reports across a project's visitors (subject: the project)."""

    rule: str = "csp_violation_burst"
    names: frozenset[str] | None = frozenset({CSP_VIOLATION})
    defaults: ClassVar[CspViolationBurstParams] = CspViolationBurstParams()

    def __init__(self, params: CspViolationBurstParams | None = None) -> None:
        self.params = params or self.defaults
        self._buckets = Buckets(self.params.bucket, max_evidence=MAX_EVIDENCE)
        self._projects: dict[int, _CspProject] = {}

    def __len__(self) -> int:
        return len(self._buckets) + len(self._projects)

    def _ignored(self, blocked: str | None) -> bool:
        return blocked is not None and blocked.strip().lower().startswith(self.params.ignored_sources)

    def observe(self, signal: Signal) -> list[Detection]:
        if signal.name != CSP_VIOLATION or self._ignored(signal.target):
            return []
        now = signal.at_ms
        key = subject_key(signal.project_id, "project")
        level, _ = self._buckets.peek(key, now)
        state = self._projects.setdefault(signal.project_id, _CspProject())
        if level == 0.0:  # a new run: the details describe this run only
            state.directives.clear()
            state.documents.clear()
        source = signal.client_ip or signal.user_id or signal.url or signal.event_id
        state.sources.pop(source, None)
        state.sources[source] = now
        horizon = now - self.params.source_memory_ms
        while state.sources and (
            len(state.sources) > self.params.max_sources or next(iter(state.sources.values())) < horizon
        ):
            state.sources.popitem(last=False)
        directive = dict(signal.details).get("directive") or "unknown"
        if directive in state.directives or len(state.directives) < 16:
            state.directives[directive] = state.directives.get(directive, 0) + 1
        if signal.url:
            state.documents.pop(signal.url, None)
            state.documents[signal.url] = None
            if len(state.documents) > 16:
                state.documents.popitem(last=False)
        if level + 1 > self.params.bucket.capacity and len(state.sources) < self.params.min_sources:
            return []  # would overflow, but from too few browsers: not counted
        overflow = self._buckets.pour(key, now, signal.event_id, marked=signal.spoofable)
        if overflow is None:
            return []
        sources = len(state.sources)
        directives = sorted(state.directives.items(), key=lambda item: (-item[1], item[0]))
        documents = list(state.documents)
        state.directives.clear()
        state.documents.clear()
        return [
            overflow_detection(
                self.rule,
                signal,
                overflow,
                subject_type="project",
                subject=str(signal.project_id),
                severity=self.params.severity,
                confidence_level=self.params.confidence_level,
                title=(
                    f"CSP violation burst: {overflow.count} reports from {sources} browsers "
                    f"in {seconds(overflow):.0f} s"
                ),
                details={
                    "sources": sources,
                    "directives": {name: count for name, count in directives[:5]},
                    "documents": [clip(doc) for doc in documents[-5:]],
                    "last_blocked_uri": clip(signal.target),
                },
            )
        ]

    def evict(self, now_ms: int) -> int:
        dropped = self._buckets.evict(now_ms)
        horizon = now_ms - self.params.source_memory_ms
        for project_id in list(self._projects):
            key = subject_key(project_id, "project")
            state = self._projects[project_id]
            quiet = all(seen < horizon for seen in state.sources.values())
            if quiet and self._buckets.peek(key, now_ms)[0] == 0.0:
                del self._projects[project_id]
                dropped += 1
        return dropped
