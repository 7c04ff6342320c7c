"""The threat level (docs/security-events.md, "Threat level"), with worked examples.

worth = anchor (low 21, medium 47, high 73, critical 99) x confidence; worths sorted largest
first; score = sum of worth_i / i^1.5, capped at 100; raised to the floor of the band of the
most severe detection (low 0, medium 40, high 70, critical 90); LOW < 40 <= MEDIUM < 70 <=
HIGH < 90 <= CRITICAL. Each expected score below is worked out by hand, the arithmetic
written next to it (1/2^1.5 = 0.35355, 1/3^1.5 = 0.19245, 1/4^1.5 = 0.125).
"""

from __future__ import annotations

import itertools

import pytest

from syncmon.security.detection import Detection, Severity
from syncmon.security.threat import MAX_CONTRIBUTORS, ThreatLevel, assess, band, worth

LOW, MEDIUM, HIGH, CRITICAL = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL


def det(severity: Severity, confidence: float, rule: str = "rule", subject: str = "s") -> Detection:
    return Detection(
        rule=rule,
        project_id=1,
        subject_type="ip",
        subject=subject,
        severity=severity,
        confidence=confidence,
        count=1,
        first_ms=0,
        last_ms=0,
        title=f"{rule} {severity.value}",
    )


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, ThreatLevel.LOW),
        (39.99, ThreatLevel.LOW),
        (40, ThreatLevel.MEDIUM),
        (69.99, ThreatLevel.MEDIUM),
        (70, ThreatLevel.HIGH),
        (89.99, ThreatLevel.HIGH),
        (90, ThreatLevel.CRITICAL),
        (100, ThreatLevel.CRITICAL),
    ],
)
def test_bands(score: float, level: ThreatLevel) -> None:
    assert band(score) is level


@pytest.mark.parametrize(
    ("severity", "confidence", "expected"),
    [
        (LOW, 1.0, 21.0),
        (MEDIUM, 1.0, 47.0),
        (HIGH, 1.0, 73.0),
        (CRITICAL, 1.0, 99.0),
        (HIGH, 0.5, 36.5),
        (CRITICAL, 0.75, 74.25),
        (MEDIUM, 1.7, 47.0),  # confidence is clamped to 0..1
        (MEDIUM, -0.3, 0.0),
    ],
)
def test_worth(severity: Severity, confidence: float, expected: float) -> None:
    assert worth(det(severity, confidence)) == pytest.approx(expected)


def test_nothing_open_is_low() -> None:
    threat = assess([])
    assert (threat.score, threat.level, threat.contributors, threat.floor_from) == (
        0.0,
        ThreatLevel.LOW,
        (),
        None,
    )
    assert threat.explanation() == []


# (detections as (severity, confidence), score, level, index of the floor's detection or None)
WORKED = [
    # 21 x 1.0 = 21
    ([(LOW, 1.0)], 21.0, ThreatLevel.LOW, None),
    # 47 x 0.5 = 23.5, below medium's floor 40: raised to 40
    ([(MEDIUM, 0.5)], 40.0, ThreatLevel.MEDIUM, 0),
    # 73 x 1.0 = 73, above high's floor 70
    ([(HIGH, 1.0)], 73.0, ThreatLevel.HIGH, None),
    # 99 x 0.5 = 49.5: one critical detection always reads CRITICAL (floor 90)
    ([(CRITICAL, 0.5)], 90.0, ThreatLevel.CRITICAL, 0),
    ([(CRITICAL, 1.0)], 99.0, ThreatLevel.CRITICAL, None),
    # 21 + 21/2^1.5 + 21/3^1.5 = 21 + 7.42462 + 4.04145 = 32.46607: weak signals add up slowly
    ([(LOW, 1.0)] * 3, 32.47, ThreatLevel.LOW, None),
    # sorted 73, 47, 10.5: 73 + 47/2^1.5 + 10.5/3^1.5 = 73 + 16.61701 + 2.02073 = 91.63774
    ([(LOW, 0.5), (HIGH, 1.0), (MEDIUM, 1.0)], 91.64, ThreatLevel.CRITICAL, None),
    # 73 + 73/2^1.5 = 73 + 25.80940 = 98.80940: two high detections read CRITICAL
    ([(HIGH, 1.0), (HIGH, 1.0)], 98.81, ThreatLevel.CRITICAL, None),
    # 99 + 35.00179 + 19.05256 + 12.375 + 8.85483 = 174.28: capped at 100
    ([(CRITICAL, 1.0)] * 5, 100.0, ThreatLevel.CRITICAL, None),
    # sorted 73, 9.9: 73 + 9.9/2^1.5 = 76.50018, raised to the critical floor 90 by the
    # less valuable but more severe detection
    ([(HIGH, 1.0), (CRITICAL, 0.1)], 90.0, ThreatLevel.CRITICAL, 1),
    # 23.5 x (1 + 0.35355 + 0.19245 + 0.125) = 23.5 x 1.67100 = 39.26858, raised to 40
    ([(MEDIUM, 0.5)] * 4, 40.0, ThreatLevel.MEDIUM, 0),
    # 21 x 0.5 = 10.5 and 47 x 0.25 = 11.75: 11.75 + 10.5/2^1.5 = 11.75 + 3.71231 = 15.46231,
    # raised to medium's floor 40
    ([(LOW, 0.5), (MEDIUM, 0.25)], 40.0, ThreatLevel.MEDIUM, 1),
    # confidence 0: worth 0, but the floor still applies
    ([(HIGH, 0.0)], 70.0, ThreatLevel.HIGH, 0),
]


@pytest.mark.parametrize(("specs", "score", "level", "floor_index"), WORKED)
def test_worked_examples(
    specs: list[tuple[Severity, float]], score: float, level: ThreatLevel, floor_index: int | None
) -> None:
    detections = [det(severity, confidence, rule=f"r{i}") for i, (severity, confidence) in enumerate(specs)]
    threat = assess(detections)
    assert threat.score == score
    assert threat.level is level
    assert threat.floor_from == (detections[floor_index] if floor_index is not None else None)
    # The same in any order.
    for order in itertools.islice(itertools.permutations(detections), 24):
        again = assess(order)
        assert (again.score, again.level) == (score, level)


def test_contributors_are_ranked_with_their_points() -> None:
    detections = [
        det(LOW, 0.5, rule="csp_violation_burst"),
        det(HIGH, 1.0, rule="brute_force", subject="alice"),
        det(MEDIUM, 1.0, rule="http_probing", subject="203.0.113.7"),
    ]
    threat = assess(detections)
    assert [c.detection.rule for c in threat.contributors] == [
        "brute_force",
        "http_probing",
        "csp_violation_burst",
    ]
    assert [c.worth for c in threat.contributors] == [73.0, 47.0, 10.5]
    assert [c.weight for c in threat.contributors] == pytest.approx([1.0, 1 / 2**1.5, 1 / 3**1.5])
    assert threat.explanation() == [
        {
            "rule": "brute_force",
            "subject_type": "ip",
            "subject": "alice",
            "severity": "high",
            "confidence": 1.0,
            "points": 73.0,
            "title": "brute_force high",
        },
        {
            "rule": "http_probing",
            "subject_type": "ip",
            "subject": "203.0.113.7",
            "severity": "medium",
            "confidence": 1.0,
            "points": 16.62,  # 47 / 2^1.5 = 16.61701
            "title": "http_probing medium",
        },
        {
            "rule": "csp_violation_burst",
            "subject_type": "ip",
            "subject": "s",
            "severity": "low",
            "confidence": 0.5,
            "points": 2.02,  # 10.5 / 3^1.5 = 2.02073
            "title": "csp_violation_burst low",
        },
    ]


def test_only_the_ten_largest_contributions_are_listed_but_all_count() -> None:
    # Twelve low detections of confidence 1.0, 0.95, …, 0.45: worths 21.0, 19.95, …, 9.45.
    confidences = [round(1.0 - 0.05 * k, 2) for k in range(12)]
    detections = [det(LOW, c, rule=f"r{k}") for k, c in enumerate(confidences)]
    threat = assess(reversed(detections))
    assert len(threat.contributors) == MAX_CONTRIBUTORS == 10
    assert [c.detection.rule for c in threat.contributors] == [f"r{k}" for k in range(10)]
    points = [21 * c / i**1.5 for i, c in enumerate(confidences, 1)]
    assert [c.points for c in threat.contributors] == pytest.approx(points[:10])
    # 21 + 7.05 + 3.64 + 2.23 + … over all twelve = 39.24, not just the ten listed (38.73).
    assert threat.score == round(sum(points), 2) == 39.24
    assert threat.score > round(sum(points[:10]), 2)
    assert threat.level is ThreatLevel.LOW
