"""Injection payloads in URLs and reported parameters: path traversal, SQL injection, XSS.

What is matched: the part of a signal's URL after the host (path, query, fragment), the
target of a security event, and its `parameter` / `payload` / `query` details; each
lower-cased as sent, URL-decoded once and twice (so `%252e%252e%252f` is `../`, AppSensor
EE1), then normalised per rule. Matching is substring tests on at most MAX_SCAN characters:
linear time whatever the input.

When one signal is evidence. Each list has [strong] indicators (one is a payload:
`information_schema`, `../../`, `"><script`) and [weak] ones that are ordinary on their own
(`union select` in "labor union select committee", `javascript:` in "javascript: the good
parts", `<img` in a search for "<img> tag"). A signal carries a payload when it has a
strong indicator or two different weak ones; a lone weak indicator counts for nothing,
not even towards a burst, because searches typed letter by letter would otherwise fill a
bucket. Then:

* the first payload from a subject is a detection (sqli and traversal medium, xss low),
  silent afterwards for the scenario's blackhole;
* payloads keep pouring into the CrowdSec bucket (distinct by the matched text), whose
  overflow is a second, more severe detection (sqli and traversal high, xss medium):
  someone is working through a list, not pasting one string.

Per client IP; a signal without an IP (a server-side `malicious_sqli` about an account) is
held against its account. CSP reports are skipped: their browser is the victim's. A
browser-sent signal's URL may be a page a victim was lured to (reflected XSS link), so its
detections carry a lower confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from syncmon.security.buckets import Buckets, BucketSpec, Overflow
from syncmon.security.detection import Detection, Severity
from syncmon.security.detectors.probing import (
    CSP_VIOLATION,
    MAX_EVIDENCE,
    MAX_SUBJECT,
    Occurrences,
    account_of,
    clip,
    digest,
    is_request,
    overflow_detection,
    seconds,
    subject_key,
)
from syncmon.security.patterns import compact, decodings, request_part, section
from syncmon.security.signals import Signal

# SQL comments are whitespace to the parser: `union/**/select`, `/*!50000union*/`.
_SQL_COMMENT = re.compile(r"/\*!?\d*|\*/")


@dataclass(frozen=True, slots=True)
class InjectionParams:
    bucket: BucketSpec
    # Ours: the first payload is a detection of its own (a trigger, CrowdSec capacity 0);
    # None turns that off and leaves only the CrowdSec bucket.
    first_payload: BucketSpec | None
    strong: tuple[str, ...]
    weak: tuple[str, ...]
    compact: tuple[str, ...] = ()
    single_severity: Severity = Severity.MEDIUM
    burst_severity: Severity = Severity.HIGH
    confidence_level: int = 3  # CrowdSec labels: confidence 3 for all three scenarios
    detail_keys: tuple[str, ...] = ("parameter", "payload", "query")
    # Security events that are a payload by name (the application's own verdict).
    direct_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Match:
    indicators: tuple[str, ...]
    field: str
    sample: str  # the decoded text, clipped for the details
    double_encoded: bool
    distinct: str  # digest of the whole decoded text: what makes payloads "different"


def _alternation(entries: tuple[str, ...]) -> re.Pattern[str] | None:
    """A regex matching any of the literal entries (None when there are none)."""
    return re.compile("|".join(re.escape(e) for e in entries)) if entries else None


class _InjectionRule:
    rule: str
    label: ClassVar[str]
    defaults: ClassVar[InjectionParams]
    # Also match [compact] and [weak] entries with all whitespace removed.
    use_compact: ClassVar[bool] = False

    def __init__(self, params: InjectionParams | None = None) -> None:
        self.params = params or self.defaults
        self._bursts = Buckets(self.params.bucket, MAX_EVIDENCE)
        first = self.params.first_payload
        self._firsts = Buckets(first, MAX_EVIDENCE) if first is not None else None
        self._occurrences = Occurrences()
        # One C-level scan decides whether any entry can be present; most URLs are benign,
        # so the per-entry scan below runs only for the few that might carry a payload.
        self._any_plain = _alternation((*self.params.strong, *self.params.weak))
        self._any_compact = _alternation((*self.params.compact, *self.params.weak))

    def __len__(self) -> int:
        firsts = len(self._firsts) if self._firsts is not None else 0
        return len(self._bursts) + firsts + len(self._occurrences)

    def _normal(self, form: str) -> str:
        """The form a rule matches one decoded form in; each rule has its own."""
        return form

    def _indicators(self, forms: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """(strong, weak) indicators found in the decoded forms."""
        normal = [self._normal(form) for form in forms]
        # Entries are single lines, so forms joined by a newline never match across forms.
        text = "\n".join(normal)
        if not self.use_compact:
            if self._any_plain is None or not self._any_plain.search(text):
                return [], []
            return [e for e in self.params.strong if e in text], [e for e in self.params.weak if e in text]
        squeezed = "\n".join(compact(n) for n in normal)
        plain_hit = self._any_plain is not None and self._any_plain.search(text)
        if not plain_hit and (self._any_compact is None or not self._any_compact.search(squeezed)):
            return [], []
        strong = [e for e in self.params.strong if e in text]
        strong += [e for e in self.params.compact if e in squeezed]
        return strong, [e for e in self.params.weak if e in text or e in squeezed]

    def match(self, text: str, field: str = "url") -> _Match | None:
        """The payload in one text, or None (a lone weak indicator is None)."""
        forms = decodings(text)
        strong, weak = self._indicators(forms)
        if not strong and len(weak) < 2:
            return None
        single_strong, single_weak = self._indicators(forms[:2])
        double = not single_strong and len(single_weak) < 2
        return _Match(tuple(strong + weak), field, clip(forms[-1]), double, digest(f"{field}\x1f{forms[-1]}"))

    def texts(self, signal: Signal) -> list[tuple[str, str]]:
        """(field, text) pairs of a signal that can carry a payload."""
        texts: list[tuple[str, str]] = []
        if signal.url:
            texts.append(("url", request_part(signal.url)))
        # A request's target is its route template; it says something only without a URL.
        if signal.target and signal.target != signal.url and not (is_request(signal) and signal.url):
            texts.append(("target", signal.target))
        texts.extend(
            (key, value) for key, value in signal.details if key in self.params.detail_keys and value
        )
        return texts

    def observe(self, signal: Signal) -> list[Detection]:
        if signal.name == CSP_VIOLATION:
            return []
        account = account_of(signal.user_id)
        if signal.client_ip:
            subject_type, subject = "ip", signal.client_ip[:MAX_SUBJECT]
        elif account is not None:
            subject_type, subject = "account", account
        else:
            return []
        found: _Match | None = None
        if signal.name in self.params.direct_names:
            found = _Match((f"event:{signal.name}",), "event", "", False, digest(signal.event_id))
        else:
            for field, text in self.texts(signal):
                found = self.match(text, field)
                if found is not None:
                    break
        if found is None:
            return []
        key = subject_key(signal.project_id, subject_type, subject)
        detections: list[Detection] = []
        if self._firsts is not None:
            first = self._firsts.pour(key, signal.at_ms, signal.event_id, marked=signal.spoofable)
            if first is not None:
                detections.append(
                    self._detection(signal, first, subject_type, subject, self.params.single_severity, found)
                )
        burst = self._bursts.pour(
            key,
            signal.at_ms,
            signal.event_id,
            distinct=found.distinct,
            marked=signal.spoofable,
        )
        if burst is not None:
            detections.append(
                self._detection(signal, burst, subject_type, subject, self.params.burst_severity, found)
            )
        return [self._occurrences.stamp(d) for d in detections]

    def _detection(
        self,
        signal: Signal,
        overflow: Overflow,
        subject_type: str,
        subject: str,
        severity: Severity,
        found: _Match,
    ) -> Detection:
        if overflow.count == 1:
            title = f"{self.label} payload from {subject}: {', '.join(found.indicators[:3])}"
        else:
            title = (
                f"{self.label} probing from {subject}: {overflow.count} different payloads "
                f"in {seconds(overflow):.0f} s"
            )
        return overflow_detection(
            self.rule,
            signal,
            overflow,
            subject_type=subject_type,
            subject=subject,
            severity=severity,
            confidence_level=self.params.confidence_level,
            title=title,
            details={
                "indicators": list(found.indicators[:10]),
                "field": found.field,
                "sample": found.sample,
                "double_encoded": found.double_encoded,
                "payloads": max(overflow.distinct, 1),
            },
        )

    def evict(self, now_ms: int) -> int:
        firsts = self._firsts.evict(now_ms) if self._firsts is not None else 0
        return self._bursts.evict(now_ms) + firsts + self._occurrences.evict(now_ms)


def _first(blackhole_ms: int) -> BucketSpec:
    """Ours: the first payload is a trigger (capacity 0) silent for the scenario's blackhole."""
    return BucketSpec(capacity=0, leak_per_second=1.0, quiet_ms=blackhole_ms)


class PathTraversal(_InjectionRule):
    """`../../`, `%2e%2e`, `/etc/passwd`, `c:\\windows\\` … in a URL or a reported parameter."""

    rule: str = "path_traversal"
    label = "Path traversal"
    defaults = InjectionParams(
        # crowdsecurity/hub http-path-traversal-probing.yaml: capacity 3, leakspeed 10s,
        # blackhole 2m, groupby ip, distinct http_path, confidence 3.
        bucket=BucketSpec(capacity=3, leak_per_second=0.1, quiet_ms=120_000),
        first_payload=_first(120_000),
        strong=section("path_traversal.txt", "strong"),
        weak=section("path_traversal.txt", "weak"),
    )

    def _normal(self, form: str) -> str:
        return form.replace("\\", "/")


class SqlInjection(_InjectionRule):
    """`' or 1=1`, `union all select`, `sleep(`, `information_schema`, `;--` … in a URL or parameter.

    Also counts security events named `malicious_sqli` (the application's own verdict) as
    payloads, whatever their text.
    """

    rule: str = "sql_injection"
    label = "SQL injection"
    defaults = InjectionParams(
        # crowdsecurity/hub http-sqli-probing.yaml: capacity 10, leakspeed 1s, blackhole 5m,
        # groupby ip, distinct http_args, confidence 3.
        bucket=BucketSpec(capacity=10, leak_per_second=1.0, quiet_ms=300_000),
        first_payload=_first(300_000),
        strong=section("sqli.txt", "strong"),
        weak=section("sqli.txt", "weak"),
        compact=section("sqli.txt", "compact"),
        direct_names=("malicious_sqli",),
    )

    use_compact = True

    def _normal(self, form: str) -> str:
        return " ".join(_SQL_COMMENT.sub(" ", form).split())


class XssProbe(_InjectionRule):
    """`"><script`, `onerror=` with `alert(`, `javascript:` with `document.cookie` … in a URL."""

    rule: str = "xss_probe"
    label = "XSS"
    defaults = InjectionParams(
        # crowdsecurity/hub http-xss-probing.yaml: capacity 5, leakspeed 1s, blackhole 5m,
        # groupby ip, distinct http_args, confidence 3.
        bucket=BucketSpec(capacity=5, leak_per_second=1.0, quiet_ms=300_000),
        first_payload=_first(300_000),
        strong=section("xss.txt", "strong"),
        weak=section("xss.txt", "weak"),
        # Ours: one XSS string is often a harmless fuzzer or a victim's lured browser.
        single_severity=Severity.LOW,
        burst_severity=Severity.MEDIUM,
    )

    def _normal(self, form: str) -> str:
        return compact(form)
