"""Injection payloads in URLs and reported parameters: path traversal, SQL injection, XSS.

What is matched: the part of a signal's URL after the host (path, query, fragment), the
target of a security event, and its `parameter` / `payload` / `query` details; each
lower-cased as sent, URL-decoded once and twice (so `%252e%252e%252f` is `../`, AppSensor
EE1), then normalised per rule. Literal indicators are found in one linear pass over at
most MAX_SCAN characters (`scan.Finder`); payload shapes are bounded regular expressions
tried only where their anchors occur (`patterns.shapes`).

How sure one signal makes us, in three tiers per pattern list:

* a [certain] shape is a payload one request proves: `1' UNION SELECT password FROM
  users--`, `' OR 1=1--`, `1; DROP TABLE users`, `1 AND SLEEP(5)`, `<script>alert(1)
  </script>`, `javascript:alert(document.cookie)`, `../../etc/passwd`. Each needs its
  injection context (a value broken out of with a quote or a number, executable script in a
  tag, a climb to a system file), so prose does not match. It fires at once: sqli and
  traversal high, xss medium, full confidence (CrowdSec level 3);
* a [strong] indicator (`information_schema`, `../../`, `"><script`) or two different
  [weak] ones make a probable payload: it fires at once too, one level lower (sqli and
  traversal medium, xss low) and with confidence level 2;
* a lone [weak] indicator is ordinary on its own (`union select` in "labor union select
  committee", `javascript:` in "javascript: the good parts", `<img` in a search for "<img>
  tag") and counts for nothing, not even towards a burst, because searches typed letter
  by letter would otherwise fill a bucket: ambiguous text needs other evidence.

Every payload, certain or probable, also pours into the CrowdSec bucket (distinct by the
matched text), whose overflow is a further detection (sqli and traversal high, xss medium,
level 3): someone is working through a list, not pasting one string. Each single-payload
tier is silent for the scenario's blackhole once it fired; a certain payload after a
probable one still fires (it says more), a probable one after a certain one does not.

Per client IP; a signal without an IP (a server-side `malicious_sqli` about an account) is
held against its account. CSP reports are skipped: their browser is the victim's. A
browser-sent signal's URL may be a page a victim was lured to (reflected XSS link), so its
detections carry a lower confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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
from syncmon.security.params import param
from syncmon.security.patterns import Shape, compact, decodings, request_part, section, shapes, squeezed
from syncmon.security.scan import Finder
from syncmon.security.signals import Signal

# SQL comments are whitespace to the parser: `union/**/select`, `/*!50000union*/`.
_SQL_COMMENT = re.compile(r"/\*!?\d*|\*/")


@dataclass(frozen=True, slots=True)
class InjectionParams:
    bucket: BucketSpec
    # Ours: one probable payload is a detection of its own (a trigger, CrowdSec capacity 0);
    # None turns that off and leaves certain payloads and the CrowdSec bucket.
    first_payload: BucketSpec | None
    strong: tuple[str, ...]
    weak: tuple[str, ...]
    compact: tuple[str, ...] = ()
    shapes: tuple[Shape, ...] = ()
    # Ours: one certain payload is a detection (a trigger); None counts it as probable.
    certain: BucketSpec | None = None
    certain_severity: Severity = Severity.HIGH
    single_severity: Severity = Severity.MEDIUM
    burst_severity: Severity = Severity.HIGH
    # CrowdSec labels: confidence 3 for all three scenarios (certain payloads and bursts).
    confidence_level: int = param(3, 1, 3)
    # Ours: one probable payload is a strong hint, not proof.
    single_confidence_level: int = param(2, 1, 3)
    detail_keys: tuple[str, ...] = ("parameter", "payload", "query")
    # Security events that are a payload by name (the application's own verdict: certain).
    direct_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Match:
    certain: tuple[str, ...]  # names of the shapes matched
    indicators: tuple[str, ...]  # shapes, then strong and weak indicators
    field: str
    sample: str  # the decoded text, clipped for the details
    double_encoded: bool
    distinct: str  # digest of the whole decoded text: what makes payloads "different"


@dataclass(frozen=True, slots=True)
class _Found:
    certain: list[str] = field(default_factory=list)
    strong: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)

    @property
    def payload(self) -> bool:
        return bool(self.certain or self.strong) or len(self.weak) >= 2


_NOTHING = _Found()


class _InjectionRule:
    rule: str
    label: ClassVar[str]
    defaults: ClassVar[InjectionParams]
    # Also match [compact] and [weak] entries, and look for anchors, with all whitespace removed.
    use_compact: ClassVar[bool] = False
    names: frozenset[str] | None = None  # every signal may carry a URL

    def __init__(self, params: InjectionParams | None = None) -> None:
        p = self.params = params or self.defaults
        self._bursts = Buckets(p.bucket, MAX_EVIDENCE)
        self._firsts = Buckets(p.first_payload, MAX_EVIDENCE) if p.first_payload is not None else None
        self._certain = Buckets(p.certain, MAX_EVIDENCE) if p.certain is not None else None
        self._occurrences = Occurrences()
        anchors = [anchor for shape in p.shapes for anchor in shape.anchors]
        self._anchors = set(anchors)
        # Every literal with its whitespace removed: absent from `squeezed(text)`, it cannot
        # be in any normal form of the text (unless `squeezed` says the text is special).
        self._screen = Finder(compact(e) for e in (*p.strong, *p.weak, *p.compact, *anchors))
        if self.use_compact:
            self._in_text = Finder((*p.strong, *p.weak))
            self._in_squeezed: Finder | None = Finder((*p.compact, *p.weak, *anchors))
        else:
            self._in_text = Finder((*p.strong, *p.weak, *anchors))
            self._in_squeezed = None

    def __len__(self) -> int:
        firsts = len(self._firsts) if self._firsts is not None else 0
        certain = len(self._certain) if self._certain is not None else 0
        return len(self._bursts) + firsts + certain + len(self._occurrences)

    def _normal(self, form: str) -> str:
        """The form a rule matches one decoded form in; each rule has its own."""
        return form

    def _indicators(self, forms: tuple[str, ...]) -> _Found:
        """Shapes, strong and weak indicators found in the decoded forms."""
        normal = [self._normal(form) for form in forms]
        # Entries are single lines, so forms joined by a newline never match across forms.
        in_text = self._in_text.found("\n".join(normal))
        if self._in_squeezed is not None:
            in_squeezed = self._in_squeezed.found("\n".join(map(compact, normal)))
            if not in_text and not in_squeezed:
                return _NOTHING
            hits, anchored = in_text | in_squeezed, in_squeezed
            strong = [e for e in self.params.strong if e in in_text]
            strong += [e for e in self.params.compact if e in in_squeezed]
        else:
            if not in_text:
                return _NOTHING
            hits = anchored = in_text
            strong = [e for e in self.params.strong if e in in_text]
        certain: list[str] = []
        if not self._anchors.isdisjoint(anchored):
            certain = [
                shape.name
                for shape in self.params.shapes
                if not anchored.isdisjoint(shape.anchors) and any(map(shape.regex.search, normal))
            ]
        return _Found(certain, strong, [e for e in self.params.weak if e in hits])

    def match(self, text: str, field: str = "url") -> _Match | None:
        """The payload in one text, or None (a lone weak indicator is None)."""
        screened, special = squeezed(text)
        if not special and not self._screen.any(screened):
            return None
        forms = decodings(text)
        found = self._indicators(forms)
        if not found.payload:
            return None
        double = False
        if len(forms) > 2:  # was it visible before the second decoding?
            once = self._indicators(forms[:2])
            double = not once.payload or (bool(found.certain) and not once.certain)
        return _Match(
            tuple(found.certain),
            tuple(found.certain + found.strong + found.weak),
            field,
            clip(forms[-1]),
            double,
            digest(f"{field}\x1f{forms[-1]}"),
        )

    def texts(self, signal: Signal) -> list[tuple[str, str]]:
        """(field, text) pairs of a signal that can carry a payload."""
        texts: list[tuple[str, str]] = []
        if signal.url:
            texts.append(("url", request_part(signal.url)))
        # A request's target is its route template; it says something only without a URL.
        if signal.target and signal.target != signal.url and not (is_request(signal) and signal.url):
            texts.append(("target", signal.target))
        if signal.details:
            keys = self.params.detail_keys
            texts.extend((key, value) for key, value in signal.details if key in keys and value)
        return texts

    def _find(self, signal: Signal) -> _Match | None:
        if signal.name in self.params.direct_names:
            verdict = (f"event:{signal.name}",)
            return _Match(verdict, verdict, "event", "", False, digest(signal.event_id))
        url, target = signal.url, signal.target
        if url and not signal.details and (not target or target == url or is_request(signal)):
            return self.match(request_part(url), "url")  # most requests: `texts` would be the URL alone
        for name, text in self.texts(signal):
            found = self.match(text, name)
            if found is not None:
                return found
        return None

    def observe(self, signal: Signal) -> list[Detection]:
        carrier = signal.url or signal.target or signal.details
        if not carrier and signal.name not in self.params.direct_names:
            return []  # nothing that could carry a payload (most logins)
        if signal.name == CSP_VIOLATION:
            return []
        if signal.client_ip:
            subject_type, subject = "ip", signal.client_ip[:MAX_SUBJECT]
        else:
            account = account_of(signal.user_id)
            if account is None:
                return []
            subject_type, subject = "account", account
        found = self._find(signal)
        if found is None:
            return []
        p = self.params
        key = subject_key(signal.project_id, subject_type, subject)
        now, marked = signal.at_ms, signal.spoofable
        detections: list[Detection] = []
        single: Overflow | None = None
        if found.certain and self._certain is not None:
            single = self._certain.pour(key, now, signal.event_id, marked=marked)
            severity, level = p.certain_severity, p.confidence_level
        elif self._firsts is not None and (self._certain is None or not self._certain.quiet(key, now)):
            single = self._firsts.pour(key, now, signal.event_id, marked=marked)
            severity, level = p.single_severity, p.single_confidence_level
        if single is not None:
            detections.append(self._detection(signal, single, subject_type, subject, severity, level, found))
        burst = self._bursts.pour(key, now, signal.event_id, distinct=found.distinct, marked=marked)
        if burst is not None:
            detections.append(
                self._detection(
                    signal, burst, subject_type, subject, p.burst_severity, p.confidence_level, found
                )
            )
        return [self._occurrences.stamp(d) for d in detections]

    def _detection(
        self,
        signal: Signal,
        overflow: Overflow,
        subject_type: str,
        subject: str,
        severity: Severity,
        level: int,
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
            confidence_level=level,
            title=title,
            details={
                "certain": list(found.certain),
                "indicators": list(found.indicators[:10]),
                "field": found.field,
                "sample": found.sample,
                "double_encoded": found.double_encoded,
                "payloads": max(overflow.distinct, 1),
            },
        )

    def evict(self, now_ms: int) -> int:
        firsts = self._firsts.evict(now_ms) if self._firsts is not None else 0
        certain = self._certain.evict(now_ms) if self._certain is not None else 0
        return self._bursts.evict(now_ms) + firsts + certain + self._occurrences.evict(now_ms)


def _first(blackhole_ms: int) -> BucketSpec:
    """Ours: a single payload is a trigger (capacity 0) silent for the scenario's blackhole."""
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
        shapes=shapes("path_traversal.txt"),
        certain=_first(120_000),
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
        shapes=shapes("sqli.txt"),
        certain=_first(300_000),
        direct_names=("malicious_sqli",),
    )

    use_compact = True

    def _normal(self, form: str) -> str:
        if "/*" in form or "*/" in form:
            form = _SQL_COMMENT.sub(" ", form)
        return " ".join(form.split())


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
        shapes=shapes("xss.txt"),
        certain=_first(300_000),
        # Ours: one XSS string is often a harmless fuzzer or a victim's lured browser, so
        # one level below sqli and traversal throughout.
        certain_severity=Severity.MEDIUM,
        single_severity=Severity.LOW,
        burst_severity=Severity.MEDIUM,
    )

    def _normal(self, form: str) -> str:
        return compact(form)
