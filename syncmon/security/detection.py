"""Detections and the small protocol every detector implements.

A detector is a deterministic state machine over Signals: it keeps its own buckets, takes
time only from the signals (and `now_ms` on eviction), does no I/O, and returns the
detections a signal completes. The engine feeds it, stores what it returns and computes
the threat level from stored detections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from syncmon.security.signals import Signal


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# CrowdSec-style confidence 1..3 → a factor on the severity anchor.
CONFIDENCE = {1: 0.5, 2: 0.75, 3: 1.0}


@dataclass(frozen=True, slots=True)
class Detection:
    rule: str
    project_id: int
    subject_type: str  # "ip", "account", "project"
    subject: str
    severity: Severity
    confidence: float  # 0..1
    count: int
    first_ms: int
    last_ms: int
    title: str
    evidence: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def window_ms(self) -> int:
        return self.last_ms - self.first_ms

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "project_id": self.project_id,
            "subject_type": self.subject_type,
            "subject": self.subject,
            "severity": self.severity.value,
            "confidence": self.confidence,
            "count": self.count,
            "first_seen": self.first_ms / 1000.0,
            "last_seen": self.last_ms / 1000.0,
            "window_seconds": self.window_ms / 1000.0,
            "title": self.title,
            "evidence": list(self.evidence),
            "details": self.details,
        }


class Detector(Protocol):
    """One rule. `observe` is called for every signal it reads, in log order.

    `names` are the signal names that can change its state or complete a detection (None:
    any signal); the engine routes only those to `observe`, so a rule never pays for
    signals it ignores. A signal of any other name must be one `observe` would ignore.
    """

    rule: str
    names: frozenset[str] | None

    def observe(self, signal: Signal) -> list[Detection]: ...

    def evict(self, now_ms: int) -> int: ...
