"""Security alerts: detections by detection rule and severity, and reported security events.

The seed's five security alerts (authentication_failure, authorization_failure,
suspicious_activity, data_breach_attempt, malware_detection) are classes: each detector
belongs to one (`DETECTOR_CLASSES`), and so does each reported security event
(`seed_alert_name` of its canonical name). A rule counts, over its window, the detections
of its detection rules or class at or above `min_severity`, plus the reported events of
its class whose own severity reaches it (label `detection_rule="reported"`). A detection
counts at its last event's time, so one attack is one occurrence.
"""

from __future__ import annotations

from typing import Any

from syncmon.alerting.rules.base import MAX_SERIES, RuleLogic, Sample, threshold_sample
from syncmon.alerting.spec import SecurityRule
from syncmon.alerting.windows import WindowCounter
from syncmon.events import Event, Kind
from syncmon.security.detection import Detection, Severity
from syncmon.security.vocabulary import seed_alert_name

DETECTOR_CLASSES: dict[str, str] = {
    "brute_force": "authentication_failure",
    "distributed_brute_force": "authentication_failure",
    "credential_stuffing": "authentication_failure",
    "user_enumeration": "authentication_failure",
    "login_success_after_failures": "authentication_failure",
    "authorization_failure_burst": "authorization_failure",
    "forced_browsing": "authorization_failure",
    "http_probing": "suspicious_activity",
    "sensitive_file_probe": "suspicious_activity",
    "attack_tool": "suspicious_activity",
    "path_traversal": "suspicious_activity",
    "sql_injection": "suspicious_activity",
    "xss_probe": "suspicious_activity",
    "impossible_travel": "suspicious_activity",
    "csp_violation_burst": "suspicious_activity",
    "data_exfiltration": "data_breach_attempt",
    "malware_upload": "malware_detection",
}
SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
# A reported event's level as a detection severity (the event vocabulary maps high → error).
LEVEL_SEVERITY = {"critical": Severity.CRITICAL, "error": Severity.HIGH, "warning": Severity.MEDIUM}
REPORTED = "reported"


class SecurityLogic(RuleLogic):
    reads_detections = True

    def __init__(self, rule: SecurityRule) -> None:
        self.rule = rule
        self.horizon_ms = rule.window
        self.kinds = frozenset({Kind.SECURITY.value}) if rule.security_alert else frozenset()
        self._floor = SEVERITY_RANK[rule.min_severity]
        self._rules = frozenset(rule.detection_rules)
        self._group: tuple[str, ...] = tuple(rule.group_by)
        self._environment = rule.filter.environment
        self._series: dict[tuple[str, ...], WindowCounter] = {}
        self._last: dict[tuple[str, ...], dict[str, Any]] = {}

    def wants(self, detection_rule: str) -> bool:
        if self._rules and detection_rule in self._rules:
            return True
        if self.rule.security_alert is not None:
            return DETECTOR_CLASSES.get(detection_rule) == self.rule.security_alert
        return not self._rules  # neither given: every detection

    def observe_detection(self, detection: Detection) -> bool:
        if not self.wants(detection.rule) or SEVERITY_RANK[detection.severity] < self._floor:
            return False
        labels = {
            "detection_rule": detection.rule,
            "subject": f"{detection.subject_type}:{detection.subject}",
        }
        sample = {
            "title": detection.title,
            "detection_rule": detection.rule,
            "severity": detection.severity.value,
            "subject": detection.subject,
            "subject_type": detection.subject_type,
            "count": detection.count,
        }
        return self._add(labels, detection.last_ms, sample)

    def observe(self, event: Event) -> bool:
        if seed_alert_name(event.name) != self.rule.security_alert:
            return False
        severity = LEVEL_SEVERITY.get(event.level, Severity.LOW)
        if SEVERITY_RANK[severity] < self._floor:
            return False
        if self._environment is not None and event.environment != self._environment:
            return False
        subject = f"account:{event.user_id}" if event.user_id else f"ip:{event.client_ip or ''}"
        sample = {
            "title": event.message or event.name,
            "detection_rule": REPORTED,
            "severity": severity.value,
            "subject": event.user_id or event.client_ip,
            "name": event.name,
        }
        return self._add({"detection_rule": REPORTED, "subject": subject}, event.received_ms, sample)

    def _add(self, labels: dict[str, str], at_ms: int, sample: dict[str, Any]) -> bool:
        key = tuple(labels[f] for f in self._group)
        counter = self._series.get(key)
        if counter is None:
            if len(self._series) >= MAX_SERIES:
                self.dropped_series += 1
                return False
            counter = self._series[key] = WindowCounter(self.rule.window)
        counter.add(at_ms)
        self._last[key] = sample
        return True

    def samples(self, now_ms: int) -> list[Sample]:
        rule = self.rule
        found = []
        for key, counter in list(self._series.items()):
            count = counter.value(now_ms)
            labels = dict(zip(self._group, key, strict=True))
            context = {"sample": self._last.get(key, {})}
            if count == 0:  # its last word is its zero, then it is forgotten
                del self._series[key]
                self._last.pop(key, None)
            found.append(
                threshold_sample(labels, count, rule.op, rule.threshold, rule.resolve_threshold, context)
            )
        return found
