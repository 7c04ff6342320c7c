"""The threat level: open detections combined into a score that explains itself.

Each open detection is worth its severity's anchor (21 / 47 / 73 / 99, Elastic's risk
scores) times its confidence. Detections are sorted by worth and combined with
diminishing weights, worth_i / i^1.5 (Elastic's entity risk), capped at 100, so many
weak signals add up but never as fast as one strong one. The score is then raised to
at least the floor of the band of the most severe open detection, so a single CRITICAL
detection always reads CRITICAL however unsure it is. Bands: LOW < 40 <= MEDIUM < 70 <=
HIGH < 90 <= CRITICAL. The top contributors, with their share, are the explanation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from syncmon.security.detection import Detection, Severity

ANCHORS = {Severity.LOW: 21.0, Severity.MEDIUM: 47.0, Severity.HIGH: 73.0, Severity.CRITICAL: 99.0}
FLOORS = {Severity.LOW: 0.0, Severity.MEDIUM: 40.0, Severity.HIGH: 70.0, Severity.CRITICAL: 90.0}
MAX_CONTRIBUTORS = 10


class ThreatLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


def band(score: float) -> ThreatLevel:
    if score >= 90:
        return ThreatLevel.CRITICAL
    if score >= 70:
        return ThreatLevel.HIGH
    if score >= 40:
        return ThreatLevel.MEDIUM
    return ThreatLevel.LOW


@dataclass(frozen=True, slots=True)
class Contributor:
    detection: Detection
    worth: float
    weight: float

    @property
    def points(self) -> float:
        return self.worth * self.weight


@dataclass(frozen=True, slots=True)
class Threat:
    score: float
    level: ThreatLevel
    contributors: tuple[Contributor, ...]
    floor_from: Detection | None

    def explanation(self) -> list[dict[str, object]]:
        return [
            {
                "rule": c.detection.rule,
                "subject_type": c.detection.subject_type,
                "subject": c.detection.subject,
                "severity": c.detection.severity.value,
                "confidence": c.detection.confidence,
                "points": round(c.points, 2),
                "title": c.detection.title,
            }
            for c in self.contributors
        ]


def worth(detection: Detection) -> float:
    return ANCHORS[detection.severity] * max(0.0, min(1.0, detection.confidence))


def assess(detections: Iterable[Detection]) -> Threat:
    """The threat from a set of open detections (the caller chooses the window)."""
    ranked = sorted(detections, key=worth, reverse=True)
    contributors = tuple(
        Contributor(detection, worth(detection), 1.0 / (index**1.5))
        for index, detection in enumerate(ranked, 1)
    )
    score = min(100.0, sum(c.points for c in contributors))
    strongest = max(ranked, key=lambda d: FLOORS[d.severity], default=None)
    floor = FLOORS[strongest.severity] if strongest else 0.0
    floor_from = strongest if strongest is not None and floor > score else None
    score = round(max(score, floor), 2)
    return Threat(score, band(score), contributors[:MAX_CONTRIBUTORS], floor_from)
